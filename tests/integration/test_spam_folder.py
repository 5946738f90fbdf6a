"""Mail judged unwanted (issue 11, item 4, the delivery side): accepted
mail that a scanner judged spam is never bounced but filed.  smtpd marks
it with the queue file's J record; until it does, these tests queue such
a message the way a crash would leave one (docs/queue.md: data/<id>,
then queue/<id> with V 1 ... E) and ask for a `decorum queue flush`.

With `spam = { folder = ".Junk"; }` a Maildir copy lands in the
mailbox's Maildir++ folder (<box>/.Junk/new, the folder made with
tmp/ new/ cur/ and an empty maildirfolder), the inbox stays empty, and
nothing from <> appears anywhere.  Without the group it lands in the
inbox.  A remote copy of the same message is relayed unchanged, and a
forwarded copy keeps the mark.  The group's folder is checked by
check-config with FILE:LINE, both sides of each rule."""

import os
import secrets
import stat
import string
import time

import pytest

from conftest import add_mx, compose
from mtaproc import DOMAIN, wait_until
from test_check_config import check_error, daemon_refuses, set_line

SENDER = "spammer@example.org"
SPAM = 'spam = { folder = ".Junk"; };\n'
ALNUM = string.ascii_letters + string.digits


def queue_message(m, rcpts, junk=True, sender=SENDER, msg=None):
    """A committed message in m's spool, as docs/queue.md lays it out:
    data first, then the queue file (renamed into queue/, so the queue
    manager never sees half of it).  Returns (queue id, data)."""
    # The queue manager's socket comes up a moment after the listeners,
    # the spool's folders before it.
    wait_until(lambda: os.path.exists(os.path.join(m.spool, "qmgr.sock")),
               10, what="qmgr.sock")
    qid = "0J" + "".join(secrets.choice(ALNUM) for _ in range(22))
    data = msg or compose(subject="cheap pills", sender=sender, to=rcpts[0],
                          extra=b"X-Spam: yes\r\n")
    with open(os.path.join(m.spool, "data", qid), "wb") as f:
        f.write(data)
    env = "V 1\nI %s\nT %d\nS %s\n%s" % (qid, int(time.time()), sender,
                                         "J\n" if junk else "")
    env += "".join("R %s\n" % r for r in rcpts) + "E\n"
    tmp = os.path.join(m.spool, "tmp", qid + ".env")
    with open(tmp, "w") as f:
        f.write(env)
    os.rename(tmp, os.path.join(m.spool, "queue", qid))
    m.flush()
    return qid, data


def files_in(path):
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []


def wait_files(path, n, m):
    try:
        wait_until(lambda: len(files_in(path)) >= n, 10,
                   what="%d file(s) in %s" % (n, path))
    except AssertionError as e:
        raise AssertionError("%s; log:\n%s" % (e, m.log()[-3000:]))
    return files_in(path)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def assert_no_bounce(m, qid):
    """Finished without a report: removed, no bounce event, no mail from
    <> in the postmaster's or the sender's way, an empty queue."""
    m.wait_event("removed", id=qid)
    assert m.events("bounce", id=qid) == []
    assert m.events("failed", id=qid) == []
    for user in ("admin", "bob", "alice"):
        for text in m.read_messages(user):
            assert b"Return-Path: <>" not in text, text[:300]
    assert files_in(os.path.join(m.spool, "queue")) == []
    assert files_in(os.path.join(m.spool, "failed")) == []


