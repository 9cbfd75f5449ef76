// Protocol tests: FTP and HTTP sessions driven with strings only, no sockets.
// The fixtures are in protocol_fixtures.h, the jail's own tests in
// jail_test.cpp. Sections:
//   3. FTP: login gate, every command, every error code
//   4. FTP: the real clients' sequences (reference/ftp-clients.md)
//   5. FTP: hostile input (traversal, symlinks, long lines, NUL, IAC)
//   6. HTTP
//   7. the shipped assets/ftp-root
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "protocol/ftp_session.h"
#include "protocol/http_session.h"
#include "protocol/jail.h"
#include "protocol/protocol.h"
#include "protocol_fixtures.h"
#include "support/temp_dir.h"

using namespace sockscope::protocol;
using namespace sockscope::protocol::testing_fixture;

TEST(Protocol, Names) {
  Protocol p;
  ASSERT_TRUE(protocol_from_name("ftp", p));
  EXPECT_EQ(p, Protocol::ftp);
  ASSERT_TRUE(protocol_from_name("http", p));
  EXPECT_EQ(p, Protocol::http);
  EXPECT_FALSE(protocol_from_name("gopher", p));
  EXPECT_FALSE(protocol_from_name("", p));
  EXPECT_EQ(protocol_name(Protocol::ftp), "ftp");
  EXPECT_EQ(protocol_name(Protocol::http), "http");
}

// ------------------------------------------------------- 3. FTP: commands

TEST(Ftp, GreetingAndLoginGate) {
  TempJail t;
  auto s = make_session(Protocol::ftp, t.config());
  Actions g = s->greeting();
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].kind, ActionKind::send);
  EXPECT_EQ(g[0].code, 220);
  EXPECT_EQ(g[0].bytes, "220 OHAI\r\n");
  Driver d(*s);
  // PASS before USER is a bad sequence.
  EXPECT_EQ(d.feed("PASS x\r\n"), (Codes{503}));
  // Allowed before login.
  EXPECT_EQ(d.feed("FEAT\r\nSYST\r\nHELP\r\nNOOP\r\nOPTS UTF8 ON\r\nAUTH TLS\r\n"), (Codes{211, 215, 214, 200, 200, 502}));
  // Everything else needs a login.
  EXPECT_EQ(d.feed("PWD\r\nCWD sub\r\nLIST\r\nRETR hello.txt\r\nPASV\r\nEPSV\r\nSIZE hello.txt\r\nTYPE I\r\n"
                   "PORT 127,0,0,1,1,2\r\nSTOR x\r\nSITE WORK 1\r\n"),
            (Codes{530, 530, 530, 530, 530, 530, 530, 530, 530, 530, 530}));
  // Unknown verbs are 500 whether or not logged in.
  EXPECT_EQ(d.feed("XYZZY\r\n"), (Codes{500}));
  EXPECT_EQ(d.feed("USER\r\n"), (Codes{501}));
  EXPECT_EQ(d.feed("USER bob\r\nPASS\r\n"), (Codes{331, 230}));
  EXPECT_EQ(d.feed("PASS again\r\n"), (Codes{230}));
  EXPECT_EQ(d.feed("PWD\r\n"), (Codes{257}));
  // A new USER starts a new login.
  EXPECT_EQ(d.feed("USER carol\r\nPWD\r\nPASS\r\nPWD\r\n"), (Codes{331, 530, 230, 257}));
  EXPECT_FALSE(s->closing());
  EXPECT_EQ(d.feed("QUIT\r\n"), (Codes{221}));
  EXPECT_TRUE(d.closed);
  EXPECT_TRUE(s->closing());
  EXPECT_EQ(d.feed("NOOP\r\n"), (Codes{}));
}

TEST_F(FtpFixture, EveryRequestActionComesFirstWithUppercaseVerb) {
  d.feed("syst\r\nPwd\r\nsite work 1\r\nSite Sleep 2\r\nbogus arg\r\n");
  ASSERT_EQ(d.batches.size(), 2u + 5u);  // USER, PASS in SetUp
  std::vector<std::string> want = {"USER", "PASS", "SYST", "PWD", "SITE WORK", "SITE SLEEP", "BOGUS"};
  for (std::size_t i = 0; i < d.batches.size(); ++i) {
    ASSERT_FALSE(d.batches[i].empty());
    EXPECT_EQ(d.batches[i][0].kind, ActionKind::request);
    EXPECT_EQ(d.batches[i][0].bytes, want[i]);
  }
  // Every send carries its numeric code, equal to the first three bytes.
  for (const auto& a : d.log) {
    if (a.kind != ActionKind::send) continue;
    EXPECT_EQ(std::to_string(a.code), a.bytes.substr(0, 3));
    EXPECT_EQ(a.bytes.substr(a.bytes.size() - 2), "\r\n");
  }
}

TEST_F(FtpFixture, InformationCommands) {
  EXPECT_EQ(d.feed("SYST\r\n"), (Codes{215}));
  EXPECT_EQ(d.last_reply(), "215 UNIX Type: L8\r\n");
  EXPECT_EQ(d.feed("FEAT\r\n"), (Codes{211}));
  std::string feat = d.last_reply();
  EXPECT_EQ(feat.rfind("211-", 0), 0u);
  for (const char* f : {" EPSV\r\n", " PASV\r\n", " SIZE\r\n", " MDTM\r\n", " REST STREAM\r\n", " UTF8\r\n"}) {
    EXPECT_NE(feat.find(f), std::string::npos) << f;
  }
  EXPECT_NE(feat.find("\r\n211 End\r\n"), std::string::npos);
  EXPECT_EQ(d.feed("OPTS UTF8 ON\r\nopts utf8 on\r\nOPTS MLST type;\r\nOPTS\r\n"), (Codes{200, 200, 501, 501}));
  EXPECT_EQ(d.feed("NOOP\r\n"), (Codes{200}));
  EXPECT_EQ(d.feed("HELP\r\n"), (Codes{214}));
  EXPECT_NE(d.last_reply().find("RETR"), std::string::npos);
  EXPECT_EQ(d.feed("STAT\r\n"), (Codes{211}));
  EXPECT_NE(d.last_reply().find("TYPE: ASCII"), std::string::npos);
  EXPECT_EQ(d.feed("STAT sub\r\n"), (Codes{213}));
  EXPECT_NE(d.last_reply().find("a file.txt\r\n"), std::string::npos);
  EXPECT_EQ(d.feed("STAT nothing-here\r\n"), (Codes{550}));
  EXPECT_EQ(d.feed("ABOR\r\n"), (Codes{225}));
  EXPECT_EQ(d.feed("ALLO 10\r\n"), (Codes{202}));
}

