"""Files a crash left in a Maildir's tmp/ (ours, or a mail reader's that
saves through tmp/) are removed once they are 36 hours old, the Maildir
convention: by the delivery agent, before its first delivery to that
mailbox, then at most once every 6 hours per mailbox.

Old means an old ctime, never an old mtime: Dovecot and offlineimap set
a tmp file's mtime to the message's date with utime() before renaming
it into new/ or cur/, so a file being saved right now can look 40 hours
old by its mtime.  Such a file must survive the sweep.  A test cannot
date a ctime back, so the removal of files whose ctime is 36 hours old
(each logged as event=maildir-tmp-removed file="..." age=SECONDS) is
shown by the unit tests, on a clock they move (tests/unit/queue/
test_maildir.c: test_tmp_sweep, test_tmp_sweep_boundary)."""

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
    """A file at path, its mtime dated age seconds back (utime, as a
    mail reader does); its ctime is now, whatever we do."""
    with open(path, "w") as f:
        f.write("half a message\n")
    when = time.time() - age
    os.utime(path, (when, when))


def test_file_being_saved_survives_the_sweep(mta):
    m = mta(start=False)
    box = m.maildir("demo")
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(box, sub))
    tmp = os.path.join(box, "tmp")
    saving = os.path.join(tmp, "1700000000.M1P99.reader")
    put(saving, 40 * 3600)          # dated back past the 36 hours
    os.makedirs(os.path.join(tmp, "a-folder"))
    old = time.time() - 2 * STALE
    os.utime(os.path.join(tmp, "a-folder"), (old, old))
    m.start()

    # The first delivery to the mailbox sweeps its tmp/ before it
    # writes: the file the reader is saving is still there after it.
    qid = send(m)
    m.wait_event("removed", id=qid)
    assert len(m.messages("demo")) == 1
    assert os.path.exists(saving)
    assert os.path.isdir(os.path.join(tmp, "a-folder"))
    assert m.events("maildir-tmp-removed") == [], m.log()[-2000:]
