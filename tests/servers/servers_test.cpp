// Live-server tests of what is particular to one architecture or one part:
// the fork server's children in /proc, reaping, zombies and its cap, the
// refusals at a cap, the event stream, and the command line. (What every
// architecture must do, with real clients and hostile input, is one suite
// over the architecture table: every_architecture_test.cpp.) Every server
// is started on 127.0.0.1 port 0 and stopped (SIGTERM, then SIGKILL if it
// hangs) by ServerProcess's destructor.
//
// Sections:
//   1. Fork specifics: children in /proc, reaping, zombies, the cap; refusals
//   2. The event stream
//   3. Command line errors
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <thread>
#include <utility>

#include "server_harness.h"
#include "servers/server.h"
#include "session/session.h"
#include "trace/ring.h"

namespace sockscope::test {
namespace {

const std::string kTimeout = "timeout 20 ";

std::string url(const ServerProcess& s, const std::string& scheme, const std::string& path) {
  return scheme + "://127.0.0.1:" + std::to_string(s.port()) + path;
}

// ---- 1. Fork specifics ------------------------------------------------------------

std::vector<std::unique_ptr<RawClient>> logged_in_clients(const ServerProcess& s, int n) {
  std::vector<std::unique_ptr<RawClient>> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(std::make_unique<RawClient>(s.port()));
    EXPECT_TRUE(out.back()->login()) << "client " << i;
  }
  return out;
}

std::size_t count_state(const std::vector<ProcInfo>& procs, char state) {
  return static_cast<std::size_t>(
      std::count_if(procs.begin(), procs.end(), [&](const ProcInfo& p) { return p.state == state; }));
}

TEST(ForkServer, OneChildPerClientThenAllReaped) {
  ServerProcess s({"--arch", "fork", "--port", "0"});
  auto clients = logged_in_clients(s, 5);
  // Every client has been greeted by its own child, so all five exist now.
  EXPECT_EQ(children_of(s.pid()).size(), 5u);
  for (auto& c : clients) {
    EXPECT_EQ(c->command("QUIT"), 221);
    c->close_now();
  }
  EXPECT_TRUE(wait_until([&] { return children_of(s.pid()).empty(); }))
      << children_of(s.pid()).size() << " children left: the parent did not reap";
  EXPECT_EQ(s.stop(), 0);
}

TEST(ForkServer, NoReapLeavesZombies) {
  ServerProcess s({"--arch", "fork", "--port", "0", "--no-reap"});
  auto clients = logged_in_clients(s, 3);
  for (auto& c : clients) {
    EXPECT_EQ(c->command("QUIT"), 221);
    EXPECT_TRUE(c->sees_close());
  }
  EXPECT_TRUE(wait_until([&] { return count_state(children_of(s.pid()), 'Z') == 3; }));
  EXPECT_EQ(children_of(s.pid()).size(), 3u);
  // The shutdown path collects them; nothing is left behind.
  EXPECT_EQ(s.stop(), 0);
}

TEST(ForkServer, MaxChildrenRefusesWith421AndKeepsServingTheOthers) {
  ServerProcess s({"--arch", "fork", "--port", "0", "--max-children", "2"});
  auto clients = logged_in_clients(s, 2);
  {
    RawClient third(s.port());
    auto r = third.reply();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, "421 Too many connections, try later.\r\n");
    EXPECT_TRUE(third.sees_close());
  }
  EXPECT_EQ(children_of(s.pid()).size(), 2u) << "no fork for a refused client";
  for (auto& c : clients) {
    EXPECT_EQ(c->command("NOOP"), 200);
    std::string text;
    EXPECT_EQ(c->command("PWD", &text), 257);
  }
  // When one leaves and is reaped, a new client gets in again.
  EXPECT_EQ(clients[0]->command("QUIT"), 221);
  clients[0]->close_now();
  ASSERT_TRUE(wait_until([&] { return children_of(s.pid()).size() == 1; }));
  RawClient later(s.port());
  EXPECT_TRUE(later.login());
}

