// The catalogue of bad inputs for bench_reliability (reliability_catalogue.h).
#include "reliability_catalogue.h"

#include <stdlib.h>

#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <stdexcept>

#include "servers/serve_command.h"

namespace sockscope::bench {
namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string random_bytes(unsigned seed, std::size_t n) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}
std::string nul(const char* s, std::size_t n) { return std::string(s, n); }  // a literal with NULs in it
std::string times(int n, const std::function<std::string(int)>& f) {
  std::string s;
  for (int i = 0; i < n; ++i) s += f(i);
  return s;
}

// Paths that try to leave the root: "..", absolute names, encodings, the
// symlinks inside the root, the secret beside it.
std::vector<std::string> traversal_paths(const TempRoot& j) {
  const std::string s = j.secret + ".txt";
  return {"../../etc/passwd", "../../../../../../../../etc/passwd", "/etc/passwd", "..//..//etc/passwd",
          "....//....//etc/passwd", "%2e%2e/%2e%2e/etc/passwd", "../" + s, "/../" + s, "pub/../../" + s,
          "hello.txt/../../" + s, "./../" + s, "..\\" + s, "up/" + s, "up/up/etc/passwd", "esc.txt", "etc/passwd",
          "passwd", "/proc/self/root/etc/passwd", "/proc/self/environ", "~root/../" + s, "..",
          "../" + j.secret + ".dir", "/dev/zero", "up", "etc"};
}

std::vector<Probe> expand(const std::vector<Family>& families) {
  std::vector<Probe> out;
  for (const auto& f : families)
    for (const auto& v : f.variants)
      for (End e : f.ends) out.push_back({f.label, f.before + v + f.after, e, f.data, f.pieces, f.gap_ms});
  return out;
}

// Random bytes, seeded (the same every run), in four sizes.
std::vector<std::string> random_inputs(unsigned salt) {
  std::vector<std::string> v;
  for (unsigned seed = 1; seed <= 12; ++seed)
    for (unsigned n : {16, 300, 3000, 20000}) v.push_back(random_bytes(seed * salt + n, n));
  return v;
}

}  // namespace

TempRoot::TempRoot() {
  char tmpl[] = "/tmp/bench_reliability.XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir = tmpl;
  root = dir / "root";
  fs::copy(sockscope::servers::default_root(), root, fs::copy_options::recursive);
  std::mt19937_64 rng(std::random_device{}());
  secret = "outside-" + std::to_string(rng());
  secret_content = "SECRET-CONTENT-" + std::to_string(rng()) + "\n";
  std::ofstream(dir / (secret + ".txt")) << secret_content;
  fs::create_directory(dir / (secret + ".dir"));
  fs::create_symlink("..", root / "up");
  fs::create_symlink("/etc", root / "etc");
  fs::create_symlink("/etc/passwd", root / "passwd");
  fs::create_symlink("../" + secret + ".txt", root / "esc.txt");
  hello = read_text(root / "hello.txt");
}

TempRoot::~TempRoot() {
  std::error_code ec;
  fs::remove_all(dir, ec);
}

bool TempRoot::leaked(const Probe& p, const std::string& got) const {
  return got.find(secret_content) != std::string::npos || got.find("root:x:0:0") != std::string::npos ||
         (p.bytes.find(secret) == std::string::npos && got.find(secret) != std::string::npos);
}

