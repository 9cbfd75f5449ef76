// The client simulator: N real TCP clients on one thread with one Asio
// io_context, every step asynchronous (connect, write, read until CRLF, the
// FTP data connection), every wait an Asio timer (arrival spacing, think time,
// hold, per-reply timeout, the global deadline). One thread is enough for
// hundreds of clients because none of them ever blocks; that is also the point
// the event-loop server makes, seen from the other side.
//
// What each client tells the trace ring (trace::emit, the process's writer):
//   client_connect  conn = client id, a = the socket's LOCAL port (the server's
//                   accept sees it as the peer port: the session joins the two
//                   ends on it), b = connect latency ns. Once per connection: a
//                   reconnecting client sends one for each, under its own id.
//   client_request  text = the command ("RETR hello.txt"; PASS is "PASS ***")
//   client_reply    a = reply code (FTP or HTTP status), b = ns from the last
//                   byte of the command to the reply (greeting: from connect),
//                   text = "count N" when it answered a visitor-count step
//   client_close    a = bytes received so far (control + data, every
//                   connection of this client). Once per connection.
//   client_error    a = errno (ETIMEDOUT for a timeout, ECONNRESET when the
//                   server closed mid-conversation, ECANCELED when the run's
//                   deadline or a signal ended it first), text = where
// A refused connection (FTP 421 greeting, HTTP 503) is a reply and a clean
// close, not an error. In load mode (Scenario::repeat) the deadline is the
// normal end of a client that has had a reply: a close, not an error; a
// client still waiting for its first reply then was starved: an error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clients/scenario.h"

namespace sockscope::clients {

struct ClientResult {
  std::uint32_t id = 0;
  bool connected = false;
  bool ok = false;       // whole script done, no error, no reply >= 400
  bool refused = false;  // the server turned it away (421 greeting / HTTP 503)
  bool work = false, slow = false, idle = false;  // its role in the plan
  std::uint16_t local_port = 0;  // of its latest connection
  int connections = 0;           // connects that succeeded (more than one with reconnect)
  int requests = 0;              // commands / requests sent
  int replies = 0;
  int negative_replies = 0;        // replies >= 400
  std::uint64_t bytes = 0;         // received, control + data
  std::uint64_t data_bytes = 0;    // FTP data connections / HTTP bodies
  std::int64_t connect_ns = 0;
  std::vector<int> codes;                  // every reply code, in order
  std::vector<std::int64_t> latencies_ns;  // one per reply
  std::vector<std::int64_t> counts;        // the visitor counts the server told us (SITE COUNT, /count)
  std::string error;                       // where and why, when it failed
};

struct RunResult {
  std::vector<ClientResult> clients;
  bool deadline_hit = false;
  std::int64_t elapsed_ns = 0;

  int ok_count() const;
  int refused_count() const;
  int failed_count() const;  // neither ok nor refused
  bool all_ok() const { return ok_count() == static_cast<int>(clients.size()); }
  std::size_t reply_count() const;
  // Over every reply of every client; 0 when there is none. p in 0..1.
  std::int64_t latency_percentile_ns(double p) const;
  int connection_count() const;
  // "5 clients: 5 ok, 0 refused, 0 failed; 45 replies on 5 connections (3000/s), 3100 bytes
  // received; latency p50 0.120 ms, p99 0.800 ms"
  std::string summary() const;
};

struct SimulateOptions {
  // SIGINT/SIGTERM end the run cleanly (each client closes and says so). Only
  // for the `clients` process: a test must not take over its signals.
  bool stop_on_signals = false;
};

// Runs the scenario to the end (or its deadline). Throws std::invalid_argument
// for an invalid scenario and std::runtime_error when the host does not resolve.
RunResult simulate(const Scenario& scenario, const SimulateOptions& options = {});

}  // namespace sockscope::clients
