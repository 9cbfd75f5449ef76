// The JSON codec of a session: one event, one snapshot and the header line,
// shared by the writer (export.cpp) and the reader (import.cpp) through
// codec.h, so that the two cannot drift apart.
#include <cstdio>
#include <limits>
#include <type_traits>

#include "session/codec.h"
#include "session/export.h"

namespace sockscope::session {
namespace codec {

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // sequence cut short
    for (std::size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

std::string display_utf8(std::string_view s) {
  if (valid_utf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    // Take the longest valid sequence starting here, else one '?'.
    bool took = false;
    for (std::size_t n = 4; n >= 1; --n) {
      if (i + n <= s.size() && valid_utf8(s.substr(i, n)) && (n == 1 ? static_cast<unsigned char>(s[i]) < 0x80 : true)) {
        out.append(s.substr(i, n));
        i += n;
        took = true;
        break;
      }
    }
    if (!took) {
      out.push_back('?');
      ++i;
    }
  }
  return out;
}

std::string to_hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

bool from_hex(std::string_view hex, std::string& out) {
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2) return false;
  out.clear();
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = val(hex[i]), lo = val(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

ojson event_to_json(const trace::Event& e) {
  ojson j = {{"t", e.ts_ns}, {"pid", e.pid}, {"tid", e.tid}, {"kind", trace::kind_name(e.kind)},
            {"conn", e.conn}, {"a", e.a}, {"b", e.b}};
  if (e.flags != 0) j["flags"] = e.flags;
  auto text = e.text_view();
  if (!text.empty()) {
    if (valid_utf8(text))
      j["text"] = std::string(text);
    else
      j["text_hex"] = to_hex(text);  // every byte survives the round trip
  }
  return j;
}

void append_event_line(std::string& out, const trace::Event& e) {
  char buf[256];
  int n = std::snprintf(buf, sizeof buf, "{\"t\":%llu,\"pid\":%u,\"tid\":%u,\"kind\":\"%.*s\",\"conn\":%u,\"a\":%lld,\"b\":%lld",
                        static_cast<unsigned long long>(e.ts_ns), e.pid, e.tid,
                        static_cast<int>(trace::kind_name(e.kind).size()), trace::kind_name(e.kind).data(), e.conn,
                        static_cast<long long>(e.a), static_cast<long long>(e.b));
  out.append(buf, static_cast<std::size_t>(n));
  if (e.flags != 0) out += ",\"flags\":" + std::to_string(e.flags);
  auto text = e.text_view();
  if (!text.empty()) {
    if (valid_utf8(text)) {
      out += ",\"text\":\"";
      for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
          out += '\\';
          out += c;
        } else if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') {
          out += '\\';
          out += c == '\b' ? 'b' : c == '\f' ? 'f' : c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else if (u < 0x20) {
          char esc[8];
          std::snprintf(esc, sizeof esc, "\\u%04x", u);
          out += esc;
        } else {
          out += c;
        }
      }
      out += '"';
    } else {
      out += ",\"text_hex\":\"" + to_hex(text) + '"';
    }
  }
  out += "}\n";
}

ojson snapshot_to_json(const ProcSnapshot& s) {
  ojson procs = ojson::array();
  for (const auto& p : s.procs) {
    ojson pj = {{"pid", p.pid},
                {"ppid", p.ppid},
                {"state", std::string(1, p.state)},
                {"comm", display_utf8(p.comm)},
                {"cmdline", display_utf8(p.cmdline)},
                {"threads", p.threads},
                {"tids", p.tids},
                {"rss_kb", p.rss_kb},
                {"pss_kb", p.pss_kb},
                {"pss_anon_kb", p.pss_anon_kb},
                {"fds", p.fds},
                {"start_ticks", p.start_ticks},
                {"cpu_s", p.cpu_s}};
    // Written only when there are some, so files from before sockets were
    // sampled and files of socket-less processes look the same. "st" is the
    // kernel's number for the TCP state (10 = LISTEN), as /proc/net/tcp says.
    if (!p.sockets.empty()) {
      ojson socks = ojson::array();
      for (const auto& k : p.sockets)
        socks.push_back({{"fd", k.fd},
                         {"inode", k.inode},
                         {"st", static_cast<int>(k.state)},
                         {"local", k.local_addr},
                         {"local_port", k.local_port},
                         {"remote", k.remote_addr},
                         {"remote_port", k.remote_port},
                         {"rx_queue", k.rx_queue},
                         {"tx_queue", k.tx_queue}});
      pj["sockets"] = std::move(socks);
    }
    procs.push_back(std::move(pj));
  }
  return {{"snapshot", {{"t", s.ts_ns}, {"root", s.root}, {"procs", std::move(procs)}}}};
}

ojson header_to_json(const Session& s) {
  const SessionMeta& m = s.meta();
  ojson options = ojson::array();  // an array of pairs keeps the order
  for (const auto& [k, v] : m.options) options.push_back({display_utf8(k), display_utf8(v)});
  return {{"magic", kSessionMagic},
          {"version", kSessionVersion},
          {"trace_version", trace::kTraceVersion},
          {"architecture", display_utf8(m.architecture)},
          {"protocol", display_utf8(m.protocol)},
          {"port", m.port},
          {"server_pid", m.server_pid},
          {"start_ns", m.start_ns},
          {"start_unix_ns", m.start_unix_ns},
          {"options", std::move(options)},
          {"drops", s.drops()},
          {"events", s.events().size()},
          {"snapshots", s.snapshots().size()}};
}

namespace {

// Typed field access with a reason naming the field.
template <class T>
bool get(const json& j, const char* key, T& out, std::string& why, bool required = true) {
  auto it = j.find(key);
  if (it == j.end()) {
    if (!required) return true;
    why = std::string("missing field '") + key + "'";
    return false;
  }
  if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string()) {
      why = std::string("field '") + key + "' must be a string";
      return false;
    }
    out = it->template get<std::string>();
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!it->is_number()) {
      why = std::string("field '") + key + "' must be a number";
      return false;
    }
    out = it->template get<T>();
  } else {
    static_assert(std::is_integral_v<T>);
    bool ok = it->is_number_integer();
    if (ok && std::is_unsigned_v<T>) ok = it->is_number_unsigned() || it->template get<std::int64_t>() >= 0;
    if (ok) {
      // Range check through the widest type of the same signedness.
      if constexpr (std::is_unsigned_v<T>) {
        auto v = it->template get<std::uint64_t>();
        ok = v <= std::numeric_limits<T>::max();
        if (ok) out = static_cast<T>(v);
      } else {
        if (it->is_number_unsigned() && it->template get<std::uint64_t>() >
                                            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
          ok = false;
        } else {
          auto v = it->template get<std::int64_t>();
          ok = v >= std::numeric_limits<T>::min() && v <= std::numeric_limits<T>::max();
          if (ok) out = static_cast<T>(v);
        }
      }
    }
    if (!ok) {
      why = std::string("field '") + key + "' must be an integer in range";
      return false;
    }
  }
  return true;
}

