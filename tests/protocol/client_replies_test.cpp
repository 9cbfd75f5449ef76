// The client simulator's reply parsers, with strings only: what it makes of
// FTP reply lines, 227/229 passive replies, HTTP response heads and visitor
// counts, including the malformed ones a broken or hostile server may send.
#include <gtest/gtest.h>

#include <string>

#include "protocol/client_replies.h"

using namespace sockscope::protocol;

namespace {

// ---- FTP reply lines ------------------------------------------------------------

TEST(FtpReplyLine, CodeAndContinuation) {
  auto one = parse_ftp_reply_line("230 Login successful.");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->code, 230);
  EXPECT_FALSE(one->continued);

  auto first = parse_ftp_reply_line("211-Features:");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->code, 211);
  EXPECT_TRUE(first->continued);

  auto bare = parse_ftp_reply_line("200");
  ASSERT_TRUE(bare) << "a bare code is a complete one-line reply";
  EXPECT_EQ(bare->code, 200);
  EXPECT_FALSE(bare->continued);
}

TEST(FtpReplyLine, NotAReplyLine) {
  for (std::string_view line : {"", "22", "abc hello", " EPSV", "2x0 odd", "2000 four digits", "220_under",
                                "\t211 indented"})
    EXPECT_FALSE(parse_ftp_reply_line(line)) << "'" << line << "'";
  // Three digits are a code even below 100; the caller refuses those.
  auto low = parse_ftp_reply_line("099 what");
  ASSERT_TRUE(low);
  EXPECT_EQ(low->code, 99);
}

// ---- 229 (EPSV) -----------------------------------------------------------------

TEST(Epsv, ThePortBetweenTheDelimiters) {
  EXPECT_EQ(parse_epsv("229 Entering Extended Passive Mode (|||50123|)"), 50123);
  EXPECT_EQ(parse_epsv("229 Entering Extended Passive Mode (|||50123|)."), 50123);
  EXPECT_EQ(parse_epsv("229 (!!!2121!)"), 2121) << "any delimiter, as RFC 2428 allows";
  EXPECT_EQ(parse_epsv("229 Extended (|||1|)"), 1);
  EXPECT_EQ(parse_epsv("229 Extended (|||65535|)"), 65535);
}

TEST(Epsv, MalformedRepliesAreRefused) {
  for (std::string_view reply : {
           "229 Entering Extended Passive Mode",           // no parentheses
           "229 Entering Extended Passive Mode (|||)",     // no port
           "229 Entering Extended Passive Mode (||50123|)",  // two delimiters
           "229 Entering Extended Passive Mode (|!|50123|)",  // mixed delimiters
           "229 Entering Extended Passive Mode (|||50123)",   // no closing delimiter
           "229 Entering Extended Passive Mode (|||50123",    // cut off
           "229 Entering Extended Passive Mode (|||0|)",      // port 0
           "229 Entering Extended Passive Mode (|||65536|)",  // too large
           "229 Entering Extended Passive Mode (|||123456|)",  // six digits
           "229 Entering Extended Passive Mode (|||-1|)",
           "229 (",
           "",
       })
    EXPECT_FALSE(parse_epsv(reply)) << "'" << reply << "'";
}

// ---- 227 (PASV) -----------------------------------------------------------------

TEST(Pasv, PortFromTheLastTwoNumbers) {
  EXPECT_EQ(parse_pasv("227 Entering Passive Mode (127,0,0,1,195,149)"), 195 * 256 + 149);
  EXPECT_EQ(parse_pasv("227 Entering Passive Mode (127,0,0,1,195,149)."), 195 * 256 + 149);
  // Without parentheses (RFC 1123: scan for the first digit after the code).
  EXPECT_EQ(parse_pasv("227 Entering Passive Mode 127,0,0,1,4,1"), 4 * 256 + 1);
  EXPECT_EQ(parse_pasv("227 =10,0,0,7,0,21"), 21);
  // The address is ignored: another host's address still gives only the port.
  EXPECT_EQ(parse_pasv("227 Entering Passive Mode (192,0,2,9,255,255)"), 65535);
}

TEST(Pasv, MalformedRepliesAreRefused) {
  for (std::string_view reply : {
           "227 Entering Passive Mode",                      // no numbers
           "227 Entering Passive Mode (127,0,0,1,195)",      // five numbers
           "227 Entering Passive Mode (127,0,0,1,195,)",     // empty sixth
           "227 Entering Passive Mode (127,0,0,1,256,1)",    // over 255
           "227 Entering Passive Mode (127,0,0,1,0001,1)",   // four digits
           "227 Entering Passive Mode (127;0;0;1;195;149)",  // wrong separator
           "227 Entering Passive Mode (127, 0,0,1,195,149)",  // a space
           "227 Entering Passive Mode (127,0,0,1,0,0)",      // port 0
           "227 Entering Passive Mode (a,b,c,d,e,f)",
           "",
       })
    EXPECT_FALSE(parse_pasv(reply)) << "'" << reply << "'";
}

// ---- HTTP heads -----------------------------------------------------------------

