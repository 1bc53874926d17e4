#!/usr/bin/python3
"""Streams for make bench's peers part (bench/run.sh, part 9).

  peers.py stream ADDR PATH N      N streams, one after another on one
                                   kept-alive connection: per stream the
                                   time from the request's last byte to
                                   the first and the last byte of the
                                   body; prints "ttfb_us=P50 ttlb_us=P50"
  peers.py hold ADDR PATH N        N streams at once; once every one has
                                   its first body bytes, prints "held N"
                                   and waits for a line on stdin, then
                                   closes them all
  peers.py burst ADDR PATH N       N streams at once, each read to its
                                   end; prints "done N"

ADDR is unix:/path (plain HTTP), tcp:HOST:PORT or tls:HOST:PORT:CAFILE;
any further arguments are header lines ("Name: value") to send.
The body asks for a stream; how it streams (chunks, pace) is the mock's
script.  Only the standard library: it runs on a bare Debian."""
import selectors
import socket
import ssl
import statistics
import sys
import time

BODY = (b'{"model":"gpt-4o","stream":true,'
        b'"messages":[{"role":"user","content":"hi"}]}')


def connect(addr):
    kind, _, rest = addr.partition(":")
    if kind == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(rest)
        return s
    if kind == "tcp":
        host, port = rest.rsplit(":", 1)
        return socket.create_connection((host, int(port)))
    host, port, ca = rest.split(":", 2)
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    return ctx.wrap_socket(socket.create_connection((host, int(port))),
                           server_hostname="api.openai.com")


EXTRA = b""     # more header lines, from the arguments after N


def request(path):
    return (b"POST %s HTTP/1.1\r\nHost: api.openai.com\r\n%s"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n"
            b"\r\n%s" % (path.encode(), EXTRA, len(BODY), BODY))


def complete(buf):
    """Whether buf holds a whole answer, and whether it is a 200."""
    h = buf.find(b"\r\n\r\n")
    if h < 0:
        return False, False
    head = buf[:h].lower()
    ok = head.startswith(b"http/1.1 200")
    for line in head.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(buf) - h - 4 >= int(line[15:]), ok
    return buf.endswith(b"\r\n0\r\n\r\n"), ok


def one(s, path):
    """One stream on s: (first body byte, last byte) in ns after sending."""
    s.sendall(request(path))
    t0 = time.monotonic_ns()
    buf = b""
    first = None
    while True:
        d = s.recv(65536)
        if not d:
            raise SystemExit("peers.py: connection closed mid-stream")
        buf += d
        h = buf.find(b"\r\n\r\n")
        if h < 0:
            continue
        if first is None and len(buf) > h + 4:
            first = time.monotonic_ns() - t0
        done, ok = complete(buf)
        if done:
            if not ok:
                raise SystemExit("peers.py: not a 200: %r" % buf[:200])
            return first, time.monotonic_ns() - t0


def stream(addr, path, n):
    s = connect(addr)
    one(s, path)                        # warm: upstream connection up
    f, l = [], []
    for _ in range(n):
        a, b = one(s, path)
        f.append(a)
        l.append(b)
    print("ttfb_us=%d ttlb_us=%d" % (statistics.median(f) // 1000,
                                      statistics.median(l) // 1000))


def many(addr, path, n, hold):
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(n):
        s = connect(addr)
        s.sendall(request(path))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, [b"", False])
        socks.append(s)
    waiting = n
    while waiting:
        ready = sel.select(60)
        if not ready:
            raise SystemExit("peers.py: %d of %d streams silent for 60 s"
                             % (waiting, n))
        for key, _ in ready:
            st = key.data
            try:
                d = key.fileobj.recv(65536)
            except BlockingIOError:
                continue
            if not d:
                raise SystemExit("peers.py: a stream was closed early")
            st[0] += d
            if not st[1]:
                h = st[0].find(b"\r\n\r\n")
                if h < 0 or len(st[0]) <= h + 4:
                    continue
                if not st[0].startswith(b"HTTP/1.1 200"):
                    raise SystemExit("peers.py: not a 200: %r"
                                     % st[0][:200])
                st[1] = True
                if hold:
                    sel.unregister(key.fileobj)
                    waiting -= 1
                    continue
            if complete(st[0])[0]:
                sel.unregister(key.fileobj)
                waiting -= 1
    if hold:
        print("held %d" % n, flush=True)
        sys.stdin.readline()
    else:
        print("done %d" % n, flush=True)
    for s in socks:
        s.close()


def main():
    global EXTRA
    mode, addr, path, n = sys.argv[1], sys.argv[2], sys.argv[3], \
        int(sys.argv[4])
    EXTRA = b"".join(h.encode() + b"\r\n" for h in sys.argv[5:])
    if mode == "stream":
        stream(addr, path, n)
    else:
        many(addr, path, n, mode == "hold")


main()
