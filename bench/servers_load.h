// bench_servers' full-load parts (servers_load.cpp).
#pragma once

namespace sockscope::bench {

// (e) drops per architecture under wrk -c50, keep-alive and close, traced into a Lab.
void part_e(int seconds);

}  // namespace sockscope::bench
