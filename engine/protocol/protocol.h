// The protocol seam: FTP and HTTP sessions that take bytes and return actions,
// with no sockets. Every server architecture (serial, fork, thread, pool,
// evloop, ...) drives the same Session objects; only how it waits for bytes
// and where it runs the actions differ. All protocol behaviour is therefore
// unit-testable with strings (tests/protocol).
//
// Driving a session (what every server does):
//
//   auto s = make_session(Protocol::ftp, cfg);
//   run(s->greeting());
//   on bytes from the control connection:
//     s->receive(bytes);
//     while (auto actions = s->next()) run(*actions);   // one command each
//   run(actions): execute in order; on a failed `transfer`, skip the rest of
//     that batch and run(s->transfer_failed()) instead; stop after `close`.
//   on idle timeout: run(s->timed_out()).
//   on the request deadline: run(s->timed_out()) too. The deadline's clock
//     starts when pending_input() turns true (the first byte of a command)
//     and stops when next() yields that command; bytes arriving meanwhile do
//     not restart it (a client sending one byte a second must not hold a
//     connection, or a serial server, for ever: slowloris).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sockscope::protocol {

enum class Protocol { ftp, http };

enum class ActionKind {
  request,       // trace only: a command/request was parsed. text = verb (FTP) or "GET /path" (HTTP)
  send,          // write `bytes` on the control connection. code = reply status (220, 226, 200, 404, ...)
  open_passive,  // FTP: open a data listener on the control connection's local
                 // address, port 0; then run(passive_opened(port)) for its reply
  transfer,      // FTP: accept one data connection on the passive listener (only
                 // from the control peer's IP, within a time limit), write
                 // `bytes`, close it. The 150 before and the 226 after are
                 // separate `send` actions around it.
  work,          // burn CPU in the handler for `ms` milliseconds (teaching command)
  sleep,         // block in the handler for `ms` milliseconds (teaching command)
  count,         // the shared visitor counter (FTP SITE COUNT, HTTP /count):
                 // add one to the server's counter, then run(counted(value))
                 // for the reply. The counter lives in the server, not here.
  close,         // close the control connection after what was sent before
};

struct Action {
  ActionKind kind;
  std::string bytes;  // send: reply bytes; transfer: data bytes; request: text
  int code = 0;       // send: status code
  int ms = 0;         // work, sleep
};
using Actions = std::vector<Action>;

// Where a session runs. The jail root is the only part of the file system a
// session can read; the addresses are the control connection's.
struct SessionConfig {
  std::filesystem::path root;           // jail root (must exist)
  std::string local_ip = "127.0.0.1";   // server side of the control connection (for 227)
  std::string peer_ip = "127.0.0.1";    // client side of the control connection
};

inline constexpr std::size_t kFtpLineLimit = 4096;      // like vsftpd
inline constexpr std::size_t kHttpHeaderLimit = 8192;   // request line + headers
inline constexpr int kTeachingCapMs = 10000;            // SITE WORK/SLEEP, /work, /sleep
inline constexpr int kIdleTimeoutMs = 300000;           // control connection idle limit
// The default request deadline (the `request_timeout` setting, in seconds,
// engine/servers/architecture.cpp): Apache mod_reqtimeout's header=20.
inline constexpr int kRequestTimeoutMs = 20000;
inline constexpr int kDataAcceptTimeoutMs = 10000;      // passive accept limit

class Session {
 public:
  virtual ~Session() = default;
  // What to send on connect (FTP: "220 OHAI"; HTTP: nothing).
  virtual Actions greeting() = 0;
  // Appends bytes read from the control connection.
  virtual void receive(std::string_view bytes) = 0;
  // The actions for the next complete command or request, or nullopt when more
  // bytes are needed. After an action list containing `close`, returns nullopt.
  virtual std::optional<Actions> next() = 0;
  // FTP: the server opened the passive listener on `port`.
  virtual Actions passive_opened(std::uint16_t port) = 0;
  // FTP: the data connection could not be opened or written.
  virtual Actions transfer_failed() = 0;
  // The control connection was idle too long, or a command was still
  // incomplete at its deadline. FTP: 421 and close; HTTP: 408 Request
  // Timeout when part of a request arrived (else just close).
  virtual Actions timed_out() = 0;
  // After a `count` action: the server's counter now reads `value`; the reply.
  virtual Actions counted(std::int64_t value) = 0;
  // True once the session has asked to close.
  virtual bool closing() const = 0;
  // True when bytes of a command or request have arrived that next() has not
  // yet yielded as one: what the request deadline times.
  virtual bool pending_input() const = 0;
  // True when the session holds bytes it never answered, closing or not (a
  // request behind one that asked to close): the server lingers rather than
  // reset the client (servers/server.h, must_linger).
  virtual bool unanswered_input() const = 0;
};

// Throws std::system_error when cfg.root cannot be opened as a directory.
std::unique_ptr<Session> make_session(Protocol p, const SessionConfig& cfg);

std::string_view protocol_name(Protocol p);
// Returns false for an unknown name.
bool protocol_from_name(std::string_view name, Protocol& out);

}  // namespace sockscope::protocol
