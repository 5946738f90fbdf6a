"""Milters at the end of DATA, through the daemon (issue 11 items 1, 3
and 4): the reply the client gets for each milter answer, the changes
found in the delivered message, the exempt mailboxes, a milter that is
down or silent (451 by default, accepted when configured), a client that
leaves while the milter thinks, and nothing queued for what is refused.
The milters are tests/integration/testmilter.py (pymilter, i.e.
libmilter, and raw servers for the broken ones)."""

import hashlib
import os
import re
import socket
import time

import pytest

from mtaproc import DOMAIN
from smtpraw import Smtp, check, message, queue_id
from test_scan_milter import milter  # noqa: F401  (fixture)


def scan_conf(*milters, extra=""):
    """milters: (name, address, kind, more) tuples."""
    return ("scan = { %s milters = ( %s ); };\n" % (extra, ", ".join(
        '{ name = "%s"; address = "%s"; kind = "%s"; %s }' % m
        for m in milters)))


def one(address, kind="spam", more=""):
    return scan_conf(("t", address, kind, more))


def send(m, code, enhanced, rcpts=("demo",), msg=None, sender="x@example.org"):
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail(sender)
        for r in rcpts:
            s.rcpt(r if "@" in r else "%s@%s" % (r, DOMAIN))
        return s.data(msg or message(subject="hello", extra="X-Drop: me\r\n"),
                      code, enhanced)


def assert_nothing_queued(m):
    assert not m.events("queued"), m.events("queued")
    assert [f for f in m.spool_files() if "/hold/" not in f] == [], \
        m.spool_files()


def delivered(m, user="demo", n=1):
    """The newest message in the Maildir, its line ends made CRLF again
    (the Maildir keeps LF ones)."""
    msg = m.wait_for_delivery(user, n)[-1]
    return msg.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def header(msg, name):
    """The values of the header fields called name (first line only)."""
    head = msg.split(b"\r\n\r\n")[0].split(b"\r\n")
    want = name.lower().encode() + b":"
    return [line[len(want):].strip() for line in head
            if line.lower().startswith(want)]


# --- replies ---------------------------------------------------------------

def test_reject_is_550_and_nothing_queued(mta, milter):
    m = mta(extra_conf=one(milter("reject")))
    r = send(m, 550, "5.7.1")
    check(r, 550, "5.7.1", contains="refused as spam")
    ev = m.wait_event("rejected", stage="scan")[-1]
    assert ev["reply"] == "550", ev
    assert m.events("scan", scanner="t", verdict="reject", finding="spam")
    assert_nothing_queued(m)


def test_replycode_keeps_the_milters_text(mta, milter):
    m = mta(extra_conf=one(milter("replycode", "550")))
    check(send(m, 550, "5.7.1"), 550, "5.7.1", contains="Refused by test milter")
    assert_nothing_queued(m)


def test_tempfail_is_451(mta, milter):
    m = mta(extra_conf=one(milter("tempfail")))
    send(m, 451, "4.7.1")
    m.wait_event("rejected", stage="scan", reply="451")
    assert_nothing_queued(m)


def test_malware_kind_554_without_its_text_even_for_postmaster(mta, milter):
    m = mta(extra_conf=one(milter("replycode", "550"), kind="malware"))
    r = send(m, 554, "5.7.1", rcpts=("postmaster",))
    check(r, 554, "5.7.1", contains="malware")
    assert "test milter" not in r.text
    assert_nothing_queued(m)


def test_spam_to_postmaster_is_delivered_flagged(mta, milter):
    m = mta(extra_conf=one(milter("reject")))
    r = send(m, 250, "2.0.0", rcpts=("postmaster",))
    queue_id(r)
    msg = delivered(m, "admin")
    assert header(msg, "X-Spam-Flag") == [b"YES"], msg[:400]
    assert m.events("scan-decision", outcome="flag", exempt="yes")
    assert not m.events("bounce")


