// The hostile part of bench_reliability: the catalogue of bad inputs, as
// tables (one row per family of variants), and the temporary root they are
// tried against. Kept apart from the runner (bench_reliability.cpp), which
// sends each probe and sorts what comes back.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace sockscope::bench {

// How a probe ends once its bytes are sent. fin: half-close, read to the
// server's close. hold: stay open, read until the server closes or is quiet
// 100 ms after replying. deadline: stay open, the server must close by itself
// (its request deadline) within 3 s, else a hang. close / rst: hang up at once.
// rst_after: like hold, but FTP data is never read (the transfer stalls), then
// RST everything.
enum class End : std::uint8_t { fin, hold, deadline, close, rst, rst_after };

struct Probe {
  std::string label, bytes;
  End end = End::fin;
  bool data = true;            // FTP: connect to every 227/229 port offered
  int pieces = 1, gap_ms = 0;  // a slow client: `pieces` writes `gap_ms` apart
};

// A family of bad inputs: each variant is sent as before + variant + after.
struct Family {
  std::string label, before;
  std::vector<std::string> variants;
  std::string after = "\r\n";
  std::vector<End> ends = {End::fin};  // one probe per variant and end
  bool data = true;
  int pieces = 1, gap_ms = 0;
};

// A temp root: the sample files, symlinks out of it (up -> .., etc -> /etc,
// passwd, esc.txt -> the secret), and beside it a secret file and directory
// whose content or names must never come back.
struct TempRoot {
  std::filesystem::path dir, root;
  std::string secret, secret_content, hello;
  TempRoot();
  ~TempRoot();
  TempRoot(const TempRoot&) = delete;
  TempRoot& operator=(const TempRoot&) = delete;
  // Whether `got` (a reply or FTP data for probe `p`) carries the secret,
  // /etc/passwd, or the secret's name when the probe did not send it.
  bool leaked(const Probe& p, const std::string& got) const;
};

// Every probe per protocol, in a fixed order (random inputs are seeded).
std::vector<Probe> ftp_catalogue(const TempRoot& j);
std::vector<Probe> http_catalogue(const TempRoot& j);

}  // namespace sockscope::bench
