#!/usr/bin/env python3
"""Drives a sockscope FTP server with Python's ftplib, as a real client would.

usage: ftplib_client.py PORT OUTFILE
Logs in anonymously, lists the root with DIR and NLST, asks SIZE of data.bin,
downloads data.bin in binary mode to OUTFILE, and prints what it saw, one
fact per line, for the C++ test to check.
"""
import ftplib
import sys


def main() -> int:
    port = int(sys.argv[1])
    out_path = sys.argv[2]
    with ftplib.FTP() as ftp:
        ftp.connect("127.0.0.1", port, timeout=10)
        print("welcome:", ftp.getwelcome())
        print("login:", ftp.login())
        lines = []
        ftp.dir(lines.append)
        for line in lines:
            print("dir:", line)
        for name in ftp.nlst():
            print("nlst:", name)
        print("size:", ftp.size("data.bin"))
        with open(out_path, "wb") as f:
            print("retr:", ftp.retrbinary("RETR data.bin", f.write))
        print("quit:", ftp.quit())
    return 0


if __name__ == "__main__":
    sys.exit(main())
