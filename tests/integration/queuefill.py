"""Fill a stopped daemon's spool with many queued messages at once,
written directly in the format of docs/queue.md (queue/<id> envelope
and status records, data/<id> message), so a test can start the daemon
on a queue of thousands in a second instead of submitting each.

Each message has one recipient and one W record: deferred until
next_try (a unix time), as a message the queue manager deferred before
a restart would be; or, next_try None, none: never tried, due at once.
The queue file's mtime is set to mtime (default: its arrival time, as a
freshly written file would show).  Message i's data names its queue id
(in its Received line) and i (its Subject), so a delivered copy says
which message it is.
"""

import os
import sys
import time

# The spool format is written in one place, the benchmark's filler.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "bench"))
from spoolfill import b62, folders, write_message  # noqa: E402


def make_id(created, i):
    """A valid queue id (docs/queue.md): 24 characters of base62 that
    sort by (created, i), like ids made by the daemon."""
    return (b62(int(created), 6) + b62(i // 1000, 4) + "fill00"
            + b62(i % 1000, 3) + b62(i, 5))


def fill(spool, n, rcpt_of, next_try, created=None, mtime=None,
         sender="alice@example.test"):
    """Writes n messages; rcpt_of(i) gives message i's recipient.
    Returns their ids in order."""
    created = int(created if created is not None else time.time() - 600)
    qdir, ddir = folders(spool)
    status = "" if next_try is None else \
        "W 0 %d 4.4.1 connection refused\n" % next_try
    ids = []
    for i in range(n):
        qid = make_id(created, i)
        rcpt = rcpt_of(i)
        data = ("Received: from x (x [127.0.0.1]) by mx.example.test "
                "with ESMTP id %s\r\nFrom: <%s>\r\nTo: <%s>\r\n"
                "Subject: fill %d\r\n\r\nbody %d\r\n"
                % (qid, sender, rcpt, i, i)).encode()
        write_message(qdir, ddir, qid, sender, rcpt, created, data, status,
                      created if mtime is None else mtime)
        ids.append(qid)
    return ids
