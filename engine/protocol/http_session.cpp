// HTTP session. Sections:
//   1. helpers: reason phrases, percent coding, HTML escaping, content types
//   2. next(): framing one request out of the byte stream, request line and headers
//   3. serve(): the teaching endpoints, files and directory indexes
#include "protocol/http_session.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace sockscope::protocol {

// ---------------------------------------------------------------- 1. helpers
namespace {

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX. The jail resolves the decoded path, so "%2e%2e" is just ".."
// by the time it gets there, and is clamped like any other "..".
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string percent_encode_path(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string content_type(std::string_view path) {
  auto dot = path.rfind('.');
  std::string ext = dot == std::string_view::npos ? std::string() : lower(path.substr(dot + 1));
  if (ext == "txt" || ext == "md") return "text/plain; charset=utf-8";
  if (ext == "html" || ext == "htm") return "text/html; charset=utf-8";
  if (ext == "json") return "application/json";
  if (ext == "png") return "image/png";
  return "application/octet-stream";
}

// Request text for the trace: printable and short.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 200)) {
    auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  return out;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || std::string_view("()<>@,;:\\\"/[]?={}").find(c) != std::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool has_token(std::string_view list, std::string_view token) {
  std::string l = lower(list);
  std::size_t i = 0;
  while (i <= l.size()) {
    std::size_t j = l.find(',', i);
    if (j == std::string::npos) j = l.size();
    if (trim(std::string_view(l).substr(i, j - i)) == token) return true;
    i = j + 1;
  }
  return false;
}

std::optional<std::uint64_t> parse_uint(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

Action close_action() { return Action{ActionKind::close, {}, 0, 0}; }

}  // namespace

HttpSession::HttpSession(const SessionConfig& cfg, Jail::Resolver resolver) : jail_(cfg.root, resolver) {}

void HttpSession::receive(std::string_view bytes) {
  if (closing_) return;
  buffer_.append(bytes);
}

Actions HttpSession::counted(std::int64_t value) {
  Actions out;
  if (!pending_count_) return out;  // no /count asked: nothing to answer
  PendingCount p = *pending_count_;
  pending_count_.reset();
  respond(out, 200, "text/plain; charset=utf-8", std::to_string(value) + "\n", p.head, p.keep_alive);
  return out;
}

Actions HttpSession::timed_out() {
  Actions out;
  // A half-sent request (the request deadline, or the idle timeout in the
  // middle of one) gets 408 Request Timeout; an idle keep-alive connection
  // is simply closed, as servers do.
  if (pending_input()) respond(out, 408, "text/plain; charset=utf-8", "request timeout\n", false, false);
  drop_input();
  closing_ = true;
  if (out.empty() || out.back().kind != ActionKind::close) out.push_back(close_action());
  return out;
}

void HttpSession::respond(Actions& out, int status, const std::string& type, const std::string& body, bool head,
                          bool keep_alive, const std::string& extra_headers) {
  std::string b = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
  b += "Server: sockscope\r\n";
  b += "Content-Type: " + type + "\r\n";
  // Always a Content-Length, HEAD included (it announces what GET would send).
  b += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  b += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  b += extra_headers;
  b += "\r\n";
  if (!head) b += body;
  out.push_back(Action{ActionKind::send, std::move(b), status, 0});
  if (!keep_alive) {
    closing_ = true;
    drop_input();
    out.push_back(close_action());
  }
}

// ---------------------------------------------------------------- 2. framing

std::optional<Actions> HttpSession::next() {
  if (closing_) return std::nullopt;
  // RFC 9112 2.2: ignore empty lines before a request line (some clients
  // send an extra CRLF after a body).
  std::size_t skip = 0;
  while (skip < buffer_.size() && (buffer_[skip] == '\r' || buffer_[skip] == '\n')) ++skip;
  buffer_.erase(0, skip);

  // The header section ends at the first empty line (CRLF or bare LF).
  std::size_t end = std::string::npos, after = 0;
  for (std::size_t i = 0; i < buffer_.size();) {
    std::size_t nl = buffer_.find('\n', i);
    if (nl == std::string::npos) break;
    std::size_t len = nl - i;
    if (len == 0 || (len == 1 && buffer_[i] == '\r')) {
      end = i;
      after = nl + 1;
      break;
    }
    i = nl + 1;
  }
  Actions out;
  // Without a cap a client could grow this buffer forever by never ending
  // its headers.
  if ((end == std::string::npos && buffer_.size() > kHttpHeaderLimit) ||
      (end != std::string::npos && end > kHttpHeaderLimit)) {
    respond(out, 431, "text/plain; charset=utf-8", "request header section too large\n", false, false);
    return out;
  }
  if (end == std::string::npos) {
    // A request line with no version (HTTP/0.9's "GET /path") has no header
    // section to wait for: answer it now, not at the idle timeout.
    if (std::size_t nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string first = buffer_.substr(0, nl);
      if (!first.empty() && first.back() == '\r') first.pop_back();
      if (std::count(first.begin(), first.end(), ' ') < 2) {
        buffer_.clear();
        out.push_back(Action{ActionKind::request, printable(first), 0, 0});
        respond(out, 400, "text/plain; charset=utf-8", "bad request: no HTTP version (HTTP/0.9 is not served)\n",
                false, false);
        return out;
      }
    }
    return std::nullopt;
  }
  std::string head = buffer_.substr(0, end);
  buffer_.erase(0, after);

  std::vector<std::string> lines;
  for (std::size_t i = 0; i < head.size();) {
    std::size_t nl = head.find('\n', i);
    if (nl == std::string::npos) nl = head.size();
    std::string l = head.substr(i, nl - i);
    if (!l.empty() && l.back() == '\r') l.pop_back();
    lines.push_back(std::move(l));
    i = nl + 1;
  }
  const std::string& rl = lines.front();
  auto bad = [&](const std::string& why) {
    out.push_back(Action{ActionKind::request, printable(rl), 0, 0});
    respond(out, 400, "text/plain; charset=utf-8", "bad request: " + why + "\n", false, false);
    return out;
  };

  // request-line = method SP request-target SP HTTP-version
  Request req;
  std::size_t s1 = rl.find(' ');
  std::size_t s2 = s1 == std::string::npos ? std::string::npos : rl.find(' ', s1 + 1);
  if (s2 == std::string::npos || rl.find(' ', s2 + 1) != std::string::npos) return bad("malformed request line");
  req.method = rl.substr(0, s1);
  req.target = rl.substr(s1 + 1, s2 - s1 - 1);
  req.version = rl.substr(s2 + 1);
  if (!is_token(req.method) || req.target.empty()) return bad("malformed request line");
  const std::string& v = req.version;
  if (v.size() != 8 || v.compare(0, 5, "HTTP/") != 0 || !std::isdigit(static_cast<unsigned char>(v[5])) ||
      v[6] != '.' || !std::isdigit(static_cast<unsigned char>(v[7]))) {
    return bad("malformed version");
  }
  if (v != "HTTP/1.1" && v != "HTTP/1.0") {
    out.push_back(Action{ActionKind::request, printable(req.method + " " + req.target), 0, 0});
    respond(out, 505, "text/plain; charset=utf-8", "only HTTP/1.0 and HTTP/1.1\n", false, false);
    return out;
  }

  // HTTP/1.1 keeps the connection by default, HTTP/1.0 closes by default.
  req.keep_alive = v == "HTTP/1.1";
  bool host = false;
  std::optional<std::uint64_t> length;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string& h = lines[i];
    std::size_t colon = h.find(':');
    if (colon == std::string::npos || !is_token(std::string_view(h).substr(0, colon))) {
      return bad("malformed header line");
    }
    std::string name = lower(std::string_view(h).substr(0, colon));
    std::string_view value = trim(std::string_view(h).substr(colon + 1));
    // RFC 9110 5.5: NUL (like CR and LF) is never part of a field value.
    if (value.find('\0') != std::string_view::npos) return bad("NUL in the " + name + " header");
    if (name == "host") {
      host = true;
    } else if (name == "connection") {
      if (has_token(value, "close")) req.keep_alive = false;
      else if (has_token(value, "keep-alive")) req.keep_alive = true;
    } else if (name == "content-length") {
      auto n = parse_uint(value);
      if (!n) return bad("bad Content-Length");
      // RFC 9112 6.3: two different lengths leave the body's end unknown.
      if (length && *length != *n) return bad("two different Content-Length values");
      length = n;
      if (*n > 0) req.has_body = true;
    } else if (name == "transfer-encoding") {
      req.has_body = true;
    }
  }
  // RFC 9112 3.2: an HTTP/1.1 request without Host gets 400.
  if (v == "HTTP/1.1" && !host) return bad("HTTP/1.1 needs a Host header");
  // We never read request bodies; answering and closing is the one way to
  // stay in step with a client that sent one.
  if (req.has_body) req.keep_alive = false;

  out.push_back(Action{ActionKind::request, printable(req.method + " " + req.target), 0, 0});
  serve(req, out);
  return out;
}

// ----------------------------------------------------------------- 3. serve

void HttpSession::serve(const Request& req, Actions& out) {
  const std::string text = "text/plain; charset=utf-8";
  bool head = req.method == "HEAD";
  if (req.method != "GET" && !head) {
    return respond(out, 405, text, "method not allowed\n", false, req.keep_alive, "Allow: GET, HEAD\r\n");
  }
  // origin-form "/path?query", or absolute-form "http://host/path?query".
  std::string target = req.target;
  for (const char* scheme : {"http://", "https://"}) {
    std::string_view sv(scheme);
    if (lower(target.substr(0, sv.size())) == sv) {
      std::size_t slash = target.find('/', sv.size());
      target = slash == std::string::npos ? std::string("/") : target.substr(slash);
    }
  }
  if (target.front() != '/') return respond(out, 400, text, "bad request target\n", head, false);
  std::size_t q = target.find('?');
  std::string query = q == std::string::npos ? std::string() : target.substr(q + 1);
  auto path = percent_decode(std::string_view(target).substr(0, q));
  if (!path || path->find('\0') != std::string::npos) {
    return respond(out, 400, text, "bad percent-encoding in path\n", head, false);
  }

  if (*path == "/work" || *path == "/sleep") {
    std::optional<std::uint64_t> ms;
    std::size_t i = 0;
    while (i <= query.size()) {
      std::size_t j = query.find('&', i);
      if (j == std::string::npos) j = query.size();
      std::string_view kv = std::string_view(query).substr(i, j - i);
      if (kv.substr(0, 3) == "ms=") ms = parse_uint(kv.substr(3));
      i = j + 1;
    }
    if (!ms) return respond(out, 400, text, "usage: " + *path + "?ms=N (N in milliseconds)\n", head, req.keep_alive);
    int capped = static_cast<int>(std::min<std::uint64_t>(*ms, static_cast<std::uint64_t>(kTeachingCapMs)));
    bool work = *path == "/work";
    out.push_back(Action{work ? ActionKind::work : ActionKind::sleep, {}, 0, capped});
    return respond(out, 200, text, std::string(work ? "worked " : "slept ") + std::to_string(capped) + " ms\n",
                   head, req.keep_alive);
  }

  if (*path == "/count") {
    // The counter is the server's shared state; the server updates it and
    // asks counted() for the response.
    pending_count_ = PendingCount{head, req.keep_alive};
    out.push_back(Action{ActionKind::count, {}, 0, 0});
    return;
  }

  std::string vpath = Jail::resolve("/", *path);
  // A file first: one open, one fstat and one read for the common request.
  // Only what is not a regular file is looked at again (a directory is
  // listed; anything else is not found).
  std::string data;
  JailError err = jail_.read_file(vpath, 0, kHttpFileCap, data);
  if (err == JailError::too_large) return respond(out, 403, text, "file too large to serve\n", head, req.keep_alive);
  if (err == JailError::none) return respond(out, 200, content_type(vpath), data, head, req.keep_alive);
  auto entry = err == JailError::not_regular ? jail_.stat(vpath) : std::nullopt;
  if (entry && entry->is_dir) {
    auto entries = jail_.list(vpath);
    if (!entries) return respond(out, 404, text, "not found\n", head, req.keep_alive);
    std::string title = "Index of " + html_escape(vpath);
    std::string body = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + title +
                       "</title></head>\n<body><h1>" + title + "</h1>\n<ul>\n";
    std::string base = vpath == "/" ? std::string() : vpath;
    if (vpath != "/") {
      body += "<li><a href=\"" + percent_encode_path(Jail::resolve(vpath, "..")) + "\">../</a></li>\n";
    }
    for (const auto& e : *entries) {
      // Absolute links: they work whether or not the URL had a trailing slash.
      body += "<li><a href=\"" + percent_encode_path(base + "/" + e.name) + (e.is_dir ? "/" : "") + "\">" +
              html_escape(e.name) + (e.is_dir ? "/" : "") + "</a>";
      if (!e.is_dir) body += " " + std::to_string(e.size) + " bytes";
      body += "</li>\n";
    }
    body += "</ul>\n</body></html>\n";
    return respond(out, 200, "text/html; charset=utf-8", body, head, req.keep_alive);
  }
  respond(out, 404, text, "not found\n", head, req.keep_alive);
}

}  // namespace sockscope::protocol
