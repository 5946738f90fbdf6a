"""AUTH guessing with many connections at once (the policy in
src/auth/throttle.h): one password check at a time per client network,
the failure delay holding the network's next check, at most max_failures
passwords checked before the block, no check at all once blocked (on open
connections, the right password included, and on new ones), a success
that neither clears a block nor forgets earlier failures, a waiting AUTH
that gives up with 454 4.7.0, and waiting or delayed attempts whose
client leaves or whose server stops (under ASan).

Every test here runs with auth.max_failures = 3 unless it says otherwise:
the delays before the block are then 1 s and 2 s."""

import smtplib
import time

import pytest

from conftest import HELO, auth_plain_b64, client_context, implicit, \
    tls_session
from smtpraw import Smtp, check

ALICE = "alice@example.test"
WRONG = "Wr0ng-guess-%d"


def auth(login, password):
    return "AUTH PLAIN " + auth_plain_b64(login, password)


def send_auth(s, login, password):
    """Send AUTH without waiting for its reply."""
    s.send(auth(login, password) + "\r\n")


def checks(m):
    """Passwords checked so far: every check logs auth or auth-failed."""
    return len(m.events("auth")) + len(m.events("auth-failed"))


def refused_at_connect(m, where):
    """A new connection from 127.0.0.1 to where gets 421 4.7.0."""
    if where.endswith("implicit"):
        with implicit(m.ports[where], greet=False) as c:
            r = c.reply()
    else:
        with Smtp(m.ports[where]) as c:
            r = c.greeting
    check(r, 421, "4.7.0")


@pytest.mark.parametrize("where", ["mx_starttls", "mx_implicit",
                                   "sub_starttls"])
def test_twenty_parallel_connections(tls_mta, where):
    """19 connections send a wrong password at the same moment and a 20th,
    open all along, sends the right one after the block: three passwords
    are checked, the others get 421 without a check, and the block holds
    for this address while another address logs in."""
    m = tls_mta(auth={"max_failures": 3, "block_time": 60},
                max_connections_per_ip=30, timeout_command=60)
    sessions = [tls_session(m, where) for _ in range(20)]
    try:
        t0 = time.monotonic()
        for i, s in enumerate(sessions[:19]):
            send_auth(s, ALICE, WRONG % i)
        replies = [s.reply(timeout=30) for s in sessions[:19]]
        elapsed = time.monotonic() - t0
        assert sorted(r.code for r in replies) == [421] * 17 + [535] * 2, \
            replies
        for s, r in zip(sessions[:19], replies):
            if r.code == 535:
                check(r, 535, "5.7.8")
            else:
                check(r, 421, "4.7.0")
                assert s.closed(timeout=5), "open after 421"
        # One check at a time, each after the previous one's delay.
        assert 2.5 <= elapsed < 20, "19 guesses answered in %.2fs" % elapsed
        assert len(m.events("auth-failed")) == 3
        assert len(m.events("auth-failed", blocked="yes")) == 1
        assert len(m.events("auth-refused")) == 16
        # The right password, on a connection open since before the
        # block: refused without a check.
        check(sessions[19].cmd(auth(ALICE, "alice-pw"), timeout=10),
              421, "4.7.0")
        assert sessions[19].closed(timeout=5)
        assert len(m.events("auth-refused")) == 17
        assert checks(m) == 3 and not m.events("auth")
    finally:
        for s in sessions:
            s.close()
    # The block holds: new connections from the address are refused.
    refused_at_connect(m, where)
    refused_at_connect(m, "sub_implicit")
    # Another address is unaffected.
    with smtplib.SMTP_SSL("127.0.0.1", m.ports["sub_implicit"],
                          local_hostname=HELO, timeout=10,
                          context=client_context(),
                          source_address=("127.0.0.2", 0)) as c:
        c.ehlo()
        assert c.login(ALICE, "alice-pw")[0] == 235
    refused_at_connect(m, where)
    assert checks(m) == 4


def test_two_clients_behind_one_address_both_get_in(tls_mta):
    """A user with two mail clients behind one NAT: one has an old
    password, both send AUTH at once.  The second waits its turn (no
    454), and the right password logs in."""
    m = tls_mta()
    a = tls_session(m, "sub_starttls")
    b = tls_session(m, "sub_implicit")
    try:
        send_auth(a, ALICE, "old-password")
        send_auth(b, ALICE, "alice-pw")
        check(a.reply(timeout=20), 535, "5.7.8")
        check(b.reply(timeout=20), 235, "2.7.0")
        b.mail(ALICE)
    finally:
        a.close()
        b.close()
    assert not m.events("auth-wait-timeout")
    assert checks(m) == 2


