#!/usr/bin/env python3
"""tests/fuzz/seeds.py: write the fuzz targets' seed inputs.

Each seed is tests/fuzz/corpus/TARGET/seed-NAME: the target's mode bytes
(see the opening comment of tests/fuzz/TARGET.c) and then the payload,
taken from tests/golden, the example configs, the unit tests' string
literals, and hand-written HTTP requests for the data socket.  Seeds are
rewritten (old ones removed first); other files (merged finds) are left
alone.  Run it from
anywhere after changing the golden files or a harness's input layout:

    python3 tests/fuzz/seeds.py
"""
import json
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
GOLDEN = os.path.join(ROOT, "tests", "golden")
OPENAI, ANTHROPIC = 0, 1
written = {}

# Seeds of an earlier run go: the unit tests' literals may have moved.
if os.path.isdir(CORPUS):
    for t in os.listdir(CORPUS):
        for f in os.listdir(os.path.join(CORPUS, t)):
            if f.startswith("seed-"):
                os.unlink(os.path.join(CORPUS, t, f))


def seed(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9._-]", "-", name)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)
    written[target] = written.get(target, 0) + 1


def dialect(s):
    return ANTHROPIC if s == "anthropic" else OPENAI


def read(path):
    with open(path, "rb") as f:
        return f.read()


def c_literals(path):
    """The string literals of a C file, adjacent ones joined, unescaped."""
    src = read(path).decode("utf-8")
    tok = re.compile(r'/\*.*?\*/|//[^\n]*|"((?:\\.|[^"\\])*)"|'
                     r"'(?:\\.|[^'\\])*'|(\s+)|.", re.S)
    out, cur = [], None
    for m in tok.finditer(src):
        if m.group(0).startswith('"'):
            cur = (cur or b"") + unescape(m.group(1))
        elif m.group(2) is not None or m.group(0).startswith("/*"):
            continue    # blanks and comments join literals
        else:
            if cur is not None:
                out.append(cur)
            cur = None
    if cur is not None:
        out.append(cur)
    return out


