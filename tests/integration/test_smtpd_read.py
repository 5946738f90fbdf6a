"""How the daemon reads a plaintext client (src/smtpd/session_input.c: one
read() per readable event into the session's input buffer, of at most
16 KiB for commands and 64 KiB for a message's data, instead of
libevent's ioctl and 4 KiB reads).  Lines and
messages that straddle the reads arrive whole; bursts far larger than one
read are answered in full and in order; EOF in the middle of a line ends
the session (a reset as an error), EOF after the dot still gets the 250
(and the mail); every byte of a STARTTLS injection is counted and
dropped; the command timeout runs from the last byte read, not from the
start of the line."""

import socket
import struct
import time

from conftest import HELO, client_context
from mtaproc import HOSTNAME
from smtpraw import Smtp, check, message, queue_id, recv_all


def reply_lines(data):
    lines = data.split(b"\r\n")
    assert lines[-1] == b"", "reply not ended by CRLF: %r" % data[-80:]
    return lines[:-1]


def at_data(m):
    """A session that has had its 354 to DATA."""
    s = Smtp(m.port)
    s.ehlo()
    s.mail("x@example.org")
    s.rcpt("demo@example.test")
    s.expect("DATA", 354)
    return s


def test_pipelined_burst_in_one_send(mta):
    """About 90 KiB of commands and a message in one send: a dozen
    reads, with lines cut at every read's end."""
    m = mta(timeout_command=30)
    pairs = 2000
    body = message(subject="burst", body="x" * 70 + "\r\n")
    burst = (b"EHLO " + HELO.encode() + b"\r\n" +
             b"MAIL FROM:<sender-%05d@example.org>\r\nRSET\r\n" * pairs +
             b"MAIL FROM:<x@example.org>\r\nRCPT TO:<demo@example.test>\r\n"
             b"DATA\r\n" + body + b"QUIT\r\n")
    assert len(burst) > 64 * 1024
    with Smtp(m.port, timeout=30) as s:
        s.send(burst)
        data = recv_all(s.sock)
    lines = reply_lines(data)
    ehlo_end = next(i for i, l in enumerate(lines) if l.startswith(b"250 "))
    rest = lines[ehlo_end + 1:]
    want = ([b"250 2.1.0 Ok", b"250 2.0.0 Ok"] * pairs +
            [b"250 2.1.0 Ok", b"250 2.1.5 Ok"])
    assert rest[:len(want)] == want
    assert rest[len(want)].startswith(b"354 ")
    assert rest[len(want) + 1].startswith(b"250 2.0.0 Ok: queued as ")
    assert rest[len(want) + 2:] == [b"221 2.0.0 Bye"]
    got = m.wait_for_delivery("demo")
    assert b"Subject: burst" in got[0] and b"x" * 70 in got[0]


def test_message_larger_than_many_reads(mta):
    """A 300 KB message sent at once (more than four 64 KiB reads) arrives
    byte for byte."""
    m = mta(max_message_size=1000000)
    lines = ["line %05d %s" % (i, "y" * 60) for i in range(4300)]
    body = message(subject="large", body="\r\n".join(lines) + "\r\n")
    assert len(body) > 4 * 64 * 1024
    with Smtp(m.port, timeout=20) as s:
        s.ehlo()
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.data(body)
    got = m.wait_for_delivery("demo")[0]
    for i in (0, 249, 250, 251, 1299, 4299):
        assert ("line %05d %s\n" % (i, "y" * 60)).encode() in \
            got.replace(b"\r\n", b"\n")


def test_eof_in_the_middle_of_a_line(mta):
    """A client that stops half way through a command and half-closes:
    the half line is no command, the session ends as lost at EOF."""
    m = mta()
    with Smtp(m.port) as s:
        s.ehlo()
        s.send(b"MAIL FROM:<x@exa")
        s.sock.shutdown(socket.SHUT_WR)
        assert s.closed(timeout=5), "still open, or answered: %r" % s.buf
    # (The harness's own probes are lost in state "connected".)
    m.wait_event("lost", reason="eof", state="ready")


def test_eof_in_the_middle_of_data(mta):
    m = mta()
    with at_data(m) as s:
        s.send(b"Subject: cut\r\n\r\nhalf a li")
        s.sock.shutdown(socket.SHUT_WR)
        assert s.closed(timeout=5), "still open, or answered: %r" % s.buf
    m.wait_event("lost", reason="eof", state="data")
    assert m.messages("demo") == []


def test_reset_in_the_middle_of_a_line(mta):
    """A client that resets the connection (ECONNRESET on our read) is
    lost with reason "error", and the daemon goes on serving."""
    m = mta()
    s = Smtp(m.port)
    s.ehlo()
    s.send(b"MAIL FROM:<x@exa")
    s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      struct.pack("ii", 1, 0))
    s.close()
    m.wait_event("lost", reason="error", state="ready")
    with Smtp(m.port) as s:
        s.expect("QUIT", 221)


def test_half_close_after_the_dot_gets_250(mta):
    """RFC 5321 4.1.1.9 and a client that half-closes once it has sent
    everything: the message is committed and its 250 still arrives."""
    m = mta()
    with at_data(m) as s:
        s.send(message(subject="halfclose"))
        s.sock.shutdown(socket.SHUT_WR)
        r = s.reply()
        check(r, 250, "2.0.0")
        qid = queue_id(r)
        assert s.closed(timeout=5)
    got = m.wait_for_delivery("demo")
    assert b"Subject: halfclose" in got[0]
    m.wait_event("lost", reason="eof", state="ready")
    assert qid in m.log()


def test_half_close_after_dot_and_quit(mta):
    """The dot, QUIT and the FIN in one packet: 250, then 221."""
    m = mta()
    with at_data(m) as s:
        s.send(message(subject="quitting") + b"QUIT\r\n")
        s.sock.shutdown(socket.SHUT_WR)
        check(s.reply(), 250, "2.0.0")
        check(s.reply(), 221, "2.0.0")
        assert s.closed(timeout=5)
    m.wait_for_delivery("demo")


def test_command_timeout_runs_from_the_last_byte(mta):
    """timeouts.command = 3: a command sent a byte a second for 6 s is
    answered; 3 s of silence after it is not."""
    m = mta()
    with Smtp(m.port, timeout=15) as s:
        s.ehlo()
        for b in b"NOOP\r\n":
            time.sleep(1.0)
            s.send(bytes([b]))
        check(s.reply(), 250, "2.0.0")
        t0 = time.monotonic()
        check(s.reply(timeout=10), 421, "4.4.2")
        assert 2.0 <= time.monotonic() - t0 <= 8.0
        assert s.closed()


def test_starttls_injection_counted_and_dropped(tls_mta):
    """Every plaintext byte read past the STARTTLS line is dropped and
    counted (RFC 3207 5, CVE-2011-0411); the handshake that follows the
    220 is read by TLS, and the session inside starts afresh."""
    m = tls_mta()
    injected = b"MAIL FROM:<x@y.example>\r\n" + b"NOOP\r\n" * 500
    with Smtp(m.ports["mx_starttls"]) as s:
        s.ehlo(HELO)
        s.send(b"STARTTLS\r\n" + injected)
        check(s.reply(), 220, "2.0.0")
        assert s.buf == b""
        s.sock = client_context().wrap_socket(s.sock,
                                              server_hostname=HOSTNAME)
        s.ehlo(HELO)
        s.mail("x@example.org")     # no nested MAIL: the injected one
        s.expect("QUIT", 221)       # never ran
    e = m.wait_event("starttls-injection")[0]
    assert e["discarded"] == str(len(injected))
