// The client simulator. Index:
//   1. helpers: error mapping, the steps prepared once per client
//   2. Client (sim_client.h): one client's life as a chain of asynchronous steps
//        start → connect → [FTP greeting] → for each step: think → send →
//        reply (FTP data commands: data connect, 1xx, read data to EOF, final
//        reply; HTTP: head, body) → hold → QUIT/close
//      load mode: repeat goes round the plan's loop until the deadline;
//      reconnect ends each connection (read to the server's close) and
//      connects again for the next request (HTTP) or pass (FTP)
//   3. simulate(): the io_context, the deadline, the signals, the result
// Parsing what the servers answer is protocol/client_replies.h (no I/O).
//
// Single thread, so no handler ever races another; every handler still starts
// with `if (done_) return;` because a closed socket's pending operations
// complete (aborted) after the client has finished.
//
// A repeating client may send hundreds of thousands of requests, so the
// per-request path allocates nothing of its own: each step's bytes, trace
// text and verb are prepared once (Step), a reply line is read into a buffer
// that keeps its capacity, and what follows a reply is an enum, not a
// std::function. What remains per reply is one entry in ClientResult's codes
// and latencies (amortised vector growth).

#include "clients/simulator.h"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>

#include "clients/sim_client.h"

namespace sockscope::clients {

using namespace detail;

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

int RunResult::connection_count() const {
  int n = 0;
  for (const auto& c : clients) n += c.connections;
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
  const double seconds = static_cast<double>(elapsed_ns) / 1e9;
  const double per_s = seconds > 0 ? static_cast<double>(reply_count()) / seconds : 0.0;
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "%zu clients: %d ok, %d refused, %d failed; %zu replies on %d connections (%.0f/s), "
                "%llu bytes received; latency p50 %.3f ms, p99 %.3f ms%s",
                clients.size(), ok_count(), refused_count(), failed_count(), reply_count(), connection_count(),
                per_s, static_cast<unsigned long long>(bytes), latency_percentile_ns(0.50) / 1e6,
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
    for (auto& c : clients) c->stop(why);
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
