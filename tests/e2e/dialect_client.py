#!/usr/bin/python3
"""dialect_client: a strict reader of OpenAI and Anthropic answers.

It checks an answer the way each provider's SDK would read it, so a test
can tell a valid answer from one that only looks like it: the event order
of an Anthropic stream (message_start, content blocks opened, filled and
stopped by index, message_delta, message_stop), the chunks and [DONE] of
an OpenAI stream, the fields and types of a whole answer or an error.

    dialect_client.py call anthropic|openai URL DATA [--stream]
        [-H 'Name: value']... [--cacert FILE]
        An ordinary program calling the API with httpx (run it under the
        shim to send it through llmfb); it prints the summary below.
    dialect_client.py check anthropic|openai stream|body FILE
        Reads an answer someone else received (curl's output).

The summary is one JSON object: status, headers (the x-llmfb-* ones and
content-type), and the answer as read: text, stop (finish or stop
reason), tools (id, name, args parsed), usage (input, output), id, model,
events (their types, for streams), error (type and message of an error
answer or event).  Anything the SDK would choke on is a "violation":
listed, and the exit status is 1.
"""

import json
import sys

OPENAI_FINISH = {"stop", "length", "tool_calls", "content_filter",
                 "function_call"}
ANTHROPIC_STOP = {"end_turn", "max_tokens", "stop_sequence", "tool_use",
                  "pause_turn", "refusal"}