TEST(HttpHead, StatusContentLengthAndKeepAlive) {
  auto h = parse_http_head(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->code, 200);
  EXPECT_EQ(h->content_length, 14u);
  EXPECT_FALSE(h->close);

  // HTTP/1.1 keeps the connection without being told; header names and
  // values are case-blind and values are trimmed.
  auto lower = parse_http_head("http/1.1 404 Not Found\r\ncontent-LENGTH: \t10 \r\n\r\n");
  ASSERT_TRUE(lower);
  EXPECT_EQ(lower->code, 404);
  EXPECT_EQ(lower->content_length, 10u);
  EXPECT_FALSE(lower->close);

  auto zero = parse_http_head("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(zero);
  EXPECT_EQ(zero->content_length, 0u);

  auto no_reason = parse_http_head("HTTP/1.1 200\r\n\r\n");
  ASSERT_TRUE(no_reason) << "the reason phrase is optional";
  EXPECT_EQ(no_reason->code, 200);
  EXPECT_FALSE(no_reason->content_length);

  auto status_only = parse_http_head("HTTP/1.1 302 Found");
  ASSERT_TRUE(status_only) << "no header lines and no CRLF at all";
  EXPECT_EQ(status_only->code, 302);
}

TEST(HttpHead, ConnectionClose) {
  auto close = parse_http_head("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(close);
  EXPECT_TRUE(close->close);
  EXPECT_EQ(close->content_length, 3u);

  auto upper = parse_http_head("HTTP/1.1 503 Service Unavailable\r\nCONNECTION: Close\r\n\r\n");
  ASSERT_TRUE(upper);
  EXPECT_TRUE(upper->close);
  EXPECT_EQ(upper->code, 503);

  // HTTP/1.0 closes unless it says keep-alive.
  auto old = parse_http_head("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n");
  ASSERT_TRUE(old);
  EXPECT_TRUE(old->close);
  auto old_kept = parse_http_head("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n");
  ASSERT_TRUE(old_kept);
  EXPECT_FALSE(old_kept->close);

  // The last Connection header wins; other headers that merely contain the
  // word do not count.
  auto last = parse_http_head("HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_TRUE(last);
  EXPECT_FALSE(last->close);
  auto other = parse_http_head("HTTP/1.1 200 OK\r\nX-Connection: close\r\nProxy-Connection: close\r\n\r\n");
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->close);
}

TEST(HttpHead, ChunkedHasNoLengthSoTheBodyRunsToTheClose) {
  // The simulator reads a body without Content-Length until the server closes.
  // Our servers always send a length; a chunked head is read the same way.
  auto h = parse_http_head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->code, 200);
  EXPECT_FALSE(h->content_length);
  EXPECT_FALSE(h->close);
}

TEST(HttpHead, BadStatusLinesAndLengthsAreRefused) {
  for (std::string_view head : {
           "",
           "HTTP/1.1",
           "HTTP/1.1 20",            // too short
           "HTTP/1.1 2x0 OK\r\n\r\n",  // not a number
           "HTTP/1.1  200 OK\r\n\r\n",  // two spaces
           "HTTP/2 200 OK\r\n\r\n",     // not HTTP/1.x
           "HTTP/1.1-200 OK\r\n\r\n",
           "HTTZ/1.1 200 OK\r\n\r\n",
           "SSH-2.0-OpenSSH_9.6\r\n\r\n",  // another protocol
           "220 OHAI\r\n",                 // an FTP server
           " HTTP/1.1 200 OK\r\n\r\n",
       })
    EXPECT_FALSE(parse_http_head(head)) << "'" << head << "'";
  for (std::string_view head : {
           "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
       })
    EXPECT_FALSE(parse_http_head(head)) << "a body of unknown length: '" << head << "'";
  // A header line without a colon is skipped, not an error.
  auto odd = parse_http_head("HTTP/1.1 200 OK\r\nnonsense\r\nContent-Length: 5\r\n\r\n");
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->content_length, 5u);
}

TEST(HttpHead, IequalsPrefix) {
  EXPECT_TRUE(iequals_prefix("Content-Length: 3", "content-length"));
  EXPECT_TRUE(iequals_prefix("CLOSE", "close"));
  EXPECT_TRUE(iequals_prefix("anything", ""));
  EXPECT_FALSE(iequals_prefix("clos", "close"));
  EXPECT_FALSE(iequals_prefix("keep-alive", "close"));
}

// ---- the visitor count ------------------------------------------------------------

TEST(Count, TheFirstNumberAfterTheCode) {
  EXPECT_EQ(parse_count("200 Visitor count: 7."), 7);
  EXPECT_EQ(parse_count("200 Visitor count: 12345"), 12345);
  EXPECT_EQ(parse_count("200 you are visitor 3 of 9"), 3);
  EXPECT_FALSE(parse_count("200 no number here"));
  // An HTTP body has no code to skip.
  EXPECT_EQ(parse_count("7\n", false), 7);
  EXPECT_EQ(parse_count("200\n", false), 200);
  EXPECT_FALSE(parse_count("", false));
  // Forty digits do not overflow: the count stops growing at 2^56.
  auto huge = parse_count(std::string(40, '9'), false);
  ASSERT_TRUE(huge);
  EXPECT_GT(*huge, std::int64_t{1} << 56);
}

}  // namespace
