"""SMTP AUTH (RFC 4954) with PLAIN (RFC 4616) and LOGIN: only over TLS,
initial-response and challenge forms, '*' cancellation, the error replies,
authorization identities, one reply for unknown user and wrong password,
the per-network failure throttle (growing delay, then 421 and a block;
parallel guessing is in test_auth_parallel.py), logs
without passwords, crypt(3) hashes written by `decorum user add`, and
smtplib / swaks logins."""

import shutil
import smtplib
import subprocess
import time

import pytest

from conftest import (HELO, PASSWORDS, auth_plain_b64, b64, client_context,
                      implicit, tls_session)
from smtpraw import ConnectionClosed, Smtp, check

SWAKS = shutil.which("swaks") or "/usr/bin/swaks"
ALICE = "alice@example.test"
WRONG_PW = "Wr0ng-Pass-9q7"
OK_REPLY = "2.7.0 Authentication successful"
BAD_REPLY = "5.7.8 Authentication credentials invalid"


def assert_no_password(m, *extra):
    log = m.log()
    for pw in list(PASSWORDS.values()) + [WRONG_PW] + list(extra):
        assert pw not in log, "password %r in the log" % pw
        assert b64(pw) not in log, "base64 of password %r in the log" % pw


def auth_failed_events(m):
    return m.log_events("auth-failed")


# -- where AUTH is offered ---------------------------------------------------

def test_auth_refused_on_plaintext_mx(tls_mta):
    m = tls_mta()
    for port in (m.ports["mx_starttls"], m.port):
        with Smtp(port) as s:
            r = s.ehlo(HELO)
            assert not any(l.upper().startswith("AUTH") for l in r.lines), r
            # RFC 4954 4 + RFC 5248: 538 5.7.11 Encryption required.
            s.expect("AUTH PLAIN " + auth_plain_b64(ALICE, "alice-pw"),
                     538, "5.7.11")
            # The session goes on unauthenticated.
            s.expect("NOOP", 250)
    assert_no_password(m)


def test_auth_plain_initial_response(tls_mta):
    m = tls_mta()
    for where in ("mx_starttls", "mx_implicit", "sub_starttls",
                  "sub_implicit"):
        with tls_session(m, where) as s:
            r = s.expect("AUTH PLAIN " + auth_plain_b64(ALICE, "alice-pw"),
                         235, "2.7.0")
            assert r.first == OK_REPLY, (where, r)
            s.expect("AUTH PLAIN " + auth_plain_b64(ALICE, "alice-pw"),
                     503, "5.5.1")
            s.expect("QUIT", 221)
    assert_no_password(m)


def test_auth_plain_challenge_form(tls_mta):
    m = tls_mta()
    with tls_session(m, "sub_starttls") as s:
        r = s.cmd("AUTH PLAIN")
        # RFC 4954 4: an empty challenge is "334 " and nothing else.
        assert r.code == 334 and r.lines == [""], r
        r = s.cmd(auth_plain_b64("bob@example.test", "bob-pw"))
        check(r, 235, "2.7.0")


def test_auth_plain_empty_initial_response(tls_mta):
    """RFC 4954 4: "=" is an initial response of zero length, which for
    PLAIN is malformed; it must not crash or authenticate."""
    m = tls_mta()
    with tls_session(m) as s:
        r = s.cmd("AUTH PLAIN =")
        assert r.code in (501, 535), r
        s.expect("NOOP", 250)


def test_auth_login(tls_mta):
    m = tls_mta()
    with tls_session(m, "sub_implicit") as s:
        r = s.cmd("AUTH LOGIN")
        assert r.code == 334 and r.first, r
        r = s.cmd(b64(ALICE))
        assert r.code == 334 and r.first, r
        r = s.cmd(b64("alice-pw"))
        check(r, 235, "2.7.0")
    with tls_session(m, "mx_starttls") as s:
        # Initial-response form: the username rides on the command.
        r = s.cmd("AUTH LOGIN " + b64("demo@example.test"))
        assert r.code == 334, r
        check(s.cmd(b64("demo-pw")), 235, "2.7.0")
    assert_no_password(m)


def test_auth_cancel(tls_mta):
    m = tls_mta()
    with tls_session(m) as s:
        assert s.cmd("AUTH PLAIN").code == 334
        s.expect("*", 501, "5.0.0")
        assert s.cmd("AUTH LOGIN").code == 334
        assert s.cmd(b64(ALICE)).code == 334
        s.expect("*", 501, "5.0.0")
        # Cancelling is not a login: still not authenticated, may retry.
        s.expect("AUTH PLAIN " + auth_plain_b64(ALICE, "alice-pw"),
                 235, "2.7.0")


def test_auth_syntax_errors(tls_mta):
    m = tls_mta()
    with tls_session(m) as s:
        s.expect("AUTH CRAM-MD5", 504, "5.5.4")
        s.expect("AUTH X-NOSUCH " + b64("x"), 504, "5.5.4")
        s.expect("AUTH PLAIN !!not*base64!!", 501, "5.5.2")
        assert s.cmd("AUTH LOGIN").code == 334
        s.expect("%%%", 501, "5.5.2")
        s.expect("NOOP", 250)
        s.expect("AUTH PLAIN " + auth_plain_b64(ALICE, "alice-pw"),
                 235, "2.7.0")


