"""Files root reads for the daemon are out of the daemon's reach (review
of issue 8, item 2).  The master reads tls.cert and tls.key (at start and
on every SIGHUP), a relay's auth_password_file and a transport's tls_ca
as root, and hands what it read to an unprivileged process.  Such a file
is refused (by the daemon before any port is open, on SIGHUP with the old
keys kept, and by check-config, each with the FILE:LINE of its key) when
its real path or the way to it lies in spool, state or mailboxes, or
when anything on the way, links included, is owned or writable by
`user`.  Links are fine otherwise: Let's Encrypt's live/ names are links
into archive/.  Run as root (the daemon's case), with "nobody" as user
where it matters."""

import os
import shutil
import signal

import pytest

from conftest import implicit
from mtaproc import HOSTNAME, cert_der, wait_until

NOBODY = 65534


@pytest.fixture(autouse=True)
def as_root():
    """The rules are about what root reads: run as anyone else, these
    tests fail (the suite runs as root; a skip would verify nothing)."""
    assert os.geteuid() == 0, "test_root_files.py must run as root"


def line_of(m, text):
    with open(m.conf) as f:
        for n, line in enumerate(f, 1):
            if text in line:
                return n
    raise AssertionError("no line with %r in %s" % (text, m.conf))


def expect_refused(m, line, needle):
    """decorumd exits 1 before any port is open with FILE:LINE: ...needle;
    check-config prints the same line."""
    want = "%s:%d: " % (m.conf, line)
    mark = len(m.log())
    with pytest.raises(AssertionError, match="exited with 1 before ready"):
        m.start(timeout=10)
    log = m.log()[mark:]
    got = [l for l in log.splitlines() if l.startswith(want)]
    assert got and needle in got[0], (want, needle, log[-2000:])
    assert "event=child-started" not in log
    r = m.cli("check-config")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert got[0] in r.stderr.splitlines(), (got[0], r.stderr)


def as_nobody(fn):
    """Run fn() in a child as nobody: what a broken-into worker can do."""
    pid = os.fork()
    if pid == 0:                        # pragma: no cover (child)
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            fn()
            os._exit(0)
        except BaseException:
            os._exit(1)
    assert os.waitpid(pid, 0)[1] == 0, "nobody could not do it"


def peer_leaf(m):
    s = implicit(m.ports["mx_implicit"], server_hostname=HOSTNAME)
    try:
        return s.sock.getpeercert(binary_form=True)
    finally:
        s.close()


def private_copy(src, folder):
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return shutil.copy(src, os.path.join(folder, os.path.basename(src)))


# -- TLS certificates and keys -----------------------------------------------

def test_key_inside_state_refused(mta, certs):
    """The key kept in the state folder: refused before the first start
    (when state is still root's), with or without `user`."""
    for user in ("nobody", None):
        m = mta(start=False, user=user)
        key = private_copy(certs["mx"][1], os.path.join(m.state, "tls"))
        m.tls = {"cert": certs["mx"][0], "key": key}
        m.write_config(user=user)
        m.tls = None            # no TLS listeners: only the key matters
        expect_refused(m, line_of(m, "tls = {"),
                       "%s: %s is inside state" %
                       (key, os.path.dirname(key)))