// The catalogues are tables: one row per family, laid out by hand.
// clang-format off
std::vector<Probe> ftp_catalogue(const TempRoot& j) {
  const std::string in = "USER anonymous\r\nPASS x\r\n";
  const std::vector<std::string> paths = traversal_paths(j), random = random_inputs(7919),
      verbs = {"USER", "PASS", "SYST", "FEAT", "OPTS", "PWD", "CWD", "CDUP", "TYPE", "MODE", "STRU", "EPSV", "PASV",
               "LIST", "NLST", "RETR", "SIZE", "MDTM", "REST", "NOOP", "HELP", "STAT", "ABOR", "PORT", "EPRT", "STOR",
               "DELE", "MKD", "RNFR", "RNTO", "APPE", "ALLO", "ACCT", "REIN"},
      unknown = {"FOO", "XYZZY", "GET / HTTP/1.0", "SITE EXEC /bin/sh", "SITE CHMOD 777 x", "SITE", "SITE WORK",
                 "SITE SLEEP x", "HELO x", "\x7f\x7f", "R E T R", "RETRhello.txt", " ", "\t\t"};
  std::vector<std::string> by_path;
  for (const auto& p : paths)
    for (const char* v : {"SIZE ", "MDTM ", "STAT ", "PASV\r\nRETR ", "PASV\r\nLIST ", "PASV\r\nNLST ", "CWD "})
      by_path.push_back(v + p + (v[0] == 'C' ? "\r\nPWD\r\nPASV\r\nLIST\r\nPASV\r\nRETR passwd" : ""));
  const std::string every_path = times(static_cast<int>(paths.size()), [&](int i) {
    return "CWD " + paths[i] + "\r\nSIZE " + paths[i] + "\r\nPASV\r\nRETR " + paths[i] + "\r\n"; });
  const std::string two_hundred_unknown = times(200, [](int i) { return "X" + std::to_string(i) + "\n"; });
  return expand({
      {"unknown verb", "", unknown},
      {"unknown verb, logged in", in, unknown},
      // Never with a valid number: SITE WORK 10000 would hold a serial server 10 s.
      {"verb, no argument", in, verbs},
      {"verb, too many arguments", in, verbs, " a b c d e f g\r\n"},
      {"verb, 4000-byte argument", in, verbs, " " + std::string(4000, 'a') + "\r\n"},
      {"before login", "", {"RETR hello.txt", "LIST", "CWD /", "PASV", "SIZE hello.txt", "STAT /", "NLST", "MDTM x"}},
      {"path traversal", in, by_path},
      {"PORT bounce", in, {"PORT 8,8,8,8,0,21", "PORT 127,0,0,1,0,22", "EPRT |1|8.8.8.8|21|", "LPRT 4,4,8,8,8,8,2,0,21",
                           "PORT 1,2,3", "PORT 999,999,999,999,999,999", "EPRT |2|::1|22|",
                           "PORT 8,8,8,8,0,21\r\nRETR hello.txt"}},
      {"huge REST", in + "TYPE I\r\nREST ", {"99999999999999999", "18446744073709551615", "-1", "1e9", "307199",
                                             "307200"}, "\r\nPASV\r\nRETR data.bin\r\n"},
      {"LIST with options", in + "PASV\r\n", {"LIST -la", "LIST -R", "LIST -la /", "LIST -a ../..", "LIST -R /../..",
                                              "LIST --", "NLST -", "NLST -l -a -R ../../etc", "NLST -R /../.."}},
      {"100 KB line", "", {std::string(100000, 'A'), "USER " + std::string(100000, 'u') + "\r\n",
                           in + "RETR " + std::string(100000, '.') + "\r\n"}, "", {End::hold}},
      {"100 KB of bare newlines", "", {std::string(100000, '\n')}, ""},
      {"line at the 4096 limit", "NOOP ", {std::string(4090, 'x'), std::string(4091, 'x'), std::string(4092, 'x'),
                                           std::string(4093, 'x')}, "\r\n", {End::hold}},
      {"no CRLF", in, {"RETR hello.txt", "PASV", "\xff\xf4", "NOOP"}, "", {End::fin, End::close}},
      {"no CRLF", "", {"USER anonymous"}, "", {End::fin, End::close, End::hold}},
      {"NUL bytes", "", {nul("US\0ER a", 7), nul("USER a\0b\r\nPASS \0", 16), nul("\0\0\0", 3), std::string(1000, '\0'),
                         in + "PASV\r\n" + nul("RETR hello.txt\0../", 18) + j.secret + ".txt",
                         in + "PASV\r\n" + nul("RETR ../../etc/passwd\0hello.txt", 31)}},
      {"telnet IAC", in, {"\xff\xf4\xff\xf2" "ABOR", "\xff\xfb\x01USER a", "\xff", "USER \xff\xff", "\xff\xfa\x18",
                          "\xff\xfd\x03\xff\xfb\x18PASS x", "RE\xff\xf1TR ../../etc/passwd",
                          "\xff\xfa" + std::string(5000, 'x')}},
      {"random binary", "", random, ""},
      {"random binary, logged in", in, random, ""},
      {"connect, then hang up", "", {"", "", ""}, "", {End::close, End::rst}},
      {"log in, then RST", in, {"", "PASV\r\n"}, "", {End::rst}},
      {"RST mid-transfer", in + "TYPE I\r\nPASV\r\n", {"RETR data.bin", "LIST -R /"}, "\r\n", {End::rst_after}},
      {"one connection, many commands", in, {every_path, two_hundred_unknown,
                                             "QUIT\r\nQUIT\r\nRETR hello.txt\r\n", in + "REIN\r\nUSER\r\nPASS\r\n"},
       ""},
      {"partial command held (request deadline)", in, {"RETR hello"}, "", {End::deadline}},
      {"PASV, never connecting", in, {"PASV", "PASV\r\nPASV\r\nPASV", "EPSV", "EPSV 3", "EPSV ALL", "PASV\r\nQUIT"},
       "\r\n", {End::fin}, false},
      {"slow partial command", in, {"RETR hello.txt\r\nNOOP", "USER anonym"}, "", {End::fin, End::rst}, true, 6, 50},
      // Last: a blocking server waits 10 s (the data-accept limit) for this data
      // connection, and a serial server makes everyone wait with it.
      {"PASV + RETR, data never connected", in, {"PASV\r\nRETR hello.txt"}, "\r\n", {End::hold}, false},
  });
}

