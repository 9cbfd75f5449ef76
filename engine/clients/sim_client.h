// The client simulator's one client: its life as a chain of asynchronous
// steps on the run's io_context (see simulator.cpp's index). Internal to
// simulator.cpp, which is its only includer; split from it along the seam
// between one client's state machine and the run that drives them all.
#pragma once

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
#include <string_view>

#include "protocol/client_replies.h"
#include "trace/ring.h"

namespace sockscope::clients::detail {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kMaxReplyLine = 8192;     // longer: the server is broken, not chatty
constexpr std::size_t kMaxHttpHead = 65536;
constexpr std::size_t kSlowChunk = 64;          // a slow reader takes this much per read

inline std::int64_t ns_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count();
}

// The trace carries errno values (the narrative prints them with strerror).
// Asio's misc errors are not errnos: map the two that matter.
inline int errno_of(const std::error_code& ec) {
  if (ec == asio::error::eof) return ECONNRESET;  // the server hung up mid-conversation
  if (ec == asio::error::operation_aborted) return ECANCELED;
  if (ec == asio::error::not_found) return EMSGSIZE;  // reply line over the limit
  // Asio's socket errors carry errno values in its own system category.
  if (ec.category() == asio::system_category() || ec.category() == std::system_category() ||
      ec.category() == std::generic_category())
    return ec.value();
  return EIO;
}

inline std::string upper_verb(std::string_view command) {
  std::string verb(command.substr(0, command.find(' ')));
  for (char& c : verb) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
  return verb;
}

// One step of a client's plan, prepared once: a repeating client sends the
// same bytes again without building them again.
struct Step {
  std::string wire;     // the bytes on the wire: "PWD\r\n", or the whole HTTP request
  std::string shown;    // for the trace: never the password (redacted)
  std::string verb;     // upper case: "RETR", "GET", "QUIT"
  bool data = false;    // FTP: needs the passive data connection
  bool count = false;   // asks for the visitor count
};

