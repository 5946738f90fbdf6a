"""The domains tree and root (review of issue 8, route finding 3).

`decorum user`, run as root, opens the domain folder, its `.lock` and
its `users` file without following symbolic links (openat with
O_NOFOLLOW, relative to the domain folder's descriptor), so a link
planted by whoever can write a domain folder never makes root create,
read or replace another file: the command refuses, and the link's
target is untouched.

The users files hold the hashes AUTH trusts, and root edits them, so
the daemon (before any port is open) and `check-config` refuse, on the
line of `domains`, a domains folder, a domain folder or a file in one
that the daemon's `user` could write (its owner, a group it is in, or
everyone), or that is a symbolic link; the path to `domains` follows
the rules of the other folders (test_folders.py).  Run as root, as the
daemon runs.
"""

import os
import stat

import pytest

from test_folders import conf_line, mta_as

NOBODY = 65534


@pytest.fixture(autouse=True)
def as_root():
    assert os.geteuid() == 0, "test_domains_owner.py must run as root"


def snapshot(path):
    st = os.lstat(path)
    with open(path, "rb") as f:
        return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), \
            st.st_mtime_ns, f.read()


def users_text(m, domain="example.test"):
    with open(os.path.join(m.domain_dir(domain), "users")) as f:
        return f.read()


def test_user_lock_link_not_followed(mta, workdir):
    m = mta(start=False)
    target = os.path.join(workdir, "made-by-root")
    lock = os.path.join(m.domain_dir(), ".lock")
    os.symlink(target, lock)
    before = users_text(m)
    r = m.cli("user", "add", "--no-login", "carol@example.test")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert ".lock" in r.stderr and "symbolic link" in r.stderr, r.stderr
    assert not os.path.lexists(target), "root created the link's target"
    assert users_text(m) == before
    # An existing target is not opened either (nor locked, nor read).
    with open(target, "w") as f:
        f.write("root's file\n")
    os.chmod(target, 0o600)
    was = snapshot(target)
    r = m.cli("user", "del", "bob@example.test")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert snapshot(target) == was
    assert users_text(m) == before


def test_user_users_link_not_followed(mta, workdir):
    """users -> a root-only file: root would have copied it into a new
    users file the daemon's group can read."""
    m = mta(start=False)
    victim = os.path.join(workdir, "shadow-like")
    with open(victim, "w") as f:
        f.write("root:$6$secret-hash\n")
    os.chmod(victim, 0o600)
    was = snapshot(victim)
    users = os.path.join(m.domain_dir(), "users")
    os.unlink(users)
    os.symlink(victim, users)
    r = m.cli("user", "add", "--no-login", "carol@example.test")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "users" in r.stderr and "symbolic link" in r.stderr, r.stderr
    assert os.path.islink(users), "the link was replaced"
    assert snapshot(victim) == was
    assert not [n for n in os.listdir(m.domain_dir())
                if n.startswith(".users.tmp")]


def test_user_domain_folder_link_not_followed(mta, workdir):
    m = mta(start=False)
    elsewhere = os.path.join(workdir, "root-dir")
    os.mkdir(elsewhere, 0o755)
    os.symlink(elsewhere, m.domain_dir("evil.test"))
    r = m.cli("user", "add", "--no-login", "x@evil.test")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "evil.test" in r.stderr and "symbolic link" in r.stderr, r.stderr
    assert os.listdir(elsewhere) == [], "root wrote through the link"


def test_user_still_works(mta):
    """The same commands on an ordinary folder: add, passwd, del."""
    m = mta(start=False)
    r = m.cli("user", "add", "--no-login", "carol@example.test")
    assert r.returncode == 0, r.stderr
    r = m.cli("user", "passwd", "alice@example.test", input="new-pw\n")
    assert r.returncode == 0, r.stderr
    r = m.cli("user", "del", "carol@example.test")
    assert r.returncode == 0, r.stderr
    r = m.cli("user", "add", "--no-login", "dora@new.test")
    assert r.returncode == 0, r.stderr
    assert "created domain folder" in r.stdout
    assert users_text(m, "new.test") == "dora:\n"
    assert stat.S_IMODE(os.stat(m.domain_dir("new.test")).st_mode) == 0o755


def refused(m, why):
    """The daemon exits 1 before any port is open, naming the line of
    `domains` and why; check-config says the same line."""
    want = "%s:%d: domains %s: " % (m.conf, conf_line(m, "domains"),
                                    m.domains)
    mark = len(m.log())
    with pytest.raises(AssertionError, match="exited with 1 before ready"):
        m.start(timeout=10)
    log = m.log()[mark:]
    lines = [l for l in log.splitlines() if l.startswith(want)]
    assert lines and why in lines[0], (want, why, log[-2000:])
    assert "event=child-started" not in log
    r = m.cli("check-config")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert lines[0] in r.stderr.splitlines(), (lines[0], r.stderr)


def test_domain_folder_owned_by_user(mta):
    m = mta_as(mta)
    os.chown(m.domain_dir(), NOBODY, NOBODY)
    refused(m, "%s is owned by uid %d (nobody), not by root"
            % (m.domain_dir(), NOBODY))


def test_domain_folder_writable_by_user_group(mta):
    m = mta_as(mta)
    os.chown(m.domain_dir(), 0, NOBODY)
    os.chmod(m.domain_dir(), 0o775)
    refused(m, "%s is writable by user nobody (through group %d)"
            % (m.domain_dir(), NOBODY))


def test_domains_folder_writable_by_everyone(mta):
    m = mta_as(mta)
    os.chmod(m.domains, 0o1777)         # sticky is no help here
    refused(m, "%s is writable by everyone" % m.domains)


def test_users_file_writable_by_user(mta):
    m = mta_as(mta)
    users = os.path.join(m.domain_dir(), "users")
    os.chown(users, 0, NOBODY)
    os.chmod(users, 0o660)
    refused(m, "%s is writable by user nobody" % users)


def test_domain_folder_is_a_link(mta, workdir):
    m = mta_as(mta)
    elsewhere = os.path.join(workdir, "elsewhere.test")
    os.mkdir(elsewhere, 0o755)
    os.symlink(elsewhere, m.domain_dir("elsewhere.test"))
    refused(m, "%s is a symbolic link (to %s)"
            % (m.domain_dir("elsewhere.test"), elsewhere))


def test_domains_parent_owned_by_user(mta):
    m = mta_as(mta)
    box = os.path.join(m.root, "box")
    os.mkdir(box, 0o755)
    os.chown(box, NOBODY, NOBODY)
    os.rename(m.domains, os.path.join(box, "domains"))
    m.domains = os.path.join(box, "domains")
    m.write_config(user="nobody")
    refused(m, "parent %s is owned by uid %d" % (box, NOBODY))


def test_root_tree_with_group_read_is_fine(mta):
    """What `decorum user add` makes (users 0640 root:user's group, the
    folders 0755 root's) passes."""
    m = mta_as(mta)
    r = m.cli("user", "add", "--no-login", "dora@new.test")
    assert r.returncode == 0, r.stderr
    users = os.path.join(m.domain_dir("new.test"), "users")
    st = os.stat(users)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == \
        (0, NOBODY, 0o640)
    r = m.cli("check-config")
    assert r.returncode == 0, r.stderr
    m.start()
