// The architecture and settings tables themselves (every row's sources hold
// its gates; defaults, ranges and texts), then what particular rows teach:
// inetd's real exec, shotgun's process per request, the counter preset's lost
// updates, reaping turned on while a server holds zombies, the request
// deadline's event, and the settings table's errors. Every row end to end,
// with real clients, is every_architecture_test.cpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>

#include "views/code_view.h"
#include "lab_steps.h"
#include "script.h"
#include "servers/architecture.h"
#include "servers/server_harness.h"
#include "trace/event_fields.h"

namespace sockscope::test {
namespace {

using namespace std::chrono_literals;
using trace::GateKind;

std::string self_link(pid_t pid, const char* what) {
  std::error_code ec;
  return fs::read_symlink("/proc/" + std::to_string(pid) + "/" + what, ec).string();
}

std::string cmdline(pid_t pid) {
  std::string s = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  for (char& c : s)
    if (c == '\0') c = ' ';
  return s;
}

// ---- the tables themselves ------------------------------------------------------

TEST(ArchitectureTable, EveryRowNamesEmbeddedSourcesThatHoldItsGates) {
  std::set<std::string_view> names;
  for (const auto& a : servers::architectures()) {
    SCOPED_TRACE(std::string(a.name));
    EXPECT_TRUE(names.insert(a.name).second) << "two rows named " << a.name;
    EXPECT_FALSE(a.summary.empty());
    EXPECT_NE(a.run, nullptr);
    ASSERT_FALSE(a.sources.empty());
    EXPECT_EQ(servers::find_architecture(a.name), &a);
    std::set<GateKind> in_sources;
    for (std::string_view file : a.sources) {
      const app::SourceFile* f = app::find_source(file);
      ASSERT_NE(f, nullptr) << file << " is not embedded for the code view";
      for (const auto& g : app::find_gate_lines(f->text)) in_sources.insert(g.kind);
    }
    for (GateKind g : a.gates)
      EXPECT_TRUE(in_sources.count(g)) << "gate " << trace::gate_name(g) << " is in no source of " << a.name;
    // A gate in the architecture's own file that its row does not list is a
    // gate the controls' Run-to would call unreachable.
    for (const auto& g : app::find_gate_lines(app::find_source(a.sources.front())->text))
      EXPECT_TRUE(a.passes(g.kind)) << a.sources.front() << ":" << g.line << " gate " << trace::gate_name(g.kind)
                                     << " is missing from the row";
  }
  EXPECT_NE(servers::find_architecture("inetd"), nullptr);
  EXPECT_NE(servers::find_architecture("shotgun"), nullptr);
  EXPECT_EQ(servers::find_architecture("nope"), nullptr);
}

TEST(SettingsTable, DefaultsInRangeAndTextRoundTrips) {
  servers::SettingValues v;
  for (const auto& s : servers::settings_table()) {
    SCOPED_TRACE(std::string(s.key));
    EXPECT_GE(s.def, s.min);
    EXPECT_LE(s.def, s.max);
    EXPECT_EQ(servers::find_setting(s.key), &s);
    EXPECT_TRUE(s.flag.starts_with("--"));
    std::string error;
    servers::SettingValues w;
    EXPECT_TRUE(w.set_text(s.id, v.text(s.id), error)) << error;
    EXPECT_EQ(w, v);
    EXPECT_FALSE(w.set_text(s.id, "bogus", error));
    // The message names what is allowed.
    if (s.kind == servers::SettingKind::number) {
      EXPECT_NE(error.find(std::to_string(s.max)), std::string::npos) << error;
      EXPECT_FALSE(w.set_text(s.id, std::to_string(s.max + 1), error));
    } else {
      EXPECT_NE(error.find(std::string(s.choices[1])), std::string::npos) << error;
    }
  }
}

TEST(SettingsTable, SpecPassesOnlyTheArchitecturesSettings) {
  lab::ServerSpec spec;
  spec.arch = "pool";
  spec.settings.set(servers::SettingId::workers, 3);
  auto args = spec.to_args();
  auto at = std::find(args.begin(), args.end(), "--workers");
  ASSERT_NE(at, args.end());
  EXPECT_EQ(*(at + 1), "3");
  EXPECT_EQ(std::find(args.begin(), args.end(), "--reap"), args.end()) << "the pool has no children to reap";
}

// ---- inetd ------------------------------------------------------------------------

TEST(Inetd, EachHandlerIsARealExecOfAnotherProgramAndIsReaped) {
  ServerProcess s({"--arch", "inetd", "--port", "0"});
  RawClient c1(s.port());
  RawClient c2(s.port());
  ASSERT_TRUE(c1.reply().value_or("").starts_with("220"));
  ASSERT_TRUE(c2.reply().value_or("").starts_with("220"));
  std::vector<ProcInfo> kids;
  ASSERT_TRUE(wait_until([&] { return (kids = children_of(s.pid())).size() == 2; }));
  const std::string server_exe = self_link(s.pid(), "exe");
  EXPECT_TRUE(server_exe.ends_with("/sockscope")) << server_exe;
  for (const auto& k : kids) {
    EXPECT_EQ(k.ppid, s.pid());
    const std::string exe = self_link(k.pid, "exe");
    EXPECT_TRUE(exe.ends_with("/sockscope-handler")) << exe;
    EXPECT_NE(exe, server_exe);
    EXPECT_NE(cmdline(k.pid).find("--conn"), std::string::npos) << cmdline(k.pid);
    EXPECT_NE(cmdline(k.pid), cmdline(s.pid()));
  }
  EXPECT_EQ(c1.command("QUIT"), 221);
  EXPECT_EQ(c2.command("QUIT"), 221);
  EXPECT_TRUE(wait_until([&] { return children_of(s.pid()).empty(); })) << "handlers exited and were reaped";
  EXPECT_EQ(s.stop(), 0);
}

TEST(Inetd, AHandlerThatCannotRunIsRefusedAtStart) {
  auto r = run_command(std::string("timeout 10 ") + SOCKSCOPE_BIN +
                       " serve --arch inetd --port 0 --handler /nonexistent/handler 2>&1");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("cannot be executed"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/handler"), std::string::npos) << r.output;
}

TEST(Inetd, AHandlerGoneAfterStartGets421AndTheServerKeepsServing) {
  TempDir dir;
  const fs::path handler = dir / "sockscope-handler";
  const fs::path built = fs::path(SOCKSCOPE_BIN).parent_path() / "sockscope-handler";
  fs::copy_file(built, handler);
  ServerProcess s({"--arch", "inetd", "--port", "0", "--handler", handler.string()});
  fs::remove(handler);
  {
    RawClient c(s.port());
    auto greeting = c.reply();
    ASSERT_TRUE(greeting.has_value());
    EXPECT_TRUE(greeting->starts_with("421")) << *greeting;
  }
  fs::copy_file(built, handler);  // the program is back: the next client is served
  RawClient c(s.port());
  EXPECT_TRUE(c.reply().value_or("").starts_with("220"));
  EXPECT_EQ(c.command("QUIT"), 221);
  EXPECT_TRUE(wait_until([&] { return children_of(s.pid()).empty(); }));
  EXPECT_EQ(s.stop(), 0);
}

TEST(Inetd, TheTraceShowsTheExecAndTheEventLogWhyItFailed) {
  lab::Lab lab(lab_options());
  lab::ServerSpec spec;
  spec.arch = "inetd";
  lab.start_server(spec);
  lab.start_clients(quick_clients(2, protocol::Protocol::ftp, {}));
  EXPECT_EQ(lab.wait_clients(30s), 0);
  ASSERT_TRUE(eventually([&] { return count_of(lab, trace::Kind::reap) >= 2; }));
  lab.flush();
  auto execs = events_of(lab, trace::Kind::exec);
  ASSERT_EQ(execs.size(), 2u);
  lab.session().read([&](const session::Session& s) {
    for (const auto& e : execs) {
      const session::ProcessView* p = s.model().find_process(static_cast<pid_t>(e.pid));
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(p->ppid, lab.server_pid());
      EXPECT_EQ(p->image, "sockscope-handler");
      EXPECT_EQ(p->role, session::ProcessRole::child);
    }
    EXPECT_EQ(s.model().counts.execs, 2u);
    EXPECT_EQ(s.model().counts.zombies_now, 0u);
  });
  lab.stop_server();
}

// ---- shotgun ------------------------------------------------------------------------

TEST(Shotgun, EveryRequestOnAKeepAliveConnectionGetsItsOwnProcess) {
  lab::Lab lab(lab_options());
  lab::ServerSpec spec;
  spec.arch = "shotgun";
  spec.protocol = "http";
  lab.start_server(spec);
  const std::vector<std::string> requests = {"GET /", "GET /hello.txt", "GET /count", "GET /count", "GET /"};
  lab.start_clients(quick_clients(1, protocol::Protocol::http, requests));
  EXPECT_EQ(lab.wait_clients(30s), 0);
  ASSERT_TRUE(eventually([&] {
    lab.flush();
    return lab.session().read([](const session::Session& s) { return s.model().counts.connections_open == 0; });
  }));
  lab.stop_server();
  lab.flush();
  std::set<pid_t> request_children;
  std::set<std::int64_t> numbers;
  for (const auto& e : events_of(lab, trace::Kind::fork)) {
    if (e.b <= 0) continue;  // the listener's fork of the connection's process
    request_children.insert(static_cast<pid_t>(e.a));
    numbers.insert(e.b);
  }
  EXPECT_EQ(request_children.size(), requests.size()) << "one process per request";
  EXPECT_EQ(numbers, (std::set<std::int64_t>{1, 2, 3, 4, 5}));
  std::set<pid_t> exited, reaped;
  for (const auto& e : events_of(lab, trace::Kind::exit)) exited.insert(static_cast<pid_t>(e.pid));
  for (const auto& e : events_of(lab, trace::Kind::reap)) reaped.insert(static_cast<pid_t>(e.a));
  for (pid_t p : request_children) {
    EXPECT_TRUE(exited.count(p)) << "request child " << p << " exited";
    EXPECT_TRUE(reaped.count(p)) << "request child " << p << " was reaped";
  }
  // Each /count ran in a fresh copy of the connection's process: both say 1.
  lab.session().read([&](const session::Session& s) {
    ASSERT_EQ(s.model().clients.size(), 1u);
    EXPECT_EQ(s.model().clients[0].visitor_count, 1);
    EXPECT_EQ(s.model().counts.visitor_counts, 2u);
    EXPECT_EQ(s.model().counts.visitor_count_max, 1u);
  });
}

// ---- the counter preset -------------------------------------------------------------

session::Counts counter_run(servers::SettingValues settings, protocol::Protocol proto) {
  lab::Lab lab(lab_options());
  lab::ServerSpec spec;
  spec.arch = "thread";
  spec.protocol = proto == protocol::Protocol::http ? "http" : "ftp";
  spec.settings = settings;
  lab.start_server(spec);
  clients::Scenario sc = clients::preset("counter", proto);
  EXPECT_EQ(sc.count, 10);
  lab.start_clients(sc);
  EXPECT_EQ(lab.wait_clients(60s), 0);
  lab.stop_server();
  lab.flush();
  return lab.session().read([](const session::Session& s) { return s.model().counts; });
}

TEST(CounterPreset, UnsafeLosesUpdatesAndTheMutexLosesNone) {
  for (auto proto : {protocol::Protocol::ftp, protocol::Protocol::http}) {
    SCOPED_TRACE(proto == protocol::Protocol::http ? "http" : "ftp");
    servers::SettingValues unsafe;
    unsafe.set(servers::SettingId::counter, 0);
    unsafe.set(servers::SettingId::race_window_us, 2000);
    session::Counts u = counter_run(unsafe, proto);
    EXPECT_EQ(u.visitor_counts, 10u) << "every client was told a count";
    EXPECT_LT(u.visitor_count_max, 10u) << "ten visits, and the counter says fewer: updates were lost";
    servers::SettingValues locked = unsafe;
    locked.set(servers::SettingId::counter, 1);
    session::Counts m = counter_run(locked, proto);
    EXPECT_EQ(m.visitor_counts, 10u);
    EXPECT_EQ(m.visitor_count_max, 10u) << "under the mutex every visit counts";
  }
}

TEST(CustomPreset, EachClientSendsTheLinesGiven) {
  lab::Lab lab(lab_options());
  lab::ServerSpec spec;
  spec.arch = "fork";
  lab.start_server(spec);
  clients::Scenario sc = clients::preset("custom");
  sc.count = 2;
  sc.script = {"USER anonymous", "PASS x", "SYST", "NOOP", "QUIT"};
  lab.start_clients(sc);
  EXPECT_EQ(lab.wait_clients(30s), 0);
  lab.stop_server();
  lab.flush();
  std::map<std::uint32_t, std::vector<std::string>> sent;
  for (const auto& e : events_of(lab, trace::Kind::client_request)) sent[e.conn].emplace_back(e.text_view());
  ASSERT_EQ(sent.size(), 2u);
  for (const auto& [id, lines] : sent)
    EXPECT_EQ(lines, (std::vector<std::string>{"USER anonymous", "PASS ***", "SYST", "NOOP", "QUIT"}));
}

// ---- reaping turned on while zombies wait ---------------------------------------------

TEST(Reaping, TurningItOnWhileRunningReapsTheZombiesNow) {
  lab::Lab lab(lab_options());
  lab::ServerSpec spec;
  spec.arch = "fork";
  spec.settings.set(servers::SettingId::reap, 0);
  lab.start_server(spec);
  const pid_t server = lab.server_pid();
  lab.start_clients(quick_clients(3, protocol::Protocol::ftp, {"USER anonymous", "PASS x", "QUIT"}));
  EXPECT_EQ(lab.wait_clients(30s), 0);
  auto zombies = [&] {
    int n = 0;
    for (const auto& c : children_of(server)) n += c.state == 'Z';
    return n;
  };
  ASSERT_TRUE(eventually([&] { return zombies() == 3; })) << zombies();
  EXPECT_TRUE(lab.reap_now());
  EXPECT_TRUE(eventually([&] { return children_of(server).empty(); })) << "the zombies left /proc";
  EXPECT_TRUE(eventually([&] {
    lab.flush();
    return lab.session().read([](const session::Session& s) {
      return s.model().counts.zombies_now == 0 && s.model().counts.reaped == 3;
    });
  }));
  // And from now on it reaps as it goes.
  lab.start_clients(quick_clients(1, protocol::Protocol::ftp, {"USER anonymous", "PASS x", "QUIT"}));
  EXPECT_EQ(lab.wait_clients(30s), 0);
  EXPECT_TRUE(eventually([&] { return children_of(server).empty() && count_of(lab, trace::Kind::reap) >= 4; }));
  lab.stop_server();
}

// ---- the request deadline -----------------------------------------------------------------

TEST(SettingsTable, EveryArchitectureReadsTheRequestDeadline) {
  const servers::Setting& s = servers::setting(servers::SettingId::request_timeout);
  EXPECT_EQ(s.key, "request_timeout");
  EXPECT_EQ(s.label, "request deadline");
  EXPECT_EQ(s.flag, "--request-timeout");
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.max, 300);
  EXPECT_EQ(s.def, 20) << "Apache mod_reqtimeout's header=20";
  for (const auto& a : servers::architectures()) {
    SCOPED_TRACE(std::string(a.name));
    EXPECT_TRUE(a.uses(servers::SettingId::request_timeout)) << "the controls and `start` must offer it";
    lab::ServerSpec spec;
    spec.arch = std::string(a.name);
    spec.settings.set(servers::SettingId::request_timeout, 7);
    const auto args = spec.to_args();
    auto at = std::find(args.begin(), args.end(), "--request-timeout");
    ASSERT_NE(at, args.end());
    EXPECT_EQ(*(at + 1), "7");
  }
}

// The lab's session records the deadline firing: a `timeout` event with the
// limit in ms (a) and 1 for the request deadline (b), on the slow client's
// connection, before its 421 and its close; the session's options say what
// the deadline was.
TEST(RequestDeadline, TheSessionRecordsTheTimeoutWithItsLimit) {
  using Clock = std::chrono::steady_clock;
  lab::Lab lab(lab_options());
  lab::ServerSpec spec;
  spec.arch = "serial";
  spec.settings.set(servers::SettingId::request_timeout, 1);
  const std::uint16_t port = lab.start_server(spec);
  ASSERT_GT(port, 0);
  RawClient slow(port);
  ASSERT_TRUE(slow.reply().value_or("").starts_with("220"));
  const std::string never_ends = "NOOP-never-ends";
  const auto first_byte = Clock::now();
  std::string got;
  for (std::size_t i = 0; i < never_ends.size() && !slow.closed_by_server(); ++i) {
    if (Clock::now() - first_byte > 5s) break;
    if (!slow.send_all(never_ends.substr(i, 1))) break;
    got += slow.read_for(200);
  }
  got += slow.read_for(200);
  EXPECT_TRUE(slow.closed_by_server());
  EXPECT_TRUE(got.starts_with("421 ")) << got;
  slow.close_now();

  ASSERT_TRUE(eventually([&] {
    lab.flush();
    return count_of(lab, trace::Kind::timeout) >= 1 && count_of(lab, trace::Kind::close) >= 1;
  }));
  const auto timeouts = events_of(lab, trace::Kind::timeout);
  ASSERT_EQ(timeouts.size(), 1u);
  const trace::Event& t = timeouts[0];
  EXPECT_EQ(t.a, 1000) << "the limit, in ms";
  EXPECT_EQ(t.b, 1) << "the request deadline (0 would be the idle timeout)";
  EXPECT_EQ(t.text_view(), "request incomplete");
  EXPECT_EQ(t.pid, static_cast<std::uint32_t>(lab.server_pid()));
  EXPECT_EQ(trace::describe_fields(t), "limit 1 s · timer request deadline");
  lab.session().read([&](const session::Session& s) {
    bool timed_out = false, replied = false, closed = false;
    for (const auto& e : s.events()) {
      if (e.conn != t.conn) continue;
      if (e.kind == trace::Kind::timeout) timed_out = true;
      if (e.kind == trace::Kind::reply && e.a == 421) replied = timed_out;  // after the timeout
      if (e.kind == trace::Kind::close) closed = replied;                   // after the 421
    }
    EXPECT_TRUE(closed) << "timeout, then 421, then close on conn " << t.conn;
    EXPECT_EQ(s.meta().option("request_timeout", ""), "1");
  });
  lab.stop_server();
}

// While the lab steps or slows the servers the deadline waits (the time is
// the teacher's); back in run mode it counts again from then.
TEST(RequestDeadline, WaitsWhileTheLabSlowsTheServers) {
  using Clock = std::chrono::steady_clock;
  lab::Lab lab(lab_options());
  lab.gates().set_mode(trace::GateMode::slow, 1);  // 1 ms a gate: slow motion, hardly slower
  lab::ServerSpec spec;
  spec.arch = "serial";
  spec.settings.set(servers::SettingId::request_timeout, 1);
  const std::uint16_t port = lab.start_server(spec);
  ASSERT_GT(port, 0);
  RawClient slow(port);
  ASSERT_TRUE(slow.reply().value_or("").starts_with("220"));
  const std::string never_ends = "NOOP-never-ends-at-all-no";
  std::size_t i = 0;
  // 2.5 s of bytes, over twice the deadline: still open.
  for (const auto start = Clock::now(); Clock::now() - start < 2500ms && i < never_ends.size(); ++i) {
    ASSERT_TRUE(slow.send_all(never_ends.substr(i, 1)));
    EXPECT_EQ(slow.read_for(200), "");
  }
  EXPECT_FALSE(slow.closed_by_server()) << "the deadline fired in slow motion";
  lab.gates().set_mode(trace::GateMode::run);
  const auto run_from = Clock::now();
  std::string got;
  for (; i < never_ends.size() && !slow.closed_by_server() && Clock::now() - run_from < 4s; ++i) {
    if (!slow.send_all(never_ends.substr(i, 1))) break;
    got += slow.read_for(200);
  }
  got += slow.read_for(200);
  EXPECT_TRUE(slow.closed_by_server()) << "back in run mode the deadline counts again";
  EXPECT_TRUE(got.starts_with("421 ")) << got;
  lab.stop_server();
}

// ---- bad input ----------------------------------------------------------------------------

TEST(SettingsInput, BadArchitectureSettingOrValueNamesTheAllowedOnes) {
  auto arch = run_command(std::string("timeout 10 ") + SOCKSCOPE_BIN + " serve --arch nope --port 0 2>&1");
  EXPECT_EQ(arch.exit_code, 2) << arch.output;
  EXPECT_NE(arch.output.find("shotgun"), std::string::npos) << arch.output;
  auto value = run_command(std::string("timeout 10 ") + SOCKSCOPE_BIN + " serve --arch fork --reap maybe 2>&1");
  EXPECT_EQ(value.exit_code, 2) << value.output;
  EXPECT_NE(value.output.find("on or off"), std::string::npos) << value.output;
  auto range = run_command(std::string("timeout 10 ") + SOCKSCOPE_BIN + " run --arch pool --workers 0 2>&1");
  EXPECT_EQ(range.exit_code, 2) << range.output;
  EXPECT_NE(range.output.find("1 to 1024"), std::string::npos) << range.output;
  auto deadline = run_command(std::string("timeout 10 ") + SOCKSCOPE_BIN +
                              " serve --arch serial --port 0 --request-timeout 0 2>&1");
  EXPECT_EQ(deadline.exit_code, 2) << deadline.output;
  EXPECT_NE(deadline.output.find("1 to 300"), std::string::npos) << deadline.output;

  auto parse = [](const std::string& text, std::string& error) {
    std::istringstream in(text);
    return app::parse_script(in, "lesson.txt", error).has_value();
  };
  std::string error;
  EXPECT_TRUE(parse("start pool workers=2 queue=0 counter=mutex\nset reap=on\nlines SITE COUNT | QUIT\n"
                    "clients 3 preset=custom\nclients 2 preset=counter work_ms=50\n",
                    error))
      << error;
  {
    std::istringstream in("start serial request_timeout=3\nstart evloop request_timeout=300\n");
    auto cmds = app::parse_script(in, "lesson.txt", error);
    ASSERT_TRUE(cmds.has_value()) << error;
    ASSERT_EQ(cmds->size(), 2u);
    EXPECT_EQ((*cmds)[0].spec.settings.get(servers::SettingId::request_timeout), 3);
    EXPECT_EQ((*cmds)[1].spec.settings.get(servers::SettingId::request_timeout), 300);
  }
  EXPECT_FALSE(parse("start fork request_timeout=0\n", error));
  EXPECT_NE(error.find("1 to 300"), std::string::npos) << error;
  EXPECT_FALSE(parse("start inetd workers=3\n", error));
  EXPECT_EQ(error.rfind("lesson.txt:1: ", 0), 0u) << error;
  EXPECT_NE(error.find("max_children"), std::string::npos) << "names the inetd's settings: " << error;
  EXPECT_FALSE(parse("\nstart fork colour=blue\n", error));
  EXPECT_EQ(error.rfind("lesson.txt:2: ", 0), 0u) << error;
  EXPECT_NE(error.find("race_window_us"), std::string::npos) << error;
  EXPECT_FALSE(parse("start thread counter=sometimes\n", error));
  EXPECT_NE(error.find("unsafe or mutex"), std::string::npos) << error;
  EXPECT_FALSE(parse("clients 2 preset=stampede\n", error));
  EXPECT_NE(error.find("counter"), std::string::npos) << error;
  EXPECT_FALSE(parse("start shotgun\nstart nginx\n", error));
  EXPECT_EQ(error.rfind("lesson.txt:2: ", 0), 0u) << error;
  EXPECT_NE(error.find("inetd"), std::string::npos) << error;
}

}  // namespace
}  // namespace sockscope::test
