// libFuzzer harness: the FTP session (engine/protocol/ftp_session.cpp) fed a
// client's bytes in chunks, driven as a server drives it (session_driver.h:
// the input's format, and the checks every protocol shares).
//
// FTP's own rules, checked on every batch of actions:
//  * a reply is one or more CRLF lines, with no bare CR or LF inside (a client
//    must not be able to forge a reply line), starting with its 3-digit code
//    and ending with the line "NNN text";
//  * the answers to the server's calls are one reply each: 220 greeting,
//    227/229 passive_opened, 425 transfer_failed, 200 counted, 421 timed_out;
//  * a data transfer sits between its 150 and its 226;
//  * nothing from outside the jail in a listing sent on the control
//    connection (STAT PATH), as in a transfer (session_driver.h).
#include <fuzzer/FuzzedDataProvider.h>

#include "protocol/ftp_session.h"
#include "session_driver.h"

namespace {

using namespace sockscope;
using protocol::Action;
using protocol::ActionKind;

void check_reply(const Action& a) {
  const std::string& b = a.bytes;
  const std::string code = std::to_string(a.code);
  FUZZ_CHECK(a.code >= 100 && a.code <= 599, b);
  FUZZ_CHECK(b.size() >= 6 && b.compare(b.size() - 2, 2, "\r\n") == 0, "a reply ends with CRLF: " + b);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (b[i] == '\r') FUZZ_CHECK(i + 1 < b.size() && b[i + 1] == '\n', "bare CR in a reply: " + b);
    if (b[i] == '\n') FUZZ_CHECK(i > 0 && b[i - 1] == '\r', "bare LF in a reply: " + b);
  }
  FUZZ_CHECK(b.compare(0, 3, code) == 0 && (b[3] == ' ' || b[3] == '-'), b);
  // The last line closes a multi-line reply: "NNN " + text.
  const std::size_t last = b.rfind("\r\n", b.size() - 3);
  const std::size_t start = last == std::string::npos ? 0 : last + 2;
  FUZZ_CHECK(b.compare(start, 4, code + " ") == 0, "the last line must be '" + code + " ...': " + b);
}

// Each of the session's answers to the server is one reply of a known code.
int only_reply(const protocol::Actions& actions) {
  FUZZ_CHECK(!actions.empty() && actions[0].kind == ActionKind::send);
  return actions[0].code;
}

void check_batch(fuzz::Origin from, const protocol::Actions& actions) {
  for (std::size_t i = 0; i < actions.size(); ++i) {
    const Action& a = actions[i];
    if (a.kind == ActionKind::send) check_reply(a);
    if (a.kind == ActionKind::send && a.code == 213) fuzz::check_no_leak(a.bytes);  // STAT PATH: a listing
    if (a.kind == ActionKind::transfer) {
      FUZZ_CHECK(i > 0 && actions[i - 1].kind == ActionKind::send && actions[i - 1].code == 150);
      FUZZ_CHECK(i + 1 < actions.size() && actions[i + 1].kind == ActionKind::send && actions[i + 1].code == 226);
    }
  }
  using fuzz::Origin;
  switch (from) {
    case Origin::greeting: FUZZ_CHECK(actions.size() == 1 && only_reply(actions) == 220); break;
    case Origin::passive_opened: {
      const int c = only_reply(actions);
      FUZZ_CHECK(actions.size() == 1 && (c == 227 || c == 229), actions[0].bytes);
      break;
    }
    case Origin::transfer_failed: FUZZ_CHECK(actions.size() == 1 && only_reply(actions) == 425); break;
    case Origin::counted: FUZZ_CHECK(actions.size() == 1 && only_reply(actions) == 200); break;
    case Origin::idle:
    case Origin::deadline: FUZZ_CHECK(actions.size() == 2 && only_reply(actions) == 421); break;
    case Origin::next: FUZZ_CHECK(!actions.empty(), "next() gave an empty batch"); break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const fuzz::Plan plan(in.ConsumeIntegral<std::uint8_t>());
  protocol::SessionConfig cfg;
  cfg.root = fuzz::jail_root();
  cfg.local_ip = plan.local_ip;
  // make_session() is what the servers call; the realpath jail is its ENOSYS
  // fallback, reached only through the class itself.
  std::unique_ptr<protocol::Session> s =
      plan.realpath_jail ? std::make_unique<protocol::FtpSession>(cfg, protocol::Jail::Resolver::realpath)
                         : protocol::make_session(protocol::Protocol::ftp, cfg);
  fuzz::SessionDriver driver(*s, plan, check_batch);
  driver.converse(in);
  return 0;
}
