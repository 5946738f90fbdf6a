"""Admission control (issue 9, item 9), against the real daemon with
clients on different loopback addresses (127.0.0.x play different
hosts; ::1 for IPv6).

- Concurrent connections and the connection rate are counted per client
  network (client_prefix_v4 / client_prefix_v6), each limit tried at its
  boundary from both sides: the Nth connection is served, the N+1th gets
  421 4.7.0, another network is served.
- A network over its rate is logged once per minute, however often it
  knocks.
- IPv6 clients are counted by their /64 end to end: two addresses of one
  /64 and one of the next, added to lo for the test.
- greet_delay: a client that speaks before the 220 gets 554 5.5.1 and
  is closed (event=early-talker); a patient one is served; on implicit
  TLS the delay runs after the handshake; a client that leaves during
  the delay, and a slow one, leave the daemon clean (the fixture fails
  the test on any sanitizer report).
- junk_command_limit: the last allowed junk command is answered, the
  next gets 421 4.7.0 and the session ends with one log line.
- Stress: over 80% of max_connections in use, idle sessions time out
  after stress_timeout instead of timeouts.command; entering and
  leaving are logged once each.
"""

import socket
import subprocess
import time

import pytest

from conftest import HELO, auth_plain_b64, implicit, starttls
from smtpraw import Smtp, check, message


def conf(**keys):
    return "".join("%s = %d;\n" % kv for kv in keys.items())


def _open(m, n, source="127.0.0.1", port=None, host="127.0.0.1"):
    out = []
    for _ in range(n):
        s = Smtp(port or m.port, host=host,
                 source=source if host == "127.0.0.1" or ":" in source
                 else None)
        out.append(s)
        check(s.greeting, 220)
    return out


def _settled(m):
    """The start's readiness check connected once to every listener from
    127.0.0.1 (and ::1); each is a session until the smtpd has seen the
    close.  The tests that count sessions wait until they are gone."""
    m.wait_event("disconnect", n=len(m.listeners()))
    return m


def _refused(m, source="127.0.0.1", host="127.0.0.1", port=None):
    with Smtp(port or m.port, host=host,
              source=source if host == "127.0.0.1" or ":" in source
              else None) as s:
        check(s.greeting, 421, "4.7.0")
        assert s.closed()
        return s.greeting


# -- the keys --------------------------------------------------------------

@pytest.mark.parametrize("key,bad,good", [
    ("client_prefix_v4", 33, 32), ("client_prefix_v4", 7, 8),
    ("client_prefix_v6", 129, 128), ("client_prefix_v6", 15, 16),
    ("max_connection_rate", -1, 0), ("max_connection_rate", 1000001, 1000000),
    ("junk_command_limit", 0, 1), ("junk_command_limit", 100001, 100000),
    ("greet_delay", 301, 300), ("greet_delay", -1, 0),
    ("stress_timeout", 0, 1), ("stress_timeout", 3601, 3600),
])
def test_key_ranges(mta, key, bad, good):
    """Each key at both edges of its range: FILE:LINE for the bad one."""
    m = mta(start=False, extra_conf="%s = %d;\n" % (key, bad))
    r = m.cli("check-config")
    assert r.returncode == 1, (r.stdout, r.stderr)
    line = len(open(m.conf).read().splitlines())
    assert r.stderr.startswith("%s:%d: " % (m.conf, line)), r.stderr
    assert key in r.stderr, r.stderr
    m = mta(start=False, extra_conf="%s = %d;\n" % (key, good))
    r = m.cli("check-config")
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_key_types(mta):
    m = mta(start=False, extra_conf='greet_delay = "5";\n')
    r = m.cli("check-config")
    assert r.returncode == 1 and "greet_delay" in r.stderr, r.stderr


# -- connections per network ---------------------------------------------

def test_connections_per_network_boundary(mta):
    """client_prefix_v4 = 24: 127.0.0.2 and 127.0.0.3 are one network;
    127.0.1.2 is another."""
    m = _settled(mta(max_connections_per_ip=3,
                     extra_conf=conf(client_prefix_v4=24)))
    conns = _open(m, 2, "127.0.0.2") + _open(m, 1, "127.0.0.3")
    try:
        _refused(m, "127.0.0.3")
        _refused(m, "127.0.0.2")
        other = _open(m, 1, "127.0.1.2")
        conns += other
        # One leaves: the network has room for exactly one more.
        gone = len(m.events("disconnect"))
        conns.pop(0).expect("QUIT", 221)
        m.wait_event("disconnect", n=gone + 1)
        conns += _open(m, 1, "127.0.0.9")
        _refused(m, "127.0.0.2")
    finally:
        for s in conns:
            s.close()