def test_auth_response_too_long_ends_exchange(tls_mta):
    """RFC 4954 4: an over-long response line ends the exchange with
    500 5.5.6; the session goes on and can authenticate again."""
    m = tls_mta()
    with tls_session(m) as s:
        assert s.cmd("AUTH LOGIN").code == 334
        s.expect("A" * 5000, 500, "5.5.6")
        # Back to commands: this is a command again, not a response.
        s.expect("NOOP", 250)
        s.expect("AUTH PLAIN " + auth_plain_b64(ALICE, "alice-pw"),
                 235, "2.7.0")


def test_auth_inside_transaction(tls_mta):
    """RFC 4954 4: AUTH is not permitted during a mail transaction."""
    m = tls_mta()
    with tls_session(m, "mx_implicit") as s:
        s.mail("x@example.org")
        s.expect("AUTH PLAIN " + auth_plain_b64(ALICE, "alice-pw"),
                 503, "5.5.1")
        s.expect("RSET", 250)
        s.expect("AUTH PLAIN " + auth_plain_b64(ALICE, "alice-pw"),
                 235, "2.7.0")


def test_authzid(tls_mta):
    m = tls_mta()
    with tls_session(m) as s:
        # Equal to the authentication identity: fine.
        s.expect("AUTH PLAIN " + auth_plain_b64(ALICE, "alice-pw", ALICE),
                 235, "2.7.0")
    with tls_session(m) as s:
        # Acting as another user needs auth.allow_authzid (off).
        r = s.cmd("AUTH PLAIN " + auth_plain_b64(ALICE, "alice-pw",
                                                 "bob@example.test"),
                  timeout=20)
        check(r, 535, "5.7.8")
        assert r.lines == [BAD_REPLY], r
        # Still unauthenticated: a plain mx session, no relaying.
        s.mail("x@example.org")
        s.expect("RCPT TO:<someone@remote.example>", 554, "5.7.1")
    assert_no_password(m)


def test_authzid_allowed_when_configured(tls_mta):
    m = tls_mta(auth={"max_failures": 3, "block_time": 3,
                      "allow_authzid": True})
    with tls_session(m, "sub_implicit") as s:
        s.expect("AUTH PLAIN " + auth_plain_b64(ALICE, "alice-pw",
                                                 "bob@example.test"),
                 235, "2.7.0")


# -- failures: one reply, a delay, a log line --------------------------------

def test_unknown_user_and_wrong_password_look_alike(tls_mta):
    m = tls_mta()
    with tls_session(m) as s:
        t0 = time.monotonic()
        r1 = s.cmd("AUTH PLAIN " + auth_plain_b64("nobody@example.test",
                                                  WRONG_PW), timeout=20)
        t1 = time.monotonic()
    check(r1, 535, "5.7.8")
    assert t1 - t0 < 10
    # A new connection: the delay is per client IP, not per session.
    with tls_session(m, "sub_implicit") as s:
        t1 = time.monotonic()
        r2 = s.cmd("AUTH PLAIN " + auth_plain_b64(ALICE, WRONG_PW),
                   timeout=20)
        t2 = time.monotonic()
        check(r2, 535, "5.7.8")
        assert r1.lines == r2.lines == [BAD_REPLY], (r1, r2)
        # The second failure from this IP is slowed down (issue 3.4).
        assert t2 - t1 >= 0.9, "2nd failure answered after %.2fs" % (t2 - t1)
        # The right password still logs in (it does not clear the count:
        # test_auth_parallel.py).
        s.expect("AUTH PLAIN " + auth_plain_b64(ALICE, "alice-pw"),
                 235, "2.7.0")
    evs = auth_failed_events(m)
    assert len(evs) == 2, evs
    for e, user in zip(evs, ("nobody@example.test", ALICE)):
        assert "127.0.0.1" in e["_line"], e["_line"]
        assert user in e["_line"], e["_line"]
    assert_no_password(m)


def test_wrong_password_login_mechanism_logged(tls_mta):
    m = tls_mta()
    with tls_session(m, "sub_starttls") as s:
        assert s.cmd("AUTH LOGIN").code == 334
        assert s.cmd(b64("bob@example.test")).code == 334
        r = s.cmd(b64(WRONG_PW), timeout=20)
        check(r, 535, "5.7.8")
        assert r.lines == [BAD_REPLY]
    evs = auth_failed_events(m)
    assert len(evs) == 1 and "bob@example.test" in evs[0]["_line"] \
        and "127.0.0.1" in evs[0]["_line"], evs
    assert_no_password(m)


def test_user_without_login_cannot_authenticate(tls_mta):
    """admin has a mailbox but no password (users line "admin:")."""
    m = tls_mta()
    with tls_session(m) as s:
        # The empty password against the empty hash is the classic hole.
        r = s.cmd("AUTH PLAIN " + auth_plain_b64("admin@example.test", ""),
                  timeout=20)
        check(r, 535, "5.7.8")