def test_other_kind_refusal_stands_for_postmaster(mta, milter):
    m = mta(extra_conf=one(milter("reject"), kind="other"))
    send(m, 550, "5.7.1", rcpts=("postmaster",))
    assert_nothing_queued(m)


def test_discard_answers_250_and_queues_nothing(mta, milter):
    m = mta(extra_conf=one(milter("discard")))
    r = send(m, 250, "2.0.0")
    assert "discarded" in r.text, r
    m.wait_event("discarded")
    assert_nothing_queued(m)


# --- a milter that is down, silent or broken -------------------------------

def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "inet:127.0.0.1:%d" % port


def test_down_is_451_by_default(mta):
    m = mta(extra_conf=one(closed_port()))
    r = send(m, 451, "4.7.1")
    check(r, 451, "4.7.1", contains="unavailable")
    assert m.events("scan", verdict="failed")
    assert_nothing_queued(m)


def test_down_accepted_when_configured(mta):
    m = mta(extra_conf=one(closed_port(), more='default_action = "accept";'))
    queue_id(send(m, 250, "2.0.0"))
    msg = delivered(m)
    assert header(msg, "X-Spam-Flag") == []


def test_silent_milter_times_out_451(mta, milter):
    m = mta(extra_conf=one(milter("silent"), more="eom_timeout = 1;"))
    t0 = time.monotonic()
    send(m, 451, "4.7.1")
    assert time.monotonic() - t0 < 8
    ev = m.events("scan", verdict="failed")[-1]
    assert "time" in ev["detail"], ev
    assert_nothing_queued(m)


def test_broken_milter_is_down(mta, milter):
    m = mta(extra_conf=one(milter("garbage")))
    send(m, 451, "4.7.1")
    assert_nothing_queued(m)


def test_client_leaves_while_the_milter_thinks(mta, milter):
    """The client leaves after its final dot while a slow milter thinks.
    As with a commit (and as Postfix does), the message the client
    finished goes on: the late verdict is applied, the message queued
    once (the client, which saw no 250, may send it again: RFC 1047),
    the reply goes to a closed socket; the sanitizers watch."""
    m = mta(extra_conf=one(milter("slow", "2")))
    s = Smtp(m.port)
    s.ehlo()
    s.mail("x@example.org")
    s.rcpt("demo@" + DOMAIN)
    s.expect("DATA", 354)
    s.send(message())
    time.sleep(0.3)
    s.close()
    msg = delivered(m)
    assert header(msg, "X-Slow") == [b"answered"]
    assert len(m.events("queued")) == 1
    # The daemon still serves.
    send(m, 250, "2.0.0")
    delivered(m, n=2)


# --- changes ---------------------------------------------------------------

def test_add_change_insert_delete_headers(mta, milter):
    conf = scan_conf(("a", milter("add-header"), "spam", ""),
                     ("b", milter("change-header"), "spam", ""),
                     ("c", milter("insert-header"), "spam", ""),
                     ("d", milter("delete-header"), "spam", ""))
    m = mta(extra_conf=conf)
    queue_id(send(m, 250, "2.0.0"))
    msg = delivered(m)
    head = msg.split(b"\r\n\r\n")[0]
    assert header(msg, "X-Test") == [b"added"]
    assert header(msg, "Subject") == [b"changed subject"]
    assert header(msg, "X-Drop") == []
    # Inserted at the top: above our Received: (Return-Path and
    # Delivered-To come with the delivery).
    assert re.match(rb"Return-Path: [^\r]*\r\nDelivered-To: [^\r]*\r\n"
                    rb"X-Top: inserted\r\nReceived: ", head), head[:200]
    assert msg.endswith(b"\r\n\r\nhello\r\n"), msg[-100:]


def test_replaced_body(mta, milter):
    m = mta(extra_conf=one(milter("replace-body")))
    queue_id(send(m, 250, "2.0.0"))
    msg = delivered(m)
    assert msg.split(b"\r\n\r\n", 1)[1] == b"replaced body\r\n", msg


