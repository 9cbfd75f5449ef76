// The client simulator against real (minimal, in-test) FTP and HTTP servers on
// 127.0.0.1, with a real trace ring as the process ring: what the servers saw
// (peer ports, commands, concurrency) must match what the simulator says it
// did, event by event. Plus the scenario's pure parts: presets, the plan, and
// the to_args → parse round trip the lab relies on.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <set>

#include "clients/clients_command.h"
#include "clients/scenario.h"
#include "clients/simulator.h"
#include "test_server.h"
#include "trace/ring.h"

namespace sockscope {
namespace {

using clients::Scenario;
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
    std::vector<trace::Event> out;
    trace::Event e;
    while (ring_.pop(e)) out.push_back(e);
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
