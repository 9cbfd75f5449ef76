// What the prefork and hybrid architectures share: a connection counter that
// lives in memory shared by every worker, and the master that forks the
// workers up front and keeps their number constant.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

#include "servers/server.h"

namespace sockscope::servers {

// A connection id counter visible to every process forked after it exists.
// Each worker accepts on its own, so no single process can hand out ids; an
// anonymous MAP_SHARED page survives fork() as the SAME memory (not a copy),
// and a lock-free atomic in it is safe across processes on Linux.
class SharedCounter {
 public:
  SharedCounter();  // throws std::system_error when mmap fails
  ~SharedCounter();
  SharedCounter(const SharedCounter&) = delete;
  SharedCounter& operator=(const SharedCounter&) = delete;
  // The next connection id: 1, 2, 3, ... across all processes.
  std::uint32_t next() noexcept { return value_->fetch_add(1, std::memory_order_relaxed); }
  std::atomic<std::uint32_t>* raw() noexcept { return value_; }

 private:
  std::atomic<std::uint32_t>* value_ = nullptr;
};

// Around-fork hooks (the hybrid passes Asio's notify_fork calls here).
struct ForkHooks {
  std::function<void()> prepare;  // in the master, just before fork()
  std::function<void()> parent;   // in the master, just after
  std::function<void()> child;    // in the new worker, first thing
};

// Runs in a freshly forked worker; returns its exit status.
using WorkerBody = std::function<int(int worker_index)>;

// The master: forks `workers` workers before any client is served, waits for
// SIGCHLD/SIGTERM, replaces a worker that dies (reap + worker_exit, then a new
// fork with the same index), and at SIGTERM stops them all and reaps them.
int run_prefork_master(const ServerConfig& config, const Listener& listener, const WorkerBody& body,
                       const ForkHooks& hooks);

}  // namespace sockscope::servers
