#!/usr/bin/python3
"""includes: the daemon's modules include one another without a cycle.

A module is a .c and its .h together (call.c and call.h are one; a
private header such as call_impl.h is its own).  The daemon is layered:
daemon.c on top, everything else under it, reaching up only through the
hooks in state.h.  A cycle means two modules can no longer be read, tested
or changed one without the other.  Prints each cycle and exits 1.

    tests/includes.py [DIR ...]      default: daemon
"""

import os
import re
import sys

INCLUDE = re.compile(r'\s*#\s*include\s+"([^"/]+)\.h"')


def graph(d):
    files = [f for f in os.listdir(d) if f.endswith((".c", ".h"))]
    mods = {os.path.splitext(f)[0] for f in files}
    g = {m: set() for m in mods}
    for f in files:
        m = os.path.splitext(f)[0]
        with open(os.path.join(d, f), errors="replace") as fh:
            for line in fh:
                x = INCLUDE.match(line)
                if x and x.group(1) in mods and x.group(1) != m:
                    g[m].add(x.group(1))
    return g


def cycles(g):
    """Tarjan's strongly connected components of more than one module."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            c = []
            while True:
                w = stack.pop()
                on.discard(w)
                c.append(w)
                if w == v:
                    break
            if len(c) > 1:
                out.append(sorted(c))

    sys.setrecursionlimit(10000)
    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def main():
    bad = 0
    for d in sys.argv[1:] or ["daemon"]:
        g = graph(d)
        for c in cycles(g):
            bad = 1
            print("%s: modules include one another in a cycle: %s" %
                  (d, ", ".join(c)), file=sys.stderr)
            for m in c:
                print("  %s -> %s" % (m, ", ".join(sorted(g[m] & set(c)))),
                      file=sys.stderr)
    return bad


if __name__ == "__main__":
    sys.exit(main())
