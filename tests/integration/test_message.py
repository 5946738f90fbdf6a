"""Messages end to end: what arrives in the Maildir, and what DATA refuses.

Delivery format (contract): LF line ends; Return-Path, then Delivered-To,
then our Received (RFC 5321 4.4), then the message as sent.  DATA ends only
at CRLF.CRLF (RFC 5321 4.1.1.4); bare CR or LF anywhere is refused with
550 5.6.0 after reading to the real end, so nothing can be smuggled
(the 2023 "SMTP smuggling" class)."""

import os

import pytest

from mailfile import check_received, split
from smtpraw import Smtp, check, message, queue_id


def send(m, rcpts, body=None, sender="x@example.org", params="",
         helo="client.example.org"):
    """One transaction; returns the queue id."""
    with Smtp(m.port) as s:
        s.cmd("EHLO " + helo)
        s.mail(sender, params)
        for r in rcpts:
            s.rcpt(r)
        s.expect("DATA", 354)
        s.send(body if body is not None else message(sender=sender,
                                                     to=rcpts[0]))
        qid = queue_id(s.reply())
        s.expect("QUIT", 221, "2.0.0")
    return qid


def test_delivery_headers_exact(mta):
    m = mta()
    qid = send(m, ["demo@example.test"],
               message(subject="exact", body="hello\r\nworld\r\n"))
    msg = m.wait_for_delivery("demo")[0]
    lines, body = split(msg)
    assert lines[0] == "Return-Path: <x@example.org>"
    assert lines[1] == "Delivered-To: demo@example.test"
    check_received(lines[2], helo="client.example.org",
                   rdns="client.example.org", ip="127.0.0.1",
                   sender="x@example.org", qid=qid,
                   rcpt="demo@example.test")
    # The message itself follows unchanged, in order.
    assert lines[3:7] == ["From: <x@example.org>", "To: <demo@example.test>",
                          "Subject: exact", "Message-ID: <exact@example.org>"]
    assert body == b"hello\nworld\n"
    # Maildir (tmp -> new): nothing left behind in tmp.
    assert os.listdir(os.path.join(m.maildir("demo"), "tmp")) == []


def test_received_names_the_ptr(mta, dns):
    # FCrDNS-consistent: PTR -> client.example.org -> A 127.0.0.1.
    dns.zone.add_ptr("127.0.0.1", "client.example.org")
    dns.zone.add("helo.example.org", "A", "127.0.0.1")   # a valid HELO
    m = mta()
    qid = send(m, ["demo@example.test"], helo="helo.example.org")
    lines, _ = split(m.wait_for_delivery("demo")[0])
    assert dns.zone.queried("1.0.0.127.in-addr.arpa", "PTR"), \
        "the daemon never asked the configured nameserver for the PTR"
    check_received(lines[2], helo="helo.example.org",
                   rdns="client.example.org", ip="127.0.0.1",
                   sender="x@example.org", qid=qid, rcpt="demo@example.test")


def test_null_sender_return_path(mta):
    m = mta()
    send(m, ["demo@example.test"], sender="")
    lines, _ = split(m.wait_for_delivery("demo")[0])
    assert lines[0] == "Return-Path: <>"


def test_several_recipients_one_copy_each(mta):
    m = mta()
    qid = send(m, ["demo@example.test", "alice@example.test",
                   "bob@example.test"])
    for user in ("demo", "alice", "bob"):
        msgs = m.wait_for_delivery(user)
        assert len(msgs) == 1
        lines, _ = split(msgs[0])
        assert lines[0] == "Return-Path: <x@example.org>"
        assert lines[1] == "Delivered-To: %s@example.test" % user
        # RFC 5321 4.4: no "for" clause with several recipients (privacy).
        check_received(lines[2], helo="client.example.org",
                       rdns="client.example.org", ip="127.0.0.1",
                       sender="x@example.org", qid=qid)
        assert " for <" not in lines[2]


def test_same_recipient_twice_one_copy(mta):
    m = mta()
    send(m, ["demo@example.test", "demo@example.test"])
    m.wait_for_delivery("demo")
    m.wait_log(r"event=delivered\b")
    assert len(m.messages("demo")) == 1


