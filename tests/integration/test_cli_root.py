"""The spool commands run as root (review of issue 8): `decorum queue`,
`mailq` and `sendmail` become the daemon's account (`user`) before they
touch the spool, as Postfix's postsuper works as the mail owner.

- The spool is that account's: a worker broken into can put a symbolic
  link where hold/ was, to /etc say.  Root would then list /etc's files
  as held messages and `queue delete shadow` would unlink /etc/shadow.
  Now every spool folder is opened without following links, by the
  spool's owner: the command refuses with a clear message and touches
  nothing outside the spool.
- What the commands make is the daemon's: hold/ made by `queue hold`
  (it was root's, 0700, which the daemon could not read), and the queue
  file of a message `sendmail` queued (root's 0600, which the daemon
  could not load: the message never went).

These tests need root (the suite runs as root).
"""

import os
import pwd

import pytest

from conftest import add_mx, submit

NOBODY = pwd.getpwnam("nobody").pw_uid
SENDER = "alice@example.test"
VICTIM_ID = "0Victim"               # a valid queue id (base62 only)


@pytest.fixture(autouse=True)
def needs_root():
    assert os.geteuid() == 0, "these tests need root (the suite runs as root)"


def owned_by_nobody(path):
    return os.lstat(path).st_uid == NOBODY


def linked_hold(m, workdir):
    """spool/hold replaced by the daemon's account with a link to a
    root-owned folder outside the spool, holding a file named shadow and
    a well-formed queue file."""
    outside = os.path.join(workdir, "etc")
    os.makedirs(outside)
    with open(os.path.join(outside, "shadow"), "w") as f:
        f.write("root:secret:19000::::::\n")
    with open(os.path.join(outside, VICTIM_ID), "w") as f:
        f.write("V 1\nI %s\nT 1700000000\nS root@example.org\n"
                "R someone@example.org\nE\n" % VICTIM_ID)
    hold = os.path.join(m.spool, "hold")
    if os.path.isdir(hold) and not os.path.islink(hold):
        os.rmdir(hold)
    os.symlink(outside, hold)
    os.lchown(hold, NOBODY, -1)
    return outside


def test_queue_refuses_a_linked_hold(outbound_mta, remote_mx, dns,
                                     workdir):
    mx = remote_mx("127.0.0.21",
                   rcpt_replies={"u@later.example": "451 4.7.1 later"})
    add_mx(dns, "later.example", ["127.0.0.21"])
    m = outbound_mta(user="nobody", retry_min=60, retry_max=60)
    qid, _ = submit(m, SENDER, ["u@later.example"])
    m.wait_event("deferred", id=qid)
    outside = linked_hold(m, workdir)

    r = m.cli("queue", "delete", "shadow")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "hold: a symbolic link, not a folder: refused" in r.stderr, \
        r.stderr
    assert os.path.exists(os.path.join(outside, "shadow"))

    r = m.cli("queue", "list")
    assert VICTIM_ID not in r.stdout, r.stdout
    assert qid in r.stdout, r.stdout          # the real queue still lists
    assert "hold: a symbolic link, not a folder: refused" in r.stderr, \
        r.stderr
    r = m.cli("mailq")
    assert VICTIM_ID not in r.stdout, r.stdout

    r = m.cli("queue", "show", VICTIM_ID)
    assert r.returncode == 1 and "root@example.org" not in r.stdout, r
    assert "symbolic link" in r.stderr, r.stderr

    r = m.cli("queue", "hold", qid)
    assert r.returncode == 1 and "symbolic link" in r.stderr, r
    assert os.path.exists(os.path.join(m.spool, "queue", qid))
    # Nothing outside the spool changed, and the link is where it was.
    assert sorted(os.listdir(outside)) == sorted(["shadow", VICTIM_ID])
    assert os.path.islink(os.path.join(m.spool, "hold"))
    assert mx.transactions()


def test_queue_hold_as_root_leaves_hold_to_the_daemon(outbound_mta,
                                                      remote_mx, dns):
    mx = remote_mx("127.0.0.21",
                   rcpt_replies={"u@later.example": "451 4.7.1 later"})
    add_mx(dns, "later.example", ["127.0.0.21"])
    m = outbound_mta(user="nobody", retry_min=60, retry_max=60)
    qid, msg = submit(m, SENDER, ["u@later.example"])
    m.wait_event("deferred", id=qid)
    r = m.cli("queue", "hold", qid)
    assert r.returncode == 0, (r.stdout, r.stderr)
    hold = os.path.join(m.spool, "hold")
    for path in (hold, os.path.join(hold, qid)):
        assert owned_by_nobody(path), (path, os.lstat(path))
    assert sorted(os.listdir(hold)) == [qid]    # one file per message
    # Released, and the daemon (as nobody) can load and send it.
    mx.rcpt_replies = {}
    r = m.cli("queue", "release", qid)
    assert r.returncode == 0, (r.stdout, r.stderr)
    m.flush()
    t = mx.wait_delivered(1, timeout=20, log=m.log)[0]
    assert t.data.endswith(msg)
    m.wait_event("removed", id=qid)
    assert m.events("spool-error") == [], m.log()[-2000:]


def test_sendmail_as_root_queues_for_the_daemon(mta):
    m = mta(user="nobody")
    r = m.cli("sendmail", "demo@example.test",
              input="Subject: from root's cron\n\nnightly\n")
    assert r.returncode == 0, (r.stdout, r.stderr)
    msg = m.wait_for_delivery("demo")[0]
    assert b"nightly" in msg
    # The caller is named as it was, before becoming the daemon's user.
    assert b"from userid 0" in msg and b"<root@" in msg, msg[:600]
    assert m.events("spool-error") == [], m.log()[-2000:]
    # Nothing in the spool is root's.
    for path in m.spool_files() + [os.path.join(m.spool, d)
                                   for d in os.listdir(m.spool)]:
        assert owned_by_nobody(path), (path, os.lstat(path))