TEST_F(FtpFixture, Directories) {
  EXPECT_EQ(d.feed("PWD\r\n"), (Codes{257}));
  EXPECT_EQ(d.last_reply(), "257 \"/\" is the current directory\r\n");
  EXPECT_EQ(d.feed("CWD sub\r\nPWD\r\n"), (Codes{250, 257}));
  EXPECT_EQ(d.last_reply(), "257 \"/sub\" is the current directory\r\n");
  EXPECT_EQ(d.feed("CWD deeper\r\nXPWD\r\n"), (Codes{250, 257}));
  EXPECT_EQ(d.last_reply(), "257 \"/sub/deeper\" is the current directory\r\n");
  EXPECT_EQ(d.feed("CDUP\r\nPWD\r\n"), (Codes{250, 257}));
  EXPECT_EQ(d.last_reply(), "257 \"/sub\" is the current directory\r\n");
  EXPECT_EQ(d.feed("CWD /my dir\r\nPWD\r\n"), (Codes{250, 257}));
  EXPECT_EQ(d.last_reply(), "257 \"/my dir\" is the current directory\r\n");
  EXPECT_EQ(d.feed("CWD missing\r\nCWD /hello.txt\r\nCWD\r\n"), (Codes{550, 550, 501}));
  EXPECT_EQ(d.feed("CDUP\r\nCDUP\r\nPWD\r\n"), (Codes{250, 250, 257}));
  EXPECT_EQ(d.last_reply(), "257 \"/\" is the current directory\r\n");
}

TEST_F(FtpFixture, TypeModeStru) {
  EXPECT_EQ(d.feed("TYPE A\r\nTYPE I\r\nTYPE A N\r\nTYPE L 8\r\ntype i\r\n"), (Codes{200, 200, 200, 200, 200}));
  EXPECT_EQ(d.feed("TYPE E\r\nTYPE A T\r\nTYPE L 7\r\nTYPE\r\n"), (Codes{504, 504, 504, 501}));
  EXPECT_EQ(d.feed("MODE S\r\nMODE B\r\nMODE C\r\nMODE\r\n"), (Codes{200, 504, 504, 501}));
  EXPECT_EQ(d.feed("STRU F\r\nSTRU R\r\nSTRU P\r\nSTRU\r\n"), (Codes{200, 504, 504, 501}));
}

TEST_F(FtpFixture, PassiveReplies) {
  EXPECT_EQ(d.feed("EPSV\r\n"), (Codes{229}));
  EXPECT_EQ(d.last_reply(), "229 Entering Extended Passive Mode (|||40000|)\r\n");
  ASSERT_EQ(d.batches.back().size(), 2u);
  EXPECT_EQ(d.batches.back()[1].kind, ActionKind::open_passive);
  EXPECT_EQ(d.feed("PASV\r\n"), (Codes{227}));
  // 40001 = 156 * 256 + 65
  EXPECT_EQ(d.last_reply(), "227 Entering Passive Mode (127,0,0,1,156,65).\r\n");
  EXPECT_EQ(d.feed("EPSV ALL\r\nEPSV 1\r\nEPSV x\r\n"), (Codes{200, 229, 501}));
}

TEST(Ftp, PasvCarriesTheControlLocalAddress) {
  TempJail t;
  SessionConfig c = t.config();
  c.local_ip = "10.20.30.40";
  auto s = make_session(Protocol::ftp, c);
  Driver d(*s);
  d.feed("USER a\r\nPASS b\r\n");
  d.next_port = 2121;  // 8 * 256 + 73
  EXPECT_EQ(d.feed("PASV\r\n"), (Codes{227}));
  EXPECT_EQ(d.last_reply(), "227 Entering Passive Mode (10,20,30,40,8,73).\r\n");
  // PASV cannot express IPv6; EPSV can.
  c.local_ip = "::1";
  auto s6 = make_session(Protocol::ftp, c);
  Driver d6(*s6);
  d6.feed("USER a\r\nPASS b\r\n");
  EXPECT_EQ(d6.feed("PASV\r\nEPSV\r\n"), (Codes{522, 229}));
}

TEST_F(FtpFixture, TransfersNeedPassiveFirst) {
  EXPECT_EQ(d.feed("LIST\r\nNLST\r\nRETR hello.txt\r\n"), (Codes{425, 425, 425}));
  EXPECT_TRUE(d.transfers.empty());
  // One passive listener serves one transfer.
  EXPECT_EQ(d.feed("EPSV\r\nLIST\r\nLIST\r\n"), (Codes{229, 150, 226, 425}));
  EXPECT_EQ(d.transfers.size(), 1u);
}

TEST_F(FtpFixture, ListSequenceAndFormat) {
  d.feed("PASV\r\n");
  d.codes.clear();
  EXPECT_EQ(d.feed("LIST\r\n"), (Codes{150, 226}));
  const Actions& b = d.batches.back();
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(b[0].kind, ActionKind::request);
  EXPECT_EQ(b[1].kind, ActionKind::send);
  EXPECT_EQ(b[1].code, 150);
  EXPECT_EQ(b[2].kind, ActionKind::transfer);
  EXPECT_EQ(b[3].kind, ActionKind::send);
  EXPECT_EQ(b[3].code, 226);
  const std::string data = d.transfers.back();  // a copy: transfers grows below
  // CRLF lines in ls -l form, sorted, escaping symlinks and the FIFO hidden.
  std::regex line(R"(([-d])r[-w][-x]r[-w][-x]r[-w][-x] +\d+ ftp +ftp +\d+ (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 1-3]\d ( \d{4}|\d\d:\d\d) (.+))");
  std::vector<std::string> names;
  std::size_t i = 0;
  while (i < data.size()) {
    std::size_t j = data.find("\r\n", i);
    ASSERT_NE(j, std::string::npos);
    std::string l = data.substr(i, j - i);
    EXPECT_EQ(l.find('\n'), std::string::npos);
    std::smatch m;
    ASSERT_TRUE(std::regex_match(l, m, line)) << l;
    names.push_back(m[4]);
    if (m[4] == "old.txt") {
      EXPECT_EQ(m[3], " 2020");
    }
    if (m[4] == "sub") {
      EXPECT_EQ(m[1], "d");
    }
    if (m[4] == "inner.txt") {
      EXPECT_EQ(m[1], "-");  // listed as the file it points to
    }
    i = j + 2;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"data.bin", "hello.txt", "inner.txt", "my dir", "old.txt", "sub"}));
  EXPECT_EQ(data.find("->"), std::string::npos);
  EXPECT_EQ(data.find("outside"), std::string::npos);
  EXPECT_EQ(data.find("passwd"), std::string::npos);
  EXPECT_EQ(data.find("escape"), std::string::npos);

  // LIST with ls options and with a path; LIST of a file; LIST of nothing.
  EXPECT_EQ(d.feed("EPSV\r\nLIST -la\r\n"), (Codes{229, 150, 226}));
  EXPECT_EQ(d.transfers.back(), data);
  EXPECT_EQ(d.feed("EPSV\r\nLIST sub\r\n"), (Codes{229, 150, 226}));
  EXPECT_NE(d.transfers.back().find(" a file.txt\r\n"), std::string::npos);
  EXPECT_NE(d.transfers.back().find(" deeper\r\n"), std::string::npos);
  EXPECT_EQ(d.feed("EPSV\r\nLIST -l hello.txt\r\n"), (Codes{229, 150, 226}));
  EXPECT_NE(d.transfers.back().find(" 13 "), std::string::npos);
  EXPECT_EQ(d.feed("EPSV\r\nLIST nothing\r\n"), (Codes{229, 550}));
  EXPECT_EQ(d.feed("LIST escape_dir\r\n"), (Codes{550}));
}