def test_connections_per_address_by_default(mta):
    """/32 by default: another address of the same /24 is not counted."""
    m = mta(max_connections_per_ip=2)
    conns = _open(m, 2, "127.0.0.2")
    try:
        for _ in range(5):
            _refused(m, "127.0.0.2")
        conns += _open(m, 2, "127.0.0.3")
        _refused(m, "127.0.0.3")
        # Five refusals of one network, one line (per minute).
        m.wait_event("refused", client="[127.0.0.3]")
        ev = m.events("refused", client="[127.0.0.2]")
        assert len(ev) == 1, ev
    finally:
        for s in conns:
            s.close()


def test_connections_per_network_ipv6(mta):
    """::1 is counted by its /64 (and /128 lets nothing else in)."""
    m = _settled(mta(ipv6=True, max_connections_per_ip=2))
    conns = _open(m, 2, host="::1", port=m.port6)
    try:
        _refused(m, host="::1", port=m.port6)
        # IPv4 is another network.
        conns += _open(m, 2, "127.0.0.2")
        ev = m.events("refused", client="[::1]")
        assert len(ev) == 1, ev
    finally:
        for s in conns:
            s.close()


# Loopback has ::1 alone; these add addresses to lo for their own time
# (the suite runs as root), two in one /64 and one in the next /64.
V6_SAME = ("fd00:dec0:7e59::45", "fd00:dec0:7e59::46")
V6_OTHER = "fd00:dec0:7e59:1::45"


@pytest.fixture
def ipv6_clients():
    added = []
    try:
        for a in V6_SAME + (V6_OTHER,):
            subprocess.run(["ip", "-6", "addr", "add", a + "/128", "dev",
                            "lo", "nodad"], check=True)
            added.append(a)
        yield V6_SAME, V6_OTHER
    finally:
        for a in added:
            subprocess.run(["ip", "-6", "addr", "del", a + "/128", "dev",
                            "lo"], check=False)


def test_ipv6_clients_counted_by_their_64(mta, ipv6_clients):
    """Two addresses of one /64 are one client (the default
    client_prefix_v6 = 64: a host hands its customers a /64, they have
    all of it); the next /64 is another."""
    (a, b), other = ipv6_clients
    m = _settled(mta(ipv6=True, max_connections_per_ip=2))
    six = {"host": "::1", "port": m.port6}
    conns = _open(m, 1, a, **six) + _open(m, 1, b, **six)
    try:
        _refused(m, a, **six)
        _refused(m, b, **six)
        conns += _open(m, 2, other, **six)
        _refused(m, other, **six)
    finally:
        for s in conns:
            s.close()


def test_ipv6_prefix_128_counts_addresses(mta, ipv6_clients):
    """client_prefix_v6 = 128: the same two addresses are two clients."""
    (a, b), _ = ipv6_clients
    m = _settled(mta(ipv6=True, max_connections_per_ip=2,
                     extra_conf=conf(client_prefix_v6=128)))
    six = {"host": "::1", "port": m.port6}
    conns = _open(m, 2, a, **six) + _open(m, 2, b, **six)
    try:
        _refused(m, a, **six)
        _refused(m, b, **six)
    finally:
        for s in conns:
            s.close()


def test_auth_throttle_counts_the_same_networks(tls_mta):
    """client_prefix_v4 = 24: password failures from 127.0.0.30 block
    127.0.0.31 too (one network); 127.0.1.30 is another."""
    m = tls_mta(auth={"max_failures": 2, "block_time": 60},
                extra_conf=conf(client_prefix_v4=24))
    s = Smtp(m.ports["mx_starttls"], source="127.0.0.30", timeout=20)
    try:
        s.ehlo(HELO)
        starttls(s)
        s.ehlo(HELO)
        bad = "AUTH PLAIN " + auth_plain_b64("alice@example.test", "wrong")
        check(s.cmd(bad, timeout=20), 535, "5.7.8")
        check(s.cmd(bad, timeout=20), 421, "4.7.0")
    finally:
        s.close()
    _refused(m, "127.0.0.31")
    ev = m.wait_event("refused", client="[127.0.0.31]")
    assert "authentication" in ev[0]["reason"], ev[0]["_line"]
    with Smtp(m.port, source="127.0.1.30") as c:
        check(c.greeting, 220)