// A proc's optional "sockets" (absent in files written before sockets were
// sampled: then none).
bool sockets_from_json(const json& pj, std::vector<observe::SocketFd>& out, std::string& why) {
  auto socks = pj.find("sockets");
  if (socks == pj.end()) return true;
  if (!socks->is_array()) {
    why = "snapshot proc: field 'sockets' must be an array";
    return false;
  }
  for (const auto& kj : *socks) {
    if (!kj.is_object()) {
      why = "snapshot proc: sockets must be objects";
      return false;
    }
    observe::SocketFd k;
    std::uint8_t st = 0;
    if (!get(kj, "fd", k.fd, why) || !get(kj, "inode", k.inode, why) || !get(kj, "st", st, why) ||
        !get(kj, "local", k.local_addr, why) || !get(kj, "local_port", k.local_port, why) ||
        !get(kj, "remote", k.remote_addr, why) || !get(kj, "remote_port", k.remote_port, why) ||
        !get(kj, "rx_queue", k.rx_queue, why) || !get(kj, "tx_queue", k.tx_queue, why)) {
      why = "snapshot socket: " + why;
      return false;
    }
    k.state = static_cast<observe::TcpState>(st);
    out.push_back(std::move(k));
  }
  return true;
}

}  // namespace

bool event_from_json(const json& j, trace::Event& e, std::string& why) {
  std::string kind;
  e = trace::Event{};
  if (!get(j, "t", e.ts_ns, why) || !get(j, "pid", e.pid, why) || !get(j, "tid", e.tid, why) ||
      !get(j, "kind", kind, why) || !get(j, "conn", e.conn, why) || !get(j, "a", e.a, why) ||
      !get(j, "b", e.b, why) || !get(j, "flags", e.flags, why, false))
    return false;
  if (!trace::kind_from_name(kind, e.kind)) {
    why = "unknown event kind '" + display_utf8(kind.substr(0, 64)) + "'";
    return false;
  }
  std::string text;
  if (j.contains("text")) {
    if (!get(j, "text", text, why)) return false;
  } else if (j.contains("text_hex")) {
    std::string hex;
    if (!get(j, "text_hex", hex, why)) return false;
    if (!from_hex(hex, text)) {
      why = "field 'text_hex' is not hexadecimal";
      return false;
    }
  }
  if (text.size() > trace::kEventTextSize) {
    why = "field 'text' is longer than " + std::to_string(trace::kEventTextSize) + " bytes";
    return false;
  }
  e.set_text(text);
  return true;
}

