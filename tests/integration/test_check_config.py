"""`decorum check-config` catches what stops the daemon (issue 8, item
16): TLS certificates and keys are loaded as the master loads them (a
key that does not match, garbage, a folder named as a file), `user` must
exist and not be root, integers are taken as written (an overflow is not
"-1 is out of range", and never wraps into range), and contradictions
that leave a working daemon are warnings ("FILE:LINE: warning: ...",
exit 0).  Each error names the line of the key at fault, and decorumd
stops on the same line with the same words before it opens a port."""

import os
import re

import pytest

from conftest import HELO
from smtpraw import Smtp


def write_tls(m, cert, key, sni=()):
    """The tls group, one key per line, so each error's line is its key's.
    Returns {name: line} for tls.cert, tls.key, sni[i].cert, sni[i].key."""
    with open(m.conf) as f:
        lines = [l for l in f.read().split("\n") if not l.startswith("tls =")]
    while lines and lines[-1] == "":
        lines.pop()
    where = {}
    lines.append("tls = {")
    lines.append('  cert = "%s";' % cert)
    where["tls.cert"] = len(lines)
    lines.append('  key = "%s";' % key)
    where["tls.key"] = len(lines)
    lines.append("  sni = (")
    for i, (c, k) in enumerate(sni):
        lines.append('    { cert = "%s";' % c)
        where["sni%d.cert" % i] = len(lines)
        lines.append('      key = "%s"; }%s' % (k, "," if i + 1 < len(sni)
                                                  else ""))
        where["sni%d.key" % i] = len(lines)
    lines.append("  );")
    lines.append("};")
    with open(m.conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    return where


def line_of(m, prefix):
    with open(m.conf) as f:
        for n, line in enumerate(f, 1):
            if line.startswith(prefix):
                return n
    raise AssertionError("no line %r in %s" % (prefix, m.conf))


def set_line(m, prefix, text):
    """Replace the line starting with prefix (or append text); returns
    its line number."""
    with open(m.conf) as f:
        lines = f.read().rstrip("\n").split("\n")
    for i, line in enumerate(lines):
        if line.startswith(prefix):
            lines[i] = text
            break
    else:
        lines.append(text)
        i = len(lines) - 1
    with open(m.conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    return i + 1


def check_error(m, line, needle):
    """check-config fails with FILE:LINE: ...needle...; returns that line."""
    r = m.cli("check-config")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    want = "%s:%d: " % (m.conf, line)
    got = [l for l in r.stderr.splitlines() if l.startswith(want)]
    assert got and needle in got[0], (want, needle, r.stderr)
    assert r.stdout == "", r.stdout
    return got[0]


def daemon_refuses(m, message):
    """decorumd exits 1 with the same message, before any listener."""
    mark = len(m.log())
    with pytest.raises(AssertionError, match="exited with 1 before ready"):
        m.start(timeout=10)
    log = m.log()[mark:]
    assert message in log.splitlines(), (message, log[-2000:])
    assert "event=started" not in log and "event=ready" not in log
    with pytest.raises(OSError):
        Smtp(m.port, timeout=1).close()


# -- TLS -----------------------------------------------------------------

def test_key_does_not_match(mta, certs):
    m = mta(start=False, tls={"cert": certs["mx"][0], "key": certs["mx"][1]})
    where = write_tls(m, certs["mx"][0], certs["other"][1])
    msg = check_error(m, where["tls.key"], "tls.key: %s does not match the "
                      "certificate %s" % (certs["other"][1], certs["mx"][0]))
    daemon_refuses(m, msg)


def test_garbage_certificate(mta, certs):
    m = mta(start=False, tls={"cert": certs["mx"][0], "key": certs["mx"][1]})
    where = write_tls(m, certs["broken"][0], certs["mx"][1])
    msg = check_error(m, where["tls.cert"], "tls.cert: %s: "
                      % certs["broken"][0])
    daemon_refuses(m, msg)


def test_garbage_key(mta, certs):
    m = mta(start=False, tls={"cert": certs["mx"][0], "key": certs["mx"][1]})
    where = write_tls(m, certs["mx"][0], certs["broken"][1])
    check_error(m, where["tls.key"], "no usable PEM private key")


def test_certificate_is_a_folder(mta, certs, workdir):
    m = mta(start=False, tls={"cert": certs["mx"][0], "key": certs["mx"][1]})
    where = write_tls(m, workdir, certs["mx"][1])
    msg = check_error(m, where["tls.cert"], "not a regular file")
    daemon_refuses(m, msg)


def test_missing_key(mta, certs):
    m = mta(start=False, tls={"cert": certs["mx"][0], "key": certs["mx"][1]})
    gone = certs["mx"][1] + ".gone"
    where = write_tls(m, certs["mx"][0], gone)
    check_error(m, where["tls.key"], gone)


@pytest.mark.parametrize("kind", ["empty", "folder"])
def test_key_named_after_certificate(mta, certs, kind):
    """The key's error is on the key's line even when its name starts
    with the certificate's (mx.pem, mx.pem.key): which file failed is
    said by the reader, not guessed from the message's first words."""
    m = mta(start=False, tls={"cert": certs["mx"][0], "key": certs["mx"][1]})
    key = certs["mx"][0] + ".key"
    if kind == "empty":
        open(key, "w").close()
    else:
        os.mkdir(key)
    where = write_tls(m, certs["mx"][0], key)
    assert where["tls.key"] != where["tls.cert"]
    msg = check_error(m, where["tls.key"], "tls: %s: %s" % (
        key, "empty" if kind == "empty" else "not a regular file"))
    daemon_refuses(m, msg)


def test_sni_key_does_not_match(mta, certs):
    m = mta(start=False, tls={"cert": certs["mx"][0], "key": certs["mx"][1]})
    where = write_tls(m, certs["mx"][0], certs["mx"][1],
                      sni=[certs["next"], (certs["other"][0], certs["mx"][1])])
    msg = check_error(m, where["sni1.key"], "tls.sni[1].key: %s does not "
                      "match the certificate %s"
                      % (certs["mx"][1], certs["other"][0]))
    daemon_refuses(m, msg)


def test_good_tls_is_ok(mta, certs):
    m = mta(start=False, tls={"cert": certs["mx"][0], "key": certs["mx"][1]})
    write_tls(m, certs["mx"][0], certs["mx"][1], sni=[certs["other"]])
    r = m.cli("check-config")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "%s: ok\n" % m.conf


# -- user ----------------------------------------------------------------

def test_unknown_user(mta):
    m = mta(start=False)
    n = set_line(m, "user =", 'user = "no-such-account-x";')
    msg = check_error(m, n, 'user: no account named "no-such-account-x"')
    daemon_refuses(m, msg)


def test_user_is_root(mta):
    m = mta(start=False)
    n = set_line(m, "user =", 'user = "root";')
    msg = check_error(m, n, 'user: "root" is root (uid 0)')
    daemon_refuses(m, msg)


# -- numbers -------------------------------------------------------------

@pytest.mark.parametrize("written", ["4294967306", "99999999999",
                                     "99999999999999999999", "-2147483649"])
def test_integer_overflow_as_written(mta, written):
    """4294967306 used to pass as 10; 99999999999999999999 used to be
    reported as -1."""
    m = mta(start=False)
    n = set_line(m, "max_recipients", "max_recipients = %s;" % written)
    msg = check_error(m, n, "max_recipients: %s is out of range (1 to "
                      "100000)" % written)
    daemon_refuses(m, msg)


def test_integer_boundary(mta):
    m = mta(start=False)
    n = set_line(m, "max_recipients", "max_recipients = 100001;")
    check_error(m, n, "max_recipients: 100001 is out of range")
    set_line(m, "max_recipients", "max_recipients = 100000;")
    set_line(m, "max_message_size", "max_message_size = 4294967295;")
    r = m.cli("check-config")
    assert r.returncode == 0, r.stderr
    m.start()
    with Smtp(m.port) as s:
        r = s.ehlo(HELO)
        assert "SIZE 4294967295" in [l.upper() for l in r.lines], r.lines


# -- warnings ------------------------------------------------------------

def test_lifetime_below_retry_min_warns(mta):
    m = mta(start=False)
    n = set_line(m, "queue =", "queue = { retry_min = 600; retry_max = 900; "
                 "lifetime = 300; };")
    r = m.cli("check-config")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout == "%s: ok\n" % m.conf
    want = ("%s:%d: warning: queue.lifetime (300 s) is shorter than "
            "queue.retry_min (600 s)" % (m.conf, n))
    assert any(l.startswith(want) for l in r.stderr.splitlines()), r.stderr
    # The daemon starts, and says it in its log.
    m.start()
    evs = m.events("config-warning", line=str(n))
    assert evs and evs[0]["reason"].startswith("queue.lifetime (300 s)"), \
        m.log()[-2000:]


def test_other_contradictions_warn(mta):
    m = mta(start=False)
    q = set_line(m, "queue =", "queue = { retry_min = 1; retry_max = 2; "
                 "lifetime = 60; delay_warning = 60; };")
    p = set_line(m, "max_connections_per_ip", "max_connections_per_ip = 51;")
    r = m.cli("check-config")
    assert r.returncode == 0, (r.stdout, r.stderr)
    warnings = [l for l in r.stderr.splitlines() if ": warning: " in l
                and "the daemon will change it" not in l]
    assert len(warnings) == 2, r.stderr
    assert warnings[0].startswith("%s:%d: warning: queue.delay_warning"
                                  % (m.conf, q)), warnings
    assert warnings[1].startswith("%s:%d: warning: max_connections_per_ip "
                                  "(51) is above max_connections (50)"
                                  % (m.conf, p)), warnings


def test_no_warning_for_the_test_config(mta):
    m = mta(start=False)
    r = m.cli("check-config")
    assert r.returncode == 0, r.stderr
    assert not [l for l in r.stderr.splitlines() if ": warning: " in l
                and "the daemon will change it" not in l], r.stderr
    assert not re.search(r"error", r.stderr, re.I), r.stderr
