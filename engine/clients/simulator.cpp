// The client simulator. Index:
//   1. helpers: error mapping, reply parsing (FTP codes, 229/227, HTTP head)
//   2. Client: one connection's life as a chain of asynchronous steps
//        start → connect → [FTP greeting] → for each step: think → send →
//        reply (FTP data commands: data connect, 1xx, read data to EOF, final
//        reply; HTTP: head, body) → hold → QUIT/close
//   3. simulate(): the io_context, the deadline, the signals, the result
//
// Single thread, so no handler ever races another; every handler still starts
// with `if (done_) return;` because a closed socket's pending operations
// complete (aborted) after the client has finished.
#include "clients/simulator.h"

#include <asio.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>

#include "trace/ring.h"

namespace sockscope::clients {
namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kMaxReplyLine = 8192;     // longer: the server is broken, not chatty
constexpr std::size_t kMaxHttpHead = 65536;
constexpr std::size_t kSlowChunk = 64;          // a slow reader takes this much per read

std::int64_t ns_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count();
}

// The trace carries errno values (the narrative prints them with strerror).
// Asio's misc errors are not errnos: map the two that matter.
int errno_of(const std::error_code& ec) {
  if (ec == asio::error::eof) return ECONNRESET;  // the server hung up mid-conversation
  if (ec == asio::error::operation_aborted) return ECANCELED;
  if (ec == asio::error::not_found) return EMSGSIZE;  // reply line over the limit
  // Asio's socket errors carry errno values in its own system category.
  if (ec.category() == asio::system_category() || ec.category() == std::system_category() ||
      ec.category() == std::generic_category())
    return ec.value();
  return EIO;
}

std::string upper_verb(std::string_view command) {
  std::string verb(command.substr(0, command.find(' ')));
  for (char& c : verb) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
  return verb;
}

// "229 Entering Extended Passive Mode (|||50123|)" → 50123 (RFC 2428: any
// delimiter character, three of them, the port, one more).
std::optional<std::uint16_t> parse_epsv(std::string_view text) {
  auto open = text.find('(');
  if (open == std::string_view::npos || open + 5 >= text.size()) return std::nullopt;
  char d = text[open + 1];
  if (text[open + 2] != d || text[open + 3] != d) return std::nullopt;
  unsigned long port = 0;
  std::size_t i = open + 4, digits = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++digits) port = port * 10 + (text[i] - '0');
  if (digits == 0 || digits > 5 || i >= text.size() || text[i] != d || port == 0 || port > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

// "227 Entering Passive Mode (127,0,0,1,195,149)" → 195*256+149. The
// parentheses are optional in practice (RFC 1123 says scan for the digits).
std::optional<std::uint16_t> parse_pasv(std::string_view text) {
  std::size_t i = text.find('(');
  if (i == std::string_view::npos) {
    i = 3;
    while (i < text.size() && !(text[i] >= '0' && text[i] <= '9')) ++i;
  } else {
    ++i;
  }
  unsigned long v[6] = {};
  for (int k = 0; k < 6; ++k) {
    std::size_t digits = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++digits) v[k] = v[k] * 10 + (text[i] - '0');
    if (digits == 0 || digits > 3 || v[k] > 255) return std::nullopt;
    if (k < 5) {
      if (i >= text.size() || text[i] != ',') return std::nullopt;
      ++i;
    }
  }
  unsigned long port = v[4] * 256 + v[5];
  if (port == 0) return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

bool iequals_prefix(std::string_view line, std::string_view name) {
  if (line.size() < name.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char a = line[i], b = name[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a + 32);
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b + 32);
    if (a != b) return false;
  }
  return true;
}

struct HttpHead {
  int code = 0;
  std::optional<std::uint64_t> content_length;
  bool close = false;
};