TEST_F(FtpFixture, Nlst) {
  EXPECT_EQ(d.feed("PASV\r\nNLST\r\n"), (Codes{227, 150, 226}));
  EXPECT_EQ(d.transfers.back(), "data.bin\r\nhello.txt\r\ninner.txt\r\nmy dir\r\nold.txt\r\nsub\r\n");
  EXPECT_EQ(d.feed("PASV\r\nNLST sub\r\n"), (Codes{227, 150, 226}));
  // sub/up_escape points outside the jail: not listed.
  EXPECT_EQ(d.transfers.back(), "a file.txt\r\ndeeper\r\n");
}

TEST_F(FtpFixture, RetrSizeMdtmRest) {
  EXPECT_EQ(d.feed("TYPE I\r\nSIZE hello.txt\r\n"), (Codes{200, 213}));
  EXPECT_EQ(d.last_reply(), "213 13\r\n");
  EXPECT_EQ(d.feed("SIZE data.bin\r\n"), (Codes{213}));
  EXPECT_EQ(d.last_reply(), "213 " + std::to_string(binary_content().size()) + "\r\n");
  EXPECT_EQ(d.feed("SIZE sub\r\nSIZE missing\r\nSIZE\r\nSIZE fifo\r\n"), (Codes{550, 550, 501, 550}));
  EXPECT_EQ(d.feed("MDTM old.txt\r\n"), (Codes{213}));
  EXPECT_EQ(d.last_reply(), "213 20200101000000\r\n");
  EXPECT_EQ(d.feed("MDTM sub\r\nMDTM missing\r\nMDTM\r\n"), (Codes{550, 550, 501}));

  EXPECT_EQ(d.feed("EPSV\r\nRETR hello.txt\r\n"), (Codes{229, 150, 226}));
  EXPECT_EQ(d.transfers.back(), "hello, world\n");
  EXPECT_NE(d.log[d.log.size() - 3].bytes.find("(13 bytes)"), std::string::npos);
  // Binary data goes out byte for byte, every CR and LF kept.
  EXPECT_EQ(d.feed("EPSV\r\nRETR data.bin\r\n"), (Codes{229, 150, 226}));
  EXPECT_EQ(d.transfers.back(), binary_content());
  // REST n then RETR sends from n; the offset is used once.
  EXPECT_EQ(d.feed("REST 7\r\nEPSV\r\nRETR hello.txt\r\n"), (Codes{350, 229, 150, 226}));
  EXPECT_EQ(d.transfers.back(), "world\n");
  EXPECT_EQ(d.feed("EPSV\r\nRETR hello.txt\r\n"), (Codes{229, 150, 226}));
  EXPECT_EQ(d.transfers.back(), "hello, world\n");
  EXPECT_EQ(d.feed("REST 1000\r\nEPSV\r\nRETR hello.txt\r\n"), (Codes{350, 229, 150, 226}));
  EXPECT_EQ(d.transfers.back(), "");
  EXPECT_EQ(d.feed("REST abc\r\nREST -1\r\nREST\r\n"), (Codes{501, 501, 501}));
  // Errors: no name, missing, a directory, a FIFO. The listener survives a 550.
  EXPECT_EQ(d.feed("EPSV\r\nRETR\r\nRETR missing\r\nRETR sub\r\nRETR fifo\r\nRETR inner.txt\r\n"),
            (Codes{229, 501, 550, 550, 550, 150, 226}));
  EXPECT_EQ(d.transfers.back(), "hello, world\n");
  // Names with spaces: the argument is the rest of the line.
  EXPECT_EQ(d.feed("EPSV\r\nRETR sub/a file.txt\r\n"), (Codes{229, 150, 226}));
  EXPECT_EQ(d.transfers.back(), "spaced\n");
  EXPECT_EQ(d.feed("CWD my dir\r\nEPSV\r\nRETR inside.txt\r\n"), (Codes{250, 229, 150, 226}));
  EXPECT_EQ(d.transfers.back(), "in a spaced dir\n");
}

TEST_F(FtpFixture, RetrRefusesFilesOverTheCap) {
  // A sparse file just over 64 MiB: no disk used, still refused.
  int fd = ::open((jail.root / "huge.bin").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(kFtpRetrCap + 1)), 0);
  ::close(fd);
  EXPECT_EQ(d.feed("SIZE huge.bin\r\nEPSV\r\nRETR huge.bin\r\n"), (Codes{213, 229, 550}));
  EXPECT_TRUE(d.transfers.empty());
}

TEST_F(FtpFixture, TransferFailureGives425AndConsumesTheListener) {
  d.fail_transfers = true;
  EXPECT_EQ(d.feed("EPSV\r\nRETR hello.txt\r\n"), (Codes{229, 150, 425}));
  // The batch after the failed transfer was skipped: no 226.
  d.fail_transfers = false;
  EXPECT_EQ(d.feed("RETR hello.txt\r\n"), (Codes{425}));
  EXPECT_EQ(d.feed("EPSV\r\nRETR hello.txt\r\n"), (Codes{229, 150, 226}));
}

TEST_F(FtpFixture, PassiveListenFailureGives425) {
  d.fail_passive = true;
  EXPECT_EQ(d.feed("PASV\r\nLIST\r\n"), (Codes{425, 425}));
  d.fail_passive = false;
  EXPECT_EQ(d.feed("PASV\r\nLIST\r\n"), (Codes{227, 150, 226}));
}

TEST_F(FtpFixture, RefusedCommands) {
  EXPECT_EQ(d.feed("PORT 127,0,0,1,4,1\r\nEPRT |1|127.0.0.1|1025|\r\nLPRT 4,4,127,0,0,1,2,4,1\r\nAUTH TLS\r\n"
                   "AUTH SSL\r\nPBSZ 0\r\nPROT P\r\n"),
            (Codes{502, 502, 502, 502, 502, 502, 502}));
  EXPECT_EQ(d.feed("STOR x\r\nDELE hello.txt\r\nMKD d\r\nRMD sub\r\nRNFR hello.txt\r\nRNTO y\r\nAPPE hello.txt\r\n"
                   "STOU\r\nXMKD d\r\nXRMD sub\r\n"),
            (Codes{550, 550, 550, 550, 550, 550, 550, 550, 550, 550}));
  EXPECT_EQ(d.feed("FOO\r\nRETRX a\r\n\r\n"), (Codes{500, 500, 500}));
  EXPECT_TRUE(fs::exists(jail.root / "hello.txt"));
  EXPECT_TRUE(fs::exists(jail.root / "sub"));
}

