#!/usr/bin/python3
"""pyclient: an ordinary Python client used by the end-to-end tests.

It stands for an "unmodified Python program": it calls an HTTP API the
ways Python programs usually do (requests, urllib.request, http.client,
httpx, httpx with asyncio, threads, fork) and knows nothing about llmfb,
so whatever llmfb does to its calls must be done from outside (the
LD_PRELOAD shim).  Run it with Debian's /usr/bin/python3.

    pyclient.py MODE URL [--data JSON | --data-file FILE] [-H 'Name: value']...
        [--cacert FILE] [--timeout SECONDS] [-n N] [-c N] [-t N] [--stream]
        [--other URL] [--body-dir DIR]

MODE is requests, urllib, httpclient, httpx, httpx-async, threads, fork
or tls-other.  Each call prints one line, in the style of lcclient:

    T<i> code=<status, 0 if none> target=<x-llmfb-target> attempts=...
        fallback=... provider=<x-mock-provider> bytes=<body bytes>
        first_ns=<when the first body bytes arrived> pid=<os.getpid()>
        err=<exception class> start_ns=... end_ns=...

A missing header or no error prints "-".  Times are CLOCK_REALTIME
nanoseconds; first_ns is stamped only with --stream (the body is read
piece by piece), else 0.  Values are printed with space, '%' and any
byte outside printable ASCII percent-encoded, so a line always splits on
spaces.  The error text goes to stderr.  Exit status: 0 when every call
got an HTTP status (whatever it was), 1 if any raised, 2 on bad usage.
"""

import argparse
import os
import sys
import threading
import time
import urllib.parse

WATCHED = (
    ("target", "x-llmfb-target"),
    ("attempts", "x-llmfb-attempts"),
    ("fallback", "x-llmfb-fallback"),
    ("provider", "x-mock-provider"),
)
CHAT = b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
STREAM = (b'{"model":"gpt-4o","stream":true,'
    b'"messages":[{"role":"user","content":"hi"}]}')
READ_SIZE = 65536

out_lock = threading.Lock()


def clean(value):
    """One token for the report line: no spaces, no control bytes."""
    if value is None:
        return "-"
    return "".join(chr(b) if 0x21 <= b <= 0x7e and b != 0x25 else
        "%%%02X" % b for b in str(value).encode("utf-8"))


class Call:
    """What one call looked like, from the program's side."""

    def __init__(self, opts, idx):
        self.idx = idx
        self.code = 0
        self.headers = {}
        self.bytes = 0
        self.first_ns = 0
        self.start_ns = time.time_ns()
        self.end_ns = 0
        self.err = None
        self.extra = []
        self.stamp = opts.stream
        self.body = None
        if opts.body_dir:
            self.body = open(os.path.join(opts.body_dir,
                "%d.body" % idx), "wb")

    def response(self, status, headers):
        self.code = status
        for key, name in WATCHED:
            v = headers.get(name)
            if v is not None:
                self.headers[key] = v

    def data(self, chunk):
        if not chunk:
            return
        if self.stamp and self.first_ns == 0:
            self.first_ns = time.time_ns()
        self.bytes += len(chunk)
        if self.body:
            self.body.write(chunk)

    def failed(self, url, e):
        self.err = e
        with out_lock:
            sys.stderr.write("pyclient: T%d: %s: %s: %s\n" % (self.idx,
                url, type(e).__name__, e))
            sys.stderr.flush()

    def report(self):
        if self.body:
            self.body.close()
            self.body = None
        self.end_ns = self.end_ns or time.time_ns()
        fields = ["T%d" % self.idx, "code=%d" % self.code]
        fields += ["%s=%s" % (k, clean(self.headers.get(k)))
            for k, _ in WATCHED]
        fields += ["bytes=%d" % self.bytes,
            "first_ns=%d" % self.first_ns,
            "pid=%d" % os.getpid(),
            "err=%s" % (type(self.err).__name__ if self.err else "-"),
            "start_ns=%d" % self.start_ns,
            "end_ns=%d" % self.end_ns]
        fields += ["%s=%s" % (k, clean(v)) for k, v in self.extra]
        # One write per line: threads must not interleave their lines.
        with out_lock:
            sys.stdout.write(" ".join(fields) + "\n")
            sys.stdout.flush()
        return self.err is None


def run_call(opts, idx, url, fn):
    """Make one call with fn(call), catching what it raises."""
    c = Call(opts, idx)
    try:
        fn(c)
    except Exception as e:      # any failure is reported, not fatal
        c.failed(url, e)
    c.end_ns = time.time_ns()
    return c


