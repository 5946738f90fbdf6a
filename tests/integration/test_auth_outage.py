"""AUTH while the domain tables cannot answer (review of issue 8, item 10).

When the domains folder is missing or unreadable, the route module
answers "try later" for every domain (here the folder is replaced by a
file, an unreadable folder even for root).  A login then cannot be checked:
it was answered 535 and counted as a failure against the client, so an
outage of the tables turned into blocks of honest users.  Now it is
454 4.7.0 Temporary authentication failure, no password is checked, and
the throttle counts nothing: max_failures (3 here) such answers in a row
neither block the network nor delay its next check, and once the folder
is back the same login works at once.
"""

import os
import time

from conftest import auth_plain_b64, tls_session
from smtpraw import ConnectionClosed

ALICE = "alice@example.test"
TEMP_REPLY = "4.7.0 Temporary authentication failure"


def smtpd_events(m, event):
    return [e for e in m.log_events(event) if " smtpd[" in e["_line"]]


def test_auth_during_domains_outage(tls_mta):
    m = tls_mta()           # auth.max_failures = 3, block_time = 3
    # The outage: the folder moved away and a file in its place, so the
    # listing fails (ENOTDIR) however the route module treats a folder
    # that is merely gone (with "try later" for that too, the rename
    # alone does the same).
    away = m.domains + ".away"
    os.rename(m.domains, away)
    open(m.domains, "w").close()
    m.wait_log(r"smtpd\[\d+\] error: event=domains-error")

    # As many answers as max_failures, in one session and with the right
    # password and a wrong one: were any counted, the third would be 421
    # and a block.
    s = tls_session(m, "sub_starttls")
    try:
        for pw in ("alice-pw", "Wr0ng-Pass-9q7", "alice-pw"):
            r = s.expect("AUTH PLAIN " + auth_plain_b64(ALICE, pw), 454,
                         "4.7.0")
            assert r.first == TEMP_REPLY, r
        s.expect("NOOP", 250)
    finally:
        s.close()
    assert len(smtpd_events(m, "auth-tempfail")) == 3, m.log()

    os.unlink(m.domains)
    os.rename(away, m.domains)
    deadline = time.monotonic() + 10
    while True:
        # Fresh connections: a 454 still counts toward max_errors.
        with tls_session(m, "sub_starttls") as c:
            r = c.cmd("AUTH PLAIN " + auth_plain_b64(ALICE, "alice-pw"),
                      timeout=10)
            if r.code == 235:
                break
            assert r.code == 454, r
        assert time.monotonic() < deadline, \
            "AUTH still refused 10 s after the domains folder came back"
        time.sleep(0.2)

    # Nothing was counted: no failure, no wait for a delay, no block; and
    # a wrong password now is the first failure (535 after 1 s, no 421).
    assert smtpd_events(m, "auth-failed") == [], m.log()
    assert smtpd_events(m, "auth-wait") == [], m.log()
    assert smtpd_events(m, "auth-refused") == [], m.log()
    with tls_session(m, "sub_starttls") as c:
        t0 = time.monotonic()
        try:
            r = c.cmd("AUTH PLAIN " + auth_plain_b64(ALICE, "nope"),
                      timeout=20)
        except ConnectionClosed:
            raise AssertionError("closed after one failure: %s" % m.log())
        assert r.code == 535, r
        assert 0.9 <= time.monotonic() - t0 < 1.9, time.monotonic() - t0
    evs = smtpd_events(m, "auth-failed")
    assert len(evs) == 1 and "blocked" not in evs[0], evs
