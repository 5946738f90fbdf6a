"""Files a crash left in a Maildir's tmp/ (ours, or a mail reader's that
saves through tmp/) are removed once they are 36 hours old, the Maildir
convention: by the delivery agent, before its first delivery to that
mailbox, then at most once every 6 hours per mailbox.  Each removal is
logged (event=maildir-tmp-removed file="..." age=SECONDS); younger files
and folders stay.  The files are backdated with os.utime."""

import os
import time

from smtpraw import Smtp, message, queue_id

STALE = 36 * 3600


def send(m, rcpt="demo@example.test"):
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("x@example.org")
        s.rcpt(rcpt)
        s.expect("DATA", 354)
        s.send(message(subject="tmp sweep", to=rcpt))
        qid = queue_id(s.reply())
        s.expect("QUIT", 221)
    return qid


def put(path, age):
    """A file at path, last modified age seconds ago."""
    with open(path, "w") as f:
        f.write("half a message\n")
    when = time.time() - age
    os.utime(path, (when, when))


def test_stale_tmp_files_removed_before_delivery(mta):
    m = mta(start=False)
    box = m.maildir("demo")
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(box, sub))
    tmp = os.path.join(box, "tmp")
    stale = os.path.join(tmp, "1700000000.M1P99.crashed")
    young = os.path.join(tmp, "1700000000.M2P99.writing")
    put(stale, STALE + 60)
    put(young, STALE - 60)          # the other side of the boundary
    os.makedirs(os.path.join(tmp, "a-folder"))
    old = time.time() - 2 * STALE
    os.utime(os.path.join(tmp, "a-folder"), (old, old))
    m.start()

    qid = send(m)
    m.wait_event("removed", id=qid)
    assert len(m.messages("demo")) == 1
    ev = m.events("maildir-tmp-removed")
    assert len(ev) == 1, ev
    assert ev[0]["file"] == stale, ev[0]["_line"]
    assert STALE + 60 <= int(ev[0]["age"]) < STALE + 600, ev[0]["_line"]
    assert not os.path.exists(stale)
    assert os.path.exists(young)
    assert os.path.isdir(os.path.join(tmp, "a-folder"))

    # The next delivery, within the interval, does not look again.
    later = os.path.join(tmp, "1700000000.M3P99.crashed")
    put(later, STALE + 60)
    qid = send(m)
    m.wait_event("removed", id=qid)
    assert len(m.messages("demo")) == 2
    assert os.path.exists(later)
    assert len(m.events("maildir-tmp-removed")) == 1
