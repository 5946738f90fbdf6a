"""Fill a Decorum spool quickly, before the daemon starts: committed
messages written straight into <spool>/queue/ in the format of
docs/queue.md (format 2: one file, the data then "V 2 ... E <octets of
data>"; format 1 on request: the envelope in queue/, the data in data/),
as if a crash or an outage had left them there.  The queue manager's start-up scan finds them
all.  Used by bench/tarpit.py (--queued), bench/growth.py and
bench/restart.py; write_message() by tests/integration/queuefill.py too,
so that the format is written in one place.

Ids follow src/queue/queue_id.c: 24 base62 digits (6 of seconds, 4 of
microseconds, 6 of the pid, 3 of a counter, 5 random), here made from
the message's number, so that they are unique within one fill and do not
collide with the ids the daemon makes (another pid).

Limits: the spool layout is the one docs/queue.md gives (flat queue/ and
data/ folders); should it change (hashed subfolders), this must follow.
The data must begin with a header field, as decorumd's always does (a
file that begins with "V 1" is format 1).
"""

import os
import time

# The Message-ID of message <qid> is <qid> followed by this.
MSGID_TAIL = "@spoolfill.bench.test"

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def b62(v, width):
    out = []
    for _ in range(width):
        out.append(B62[v % 62])
        v //= 62
    return "".join(reversed(out))


def queue_id(now, i, pid):
    """The id of message number i (i < 62**7)."""
    return (b62(now, 6) + b62(i % 62 ** 4, 4) + b62(pid, 6) +
            b62(i // 62 ** 4, 3) + b62(i * 7919, 5))


def _write(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def folders(spool):
    """The spool's queue/ and data/ folders, made if missing."""
    out = tuple(os.path.join(spool, sub) for sub in ("queue", "data"))
    for d in out:
        os.makedirs(d, 0o700, exist_ok=True)
    return out


def write_message(qdir, ddir, qid, sender, rcpt, accepted, data, status="",
                  mtime=None, fmt=2):
    """One committed message: queue/<qid>, its data, envelope (accepted:
    a unix time) and then status, records after the end record such as
    a W line (fmt 1: data/<qid>, then queue/<qid> without the data);
    mtime, if given, the queue file's (the qmgr's hint: a deferred
    message's next try).  Returns the octets written."""
    head = (f"V {fmt}\nI {qid}\nT {accepted}\nS {sender}\nC 127.0.0.1\n"
            f"H [127.0.0.1]\nR {rcpt}\n")
    if fmt == 1:
        env = f"{head}E\n{status}".encode()
        _write(os.path.join(ddir, qid), data)
    else:
        env = data + f"{head}E {len(data)}\n{status}".encode()
    _write(os.path.join(qdir, qid), env)
    if mtime is not None:
        os.utime(os.path.join(qdir, qid), (mtime, mtime))
    return len(env) + (len(data) if fmt == 1 else 0)


def preload(spool, count, sender, rcpt, deferred_until=None,
            deferred_text="4.3.0 deferred by the benchmark"):
    """Write count messages for rcpt into the spool.  With deferred_until
    (a unix time) each gets one W record, as after one failed try: not
    due before that time, and that time as its queue file's mtime (the
    queue manager's hint, as decorumd itself leaves it); without it, due
    at once.  Each message's data names its id in its Message-ID header
    (<id>MSGID_TAIL).  Returns the number of bytes written."""
    now = int(time.time())
    accepted = now - 600
    status = f"W 0 {deferred_until} {deferred_text}\n" \
        if deferred_until is not None else ""
    qdir, ddir = folders(spool)
    pid = os.getpid()
    total = 0
    for i in range(count):
        qid = queue_id(now, i, pid)
        # Its id in its Message-ID: a delivered copy names its message
        # (bench/restart.py counts each one by it).
        data = (f"From: <{sender}>\r\nTo: <{rcpt}>\r\n"
                f"Message-ID: <{qid}{MSGID_TAIL}>\r\n"
                f"Subject: queued\r\n\r\nwaiting in the queue\r\n"
                ).encode()
        # As decorumd leaves a message it deferred: the queue file's
        # mtime is its next try (docs/queue.md, lazy loading).
        total += write_message(qdir, ddir, qid, sender, rcpt, accepted,
                               data, status, deferred_until)
    return total