def test_junk_goes_to_the_spam_folder(mta):
    m = mta(extra_conf=SPAM)
    qid, data = queue_message(m, ["bob@" + DOMAIN])
    folder = os.path.join(m.maildir("bob"), ".Junk")
    names = wait_files(os.path.join(folder, "new"), 1, m)
    assert len(names) == 1, names
    got = read(os.path.join(folder, "new", names[0]))
    assert got.startswith(b"Return-Path: <%s>\nDelivered-To: bob@%s\n"
                          % (SENDER.encode(), DOMAIN.encode())), got[:200]
    assert got.endswith(data.replace(b"\r\n", b"\n")), got
    # The folder is a Maildir++ folder, made as the mailbox is.
    for sub in ("tmp", "new", "cur"):
        st = os.lstat(os.path.join(folder, sub))
        assert stat.S_ISDIR(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o700
    st = os.lstat(folder)
    assert stat.S_IMODE(st.st_mode) == 0o700
    st = os.lstat(os.path.join(folder, "maildirfolder"))
    assert stat.S_ISREG(st.st_mode) and st.st_size == 0
    assert stat.S_IMODE(st.st_mode) == 0o600
    # The inbox exists, and is empty.
    assert os.path.isdir(os.path.join(m.maildir("bob"), "new"))
    assert m.messages("bob") == []
    ev = m.wait_event("delivered", id=qid, rcpt="<bob@%s>" % DOMAIN)[0]
    assert ev["folder"] == ".Junk", ev["_line"]
    assert_no_bounce(m, qid)

    # A second one goes in beside it; mail not judged stays in the inbox.
    qid2, _ = queue_message(m, ["bob@" + DOMAIN])
    wait_files(os.path.join(folder, "new"), 2, m)
    m.wait_event("removed", id=qid2)
    qid3, _ = queue_message(m, ["bob@" + DOMAIN], junk=False)
    m.wait_for_delivery("bob")
    ev = m.wait_event("delivered", id=qid3)[0]
    assert "folder" not in ev, ev["_line"]
    assert len(files_in(os.path.join(folder, "new"))) == 2


def test_junk_without_spam_group_goes_to_the_inbox(mta):
    m = mta()
    qid, data = queue_message(m, ["bob@" + DOMAIN])
    got = m.wait_for_delivery("bob")
    assert len(got) == 1 and got[0].endswith(data.replace(b"\r\n", b"\n"))
    assert not os.path.exists(os.path.join(m.maildir("bob"), ".Junk"))
    assert_no_bounce(m, qid)


def test_empty_folder_is_the_inbox(mta):
    m = mta(extra_conf='spam = { folder = ""; };\n')
    qid, _ = queue_message(m, ["bob@" + DOMAIN])
    m.wait_for_delivery("bob")
    assert [n for n in os.listdir(m.maildir("bob"))
            if n.startswith(".")] == []
    assert_no_bounce(m, qid)


def test_junk_local_and_relayed_copy(outbound_mta, remote_mx, dns):
    """Two recipients: the local copy is filed in .Junk, the remote copy
    is relayed unchanged (no folder over SMTP: the header travels)."""
    sink = remote_mx("127.0.0.21")
    add_mx(dns, "remote.test", ["127.0.0.21"])
    m = outbound_mta(conf=SPAM)
    qid, data = queue_message(m, ["bob@" + DOMAIN, "carol@remote.test"])
    t = sink.wait_delivered(1, log=m.log)[0]
    assert t.sender == SENDER, t.mail
    assert t.accepted == ["carol@remote.test"], t.rcpts
    assert t.data == data, t.data[:300]
    wait_files(os.path.join(m.maildir("bob"), ".Junk", "new"), 1, m)
    assert m.messages("bob") == []
    assert_no_bounce(m, qid)
    assert all(x.sender != "" for x in sink.transactions())


def test_junk_is_no_bounce_when_the_folder_is_a_link(mta, workdir):
    """A .Junk that is a symbolic link is not followed: the copy waits
    (4.2.0), never bounces, nothing is written through the link; once
    the link is gone the retry files it."""
    m = mta(extra_conf=SPAM, retry_min=1, retry_max=2)
    elsewhere = os.path.join(workdir, "elsewhere")
    os.makedirs(elsewhere)
    os.makedirs(os.path.dirname(m.maildir("bob")), exist_ok=True)
    os.makedirs(m.maildir("bob"), 0o700)
    os.symlink(elsewhere, os.path.join(m.maildir("bob"), ".Junk"))
    qid, _ = queue_message(m, ["bob@" + DOMAIN])
    ev = m.wait_event("deferred", id=qid)[0]
    assert ev["code"] == "4.2.0", ev["_line"]
    assert "create mailbox folder" in ev["reason"], ev["_line"]
    assert os.listdir(elsewhere) == []
    assert m.events("bounce", id=qid) == []
    os.unlink(os.path.join(m.maildir("bob"), ".Junk"))
    m.flush()
    wait_files(os.path.join(m.maildir("bob"), ".Junk", "new"), 1, m)
    assert os.listdir(elsewhere) == []
    assert_no_bounce(m, qid)


def test_junk_that_fails_makes_no_report(mta):
    """A recipient of a J message that fails for good (no such user)
    makes no DSN, to the sender or the postmaster: the message is kept
    in failed/ (bounce-skipped, nothing lost); its other copy is filed.
    The same failure without J is reported, the control."""
    m = mta(extra_conf=SPAM)
    qid, _ = queue_message(m, ["nosuch@" + DOMAIN, "bob@" + DOMAIN])
    ev = m.wait_event("bounce-skipped", id=qid)[0]
    assert ev["reason"] == "judged unwanted: no report", ev["_line"]
    m.wait_event("failed", id=qid, rcpt="<nosuch@%s>" % DOMAIN)
    assert files_in(os.path.join(m.spool, "failed")) == [qid]
    assert m.events("bounce", id=qid) == []
    wait_files(os.path.join(m.maildir("bob"), ".Junk", "new"), 1, m)
    assert files_in(os.path.join(m.spool, "queue")) == []
    r = m.cli("queue", "show", qid)
    assert "junk: yes" in r.stdout.splitlines(), r.stdout

    ham, _ = queue_message(m, ["nosuch@" + DOMAIN], junk=False,
                           sender="alice@" + DOMAIN)
    m.wait_event("bounce", id=ham)
    m.wait_for_delivery("alice")


def test_queue_show_says_junk(mta):
    m = mta(start=False)
    for sub in ("queue", "data", "tmp"):
        os.makedirs(os.path.join(m.spool, sub), 0o700, exist_ok=True)
    ids = {}
    for junk in (True, False):
        qid = "0S%dabcdefghijklmnopqrstu" % junk
        with open(os.path.join(m.spool, "data", qid), "wb") as f:
            f.write(compose())
        with open(os.path.join(m.spool, "queue", qid), "w") as f:
            f.write("V 1\nI %s\nT 1700000000\nS %s\n%sR bob@%s\nE\n"
                    % (qid, SENDER, "J\n" if junk else "", DOMAIN))
        ids[junk] = qid
    for junk, qid in ids.items():
        r = m.cli("queue", "show", qid)
        assert r.returncode == 0, (r.stdout, r.stderr)
        want = "junk: %s" % ("yes" if junk else "no")
        assert want in r.stdout.splitlines(), r.stdout


def test_forwarded_copy_keeps_the_mark(outbound_mta, remote_mx, dns):
    """An alias forwarding to a foreign address: the forwarded copy is
    queued with J (seen while the far end greylists it), then relayed
    unchanged."""
    sink = remote_mx("127.0.0.21", greylist=True)
    add_mx(dns, "remote.test", ["127.0.0.21"])
    m = outbound_mta(conf=SPAM, aliases=[("fwd", ["a@remote.test"])])
    qid, data = queue_message(m, ["fwd@" + DOMAIN])
    fid = m.wait_event("forwarded", id=qid)[0]["forward_id"]
    m.wait_event("deferred", id=fid)
    r = m.cli("queue", "show", fid)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "junk: yes" in r.stdout.splitlines(), r.stdout
    m.wait_event("removed", id=qid)
    m.flush()
    t = sink.wait_delivered(1, log=m.log)[0]
    assert t.data.endswith(data), t.data[:300]
    m.wait_event("removed", id=fid)


# -- the spam group in check-config --------------------------------------

@pytest.mark.parametrize("folder", [
    ".Junk", ".J", ".Junk.Old", ".a-b_c.D9", "." + "x" * 63,
    ".a." + "b" * 61, ""])
def test_folder_valid(mta, folder):
    m = mta(start=False)
    set_line(m, "spam =", 'spam = { folder = "%s"; };' % folder)
    r = m.cli("check-config")
    assert r.returncode == 0, (folder, r.stderr)


@pytest.mark.parametrize("folder,needle", [
    ("Junk", "must start with '.'"),
    (".", "must name a folder after the '.'"),
    ("..", "must not hold \"..\""),
    (".Junk..Old", "must not hold \"..\""),
    (".Junk.", "must not end with '.'"),
    ("." + "x" * 64, "at most 64 characters"),
    (".a/b", "only letters, digits"),
    ("./Junk", "only letters, digits"),
    (".Ju nk", "only letters, digits"),
    (".Jünk", "only letters, digits"),
    ("/tmp/.Junk", "must start with '.'"),
])
def test_folder_invalid(mta, folder, needle):
    m = mta(start=False)
    n = set_line(m, "spam =", 'spam = { folder = "%s"; };' % folder)
    msg = check_error(m, n, "spam.folder: " + needle)
    assert msg.startswith("%s:%d: spam.folder: " % (m.conf, n)), msg


def test_folder_errors_daemon_refuses(mta):
    m = mta(start=False)
    n = set_line(m, "spam =", 'spam = { folder = "Junk"; };')
    msg = check_error(m, n, "spam.folder: must start with '.'")
    daemon_refuses(m, msg)


@pytest.mark.parametrize("text,needle", [
    ('spam = { folder = 1; };', "spam.folder: must be a string"),
    ('spam = { folders = ".Junk"; };', 'unknown setting "spam.folders"'),
    ('spam = ".Junk";', "spam: must be a group"),
])
def test_spam_group_shape(mta, text, needle):
    m = mta(start=False)
    n = set_line(m, "spam =", text)
    check_error(m, n, needle)


def test_empty_spam_group_is_the_inbox(mta):
    m = mta(start=False, extra_conf="spam = { };\n")
    r = m.cli("check-config")
    assert r.returncode == 0, r.stderr
    m.start()
    qid, _ = queue_message(m, ["bob@" + DOMAIN])
    m.wait_for_delivery("bob")
    assert_no_bounce(m, qid)
