// The one parameterised suite over the architecture table: every row is
// started as a real `sockscope serve`, used by the real clients a student
// would use (curl, python ftplib, lftp, tnftp, wrk), attacked with bad input,
// stepped with two held clients, slowed down by a slowloris, and stopped with
// SIGTERM, with nothing left running. A new row is covered by adding the row.
//
// What differs between rows comes from the row itself, not from a list of
// names here: a row with no traits serves one connection at a time (its
// second client waits in the backlog); a row with prestarted workers and no
// threads is its workers' processes from start to end; an event loop with no
// workers is one process with one thread. /proc is checked against that
// shape before and after the clients, and all through a wrk run.
//
// Sections (6 and 7 in every_architecture_limits_test.cpp, the fixture in
// every_architecture.h):
//   1. FTP with real clients     3. Hostile input     5. Stepping
//   2. HTTP with curl and wrk    4. SIGTERM           6. The request deadline
//                                                     7. Out of descriptors
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "lab_steps.h"
#include "proc_marker.h"
#include "every_architecture.h"
#include "servers/architecture.h"
#include "servers/server_harness.h"
#ifdef SOCKSCOPE_HAS_GUI
#include "views/code_view.h"  // where each parked waiter's cursor goes (section 5)
#endif

namespace sockscope::test {
namespace {

using namespace std::chrono_literals;
using trace::GateKind;

#ifdef SOCKSCOPE_HAS_GUI
// The processes a Lab of ours started (proc_marker.h), never this test itself.
std::vector<pid_t> started_by_us(const std::string& marker) {
  std::vector<pid_t> out = pids_with_marker(marker);
  std::erase(out, getpid());
  return out;
}

// A marker in our environment, inherited by everything a Lab starts.
struct Marker {
  std::string text;
  Marker() {
    text = "SOCKSCOPE_ARCH_TEST=" + std::to_string(getpid()) + "-" + std::to_string(std::random_device{}());
    putenv(text.data());
  }
  ~Marker() { unsetenv("SOCKSCOPE_ARCH_TEST"); }
};

std::string cmdline(pid_t pid) {
  std::string s = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  for (char& c : s)
    if (c == '\0') c = ' ';
  return s;
}
#endif


// ---- 1. FTP with real clients ------------------------------------------------

TEST_P(EveryArchitecture, BannerNamesArchProtocolAndLoopback) {
  ServerProcess s(args());
  EXPECT_NE(s.banner().find("sockscope serve: " + GetParam() + " ftp server listening on 127.0.0.1:"),
            std::string::npos)
      << s.banner();
  EXPECT_NE(s.banner().find("(pid " + std::to_string(s.pid()) + ")"), std::string::npos);
  EXPECT_EQ(s.stop(), 0) << "a SIGTERM shutdown exits 0";
}

TEST_P(EveryArchitecture, CurlListsDownloadsResumesAndHeads) {
  ServerProcess s(args());
  settle(s);
  TempDir tmp;

  auto list = run_command(kTimeout + "curl -s " + url(s, "ftp", "/pub/"));
  ASSERT_EQ(list.exit_code, 0);
  EXPECT_NE(list.output.find("notes.txt"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("readme.txt"), std::string::npos) << list.output;

  for (std::string name : {"hello.txt", "data.bin"}) {
    auto r = run_command(kTimeout + "curl -s -o " + shell_quote((tmp / name).string()) + " " +
                         url(s, "ftp", "/" + name));
    ASSERT_EQ(r.exit_code, 0) << name;
    EXPECT_EQ(read_file(tmp / name), read_file(assets_root() / name)) << name;
  }

  // Resume: a partial file, then `-C -` (SIZE, REST n, RETR).
  const std::string full = read_file(assets_root() / "data.bin");
  ASSERT_GT(full.size(), 100000u);
  write_file(tmp / "partial.bin", full.substr(0, 100000));
  auto resume = run_command(kTimeout + "curl -s -C - -o " + shell_quote((tmp / "partial.bin").string()) + " " +
                            url(s, "ftp", "/data.bin"));
  ASSERT_EQ(resume.exit_code, 0);
  EXPECT_EQ(read_file(tmp / "partial.bin"), full);

  auto head = run_command(kTimeout + "curl -sI " + url(s, "ftp", "/hello.txt"));
  ASSERT_EQ(head.exit_code, 0);
  EXPECT_NE(head.output.find("Content-Length: " + std::to_string(read_file(assets_root() / "hello.txt").size())),
            std::string::npos)
      << head.output;

  // Several downloads at once: each waits its turn (one at a time), or is
  // served by its own process or thread, a free worker, or the loop.
  auto par = run_command(kTimeout + "sh -c 'for i in 1 2 3 4 5 6; do curl -s " + url(s, "ftp", "/data.bin") +
                         " | cmp -s - " + shell_quote((assets_root() / "data.bin").string()) +
                         " || echo MISMATCH & done; wait'");
  EXPECT_EQ(par.output.find("MISMATCH"), std::string::npos);
  expect_shape(s);
}

TEST_P(EveryArchitecture, PythonFtplib) {
  ServerProcess s(args());
  settle(s);
  TempDir tmp;
  std::string script = std::string(SOCKSCOPE_SOURCE_DIR) + "/tests/servers/ftplib_client.py";
  auto r = run_command(kTimeout + "python3 " + shell_quote(script) + " " + std::to_string(s.port()) + " " +
                       shell_quote((tmp / "data.bin").string()) + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("welcome: 220"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("login: 230"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nlst: hello.txt"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nlst: pub"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("hello.txt\n"), std::string::npos) << "dir lists hello.txt: " << r.output;
  const std::string full = read_file(assets_root() / "data.bin");
  EXPECT_NE(r.output.find("size: " + std::to_string(full.size())), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("retr: 226"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(tmp / "data.bin"), full);
  expect_shape(s);
}

TEST_P(EveryArchitecture, LftpLsGetMirror) {
  ServerProcess s(args());
  settle(s);
  TempDir tmp;
  std::string script = "set ftp:passive-mode on; set net:max-retries 1; set net:timeout 5; "
                       "set cmd:fail-exit yes; open -p " +
                       std::to_string(s.port()) + " 127.0.0.1; ls; get data.bin -o " + (tmp / "got.bin").string() +
                       "; mirror pub " + (tmp / "mirror").string();
  auto r = run_command("cd " + shell_quote(tmp.path().string()) + " && " + kTimeout + "lftp -c " +
                       shell_quote(script) + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("hello.txt"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(tmp / "got.bin"), read_file(assets_root() / "data.bin"));
  int mirrored = 0;
  for (const auto& e : fs::directory_iterator(assets_root() / "pub")) {
    if (!e.is_regular_file()) continue;
    auto name = e.path().filename().string();
    ASSERT_TRUE(fs::exists(tmp / "mirror" / name)) << name;
    EXPECT_EQ(read_file(tmp / "mirror" / name), read_file(e.path())) << name;
    ++mirrored;
  }
  EXPECT_GT(mirrored, 0);
  expect_shape(s);
}

TEST_P(EveryArchitecture, TnftpScriptedGet) {
  ServerProcess s(args());
  settle(s);
  TempDir tmp;
  std::string cmd = "cd " + shell_quote(tmp.path().string()) + " && " + kTimeout + "ftp -n -v 127.0.0.1 " +
                    std::to_string(s.port()) + " 2>&1 <<'EOF'\nuser anonymous x\nbinary\nget data.bin\nquit\nEOF\n";
  auto r = run_command(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("226"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(tmp / "data.bin"), read_file(assets_root() / "data.bin"));
  expect_shape(s);
}

// ---- 2. HTTP -------------------------------------------------------------------

TEST_P(EveryArchitecture, HttpCurlGetHeadKeepAlive) {
  ServerProcess s(args("http"));
  settle(s);
  TempDir tmp;
  const std::string hello = read_file(assets_root() / "hello.txt");
  const std::string data = read_file(assets_root() / "data.bin");

  auto get = run_command(kTimeout + "curl -sf " + url(s, "http", "/hello.txt"));
  ASSERT_EQ(get.exit_code, 0);
  EXPECT_EQ(get.output, hello);

  auto bin = run_command(kTimeout + "curl -sf -o " + shell_quote((tmp / "d.bin").string()) + " " +
                         url(s, "http", "/data.bin"));
  ASSERT_EQ(bin.exit_code, 0);
  EXPECT_EQ(read_file(tmp / "d.bin"), data);

  for (auto [path, size] : {std::pair{std::string("/hello.txt"), hello.size()}, {"/data.bin", data.size()}}) {
    auto head = run_command(kTimeout + "curl -sfI " + url(s, "http", path));
    ASSERT_EQ(head.exit_code, 0);
    EXPECT_NE(head.output.find("HTTP/1.1 200"), std::string::npos) << head.output;
    EXPECT_NE(head.output.find("Content-Length: " + std::to_string(size)), std::string::npos) << head.output;
  }

  auto missing = run_command(kTimeout + "curl -s -o /dev/null -w '%{http_code}' " + url(s, "http", "/nope.txt"));
  EXPECT_EQ(missing.output, "404");

  // Two URLs in one curl: the second request reuses the first connection.
  auto both = run_command(kTimeout + "curl -sv -o " + shell_quote((tmp / "a").string()) + " -o " +
                          shell_quote((tmp / "b").string()) + " " + url(s, "http", "/hello.txt") + " " +
                          url(s, "http", "/pub/notes.txt") + " 2>&1");
  ASSERT_EQ(both.exit_code, 0) << both.output;
  EXPECT_NE(both.output.find("Re-using existing connection"), std::string::npos) << both.output;
  EXPECT_EQ(read_file(tmp / "a"), hello);
  EXPECT_EQ(read_file(tmp / "b"), read_file(assets_root() / "pub" / "notes.txt"));
  expect_shape(s);
}

TEST_P(EveryArchitecture, WrkFinishesWithoutErrorsAndTheShapeHoldsThroughout) {
  ServerProcess s(args("http"));
  settle(s);
  // One at a time, three of wrk's four keep-alive connections wait in the
  // backlog for the whole run (the lesson), which is not an error; wrong
  // lengths or resets would be. Hence the long --timeout.
  const std::string conns = one_at_a_time() ? "4" : "16";
  CommandResult r;
  std::atomic<bool> done{false};
  std::thread load([&] {
    r = run_command("timeout 30 wrk -t2 -c" + conns + " -d2s --timeout 10s " + url(s, "http", "/hello.txt") +
                    " 2>&1");
    done = true;
  });
  // Sample /proc while wrk runs: a fixed shape never changes under load.
  int samples = 0, bad = 0;
  std::string why;
  while (!done) {
    if (auto want = shape()) {
      auto ok = has_shape(s.pid(), *want);
      if (!ok) {
        ++bad;
        why = ok.message();
      }
    }
    ++samples;
    std::this_thread::sleep_for(50ms);
  }
  load.join();
  EXPECT_GT(samples, 10);
  EXPECT_EQ(bad, 0) << why;
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m, std::regex("(\\d+) requests in"))) << r.output;
  // Served, not how fast: a throughput is a benchmark's (bench_servers), and
  // shotgun under ASan managed 48 requests in the 2 s.
  EXPECT_GT(std::stol(m[1]), 0) << r.output;
  EXPECT_EQ(r.output.find("Non-2xx"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Socket errors"), std::string::npos) << r.output;
}

// ---- 3. Hostile input ----------------------------------------------------------

TEST_P(EveryArchitecture, HundredKilobyteLineGets500ThenClose) {
  ServerProcess s(args());
  {
    RawClient c(s.port());
    ASSERT_TRUE(c.reply().has_value());
    ASSERT_TRUE(c.send_all("USER " + std::string(100 * 1024, 'A') + "\r\n"));
    auto r = c.reply();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->substr(0, 3), "500") << *r;
    EXPECT_TRUE(c.sees_close()) << "the server closes after an over-long line";
  }
  expect_still_serving(s);
}

TEST_P(EveryArchitecture, BinaryGarbageGetsErrorsNotACrash) {
  ServerProcess s(args());
  {
    RawClient c(s.port());
    ASSERT_TRUE(c.reply().has_value());
    std::mt19937 rng(42);
    std::string garbage;
    for (int i = 0; i < 2000; ++i) garbage += static_cast<char>(rng() & 0xff);
    ASSERT_TRUE(c.send_all(garbage + "\r\n"));
    std::string got = c.read_for(500);
    // Whatever came back is made of numbered reply lines (or nothing at all).
    std::istringstream lines(got);
    std::string line;
    while (std::getline(lines, line)) {
      ASSERT_GE(line.size(), 3u);
      EXPECT_TRUE(isdigit(line[0]) && isdigit(line[1]) && isdigit(line[2])) << line;
    }
  }
  expect_still_serving(s);
}

TEST_P(EveryArchitecture, NulAndTelnetIacBytesAreSurvived) {
  ServerProcess s(args());
  {
    RawClient c(s.port());
    ASSERT_TRUE(c.login());
    std::string text;
    EXPECT_NE(c.command(std::string("NO\0OP", 5), &text), 0) << "a NUL inside a verb still gets a reply";
    EXPECT_NE(c.command("\xff\xf4\xff\xf2" "ABOR", &text), 0) << "IAC IP IAC DM ABOR gets a reply";
    EXPECT_EQ(c.command("NOOP"), 200) << "the session goes on";
    EXPECT_EQ(c.command("QUIT"), 221);
  }
  expect_still_serving(s);
}

TEST_P(EveryArchitecture, TraversalStaysInsideTheRoot) {
  ServerProcess s(args());
  {
    RawClient c(s.port());
    ASSERT_TRUE(c.login());
    std::string text;
    EXPECT_EQ(c.command("CWD ../../etc", &text), 550) << text;
    ASSERT_EQ(c.command("PWD", &text), 257);
    EXPECT_NE(text.find("\"/\""), std::string::npos) << text;
    EXPECT_EQ(c.command("CWD ../../../..", &text), 250) << "climbing above / stops at /: " << text;
    ASSERT_EQ(c.command("PWD", &text), 257);
    EXPECT_NE(text.find("\"/\""), std::string::npos) << text;
    EXPECT_EQ(c.command("SIZE /etc/passwd"), 550);
  }
  expect_still_serving(s);
}

TEST_P(EveryArchitecture, SymlinkOutOfTheRootIsRefused) {
  TempDir root;
  write_file(root / "inside.txt", "inside the jail\n");
  fs::create_symlink("/etc/passwd", root / "escape");
  std::vector<std::string> a = args();
  a.insert(a.end(), {"--root", root.path().string()});
  ServerProcess s(a);
  {
    RawClient c(s.port());
    ASSERT_TRUE(c.login());
    std::string text;
    EXPECT_EQ(c.command("TYPE I"), 200);
    EXPECT_EQ(c.command("SIZE escape", &text), 550) << text;
    ASSERT_EQ(c.command("EPSV", &text), 229) << text;
    EXPECT_EQ(c.command("RETR escape", &text), 550) << text;
    EXPECT_EQ(c.command("QUIT"), 221);
  }
  auto ok = run_command(kTimeout + "curl -s " + url(s, "ftp", "/inside.txt"));
  EXPECT_EQ(ok.output, "inside the jail\n") << "the server really serves --root";
}

TEST_P(EveryArchitecture, PortBounceIsRefused) {
  ServerProcess s(args());
  {
    RawClient c(s.port());
    ASSERT_TRUE(c.login());
    EXPECT_EQ(c.command("PORT 127,0,0,1,0,21"), 502);
    EXPECT_EQ(c.command("EPRT |1|127.0.0.1|21|"), 502);
    EXPECT_EQ(c.command("NOOP"), 200);
  }
  expect_still_serving(s);
}

TEST_P(EveryArchitecture, SilentClient) {
  ServerProcess s(args());
  settle(s);
  {
    RawClient silent(s.port());
    auto greeting = silent.reply();
    ASSERT_TRUE(greeting.has_value());  // served first, then says nothing
    RawClient other(s.port());
    auto other_greeting = other.reply(one_at_a_time() ? 500 : 5000);
    if (one_at_a_time()) {
      // The lesson: the server is stuck on the silent client, so the second
      // client's handshake is done (by the kernel) but nobody greets it.
      EXPECT_FALSE(other_greeting.has_value());
      silent.close_now();
      other_greeting = other.reply();
      ASSERT_TRUE(other_greeting.has_value()) << "served once the silent client left";
    } else {
      // A process, a thread, a worker or the loop: the silent client blocks only itself.
      ASSERT_TRUE(other_greeting.has_value());
    }
    EXPECT_EQ(other_greeting->substr(0, 3), "220");
    EXPECT_EQ(other.command("USER anonymous"), 331);
  }
  expect_still_serving(s);
}

// ---- 4. SIGTERM ----------------------------------------------------------------

// SIGTERM with clients logged in, one of them mid-request (a blocking SITE
// SLEEP of 10 s in its handler): a clean exit (0, not the harness's SIGKILL)
// within a second and a half, every process of the server gone, every
// client's connection closed.
TEST_P(EveryArchitecture, SigtermEndsEveryProcessPromptlyWithClientsMidRequest) {
  ServerProcess s(args());
  settle(s);
  std::vector<std::unique_ptr<RawClient>> clients;
  const int n = one_at_a_time() ? 1 : 3;  // one at a time, a second would wait unserved
  for (int i = 0; i < n; ++i) {
    clients.push_back(std::make_unique<RawClient>(s.port()));
    ASSERT_TRUE(clients.back()->login()) << "client " << i;
  }
  ASSERT_TRUE(clients[0]->send_all("SITE SLEEP 10000\r\n"));
  std::this_thread::sleep_for(100ms);
  auto kids = children_of(s.pid());
  const pid_t server = s.pid();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(s.stop(), 0) << "a clean exit after SIGTERM, not SIGKILL";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
  EXPECT_FALSE(proc_info(server).has_value());
  for (const auto& k : kids)
    EXPECT_TRUE(wait_until([&] { return !proc_info(k.pid).has_value(); }, 3000ms)) << "pid " << k.pid << " outlived the server";
  for (auto& c : clients) EXPECT_TRUE(c->sees_close(2000));
}

// ---- 5. Stepping ---------------------------------------------------------------

// (Needs the code view, so not in the headless build.)
#ifdef SOCKSCOPE_HAS_GUI

// Two held clients, the gates in step mode: every parked process or thread
// has a code cursor on a real gate line of the row's own sources, and the
// lab leaves nothing running.
TEST_P(EveryArchitecture, SteppedWithTwoHeldClientsEveryWaiterHasACursorOnItsGateLine) {
  const std::string arch = GetParam();
  const servers::Architecture& a = this->arch();
  const auto files = app::files_for_architecture(arch);
  Marker marker;
  {
    lab::Lab lab(lab_options());
    trace::GateTable& g = lab.gates();
    start_stepped(lab, arch);
    auto sc = quick_clients(2, protocol::Protocol::ftp, {});
    sc.hold_ms = 60000;
    lab.start_clients(sc);

    // One at a time: the second client waits in the listen backlog while
    // the first is held - the lesson, not a failure.
    const std::size_t want_conns = one_at_a_time() ? 1 : 2;
    std::set<std::tuple<pid_t, pid_t, std::uint32_t>> seen;
    std::set<GateKind> kinds;
    int cursors = 0;
    for (int step = 0; step < 80; ++step) {
      const auto waiters = settled(g, 120ms, 3s);
      for (const auto& w : waiters) {
        SCOPED_TRACE("pid " + std::to_string(w.pid) + " tid " + std::to_string(w.tid) + " at " +
                     std::string(trace::gate_name(w.kind)));
        EXPECT_TRUE(a.passes(w.kind)) << "the row does not list this gate";
        const app::CodeLocation loc = app::locate_gate(files, w.kind, w.site);
        ASSERT_NE(loc.line, 0) << "no cursor";
        // Exactly the gate call it stands at, in one of the architecture's own files.
        EXPECT_EQ(trace::gate_file_hash(loc.file), w.site.file) << "the waiter's file is not among " << arch << "'s";
        EXPECT_EQ(loc.line, static_cast<int>(w.site.line));
        bool is_gate_line = false;
        for (const auto& gl : app::find_gate_lines(app::find_source(loc.file)->text))
          is_gate_line = is_gate_line || (gl.line == loc.line && gl.kind == w.kind);
        EXPECT_TRUE(is_gate_line) << loc.file << ":" << loc.line;
        seen.insert({w.pid, w.tid, w.conn});
        kinds.insert(w.kind);
        ++cursors;
      }
      std::set<std::uint32_t> conns;
      for (const auto& [pid, tid, conn] : seen)
        if (conn != 0) conns.insert(conn);
      if (conns.size() >= want_conns && kinds.size() >= 3) break;
      g.release_next();
    }
    std::set<std::uint32_t> conns;
    for (const auto& [pid, tid, conn] : seen)
      if (conn != 0) conns.insert(conn);
    EXPECT_GE(conns.size(), want_conns) << "every held client's connection that can be served reached a gate";
    EXPECT_GE(cursors, 2);
    g.set_mode(trace::GateMode::run);
    lab.stop_clients();
    lab.stop_server();
  }
  EXPECT_TRUE(eventually([&] { return started_by_us(marker.text).empty(); }, 10s));
  for (pid_t p : started_by_us(marker.text)) {
    ADD_FAILURE() << "left running: pid " << p << " " << cmdline(p);
    kill(p, SIGKILL);
  }
}
#endif  // SOCKSCOPE_HAS_GUI

INSTANTIATE_TEST_SUITE_P(Table, EveryArchitecture, ::testing::ValuesIn(servers::architecture_name_list()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace sockscope::test
