"""The commit's order (queue.commit_order, docs/queue.md "The commit").

Rename-first puts queue/<id> in place before the commit's fsyncs, so a
power cut can leave an envelope whose data never reached the disk: its
data file short, or gone.  kill -9 cannot make that state (the page
cache survives it), so these tests write it by hand into a stopped
daemon's spool, as a crash would leave it, and check that the queue
manager never delivers such a message, sets it aside in corrupt/ and
says why, while the whole message beside it is delivered.

They also check that each daemon says which order it took and why.
The grace for queue files that a periodic scan finds unannounced (a
commit may still be under way) is unit-tested (test_qtable.c): the scan
comes once a minute."""

import os
import time

from queuefill import make_id
from smtpraw import Smtp, message, queue_id

SENDER = "x@example.org"
RCPT = "demo@example.test"


def data_of(qid, subject):
    return ("Received: from x (x [127.0.0.1]) by mx.example.test with "
            "ESMTP id %s\r\nFrom: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\n"
            "body\r\n" % (qid, SENDER, RCPT, subject)).encode()


def put(m, i, subject, size_delta=0, data=True, ended=True, age=60):
    """Envelope format 2 for a message of subject; its L record says
    the data's size plus size_delta; data=False leaves no data file,
    ended=False no end record (a torn envelope).  The queue file's mtime
    is age seconds ago.  Returns the queue id."""
    now = time.time()
    qid = make_id(now - 600, i)
    body = data_of(qid, subject)
    if data:
        with open(os.path.join(m.spool, "data", qid), "wb") as f:
            f.write(body)
    env = ("V 2\nI %s\nT %d\nS %s\nR %s\nL %d\n%s"
           % (qid, int(now) - 600, SENDER, RCPT, len(body) + size_delta,
              "E\n" if ended else ""))
    path = os.path.join(m.spool, "queue", qid)
    with open(path, "w") as f:
        f.write(env)
    os.utime(path, (now - age, now - age))
    return qid


def subjects(m):
    return sorted(x.split(b"Subject: ")[1].split(b"\n")[0].decode()
                  for x in m.read_messages("demo"))


def test_commit_cut_short_is_set_aside(mta):
    m = mta()
    m.stop()
    whole = put(m, 0, "whole")
    short = put(m, 1, "short", size_delta=7)
    long_ = put(m, 2, "long", size_delta=-1)
    gone = put(m, 3, "gone", data=False)
    torn = put(m, 4, "torn", ended=False)
    m.start()
    m.wait_for_delivery("demo", 1)
    for qid in (short, long_, gone, torn):
        ev = m.wait_event("corrupt", id=qid)[0]
        assert ev["action"] == "moved-to-corrupt", ev["_line"]
        m.wait_log(lambda q=qid: os.path.exists(
            os.path.join(m.spool, "corrupt", q)), timeout=10)
    for qid in (short, long_):
        reason = m.events("corrupt", id=qid)[0]["reason"]
        assert "its envelope says" in reason and \
            "a commit cut short" in reason, reason
    assert "is missing" in m.events("corrupt", id=gone)[0]["reason"]
    m.wait_event("removed", id=whole)
    time.sleep(1)
    assert subjects(m) == ["whole"]
    # Set aside, never deleted: the data stays for the operator.
    for qid in (short, long_):
        assert os.path.exists(os.path.join(m.spool, "data", qid))


def test_rename_first_delivers_and_records_the_size(mta):
    m = mta(commit_order="rename-first")
    # smtpd's and the qmgr's (it commits bounces and forwarded copies).
    assert len(m.events("spool-commit", order="rename-first",
                        reason="queue.commit_order")) == 2, m.log()
    # A recipient that defers keeps the queue file for a look.
    m.block_mailbox("demo")
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail(SENDER)
        s.rcpt(RCPT)
        s.expect("DATA", 354)
        s.send(message(subject="kept"))
        qid = queue_id(s.reply())
    m.wait_event("deferred", id=qid)
    with open(os.path.join(m.spool, "queue", qid)) as f:
        env = f.read()
    size = os.path.getsize(os.path.join(m.spool, "data", qid))
    assert env.startswith("V 2\n"), env
    assert "\nL %d\nE\n" % size in env, (size, env)
    m.unblock_mailbox("demo")
    m.cli("queue", "flush")
    m.wait_event("removed", id=qid, timeout=15)
    assert subjects(m) == ["kept"]


def test_auto_says_which_and_why(mta):
    m = mta()
    got = m.events("spool-commit")
    assert len(got) == 2, got          # smtpd's and the qmgr's
    for e in got:
        assert e["order"] in ("rename-first", "fsync-first"), e["_line"]
        assert e["reason"] and e["reason"] != "queue.commit_order", \
            e["_line"]
    assert got[0]["order"] == got[1]["order"]
