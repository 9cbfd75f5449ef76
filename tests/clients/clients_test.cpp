// The client simulator against real (minimal, in-test) FTP and HTTP servers on
// 127.0.0.1, with a real trace ring as the process ring: what the servers saw
// (peer ports, commands, concurrency) must match what the simulator says it
// did, event by event. Load mode (repeat, reconnect) and the held preset run
// against real `sockscope serve` processes of the architectures they are
// about. Plus the scenario's pure parts: presets, the plan, and the to_args →
// parse round trip the lab relies on.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <set>
#include <thread>

#include "clients/clients_command.h"
#include "clients/scenario.h"
#include "clients/simulator.h"
#include "servers/server_harness.h"
#include "support/events.h"
#include "test_server.h"
#include "trace/ring.h"

namespace sockscope {
namespace {

using clients::Scenario;
using test::ServerProcess;
using test::TestServer;
using K = trace::Kind;

// A ring created for the test and installed as the process ring, so the
// simulator's trace::emit lands where the test can read it.
class ClientsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ring_ = trace::TraceRing::create(1u << 15);
    trace::set_process_ring(&ring_);
  }
  void TearDown() override { trace::set_process_ring(nullptr); }

  std::vector<trace::Event> drain() {
    std::vector<trace::Event> out = test::drain(ring_);
    EXPECT_EQ(ring_.drops(), 0u);
    return out;
  }

  static std::vector<trace::Event> of(const std::vector<trace::Event>& events, K kind, std::uint32_t conn = 0) {
    std::vector<trace::Event> out;
    for (const auto& e : events)
      if (e.kind == kind && (conn == 0 || e.conn == conn)) out.push_back(e);
    return out;
  }

  static Scenario quick(std::uint16_t port, protocol::Protocol p = protocol::Protocol::ftp) {
    Scenario s = clients::preset("steady", p);
    s.port = port;
    s.spacing_ms = 5;
    s.think_ms = 0;
    s.timeout_ms = 5000;
    return s;
  }

  trace::TraceRing ring_;
};

std::set<std::uint16_t> local_ports(const std::vector<trace::Event>& connects) {
  std::set<std::uint16_t> s;
  for (const auto& e : connects) s.insert(static_cast<std::uint16_t>(e.a));
  return s;
}

// ---- FTP --------------------------------------------------------------------

TEST_F(ClientsTest, FtpClientsRunTheDefaultScriptAndTraceEveryStep) {
  TestServer server(TestServer::Mode::ftp);
  Scenario s = quick(server.port());
  s.count = 4;
  clients::RunResult r = clients::simulate(s);

  ASSERT_EQ(r.clients.size(), 4u);
  EXPECT_TRUE(r.all_ok()) << r.summary();
  EXPECT_FALSE(r.deadline_hit);
  EXPECT_EQ(server.accepted(), 4);

  auto events = drain();
  auto connects = of(events, K::client_connect);
  ASSERT_EQ(connects.size(), 4u);
  // The join key of the session: the client's local port is the server's peer port.
  EXPECT_EQ(local_ports(connects), server.peer_ports());

  const auto script = clients::default_script(protocol::Protocol::ftp);
  auto seen = server.commands();
  for (const auto& c : r.clients) {
    SCOPED_TRACE("client " + std::to_string(c.id));
    ASSERT_TRUE(seen.count(c.local_port));
    EXPECT_EQ(seen[c.local_port], script) << "the server received the script, in order";

    auto conn = of(events, K::client_connect, c.id);
    ASSERT_EQ(conn.size(), 1u);
    EXPECT_EQ(conn[0].a, c.local_port);
    EXPECT_GT(conn[0].b, 0) << "connect latency";

    auto requests = of(events, K::client_request, c.id);
    ASSERT_EQ(requests.size(), script.size());
    for (std::size_t i = 0; i < script.size(); ++i) EXPECT_EQ(requests[i].text_view(), clients::redacted(script[i]));
    EXPECT_EQ(requests[1].text_view(), "PASS ***");
    for (const auto& e : events) EXPECT_EQ(e.text_view().find("PASS x"), std::string_view::npos);

    // greeting + one per command + the 150s before LIST and RETR
    auto replies = of(events, K::client_reply, c.id);
    std::vector<std::int64_t> codes;
    for (const auto& e : replies) {
      codes.push_back(e.a);
      EXPECT_GT(e.b, 0) << "latency of reply " << e.a;
    }
    EXPECT_EQ(codes, (std::vector<std::int64_t>{220, 331, 230, 257, 229, 150, 226, 200, 227, 150, 226, 221}));
    EXPECT_EQ(c.replies, 12);
    EXPECT_EQ(c.latencies_ns.size(), 12u);

    EXPECT_EQ(c.data_bytes, test::kListing.size() + test::kHello.size()) << "both transfers, to the byte";
    auto closes = of(events, K::client_close, c.id);
    ASSERT_EQ(closes.size(), 1u);
    EXPECT_EQ(static_cast<std::uint64_t>(closes[0].a), c.bytes);
    EXPECT_GT(c.bytes, c.data_bytes);
    EXPECT_TRUE(of(events, K::client_error, c.id).empty());

    // In time order: connect, then requests/replies, close last.
    EXPECT_LE(conn[0].ts_ns, requests.front().ts_ns);
    EXPECT_GE(closes[0].ts_ns, replies.back().ts_ns);
  }
  EXPECT_GT(r.latency_percentile_ns(0.5), 0);
  EXPECT_GE(r.latency_percentile_ns(0.99), r.latency_percentile_ns(0.5));
  EXPECT_NE(r.summary().find("4 ok"), std::string::npos) << r.summary();
}

