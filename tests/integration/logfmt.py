"""A strict reader of Decorum's log lines, as docs/logging.md defines them.

    2024-05-01T12:00:00.123Z smtpd[4242] info: event=NAME key=value ...

The whole line is UTF-8 without a control character (C0, DEL, C1), a
line or paragraph separator, or a bidi control.  After the prefix come
fields separated by exactly one space, the first one `event`, no key
twice.  A key is [a-z][a-z0-9_]*.  A value is either bare (one or more
characters, none of them a space, '"' or '\\') or quoted: '"', then
characters other than '"' and '\\' or escapes \\xHH (two lower-case hex
digits, one byte), then '"'.

parse_line() takes one line as bytes (without its LF) and returns a Line
or raises LogSyntaxError saying where; parse_log() reads a whole log file
(bytes, split on LF only, so a CR or a lone byte cannot hide) and returns
every line parsed, failing on the first that does not parse.  Values come
back decoded: the bytes of a quoted value with its escapes undone, so a
test can compare them with the bytes it sent.
"""

import re
import unicodedata

PREFIX = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) "
                    rb"([a-z][a-z-]*)\[(\d+)\] (debug|info|warn|error): ")
KEY = re.compile(rb"[a-z][a-z0-9_]*")
BARE = re.compile(rb'[^ "\\]+')
QUOTED = re.compile(rb'"((?:[^"\\]|\\x[0-9a-f]{2})*)"')
ESCAPE = re.compile(rb"\\x([0-9a-f]{2})")

# Unicode's Bidi_Control characters, and the line/paragraph separators.
INVISIBLE = {0x061C, 0x200E, 0x200F, 0x2028, 0x2029} | \
    set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A))


class LogSyntaxError(AssertionError):
    pass


class Line:
    def __init__(self, raw, stamp, role, pid, level, fields):
        self.raw = raw                  # the line's bytes
        self.stamp = stamp
        self.role = role
        self.pid = pid
        self.level = level
        self.fields = fields            # [(key, value bytes, quoted)]
        self._map = {k: v for k, v, _ in fields}

    @property
    def event(self):
        return self.get("event")

    def value(self, key):
        """The bytes of a field's value (escapes undone), or None."""
        return self._map.get(key)

    def get(self, key, default=None):
        """A field's value as text (bytes that are not UTF-8 become
        U+FFFD), or default."""
        v = self._map.get(key)
        return default if v is None else v.decode("utf-8", "replace")

    def quoted(self, key):
        return any(q for k, _, q in self.fields if k == key)

    def __repr__(self):
        return "Line(%r)" % self.raw


def _printable(raw):
    """Raises LogSyntaxError unless raw is printable UTF-8."""
    try:
        text = raw.decode("utf-8", "strict")
    except UnicodeDecodeError as e:
        raise LogSyntaxError("not UTF-8 at byte %d: %r" % (e.start, raw))
    for i, ch in enumerate(text):
        if unicodedata.category(ch) == "Cc" or ord(ch) in INVISIBLE:
            raise LogSyntaxError("U+%04X at character %d: %r"
                                 % (ord(ch), i, raw))


def _value(raw, i):
    """(value bytes, quoted, end) of the value starting at raw[i]."""
    if raw[i:i + 1] == b'"':
        m = QUOTED.match(raw, i)
        if not m:
            raise LogSyntaxError("bad quoted value at %d: %r" % (i, raw))
        v = ESCAPE.sub(lambda e: bytes([int(e.group(1), 16)]), m.group(1))
        return v, True, m.end()
    m = BARE.match(raw, i)
    if not m:
        raise LogSyntaxError("empty or bad bare value at %d: %r" % (i, raw))
    return m.group(0), False, m.end()


def parse_line(raw):
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    _printable(raw)
    m = PREFIX.match(raw)
    if not m:
        raise LogSyntaxError("no 'STAMP ROLE[PID] LEVEL: ' prefix: %r" % raw)
    fields, i = [], m.end()
    while True:
        k = KEY.match(raw, i)
        if not k or raw[k.end():k.end() + 1] != b"=":
            raise LogSyntaxError("no key= at %d: %r" % (i, raw))
        value, quoted, i = _value(raw, k.end() + 1)
        key = k.group(0).decode("ascii")
        if any(key == f[0] for f in fields):
            raise LogSyntaxError("key %s twice: %r" % (key, raw))
        fields.append((key, value, quoted))
        if i == len(raw):
            break
        if raw[i:i + 1] != b" ":
            raise LogSyntaxError("no single space after a field at %d: %r"
                                 % (i, raw))
        i += 1
    if fields[0][0] != "event":
        raise LogSyntaxError("first field is not event=: %r" % raw)
    return Line(raw, m.group(1).decode(), m.group(2).decode(),
                int(m.group(3)), m.group(4).decode(), fields)


def parse_log(path, config=None):
    """Every line of the log file at path, parsed; the first line that
    does not parse fails, naming its number.

    config: the daemon's config file.  A decorumd that refuses its
    configuration says why as check-config does, "FILE:LINE: message"
    on stderr, before its log starts (docs/logging.md); in -f mode that
    is the same stream, so those lines are let through (and not
    returned)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data == b"" or data.endswith(b"\n"), \
        "log does not end with a line end: %r" % data[-200:]
    refusal = None if config is None else \
        re.compile(re.escape(config.encode()) + rb"(:\d+)?: \S")
    out = []
    for n, raw in enumerate(data.split(b"\n")[:-1], 1):
        if refusal is not None and refusal.match(raw):
            continue
        try:
            out.append(parse_line(raw))
        except LogSyntaxError as e:
            raise LogSyntaxError("%s line %d: %s" % (path, n, e)) from None
    return out
