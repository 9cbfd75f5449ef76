// A library with a small thread_local block (see CMakeLists.txt). 40 bytes:
// the allocator serves it from 64-byte chunks, and a thread's first chunk of
// that size starts a page, so the block lies 16 past a page boundary.
extern "C" char* sockscope_touch_dynamic_tls() {
  thread_local char block[40];
  block[0] = 1;
  return block;
}