def test_lets_encrypt_links_accepted(mta, certs, workdir):
    """live/NAME/*.pem are relative links into archive/NAME/: followed,
    and served, by a daemon that runs its workers as nobody."""
    le = os.path.join(workdir, "letsencrypt")
    archive = os.path.join(le, "archive", HOSTNAME)
    live = os.path.join(le, "live", HOSTNAME)
    os.makedirs(archive, 0o700)
    os.makedirs(live, 0o755)
    os.chmod(os.path.join(le, "archive"), 0o700)
    shutil.copy(certs["mx"][0], os.path.join(archive, "fullchain1.pem"))
    shutil.copy(certs["mx"][1], os.path.join(archive, "privkey1.pem"))
    for name in ("fullchain", "privkey"):
        os.symlink("../../archive/%s/%s1.pem" % (HOSTNAME, name),
                   os.path.join(live, name + ".pem"))
    m = mta(user="nobody", tls={"cert": os.path.join(live, "fullchain.pem"),
                                "key": os.path.join(live, "privkey.pem"),
                                "sni": []})
    assert peer_leaf(m) == cert_der(certs["mx"][0])
    r = m.cli("check-config")
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_reload_refuses_links_swapped_by_user(mta, certs, workdir):
    """The review's scenario.  The key sits in a folder nobody owns (as
    a folder under state would be); a worker broken into swaps cert and
    key for links to another service's matching pair, readable by root
    only.  The SIGHUP that used to send that private key to the smtpd is
    refused on the certificate's line, and the old certificate stays."""
    box = os.path.join(workdir, "box")
    os.mkdir(box, 0o755)
    cert = shutil.copy(certs["mx"][0], os.path.join(box, "cert.pem"))
    key = shutil.copy(certs["mx"][1], os.path.join(box, "key.pem"))
    other = os.path.join(workdir, "other-service")
    other_cert = private_copy(certs["other"][0], other)
    other_key = private_copy(certs["other"][1], other)
    m = mta(user="nobody", tls={"cert": cert, "key": key, "sni": []})
    old = cert_der(certs["mx"][0])
    assert peer_leaf(m) == old
    # Handed to nobody, as a folder under state or spool would be.
    os.chown(box, NOBODY, NOBODY)

    def swap():
        for link, target in ((cert, other_cert), (key, other_key)):
            os.unlink(link)
            os.symlink(target, link)
    as_nobody(swap)
    mark = len(m.log())
    os.kill(m.pid, signal.SIGHUP)
    m.wait_log(lambda: "event=tls-reload-failed" in m.log()[mark:],
               timeout=10)
    ev = [e for e in m.log_events("tls-reload-failed")
          if m.log().find(e["_line"]) >= mark][0]
    assert ev["line"] == str(line_of(m, "tls = {")), ev["_line"]
    assert "%s is owned by nobody" % box in ev["reason"], ev["_line"]
    assert peer_leaf(m) == old
    assert "event=tls-reload " not in m.log()[mark:]


def test_key_writable_by_user_group(mta, certs, workdir):
    d = os.path.join(workdir, "keys")
    os.mkdir(d, 0o755)
    key = shutil.copy(certs["mx"][1], os.path.join(d, "key.pem"))
    os.chown(key, 0, NOBODY)
    os.chmod(key, 0o660)
    m = mta(start=False, user="nobody",
            tls={"cert": certs["mx"][0], "key": key, "sni": []})
    expect_refused(m, line_of(m, "tls = {"),
                   "%s is writable by user nobody (through group %d)"
                   % (key, NOBODY))
    os.chmod(key, 0o640)        # read by the group is fine
    m.start()
    assert peer_leaf(m) == cert_der(certs["mx"][0])


# -- a relay's password and a transport's CA list ----------------------------

def relay_conf(secret, tls_ca=None):
    extra = ' tls_ca = "%s";' % tls_ca if tls_ca else ""
    return ('transports = (\n  { match = "*"; via = "relay:[smtp.isp.example]";'
            ' auth_user = "me@isp.example";\n'
            '    auth_password_file = "%s";%s }\n);\n' % (secret, extra))


def test_password_file_link_to_shadow(mta, workdir):
    """auth_password_file in a folder nobody owns, swapped for a link to
    a root-only file (as /etc/shadow): refused on its line, so root's
    hash never goes out as the relay password."""
    shadow = os.path.join(workdir, "shadow")
    with open(shadow, "w") as f:
        f.write("root:$y$j9T$secrethash:19000:0:99999:7:::\n")
    os.chmod(shadow, 0o600)
    box = os.path.join(workdir, "box")
    os.mkdir(box, 0o755)
    os.chown(box, NOBODY, NOBODY)
    secret = os.path.join(box, "relay.secret")
    as_nobody(lambda: os.symlink(shadow, secret))
    m = mta(start=False, user="nobody", extra_conf=relay_conf(secret))
    expect_refused(m, line_of(m, "auth_password_file"),
                   "auth_password_file %s: %s is owned by nobody"
                   % (secret, box))


