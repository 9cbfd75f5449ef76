// Writers of the four export formats.
//
// Sections:
//   1. atomic file writing (temp name in the same directory, fsync, rename)
//   2. JSON Lines
//   3. Chrome trace JSON
//   4. CSV
//   5. narrative
#include "session/export.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <ostream>
#include <set>
#include <sstream>

#include "session/codec.h"

namespace sockscope::session {
namespace {

using codec::json;

// ---- 1. atomic file writing ----------------------------------------------------

// Writes through `body` into "<dir>/.<name>.tmp-<pid>-<n>", then rename()s it
// over `path`: rename within one directory is atomic, so readers see the old
// file or the whole new one, and a failure leaves no partial file.
template <class Body>
bool write_atomic(const std::filesystem::path& path, std::string& error, Body&& body) {
  static std::atomic<unsigned> counter{0};
  auto dir = path.parent_path();
  if (dir.empty()) dir = ".";
  auto tmp = dir / ("." + path.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                    std::to_string(counter.fetch_add(1)));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      error = path.string() + ": cannot create " + tmp.string() + ": " + std::strerror(errno);
      return false;
    }
    try {
      body(out);
    } catch (const std::exception& ex) {
      out.close();
      std::filesystem::remove(tmp);
      error = path.string() + ": " + ex.what();
      return false;
    }
    out.flush();
    if (!out) {
      int err = errno;
      out.close();
      std::filesystem::remove(tmp);
      error = path.string() + ": write failed: " + std::strerror(err);
      return false;
    }
  }
  // The data must be on disk before the name points at it, or a crash could
  // leave a complete-looking but empty file.
  int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::filesystem::remove(tmp);
    error = path.string() + ": cannot rename " + tmp.string() + " into place: " + std::strerror(err);
    return false;
  }
  return true;
}

// Reports progress about every 1% of `total` steps.
class Progress {
 public:
  Progress(const ProgressFn& fn, std::size_t total) : fn_(fn), total_(total ? total : 1) {
    step_ = total_ / 100 + 1;
  }
  void tick() {
    if (fn_ && ++done_ % step_ == 0) fn_(static_cast<double>(done_) / static_cast<double>(total_));
  }
  void done() {
    if (fn_) fn_(1.0);
  }

