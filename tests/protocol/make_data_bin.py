#!/usr/bin/env python3
"""Writes assets/ftp-root/data.bin: ~300 KB, deterministic, every byte value,
and many CR, LF and CRLF bytes, so that an ASCII-mode download (which
rewrites line endings) can never be byte-identical to it by accident."""
import sys

def make() -> bytes:
    out = bytearray()
    out += bytes(range(256))  # every byte value, in order, up front
    x = 0x12345678
    while len(out) < 300 * 1024:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF  # a fixed LCG: same bytes everywhere
        r = x >> 16
        if r % 7 == 0:
            out += b"\r\n"
        elif r % 11 == 0:
            out += b"\n"
        elif r % 13 == 0:
            out += b"\r"
        else:
            out.append(r & 0xFF)
    return bytes(out[: 300 * 1024])

if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "assets/ftp-root/data.bin"
    with open(path, "wb") as f:
        f.write(make())
