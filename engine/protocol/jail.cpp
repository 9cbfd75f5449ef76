#include "protocol/jail.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <mutex>
#include <system_error>

namespace sockscope::protocol {

namespace {

// Closes an fd on every return path.
struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

// The path relative to the root fd: openat2 wants no leading "/" (an absolute
// path is refused under RESOLVE_BENEATH) and "." for the root itself.
std::string relative(const std::string& vpath) {
  std::string rel = vpath;
  while (!rel.empty() && rel.front() == '/') rel.erase(rel.begin());
  return rel.empty() ? std::string(".") : rel;
}

JailEntry entry_from(const std::string& name, const struct stat& st) {
  JailEntry e;
  e.name = name;
  e.is_dir = S_ISDIR(st.st_mode);
  e.size = e.is_dir ? 4096 : static_cast<std::uint64_t>(st.st_size);
  e.mtime = st.st_mtim.tv_sec;
  e.mode = st.st_mode & 07777;
  e.nlink = st.st_nlink;
  return e;
}

// A name that would break a line-oriented listing (or a C string) is never
// listed: it could not be asked for over FTP anyway.
bool listable_name(const std::string& name) {
  return name.find_first_of(std::string("\r\n\0", 3)) == std::string::npos;
}

}  // namespace

// The root directory the sessions of one process share: one descriptor and
// one realpath per root for the life of the process, not one per connection.
// 10,000 idle connections cost 10,000 descriptors and not 20,000, and a
// session starting when the process is out of descriptors still has its root.
// Forked children inherit the parent's and share it the same way. A new
// session takes it without a look (no system call); a root found removed (and
// perhaps made again) when a lookup under it fails is opened afresh.
struct Jail::Root {
  int fd = -1;
  std::string path;  // as given: the key to open it again
  std::string real;  // realpath of the root, for the fallback check
  ~Root() {
    if (fd >= 0) ::close(fd);
  }
  bool removed() const {
    struct stat st {};
    return ::fstat(fd, &st) != 0 || st.st_nlink == 0;
  }
};

std::shared_ptr<const Jail::Root> Jail::open_root(const std::filesystem::path& root, RootCheck check) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const Root>> roots;
  std::lock_guard lock(mutex);
  std::shared_ptr<const Root>& slot = roots[root.string()];
  if (slot && (check == RootCheck::trust || !slot->removed())) return slot;
  auto r = std::make_shared<Root>();
  r->fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (r->fd < 0) {
    throw std::system_error(errno, std::generic_category(),
                            "jail root '" + root.string() + "' is not an openable directory");
  }
  r->path = root.string();
  char buf[PATH_MAX];
  if (::realpath(root.c_str(), buf) == nullptr)
    throw std::system_error(errno, std::generic_category(), "realpath of jail root '" + root.string() + "'");
  r->real = buf;
  slot = r;
  return r;
}

Jail::Jail(const std::filesystem::path& root, Resolver resolver)
    : root_(open_root(root, RootCheck::trust)), resolver_(resolver) {}

Jail::~Jail() = default;

std::string Jail::resolve(std::string_view cwd, std::string_view arg) {
  std::vector<std::string_view> parts;
  auto push_all = [&parts](std::string_view p) {
    std::size_t i = 0;
    while (i <= p.size()) {
      std::size_t j = p.find('/', i);
      if (j == std::string_view::npos) j = p.size();
      std::string_view c = p.substr(i, j - i);
      if (c.empty() || c == ".") {
        // nothing
      } else if (c == "..") {
        // Clamped at the root: "/.." is "/", as in a chroot.
        if (!parts.empty()) parts.pop_back();
      } else {
        parts.push_back(c);
      }
      i = j + 1;
    }
  };
  if (arg.empty() || arg.front() != '/') push_all(cwd);
  push_all(arg);
  std::string out;
  for (auto p : parts) {
    out += '/';
    out += p;
  }
  return out.empty() ? std::string("/") : out;
}

int Jail::open_beneath(const std::string& vpath, int flags) const {
  const int fd = open_under_root(vpath, flags);
  if (fd >= 0 || !root_->removed()) return fd;
  // The root was removed since it was opened: look again at what is at its
  // path now (throws if nothing is; the session answers that as an error).
  try {
    root_ = open_root(root_->path, RootCheck::look);
  } catch (const std::system_error&) {
    return fd;
  }
  return open_under_root(vpath, flags);
}

