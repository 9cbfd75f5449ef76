// What a server's process tree has cost the machine so far: CPU time (user
// and system) and context switches (voluntary: it waited for something;
// involuntary: the scheduler took the CPU away).
//
// Two readings of the same counters, one for while the tree runs and one for
// after it is gone:
//   - read_tree_cost() sums /proc over the live tree: each process's utime,
//     stime, cutime and cstime (the c- fields hold its children that it has
//     reaped, so a fork server's finished children still count), and each
//     *thread's* context switches from /proc/PID/task/TID/status (the
//     process's own status counts only its main thread).
//   - cost_of(rusage) reads wait4()'s answer for a server we reaped: the
//     kernel's own totals over all its threads, those that ended included,
//     and every child it reaped.
// A comparison takes the first at the start of the measurement and the
// second at the end; the difference is what the clients' work cost.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <string_view>
#include <vector>

namespace sockscope::observe {

struct TreeCost {
  double user_s = 0.0;
  double system_s = 0.0;
  std::uint64_t voluntary_switches = 0;
  std::uint64_t involuntary_switches = 0;

  TreeCost operator-(const TreeCost& o) const;
  bool operator==(const TreeCost&) const = default;
};

// Sums the cost of `pids` (a snapshot's processes, zombies included: a
// zombie's stat still holds its times). Processes that vanished are skipped.
TreeCost read_tree_cost(const std::vector<pid_t>& pids);

// The cost in a rusage (wait4's for a reaped child).
TreeCost cost_of(const struct rusage& usage);

// Parses /proc/PID/stat's utime, stime, cutime and cstime (fields 14-17), in
// clock ticks. False when the text does not parse. Exposed for tests.
bool parse_stat_times(std::string_view stat_text, std::uint64_t& utime, std::uint64_t& stime,
                      std::uint64_t& cutime, std::uint64_t& cstime);
// Adds the voluntary_ctxt_switches and nonvoluntary_ctxt_switches lines of a
// status text to `cost`. Exposed for tests.
void add_status_switches(std::string_view status_text, TreeCost& cost);

}  // namespace sockscope::observe
