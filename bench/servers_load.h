// bench_servers' full-load parts (servers_load.cpp).
#pragma once

namespace sockscope::bench {

// (e) drops per architecture under wrk -c50, keep-alive and close, traced into a Lab.
void part_e(int seconds);
// (f) evloop and hybrid against nginx with one and two workers, Connection: close.
void part_f(int seconds);
// (g) 1,000 / 5,000 / 10,000 idle FTP connections to the event loop: fds and PSS each.
void part_g();
// (h) what tracing costs: req/s traced into a Lab against --no-trace, every architecture, keep-alive and close.
void part_h(int seconds);

}  // namespace sockscope::bench