 private:
  const ProgressFn& fn_;
  std::size_t total_, step_, done_ = 0;
};

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
std::string dump(const codec::ojson& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

// ---- 2. JSON Lines -------------------------------------------------------------

void write_jsonl(const Session& s, std::ostream& out, const ProgressFn& progress) {
  Progress p(progress, s.events().size() + s.snapshots().size());
  out << dump(codec::header_to_json(s)) << '\n';
  // Events and snapshots interleaved in time order, as they happened.
  const auto& ev = s.events();
  const auto& sn = s.snapshots();
  std::size_t i = 0, k = 0;
  std::string line;
  while (i < ev.size() || k < sn.size()) {
    if (i < ev.size() && (k >= sn.size() || ev[i].ts_ns <= sn[k].ts_ns)) {
      line.clear();
      codec::append_event_line(line, ev[i++]);
      out << line;
    } else {
      out << dump(codec::snapshot_to_json(sn[k++])) << '\n';
    }
    p.tick();
  }
  p.done();
}

bool write_jsonl(const Session& s, const std::filesystem::path& path, std::string& error,
                 const ProgressFn& progress) {
  return write_atomic(path, error, [&](std::ostream& out) { write_jsonl(s, out, progress); });
}

// ---- 3. Chrome trace JSON --------------------------------------------------------

namespace {

// Perfetto's legacy JSON importer wants microseconds.
double us(std::uint64_t ns, std::uint64_t origin) {
  return ns >= origin ? static_cast<double>(ns - origin) / 1000.0 : 0.0;
}

std::string process_label(const ProcessView& p) {
  std::string label = std::string(role_name(p.role)) + " " + std::to_string(p.pid);
  if (p.role == ProcessRole::child && !p.conns.empty()) label += " (conn " + std::to_string(p.conns.front()) + ")";
  if (!p.comm.empty()) label += " [" + p.comm + "]";
  return label;
}

}  // namespace

void write_chrome_trace(const Session& s, std::ostream& out, const ProgressFn& progress) {
  const Model& m = s.model();
  const std::uint64_t origin = s.first_ns();
  const std::uint64_t end = s.last_ns();
  Progress p(progress, s.events().size() + s.snapshots().size() + m.processes.size() + m.connections.size());
  bool first = true;
  auto emit = [&](const json& j) {
    out << (first ? "\n" : ",\n") << dump(j);
    first = false;
  };
  out << "{\"displayTimeUnit\":\"ns\",\"otherData\":"
      << dump(codec::ojson{{"magic", kSessionMagic},
               {"architecture", s.meta().architecture},
               {"protocol", s.meta().protocol},
               {"port", s.meta().port},
               {"drops", s.drops()}})
      << ",\"traceEvents\":[";

  // Track names: one process track per pid, one thread track per tid seen.
  std::set<std::pair<std::uint32_t, std::uint32_t>> threads;
  for (const auto& e : s.events()) threads.insert({e.pid, e.tid});
  for (std::size_t i = 0; i < m.processes.size(); ++i) {
    const ProcessView& pv = m.processes[i];
    emit({{"ph", "M"}, {"name", "process_name"}, {"pid", pv.pid}, {"tid", pv.pid},
          {"args", {{"name", process_label(pv)}}}});
    emit({{"ph", "M"}, {"name", "process_sort_index"}, {"pid", pv.pid}, {"tid", pv.pid},
          {"args", {{"sort_index", i}}}});
    threads.insert({static_cast<std::uint32_t>(pv.pid), static_cast<std::uint32_t>(pv.pid)});
  }
  for (const auto& [pid, tid] : threads) {
    std::string name = pid == tid ? "main" : "thread " + std::to_string(tid);
    emit({{"ph", "M"}, {"name", "thread_name"}, {"pid", pid}, {"tid", tid}, {"args", {{"name", name}}}});
  }

  // A span per process lifetime, on its main thread: the children appearing
  // and ending are the story of a fork server.
  for (const auto& pv : m.processes) {
    std::uint64_t start = pv.fork_ns ? pv.fork_ns : pv.first_seen_ns;
    std::uint64_t stop = pv.exit_ns ? pv.exit_ns : pv.reap_ns ? pv.reap_ns : pv.gone_ns ? pv.gone_ns : end;
    if (stop < start) stop = start;
    emit({{"ph", "X"},
          {"name", std::string(role_name(pv.role)) + " lifetime"},
          {"cat", "process"},
          {"pid", pv.pid},
          {"tid", pv.pid},
          {"ts", us(start, origin)},
          {"dur", us(stop, origin) - us(start, origin)},
          {"args", {{"ppid", pv.ppid}, {"state", std::string(1, pv.state)}, {"zombie", pv.zombie},
                    {"exit_status", pv.exit_status}, {"reaped", pv.reap_ns != 0}}}});
    p.tick();
  }

  // Connections as async spans on the serving process (they overlap freely in
  // an event loop, which nested "X" spans cannot show), plus a flow arrow
  // from the accept in the listener to the process that took it over.
  for (std::size_t i = 0; i < m.connections.size(); ++i) {
    const ConnectionView& c = m.connections[i];
    std::string name = "conn " + std::to_string(c.id);
    if (c.client_id) name += " (client " + std::to_string(c.client_id) + ")";
    std::uint64_t stop = c.close_ns ? c.close_ns : end;
    if (stop < c.accept_ns) stop = c.accept_ns;
    json args = {{"peer_port", c.peer_port},     {"client", c.client_id},
                 {"state", conn_state_name(c.state)}, {"bytes_in", c.bytes_in},
                 {"bytes_out", c.bytes_out},     {"requests", c.requests},
                 {"listener", c.listener_pid},   {"serving_pid", c.serving_pid}};
    emit({{"ph", "b"}, {"cat", "connection"}, {"name", name}, {"id", i + 1}, {"pid", c.serving_pid},
          {"tid", c.serving_tid ? c.serving_tid : static_cast<std::uint32_t>(c.serving_pid)},
          {"ts", us(c.accept_ns, origin)}, {"args", args}});
    emit({{"ph", "e"}, {"cat", "connection"}, {"name", name}, {"id", i + 1}, {"pid", c.serving_pid},
          {"tid", c.serving_tid ? c.serving_tid : static_cast<std::uint32_t>(c.serving_pid)},
          {"ts", us(stop, origin)}});
    if (c.serving_pid != c.listener_pid) {
      const ProcessView* child = m.find_process(c.serving_pid);
      std::uint64_t arrive = child && child->fork_ns ? std::max(child->fork_ns, c.accept_ns) : c.accept_ns;
      emit({{"ph", "s"}, {"cat", "handoff"}, {"name", name}, {"id", i + 1}, {"pid", c.listener_pid},
            {"tid", c.listener_pid}, {"ts", us(c.accept_ns, origin)}});
      emit({{"ph", "f"}, {"bp", "e"}, {"cat", "handoff"}, {"name", name}, {"id", i + 1},
            {"pid", c.serving_pid}, {"tid", c.serving_pid}, {"ts", us(arrive, origin)}});
    }
    p.tick();
  }

  // Every event as an instant on its own thread.
  for (const auto& e : s.events()) {
    json args = {{"conn", e.conn}, {"a", e.a}, {"b", e.b}};
    if (auto t = e.text_view(); !t.empty()) args["text"] = codec::display_utf8(t);
    emit({{"ph", "i"}, {"s", "t"}, {"cat", "event"}, {"name", trace::kind_name(e.kind)}, {"pid", e.pid},
          {"tid", e.tid}, {"ts", us(e.ts_ns, origin)}, {"args", std::move(args)}});
    p.tick();
  }

  // /proc samples as counters: memory and threads per process over time.
  for (const auto& snap : s.snapshots()) {
    for (const auto& pi : snap.procs) {
      emit({{"ph", "C"}, {"name", "proc"}, {"pid", pi.pid}, {"ts", us(snap.ts_ns, origin)},
            {"args", {{"rss_kb", pi.rss_kb}, {"pss_kb", pi.pss_kb}, {"threads", pi.threads}, {"fds", pi.fds}}}});
    }
    p.tick();
  }
  out << "\n]}\n";
  p.done();
}

bool write_chrome_trace(const Session& s, const std::filesystem::path& path, std::string& error,
                        const ProgressFn& progress) {
  return write_atomic(path, error, [&](std::ostream& out) { write_chrome_trace(s, out, progress); });
}

// ---- 4. CSV ------------------------------------------------------------------------

namespace {
std::string csv_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += "\"\"";
    else out += c;
  }
  out += '"';
  return out;
}
}  // namespace

