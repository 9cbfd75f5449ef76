// The table of architectures `sockscope serve --arch NAME` can run. A new
// architecture is one file with one run function plus one row here.
#include <array>
#include <string>

#include "servers/server.h"

namespace sockscope::servers {
namespace {

constexpr std::array kArchitectures = {
    Architecture{"serial", "accept, handle, close, one at a time", &run_serial_server},
    Architecture{"fork", "fork a child per connection; the parent reaps", &run_fork_server},
    Architecture{"thread", "spawn a thread per connection; shared memory", &run_thread_server},
    Architecture{"pool", "N worker threads take connections from a bounded queue", &run_pool_server},
    Architecture{"prefork", "N worker processes forked up front accept on the shared socket", &run_prefork_server},
    Architecture{"evloop", "one thread, one Asio io_context, every step asynchronous", &run_evloop_server},
    Architecture{"hybrid", "prefork workers each running an event loop (the nginx shape)", &run_hybrid_server},
};

}  // namespace

std::span<const Architecture> architectures() { return kArchitectures; }

const Architecture* find_architecture(std::string_view name) {
  for (const auto& a : kArchitectures) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

std::string architecture_names() {
  std::string out;
  for (const auto& a : kArchitectures) {
    if (!out.empty()) out += ", ";
    out += a.name;
  }
  return out;
}

}  // namespace sockscope::servers
