#!/usr/bin/python3
"""rawsock: a hostile or careless client of llmfbd's data socket, for the
hardening cases (tests/e2e/harden.sh).  It speaks bytes, not a protocol
library, so it can do what no well-behaved client does.

    rawsock.py expect-close SOCK N    N times: a POST with Expect:
                                      100-continue and its body in one
                                      write, then an immediate close
    rawsock.py slowloris SOCK         a request head, one byte a 100 ms;
                                      prints "closed after=S first=LINE"
                                      or "finished"
    rawsock.py silent SOCK            connects, sends nothing; prints
                                      "closed after=S" or "open"
    rawsock.py idle SOCK              one whole request, its answer, then
                                      nothing; prints "answered=STATUS
                                      closed after=S" or "... open"
    rawsock.py hold SOCK N            opens N silent connections, prints
                                      "held N" and keeps them until its
                                      stdin closes
    rawsock.py admit SOCK             the shim's ADMIT probe; prints the
                                      first line of the answer ("" if none)
    rawsock.py reprobe SOCK PID       one admitted connection held; then
                                      the shim's probe, answered, and,
                                      with llmfbd (PID) stopped, the next
                                      connection made before the probe is
                                      closed: prints the first line of
                                      that connection's answer
    rawsock.py tls SOCK HOST:PORT     a redirected connection whose program
                                      speaks TLS of its own: prints what
                                      came back after llmfbd's OK ("tls"
                                      for a TLS record, an HTTP status
                                      line, or "eof")

Waits are bounded by --wait seconds (default 20).
"""

import argparse
import os
import signal
import socket
import sys
import time

HEAD = (b"POST /v1/chat/completions HTTP/1.1\r\n"
        b"Host: api.openai.com\r\n"
        b"Content-Type: application/json\r\n"
        b"Authorization: Bearer sk-slow\r\n"
        b"Content-Length: 2\r\n\r\n{}")


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def wait_close(s, limit):
    """Read until EOF (or a reset); seconds it took, or None."""
    t0 = time.monotonic()
    s.settimeout(limit)
    got = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except (ConnectionResetError, BrokenPipeError):
        pass
    except socket.timeout:
        return None, got
    return time.monotonic() - t0, got


def first_line(data):
    return data.split(b"\r\n", 1)[0].decode("latin-1").replace(" ", "_")


def expect_close(path, n):
    body = b'{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}'
    req = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
           b"Expect: 100-continue\r\nContent-Type: application/json\r\n"
           b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    for _ in range(n):
        s = connect(path)
        s.sendall(req)
        s.close()
    print("done", n)


def slowloris(path, limit):
    s = connect(path)
    t0 = time.monotonic()
    s.setblocking(False)
    for i in range(len(HEAD)):
        if time.monotonic() - t0 > limit:
            break
        try:
            s.send(HEAD[i:i + 1])
            s.recv(1, socket.MSG_PEEK)
            break           # the server said something, or closed
        except BlockingIOError:
            pass
        except (BrokenPipeError, ConnectionResetError):
            break           # closed: what it said may still be there
        time.sleep(0.1)
    else:
        print("finished")
        return
    s.setblocking(True)
    _, got = wait_close(s, 5)
    print("closed after=%.2f first=%s" % (time.monotonic() - t0,
                                           first_line(got)))


def silent(path, limit):
    s = connect(path)
    took, _ = wait_close(s, limit)
    print("open" if took is None else "closed after=%.2f" % took)


def idle(path, limit):
    s = connect(path)
    s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: not-intercepted.test\r\n\r\n")
    s.settimeout(limit)
    got = b""
    while b"\r\n\r\n" not in got:
        b = s.recv(65536)
        if not b:
            break
        got += b
    status = first_line(got).split("_")[1] if got else "0"
    head, _, body = got.partition(b"\r\n\r\n")
    clen = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            clen = int(line.split(b":")[1])
    while len(body) < clen:
        b = s.recv(65536)
        if not b:
            break
        body += b
    took, _ = wait_close(s, limit)
    print("answered=%s %s" % (status, "open" if took is None else
                              "closed after=%.2f" % took))


def hold(path, n):
    held = [connect(path) for _ in range(n)]
    print("held", len(held), flush=True)
    sys.stdin.read()


def ask(s, limit):
    """Send ADMIT on s; the first line of the answer."""
    s.settimeout(limit)
    got = b""
    try:
        s.sendall(b"LLMFB/1 ADMIT\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass            # refused before we spoke: its answer is there
    try:
        while b"\r\n" not in got:
            b = s.recv(4096)
            if not b:
                break
            got += b
    except (ConnectionResetError, socket.timeout):
        pass
    return first_line(got)


def admit(path, limit):
    print(ask(connect(path), limit))


def reprobe(path, pid, limit):
    held = connect(path)
    if ask(held, limit) != "LLMFB/1_OK":
        print("held connection not admitted")
        return
    probe = connect(path)
    if ask(probe, limit) != "LLMFB/1_OK":
        print("probe not admitted")
        return
    os.kill(pid, signal.SIGSTOP)
    try:
        nxt = connect(path)
        probe.close()
    finally:
        os.kill(pid, signal.SIGCONT)
    print(ask(nxt, limit))
    held.close()


def tls(path, origin, limit):
    host, port = origin.rsplit(":", 1)
    s = connect(path)
    s.settimeout(limit)
    s.sendall(("LLMFB/1 CONNECT %s %s\r\nLLMFB/1 ADMIT\r\n" %
               (host, port)).encode())
    ok = b""
    while not ok.endswith(b"\r\n"):
        b = s.recv(1)
        if not b:
            print("eof")
            return
        ok += b
    # A TLS record header and a few bytes of a ClientHello: enough for
    # llmfbd to see TLS, and for a TLS server to answer with an alert.
    s.sendall(b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00")
    got = b""
    try:
        got = s.recv(4096)
    except (ConnectionResetError, socket.timeout):
        pass
    if not got:
        print("eof")
    elif got[0] in (0x15, 0x16):
        print("tls")
    else:
        print(first_line(got))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode")
    ap.add_argument("sock")
    ap.add_argument("n", nargs="?", default="1")
    ap.add_argument("--wait", type=float, default=20)
    a = ap.parse_args()
    a.origin = a.n
    a.n = int(a.n) if a.n.isdigit() else 1
    if a.mode == "expect-close":
        expect_close(a.sock, a.n)
    elif a.mode == "slowloris":
        slowloris(a.sock, a.wait)
    elif a.mode == "silent":
        silent(a.sock, a.wait)
    elif a.mode == "idle":
        idle(a.sock, a.wait)
    elif a.mode == "hold":
        hold(a.sock, a.n)
    elif a.mode == "admit":
        admit(a.sock, a.wait)
    elif a.mode == "reprobe":
        reprobe(a.sock, a.n, a.wait)
    elif a.mode == "tls":
        tls(a.sock, a.origin, a.wait)
    else:
        ap.error("unknown mode " + a.mode)


if __name__ == "__main__":
    main()
