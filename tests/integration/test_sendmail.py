"""Local submission: `decorum sendmail` (and `sendmail` / `mailq` links to
decorum), as cron and PHP call it.  The message is read on stdin, checked
and queued in the spool; the daemon's queue manager delivers it to the
Maildir.

Most tests queue with the daemon stopped and then start it: the queue
manager's start-up scan takes the message at once, so each test waits
seconds, not the minute of the periodic rescan.  test_delivers_while_running
queues into a running daemon (notification through <spool>/qmgr.sock, or
the periodic scan while nobody binds that socket yet)."""

import os
import re
import subprocess
import time

from mtaproc import DOMAIN, HOSTNAME, wait_until

EX_USAGE = 64
EX_NOUSER = 67


def sendmail(m, args, data, via=None, env_conf=False):
    """Runs `decorum -c CONF sendmail ARGS` (or a link named via, with the
    config in $DECORUM_CONFIG) with data (bytes) on stdin."""
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    if via is None:
        cmd = [m.decorum, "-c", m.conf, "sendmail"] + list(args)
    else:
        link = os.path.join(m.root, via)
        if not os.path.islink(link):
            os.symlink(m.decorum, link)
        cmd = [link] + list(args)
        env["DECORUM_CONFIG"] = m.conf
    return subprocess.run(cmd, input=data, capture_output=True, env=env,
                          timeout=20)


def queued(m, area="queue"):
    """Files in a spool folder ([] before anything created the spool)."""
    try:
        return sorted(os.listdir(os.path.join(m.spool, area)))
    except FileNotFoundError:
        return []


def ok(r):
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stderr == b"", r.stderr


def header_block(msg):
    head = msg.split(b"\n\n", 1)[0]
    return head.split(b"\n")


def count_field(msg, name):
    rx = re.compile(rb"^" + name.encode() + rb":", re.I)
    return sum(1 for l in header_block(msg) if rx.match(l))


def body(msg):
    return msg.split(b"\n\n", 1)[1]


def test_recipients_as_arguments(mta):
    m = mta(start=False)
    r = sendmail(m, ["demo@" + DOMAIN, "alice"],
                 b"Subject: hello\n\nline one\nline two\n")
    ok(r)
    assert len(queued(m)) == 1
    m.start()
    msg = m.wait_for_delivery("demo")[0]
    # "alice" with no domain is alice@HOSTNAME, not a local domain here:
    # it waits for the SMTP client.  The spool holds CRLF; the Maildir
    # file has Unix line ends, as Maildir readers expect.
    assert b"Subject: hello\n" in msg
    assert body(msg) == b"line one\nline two\n"
    assert b"\r" not in msg
    user = __import__("pwd").getpwuid(os.getuid()).pw_name
    rx = (rb"Received: by " + re.escape(HOSTNAME.encode()) +
          rb" \(Decorum, from userid %d\)\n"
          rb"\t\(envelope-from <%s@%s>\)\n\tid [0-9A-Za-z]+; "
          % (os.getuid(), user.encode(), HOSTNAME.encode()))
    assert re.search(rx, msg), msg[:400]


def received_of(msg):
    """Our Received: field (the only one), unfolded."""
    fields = re.findall(rb"^Received:.*(?:\n[ \t].*)*", msg, re.M)
    assert len(fields) == 1, msg[:600]
    return re.sub(rb"\n[ \t]+", b" ", fields[0]).decode()


