// The JSON codec of a session and the JSON Lines reader.
//
// The reader is strict: the JSON Lines file is the canonical record of a run,
// so a file that is not exactly what a writer produced (wrong magic or
// version, a malformed or truncated line, an unknown kind) is refused whole,
// with the line number and the reason, rather than half-loaded.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <type_traits>
#include <fstream>
#include <istream>
#include <vector>

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
    procs.push_back({{"pid", p.pid},
                     {"ppid", p.ppid},
                     {"state", std::string(1, p.state)},
                     {"comm", display_utf8(p.comm)},
                     {"cmdline", display_utf8(p.cmdline)},
                     {"threads", p.threads},
                     {"tids", p.tids},
                     {"rss_kb", p.rss_kb},
                     {"pss_kb", p.pss_kb},
                     {"fds", p.fds},
                     {"start_ticks", p.start_ticks},
                     {"cpu_s", p.cpu_s}});
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
        !get(pj, "pss_kb", p.pss_kb, why) || !get(pj, "fds", p.fds, why) ||
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
    s.procs.push_back(std::move(p));
  }
  return true;
}

}  // namespace codec

namespace {

std::string line_error(const std::string& name, std::size_t line, const std::string& why) {
  return name + ": line " + std::to_string(line) + ": " + why;
}

bool parse_header(const codec::json& h, SessionMeta& meta, std::uint64_t& drops, std::int64_t& n_events,
                  std::int64_t& n_snapshots, std::string& why) {
  if (!h.is_object()) {
    why = "the header is not a JSON object";
    return false;
  }
  auto magic = h.find("magic");
  if (magic == h.end() || !magic->is_string() || magic->get<std::string>() != kSessionMagic) {
    why = std::string("not a sockscope session (expected magic \"") + kSessionMagic + "\", found " +
          (magic == h.end() ? std::string("none") : magic->dump(-1, ' ', false, codec::json::error_handler_t::replace)) +
          ")";
    return false;
  }
  auto version = h.find("version");
  if (version == h.end() || !version->is_number_integer() || version->get<std::int64_t>() != kSessionVersion) {
    why = "unsupported session version " +
          (version == h.end() ? std::string("(none)") : version->dump(-1, ' ', false, codec::json::error_handler_t::replace)) +
          " (this build reads version " + std::to_string(kSessionVersion) + ")";
    return false;
  }
  auto tv = h.find("trace_version");
  if (tv == h.end() || !tv->is_number_integer() || tv->get<std::int64_t>() != trace::kTraceVersion) {
    why = "unsupported trace version " +
          (tv == h.end() ? std::string("(none)") : tv->dump(-1, ' ', false, codec::json::error_handler_t::replace)) +
          " (this build reads trace version " + std::to_string(trace::kTraceVersion) + ")";
    return false;
  }
  using codec::json;
  std::string s;
  auto str = [&](const char* k, std::string& out) {
    auto it = h.find(k);
    if (it == h.end()) return true;
    if (!it->is_string()) {
      why = std::string("header field '") + k + "' must be a string";
      return false;
    }
    out = it->get<std::string>();
    return true;
  };
  auto num = [&](const char* k, auto& out) {
    auto it = h.find(k);
    if (it == h.end()) return true;
    if (!it->is_number_integer()) {
      why = std::string("header field '") + k + "' must be an integer";
      return false;
    }
    out = it->get<std::remove_reference_t<decltype(out)>>();
    return true;
  };
  if (!str("architecture", meta.architecture) || !str("protocol", meta.protocol) || !num("port", meta.port) ||
      !num("server_pid", meta.server_pid) || !num("start_ns", meta.start_ns) ||
      !num("start_unix_ns", meta.start_unix_ns) || !num("drops", drops) || !num("events", n_events) ||
      !num("snapshots", n_snapshots))
    return false;
  auto opts = h.find("options");
  if (opts != h.end()) {
    if (!opts->is_array()) {
      why = "header field 'options' must be an array of [key, value] pairs";
      return false;
    }
    for (const auto& kv : *opts) {
      if (!kv.is_array() || kv.size() != 2 || !kv[0].is_string() || !kv[1].is_string()) {
        why = "header field 'options' must be an array of [key, value] pairs";
        return false;
      }
      meta.options.emplace_back(kv[0].get<std::string>(), kv[1].get<std::string>());
    }
  }
  return true;
}

}  // namespace