TEST_F(ClientsTest, HoldKeepsEveryConnectionOpenAtOnce) {
  TestServer server(TestServer::Mode::ftp);
  Scenario s = quick(server.port());
  s.count = 6;
  s.spacing_ms = 0;
  s.hold_ms = 700;
  auto t0 = std::chrono::steady_clock::now();
  clients::RunResult r = clients::simulate(s);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(r.all_ok()) << r.summary();
  EXPECT_EQ(server.max_concurrent(), 6) << "all six clients were connected at the same time";
  EXPECT_GE(took, std::chrono::milliseconds(700));
  // The hold comes before QUIT: each close is at least hold_ms after its connect.
  auto events = drain();
  for (const auto& c : r.clients) {
    auto conn = of(events, K::client_connect, c.id);
    auto quit = of(events, K::client_request, c.id);
    ASSERT_FALSE(conn.empty());
    ASSERT_FALSE(quit.empty());
    EXPECT_EQ(quit.back().text_view(), "QUIT");
    EXPECT_GE(quit.back().ts_ns - conn[0].ts_ns, 690'000'000u);
  }
}

TEST_F(ClientsTest, RefusedGreetingIsAReplyAndACleanClose) {
  TestServer server(TestServer::Mode::ftp_refuse);
  Scenario s = quick(server.port());
  s.count = 3;
  clients::RunResult r = clients::simulate(s);
  EXPECT_EQ(r.refused_count(), 3);
  EXPECT_EQ(r.failed_count(), 0);
  EXPECT_EQ(r.ok_count(), 0);
  auto events = drain();
  EXPECT_EQ(of(events, K::client_connect).size(), 3u);
  auto replies = of(events, K::client_reply);
  ASSERT_EQ(replies.size(), 3u);
  for (const auto& e : replies) EXPECT_EQ(e.a, 421);
  EXPECT_EQ(of(events, K::client_close).size(), 3u);
  EXPECT_TRUE(of(events, K::client_error).empty());
  EXPECT_TRUE(of(events, K::client_request).empty()) << "nothing is sent after a refusal";
}

TEST_F(ClientsTest, DeadPortGivesClientErrorsNotACrash) {
  // Bound but not listening, and kept bound: nobody else can take the port,
  // and every connect is refused by the kernel.
  std::uint16_t port = 0;
  int fd = test::bound_socket(0, port);
  Scenario s = quick(port);
  s.count = 2;
  clients::RunResult r = clients::simulate(s);
  close(fd);
  EXPECT_EQ(r.failed_count(), 2);
  for (const auto& c : r.clients) {
    EXPECT_FALSE(c.connected);
    EXPECT_NE(c.error.find("connect"), std::string::npos) << c.error;
  }
  auto events = drain();
  auto errors = of(events, K::client_error);
  ASSERT_EQ(errors.size(), 2u);
  for (const auto& e : errors) {
    EXPECT_EQ(e.a, ECONNREFUSED);
    EXPECT_EQ(e.text_view(), "connect");
  }
  EXPECT_TRUE(of(events, K::client_connect).empty());
  EXPECT_TRUE(of(events, K::client_close).empty()) << "no connection, nothing to close";
}

TEST_F(ClientsTest, SilentServerTimesOut) {
  TestServer server(TestServer::Mode::ftp_silent);
  Scenario s = quick(server.port());
  s.count = 2;
  s.timeout_ms = 300;
  auto t0 = std::chrono::steady_clock::now();
  clients::RunResult r = clients::simulate(s);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_EQ(r.failed_count(), 2);
  auto events = drain();
  auto errors = of(events, K::client_error);
  ASSERT_EQ(errors.size(), 2u);
  for (const auto& e : errors) {
    EXPECT_EQ(e.a, ETIMEDOUT);
    EXPECT_EQ(e.text_view(), "timeout reply USER");
  }
  EXPECT_EQ(of(events, K::client_close).size(), 2u) << "a connected client still says it closed";
}

TEST_F(ClientsTest, DeadlineEndsARunThatWouldHoldTooLong) {
  TestServer server(TestServer::Mode::ftp);
  Scenario s = quick(server.port());
  s.count = 3;
  s.hold_ms = 60000;
  s.deadline_ms = 400;
  auto t0 = std::chrono::steady_clock::now();
  clients::RunResult r = clients::simulate(s);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_TRUE(r.deadline_hit);
  EXPECT_EQ(r.failed_count(), 3);
  auto errors = of(drain(), K::client_error);
  ASSERT_EQ(errors.size(), 3u);
  for (const auto& e : errors) {
    EXPECT_EQ(e.a, ECANCELED);
    EXPECT_EQ(e.text_view(), "deadline");
  }
}