@pytest.mark.parametrize("alias", ["team", "crew"])
def test_alias_expansion(mta, alias):
    # team: alice, bob;  crew: team  (alias to alias).
    m = mta()
    send(m, [alias + "@example.test"])
    for user in ("alice", "bob"):
        msgs = m.wait_for_delivery(user)
        assert len(msgs) == 1
        lines, _ = split(msgs[0])
        assert lines[0] == "Return-Path: <x@example.org>"
        assert lines[1] == "Delivered-To: %s@example.test" % user
    assert m.messages("demo") == []


def test_alias_fully_qualified_target(mta):
    m = mta()
    send(m, ["info@example.test"])
    lines, _ = split(m.wait_for_delivery("demo")[0])
    assert lines[1] == "Delivered-To: demo@example.test"


@pytest.mark.parametrize("rcpt", ["postmaster", "postmaster@example.test",
                                  "abuse@example.test",
                                  "security@example.test"])
def test_role_addresses_reach_postmaster(mta, rcpt):
    m = mta()
    send(m, [rcpt])
    lines, _ = split(m.wait_for_delivery("admin")[0])
    assert lines[1] == "Delivered-To: admin@example.test"


def test_dot_unstuffing(mta):
    # RFC 5321 4.5.2: a leading dot was doubled by the client; remove one.
    m = mta()
    body = (b"Subject: dots\r\n\r\n"
            b"..line\r\n"
            b"...two\r\n"
            b"..\r\n"
            b"a.b\r\n"
            b".\r\n")
    send(m, ["demo@example.test"], body)
    _, got = split(m.wait_for_delivery("demo")[0])
    assert got == b".line\n..two\n.\na.b\n"


def test_eight_bit_body(mta):
    m = mta()
    body = (b"Subject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n"
            b"caf\xc3\xa9 \xe2\x82\xac \xff\x80\x01\r\n.\r\n")
    send(m, ["demo@example.test"], body, params="BODY=8BITMIME")
    _, got = split(m.wait_for_delivery("demo")[0])
    assert got == b"caf\xc3\xa9 \xe2\x82\xac \xff\x80\x01\n"


def test_smtputf8_unknown_user(mta):
    m = mta()
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("jos\u00e9@example.org", "SMTPUTF8")
        s.rcpt("\u7528\u6237@example.test", 550, "5.1.1")
        s.rcpt("demo@example.test")


def test_smtputf8_delivery_to_utf8_user(mta):
    users = {"demo": "demo-pw", "alice": "alice-pw", "bob": "bob-pw",
             "admin": None, "jos\u00e9": "jose-pw"}
    m = mta(users=users)
    body = ("From: <jos\u00e9@example.org>\r\nSubject: utf8\r\n\r\n"
            "ol\u00e1\r\n.\r\n").encode("utf-8")
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("jos\u00e9@example.org", "SMTPUTF8 BODY=8BITMIME")
        s.rcpt("jos\u00e9@example.test")
        s.expect("DATA", 354)
        s.send(body)
        queue_id(s.reply())
    lines, got = split(m.wait_for_delivery("jos\u00e9")[0])
    assert lines[0] == "Return-Path: <jos\u00e9@example.org>"
    assert lines[1] == "Delivered-To: jos\u00e9@example.test"
    assert got == "ol\u00e1\n".encode("utf-8")


def test_oversize_message(mta):
    m = mta()
    big = b"Subject: big\r\n\r\n" + (b"x" * 98 + b"\r\n") * 1500 + b".\r\n"
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.expect("DATA", 354)
        s.send(big)
        # RFC 1870 6.2: refused only after the end of data, in sync.
        check(s.reply(), 552, "5.3.4")
        s.expect("RSET", 250, "2.0.0")
        s.expect("NOOP", 250, "2.0.0")
        # The next transaction in the same session works.
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.expect("DATA", 354)
        s.send(message(subject="small"))
        queue_id(s.reply())
    msgs = m.wait_for_delivery("demo")
    assert len(msgs) == 1 and b"Subject: small" in msgs[0]


