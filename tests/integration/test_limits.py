"""Limits that keep one client from wearing the server down: recipients
per message (RFC 5321 4.5.3.1.8), errors per session, command and data
timeouts (RFC 5321 4.5.3.2; ours are configured to 3 s here), connections
per IP and in total, line lengths and message size."""

import socket
import time

from smtpraw import ConnectionClosed, Smtp, check, message, queue_id


def test_too_many_recipients(mta):
    m = mta()       # max_recipients = 5
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("x@example.org")
        for r in ("demo", "alice", "bob", "admin", "security"):
            s.rcpt(r + "@example.test")
        # RFC 5321 4.5.3.1.10: 452 for "too many recipients", not 5xx.
        s.rcpt("abuse@example.test", 452, "4.5.3")
        s.rcpt("team@example.test", 452, "4.5.3")
        s.expect("DATA", 354)
        s.send(message())
        queue_id(s.reply())
    for user in ("demo", "alice", "bob"):
        assert len(m.wait_for_delivery(user)) == 1


def test_max_errors_closes_session(mta):
    m = mta()       # max_errors = 5
    with Smtp(m.port) as s:
        s.ehlo()
        replies = []
        try:
            for i in range(7):
                r = s.cmd("FROB%d" % i)
                replies.append(r)
                if r.code == 421:
                    break
        except ConnectionClosed:
            raise AssertionError("closed without a 421; replies %r"
                                 % replies)
        assert all(r.code == 500 for r in replies[:4]), replies
        assert replies[-1].code == 421, replies
        check(replies[-1], 421, "4.7.0")
        assert 5 <= len(replies) <= 6, replies
        assert s.closed(), "still open after 421"


def test_command_timeout(mta):
    m = mta()       # timeouts.command = 3
    with Smtp(m.port, timeout=10) as s:
        s.ehlo()
        t0 = time.monotonic()
        r = s.reply(timeout=10)
        elapsed = time.monotonic() - t0
        check(r, 421, "4.4.2")
        assert 2.0 <= elapsed <= 8.0, elapsed
        assert s.closed()


def test_command_timeout_before_ehlo(mta):
    m = mta()
    with Smtp(m.port, timeout=10) as s:
        check(s.reply(timeout=10), 421, "4.4.2")
        assert s.closed()


def test_data_timeout(mta):
    m = mta()       # timeouts.data = 3
    with Smtp(m.port, timeout=10) as s:
        s.ehlo()
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.expect("DATA", 354)
        s.send(b"Subject: stalled\r\n\r\nhalf a li")
        t0 = time.monotonic()
        r = s.reply(timeout=10)
        elapsed = time.monotonic() - t0
        check(r, 421, "4.4.2")
        assert 2.0 <= elapsed <= 8.0, elapsed
        assert s.closed()
    m.stop()
    assert m.messages("demo") == []
    assert m.log_events("queued") == []


def test_slow_but_steady_data_is_not_cut(mta):
    # The data timeout is between blocks, not for the whole message.
    m = mta()
    with Smtp(m.port, timeout=10) as s:
        s.ehlo()
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.expect("DATA", 354)
        s.send(b"Subject: slow\r\n\r\n")
        for i in range(4):
            time.sleep(1.0)
            s.send(b"line %d\r\n" % i)
        s.send(b".\r\n")
        queue_id(s.reply())
    m.wait_for_delivery("demo")


def _open(m, n):
    conns = []
    for _ in range(n):
        s = Smtp(m.port)
        check(s.greeting, 220)
        conns.append(s)
    return conns


def test_connections_per_ip(mta):
    m = mta(max_connections_per_ip=3)
    conns = _open(m, 3)
    try:
        with Smtp(m.port) as extra:
            check(extra.greeting, 421, "4.7.0")
            assert extra.closed()
        # The earlier sessions are unaffected.
        for s in conns:
            s.expect("NOOP", 250, "2.0.0")
        # When one leaves, a newcomer is welcome again.
        conns.pop().expect("QUIT", 221, "2.0.0")
        deadline = time.monotonic() + 5
        while True:
            with Smtp(m.port) as again:
                if again.greeting.code == 220:
                    break
                assert time.monotonic() < deadline, again.greeting
            time.sleep(0.1)
    finally:
        for s in conns:
            s.close()


def test_max_connections_total(mta):
    m = mta(max_connections=4, max_connections_per_ip=10)
    conns = _open(m, 4)
    try:
        try:
            with Smtp(m.port) as extra:
                # RFC 5321 3.1: a busy server may answer 421 and close.
                assert extra.greeting.code == 421, extra.greeting
                assert extra.greeting.first.startswith("4."), extra.greeting
        except (ConnectionClosed, ConnectionResetError):
            raise AssertionError("closed without a 421 greeting")
        for s in conns:
            s.expect("NOOP", 250, "2.0.0")
    finally:
        for s in conns:
            s.close()


def test_size_advertised_from_config(mta):
    # (RFC 5321 4.5.3.1.7: at least 64 KiB must be accepted.)
    m = mta(max_message_size=70000)
    with Smtp(m.port) as s:
        r = s.ehlo()
        assert "SIZE 70000" in r.lines[1:], r
        s.expect("MAIL FROM:<x@example.org> SIZE=70001", 552, "5.3.4")


def test_long_command_does_not_leak_into_next(mta):
    # The tail of an over-long line must not be read as a command: put a
    # real command after byte 2048 and check it is not executed.
    m = mta()
    with Smtp(m.port) as s:
        s.ehlo()
        line = b"NOOP " + b"a" * 3000 + b"MAIL FROM:<x@example.org>\r\n"
        s.send(line)
        check(s.reply(), 500, "5.5.2")
        s.expect("RCPT TO:<demo@example.test>", 503, "5.5.1")


def test_unterminated_huge_line_closes_or_refuses(mta):
    # 100 kB without CRLF: the daemon must not buffer without bound; it
    # refuses (500 5.5.2) once CRLF comes, or closes with 421/500.
    m = mta()
    with Smtp(m.port) as s:
        s.ehlo()
        try:
            s.send(b"X" * 100000)
            s.send(b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            return
        try:
            r = s.reply()
        except (ConnectionClosed, ConnectionResetError, socket.timeout):
            raise AssertionError("no reply to a 100 kB command line")
        assert r.code in (500, 421), r
        assert r.first.startswith(("5.5.2", "4.")), r