def test_throttle_blocks_then_releases(tls_mta):
    m = tls_mta()
    s = tls_session(m)
    try:
        check(s.cmd("AUTH PLAIN " + auth_plain_b64(ALICE, WRONG_PW),
                    timeout=20), 535, "5.7.8")
        check(s.cmd("AUTH PLAIN " + auth_plain_b64(ALICE, WRONG_PW + "2"),
                    timeout=20), 535, "5.7.8")
        # max_failures = 3: the third failure ends the session.
        r = s.cmd("AUTH PLAIN " + auth_plain_b64("bob@example.test",
                                                 WRONG_PW), timeout=20)
        check(r, 421, "4.7.0")
        assert s.closed(timeout=5), "session open after 421"
    finally:
        s.close()
    blocked_at = time.monotonic()

    # New connections from the address are refused at once, on every
    # listener, until block_time (3 s) has passed.
    for port in (m.ports["mx_starttls"], m.ports["sub_starttls"], m.port):
        with Smtp(port) as c:
            check(c.greeting, 421, "4.7.0")
            assert c.closed(timeout=5)
    with implicit(m.ports["sub_implicit"], greet=False) as c:
        check(c.reply(), 421, "4.7.0")
        assert c.closed(timeout=5)

    def accepted():
        try:
            with Smtp(m.ports["sub_starttls"]) as c:
                return c.greeting.code == 220
        except (ConnectionClosed, ConnectionError, OSError):
            return False
    deadline = time.monotonic() + 10
    while not accepted():
        assert time.monotonic() < deadline, \
            "still refused 10 s after a 3 s block"
        time.sleep(0.2)
    assert time.monotonic() - blocked_at >= 2.0, \
        "block lifted after %.1fs; block_time is 3" \
        % (time.monotonic() - blocked_at)
    with tls_session(m, "sub_starttls") as c:
        c.expect("AUTH PLAIN " + auth_plain_b64(ALICE, "alice-pw"),
                 235, "2.7.0")
    evs = auth_failed_events(m)
    assert len(evs) >= 3, evs
    assert all("127.0.0.1" in e["_line"] for e in evs)
    assert_no_password(m, WRONG_PW + "2")


# -- hashes made by the CLI --------------------------------------------------

def test_user_add_hash_logs_in(tls_mta):
    m = tls_mta(start=False)
    r = m.cli("user", "add", "carol@example.test", input="carol-secret-1\n")
    assert r.returncode == 0, r.stdout + r.stderr
    with open(m.domain_dir() + "/users") as f:
        line = [l for l in f if l.startswith("carol:")][0]
    assert line.split(":", 1)[1].startswith(("$y$", "$6$", "$7$")), line
    m.start()
    with tls_session(m, "sub_implicit") as s:
        s.expect("AUTH PLAIN " + auth_plain_b64("carol@example.test",
                                                "carol-secret-1"),
                 235, "2.7.0")
    assert_no_password(m, "carol-secret-1")


# -- real clients ------------------------------------------------------------

def test_smtplib_login(tls_mta):
    m = tls_mta()
    with smtplib.SMTP("127.0.0.1", m.ports["sub_starttls"],
                      local_hostname=HELO, timeout=10) as c:
        c.ehlo()
        assert not c.has_extn("auth")
        with pytest.raises(smtplib.SMTPNotSupportedError):
            c.login(ALICE, "alice-pw")
        c.starttls(context=client_context())
        c.ehlo()
        assert set(c.esmtp_features["auth"].upper().split()) == \
            {"PLAIN", "LOGIN"}
        code, _ = c.login(ALICE, "alice-pw")
        assert code == 235
    with smtplib.SMTP_SSL("127.0.0.1", m.ports["sub_implicit"],
                          local_hostname=HELO, timeout=10,
                          context=client_context()) as c:
        c.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError) as ei:
            c.login(ALICE, WRONG_PW)
        assert ei.value.smtp_code == 535
    with smtplib.SMTP_SSL("127.0.0.1", m.ports["mx_implicit"],
                          local_hostname=HELO, timeout=20,
                          context=client_context()) as c:
        c.ehlo()
        # LOGIN explicitly: smtplib picks PLAIN otherwise.
        c.user, c.password = "bob@example.test", "bob-pw"
        code, _ = c.auth("LOGIN", c.auth_login, initial_response_ok=False)
        assert code == 235
    assert_no_password(m)


def test_swaks_wrong_password(tls_mta):
    m = tls_mta()
    r = subprocess.run(
        [SWAKS, "--server", "127.0.0.1:%d" % m.ports["sub_starttls"],
         "--tls", "--auth", "PLAIN", "--auth-user", ALICE,
         "--auth-password", WRONG_PW, "--to", "demo@example.test",
         "--from", ALICE, "--helo", HELO, "--timeout", "20"],
        capture_output=True, text=True, timeout=40)
    assert r.returncode != 0, r.stdout
    assert "535 5.7.8" in r.stdout, r.stdout + r.stderr
    assert not m.messages("demo")
    assert_no_password(m)