def test_added_and_deleted_recipients(mta, milter):
    conf = scan_conf(("add", milter("add-recipient"), "other", ""),
                     ("del", milter("delete-recipient"), "other", ""))
    m = mta(users={"demo": None, "bob": None, "carol": None, "admin": None},
            extra_conf=conf)
    queue_id(send(m, 250, "2.0.0", rcpts=("demo", "bob")))
    delivered(m, "demo")
    delivered(m, "carol")
    time.sleep(0.5)
    assert m.messages("bob") == []


def test_changed_sender(mta, milter):
    m = mta(extra_conf=one(milter("change-from")))
    queue_id(send(m, 250, "2.0.0"))
    msg = delivered(m)
    assert header(msg, "Return-Path") == [b"<bounces@example.test>"], msg[:300]


def test_quarantine_holds_until_released(mta, milter):
    m = mta(extra_conf=one(milter("quarantine")))
    qid = queue_id(send(m, 250, "2.0.0"))
    m.wait_event("quarantined", id=qid)
    time.sleep(1)
    assert m.messages("demo") == []
    assert any(f.endswith("/hold/" + qid) for f in m.spool_files())
    r = m.cli("queue", "release", qid)
    assert r.returncode == 0, r.stderr
    delivered(m)


def test_every_body_octet_reaches_the_milter(mta, milter):
    body = b"".join(b"line %07d of a long body\r\n" % i for i in range(200000))
    m = mta(extra_conf=one(milter("hash")), max_message_size=8 << 20)
    queue_id(send(m, 250, "2.0.0", msg=message(body=body.decode())))
    msg = delivered(m)
    digest, octets, chunks = header(msg, "X-Body-Hash")[0].split()
    assert int(octets) == len(body) and int(chunks) > 1
    assert digest.decode() == hashlib.sha256(body).hexdigest()
    assert msg.endswith(body)


def test_macros_from_the_session(mta, milter):
    m = mta(extra_conf=one(milter("macros")))
    qid = queue_id(send(m, 250, "2.0.0"))
    msg = delivered(m)
    assert header(msg, "X-Macro-mail-addr") == [b"x@example.org"]
    assert header(msg, "X-Macro-i") == [qid.encode()]
    assert header(msg, "X-Macro-j") == [b"mx.example.test"]
    assert header(msg, "X-Macro-client-addr") == [b"127.0.0.1"]


# --- one milter connection for many messages (reuse) -------------------------

def connections_seen(m, n):
    """The X-Connections of the n messages delivered to demo."""
    msgs = [x.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            for x in m.wait_for_delivery("demo", n)]
    return sorted(header(x, "X-Connections")[0] for x in msgs)


def test_reuse_keeps_one_connection(mta, milter):
    """Three SMTP sessions, one after another: the milter negotiated
    once (pymilter answers CONTINUE at the end of body, after which
    libmilter takes QUIT_NC)."""
    m = mta(extra_conf=one(milter("count"), more="reuse = true;"))
    for _ in range(3):
        send(m, 250, "2.0.0")
    assert connections_seen(m, 3) == [b"1"] * 3


def test_without_reuse_one_connection_per_message(mta, milter):
    m = mta(extra_conf=one(milter("count")))
    for _ in range(3):
        send(m, 250, "2.0.0")
    assert connections_seen(m, 3) == [b"1", b"2", b"3"]


def test_milter_closing_on_quit_nc_costs_nothing(mta, milter):
    """The raw milter closes every connection when QUIT_NC comes: the
    next message finds the pooled connection gone (dropped, or taken
    and retried), never a 451."""
    m = mta(extra_conf=one(milter("close-on-quit-nc"), more="reuse = true;"))
    for _ in range(4):
        send(m, 250, "2.0.0")
    assert not m.events("scan", verdict="failed")
    assert len(m.events("queued")) == 4
