// The client's side of the protocol seam: parsers for what a server answers
// (FTP reply lines, the 227/229 passive replies, HTTP response heads, the
// visitor count). They do no I/O, so the client simulator's reading of a reply
// is tested with strings alone (tests/protocol/client_replies_test.cpp), like
// the sessions the servers share. Every parser is lenient where real servers
// differ and refuses what it cannot use: nullopt, never a guess.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace sockscope::protocol {

// ---- FTP ------------------------------------------------------------------------

// The start of one FTP reply line, CR/LF already stripped: "230 Logged in." is
// {230, false}; "211-Features:" is {211, true} (a multi-line reply goes on
// until a line "211 ..."). A bare "200" counts as "200 ".
struct FtpReplyLine {
  int code = 0;            // 000..999: three digits (callers refuse codes below 100)
  bool continued = false;  // '-' after the code
};
// nullopt when the line does not start with three digits followed by a space,
// a '-', or nothing: inside a multi-line reply such lines are text.
std::optional<FtpReplyLine> parse_ftp_reply_line(std::string_view line);

// "229 Entering Extended Passive Mode (|||50123|)" → 50123 (RFC 2428: any
// delimiter character, three of them, the port, one more). nullopt for a
// malformed reply or port 0.
std::optional<std::uint16_t> parse_epsv(std::string_view reply);

// "227 Entering Passive Mode (127,0,0,1,195,149)" → 195*256+149. The
// parentheses are optional in practice (RFC 1123 says scan for the digits).
// The address is not returned on purpose: a client should connect to the
// control connection's server, so a reply can never send it elsewhere.
std::optional<std::uint16_t> parse_pasv(std::string_view reply);

// ---- HTTP -----------------------------------------------------------------------

// What the client needs from a response head to read the body and know
// whether the connection stays open.
struct HttpHead {
  int code = 0;
  // Absent: the body runs until the server closes (HTTP/1.0 style). A
  // "Transfer-Encoding: chunked" head has none either: the simulator's
  // servers never chunk, so chunked bodies are read to the close as well.
  std::optional<std::uint64_t> content_length;
  bool close = false;  // "Connection: close", or HTTP/1.0 without keep-alive
};

// `head` is the status line and the header lines, up to (and optionally
// including) the blank line. nullopt for a status line that is not
// "HTTP/1.x NNN ..." or a Content-Length that is not a plain number.
std::optional<HttpHead> parse_http_head(std::string_view head);

// True when `text` starts with `prefix`, ASCII case ignored.
bool iequals_prefix(std::string_view text, std::string_view prefix);

// ---- the visitor count ----------------------------------------------------------

// The first number in a visitor-count answer: the FTP reply "200 Visitor
// count: 7." (skip_code: the three-digit code is not it) or an HTTP /count
// body "7\n". nullopt when there is no digit.
std::optional<std::int64_t> parse_count(std::string_view text, bool skip_code = true);

}  // namespace sockscope::protocol
