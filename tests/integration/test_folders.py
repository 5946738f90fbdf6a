"""The folders the root master hands to `user` (issue 8, item 2): spool,
state and mailboxes are walked from "/" without following links, every
parent must be root's and not writable by the user (or by everyone,
unless sticky), and the folder itself is fixed through its descriptor.
The daemon refuses to start with FILE:LINE: KEY PATH: why, before any
port is open, and `check-config` says the same.  Run as root (the
daemon's case); the workers run as "nobody" where it matters.

The attack this stops: with spool under a folder the daemon's user can
write, a compromised child replaces spool by a symbolic link to any
root-owned folder, and the next start used to chown that folder to the
user."""

import os
import stat

import pytest

NOBODY = 65534


@pytest.fixture(autouse=True)
def as_root():
    """The master's folder rules are root's: run as anyone else, these
    tests fail (the suite runs as root; a skip would verify nothing)."""
    assert os.geteuid() == 0, "test_folders.py must run as root"


def conf_line(m, key):
    """The 1-based line of `key = ...` in m's config."""
    with open(m.conf) as f:
        for n, line in enumerate(f, 1):
            if line.startswith(key + " "):
                return n
    raise AssertionError("no %s line in %s" % (key, m.conf))


def relocate(m, **paths):
    """Point spool/state/mailboxes elsewhere and rewrite the config."""
    for key, path in paths.items():
        setattr(m, key, path)
    m.write_config(user=m.user_name)


def mta_as(mta, user="nobody"):
    m = mta(start=False, user=user)
    m.user_name = user
    return m


def expect_refused(m, key, path, why):
    """The daemon exits 1 before any port is open, naming the config
    line of key, the path and why; check-config says the same."""
    want = "%s:%d: %s %s: " % (m.conf, conf_line(m, key), key, path)
    mark = len(m.log())
    with pytest.raises(AssertionError, match="exited with 1 before ready"):
        m.start(timeout=10)
    log = m.log()[mark:]
    lines = [l for l in log.splitlines() if l.startswith(want)]
    assert lines and why in lines[0], (want, why, log[-2000:])
    assert "event=started" not in log
    assert "event=child-started" not in log
    r = m.cli("check-config")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert lines[0] in r.stderr.splitlines(), (lines[0], r.stderr)


def owner_mode(path):
    st = os.lstat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def test_spool_is_a_symlink(mta, workdir):
    m = mta_as(mta)
    victim = os.path.join(workdir, "victim")
    os.mkdir(victim, 0o755)
    before = owner_mode(victim)
    link = os.path.join(m.root, "spool-link")
    os.symlink(victim, link)
    relocate(m, spool=link)
    expect_refused(m, "spool", link, "is a symbolic link (to %s)" % victim)
    assert owner_mode(victim) == before


def test_parent_is_a_symlink(mta, workdir):
    m = mta_as(mta)
    real = os.path.join(workdir, "real")
    os.mkdir(real, 0o755)
    link = os.path.join(m.root, "var")
    os.symlink(real, link)
    relocate(m, state=os.path.join(link, "state"))
    expect_refused(m, "state", os.path.join(link, "state"),
                   "%s is a symbolic link" % link)
    assert os.listdir(real) == [], "created through the link"


def test_parent_owned_by_user(mta):
    m = mta_as(mta)
    box = os.path.join(m.root, "box")
    os.mkdir(box, 0o755)
    os.chown(box, NOBODY, NOBODY)
    relocate(m, spool=os.path.join(box, "spool"))
    expect_refused(m, "spool", os.path.join(box, "spool"),
                   "parent %s is owned by uid %d" % (box, NOBODY))
    assert not os.path.exists(os.path.join(box, "spool"))


def test_parent_writable_by_user_group(mta):
    m = mta_as(mta)
    grp = os.path.join(m.root, "grp")
    os.mkdir(grp)
    os.chown(grp, 0, NOBODY)
    os.chmod(grp, 0o775)
    relocate(m, mailboxes=os.path.join(grp, "mail"))
    expect_refused(m, "mailboxes", os.path.join(grp, "mail"),
                   "parent %s is writable by user nobody" % grp)


def test_parent_writable_by_everyone(mta):
    m = mta_as(mta, user=None)      # no user: other local accounts count
    world = os.path.join(m.root, "world")
    os.mkdir(world)
    os.chmod(world, 0o777)
    relocate(m, spool=os.path.join(world, "spool"))
    expect_refused(m, "spool", os.path.join(world, "spool"),
                   "parent %s is writable by everyone" % world)


