#!/usr/bin/python3
"""A socket forwarder for the fleet cases (tests/e2e/fleet.sh).

sockproxy.py LISTEN TARGET: every connection to LISTEN is carried to
TARGET, both ways.  Each is a Unix socket path or tcp:ADDRESS:PORT (the
fleet's namespaces reach the mock provider, which listens on this
namespace's loopback, through one on their bridge).  SIGSTOP makes it a
partition: connections stay open and new ones are queued by the kernel,
but nothing gets through until SIGCONT."""
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


def sock(addr):
    """A socket for addr, and what to bind or connect it to."""
    if addr.startswith("tcp:"):
        host, port = addr[4:].rsplit(":", 1)
        return socket.socket(socket.AF_INET), (host, int(port))
    return socket.socket(socket.AF_UNIX), addr


def main():
    listen, target = sys.argv[1], sys.argv[2]
    srv, where = sock(listen)
    if srv.family == socket.AF_UNIX:
        if os.path.exists(where):
            os.unlink(where)
    else:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(where)
    srv.listen(64)
    while True:
        c, _ = srv.accept()
        u, to = sock(target)
        try:
            u.connect(to)
        except OSError:
            c.close()
            u.close()
            continue
        threading.Thread(target=pipe, args=(c, u), daemon=True).start()
        threading.Thread(target=pipe, args=(u, c), daemon=True).start()


if __name__ == "__main__":
    main()
