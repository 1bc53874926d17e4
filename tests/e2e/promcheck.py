#!/usr/bin/python3
"""promcheck: a strict reader of a Prometheus text exposition (0.0.4).

    promcheck.py FILE      (or - for standard input)

On success it prints every sample as one JSON object, {"name{labels}":
value, ...} (labels as the text wrote them, values as numbers, "NaN",
"+Inf" or "-Inf"), and exits 0.  Otherwise it prints the first problem
on standard error and exits 1.

prometheus_client reads the text too, and both readings must agree.  Its
parser is lenient (a sample outside its family becomes a family of its
own, a second TYPE line is taken, bad escapes pass), so what a scraper
would reject is checked here, on the raw text:

  - UTF-8, no CR or NUL, a newline at the end;
  - each family has one HELP and one TYPE, both before its samples, and
    its lines form one group;
  - a sample's name fits its family's type: a counter's is the family
    name and ends in _total; a histogram's are NAME_bucket, NAME_sum and
    NAME_count;
  - metric and label names are valid, no label name starts with __, no
    label repeats in a sample, escapes are \\\\, \\" and \\n only;
  - values are numbers (or NaN, +Inf, -Inf); counters are not negative;
  - no series twice;
  - a histogram, per label set: buckets with an le that is a number,
    counts that never fall as le rises, an le="+Inf" bucket equal to
    _count, and a _sum.
"""

import json
import math
import re
import sys

from prometheus_client.parser import text_string_to_metric_families

NAME_RE = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*')
LABEL_RE = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*')
FLOAT_RE = re.compile(r'[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z|'
                      r'[+-]?Inf\Z|NaN\Z')
TIMESTAMP_RE = re.compile(r'-?\d+\Z')
TYPES = ('counter', 'gauge', 'histogram', 'summary', 'untyped')
SUFFIXES = {
    'counter': ('',),
    'gauge': ('',),
    'untyped': ('',),
    'histogram': ('_bucket', '_sum', '_count'),
    'summary': ('', '_sum', '_count'),
}
ESCAPES = {'\\': '\\', '"': '"', 'n': '\n'}


class Bad(Exception):
    """The exposition is not valid; the message says where and why."""


class Family:
    def __init__(self, name):
        self.name = name
        self.help = None
        self.type = None
        self.samples = 0


def number(text, what, lineno):
    if not FLOAT_RE.match(text):
        raise Bad(f'line {lineno}: {what} {text!r} is not a number')
    return float(text)


def unescape_help(doc, lineno):
    out, i = [], 0
    while i < len(doc):
        if doc[i] == '\\':
            esc = doc[i + 1:i + 2]
            if esc not in ('\\', 'n'):
                raise Bad(f'line {lineno}: HELP has a bad escape '
                          f'\\{esc}')
            out.append(ESCAPES[esc])
            i += 2
        else:
            out.append(doc[i])
            i += 1
    return ''.join(out)


def label_value(line, i, lineno):
    """The value of a label from just after its opening quote: (value,
    index after the closing quote)."""
    out = []
    while i < len(line):
        c = line[i]
        if c == '"':
            return ''.join(out), i + 1
        if c == '\\':
            esc = line[i + 1:i + 2]
            if esc not in ESCAPES:
                raise Bad(f'line {lineno}: bad escape \\{esc} in a label '
                          'value')
            out.append(ESCAPES[esc])
            i += 2
        else:
            out.append(c)
            i += 1
    raise Bad(f'line {lineno}: a label value does not end')


def labels_of(line, i, lineno):
    """The labels from just after "{": (a list of (name, value), index
    after "}")."""
    labels, seen = [], set()
    while True:
        if line[i:i + 1] == '}':
            return labels, i + 1
        m = LABEL_RE.match(line, i)
        if not m:
            raise Bad(f'line {lineno}: bad label name at column {i + 1}')
        name = m.group(0)
        if name.startswith('__'):
            raise Bad(f'line {lineno}: label name {name} is reserved')
        if name in seen:
            raise Bad(f'line {lineno}: label {name} twice')
        seen.add(name)
        i = m.end()
        if line[i:i + 2] != '="':
            raise Bad(f'line {lineno}: expected =" after label {name}')
        value, i = label_value(line, i + 2, lineno)
        labels.append((name, value))
        if line[i:i + 1] == ',':
            i += 1
        elif line[i:i + 1] != '}':
            raise Bad(f'line {lineno}: expected , or }} after label '
                      f'{name}')


