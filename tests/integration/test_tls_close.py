"""TLS sessions end with close_notify (RFC 8446 6.1), server and client.

A TLS peer that only sees the TCP connection end cannot tell the end of
the conversation from a truncation attack; strict clients report an
"unexpected EOF".  So every orderly close sends close_notify after the
last SMTP reply: QUIT on each TLS listener, and each 421 (timeout, too
many errors, shutdown, a client blocked for AUTH failures, in its session
and at connect on implicit TLS).  The clients here are strict: Python's
ssl with suppress_ragged_eofs=False and without OP_IGNORE_UNEXPECTED_EOF,
where close_notify reads as b"" and a bare EOF raises SSLEOFError.

The client side: Decorum's outbound client says QUIT and close_notify to
a strict STARTTLS sink (a small blocking server below, built on Python's
ssl so that it can tell the two ends apart, which aiosmtpd cannot), both
when a cached connection is closed after use and when the qmgr stops."""

import socket
import ssl
import threading
import time

import pytest

from conftest import HELO, auth_plain_b64, client_context, submit
from mtaproc import HOSTNAME
from smtpraw import Smtp, check

TLS_WHERE = ("mx_starttls", "mx_implicit", "sub_starttls", "sub_implicit")


def strict_context(ctx):
    """Python's contexts take a TCP end without close_notify for a clean
    end (OP_IGNORE_UNEXPECTED_EOF, set by default with OpenSSL 3): a
    strict peer does not."""
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    return ctx


def strict(sock):
    return strict_context(client_context()).wrap_socket(
        sock, server_hostname=HOSTNAME, suppress_ragged_eofs=False)


def open_tls(m, where):
    """An EHLO'd session on one of tls_mta's TLS listeners, through a
    strict TLS client."""
    if where.endswith("starttls"):
        s = Smtp(m.ports[where])
        s.ehlo(HELO)
        check(s.cmd("STARTTLS"), 220, "2.0.0")
        s.sock = strict(s.sock)
    else:
        s = Smtp(m.ports[where], greet=False)
        s.sock = strict(s.sock)
        check(s.reply(), 220)
    s.ehlo(HELO)
    return s


def assert_close_notify(s, timeout=10.0):
    """Nothing after the last reply but close_notify: recv() gives b""
    (SSL_ERROR_ZERO_RETURN).  A TCP end without it raises SSLEOFError."""
    assert s.buf == b"", "bytes after the last reply: %r" % s.buf
    s.sock.settimeout(timeout)
    try:
        data = s.sock.recv(4096)
    except ssl.SSLEOFError as e:
        raise AssertionError("connection closed without close_notify: %s"
                             % e) from None
    assert data == b"", "data after the last reply: %r" % data


@pytest.mark.parametrize("where", TLS_WHERE)
def test_quit_sends_close_notify(tls_mta, where):
    m = tls_mta()
    with open_tls(m, where) as s:
        s.expect("NOOP", 250)
        s.expect("QUIT", 221, "2.0.0")
        assert_close_notify(s)
    m.wait_event("disconnect", n=1)


def test_quit_after_mail_sends_close_notify(tls_mta):
    """A whole transaction first: the commit's worker job is over by the
    QUIT, and the close still ends with close_notify."""
    m = tls_mta()
    with open_tls(m, "sub_starttls") as s:
        s.expect("AUTH PLAIN " + auth_plain_b64("alice@example.test",
                                                 "alice-pw"), 235)
        s.mail("alice@example.test")
        s.rcpt("demo@example.test")
        s.data(b"Subject: t\r\n\r\nhi\r\n.\r\n")
        s.expect("QUIT", 221)
        assert_close_notify(s)
    m.wait_for_delivery("demo")


def test_timeout_421_sends_close_notify(tls_mta):
    m = tls_mta(timeout_command=2)
    with open_tls(m, "mx_implicit") as s:
        check(s.reply(timeout=10), 421, "4.4.2")
        assert_close_notify(s)


def test_too_many_errors_421_sends_close_notify(tls_mta):
    m = tls_mta()                       # max_errors = 5
    with open_tls(m, "mx_starttls") as s:
        for _ in range(4):
            s.expect("BOGUS", 500)
        s.send(b"BOGUS\r\n")
        check(s.reply(), 500)
        check(s.reply(), 421, "4.7.0")
        assert_close_notify(s)


def test_shutdown_421_sends_close_notify(tls_mta):
    m = tls_mta()
    s = open_tls(m, "sub_implicit")
    try:
        assert m.stop() == 0
        check(s.reply(), 421, "4.3.2")
        assert_close_notify(s)
    finally:
        s.close()


def test_auth_block_421s_send_close_notify(tls_mta):
    """The session that reaches auth.max_failures gets 421 and
    close_notify; so does a new implicit-TLS connection, refused inside
    TLS while the block lasts."""
    m = tls_mta(auth={"max_failures": 2, "block_time": 30})
    with open_tls(m, "mx_implicit") as s:
        s.expect("AUTH PLAIN " + auth_plain_b64("alice@example.test", "no"),
                 535)
        s.send(b"AUTH PLAIN " + auth_plain_b64("alice@example.test",
                                               "no2").encode() + b"\r\n")
        check(s.reply(timeout=20), 421, "4.7.0")
        assert_close_notify(s)
    for where in ("mx_implicit", "sub_implicit"):
        with Smtp(m.ports[where], greet=False) as s:
            s.sock = strict(s.sock)
            check(s.reply(), 421, "4.7.0")
            assert_close_notify(s)


