// Synthetic sessions shaped like real runs, shared by the session tests.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "session/session.h"
#include "support/events.h"

namespace testing_fixture {

using sockscope::session::ProcInfo;
using sockscope::session::ProcSnapshot;
using sockscope::session::Session;
using sockscope::session::SessionMeta;
using sockscope::trace::Event;
using sockscope::trace::Kind;
using sockscope::test::event;

inline constexpr std::uint64_t kConnStart = 1'000'000;

inline ProcInfo proc(pid_t pid, pid_t ppid, char state, std::uint64_t rss_kb = 0, std::uint64_t pss_kb = 0,
                     int fds = 0, std::string comm = "sockscope") {
  ProcInfo p;
  p.pid = pid;
  p.ppid = ppid;
  p.state = state;
  p.comm = std::move(comm);
  if (state != 'Z') {
    p.cmdline = "sockscope serve --arch fork";
    p.threads = 1;
    p.tids = {pid};
  }
  p.rss_kb = rss_kb;
  p.pss_kb = pss_kb;
  p.fds = fds;
  p.start_ticks = static_cast<std::uint64_t>(pid);
  return p;
}

// A TCP socket as the sampler reports it.
inline sockscope::observe::SocketFd sock(int fd, std::uint64_t inode, sockscope::observe::TcpState state,
                                         std::uint16_t local_port, std::uint16_t remote_port = 0,
                                         std::uint32_t rx = 0, std::uint32_t tx = 0) {
  sockscope::observe::SocketFd k;
  k.fd = fd;
  k.inode = inode;
  k.state = state;
  k.local_addr = "127.0.0.1";
  k.local_port = local_port;
  k.remote_addr = remote_port ? "127.0.0.1" : "0.0.0.0";
  k.remote_port = remote_port;
  k.rx_queue = rx;
  k.tx_queue = tx;
  return k;
}

// A fork server (pid 100) on port 4481 and a client simulator (pid 500):
//  - clients 1..3 connect from ports 50001..50003; children 201..203 serve
//    them, 33 requests each, then exit; 201 and 202 are reaped, 203 is not (a
//    zombie, and the last /proc sample shows it as Z);
//  - client 4 is refused (421) at the cap;
//  - connection 5 comes from a real external client on port 60000 (no client
//    events), served by child 204, still open;
//  - client latencies are exactly 1..100 ms (p50 50 ms, p99 99 ms);
//  - sockets: the first sample shows the listener (inode 9000, 1 waiting
//    of 128) in 100 and, inherited, in child 201, which also shares
//    connection 1's socket (inode 9001) with its parent; the last shows 204
//    with its connection alone and the listener with nobody waiting;
//  - one error event whose text is not UTF-8 and holds a comma and a quote;
//  - 7 ring drops.
inline Session fork_server_session() {
  std::vector<Event> ev;
  std::vector<std::int64_t> lat(100);
  std::iota(lat.begin(), lat.end(), 1);
  std::shuffle(lat.begin(), lat.end(), std::mt19937(7));
  std::size_t li = 0;
  auto ms = [](std::int64_t v) { return v * 1'000'000; };

  ev.push_back(event(100, 100, Kind::server_start, 0, 4481, 0, "fork"));
  ev.push_back(event(200, 100, Kind::listen, 0, 4481, 3));
  for (std::uint32_t i = 1; i <= 3; ++i) {
    std::uint64_t base = kConnStart + (i - 1) * 100'000;
    std::uint32_t child = 200 + i;
    ev.push_back(event(base + 0, 500, Kind::client_connect, i, 50000 + i, 30'000));
    ev.push_back(event(base + 10, 100, Kind::accept, i, 50000 + i, 4 + i));
    ev.push_back(event(base + 20, 100, Kind::fork, i, child));
    ev.push_back(event(base + 30, child, Kind::child_start, i, 100));
    for (std::uint64_t r = 0; r < 33; ++r) {
      std::uint64_t t = base + 100 + r * 1000;
      ev.push_back(event(t, child, Kind::request, i, 0, 0, "NOOP"));
      ev.push_back(event(t + 10, child, Kind::reply, i, 200, 0));
      ev.push_back(event(t + 500, 500, Kind::client_reply, i, 200, ms(lat[li++])));
    }
    ev.push_back(event(base + 50'000, child, Kind::close, i, 100 * i, 1000 * i));
    ev.push_back(event(base + 50'010, child, Kind::exit, 0, 0));
    if (i != 3) ev.push_back(event(base + 50'020, 100, Kind::reap, 0, child, 0));
    ev.push_back(event(base + 50'030, 500, Kind::client_close, i, 1000 * i));
  }
  std::uint64_t b4 = kConnStart + 300'000;
  ev.push_back(event(b4, 500, Kind::client_connect, 4, 50004, 20'000));
  ev.push_back(event(b4 + 10, 100, Kind::accept, 4, 50004, 8));
  ev.push_back(event(b4 + 20, 100, Kind::refuse, 4, 3, 3));
  ev.push_back(event(b4 + 30, 100, Kind::reply, 4, 421));
  ev.push_back(event(b4 + 40, 100, Kind::close, 4, 0, 40));
  ev.push_back(event(b4 + 50, 500, Kind::client_reply, 4, 421, ms(lat[li++])));
  ev.push_back(event(b4 + 60, 500, Kind::client_close, 4, 40));
  std::uint64_t b5 = kConnStart + 400'000;
  ev.push_back(event(b5, 100, Kind::accept, 5, 60000, 9));
  ev.push_back(event(b5 + 10, 100, Kind::fork, 5, 204));
  ev.push_back(event(b5 + 20, 204, Kind::child_start, 5, 100));
  ev.push_back(event(b5 + 30, 204, Kind::read, 5, 42));
  ev.push_back(event(b5 + 40, 100, Kind::error, 0, 24, 0, "acc\xff\xfe" "ept,\"x\""));

  Session s;
  SessionMeta meta;
  meta.architecture = "fork";
  meta.protocol = "ftp";
  meta.port = 4481;
  meta.server_pid = 100;
  meta.start_ns = 50;
  meta.start_unix_ns = 1'700'000'000'123'456'789;
  meta.options = {{"reap", "true"}, {"max_children", "3"}, {"bind", "127.0.0.1"}};
  s.set_meta(meta);
  s.set_drops(7);
  for (const auto& e : ev) s.add_event(e);

  ProcSnapshot s1;
  s1.ts_ns = kConnStart + 35;
  s1.root = 100;
  using sockscope::observe::TcpState;
  s1.procs.push_back(proc(100, 1, 'S', 4096, 3000, 4));
  s1.procs.back().cpu_s = 0.01;
  s1.procs.back().sockets = {sock(3, 9000, TcpState::listen, 4481, 0, 1, 128),
                             sock(5, 9001, TcpState::established, 4481, 50001)};
  s1.procs.push_back(proc(201, 100, 'S', 2048, 600, 5));
  s1.procs.back().sockets = {sock(3, 9000, TcpState::listen, 4481, 0, 1, 128),
                             sock(5, 9001, TcpState::established, 4481, 50001)};
  s.add_snapshot(s1);
  ProcSnapshot s2;
  s2.ts_ns = kConnStart + 500'000;
  s2.root = 100;
  s2.procs.push_back(s1.procs[0]);
  s2.procs.back().sockets = {sock(3, 9000, TcpState::listen, 4481, 0, 0, 128)};
  s2.procs.push_back(proc(203, 100, 'Z'));
  s2.procs.push_back(proc(204, 100, 'S', 2048, 700, 5));
  s2.procs.back().cpu_s = 0.02;
  s2.procs.back().sockets = {sock(4, 9005, TcpState::established, 4481, 60000, 3, 0)};
  s.add_snapshot(s2);
  return s;
}

// A long fork-server run with about `n_events` events: overlapping
// connections, each joined to a client, a few children never reaped, and a
// /proc sample every 50 us listing the children alive then.
inline Session big_session(std::size_t n_events, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<Event> ev;
  struct Life {
    std::uint32_t pid;
    std::uint64_t from, to;
    bool reaped;
  };
  std::vector<Life> lives;
  ev.push_back(event(10, 100, Kind::server_start, 0, 4481, 0, "fork"));
  std::uint32_t conn = 0;
  while (ev.size() < n_events) {
    ++conn;
    std::uint64_t base = 1000 + conn * 1000ull;
    std::uint32_t child = 1000 + conn;
    auto port = static_cast<std::int64_t>(20000 + conn % 40000);
    std::uint64_t dur = 500 + rng() % 20000;
    ev.push_back(event(base, 500, Kind::client_connect, conn, port, 1000));
    ev.push_back(event(base + 5, 100, Kind::accept, conn, port, 5));
    ev.push_back(event(base + 10, 100, Kind::fork, conn, child));
    ev.push_back(event(base + 15, child, Kind::child_start, conn, 100));
    ev.push_back(event(base + 20, child, Kind::request, conn, 0, 0, "RETR a"));
    ev.push_back(event(base + 30, child, Kind::write, conn, 100));
    ev.push_back(event(base + 40, 500, Kind::client_reply, conn, 226, 1000 + rng() % 100000));
    ev.push_back(event(base + dur, child, Kind::close, conn, 10, 100));
    ev.push_back(event(base + dur + 5, child, Kind::exit, 0, 0));
    bool reaped = rng() % 50 != 0;
    if (reaped) ev.push_back(event(base + dur + 10, 100, Kind::reap, 0, child));
    ev.push_back(event(base + dur + 20, 500, Kind::client_close, conn, 100));
    lives.push_back({child, base + 10, reaped ? base + dur + 10 : UINT64_MAX, reaped});
  }
  std::stable_sort(ev.begin(), ev.end(), [](const Event& a, const Event& b) { return a.ts_ns < b.ts_ns; });
  // Distinct timestamps: the order of equal ones is arbitrary, and the tests
  // compare stores built in different arrival orders.
  for (std::size_t i = 1; i < ev.size(); ++i)
    if (ev[i].ts_ns <= ev[i - 1].ts_ns) ev[i].ts_ns = ev[i - 1].ts_ns + 1;
  Session s;
  SessionMeta meta;
  meta.architecture = "fork";
  meta.protocol = "ftp";
  meta.port = 4481;
  meta.server_pid = 100;
  s.set_meta(meta);
  for (const auto& e : ev) s.add_event(e);
  for (std::uint64_t t = 25'000; t < ev.back().ts_ns; t += 50'000) {
    ProcSnapshot snap;
    snap.ts_ns = t;
    snap.root = 100;
    snap.procs.push_back(proc(100, 1, 'S', 4000));
    for (const auto& l : lives)
      if (l.from <= t && t < l.to) snap.procs.push_back(proc(static_cast<pid_t>(l.pid), 100, 'S', 1000));
    s.add_snapshot(snap);
  }
  return s;
}

}  // namespace testing_fixture
