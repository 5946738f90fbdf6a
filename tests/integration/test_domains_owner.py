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
