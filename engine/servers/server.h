// What every server architecture shares: its configuration, the listening
// socket it is handed, and the signal plumbing of its main loop. The table of
// architectures and their settings is architecture.h.
//
// Division of labour: serve_command.cpp parses flags, opens the listener,
// prints the banner and emits server_start/listen; the architecture then owns
// the process until shutdown and returns the exit status; serve_command emits
// the final `exit` event.
#pragma once

#include <chrono>
#include <deque>
#include <vector>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "protocol/protocol.h"
#include "servers/architecture.h"

namespace sockscope::servers {

struct ServerConfig {
  std::string arch = "fork";
  protocol::Protocol protocol = protocol::Protocol::ftp;
  std::string bind = "127.0.0.1";
  std::uint16_t port = 4481;
  std::filesystem::path root;
  std::filesystem::path handler;  // inetd: the program exec'd per connection (empty = sockscope-handler beside us)
  SettingValues settings;         // every row of the settings table (architecture.h)

  int get(SettingId id) const { return settings.get(id); }
  bool on(SettingId id) const { return settings.on(id); }
  // The request deadline every connection driver enforces (the setting is in seconds).
  int request_timeout_ms() const { return get(SettingId::request_timeout) * 1000; }
};

// A bound, listening socket handed to an architecture.
struct Listener {
  int fd = -1;
  std::string address;  // numeric, e.g. "127.0.0.1"
  std::uint16_t port = 0;
};

// The run functions, one per architecture file; architecture.cpp's table
// names each in its row.
int run_serial_server(const ServerConfig& config, const Listener& listener);
int run_fork_server(const ServerConfig& config, const Listener& listener);
int run_thread_server(const ServerConfig& config, const Listener& listener);
int run_pool_server(const ServerConfig& config, const Listener& listener);
int run_evloop_server(const ServerConfig& config, const Listener& listener);
int run_prefork_server(const ServerConfig& config, const Listener& listener);
int run_hybrid_server(const ServerConfig& config, const Listener& listener);
int run_inetd_server(const ServerConfig& config, const Listener& listener);
int run_shotgun_server(const ServerConfig& config, const Listener& listener);

// ---- shared plumbing -------------------------------------------------------

// Binds and listens on address:port (port 0 = any free port). Throws
// std::runtime_error naming the address and the reason.
Listener open_listener(const std::string& address, std::uint16_t port);

// The self-pipe trick: signal handlers may do almost nothing safely, so ours
// only write the signal number into a pipe. The main loop polls the pipe's read
// end next to the listening socket and does the real work (reaping, shutting
// down) in ordinary code, where it may allocate, log and emit trace events.
class SignalPipe {
 public:
  // Installs handlers for SIGTERM and SIGINT, and for SIGCHLD when
  // `watch_children` is true. SIGPIPE is ignored: a peer that vanishes must
  // turn into an EPIPE error on write, not kill the server.
  // SIGUSR1 always lands in the pipe too (Pending::reap_now), so a lab that
  // sends it never kills a server that has no use for it.
  explicit SignalPipe(bool watch_children);
  ~SignalPipe();
  SignalPipe(const SignalPipe&) = delete;
  SignalPipe& operator=(const SignalPipe&) = delete;

  // Readable when a signal arrived.
  int fd() const { return read_fd_; }

  struct Pending {
    bool stop = false;   // SIGTERM or SIGINT
    bool child = false;  // SIGCHLD
    bool reap_now = false;  // SIGUSR1: the lab turned reaping on while we run
  };
  // Starts watching SIGCHLD (reaping turned on while running).
  void watch_children();

  // Empties the pipe and says which signals arrived since the last call.
  Pending drain();

  // In a forked child: restores the default dispositions (so the parent's
  // SIGTERM ends the child) and closes the pipe, which belongs to the parent.
  void release_in_child();

  // True once SIGTERM or SIGINT arrived (async-signal-safe flag), so long
  // handler steps (SITE WORK, SITE SLEEP) can stop early.
  static bool stop_requested();