std::vector<Probe> http_catalogue(const TempRoot& j) {
  auto req = [](const std::string& method, const std::string& target, const std::string& version = "HTTP/1.1",
                const std::string& headers = "Host: x\r\n") {
    return method + " " + target + " " + version + "\r\n" + headers + "\r\n"; };
  const std::string s = j.secret + ".txt", te = "Host: x\r\nTransfer-Encoding: chunked\r\n";
  std::vector<std::string> targets = {"/%2e%2e/%2e%2e/etc/passwd", "/%2e%2e/" + s, "/%252e%252e/etc/passwd",
      "/..%2f" + s, "/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "//etc/passwd", "/%00../" + s, "/hello.txt%00.png", "/%", "/%zz",
      "http://localhost/../../etc/passwd", "http://evil.example/../" + s, "HTTPS://x/%2e%2e/etc/passwd", "http://x",
      "example.com:80", "../etc/passwd"}, by_target, lengths;
  for (const auto& p : traversal_paths(j)) targets.push_back("/" + p);
  for (const auto& t : targets)
    for (const std::string& v : {req("GET", t), req("HEAD", t), req("GET", t, "HTTP/1.0", ""),
                                 req("GET", t) + req("GET", "/hello.txt")})
      by_target.push_back(v);
  for (const char* h : {"Content-Length: 5\r\nContent-Length: 6", "Content-Length: 5\r\nContent-Length: 5",
                        "Content-Length: -1", "Content-Length: 99999999999999999999", "Content-Length: 1e3",
                        "Content-Length: 0x10", "Content-Length:", "Content-Length: 5, 6", "Content-Length: 10",
                        "Content-Length: 5\r\nTransfer-Encoding: chunked"})
    for (const char* m : {"GET", "POST"})
      lengths.push_back(req(m, "/hello.txt", "HTTP/1.1", "Host: x\r\n" + std::string(h) + "\r\n") + "hello");
  const std::string many = times(100, [&](int i) {
    return req(i % 3 ? "GET" : "HEAD", i % 5 ? "/hello.txt" : "/../etc/passwd"); });
  return expand({
      {"garbage request", "", {"GARBAGE\r\n\r\n", "GET\r\n\r\n", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
                               "GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", " GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                               "GET\t/\tHTTP/1.1\r\n\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                               nul("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + random_bytes(3, 64),
                               nul("G\0ET / HTTP/1.1\r\nHost: x\r\n\r\n", 28), "GET / HTTP/1.1\rHost: x\r\r",
                               "GET / HTTP/1.1\nHost: x\n\n", "get / http/1.1\r\n\r\n", "SSH-2.0-OpenSSH_9.6\r\n",
                               "GET / HTTP/1.1\r\n: empty\r\n\r\n",
                               "GET / HTTP/1.1\r\nHost x\r\n\r\n", "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
                               "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "USER anonymous\r\nPASS x\r\n\r\n",
                               "GET ? HTTP/1.1\r\nHost: x\r\n\r\n", "GET * HTTP/1.1\r\nHost: x\r\n\r\n"},
       "", {End::fin, End::hold}},
      // Blank lines alone are ignored (RFC 9112 2.2): held open that is an idle client, so FIN only.
      {"garbage request", "", {"\r\n\r\n\r\n"}, ""},
      {"HTTP/0.9", "GET /", {"hello.txt", "../../etc/passwd", "", "../" + s}, "\r\n", {End::fin, End::hold}},
      {"Host header", "", {"GET /hello.txt HTTP/1.1\r\n\r\n", req("GET", "/", "HTTP/1.1", "Host: x\r\nHost: y\r\n"),
                           req("GET", "/hello.txt", "HTTP/1.1", "Host:\r\n")}, "", {End::hold}},
      {"Content-Length", "", lengths, ""},
      {"NUL in a header", "GET /hello.txt HTTP/1.1\r\nHost: x\r\n", {nul("X-A: a\0b", 8), nul("Host: x\0", 8),
       nul("X\0Y: z", 6), nul("\0: x", 4), "Cookie: " + std::string(100, '\0')}, "\r\n\r\n", {End::hold}},
      {"100 KB", "", {req("GET", "/hello.txt", "HTTP/1.1", "Host: x\r\nX-Big: " + std::string(100000, 'b') + "\r\n"),
                      req("GET", "/" + std::string(100000, 'a')), req(std::string(100000, 'G'), "/"),
                      std::string(100000, 'x'), req("GET", "/hello.txt", "HTTP/1.1", "Host: x\r\n" + times(1000,
                          [](int i) { return "X-" + std::to_string(i) + ": " + std::string(90, 'v') + "\r\n"; }))},
       "", {End::fin, End::hold}},
      // The header section ends at byte 39 + padding: 8191, 8192 (the limit), 8193.
      {"header at the 8 KiB limit", "GET /hello.txt HTTP/1.1\r\nHost: x\r\nX: ", {std::string(8152, 'h'),
       std::string(8153, 'h'), std::string(8154, 'h')}, "\r\n\r\n", {End::hold}},
      {"path traversal", "", by_target, ""},
      {"bad method", "", {req("POST", "/hello.txt"), req("PUT", "/x"), req("DELETE", "/hello.txt"), req("TRACE", "/"),
                          req("CONNECT", "127.0.0.1:22"), req("OPTIONS", "*"), req("PATCH", "/"), req("PROPFIND", "/"),
                          req("get", "/"), req("G(T", "/"), req("BREW", "/"), req("\x01GET", "/"),
                          req(std::string(300, 'X'), "/")}, ""},
      {"bad version", "GET /hello.txt ", {"HTTP/1.2", "HTTP/2.0", "HTTP/0.9", "HTTP/1", "HTTP/1.1.1", "HTTPS/1.1",
                                          "http/1.1", "HTTP/9.9", "HTTP/-1.1", "HTTP/ 1.1", "HTTP/11", "HTTP/1.x"},
       "\r\nHost: x\r\n\r\n", {End::hold}},
      {"chunked body", "", {req("POST", "/", "HTTP/1.1", te) + "5\r\nhello\r\n0\r\n\r\n",
                            req("GET", "/hello.txt", "HTTP/1.1", te) + "5\r\nhello\r\n0\r\n\r\n",
                            req("POST", "/", "HTTP/1.1", te) + "ffffffffffffffff\r\nx",
                            req("POST", "/", "HTTP/1.1", te) + "-1\r\n",
                            req("POST", "/", "HTTP/1.1", te) + "0\r\n\r\n" + req("GET", "/../" + s),
                            req("GET", "/", "HTTP/1.1", te + "Transfer-Encoding: identity\r\n") + "0\r\n\r\n",
                            req("POST", "/", "HTTP/1.1", te + "Content-Length: 4\r\n") + "0\r\n\r\n" +
                                req("GET", "/up/" + s)}, ""},
      {"pipelined", "", {req("GET", "/hello.txt") + req("GET", "/pub/") +
                             req("GET", "/hello.txt", "HTTP/1.1", "Host: x\r\nConnection: close\r\n"),
                         many, req("GET", "/hello.txt") + "GARBAGE\r\n\r\n" + req("GET", "/hello.txt"),
                         req("GET", "/count") + req("GET", "/work?ms=abc") + req("GET", "/sleep?ms=-1") +
                             req("GET", "/work?ms=99999999999999999999"),
                         req("GET", "/hello.txt", "HTTP/1.0", "") + req("GET", "/hello.txt")}, ""},
      {"random binary", "", random_inputs(104729), ""},
      {"connect, then hang up", "", {"", "", ""}, "", {End::close, End::rst}},
      {"request, then RST", "", {req("GET", "/data.bin"), many}, "", {End::rst, End::rst_after}},
      {"partial request held (request deadline)", "GET /hello.txt HTTP/1.1\r\nHost: x\r\n", {""}, "", {End::deadline}},
      {"slow partial request", "GET /hello.txt HTTP/1.1\r\n", {"Host: x\r\n", "Ho"}, "", {End::fin, End::rst}, true, 6,
       50},
  });
}
// clang-format on

}  // namespace sockscope::bench