std::optional<HttpHead> parse_http_head(std::string_view head) {
  HttpHead h;
  auto eol = head.find("\r\n");
  std::string_view status = head.substr(0, eol);
  // "HTTP/1.1 200 OK"
  if (status.size() < 12 || !iequals_prefix(status, "HTTP/1.") || status[8] != ' ') return std::nullopt;
  for (int k = 9; k < 12; ++k) {
    if (status[k] < '0' || status[k] > '9') return std::nullopt;
    h.code = h.code * 10 + (status[k] - '0');
  }
  h.close = status.substr(0, 8) == "HTTP/1.0";  // 1.0 closes unless told otherwise
  std::size_t at = eol == std::string_view::npos ? head.size() : eol + 2;
  while (at < head.size()) {
    auto end = head.find("\r\n", at);
    if (end == std::string_view::npos) end = head.size();
    std::string_view line = head.substr(at, end - at);
    at = end + 2;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    std::string_view name = line.substr(0, colon);
    if (name.size() == 14 && iequals_prefix(name, "content-length")) {
      std::uint64_t n = 0;
      if (value.empty()) return std::nullopt;
      for (char c : value) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
      }
      h.content_length = n;
    } else if (name.size() == 10 && iequals_prefix(name, "connection")) {
      if (iequals_prefix(value, "close")) h.close = true;
      if (iequals_prefix(value, "keep-alive")) h.close = false;
    }
  }
  return h;
}

// Shared by every Client of one run.
struct RunState {
  asio::io_context& io;
  const Scenario& scenario;
  tcp::endpoint endpoint;
  Clock::time_point start;
  int remaining = 0;
  std::function<void()> all_done;
  // Data and bodies are counted and thrown away, so every client reads into
  // this one buffer: with one thread no two reads touch it at once, and 10,000
  // clients do not need 10,000 buffers.
  std::array<char, 64 * 1024> scratch{};
};

