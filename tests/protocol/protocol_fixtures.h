// The protocol tests' fixtures: a temporary jail (with hostile symlinks, a
// FIFO, an old file) and a driver that runs a session's actions the way a
// server does. Strings only, no sockets.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/protocol.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;

namespace sockscope::protocol::testing_fixture {

inline void write_file(const fs::path& p, const std::string& content) {
  std::ofstream f(p, std::ios::binary);
  f << content;
}

inline std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::string binary_content() {
  // Every byte value, with CR and LF runs a line-ending rewrite would change.
  std::string s;
  for (int round = 0; round < 40; ++round) {
    for (int b = 0; b < 256; ++b) s += static_cast<char>(b);
    s += "\r\n\n\r";
  }
  return s;
}

// A jail in a fresh temp dir, next to an "outside" dir the jail must never
// reach:
//   <base>/outside/secret.txt        "TOP SECRET"
//   <base>/jail/hello.txt            "hello, world\n"
//   <base>/jail/data.bin             binary_content()
//   <base>/jail/sub/a file.txt       "spaced\n"
//   <base>/jail/sub/deeper/x.txt
//   <base>/jail/my dir/              (name with a space)
//   <base>/jail/old.txt              mtime in 2020
//   <base>/jail/inner.txt -> hello.txt            (stays inside: allowed)
//   <base>/jail/escape_dir -> ../outside          (relative escape)
//   <base>/jail/escape_file -> ../outside/secret.txt
//   <base>/jail/abs_passwd -> /etc/passwd         (absolute escape)
//   <base>/jail/sub/up_escape -> ../../outside/secret.txt
//   <base>/jail/fifo                  (a FIFO: must not block, never served)
struct TempJail {
  sockscope::test::TempDir dir{"sockscope-protocol"};
  fs::path base = dir.path();
  fs::path root = base / "jail";
  TempJail() {
    fs::create_directories(base / "outside");
    fs::create_directories(root / "sub" / "deeper");
    fs::create_directories(root / "my dir");
    write_file(base / "outside" / "secret.txt", "TOP SECRET\n");
    write_file(root / "hello.txt", "hello, world\n");
    write_file(root / "data.bin", binary_content());
    write_file(root / "sub" / "a file.txt", "spaced\n");
    write_file(root / "sub" / "deeper" / "x.txt", "x\n");
    write_file(root / "my dir" / "inside.txt", "in a spaced dir\n");
    write_file(root / "old.txt", "old\n");
    struct timeval tv[2] = {{1577836800, 0}, {1577836800, 0}};  // 2020-01-01 00:00:00 UTC
    ::utimes((root / "old.txt").c_str(), tv);
    fs::create_symlink("hello.txt", root / "inner.txt");
    fs::create_symlink("../outside", root / "escape_dir");
    fs::create_symlink("../outside/secret.txt", root / "escape_file");
    fs::create_symlink("/etc/passwd", root / "abs_passwd");
    fs::create_symlink("../../outside/secret.txt", root / "sub" / "up_escape");
    ::mkfifo((root / "fifo").c_str(), 0644);
  }
  SessionConfig config() const {
    SessionConfig c;
    c.root = root;
    return c;
  }
};

// Runs actions the way every server does (protocol.h): in order; open_passive
// is answered with passive_opened(port); a failed transfer skips the rest of
// the batch and runs transfer_failed(); stop after close.
struct Driver {
  Session& s;
  std::uint16_t next_port = 40000;
  bool fail_transfers = false;
  bool fail_passive = false;
  std::string control;                 // every reply byte, in order
  std::vector<int> codes;              // codes sent since the last feed()
  std::vector<std::string> transfers;  // data connection payloads
  std::vector<Action> log;             // every action run
  std::vector<Actions> batches;        // what each next() returned
  bool closed = false;

  explicit Driver(Session& session) : s(session) {}

  void run(const Actions& actions) {
    for (const auto& a : actions) {
      log.push_back(a);
      switch (a.kind) {
        case ActionKind::send:
          control += a.bytes;
          codes.push_back(a.code);
          break;
        case ActionKind::open_passive:
          // A server whose listen() fails answers with transfer_failed().
          run(fail_passive ? s.transfer_failed() : s.passive_opened(next_port++));
          break;
        case ActionKind::transfer:
          if (fail_transfers) {
            run(s.transfer_failed());
            return;
          }
          transfers.push_back(a.bytes);
          break;
        case ActionKind::close:
          closed = true;
          return;
        default:
          break;
      }
    }
  }

  std::vector<int> feed(std::string_view bytes) {
    codes.clear();
    s.receive(bytes);
    while (auto a = s.next()) {
      batches.push_back(*a);
      run(*a);
    }
    return codes;
  }

  // The text of the last reply sent.
  std::string last_reply() const {
    for (auto it = log.rbegin(); it != log.rend(); ++it) {
      if (it->kind == ActionKind::send) return it->bytes;
    }
    return {};
  }
  std::vector<std::string> requests() const {
    std::vector<std::string> out;
    for (const auto& a : log) {
      if (a.kind == ActionKind::request) out.push_back(a.bytes);
    }
    return out;
  }
};

using Codes = std::vector<int>;

// A logged-in FTP session over a TempJail.
struct FtpFixture : ::testing::Test {
  TempJail jail;
  std::unique_ptr<Session> session = make_session(Protocol::ftp, jail.config());
  Driver d{*session};
  void SetUp() override {
    d.run(session->greeting());
    ASSERT_EQ(d.feed("USER anonymous\r\nPASS a@b\r\n"), (Codes{331, 230}));
  }
};

}  // namespace sockscope::protocol::testing_fixture