namespace {

// The fast path for the one line shape append_event_line() writes:
//   {"t":U,"pid":U,"tid":U,"kind":"K","conn":U,"a":I,"b":I[,"flags":U][,"text":"S"]}
// with S free of escapes. It accepts only lines that are valid JSON and that
// event_from_json() would turn into the same Event; anything else (spaces,
// another key order, an escape, an unknown kind, a number out of range) goes
// to the full JSON parser, which also gives the error message.
class LineScanner {
 public:
  explicit LineScanner(std::string_view s) : s_(s) {}
  bool lit(std::string_view x) {
    if (s_.substr(i_, x.size()) != x) return false;
    i_ += x.size();
    return true;
  }
  // A JSON integer without sign, leading zeros or fraction, at most `max`.
  bool unsigned_int(std::uint64_t max, std::uint64_t& out) {
    const std::size_t start = i_;
    std::uint64_t v = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      const auto d = static_cast<std::uint64_t>(s_[i_] - '0');
      if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return false;
      v = v * 10 + d;
      ++i_;
    }
    const std::size_t n = i_ - start;
    if (n == 0 || (n > 1 && s_[start] == '0') || v > max) return false;
    out = v;
    return true;
  }
  bool signed_int(std::int64_t& out) {
    const bool negative = i_ < s_.size() && s_[i_] == '-';
    if (negative) ++i_;
    std::uint64_t v = 0;
    const auto limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + (negative ? 1 : 0);
    if (!unsigned_int(limit, v)) return false;
    if (negative && v == 0) return false;  // "-0" is a float to nlohmann
    out = negative ? static_cast<std::int64_t>(0 - v) : static_cast<std::int64_t>(v);
    return true;
  }
  // A string with no escapes or control characters; the opening quote is consumed.
  bool plain_string(std::string_view& out) {
    const std::size_t start = i_;
    while (i_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        out = s_.substr(start, i_ - start);
        ++i_;
        return true;
      }
      if (c == '\\' || c < 0x20) return false;
      ++i_;
    }
    return false;
  }
  bool at_end() const { return i_ == s_.size(); }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
};

bool fast_event_line(std::string_view line, trace::Event& e) {
  LineScanner sc(line);
  std::uint64_t t = 0, pid = 0, tid = 0, conn = 0, flags = 0;
  std::int64_t a = 0, b = 0;
  std::string_view kind, text;
  constexpr std::uint64_t u32 = std::numeric_limits<std::uint32_t>::max();
  if (!sc.lit("{\"t\":") || !sc.unsigned_int(std::numeric_limits<std::uint64_t>::max(), t) ||
      !sc.lit(",\"pid\":") || !sc.unsigned_int(u32, pid) || !sc.lit(",\"tid\":") || !sc.unsigned_int(u32, tid) ||
      !sc.lit(",\"kind\":\"") || !sc.plain_string(kind) || !sc.lit(",\"conn\":") || !sc.unsigned_int(u32, conn) ||
      !sc.lit(",\"a\":") || !sc.signed_int(a) || !sc.lit(",\"b\":") || !sc.signed_int(b))
    return false;
  if (sc.lit(",\"flags\":") && !sc.unsigned_int(std::numeric_limits<std::uint16_t>::max(), flags)) return false;
  if (sc.lit(",\"text\":\"") && !sc.plain_string(text)) return false;
  if (!sc.lit("}") || !sc.at_end()) return false;
  if (text.size() > trace::kEventTextSize || !codec::valid_utf8(text)) return false;
  e = trace::Event{};
  if (!trace::kind_from_name(kind, e.kind)) return false;
  e.ts_ns = t;
  e.pid = static_cast<std::uint32_t>(pid);
  e.tid = static_cast<std::uint32_t>(tid);
  e.conn = static_cast<std::uint32_t>(conn);
  e.a = a;
  e.b = b;
  e.flags = static_cast<std::uint16_t>(flags);
  e.set_text(text);
  return true;
}

}  // namespace

