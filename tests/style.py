#!/usr/bin/python3
"""The house brace style, checked (make check runs it on every C file).

One style across shim/, daemon/, ctl/, common/, ebpf/, bench/ and tests/
(style(9), as OpenBSD and the daemon write it):

  static int                  the return type on a line of its own,
  name(int a, char *b)        the name at column 0,
  {                           the function's brace alone at column 0;
          if (a) {            a statement's brace on its line,
          } else {            and else after the closing brace.

Usage: tests/style.py FILE...   prints FILE:LINE: what, exits 1 if any.
"""
import re
import sys

DECL = re.compile(r'^[A-Za-z_][\w \t\*]*?\b(\w+)\(')
CONTROL = re.compile(r'^\s*(if|for|while|switch|else|do)\b')


def check(path):
    bad = []
    with open(path, encoding='utf-8', errors='replace') as f:
        lines = f.read().split('\n')
    for i, line in enumerate(lines):
        n = i + 1
        # A function's opening brace: find where its declarator began.
        if line == '{' and i > 0:
            j = i - 1
            while j > 0 and lines[j].startswith(('\t', ' ')):
                j -= 1          # continued parameter lines
            head = lines[j]
            m = DECL.match(head)
            if m and not head.startswith(m.group(1) + '('):
                bad.append((j + 1, "a function's name starts its line: "
                            "put the return type on the line above"))
        # K&R: a function's brace at the end of its declarator.
        if (DECL.match(line) and line.endswith(') {') and
                not line.startswith(('else', 'do'))):
            bad.append((n, "a function's brace goes alone on the next "
                        "line, at column 0"))
        # A statement's brace on a line of its own.
        if re.match(r'^\s+\{\s*$', line) and i > 0 and \
                CONTROL.match(lines[i - 1]):
            bad.append((n, "a statement's brace goes on its own line's "
                        "end"))
        # else on the line of the closing brace.
        if re.match(r'^\s+else\b', line) and i > 0 and \
                re.match(r'^\s+\}\s*$', lines[i - 1]):
            bad.append((n, "else follows its closing brace: '} else'"))
    for n, what in bad:
        print('%s:%d: %s' % (path, n, what))
    return len(bad)


def main():
    nbad = sum(check(p) for p in sys.argv[1:])
    if nbad:
        print('%d place(s) off the house style (tests/style.py)' % nbad)
    sys.exit(1 if nbad else 0)


if __name__ == '__main__':
    main()
