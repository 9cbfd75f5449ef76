// The architecture and settings tables (see architecture.h). A new
// architecture is one server file plus one row in kArchitectures.
#include "servers/architecture.h"

#include <charconv>

#include "servers/server.h"

namespace sockscope::servers {
namespace {

using G = trace::GateKind;
using S = SettingId;

// ---- settings -------------------------------------------------------------------

constexpr std::array<Setting, kSettingCount> kSettings = {{
    {S::reap, "reap", "reap children", SettingKind::toggle, 0, 1, 1, {"off", "on"}, "--reap",
     {{{"--no-reap", 0, "never reap exited children (they stay zombies)"}, {}}},
     "On: the parent collects every exited child with waitpid(). Off: exited children stay zombies "
     "(state Z) and keep their slot under max children. Turning it on while the server runs makes it "
     "reap its zombies at once."},
    {S::max_children, "max_children", "max children", SettingKind::number, 1, 100000, 64, {}, "--max-children", {},
     "Refuse a connection (FTP 421, HTTP 503) while this many children are alive or not yet reaped."},
    {S::max_threads, "max_threads", "max threads", SettingKind::number, 1, 10000, 256, {}, "--max-threads", {},
     "Refuse a connection (421/503) while this many handler threads are alive or not yet joined."},
    {S::workers, "workers", "workers", SettingKind::number, 1, 1024, 4, {}, "--workers", {},
     "Started before the first client: threads (pool) or processes (prefork, hybrid)."},
    {S::queue, "queue", "queue", SettingKind::number, 0, 100000, 64, {}, "--queue", {},
     "Accepted connections that may wait for a free worker; more are refused (421/503)."},
    {S::counter, "counter", "visitor counter", SettingKind::choice, 0, 1, 0, {"unsafe", "mutex"}, "--counter",
     {{{"--unsafe-counter", 0, "visitor counter: read, pause, write (loses updates)"},
       {"--mutex", 1, "visitor counter: update it under a std::mutex"}}},
     "SITE COUNT and GET /count add one to the server's visitor counter. unsafe: read, pause, write, so "
     "two handlers at once lose an update. mutex: the same steps under a lock."},
    {S::race_window_us, "race_window_us", "race window us", SettingKind::number, 0, 1000000, 200, {},
     "--race-window-us", {}, "The visitor counter's pause between its read and its write, in microseconds."},
    {S::notify_fork, "notify_fork", "notify_fork", SettingKind::toggle, 0, 1, 1, {"off", "on"}, "--notify-fork",
     {{{"--no-notify-fork", 0, "skip Asio's notify_fork (workers share one epoll set: the bug it prevents)"}, {}}},
     "On: each worker calls io_context::notify_fork after fork and builds its own epoll set. Off: the "
     "workers share one epoll set and lose each other's events."},
    {S::request_timeout, "request_timeout", "request deadline", SettingKind::number, 1, 300,
     protocol::kRequestTimeoutMs / 1000, {}, "--request-timeout", {},
     "Seconds a client has to send one whole command or request, counted from its first byte; more bytes "
     "do not extend it (Apache's mod_reqtimeout, nginx's client_header_timeout). Then the server answers "
     "(FTP 421, HTTP 408), closes the connection, and the event log shows a timeout. A client that sends "
     "nothing at all is closed by the idle timeout (300 s) instead."},
}};

constexpr bool settings_in_order() {
  for (std::size_t i = 0; i < kSettings.size(); ++i)
    if (static_cast<std::size_t>(kSettings[i].id) != i) return false;
  return true;
}
static_assert(settings_in_order(), "kSettings rows must follow SettingId's order");

// ---- architectures ----------------------------------------------------------------

// Shared state is in every architecture: the visitor counter's gates and
// settings. So is the request deadline: every connection driver enforces it
// (blocking_connection.cpp, async_connection.cpp).
#define COUNTER_GATES G::counter_read, G::counter_write, G::lock, G::unlock
#define SHARED_SETTINGS S::request_timeout, S::counter, S::race_window_us

constexpr std::string_view kSerialSources[] = {"serial_server.cpp", "blocking_connection.cpp", "visitor_counter.cpp"};
constexpr G kSerialGates[] = {G::accept, G::read, G::reply, G::close, COUNTER_GATES};
constexpr S kSerialSettings[] = {SHARED_SETTINGS};

constexpr std::string_view kForkSources[] = {"fork_server.cpp", "blocking_connection.cpp", "visitor_counter.cpp"};
constexpr G kForkGates[] = {G::accept, G::fork,  G::child_start, G::read, G::reply,
                            G::close,  G::exit, G::reap,        COUNTER_GATES};
constexpr S kForkSettings[] = {S::reap, S::max_children, SHARED_SETTINGS};

constexpr std::string_view kThreadSources[] = {"thread_server.cpp", "blocking_connection.cpp", "visitor_counter.cpp"};
constexpr G kThreadGates[] = {G::accept, G::spawn, G::read, G::reply, G::close, G::exit, G::reap, COUNTER_GATES};
constexpr S kThreadSettings[] = {S::max_threads, SHARED_SETTINGS};

constexpr std::string_view kPoolSources[] = {"pool_server.cpp", "blocking_connection.cpp", "visitor_counter.cpp"};
constexpr G kPoolGates[] = {G::accept, G::enqueue, G::dequeue, G::read, G::reply, G::close, COUNTER_GATES};
constexpr S kPoolSettings[] = {S::workers, S::queue, SHARED_SETTINGS};

constexpr std::string_view kPreforkSources[] = {"prefork_server.cpp", "blocking_connection.cpp",
                                                "visitor_counter.cpp"};
constexpr G kPreforkGates[] = {G::accept, G::read, G::reply, G::close, COUNTER_GATES};
constexpr S kPreforkSettings[] = {S::workers, SHARED_SETTINGS};

constexpr std::string_view kEvloopSources[] = {"evloop_server.cpp", "asio_tracking.cpp", "async_connection.cpp",
                                               "visitor_counter.cpp"};
constexpr G kEvloopGates[] = {G::handler_begin, COUNTER_GATES};
constexpr S kEvloopSettings[] = {SHARED_SETTINGS};

// The hybrid's workers run the event loop's code; the master is prefork's.
constexpr std::string_view kHybridSources[] = {"hybrid_server.cpp", "asio_tracking.cpp", "evloop_server.cpp",
                                               "async_connection.cpp", "prefork_server.cpp", "visitor_counter.cpp"};
constexpr G kHybridGates[] = {G::handler_begin, COUNTER_GATES};
constexpr S kHybridSettings[] = {S::workers, S::notify_fork, SHARED_SETTINGS};

// The super-server's loop is the fork server's; the child becomes the handler.
constexpr std::string_view kInetdSources[] = {"inetd_server.cpp", "inetd_handler.cpp", "fork_server.cpp",
                                              "blocking_connection.cpp", "visitor_counter.cpp"};
constexpr G kInetdGates[] = {G::accept, G::fork,  G::child_start, G::exec, G::read, G::reply,
                             G::close,  G::exit, G::reap,        COUNTER_GATES};
constexpr S kInetdSettings[] = {S::reap, S::max_children, SHARED_SETTINGS};

constexpr std::string_view kShotgunSources[] = {"shotgun_server.cpp", "fork_server.cpp", "blocking_connection.cpp",
                                                "visitor_counter.cpp"};
constexpr G kShotgunGates[] = {G::accept, G::fork,  G::child_start, G::read, G::reply,
                               G::close,  G::exit, G::reap,        COUNTER_GATES};
constexpr S kShotgunSettings[] = {S::reap, S::max_children, SHARED_SETTINGS};

#undef COUNTER_GATES
#undef SHARED_SETTINGS

const Architecture kArchitectures[] = {
    {"serial", "accept, handle, close, one at a time", 0, kSerialSources, kSerialGates, kSerialSettings, 0,
     &run_serial_server},
    {"fork", "fork a child per connection; the parent reaps", kForksPerConnection, kForkSources, kForkGates,
     kForkSettings, 0, &run_fork_server},
    {"thread", "spawn a thread per connection; shared memory", kThreads, kThreadSources, kThreadGates,
     kThreadSettings, kViewThreads, &run_thread_server},
    {"pool", "N worker threads take connections from a bounded queue", kThreads | kPrestartedWorkers, kPoolSources,
     kPoolGates, kPoolSettings, kViewThreads, &run_pool_server},
    {"prefork", "N worker processes forked up front accept on the shared socket", kPrestartedWorkers,
     kPreforkSources, kPreforkGates, kPreforkSettings, 0, &run_prefork_server},
    {"evloop", "one thread, one Asio io_context, every step asynchronous", kEventLoop, kEvloopSources, kEvloopGates,
     kEvloopSettings, kViewEventLoop, &run_evloop_server},
    {"hybrid", "prefork workers each running an event loop (the nginx shape)", kEventLoop | kPrestartedWorkers,
     kHybridSources, kHybridGates, kHybridSettings, kViewEventLoop, &run_hybrid_server},
    {"inetd", "a super-server forks and execs a separate handler program per connection, socket on stdin/stdout",
     kForksPerConnection | kExecs, kInetdSources, kInetdGates, kInetdSettings, 0, &run_inetd_server},
    {"shotgun", "a fresh process for every request; the connection's process keeps its state",
     kForksPerConnection | kForksPerRequest, kShotgunSources, kShotgunGates, kShotgunSettings, 0,
     &run_shotgun_server},
};

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

bool parse_int(std::string_view s, int& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::span<const Setting> settings_table() { return kSettings; }

const Setting& setting(SettingId id) { return kSettings[static_cast<std::size_t>(id)]; }

const Setting* find_setting(std::string_view key) {
  for (const auto& s : kSettings)
    if (s.key == key) return &s;
  return nullptr;
}

std::string setting_keys() {
  std::vector<std::string> keys;
  for (const auto& s : kSettings) keys.emplace_back(s.key);
  return join(keys);
}

SettingValues::SettingValues() {
  for (const auto& s : kSettings) values_[static_cast<std::size_t>(s.id)] = s.def;
}

void SettingValues::set(SettingId id, int value) {
  const Setting& s = setting(id);
  values_[static_cast<std::size_t>(id)] = value < s.min ? s.min : value > s.max ? s.max : value;
}

std::string check_setting_text(SettingId id, std::string_view text) {
  const Setting& s = setting(id);
  int n = 0;
  switch (s.kind) {
    case SettingKind::number:
      if (parse_int(text, n) && n >= s.min && n <= s.max) return {};
      return std::string(s.key) + " must be a number from " + std::to_string(s.min) + " to " +
             std::to_string(s.max) + ", not '" + std::string(text) + "'";
    case SettingKind::toggle:
    case SettingKind::choice:
      for (const auto& c : s.choices)
        if (!c.empty() && c == text) return {};
      // A toggle reads best as "on or off".
      return std::string(s.key) + " must be " + std::string(s.choices[s.kind == SettingKind::toggle ? 1 : 0]) +
             " or " + std::string(s.choices[s.kind == SettingKind::toggle ? 0 : 1]) + ", not '" +
             std::string(text) + "'";
  }
  return "unknown setting";
}

bool SettingValues::set_text(SettingId id, std::string_view text, std::string& error) {
  error = check_setting_text(id, text);
  if (!error.empty()) return false;
  const Setting& s = setting(id);
  if (s.kind == SettingKind::number) {
    int n = 0;
    parse_int(text, n);
    set(id, n);
    return true;
  }
  for (std::size_t i = 0; i < s.choices.size(); ++i)
    if (s.choices[i] == text) set(id, static_cast<int>(i));
  return true;
}

std::string SettingValues::text(SettingId id) const {
  const Setting& s = setting(id);
  int v = get(id);
  if (s.kind == SettingKind::number) return std::to_string(v);
  return std::string(s.choices[static_cast<std::size_t>(v)]);
}

bool Architecture::uses(SettingId id) const {
  for (SettingId s : settings)
    if (s == id) return true;
  return false;
}

bool Architecture::passes(trace::GateKind g) const {
  for (trace::GateKind k : gates)
    if (k == g) return true;
  return false;
}

std::string Architecture::trait_text() const {
  static constexpr std::pair<Trait, std::string_view> kNames[] = {
      {kForksPerConnection, "a process per connection"},
      {kForksPerRequest, "a process per request"},
      {kThreads, "threads"},
      {kEventLoop, "an event loop"},
      {kPrestartedWorkers, "workers started up front"},
      {kExecs, "execs a handler program"},
  };
  std::vector<std::string> parts;
  for (const auto& [t, name] : kNames)
    if (has(t)) parts.emplace_back(name);
  return parts.empty() ? "one process, one thread" : join(parts);
}

std::span<const Architecture> architectures() { return kArchitectures; }

const Architecture* find_architecture(std::string_view name) {
  for (const auto& a : kArchitectures)
    if (a.name == name) return &a;
  return nullptr;
}

std::vector<std::string> architecture_name_list() {
  std::vector<std::string> names;
  for (const auto& a : kArchitectures) names.emplace_back(a.name);
  return names;
}

std::string architecture_names() { return join(architecture_name_list()); }

}  // namespace sockscope::servers
