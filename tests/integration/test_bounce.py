"""Accepted mail that then fails permanently comes back to its sender as
one RFC 3464 report (multipart/report; report-type=delivery-status) with
the null envelope sender; a failed bounce goes to the postmaster, never
to <>; the original leaves the queue once the report is queued.  And the
queue manager takes new-mail notifications on <spool>/qmgr.sock.

The permanent failure is made at delivery time: the qmgr is stopped
(SIGSTOP), the mail accepted, the recipient removed from the users file
(and its mailbox blocked, in case the qmgr routes once before it has read
the new file), the qmgr resumed: routing then finds no such user (5.1.1).
Or a fake remote MX refuses the recipient (remotemx.py), for replies in
UTF-8.

"No second report" is shown by waiting until the message can make no
more: the original is removed (event=removed) or parked in failed/
(event=bounce-pending), and the report itself delivered and removed;
only then are the reports counted."""

import email
import email.policy
import os
import signal
import socket
import stat
import time

from conftest import add_mx, report_groups, submit
from mtaproc import DEFAULT_USERS, wait_until
from smtpraw import Smtp, queue_id

SUBJECT = "quarterly figures"


def send_held(m, sender, rcpts, remove, subject=SUBJECT, headers=""):
    """Accepts one message for rcpts while the qmgr is stopped, removes
    the users in remove from the users file, then resumes the qmgr.
    headers: more header fields (CRLF-terminated text) after Message-ID."""
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
                    "Message-ID: <orig-1@example.org>\r\n%s\r\n"
                    "secret body line\r\n.\r\n"
                    % (sender or "nobody@example.org", ", ".join(rcpts),
                       subject, headers)).encode())
            qid = queue_id(s.reply())
            s.expect("QUIT", 221)
        users = {u: p for u, p in DEFAULT_USERS.items() if u not in remove}
        m.write_domain("example.test", users, [])
        # The qmgr sees the new table within a second of running again,
        # and may route once before that with the old one: a blocked
        # mailbox makes that try fail temporarily, so the next one, with
        # the new table, is what decides.
        for u in remove:
            m.block_mailbox(u)
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


def wait_finished(m, qid):
    """Waits until the original qid and its one report are gone from the
    queue for good: the original removed after its report was queued,
    the report delivered and removed.  Nothing can make another report
    after that.  Returns the bounce event."""
    bounce = m.wait_event("bounce", id=qid, timeout=15)[0]
    m.wait_event("removed", id=qid, timeout=15)
    m.wait_event("removed", id=bounce["bounce_id"], timeout=15)
    return bounce


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
    wait_finished(m, qid)
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
    # Parked in failed/, where nothing retries it: the end of the story.
    m.wait_event("bounce-pending", id=qid)
    assert not m.log_events("bounce")
    assert any(qid in f for f in m.spool_files() if "/failed/" in f)
    assert m.read_messages("admin") == []


def test_utf8_remote_reply_makes_an_8bit_report(outbound_mta, remote_mx,
                                                dns):
    """A remote MX refuses with a UTF-8 reply text (as SMTPUTF8 servers
    may).  The report shows it in its human part: that part and the
    report say Content-Transfer-Encoding: 8bit, and the report goes out
    with BODY=8BITMIME; the delivery-status part stays 7-bit."""
    rcpt = "gone@utf8reply.example"
    reply = ("550 5.1.1 Postfach gel\u00f6scht \u2709 "
             "(Benutzer unbekannt)")
    remote_mx("127.0.0.21", rcpt_replies={rcpt: reply})
    home = remote_mx("127.0.0.22")          # the sender's own MX
    add_mx(dns, "utf8reply.example", ["127.0.0.21"])
    add_mx(dns, "senders.example", ["127.0.0.22"])
    m = outbound_mta()
    qid, _ = submit(m, "writer@senders.example", [rcpt])
    t = home.wait_delivered(1, log=m.log)[0]
    assert t.sender == "", t.mail
    params = [p.upper() for p in t.params]
    assert "BODY=8BITMIME" in params, t.mail
    assert "SMTPUTF8" not in params, t.mail     # the To: is ASCII
    t.data.decode("utf-8")                      # all of it valid UTF-8
    report = email.message_from_bytes(t.data, policy=email.policy.default)
    assert report.get_content_type() == "multipart/report"
    assert report["Content-Transfer-Encoding"] == "8bit"
    human, status, headers = report.get_payload()
    assert human.get_content_type() == "text/plain"
    assert human["Content-Transfer-Encoding"] == "8bit"
    assert "Postfach gel\u00f6scht \u2709" in human.get_content()
    assert status.get_content_type() == "message/delivery-status"
    assert status["Content-Transfer-Encoding"] is None
    assert headers.get_content_type() == "text/rfc822-headers"
    assert headers["Content-Transfer-Encoding"] is None
    g = report_groups(report)[1]
    assert g["Final-Recipient"] == "rfc822; " + rcpt, g
    assert g["Remote-MTA"] == "dns; mx1.utf8reply.example", g
    # 7-bit there: each non-ASCII character is a '?'.
    assert g["Diagnostic-Code"] == \
        "smtp; 550 5.1.1 Postfach gel?scht ? (Benutzer unbekannt)", g
    m.wait_event("removed", id=qid)


def test_returned_headers_cut_between_fields(mta):
    """A header section over 64 KiB of folded fields: the report returns
    as many whole fields as fit in 64 KiB (CRLF octets), never part of
    one, and not the body."""
    fields = ["X-Filler-%04d: %s\r\n\t%s\r\n" % (i, "a" * 40, "b" * 40)
              for i in range(1500)]
    m = mta(max_message_size=400000)
    qid = send_held(m, "alice@example.test", ["bob@example.test"], ["bob"],
                    headers="".join(fields))
    msgs = m.wait_for_delivery("alice", timeout=15)
    report = parse(msgs[0])
    part = [p for p in report.walk()
            if p.get_content_type() == "text/rfc822-headers"]
    assert len(part) == 1
    text = part[0].get_payload(decode=True)     # LF line ends (Maildir)
    first = text.index(b"X-Filler-0000: ")
    # The original header (our Received:, From ... Message-ID) first,
    # then the filler fields in order: n of them, each whole.
    assert text.startswith(b"Received: "), text[:200]
    assert b"Message-ID: <orig-1@example.org>\n" in text[:first]
    got = text[first:]
    lf = [f.replace("\r\n", "\n").encode() for f in fields]
    n = off = 0
    while n < len(lf) and got.startswith(lf[n], off):
        off += len(lf[n])
        n += 1
    assert off == len(got), got[off - 100:off + 300]
    assert 0 < n < len(fields)
    # As many as fit: 64 KiB of CRLF octets, and the next did not.
    size = len(text) + text.count(b"\n")
    assert size <= 65536 < size + len(fields[n]), (size, n)
    assert b"secret body line" not in msgs[0]
    wait_finished(m, qid)


def test_notify_socket(mta):
    m = mta()
    path = os.path.join(m.spool, "qmgr.sock")
    wait_until(lambda: os.path.exists(path), 5, what="qmgr.sock")
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
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