TEST_F(FtpFixture, SiteTeachingCommands) {
  EXPECT_EQ(d.feed("SITE WORK 250\r\n"), (Codes{200}));
  const Actions& w = d.batches.back();
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0].bytes, "SITE WORK");
  EXPECT_EQ(w[1].kind, ActionKind::work);
  EXPECT_EQ(w[1].ms, 250);
  EXPECT_EQ(w[2].code, 200);
  EXPECT_EQ(d.feed("SITE SLEEP 99999999\r\n"), (Codes{200}));
  const Actions& s = d.batches.back();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[1].kind, ActionKind::sleep);
  EXPECT_EQ(s[1].ms, kTeachingCapMs);
  EXPECT_EQ(d.feed("site sleep 0\r\n"), (Codes{200}));
  EXPECT_EQ(d.batches.back()[1].ms, 0);
  EXPECT_EQ(d.feed("SITE WORK abc\r\nSITE WORK -5\r\nSITE WORK\r\nSITE SLEEP 1.5\r\nSITE WORK 99999999999999999999\r\n"),
            (Codes{501, 501, 501, 501, 501}));
  for (std::size_t i = d.batches.size() - 5; i < d.batches.size(); ++i) {
    for (const auto& a : d.batches[i]) {
      EXPECT_NE(a.kind, ActionKind::work);
      EXPECT_NE(a.kind, ActionKind::sleep);
    }
  }
  EXPECT_EQ(d.feed("SITE HELP\r\nSITE CHMOD 777 x\r\nSITE\r\n"), (Codes{214, 500, 500}));
}

TEST_F(FtpFixture, TimeoutCloses) {
  d.s.receive("NOO");
  Actions t = session->timed_out();
  d.run(t);
  EXPECT_EQ(d.codes.back(), 421);
  EXPECT_TRUE(d.closed);
  EXPECT_TRUE(session->closing());
  EXPECT_FALSE(session->next());
}

// The request deadline's clock (issue 17): it runs while part of a command
// line has arrived and stops when next() yields the command.
TEST_F(FtpFixture, PendingInputIsAPartialCommandLine) {
  EXPECT_FALSE(session->pending_input()) << "logged in, nothing sent since";
  const std::string line = "NOOP\r\n";
  for (std::size_t i = 0; i + 1 < line.size(); ++i) {
    EXPECT_TRUE(d.feed(line.substr(i, 1)).empty());
    EXPECT_TRUE(session->pending_input()) << "after byte " << i;
  }
  EXPECT_EQ(d.feed("\n"), (Codes{200}));
  EXPECT_FALSE(session->pending_input()) << "the command was yielded";
  // Pipelined: the whole first command and the start of the next.
  EXPECT_EQ(d.feed("PWD\r\nSY"), (Codes{257}));
  EXPECT_TRUE(session->pending_input());
  d.run(session->timed_out());
  EXPECT_EQ(d.codes.back(), 421);
  EXPECT_TRUE(d.closed);
  EXPECT_FALSE(session->pending_input()) << "closing: nothing more is read";
}

// ------------------------------------------- 4. FTP: real clients' sequences

namespace {
struct ClientRun {
  TempJail jail;
  std::unique_ptr<Session> s = make_session(Protocol::ftp, jail.config());
  Driver d{*s};
  ClientRun() {
    d.run(s->greeting());
    fs::create_directories(jail.root / "pub");
    write_file(jail.root / "pub" / "f.txt", "file in pub\n");
  }
};
}  // namespace

TEST(FtpClients, CurlList) {
  ClientRun r;
  EXPECT_EQ(r.d.feed("USER anonymous\r\nPASS ftp@example.com\r\nPWD\r\nCWD pub\r\nEPSV\r\nTYPE A\r\nLIST\r\nQUIT\r\n"),
            (Codes{331, 230, 257, 250, 229, 200, 150, 226, 221}));
  ASSERT_EQ(r.d.transfers.size(), 1u);
  EXPECT_NE(r.d.transfers[0].find(" f.txt\r\n"), std::string::npos);
  EXPECT_TRUE(r.d.closed);
}

TEST(FtpClients, CurlRetrAndPasvFallback) {
  ClientRun r;
  EXPECT_EQ(r.d.feed("USER anonymous\r\nPASS ftp@example.com\r\nPWD\r\nCWD pub\r\nEPSV\r\nTYPE I\r\nSIZE f.txt\r\n"
                     "RETR f.txt\r\n"),
            (Codes{331, 230, 257, 250, 229, 200, 213, 150, 226}));
  EXPECT_EQ(r.d.transfers.back(), "file in pub\n");
  // curl falls back to PASV when EPSV is refused.
  EXPECT_EQ(r.d.feed("PASV\r\nTYPE I\r\nSIZE f.txt\r\nRETR f.txt\r\nQUIT\r\n"), (Codes{227, 200, 213, 150, 226, 221}));
  EXPECT_EQ(r.d.transfers.back(), "file in pub\n");
}

TEST(FtpClients, CurlResume) {
  ClientRun r;
  EXPECT_EQ(r.d.feed("USER anonymous\r\nPASS x\r\nPWD\r\nCWD pub\r\nEPSV\r\nTYPE I\r\nSIZE f.txt\r\nREST 5\r\n"
                     "RETR f.txt\r\nQUIT\r\n"),
            (Codes{331, 230, 257, 250, 229, 200, 213, 350, 150, 226, 221}));
  EXPECT_EQ(r.d.transfers.back(), "in pub\n");
}

TEST(FtpClients, CurlHead) {
  ClientRun r;
  EXPECT_EQ(r.d.feed("USER anonymous\r\nPASS x\r\nPWD\r\nCWD pub\r\nMDTM f.txt\r\nTYPE I\r\nSIZE f.txt\r\nREST 0\r\n"
                     "QUIT\r\n"),
            (Codes{331, 230, 257, 250, 213, 200, 213, 350, 221}));
  EXPECT_TRUE(r.d.transfers.empty());
}

TEST(FtpClients, Lftp) {
  ClientRun r;
  EXPECT_EQ(r.d.feed("FEAT\r\nOPTS UTF8 ON\r\nUSER anonymous\r\nPASS lftp@\r\nPWD\r\nPASV\r\nLIST\r\nCWD pub\r\n"
                     "TYPE I\r\nSIZE f.txt\r\nMDTM f.txt\r\nPASV\r\nRETR f.txt\r\nQUIT\r\n"),
            (Codes{211, 200, 331, 230, 257, 227, 150, 226, 250, 200, 213, 213, 227, 150, 226, 221}));
  EXPECT_EQ(r.d.transfers.back(), "file in pub\n");
}

TEST(FtpClients, LftpNamedUserTriesTlsFirst) {
  ClientRun r;
  EXPECT_EQ(r.d.feed("FEAT\r\nAUTH TLS\r\nOPTS UTF8 ON\r\nUSER alice\r\nPASS secret\r\nPWD\r\n"),
            (Codes{211, 502, 200, 331, 230, 257}));
}

TEST(FtpClients, PythonFtplib) {
  ClientRun r;
  EXPECT_EQ(r.d.feed("USER anonymous\r\nPASS anonymous@\r\nPWD\r\nCWD pub\r\nTYPE A\r\nPASV\r\nLIST\r\n"
                     "TYPE A\r\nPASV\r\nNLST\r\nSIZE f.txt\r\nTYPE I\r\nPASV\r\nRETR f.txt\r\nQUIT\r\n"),
            (Codes{331, 230, 257, 250, 200, 227, 150, 226, 200, 227, 150, 226, 213, 200, 227, 150, 226, 221}));
  ASSERT_EQ(r.d.transfers.size(), 3u);
  EXPECT_EQ(r.d.transfers[1], "f.txt\r\n");
  EXPECT_EQ(r.d.transfers[2], "file in pub\n");
}

