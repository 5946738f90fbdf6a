"""A 250 after DATA is a promise: the message is on disk (write, fsync,
rename, fsync dir) and survives a crash of every process, and it is
delivered exactly once.  A mailbox that cannot be written is a temporary
failure: the message waits in the queue, across restarts, and goes out on
a later retry (queue.retry_min = 1 s here).

"Exactly once" is checked after the message is gone from the queue
(event=removed: its envelope is unlinked, nothing can deliver it again),
never after a sleep, which a slow retry could outlast."""

import os
import signal

from mtaproc import proc_uid, wait_until
from smtpraw import Smtp, message, queue_id


def send(m, rcpt="demo@example.test", subject="durable"):
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("x@example.org")
        s.rcpt(rcpt)
        s.expect("DATA", 354)
        s.send(message(subject=subject, to=rcpt))
        qid = queue_id(s.reply())
        s.expect("QUIT", 221, "2.0.0")
    return qid


def wait_removed(m, *qids, timeout=15):
    """Waits until each message is finished and its queue file removed:
    from then on no copy of it can be made.  Its data file goes a moment
    later, once the removal is durable (a batch every 50 ms)."""
    for qid in qids:
        m.wait_event("removed", id=qid, timeout=timeout)
    assert not any(qid in f for f in m.spool_files() for qid in qids
                   if "/data/" not in f)
    m.wait_log(lambda: not any(qid in f for f in m.spool_files()
                               for qid in qids), timeout=5)


def test_children_are_named(mta):
    m = mta()
    m.child("decorum-smtpd")
    m.child("decorum-qmgr")


def test_kill9_after_250_loses_nothing(mta):
    m = mta()
    qmgr = m.child("decorum-qmgr")
    os.kill(qmgr, signal.SIGSTOP)
    qid = send(m)
    # Held back from delivery, the message must already be in the spool.
    assert m.messages("demo") == []
    files = m.spool_files()
    assert files, "250 given but nothing in the spool"
    def names_id(path):
        with open(path, "rb") as f:
            return qid in path or qid.encode() in f.read()
    assert any(names_id(f) for f in files), (qid, files)
    m.kill9()
    assert m.messages("demo") == []
    m.start()
    msgs = m.wait_for_delivery("demo")
    assert len(msgs) == 1
    assert ("id %s" % qid).encode() in msgs[0]
    # Exactly once: the message is gone, with one copy made.
    wait_removed(m, qid)
    assert len(m.messages("demo")) == 1


def test_kill9_with_several_messages(mta):
    m = mta()
    qmgr = m.child("decorum-qmgr")
    os.kill(qmgr, signal.SIGSTOP)
    ids = [send(m, subject="m%d" % i) for i in range(5)]
    assert len(set(ids)) == 5
    m.kill9()
    m.start()
    m.wait_for_delivery("demo", 5)
    wait_removed(m, *ids)
    msgs = m.read_messages("demo")
    assert len(msgs) == 5
    for qid in ids:
        assert sum(("id %s" % qid).encode() in x for x in msgs) == 1


def test_sigterm_with_queued_mail_then_restart(mta):
    m = mta()
    qmgr = m.child("decorum-qmgr")
    os.kill(qmgr, signal.SIGSTOP)
    qid = send(m)
    assert m.stop() == 0          # stop() sends SIGCONT first
    m.start()
    msgs = m.wait_for_delivery("demo")
    wait_removed(m, qid)
    assert len(m.messages("demo")) == 1 == len(msgs)


def test_unwritable_mailbox_retried(mta):
    m = mta()
    m.block_mailbox("demo")
    qid = send(m)
    m.wait_log(r"event=deferred\b.*\bid=%s\b" % qid)
    # Still queued, nothing bounced to the sender.
    assert m.spool_files()
    m.unblock_mailbox("demo")
    msgs = m.wait_for_delivery("demo", timeout=15)
    assert len(msgs) == 1
    m.wait_log(r"event=delivered\b.*\bid=%s\b" % qid)


def test_deferred_survives_restart(mta):
    m = mta()
    m.block_mailbox("demo")
    qid = send(m)
    m.wait_log(r"event=deferred\b.*\bid=%s\b" % qid)
    assert m.stop() == 0
    m.unblock_mailbox("demo")
    assert m.messages("demo") == []
    m.start()
    msgs = m.wait_for_delivery("demo", timeout=15)
    assert len(msgs) == 1
    assert ("id %s" % qid).encode() in msgs[0]
    wait_removed(m, qid)
    assert len(m.messages("demo")) == 1


def test_deferred_fixed_after_restart(mta):
    # The scenario (b): stop while deferred, restart, then fix.
    m = mta()
    m.block_mailbox("demo")
    qid = send(m)
    m.wait_log(r"event=deferred\b.*\bid=%s\b" % qid)
    assert m.stop() == 0
    m.start()
    m.unblock_mailbox("demo")
    m.wait_for_delivery("demo", timeout=15)
    wait_removed(m, qid)
    assert len(m.messages("demo")) == 1


def test_one_blocked_recipient_does_not_hold_the_others(mta):
    # Per-recipient status: alice is delivered at once, demo later, and
    # alice does not get a second copy when demo's retry succeeds.
    m = mta()
    m.block_mailbox("demo")
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.rcpt("alice@example.test")
        s.expect("DATA", 354)
        s.send(message())
        qid = queue_id(s.reply())
    m.wait_for_delivery("alice")
    m.wait_log(r"event=deferred\b.*\bid=%s\b" % qid)
    m.unblock_mailbox("demo")
    m.wait_for_delivery("demo", timeout=15)
    wait_removed(m, qid)
    assert len(m.messages("alice")) == 1
    assert len(m.messages("demo")) == 1


def test_privilege_drop(mta):
    # Master keeps root (ports, supervision); the workers run as "nobody".
    # As an installer would, the operator gives the spool, state and
    # mailboxes to that account.
    m = mta(start=False, user="nobody")
    for d in (m.spool, m.state, m.mailboxes):
        os.chown(d, 65534, 65534)
    m.start()
    smtpd = m.child("decorum-smtpd")
    qmgr = m.child("decorum-qmgr")
    wait_until(lambda: proc_uid(smtpd) == 65534, 5, what="smtpd as nobody")
    wait_until(lambda: proc_uid(qmgr) == 65534, 5, what="qmgr as nobody")
    send(m)
    m.wait_for_delivery("demo")
    assert m.stop() == 0
