// The query table and its evaluation (see query.h).
#include "lesson/query.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "compare/compare.h"
#include "compare/report.h"
#include "lab/lab.h"
#include "observe/proc_sampler.h"
#include "session/loop_fold.h"
#include "session/session.h"
#include "session/threads_fold.h"

namespace sockscope::lesson {
namespace {

using S = QuerySource;

constexpr Query kQueries[] = {
    {"processes", S::proc, "processes", "", "processes in the server's tree now, zombies left out (/proc)"},
    {"children", S::proc, "children", "", "live children of the server process now, zombies left out (/proc)"},
    {"zombies", S::proc, "zombies", "", "processes of the server's tree in state Z now: exited, not yet reaped (/proc)"},
    {"threads", S::proc, "threads", "", "threads of the server's live processes now (/proc/PID/task)"},
    {"pss_kb", S::proc, "KiB", "", "the server tree's proportional set size now (smaps_rollup)"},
    {"backlog", S::proc, "waiting", "",
     "connections the kernel completed that wait for accept() now (the LISTEN socket's queue, /proc/net/tcp)"},
    {"connections_open", S::session, "connections", "", "connections the server holds open now"},
    {"connections_accepted", S::session, "connections", "", "connections the server accepted so far"},
    {"refused", S::session, "connections", "", "connections the server turned away (421 / 503) so far"},
    {"forks", S::session, "forks", "", "fork() calls the server made so far (trace)"},
    {"execs", S::session, "execs", "", "exec() calls: a forked child became another program (trace)"},
    {"threads_spawned", S::session, "threads", "", "threads the server created so far (trace)"},
    {"reaped", S::session, "reaped", "", "children and threads collected by waitpid() or join so far (trace)"},
    {"requests", S::session, "requests", "", "requests the server read so far"},
    {"replies", S::session, "replies", "", "replies the simulated clients read so far"},
    {"unanswered_clients", S::session, "clients", "",
     "simulated clients that connected and have read no reply yet (waiting in a queue or the backlog)"},
    {"first_reply_client", S::session, "", "", "the number of the simulated client whose first reply arrived first"},
    {"lost_updates", S::session, "lost", "",
     "visitor-counter increments lost to a stale write, summed over the server's processes (trace)"},
    {"visits_counted", S::session, "visits", "",
     "what the visitor counter holds now, summed over the server's processes: each forked child counts in its own copy"},
    {"visitor_count_max", S::session, "visits", "",
     "the highest visitor count any simulated client was told (SITE COUNT / GET /count)"},
    {"pss_per_connection_kb", S::session, "KiB", "",
     "(the tree's PSS - the listener's alone at the start) / open connections, at the latest /proc sample"},
    {"p50_ms", S::session, "ms", "", "median reply latency the simulated clients measured so far"},
    {"p99_ms", S::session, "ms", "", "99th percentile reply latency the simulated clients measured so far"},
    {"max_latency_ms", S::session, "ms", "", "the slowest reply the simulated clients measured so far"},
    {"longest_handler_ms", S::session, "ms", "",
     "the longest an event-loop handler ran without returning to epoll (Asio's handler tracking)"},
    {"delayed_handlers", S::session, "handlers", "",
     "event-loop handlers that waited 50 ms or more behind another handler before they could run"},
    {"waiting_at_gates", S::session, "waiting", "", "processes and threads parked at a gate now (stepping)"},
    {"compare", S::compare, "", "COLUMN SERVER",
     "COLUMN (a compare column, e.g. pss_per_conn_kb) of SERVER's row in the lesson's last comparison"},
    {"compare_least", S::compare, "", "COLUMN", "the server with the lowest COLUMN in the lesson's last comparison",
     true},
    {"compare_most", S::compare, "", "COLUMN", "the server with the highest COLUMN in the lesson's last comparison",
     true},
    {"compare_ratio", S::compare, "x", "COLUMN SERVER SERVER",
     "COLUMN of the first SERVER divided by the second's, in the lesson's last comparison"},
};

Value unknown(std::string why) {
  Value v;
  v.why = std::move(why);
  return v;
}

Value number(double n, std::string_view unit) {
  Value v;
  v.known = true;
  v.number = n;
  v.unit = std::string(unit);
  return v;
}

Value name(std::string text) {
  Value v;
  v.known = true;
  v.is_text = true;
  v.text = std::move(text);
  return v;
}

std::size_t arg_count(std::string_view args) {
  if (args.empty()) return 0;
  return static_cast<std::size_t>(std::count(args.begin(), args.end(), ' ')) + 1;
}

Value from_proc(const Query& q, pid_t server) {
  if (server <= 0) return unknown("no server is running");
  observe::ProcSnapshot snap = observe::sample_subtree(server);
  const observe::ProcInfo* root = snap.find(server);
  if (root == nullptr || root->state == 'Z') return unknown("the server process is gone");
  double n = 0;
  if (q.name == "processes") {
    for (const auto& p : snap.procs) n += p.state != 'Z' ? 1 : 0;
  } else if (q.name == "children") {
    for (const auto& p : snap.procs) n += p.ppid == server && p.state != 'Z' ? 1 : 0;
  } else if (q.name == "zombies") {
    for (const auto& p : snap.procs) n += p.state == 'Z' ? 1 : 0;
  } else if (q.name == "threads") {
    for (const auto& p : snap.procs) n += p.state != 'Z' ? p.threads : 0;
  } else if (q.name == "pss_kb") {
    for (const auto& p : snap.procs) n += static_cast<double>(p.pss_kb);
  } else if (q.name == "backlog") {
    // One LISTEN socket, however many processes hold a copy of it.
    std::set<std::uint64_t> seen;
    bool found = false;
    for (const auto& p : snap.procs)
      for (const auto& s : p.sockets)
        if (s.state == observe::TcpState::listen && seen.insert(s.inode).second) {
          n += s.rx_queue;
          found = true;
        }
    if (!found) return unknown("no listening socket in the server's tree");
  }
  return number(n, q.unit);
}

Value from_session(const Query& q, const session::Session& s) {
  const session::Model& m = s.model();
  const auto& c = m.counts;
  auto count = [&](std::uint64_t v) { return number(static_cast<double>(v), q.unit); };
  auto ms = [&](std::uint64_t ns) { return number(static_cast<double>(ns) / 1e6, q.unit); };
  if (q.name == "connections_open") return count(c.connections_open);
  if (q.name == "connections_accepted") return count(c.connections_accepted);
  if (q.name == "refused") return count(c.refused);
  if (q.name == "forks") return count(c.children_forked);
  if (q.name == "execs") return count(c.execs);
  if (q.name == "threads_spawned") return count(c.threads_spawned);
  if (q.name == "reaped") return count(c.reaped);
  if (q.name == "requests") return count(c.requests);
  if (q.name == "replies") return count(c.replies);
  if (q.name == "unanswered_clients") {
    std::uint64_t n = 0;
    for (const auto& cl : m.clients) n += cl.connect_ns != 0 && cl.replies == 0 ? 1 : 0;
    return count(n);
  }
  if (q.name == "visitor_count_max") {
    if (c.visitor_counts == 0) return unknown("no client has asked for the visitor count yet");
    return count(c.visitor_count_max);
  }
  if (q.name == "first_reply_client") {
    if (m.latencies.empty()) return unknown("no client has read a reply yet");
    return count(m.latencies.front().client_id);
  }
  if (q.name == "p50_ms" || q.name == "p99_ms" || q.name == "max_latency_ms") {
    if (m.latency.count == 0) return unknown("no client has read a reply yet");
    return ms(q.name == "p50_ms" ? m.latency.p50_ns : q.name == "p99_ms" ? m.latency.p99_ns : m.latency.max_ns);
  }
  if (q.name == "lost_updates" || q.name == "visits_counted" || q.name == "pss_per_connection_kb") {
    session::ThreadsModel t = session::fold_threads(s);
    if (q.name == "pss_per_connection_kb") {
      if (t.memory.open_connections == 0) return unknown("no connection is open at the latest /proc sample");
      return number(t.memory.pss_per_connection_kb, q.unit);
    }
    std::int64_t n = 0;
    for (const auto& counter : t.counters) n += q.name == "lost_updates" ? counter.lost_total() : counter.actual;
    return number(static_cast<double>(n), q.unit);
  }
  if (q.name == "longest_handler_ms" || q.name == "delayed_handlers") {
    std::vector<session::LoopState> loops = session::fold_loops(s);
    if (loops.empty()) return unknown("no event loop ran in this session");
    std::uint64_t longest = 0, delayed = 0;
    for (const auto& l : loops) {
      longest = std::max(longest, l.longest_handler_ns());
      delayed += l.delayed.size();
    }
    return q.name == "delayed_handlers" ? count(delayed) : ms(longest);
  }
  return unknown("not a session query");
}

Value from_compare(const QueryRef& ref, const Query& q, const compare::Result* r) {
  if (r == nullptr || r->rows.empty()) return unknown("the lesson has run no comparison yet");
  const compare::Column* col = compare::find_column(ref.args[0]);
  auto cell = [&](const std::string& server) -> std::optional<double> {
    for (const auto& row : r->rows)
      if (row.server == server) return col->value(row);
    return std::nullopt;
  };
  if (q.name == "compare" || q.name == "compare_ratio") {
    auto a = cell(ref.args[1]);
    if (!a) return unknown(ref.args[1] + " has no " + std::string(col->key) + " in the last comparison");
    if (q.name == "compare") return number(*a, col->header);
    auto b = cell(ref.args[2]);
    if (!b || *b == 0) return unknown(ref.args[2] + " has no (or a zero) " + std::string(col->key));
    return number(*a / *b, "x");
  }
  const bool least = q.name == "compare_least";
  std::optional<double> best;
  std::string who;
  for (const auto& row : r->rows) {
    auto v = col->value(row);
    if (!v) continue;
    if (!best || (least ? *v < *best : *v > *best)) {
      best = v;
      who = row.server;
    }
  }
  if (!best) return unknown("no row of the last comparison has " + std::string(col->key));
  return name(who);
}

}  // namespace

std::string Value::shown() const {
  if (!known) return "unknown: " + why;
  if (is_text) return text;
  char buf[64];
  const double r = std::round(number);
  if (std::fabs(number - r) < 1e-9) std::snprintf(buf, sizeof buf, "%.0f", number);
  else if (std::fabs(number) >= 100) std::snprintf(buf, sizeof buf, "%.0f", number);
  else std::snprintf(buf, sizeof buf, "%.1f", number);
  std::string out = buf;
  if (!unit.empty()) out += (unit == "x" ? "" : " ") + unit;
  return out;
}

std::string_view query_source_name(QuerySource s) {
  switch (s) {
    case QuerySource::proc: return "/proc";
    case QuerySource::session: return "session";
    case QuerySource::compare: return "compare";
  }
  return "?";
}

std::string QueryRef::text() const {
  std::string out = name;
  for (const auto& a : args) out += " " + a;
  return out;
}

std::span<const Query> queries() { return kQueries; }

const Query* find_query(std::string_view name) {
  for (const auto& q : kQueries)
    if (q.name == name) return &q;
  return nullptr;
}

std::string query_names() {
  std::string out;
  for (const auto& q : kQueries) out += (out.empty() ? "" : ", ") + std::string(q.name);
  return out;
}

std::string check_query(const QueryRef& ref) {
  const Query* q = find_query(ref.name);
  if (q == nullptr) return "unknown query '" + ref.name + "' (known: " + query_names() + ")";
  if (ref.args.size() != arg_count(q->args))
    return "query " + std::string(q->name) + " takes " +
           (q->args.empty() ? std::string("no arguments") : std::string(q->args)) + ", got '" + ref.text() + "'";
  if (q->source == QuerySource::compare) {
    if (compare::find_column(ref.args[0]) == nullptr) {
      std::string known;
      for (const auto& c : compare::columns()) known += (known.empty() ? "" : ", ") + std::string(c.key);
      return "unknown compare column '" + ref.args[0] + "' (known: " + known + ")";
    }
  }
  return "";
}

Value evaluate(const QueryRef& ref, const QueryContext& context) {
  const Query* q = find_query(ref.name);
  if (q == nullptr || !check_query(ref).empty()) return unknown("bad query '" + ref.text() + "'");
  switch (q->source) {
    case QuerySource::proc:
      return from_proc(*q, context.server_pid);
    case QuerySource::session:
      if (q->name == "waiting_at_gates") return unknown("needs the lab's gate table");
      if (context.session == nullptr) return unknown("no session yet");
      return from_session(*q, *context.session);
    case QuerySource::compare:
      return from_compare(ref, *q, context.compare);
  }
  return unknown("?");
}

Value evaluate(const QueryRef& ref, lab::Lab& lab, const compare::Result* last_compare) {
  QueryContext context;
  context.server_pid = lab.server_pid();
  context.compare = last_compare;
  const Query* q = find_query(ref.name);
  if (q != nullptr && q->name == "waiting_at_gates") {
    if (context.server_pid <= 0) return unknown("no server is running");
    return number(static_cast<double>(lab.gates().waiters().size()), q->unit);
  }
  if (q != nullptr && q->source != QuerySource::session) return evaluate(ref, context);
  return lab.session().read([&](const session::Session& s) {
    context.session = &s;
    return evaluate(ref, context);
  });
}

}  // namespace sockscope::lesson
