"""Greylisting with Redis against the real daemon (issue 9 item 6;
docs/policy.md, "Greylisting with Redis"): the cases that only a shared,
separate store has.  The rules themselves run against both backends in
test_greylist.py; the backend's own edges in test_greylist_redis.py.

- Several nodes: a triplet greylisted on one Decorum passes on a second
  that shares the Redis.
- Redis down at start, killed mid-run: the check fails open (mail
  accepted, event=greylist-unavailable logged); Redis back: greylisting
  again, without restarting Decorum.
- Redis hanging (SIGSTOP): the command timeout answers, no session
  hangs; a client that leaves while its check is out leaves nothing
  behind when the late answer comes (the mta fixture fails the test on
  any sanitizer report in the daemon's log).
"""

import socket
import time

from conftest import HELO
from redisd import free_port
from smtpraw import Smtp, message
from test_greylist import attempt, grey_conf

BACKOFF_MAX = 5.0            # store_redis.c, REDIS_BACKOFF_MAX_MS
COMMAND_TIMEOUT = 2.0        # store_redis.c, REDIS_COMMAND_TIMEOUT_MS


def grey_mta(mta, url, **keys):
    return mta(extra_conf=grey_conf(url, **keys))


def data_answer(m, sender, rcpt):
    """The reply code to DATA (or to the message, after a 354)."""
    with Smtp(m.port) as s:
        s.ehlo(HELO)
        s.mail(sender)
        s.rcpt(rcpt)
        r = s.cmd("DATA")
        if r.code == 354:
            s.send(message(sender=sender, to=rcpt))
            r = s.reply()
        s.expect("QUIT", 221)
    return r.code


def greylisting_again(m, rcpt, timeout=BACKOFF_MAX + 5):
    """Tries until the store answers again (a 451 for a new triplet)."""
    deadline = time.monotonic() + timeout
    n = 0
    while True:
        code = data_answer(m, "again%d@example.org" % n, rcpt)
        if code == 451:
            return
        assert code == 250, code
        assert time.monotonic() < deadline, m.log()[-3000:]
        n += 1
        time.sleep(0.2)


def test_triplet_passed_on_one_node_passes_on_another(mta, redisd):
    r = redisd()
    a = grey_mta(mta, r.url(), delay=1)
    b = grey_mta(mta, r.url(), delay=1)
    attempt(a, code=451, enhanced="4.7.1")
    time.sleep(1.1)
    # The retry reaches the other node, which has never seen the client.
    attempt(b, code=250)
    attempt(a, code=250)
    assert b.events("greylist", answer="pass")
    assert not b.events("greylist", answer="defer")


def test_down_at_start_fails_open_then_greylists(mta, redisd):
    port = free_port()
    m = grey_mta(mta, "redis://127.0.0.1:%d/0" % port, delay=300)
    attempt(m, code=250)
    m.wait_event("greylist-unavailable", on_trouble="accept")
    m.wait_event("greylist-redis", state="down")
    redisd(port=port)
    greylisting_again(m, "demo@example.test")
    m.wait_event("greylist-redis", state="up")


def test_killed_mid_run_fails_open_then_greylists(mta, redisd):
    r = redisd()
    m = grey_mta(mta, r.url(), delay=300)
    attempt(m, code=451)
    r.stop()
    attempt(m, code=250)
    m.wait_event("greylist-unavailable", on_trouble="accept")
    r.start()
    greylisting_again(m, "demo@example.test")


def test_on_trouble_tempfail(mta, redisd):
    m = grey_mta(mta, "redis://127.0.0.1:%d/0" % free_port(),
                 on_trouble="tempfail")
    attempt(m, code=451)
    m.wait_event("greylist-unavailable", on_trouble="tempfail")


def test_hanging_redis_answers_in_time(mta, redisd):
    r = redisd()
    m = grey_mta(mta, r.url(), delay=300)
    attempt(m, code=451)
    r.pause()
    try:
        started = time.monotonic()
        attempt(m, rcpts=("alice@example.test",), code=250)   # fails open
        took = time.monotonic() - started
        assert took < COMMAND_TIMEOUT + 2, took
        m.wait_event("greylist-redis", state="down")
        # Others are not held behind it either.
        started = time.monotonic()
        attempt(m, rcpts=("alice@example.test",), sender="y@example.org",
                code=250)
        assert time.monotonic() - started < COMMAND_TIMEOUT + 2
    finally:
        r.resume()
    greylisting_again(m, "alice@example.test")


def test_client_gone_before_the_answer(mta, redisd):
    """The session ends while Redis holds its check; the check's late
    return (the timeout's drop of the connection) touches nothing freed."""
    r = redisd()
    m = grey_mta(mta, r.url(), delay=300)
    attempt(m, code=451)
    r.pause()
    try:
        for i in range(3):
            s = Smtp(m.port)
            s.ehlo(HELO)
            s.mail("gone%d@example.org" % i)
            s.cmd("RCPT TO:<demo@example.test>")
            s.sock.send(b"DATA\r\n")
            s.sock.shutdown(socket.SHUT_RDWR)
            s.sock.close()
        m.wait_event("greylist-redis", state="down",
                     reason="command timeout", timeout=COMMAND_TIMEOUT + 5)
    finally:
        r.resume()
    greylisting_again(m, "demo@example.test")