def test_message_just_under_limit_accepted(mta):
    m = mta()
    body = b"Subject: fits\r\n\r\n" + (b"y" * 98 + b"\r\n") * 900 + b".\r\n"
    send(m, ["demo@example.test"], body)
    assert m.wait_for_delivery("demo")[0].count(b"y" * 98 + b"\n") == 900


@pytest.mark.parametrize("bad,what", [
    (b"line one\r\nbare\nLF here\r\n", "bare LF not allowed"),
    (b"line one\r\nbare\rCR here\r\n", "bare CR not allowed"),
    (b"trailing LF\n\r\n", "bare LF not allowed"),
    (b"trailing CR\r\r\n", "bare CR not allowed"),
])
def test_bare_line_ends_refused(mta, bad, what):
    m = mta()
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.expect("DATA", 354)
        s.send(b"Subject: bare\r\n\r\n" + bad + b"more\r\n.\r\n")
        check(s.reply(), 550, "5.6.0", contains=what)
        s.expect("RSET", 250, "2.0.0")
        s.expect("NOOP", 250, "2.0.0")
    m.stop()
    assert m.messages("demo") == []


SMUGGLE = (b"MAIL FROM:<evil@x.example>\r\n"
           b"RCPT TO:<alice@example.test>\r\n"
           b"DATA\r\n"
           b"Subject: smuggled\r\n\r\nevil\r\n")


@pytest.mark.parametrize("fake_end", [b"\n.\n", b"\n.\r\n", b"\r\n.\n",
                                      b"\r.\r\n", b"\r\n.\r", b"\r.\r",
                                      b"\r\n\x00.\r\n"])
def test_smuggling_does_not_end_data(mta, fake_end):
    m = mta()
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.expect("DATA", 354)
        s.send(b"Subject: carrier\r\n\r\nhello" + fake_end + SMUGGLE +
               b".\r\n")
        r = s.reply()
        if fake_end == b"\r\n\x00.\r\n":
            # No bare CR/LF: a NUL line is plain (odd) content, or refused.
            assert r.code in (250, 550), r
        else:
            check(r, 550, "5.6.0")
            assert ("bare LF not allowed" in r.text or
                    "bare CR not allowed" in r.text), r
        # Exactly one reply for the whole DATA: the next is for our NOOP.
        s.expect("NOOP", 250, "2.0.0")
        s.expect("QUIT", 221, "2.0.0")
    m.stop()
    assert m.messages("alice") == [], "smuggled transaction delivered"
    delivered = m.read_messages("demo")
    if r.code == 550:
        assert delivered == [], "refused with 550 but delivered anyway"
    assert len(delivered) <= 1
    for msg in delivered:
        assert b"MAIL FROM:<evil@x.example>" in msg


def test_long_text_line_refused(mta):
    # RFC 5321 4.5.3.1.6: text lines are at most 1000 octets with CRLF.
    m = mta()
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.expect("DATA", 354)
        s.send(b"Subject: long\r\n\r\n" + b"z" * 5000 + b"\r\nend\r\n.\r\n")
        check(s.reply(), 550, "5.6.0")
        s.expect("NOOP", 250, "2.0.0")
    m.stop()
    assert m.messages("demo") == []


def test_998_octet_line_accepted(mta):
    m = mta()
    body = b"Subject: edge\r\n\r\n" + b"w" * 998 + b"\r\n.\r\n"
    send(m, ["demo@example.test"], body)
    _, got = split(m.wait_for_delivery("demo")[0])
    assert got == b"w" * 998 + b"\n"


def test_empty_body(mta):
    # The CRLF before "." belongs to the terminator (RFC 5321 4.1.1.4):
    # an empty body is fine.
    m = mta()
    send(m, ["demo@example.test"], b"Subject: empty\r\n\r\n.\r\n")
    lines, body = split(m.wait_for_delivery("demo")[0])
    assert "Subject: empty" in lines
    assert body == b""
