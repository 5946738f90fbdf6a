"""Replies on a plaintext connection are written straight to the socket
once per loop pass (src/smtpd/session.c), all the replies of a pass in
one write; input waits while 64 KiB of replies do.  A client with a
small receive window that pipelines some 170 KiB of replies' worth of
commands, reading nothing until it has sent them all, gets every reply,
in order, and the session ends as it asked.  Loopback sockets here took
all of even 5 MB of replies without a short write, so the write-event
fallback for a socket that takes part of a write is tested with a shim
(tests/helpers/shortwrite.c) that makes every write to the daemon's
clients stop after a few octets: a whole dialogue and a pipelined burst
arrive intact."""

import os
import smtplib
import socket
import threading

from smtpraw import recv_all

PAIRS = 6000    # about 170 KiB of replies, 280 KiB of commands


def assert_burst_replies(data, pairs, last):
    """data holds the greeting, HELO's 250, a 250 for each of the pairs
    of MAIL and RSET, then the replies in last, each line ended by
    CRLF."""
    lines = data.split(b"\r\n")
    assert lines[-1] == b""
    want = ([b"220 mx.example.test ESMTP Decorum", b"250 mx.example.test"] +
            [b"250 2.1.0 Ok", b"250 2.0.0 Ok"] * pairs + last)
    assert lines[:-1] == want


def test_backed_up_replies_arrive_in_order(mta):
    m = mta(timeout_command=60)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Before connect, so the window is small from the start: the
    # server's socket fills and its writes stop short.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", m.port))
    sent = []

    def sender():
        sock.sendall(b"HELO client.example.org\r\n" +
                     b"MAIL FROM:<x@example.org>\r\nRSET\r\n" * PAIRS +
                     b"NOOP\r\nQUIT\r\n")
        sent.append(True)

    try:
        t = threading.Thread(target=sender, daemon=True)
        t.start()
        # Reading nothing until the sender is done or stuck lets the
        # replies fill the server's socket: its writes stop short and
        # it stops reading (then the sender is stuck).  What is checked
        # below holds however long this is.
        t.join(10)
        data = recv_all(sock)
        t.join(30)
        assert sent
    finally:
        sock.close()
    assert_burst_replies(data, PAIRS, [b"250 2.0.0 Ok", b"221 2.0.0 Bye"])


def short_writes(build_dir, monkeypatch, m, tmp_path, at_most):
    """Starts m with its writes to its SMTP clients cut to at_most octets;
    returns the file the shim makes at its first cut write."""
    marker = tmp_path / "shortened"
    monkeypatch.setenv("LD_PRELOAD", os.path.join(
        build_dir, "tests", "helpers", "shortwrite.so"))
    monkeypatch.setenv("SHORTWRITE_PORT", str(m.port))
    monkeypatch.setenv("SHORTWRITE_MAX", str(at_most))
    monkeypatch.setenv("SHORTWRITE_MARK", str(marker))
    monkeypatch.setenv("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:"
                       "verify_asan_link_order=0")
    m.start()
    for k in ("LD_PRELOAD", "SHORTWRITE_PORT"):
        monkeypatch.delenv(k)
    return marker


def test_short_writes_finish_through_the_write_event(mta, build_dir,
                                                     monkeypatch, tmp_path):
    """Every reply longer than 5 octets leaves in pieces, the rest each
    time through libevent's write event: the EHLO list, the 354 and the
    250 with the queue id arrive whole, the message is delivered, and
    QUIT's 221 is sent before the close."""
    m = mta(start=False)
    marker = short_writes(build_dir, monkeypatch, m, tmp_path, 5)
    with smtplib.SMTP("127.0.0.1", m.port, timeout=20) as c:
        code, text = c.ehlo("client.example.org")
        assert code == 250 and b"PIPELINING" in text, text
        c.sendmail("x@example.org", ["demo@example.test"],
                   b"From: <x@example.org>\r\nSubject: in pieces\r\n\r\n"
                   b"hello\r\n")
        assert c.noop()[0] == 250
        code, text = c.quit()
        assert code == 221, text
    assert marker.exists(), "no write was cut: the shim did not take"
    got = m.wait_for_delivery("demo")
    assert b"Subject: in pieces" in got[0] and got[0].endswith(b"\nhello\n")


def test_pipelined_replies_in_pieces_arrive_in_order(mta, build_dir,
                                                     monkeypatch, tmp_path):
    """A burst of 500 MAIL/RSET pairs answered through writes of at most
    3 octets: every reply, in order."""
    m = mta(start=False, timeout_command=60)
    marker = short_writes(build_dir, monkeypatch, m, tmp_path, 3)
    pairs = 500
    with socket.create_connection(("127.0.0.1", m.port), timeout=30) as sock:
        sock.sendall(b"HELO client.example.org\r\n" +
                     b"MAIL FROM:<x@example.org>\r\nRSET\r\n" * pairs +
                     b"QUIT\r\n")
        data = recv_all(sock)
    assert marker.exists()
    assert_burst_replies(data, pairs, [b"221 2.0.0 Bye"])
