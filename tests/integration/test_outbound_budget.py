"""The qmgr's network budget per destination (review of issue 8, item
10): a destination takes at most 4 x delivery.destination_concurrency
messages out at once; the rest wait, held, in its line.  A held message
is not forgotten there: its sender gets the delay warning on time, and
at the end of queue.lifetime its held copies fail and it bounces.
(test_outbound_sched.py::test_tarpit_backlog_holds_no_other_destination
shows another destination's mail going past a tarpit's backlog.)
"""

import time

from conftest import add_mx, compose, submit
from mtaproc import wait_until

SENDER = "alice@example.test"       # local: its reports land in a Maildir


def test_held_message_warns_and_bounces_at_its_lifetime(outbound_mta,
                                                        remote_mx, dns):
    # One connection to a tarpit (destination_concurrency = 1: four
    # messages out at most), six messages: two are held.  They are never
    # tried, yet each warns at queue.delay_warning and bounces at
    # queue.lifetime, with no room ever freed.
    tarpit = remote_mx("127.0.0.21", data_delay=60)
    add_mx(dns, "tarpit.example", ["127.0.0.21"])
    m = outbound_mta(delivery={"destination_concurrency": 1},
                     retry_min=60, retry_max=60, lifetime=16,
                     delay_warning=6)
    t0 = time.monotonic()
    ids = [submit(m, SENDER, ["u%d@tarpit.example" % i],
                  compose(subject="t %d" % i, to="u%d@tarpit.example" % i))[0]
           for i in range(6)]
    wait_until(lambda: tarpit.active == 1, 10, what="the tarpit connection")
    bounces = m.wait_event("bounce", n=2, timeout=30)
    took = time.monotonic() - t0
    held = sorted(e["id"] for e in bounces)
    assert set(held) <= set(ids), held
    # At the lifetime (16 s), not before; and not at a retry.
    assert 15 <= took < 26, took
    for qid in held:
        warn, = m.events("delay-warning", id=qid)
        f, = m.events("failed", id=qid)
        assert f["code"] == "5.4.7", f["_line"]
        assert f["reason"].startswith("held back: no room on the "
                                      "network for smtp:tarpit.example"), \
            f["_line"]
        assert m.events("deferred", id=qid) == []
        m.wait_event("removed", id=qid)
    # The sender has both warnings and both bounces.
    m.wait_for_delivery("alice", n=4, timeout=10)
    texts = m.read_messages("alice")
    assert sum(b"Action: delayed" in t for t in texts) == 2, texts
    assert sum(b"Action: failed" in t for t in texts) == 2, texts
    # The tarpit saw the other four only (one connection, one at a time).
    assert tarpit.max_active == 1
    held_rcpts = {"u%d@tarpit.example" % ids.index(q) for q in held}
    assert not [t for t in tarpit.transactions()
                if set(t.rcpts) & held_rcpts]
    assert m.stop() == 0