class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(RunState& run, ClientPlan plan, ClientResult& result)
      : run_(run),
        sc_(run.scenario),
        plan_(std::move(plan)),
        r_(result),
        http_(sc_.protocol == protocol::Protocol::http),
        socket_(run.io),
        data_socket_(run.io),
        timer_(run.io),
        timeout_(run.io) {}

  void start() {
    timer_.expires_at(run_.start + milliseconds(plan_.start_ms));
    timer_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (self->done_ || ec) return;
      self->connect();
    });
  }

  // The run is over (deadline or signal): give up, say where.
  void cancel(const char* where) { fail(asio::error::operation_aborted, where); }

 private:
  // ---- connect --------------------------------------------------------------
  void connect() {
    connect_started_ = Clock::now();
    arm_timeout();
    socket_.async_connect(run_.endpoint, [self = shared_from_this()](std::error_code ec) { self->on_connected(ec); });
  }

  void on_connected(std::error_code ec) {
    if (done_) return;
    disarm_timeout();
    if (ec) return fail(ec, "connect");
    connected_at_ = Clock::now();
    std::error_code lec;
    tcp::endpoint local = socket_.local_endpoint(lec);
    r_.connected = true;
    r_.local_port = lec ? 0 : local.port();
    r_.connect_ns = ns_between(connect_started_, connected_at_);
    // Commands go out as soon as they are written: without this, Nagle would
    // glue a slow client's single bytes back together and hide the lesson.
    socket_.set_option(tcp::no_delay(true), lec);
    // The local port is how the session joins this client to the server's
    // accept (which sees it as the peer port).
    trace::emit(trace::Kind::client_connect, plan_.id, r_.local_port, r_.connect_ns);
    if (http_) return next_step();
    // The greeting's latency runs from the connect: on a busy serial server it
    // is the time spent waiting in the listen backlog.
    sent_at_ = connected_at_;
    verb_ = "greeting";
    read_reply([self = shared_from_this()](int code, const std::string&) { self->on_greeting(code); });
  }

  void on_greeting(int code) {
    if (code == 421) {
      // Turned away by a connection cap: a reply and a clean close, the lesson
      // working as intended, not a failure of the simulator.
      refused_ = true;
      return finish();
    }
    if (code / 100 != 2) return fail(asio::error::connection_refused, "greeting");
    next_step();
  }

  // ---- the script -----------------------------------------------------------
  void next_step() {
    if (done_) return;
    if (step_ >= plan_.steps.size()) {
      return after_hold([self = shared_from_this()] { self->finish(); });
    }
    const std::string& cmd = plan_.steps[step_];
    auto go = [self = shared_from_this()] { self->think_then_send(); };
    // Hold the connection before saying goodbye, so N clients are alive at once.
    if (!http_ && upper_verb(cmd) == "QUIT") return after_hold(go);
    go();
  }

  void after_hold(std::function<void()> then) {
    auto until = connected_at_ + milliseconds(sc_.hold_ms);
    if (sc_.hold_ms <= 0 || Clock::now() >= until) return then();
    timer_.expires_at(until);
    timer_.async_wait([self = shared_from_this(), then = std::move(then)](std::error_code ec) {
      if (self->done_ || ec) return;
      then();
    });
  }

  void think_then_send() {
    if (sc_.think_ms <= 0) return send_step();
    timer_.expires_after(milliseconds(sc_.think_ms));
    timer_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (self->done_ || ec) return;
      self->send_step();
    });
  }

  void send_step() {
    const std::string& cmd = plan_.steps[step_];
    verb_ = upper_verb(cmd);
    if (!http_ && is_data_command(cmd) && passive_port_) {
      // The server is already listening on the passive port: connect first,
      // then ask for the transfer (the order every real client uses).
      tcp::endpoint data_ep(run_.endpoint.address(), *passive_port_);
      passive_port_.reset();
      arm_timeout();
      data_socket_.async_connect(data_ep, [self = shared_from_this()](std::error_code ec) {
        if (self->done_) return;
        self->disarm_timeout();
        if (ec) return self->fail(ec, "data connect " + self->verb_);
        self->write_command();
      });
      return;
    }
    write_command();
  }

  void write_command() {
    const std::string& cmd = plan_.steps[step_];
    if (http_) {
      auto sp = cmd.find(' ');
      out_ = upper_verb(cmd) + cmd.substr(sp) + " HTTP/1.1\r\nHost: " + sc_.host + ":" + std::to_string(sc_.port) +
             "\r\nUser-Agent: sockscope-clients\r\nAccept: */*\r\n\r\n";
    } else {
      out_ = cmd + "\r\n";
    }
    // Never the password: the trace is exported and shown to a class.
    trace::emit(trace::Kind::client_request, plan_.id, 0, 0, redacted(cmd));
    if (plan_.slow) return write_slowly(0);
    asio::async_write(socket_, asio::buffer(out_), [self = shared_from_this()](std::error_code ec, std::size_t) {
      if (self->done_) return;
      if (ec) return self->fail(ec, "write " + self->verb_);
      self->on_sent();
    });
  }

  // A slow client: one byte, a pause, the next byte. A server that blocks on
  // this one connection (serial) makes everybody else wait meanwhile.
  void write_slowly(std::size_t i) {
    asio::async_write(socket_, asio::buffer(out_.data() + i, 1),
                      [self = shared_from_this(), i](std::error_code ec, std::size_t) {
                        if (self->done_) return;
                        if (ec) return self->fail(ec, "write " + self->verb_);
                        if (i + 1 >= self->out_.size()) return self->on_sent();
                        self->timer_.expires_after(milliseconds(self->sc_.slow_byte_ms));
                        self->timer_.async_wait([self, i](std::error_code ec2) {
                          if (self->done_ || ec2) return;
                          self->write_slowly(i + 1);
                        });
                      });
  }

  void on_sent() {
    sent_at_ = Clock::now();  // latency runs from the command's last byte
    if (http_) return read_http_head();
    read_reply([self = shared_from_this()](int code, const std::string& line) { self->on_ftp_reply(code, line); });
  }

  // ---- FTP replies ----------------------------------------------------------
  // Reads one complete reply: "123 text", or "123-first" ... "123 last".
  using ReplyHandler = std::function<void(int code, const std::string& final_line)>;

  void read_reply(ReplyHandler then) {
    arm_timeout();
    multi_code_ = 0;
    read_reply_line(std::move(then));
  }

  void read_reply_line(ReplyHandler then) {
    asio::async_read_until(
        socket_, asio::dynamic_buffer(in_, kMaxReplyLine), '\n',
        [self = shared_from_this(), then = std::move(then)](std::error_code ec, std::size_t n) mutable {
          if (self->done_) return;
          if (ec) return self->fail(ec, "reply " + self->verb_);
          std::string line = self->in_.substr(0, n);
          self->in_.erase(0, n);
          self->r_.bytes += n;
          while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
          int code = 0;
          bool numbered = line.size() >= 3;
          for (std::size_t k = 0; numbered && k < 3; ++k) {
            if (line[k] < '0' || line[k] > '9') numbered = false;
            else code = code * 10 + (line[k] - '0');
          }
          char sep = line.size() > 3 ? line[3] : ' ';
          if (numbered && sep != ' ' && sep != '-') numbered = false;
          if (self->multi_code_ != 0) {
            // Inside a multi-line reply, only "<same code><space>" ends it.
            if (!(numbered && code == self->multi_code_ && sep == ' ')) return self->read_reply_line(std::move(then));
          } else if (!numbered || code < 100) {
            return self->fail(asio::error::invalid_argument, "bad reply " + self->verb_);
          } else if (sep == '-') {
            self->multi_code_ = code;
            return self->read_reply_line(std::move(then));
          }
          self->disarm_timeout();
          self->record_reply(code, self->counting() && code / 100 == 2 ? count_in(line) : std::nullopt);
          then(code, line);
        });
  }

  // A reply to a visitor-count step carries the count the server told us;
  // it goes into the trace ("count 7") for the session to compare.
  void record_reply(int code, std::optional<std::int64_t> count = std::nullopt,
                    std::optional<std::int64_t> latency_ns = std::nullopt) {
    std::int64_t latency = latency_ns ? *latency_ns : ns_between(sent_at_, Clock::now());
    ++r_.replies;
    if (code >= 400) ++r_.negative_replies;
    r_.codes.push_back(code);
    r_.latencies_ns.push_back(latency);
    std::string text;
    if (count) {
      r_.counts.push_back(*count);
      text = "count " + std::to_string(*count);
    }
    trace::emit(trace::Kind::client_reply, plan_.id, code, latency, text);
  }

  // The step now running asks for the visitor count.
  bool counting() const { return step_ < plan_.steps.size() && is_count_step(plan_.steps[step_]); }

  // The first number in a reply: "200 Visitor count: 7." after its code, or an HTTP body "7\n".
  static std::optional<std::int64_t> count_in(std::string_view text, bool skip_code = true) {
    std::size_t i = skip_code && text.size() > 3 ? 3 : 0;
    while (i < text.size() && !(text[i] >= '0' && text[i] <= '9')) ++i;
    if (i == text.size()) return std::nullopt;
    std::int64_t v = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9' && v < (std::int64_t{1} << 56); ++i)
      v = v * 10 + (text[i] - '0');
    return v;
  }

  void on_ftp_reply(int code, const std::string& line) {
    if (code == 229 || code == 227) {
      passive_port_ = code == 229 ? parse_epsv(line) : parse_pasv(line);
      // The 227 address is ignored on purpose: the data connection goes to the
      // control connection's server address (what curl does by default), so a
      // reply can never send us anywhere else.
      if (!passive_port_) return fail(asio::error::invalid_argument, "bad reply " + verb_);
    }
    bool data_open = data_socket_.is_open();
    if (data_open && code / 100 == 1) return read_data();
    if (data_open) close_data();  // 425/550 instead of 150: no transfer comes
    if (code == 421 || verb_ == "QUIT") return finish();  // the server is closing
    ++step_;
    next_step();
  }

  // The transfer: read the data connection to EOF (the server closes it to
  // mark the end), then the final 226 on the control connection.
  void read_data() {
    arm_timeout();  // re-armed per read: a stalled transfer, not a long one, times out
    std::size_t chunk = plan_.slow ? kSlowChunk : run_.scratch.size();
    data_socket_.async_read_some(
        asio::buffer(run_.scratch.data(), chunk), [self = shared_from_this()](std::error_code ec, std::size_t n) {
          if (self->done_) return;
          self->r_.bytes += n;
          self->r_.data_bytes += n;
          if (ec == asio::error::eof) {
            self->disarm_timeout();
            self->close_data();
            return self->read_reply([self](int code, const std::string&) {
              if (code == 421) return self->finish();
              ++self->step_;
              self->next_step();
            });
          }
          if (ec) return self->fail(ec, "data " + self->verb_);
          if (!self->plan_.slow) return self->read_data();
          self->disarm_timeout();
          self->timer_.expires_after(milliseconds(self->sc_.slow_byte_ms));
          self->timer_.async_wait([self](std::error_code ec2) {
            if (self->done_ || ec2) return;
            self->read_data();
          });
        });
  }

  void close_data() {
    std::error_code ig;
    data_socket_.close(ig);
  }

  // ---- HTTP responses -------------------------------------------------------
  void read_http_head() {
    arm_timeout();
    asio::async_read_until(
        socket_, asio::dynamic_buffer(in_, kMaxHttpHead), "\r\n\r\n",
        [self = shared_from_this()](std::error_code ec, std::size_t n) {
          if (self->done_) return;
          if (ec) return self->fail(ec, "reply " + self->verb_);
          auto head = parse_http_head(std::string_view(self->in_).substr(0, n));
          self->in_.erase(0, n);
          self->r_.bytes += n;
          if (!head) return self->fail(asio::error::invalid_argument, "bad reply " + self->verb_);
          // A count's number is in the body: its reply is recorded once the
          // body is in, with the latency of the head.
          self->count_body_.clear();
          self->head_latency_ns_ = ns_between(self->sent_at_, Clock::now());
          if (!self->counting() || head->code / 100 != 2) self->record_reply(head->code);
          self->http_code_ = head->code;
          self->http_close_ = head->close;
          bool no_body = self->verb_ == "HEAD" || head->code / 100 == 1 || head->code == 204 || head->code == 304;
          // Without a Content-Length the body ends when the server closes.
          self->body_to_eof_ = !no_body && !head->content_length;
          self->body_left_ = no_body ? 0 : head->content_length.value_or(0);
          std::uint64_t take = std::min<std::uint64_t>(self->body_left_, self->in_.size());
          if (self->counting()) self->count_body_.append(self->in_, 0, std::min<std::uint64_t>(take, 64));
          self->in_.erase(0, take);
          self->r_.bytes += take;
          self->r_.data_bytes += take;
          self->body_left_ -= take;
          self->read_body();
        });
  }

  void read_body() {
    if (body_left_ == 0 && !body_to_eof_) {
      disarm_timeout();
      return on_http_response();
    }
    arm_timeout();
    std::size_t chunk = plan_.slow ? kSlowChunk : run_.scratch.size();
    if (!body_to_eof_) chunk = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, body_left_));
    socket_.async_read_some(asio::buffer(run_.scratch.data(), chunk),
                            [self = shared_from_this()](std::error_code ec, std::size_t n) {
                              if (self->done_) return;
                              self->r_.bytes += n;
                              self->r_.data_bytes += n;
                              if (self->counting() && self->count_body_.size() < 64)
                                self->count_body_.append(self->run_.scratch.data(), std::min<std::size_t>(n, 64));
                              if (!self->body_to_eof_) self->body_left_ -= n;
                              if (ec == asio::error::eof && self->body_to_eof_) {
                                self->disarm_timeout();
                                self->http_close_ = true;
                                return self->on_http_response();
                              }
                              if (ec) return self->fail(ec, "body " + self->verb_);
                              if (!self->plan_.slow) return self->read_body();
                              self->disarm_timeout();
                              self->timer_.expires_after(milliseconds(self->sc_.slow_byte_ms));
                              self->timer_.async_wait([self](std::error_code ec2) {
                                if (self->done_ || ec2) return;
                                self->read_body();
                              });
                            });
  }

  void on_http_response() {
    if (counting() && http_code_ / 100 == 2) record_reply(http_code_, count_in(count_body_, false), head_latency_ns_);
    if (http_code_ == 503 && step_ == 0) {
      refused_ = true;  // the connection cap's answer (HTTP's 421)
      return finish();
    }
    ++step_;
    if (http_close_) {
      if (step_ < plan_.steps.size()) return fail(asio::error::eof, "closed " + verb_);
      return after_hold([self = shared_from_this()] { self->finish(); });
    }
    next_step();
  }

  // ---- timeouts and the end -------------------------------------------------
  // The generation makes a timeout that fired just as its operation completed
  // (both handlers queued) harmless: disarm bumps it, the late handler sees.
  void arm_timeout() {
    std::uint64_t gen = ++timeout_gen_;
    timeout_.expires_after(milliseconds(sc_.timeout_ms));
    timeout_.async_wait([self = shared_from_this(), gen](std::error_code ec) {
      if (ec || self->done_ || gen != self->timeout_gen_) return;
      self->timed_out_ = true;
      std::error_code ig;
      self->socket_.close(ig);  // the pending operation completes as aborted
      self->data_socket_.close(ig);
    });
  }

  void disarm_timeout() {
    ++timeout_gen_;
    timeout_.cancel();
  }

  void fail(std::error_code ec, const std::string& where) {
    if (done_) return;
    int err = timed_out_ ? ETIMEDOUT : errno_of(ec);
    std::string w = timed_out_ ? "timeout " + where : where;
    trace::emit(trace::Kind::client_error, plan_.id, err, 0, w);
    r_.error = w + ": " +
               (timed_out_ ? "no answer within " + std::to_string(sc_.timeout_ms) + " ms" : ec.message());
    failed_ = true;
    finish();
  }

  void finish() {
    if (done_) return;
    done_ = true;
    std::error_code ig;
    timer_.cancel();
    timeout_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ig);
    socket_.close(ig);
    data_socket_.close(ig);
    r_.bytes += in_.size();  // read from the socket, never looked at
    r_.refused = refused_;
    r_.ok = !failed_ && !refused_ && r_.negative_replies == 0;
    if (r_.connected) trace::emit(trace::Kind::client_close, plan_.id, static_cast<std::int64_t>(r_.bytes));
    if (--run_.remaining == 0 && run_.all_done) run_.all_done();
  }

  RunState& run_;
  const Scenario& sc_;
  ClientPlan plan_;
  ClientResult& r_;
  const bool http_;
  tcp::socket socket_;
  tcp::socket data_socket_;
  asio::steady_timer timer_;    // spacing, think, hold, slow pauses (one at a time)
  asio::steady_timer timeout_;  // the current network operation's limit
  std::uint64_t timeout_gen_ = 0;
  std::string in_;   // control bytes read but not yet consumed
  std::string out_;  // the command being written
  std::string verb_;
  std::size_t step_ = 0;
  int multi_code_ = 0;
  std::optional<std::uint16_t> passive_port_;
  int http_code_ = 0;
  bool http_close_ = false;
  bool body_to_eof_ = false;
  std::uint64_t body_left_ = 0;
  std::string count_body_;           // a count step's body (the number)
  std::int64_t head_latency_ns_ = 0;  // ... and its head's latency
  Clock::time_point connect_started_{}, connected_at_{}, sent_at_{};
  bool done_ = false, failed_ = false, refused_ = false, timed_out_ = false;
};

}  // namespace