TEST_F(ClientsTest, WorkShareAddsSiteWorkAndMultiLineRepliesParse) {
  TestServer server(TestServer::Mode::ftp);
  Scenario s = quick(server.port());
  s.count = 4;
  s.work_share = 0.5;
  s.work_ms = 30;
  clients::RunResult r = clients::simulate(s);
  EXPECT_TRUE(r.all_ok()) << r.summary();
  int workers = 0;
  auto seen = server.commands();
  for (const auto& c : r.clients) {
    const auto& cmds = seen[c.local_port];
    bool work = std::find(cmds.begin(), cmds.end(), "SITE WORK 30") != cmds.end();
    EXPECT_EQ(work, c.work);
    if (work) {
      ++workers;
      ASSERT_GE(cmds.size(), 3u);
      EXPECT_EQ(cmds[2], "SITE WORK 30") << "right after logging in";
      // The 200 came after a three-line reply and took at least the work time.
      auto at = std::find(c.codes.begin(), c.codes.end(), 200);
      ASSERT_NE(at, c.codes.end());
      EXPECT_GE(c.latencies_ns[static_cast<std::size_t>(at - c.codes.begin())], 30'000'000);
    }
  }
  EXPECT_EQ(workers, 2);
}

TEST_F(ClientsTest, SlowClientSendsByteByByte) {
  TestServer server(TestServer::Mode::ftp);
  Scenario s = quick(server.port());
  s.count = 1;
  s.slow_share = 1.0;
  s.slow_byte_ms = 3;
  s.script = {"USER anonymous", "PASS x", "EPSV", "RETR hello.txt", "QUIT"};
  clients::RunResult r = clients::simulate(s);
  ASSERT_TRUE(r.all_ok()) << r.summary();
  ASSERT_TRUE(r.clients[0].slow);
  std::size_t bytes = 0;
  for (const auto& c : s.script) bytes += c.size() + 2;
  auto port = r.clients[0].local_port;
  EXPECT_EQ(server.commands()[port], s.script) << "commands arrive whole, however slowly";
  // Nearly every byte is its own recv() on the server side.
  EXPECT_GT(server.recv_calls()[port], static_cast<int>(bytes / 2));
  EXPECT_GE(r.elapsed_ns, static_cast<std::int64_t>(bytes - s.script.size()) * 3'000'000);
  EXPECT_EQ(r.clients[0].data_bytes, test::kHello.size());
}

TEST_F(ClientsTest, IdleClientsLogInAndWaitForTheHold) {
  TestServer server(TestServer::Mode::ftp);
  Scenario s = quick(server.port());
  s.count = 3;
  s.idle_count = 2;
  s.hold_ms = 300;
  clients::RunResult r = clients::simulate(s);
  EXPECT_TRUE(r.all_ok()) << r.summary();
  EXPECT_EQ(server.max_concurrent(), 3);
  auto seen = server.commands();
  int idle = 0;
  for (const auto& c : r.clients) {
    if (!c.idle) {
      EXPECT_EQ(seen[c.local_port], clients::default_script(protocol::Protocol::ftp));
      continue;
    }
    ++idle;
    EXPECT_EQ(seen[c.local_port], (std::vector<std::string>{"USER anonymous", "PASS x", "QUIT"}));
  }
  EXPECT_EQ(idle, 2);
  EXPECT_FALSE(r.clients[0].idle) << "idle clients are the last ids";
}

TEST_F(ClientsTest, DataCommandWithoutPassiveIsANegativeReply) {
  TestServer server(TestServer::Mode::ftp);
  Scenario s = quick(server.port());
  s.count = 1;
  s.script = {"USER anonymous", "PASS x", "LIST", "RETR missing.txt", "QUIT"};
  clients::RunResult r = clients::simulate(s);
  ASSERT_EQ(r.clients.size(), 1u);
  const auto& c = r.clients[0];
  EXPECT_FALSE(c.ok);
  EXPECT_TRUE(c.error.empty()) << "negative replies are not transport errors";
  EXPECT_EQ(c.codes, (std::vector<int>{220, 331, 230, 425, 550, 221}));
  EXPECT_EQ(c.negative_replies, 2);
  EXPECT_EQ(r.failed_count(), 1);
}

// ---- HTTP -------------------------------------------------------------------

TEST_F(ClientsTest, HttpClientsKeepAliveAndMatchPeerPorts) {
  TestServer server(TestServer::Mode::http);
  Scenario s = quick(server.port(), protocol::Protocol::http);
  s.count = 3;
  s.work_share = 1.0 / 3.0;
  s.work_ms = 10;
  clients::RunResult r = clients::simulate(s);
  EXPECT_TRUE(r.all_ok()) << r.summary();
  EXPECT_EQ(server.accepted(), 3) << "one keep-alive connection per client";
  auto events = drain();
  EXPECT_EQ(local_ports(of(events, K::client_connect)), server.peer_ports());
  auto seen = server.commands();
  int workers = 0;
  for (const auto& c : r.clients) {
    std::vector<std::string> want = {"GET /", "GET /hello.txt"};
    if (c.work) {
      ++workers;
      want.insert(want.begin(), "GET /work?ms=10");
    }
    EXPECT_EQ(seen[c.local_port], want);
    EXPECT_EQ(c.codes, std::vector<int>(want.size(), 200));
    std::uint64_t body = test::kIndex.size() + test::kHello.size() + (c.work ? 7 : 0);
    EXPECT_EQ(c.data_bytes, body);
    auto requests = of(events, K::client_request, c.id);
    ASSERT_EQ(requests.size(), want.size());
    EXPECT_EQ(requests.back().text_view(), "GET /hello.txt");
    for (const auto& e : of(events, K::client_reply, c.id)) EXPECT_GT(e.b, 0);
  }
  EXPECT_EQ(workers, 1);
}