def test_password_file_in_mailboxes_without_user(mta):
    """With no `user` there is no account to guard, but spool, state and
    mailboxes are still no place for what root reads."""
    m = mta(start=False)
    os.makedirs(os.path.join(m.mailboxes, "x"))
    secret = os.path.join(m.mailboxes, "x", "relay.secret")
    with open(secret, "w") as f:
        f.write("pw\n")
    os.chmod(secret, 0o600)
    m.write_config(extra_conf=relay_conf(secret))
    expect_refused(m, line_of(m, "auth_password_file"),
                   "%s is inside mailboxes" % os.path.dirname(secret))


def test_tls_ca_folder_entry_linked_from_user_folder(mta, workdir, certs):
    """A tls_ca folder of hashed names: each is a link (openssl rehash),
    followed by the same rules: a target in a folder nobody can write
    through its group is refused, a root-only one is fine."""
    cas = os.path.join(workdir, "cas")
    os.mkdir(cas, 0o755)
    drop = os.path.join(workdir, "drop")
    os.mkdir(drop)
    os.chown(drop, 0, NOBODY)
    os.chmod(drop, 0o775)
    planted = shutil.copy(certs["other"][0], os.path.join(drop, "ca.pem"))
    os.symlink(planted, os.path.join(cas, "0123abcd.0"))
    conf = relay_conf(os.path.join(workdir, "relay.secret"), tls_ca=cas)
    with open(os.path.join(workdir, "relay.secret"), "w") as f:
        f.write("pw\n")
    m = mta(start=False, user="nobody", extra_conf=conf)
    expect_refused(m, line_of(m, "tls_ca"),
                   "%s is writable by user nobody (through group %d)"
                   % (drop, NOBODY))
    os.chmod(drop, 0o755)
    r = m.cli("check-config")
    assert r.returncode == 0, (r.stdout, r.stderr)


# -- the SRS key file ---------------------------------------------------------

def srs_conf(key):
    return 'srs = { domain = "srs.example.test";\n  key_file = "%s"; };\n' % key


def write_key(path, text="tops3cr3t\n"):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def test_srs_key_read_at_start(mta, workdir):
    """A key file only root can change: read before the children fork,
    by a daemon whose workers run as nobody; check-config agrees."""
    box = os.path.join(workdir, "srs")
    os.mkdir(box, 0o755)
    key = write_key(os.path.join(box, "srs.key"))
    m = mta(user="nobody", extra_conf=srs_conf(key))
    m.wait_event("started")
    r = m.cli("check-config")
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_srs_key_missing_refused(mta, workdir):
    key = os.path.join(workdir, "no-such.key")
    m = mta(start=False, user="nobody", extra_conf=srs_conf(key))
    expect_refused(m, line_of(m, "key_file"), key)


def test_srs_key_empty_refused(mta, workdir):
    key = write_key(os.path.join(workdir, "empty.key"), "\n\n")
    m = mta(start=False, user="nobody", extra_conf=srs_conf(key))
    expect_refused(m, line_of(m, "key_file"), "no secret")


def test_srs_key_in_user_folder_refused(mta, workdir):
    """The key in a folder nobody owns, as a worker broken into would
    arrange to choose what root reads for it: refused on its line; the
    same file in a root folder starts."""
    box = os.path.join(workdir, "nobodys")
    os.mkdir(box, 0o755)
    key = write_key(os.path.join(box, "srs.key"))
    os.chown(box, NOBODY, NOBODY)
    m = mta(start=False, user="nobody", extra_conf=srs_conf(key))
    expect_refused(m, line_of(m, "key_file"),
                   "%s is owned by nobody" % box)
    os.chown(box, 0, 0)
    m.start()
    m.wait_event("started")


def test_srs_key_inside_spool_refused(mta):
    m = mta(start=False)
    os.makedirs(m.spool, exist_ok=True)
    key = write_key(os.path.join(m.spool, "srs.key"))
    m.write_config(extra_conf=srs_conf(key))
    expect_refused(m, line_of(m, "key_file"),
                   "%s is inside spool" % key)
