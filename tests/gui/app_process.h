// Running the real `sockscope` binary from a test: the app (usually under
// xvfb-run) in its own process group so a timeout can kill the whole group
// (xvfb-run, Xvfb, sockscope and anything it started), and reading what it
// wrote (text, PNG). Its files go in a test::TempDir (support/temp_dir.h).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <stb/stb_image.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/temp_dir.h"

namespace sockscope::gui_test {

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Proc {
 public:
  // Forks and execs `argv` (PATH searched) with `set_env` ("K=V") added and
  // `unset_env` removed, stdout and stderr to the two files.
  static Proc spawn(const std::vector<std::string>& argv, const std::vector<std::string>& set_env,
                    const std::vector<std::string>& unset_env, const std::filesystem::path& out,
                    const std::filesystem::path& err) {
    Proc p;
    p.pid_ = fork();
    if (p.pid_ == 0) {
      setpgid(0, 0);
      for (const auto& u : unset_env) unsetenv(u.c_str());
      for (const auto& kv : set_env) putenv(const_cast<char*>(kv.c_str()));
      int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(o, 1);
      dup2(e, 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
    return p;
  }
  Proc(Proc&& o) noexcept : pid_(o.pid_), status_(o.status_), exited_(o.exited_) { o.pid_ = -1; }
  Proc(const Proc&) = delete;
  Proc& operator=(const Proc&) = delete;
  ~Proc() {
    if (pid_ > 0 && !exited_) {
      kill(-pid_, SIGKILL);
      waitpid(pid_, &status_, 0);
    }
  }

  // True once it exited (and was reaped) within `timeout`, or had already:
  // wait_for_file() polls with short waits, and one of them may be the one
  // that reaps it (then waitpid() has nothing left to find: the intermittent
  // "did not exit" of the GUI tests, whose app had exited). A wait of a
  // second or more that runs out writes what every process of the group and
  // each of its threads is doing to stderr (the test's log).
  bool wait_for(std::chrono::milliseconds timeout) {
    if (exited_) return true;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, &status_, WNOHANG) == pid_) {
        exited_ = true;
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (timeout >= std::chrono::seconds(1))
      fprintf(stderr, "still running after %lld ms:\n%s", static_cast<long long>(timeout.count()),
              describe_group().c_str());
    return false;
  }

  // Every process in the group (xvfb-run, Xvfb, the app, what it started):
  // pid, parent, state and command line, then each thread's name, kernel
  // wait channel, system call and (when readable, as root) kernel stack.
  std::string describe_group() const {
    std::ostringstream out;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
      const std::string name = entry.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      const std::string stat = slurp(entry.path() / "stat");
      const auto close = stat.rfind(')');
      if (close == std::string::npos) continue;
      std::istringstream fields(stat.substr(close + 2));
      char state = '?';
      long ppid = 0, pgrp = 0;
      fields >> state >> ppid >> pgrp;
      if (pgrp != pid_) continue;
      std::string cmdline = slurp(entry.path() / "cmdline");
      for (char& c : cmdline)
        if (c == '\0') c = ' ';
      out << "pid " << name << " ppid " << ppid << " state " << state << ": " << cmdline << "\n";
      for (const auto& task : std::filesystem::directory_iterator(entry.path() / "task", ec)) {
        out << "  tid " << task.path().filename().string() << " " << trimmed(slurp(task.path() / "comm"))
            << " wchan " << slurp(task.path() / "wchan") << " syscall "
            << trimmed(slurp(task.path() / "syscall")) << "\n";
        const std::string stack = slurp(task.path() / "stack");
        if (!stack.empty()) out << stack;
      }
    }
    if (out.tellp() == 0) out << "(no process left in group " << pid_ << ")\n";
    return out.str();
  }
  int exit_code() const { return exited_ && WIFEXITED(status_) ? WEXITSTATUS(status_) : -1; }
  pid_t pid() const { return pid_; }

 private:
  Proc() = default;
  static std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }

  pid_t pid_ = -1;
  int status_ = -1;
  bool exited_ = false;
};

inline bool process_exists(pid_t pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

// Waits (up to `limit`, or until the app exits) for the app to write `file`.
inline bool wait_for_file(Proc& app, const std::filesystem::path& file,
                          std::chrono::seconds limit = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!std::filesystem::exists(file) && std::chrono::steady_clock::now() < deadline &&
         !app.wait_for(std::chrono::milliseconds(50))) {
  }
  return std::filesystem::exists(file);
}

// A PNG the app wrote, decoded: its size, how many distinct colours it has
// (a blank or one-colour picture has few), and how many pixels are exactly
// each of `count` (0xRRGGBB: a theme's fill, to find a node box).
struct PngSummary {
  bool ok = false;
  std::string error;
  int w = 0, h = 0;
  std::size_t colours = 0;
  std::map<std::uint32_t, std::size_t> counts;
};
inline PngSummary summarize_png(const std::filesystem::path& path, const std::vector<std::uint32_t>& count = {}) {
  PngSummary out;
  int n = 0;
  unsigned char* pixels = stbi_load(path.c_str(), &out.w, &out.h, &n, 3);
  if (!pixels) {
    out.error = std::string("cannot decode ") + path.string() + ": " + stbi_failure_reason();
    return out;
  }
  std::set<std::uint32_t> colours;
  for (std::uint32_t c : count) out.counts[c] = 0;
  for (int i = 0; i < out.w * out.h; ++i) {
    const unsigned char* p = pixels + static_cast<std::ptrdiff_t>(i) * 3;
    const std::uint32_t rgb = (std::uint32_t{p[0]} << 16) | (std::uint32_t{p[1]} << 8) | p[2];
    colours.insert(rgb);
    if (auto it = out.counts.find(rgb); it != out.counts.end()) ++it->second;
  }
  stbi_image_free(pixels);
  out.colours = colours.size();
  out.ok = true;
  return out;
}

// `xvfb-run` with its own screen ("-screen 0 1280x720x24") and its X
// authority file in `dir`. With -f, xvfb-run makes no temporary directory of
// its own: removing that directory at exit is the one step of its cleanup
// that can fail, and it then exits 5 in place of the app's exit status (seen
// once in CI, with the app's own output all correct).
inline std::vector<std::string> xvfb_run(const test::TempDir& dir, const std::string& screen_arg) {
  return {"xvfb-run", "-a", "-f", (dir / "Xauthority").string(), "-s", screen_arg};
}

// The real binary under its own Xvfb screen ("1280x720") running `script`,
// its --screenshot going to `png`, its settings in the temp dir, stdout and
// stderr in dir/out and dir/err.
inline Proc run_on_screen(const test::TempDir& dir, const std::string& screen, const std::filesystem::path& script,
                          const std::filesystem::path& png) {
  std::vector<std::string> argv = xvfb_run(dir, "-screen 0 " + screen + "x24");
  argv.insert(argv.end(), {SOCKSCOPE_BIN, "--script", script.string(), "--screenshot", png.string()});
  return Proc::spawn(argv, {"XDG_CONFIG_HOME=" + (dir / "config").string()}, {}, dir / "out", dir / "err");
}

}  // namespace sockscope::gui_test