TEST_F(ClientsTest, Http503IsARefusal) {
  TestServer server(TestServer::Mode::http_refuse);
  Scenario s = quick(server.port(), protocol::Protocol::http);
  s.count = 2;
  clients::RunResult r = clients::simulate(s);
  EXPECT_EQ(r.refused_count(), 2) << r.summary();
  auto events = drain();
  for (const auto& e : of(events, K::client_reply)) EXPECT_EQ(e.a, 503);
  EXPECT_EQ(of(events, K::client_close).size(), 2u);
  EXPECT_TRUE(of(events, K::client_error).empty());
}

// ---- load mode against the in-test servers -----------------------------------

TEST_F(ClientsTest, FtpRepeatRunsTheStepsBetweenLoginAndQuitUntilTheDeadline) {
  TestServer server(TestServer::Mode::ftp);
  Scenario s = quick(server.port());
  s.count = 2;
  s.script = {"USER anonymous", "PASS x", "EPSV", "RETR hello.txt", "QUIT"};
  s.repeat = true;
  s.deadline_ms = 400;
  clients::RunResult r = clients::simulate(s);
  EXPECT_TRUE(r.deadline_hit);
  EXPECT_TRUE(r.all_ok()) << "the deadline is a repeating client's normal end: " << r.summary();
  EXPECT_EQ(server.accepted(), 2) << "one connection per client";
  auto events = drain();
  EXPECT_TRUE(of(events, K::client_error).empty());
  auto seen = server.commands();
  for (const auto& c : r.clients) {
    SCOPED_TRACE("client " + std::to_string(c.id));
    EXPECT_EQ(c.connections, 1);
    const auto& cmds = seen[c.local_port];
    ASSERT_GE(cmds.size(), 6u) << "at least two rounds";
    EXPECT_EQ(cmds[0], "USER anonymous");
    EXPECT_EQ(cmds[1], "PASS x");
    // Then only the loop, never the login again and never QUIT: the data
    // connection is made afresh every round.
    std::size_t rounds = 0;
    for (std::size_t i = 2; i < cmds.size(); ++i) {
      EXPECT_EQ(cmds[i], (i % 2 == 0 ? "EPSV" : "RETR hello.txt")) << i;
      rounds += cmds[i] == "RETR hello.txt";
    }
    EXPECT_EQ(c.data_bytes % test::kHello.size(), 0u);
    EXPECT_GE(c.data_bytes / test::kHello.size(), rounds > 0 ? rounds - 1 : 0);
    // The server may not have read the last command before the run ended.
    EXPECT_GE(static_cast<std::size_t>(c.requests), cmds.size());
    EXPECT_LE(static_cast<std::size_t>(c.requests), cmds.size() + 1);
    EXPECT_EQ(of(events, K::client_connect, c.id).size(), 1u);
    EXPECT_EQ(of(events, K::client_close, c.id).size(), 1u) << "closed cleanly at the deadline";
  }
}

TEST_F(ClientsTest, HttpReconnectWithoutRepeatUsesAConnectionPerStep) {
  // The in-test server ignores "Connection: close" and keeps the connection:
  // the client then closes it itself before the next step.
  TestServer server(TestServer::Mode::http);
  Scenario s = quick(server.port(), protocol::Protocol::http);
  s.count = 2;
  s.reconnect = true;
  clients::RunResult r = clients::simulate(s);
  EXPECT_TRUE(r.all_ok()) << r.summary();
  EXPECT_FALSE(r.deadline_hit);
  EXPECT_EQ(server.accepted(), 4) << "two steps, two connections, per client";
  auto events = drain();
  EXPECT_EQ(local_ports(of(events, K::client_connect)), server.peer_ports());
  auto seen = server.commands();
  for (const auto& c : r.clients) {
    SCOPED_TRACE("client " + std::to_string(c.id));
    EXPECT_EQ(c.connections, 2);
    EXPECT_EQ(c.codes, (std::vector<int>{200, 200}));
    auto connects = of(events, K::client_connect, c.id);
    ASSERT_EQ(connects.size(), 2u);
    EXPECT_NE(connects[0].a, connects[1].a) << "a new local port";
    EXPECT_EQ(seen[static_cast<std::uint16_t>(connects[0].a)], (std::vector<std::string>{"GET /"}));
    EXPECT_EQ(seen[static_cast<std::uint16_t>(connects[1].a)], (std::vector<std::string>{"GET /hello.txt"}));
    EXPECT_EQ(of(events, K::client_close, c.id).size(), 2u) << "one close per connection";
  }
}

// ---- load mode and held clients against the real servers ------------------------