void write_csv(const Session& s, std::ostream& out, const ProgressFn& progress) {
  Progress p(progress, s.events().size());
  const std::uint64_t origin = s.first_ns();
  out << "t_ns,t_ms,pid,tid,kind,conn,a,b,text\n";
  char ms[48];
  for (const auto& e : s.events()) {
    std::snprintf(ms, sizeof ms, "%.3f", static_cast<double>(e.ts_ns - origin) / 1e6);
    out << e.ts_ns << ',' << ms << ',' << e.pid << ',' << e.tid << ',' << trace::kind_name(e.kind) << ','
        << e.conn << ',' << e.a << ',' << e.b << ',' << csv_quote(codec::display_utf8(e.text_view())) << '\n';
    p.tick();
  }
  p.done();
}

bool write_csv(const Session& s, const std::filesystem::path& path, std::string& error,
               const ProgressFn& progress) {
  return write_atomic(path, error, [&](std::ostream& out) { write_csv(s, out, progress); });
}

// ---- 5. narrative ------------------------------------------------------------------

namespace {

// Enough lines to tell the story of a lesson; a long run is summarized.
constexpr std::size_t kMaxNarrativeLines = 2000;

std::string clock_text(const Session& s, std::uint64_t ts) {
  char buf[64];
  const SessionMeta& m = s.meta();
  if (m.start_unix_ns != 0 && m.start_ns != 0) {
    std::int64_t unix_ns = m.start_unix_ns + (static_cast<std::int64_t>(ts) - static_cast<std::int64_t>(m.start_ns));
    time_t secs = static_cast<time_t>(unix_ns / 1'000'000'000);
    tm local{};
    ::localtime_r(&secs, &local);
    std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03d", local.tm_hour, local.tm_min, local.tm_sec,
                  static_cast<int>((unix_ns / 1'000'000) % 1000));
  } else {
    std::uint64_t origin = s.first_ns();
    std::snprintf(buf, sizeof buf, "+%.3fs", static_cast<double>(ts - origin) / 1e9);
  }
  return buf;
}

std::string errno_text(std::int64_t err) { return err > 0 ? std::strerror(static_cast<int>(err)) : "unknown error"; }

std::string wait_status_text(std::int64_t st) {
  int status = static_cast<int>(st);
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(st);
}

}  // namespace

