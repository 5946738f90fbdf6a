"""Submission (RFC 6409, RFC 8314) and authenticated relaying: on the
submission role nothing but EHLO/HELO/STARTTLS/NOOP/RSET/QUIT before TLS,
no mail without AUTH; an authenticated client may relay on both roles;
envelope senders (and From: when configured) must belong to the user;
Received: says ESMTPSA and may hide the client address; swaks and
smtplib submit for real."""

import re
import shutil
import smtplib
import subprocess

import pytest

from conftest import (HELO, auth_plain_b64, client_context, starttls,
                      tls_session)
from mailfile import first_received, split
from mtaproc import wait_until
from smtpraw import Smtp, check, message, queue_id

SWAKS = shutil.which("swaks") or "/usr/bin/swaks"
ALICE = "alice@example.test"
FOREIGN = "someone@remote.example"
STARTTLS_FIRST = "5.7.0 Must issue a STARTTLS command first"
AUTH_REQUIRED = "5.7.0 Authentication required"


def alice(m, where="sub_starttls"):
    return tls_session(m, where, ALICE, "alice-pw")


# -- before TLS ---------------------------------------------------------------

def test_submission_plaintext_allows_only_the_basics(tls_mta):
    m = tls_mta(max_errors=20)
    with Smtp(m.ports["sub_starttls"]) as s:
        check(s.greeting, 220)
        r = s.ehlo(HELO)
        kws = [l.upper() for l in r.lines[1:]]
        assert "STARTTLS" in kws, r
        assert not any(k.startswith("AUTH") for k in kws), r
        s.expect("HELO " + HELO, 250)
        s.expect("NOOP", 250)
        s.expect("RSET", 250)
        for line in ("MAIL FROM:<%s>" % ALICE, "RCPT TO:<demo@example.test>",
                     "DATA", "AUTH PLAIN " + auth_plain_b64(ALICE, "alice-pw"),
                     "VRFY demo", "HELP", "EXPN team"):
            r = s.cmd(line)
            check(r, 530, "5.7.0", what=line)
            assert r.lines == [STARTTLS_FIRST], (line, r)
        s.expect("EHLO " + HELO, 250)
        starttls(s)
        s.ehlo(HELO)
        s.expect("QUIT", 221)


def test_submission_quit_before_tls(tls_mta):
    m = tls_mta()
    with Smtp(m.ports["sub_starttls"]) as s:
        s.expect("QUIT", 221)
        assert s.closed()


def test_submission_pipelined_plaintext_mail_refused(tls_mta):
    """A client that pipelines a whole transaction in plaintext gets 530
    for each command and no message is queued."""
    m = tls_mta(max_errors=20)
    with Smtp(m.ports["sub_starttls"]) as s:
        s.ehlo(HELO)
        s.send("MAIL FROM:<%s>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n"
               % ALICE)
        for _ in range(3):
            check(s.reply(), 530, "5.7.0")
        # The body lines that follow are commands too, and refused.
        s.send("Subject: x\r\n.\r\n")
        assert s.reply().code >= 500
        assert s.reply().code >= 500
    assert m.messages("demo") == []


# -- after TLS, before AUTH --------------------------------------------------

def test_submission_needs_auth(tls_mta):
    m = tls_mta()
    for n, where in enumerate(("sub_starttls", "sub_implicit"), 1):
        with tls_session(m, where) as s:
            r = s.cmd("MAIL FROM:<%s>" % ALICE)
            check(r, 530, "5.7.0")
            assert r.lines == [AUTH_REQUIRED], (where, r)
            r = s.cmd("MAIL FROM:<>")
            check(r, 530, "5.7.0")
            s.expect("AUTH PLAIN " + auth_plain_b64(ALICE, "alice-pw"), 235,
                     "2.7.0")
            s.mail(ALICE)
            s.rcpt("demo@example.test")
            s.data(message(subject="submitted %d" % n, sender=ALICE))
        m.wait_for_delivery("demo", n)


# -- relaying ----------------------------------------------------------------

def _queued_for(m, rcpt, qid):
    r = m.cli("queue", "list")
    assert r.returncode == 0, r.stderr
    if qid not in r.stdout:
        return False
    r = m.cli("queue", "show", qid)
    assert r.returncode == 0, r.stderr
    return rcpt in r.stdout


def test_authenticated_relay(tls_mta):
    m = tls_mta()
    for where in ("sub_starttls", "sub_implicit", "mx_starttls",
                  "mx_implicit"):
        with alice(m, where) as s:
            s.mail(ALICE)
            s.rcpt(FOREIGN)
            qid = queue_id(s.data(message(subject="relay " + where,
                                          sender=ALICE, to=FOREIGN)))
        # 192.0.2.26 (TEST-NET) never answers: it waits in the queue.
        wait_until(lambda: _queued_for(m, FOREIGN, qid), 5,
                   what="%s (%s) in `decorum queue list`" % (qid, where))