int Jail::open_under_root(const std::string& vpath, int flags) const {
  std::string rel = relative(vpath);
  flags |= O_CLOEXEC;
  if (resolver_ == Resolver::openat2) {
    struct open_how how {};
    how.flags = static_cast<std::uint64_t>(flags);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd = ::syscall(SYS_openat2, root_->fd, rel.c_str(), &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno != ENOSYS) return -errno;
    // Old kernel: switch this jail to the fallback for good.
    resolver_ = Resolver::realpath;
  }
  // Fallback: resolve every symlink, then require the result under the root.
  const std::string& root_real = root_->real;
  std::string full = root_real + "/" + rel;
  char buf[PATH_MAX];
  if (::realpath(full.c_str(), buf) == nullptr) return -errno;
  std::string real = buf;
  bool inside = real == root_real ||
                (real.size() > root_real.size() && real.compare(0, root_real.size(), root_real) == 0 &&
                 (root_real == "/" || real[root_real.size()] == '/'));
  if (!inside) return -EXDEV;
  int fd = ::open(real.c_str(), flags);
  return fd >= 0 ? fd : -errno;
}

std::optional<JailEntry> Jail::stat(const std::string& vpath) const {
  Fd fd(open_beneath(vpath, O_PATH));
  if (fd.fd < 0) return std::nullopt;
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) return std::nullopt;
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return std::nullopt;
  std::string name = vpath.substr(vpath.rfind('/') + 1);
  return entry_from(name.empty() ? "/" : name, st);
}

bool Jail::is_dir(const std::string& vpath) const {
  auto e = stat(vpath);
  return e && e->is_dir;
}

JailError Jail::read_file(const std::string& vpath, std::uint64_t offset, std::uint64_t cap,
                          std::string& out) const {
  out.clear();
  // O_NONBLOCK: opening a FIFO for reading would otherwise block the handler
  // until a writer appears; the S_ISREG check below then refuses it.
  Fd fd(open_beneath(vpath, O_RDONLY | O_NONBLOCK | O_NOCTTY));
  if (fd.fd < 0) return JailError::not_found;
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) return JailError::io;
  if (!S_ISREG(st.st_mode)) return JailError::not_regular;
  auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > cap) return JailError::too_large;
  if (offset >= size) return JailError::none;
  out.resize(size - offset);
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::pread(fd.fd, out.data() + got, out.size() - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return JailError::io;
    if (n == 0) break;  // the file shrank under us: send what is there
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return JailError::none;
}

std::optional<std::vector<JailEntry>> Jail::list(const std::string& vpath) const {
  int dfd = open_beneath(vpath, O_RDONLY | O_DIRECTORY);
  if (dfd < 0) return std::nullopt;
  DIR* dir = ::fdopendir(dfd);
  if (dir == nullptr) {
    ::close(dfd);
    return std::nullopt;
  }
  std::vector<JailEntry> out;
  std::string base = vpath == "/" ? std::string() : vpath;
  while (dirent* d = ::readdir(dir)) {
    std::string name = d->d_name;
    if (name == "." || name == ".." || !listable_name(name)) continue;
    struct stat st {};
    if (::fstatat(dfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      // Listed as what it points to, only if that is inside the root, so a
      // listing never reveals where an escaping link leads.
      Fd target(open_beneath(base + "/" + name, O_PATH));
      if (target.fd < 0 || ::fstat(target.fd, &st) != 0) continue;
    }
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) continue;
    out.push_back(entry_from(name, st));
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end(), [](const JailEntry& a, const JailEntry& b) { return a.name < b.name; });
  return out;
}

std::string Jail::ls_line(const JailEntry& e, std::int64_t now) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char perms[11];
  perms[0] = e.is_dir ? 'd' : '-';
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) perms[1 + i] = (e.mode & (0400u >> i)) ? rwx[i] : '-';
  perms[10] = '\0';

  std::time_t t = static_cast<std::time_t>(e.mtime);
  std::tm tm {};
  ::gmtime_r(&t, &tm);
  // ls shows the year for anything older than six months or in the future.
  constexpr std::int64_t kSixMonths = 182LL * 24 * 3600;
  bool recent = e.mtime <= now + 3600 && now - e.mtime < kSixMonths;
  char when[16];
  if (recent) {
    std::snprintf(when, sizeof when, "%02d:%02d", tm.tm_hour, tm.tm_min);
  } else {
    std::snprintf(when, sizeof when, " %04d", tm.tm_year + 1900);
  }
  char line[128];
  std::snprintf(line, sizeof line, "%s %4llu ftp      ftp      %12llu %s %2d %5s ", perms,
                static_cast<unsigned long long>(e.nlink), static_cast<unsigned long long>(e.size),
                kMonths[tm.tm_mon % 12], tm.tm_mday, when);
  return line + e.name;
}

std::string Jail::mdtm(std::int64_t mtime) {
  std::time_t t = static_cast<std::time_t>(mtime);
  std::tm tm {};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

}  // namespace sockscope::protocol
