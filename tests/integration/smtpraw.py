"""A byte-exact SMTP client for dialogue tests.

smtplib hides what we need to see (it rewrites line ends, dot-stuffs for
us, merges replies), so the protocol tests talk through this: send exact
bytes, read one reply at a time, check codes and enhanced codes.  Every
read has a deadline so a silent daemon fails the test quickly instead of
hanging the suite.  Replies must end with CRLF (RFC 5321 4.1.1, 2.3.8).
"""

import re
import socket
import time

REPLY_LINE = re.compile(rb"^(\d{3})([ -])(.*)$")


class Reply:
    def __init__(self, code, lines):
        self.code = code
        self.lines = lines          # texts after "NNN-" / "NNN "

    @property
    def text(self):
        return "\n".join(self.lines)

    @property
    def first(self):
        return self.lines[0] if self.lines else ""

    def __repr__(self):
        return "Reply(%d, %r)" % (self.code, self.lines)


class ConnectionClosed(Exception):
    pass


class Smtp:
    def __init__(self, port, host="127.0.0.1", timeout=5.0, greet=True,
                 source=None):
        """source: the client's address, of host's family (another
        127.0.0.x plays another client; an IPv6 address added to lo
        another IPv6 client); None lets the kernel choose."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        src = (source, 0) if source is not None else None
        self.sock = socket.create_connection(
            (host, port), timeout=timeout, source_address=src) \
            if family == socket.AF_INET else self._connect6(host, port,
                                                            timeout, source)
        self.timeout = timeout
        self.buf = b""
        self.greeting = self.reply() if greet else None

    @staticmethod
    def _connect6(host, port, timeout, source=None):
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.settimeout(timeout)
        if source is not None:
            s.bind((source, 0))
        s.connect((host, port))
        return s

    # -- low level -----------------------------------------------------
    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("no complete reply before the deadline; "
                                 "got %r" % self.buf)
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionClosed("server closed the connection; "
                                   "pending %r" % self.buf)
        self.buf += chunk

    def readline(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\r\n" not in self.buf:
            # A bare LF in a reply would be a daemon bug; fail loudly.
            assert b"\n" not in self.buf, "reply line not ended by CRLF: %r" \
                % self.buf
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        assert b"\n" not in line and b"\r" not in line, \
            "bare CR/LF inside reply line %r" % line
        return line

    def reply(self, timeout=None):
        """Read one (possibly multi-line) reply (RFC 5321 4.2.1)."""
        lines = []
        code = None
        while True:
            raw = self.readline(timeout)
            m = REPLY_LINE.match(raw)
            assert m, "malformed reply line %r" % raw
            c = int(m.group(1))
            assert code is None or c == code, \
                "code changed inside a multi-line reply: %r" % raw
            code = c
            lines.append(m.group(3).decode("utf-8", "replace"))
            if m.group(2) == b" ":
                return Reply(code, lines)

    def cmd(self, line, timeout=None):
        """Send one command line (CRLF added) and read its reply."""
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + b"\r\n")
        return self.reply(timeout)

    def expect(self, line, code, enhanced=None, contains=None):
        """Send line, assert the reply code (and enhanced code / text)."""
        r = self.cmd(line) if line is not None else self.reply()
        check(r, code, enhanced, contains, what=line)
        return r

    def closed(self, timeout=None):
        """True when the server closes the connection (EOF or RST) before
        the deadline without sending anything more."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while True:
                self._fill(deadline)
                if self.buf:
                    return False
        except ConnectionClosed:
            return not self.buf
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- common sequences ---------------------------------------------
    def ehlo(self, name="client.example.org"):
        r = self.cmd("EHLO " + name)
        check(r, 250, what="EHLO")
        return r

    def mail(self, sender, params="", code=250, enhanced="2.1.0"):
        line = "MAIL FROM:<%s>" % sender + (" " + params if params else "")
        return self.expect(line, code, enhanced)

    def rcpt(self, rcpt, code=250, enhanced="2.1.5", params=""):
        line = "RCPT TO:<%s>" % rcpt + (" " + params if params else "")
        return self.expect(line, code, enhanced)

    def data(self, body, code=250, enhanced="2.0.0"):
        """DATA, then body bytes as given (must include the final
        CRLF.CRLF), then the end-of-data reply."""
        self.expect("DATA", 354)
        self.send(body)
        r = self.reply()
        check(r, code, enhanced, what="end of data")
        return r

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def check(r, code, enhanced=None, contains=None, what=None):
    where = " (after %r)" % (what,) if what is not None else ""
    assert r.code == code, "expected %d, got %r%s" % (code, r, where)
    if enhanced is not None:
        # RFC 2034 / RFC 3463: the enhanced code starts the text of every line.
        for line in r.lines:
            assert line.startswith(enhanced + " ") or line == enhanced, \
                "expected enhanced code %s in %r%s" % (enhanced, r, where)
    if contains is not None:
        assert contains in r.text, "expected %r in %r%s" % (contains, r,
                                                            where)


def recv_all(sock):
    """Everything the server sends until it closes the connection (the
    socket's own timeout bounds each read)."""
    data = bytearray()
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return bytes(data)
        data += chunk


def queue_id(r):
    """The queue id from "250 2.0.0 Ok: queued as ID"."""
    m = re.fullmatch(r"2\.0\.0 Ok: queued as ([0-9A-Za-z]+)", r.first)
    assert m, "end-of-data reply is not '2.0.0 Ok: queued as ID': %r" % r
    return m.group(1)


def message(subject="test", body="hello\r\n", sender="x@example.org",
            to="demo@example.test", extra=""):
    """A small RFC 5322 message with CRLF line ends, dot-stuffed,
    terminated by CRLF.CRLF, ready for Smtp.data()."""
    text = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n"
            "Message-ID: <%s@example.org>\r\n%s\r\n%s"
            % (sender, to, subject, re.sub(r"\W", "", subject) or "m",
               extra, body))
    if isinstance(text, str):
        text = text.encode("utf-8")
    stuffed = re.sub(rb"(^|\r\n)\.", rb"\1..", text)
    return stuffed + b".\r\n"
