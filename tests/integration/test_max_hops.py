"""Loop detection by hop count (issue 10 item 5, RFC 5321 6.3): a message
with more than max_hops Received: header fields is refused at the end of
DATA with 554 5.4.6 (RFC 3463 X.4.6 "Routing loop detected"), logged
(event=rejected status=5.4.6 hops=N), and nothing is queued; exactly
max_hops passes.  Only the header section counts: names in any case,
folded fields once, the body's "Received:" lines not at all, our own
Received: (added after) not either.  The same on submission (587) and
for `decorum sendmail` (exit 65, a message on stderr, nothing queued)."""

import smtplib

import pytest

from conftest import PASSWORDS, tls_session
from mtaproc import DOMAIN
from smtpraw import Smtp, check, message, queue_id
from test_sendmail import queued, sendmail

EX_DATAERR = 65


def received(n, first=0, name="Received"):
    """n Received: fields as a relay writes them (about 150 octets each)."""
    return "".join(
        "%s: from relay%d.example.org (relay%d.example.org [192.0.2.%d])\r\n"
        "\tby mx%d.example.net with ESMTP id %08d; Wed, 2 Dec 2026 08:00:00 +0000\r\n"
        % (name, i, i, i % 250 + 1, i, i) for i in range(first, first + n))


def hops_message(n, subject="hops", body="hello\r\n", extra=""):
    """A message whose header section starts with n Received: fields."""
    return message(subject=subject, body=body, extra=extra) \
        .replace(b"From: ", received(n).encode() + b"From: ", 1)


def send(m, msg, code, enhanced):
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("x@example.org")
        s.rcpt("demo@" + DOMAIN)
        return s.data(msg, code, enhanced)


def assert_refused(m, msg, hops):
    r = send(m, msg, 554, "5.4.6")
    check(r, 554, "5.4.6", contains="Too many hops")
    ev = m.wait_event("rejected", status="5.4.6")[-1]
    assert ev["reply"] == "554" and ev["stage"] == "data", ev
    assert ev["hops"] == str(hops), ev
    assert ev["reason"] == "Too many hops", ev
    return ev


def assert_nothing_queued(m):
    assert not m.events("queued"), m.events("queued")
    assert m.spool_files() == [], m.spool_files()


def test_default_limit_both_sides(mta):
    """The default max_hops is 50: 50 pass, 51 are refused."""
    m = mta()
    qid = queue_id(send(m, hops_message(50, "fifty"), 250, "2.0.0"))
    got = m.wait_for_delivery("demo")[0]
    # Ours came on top, uncounted: 51 in the delivered copy.
    assert got.count(b"\nReceived: ") + got.startswith(b"Received: ") == 51
    assert qid.encode() in got.split(b"\nReceived: from relay0")[0]
    assert_refused(m, hops_message(51, "fifty-one"), 51)
    assert len(m.events("queued")) == 1
    assert len(m.messages("demo")) == 1


def test_three_hundred_received(mta):
    """Issue 10 item 8: a message with 300 Received: is refused.  Its
    header section (45 KB) spans more than one read from the socket."""
    m = mta()
    msg = hops_message(300, "loop")
    assert len(msg) > 40000
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as c:
        with pytest.raises(smtplib.SMTPDataError) as e:
            c.sendmail("x@example.org", ["demo@" + DOMAIN],
                       msg[:-3].replace(b"\r\n..", b"\r\n."))
        assert e.value.smtp_code == 554
        assert e.value.smtp_error.startswith(b"5.4.6 Too many hops")
    m.wait_event("rejected", status="5.4.6", hops="300")
    assert_nothing_queued(m)


def test_configured_limit_both_sides(mta):
    # 1000 fields are 150 KB: room for them under the size limit.
    m = mta(extra_conf="max_hops = 3;\n", max_message_size=1000000)
    with Smtp(m.port) as s:
        s.ehlo()
        # One session: the refusal ends the transaction, not the dialogue.
        for n, code, enh in ((4, 554, "5.4.6"), (3, 250, "2.0.0"),
                             (1000, 554, "5.4.6"), (0, 250, "2.0.0")):
            s.mail("x@example.org")
            s.rcpt("demo@" + DOMAIN)
            s.data(hops_message(n, "n%d" % n), code, enh)
    assert len(m.wait_for_delivery("demo", 2)) == 2
    assert [e["hops"] for e in m.events("rejected")] == ["4", "1000"]