# -- the client side -------------------------------------------------------

class StrictSink:
    """A STARTTLS SMTP server on host:port that accepts every message and
    records, per connection, how it ended: "close_notify" (QUIT, then
    close_notify), "eof" (a TCP end without close_notify), or what else
    happened.  One connection at a time, in a thread."""

    def __init__(self, host, port, cert):
        self.ends = []
        self.messages = 0
        self.errors = []
        self.ctx = strict_context(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
        self.ctx.load_cert_chain(*cert)
        self.lsock = socket.create_server((host, port))
        self.lsock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping = True
        self.thread.join(10)
        self.lsock.close()

    def _run(self):
        while not self.stopping:
            try:
                conn, _ = self.lsock.accept()
            except socket.timeout:
                continue
            try:
                self.ends.append(self._serve(conn))
            except Exception as e:          # a sink bug, reported by the test
                self.errors.append(repr(e))
            finally:
                conn.close()

    @staticmethod
    def _lines(sock):
        buf = b""
        while True:
            while b"\r\n" not in buf:
                chunk = sock.recv(4096)
                if not chunk:
                    return
                buf += chunk
            line, buf = buf.split(b"\r\n", 1)
            yield line

    def _serve(self, conn):
        conn.settimeout(20)
        conn.sendall(b"220 sink.example ESMTP\r\n")
        sock = conn
        lines = self._lines(conn)
        for line in lines:
            verb = line[:4].upper()
            if verb == b"EHLO":
                tls = sock is not conn
                sock.sendall(b"250-sink.example\r\n250-PIPELINING\r\n"
                             + (b"" if tls else b"250-STARTTLS\r\n")
                             + b"250 8BITMIME\r\n")
            elif verb == b"STAR":
                conn.sendall(b"220 2.0.0 go ahead\r\n")
                sock = self.ctx.wrap_socket(conn, server_side=True,
                                            suppress_ragged_eofs=False)
                lines = self._lines(sock)
                return self._serve_tls(sock, lines)
            else:
                return "plaintext %r" % line
        return "no STARTTLS"

    def _serve_tls(self, sock, lines):
        for line in lines:
            verb = line[:4].upper()
            if verb == b"EHLO":
                sock.sendall(b"250-sink.example\r\n250 PIPELINING\r\n")
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                sock.sendall(b"250 2.0.0 ok\r\n")
            elif verb == b"DATA":
                sock.sendall(b"354 go\r\n")
                for l in lines:
                    if l == b".":
                        break
                self.messages += 1
                sock.sendall(b"250 2.0.0 queued\r\n")
            elif verb == b"QUIT":
                try:
                    sock.sendall(b"221 2.0.0 bye\r\n")
                except OSError:
                    pass                    # the client need not wait
                return self._after_quit(sock)
            else:
                sock.sendall(b"502 5.5.1 no\r\n")
        return "ended without QUIT"

    @staticmethod
    def _after_quit(sock):
        try:
            data = sock.recv(4096)
        except ssl.SSLEOFError:
            return "eof"
        except OSError as e:
            return "error %r" % e
        return "close_notify" if data == b"" else "data %r" % data


@pytest.fixture
def sink(mx_port, certs):
    made = []

    def factory(host="127.0.0.30"):
        s = StrictSink(host, mx_port, certs["mx"])
        made.append(s)
        return s
    yield factory
    problems = []
    for s in made:
        s.stop()
        problems += s.errors
    assert not problems, problems


def relay_to(mx_port, host="127.0.0.30"):
    return ('transports = ( { match = "*"; via = "relay:[%s]:%d"; '
            'tls = "require"; } );\n' % (host, mx_port))


def test_client_quit_sends_close_notify(outbound_mta, sink, mx_port):
    """A cached connection closed after its message: QUIT, close_notify."""
    k = sink()
    m = outbound_mta(delivery={"connection_cache_time": 0},
                     conf=relay_to(mx_port))
    submit(m, "x@example.org", ["someone@remote.example"])
    m.wait_event("delivered", timeout=20)
    deadline = time.monotonic() + 10
    while not k.ends and time.monotonic() < deadline:
        time.sleep(0.05)
    assert k.messages == 1
    assert k.ends == ["close_notify"], k.ends


def test_client_close_notify_when_qmgr_stops(outbound_mta, sink, mx_port):
    """A connection still cached when the daemon stops is closed the same
    orderly way."""
    k = sink()
    m = outbound_mta(delivery={"connection_cache_time": 300},
                     conf=relay_to(mx_port))
    submit(m, "x@example.org", ["someone@remote.example"])
    m.wait_event("delivered", timeout=20)
    assert k.ends == []                 # still cached
    assert m.stop() == 0
    deadline = time.monotonic() + 10
    while not k.ends and time.monotonic() < deadline:
        time.sleep(0.05)
    assert k.ends == ["close_notify"], k.ends