def split_url(url):
    u = urllib.parse.urlsplit(url)
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    return u, path


def ssl_context(opts):
    import ssl
    return ssl.create_default_context(cafile=opts.cacert)


# ---- requests ----------------------------------------------------------

def requests_call(opts, session, idx, url):
    import requests
    post = session.post if session else requests.post

    def fn(c):
        r = post(url, data=opts.data, headers=opts.headers,
            verify=opts.cacert or True, timeout=opts.timeout,
            stream=opts.stream)
        with r:
            c.response(r.status_code, r.headers)
            if opts.stream:
                for chunk in r.iter_content(chunk_size=None):
                    c.data(chunk)
            else:
                c.data(r.content)
    return run_call(opts, idx, url, fn)


def mode_requests(opts):
    import requests
    # Several calls: one Session, so they share a kept-alive connection.
    session = requests.Session() if opts.n > 1 else None
    calls = [requests_call(opts, session, i, opts.url)
        for i in range(opts.n)]
    if session:
        session.close()
    return [c.report() for c in calls]


def mode_threads(opts):
    import requests
    results = []

    def worker(t):
        with requests.Session() as s:
            for j in range(opts.n):
                c = requests_call(opts, s, t * opts.n + j, opts.url)
                c.report()
                results.append(c)

    threads = [threading.Thread(target=worker, args=(t,))
        for t in range(opts.t)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    ok = sum(1 for c in results if 200 <= c.code < 300 and not c.err)
    print("SUMMARY ok=%d total=%d" % (ok, opts.t * opts.n), flush=True)
    return [c.err is None for c in results] + \
        [len(results) == opts.t * opts.n]


def mode_fork(opts):
    # The parent calls once before forking, so the child inherits a
    # process that has already made a call.
    oks = [requests_call(opts, None, 0, opts.url).report()]
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        ok = False
        try:
            ok = requests_call(opts, None, 1, opts.url).report()
            sys.stdout.flush()
        finally:
            os._exit(0 if ok else 1)
    c = requests_call(opts, None, 2, opts.url)
    _, status = os.waitpid(pid, 0)
    oks.append(os.waitstatus_to_exitcode(status) == 0)
    oks.append(c.report())
    return oks


# ---- urllib and http.client ---------------------------------------------

def read_stream(opts, c, resp):
    """Read a body to its end: piece by piece with --stream."""
    if opts.stream:
        while True:
            chunk = resp.read1(READ_SIZE)
            if not chunk:
                break
            c.data(chunk)
    else:
        c.data(resp.read())


def mode_urllib(opts):
    import urllib.error
    import urllib.request
    ctx = ssl_context(opts) if opts.cacert else None

    def fn(c):
        req = urllib.request.Request(opts.url, data=opts.data,
            headers=opts.headers, method="POST")
        try:
            resp = urllib.request.urlopen(req, timeout=opts.timeout,
                context=ctx)
        except urllib.error.HTTPError as e:
            resp = e    # a 4xx or 5xx answer is an answer too
        with resp:
            c.response(resp.code, resp.headers)
            read_stream(opts, c, resp)
    return [run_call(opts, i, opts.url, fn).report()
        for i in range(opts.n)]


def mode_httpclient(opts):
    import http.client
    u, path = split_url(opts.url)
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.hostname, u.port,
            timeout=opts.timeout, context=ssl_context(opts))
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port,
            timeout=opts.timeout)

    # Every call on the same connection object: kept alive.
    def fn(c):
        conn.request("POST", path, body=opts.data, headers=opts.headers)
        resp = conn.getresponse()
        c.response(resp.status, resp.headers)
        read_stream(opts, c, resp)
    calls = [run_call(opts, i, opts.url, fn) for i in range(opts.n)]
    conn.close()
    return [c.report() for c in calls]


def mode_tls_other(opts):
    import http.client
    if not opts.other or not opts.other.startswith("https://"):
        print("pyclient: tls-other needs --other https://...",
            file=sys.stderr)
        sys.exit(2)
    u, path = split_url(opts.other)
    # The LLM call first, then real TLS to the other host in the same
    # process: the issuer of its certificate shows whose TLS it was.
    oks = [requests_call(opts, None, 0, opts.url).report()]

    def fn(c):
        conn = http.client.HTTPSConnection(u.hostname, u.port,
            timeout=opts.timeout, context=ssl_context(opts))
        try:
            conn.connect()
            cert = conn.sock.getpeercert()
            issuer = dict(rdn[0] for rdn in cert.get("issuer", ()))
            c.extra += [("issuer", issuer.get("commonName")),
                ("tls", conn.sock.version())]
            conn.request("GET", path)
            resp = conn.getresponse()
            c.response(resp.status, resp.headers)
            read_stream(opts, c, resp)
        finally:
            conn.close()
    oks.append(run_call(opts, 1, opts.other, fn).report())
    return oks


