// The JSON Lines reader.
//
// The reader is strict: the JSON Lines file is the canonical record of a run,
// so a file that is not exactly what a writer produced (wrong magic or
// version, a malformed or truncated line, an unknown kind) is refused whole,
// with the line number and the reason, rather than half-loaded. The shape of
// each record is codec.cpp's.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>
#include <fstream>
#include <istream>
#include <vector>

#include "session/codec.h"
#include "session/export.h"

namespace sockscope::session {

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
  // An integer that fits its field, and is never negative: a count, a pid,
  // a port or a time ("drops": -1 must not wrap to 2^64 - 1).
  auto num = [&](const char* k, auto& out) {
    using T = std::remove_reference_t<decltype(out)>;
    auto it = h.find(k);
    if (it == h.end()) return true;
    const bool fits = it->is_number_unsigned() &&
                      it->template get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<T>::max());
    if (!fits) {
      why = std::string("header field '") + k + "' must be an integer from 0 to " +
            std::to_string(std::numeric_limits<T>::max()) + ", got " +
            it->dump(-1, ' ', false, codec::json::error_handler_t::replace);
      return false;
    }
    out = it->template get<T>();
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
// line costs at most kMaxLineBytes of memory before it is refused. The buffer
// is not zeroed: only the pages a line reaches are touched (a small session
// used to pay for clearing the whole MiB).
std::optional<Session> read_jsonl_impl(std::istream& in, const std::string& name, std::string& error,
                                       const ProgressFn& progress, std::uint64_t total_bytes) {
  constexpr std::size_t kBufBytes = kMaxLineBytes + 1;
  const auto buf = std::make_unique_for_overwrite<char[]>(kBufBytes);
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
    in.getline(buf.get(), static_cast<std::streamsize>(kBufBytes));
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
    std::string_view line(buf.get(), len);
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
  // A FIFO with no writer would block the open forever, a directory opens
  // and reads as nothing: only a regular file can be a saved session.
  std::error_code type_ec;
  const auto type = std::filesystem::status(path, type_ec).type();
  if (!type_ec && type != std::filesystem::file_type::regular) {
    error = path.string() + ": not a regular file (" +
            (type == std::filesystem::file_type::fifo        ? "a FIFO"
             : type == std::filesystem::file_type::directory ? "a directory"
                                                             : "a device or socket") +
            "): a session is a .jsonl file";
    return std::nullopt;
  }
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
