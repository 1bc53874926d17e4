#!/usr/bin/python3
"""A Unix socket forwarder for the fleet cases (tests/e2e/fleet.sh).

sockproxy.py LISTEN TARGET: every connection to LISTEN is carried to
TARGET, both ways.  SIGSTOP makes it a partition: connections stay open
and new ones are queued by the kernel, but nothing gets through until
SIGCONT."""
import os
import socket
import sys
import threading


def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    listen, target = sys.argv[1], sys.argv[2]
    if os.path.exists(listen):
        os.unlink(listen)
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(listen)
    srv.listen(64)
    while True:
        c, _ = srv.accept()
        u = socket.socket(socket.AF_UNIX)
        try:
            u.connect(target)
        except OSError:
            c.close()
            u.close()
            continue
        threading.Thread(target=pipe, args=(c, u), daemon=True).start()
        threading.Thread(target=pipe, args=(u, c), daemon=True).start()


if __name__ == "__main__":
    main()
