#include "protocol/client_replies.h"

namespace sockscope::protocol {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<FtpReplyLine> parse_ftp_reply_line(std::string_view line) {
  if (line.size() < 3) return std::nullopt;
  FtpReplyLine r;
  for (std::size_t k = 0; k < 3; ++k) {
    if (!is_digit(line[k])) return std::nullopt;
    r.code = r.code * 10 + (line[k] - '0');
  }
  char sep = line.size() > 3 ? line[3] : ' ';
  if (sep != ' ' && sep != '-') return std::nullopt;
  r.continued = sep == '-';
  return r;
}

std::optional<std::uint16_t> parse_epsv(std::string_view text) {
  auto open = text.find('(');
  if (open == std::string_view::npos || open + 5 >= text.size()) return std::nullopt;
  char d = text[open + 1];
  if (text[open + 2] != d || text[open + 3] != d) return std::nullopt;
  unsigned long port = 0;
  std::size_t i = open + 4, digits = 0;
  for (; i < text.size() && is_digit(text[i]); ++i, ++digits) port = port * 10 + (text[i] - '0');
  if (digits == 0 || digits > 5 || i >= text.size() || text[i] != d || port == 0 || port > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

std::optional<std::uint16_t> parse_pasv(std::string_view text) {
  std::size_t i = text.find('(');
  if (i == std::string_view::npos) {
    i = 3;
    while (i < text.size() && !is_digit(text[i])) ++i;
  } else {
    ++i;
  }
  unsigned long v[6] = {};
  for (int k = 0; k < 6; ++k) {
    std::size_t digits = 0;
    for (; i < text.size() && is_digit(text[i]); ++i, ++digits) v[k] = v[k] * 10 + (text[i] - '0');
    if (digits == 0 || digits > 3 || v[k] > 255) return std::nullopt;
    if (k < 5) {
      if (i >= text.size() || text[i] != ',') return std::nullopt;
      ++i;
    }
  }
  unsigned long port = v[4] * 256 + v[5];
  if (port == 0) return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

bool iequals_prefix(std::string_view line, std::string_view name) {
  if (line.size() < name.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char a = line[i], b = name[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a + 32);
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b + 32);
    if (a != b) return false;
  }
  return true;
}

std::optional<HttpHead> parse_http_head(std::string_view head) {
  HttpHead h;
  auto eol = head.find("\r\n");
  std::string_view status = head.substr(0, eol);
  // "HTTP/1.1 200 OK"
  if (status.size() < 12 || !iequals_prefix(status, "HTTP/1.") || status[8] != ' ') return std::nullopt;
  for (int k = 9; k < 12; ++k) {
    if (!is_digit(status[k])) return std::nullopt;
    h.code = h.code * 10 + (status[k] - '0');
  }
  h.close = status.substr(0, 8) == "HTTP/1.0";  // 1.0 closes unless told otherwise
  std::size_t at = eol == std::string_view::npos ? head.size() : eol + 2;
  while (at < head.size()) {
    auto end = head.find("\r\n", at);
    if (end == std::string_view::npos) end = head.size();
    std::string_view line = head.substr(at, end - at);
    at = end + 2;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    std::string_view name = line.substr(0, colon);
    if (name.size() == 14 && iequals_prefix(name, "content-length")) {
      std::uint64_t n = 0;
      if (value.empty()) return std::nullopt;
      for (char c : value) {
        if (!is_digit(c)) return std::nullopt;
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
      }
      h.content_length = n;
    } else if (name.size() == 10 && iequals_prefix(name, "connection")) {
      if (iequals_prefix(value, "close")) h.close = true;
      if (iequals_prefix(value, "keep-alive")) h.close = false;
    }
  }
  return h;
}

std::optional<std::int64_t> parse_count(std::string_view text, bool skip_code) {
  std::size_t i = skip_code && text.size() > 3 ? 3 : 0;
  while (i < text.size() && !is_digit(text[i])) ++i;
  if (i == text.size()) return std::nullopt;
  std::int64_t v = 0;
  // Capped well below overflow: a server that sends 40 digits is broken, and
  // the count it told us is still "very large".
  for (; i < text.size() && is_digit(text[i]) && v < (std::int64_t{1} << 56); ++i) v = v * 10 + (text[i] - '0');
  return v;
}

}  // namespace sockscope::protocol
