// The hooks behind trace/asio_tracking.h. No Asio include here: the hooks see
// Asio only through the arguments of its tracking macros.
//
// Everything is fixed-size and lock-free on purpose: the hooks run inside the
// event loop on every operation, so they must cost a few stores and one ring
// push, never a malloc, a lock or a system call of their own. The tables are
// plain arrays touched only by the one loop thread of an enabled process (the
// evloop server, or one hybrid worker); other processes never enable them.
#include "trace/asio_tracking.h"

#include <cerrno>
#include <array>
#include <atomic>
#include <cstring>
#include <string_view>

#include "trace/gate.h"
#include "trace/ring.h"

namespace sockscope::trace::asio_tracking {
namespace {

std::atomic<bool> g_enabled{false};
std::uint64_t g_next_id = 1;
std::uint32_t g_current_conn = 0;  // set by the server or by the running handler
std::uint32_t g_base_conn = 0;     // what g_current_conn returns to when a handler ends

// fd -> connection id, filled by the server with bind_fd().
std::array<std::uint32_t, kMaxFd> g_fd_conn{};

// epoll registration (Asio's descriptor_state pointer) -> fd. Open addressing,
// never shrinks: Asio pools its descriptor_state objects, so the set of keys is
// bounded by the most descriptors ever open at once. Full table: lookups miss
// and report -1.
constexpr std::size_t kRegSlots = 1 << 16;
struct RegSlot {
  std::uintmax_t key = 0;
  int fd = -1;
};
std::array<RegSlot, kRegSlots> g_reg{};

std::size_t reg_hash(std::uintmax_t key) {
  // Pointers are 8/16-aligned: mix before masking.
  std::uint64_t x = static_cast<std::uint64_t>(key) * 0x9E3779B97F4A7C15ull;
  return static_cast<std::size_t>(x >> 48) & (kRegSlots - 1);
}

void reg_put(std::uintmax_t key, int fd) {
  std::size_t i = reg_hash(key);
  for (std::size_t n = 0; n < kRegSlots; ++n, i = (i + 1) & (kRegSlots - 1)) {
    if (g_reg[i].key == key || g_reg[i].key == 0) {
      g_reg[i].key = key;
      g_reg[i].fd = fd;
      return;
    }
  }
}

int reg_get(std::uintmax_t key) {
  std::size_t i = reg_hash(key);
  for (std::size_t n = 0; n < kRegSlots; ++n, i = (i + 1) & (kRegSlots - 1)) {
    if (g_reg[i].key == key) return g_reg[i].fd;
    if (g_reg[i].key == 0) return -1;
  }
  return -1;
}

std::uint32_t conn_of_fd(std::uintmax_t fd) {
  return fd < static_cast<std::uintmax_t>(kMaxFd) ? g_fd_conn[fd] : 0;
}

bool has_descriptor(const char* object_type) {
  return std::strcmp(object_type, "socket") == 0 || std::strcmp(object_type, "descriptor") == 0;
}

// "socket:async_receive" into a stack buffer (no allocation); Event text is
// 24 bytes, so the object names are abbreviated.
std::string_view op_text(char (&buf)[kEventTextSize], const char* object_type, const char* op_name) {
  std::string_view obj = object_type ? object_type : "?";
  if (obj == "deadline_timer") obj = "timer";
  else if (obj == "io_context") obj = "ctx";
  else if (obj == "descriptor") obj = "fd";
  else if (obj == "signal_set") obj = "signal";
  std::string_view op = op_name ? op_name : "?";
  std::size_t n = 0;
  for (char c : obj) {
    if (n < kEventTextSize) buf[n++] = c;
  }
  if (n < kEventTextSize) buf[n++] = ':';
  for (char c : op) {
    if (n < kEventTextSize) buf[n++] = c;
  }
  return {buf, n};
}

// The object key of a descriptor-less object: negative, so it never collides
// with a descriptor number, and stable while the object lives.
std::int64_t object_key(const void* object) {
  auto v = static_cast<std::int64_t>((reinterpret_cast<std::uintptr_t>(object) >> 3) & 0x0fffffffffffffffull);
  return -(v == 0 ? 1 : v);
}

bool on() { return g_enabled.load(std::memory_order_relaxed); }

}  // namespace

void set_enabled(bool enable) noexcept { g_enabled.store(enable, std::memory_order_relaxed); }
bool enabled() noexcept { return on(); }

void bind_fd(int fd, std::uint32_t conn) noexcept {
  if (fd >= 0 && fd < kMaxFd) g_fd_conn[static_cast<std::size_t>(fd)] = conn;
}

void set_current_conn(std::uint32_t conn) noexcept {
  g_current_conn = conn;
  g_base_conn = conn;
}

LoopOwned::LoopOwned() noexcept : conn_(g_current_conn), base_(g_base_conn) { set_current_conn(0); }

LoopOwned::~LoopOwned() {
  g_current_conn = conn_;
  g_base_conn = base_;
}

void creation(asio::execution_context&, TrackedHandler& h, const char* object_type, void* object,
              std::uintmax_t native_handle, const char* op_name) noexcept {
  if (!on()) return;
  h.tracking_id_ = g_next_id++;
  bool fd_op = has_descriptor(object_type);
  h.tracking_conn_ = fd_op ? conn_of_fd(native_handle) : g_current_conn;
  char buf[kEventTextSize];
  emit(Kind::handler_create, h.tracking_conn_, static_cast<std::int64_t>(h.tracking_id_),
       fd_op ? static_cast<std::int64_t>(native_handle) : object_key(object), op_text(buf, object_type, op_name));
}

void operation(asio::execution_context&, const char* object_type, void* object, std::uintmax_t native_handle,
               const char* op_name) noexcept {
  if (!on()) return;
  bool fd_op = has_descriptor(object_type);
  char buf[kEventTextSize];
  emit(Kind::handler_create, fd_op ? conn_of_fd(native_handle) : g_current_conn, 0,
       fd_op ? static_cast<std::int64_t>(native_handle) : object_key(object), op_text(buf, object_type, op_name));
}

void reactor_registration(asio::execution_context&, std::uintmax_t native_handle,
                          std::uintmax_t registration) noexcept {
  if (!on()) return;
  reg_put(registration, static_cast<int>(native_handle));
  emit(Kind::reactor_register, conn_of_fd(native_handle), static_cast<std::int64_t>(native_handle), 1);
}

void reactor_deregistration(asio::execution_context&, std::uintmax_t native_handle,
                            std::uintmax_t registration) noexcept {
  if (!on()) return;
  reg_put(registration, -1);
  emit(Kind::reactor_register, conn_of_fd(native_handle), static_cast<std::int64_t>(native_handle), 0);
}

void reactor_events(asio::execution_context&, std::uintmax_t registration, unsigned events) noexcept {
  if (!on()) return;
  int fd = reg_get(registration);
  emit(Kind::reactor_ready, fd >= 0 ? conn_of_fd(static_cast<std::uintmax_t>(fd)) : 0, fd,
       static_cast<std::int64_t>(events));
}

namespace {
void reactor_done(const TrackedHandler& h, const std::error_code& ec) {
  // EAGAIN: the reactor tried, the kernel had nothing yet; the operation stays
  // pending and no handler is queued.
  // (Asio reports it in its own "asio.system" category, which does not map to
  // std::errc, so compare the errno value.)
  bool system = ec.category() == std::system_category() || std::strcmp(ec.category().name(), "asio.system") == 0;
  if (system && (ec.value() == EAGAIN || ec.value() == EWOULDBLOCK)) return;
  emit(Kind::completion, h.tracking_conn_, static_cast<std::int64_t>(h.tracking_id_), ec.value());
}
}  // namespace

void reactor_operation(const TrackedHandler& h, const char*, const std::error_code& ec) noexcept {
  if (!on()) return;
  reactor_done(h, ec);
}

void reactor_operation(const TrackedHandler& h, const char*, const std::error_code& ec, std::size_t) noexcept {
  if (!on()) return;
  reactor_done(h, ec);
}

void begin(std::uint64_t id, std::uint32_t conn, int error) noexcept {
  if (!on() || id == 0) return;  // id 0: created before tracking was enabled
  // New descriptor-less operations started by this handler (its timers, its
  // posts) belong to its connection.
  g_current_conn = conn != 0 ? conn : g_base_conn;
  // GATE handler_begin: the loop is about to call this ready handler; until it
  // returns, no other connection's handler runs.
  gate(GateKind::handler_begin, conn);
  emit(Kind::handler_begin, conn, static_cast<std::int64_t>(id), error);
}

void end(std::uint64_t id, std::uint32_t conn, bool ran) noexcept {
  if (!on() || id == 0) return;
  emit(Kind::handler_end, conn, static_cast<std::int64_t>(id), ran ? 0 : 1);
  g_current_conn = g_base_conn;
}

}  // namespace sockscope::trace::asio_tracking