def test_success_does_not_reset_failures(tls_mta):
    """Guess, guess, log in with a valid account, guess: the third wrong
    guess blocks, the login in between notwithstanding."""
    m = tls_mta()
    with tls_session(m, "mx_implicit") as s:
        for i in range(2):
            check(s.cmd(auth(ALICE, WRONG % i), timeout=20), 535, "5.7.8")
    with tls_session(m, "mx_implicit") as s:
        check(s.cmd(auth("bob@example.test", "bob-pw"), timeout=20),
              235, "2.7.0")
    with tls_session(m, "mx_implicit") as s:
        check(s.cmd(auth(ALICE, WRONG % 3), timeout=20), 421, "4.7.0")
    ev = m.events("auth-failed")
    assert len(ev) == 3 and ev[-1].get("blocked") == "yes", ev
    refused_at_connect(m, "mx_starttls")


def test_waiting_auth_gives_up_with_454(tls_mta):
    """An AUTH that waits longer than timeouts.command for its network's
    turn (here behind a 4 s failure delay) gets 454 4.7.0, and its
    session goes on; its password was never checked."""
    m = tls_mta(auth={"max_failures": 5, "block_time": 60},
                timeout_command=2)
    a = tls_session(m, "mx_implicit")
    try:
        for i in range(2):
            check(a.cmd(auth(ALICE, WRONG % i), timeout=20), 535, "5.7.8")
        # The third failure holds the network's next check for 4 s.
        send_auth(a, ALICE, WRONG % 2)
        m.wait_event("auth-failed", n=3)
        with tls_session(m, "mx_implicit") as b:
            t0 = time.monotonic()
            check(b.cmd(auth(ALICE, "alice-pw"), timeout=20), 454, "4.7.0")
            assert 1.5 <= time.monotonic() - t0 < 3.9
            b.expect("NOOP", 250)
        check(a.reply(timeout=20), 535, "5.7.8")
    finally:
        a.close()
    assert len(m.events("auth-wait")) == 1
    assert len(m.events("auth-wait-timeout")) == 1
    assert checks(m) == 3


def test_clients_that_leave_mid_auth(tls_mta):
    """The client leaves during its failure delay, and while it waits its
    turn: each guess still counts, nothing is answered to nobody, the
    sanitizers stay quiet, and the network's turn passes on."""
    m = tls_mta(auth={"max_failures": 10, "block_time": 60},
                timeout_command=30)
    first = tls_session(m, "mx_starttls")
    waiting = tls_session(m, "mx_starttls")
    third = tls_session(m, "sub_implicit")
    try:
        # Two failures first, so the third's delay is 4 s: the delays
        # are whole seconds of the clock, and a 1 s one may be nearly
        # over by the time its auth-failed line is read.
        for n in (1, 2):
            check(first.cmd(auth(ALICE, WRONG % n), timeout=20), 535,
                  "5.7.8")
        send_auth(first, ALICE, WRONG % 3)
        m.wait_event("auth-failed", n=3)
        first.close()                   # during its 4 s delay
        send_auth(waiting, ALICE, WRONG % 4)
        m.wait_event("auth-wait", n=1)
        waiting.close()                 # while waiting its turn
        # Right after sending: the server may or may not see the AUTH
        # before the end; either way it must survive.
        send_auth(third, ALICE, WRONG % 5)
        third.close()
    finally:
        first.close()
        waiting.close()
        third.close()
    m.wait_event("auth-failed", n=4, timeout=20)
    m.wait_event("disconnect", n=3, timeout=30)
    assert checks(m) in (4, 5)
    # The turn passes on: the right password is checked once the last
    # failure's delay (8 s, or 16 s when the third's guess counted) is out.
    with tls_session(m, "mx_implicit") as s:
        check(s.cmd(auth(ALICE, "alice-pw"), timeout=40), 235, "2.7.0")


def test_shutdown_with_auth_waiting_and_delayed(tls_mta):
    """SIGTERM while one AUTH sits in its failure delay and another waits
    behind it: the waiting one gets 421 at once without a check, the
    delayed one its 535 and then 421; the daemon exits cleanly."""
    m = tls_mta(auth={"max_failures": 10, "block_time": 60},
                timeout_command=30)
    a = tls_session(m, "sub_implicit")
    b = tls_session(m, "sub_implicit")
    try:
        # Two failures first: the third's delay is 4 s, long enough to
        # be caught in (the delays run on the clock's whole seconds).
        for n in (1, 2):
            check(a.cmd(auth(ALICE, WRONG % n), timeout=20), 535, "5.7.8")
        send_auth(a, ALICE, WRONG % 3)
        m.wait_event("auth-failed", n=3)
        send_auth(b, ALICE, "alice-pw")
        m.wait_event("auth-wait", n=1)
        assert m.stop() == 0
        check(b.reply(), 421, "4.3.2")
        check(a.reply(timeout=10), 535, "5.7.8")
        check(a.reply(), 421, "4.3.2")
        assert a.closed(timeout=5) and b.closed(timeout=5)
    finally:
        a.close()
        b.close()
    assert checks(m) == 3