def test_limit_of_one(mta):
    """max_hops = 1, the lowest: one relay before us passes, two do not."""
    m = mta(extra_conf="max_hops = 1;\n")
    queue_id(send(m, hops_message(1, "one"), 250, "2.0.0"))
    assert_refused(m, hops_message(2, "two"), 2)
    assert len(m.wait_for_delivery("demo")) == 1


def test_folded_fields_count_once(mta):
    """RFC 5322 2.2.3: a Received: folded over many lines is one field,
    and a continuation line that reads "Received:" is none."""
    m = mta(extra_conf="max_hops = 2;\n")
    folded = ("Received: from a.example.org\r\n\tby b.example.org\r\n"
              "  with ESMTP\r\n Received: id 1; Wed, 2 Dec 2026 08:00:00 +0000\r\n")
    msg = message(subject="folded", extra="").replace(
        b"From: ", (folded * 2).encode() + b"From: ", 1)
    queue_id(send(m, msg, 250, "2.0.0"))
    assert_refused(m, message(subject="folded3").replace(
        b"From: ", (folded * 3).encode() + b"From: ", 1), 3)


def test_body_not_counted(mta):
    """A message quoting a bounce: Received: lines in the body are text."""
    m = mta(extra_conf="max_hops = 2;\n")
    body = "Your message came back:\r\n\r\n" + received(20) + "\r\nbye\r\n"
    queue_id(send(m, hops_message(2, "quoted", body=body), 250, "2.0.0"))
    got = m.wait_for_delivery("demo")[0]
    assert got.count(b"Received: from relay") == 22
    assert not m.events("rejected")


def test_names_any_case(mta):
    """RFC 5322 1.2.2: field names are case-insensitive; RFC 5322 4.5
    (obsolete syntax): white space may come before the colon.  Fields
    that only look alike (X-Received, Received-SPF) are no hops."""
    m = mta(extra_conf="max_hops = 3;\n")
    look_alike = ("X-Received: by 10.0.0.1\r\nReceived-SPF: pass\r\n"
                  "Received-Foo: x\r\nARC-Seal: i=1\r\n") * 5
    mixed = received(1, name="RECEIVED") + received(1, 1, name="received") \
        + received(1, 2, name="ReCeIvEd ")
    queue_id(send(m, message(subject="alike").replace(
        b"From: ", (mixed + look_alike).encode() + b"From: ", 1),
        250, "2.0.0"))
    assert_refused(m, message(subject="mixed").replace(
        b"From: ", (mixed + received(1, 3, name="rEcEiVeD")).encode()
        + b"From: ", 1), 4)


def test_submission_same_limit(tls_mta):
    """Submission (587) applies the same count: a script that forwards
    by resubmitting closes a loop too."""
    m = tls_mta(extra_conf="max_hops = 2;\n")
    with tls_session(m, "sub_starttls", "alice@" + DOMAIN,
                     PASSWORDS["alice"]) as s:
        for n, code, enh in ((3, 554, "5.4.6"), (2, 250, "2.0.0")):
            s.mail("alice@" + DOMAIN)
            s.rcpt("demo@" + DOMAIN)
            s.data(message(subject="sub%d" % n, sender="alice@" + DOMAIN)
                   .replace(b"From: ", received(n).encode() + b"From: ", 1),
                   code, enh)
    m.wait_event("rejected", status="5.4.6", hops="3")
    assert len(m.wait_for_delivery("demo")) == 1


def lf_message(n, subject, body="hi\n"):
    return (received(n).replace("\r\n", "\n") +
            "Subject: %s\n\n%s" % (subject, body)).encode()