TEST(FtpClients, Tnftp) {
  ClientRun r;
  write_file(r.jail.root / "pub" / "b.bin", binary_content());
  EXPECT_EQ(r.d.feed("USER anonymous\r\nPASS guest\r\nSYST\r\nFEAT\r\nPWD\r\nEPSV\r\nLIST\r\nCWD pub\r\nTYPE I\r\n"
                     "SIZE b.bin\r\nEPSV\r\nRETR b.bin\r\nMDTM b.bin\r\nQUIT\r\n"),
            (Codes{331, 230, 215, 211, 257, 229, 150, 226, 250, 200, 213, 229, 150, 226, 213, 221}));
  EXPECT_NE(r.d.control.find("215 UNIX Type: L8\r\n"), std::string::npos);
  EXPECT_EQ(r.d.transfers.back(), binary_content());
}

// ------------------------------------------------- 5. FTP: hostile input

TEST_F(FtpFixture, TraversalStaysInTheJail) {
  EXPECT_EQ(d.feed("CWD ../../etc\r\nPWD\r\n"), (Codes{550, 257}));
  EXPECT_EQ(d.last_reply(), "257 \"/\" is the current directory\r\n");
  EXPECT_EQ(d.feed("CWD /etc\r\nCWD sub\r\nCWD ../../../../..\r\nPWD\r\n"), (Codes{550, 250, 250, 257}));
  EXPECT_EQ(d.last_reply(), "257 \"/\" is the current directory\r\n");
  EXPECT_EQ(d.feed("EPSV\r\nRETR ../../../etc/passwd\r\nRETR /etc/passwd\r\nRETR ../outside/secret.txt\r\n"),
            (Codes{229, 550, 550, 550}));
  EXPECT_EQ(d.feed("SIZE ../../../etc/passwd\r\nMDTM /../etc/passwd\r\n"), (Codes{550, 550}));
  EXPECT_TRUE(d.transfers.empty());
}

TEST(Ftp, TraversalIsClampedToTheJailRoot) {
  // With a decoy etc/ inside the jail, "../../etc/passwd" reaches the decoy:
  // ".." stops at the jail's "/", never at the real one.
  TempJail t;
  fs::create_directories(t.root / "etc");
  write_file(t.root / "etc" / "passwd", "decoy\n");
  auto s = make_session(Protocol::ftp, t.config());
  Driver d(*s);
  d.feed("USER a\r\nPASS b\r\nCWD sub/deeper\r\n");
  EXPECT_EQ(d.feed("EPSV\r\nRETR ../../../../../etc/passwd\r\nCWD ../../../../etc\r\nPWD\r\n"),
            (Codes{229, 150, 226, 250, 257}));
  EXPECT_EQ(d.transfers.back(), "decoy\n");
  EXPECT_EQ(d.last_reply(), "257 \"/etc\" is the current directory\r\n");
}

class FtpSymlinks : public ::testing::TestWithParam<Jail::Resolver> {};

