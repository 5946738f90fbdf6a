"""The `decorum` command: check-config names the bad line (FILE:LINE:
message, exit 1), route explains where mail goes (exit 0 accepted, 1
refused), user add/passwd/del write crypt(3) hashes the running daemon
picks up, queue list/show inspect a waiting message."""

import crypt
import os
import re

import pytest

from mtaproc import wait_until
from smtpraw import Smtp, message, queue_id


def conf_lines(m):
    with open(m.conf) as f:
        return f.read().split("\n")


def write_conf(m, lines):
    with open(m.conf, "w") as f:
        f.write("\n".join(lines))


def assert_error_at(r, path, line):
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    want = "%s:%d: " % (path, line)
    assert any(l.startswith(want) and len(l) > len(want)
               for l in r.stderr.splitlines()), \
        "expected a line starting %r in stderr:\n%s" % (want, r.stderr)


def test_check_config_good(mta):
    m = mta(start=False)
    r = m.cli("check-config")
    assert r.returncode == 0, r.stderr
    assert "error" not in r.stderr.lower()


def test_check_config_unknown_key(mta):
    m = mta(start=False)
    lines = conf_lines(m)
    lines.insert(3, "frobnicate = 1;")
    write_conf(m, lines)
    assert_error_at(m.cli("check-config"), m.conf, 4)


def test_check_config_unknown_key_in_group(mta):
    m = mta(start=False)
    lines = conf_lines(m)
    i = next(n for n, l in enumerate(lines) if l.startswith("timeouts"))
    lines[i] = "timeouts = { command = 3; data = 3; bogus = 1; };"
    write_conf(m, lines)
    assert_error_at(m.cli("check-config"), m.conf, i + 1)


@pytest.mark.parametrize("addr", ["127.0.0.1:notaport", "127.0.0.1:99999",
                                  "999.0.0.1:25", "[::1:25", "nowhere"])
def test_check_config_bad_listen_address(mta, addr):
    m = mta(start=False)
    lines = conf_lines(m)
    i = next(n for n, l in enumerate(lines) if "address =" in l)
    lines[i] = re.sub(r'address = "[^"]*"', 'address = "%s"' % addr,
                      lines[i])
    write_conf(m, lines)
    assert_error_at(m.cli("check-config"), m.conf, i + 1)


def test_check_config_bad_role(mta):
    m = mta(start=False)
    lines = conf_lines(m)
    i = next(n for n, l in enumerate(lines) if "role =" in l)
    lines[i] = lines[i].replace('role = "mx"', 'role = "teapot"')
    write_conf(m, lines)
    assert_error_at(m.cli("check-config"), m.conf, i + 1)


def test_check_config_syntax_error(mta):
    m = mta(start=False)
    lines = conf_lines(m)
    lines.insert(5, "max_errors = ;")
    write_conf(m, lines)
    assert_error_at(m.cli("check-config"), m.conf, 6)


def test_check_config_wrong_type(mta):
    m = mta(start=False)
    lines = conf_lines(m)
    i = next(n for n, l in enumerate(lines) if l.startswith("max_recipients"))
    lines[i] = 'max_recipients = "many";'
    write_conf(m, lines)
    assert_error_at(m.cli("check-config"), m.conf, i + 1)


def test_check_config_bad_relay_network(mta):
    m = mta(start=False)
    lines = conf_lines(m)
    i = next(n for n, l in enumerate(lines) if l.startswith("relay_networks"))
    lines[i] = 'relay_networks = ( "300.0.0.0/8" );'
    write_conf(m, lines)
    assert_error_at(m.cli("check-config"), m.conf, i + 1)


def test_check_config_alias_to_foreign_domain(mta):
    # A forward (issue 10): valid, warned about without an srs group
    # (test_forward_route.py has the rest).
    m = mta(start=False)
    aliases = os.path.join(m.domain_dir(), "aliases")
    with open(aliases, "a") as f:
        f.write("ext: someone@remote.example\n")   # line 4
    r = m.cli("check-config")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert any(line.startswith("%s:4: warning: alias ext forwards" % aliases)
               for line in r.stderr.splitlines()), r.stderr


def test_check_config_missing_file(mta):
    m = mta(start=False)
    os.unlink(m.conf)
    r = m.cli("check-config")
    assert r.returncode == 1
    assert m.conf in r.stderr


# -- route ---------------------------------------------------------------

def test_route_local_user(mta):
    m = mta(start=False)
    r = m.cli("route", "demo@example.test")
    assert r.returncode == 0, r.stderr
    assert "demo" in r.stdout


def test_route_alias(mta):
    m = mta(start=False)
    r = m.cli("route", "crew@example.test")
    assert r.returncode == 0, r.stderr
    assert "alice@example.test" in r.stdout
    assert "bob@example.test" in r.stdout


@pytest.mark.parametrize("addr", ["postmaster", "postmaster@example.test",
                                  "abuse@example.test"])