// The descriptors `pid` opened itself onto /dev/null: those marked
// close-on-exec (what it inherited at exec carries no such mark, or it would
// be gone). In a server that is the spare kept for refusing clients when
// descriptors run out.
std::vector<int> own_dev_null_descriptors(pid_t pid) {
  std::vector<int> out;
  const std::string proc = "/proc/" + std::to_string(pid);
  for (const auto& e : fs::directory_iterator(proc + "/fd")) {
    std::error_code ec;
    if (fs::read_symlink(e.path(), ec) != "/dev/null") continue;
    const std::string fd = e.path().filename();
    std::ifstream info(proc + "/fdinfo/" + fd);
    std::string key, flags;
    while (info >> key >> flags && key != "flags:") {
    }
    if (key == "flags:" && (std::stoul(flags, nullptr, 8) & O_CLOEXEC) != 0) out.push_back(std::stoi(fd));
  }
  return out;
}

// A forked child that does not exec keeps a copy of every descriptor the
// parent had, unless the child closes it: as it closes the listener, it
// closes the parent's spare descriptor, which would otherwise be one
// unexplained /dev/null in every child's "open fds". (shotgun forks its
// connection processes the same way.)
TEST(ForkServer, AChildClosesTheParentsSpareDescriptor) {
  for (const std::string arch : {"fork", "shotgun"}) {
    SCOPED_TRACE(arch);
    ServerProcess s({"--arch", arch, "--port", "0"});
    RawClient client(s.port());
    ASSERT_TRUE(client.login());
    const auto children = children_of(s.pid());
    ASSERT_EQ(children.size(), 1u);
    EXPECT_EQ(own_dev_null_descriptors(s.pid()).size(), 1u) << "the parent's spare";
    EXPECT_EQ(own_dev_null_descriptors(children[0].pid), std::vector<int>{}) << "the child kept the spare";
    EXPECT_EQ(client.command("QUIT"), 221);
    client.close_now();
    EXPECT_EQ(s.stop(), 0);
  }
}

// A storm of clients against a full cap, none of which sends a byte or
// closes: each gets its 421 at once. The refusal used to wait up to 200 ms on
// the accepting thread for the client to close (so the reply would not be
// lost to an RST): 25 silent clients took 5 s, a cap of 64 under 436 held
// connections 96 s, and nobody else was accepted meanwhile.
TEST(Refusals, AStormOfSilentClientsIsRefusedWithoutStallingTheAcceptLoop) {
  for (const std::vector<std::string>& cap : {std::vector<std::string>{"--arch", "fork", "--max-children", "1"},
                                              {"--arch", "thread", "--max-threads", "1"},
                                              {"--arch", "pool", "--workers", "1", "--queue", "1"}}) {
    SCOPED_TRACE(cap[1]);
    std::vector<std::string> args = cap;
    args.insert(args.end(), {"--port", "0"});
    ServerProcess s(args);
    RawClient holder(s.port());  // fills the cap (the pool's one worker)
    ASSERT_TRUE(holder.login());
    // The pool's queue holds one more, unanswered while the worker is busy.
    std::optional<RawClient> queued;
    if (cap[1] == "pool") queued.emplace(s.port());
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::unique_ptr<RawClient>> storm;
    for (int i = 0; i < 25; ++i) storm.push_back(std::make_unique<RawClient>(s.port()));
    for (auto& c : storm) {
      auto r = c->reply();
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(*r, "421 Too many connections, try later.\r\n");
    }
    const auto took = std::chrono::steady_clock::now() - start;
    // 25 x 200 ms before; a few ms now. The bound is loose: shared machines.
    EXPECT_LT(took, std::chrono::milliseconds(2500)) << "the accept loop waited on refused clients";
    // The held client is still served, and the server still accepts.
    EXPECT_EQ(holder.command("NOOP"), 200);
    for (auto& c : storm) EXPECT_TRUE(c->sees_close());
    EXPECT_EQ(s.stop(), 0);
  }
}