TEST_P(FtpSymlinks, EscapingLinksAreRefusedAndHidden) {
  TempJail t;
  FtpSession s(t.config(), GetParam());
  Driver d(s);
  d.feed("USER a\r\nPASS b\r\n");
  EXPECT_EQ(d.feed("EPSV\r\nRETR escape_file\r\nRETR abs_passwd\r\nRETR sub/up_escape\r\nRETR escape_dir/secret.txt\r\n"),
            (Codes{229, 550, 550, 550, 550}));
  EXPECT_EQ(d.feed("CWD escape_dir\r\nSIZE escape_file\r\nMDTM abs_passwd\r\nPWD\r\n"), (Codes{550, 550, 550, 257}));
  EXPECT_EQ(d.last_reply(), "257 \"/\" is the current directory\r\n");
  // The inside link works, and the listener kept from the 550s serves it.
  EXPECT_EQ(d.feed("RETR inner.txt\r\n"), (Codes{150, 226}));
  EXPECT_EQ(d.transfers.back(), "hello, world\n");
  EXPECT_EQ(d.feed("EPSV\r\nLIST\r\nEPSV\r\nLIST sub\r\n"), (Codes{229, 150, 226, 229, 150, 226}));
  for (const auto& data : d.transfers) {
    EXPECT_EQ(data.find("SECRET"), std::string::npos);
    EXPECT_EQ(data.find("->"), std::string::npos);
    EXPECT_EQ(data.find("escape"), std::string::npos);
    EXPECT_EQ(data.find("/etc/passwd"), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(Both, FtpSymlinks, ::testing::Values(Jail::Resolver::openat2, Jail::Resolver::realpath));

TEST_F(FtpFixture, HundredKilobyteLineIs500ThenClose) {
  std::string big(100 * 1024, 'A');
  EXPECT_EQ(d.feed(big), (Codes{500}));
  EXPECT_EQ(d.last_reply(), "500 Input line too long.\r\n");
  EXPECT_TRUE(d.closed);
  EXPECT_TRUE(session->closing());
  EXPECT_EQ(d.feed("NOOP\r\n"), (Codes{}));
}

TEST(Ftp, LongLineWithNewlineInOneChunkAlsoCloses) {
  TempJail t;
  auto s = make_session(Protocol::ftp, t.config());
  Driver d(*s);
  EXPECT_EQ(d.feed("NOOP\r\n" + std::string(100 * 1024, 'B') + "\r\nNOOP\r\n"), (Codes{200, 500}));
  EXPECT_TRUE(d.closed);
}

TEST(Ftp, LineCapBoundary) {
  TempJail t;
  auto s = make_session(Protocol::ftp, t.config());
  Driver d(*s);
  // Exactly the cap is still a line (an unknown verb, answered, not closed)...
  EXPECT_EQ(d.feed(std::string(kFtpLineLimit, 'C') + "\r\n"), (Codes{500}));
  EXPECT_FALSE(d.closed);
  // ...even when it arrives in pieces...
  d.feed(std::string(kFtpLineLimit, 'C'));
  EXPECT_FALSE(d.closed);
  EXPECT_EQ(d.feed("\r"), (Codes{}));
  EXPECT_EQ(d.feed("\n"), (Codes{500}));
  EXPECT_FALSE(d.closed);
  // ...one byte more is not.
  EXPECT_EQ(d.feed(std::string(kFtpLineLimit + 1, 'C') + "\r\n"), (Codes{500}));
  EXPECT_TRUE(d.closed);
}

TEST_F(FtpFixture, NulAndTelnetBytes) {
  using namespace std::string_literals;
  EXPECT_EQ(d.feed("NO\0OP\r\n"s), (Codes{200}));
  // What clients send before ABOR: IAC IP IAC DM.
  EXPECT_EQ(d.feed("\xff\xf4\xff\xf2" "ABOR\r\n"), (Codes{225}));
  // Option negotiation and a subnegotiation around a command.
  EXPECT_EQ(d.feed("\xff\xfb\x01\xff\xfd\x03NOOP\xff\xfa\x18\x01\xff\xf0\r\n"), (Codes{200}));
  // IAC IAC is a literal 0xFF: here it makes an unknown verb.
  EXPECT_EQ(d.feed("NO\xff\xffOP\r\n"), (Codes{500}));
  // A lone IAC at the end of a line, an unterminated subnegotiation.
  EXPECT_EQ(d.feed("NOOP\xff\r\n"), (Codes{200}));
  EXPECT_EQ(d.feed("NOOP\xff\xfa\x18garbage\r\n"), (Codes{200}));
  // NUL inside a file name cannot cut the name short.
  EXPECT_EQ(d.feed("SIZE hello.txt\0/../../etc/passwd\r\n"s), (Codes{550}));
  // Every byte value, in lines: one reply per line and no crash.
  std::string garbage;
  for (int i = 0; i < 4096; ++i) {
    char c = static_cast<char>((i * 131 + 7) & 0xff);
    garbage += c == '\n' ? 'x' : c;
    if (i % 64 == 63) garbage += "\r\n";
  }
  Codes g = d.feed(garbage);
  EXPECT_EQ(g.size(), 64u);
  EXPECT_FALSE(d.closed);
  EXPECT_EQ(d.feed("NOOP\r\n"), (Codes{200}));
}

TEST_F(FtpFixture, PipelinedCommandsOneBatchEach) {
  std::size_t before = d.batches.size();
  EXPECT_EQ(d.feed("PWD\r\nSYST\r\nTYPE I\r\nEPSV\r\nRETR hello.txt\r\nNOOP\r\n"),
            (Codes{257, 215, 200, 229, 150, 226, 200}));
  ASSERT_EQ(d.batches.size(), before + 6);
  for (std::size_t i = before; i < d.batches.size(); ++i) {
    int requests = 0;
    for (const auto& a : d.batches[i]) requests += a.kind == ActionKind::request;
    EXPECT_EQ(requests, 1);
  }
  // QUIT in the middle of a pipeline ends it: what follows is not run.
  EXPECT_EQ(d.feed("NOOP\r\nQUIT\r\nNOOP\r\nPWD\r\n"), (Codes{200, 221}));
  EXPECT_TRUE(d.closed);
}

TEST(Ftp, BareLfAndSplitReads) {
  TempJail t;
  auto s = make_session(Protocol::ftp, t.config());
  Driver d(*s);
  EXPECT_EQ(d.feed("USER a\nPASS b\nPWD\n"), (Codes{331, 230, 257}));
  EXPECT_EQ(d.feed("SY"), (Codes{}));
  EXPECT_EQ(d.feed("ST\r"), (Codes{}));
  EXPECT_EQ(d.feed("\nNO"), (Codes{215}));
  EXPECT_EQ(d.feed("OP\n"), (Codes{200}));
}

TEST(Ftp, PwdQuotesQuotes) {
  TempJail t;
  fs::create_directories(t.root / "say \"hi\"");
  auto s = make_session(Protocol::ftp, t.config());
  Driver d(*s);
  d.feed("USER a\r\nPASS b\r\n");
  EXPECT_EQ(d.feed("CWD say \"hi\"\r\nPWD\r\n"), (Codes{250, 257}));
  EXPECT_EQ(d.last_reply(), "257 \"/say \"\"hi\"\"\" is the current directory\r\n");
}

// ------------------------------------------------------------------ 6. HTTP

namespace {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// Parses one response out of `raw` (what a send action carried).
HttpResponse parse_response(const std::string& raw) {
  HttpResponse r;
  std::size_t end = raw.find("\r\n\r\n");
  EXPECT_NE(end, std::string::npos) << raw;
  if (end == std::string::npos) return r;
  std::string head = raw.substr(0, end);
  r.body = raw.substr(end + 4);
  std::istringstream in(head);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line.rfind("HTTP/1.1 ", 0), 0u) << line;
  r.status = std::stoi(line.substr(9, 3));
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = line.substr(colon + 2);
  }
  return r;
}

struct HttpFixture : ::testing::Test {
  TempJail jail;
  std::unique_ptr<Session> session = make_session(Protocol::http, jail.config());
  Driver d{*session};

  // The responses produced by feeding `bytes`.
  std::vector<HttpResponse> send(std::string_view bytes) {
    std::size_t from = d.log.size();
    d.feed(bytes);
    std::vector<HttpResponse> out;
    for (std::size_t i = from; i < d.log.size(); ++i) {
      if (d.log[i].kind != ActionKind::send) continue;
      out.push_back(parse_response(d.log[i].bytes));
      EXPECT_EQ(out.back().status, d.log[i].code);
    }
    return out;
  }
  HttpResponse one(std::string_view bytes) {
    auto v = send(bytes);
    EXPECT_EQ(v.size(), 1u);
    return v.empty() ? HttpResponse{} : v[0];
  }
};

}  // namespace

TEST_F(HttpFixture, NoGreeting) { EXPECT_TRUE(session->greeting().empty()); }

TEST_F(HttpFixture, GetFileKeepAlive) {
  auto r = one("GET /hello.txt HTTP/1.1\r\nHost: t\r\nHost: localhost\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello, world\n");
  EXPECT_EQ(r.headers["content-length"], "13");
  EXPECT_EQ(r.headers["content-type"], "text/plain; charset=utf-8");
  EXPECT_EQ(r.headers["connection"], "keep-alive");
  EXPECT_FALSE(d.closed);
  EXPECT_FALSE(session->closing());
  ASSERT_FALSE(d.batches.back().empty());
  EXPECT_EQ(d.batches.back()[0].kind, ActionKind::request);
  EXPECT_EQ(d.batches.back()[0].bytes, "GET /hello.txt");
  auto b = one("GET /data.bin HTTP/1.1\r\nHost: t\r\nHost: x\r\n\r\n");
  EXPECT_EQ(b.body, binary_content());
  EXPECT_EQ(b.headers["content-length"], std::to_string(binary_content().size()));
  EXPECT_EQ(b.headers["content-type"], "application/octet-stream");
  EXPECT_FALSE(d.closed);
}

TEST_F(HttpFixture, Head) {
  auto r = one("HEAD /hello.txt HTTP/1.1\r\nHost: t\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-length"], "13");
  EXPECT_EQ(r.body, "");
  auto m = one("HEAD /missing HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(m.status, 404);
  EXPECT_EQ(m.body, "");
  EXPECT_NE(m.headers["content-length"], "0");
}

TEST_F(HttpFixture, DirectoryIndex) {
  auto r = one("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_EQ(r.headers["content-length"], std::to_string(r.body.size()));
  EXPECT_NE(r.body.find("href=\"/hello.txt\""), std::string::npos);
  EXPECT_NE(r.body.find("href=\"/sub/\""), std::string::npos);
  EXPECT_NE(r.body.find("href=\"/my%20dir/\""), std::string::npos);
  EXPECT_EQ(r.body.find("escape"), std::string::npos);
  EXPECT_EQ(r.body.find("passwd"), std::string::npos);
  auto s = one("GET /sub HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(s.status, 200);
  EXPECT_NE(s.body.find("href=\"/sub/a%20file.txt\""), std::string::npos);
  EXPECT_NE(s.body.find("href=\"/\""), std::string::npos);
  auto f = one("GET /sub/a%20file.txt HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(f.body, "spaced\n");
}

TEST_F(HttpFixture, PipelinedRequestsOneBatchEach) {
  auto v = send("GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\nHEAD /hello.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /sub/a%20file.txt HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].body, "hello, world\n");
  EXPECT_EQ(v[1].body, "");
  EXPECT_EQ(v[2].body, "spaced\n");
  EXPECT_EQ(d.batches.size(), 3u);
  EXPECT_EQ(d.requests(), (std::vector<std::string>{"GET /hello.txt", "HEAD /hello.txt", "GET /sub/a%20file.txt"}));
  EXPECT_FALSE(d.closed);
  // A request split across reads waits for its end.
  EXPECT_TRUE(send("GET /hello.txt HTT").empty());
  EXPECT_TRUE(send("P/1.1\r\nHost: x\r\n").empty());
  EXPECT_EQ(one("\r\n").body, "hello, world\n");
}

TEST_F(HttpFixture, ConnectionClose) {
  auto v = send("GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].headers["connection"], "close");
  EXPECT_EQ(v[0].body, "hello, world\n");
  EXPECT_TRUE(d.closed);
  EXPECT_TRUE(session->closing());
  EXPECT_EQ(d.log.back().kind, ActionKind::close);
}

TEST(Http, Http10ClosesUnlessKeepAlive) {
  TempJail t;
  auto s = make_session(Protocol::http, t.config());
  Driver d(*s);
  d.feed("GET /hello.txt HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  EXPECT_FALSE(d.closed);
  EXPECT_NE(d.control.find("Connection: keep-alive\r\n"), std::string::npos);
  d.feed("GET /hello.txt HTTP/1.0\r\n\r\n");
  EXPECT_TRUE(d.closed);
  EXPECT_EQ(d.codes, (Codes{200}));
}

TEST_F(HttpFixture, MethodNotAllowed) {
  auto r = one("POST /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["allow"], "GET, HEAD");
  EXPECT_FALSE(d.closed);
  for (const char* m : {"PUT", "DELETE", "OPTIONS", "PATCH", "get"}) {
    EXPECT_EQ(one(std::string(m) + " / HTTP/1.1\r\nHost: t\r\n\r\n").status, 405) << m;
  }
  // A request with a body we will not read: answer, then close.
  auto b = one("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(b.status, 405);
  EXPECT_TRUE(d.closed);
}

TEST(Http, BadRequests) {
  TempJail t;
  for (const char* req : {"GARBAGE\r\n\r\n", "GET /\r\n\r\n", "GET  / HTTP/1.1\r\nHost: t\r\n\r\n", "GET / HTTP/1.1 extra\r\n\r\n",
                          "GET / HTTX/1.1\r\n\r\n", "GET / HTTP/11\r\n\r\n", "GET / HTTP/1.1\r\nHost: t\r\nNoColonHere\r\n\r\n",
                          "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n", "GET %zz HTTP/1.1\r\nHost: t\r\n\r\n",
                          "GET /%zz HTTP/1.1\r\nHost: t\r\n\r\n", "GET /a%00b HTTP/1.1\r\nHost: t\r\n\r\n", "G\x01T / HTTP/1.1\r\nHost: t\r\n\r\n"}) {
    auto s = make_session(Protocol::http, t.config());
    Driver d(*s);
    d.feed(req);
    EXPECT_EQ(d.codes, (Codes{400})) << req;
    EXPECT_TRUE(d.closed) << req;
    ASSERT_FALSE(d.log.empty());
    EXPECT_EQ(d.log[0].kind, ActionKind::request);
  }
}

// RFC 9112: a request that leaves its body's length in doubt, an HTTP/1.1
// request without Host, and a NUL in a header value each get 400 and a
// close; an HTTP/0.9 request line gets its 400 at once instead of waiting
// (for a header section it will never send) until the idle timeout.
TEST(Http, AmbiguousRequestsAre400) {
  TempJail t;
  const std::string nul_header = std::string("GET / HTTP/1.1\r\nHost: t\r\nX-A: a") + '\0' + "b\r\n\r\n";
  for (const std::string& req : {std::string("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
                                 std::string("GET / HTTP/1.1\r\n\r\n"), nul_header}) {
    auto s = make_session(Protocol::http, t.config());
    Driver d(*s);
    d.feed(req);
    EXPECT_EQ(d.codes, (Codes{400})) << req;
    EXPECT_TRUE(d.closed) << req;
  }
  // The same length twice is one length; HTTP/1.0 needs no Host.
  for (const char* ok : {"GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
                         "GET /hello.txt HTTP/1.0\r\n\r\n"}) {
    auto s = make_session(Protocol::http, t.config());
    Driver d(*s);
    d.feed(ok);
    EXPECT_EQ(d.codes, (Codes{200})) << ok;
  }
  auto s = make_session(Protocol::http, t.config());
  Driver d(*s);
  d.feed("GET /hello.txt\r\n");  // no blank line will ever come
  EXPECT_EQ(d.codes, (Codes{400}));
  EXPECT_TRUE(d.closed);
}

TEST_F(HttpFixture, NotFoundAndTraversal) {
  EXPECT_EQ(one("GET /missing.txt HTTP/1.1\r\nHost: t\r\n\r\n").status, 404);
  for (const char* p : {"/%2e%2e/%2e%2e/etc/passwd", "/../../etc/passwd", "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
                        "/sub/../../../etc/passwd", "/escape_file", "/abs_passwd", "/escape_dir/secret.txt",
                        "/sub/up_escape", "/escape_dir/", "/fifo"}) {
    auto r = one(std::string("GET ") + p + " HTTP/1.1\r\nHost: t\r\n\r\n");
    EXPECT_EQ(r.status, 404) << p;
    EXPECT_EQ(r.body.find("root:"), std::string::npos) << p;
    EXPECT_EQ(r.body.find("SECRET"), std::string::npos) << p;
  }
  EXPECT_FALSE(d.closed);
  // The inside link and absolute-form targets work.
  EXPECT_EQ(one("GET /inner.txt HTTP/1.1\r\nHost: t\r\n\r\n").body, "hello, world\n");
  EXPECT_EQ(one("GET http://localhost:8080/hello.txt HTTP/1.1\r\nHost: t\r\n\r\n").body, "hello, world\n");
}

TEST(Http, HeaderSectionTooLarge) {
  TempJail t;
  {
    // Complete, but over the limit.
    auto s = make_session(Protocol::http, t.config());
    Driver d(*s);
    d.feed("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(kHttpHeaderLimit, 'a') + "\r\n\r\n");
    EXPECT_EQ(d.codes, (Codes{431}));
    EXPECT_TRUE(d.closed);
  }
  {
    // Never ends: refused as soon as the limit is passed.
    auto s = make_session(Protocol::http, t.config());
    Driver d(*s);
    d.feed("GET / HTTP/1.1\r\nHost: t\r\n");
    for (int i = 0; i < 200 && !d.closed; ++i) d.feed("X-Header-" + std::to_string(i) + ": " + std::string(100, 'v') + "\r\n");
    EXPECT_EQ(d.codes, (Codes{431}));
    EXPECT_TRUE(d.closed);
  }
  {
    // Just under the limit is fine.
    auto s = make_session(Protocol::http, t.config());
    Driver d(*s);
    std::string req = "GET /hello.txt HTTP/1.1\r\nHost: t\r\nX-Pad: ";
    req += std::string(kHttpHeaderLimit - req.size() - 2, 'p') + "\r\n\r\n";
    d.feed(req);
    EXPECT_EQ(d.codes, (Codes{200}));
  }
}

TEST(Http, VersionNotSupported) {
  TempJail t;
  for (const char* v : {"HTTP/2.0", "HTTP/0.9", "HTTP/1.2"}) {
    auto s = make_session(Protocol::http, t.config());
    Driver d(*s);
    d.feed(std::string("GET / ") + v + "\r\n\r\n");
    EXPECT_EQ(d.codes, (Codes{505})) << v;
    EXPECT_TRUE(d.closed);
  }
}

TEST_F(HttpFixture, TeachingEndpoints) {
  auto w = one("GET /work?ms=150 HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(w.status, 200);
  const Actions& b = d.batches.back();
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].kind, ActionKind::request);
  EXPECT_EQ(b[0].bytes, "GET /work?ms=150");
  EXPECT_EQ(b[1].kind, ActionKind::work);
  EXPECT_EQ(b[1].ms, 150);
  EXPECT_EQ(b[2].kind, ActionKind::send);
  EXPECT_EQ(w.body, "worked 150 ms\n");

  one("GET /sleep?ms=99999999 HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(d.batches.back()[1].kind, ActionKind::sleep);
  EXPECT_EQ(d.batches.back()[1].ms, kTeachingCapMs);
  one("GET /sleep?x=1&ms=20 HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(d.batches.back()[1].ms, 20);

  for (const char* bad : {"/work", "/work?ms=", "/work?ms=abc", "/work?ms=-1", "/sleep?ms=1.5", "/sleep?mss=3"}) {
    auto r = one(std::string("GET ") + bad + " HTTP/1.1\r\nHost: t\r\n\r\n");
    EXPECT_EQ(r.status, 400) << bad;
    for (const auto& a : d.batches.back()) {
      EXPECT_NE(a.kind, ActionKind::work);
      EXPECT_NE(a.kind, ActionKind::sleep);
    }
  }
  EXPECT_FALSE(d.closed);  // a bad teaching argument does not end the connection
}

TEST_F(HttpFixture, BareLfAndLeadingEmptyLines) {
  EXPECT_EQ(one("\r\nGET /hello.txt HTTP/1.1\nHost: x\n\n").body, "hello, world\n");
}

TEST_F(HttpFixture, Timeout) {
  d.run(session->timed_out());
  EXPECT_TRUE(d.codes.empty());  // idle keep-alive: just close
  EXPECT_TRUE(d.closed);
  auto s2 = make_session(Protocol::http, jail.config());
  Driver d2(*s2);
  d2.feed("GET /hel");
  d2.run(s2->timed_out());
  EXPECT_EQ(d2.codes, (Codes{408}));
  EXPECT_TRUE(d2.closed);
  EXPECT_FALSE(s2->next());
}

TEST_F(HttpFixture, PendingInputIsAPartialRequestHead) {
  EXPECT_FALSE(session->pending_input());
  d.feed("\r\n");
  EXPECT_FALSE(session->pending_input()) << "an empty line before a request is not a request";
  d.feed("GET /hello.txt HTTP/1.1\r\nHo");
  EXPECT_TRUE(session->pending_input());
  d.feed("st: x\r\n");
  EXPECT_TRUE(session->pending_input()) << "the head has not ended";
  EXPECT_EQ(one("\r\n").status, 200);
  EXPECT_FALSE(session->pending_input());
  // Pipelined: one whole request, then the start of the next.
  EXPECT_EQ(one("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /hel").status, 200);
  EXPECT_TRUE(session->pending_input());
}

// The request deadline's reply: 408 Request Timeout, then close.
TEST_F(HttpFixture, AnIncompleteRequestAtItsDeadlineGets408AndClose) {
  d.feed("GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Slow: a");
  ASSERT_TRUE(session->pending_input());
  d.run(session->timed_out());
  ASSERT_EQ(d.codes, (Codes{408}));
  const std::string reply = d.last_reply();
  EXPECT_EQ(reply.rfind("HTTP/1.1 408 Request Timeout\r\n", 0), 0u) << reply;
  EXPECT_NE(reply.find("Connection: close\r\n"), std::string::npos) << reply;
  EXPECT_TRUE(d.closed);
  EXPECT_TRUE(session->closing());
  EXPECT_FALSE(session->pending_input());
  // Only empty lines sent: no request to answer, just the close.
  auto s2 = make_session(Protocol::http, jail.config());
  Driver d2(*s2);
  d2.feed("\r\n\r\n");
  d2.run(s2->timed_out());
  EXPECT_TRUE(d2.codes.empty());
  EXPECT_TRUE(d2.closed);
}

// ------------------------------------------------------ 7. assets/ftp-root

TEST(Assets, FtpRootServesItsFiles) {
  fs::path root = fs::path(SOCKSCOPE_ASSETS) / "ftp-root";
  SessionConfig c;
  c.root = root;
  auto s = make_session(Protocol::ftp, c);
  Driver d(*s);
  d.run(s->greeting());
  EXPECT_EQ(d.feed("USER anonymous\r\nPASS x\r\nSYST\r\nTYPE I\r\nEPSV\r\nLIST\r\n"), (Codes{331, 230, 215, 200, 229, 150, 226}));
  for (const char* n : {" hello.txt\r\n", " data.bin\r\n", " pub\r\n"}) {
    EXPECT_NE(d.transfers.back().find(n), std::string::npos) << n;
  }
  std::string data = read_file(root / "data.bin");
  EXPECT_GE(data.size(), 200u * 1024);
  EXPECT_LE(data.size(), 500u * 1024);
  std::vector<bool> seen(256);
  for (char c : data) seen[static_cast<unsigned char>(c)] = true;
  EXPECT_EQ(std::count(seen.begin(), seen.end(), true), 256);
  EXPECT_GT(std::count(data.begin(), data.end(), '\r'), 1000);
  EXPECT_GT(std::count(data.begin(), data.end(), '\n'), 1000);
  EXPECT_EQ(d.feed("SIZE data.bin\r\nEPSV\r\nRETR data.bin\r\n"), (Codes{213, 229, 150, 226}));
  EXPECT_EQ(d.transfers.back(), data);
  EXPECT_EQ(d.feed("CWD pub\r\nEPSV\r\nRETR my notes.txt\r\n"), (Codes{250, 229, 150, 226}));
  EXPECT_EQ(d.transfers.back(), read_file(root / "pub" / "my notes.txt"));
  EXPECT_EQ(d.feed("EPSV\r\nNLST\r\n"), (Codes{229, 150, 226}));
  EXPECT_EQ(d.transfers.back(), "my notes.txt\r\nnotes.txt\r\nreadme.txt\r\n");
  EXPECT_EQ(d.feed("RETR ../../../etc/passwd\r\n"), (Codes{425}));
  EXPECT_EQ(d.feed("EPSV\r\nRETR ../../../etc/passwd\r\n"), (Codes{229, 550}));

  auto h = make_session(Protocol::http, c);
  Driver hd(*h);
  hd.feed("GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /pub/my%20notes.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(hd.codes, (Codes{200, 200}));
  EXPECT_NE(hd.control.find(read_file(root / "hello.txt")), std::string::npos);
  EXPECT_NE(hd.control.find(read_file(root / "pub" / "my notes.txt")), std::string::npos);
  EXPECT_TRUE(hd.closed);
}
