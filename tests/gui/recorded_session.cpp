#include "recorded_session.h"

#include <vector>

// Relative: bench_ui_frame builds this file with only tests/gui on its include path.
#include "../support/events.h"

namespace sockscope::gui_test {

namespace {

observe::ProcInfo proc(pid_t pid, pid_t ppid, char state, const char* cmd) {
  observe::ProcInfo p;
  p.pid = pid;
  p.ppid = ppid;
  p.state = state;
  p.comm = "sockscope";
  p.cmdline = state == 'Z' ? "" : cmd;
  p.threads = 1;
  p.tids = {pid};
  p.rss_kb = state == 'Z' ? 0 : 5200;
  p.pss_kb = state == 'Z' ? 0 : 1300;
  p.fds = state == 'Z' ? 0 : 6;
  return p;
}

}  // namespace

session::Session make_recorded_session(const RecordedShape& shape) {
  using K = trace::Kind;
  session::Session s;
  session::SessionMeta meta;
  meta.architecture = "fork";
  meta.protocol = "ftp";
  meta.port = 4481;
  meta.server_pid = kServerPid;
  meta.start_ns = kT0;
  meta.options = {{"reap", "true"}, {"max_children", "64"}};
  s.set_meta(meta);

  std::vector<trace::Event> events;
  std::uint64_t t = kT0;
  events.push_back(test::event(t += 1000, kServerPid, K::server_start, 0, 4481, 0, "fork"));
  events.push_back(test::event(t += 1000, kServerPid, K::listen, 0, 4481, 3));

  const int total = shape.children_alive + shape.children_done + shape.zombies;
  std::vector<pid_t> alive, zombies;
  for (int i = 0; i < total; ++i) {
    const auto conn = static_cast<std::uint32_t>(i + 1);
    const pid_t child = kServerPid + 1 + i;
    const auto port = static_cast<std::int64_t>(50000 + i);
    const bool external = i < shape.external;
    if (!external) events.push_back(test::event(t += 20'000, kSimPid, K::client_connect, conn, port, 90'000));
    events.push_back(test::event(t += 10'000, kServerPid, K::accept, conn, port, 4));
    events.push_back(test::event(t += 10'000, kServerPid, K::fork, conn, child));
    events.push_back(test::event(t += 5'000, kServerPid, K::close, conn));
    events.push_back(test::event(t += 5'000, child, K::child_start, conn, kServerPid));
    events.push_back(test::event(t += 5'000, child, K::write, conn, 10));
    events.push_back(test::event(t += 5'000, child, K::request, conn, 0, 0, "USER"));
    events.push_back(test::event(t += 5'000, child, K::reply, conn, 331));
    if (!external) events.push_back(test::event(t += 5'000, kSimPid, K::client_reply, conn, 331, 300'000 + i * 1000));
    if (i < shape.children_alive) {
      alive.push_back(child);
      continue;
    }
    events.push_back(test::event(t += 5'000, child, K::close, conn, 40, 120));
    events.push_back(test::event(t += 5'000, child, K::exit, conn, 0));
    if (i < shape.children_alive + shape.children_done) {
      events.push_back(test::event(t += 5'000, kServerPid, K::reap, 0, child, 0));
    } else {
      zombies.push_back(child);
    }
  }
  for (int i = 0; i < shape.extra_io_events; ++i) {
    const auto conn = static_cast<std::uint32_t>(1 + i % total);
    const pid_t child = kServerPid + 1 + i % total;
    events.push_back(test::event(t += 1'000, child, i % 2 == 0 ? K::read : K::write, conn, 64 + i % 100));
  }
  s.add_events(events.data(), events.size());

  // /proc agrees: the server, its live children sleeping in read(), the zombies.
  for (int k = 0; k < shape.snapshots; ++k) {
    observe::ProcSnapshot snap;
    snap.ts_ns = t + static_cast<std::uint64_t>(k + 1) * 100'000'000ull;
    snap.root = kServerPid;
    snap.procs.push_back(proc(kServerPid, 1, 'S', "sockscope serve --arch fork --port 4481"));
    for (pid_t c : alive) snap.procs.push_back(proc(c, kServerPid, 'S', "sockscope serve --arch fork --port 4481"));
    for (pid_t c : zombies) snap.procs.push_back(proc(c, kServerPid, 'Z', ""));
    s.add_snapshot(std::move(snap));
  }
  return s;
}

}  // namespace sockscope::gui_test
