// FTP session. Sections:
//   1. reply helpers and line cleaning (Telnet IAC, NUL)
//   2. the Session interface (greeting, receive, next, passive/transfer hooks)
//   3. dispatch: login gate, verb table
//   4. handlers
#include "protocol/ftp_session.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>

namespace sockscope::protocol {

// ---------------------------------------------------------------- 1. helpers
namespace {

Action reply(int code, std::string_view text) {
  std::string b = std::to_string(code);
  b += ' ';
  b += text;
  b += "\r\n";
  return Action{ActionKind::send, std::move(b), code, 0};
}

// "211-first\r\n line\r\n211 last\r\n": the RFC 959 multi-line form.
Action multiline(int code, std::string_view first, const std::vector<std::string>& middle, std::string_view last) {
  std::string c = std::to_string(code);
  std::string b = c + "-" + std::string(first) + "\r\n";
  for (const auto& m : middle) {
    // A middle line must not look like the closing "NNN " line.
    b += ' ';
    b += m;
    b += "\r\n";
  }
  b += c + " " + std::string(last) + "\r\n";
  return Action{ActionKind::send, std::move(b), code, 0};
}

Action request(std::string text) { return Action{ActionKind::request, std::move(text), 0, 0}; }

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// A verb as it may appear in a trace record: printable, short.
std::string printable_verb(std::string_view v) {
  std::string out;
  for (char c : v.substr(0, 16)) {
    auto u = static_cast<unsigned char>(c);
    out += (u >= 0x21 && u < 0x7f) ? static_cast<char>(std::toupper(u)) : '?';
  }
  return out;
}

// Removes Telnet commands (RFC 854) and NUL bytes. Clients send IAC IP IAC DM
// before ABOR; a raw telnet or nc user may send option negotiation. An FTP
// server is not a Telnet terminal, so all of it is dropped; IAC IAC is a
// literal 0xFF byte.
std::string clean_line(std::string_view in) {
  constexpr unsigned char kIac = 255, kSb = 250, kSe = 240, kWill = 251, kDont = 254;
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    auto c = static_cast<unsigned char>(in[i]);
    if (c == 0) continue;
    if (c != kIac) {
      out += static_cast<char>(c);
      continue;
    }
    if (i + 1 >= in.size()) break;  // a lone IAC at the end
    auto cmd = static_cast<unsigned char>(in[i + 1]);
    if (cmd == kIac) {
      out += static_cast<char>(kIac);
      ++i;
    } else if (cmd >= kWill && cmd <= kDont) {
      i += 2;  // IAC WILL/WONT/DO/DONT <option>
    } else if (cmd == kSb) {
      // Subnegotiation runs to IAC SE.
      std::size_t j = i + 2;
      while (j + 1 < in.size() && !(static_cast<unsigned char>(in[j]) == kIac &&
                                    static_cast<unsigned char>(in[j + 1]) == kSe)) {
        ++j;
      }
      i = j + 1;
    } else {
      ++i;  // IAC IP, IAC DM, IAC AYT, ...: two bytes
    }
  }
  return out;
}

// A decimal number with nothing else around it, or nullopt.
std::optional<std::uint64_t> parse_uint(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string quote_path(const std::string& p) {
  // RFC 959: a double quote inside the 257 path is doubled.
  std::string out = "\"";
  for (char c : p) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + "\"";
}

// Verbs a client may send before logging in: the login itself, and what
// lftp/tnftp ask before it (FEAT, OPTS UTF8, AUTH TLS).
bool allowed_before_login(const std::string& v) {
  return v == "USER" || v == "PASS" || v == "QUIT" || v == "FEAT" || v == "SYST" || v == "HELP" ||
         v == "NOOP" || v == "AUTH" || v == "OPTS";
}

bool known_verb(const std::string& v) {
  static const char* const kVerbs[] = {
      "USER", "PASS", "SYST", "FEAT", "OPTS", "PWD",  "XPWD", "CWD",  "XCWD", "CDUP", "XCUP", "TYPE",
      "MODE", "STRU", "EPSV", "PASV", "LIST", "NLST", "RETR", "SIZE", "MDTM", "REST", "NOOP", "QUIT",
      "HELP", "STAT", "SITE", "ABOR", "PORT", "EPRT", "LPRT", "LPSV", "AUTH", "PBSZ", "PROT", "STOR",
      "DELE", "MKD",  "XMKD", "RMD",  "XRMD", "RNFR", "RNTO", "APPE", "STOU", "ALLO", "ACCT", "REIN"};
  return std::find(std::begin(kVerbs), std::end(kVerbs), v) != std::end(kVerbs);
}

}  // namespace

// ------------------------------------------------------- 2. Session interface

FtpSession::FtpSession(const SessionConfig& cfg, Jail::Resolver resolver) : cfg_(cfg), jail_(cfg.root, resolver) {}

Actions FtpSession::greeting() { return {reply(220, "OHAI")}; }

void FtpSession::receive(std::string_view bytes) {
  if (closing_) return;
  buffer_.append(bytes);
}

std::optional<Actions> FtpSession::next() {
  if (closing_) return std::nullopt;
  std::size_t nl = buffer_.find('\n');
  // vsftpd's rule: a line longer than the cap ends the session. Without it a
  // client could grow our buffer without bound by never sending a newline.
  // (+1 leaves room for the CR of a CRLF whose LF has not arrived yet.)
  bool too_long = nl == std::string::npos ? buffer_.size() > kFtpLineLimit + 1 : nl > kFtpLineLimit + 1;
  if (!too_long && nl != std::string::npos) {
    std::string_view raw(buffer_.data(), nl);
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    too_long = raw.size() > kFtpLineLimit;
  }
  if (too_long) {
    drop_input();
    closing_ = true;
    return Actions{reply(500, "Input line too long."), Action{ActionKind::close, {}, 0, 0}};
  }
  if (nl == std::string::npos) return std::nullopt;
  std::string raw = buffer_.substr(0, nl);
  buffer_.erase(0, nl + 1);
  if (!raw.empty() && raw.back() == '\r') raw.pop_back();
  return command(clean_line(raw));
}

Actions FtpSession::passive_opened(std::uint16_t port) {
  Passive kind = pending_ == Passive::none ? Passive::epsv : pending_;
  pending_ = Passive::none;
  passive_ready_ = true;
  if (kind == Passive::epsv) {
    return {reply(229, "Entering Extended Passive Mode (|||" + std::to_string(port) + "|)")};
  }
  // 227 must carry the control connection's own local address: tnftp
  // refuses ("Passive mode address mismatch") anything else.
  std::string ip = cfg_.local_ip;
  if (ip.rfind("::ffff:", 0) == 0) ip = ip.substr(7);
  std::replace(ip.begin(), ip.end(), '.', ',');
  return {reply(227, "Entering Passive Mode (" + ip + "," + std::to_string(port >> 8) + "," +
                         std::to_string(port & 0xff) + ").")};
}

Actions FtpSession::transfer_failed() {
  // Also the answer when the passive listener itself could not be opened.
  pending_ = Passive::none;
  passive_ready_ = false;
  return {reply(425, "Failed to establish data connection.")};
}

Actions FtpSession::timed_out() {
  closing_ = true;
  drop_input();
  return {reply(421, "Timeout."), Action{ActionKind::close, {}, 0, 0}};
}

// --------------------------------------------------------------- 3. dispatch

Actions FtpSession::command(const std::string& line) {
  Actions out;
  if (line.empty()) {
    out.push_back(reply(500, "Empty command."));
    return out;
  }
  // The argument is everything after the first space: names may hold spaces.
  std::size_t sp = line.find(' ');
  std::string verb = upper(line.substr(0, sp));
  std::string arg = sp == std::string::npos ? std::string() : line.substr(sp + 1);

  std::string trace_text = printable_verb(verb);
  if (verb == "SITE" && !arg.empty()) trace_text += " " + printable_verb(arg.substr(0, arg.find(' ')));
  out.push_back(request(trace_text));

  if (!known_verb(verb)) {
    out.push_back(reply(500, "Unknown command."));
  } else if (!logged_in_ && !allowed_before_login(verb)) {
    out.push_back(reply(530, "Please login with USER and PASS."));
  } else {
    dispatch(verb, arg, out);
  }
  return out;
}

void FtpSession::dispatch(const std::string& verb, const std::string& arg, Actions& out) {
  if (verb == "USER") return do_user(arg, out);
  if (verb == "PASS") return do_pass(out);
  if (verb == "QUIT") {
    closing_ = true;
    drop_input();
    out.push_back(reply(221, "Goodbye."));
    out.push_back(Action{ActionKind::close, {}, 0, 0});
    return;
  }
  if (verb == "SYST") return out.push_back(reply(215, "UNIX Type: L8"));
  if (verb == "FEAT") {
    return out.push_back(multiline(211, "Features:", {"EPSV", "MDTM", "PASV", "REST STREAM", "SIZE", "UTF8"}, "End"));
  }
  if (verb == "OPTS") {
    if (upper(arg) == "UTF8 ON") return out.push_back(reply(200, "Always in UTF8 mode."));
    return out.push_back(reply(501, "Option not understood."));
  }
  if (verb == "NOOP") return out.push_back(reply(200, "NOOP ok."));
  if (verb == "HELP") {
    return out.push_back(multiline(214, "The following commands are recognized.",
                                   {"ABOR CDUP CWD EPSV FEAT HELP LIST MDTM MODE NLST NOOP OPTS PASS",
                                    "PASV PWD QUIT REST RETR SITE SIZE STAT STRU SYST TYPE USER"},
                                   "Help OK."));
  }
  // Refused on purpose: active mode lets a client aim our data connection at
  // any host and port (the "FTP bounce"), and we speak no TLS.
  if (verb == "PORT" || verb == "EPRT" || verb == "LPRT" || verb == "LPSV" || verb == "AUTH" || verb == "PBSZ" ||
      verb == "PROT") {
    return out.push_back(reply(502, "Command not implemented (passive mode only, no TLS)."));
  }
  if (verb == "STOR" || verb == "DELE" || verb == "MKD" || verb == "XMKD" || verb == "RMD" || verb == "XRMD" ||
      verb == "RNFR" || verb == "RNTO" || verb == "APPE" || verb == "STOU") {
    return out.push_back(reply(550, "Permission denied (read-only server)."));
  }
  if (verb == "ALLO") return out.push_back(reply(202, "ALLO not needed."));
  if (verb == "ACCT" || verb == "REIN") return out.push_back(reply(502, "Command not implemented."));
  if (verb == "PWD" || verb == "XPWD") return out.push_back(reply(257, quote_path(cwd_) + " is the current directory"));
  if (verb == "CWD" || verb == "XCWD") return do_cwd(arg, out);
  if (verb == "CDUP" || verb == "XCUP") return do_cwd("..", out);
  if (verb == "TYPE") return do_type(arg, out);
  if (verb == "MODE") {
    std::string m = upper(arg);
    if (m.empty()) return out.push_back(reply(501, "MODE needs an argument."));
    if (m == "S") return out.push_back(reply(200, "Mode set to S."));
    return out.push_back(reply(504, "Only MODE S is supported."));
  }
  if (verb == "STRU") {
    std::string s = upper(arg);
    if (s.empty()) return out.push_back(reply(501, "STRU needs an argument."));
    if (s == "F") return out.push_back(reply(200, "Structure set to F."));
    return out.push_back(reply(504, "Only STRU F is supported."));
  }
  if (verb == "EPSV") return do_passive(Passive::epsv, arg, out);
  if (verb == "PASV") return do_passive(Passive::pasv, arg, out);
  if (verb == "LIST") return do_list(false, arg, out);
  if (verb == "NLST") return do_list(true, arg, out);
  if (verb == "RETR") return do_retr(arg, out);
  if (verb == "SIZE") return do_size(arg, out);
  if (verb == "MDTM") return do_mdtm(arg, out);
  if (verb == "REST") return do_rest(arg, out);
  if (verb == "STAT") return do_stat(arg, out);
  if (verb == "SITE") return do_site(arg, out);
  // Transfers finish inside one action batch, so none is ever running when
  // ABOR is read: the RFC's "no transfer in progress" answer.
  if (verb == "ABOR") return out.push_back(reply(225, "No transfer to ABOR."));
  out.push_back(reply(500, "Unknown command."));
}

// --------------------------------------------------------------- 4. handlers

void FtpSession::do_user(const std::string& arg, Actions& out) {
  if (arg.empty()) return out.push_back(reply(501, "USER needs a name."));
  // Anonymous: any name is accepted, and a new USER starts a new login.
  user_given_ = true;
  logged_in_ = false;
  out.push_back(reply(331, "Please specify the password."));
}

void FtpSession::do_pass(Actions& out) {
  if (logged_in_) return out.push_back(reply(230, "Already logged in."));
  if (!user_given_) return out.push_back(reply(503, "Login with USER first."));
  logged_in_ = true;
  out.push_back(reply(230, "Login successful."));
}

void FtpSession::do_cwd(const std::string& arg, Actions& out) {
  if (arg.empty()) return out.push_back(reply(501, "CWD needs a directory."));
  std::string target = Jail::resolve(cwd_, arg);
  if (!jail_.is_dir(target)) return out.push_back(reply(550, "Failed to change directory."));
  cwd_ = target;
  out.push_back(reply(250, "Directory successfully changed."));
}

void FtpSession::do_type(const std::string& arg, Actions& out) {
  std::string t = upper(arg);
  if (t.empty()) return out.push_back(reply(501, "TYPE needs an argument."));
  if (t == "A" || t == "A N") {
    ascii_ = true;
    return out.push_back(reply(200, "Switching to ASCII mode."));
  }
  if (t == "I" || t == "L 8") {
    ascii_ = false;
    return out.push_back(reply(200, "Switching to Binary mode."));
  }
  out.push_back(reply(504, "Unsupported TYPE."));
}

void FtpSession::do_passive(Passive kind, const std::string& arg, Actions& out) {
  if (kind == Passive::epsv && !arg.empty()) {
    std::string a = upper(arg);
    if (a == "ALL") return out.push_back(reply(200, "EPSV ALL ok."));
    if (a != "1" && a != "2") return out.push_back(reply(501, "Bad EPSV argument."));
  }
  if (kind == Passive::pasv && cfg_.local_ip.find(':') != std::string::npos &&
      cfg_.local_ip.rfind("::ffff:", 0) != 0) {
    return out.push_back(reply(522, "PASV needs IPv4; use EPSV."));
  }
  // A new PASV/EPSV replaces any listener opened before and not yet used.
  pending_ = kind;
  passive_ready_ = false;
  out.push_back(Action{ActionKind::open_passive, {}, 0, 0});
}

bool FtpSession::listing(const std::string& vpath, bool names_only, std::string& out) const {
  out.clear();
  auto entry = jail_.stat(vpath);
  if (!entry) return false;
  std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  // Listing lines always end in CRLF (what vsftpd sends in either TYPE).
  if (!entry->is_dir) {
    out = (names_only ? entry->name : Jail::ls_line(*entry, now)) + "\r\n";
    return true;
  }
  auto entries = jail_.list(vpath);
  if (!entries) return false;
  for (const auto& e : *entries) {
    out += names_only ? e.name : Jail::ls_line(e, now);
    out += "\r\n";
  }
  return true;
}

void FtpSession::do_list(bool names_only, const std::string& arg, Actions& out) {
  if (!passive_ready_) return out.push_back(reply(425, "Use PASV or EPSV first."));
  // `ls` options such as "-la" (sent by some clients) are not path names.
  std::string path = arg;
  while (!path.empty() && path.front() == '-') {
    std::size_t sp = path.find(' ');
    path = sp == std::string::npos ? std::string() : path.substr(sp + 1);
  }
  std::string vpath = Jail::resolve(cwd_, path);
  std::string data;
  if (!listing(vpath, names_only, data)) return out.push_back(reply(550, "No such file or directory."));
  passive_ready_ = false;
  out.push_back(reply(150, "Here comes the directory listing."));
  out.push_back(Action{ActionKind::transfer, std::move(data), 0, 0});
  // The server closes the data socket before running this send, so the
  // client sees the end of the data before 226.
  out.push_back(reply(226, "Directory send OK."));
}

void FtpSession::do_retr(const std::string& arg, Actions& out) {
  std::uint64_t offset = rest_;
  rest_ = 0;  // a REST applies to the next RETR only
  if (arg.empty()) return out.push_back(reply(501, "RETR needs a file name."));
  if (!passive_ready_) return out.push_back(reply(425, "Use PASV or EPSV first."));
  std::string vpath = Jail::resolve(cwd_, arg);
  std::string data;
  JailError err = jail_.read_file(vpath, offset, kFtpRetrCap, data);
  if (err == JailError::too_large) return out.push_back(reply(550, "File too large to send."));
  if (err != JailError::none) return out.push_back(reply(550, "Failed to open file."));
  passive_ready_ = false;
  std::string name = vpath.substr(vpath.rfind('/') + 1);
  out.push_back(reply(150, std::string("Opening ") + (ascii_ ? "ASCII" : "BINARY") + " mode data connection for " +
                               name + " (" + std::to_string(data.size()) + " bytes)."));
  out.push_back(Action{ActionKind::transfer, std::move(data), 0, 0});
  out.push_back(reply(226, "Transfer complete."));
}

void FtpSession::do_size(const std::string& arg, Actions& out) {
  if (arg.empty()) return out.push_back(reply(501, "SIZE needs a file name."));
  auto e = jail_.stat(Jail::resolve(cwd_, arg));
  if (!e || e->is_dir) return out.push_back(reply(550, "Could not get file size."));
  out.push_back(reply(213, std::to_string(e->size)));
}

void FtpSession::do_mdtm(const std::string& arg, Actions& out) {
  if (arg.empty()) return out.push_back(reply(501, "MDTM needs a file name."));
  auto e = jail_.stat(Jail::resolve(cwd_, arg));
  if (!e || e->is_dir) return out.push_back(reply(550, "Could not get file modification time."));
  out.push_back(reply(213, Jail::mdtm(e->mtime)));
}

void FtpSession::do_rest(const std::string& arg, Actions& out) {
  auto n = parse_uint(arg);
  if (!n) return out.push_back(reply(501, "REST needs a byte offset."));
  rest_ = *n;
  out.push_back(reply(350, "Restart position accepted (" + std::to_string(*n) + ")."));
}

void FtpSession::do_stat(const std::string& arg, Actions& out) {
  if (arg.empty()) {
    return out.push_back(multiline(211, "FTP server status:",
                                   {"Connected to " + cfg_.peer_ip, "Logged in anonymously",
                                    std::string("TYPE: ") + (ascii_ ? "ASCII" : "BINARY"),
                                    "Current directory: " + cwd_, "sockscope FTP (read-only, passive only)"},
                                   "End of status"));
  }
  // STAT <path>: the listing over the control connection, no data socket.
  std::string data;
  if (!listing(Jail::resolve(cwd_, arg), false, data)) {
    return out.push_back(reply(550, "No such file or directory."));
  }
  std::string b = "213-Status follows:\r\n";
  std::size_t i = 0;
  while (i < data.size()) {
    std::size_t j = data.find("\r\n", i);
    b += ' ';
    b += data.substr(i, j - i);
    b += "\r\n";
    i = j + 2;
  }
  b += "213 End of status\r\n";
  out.push_back(Action{ActionKind::send, std::move(b), 213, 0});
}

void FtpSession::do_site(const std::string& arg, Actions& out) {
  std::size_t sp = arg.find(' ');
  std::string sub = upper(arg.substr(0, sp));
  std::string rest = sp == std::string::npos ? std::string() : arg.substr(sp + 1);
  if (sub == "HELP") {
    return out.push_back(multiline(214, "SITE commands (teaching):",
                                   {"SITE WORK <ms>   burn CPU in the handler",
                                    "SITE SLEEP <ms>  block in the handler",
                                    "SITE COUNT       add one to the server's visitor counter"},
                                   "Capped at " + std::to_string(kTeachingCapMs) + " ms."));
  }
  if (sub == "WORK" || sub == "SLEEP") {
    auto n = parse_uint(rest);
    if (!n) return out.push_back(reply(501, "SITE " + sub + " needs milliseconds, e.g. SITE " + sub + " 200."));
    int ms = static_cast<int>(std::min<std::uint64_t>(*n, static_cast<std::uint64_t>(kTeachingCapMs)));
    bool work = sub == "WORK";
    out.push_back(Action{work ? ActionKind::work : ActionKind::sleep, {}, 0, ms});
    return out.push_back(reply(200, std::string(work ? "Worked " : "Slept ") + std::to_string(ms) + " ms."));
  }
  if (sub == "COUNT") {
    // The counter is the server's shared state; the server updates it and
    // asks counted() for the reply.
    return out.push_back(Action{ActionKind::count, {}, 0, 0});
  }
  out.push_back(reply(500, "Unknown SITE command."));
}

Actions FtpSession::counted(std::int64_t value) {
  return {reply(200, "Visitor count: " + std::to_string(value) + ".")};
}

}  // namespace sockscope::protocol
