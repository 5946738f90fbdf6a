"""Forwards as operators see them (issue 10 items 1 and 6): `decorum
route [-f SENDER] [-a] ADDRESS` names each destination — mailbox,
forward, remote, or what an SRS address stands for — and the sender a
forwarded copy carries (SRS, or kept and why); `decorum check-config`
accepts aliases to foreign domains and warns (exit 0) about an alias
with more than alias_fanout_warn foreign targets (a list: the Mailman
route) and about forwards while no srs group is configured.
"""
import os
import re
import subprocess
import time

from mtaproc import age_files

SRS_DOMAIN = "srs.example.test"
DAY = 86400


def key_file(workdir, mode=0o600):
    key = os.path.join(workdir, "srs.key")
    with open(key, "w") as f:
        f.write("tops3cr3t\n")
    os.chmod(key, mode)
    return key


def srs_conf(key):
    return 'srs = { domain = "%s"; key_file = "%s"; };\n' % (SRS_DOMAIN, key)


def add_aliases(m, *lines):
    """Appends alias lines; returns the aliases file and the line number
    of the first one."""
    path = os.path.join(m.domain_dir(), "aliases")
    with open(path) as f:
        first = len(f.read().splitlines()) + 1
    with open(path, "a") as f:
        f.write("".join(line + "\n" for line in lines))
    age_files(path)
    return path, first


def fanout(name, n):
    return "%s: alice, %s" % (name, ", ".join("u%d@far%d.example" % (i, i)
                                              for i in range(n)))


def warnings(r):
    """check-config's warnings about aliases (the folder notes of a fresh
    test tree are not ours)."""
    return [line for line in r.stderr.splitlines()
            if ": warning: alias " in line]


# -- check-config ---------------------------------------------------------

def test_check_config_forward_without_srs_warns(mta):
    m = mta(start=False)
    aliases, line = add_aliases(m, "ext: someone@remote.example")
    r = m.cli("check-config")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout.strip() == "%s: ok" % m.conf
    w = warnings(r)
    assert len(w) == 1, r.stderr
    assert w[0].startswith("%s:%d: warning: alias ext forwards to foreign "
                           "domains and no srs group is configured"
                           % (aliases, line)), w
    assert "SPF" in w[0]


def test_check_config_fanout(mta, workdir):
    m = mta(start=False, extra_conf=srs_conf(key_file(workdir)))
    aliases, line = add_aliases(m, fanout("ten", 10), fanout("eleven", 11),
                                "one: someone@remote.example")
    r = m.cli("check-config")
    assert r.returncode == 0, (r.stdout, r.stderr)
    w = warnings(r)
    # With srs: only the alias over the limit (10 pass, 11 do not).
    assert len(w) == 1, r.stderr
    assert w[0].startswith("%s:%d: warning: alias eleven forwards to 11 "
                           "foreign addresses (alias_fanout_warn 10)"
                           % (aliases, line + 1)), w
    assert "docs/delivery.md, Group forwards and mailing lists" in w[0]


def test_check_config_fanout_setting(mta, workdir):
    key = key_file(workdir)
    for value, expect in ((0, 0), (11, 0), (9, 2), (100000, 0)):
        m = mta(start=False, extra_conf=srs_conf(key)
                + "alias_fanout_warn = %d;\n" % value)
        add_aliases(m, fanout("ten", 10), fanout("eleven", 11))
        r = m.cli("check-config")
        assert r.returncode == 0, (value, r.stdout, r.stderr)
        assert len(warnings(r)) == expect, (value, r.stderr)


def test_check_config_fanout_out_of_range(mta):
    for value in ("-1", "100001", '"ten"'):
        m = mta(start=False, extra_conf="alias_fanout_warn = %s;\n" % value)
        r = m.cli("check-config")
        assert r.returncode == 1, (value, r.stdout, r.stderr)
        assert "alias_fanout_warn" in r.stderr, (value, r.stderr)


# -- decorum route --------------------------------------------------------

