// A hybrid worker's listener in its epoll set with EPOLLEXCLUSIVE, as nginx
// registers it: a new client wakes one sleeping worker, not all of them.
//
// Every hybrid worker has its own epoll set (after notify_fork) and each set
// holds the one shared listener. Registered the usual way, a new client
// wakes every worker that sleeps in epoll_wait; all but one find the accept
// queue empty (EAGAIN) and go back to sleep: per client, a wakeup and a
// failed accept() in each other worker. With EPOLLEXCLUSIVE the kernel wakes
// one worker that sleeps on its set; a worker busy with handlers still
// finds the event on its next epoll_wait and races for it, so no client
// waits while some worker could take it.
//
// Asio registers the listener itself (with EPOLLPRI, which EPOLLEXCLUSIVE
// does not allow) and has no way to ask for the flag, and the flag can only
// be given when a descriptor is added. So the worker takes the listener out
// of its epoll set and adds it again, flagged, with the same events (less
// EPOLLPRI) and the same data the kernel shows for it in the set's fdinfo:
// Asio's state for the descriptor, which its reactor reads back when the
// listener is ready. For accept, Asio never modifies the registration
// afterwards (a speculative read operation), and removes it at close with
// EPOLL_CTL_DEL, which works for a flagged one too.
#pragma once

namespace sockscope::servers {

// Registers `listener_fd` again with EPOLLEXCLUSIVE in this process's epoll
// set that holds it. Returns 0, or the errno of the step that failed (the
// registration is then as it was; ENOENT: no epoll set holds it).
int make_listener_exclusive(int listener_fd);

}  // namespace sockscope::servers