// The accept loop calls tick() on every pass. It reads only the sockets
// whose time is up: it once read every held socket on every pass, so a storm
// of 500 held refusals cost each new client 500 recv() calls first (a polite
// client waited 170-320 ms). A socket whose time is not up keeps what its
// client sent; one whose time is up is read, then closed.
TEST(Refusals, TickTouchesOnlyTheSocketsWhoseTimeIsUp) {
  servers::Refusals refusals(protocol::Protocol::ftp);
  std::vector<std::array<int, 2>> pairs(50);
  for (auto& p : pairs) {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, p.data()), 0);
    refusals.refuse(p[0]);  // ours is p[1]: the client's end
  }
  EXPECT_EQ(refusals.held(), pairs.size());
  for (auto& p : pairs) ASSERT_EQ(send(p[1], "USER x\r\n", 8, 0), 8);
  for (int pass = 0; pass < 100; ++pass) refusals.tick();
  EXPECT_EQ(refusals.held(), pairs.size()) << "none is due yet";
  for (auto& p : pairs) {
    int pending = -1;
    ASSERT_EQ(ioctl(p[0], FIONREAD, &pending), 0);
    EXPECT_EQ(pending, 8) << "a held socket was read before its time";
  }
  ASSERT_TRUE(wait_until([&] {
    refusals.tick();
    return refusals.held() == 0;
  }, std::chrono::milliseconds(3000)));
  for (auto& p : pairs) {
    char buf[128];
    const ssize_t n = recv(p[1], buf, sizeof buf, 0);  // the 421, then our FIN
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)), "421 Too many connections, try later.\r\n");
    EXPECT_EQ(recv(p[1], buf, sizeof buf, 0), 0) << "closed with a FIN, not a reset";
    close(p[1]);
  }
}

