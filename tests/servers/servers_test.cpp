// Live-server tests: the real `sockscope serve` process, real Debian clients,
// raw sockets for hostile input, /proc for the process tree, and the trace
// ring for the event stream. Every server is started on 127.0.0.1 port 0 and
// stopped (SIGTERM, then SIGKILL if it hangs) by ServerProcess's destructor.
//
// Sections:
//   1. FTP with real clients (curl, python ftplib, lftp, tnftp), both archs
//   2. HTTP with curl and wrk, both archs
//   3. Hostile input against the live server, both archs
//   4. Fork specifics: children in /proc, reaping, zombies, the cap, SIGTERM
//   5. The event stream
//   6. Command line errors
#include <gtest/gtest.h>

#include <chrono>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "server_harness.h"
#include "trace/ring.h"

namespace sockscope::test {
namespace {

const std::string kTimeout = "timeout 20 ";

std::string url(const ServerProcess& s, const std::string& scheme, const std::string& path) {
  return scheme + "://127.0.0.1:" + std::to_string(s.port()) + path;
}

// A normal client after any abuse: the server must still serve.
void expect_still_serving(const ServerProcess& s) {
  auto r = run_command(kTimeout + "curl -s " + url(s, "ftp", "/hello.txt"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, read_file(assets_root() / "hello.txt"));
}

class ArchTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::vector<std::string> args(const std::string& protocol = "ftp") const {
    return {"--arch", GetParam(), "--port", "0", "--protocol", protocol};
  }
  bool serial() const { return GetParam() == "serial"; }
};

// ---- 1. FTP with real clients ------------------------------------------------

TEST_P(ArchTest, BannerNamesArchProtocolAndLoopback) {
  ServerProcess s(args());
  EXPECT_NE(s.banner().find("sockscope serve: " + GetParam() + " ftp server listening on 127.0.0.1:"),
            std::string::npos)
      << s.banner();
  EXPECT_NE(s.banner().find("(pid " + std::to_string(s.pid()) + ")"), std::string::npos);
  EXPECT_EQ(s.stop(), 0) << "a SIGTERM shutdown exits 0";
}

TEST_P(ArchTest, CurlListsDownloadsResumesAndHeads) {
  ServerProcess s(args());
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
}

TEST_P(ArchTest, PythonFtplib) {
  ServerProcess s(args());
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
}

TEST_P(ArchTest, LftpLsGetMirror) {
  ServerProcess s(args());
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
}

TEST_P(ArchTest, TnftpScriptedGet) {
  ServerProcess s(args());
  TempDir tmp;
  std::string cmd = "cd " + shell_quote(tmp.path().string()) + " && " + kTimeout + "ftp -n -v 127.0.0.1 " +
                    std::to_string(s.port()) +
                    " 2>&1 <<'EOF'\nuser anonymous x\nbinary\nget data.bin\nquit\nEOF\n";
  auto r = run_command(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("226"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(tmp / "data.bin"), read_file(assets_root() / "data.bin"));
}

// ---- 2. HTTP -------------------------------------------------------------------

TEST_P(ArchTest, HttpCurlGetHeadKeepAlive) {
  ServerProcess s(args("http"));
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
}

TEST_P(ArchTest, WrkFinishesWithoutErrors) {
  ServerProcess s(args("http"));
  // A long --timeout: with the serial server three of wrk's four keep-alive
  // connections wait in the backlog for the whole run (the lesson), which is
  // not an error; wrong lengths or resets would be.
  auto r = run_command("timeout 30 wrk -t1 -c4 -d2s --timeout 10s " + url(s, "http", "/hello.txt") + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m, std::regex("(\\d+) requests in"))) << r.output;
  EXPECT_GT(std::stol(m[1]), 0) << r.output;
  EXPECT_EQ(r.output.find("Non-2xx"), std::string::npos) << r.output;
  if (std::regex_search(r.output, m,
                        std::regex("Socket errors: connect (\\d+), read (\\d+), write (\\d+), timeout (\\d+)"))) {
    EXPECT_EQ(m[1], "0");
    EXPECT_EQ(m[2], "0") << r.output;
    EXPECT_EQ(m[3], "0");
    EXPECT_EQ(m[4], "0");
  }
}

// ---- 3. Hostile input ----------------------------------------------------------

TEST_P(ArchTest, HundredKilobyteLineGets500ThenClose) {
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

TEST_P(ArchTest, BinaryGarbageGetsErrorsNotACrash) {
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

TEST_P(ArchTest, NulAndTelnetIacBytesAreSurvived) {
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

TEST_P(ArchTest, TraversalStaysInsideTheRoot) {
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

TEST_P(ArchTest, SymlinkOutOfTheRootIsRefused) {
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

TEST_P(ArchTest, PortBounceIsRefused) {
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

TEST_P(ArchTest, SilentClient) {
  ServerProcess s(args());
  {
    RawClient silent(s.port());
    auto greeting = silent.reply();
    ASSERT_TRUE(greeting.has_value());  // served first, then says nothing
    RawClient other(s.port());
    auto other_greeting = other.reply(serial() ? 500 : 5000);
    if (serial()) {
      // The lesson: the serial server is stuck on the silent client, so the
      // second client's handshake is done (by the kernel) but nobody greets it.
      EXPECT_FALSE(other_greeting.has_value());
      silent.close_now();
      other_greeting = other.reply();
      ASSERT_TRUE(other_greeting.has_value()) << "served once the silent client left";
    } else {
      // A child per connection: the silent client blocks only its own child.
      ASSERT_TRUE(other_greeting.has_value());
    }
    EXPECT_EQ(other_greeting->substr(0, 3), "220");
    EXPECT_EQ(other.command("USER anonymous"), 331);
  }
  expect_still_serving(s);
}

INSTANTIATE_TEST_SUITE_P(Servers, ArchTest, ::testing::Values("serial", "fork", "thread", "pool", "inetd", "shotgun"),
                         [](const auto& info) { return info.param; });

// ---- 4. Fork specifics ------------------------------------------------------------

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

TEST(ForkServer, HttpCapAnswers503WithContentLength) {
  ServerProcess s({"--arch", "fork", "--port", "0", "--protocol", "http", "--max-children", "1"});
  RawClient holder(s.port());  // an idle keep-alive connection holds the only slot
  ASSERT_TRUE(wait_until([&] { return children_of(s.pid()).size() == 1; }));
  auto r = run_command(kTimeout + "curl -s -D - " + url(s, "http", "/hello.txt"));
  EXPECT_NE(r.output.find("HTTP/1.1 503"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Content-Length: "), std::string::npos) << r.output;
}

TEST(ForkServer, SigtermEndsTheServerAndEveryChild) {
  ServerProcess s({"--arch", "fork", "--port", "0"});
  auto clients = logged_in_clients(s, 3);
  auto kids = children_of(s.pid());
  ASSERT_EQ(kids.size(), 3u);
  pid_t server = s.pid();
  EXPECT_EQ(s.stop(), 0) << "clean exit after SIGTERM";
  EXPECT_FALSE(proc_info(server).has_value());
  for (const auto& k : kids) {
    EXPECT_TRUE(wait_until([&] { return !proc_info(k.pid).has_value(); }, std::chrono::milliseconds(3000)))
        << "child " << k.pid << " outlived the server";
  }
  for (auto& c : clients) EXPECT_TRUE(c->sees_close());
}

// ---- 5. The event stream ---------------------------------------------------------------

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

// ---- 6. Command line errors ----------------------------------------------------------------

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