class Reader:
    def __init__(self, dialect):
        self.dialect = dialect
        self.violations = []
        self.out = {"text": "", "stop": None, "tools": [], "usage": None,
                    "id": None, "model": None, "events": [], "error": None}

    def bad(self, why):
        self.violations.append(why)

    def want(self, cond, why):
        if not cond:
            self.bad(why)
        return cond

    def usage(self, inp, outp):
        self.out["usage"] = {"input": inp, "output": outp}

    # ---- whole answers --------------------------------------------------

    def body(self, data, status):
        try:
            j = json.loads(data)
        except ValueError as e:
            self.bad("body is not JSON: %s" % e)
            return
        if not self.want(isinstance(j, dict), "body is not an object"):
            return
        if status >= 400:
            self.error(j)
            return
        if self.dialect == "anthropic":
            self.anthropic_body(j)
        else:
            self.openai_body(j)

    def error(self, j):
        if self.dialect == "anthropic":
            self.want(j.get("type") == "error", "error: type is not 'error'")
        e = j.get("error")
        if self.want(isinstance(e, dict), "error: no error object"):
            self.want(isinstance(e.get("type"), str), "error: no type")
            self.want(isinstance(e.get("message"), str), "error: no message")
            self.out["error"] = {"type": e.get("type"),
                                 "message": e.get("message")}

    def anthropic_body(self, j):
        self.want(j.get("type") == "message", "type is not 'message'")
        self.want(j.get("role") == "assistant", "role is not 'assistant'")
        self.want(isinstance(j.get("id"), str), "no id")
        self.want(isinstance(j.get("model"), str), "no model")
        self.want(j.get("stop_reason") in ANTHROPIC_STOP,
                  "stop_reason %r" % j.get("stop_reason"))
        self.out.update(id=j.get("id"), model=j.get("model"),
                        stop=j.get("stop_reason"))
        content = j.get("content")
        if not self.want(isinstance(content, list), "content not a list"):
            return
        for b in content:
            t = b.get("type") if isinstance(b, dict) else None
            if t == "text":
                self.want(isinstance(b.get("text"), str), "text block")
                self.out["text"] += b.get("text") or ""
            elif t == "tool_use":
                self.want(isinstance(b.get("input"), dict),
                          "tool_use input is not an object")
                self.out["tools"].append({"id": b.get("id"),
                    "name": b.get("name"), "args": b.get("input")})
            else:
                self.bad("unknown block %r" % t)
        u = j.get("usage")
        if self.want(isinstance(u, dict), "no usage"):
            self.want(isinstance(u.get("input_tokens"), int) and
                      isinstance(u.get("output_tokens"), int), "usage counts")
            self.usage(u.get("input_tokens"), u.get("output_tokens"))

    def openai_tools(self, calls, where):
        for c in calls:
            f = c.get("function") or {}
            self.want(c.get("type") == "function", where + ": type")
            try:
                args = json.loads(f.get("arguments"))
            except (TypeError, ValueError):
                self.bad(where + ": arguments are not JSON")
                args = None
            self.out["tools"].append({"id": c.get("id"),
                "name": f.get("name"), "args": args})

    def openai_body(self, j):
        self.want(j.get("object") == "chat.completion",
                  "object %r" % j.get("object"))
        self.want(isinstance(j.get("created"), int), "no created")
        self.out.update(id=j.get("id"), model=j.get("model"))
        ch = j.get("choices")
        if not self.want(isinstance(ch, list) and len(ch) == 1, "choices"):
            return
        m = ch[0].get("message") or {}
        self.want(m.get("role") == "assistant", "role")
        self.want(m.get("content") is None or
                  isinstance(m.get("content"), str), "content type")
        self.out["text"] = m.get("content") or ""
        self.openai_tools(m.get("tool_calls") or [], "tool_calls")
        fr = ch[0].get("finish_reason")
        self.want(fr in OPENAI_FINISH, "finish_reason %r" % fr)
        self.out["stop"] = fr
        u = j.get("usage")
        if self.want(isinstance(u, dict), "no usage"):
            self.want(u.get("total_tokens") == (u.get("prompt_tokens") or 0)
                      + (u.get("completion_tokens") or 0), "total_tokens")
            self.usage(u.get("prompt_tokens"), u.get("completion_tokens"))

    # ---- streams ----------------------------------------------------------

    def stream(self, data, status):
        if status >= 400:
            self.body(data, status)
            return
        events, ev, lines = [], None, []
        for line in data.replace("\r\n", "\n").split("\n"):
            if line == "":
                if lines:
                    events.append((ev or "message", "\n".join(lines)))
                ev, lines = None, []
            elif line.startswith(":"):
                continue
            elif line.startswith("event:"):
                ev = line[6:].strip()
            elif line.startswith("data:"):
                lines.append(line[5:].lstrip(" ") if line[5:6] == " "
                             else line[5:])
        self.want(not lines, "a partial event at the end")
        if self.dialect == "anthropic":
            self.anthropic_stream(events)
        else:
            self.openai_stream(events)

    def anthropic_stream(self, events):
        blocks, open_block, stopped = [], None, False
        started = False
        for name, data in events:
            try:
                j = json.loads(data)
            except ValueError:
                self.bad("event %s: data is not JSON" % name)
                continue
            t = j.get("type")
            self.out["events"].append(t)
            self.want(t == name, "event %r has type %r" % (name, t))
            if stopped:
                self.bad("%s after message_stop" % t)
            if t == "ping":
                continue
            if t == "error":
                self.error(j)
                continue
            if t == "message_start":
                self.want(not started, "second message_start")
                started = True
                m = j.get("message") or {}
                self.want(m.get("type") == "message" and
                          m.get("role") == "assistant", "message_start shape")
                self.out.update(id=m.get("id"), model=m.get("model"))
                u = m.get("usage") or {}
                self.usage(u.get("input_tokens"), u.get("output_tokens"))
                continue
            self.want(started, "%s before message_start" % t)
            if t == "content_block_start":
                self.want(open_block is None, "block started inside another")
                self.want(j.get("index") == len(blocks), "block index %r"
                          % j.get("index"))
                cb = j.get("content_block") or {}
                blocks.append({"type": cb.get("type"), "id": cb.get("id"),
                               "name": cb.get("name"),
                               "text": cb.get("text") or "", "json": ""})
                open_block = len(blocks) - 1
            elif t == "content_block_delta":
                if not self.want(open_block is not None and
                                 j.get("index") == open_block,
                                 "delta for a block not open"):
                    continue
                d, b = j.get("delta") or {}, blocks[open_block]
                if d.get("type") == "text_delta":
                    self.want(b["type"] == "text", "text delta in " +
                              str(b["type"]))
                    b["text"] += d.get("text") or ""
                elif d.get("type") == "input_json_delta":
                    self.want(b["type"] == "tool_use", "json delta in " +
                              str(b["type"]))
                    b["json"] += d.get("partial_json") or ""
                elif d.get("type") in ("thinking_delta", "signature_delta"):
                    self.want(b["type"] == "thinking", "thinking delta in " +
                              str(b["type"]))
                else:
                    self.bad("delta type %r" % d.get("type"))
            elif t == "content_block_stop":
                self.want(j.get("index") == open_block, "stop of a block "
                          "not open")
                open_block = None
            elif t == "message_delta":
                self.want(open_block is None, "message_delta in a block")
                stop = (j.get("delta") or {}).get("stop_reason")
                self.want(stop in ANTHROPIC_STOP, "stop_reason %r" % stop)
                self.out["stop"] = stop
                u = j.get("usage") or {}
                self.want(isinstance(u.get("output_tokens"), int),
                          "message_delta without output_tokens")
                inp = u.get("input_tokens")
                if inp is None and self.out["usage"]:
                    inp = self.out["usage"]["input"]
                self.usage(inp, u.get("output_tokens"))
            elif t == "message_stop":
                stopped = True
            else:
                self.bad("unknown event %r" % t)
        if self.out["error"] is None:
            self.want(stopped, "no message_stop")
        for b in blocks:
            if b["type"] == "text":
                self.out["text"] += b["text"]
            elif b["type"] == "tool_use":
                try:
                    args = json.loads(b["json"]) if b["json"] else {}
                except ValueError:
                    self.bad("tool input is not JSON")
                    args = None
                self.want(isinstance(args, dict), "tool input not object")
                self.out["tools"].append({"id": b["id"], "name": b["name"],
                                          "args": args})

    def openai_stream(self, events):
        calls, done = {}, False
        for name, data in events:
            self.want(name == "message", "OpenAI event field %r" % name)
            if data == "[DONE]":
                self.want(not done, "second [DONE]")
                done = True
                self.out["events"].append("[DONE]")
                continue
            self.want(not done, "chunk after [DONE]")
            try:
                j = json.loads(data)
            except ValueError:
                self.bad("chunk is not JSON")
                continue
            if "error" in j:
                self.out["events"].append("error")
                self.error(j)
                continue
            self.want(j.get("object") == "chat.completion.chunk",
                      "object %r" % j.get("object"))
            self.out.update(id=j.get("id"), model=j.get("model"))
            ch = j.get("choices")
            self.want(isinstance(ch, list), "choices")
            if j.get("usage"):
                u = j["usage"]
                self.usage(u.get("prompt_tokens"), u.get("completion_tokens"))
            if not ch:
                self.out["events"].append("usage")
                continue
            self.out["events"].append("chunk")
            c = ch[0]
            d = c.get("delta") or {}
            self.out["text"] += d.get("content") or ""
            for tc in d.get("tool_calls") or []:
                i = tc.get("index")
                f = tc.get("function") or {}
                if i not in calls:
                    self.want(tc.get("id") and f.get("name"),
                              "tool call %r begins without id/name" % i)
                    calls[i] = {"id": tc.get("id"), "name": f.get("name"),
                                "args": ""}
                calls[i]["args"] += f.get("arguments") or ""
            if c.get("finish_reason") is not None:
                self.want(c["finish_reason"] in OPENAI_FINISH,
                          "finish_reason %r" % c["finish_reason"])
                self.out["stop"] = c["finish_reason"]
        if self.out["error"] is None:
            self.want(done, "no [DONE]")
        for i in sorted(calls):
            try:
                calls[i]["args"] = json.loads(calls[i]["args"])
            except ValueError:
                self.bad("tool %d arguments are not JSON" % i)
            self.out["tools"].append(calls[i])


