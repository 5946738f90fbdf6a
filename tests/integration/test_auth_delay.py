"""The AUTH failure delays are exact (review of issue 8, item 4): the
throttle runs on a monotonic clock in milliseconds, so after a failure
the network's next check waits 1 s, then 2 s, ..., to the millisecond.
On whole seconds of the wall clock, a failure at x.6 s let an AUTH that
came at x+1.05 s be checked at once, 0.45 s later; a clock stepped back
would have stalled every waiting AUTH."""

import datetime
import time

from conftest import HELO, auth_plain_b64, implicit
from smtpraw import check

ALICE = "alice@example.test"


def logged_at(event):
    """The wall-clock time of a log line, in seconds."""
    stamp = event["_line"].split(" ", 1)[0]
    return datetime.datetime.strptime(
        stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()


def at_fraction(f):
    """Sleep until the wall clock's fraction of a second is f."""
    now = time.time()
    time.sleep((f - (now % 1.0)) % 1.0)


def test_next_check_waits_the_whole_delay(tls_mta):
    """A fails at about x.6 s; B's AUTH arrives at x+1.05 s, inside A's
    1 s delay: it waits its turn, and its check comes no sooner than 1 s
    after A's failure.  The same at x+2.05 s for the 2 s delay of the
    second failure."""
    m = tls_mta(auth={"max_failures": 10, "block_time": 60},
                timeout_command=10)
    a = implicit(m.ports["mx_implicit"])
    a.ehlo(HELO)
    b = implicit(m.ports["mx_implicit"])
    b.ehlo(HELO)
    for n, delay in ((1, 1.0), (2, 2.0)):
        at_fraction(0.5)
        a.send("AUTH PLAIN " + auth_plain_b64(ALICE, "wrong%d" % n) + "\r\n")
        failed = m.wait_event("auth-failed", n=n, timeout=10)[n - 1]
        t_fail = logged_at(failed)
        # Just past the whole second where whole seconds ended the
        # delay, well inside the real one.
        boundary = int(t_fail) + delay + 0.05
        assert boundary < t_fail + delay - 0.1, "the check took too long"
        time.sleep(max(0.0, boundary - time.time()))
        b.send("AUTH PLAIN " + auth_plain_b64(ALICE, "alice-pw") + "\r\n")
        check(b.reply(timeout=10), 235, "2.7.0")
        t_ok = logged_at(m.events("auth")[-1])
        assert t_ok - t_fail >= delay, (t_fail, t_ok)
        check(a.reply(timeout=10), 535, "5.7.8")
        if n == 1:
            # Log out again for the second round: a new session.
            b.close()
            b = implicit(m.ports["mx_implicit"])
            b.ehlo(HELO)
    a.close()
    b.close()