def test_unauthenticated_mx_does_not_relay(tls_mta):
    m = tls_mta()
    for n, where in enumerate(("mx_starttls", "mx_implicit"), 1):
        with tls_session(m, where) as s:
            s.mail("x@example.org")
            s.expect("RCPT TO:<%s>" % FOREIGN, 554, "5.7.1")
            # Local delivery is what mx is for.
            s.rcpt("demo@example.test")
            s.data(message(subject="inbound over tls %d" % n,
                           sender="x@example.org"))
        m.wait_for_delivery("demo", n)


def test_failed_auth_does_not_relay(tls_mta):
    m = tls_mta()
    with tls_session(m, "mx_implicit") as s:
        check(s.cmd("AUTH PLAIN " + auth_plain_b64(ALICE, "nope"),
                    timeout=20), 535, "5.7.8")
        s.mail("x@example.org")
        s.expect("RCPT TO:<%s>" % FOREIGN, 554, "5.7.1")


# -- sender ownership --------------------------------------------------------

OWNED = ["alice@example.test", "info@example.test",
         "alice.smith@example.test", "anything@alice.example",
         "Alice@EXAMPLE.test", "alice+list@example.test", ""]
NOT_OWNED = ["bob@example.test", "team@example.test", "crew@example.test",
             "demo@example.test", "x@example.org", "alice@example.org",
             "alice.smith@other.example", "postmaster@example.test"]


def test_sender_ownership(tls_mta):
    m = tls_mta(max_errors=50)
    wheres = ("sub_starttls", "sub_implicit", "mx_implicit", "mx_starttls")
    for n, where in enumerate(wheres, 1):
        with alice(m, where) as s:
            for sender in OWNED:
                r = s.cmd("MAIL FROM:<%s>" % sender)
                check(r, 250, "2.1.0", what="%s: MAIL FROM:<%s>"
                      % (where, sender))
                s.expect("RSET", 250)
            for sender in NOT_OWNED:
                r = s.cmd("MAIL FROM:<%s>" % sender)
                check(r, 553, "5.7.1", what="%s: MAIL FROM:<%s>"
                      % (where, sender))
                s.expect("RSET", 250)
            # An owned sender still works after refusals, end to end.
            s.mail("alice.smith@example.test")
            s.rcpt("demo@example.test")
            s.data(message(subject="owned %d" % n,
                           sender="alice.smith@example.test"))
        m.wait_for_delivery("demo", n)
    for msg in m.read_messages("demo"):
        lines, _ = split(msg)
        assert lines[0] == "Return-Path: <alice.smith@example.test>", \
            lines[:3]


def test_sender_ownership_other_user(tls_mta):
    """bob owns his address and team@ is nobody's; bob has no extras."""
    m = tls_mta(max_errors=20)
    with tls_session(m, "sub_implicit", "bob@example.test", "bob-pw") as s:
        s.mail("bob@example.test")
        s.expect("RSET", 250)
        for sender in ("alice@example.test", "info@example.test",
                       "alice.smith@example.test", "x@alice.example",
                       "team@example.test"):
            check(s.cmd("MAIL FROM:<%s>" % sender), 553, "5.7.1",
                  what=sender)


def test_unauthenticated_mx_sender_not_checked(tls_mta):
    """Ownership is about logins: inbound mail on mx may claim any sender
    (SPF/DMARC are other checks)."""
    m = tls_mta()
    with tls_session(m, "mx_starttls") as s:
        s.mail("bob@example.test")
        s.rcpt("alice@example.test")
        s.data(message(subject="inbound", sender="bob@example.test"))
    m.wait_for_delivery("alice")


# -- From: header -------------------------------------------------------------

def _send_with_from(s, from_header, envelope=ALICE):
    s.mail(envelope)
    s.rcpt("demo@example.test")
    s.expect("DATA", 354)
    s.send(("From: %s\r\nTo: <demo@example.test>\r\nSubject: from check\r\n"
            "Message-ID: <fc%d@example.test>\r\n\r\nbody\r\n.\r\n"
            % (from_header, abs(hash(from_header)))).encode())
    return s.reply()


def test_from_header_checked_when_configured(tls_mta):
    m = tls_mta(submission={"check_from_header": True,
                            "hide_client_ip": False}, max_errors=20)
    with alice(m) as s:
        for bad in ("bob@example.test", "Bob <bob@example.test>",
                    "<team@example.test>",
                    "Alice <alice@example.test>, Bob <bob@example.test>"):
            r = _send_with_from(s, bad)
            check(r, 550, "5.7.1", what="From: " + bad)
        for good in ("alice@example.test", "Alice <alice@example.test>",
                     "\"Info desk\" <info@example.test>",
                     "A. Smith <alice.smith@example.test>",
                     "<someone@alice.example>"):
            r = _send_with_from(s, good)
            check(r, 250, "2.0.0", what="From: " + good)
    assert len(m.wait_for_delivery("demo", 5)) == 5