def report(reader, extra):
    out = dict(extra)
    out.update(reader.out)
    out["violations"] = reader.violations
    print(json.dumps(out, sort_keys=True))
    return 1 if reader.violations else 0


def call(argv):
    import argparse
    import httpx

    p = argparse.ArgumentParser(prog="dialect_client.py call")
    p.add_argument("dialect", choices=("anthropic", "openai"))
    p.add_argument("url")
    p.add_argument("data")
    p.add_argument("--stream", action="store_true")
    p.add_argument("-H", dest="headers", action="append", default=[])
    p.add_argument("--cacert")
    a = p.parse_args(argv)
    headers = {"content-type": "application/json"}
    for h in a.headers:
        k, _, v = h.partition(":")
        headers[k.strip()] = v.strip()
    if a.dialect == "anthropic":
        headers.setdefault("anthropic-version", "2023-06-01")
    with httpx.Client(verify=a.cacert or True, timeout=30) as c:
        with c.stream("POST", a.url, content=a.data.encode(),
                      headers=headers) as r:
            data = b"".join(r.iter_bytes()).decode("utf-8")
            status = r.status_code
            hdrs = {k: v for k, v in r.headers.items()
                    if k.startswith("x-llmfb-") or k == "content-type"}
    reader = Reader(a.dialect)
    if a.stream and status < 400:
        reader.want(hdrs.get("content-type", "").startswith(
            "text/event-stream"), "stream without text/event-stream")
        reader.stream(data, status)
    else:
        reader.body(data, status)
    return report(reader, {"status": status, "headers": hdrs})


def check(argv):
    dialect, kind, path = argv
    with open(path, encoding="utf-8") as f:
        data = f.read()
    reader = Reader(dialect)
    if kind == "stream":
        reader.stream(data, 200)
    else:
        status = 200
        try:
            status = 400 if "error" in json.loads(data) else 200
        except ValueError:
            pass
        reader.body(data, status)
    return report(reader, {})


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "call":
        return call(sys.argv[2:])
    if len(sys.argv) == 5 and sys.argv[1] == "check":
        return check(sys.argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