def test_sendmail_both_sides(mta):
    m = mta(start=False, extra_conf="max_hops = 3;\n")
    r = sendmail(m, ["demo@" + DOMAIN], lf_message(4, "four"))
    assert r.returncode == EX_DATAERR, (r.returncode, r.stderr)
    assert b"too many hops" in r.stderr and b"max_hops (3)" in r.stderr, \
        r.stderr
    assert b"4 Received:" in r.stderr, r.stderr
    assert queued(m) == []
    assert queued(m, "incoming") == []
    # Exactly max_hops, and the body's Received: lines, pass; sendmail's
    # own Received: is added after the count.
    r = sendmail(m, ["demo@" + DOMAIN],
                 lf_message(3, "three", body="Received: x\n" * 5))
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert len(queued(m)) == 1
    m.start()
    got = m.wait_for_delivery("demo")[0]
    assert got.count(b"\nReceived: from relay") + \
        got.startswith(b"Received: from relay") == 3
    assert got.startswith(b"Return-Path:") and b"\nReceived: by " in got


# -- the queue manager: mail that reached the spool some other way --------

def spool_then_lower(m, limit, msgs):
    """Queues each (sender, rcpt, n) with sendmail while the config allows
    1000 hops, then lowers max_hops to limit and starts the daemon: its
    queue manager meets messages that smtpd and sendmail would refuse."""
    ids = []
    for sender, rcpt, n in msgs:
        before = set(queued(m))
        r = sendmail(m, ["-f", sender, rcpt], lf_message(n, "q%d" % n))
        assert r.returncode == 0, (r.returncode, r.stderr)
        ids += sorted(set(queued(m)) - before)
    m.write_config(extra_conf="max_hops = %d;\n" % limit)
    m.start()
    return ids


def test_queue_manager_both_sides(mta):
    """In the spool our own Received: is on top, so max_hops + 1 pass
    there: 5 hops and ours are delivered, 6 and ours fail with 5.4.6
    and bounce once to the sender; the report itself is delivered."""
    m = mta(start=False, extra_conf="max_hops = 1000;\n")
    five, six = spool_then_lower(m, 5, [
        ("bob@" + DOMAIN, "alice@" + DOMAIN, 5),
        ("bob@" + DOMAIN, "demo@" + DOMAIN, 6)])
    assert b"Subject: q5" in m.wait_for_delivery("alice")[0]
    ev = m.wait_event("too-many-hops", id=six)[0]
    assert ev["hops"] == "7" and ev["max_hops"] == "5", ev
    failed = m.wait_event("failed", id=six)[0]
    assert failed["code"] == "5.4.6", failed
    assert failed["reason"].startswith("Too many hops: 7 Received:"), failed
    report = m.wait_for_delivery("bob")[0]
    assert b"Status: 5.4.6" in report, report[:2000]
    m.wait_event("removed", id=six)
    assert not m.events("too-many-hops", id=five)
    # The report is one message, and nothing came back from it.
    assert len(m.events("bounce")) == 1
    assert m.messages("demo") == []
    assert len(m.messages("bob")) == 1


def test_queue_manager_null_sender(mta):
    """A looping message from <> (a bounce going round) follows the rule
    of every failed bounce: never a report to <>, one to the postmaster,
    and a failed report to the postmaster makes none at all."""
    m = mta(start=False, extra_conf="max_hops = 1000;\n")
    qid, to_pm = spool_then_lower(m, 2, [
        ("<>", "demo@" + DOMAIN, 40), ("<>", "admin@" + DOMAIN, 3)])
    m.wait_event("too-many-hops", id=qid, hops="41")
    m.wait_event("failed", id=qid, code="5.4.6")
    ev = m.wait_event("bounce", id=qid)[0]
    assert ev["to"] == "<admin@" + DOMAIN + ">", ev
    report = m.wait_for_delivery("admin")[0]
    assert b"Status: 5.4.6" in report, report[:2000]
    m.wait_event("failed", id=to_pm, code="5.4.6")
    m.wait_event("bounce-skipped", id=to_pm)
    m.wait_event("removed", id=qid)
    assert len(m.events("bounce")) == 1
    assert m.messages("demo") == []
    assert len(m.messages("admin")) == 1