def test_from_header_not_checked_by_default(tls_mta):
    m = tls_mta()
    with alice(m) as s:
        check(_send_with_from(s, "bob@example.test"), 250, "2.0.0")
    m.wait_for_delivery("demo")


# -- Received: ---------------------------------------------------------------

def test_received_esmtpsa_shows_ip_by_default(tls_mta):
    m = tls_mta()
    with alice(m) as s:
        cipher = s.sock.cipher()[0]
        s.mail(ALICE)
        s.rcpt("demo@example.test")
        s.data(message(subject="esmtpsa", sender=ALICE))
    rec = first_received(m.wait_for_delivery("demo")[0])
    assert " with ESMTPSA " in rec, rec
    assert "with cipher %s)" % cipher in rec, rec
    assert "[127.0.0.1]" in rec, rec
    assert "(envelope-from <%s>)" % ALICE in rec, rec


def test_received_hides_client_ip(tls_mta):
    m = tls_mta(submission={"check_from_header": False,
                            "hide_client_ip": True})
    with alice(m, "sub_implicit") as s:
        s.mail(ALICE)
        s.rcpt("demo@example.test")
        s.data(message(subject="private", sender=ALICE))
    rec = first_received(m.wait_for_delivery("demo")[0])
    assert " with ESMTPSA " in rec, rec
    assert "127.0.0.1" not in rec, rec
    assert "(envelope-from <%s>)" % ALICE in rec, rec
    assert re.search(r"\(using TLSv1\.[23] with cipher [A-Za-z0-9_-]+\)",
                     rec), rec
    # Unauthenticated inbound mail still shows where it came from.
    with tls_session(m, "mx_starttls") as s:
        s.mail("x@example.org")
        s.rcpt("bob@example.test")
        s.data(message(subject="inbound", sender="x@example.org"))
    rec = first_received(m.wait_for_delivery("bob")[0])
    assert "[127.0.0.1]" in rec and " with ESMTPS " in rec, rec


# -- real clients ------------------------------------------------------------

def _swaks(m, port, *extra, password="alice-pw", mech="LOGIN"):
    cmd = [SWAKS, "--server", "127.0.0.1:%d" % port, "--auth", mech,
           "--auth-user", ALICE, "--auth-password", password,
           "--to", "demo@example.test", "--from", ALICE, "--helo", HELO,
           "--timeout", "20"] + list(extra)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=40)


def test_swaks_submission(tls_mta):
    m = tls_mta()
    r = _swaks(m, m.ports["sub_starttls"], "--tls",
               "--header", "Subject: swaks 587")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "235 2.7.0" in r.stdout and "queued as" in r.stdout, r.stdout
    r = _swaks(m, m.ports["sub_implicit"], "--tlsc", "--header",
               "Subject: swaks 465", mech="PLAIN")
    assert r.returncode == 0, r.stdout + r.stderr
    msgs = m.wait_for_delivery("demo", 2)
    for msg in msgs:
        assert " with ESMTPSA " in first_received(msg)
    assert "alice-pw" not in m.log()


def test_swaks_without_tls_refused(tls_mta):
    m = tls_mta()
    # No TLS: AUTH is not offered, swaks gives up before MAIL.
    r = _swaks(m, m.ports["sub_starttls"])
    assert r.returncode != 0, r.stdout
    assert m.messages("demo") == []


def test_smtplib_submission(tls_mta):
    m = tls_mta()
    msg = ("From: Alice <alice@example.test>\r\nTo: demo@example.test\r\n"
           "Subject: smtplib submission\r\n\r\nhi\r\n")
    with smtplib.SMTP("127.0.0.1", m.ports["sub_starttls"],
                      local_hostname=HELO, timeout=10) as c:
        c.starttls(context=client_context())
        c.ehlo()
        with pytest.raises(smtplib.SMTPSenderRefused) as ei:
            c.sendmail(ALICE, ["demo@example.test"], msg)
        assert ei.value.smtp_code == 530
        c.login(ALICE, "alice-pw")
        with pytest.raises(smtplib.SMTPSenderRefused) as ei:
            c.sendmail("bob@example.test", ["demo@example.test"], msg)
        assert ei.value.smtp_code == 553
        assert c.sendmail(ALICE, ["demo@example.test", FOREIGN], msg) == {}
    with smtplib.SMTP_SSL("127.0.0.1", m.ports["sub_implicit"],
                          local_hostname=HELO, timeout=10,
                          context=client_context()) as c:
        c.login(ALICE, "alice-pw")
        assert c.sendmail("info@example.test", ["bob@example.test"],
                          msg) == {}
    m.wait_for_delivery("demo")
    lines, _ = split(m.wait_for_delivery("bob")[0])
    assert lines[0] == "Return-Path: <info@example.test>"