inline std::vector<Step> prepare_steps(const ClientPlan& plan, const Scenario& sc, bool http) {
  std::vector<Step> steps;
  steps.reserve(plan.steps.size());
  for (const std::string& cmd : plan.steps) {
    Step st;
    st.verb = upper_verb(cmd);
    st.shown = redacted(cmd);
    st.count = is_count_step(cmd);
    if (http) {
      // A reconnecting client asks the server to close after the answer: one
      // request per connection, the way HTTP/1.0 clients work.
      st.wire = st.verb + cmd.substr(cmd.find(' ')) + " HTTP/1.1\r\nHost: " + sc.host + ":" +
                std::to_string(sc.port) + "\r\nUser-Agent: sockscope-clients\r\nAccept: */*\r\n" +
                (plan.reconnect ? "Connection: close\r\n" : "") + "\r\n";
    } else {
      st.wire = cmd + "\r\n";
      st.data = is_data_command(cmd);
    }
    steps.push_back(std::move(st));
  }
  return steps;
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
        steps_(prepare_steps(plan_, sc_, http_)),
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

  // The run is over (deadline or signal). A repeating client that has had an
  // answer ends here: that is how a load run ends. Any other client gives up
  // and says where; one still waiting for its first reply was starved.
  void stop(const char* where) {
    if (done_) return;
    if (plan_.repeat && r_.replies > 0) return finish();
    fail(asio::error::operation_aborted, where);
  }

 private:
  // What comes after a complete FTP reply.
  enum class AfterReply { greeting, command, transfer };

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
    conn_open_ = true;
    conn_requests_ = 0;
    server_closing_ = false;
    ++r_.connections;
    std::error_code lec;
    tcp::endpoint local = socket_.local_endpoint(lec);
    r_.connected = true;
    r_.local_port = lec ? 0 : local.port();
    r_.connect_ns = ns_between(connect_started_, connected_at_);
    // Commands go out as soon as they are written: without this, Nagle would
    // glue a slow client's single bytes back together and hide the lesson.
    socket_.set_option(tcp::no_delay(true), lec);
    // The local port is how the session joins this client to the server's
    // accept (which sees it as the peer port). A reconnecting client says so
    // for every connection, under the same client id.
    trace::emit(trace::Kind::client_connect, plan_.id, r_.local_port, r_.connect_ns);
    if (http_) return next_step();
    // The greeting's latency runs from the connect: on a busy serial server it
    // is the time spent waiting in the listen backlog.
    sent_at_ = connected_at_;
    verb_ = "greeting";
    read_reply(AfterReply::greeting);
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
    // Round the loop on the same connection: FTP without its login and QUIT,
    // HTTP all of it.
    if (plan_.repeat && !plan_.reconnect && step_ == plan_.loop_end) step_ = plan_.loop_begin;
    if (step_ >= steps_.size()) {
      // A repeating FTP pass without QUIT: the client closes, then the next pass.
      if (plan_.repeat && plan_.reconnect) return after_hold([self = shared_from_this()] { self->end_connection(); });
      return after_hold([self = shared_from_this()] { self->finish(); });
    }
    // Hold the connection before saying goodbye, so N clients are alive at once.
    if (!http_ && steps_[step_].verb == "QUIT")
      return after_hold([self = shared_from_this()] { self->think_then_send(); });
    think_then_send();
  }

  template <class Then>
  void after_hold(Then then) {
    auto until = connected_at_ + milliseconds(sc_.hold_ms);
    if (sc_.hold_ms <= 0 || Clock::now() >= until) return then();
    timer_.expires_at(until);
    timer_.async_wait([self = shared_from_this(), then = std::move(then)](std::error_code ec) mutable {
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
    const Step& st = steps_[step_];
    verb_ = st.verb;
    if (st.data && passive_port_) {
      // The server is already listening on the passive port: connect first,
      // then ask for the transfer (the order every real client uses).
      tcp::endpoint data_ep(run_.endpoint.address(), *passive_port_);
      passive_port_.reset();
      arm_timeout();
      data_socket_.async_connect(data_ep, [self = shared_from_this()](std::error_code ec) {
        if (self->done_) return;
        self->disarm_timeout();
        if (ec) return self->fail(ec, self->where("data connect "));
        self->write_command();
      });
      return;
    }
    write_command();
  }

  void write_command() {
    const Step& st = steps_[step_];
    ++r_.requests;
    ++conn_requests_;
    // Never the password: the trace is exported and shown to a class.
    trace::emit(trace::Kind::client_request, plan_.id, 0, 0, st.shown);
    if (plan_.slow) return write_slowly(0);
    asio::async_write(socket_, asio::buffer(st.wire), [self = shared_from_this()](std::error_code ec, std::size_t) {
      if (self->done_) return;
      if (ec) return self->fail(ec, self->where("write "));
      self->on_sent();
    });
  }

  // A slow client: one byte, a pause, the next byte. A server that blocks on
  // this one connection (serial) makes everybody else wait meanwhile.
  void write_slowly(std::size_t i) {
    const std::string& wire = steps_[step_].wire;
    asio::async_write(socket_, asio::buffer(wire.data() + i, 1),
                      [self = shared_from_this(), i](std::error_code ec, std::size_t) {
                        if (self->done_) return;
                        if (ec) return self->fail(ec, self->where("write "));
                        if (i + 1 >= self->steps_[self->step_].wire.size()) return self->on_sent();
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
    read_reply(AfterReply::command);
  }

  // ---- FTP replies ----------------------------------------------------------
  // Reads one complete reply: "123 text", or "123-first" ... "123 last"; its
  // final line stays in line_ for whoever comes next.
  void read_reply(AfterReply next) {
    arm_timeout();
    multi_code_ = 0;
    after_reply_ = next;
    read_reply_line();
  }

  void read_reply_line() {
    asio::async_read_until(socket_, asio::dynamic_buffer(in_, kMaxReplyLine), '\n',
                           [self = shared_from_this()](std::error_code ec, std::size_t n) {
                             self->on_reply_line(ec, n);
                           });
  }

  void on_reply_line(std::error_code ec, std::size_t n) {
    if (done_) return;
    if (ec) return fail(ec, where("reply "));
    line_.assign(in_, 0, n);  // keeps its capacity: no allocation per reply
    in_.erase(0, n);
    r_.bytes += n;
    while (!line_.empty() && (line_.back() == '\n' || line_.back() == '\r')) line_.pop_back();
    auto line = protocol::parse_ftp_reply_line(line_);
    if (multi_code_ != 0) {
      // Inside a multi-line reply, only "<same code><space>" ends it.
      if (!(line && line->code == multi_code_ && !line->continued)) return read_reply_line();
    } else if (!line || line->code < 100) {
      return fail(asio::error::invalid_argument, where("bad reply "));
    } else if (line->continued) {
      multi_code_ = line->code;
      return read_reply_line();
    }
    disarm_timeout();
    const int code = line->code;
    record_reply(code, counting() && code / 100 == 2 ? protocol::parse_count(line_) : std::nullopt);
    switch (after_reply_) {
      case AfterReply::greeting: return on_greeting(code);
      case AfterReply::command: return on_ftp_reply(code);
      case AfterReply::transfer: return on_transfer_reply(code);
    }
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
  bool counting() const { return step_ < steps_.size() && steps_[step_].count; }

  void on_ftp_reply(int code) {
    if (code == 229 || code == 227) {
      passive_port_ = code == 229 ? protocol::parse_epsv(line_) : protocol::parse_pasv(line_);
      // The 227 address is ignored on purpose: the data connection goes to the
      // control connection's server address (what curl does by default), so a
      // reply can never send us anywhere else.
      if (!passive_port_) return fail(asio::error::invalid_argument, where("bad reply "));
    }
    bool data_open = data_socket_.is_open();
    if (data_open && code / 100 == 1) return read_data();
    if (data_open) close_data();  // 425/550 instead of 150: no transfer comes
    if (code == 421) return finish();  // the server is closing
    if (verb_ == "QUIT") {
      // The server closes after 221. A reconnecting client reads to that
      // close, then starts its next pass on a new connection.
      if (!(plan_.repeat && plan_.reconnect)) return finish();
      ++step_;
      server_closing_ = true;
      return end_connection();
    }
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
            return self->read_reply(AfterReply::transfer);
          }
          if (ec) return self->fail(ec, self->where("data "));
          if (!self->plan_.slow) return self->read_data();
          self->disarm_timeout();
          self->timer_.expires_after(milliseconds(self->sc_.slow_byte_ms));
          self->timer_.async_wait([self](std::error_code ec2) {
            if (self->done_ || ec2) return;
            self->read_data();
          });
        });
  }

  void on_transfer_reply(int code) {
    if (code == 421) return finish();
    ++step_;
    next_step();
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
          if (ec) return self->fail(ec, self->where("reply "));
          auto head = protocol::parse_http_head(std::string_view(self->in_).substr(0, n));
          self->in_.erase(0, n);
          self->r_.bytes += n;
          if (!head) return self->fail(asio::error::invalid_argument, self->where("bad reply "));
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
                              if (ec) return self->fail(ec, self->where("body "));
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
    if (counting() && http_code_ / 100 == 2)
      record_reply(http_code_, protocol::parse_count(count_body_, false), head_latency_ns_);
    if (http_code_ == 503 && conn_requests_ == 1) {
      refused_ = true;  // the connection cap's answer (HTTP's 421)
      return finish();
    }
    ++step_;
    if (plan_.reconnect || (plan_.repeat && http_close_)) {
      // One request per connection (we asked for the close), or a server
      // that ends keep-alive connections on its own: a repeating client
      // goes on with a new connection, as browsers and load tools do.
      server_closing_ = http_close_;
      return end_connection();
    }
    if (http_close_) {
      if (step_ < steps_.size()) return fail(asio::error::eof, where("closed "));
      return after_hold([self = shared_from_this()] { self->finish(); });
    }
    next_step();
  }

  // ---- a new connection (reconnect) -------------------------------------------
  // When the server said it closes (HTTP Connection: close, FTP 221), read to
  // its close before closing ours: the server closes first, as it does for a
  // real client, so the TIME_WAIT it leaves is the server's, and the client
  // never runs out of local ports however many connections it makes.
  void end_connection() {
    if (server_closing_) return read_to_close();
    close_connection();
    connect_next();
  }

  void read_to_close() {
    arm_timeout();
    socket_.async_read_some(asio::buffer(run_.scratch), [self = shared_from_this()](std::error_code ec, std::size_t n) {
      if (self->done_) return;
      self->r_.bytes += n;
      if (ec == asio::error::eof) {
        self->disarm_timeout();
        self->close_connection();
        return self->connect_next();
      }
      if (ec) return self->fail(ec, self->where("close after "));
      self->read_to_close();
    });
  }

  // The next connection: the next step (HTTP), or the script again from the
  // top when the pass is done and the client repeats; else the client is done.
  void connect_next() {
    if (step_ >= steps_.size()) {
      if (!plan_.repeat) return finish();
      step_ = 0;
    }
    connect();
  }

  // Closes the control (and data) connection and says so in the trace; the
  // client may connect again.
  void close_connection() {
    std::error_code ig;
    socket_.shutdown(tcp::socket::shutdown_both, ig);
    socket_.close(ig);
    data_socket_.close(ig);
    passive_port_.reset();
    r_.bytes += in_.size();  // read from the socket, never looked at
    in_.clear();
    if (conn_open_) {
      conn_open_ = false;
      trace::emit(trace::Kind::client_close, plan_.id, static_cast<std::int64_t>(r_.bytes));
    }
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

  // "reply RETR": where a failure happened (built only when one does).
  std::string where(const char* what) const { return std::string(what) + std::string(verb_); }

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
    timer_.cancel();
    timeout_.cancel();
    close_connection();
    r_.refused = refused_;
    r_.ok = !failed_ && !refused_ && r_.negative_replies == 0;
    if (--run_.remaining == 0 && run_.all_done) run_.all_done();
  }

  RunState& run_;
  const Scenario& sc_;
  ClientPlan plan_;
  ClientResult& r_;
  const bool http_;
  const std::vector<Step> steps_;  // plan_.steps, ready to send
  tcp::socket socket_;
  tcp::socket data_socket_;
  asio::steady_timer timer_;    // spacing, think, hold, slow pauses (one at a time)
  asio::steady_timer timeout_;  // the current network operation's limit
  std::uint64_t timeout_gen_ = 0;
  std::string in_;    // control bytes read but not yet consumed
  std::string line_;  // the FTP reply line just read (its final line, once complete)
  std::string_view verb_;  // of the step being run, or "greeting"
  std::size_t step_ = 0;
  int multi_code_ = 0;
  AfterReply after_reply_ = AfterReply::command;
  std::optional<std::uint16_t> passive_port_;
  int http_code_ = 0;
  bool http_close_ = false;
  bool body_to_eof_ = false;
  std::uint64_t body_left_ = 0;
  std::string count_body_;           // a count step's body (the number)
  std::int64_t head_latency_ns_ = 0;  // ... and its head's latency
  int conn_requests_ = 0;             // requests sent on this connection
  Clock::time_point connect_started_{}, connected_at_{}, sent_at_{};
  bool done_ = false, failed_ = false, refused_ = false, timed_out_ = false;
  bool conn_open_ = false;       // connected, and its client_close not yet emitted
  bool server_closing_ = false;  // the server said it closes this connection
};

}  // namespace sockscope::clients::detail
