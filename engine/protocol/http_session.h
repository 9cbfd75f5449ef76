// HTTP/1.1 over the Session seam: GET and HEAD of the jail, Content-Length on
// every response (wrk counts close-delimited bodies as errors), keep-alive,
// pipelining (one request per next()), and the teaching endpoints /work and
// /sleep.
#pragma once

#include <cstdint>
#include <string>

#include "protocol/jail.h"
#include "protocol/protocol.h"

namespace sockscope::protocol {

inline constexpr std::uint64_t kHttpFileCap = 64ull << 20;  // bigger files get 403

class HttpSession final : public Session {
 public:
  // Throws std::system_error when cfg.root is not an openable directory.
  explicit HttpSession(const SessionConfig& cfg, Jail::Resolver resolver = Jail::Resolver::openat2);

  Actions greeting() override { return {}; }
  void receive(std::string_view bytes) override;
  std::optional<Actions> next() override;
  Actions passive_opened(std::uint16_t) override { return {}; }
  Actions transfer_failed() override { return {}; }
  Actions timed_out() override;
  Actions counted(std::int64_t value) override;
  bool closing() const override { return closing_; }
  // Part of a request's head. The empty lines next() skips before a request
  // line (RFC 9112 2.2) are not a request.
  bool pending_input() const override { return !closing_ && request_bytes(); }
  bool unanswered_input() const override { return dropped_input_ || request_bytes(); }

 private:
  struct Request {
    std::string method;
    std::string target;
    std::string version;
    bool keep_alive = true;
    bool has_body = false;
  };

  // Appends one complete response (and a close when the connection ends).
  void respond(Actions& out, int status, const std::string& content_type, const std::string& body,
               bool head, bool keep_alive, const std::string& extra_headers = {});
  void serve(const Request& req, Actions& out);

  Jail jail_;
  std::string buffer_;
  bool dropped_input_ = false;  // closing threw away bytes never answered
  // Bytes of a request in the buffer (empty lines between requests are not).
  bool request_bytes() const { return buffer_.find_first_not_of("\r\n") != std::string::npos; }
  // Closing: what is left in the buffer will never be answered.
  void drop_input() {
    dropped_input_ = dropped_input_ || request_bytes();
    buffer_.clear();
  }
  // The /count request waiting for the server's counter value (counted()).
  struct PendingCount {
    bool head = false;
    bool keep_alive = true;
  };
  std::optional<PendingCount> pending_count_;
  bool closing_ = false;
};

}  // namespace sockscope::protocol