// ---- results -----------------------------------------------------------------

int RunResult::ok_count() const {
  return static_cast<int>(std::count_if(clients.begin(), clients.end(), [](const ClientResult& c) { return c.ok; }));
}

int RunResult::refused_count() const {
  return static_cast<int>(
      std::count_if(clients.begin(), clients.end(), [](const ClientResult& c) { return c.refused; }));
}

int RunResult::failed_count() const {
  return static_cast<int>(clients.size()) - ok_count() - refused_count();
}

std::size_t RunResult::reply_count() const {
  std::size_t n = 0;
  for (const auto& c : clients) n += static_cast<std::size_t>(c.replies);
  return n;
}

std::int64_t RunResult::latency_percentile_ns(double p) const {
  std::vector<std::int64_t> all;
  for (const auto& c : clients) all.insert(all.end(), c.latencies_ns.begin(), c.latencies_ns.end());
  if (all.empty()) return 0;
  p = std::clamp(p, 0.0, 1.0);
  // Nearest rank: the smallest value with at least p of the samples at or below it.
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(all.size())));
  std::size_t index = rank == 0 ? 0 : rank - 1;
  std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(index), all.end());
  return all[index];
}

std::string RunResult::summary() const {
  std::uint64_t bytes = 0;
  for (const auto& c : clients) bytes += c.bytes;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "%zu clients: %d ok, %d refused, %d failed; %zu replies, %llu bytes received; "
                "latency p50 %.3f ms, p99 %.3f ms%s",
                clients.size(), ok_count(), refused_count(), failed_count(), reply_count(),
                static_cast<unsigned long long>(bytes), latency_percentile_ns(0.50) / 1e6,
                latency_percentile_ns(0.99) / 1e6, deadline_hit ? " (deadline reached)" : "");
  std::string out = buf;
  std::vector<std::int64_t> counts;
  for (const auto& c : clients) counts.insert(counts.end(), c.counts.begin(), c.counts.end());
  if (!counts.empty()) {
    std::sort(counts.begin(), counts.end());
    out += "; visitor counts told:";
    for (auto v : counts) out += " " + std::to_string(v);
  }
  return out;
}