def parse_sample(line, lineno):
    """(name, [(label, value), ...], value) of a sample line."""
    m = NAME_RE.match(line)
    if not m:
        raise Bad(f'line {lineno}: not a sample: {line!r}')
    name, i, labels = m.group(0), m.end(), []
    if line[i:i + 1] == '{':
        labels, i = labels_of(line, i + 1, lineno)
    rest = line[i:]
    if rest[:1] not in (' ', '\t'):
        raise Bad(f'line {lineno}: expected a blank before the value')
    fields = rest.split()
    if len(fields) not in (1, 2):
        raise Bad(f'line {lineno}: expected a value and at most a '
                  'timestamp')
    if len(fields) == 2 and not TIMESTAMP_RE.match(fields[1]):
        raise Bad(f'line {lineno}: bad timestamp {fields[1]!r}')
    return name, labels, number(fields[0], 'value', lineno)


def series_key(name, labels):
    if not labels:
        return name
    text = ','.join('{}="{}"'.format(k, v.replace('\\', '\\\\')
                                     .replace('"', '\\"')
                                     .replace('\n', '\\n'))
                    for k, v in labels)
    return f'{name}{{{text}}}'


class Reader:
    def __init__(self):
        self.families = {}
        self.order = []
        self.current = None
        self.samples = {}       # series key -> value, in text order
        self.parsed = {}        # (name, frozenset(labels)) -> value
        self.types = {}         # sample name -> its family's type
        self.hists = {}         # (family, other labels) -> parts

    def comment(self, line, lineno):
        parts = line.split(None, 3)
        if len(parts) < 3 or parts[1] not in ('HELP', 'TYPE'):
            return              # an ordinary comment
        kind, name = parts[1], parts[2]
        if not NAME_RE.fullmatch(name):
            raise Bad(f'line {lineno}: bad metric name {name!r}')
        fam = self.families.get(name)
        if fam is None:
            fam = self.families[name] = Family(name)
            self.order.append(name)
        elif fam is not self.current:
            raise Bad(f'line {lineno}: {kind} for {name} away from its '
                      'family\'s other lines')
        if fam.samples:
            raise Bad(f'line {lineno}: {kind} for {name} after its '
                      'samples')
        self.current = fam
        if kind == 'HELP':
            if fam.help is not None:
                raise Bad(f'line {lineno}: second HELP for {name}')
            fam.help = unescape_help(parts[3] if len(parts) == 4 else '',
                                     lineno)
            return
        if fam.type is not None:
            raise Bad(f'line {lineno}: second TYPE for {name}')
        if len(parts) != 4 or parts[3] not in TYPES:
            raise Bad(f'line {lineno}: TYPE for {name} must be one of '
                      + ', '.join(TYPES))
        fam.type = parts[3]
        if fam.type == 'counter' and not name.endswith('_total'):
            raise Bad(f'line {lineno}: counter {name} does not end in '
                      '_total')

    def family_of(self, name, lineno):
        fam = self.current
        if fam is None or fam.type is None or fam.help is None:
            raise Bad(f'line {lineno}: sample {name} before its '
                      'family\'s HELP and TYPE')
        for suffix in SUFFIXES[fam.type]:
            if name == fam.name + suffix:
                return fam, suffix
        raise Bad(f'line {lineno}: sample {name} is not part of '
                  f'{fam.type} {fam.name}')

    def sample(self, line, lineno):
        name, labels, value = parse_sample(line, lineno)
        fam, suffix = self.family_of(name, lineno)
        key = series_key(name, labels)
        if (name, frozenset(labels)) in self.parsed:
            raise Bad(f'line {lineno}: {key} twice')
        if fam.type == 'counter' and not value >= 0:
            raise Bad(f'line {lineno}: counter {key} is {value}')
        fam.samples += 1
        self.samples[key] = value
        self.parsed[(name, frozenset(labels))] = value
        if fam.type == 'histogram':
            self.hist_part(fam, suffix, labels, value, lineno)

    def hist_part(self, fam, suffix, labels, value, lineno):
        rest = tuple(sorted(kv for kv in labels if kv[0] != 'le'))
        part = self.hists.setdefault((fam.name, rest), {'buckets': {}})
        les = [v for k, v in labels if k == 'le']
        if suffix != '_bucket':
            if les:
                raise Bad(f'line {lineno}: {fam.name}{suffix} has an le')
            part[suffix] = value
            return
        if not les:
            raise Bad(f'line {lineno}: a bucket of {fam.name} has no le')
        le = number(les[0], 'le', lineno)
        if math.isnan(le) or le in part['buckets']:
            raise Bad(f'line {lineno}: bucket le="{les[0]}" of '
                      f'{fam.name} is NaN or twice')
        if not value >= 0:
            raise Bad(f'line {lineno}: bucket of {fam.name} is {value}')
        part['buckets'][le] = value

    def finish(self):
        for name in self.order:
            fam = self.families[name]
            if fam.help is None or fam.type is None:
                raise Bad(f'{name} lacks its HELP or its TYPE')
            for suffix in SUFFIXES[fam.type]:
                if suffix and name + suffix in self.families:
                    raise Bad(f'{name + suffix} is a family of its own and '
                              f'a part of {name}')
        for (name, rest), part in self.hists.items():
            where = series_key(name, list(rest))
            counts = [part['buckets'][le] for le in sorted(part['buckets'])]
            if any(b < a for a, b in zip(counts, counts[1:])):
                raise Bad(f'{where}: bucket counts fall as le rises')
            if math.inf not in part['buckets']:
                raise Bad(f'{where}: no le="+Inf" bucket')
            if '_count' not in part or '_sum' not in part:
                raise Bad(f'{where}: no _count or no _sum')
            if part['_count'] != part['buckets'][math.inf]:
                raise Bad(f'{where}: _count {part["_count"]} is not the '
                          f'+Inf bucket {part["buckets"][math.inf]}')


