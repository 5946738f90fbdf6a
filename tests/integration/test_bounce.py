"""Accepted mail that then fails permanently comes back to its sender as
one RFC 3464 report (multipart/report; report-type=delivery-status) with
the null envelope sender; a failed bounce goes to the postmaster, never
to <>; the original leaves the queue once the report is queued.  And the
queue manager takes new-mail notifications on <spool>/qmgr.sock.

The permanent failure is made at delivery time: the qmgr is stopped
(SIGSTOP), the mail accepted, the recipient removed from the users file,
the qmgr resumed: routing then finds no such user (5.1.1)."""

import email
import email.policy
import os
import signal
import socket
import stat
import time

from mtaproc import DEFAULT_USERS, wait_until
from smtpraw import Smtp, queue_id

SUBJECT = "quarterly figures"


def send_held(m, sender, rcpts, remove, subject=SUBJECT):
    """Accepts one message for rcpts while the qmgr is stopped, removes
    the users in remove from the users file, then resumes the qmgr."""
    qmgr = m.child("decorum-qmgr")
    os.kill(qmgr, signal.SIGSTOP)
    try:
        with Smtp(m.port) as s:
            s.ehlo()
            s.mail(sender)
            for r in rcpts:
                s.rcpt(r)
            s.expect("DATA", 354)
            s.send(("From: <%s>\r\nTo: %s\r\nSubject: %s\r\n"
                    "Message-ID: <orig-1@example.org>\r\n\r\n"
                    "secret body line\r\n.\r\n"
                    % (sender or "nobody@example.org", ", ".join(rcpts),
                       subject)).encode())
            qid = queue_id(s.reply())
            s.expect("QUIT", 221)
        users = {u: p for u, p in DEFAULT_USERS.items() if u not in remove}
        m.write_domain("example.test", users, [])
        # The users file is checked by modification time: make sure the
        # change is seen even within the same second.
        later = time.time() + 2
        os.utime(os.path.join(m.domain_dir(), "users"), (later, later))
    finally:
        os.kill(qmgr, signal.SIGCONT)
    return qid


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def status_groups(report):
    """The message/delivery-status part as a list of field dicts: the
    per-message group first, then one per recipient."""
    parts = [p for p in report.walk()
             if p.get_content_type() == "message/delivery-status"]
    assert len(parts) == 1, [p.get_content_type() for p in report.walk()]
    groups = parts[0].get_payload()
    return [dict(g.items()) for g in groups]


def rfc822_headers(report):
    parts = [p for p in report.walk()
             if p.get_content_type() == "text/rfc822-headers"]
    assert len(parts) == 1
    return parts[0].get_payload(decode=True).decode("utf-8", "replace")


def check_report(raw, sender_to, failed, qid):
    """Common checks of a delivered report; returns the parsed message."""
    head = raw.split(b"\n", 2)
    assert head[0] == b"Return-Path: <>", head[0]
    msg = parse(raw)
    assert msg["From"].startswith("MAILER-DAEMON@mx.example.test")
    assert msg["To"] == "<%s>" % sender_to
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Date"] and msg["Message-ID"]
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "text/rfc822-headers"]
    human = parts[0].get_payload(decode=True).decode()
    groups = status_groups(msg)
    assert groups[0]["Reporting-MTA"] == "dns; mx.example.test"
    assert groups[0]["X-Decorum-Queue-ID"] == qid
    assert groups[0]["Arrival-Date"]
    rcpt_groups = groups[1:]
    assert len(rcpt_groups) == len(failed)
    for g, addr in zip(rcpt_groups, failed):
        assert g["Final-Recipient"] == "rfc822; %s" % addr
        assert g["Action"] == "failed"
        assert g["Status"] == "5.1.1"
        assert addr in human
    hdrs = rfc822_headers(msg)
    assert "Subject: %s" % SUBJECT in hdrs
    assert "Message-ID: <orig-1@example.org>" in hdrs
    # The header section only: the body is not sent back.
    assert b"secret body line" not in raw
    return msg


def queued(m, qid):
    return any(qid in f for f in m.spool_files() if "/queue/" in f
               or "/failed/" in f or "/data/" in f)