def test_sticky_parent_root_entry_is_fine(mta):
    """/tmp-like parents are accepted when the entry below is root's:
    the whole suite runs in /tmp/decorum-it-*/mtaN/ on this rule."""
    m = mta_as(mta)
    tmp = os.path.join(m.root, "tmp")
    os.mkdir(tmp)
    os.chmod(tmp, 0o1777)
    os.mkdir(os.path.join(tmp, "decorum"), 0o755)
    relocate(m, spool=os.path.join(tmp, "decorum", "spool"))
    m.start()
    assert owner_mode(m.spool) == (NOBODY, NOBODY, 0o700)
    # The user's own folder right in the sticky folder could be renamed
    # away by the user itself.
    m.stop()
    relocate(m, spool=os.path.join(tmp, "spool"))
    expect_refused(m, "spool", os.path.join(tmp, "spool"),
                   "parent %s is writable by everyone" % tmp)


def test_modes_and_owner_fixed(mta):
    """Existing folders with mode 0777: the master makes spool and state
    0700, mailboxes 0750 at most, all the user's, through the
    descriptor, and says so; check-config warns first."""
    m = mta_as(mta)
    for d in (m.spool, m.state, m.mailboxes):
        os.chmod(d, 0o777)
    r = m.cli("check-config")
    assert r.returncode == 0, (r.stdout, r.stderr)
    want = "%s:%d: warning: spool %s: the daemon will change it: " \
        "owner uid 0, mode 0777 -> 0700" % (m.conf, conf_line(m, "spool"),
                                            m.spool)
    assert want in r.stderr.splitlines(), r.stderr
    assert owner_mode(m.spool) == (0, 0, 0o777), "check-config changed it"
    m.start()
    assert owner_mode(m.spool) == (NOBODY, NOBODY, 0o700)
    assert owner_mode(m.state) == (NOBODY, NOBODY, 0o700)
    assert owner_mode(m.mailboxes) == (NOBODY, NOBODY, 0o750)
    evs = m.events("folder-fixed", key="spool")
    assert evs and evs[0]["change"] == "owner uid 0, mode 0777 -> 0700", evs
    # Mail still flows through the fixed folders.
    from conftest import submit
    submit(m, "x@example.org", ["demo@example.test"])
    m.wait_for_delivery("demo")


def test_missing_folders_created(mta):
    m = mta_as(mta)
    base = os.path.join(m.root, "new")
    relocate(m, spool=os.path.join(base, "a", "spool"),
             state=os.path.join(base, "b", "state"),
             mailboxes=os.path.join(base, "mail"))
    m.start()
    assert owner_mode(base) == (0, 0, 0o755)
    assert owner_mode(os.path.join(base, "a")) == (0, 0, 0o755)
    for d in (m.spool, m.state, m.mailboxes):
        assert owner_mode(d) == (NOBODY, NOBODY, 0o700), d
    assert m.events("folder-fixed") == []


def test_replaced_by_symlink_after_a_start(mta, workdir):
    """The reproduced attack, step by step: spool sits in a folder the
    daemon's user can write ("box"); the user swaps spool for a link to
    a root-owned folder and waits for a restart.  Refused both times,
    and the root-owned folder keeps its owner and mode."""
    m = mta_as(mta)
    box = os.path.join(m.root, "box")
    os.mkdir(box, 0o755)
    os.chown(box, NOBODY, NOBODY)
    spool = os.path.join(box, "spool")
    os.mkdir(spool, 0o700)
    os.chown(spool, NOBODY, NOBODY)
    relocate(m, spool=spool)
    expect_refused(m, "spool", spool, "parent %s is owned by uid" % box)
    # What a compromised worker running as nobody could do in box.
    victim = os.path.join(workdir, "etc-like")
    os.mkdir(victim, 0o755)
    pid = os.fork()
    if pid == 0:                        # pragma: no cover (child)
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.rename(spool, spool + ".old")
            os.symlink(victim, spool)
            os._exit(0)
        except BaseException:
            os._exit(1)
    assert os.waitpid(pid, 0)[1] == 0, "nobody could not swap the spool"
    expect_refused(m, "spool", spool, "parent %s is owned by uid" % box)
    assert owner_mode(victim) == (0, 0, 0o755)


def test_spool_inside_mailboxes(mta):
    """spool inside a folder the user owns is refused by the config
    itself, before the first start could chown the outer folder."""
    m = mta_as(mta)
    relocate(m, spool=os.path.join(m.mailboxes, "spool"))
    with pytest.raises(AssertionError, match="exited with 1 before ready"):
        m.start(timeout=10)
    want = "%s:%d: spool: %s is inside mailboxes (%s)" % (
        m.conf, conf_line(m, "spool"), m.spool, m.mailboxes)
    assert any(l.startswith(want) for l in m.log().splitlines()), \
        m.log()[-2000:]
    r = m.cli("check-config")
    assert r.returncode == 1 and r.stderr.startswith(want), r.stderr
    assert owner_mode(m.mailboxes)[0] == 0, "touched before refusing"