# -- connection rate -----------------------------------------------------

def test_connection_rate_boundary(mta):
    m = mta(extra_conf=conf(max_connection_rate=5))
    for _ in range(5):
        with Smtp(m.port, source="127.0.0.4") as s:
            check(s.greeting, 220)
            s.expect("QUIT", 221)
    r = _refused(m, "127.0.0.4")
    assert "slow down" in r.text, r
    _refused(m, "127.0.0.4")
    _refused(m, "127.0.0.4")
    # Another network still gets in.
    with Smtp(m.port, source="127.0.0.5") as s:
        check(s.greeting, 220)
    # Three refusals, one line: the log does not grow with the knocking.
    ev = m.wait_event("rate-limited")
    with Smtp(m.port, source="127.0.0.5") as s:      # a line after them
        check(s.greeting, 220)
    m.wait_event("connect", n=7)
    ev = m.events("rate-limited")
    assert len(ev) == 1, ev
    assert ev[0]["client"] == "[127.0.0.4]", ev[0]["_line"]
    assert ev[0]["network"] == "127.0.0.4", ev[0]["_line"]
    assert ev[0]["limit"] == "5", ev[0]["_line"]
    assert not m.events("refused", client="[127.0.0.4]")


def test_connection_rate_off_by_default(mta):
    m = mta()
    for _ in range(30):
        with Smtp(m.port, source="127.0.0.6") as s:
            check(s.greeting, 220)
    assert not m.events("rate-limited")


# -- greet_delay and early talkers ----------------------------------------

def test_early_talker_refused(mta):
    m = mta(extra_conf=conf(greet_delay=2))
    s = Smtp(m.port, source="127.0.0.7", greet=False, timeout=6)
    try:
        s.send(b"EHLO hasty.example.org\r\n")
        r = s.reply(timeout=6)
        check(r, 554, "5.5.1")
        assert s.closed()
    finally:
        s.close()
    ev = m.wait_event("early-talker")[0]
    assert ev["client"] == "[127.0.0.7]", ev["_line"]
    # It never got a 220, nor an answer to its EHLO.
    assert not m.events("command", client="[127.0.0.7]")


def test_patient_client_served_after_delay(mta):
    m = mta(extra_conf=conf(greet_delay=2))
    t0 = time.monotonic()
    with Smtp(m.port, source="127.0.0.8", timeout=8) as s:
        took = time.monotonic() - t0
        check(s.greeting, 220)
        assert 1.8 <= took < 5, took
        s.ehlo()
        s.expect("QUIT", 221)
    assert not m.events("early-talker")


def test_delay_longer_than_command_timeout(mta):
    """timeouts.command = 3 here: a 4 s delay is not the client's idle
    time, so the session is not cut before its 220."""
    m = mta(extra_conf=conf(greet_delay=4))
    with Smtp(m.port, timeout=10) as s:
        check(s.greeting, 220)
        s.ehlo()
    assert not m.events("timeout")


def test_client_leaving_mid_delay(mta):
    m = mta(extra_conf=conf(greet_delay=3))
    for _ in range(5):
        s = Smtp(m.port, source="127.0.0.9", greet=False)
        s.close()
    m.wait_event("lost", n=5, client="[127.0.0.9]")
    # And one that sends half a line and goes.
    s = Smtp(m.port, source="127.0.0.9", greet=False)
    s.sock.shutdown(socket.SHUT_WR)
    s.close()
    # The daemon is well: a patient client is served after its delay,
    # and the connection counts were given back.
    with Smtp(m.port, source="127.0.0.9", timeout=8) as s:
        check(s.greeting, 220)
        s.expect("QUIT", 221)
    assert not m.events("early-talker")


def test_slow_client_after_delay(mta):
    """Byte by byte after the 220: slow is not early."""
    m = mta(extra_conf=conf(greet_delay=1))
    with Smtp(m.port, source="127.0.0.10", timeout=8) as s:
        check(s.greeting, 220)
        for b in b"EHLO slow.example.org\r\n":
            s.send(bytes([b]))
            time.sleep(0.02)
        check(s.reply(), 250)
        s.expect("QUIT", 221)
    assert not m.events("early-talker")