// ---- the run -----------------------------------------------------------------

RunResult simulate(const Scenario& scenario, const SimulateOptions& options) {
  if (std::string e = scenario.validate(); !e.empty()) throw std::invalid_argument(e);
  asio::io_context io(1);  // one thread: no locks anywhere in the simulator

  tcp::endpoint endpoint;
  {
    std::error_code ec;
    tcp::resolver resolver(io);
    auto results =
        resolver.resolve(scenario.host, std::to_string(scenario.port), tcp::resolver::numeric_service, ec);
    if (ec || results.empty())
      throw std::runtime_error("cannot resolve host '" + scenario.host + "': " +
                               (ec ? ec.message() : std::string("no address")));
    endpoint = results.begin()->endpoint();
    // "localhost" may list ::1 first while the servers bind 127.0.0.1.
    for (const auto& r : results)
      if (r.endpoint().address().is_v4()) {
        endpoint = r.endpoint();
        break;
      }
  }

  std::vector<ClientPlan> plans = plan(scenario);
  RunResult result;
  result.clients.resize(plans.size());
  RunState run{io, scenario, endpoint, Clock::now(), static_cast<int>(plans.size()), {}};

  asio::steady_timer deadline(io);
  std::optional<asio::signal_set> signals;
  std::vector<std::shared_ptr<Client>> clients;
  clients.reserve(plans.size());
  auto cancel_all = [&clients](const char* why) {
    for (auto& c : clients) c->cancel(why);
  };
  run.all_done = [&] {
    deadline.cancel();
    if (signals) signals->cancel();
  };

  for (std::size_t i = 0; i < plans.size(); ++i) {
    ClientResult& r = result.clients[i];
    r.id = plans[i].id;
    r.work = plans[i].work;
    r.slow = plans[i].slow;
    r.idle = plans[i].idle;
    clients.push_back(std::make_shared<Client>(run, std::move(plans[i]), r));
  }
  for (auto& c : clients) c->start();

  deadline.expires_at(run.start + milliseconds(scenario.run_deadline_ms()));
  deadline.async_wait([&](std::error_code ec) {
    if (ec) return;
    result.deadline_hit = true;
    cancel_all("deadline");
  });
  if (options.stop_on_signals) {
    signals.emplace(io, SIGINT, SIGTERM);
    signals->async_wait([&](std::error_code ec, int) {
      if (ec) return;
      cancel_all("stopped by signal");
    });
  }

  io.run();
  result.elapsed_ns = ns_between(run.start, Clock::now());
  return result;
}

}  // namespace sockscope::clients