bool snapshot_from_json(const json& j, ProcSnapshot& s, std::string& why) {
  if (!j.is_object()) {
    why = "'snapshot' must be an object";
    return false;
  }
  if (!get(j, "t", s.ts_ns, why) || !get(j, "root", s.root, why)) return false;
  auto procs = j.find("procs");
  if (procs == j.end() || !procs->is_array()) {
    why = "snapshot field 'procs' must be an array";
    return false;
  }
  for (const auto& pj : *procs) {
    if (!pj.is_object()) {
      why = "snapshot procs must be objects";
      return false;
    }
    ProcInfo p;
    std::string state;
    if (!get(pj, "pid", p.pid, why) || !get(pj, "ppid", p.ppid, why) || !get(pj, "state", state, why) ||
        !get(pj, "comm", p.comm, why) || !get(pj, "cmdline", p.cmdline, why) ||
        !get(pj, "threads", p.threads, why) || !get(pj, "rss_kb", p.rss_kb, why) ||
        !get(pj, "pss_kb", p.pss_kb, why) || !get(pj, "pss_anon_kb", p.pss_anon_kb, why, false) ||
        !get(pj, "fds", p.fds, why) ||
        !get(pj, "start_ticks", p.start_ticks, why) || !get(pj, "cpu_s", p.cpu_s, why)) {
      why = "snapshot proc: " + why;
      return false;
    }
    if (state.size() != 1) {
      why = "snapshot proc: field 'state' must be one character";
      return false;
    }
    p.state = state[0];
    auto tids = pj.find("tids");
    if (tids == pj.end() || !tids->is_array()) {
      why = "snapshot proc: field 'tids' must be an array";
      return false;
    }
    for (const auto& t : *tids) {
      if (!t.is_number_integer()) {
        why = "snapshot proc: 'tids' must hold integers";
        return false;
      }
      p.tids.push_back(t.get<pid_t>());
    }
    if (!sockets_from_json(pj, p.sockets, why)) return false;
    s.procs.push_back(std::move(p));
  }
  return true;
}

}  // namespace codec

}  // namespace sockscope::session