def test_greet_delay_after_implicit_tls_handshake(tls_mta):
    m = tls_mta(extra_conf=conf(greet_delay=2))
    t0 = time.monotonic()
    s = implicit(m.ports["mx_implicit"], greet=False)
    try:
        shaken = time.monotonic()
        s.timeout = 8
        r = s.reply(timeout=8)
        took = time.monotonic() - shaken
        check(r, 220)
        assert 1.8 <= took < 5, (took, shaken - t0)
        s.expect("EHLO client.example.org", 250)
    finally:
        s.close()
    # An early talker inside TLS is refused the same way.
    s = implicit(m.ports["mx_implicit"], greet=False)
    try:
        s.send(b"EHLO hasty.example.org\r\n")
        check(s.reply(timeout=8), 554, "5.5.1")
    finally:
        s.close()
    m.wait_event("early-talker")


# -- junk commands ---------------------------------------------------------

def test_junk_limit_default_100(mta):
    m = mta()
    with Smtp(m.port, source="127.0.0.11") as s:
        s.ehlo()
        for i in range(100):
            s.expect("NOOP" if i % 2 else "RSET", 250)
        r = s.cmd("NOOP")
        check(r, 421, "4.7.0")
        assert s.closed()
    ev = m.wait_event("too-much-junk")
    assert len(ev) == 1 and ev[0]["junk"] == "101", ev
    # The 101st was not answered as a command, nor logged as one.
    assert len(m.events("command", cmd="NOOP")) + \
        len(m.events("command", cmd="RSET")) == 100


def test_junk_limit_counts_unknown_and_syntax(mta):
    """Unknown verbs and bad syntax are junk too; max_errors (here high)
    stays the limit on errors, junk_command_limit on junk."""
    m = mta(max_errors=1000, extra_conf=conf(junk_command_limit=6))
    with Smtp(m.port) as s:
        s.ehlo()
        s.expect("FROB", 500)
        s.expect("VRFY demo", 252)
        s.expect("HELP", 214)
        s.expect("RSET x", 501)
        s.expect("NOOP", 250)
        s.expect("EXPN list", 502)
        # Mail is no junk, and does not clear the count either (only an
        # accepted message does).
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.expect("NOOP", 421, "4.7.0")
        assert s.closed()
    assert len(m.events("too-much-junk")) == 1


def test_junk_count_restarts_with_each_message(mta):
    """A client reusing its connection sends RSET before each message:
    an accepted message clears the count, so only junk in a row counts."""
    m = mta(extra_conf=conf(junk_command_limit=3))
    with Smtp(m.port) as s:
        s.ehlo()
        for _ in range(4):
            for _ in range(3):
                s.expect("RSET", 250)
            s.mail("x@example.org")
            s.rcpt("demo@example.test")
            s.data(message())
        for _ in range(3):
            s.expect("NOOP", 250)
        s.expect("NOOP", 421, "4.7.0")
    assert len(m.wait_for_delivery("demo", n=4)) == 4


def test_rset_ending_a_transaction_is_no_junk(mta):
    """A recipient prober: MAIL, RCPT, RSET over and over."""
    m = mta(extra_conf=conf(junk_command_limit=3))
    with Smtp(m.port) as s:
        s.ehlo()
        for _ in range(10):
            s.mail("x@example.org")
            s.rcpt("demo@example.test")
            s.expect("RSET", 250)
        # An RSET with nothing to reset is junk again.
        for _ in range(3):
            s.expect("RSET", 250)
        s.expect("RSET", 421, "4.7.0")


def test_max_errors_still_applies(mta):
    """max_errors (5 here) below the junk limit: errors close first."""
    m = mta(extra_conf=conf(junk_command_limit=50))
    with Smtp(m.port) as s:
        s.ehlo()
        for _ in range(5):
            s.expect("FROB", 500)
        check(s.reply(), 421, "4.7.0")
    m.wait_event("too-many-errors")
    assert not m.events("too-much-junk")


# -- stress ----------------------------------------------------------------