def test_received_names_envelope_sender(mta):
    """The BCP asks every Received: for (envelope-from <...>), local
    submission included: -f as given, <> for the null sender, and
    "for <rcpt>" only when the message has one recipient (as smtpd)."""
    m = mta(start=False)
    ok(sendmail(m, ["-f", "robot@example.org", "demo@" + DOMAIN],
                b"Subject: one\n\nx\n"))
    ok(sendmail(m, ["-f", "<>", "alice@" + DOMAIN, "bob@" + DOMAIN],
                b"Subject: two\n\nx\n"))
    m.start()
    rx = (r"^Received: by %s \(Decorum, from userid %d\) "
          r"\(envelope-from <%s>\) id ([0-9A-Za-z]+)%s; "
          r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000$")
    got = received_of(m.wait_for_delivery("demo")[0])
    mt = re.match(rx % (re.escape(HOSTNAME), os.getuid(),
                        re.escape("robot@example.org"),
                        re.escape(" for <demo@%s>" % DOMAIN)), got)
    assert mt, got
    # The id is the queue id the log gave the message.
    m.wait_log(r"event=delivered\b.*\bid=%s\b" % mt.group(1))
    for user in ("alice", "bob"):
        got = received_of(m.wait_for_delivery(user)[0])
        assert re.match(rx % (re.escape(HOSTNAME), os.getuid(), "", ""),
                        got), got


def test_delivers_while_running(mta):
    m = mta()
    ok(sendmail(m, ["demo@" + DOMAIN], b"Subject: live\n\nhi\n"))
    # qmgr.sock notification is immediate; the periodic scan is 60 s.
    msg = m.wait_for_delivery("demo", timeout=75)[0]
    assert b"Subject: live" in msg


def test_extract_to_cc_bcc(mta):
    m = mta(start=False)
    data = (b"From: Demo <demo@example.test>\n"
            b"To: \"Smith, Alice\" <alice@example.test>\n"
            b"Cc: bob@example.test (Bob)\n"
            b"Bcc: admin@example.test\n"
            b"Subject: extract\n\nbody\n")
    ok(sendmail(m, ["-t", "-i"], data))
    m.start()
    for user in ("alice", "bob", "admin"):
        msg = m.wait_for_delivery(user)[0]
        assert b"Subject: extract" in msg
        assert count_field(msg, "Bcc") == 0, msg
        if user != "admin":
            assert b"admin@example.test" not in msg, msg
    assert m.messages("demo") == []


def test_extract_plus_arguments_and_group(mta):
    m = mta(start=False)
    data = b"To: undisclosed-recipients:;\nSubject: g\n\nx\n"
    ok(sendmail(m, ["-t", "bob@" + DOMAIN], data))
    m.start()
    m.wait_for_delivery("bob")


def test_sender_sets_return_path(mta):
    m = mta(start=False)
    ok(sendmail(m, ["-f", "robot@example.org", "demo@" + DOMAIN],
                b"Subject: f\n\nx\n"))
    ok(sendmail(m, ["-f", "<>", "alice@" + DOMAIN], b"Subject: n\n\nx\n"))
    m.start()
    msg = m.wait_for_delivery("demo")[0]
    assert msg.startswith(b"Return-Path: <robot@example.org>"), msg[:200]
    assert b"From: robot@example.org\n" in msg
    msg = m.wait_for_delivery("alice")[0]
    assert msg.startswith(b"Return-Path: <>"), msg[:200]


def test_dot_line(mta):
    m = mta(start=False)
    ok(sendmail(m, ["-i", "demo@" + DOMAIN],
                b"Subject: keep\n\nbefore\n.\nafter\n"))
    ok(sendmail(m, ["alice@" + DOMAIN],
                b"Subject: stop\n\nbefore\n.\nafter\n"))
    ok(sendmail(m, ["-oi", "bob@" + DOMAIN],
                b"Subject: keep2\r\n\r\nbefore\r\n.\r\nafter\r\n"))
    m.start()
    assert body(m.wait_for_delivery("demo")[0]) == b"before\n.\nafter\n"
    assert body(m.wait_for_delivery("alice")[0]) == b"before\n"
    assert body(m.wait_for_delivery("bob")[0]) == b"before\n.\nafter\n"


def test_bare_cr_and_no_final_newline(mta):
    m = mta(start=False)
    ok(sendmail(m, ["demo@" + DOMAIN], b"Subject: cr\r\rone\rtwo"))
    m.start()
    assert body(m.wait_for_delivery("demo")[0]) == b"one\ntwo\n"


def test_headers_added_when_missing(mta):
    m = mta(start=False)
    ok(sendmail(m, ["-F", "Cron \"Daemon\"", "demo@" + DOMAIN],
                b"Subject: bare\n\nx\n"))
    m.start()
    msg = m.wait_for_delivery("demo")[0]
    for name in ("Date", "Message-ID", "From", "Received"):
        assert count_field(msg, name) == 1, (name, msg[:600])
    assert re.search(rb"^Message-ID: <[^@>]+@" +
                     re.escape(HOSTNAME.encode()) + rb">$",
                     msg, re.M), msg[:600]
    user = __import__("pwd").getpwuid(os.getuid()).pw_name
    assert ("From: \"Cron \\\"Daemon\\\"\" <%s@%s>\n"
            % (user, HOSTNAME)).encode() in msg, msg[:600]


def test_headers_not_duplicated_when_present(mta):
    m = mta(start=False)
    data = (b"From: me@example.org\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
            b"Message-ID: <given@example.org>\nSubject: full\n\nx\n")
    ok(sendmail(m, ["demo@" + DOMAIN], data))
    m.start()
    msg = m.wait_for_delivery("demo")[0]
    for name in ("Date", "Message-ID", "From"):
        assert count_field(msg, name) == 1, (name, msg[:600])
    assert b"Message-ID: <given@example.org>" in msg


def test_unknown_local_user(mta):
    m = mta(start=False)
    r = sendmail(m, ["demo@" + DOMAIN, "nosuch@" + DOMAIN], b"Subject: u\n\nx\n")
    assert r.returncode == EX_NOUSER, (r.returncode, r.stderr)
    assert b"nosuch@example.test" in r.stderr
    assert queued(m) == []
    r = sendmail(m, ["-t"], b"To: ghost@example.test\n\nx\n")
    assert r.returncode == EX_NOUSER, (r.returncode, r.stderr)
    assert b"ghost@example.test" in r.stderr
    assert queued(m) == []


def test_no_recipients_and_bad_options(mta):
    m = mta(start=False)
    r = sendmail(m, [], b"Subject: none\n\nx\n")
    assert r.returncode == EX_USAGE, r
    r = sendmail(m, ["-t"], b"Subject: none\n\nx\n")
    assert r.returncode == EX_USAGE, r
    r = sendmail(m, ["-Q", "demo@" + DOMAIN], b"x\n")
    assert r.returncode == EX_USAGE, r
    assert queued(m) == []
    # Options Postfix accepts and ignores are accepted.
    ok(sendmail(m, ["-odi", "-oem", "-v", "-bm", "--", "demo@" + DOMAIN],
                b"Subject: o\n\nx\n"))
    assert len(queued(m)) == 1


def test_oversize(mta):
    m = mta(start=False)                # max_message_size = 100000
    r = sendmail(m, ["demo@" + DOMAIN],
                 b"Subject: big\n\n" + b"x" * 70 + b"\n" * 1500 * 70)
    assert r.returncode == 1, r
    assert b"larger than" in r.stderr
    for area in ("queue", "tmp", "data"):
        assert queued(m, area) == [], area
    # Just under the limit once line ends are CRLF: queued.
    ok(sendmail(m, ["demo@" + DOMAIN],
                b"Subject: fits\n\n" + (b"y" * 70 + b"\n") * 1300))
    assert len(queued(m)) == 1


def test_mailq_lists_deferred(mta):
    m = mta(start=False)
    m.block_mailbox("demo")
    ok(sendmail(m, ["demo@" + DOMAIN], b"Subject: wait\n\nx\n"))
    qid = queued(m)[0]
    m.start()
    m.wait_log(r"event=deferred")
    r = sendmail(m, [], b"", via="mailq")
    assert r.returncode == 0, r
    assert qid.encode() in r.stdout and b"<demo@example.test>" in r.stdout
    r = m.cli("mailq")
    assert r.returncode == 0 and qid in r.stdout, r
    r = sendmail(m, ["-bp"], b"")
    assert r.returncode == 0 and qid.encode() in r.stdout, r


def test_symlink_named_sendmail(mta):
    m = mta(start=False)
    r = sendmail(m, ["-f", "cron@example.org", "demo@" + DOMAIN],
                 b"Subject: link\n\nx\n", via="sendmail")
    ok(r)
    m.start()
    msg = m.wait_for_delivery("demo")[0]
    assert msg.startswith(b"Return-Path: <cron@example.org>")


def test_hold_and_release(mta):
    m = mta(start=False)
    ok(sendmail(m, ["demo@" + DOMAIN], b"Subject: held\n\nx\n"))
    qid = queued(m)[0]
    r = m.cli("queue", "hold", qid)
    assert r.returncode == 0 and "held" in r.stdout, r
    assert queued(m) == [] and queued(m, "data") == []
    assert queued(m, "hold") == [qid]   # one file: data and envelope
    # Older than the garbage age: the queue manager's start-up cleanup
    # must leave a held message alone.
    old = os.stat(m.conf).st_mtime - 3 * 3600
    for name in queued(m, "hold"):
        os.utime(os.path.join(m.spool, "hold", name), (old, old))
    m.start()
    m.wait_log(r"event=started")
    r = m.cli("mailq")
    assert r.returncode == 0 and qid in r.stdout and " hold " in r.stdout, r
    r = m.cli("queue", "show", qid)
    assert r.returncode == 0 and "state: hold" in r.stdout, r
    time.sleep(1.5)
    assert m.messages("demo") == []
    r = m.cli("queue", "release", qid)
    assert r.returncode == 0 and "released" in r.stdout, r
    msg = m.wait_for_delivery("demo")[0]
    assert b"Subject: held" in msg
    wait_until(lambda: queued(m) == [] and queued(m, "data") == [], 10,
               what="spool emptied")
    assert queued(m, "hold") == []


def test_hold_stops_retries_of_running_daemon(mta):
    m = mta(start=False)
    m.block_mailbox("demo")
    ok(sendmail(m, ["demo@" + DOMAIN], b"Subject: retried\n\nx\n"))
    qid = queued(m)[0]
    m.start()
    m.wait_log(r"event=deferred id=%s" % qid)
    r = m.cli("queue", "hold", qid)
    assert r.returncode == 0, r
    m.unblock_mailbox("demo")
    # retry_max is 2 s: a queued message would be delivered by now.
    time.sleep(4)
    assert m.messages("demo") == []
    assert queued(m, "hold") == [qid]
    r = m.cli("queue", "release", qid)
    assert r.returncode == 0, r
    m.wait_for_delivery("demo")


def test_hold_errors_and_delete_held(mta):
    m = mta(start=False)
    ok(sendmail(m, ["demo@" + DOMAIN], b"Subject: d\n\nx\n"))
    qid = queued(m)[0]
    r = m.cli("queue", "release", qid)
    assert r.returncode == 1 and "not held" in r.stderr, r
    r = m.cli("queue", "hold", "1NoSuchId1")
    assert r.returncode == 1 and "not in the queue" in r.stderr, r
    r = m.cli("queue", "hold", "../etc")
    assert r.returncode == 1, r
    assert m.cli("queue", "hold", qid).returncode == 0
    r = m.cli("queue", "hold", qid)
    assert r.returncode == 1, r
    r = m.cli("queue", "delete", qid)
    assert r.returncode == 0 and "deleted" in r.stdout, r
    assert queued(m, "hold") == [] and queued(m, "data") == []
    r = m.cli("queue", "hold")
    assert r.returncode == 2, r