 private:
  int read_fd_ = -1;
  int write_fd_ = -1;
};

// Clients turned away by a cap (--max-children, --max-threads, the pool's
// queue): each gets FTP `421 Too many connections, try later.` or an HTTP 503
// at once, then the server's FIN. Its socket stays open a little longer
// (200 ms at most) so that what the client already sent is read and dropped:
// closing with unread bytes makes the kernel answer with RST, which destroys
// the reply in the client's receive buffer. The accept loop never waits for
// that: it calls tick() each time round and wakes for timeout_ms(), so a storm
// of refusals costs it a send() each, not 200 ms each. tick() touches only the
// sockets whose time is up (the oldest, at the front), so each held socket is
// read at most twice (when refused and when closed): a storm of 500 held
// sockets once cost every pass of the loop 500 recv() calls.
class Refusals {
 public:
  explicit Refusals(protocol::Protocol protocol) : protocol_(protocol) {}
  ~Refusals();  // closes every socket still held
  Refusals(const Refusals&) = delete;
  Refusals& operator=(const Refusals&) = delete;

  void refuse(int fd);
  // Closes the sockets past their time, each after reading what arrived.
  void tick();
  // For poll(): ms until the next one is due, -1 when none is held.
  int timeout_ms() const;
  // In a forked child: close its copies (the parent's stay open).
  void close_copies_in_child();
  std::size_t held() const { return held_.size(); }

 private:
  struct Held {
    int fd;
    std::chrono::steady_clock::time_point until;
  };
  protocol::Protocol protocol_;
  std::deque<Held> held_;  // oldest first: refused in order, all held as long
};

// One descriptor held in reserve for the moment the process runs out of them
// (ulimit -n, or the system's file table). accept() then fails with EMFILE
// or ENFILE and leaves the client in the listener's queue, where it waits
// unanswered until it gives up; the listener stays readable, so a poll loop
// would spin on it. With the reserve let go there is one descriptor to
// accept that client with: it gets the protocol's refusal (FTP 421, HTTP
// 503) and the server's FIN at once, the event log gets a refuse event that
// says why, and the reserve is taken again.
class SpareDescriptor {
 public:
  SpareDescriptor();  // opens /dev/null
  ~SpareDescriptor();
  SpareDescriptor(const SpareDescriptor&) = delete;
  SpareDescriptor& operator=(const SpareDescriptor&) = delete;

  // accept() on `listener_fd` just failed with `error`. When that was for
  // lack of descriptors, refuses the client waiting there (if one still is)
  // as connection `conn` and returns true (`conn` was used); otherwise false.
  bool refuse_if_out_of_descriptors(int error, int listener_fd, protocol::Protocol protocol, std::uint32_t conn);
  // In a forked child that does not exec: close its copy. It is the parent's
  // reserve; kept, it would be one descriptor more in every child's count.
  void close_in_child();

 private:
  int fd_ = -1;
};

// The refusal a client turned away gets: FTP 421, or an HTTP 503 that closes.
std::string refusal_reply(protocol::Protocol protocol);

// Whether a closing connection must linger (shutdown, read and discard for a
// moment, then close) rather than close at once. Closing over unread bytes
// makes the kernel send RST, which can destroy the last reply before the
// client reads it; so the drivers linger when the client may still be
// sending: bytes unread in the socket (FIONREAD), bytes the session dropped
// unanswered (or no session at all), or a client the server timed out.
// Otherwise close() sends the FIN after the last reply and that is all: every
// Connection: close request and every QUIT. nginx decides its lingering
// close the same way, and as nginx does, a driver that closes in the very
// handler whose read came back short of its buffer (the socket was empty a
// moment ago) passes `read_drained` and is spared the FIONREAD.
bool must_linger(int fd, const protocol::Session* session, bool timed_out, bool read_drained = false);

// Peer port of a connected socket (for the accept event, so the lab can join
// the server's connection with the client's local port). 0 if unknown.
std::uint16_t peer_port(int fd);

}  // namespace sockscope::servers