TEST(ForkServer, HttpCapAnswers503WithContentLength) {
  ServerProcess s({"--arch", "fork", "--port", "0", "--protocol", "http", "--max-children", "1"});
  RawClient holder(s.port());  // an idle keep-alive connection holds the only slot
  ASSERT_TRUE(wait_until([&] { return children_of(s.pid()).size() == 1; }));
  auto r = run_command(kTimeout + "curl -s -D - " + url(s, "http", "/hello.txt"));
  EXPECT_NE(r.output.find("HTTP/1.1 503"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Content-Length: "), std::string::npos) << r.output;
}

// ---- 2. The event stream ---------------------------------------------------------------

std::vector<trace::Event> drain(trace::TraceRing& ring) {
  std::vector<trace::Event> out;
  trace::Event e;
  while (ring.pop(e)) out.push_back(e);
  return out;
}

TEST(ForkServer, EventsTellTheLifecycleOfEachConnection) {
  auto ring = trace::TraceRing::create(1 << 14);
  ServerProcess s({"--arch", "fork", "--port", "0"}, {"SOCKSCOPE_TRACE_FD=" + std::to_string(ring.fd())});
  {
    auto clients = logged_in_clients(s, 2);
    for (auto& c : clients) EXPECT_EQ(c->command("QUIT"), 221);
  }
  ASSERT_TRUE(wait_until([&] { return children_of(s.pid()).empty(); }));
  pid_t server = s.pid();
  ASSERT_EQ(s.stop(), 0);
  auto events = drain(ring);
  EXPECT_EQ(ring.drops(), 0u);

  using trace::Kind;
  auto of_kind = [&](Kind k) {
    std::vector<trace::Event> out;
    std::copy_if(events.begin(), events.end(), std::back_inserter(out), [&](const auto& e) { return e.kind == k; });
    return out;
  };
  ASSERT_EQ(of_kind(Kind::server_start).size(), 1u);
  EXPECT_EQ(of_kind(Kind::server_start)[0].text_view(), "fork");
  EXPECT_EQ(of_kind(Kind::server_start)[0].a, s.port());
  ASSERT_EQ(of_kind(Kind::accept).size(), 2u);
  ASSERT_EQ(of_kind(Kind::fork).size(), 2u);
  ASSERT_EQ(of_kind(Kind::child_start).size(), 2u);
  ASSERT_EQ(of_kind(Kind::reap).size(), 2u);
  std::set<std::uint32_t> conns;
  for (const auto& f : of_kind(Kind::fork)) {
    EXPECT_EQ(f.pid, static_cast<std::uint32_t>(server)) << "the parent forks";
    conns.insert(f.conn);
    // The child announces itself under the same connection id, from the pid fork returned.
    auto starts = of_kind(Kind::child_start);
    auto it = std::find_if(starts.begin(), starts.end(), [&](const auto& c) { return c.conn == f.conn; });
    ASSERT_NE(it, starts.end());
    EXPECT_EQ(it->pid, static_cast<std::uint32_t>(f.a));
    EXPECT_EQ(it->a, server);
    // Its replies, close and exit come from the child; the reap from the parent.
    bool greeted = false, closed = false, exited = false, reaped = false;
    for (const auto& e : events) {
      if (e.kind == Kind::reply && e.conn == f.conn && e.a == 220) greeted = e.pid == f.a;
      if (e.kind == Kind::close && e.conn == f.conn) closed = e.pid == f.a;
      if (e.kind == Kind::exit && e.conn == f.conn) exited = e.pid == f.a;
      if (e.kind == Kind::reap && e.a == f.a) reaped = e.pid == static_cast<std::uint32_t>(server) && e.b == 0 && e.conn == f.conn;
    }
    EXPECT_TRUE(greeted && closed && exited && reaped) << "conn " << f.conn;
  }
  EXPECT_EQ(conns, (std::set<std::uint32_t>{1, 2}));
  ASSERT_EQ(of_kind(Kind::server_stop).size(), 1u);
  EXPECT_EQ(of_kind(Kind::server_stop)[0].a, 0) << "no child was alive at shutdown";
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().kind, Kind::exit);
  EXPECT_EQ(events.back().pid, static_cast<std::uint32_t>(server));
}

TEST(SerialServer, EventsShowOneConnectionAfterAnother) {
  auto ring = trace::TraceRing::create(1 << 14);
  ServerProcess s({"--arch", "serial", "--port", "0"}, {"SOCKSCOPE_TRACE_FD=" + std::to_string(ring.fd())});
  auto r = run_command(kTimeout + "curl -s -o /dev/null " + url(s, "ftp", "/data.bin"));
  ASSERT_EQ(r.exit_code, 0);
  pid_t server = s.pid();
  ASSERT_EQ(s.stop(), 0);
  auto events = drain(ring);
  using trace::Kind;
  std::map<Kind, int> count;
  for (const auto& e : events) {
    ++count[e.kind];
    if (e.kind != Kind::server_start && e.kind != Kind::listen) {
      EXPECT_EQ(e.pid, static_cast<std::uint32_t>(server)) << "serial: everything in one process";
    }
  }
  EXPECT_EQ(count[Kind::accept], 1);
  EXPECT_EQ(count[Kind::fork], 0);
  EXPECT_EQ(count[Kind::data_open], 1);
  EXPECT_EQ(count[Kind::data_accept], 1);
  EXPECT_EQ(count[Kind::close], 1);
  bool retr = false, transfer_ok = false;
  for (const auto& e : events) {
    if (e.kind == Kind::request && e.text_view() == "RETR") retr = true;
    if (e.kind == Kind::transfer && e.b == 1) transfer_ok = e.a == static_cast<std::int64_t>(read_file(assets_root() / "data.bin").size());
  }
  EXPECT_TRUE(retr);
  EXPECT_TRUE(transfer_ok);
  EXPECT_EQ(count[Kind::server_stop], 1);
}

// A reply that send() takes whole, as almost every reply is, is one event
// (trace::kReplyWhole), not a write and a reply: its bytes are what the
// client got. The blocking servers and the event loop alike.
TEST(Replies, AReplySentWholeIsOneEventWithEveryByteTheClientGot) {
  for (const char* arch : {"serial", "evloop"}) {
    SCOPED_TRACE(arch);
    auto ring = trace::TraceRing::create(1 << 12);
    ServerProcess s({"--arch", arch, "--protocol", "http", "--port", "0"},
                    {"SOCKSCOPE_TRACE_FD=" + std::to_string(ring.fd())});
    std::string got;
    {
      RawClient c(s.port());
      ASSERT_TRUE(c.send_all("GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
      got = c.read_for(5000);
      ASSERT_TRUE(c.closed_by_server());
    }
    ASSERT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
    ASSERT_EQ(s.stop(), 0);
    std::vector<trace::Event> replies;
    for (const auto& e : drain(ring)) {
      EXPECT_NE(e.kind, trace::Kind::write) << "a whole reply needs no write event";
      if (e.kind == trace::Kind::reply) replies.push_back(e);
    }
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].a, 200);
    EXPECT_EQ(replies[0].flags & trace::kReplyWhole, trace::kReplyWhole);
    EXPECT_EQ(replies[0].b, static_cast<std::int64_t>(got.size()));
  }
}

// The event loop logs a read and the request it brought as one event
// (trace::kRequestRead, a = the read's bytes); a read that brings only part
// of a request (the second client's first send) is logged alone, and the
// request that the next read completes carries that read. A session stores each as a read and a request, so it
// reads exactly as a blocking server's log: every byte the client sent, in
// reads, each request after its read.
TEST(Requests, TheEventLoopLogsAReadAndItsRequestAsOneEventAndTheSessionSplitsIt) {
  using trace::Kind;
  auto ring = trace::TraceRing::create(1 << 12);
  ServerProcess s({"--arch", "evloop", "--protocol", "http", "--port", "0"},
                  {"SOCKSCOPE_TRACE_FD=" + std::to_string(ring.fd())});
  const std::string first = "GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const std::string head = "GET /hello.txt HTT", tail = "P/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  {
    RawClient c(s.port());
    ASSERT_TRUE(c.send_all(first));
    ASSERT_EQ(c.read_for(5000).rfind("HTTP/1.1 200", 0), 0u);
    ASSERT_TRUE(c.closed_by_server());
  }
  {
    RawClient c(s.port());
    ASSERT_TRUE(c.send_all(head));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // read alone, before the rest is sent
    ASSERT_TRUE(c.send_all(tail));
    ASSERT_EQ(c.read_for(5000).rfind("HTTP/1.1 200", 0), 0u);
    ASSERT_TRUE(c.closed_by_server());
  }
  ASSERT_EQ(s.stop(), 0);
  const std::vector<trace::Event> events = drain(ring);
  std::vector<std::pair<Kind, std::int64_t>> io;  // reads and requests as the server logged them
  session::Session session;
  for (const auto& e : events) {
    session.add_event(e);
    if (e.kind == Kind::read) io.emplace_back(e.kind, e.a);
    if (e.kind == Kind::request) {
      EXPECT_EQ(e.text_view(), "GET /hello.txt");
      io.emplace_back(e.kind, (e.flags & trace::kRequestRead) != 0 ? e.a : -1);
    }
  }
  const auto n = [](const std::string& str) { return static_cast<std::int64_t>(str.size()); };
  const std::vector<std::pair<Kind, std::int64_t>> logged = {
      {Kind::request, n(first)}, {Kind::read, n(head)}, {Kind::request, n(tail)}};
  EXPECT_EQ(io, logged);

  std::vector<std::pair<Kind, std::int64_t>> stored;
  std::uint64_t read_ts = 0;
  for (std::size_t i = 0; i < session.events().size(); ++i) {
    const trace::Event& e = session.events()[i];
    EXPECT_EQ(e.flags & trace::kRequestRead, 0) << "the session never stores the merged form";
    if (e.kind == Kind::read) {
      stored.emplace_back(e.kind, e.a);
      read_ts = e.ts_ns;
    }
    if (e.kind == Kind::request) {
      stored.emplace_back(e.kind, e.a);
      EXPECT_GE(e.ts_ns, read_ts);
    }
  }
  const std::vector<std::pair<Kind, std::int64_t>> as_blocking = {
      {Kind::read, n(first)}, {Kind::request, 0}, {Kind::read, n(head)}, {Kind::read, n(tail)}, {Kind::request, 0}};
  EXPECT_EQ(stored, as_blocking);
  ASSERT_EQ(session.model().connections.size(), 2u);
  EXPECT_EQ(session.model().connections[0].bytes_in, static_cast<std::uint64_t>(n(first)));
  EXPECT_EQ(session.model().connections[1].bytes_in, static_cast<std::uint64_t>(n(head) + n(tail)));
}

// ---- 3. Command line errors ----------------------------------------------------------------

TEST(ServeCommand, UnknownArchIsAUsageErrorListingTheValidOnes) {
  auto r = run_command(std::string("timeout 10 ") + SOCKSCOPE_BIN + " serve --arch nosuch --port 0 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("serial"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("fork"), std::string::npos) << r.output;
}

TEST(ServeCommand, MissingRootIsAClearError) {
  auto r = run_command(std::string("timeout 10 ") + SOCKSCOPE_BIN +
                       " serve --arch serial --port 0 --root /nonexistent/sockscope-root 2>&1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("/nonexistent/sockscope-root"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace sockscope::test