def unescape(s):
    out, i = bytearray(), 0
    simple = {"n": 10, "r": 13, "t": 9, "\\": 92, '"': 34, "'": 39,
              "a": 7, "b": 8, "f": 12, "v": 11, "?": 63}
    while i < len(s):
        c = s[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        c = s[i + 1]
        if c in simple:
            out.append(simple[c])
            i += 2
        elif c == "x":
            m = re.match(r"[0-9a-fA-F]+", s[i + 2:])
            out.append(int(m.group(0), 16) & 0xff)
            i += 2 + len(m.group(0))
        elif c in "01234567":
            m = re.match(r"[0-7]{1,3}", s[i + 1:])
            out.append(int(m.group(0), 8) & 0xff)
            i += 1 + len(m.group(0))
        else:
            out += c.encode("utf-8")
            i += 2
    return bytes(out)


def compact(j):
    return json.dumps(j, separators=(",", ":"), ensure_ascii=False).encode()


# ---- server and preamble: the data socket ------------------------------

def http(method, path, headers=(), body=b"", version="1.1"):
    h = "%s %s HTTP/%s\r\n" % (method, path, version)
    for k, v in headers:
        h += "%s: %s\r\n" % (k, v)
    return h.encode() + b"\r\n" + body


CHAT = compact({"model": "gpt-4o", "messages": [
    {"role": "user", "content": "Say this is a test"}]})
MSGS = compact({"model": "claude-sonnet-4-20250514", "max_tokens": 64,
                "messages": [{"role": "user", "content": "Hi"}]})
OA = [("Host", "api.openai.com"), ("Content-Type", "application/json"),
      ("Authorization", "Bearer sk-test")]


def chunked(body, size):
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


PREAMBLE = (b"LLMFB/1 CONNECT api.openai.com 443\r\nLLMFB/1 TLS\r\n"
            b"LLMFB/1 SENT 123456789\r\n")
REQUESTS = {
    "get-models": http("GET", "/v1/models", [("Host", "api.openai.com")]),
    "post-chat": http("POST", "/v1/chat/completions",
                      OA + [("Content-Length", str(len(CHAT)))], CHAT),
    "post-messages": http("POST", "/v1/messages", [
        ("Host", "api.anthropic.com"), ("x-api-key", "sk-ant-test"),
        ("anthropic-version", "2023-06-01"),
        ("Content-Length", str(len(MSGS)))], MSGS),
    "expect-100-continue": http("POST", "/v1/chat/completions", OA + [
        ("Expect", "100-continue"), ("Content-Length", str(len(CHAT)))],
        CHAT),
    "expect-other": http("POST", "/v1/chat/completions", OA + [
        ("Expect", "200-ok"), ("Content-Length", "2")], b"{}"),
    "chunked": http("POST", "/v1/chat/completions", OA + [
        ("Transfer-Encoding", "chunked")], chunked(CHAT, 16)),
    "chunked-expect": http("POST", "/v1/chat/completions", OA + [
        ("Expect", "100-continue"), ("Transfer-Encoding", "chunked")],
        chunked(CHAT, 40)),
    "pipelined": http("GET", "/v1/models", [("Host", "api.openai.com")]) +
    http("POST", "/v1/chat/completions",
         OA + [("Content-Length", str(len(CHAT)))], CHAT) +
    http("GET", "/v1/models?limit=1", [("Host", "api.openai.com"),
                                       ("Connection", "close")]),
    "pipelined-five": b"".join(
        http("GET", "/v1/models/%d" % i, [("Host", "api.openai.com")])
        for i in range(5)),
    "preamble-tls": PREAMBLE + http("POST", "/v1/chat/completions",
                                    OA + [("Content-Length",
                                           str(len(CHAT)))], CHAT),
    "preamble-admit": b"LLMFB/1 CONNECT api.openai.com 443\r\n"
    b"LLMFB/1 ADMIT\r\nLLMFB/1 TLS\r\nLLMFB/1 SENT 987654321\r\n" +
    http("POST", "/v1/chat/completions",
         OA + [("Content-Length", str(len(CHAT)))], CHAT),
    "admit-probe": b"LLMFB/1 ADMIT\r\n",
    "preamble-plain": b"LLMFB/1 CONNECT localhost 8080\r\n" +
    http("GET", "/health", [("Host", "localhost:8080")]),
    "preamble-bad": b"LLMFB/1 CONNECT a/b 443\r\n" +
    http("GET", "/", [("Host", "a")]),
    "curl-origin": http("POST", "/v1/chat/completions", OA + [
        ("X-Llmfb-Origin", "https://api.openai.com:443"),
        ("X-Llmfb-Sent", "123456789"),
        ("Content-Length", str(len(CHAT)))], CHAT),
    "http10": http("GET", "/v1/models", [("Host", "api.openai.com")],
                   version="1.0"),
    "http10-keepalive": http("GET", "/v1/models", [
        ("Host", "api.openai.com"), ("Connection", "keep-alive")],
        version="1.0") * 2,
    "no-host": http("GET", "/v1/models"),
    "absolute-target": http("GET", "http://api.openai.com/v1/models",
                            [("Host", "api.openai.com")]),
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    "big-header": http("GET", "/", [("Host", "api.openai.com"),
                                     ("X-Pad", "a" * 1200)]),
    "big-body": http("POST", "/v1/chat/completions", OA + [
        ("Content-Length", "600")], b"x" * 600),
    "big-body-chunked": http("POST", "/v1/chat/completions", OA + [
        ("Transfer-Encoding", "chunked")], chunked(b"y" * 700, 100)),
    "long-target": http("GET", "/v1/" + "t" * 8200,
                        [("Host", "api.openai.com")]),
    "many-headers": http("GET", "/", [("Host", "api.openai.com")] +
                         [("x%d" % i, "v") for i in range(130)]),
    "empty-value": http("GET", "/v1/models", [
        ("Host", "api.openai.com"), ("X-Empty", "")]),
}
# Mode bits (tests/fuzz/server.c): 0-1 cuts, 2-3 ending, 4 no settling,
# 5 small limits.
SMALL = 0x20
for name, req in REQUESTS.items():
    limits = SMALL if name.startswith("big-") else 0
    seed("server", name, bytes([limits]) + req)
    # The same in three pieces, read one at a time.
    seed("server", name + "-cut", bytes([limits | 2, 40, 160]) + req)
seed("server", "expect-100-continue-shutdown",
     bytes([0x08]) + REQUESTS["expect-100-continue"])
seed("server", "pipelined-midway", bytes([0x0c]) + REQUESTS["pipelined"])
seed("server", "preamble-tls-bytes", bytes([0x13, 5, 30, 90]) +
     REQUESTS["preamble-tls"])

# Mode (tests/fuzz/preamble.c): bits 0-3 cuts, 4-7 origin buffer size.
for name in ("preamble-tls", "preamble-admit", "admit-probe",
             "preamble-plain", "preamble-bad", "post-chat"):
    seed("preamble", name, bytes([0xf0]) + REQUESTS[name])
    seed("preamble", name + "-cut", bytes([0xf3, 20, 50, 120]) +
         REQUESTS[name])
for i, lit in enumerate(c_literals(os.path.join(ROOT, "tests", "unit",
                                                "check_preamble.c"))):
    if b"LLMFB" in lit or b"HTTP" in lit:
        seed("preamble", "unit-%02d" % i, bytes([0x72]) + bytes([64, 128]) +
             lit)

# ---- config -------------------------------------------------------------

for path in ("examples/llmfb.yaml", "examples/demo.yaml",
             "tests/e2e/e2e.yaml"):
    seed("config", os.path.basename(os.path.dirname(path)) + "-" +
         os.path.basename(path), read(os.path.join(ROOT, path)))
for i, lit in enumerate(c_literals(os.path.join(ROOT, "tests", "unit",
                                                "check_config.c"))):
    if b":" in lit and b"\n" in lit and len(lit) > 12:
        seed("config", "unit-%03d" % i, lit)

# ---- dialects -----------------------------------------------------------

gdir = os.path.join(GOLDEN, "dialect")
for f in sorted(os.listdir(gdir)):
    g = json.loads(read(os.path.join(gdir, f)))
    name = f[:-len(".json")]
    frm, to = dialect(g["from"]), dialect(g["to"])
    same = 2 if frm == to else 0
    if g["what"] == "request":
        # Mode (dialect_req.c): bit 0 the caller's, bit 1 same, bit 2
        # json_tool.
        seed("dialect_req", name, bytes([frm | same]) + compact(g["in"]))
        if g.get("out") is not None:
            seed("dialect_req", name + "-out", bytes([to | same]) +
                 compact(g["out"]))
    elif g["what"] == "response":
        # Mode (dialect_ans.c): bit 0 the target's, bit 1 same, bit 2
        # error, bit 3 json_tool; then the status.
        jt = 8 if g.get("info", {}).get("json_tool") else 0
        seed("dialect_ans", name, bytes([to | same | jt, 0, 200]) +
             compact(g["in"]))
        # Non-stream answers, to the reader (answer.c): the target's.
        seed("answer", "body-" + name, bytes([to, 0]) + compact(g["in"]))
        seed("answer", "body-borrowed-" + name, bytes([to | 4, 3]) +
             compact(g["in"]))
        if g.get("out") is not None:
            seed("answer", "body-" + name + "-out", bytes([frm, 1]) +
                 compact(g["out"]))
    elif g["what"] == "error":
        st = g["status"]
        body = g["in"].encode() if isinstance(g["in"], str) else \
            compact(g["in"])
        seed("dialect_ans", name, bytes([to | same | 4, st >> 8, st & 0xff]) +
             body)

sdir = os.path.join(GOLDEN, "dialect-stream")
for f in sorted(os.listdir(sdir)):
    if not f.endswith(".json"):
        continue
    name = f[:-len(".json")]
    g = json.loads(read(os.path.join(sdir, f)))
    frm, to = dialect(g["from"]), dialect(g["to"])
    inp = read(os.path.join(sdir, name + ".in.sse"))
    out = read(os.path.join(sdir, name + ".out.sse"))
    # Mode (dialect_stream.c): bit 0 the caller's, bit 1 same, bit 2
    # include_usage, bit 3 json_tool, 4-7 cuts; then the cap.
    mode = frm | (2 if frm == to else 0) | \
        (4 if g.get("include_usage") else 0) | \
        (8 if g.get("json_tool") else 0)
    seed("dialect_stream", name, bytes([mode, 0]) + inp)
    seed("dialect_stream", name + "-cut", bytes([mode | 0x30, 24]) +
         bytes([30, 100, 200]) + inp)
    # Mode (sse.c): bits 0-3 cuts, 4-7 cap.
    seed("sse", name + "-in", bytes([0x00]) + inp)
    seed("sse", name + "-out-cut", bytes([0x23, 10, 90, 170]) + out)
    # Mode (answer.c): bit 0 dialect, bit 1 stream, bit 2 continuation,
    # 4-7 cuts; then want.
    seed("answer", "stream-" + name + "-in", bytes([to | 2, 0]) + inp)
    seed("answer", "stream-" + name + "-out-cut",
         bytes([frm | 2 | 0x20, 2, 60, 180]) + out)
    seed("answer", "cont-" + name, bytes([to | 2 | 4 | 0x10, 0x20, 128]) +
         inp + inp)

for i, lit in enumerate(c_literals(os.path.join(ROOT, "tests", "unit",
                                                "check_sse.c"))):
    if b"data" in lit and len(lit) > 16:
        seed("sse", "unit-%02d" % i, bytes([0x0f]) + lit)
        seed("sse", "unit-%02d-cap" % i, bytes([0x12, 128]) + lit)

for t in sorted(written):
    print("%s: %d seeds" % (t, written[t]))
sys.exit(0)
