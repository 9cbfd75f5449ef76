#include "protocol/protocol.h"

#include "protocol/ftp_session.h"
#include "protocol/http_session.h"

namespace sockscope::protocol {

std::unique_ptr<Session> make_session(Protocol p, const SessionConfig& cfg) {
  switch (p) {
    case Protocol::ftp: return std::make_unique<FtpSession>(cfg);
    case Protocol::http: return std::make_unique<HttpSession>(cfg);
  }
  return nullptr;
}

std::string_view protocol_name(Protocol p) {
  switch (p) {
    case Protocol::ftp: return "ftp";
    case Protocol::http: return "http";
  }
  return "?";
}

bool protocol_from_name(std::string_view name, Protocol& out) {
  if (name == "ftp") {
    out = Protocol::ftp;
    return true;
  }
  if (name == "http") {
    out = Protocol::http;
    return true;
  }
  return false;
}

}  // namespace sockscope::protocol
