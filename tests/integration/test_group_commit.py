"""Group commit under a crash (docs/queue.md, "Commit" and the crash
table): 20 sessions end their DATA at the same moment, round after round,
so their commits share directory fsyncs, and the whole daemon is killed
with SIGKILL right as one round's commits are in flight.

Every message that got its 250 must be in the queue (envelope and data)
at the moment of the kill, and delivered after the restart: exactly once
when nothing was being delivered, at most twice when deliveries were in
flight too (the one copy whose record a crash can catch, at-least-once),
and then removed from the queue.  Messages whose 250 never came may or
may not be delivered: the client would send them again."""

import os
import signal
import socket
import threading

from smtpraw import ConnectionClosed, Smtp, message, queue_id

N_SESSIONS = 20
# Rounds that complete before the round the kill lands in.
ROUNDS_BEFORE_KILL = 3


class Load:
    """N_SESSIONS sessions, one message a round each; the DATA ends of a
    round are sent together, after a barrier the test thread passes too,
    so the test knows when a round's commits are under way."""

    def __init__(self, m):
        self.m = m
        self.barrier = threading.Barrier(N_SESSIONS + 1)
        self.lock = threading.Lock()
        self.acked = []
        self.errors = []
        self.ended = []
        self.threads = []

    def connect(self):
        """The sessions, opened one after the other (a burst of 20
        connects is not what this test is about)."""
        for i in range(N_SESSIONS):
            s = Smtp(self.m.port, timeout=30)
            s.ehlo()
            self.threads.append(threading.Thread(target=self.session,
                                                 args=(i, s)))

    def session(self, i, s):
        try:
            with s:
                rnd = 0
                while True:
                    s.mail("x@example.org")
                    s.rcpt("demo@example.test")
                    s.expect("DATA", 354)
                    self.barrier.wait(timeout=60)
                    s.send(message(subject="s%dr%d" % (i, rnd)))
                    r = s.reply(timeout=30)
                    if r.code == 250:
                        with self.lock:
                            self.acked.append(queue_id(r))
                    rnd += 1
        except threading.BrokenBarrierError:
            pass                    # the test is over
        except (ConnectionClosed, ConnectionError, socket.timeout,
                OSError) as e:
            self.ended.append(repr(e))  # the daemon was killed
        except AssertionError as e:  # a reply that is neither 250 nor EOF
            self.errors.append(repr(e))
        except BaseException as e:
            self.errors.append("unexpected: %r" % e)
            raise
        finally:
            # A session that ends lets no round complete any more: the
            # test thread must not wait for one.
            self.barrier.abort()

    def run_and_kill(self):
        self.connect()
        for t in self.threads:
            t.start()
        try:
            for _ in range(ROUNDS_BEFORE_KILL):
                self.barrier.wait(timeout=60)
            # All sessions of this round are sending their final dot
            # now: wait for its first 250, then kill amid the others.
            self.barrier.wait(timeout=60)
        except threading.BrokenBarrierError:
            raise AssertionError("a session ended early: %r; log:\n%s"
                                 % (self.errors + self.ended, self.m.log()[-3000:]))
        before = ROUNDS_BEFORE_KILL * N_SESSIONS
        _wait(lambda: len(self.acked) > before, 30)
        self.m.kill9()
        self.barrier.abort()
        for t in self.threads:
            t.join(timeout=60)
        assert not self.errors, self.errors
        with self.lock:
            return list(self.acked)


def _wait(pred, timeout):
    ev = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if pred():
            return
        ev.wait(0.01)
    raise AssertionError("timed out")


def wait_gone(m, qids, timeout=60):
    """Until no envelope of qids is queued: each was finished (its
    event=removed may be lost with the daemon that removed it)."""
    queue = os.path.join(m.spool, "queue")
    try:
        _wait(lambda: not set(qids) & set(os.listdir(queue)), timeout)
    except AssertionError:
        raise AssertionError("still queued: %r; log:\n%s"
                             % (set(qids) & set(os.listdir(queue)),
                                m.log()[-3000:]))


def copies(m, qids):
    msgs = m.read_messages("demo")
    return {q: sum(("id %s" % q).encode() in x for x in msgs) for q in qids}


def test_kill9_while_20_sessions_commit(mta):
    m = mta(max_connections_per_ip=N_SESSIONS)
    os.kill(m.child("decorum-qmgr"), signal.SIGSTOP)
    acked = Load(m).run_and_kill()
    assert len(acked) > ROUNDS_BEFORE_KILL * N_SESSIONS
    assert len(set(acked)) == len(acked)
    # 250 means on disk: in queue/ at the kill, whole (one file: its
    # data, then the envelope that gives the data's size), not delivered.
    have = set(os.listdir(os.path.join(m.spool, "queue")))
    missing = [q for q in acked if q not in have]
    assert not missing, missing
    for q in acked:
        with open(os.path.join(m.spool, "queue", q), "rb") as f:
            text = f.read()
        end = [ln for ln in text.split(b"\n") if ln.startswith(b"E ")][-1]
        size = int(end[2:])
        assert text[size:].startswith(b"V 2\nI %s\n" % q.encode()), q
        assert ("id %s" % q).encode() in text[:size], q
    assert m.messages("demo") == []
    m.start()
    m.wait_for_delivery("demo", len(acked), timeout=60)
    for q in acked:
        m.wait_event("removed", id=q, timeout=60)
    got = copies(m, acked)
    assert all(n == 1 for n in got.values()), got


def test_kill9_while_committing_and_delivering(mta):
    m = mta(max_connections_per_ip=N_SESSIONS)
    acked = Load(m).run_and_kill()
    assert len(acked) > ROUNDS_BEFORE_KILL * N_SESSIONS
    m.start()
    wait_gone(m, acked)
    got = copies(m, acked)
    # At-least-once: a crash between a copy and its durable record
    # repeats that one copy, never more, never none.
    assert all(1 <= n <= 2 for n in got.values()), got