// A load run makes far more events than a test ring holds: this drains the
// ring on its own thread (the ring's one consumer) while the run goes on.
class RingDrainer {
 public:
  explicit RingDrainer(trace::TraceRing& ring) : ring_(ring), thread_([this] { loop(); }) {}
  ~RingDrainer() { stop(); }
  std::vector<trace::Event> stop() {
    if (thread_.joinable()) {
      stop_ = true;
      thread_.join();
      for (const auto& e : test::drain(ring_)) events_.push_back(e);
    }
    return events_;
  }

 private:
  void loop() {
    trace::Event e;
    while (!stop_) {
      bool any = false;
      while (ring_.pop(e)) {
        events_.push_back(e);
        any = true;
      }
      if (!any) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  trace::TraceRing& ring_;
  std::vector<trace::Event> events_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class LoadTest : public ClientsTest {
 protected:
  // The preset as the lab would run it, shortened.
  static Scenario load(const char* preset, protocol::Protocol p, std::uint16_t port, int count, int deadline_ms) {
    Scenario s = clients::preset(preset, p);
    s.port = port;
    s.count = count;
    s.deadline_ms = deadline_ms;
    s.timeout_ms = 5000;
    return s;
  }

  // Runs it with the ring drained meanwhile; every event of the run is kept.
  clients::RunResult run(const Scenario& s, std::vector<trace::Event>& events) {
    RingDrainer drainer(ring_);
    clients::RunResult r = clients::simulate(s);
    events = drainer.stop();
    EXPECT_EQ(ring_.drops(), 0u) << "every event of the run was kept";
    return r;
  }
};

TEST_F(LoadTest, KeepaliveOnTheEventLoopManyRequestsOnOneConnectionEach) {
  ServerProcess server({"--arch", "evloop", "--port", "0", "--protocol", "http"});
  const std::string hello = test::read_file(test::assets_root() / "hello.txt");
  Scenario s = load("keepalive", protocol::Protocol::http, server.port(), 4, 1000);
  std::vector<trace::Event> events;
  clients::RunResult r = run(s, events);
  EXPECT_TRUE(r.deadline_hit) << "a load run ends at its deadline";
  EXPECT_TRUE(r.all_ok()) << r.summary();
  EXPECT_EQ(r.failed_count(), 0);
  EXPECT_TRUE(of(events, K::client_error).empty());
  for (const auto& c : r.clients) {
    SCOPED_TRACE("client " + std::to_string(c.id));
    EXPECT_TRUE(c.error.empty()) << c.error;
    EXPECT_EQ(c.connections, 1);
    EXPECT_EQ(of(events, K::client_connect, c.id).size(), 1u) << "exactly one connection";
    EXPECT_EQ(of(events, K::client_close, c.id).size(), 1u);
    EXPECT_GT(c.replies, 10) << "a closed loop, not one request";
    EXPECT_EQ(of(events, K::client_reply, c.id).size(), static_cast<std::size_t>(c.replies));
    EXPECT_EQ(of(events, K::client_request, c.id).size(), static_cast<std::size_t>(c.requests));
    EXPECT_EQ(c.negative_replies, 0);
    // Every reply is hello.txt, whole (the last body may have been cut by the deadline).
    EXPECT_LE(c.data_bytes, static_cast<std::uint64_t>(c.replies) * hello.size());
    EXPECT_GE(c.data_bytes, static_cast<std::uint64_t>(c.replies - 1) * hello.size());
  }
  EXPECT_EQ(r.connection_count(), 4);
}

TEST_F(LoadTest, CloseOnTheForkServerANewConnectionPerRequest) {
  ServerProcess server({"--arch", "fork", "--port", "0", "--protocol", "http"});
  Scenario s = load("close", protocol::Protocol::http, server.port(), 3, 1000);
  std::vector<trace::Event> events;
  clients::RunResult r = run(s, events);
  EXPECT_TRUE(r.deadline_hit);
  EXPECT_TRUE(r.all_ok()) << r.summary();
  EXPECT_TRUE(of(events, K::client_error).empty());
  auto connects = of(events, K::client_connect);
  EXPECT_GT(connects.size(), r.clients.size()) << "several connections per client";
  EXPECT_EQ(static_cast<int>(connects.size()), r.connection_count());
  for (const auto& c : r.clients) {
    SCOPED_TRACE("client " + std::to_string(c.id));
    EXPECT_GT(c.connections, 2);
    // One request per connection; the last may have been cut by the deadline.
    EXPECT_GE(c.replies, c.connections - 1);
    EXPECT_LE(c.replies, c.connections);
    EXPECT_EQ(c.negative_replies, 0);
    auto closes = of(events, K::client_close, c.id);
    EXPECT_EQ(closes.size(), static_cast<std::size_t>(c.connections)) << "a close for every connect";
  }
}

TEST_F(LoadTest, FtpKeepaliveOnTheThreadServer) {
  ServerProcess server({"--arch", "thread", "--port", "0", "--protocol", "ftp"});
  Scenario s = load("keepalive", protocol::Protocol::ftp, server.port(), 3, 800);
  std::vector<trace::Event> events;
  clients::RunResult r = run(s, events);
  EXPECT_TRUE(r.deadline_hit);
  EXPECT_TRUE(r.all_ok()) << r.summary();
  EXPECT_TRUE(of(events, K::client_error).empty());
  for (const auto& c : r.clients) {
    SCOPED_TRACE("client " + std::to_string(c.id));
    EXPECT_EQ(c.connections, 1);
    EXPECT_GT(c.replies, 10);
    EXPECT_EQ(c.negative_replies, 0);
    ASSERT_GE(c.codes.size(), 5u);
    EXPECT_EQ((std::vector<int>(c.codes.begin(), c.codes.begin() + 5)), (std::vector<int>{220, 331, 230, 257, 200}))
        << "greeting, login once, then PWD and NOOP";
    auto requests = of(events, K::client_request, c.id);
    ASSERT_GE(requests.size(), 4u);
    std::size_t logins = 0, quits = 0;
    for (const auto& e : requests) {
      logins += e.text_view() == "USER anonymous" || e.text_view() == "PASS ***";
      quits += e.text_view() == "QUIT";
    }
    EXPECT_EQ(logins, 2u) << "the login is not repeated";
    EXPECT_EQ(quits, 0u) << "the deadline ends the loop, not QUIT";
  }
}

TEST_F(LoadTest, FtpCloseReconnectsForEveryPass) {
  ServerProcess server({"--arch", "thread", "--port", "0", "--protocol", "ftp"});
  Scenario s = load("close", protocol::Protocol::ftp, server.port(), 2, 800);
  std::vector<trace::Event> events;
  clients::RunResult r = run(s, events);
  EXPECT_TRUE(r.deadline_hit);
  EXPECT_TRUE(r.all_ok()) << r.summary();
  EXPECT_TRUE(of(events, K::client_error).empty());
  for (const auto& c : r.clients) {
    SCOPED_TRACE("client " + std::to_string(c.id));
    EXPECT_GT(c.connections, 2);
    // Each pass: the greeting, QUIT, 221.
    for (std::size_t i = 0; i + 1 < c.codes.size(); i += 2) {
      EXPECT_EQ(c.codes[i], 220) << i;
      EXPECT_EQ(c.codes[i + 1], 221) << i;
    }
    EXPECT_EQ(of(events, K::client_connect, c.id).size(), static_cast<std::size_t>(c.connections));
  }
}

TEST_F(LoadTest, HeldOnAPoolOfTwoServesTwoAndStarvesThree) {
  ServerProcess server({"--arch", "pool", "--port", "0", "--protocol", "ftp", "--workers", "2"});
  Scenario s = clients::preset("held", protocol::Protocol::ftp);
  ASSERT_GT(s.hold_ms, 1000);
  s.port = server.port();
  s.count = 5;
  s.deadline_ms = 1000;  // before the hold ends: the two served never let go
  s.timeout_ms = 5000;
  std::vector<trace::Event> events;
  clients::RunResult r = run(s, events);
  EXPECT_TRUE(r.deadline_hit);
  int served = 0, starved = 0;
  for (const auto& c : r.clients) {
    SCOPED_TRACE("client " + std::to_string(c.id));
    EXPECT_TRUE(c.connected) << "the kernel and the pool's queue accepted everyone";
    EXPECT_EQ(of(events, K::client_connect, c.id).size(), 1u);
    if (c.replies > 0) {
      ++served;
      EXPECT_EQ(c.codes, (std::vector<int>{220, 331, 230})) << "logged in, then held";
      continue;
    }
    ++starved;
    EXPECT_FALSE(c.ok);
    EXPECT_NE(c.error.find("deadline"), std::string::npos) << c.error;
    auto errors = of(events, K::client_error, c.id);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].a, ECANCELED);
    EXPECT_EQ(errors[0].text_view(), "deadline");
    EXPECT_TRUE(of(events, K::client_reply, c.id).empty()) << "never even greeted";
  }
  EXPECT_EQ(served, 2) << "one per worker";
  EXPECT_EQ(starved, 3);
}

// ---- the command, in process -----------------------------------------------

int run_command(const std::vector<std::string>& args) {
  CLI::App app{"sockscope", "sockscope"};
  int exit_code = -1;
  clients::add_clients_command(app, exit_code);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  reversed.push_back("clients");
  app.parse(reversed);
  return exit_code;
}

TEST_F(ClientsTest, CommandExitsZeroWhenAllSucceedAndOneOtherwise) {
  unsetenv(trace::kTraceFdEnv);  // keep the test's ring as the process ring
  TestServer server(TestServer::Mode::ftp);
  EXPECT_EQ(run_command({"--port", std::to_string(server.port()), "--count", "2", "--spacing-ms", "0",
                         "--think-ms", "0"}),
            0);
  EXPECT_EQ(server.accepted(), 2);
  EXPECT_EQ(of(drain(), K::client_connect).size(), 2u) << "the command traces into the process ring";

  std::uint16_t dead = 0;
  int fd = test::bound_socket(0, dead);
  EXPECT_EQ(run_command({"--port", std::to_string(dead), "--count", "1"}), 1);
  close(fd);
}

// ---- scenarios: presets, plan, round trip ----------------------------------

TEST(Scenario, PresetsDifferAndUnknownNamesAreErrors) {
  for (const auto& name : clients::preset_names()) {
    Scenario s = clients::preset(name);
    s.port = 4481;
    EXPECT_EQ(s.validate(), "") << name;
  }
  EXPECT_EQ(clients::preset("burst").spacing_ms, 0);
  EXPECT_GT(clients::preset("burst").count, clients::preset("steady").count);
  EXPECT_GT(clients::preset("slow").slow_share, 0.0);
  EXPECT_GT(clients::preset("heavy").work_share, 0.0);
  EXPECT_EQ(clients::preset("steady", protocol::Protocol::http).protocol, protocol::Protocol::http);
  for (auto p : {protocol::Protocol::ftp, protocol::Protocol::http}) {
    Scenario held = clients::preset("held", p);
    EXPECT_EQ(held.spacing_ms, 0);
    EXPECT_EQ(held.hold_ms, 3000);
    EXPECT_FALSE(held.repeat);
    const std::vector<std::string> want =
        p == protocol::Protocol::http ? std::vector<std::string>{"GET /hello.txt"}
                                      : std::vector<std::string>{"USER anonymous", "PASS x", "QUIT"};
    // Every client: log in (FTP) or one request (HTTP), then hold.
    for (const auto& plan : clients::plan(held)) EXPECT_EQ(plan.steps, want);
    for (const char* name : {"keepalive", "close"}) {
      SCOPED_TRACE(name);
      Scenario load = clients::preset(name, p);
      EXPECT_TRUE(load.repeat);
      EXPECT_EQ(load.reconnect, std::string_view(name) == "close");
      EXPECT_EQ(load.spacing_ms, 0);
      EXPECT_EQ(load.think_ms, 0);
      EXPECT_EQ(load.deadline_ms, clients::kLoadDeadlineMs) << "a run given no deadline still ends";
      EXPECT_EQ(load.run_deadline_ms(), clients::kLoadDeadlineMs);
    }
  }
  try {
    clients::preset("stampede");
    FAIL() << "an unknown preset was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("steady"), std::string::npos) << "names the valid ones: " << e.what();
  }
}

TEST(Scenario, PlanSpreadsRolesEvenly) {
  Scenario s = clients::preset("heavy");
  s.count = 10;
  s.idle_count = 2;
  s.slow_share = 0.25;
  auto plans = clients::plan(s);
  ASSERT_EQ(plans.size(), 10u);
  int work = 0, slow = 0, idle = 0;
  for (std::size_t k = 0; k < plans.size(); ++k) {
    const auto& p = plans[k];
    EXPECT_EQ(p.id, 1 + k);
    EXPECT_EQ(p.start_ms, static_cast<int>(k) * s.spacing_ms);
    work += p.work;
    slow += p.slow;
    idle += p.idle;
    if (p.work) {
      EXPECT_EQ(p.steps[2], "SITE WORK 200");
    }
    if (p.idle) {
      EXPECT_EQ(p.steps, (std::vector<std::string>{"USER anonymous", "PASS x", "QUIT"}));
    }
  }
  EXPECT_EQ(idle, 2);
  EXPECT_TRUE(plans[8].idle && plans[9].idle);
  EXPECT_EQ(work, 4);  // half of the 8 active ones
  EXPECT_EQ(slow, 2);
  EXPECT_TRUE(plans[0].work && plans[2].work && !plans[1].work);
  // Shares are rounded, not truncated: "slow" with 2 clients has a slow one.
  Scenario two = clients::preset("slow");
  two.count = 2;
  auto p2 = clients::plan(two);
  EXPECT_EQ(p2[0].slow + p2[1].slow, 1);
  Scenario five = clients::preset("slow");
  int slow5 = 0;
  for (const auto& p : clients::plan(five)) slow5 += p.slow;
  EXPECT_EQ(slow5, 2);
}

TEST(Scenario, PlanSaysWhichStepsRepeat) {
  Scenario ftp;
  ftp.repeat = true;
  ftp.count = 3;
  ftp.idle_count = 1;
  ftp.work_share = 0.5;
  auto plans = clients::plan(ftp);
  ASSERT_EQ(plans.size(), 3u);
  // Default script: USER, PASS, PWD ... RETR, QUIT: the loop is PWD .. RETR.
  EXPECT_TRUE(plans[1].repeat && !plans[1].reconnect);
  EXPECT_EQ(plans[1].loop_begin, 2u);
  EXPECT_EQ(plans[1].loop_end, plans[1].steps.size() - 1);
  EXPECT_EQ(plans[1].steps[plans[1].loop_begin], "PWD");
  EXPECT_EQ(plans[1].steps[plans[1].loop_end], "QUIT");
  // A work client's SITE WORK comes after the login, inside the loop.
  ASSERT_TRUE(plans[0].work);
  EXPECT_EQ(plans[0].steps[plans[0].loop_begin], "SITE WORK 100");
  EXPECT_EQ(plans[0].loop_end, plans[0].steps.size() - 1);
  EXPECT_FALSE(plans[2].repeat) << "idle clients hold; they do not repeat";

  // Reconnect: the whole script is a pass, on its own connection.
  ftp.reconnect = true;
  for (const auto& p : clients::plan(ftp)) {
    if (p.idle) continue;
    EXPECT_EQ(p.loop_begin, 0u);
    EXPECT_EQ(p.loop_end, p.steps.size());
  }
  // HTTP repeats all of it, on one connection or one per request.
  Scenario http = clients::preset("keepalive", protocol::Protocol::http);
  for (const auto& p : clients::plan(http)) {
    EXPECT_EQ(p.loop_begin, 0u);
    EXPECT_EQ(p.loop_end, p.steps.size());
  }
  // FTP with nothing between login and QUIT cannot repeat on one connection.
  Scenario empty = clients::preset("held");
  empty.port = 4481;
  empty.repeat = true;
  EXPECT_NE(empty.validate().find("repeat"), std::string::npos) << empty.validate();
  empty.reconnect = true;
  EXPECT_EQ(empty.validate(), "");
}

TEST(Scenario, ToArgsParsesBackToTheSameScenario) {
  std::vector<Scenario> cases;
  for (auto p : {protocol::Protocol::ftp, protocol::Protocol::http})
    for (const auto& name : clients::preset_names()) {
      Scenario s = clients::preset(name, p);
      s.port = 4481;
      cases.push_back(s);
    }
  Scenario custom;
  custom.port = 2121;
  custom.host = "localhost";
  custom.count = 7;
  custom.first_id = 40;
  custom.spacing_ms = 3;
  custom.think_ms = 0;
  custom.work_share = 0.3;
  custom.work_ms = 250;
  custom.slow_share = 1.0 / 7.0;
  custom.slow_byte_ms = 1;
  custom.idle_count = 2;
  custom.hold_ms = 1500;
  custom.timeout_ms = 900;
  custom.deadline_ms = 30000;
  custom.script = {"USER anonymous", "PASS secret words", "CWD pub", "EPSV", "RETR a file with spaces.txt", "QUIT"};
  custom.trace = false;
  cases.push_back(custom);
  Scenario http = cases.back();
  http.protocol = protocol::Protocol::http;
  http.script = {"GET /", "HEAD /data.bin", "GET /sleep?ms=5"};
  cases.push_back(http);
  // Load mode: both flags, each way, away from the presets' values.
  Scenario load = http;
  load.repeat = true;
  load.reconnect = true;
  cases.push_back(load);
  load.reconnect = false;
  cases.push_back(load);
  Scenario reconnect_only = custom;
  reconnect_only.reconnect = true;
  cases.push_back(reconnect_only);

  for (const auto& s : cases) {
    Scenario back = clients::parse_clients_args(s.to_args());
    EXPECT_TRUE(back == s) << testing::PrintToString(s.to_args());
  }
}

TEST(Scenario, FlagsOverrideThePresetAndBadFlagsAreUsageErrors) {
  Scenario s = clients::parse_clients_args({"--port", "4481", "--scenario", "heavy", "--count", "3"});
  EXPECT_EQ(s.count, 3);
  EXPECT_EQ(s.work_share, clients::preset("heavy").work_share);
  EXPECT_EQ(s.port, 4481);
  EXPECT_EQ(s.host, "127.0.0.1");
  // A load preset's flags can be turned off again, and on for any preset.
  Scenario once = clients::parse_clients_args({"--port", "4481", "--scenario", "keepalive", "--no-repeat"});
  EXPECT_FALSE(once.repeat);
  EXPECT_EQ(once.deadline_ms, clients::kLoadDeadlineMs);
  Scenario steady = clients::parse_clients_args({"--port", "4481", "--repeat", "--reconnect", "--deadline-ms", "500"});
  EXPECT_TRUE(steady.repeat && steady.reconnect);
  EXPECT_EQ(steady.deadline_ms, 500);

  auto rejects = [](std::vector<std::string> args) {
    EXPECT_THROW(clients::parse_clients_args(args), CLI::ParseError) << testing::PrintToString(args);
  };
  rejects({});                                                  // no port
  rejects({"--port", "0"});
  rejects({"--port", "4481", "--scenario", "stampede"});
  rejects({"--port", "4481", "--protocol", "gopher"});
  rejects({"--port", "4481", "--work-share", "1.5"});
  rejects({"--port", "4481", "--count", "2", "--idle", "3"});  // idle clients are part of count
  rejects({"--port", "4481", "--protocol", "http", "--step", "LIST"});
  rejects({"--port", "4481", "--no-such-flag"});
  rejects({"--port", "4481", "--scenario", "held", "--repeat"});  // nothing between login and QUIT
  EXPECT_THROW(clients::parse_clients_args({"--port", "4481", "--count", "2", "--idle", "3"}), CLI::ValidationError);
}

TEST(Scenario, PasswordsNeverReachTheTrace) {
  EXPECT_EQ(clients::redacted("PASS hunter2"), "PASS ***");
  EXPECT_EQ(clients::redacted("pass hunter2"), "PASS ***");
  EXPECT_EQ(clients::redacted("RETR hello.txt"), "RETR hello.txt");
  EXPECT_TRUE(clients::is_data_command("retr x"));
  EXPECT_TRUE(clients::is_data_command("LIST"));
  EXPECT_FALSE(clients::is_data_command("PASV"));
}

}  // namespace
}  // namespace sockscope
