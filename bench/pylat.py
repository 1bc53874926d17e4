#!/usr/bin/python3
"""pylat: per-call latency of Python requests.post, for make bench.

    pylat.py URL --cacert FILE --out PREFIX [-n N] [--fresh-n N]
        [--warmup N] [--llmfb 0|1]

Times N sequential requests.post calls on one requests.Session (a
kept-alive connection), then --fresh-n calls of requests.post without a
session (a new connection, with its TLS handshake, for each), each after
--warmup untimed calls of its kind.  The same client runs against the
mock directly and, under the shim, against api.openai.com; only the URL
differs, and verify is the same CA file in both (through llmfb the TLS
session is virtual and checks nothing, but loading the file costs the
same).  Writes one latency in nanoseconds per line to PREFIX.session and
PREFIX.fresh, and prints one summary line.

--llmfb 1 requires every answer to carry x-llmfb-route (it went through
llmfbd), --llmfb 0 requires none to (it did not): a run that silently went
the wrong way fails instead of being measured.  Every answer must be a
200.  Run it with Debian's /usr/bin/python3 (its requests).
"""

import argparse
import sys
import time

import requests

BODY = b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
HEADERS = {"Content-Type": "application/json",
           "Authorization": "Bearer sk-bench"}


def check(resp, via_llmfb):
    if resp.status_code != 200:
        sys.exit("pylat: HTTP %d from %s" % (resp.status_code, resp.url))
    routed = "x-llmfb-route" in resp.headers
    if via_llmfb is not None and routed != via_llmfb:
        sys.exit("pylat: the call %s through llmfb" %
                 ("did not go" if via_llmfb else "went"))
    return len(resp.content)


def timed(call, n, warmup):
    for _ in range(warmup):
        call()
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        call()
        out.append(time.perf_counter_ns() - t0)
    return out


def pct(v, p):
    """Nearest-rank percentile of a sorted list."""
    if not v:
        return 0
    rank = max(1, min(len(v), -(-len(v) * p // 100)))
    return v[rank - 1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--cacert", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("-n", type=int, default=300)
    ap.add_argument("--fresh-n", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--llmfb", type=int, choices=(0, 1))
    opts = ap.parse_args()
    via = None if opts.llmfb is None else bool(opts.llmfb)

    session = requests.Session()

    def kept():
        check(session.post(opts.url, data=BODY, headers=HEADERS,
                           verify=opts.cacert, timeout=30), via)

    def fresh():
        check(requests.post(opts.url, data=BODY, headers=HEADERS,
                            verify=opts.cacert, timeout=30), via)

    res = {
        "session": timed(kept, opts.n, opts.warmup),
        "fresh": timed(fresh, opts.fresh_n, min(opts.warmup, 5)),
    }
    session.close()
    line = []
    for mode, lat in res.items():
        with open("%s.%s" % (opts.out, mode), "w") as f:
            f.write("".join("%d\n" % x for x in lat))
        lat.sort()
        line.append("%s_p50_us=%d %s_p99_us=%d" % (
            mode, pct(lat, 50) // 1000, mode, pct(lat, 99) // 1000))
    print(" ".join(line))


if __name__ == "__main__":
    main()