std::string narrative(const Session& s) {
  using K = trace::Kind;
  const Model& m = s.model();
  const std::string host = s.meta().option("bind", "127.0.0.1");
  std::ostringstream out;
  out << "sockscope session";
  if (!s.meta().architecture.empty()) out << ": " << s.meta().architecture << " server";
  if (!s.meta().protocol.empty()) out << " (" << s.meta().protocol << ")";
  if (s.meta().port) out << " on " << host << ":" << s.meta().port;
  out << "\n\n";

  auto conn_from = [&](std::uint32_t id) {
    std::string t = "connection " + std::to_string(id);
    if (const ConnectionView* c = m.find_connection(id)) {
      if (c->peer_port) t += " from " + host + ":" + std::to_string(c->peer_port);
      if (c->client_id) t += " (client " + std::to_string(c->client_id) + ")";
    }
    return t;
  };

  std::size_t lines = 0, skipped = 0;
  for (const auto& e : s.events()) {
    std::ostringstream l;
    const std::string pid = "pid " + std::to_string(e.pid);
    const std::string text(codec::display_utf8(e.text_view()));
    switch (e.kind) {
      case K::server_start: l << pid << " started the " << text << " server on port " << e.a; break;
      case K::listen: l << pid << " is listening on " << host << ":" << e.a << " (fd " << e.b << ")"; break;
      case K::accept: l << pid << " accepted " << conn_from(e.conn); break;
      case K::fork:
        if (e.conn)
          l << pid << " forked child " << e.a << " for " << conn_from(e.conn);
        else
          l << pid << " forked worker " << e.a;
        break;
      case K::child_start:
        l << "child " << e.pid << " (parent " << e.a << ") starts";
        if (e.conn) l << " serving connection " << e.conn;
        break;
      case K::spawn: l << pid << " started thread " << e.a << " for connection " << e.conn; break;
      case K::thread_exit: l << "thread " << e.a << " of pid " << e.pid << " finished"; break;
      case K::request: l << pid << " connection " << e.conn << ": request " << text; break;
      case K::work_begin: l << pid << " burns " << e.a << " ms of CPU for connection " << e.conn; break;
      case K::sleep_begin: l << pid << " blocks " << e.a << " ms for connection " << e.conn; break;
      case K::close: {
        const ConnectionView* c = m.find_connection(e.conn);
        // The parent closing its copy after a fork is not the connection's end.
        if (c && static_cast<pid_t>(e.pid) == c->listener_pid && c->serving_pid != c->listener_pid) continue;
        l << pid << " closed connection " << e.conn << " (" << e.a << " bytes in, " << e.b << " bytes out)";
        break;
      }
      case K::exit: l << pid << " exited with status " << e.a; break;
      case K::reap: l << pid << " reaped child " << e.a << " (" << wait_status_text(e.b) << ")"; break;
      case K::refuse:
        l << pid << " refused " << conn_from(e.conn) << " with " << (s.meta().protocol == "http" ? "503" : "421")
          << ": ";
        if (text.empty()) l << e.a << " of cap " << e.b;
        else l << text << ", limit " << e.b;  // out of descriptors
        break;
      case K::error: l << pid << " error in " << text << ": " << errno_text(e.a); break;
      case K::server_stop: l << pid << " shut down (" << e.a << " children signalled)"; break;
      case K::client_connect:
        l << "client " << e.conn << " connected from local port " << e.a;
        if (e.b > 0) l << " in " << static_cast<double>(e.b) / 1e6 << " ms";
        break;
      case K::client_close: l << "client " << e.conn << " closed after receiving " << e.a << " bytes"; break;
      case K::client_error: l << "client " << e.conn << " failed in " << text << ": " << errno_text(e.a); break;
      default: continue;  // reads, writes, replies...: too fine-grained for a story
    }
    if (lines >= kMaxNarrativeLines) {
      ++skipped;
      continue;
    }
    out << clock_text(s, e.ts_ns) << "  " << l.str() << '\n';
    ++lines;
  }
  if (skipped) out << "... and " << skipped << " more steps (see the JSON Lines export for all of them)\n";
  out << "\nSummary\n" << summary(m, s);
  return out.str();
}

bool write_text_file(const std::filesystem::path& path, const std::string& text, std::string& error) {
  return write_atomic(path, error, [&](std::ostream& out) { out << text; });
}

bool write_narrative(const Session& s, const std::filesystem::path& path, std::string& error,
                     const ProgressFn& progress) {
  bool ok = write_atomic(path, error, [&](std::ostream& out) { out << narrative(s); });
  if (ok && progress) progress(1.0);
  return ok;
}

std::string export_path_problem(const std::filesystem::path& path) {
  std::error_code ec;
  if (!path.has_filename() || std::filesystem::is_directory(path, ec))
    return path.string() + ": a directory; give a file name (.jsonl, .json, .csv or .txt)";
  const auto ext = path.extension().string();
  if (ext != ".jsonl" && ext != ".json" && ext != ".csv" && ext != ".txt")
    return path.string() + ": unknown extension '" + ext + "' (.jsonl, .json, .csv or .txt)";
  return "";
}

bool write_by_extension(const Session& s, const std::filesystem::path& path, std::string& error,
                        const ProgressFn& progress) {
  if (std::string why = export_path_problem(path); !why.empty()) {
    error = why;
    return false;
  }
  auto ext = path.extension().string();
  if (ext == ".json") return write_chrome_trace(s, path, error, progress);
  if (ext == ".csv") return write_csv(s, path, error, progress);
  if (ext == ".txt") return write_narrative(s, path, error, progress);
  return write_jsonl(s, path, error, progress);
}

}  // namespace sockscope::session
