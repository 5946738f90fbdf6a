"""A moment without the domains folder (review of issue 8, route
finding 2).

Once the daemons have listed `domains`, a missing or unlistable folder
is a temporary failure that keeps the tables read before
(event=domains-error), never "no domain is local": RCPTs answer 250 or
451 while it is away, never 554 (relay denied) or 550, and the queue
manager defers local mail routed meanwhile (4.3.0) instead of sending
it out as remote mail and bouncing it.  When the folder is back, every
domain answers as before (event=domains-recovered) and the deferred
mail is delivered.  Reproduced before: `domains` renamed away for 1.3 s
and back gave 554 5.7.1 to a real user, and a 5.4.6 bounce of local
mail.
"""

import os
import time

from mtaproc import wait_until
from smtpraw import Smtp
from test_tables import Prober, rcpt_code_now


def away(m, proc):
    """Events saying that proc's tables lost the domains folder."""
    return [e for e in m.events("domains-error")
            if " %s[" % proc in e["_line"]]


def back(m, proc):
    return [e for e in m.events("domains-recovered")
            if " %s[" % proc in e["_line"]]


def listed(m, proc):
    """Wait until proc has read the domain folder once (the qmgr may
    start a moment after the listeners are ready)."""
    wait_until(lambda: [e for e in m.events("domains-loaded", domains="1")
                        if " %s[" % proc in e["_line"]], 5,
               what="%s to list the domains" % proc)


def test_rename_away_and_back_never_refuses(mta):
    m = mta(max_errors=1000)
    moved = m.domains + ".moved"
    listed(m, "smtpd")
    probe = Prober(m, "demo@example.test")
    probe.start()
    wait_until(lambda: probe.codes, 10, what="a first RCPT")
    for round_ in range(3):
        os.rename(m.domains, moved)
        wait_until(lambda: len(away(m, "smtpd")) > round_, 5,
                   what="smtpd to notice")
        # The tables are kept, but nothing is said of them meanwhile.
        assert rcpt_code_now(m, "demo@example.test") == 451
        assert rcpt_code_now(m, "nobody@example.test") == 451
        time.sleep(1.3)                 # the reviewer's outage
        os.rename(moved, m.domains)
        wait_until(lambda: len(back(m, "smtpd")) > round_, 5,
                   what="smtpd to have it back")
        assert rcpt_code_now(m, "demo@example.test") == 250
    codes = probe.finish()
    assert set(codes) <= {250, 451}, codes
    assert 451 in codes and 250 in codes, codes
    # Unknown users are unknown again, and remote is remote.
    assert rcpt_code_now(m, "nobody@example.test") == 550
    assert rcpt_code_now(m, "x@elsewhere.example") == 554
    err = away(m, "smtpd")[0]
    assert err["dir"] == m.domains, err["_line"]
    assert "every domain answers try later" in err["effect"], err["_line"]


def test_local_mail_routed_meanwhile_waits(mta):
    """sendmail queues mail for demo while `domains` is away (the CLI
    cannot tell, it has never listed it); the queue manager must defer
    it, not route it as remote mail."""
    m = mta()
    moved = m.domains + ".moved"
    listed(m, "qmgr")
    os.rename(m.domains, moved)
    wait_until(lambda: away(m, "qmgr"), 5, what="qmgr to notice")
    r = m.cli("sendmail", "demo@example.test",
              input="Subject: during the outage\n\nhello\n")
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    ev = m.wait_event("deferred", rcpt="<demo@example.test>")[0]
    assert ev["code"] == "4.3.0", ev["_line"]
    os.rename(moved, m.domains)
    wait_until(lambda: back(m, "qmgr"), 5, what="qmgr to have it back")
    m.flush()
    msgs = m.wait_for_delivery("demo")
    assert b"during the outage" in msgs[0]
    m.wait_event("removed", id=ev["id"])
    assert m.events("failed") == [], m.events("failed")
    assert m.events("bounce") == []
    assert m.messages("admin") == []    # no report to anyone


def test_missing_from_the_start_is_no_domains(mta):
    """A daemon that never saw the folder has no local domain (a fresh
    install before `decorum user add`); once the folder appears it is
    listed, and from then on its absence is a temporary failure."""
    m = mta(start=False, relay_networks=())
    moved = m.domains + ".moved"
    os.rename(m.domains, moved)
    m.start()
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("x@example.org")
        s.rcpt("demo@example.test", 554, "5.7.1")
    os.rename(moved, m.domains)
    wait_until(lambda: rcpt_code_now(m, "demo@example.test") == 250, 5,
               what="the folder to be listed")
    os.rename(m.domains, moved)
    wait_until(lambda: away(m, "smtpd"), 5, what="smtpd to notice")
    assert rcpt_code_now(m, "demo@example.test") == 451