def test_failed_local_recipient_bounces_to_sender(mta):
    m = mta()
    qid = send_held(m, "alice@example.test", ["bob@example.test"], ["bob"])
    msgs = m.wait_for_delivery("alice", timeout=15)
    assert len(msgs) == 1
    check_report(msgs[0], "alice@example.test", ["bob@example.test"], qid)
    ev = m.wait_log(lambda: m.log_events("bounce"))
    assert ev[0]["id"] == qid
    assert ev[0]["to"] == "<alice@example.test>"
    bounce_id = ev[0]["bounce_id"]
    assert bounce_id and bounce_id != qid
    assert parse(msgs[0])["Message-ID"] == \
        "<%s.dsn@mx.example.test>" % bounce_id
    # The original is gone from the queue (data and envelope), and the
    # report itself was delivered and removed.
    wait_until(lambda: not queued(m, qid) and not queued(m, bounce_id), 5,
               what="queue empty")
    assert not m.log_events("bounce-pending")
    failed = [e for e in m.log_events("failed") if e.get("id") == qid]
    assert failed and failed[0]["code"] == "5.1.1"


def test_two_failed_recipients_one_report(mta):
    m = mta()
    qid = send_held(m, "alice@example.test",
                    ["bob@example.test", "demo@example.test"],
                    ["bob", "demo"])
    msgs = m.wait_for_delivery("alice", timeout=15)
    time.sleep(1.5)     # a second report would have come by now
    msgs = m.read_messages("alice")
    assert len(msgs) == 1
    check_report(msgs[0], "alice@example.test",
                 ["bob@example.test", "demo@example.test"], qid)
    assert len(m.log_events("bounce")) == 1


def test_partial_failure_reports_only_failed(mta):
    m = mta()
    qid = send_held(m, "alice@example.test",
                    ["bob@example.test", "demo@example.test"], ["bob"])
    m.wait_for_delivery("demo", timeout=15)
    msgs = m.wait_for_delivery("alice", timeout=15)
    msg = check_report(msgs[0], "alice@example.test", ["bob@example.test"],
                       qid)
    assert "demo@example.test" not in str(status_groups(msg))


def test_bounce_of_null_sender_goes_to_postmaster(mta):
    m = mta()
    qid = send_held(m, "", ["bob@example.test"], ["bob"])
    msgs = m.wait_for_delivery("admin", timeout=15)
    assert len(msgs) == 1
    check_report(msgs[0], "admin@example.test", ["bob@example.test"], qid)
    ev = m.log_events("bounce")
    assert ev and ev[0]["to"] == "<admin@example.test>"
    wait_until(lambda: not queued(m, qid), 5, what="original removed")


def test_failed_bounce_to_postmaster_does_not_loop(mta):
    m = mta()
    # A bounce (sender <>) to the postmaster's mailbox that no longer
    # exists: no report about the report; the message is kept in failed/.
    qid = send_held(m, "", ["admin@example.test"], ["admin"])
    ev = m.wait_log(lambda: m.log_events("bounce-skipped"))
    assert ev[0]["id"] == qid
    time.sleep(1.5)
    assert not m.log_events("bounce")
    assert any(qid in f for f in m.spool_files() if "/failed/" in f)


def test_notify_socket(mta):
    m = mta()
    path = os.path.join(m.spool, "qmgr.sock")
    wait_until(lambda: os.path.exists(path), 5, what="qmgr.sock")
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    # A message put into the queue by hand (as the sendmail command
    # does) is delivered on a notification, long before the 60 s rescan.
    qid = "0ZZZZZ0000000001abc"
    data = (b"From: <alice@example.test>\r\nSubject: local\r\n\r\n"
            b"hello from cron\r\n")
    with open(os.path.join(m.spool, "data", qid), "wb") as f:
        f.write(data)
    envelope = ("V 1\nI %s\nT %d\nS alice@example.test\nR demo@example.test"
                "\nE\n" % (qid, int(time.time())))
    with open(os.path.join(m.spool, "queue", qid), "w") as f:
        f.write(envelope)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.sendto(b"not a queue id!", path)      # ignored
        s.sendto(qid.encode(), path)
    finally:
        s.close()
    msgs = m.wait_for_delivery("demo", timeout=10)
    assert b"hello from cron" in msgs[0]
    # A restart finds the stale socket and binds again; a stop removes it.
    m.restart()
    wait_until(lambda: os.path.exists(path), 5, what="qmgr.sock again")
    assert not m.log_events("socket-error")
    assert m.stop() == 0
    assert not os.path.exists(path)