def test_stress_on_and_off(mta):
    """max_connections = 10: 8 sessions (80%) are no stress, the 9th is.
    Under stress the idle sessions, whose timeouts.command is 30 s, are
    cut after stress_timeout = 1 s; once they are gone stress ends."""
    m = _settled(mta(max_connections=10, max_connections_per_ip=20,
                     timeout_command=30, extra_conf=conf(stress_timeout=1)))
    conns = _open(m, 8)
    try:
        # Each session's connect line follows its accounting: all eight
        # are counted, and stress was not entered.
        m.wait_event("connect", n=len(m.listeners()) + 8)
        assert not m.events("stress")
        t0 = time.monotonic()
        conns += _open(m, 1)
        on = m.wait_event("stress", state="on")
        assert on[0]["sessions"] == "9", on[0]["_line"]
        assert on[0]["timeout"] == "1", on[0]["_line"]
        # Every idle session gets 421 4.4.2 after about a second, not 30.
        for s in conns:
            r = s.reply(timeout=10)
            check(r, 421, "4.4.2")
        took = time.monotonic() - t0
        assert took < 5, took
        off = m.wait_event("stress", state="off")
        assert off[0]["timeout"] == "30", off[0]["_line"]
        assert len(m.events("stress", state="on")) == 1
        assert len(m.events("stress", state="off")) == 1
        # Out of stress, the configured timeout is back: a new session
        # is still there after a few seconds.
        with Smtp(m.port, timeout=10) as s:
            check(s.greeting, 220)
            time.sleep(2.5)
            s.expect("NOOP", 250)
    finally:
        for s in conns:
            s.close()


def test_stress_tls_handshake_timeout(tls_mta):
    """A client that opens implicit TLS and never says hello is cut after
    stress_timeout once the server is under stress."""
    m = _settled(tls_mta(max_connections=5, max_connections_per_ip=20,
                         timeout_command=30,
                         extra_conf=conf(stress_timeout=1)))
    conns = _open(m, 4)                  # 4 of 5: over 80% at the 5th
    port = m.ports["mx_implicit"]
    listener = "127.0.0.1:%d" % port
    # The readiness check of the start connected there too.
    before = len(m.events("connect", listener=listener))
    raw = socket.create_connection(("127.0.0.1", port))
    try:
        t0 = time.monotonic()
        m.wait_event("stress", state="on")
        sid = m.wait_event("connect", n=before + 1, listener=listener)[-1]
        # Cut after about a second, not timeouts.command (30 s).
        m.wait_event("timeout", timeout=5, session=sid["session"])
        assert time.monotonic() - t0 < 5
        assert not m.events("tls", session=sid["session"])
    finally:
        raw.close()
        for s in conns:
            s.close()


def test_stress_timeout_not_below_command_timeout_warns(mta):
    m = mta(start=False, timeout_command=5, extra_conf=conf(stress_timeout=5))
    r = m.cli("check-config")
    assert r.returncode == 0, (r.stdout, r.stderr)
    line = len(open(m.conf).read().splitlines())
    assert "%s:%d: warning: stress_timeout (5 s) is not below" % (m.conf, line) \
        in r.stderr, r.stderr
    m = mta(start=False, timeout_command=5, extra_conf=conf(stress_timeout=4))
    r = m.cli("check-config")
    assert r.returncode == 0 and "stress_timeout" not in r.stderr, r.stderr


def test_stress_leaves_at_70_percent(mta):
    """max_connections = 10: on at the 9th session; 8 left is still
    stress (no flip at the edge), 7 left ends it."""
    m = _settled(mta(max_connections=10, max_connections_per_ip=20,
                     timeout_command=60, extra_conf=conf(stress_timeout=30)))
    conns = _open(m, 9)
    try:
        m.wait_event("stress", state="on")
        conns.pop().expect("QUIT", 221)
        # (commands=1: ours, not the readiness check of the start.)
        m.wait_event("disconnect", commands="1")
        conns.pop().expect("QUIT", 221)
        off = m.wait_event("stress", state="off")
        assert off[0]["sessions"] == "7", off[0]["_line"]
        lines = m.log().splitlines()
        on_at = next(i for i, l in enumerate(lines)
                     if "event=stress state=on" in l)
        off_at = next(i for i, l in enumerate(lines)
                      if "event=stress state=off" in l)
        # Not at the first QUIT (8 left, 80%): at the second.
        assert len([l for l in lines[on_at:off_at]
                    if "event=disconnect " in l]) == 2, lines[on_at:]
        for s in conns:
            s.expect("NOOP", 250)
    finally:
        for s in conns:
            s.close()