def read(text):
    if not text:
        raise Bad('empty')
    if not text.endswith('\n'):
        raise Bad('the text does not end with a newline')
    if '\r' in text or '\0' in text:
        raise Bad('the text holds a CR or a NUL')
    r = Reader()
    for lineno, line in enumerate(text[:-1].split('\n'), 1):
        if line.startswith('#'):
            r.comment(line, lineno)
        elif line.strip():
            r.sample(line, lineno)
    r.finish()
    return r


def same(a, b):
    return a == b or (math.isnan(a) and math.isnan(b))


def agree(r, text):
    """prometheus_client must read the same families and samples."""
    try:
        fams = list(text_string_to_metric_families(text))
    except Exception as e:          # its parser raises what it likes
        raise Bad(f'prometheus_client cannot parse it: {e}') from e
    theirs = {}
    for f in fams:
        for s in f.samples:
            theirs[(s.name, frozenset(s.labels.items()))] = s.value
        ours = r.families.get(f.name) or r.families.get(f.name + '_total')
        want = ours.type if ours else None
        if want == 'untyped':
            want = 'unknown'
        if f.type != want:
            raise Bad(f'prometheus_client reads {f.name} as a {f.type}, '
                      f'not a {want}')
    if theirs.keys() != r.parsed.keys():
        extra = set(theirs) ^ set(r.parsed)
        raise Bad(f'prometheus_client reads other series: {sorted(extra)[:3]}')
    for k, v in r.parsed.items():
        if not same(theirs[k], v):
            raise Bad(f'prometheus_client reads {k[0]} as {theirs[k]}, '
                      f'not {v}')


def as_json(v):
    if math.isnan(v):
        return 'NaN'
    if math.isinf(v):
        return '+Inf' if v > 0 else '-Inf'
    if v == int(v) and abs(v) < 2 ** 53:
        return int(v)
    return v


def main(argv):
    if len(argv) != 2:
        print('usage: promcheck.py FILE|-', file=sys.stderr)
        return 2
    try:
        if argv[1] == '-':
            data = sys.stdin.buffer.read()
        else:
            with open(argv[1], 'rb') as f:
                data = f.read()
    except OSError as e:
        print(f'promcheck: {e}', file=sys.stderr)
        return 1
    try:
        try:
            text = data.decode('utf-8')
        except UnicodeDecodeError as e:
            raise Bad(f'not UTF-8: {e}') from e
        r = read(text)
        agree(r, text)
    except Bad as e:
        print(f'promcheck: {e}', file=sys.stderr)
        return 1
    print(json.dumps({k: as_json(v) for k, v in r.samples.items()},
                     indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
