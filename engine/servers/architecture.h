// The one table of server architectures, and the one table of their settings.
//
// Everything that lists architectures or settings reads these tables: the
// `serve` and `run` flags, the lab's ServerSpec and the arguments it passes,
// the controls, the script's `start ARCH key=value ...`, the code view (which
// sources to show, where each gate stands), which windows open for a run, the
// flow diagram, and the tests, which walk every row. Adding an architecture is
// its server file (its run function declared in server.h, the file listed in
// engine/servers/CMakeLists.txt, which also embeds it for the code view) plus
// one row in architecture.cpp; tests/servers/architectures_test.cpp then
// starts, serves, steps and stops it like every other row.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trace/gate.h"

namespace sockscope::servers {

// ---- settings -----------------------------------------------------------------

enum class SettingId : std::uint8_t {
  reap,            // fork family: collect exited children with waitpid()
  max_children,    // fork family: cap on children alive or not yet reaped
  max_threads,     // thread: cap on handler threads alive or not yet joined
  workers,         // pool: threads; prefork/hybrid: processes
  queue,           // pool: accepted connections that may wait for a worker
  counter,         // visitor counter: unsafe (the race) or mutex
  race_window_us,  // visitor counter: pause between its read and its write
  notify_fork,     // hybrid: Asio's notify_fork around fork
  request_timeout, // every architecture: seconds a client has to send one whole command
  count_
};
inline constexpr std::size_t kSettingCount = static_cast<std::size_t>(SettingId::count_);

enum class SettingKind : std::uint8_t {
  number,  // an integer in [min, max]
  toggle,  // off (0) or on (1)
  choice,  // an index into `choices`
};

// An older one-word flag that sets a setting to one value (--no-reap).
struct SettingAlias {
  std::string_view flag;
  int value = 0;
  std::string_view help;
};

struct Setting {
  SettingId id;
  std::string_view key;    // script key and session option: "max_children"
  std::string_view label;  // the controls' label: "max children"
  SettingKind kind;
  int min = 0, max = 1, def = 0;
  std::array<std::string_view, 2> choices{};  // toggle: off, on; choice: the names by index
  std::string_view flag;                      // `serve --max-children N`, `--reap on|off`, `--counter mutex`
  std::array<SettingAlias, 2> aliases{};      // flags kept from before the table (empty flag = none)
  std::string_view help;
};

std::span<const Setting> settings_table();
const Setting& setting(SettingId id);
// nullptr for an unknown key.
const Setting* find_setting(std::string_view key);
// "reap, max_children, ..." (for error messages).
std::string setting_keys();

// One value per setting, each at its default until set. Values are ints: a
// toggle is 0/1, a choice its index.
class SettingValues {
 public:
  SettingValues();
  int get(SettingId id) const { return values_[static_cast<std::size_t>(id)]; }
  bool on(SettingId id) const { return get(id) != 0; }
  // Clamps into the setting's range.
  void set(SettingId id, int value);
  // Parses "on"/"off", a number, or a choice's name. False, with `error`
  // naming the allowed values, when `text` is not one.
  bool set_text(SettingId id, std::string_view text, std::string& error);
  // The value as set_text() reads it: "on", "64", "mutex".
  std::string text(SettingId id) const;
  bool operator==(const SettingValues&) const = default;

 private:
  std::array<int, kSettingCount> values_{};
};

// Checks `text` for setting `id` without keeping it: empty = fine, else why not.
std::string check_setting_text(SettingId id, std::string_view text);

// ---- architectures ------------------------------------------------------------

struct ServerConfig;
struct Listener;
// An architecture's main loop: serves connections on `listener` until SIGTERM
// or SIGINT, then shuts down cleanly. Returns the process exit status.
using RunFunction = int (*)(const ServerConfig& config, const Listener& listener);

// What an architecture does with processes and threads.
enum Trait : std::uint32_t {
  kForksPerConnection = 1u << 0,  // a new process for every connection
  kForksPerRequest = 1u << 1,     // a new process for every request
  kThreads = 1u << 2,             // handler threads inside one process
  kEventLoop = 1u << 3,           // one thread multiplexing connections (Asio)
  kPrestartedWorkers = 1u << 4,   // workers (threads or processes) started before any client
  kExecs = 1u << 5,               // the handler is a separate program, exec'd
};

// Windows that open by themselves for a run of the architecture.
enum ViewFlag : std::uint32_t {
  kViewThreads = 1u << 0,    // the threads view
  kViewEventLoop = 1u << 1,  // the event loop's queue
};

struct Architecture {
  std::string_view name;
  std::string_view summary;  // one line, for menus, --help and tooltips
  std::uint32_t traits = 0;
  // The sources a connection runs through, its own file first. The code view
  // shows them and finds each gate's line in them, in this order.
  std::span<const std::string_view> sources;
  // Every gate its processes and threads can stop at.
  std::span<const trace::GateKind> gates;
  // The settings it reads (shown in the controls; `start` takes them).
  std::span<const SettingId> settings;
  std::uint32_t views = 0;
  RunFunction run = nullptr;

  bool has(Trait t) const { return (traits & t) != 0; }
  bool opens(ViewFlag v) const { return (views & v) != 0; }
  bool uses(SettingId id) const;
  bool passes(trace::GateKind g) const;
  // "forks per connection, execs" (for help text).
  std::string trait_text() const;
};

// Every architecture, in teaching order.
std::span<const Architecture> architectures();
// nullptr for an unknown name.
const Architecture* find_architecture(std::string_view name);
// "serial, fork, ..." (for error messages and --help).
std::string architecture_names();
std::vector<std::string> architecture_name_list();

}  // namespace sockscope::servers
