// The accept-fork-reap loop of the process-per-connection architectures
// (fork_server.cpp): fork, inetd and shotgun share it and differ only in what
// the child does once it runs.
#pragma once

#include <cstdint>
#include <functional>

#include "servers/server.h"

namespace sockscope::servers {

// Runs in the forked child after its first steps (listener closed, parent
// death signal set, child_start emitted), with the accepted socket `fd` of
// connection `conn`. It must end the process with _exit (or execve).
using ChildBody = std::function<void(int fd, std::uint32_t conn)>;

// The fork server's main loop with `body` as the child: accept, the
// max-children cap, fork, reap (on, off, or turned on while running), and a
// shutdown that stops and reaps every child.
int run_forking_server(const ServerConfig& config, const Listener& listener, const ChildBody& body);

}  // namespace sockscope::servers