def route(m, *args):
    r = m.cli("route", *args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout.splitlines()


def field(lines, name):
    return [line[len(name) + 2:] for line in lines
            if line.startswith(name + ": ")]


def test_route_forward_senders(mta, workdir):
    m = mta(start=False, extra_conf=srs_conf(key_file(workdir)))
    add_aliases(m, "fwd: friend@far.example, alice")
    lines = route(m, "-f", "user@example.org", "fwd@example.test")
    assert field(lines, "decision") == ["local"]
    assert field(lines, "forward") == [
        "friend@far.example (SMTP to the MX of far.example)"]
    assert len(field(lines, "mailbox")) == 1
    sender = field(lines, "sender")
    assert len(sender) == 1, lines
    assert re.fullmatch(r"<SRS0=\w{4}=\w\w=example\.org=user@%s> srs: SRS"
                        % re.escape(SRS_DOMAIN), sender[0]), sender
    # The SRS sender is the one `decorum srs forward` gives today.
    r = m.cli("srs", "forward", "-n", str(int(time.time())),
              "user@example.org")
    assert sender[0] == "<%s> srs: SRS" % r.stdout.strip()
    kept = {
        ("-f", "bob@example.test"): "<bob@example.test> kept: the "
        "sender's domain is local",
        ("-f", "user@example.org", "-a"): "<user@example.org> kept: "
        "submitted by an authenticated user",
        ("-f", "<>"): "<> kept: null sender",
        ("-f", ""): "<> kept: null sender",
    }
    for args, want in kept.items():
        assert field(route(m, *args, "fwd@example.test"), "sender") == \
            [want], args
    # No -f: what happens to a foreign sender, said to be that.
    s = field(route(m, "fwd@example.test"), "sender")[0]
    assert s.startswith("<SRS0=") and "sender.invalid" in s, s
    assert "for a foreign sender; -f SENDER" in s
    # No forward, no sender line.
    assert field(route(m, "-f", "user@example.org", "alice@example.test"),
                 "sender") == []


def test_route_forward_without_srs(mta):
    m = mta(start=False)
    add_aliases(m, "fwd: friend@far.example")
    lines = route(m, "-f", "user@example.org", "fwd@example.test")
    assert field(lines, "sender") == [
        "<user@example.org> kept: no srs group configured"]


def test_route_srs_address(mta, workdir):
    m = mta(start=False, extra_conf=srs_conf(key_file(workdir)))
    now = int(time.time())
    good = m.cli("srs", "forward", "-n", str(now),
                 "Alice@example.org").stdout.strip()
    lines = route(m, good)
    assert field(lines, "decision") == ["local"]
    assert field(lines, "srs") == ["stands for <Alice@example.org>"]
    assert field(lines, "returned") == [
        "Alice@example.org (SMTP to the MX of example.org)"]
    assert field(lines, "relay") == [] and field(lines, "sender") == []
    old = m.cli("srs", "forward", "-n", str(now - 22 * DAY),
                "Alice@example.org").stdout.strip()
    r = m.cli("route", old)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "srs: refused: timestamp expired" in r.stdout.splitlines()
    assert "decision: unknown" in r.stdout.splitlines()


def test_route_srs_keys_unreadable(mta, workdir):
    # Not root: the key file (0600 root) cannot be read; the command says
    # so and shows what happens without the keys, instead of failing.
    os.chmod(workdir, 0o755)
    m = mta(start=False, extra_conf=srs_conf(key_file(workdir)))
    add_aliases(m, "fwd: friend@far.example")
    r = subprocess.run([m.cli_for_anyone(), "-c", m.conf, "route", "-f",
                        "user@example.org", "fwd@example.test"],
                       capture_output=True, text=True, timeout=20,
                       user="nobody", group="nogroup")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "warning" in r.stderr and "srs.key" in r.stderr, r.stderr
    assert "sender: <user@example.org> kept: the SRS key file was not " \
        "read" in r.stdout.splitlines(), r.stdout