def test_route_postmaster(mta, addr):
    m = mta(start=False)
    r = m.cli("route", addr)
    assert r.returncode == 0, r.stderr
    assert "admin@example.test" in r.stdout


@pytest.mark.parametrize("addr", ["nosuchuser@example.test",
                                  "demo%remote.example@example.test",
                                  "not an address"])
def test_route_refused(mta, addr):
    m = mta(start=False)
    r = m.cli("route", addr)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert (r.stdout + r.stderr).strip(), "no explanation printed"


def test_route_remote(mta):
    # Where mail to a foreign domain goes depends on who sends it (relay
    # client or not); the command must say it is remote, without crashing.
    m = mta(start=False)
    r = m.cli("route", "someone@remote.example")
    assert r.returncode in (0, 1), (r.returncode, r.stderr)
    assert "remote.example" in r.stdout + r.stderr


# -- user ----------------------------------------------------------------

def users_file(m):
    with open(os.path.join(m.domain_dir(), "users"), encoding="utf-8") as f:
        return f.read()


def user_hash(m, local):
    for line in users_file(m).splitlines():
        name, _, h = line.partition(":")
        if name == local:
            return h
    return None


def try_rcpt(m, rcpt):
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("x@example.org")
        return s.cmd("RCPT TO:<%s>" % rcpt)


def rcpt_becomes(m, rcpt, code, timeout=3.0):
    """The daemon may look at the users file at most once a second; the
    change must show within a few seconds, with no restart."""
    return wait_until(lambda: try_rcpt(m, rcpt).code == code, timeout,
                      interval=0.2, what="RCPT %s -> %d" % (rcpt, code))


def test_user_add_then_deliver_without_restart(mta):
    m = mta()
    pid = m.pid
    assert try_rcpt(m, "carol@example.test").code == 550
    r = m.cli("user", "add", "carol@example.test", input="s3cret pw\n")
    assert r.returncode == 0, r.stderr
    assert "s3cret" not in r.stdout + r.stderr
    h = user_hash(m, "carol")
    assert h and h.startswith("$y$"), users_file(m)
    assert crypt.crypt("s3cret pw", h) == h
    # The other users are untouched.
    for u in ("demo", "alice", "bob", "admin"):
        assert user_hash(m, u) is not None
    rcpt_becomes(m, "carol@example.test", 250)
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("x@example.org")
        s.rcpt("carol@example.test")
        s.expect("DATA", 354)
        s.send(message(to="carol@example.test"))
        queue_id(s.reply())
    m.wait_for_delivery("carol")
    assert m.pid == pid


def test_user_add_existing_fails(mta):
    m = mta(start=False)
    before = users_file(m)
    r = m.cli("user", "add", "demo@example.test", input="x\n")
    assert r.returncode != 0
    assert users_file(m) == before


def test_user_passwd(mta):
    m = mta(start=False)
    old = user_hash(m, "alice")
    r = m.cli("user", "passwd", "alice@example.test", input="new-pw\n")
    assert r.returncode == 0, r.stderr
    h = user_hash(m, "alice")
    assert h != old and h.startswith("$y$")
    assert crypt.crypt("new-pw", h) == h
    assert crypt.crypt("alice-pw", h) != h


def test_user_del(mta):
    m = mta()
    pid = m.pid
    assert try_rcpt(m, "bob@example.test").code == 250
    r = m.cli("user", "del", "bob@example.test")
    assert r.returncode == 0, r.stderr
    assert user_hash(m, "bob") is None
    assert user_hash(m, "alice") is not None
    rcpt_becomes(m, "bob@example.test", 550)
    r = try_rcpt(m, "bob@example.test")
    assert (r.code, r.first[:5]) == (550, "5.1.1"), r
    assert m.pid == pid


def test_user_file_keeps_hash_readable_by_crypt(mta):
    # Dovecot passwd-file compatible: one "local:HASH" per line.
    m = mta(start=False)
    m.cli("user", "add", "dave@example.test", input="pw\n")
    assert re.search(r"^dave:\$y\$[^:\s]+$", users_file(m), re.M), \
        users_file(m)


# -- queue ---------------------------------------------------------------

def test_queue_list_and_show_deferred(mta):
    m = mta()
    m.block_mailbox("demo")
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("sender@example.org")
        s.rcpt("demo@example.test")
        s.expect("DATA", 354)
        s.send(message(sender="sender@example.org"))
        qid = queue_id(s.reply())
    m.wait_log(r"event=deferred\b.*\bid=%s\b" % qid)
    r = m.cli("queue", "list")
    assert r.returncode == 0, r.stderr
    assert qid in r.stdout
    assert "sender@example.org" in r.stdout
    r = m.cli("queue", "show", qid)
    assert r.returncode == 0, r.stderr
    assert "sender@example.org" in r.stdout
    assert "demo@example.test" in r.stdout
    r = m.cli("queue", "show", "NoSuchId123")
    assert r.returncode != 0


def test_queue_list_empty(mta):
    m = mta(start=False)
    r = m.cli("queue", "list")
    assert r.returncode == 0, r.stderr