# ---- httpx -------------------------------------------------------------

def mode_httpx(opts):
    import httpx

    with httpx.Client(verify=opts.cacert or True,
            timeout=opts.timeout) as client:
        def fn(c):
            if opts.stream:
                with client.stream("POST", opts.url,
                        content=opts.data,
                        headers=opts.headers) as r:
                    c.response(r.status_code, r.headers)
                    for chunk in r.iter_bytes():
                        c.data(chunk)
            else:
                r = client.post(opts.url, content=opts.data,
                    headers=opts.headers)
                c.response(r.status_code, r.headers)
                c.data(r.content)
        calls = [run_call(opts, i, opts.url, fn)
            for i in range(opts.n)]
    return [c.report() for c in calls]


def mode_httpx_async(opts):
    import asyncio
    import httpx

    async def one(client, idx):
        c = Call(opts, idx)
        try:
            if opts.stream:
                async with client.stream("POST", opts.url,
                        content=opts.data,
                        headers=opts.headers) as r:
                    c.response(r.status_code, r.headers)
                    async for chunk in r.aiter_bytes():
                        c.data(chunk)
            else:
                r = await client.post(opts.url, content=opts.data,
                    headers=opts.headers)
                c.response(r.status_code, r.headers)
                c.data(r.content)
        except Exception as e:  # reported, not fatal
            c.failed(opts.url, e)
        c.end_ns = time.time_ns()
        return c.report()

    # -c workers at once, each making -n calls one after another.
    async def worker(client, w):
        return [await one(client, w * opts.n + j)
            for j in range(opts.n)]

    async def main():
        async with httpx.AsyncClient(verify=opts.cacert or True,
                timeout=opts.timeout) as client:
            res = await asyncio.gather(*(worker(client, w)
                for w in range(opts.c)))
        return [ok for oks in res for ok in oks]

    return asyncio.run(main())


MODES = {
    "requests": mode_requests,
    "urllib": mode_urllib,
    "httpclient": mode_httpclient,
    "httpx": mode_httpx,
    "httpx-async": mode_httpx_async,
    "threads": mode_threads,
    "fork": mode_fork,
    "tls-other": mode_tls_other,
}


def header(arg):
    name, sep, value = arg.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError("want 'Name: value': %r" % arg)
    return name.strip(), value.strip()


def positive(arg):
    v = int(arg)
    if v < 1:
        raise argparse.ArgumentTypeError("must be 1 or more: %r" % arg)
    return v


def main():
    p = argparse.ArgumentParser(prog="pyclient",
        description="An ordinary Python HTTP client.")
    p.add_argument("mode", choices=sorted(MODES))
    p.add_argument("url")
    data = p.add_mutually_exclusive_group()
    data.add_argument("--data", help="POST body (a small chat request)")
    data.add_argument("--data-file", help="POST body from a file")
    p.add_argument("-H", dest="header", action="append", type=header,
        default=[], help="a request header, 'Name: value'")
    p.add_argument("--cacert", help="verify with this CA file")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("-n", type=positive, default=1,
        help="calls per worker")
    p.add_argument("-c", type=positive, default=1,
        help="httpx-async: calls in flight at once")
    p.add_argument("-t", type=positive, default=1,
        help="threads: how many threads")
    p.add_argument("--stream", action="store_true",
        help="read the answer as it arrives")
    p.add_argument("--other", help="tls-other: the other HTTPS URL")
    p.add_argument("--body-dir", help="write each body to DIR/<i>.body")
    opts = p.parse_args()

    if opts.data is not None:
        opts.data = opts.data.encode("utf-8")
    elif opts.data_file:
        with open(opts.data_file, "rb") as f:
            opts.data = f.read()
    else:
        opts.data = STREAM if opts.stream else CHAT
    # The ordinary way to post JSON: say so, unless the caller did.
    headers = {"Content-Type": "application/json"}
    for name, value in opts.header:
        for k in [k for k in headers if k.lower() == name.lower()]:
            del headers[k]
        headers[name] = value
    opts.headers = headers

    oks = MODES[opts.mode](opts)
    sys.stdout.flush()
    return 0 if all(oks) else 1


if __name__ == "__main__":
    sys.exit(main())
