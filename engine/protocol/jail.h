// The jail: the only part of the file system a session can read.
//
// Two layers keep a client inside the root, and both are needed:
//  1. A virtual path. Every argument is joined to the session's virtual cwd and
//     normalised as text, so ".." can never climb above "/", and an absolute
//     path means "relative to the root" (what vsftpd's chroot gives anonymous
//     users). This layer alone is defeated by a symlink inside the root.
//  2. Kernel-checked opens. The virtual path is opened relative to a directory
//     fd of the root with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS):
//     the kernel refuses any resolution (symlinks included) that would leave
//     the root, and there is no window between the check and the use. On a
//     kernel without openat2 (ENOSYS) we fall back to realpath() and a prefix
//     check, which is racy against a concurrent symlink swap but still refuses
//     every static escape.
// Only regular files are served; only regular files and directories are
// listed; symlinks are listed as what they point to, never with their target,
// and hidden when they point outside the root.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sockscope::protocol {

struct JailEntry {
  std::string name;
  bool is_dir = false;
  std::uint64_t size = 0;
  std::int64_t mtime = 0;  // seconds since the epoch
  unsigned mode = 0;       // permission bits (07777)
  std::uint64_t nlink = 1;
};

enum class JailError { none, not_found, not_regular, too_large, io };

class Jail {
 public:
  // How paths are checked against the root. `realpath` is the ENOSYS
  // fallback; tests select it to cover that path on kernels with openat2.
  enum class Resolver { openat2, realpath };

  // Throws std::system_error when `root` cannot be opened as a directory.
  explicit Jail(const std::filesystem::path& root, Resolver resolver = Resolver::openat2);
  ~Jail();
  Jail(const Jail&) = delete;
  Jail& operator=(const Jail&) = delete;

  // Joins `arg` to the virtual `cwd` and normalises it; the result always
  // starts with "/" and never contains "." or ".." components.
  static std::string resolve(std::string_view cwd, std::string_view arg);

  // A regular file or a directory at the virtual path, or nullopt (missing,
  // escaping the root, or another kind of file).
  std::optional<JailEntry> stat(const std::string& vpath) const;
  bool is_dir(const std::string& vpath) const;

  // Reads a regular file from `offset` (clamped to its size) into `out`.
  // Files larger than `cap` bytes are refused with too_large.
  JailError read_file(const std::string& vpath, std::uint64_t offset, std::uint64_t cap,
                      std::string& out) const;

  // The entries of a directory, sorted by name, or nullopt if `vpath` is not a
  // directory inside the root.
  std::optional<std::vector<JailEntry>> list(const std::string& vpath) const;

  // One `ls -l` line without its line ending, e.g.
  // "-rw-r--r--    1 ftp      ftp            28 Nov 22 13:38 hello.txt".
  // English month names whatever the locale; the year instead of the time for
  // entries more than ~6 months old (or in the future), like ls. UTC.
  static std::string ls_line(const JailEntry& e, std::int64_t now);
  // "YYYYMMDDHHMMSS" in UTC (RFC 3659 MDTM).
  static std::string mdtm(std::int64_t mtime);

  Resolver resolver() const { return resolver_; }

 private:
  // fd of the virtual path opened beneath the root with `flags`, or -errno.
  // A failure under a root that was removed opens the root afresh and tries
  // once more.
  int open_beneath(const std::string& vpath, int flags) const;
  int open_under_root(const std::string& vpath, int flags) const;

  struct Root;  // the root's descriptor and realpath, shared (jail.cpp)
  // trust: the process's open root as it is (a new session); look: check it
  // was not removed first (a lookup under it failed).
  enum class RootCheck { trust, look };
  static std::shared_ptr<const Root> open_root(const std::filesystem::path& root, RootCheck check);

  mutable std::shared_ptr<const Root> root_;
  mutable Resolver resolver_;
};

}  // namespace sockscope::protocol
