// The FTP and HTTP harnesses' shared half: a jail to serve, and a driver that
// runs a Session's actions the way every server does (protocol.h), checking
// what must hold whatever the client sends.
//
// The input is the client's byte stream, with the server's side of the story
// taken from its END (FuzzedDataProvider reads integers from the back):
//   last byte         flags: see Plan (bit 0 first)
//   then, per chunk   its length (1..255; 0 = the rest of the input)
// so a transcript with two zero bytes appended is "send it all at once, every
// transfer works" (the seed corpora are written that way).
#pragma once

#include <fuzzer/FuzzedDataProvider.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>

#include "fuzz_check.h"
#include "protocol/protocol.h"

namespace sockscope::fuzz {

namespace fs = std::filesystem;

// Content the jail must never hand out: it sits beside the root, reachable
// only through symlinks that escape (the tests' TempJail, in small).
inline constexpr std::string_view kSecret = "SOCKSCOPE-FUZZ-OUTSIDE-SECRET";

// Checked only on what the session read from files (transfers, listings,
// bodies): the fuzzer soon learns the secret from this very comparison, and
// echoing it back in an error reply or a trace line is no leak.
inline void check_no_leak(std::string_view from_files) {
  FUZZ_CHECK(from_files.find(kSecret) == std::string_view::npos, "the jail leaked the outside file");
  FUZZ_CHECK(from_files.find("root:x:0:0:") == std::string_view::npos, "the jail leaked /etc/passwd");
}

// <base>/jail: hello.txt, data.bin (every byte value), sub/a file.txt, my dir/,
// a FIFO, an inside symlink and three escaping ones. Made once per process
// and removed at exit (a crash leaves it in $TMPDIR).
inline const fs::path& jail_root() {
  static const fs::path root = [] {
    std::string tmpl = (fs::temp_directory_path() / "sockscope-fuzz-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    const fs::path base = tmpl;
    const fs::path r = base / "jail";
    fs::create_directories(base / "outside");
    fs::create_directories(r / "sub");
    fs::create_directories(r / "my dir");
    std::ofstream(base / "outside" / "secret.txt") << kSecret << "\n";
    std::ofstream(r / "hello.txt") << "hello, world\n";
    std::string bytes;
    for (int b = 0; b < 256; ++b) bytes += static_cast<char>(b);
    std::ofstream(r / "data.bin", std::ios::binary) << bytes << "\r\n\n\r";
    std::ofstream(r / "sub" / "a file.txt") << "spaced\n";
    fs::create_symlink("hello.txt", r / "inner.txt");
    fs::create_symlink("../outside", r / "escape_dir");
    fs::create_symlink("../outside/secret.txt", r / "escape_file");
    fs::create_symlink("/etc/passwd", r / "abs_passwd");
    ::mkfifo((r / "fifo").c_str(), 0644);
    static fs::path to_remove = base;
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(to_remove, ec);
    });
    return r;
  }();
  return root;
}

// The server's side, from the input's last byte.
struct Plan {
  bool fail_passive = false;    // the listener cannot be opened: transfer_failed()
  bool fail_transfers = false;  // every data connection fails: transfer_failed()
  bool time_out = false;        // after the last chunk, the idle timeout fires
  bool deadline = false;        // the request deadline fires after the first chunk
                                // that leaves part of a command pending (slowloris)
  bool realpath_jail = false;   // the jail's ENOSYS fallback instead of openat2
  const char* local_ip = "127.0.0.1";
  explicit Plan(std::uint8_t f) {
    static const char* const kIps[] = {"127.0.0.1", "::1", "::ffff:127.0.0.1", "10.20.30.40"};
    fail_passive = f & 1;
    fail_transfers = f & 2;
    time_out = f & 4;
    realpath_jail = f & 8;
    local_ip = kIps[(f >> 4) & 3];
    deadline = f & 64;
  }
};

// Which call of the Session gave a list of actions. timed_out() is `idle`
// with nothing pending, `deadline` with part of a command pending.
enum class Origin { greeting, next, passive_opened, transfer_failed, counted, idle, deadline };

// Runs actions as a server does and checks the protocol-independent rules.
// `check_batch` sees each list of actions before it runs (the protocol's
// own rules).
class SessionDriver {
 public:
  using BatchCheck = std::function<void(Origin, const protocol::Actions&)>;
  SessionDriver(protocol::Session& s, const Plan& plan, BatchCheck check_batch)
      : s_(s), plan_(plan), check_(std::move(check_batch)) {}

  bool closed() const { return closed_; }

  void time_out() {
    const Origin why = s_.pending_input() ? Origin::deadline : Origin::idle;
    run(why, s_.timed_out());
    FUZZ_CHECK(closed_, "a timeout must close");
  }

  void run(Origin from, const protocol::Actions& actions) {
    check_(from, actions);
    for (std::size_t i = 0; i < actions.size(); ++i) {
      const protocol::Action& a = actions[i];
      FUZZ_CHECK(!closed_, "an action after close");
      switch (a.kind) {
        case protocol::ActionKind::request:
          for (char c : a.bytes) FUZZ_CHECK(c >= 0x20 && c < 0x7f, "trace text must be printable: " + a.bytes);
          break;
        case protocol::ActionKind::work:
        case protocol::ActionKind::sleep:
          FUZZ_CHECK(a.ms >= 0 && a.ms <= protocol::kTeachingCapMs);
          break;
        case protocol::ActionKind::open_passive:
          if (plan_.fail_passive) run(Origin::transfer_failed, s_.transfer_failed());
          else run(Origin::passive_opened, s_.passive_opened(next_port_++));
          break;
        case protocol::ActionKind::transfer:
          check_no_leak(a.bytes);
          // A failed transfer skips the rest of its batch (the 226).
          if (plan_.fail_transfers) return run(Origin::transfer_failed, s_.transfer_failed());
          break;
        case protocol::ActionKind::count:
          run(Origin::counted, s_.counted(++counter_));
          break;
        case protocol::ActionKind::close:
          FUZZ_CHECK(i + 1 == actions.size(), "close must end its batch");
          FUZZ_CHECK(s_.closing());
          closed_ = true;
          break;
        case protocol::ActionKind::send:
          break;
      }
    }
  }

  // The whole conversation: greeting, the chunks, maybe a timeout.
  void converse(FuzzedDataProvider& in) {
    run(Origin::greeting, s_.greeting());
    while (!closed_ && in.remaining_bytes() > 0) {
      const std::size_t n = in.ConsumeIntegral<std::uint8_t>();
      s_.receive(n == 0 ? in.ConsumeRemainingBytesAsString() : in.ConsumeBytesAsString(n));
      while (auto actions = s_.next()) run(Origin::next, *actions);
      if (!closed_ && plan_.deadline && s_.pending_input()) time_out();
    }
    if (!closed_ && plan_.time_out) time_out();
    if (closed_) {
      // Once closing, nothing more: bytes are ignored, next() has nothing.
      s_.receive("NOOP\r\nGET / HTTP/1.0\r\n\r\n");
      FUZZ_CHECK(!s_.next().has_value(), "next() after close");
      FUZZ_CHECK(!s_.pending_input(), "pending input after close");
    }
  }

 private:
  protocol::Session& s_;
  Plan plan_;
  BatchCheck check_;
  bool closed_ = false;
  std::uint16_t next_port_ = 40000;
  std::int64_t counter_ = 0;
};

}  // namespace sockscope::fuzz
