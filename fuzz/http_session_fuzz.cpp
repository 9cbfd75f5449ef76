// libFuzzer harness: the HTTP session (engine/protocol/http_session.cpp) fed
// a client's bytes in chunks, driven as a server drives it (session_driver.h:
// the input's format, and the checks every protocol shares).
//
// HTTP's own rules, checked on every batch of actions:
//  * one response per request: "HTTP/1.1 NNN ..." with NNN the action's code,
//    a header section with no bare CR or LF (no header injection), exactly
//    one Content-Length, and a body of that length (none after HEAD);
//  * "Connection: close" is followed by the close action, and only then;
//  * a timeout answers part of a request with 408, and just closes an idle
//    connection;
//  * nothing from outside the jail in a 200's body (session_driver.h).
#include <fuzzer/FuzzedDataProvider.h>

#include "protocol/http_session.h"
#include "session_driver.h"

namespace {

using namespace sockscope;
using protocol::Action;
using protocol::ActionKind;

// The last request the session traced: a HEAD's responses carry no body.
std::string g_last_request;

void check_response(const Action& a, bool close_follows) {
  const std::string& r = a.bytes;
  FUZZ_CHECK(r.rfind("HTTP/1.1 " + std::to_string(a.code) + " ", 0) == 0, r);
  const std::size_t end = r.find("\r\n\r\n");
  FUZZ_CHECK(end != std::string::npos, "no end of headers: " + r);
  const std::string head = r.substr(0, end + 2);
  for (std::size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\r') FUZZ_CHECK(i + 1 < head.size() && head[i + 1] == '\n', "bare CR in headers: " + head);
    if (head[i] == '\n') FUZZ_CHECK(head[i - 1] == '\r', "bare LF in headers: " + head);
  }
  const std::string cl = "\r\nContent-Length: ";
  const std::size_t at = head.find(cl);
  FUZZ_CHECK(at != std::string::npos && head.find(cl, at + 1) == std::string::npos, "one Content-Length: " + head);
  const std::size_t length = std::stoull(head.substr(at + cl.size()));
  const std::size_t body = r.size() - end - 4;
  const bool head_request = g_last_request.rfind("HEAD ", 0) == 0;
  FUZZ_CHECK(body == length || (body == 0 && head_request), head);
  FUZZ_CHECK((head.find("\r\nConnection: close\r\n") != std::string::npos) == close_follows, head);
  // A 200's body is a file, an index or a teaching answer: never outside the jail.
  if (a.code == 200) fuzz::check_no_leak(std::string_view(r).substr(end + 4));
}

void check_batch(fuzz::Origin from, const protocol::Actions& actions) {
  using fuzz::Origin;
  // HTTP has no greeting and never asks for a passive listener.
  if (from == Origin::greeting) FUZZ_CHECK(actions.empty());
  FUZZ_CHECK(from != Origin::passive_opened && from != Origin::transfer_failed);
  int responses = 0;
  for (std::size_t i = 0; i < actions.size(); ++i) {
    const Action& a = actions[i];
    FUZZ_CHECK(a.kind != ActionKind::open_passive && a.kind != ActionKind::transfer);
    if (a.kind == ActionKind::request) g_last_request = a.bytes;
    if (a.kind != ActionKind::send) continue;
    ++responses;
    check_response(a, i + 1 < actions.size() && actions[i + 1].kind == ActionKind::close);
  }
  FUZZ_CHECK(responses <= 1, "one response per request");
  // A /count request is answered by counted(), not in its own batch.
  const bool counting = !actions.empty() && actions.back().kind == ActionKind::count;
  if (from == Origin::next) FUZZ_CHECK(responses == 1 || counting, "a request without a response");
  if (from == Origin::counted) FUZZ_CHECK(responses == 1);
  // A timeout answers a half-sent request with 408; an idle connection just closes.
  if (from == Origin::deadline) FUZZ_CHECK(responses == 1 && actions[0].code == 408);
  if (from == Origin::idle) FUZZ_CHECK(actions.size() == 1 && actions[0].kind == ActionKind::close);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const fuzz::Plan plan(in.ConsumeIntegral<std::uint8_t>());
  protocol::SessionConfig cfg;
  cfg.root = fuzz::jail_root();
  cfg.local_ip = plan.local_ip;
  // make_session() is what the servers call; the realpath jail is its ENOSYS
  // fallback, reached only through the class itself.
  std::unique_ptr<protocol::Session> s =
      plan.realpath_jail ? std::make_unique<protocol::HttpSession>(cfg, protocol::Jail::Resolver::realpath)
                         : protocol::make_session(protocol::Protocol::http, cfg);
  g_last_request.clear();
  fuzz::SessionDriver driver(*s, plan, check_batch);
  driver.converse(in);
  return 0;
}