// Reads line by line into a bounded buffer, so a hostile file with a huge
// line costs at most kMaxLineBytes of memory before it is refused.
std::optional<Session> read_jsonl_impl(std::istream& in, const std::string& name, std::string& error,
                                       const ProgressFn& progress, std::uint64_t total_bytes) {
  std::vector<char> buf(kMaxLineBytes + 1);
  Session session;
  SessionMeta meta;
  std::uint64_t drops = 0;
  std::int64_t want_events = -1, want_snapshots = -1;
  std::size_t line_no = 0;
  std::size_t n_events = 0, n_snapshots = 0;
  std::uint64_t bytes = 0;
  bool header_seen = false;
  std::string why;
  std::vector<trace::Event> events;
  std::vector<ProcSnapshot> snapshots;

  while (true) {
    in.getline(buf.data(), static_cast<std::streamsize>(buf.size()));
    auto got = static_cast<std::size_t>(in.gcount());
    if (got == 0 && in.eof()) break;  // clean end of file
    ++line_no;
    if (in.fail() && !in.eof()) {
      error = line_error(name, line_no,
                         "line longer than " + std::to_string(kMaxLineBytes) + " bytes (corrupt or not a session)");
      return std::nullopt;
    }
    bool ended_with_newline = !in.eof();
    std::size_t len = ended_with_newline ? got - 1 : got;  // gcount includes the extracted '\n'
    bytes += got;
    std::string_view line(buf.data(), len);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    bool blank = line.find_first_not_of(" \t") == std::string_view::npos;

    // Most lines are events in the writer's own shape: no JSON tree for those.
    if (header_seen && !blank) {
      trace::Event e;
      if (fast_event_line(line, e)) {
        events.push_back(e);
        ++n_events;
        if (progress && total_bytes > 0 && (line_no & 4095) == 0)
          progress(static_cast<double>(bytes) / static_cast<double>(total_bytes));
        if (!ended_with_newline) break;
        continue;
      }
    }
    codec::json j;
    if (!blank) {
      j = codec::json::parse(line.begin(), line.end(), nullptr, false);
      if (j.is_discarded()) {
        error = line_error(name, line_no,
                           ended_with_newline ? "malformed JSON"
                                              : "truncated line (the file ends in the middle of a record)");
        return std::nullopt;
      }
    }
    if (!header_seen) {
      if (blank) {
        error = line_error(name, line_no, "expected the sockscope-session header, found an empty line");
        return std::nullopt;
      }
      if (!parse_header(j, meta, drops, want_events, want_snapshots, why)) {
        error = line_error(name, line_no, why);
        return std::nullopt;
      }
      header_seen = true;
    } else if (blank) {
      // tolerated: an editor may leave one at the end
    } else if (!j.is_object()) {
      error = line_error(name, line_no, "not a JSON object");
      return std::nullopt;
    } else if (auto snap = j.find("snapshot"); snap != j.end()) {
      ProcSnapshot s;
      if (!codec::snapshot_from_json(*snap, s, why)) {
        error = line_error(name, line_no, why);
        return std::nullopt;
      }
      snapshots.push_back(std::move(s));
      ++n_snapshots;
    } else if (j.contains("kind")) {
      trace::Event e;
      if (!codec::event_from_json(j, e, why)) {
        error = line_error(name, line_no, why);
        return std::nullopt;
      }
      events.push_back(e);
      ++n_events;
    } else {
      error = line_error(name, line_no, "neither an event (no 'kind') nor a snapshot");
      return std::nullopt;
    }
    if (progress && total_bytes > 0 && (line_no & 4095) == 0)
      progress(static_cast<double>(bytes) / static_cast<double>(total_bytes));
    if (!ended_with_newline) break;
  }
  if (!header_seen) {
    error = line_error(name, 1, "empty file (expected the sockscope-session header)");
    return std::nullopt;
  }
  if ((want_events >= 0 && static_cast<std::size_t>(want_events) != n_events) ||
      (want_snapshots >= 0 && static_cast<std::size_t>(want_snapshots) != n_snapshots)) {
    error = line_error(name, line_no + 1,
                       "the file ends after " + std::to_string(n_events) + " events and " +
                           std::to_string(n_snapshots) + " snapshots, but its header announces " +
                           std::to_string(want_events) + " and " + std::to_string(want_snapshots) +
                           " (truncated file)");
    return std::nullopt;
  }
  session.set_meta(std::move(meta));
  session.set_drops(drops);
  for (const auto& e : events) session.add_event(e);
  for (auto& s : snapshots) session.add_snapshot(std::move(s));
  if (progress) progress(1.0);
  return session;
}

std::optional<Session> read_jsonl(std::istream& in, const std::string& name, std::string& error) {
  return read_jsonl_impl(in, name, error, {}, 0);
}

std::optional<Session> read_jsonl(const std::filesystem::path& path, std::string& error,
                                  const ProgressFn& progress) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path.string() + ": cannot open: " + std::strerror(errno);
    return std::nullopt;
  }
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  return read_jsonl_impl(in, path.string(), error, progress, ec ? 0 : size);
}

}  // namespace sockscope::session
