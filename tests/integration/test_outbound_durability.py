"""Outbound delivery across crashes and restarts: the queue, not the
process, holds the state.

A remote transaction cut by kill -9 or by SIGTERM leaves its recipient
pending in the spool; after the restart the message goes out again, with
the same envelope sender, and the queue ends empty.  Delivery is
at-least-once in the window between the server's data and our status
record (docs/delivery.md): the fake MX may see the message twice, never
zero times.
"""

import time

from conftest import add_mx, submit
from remotemx import wait_until

SENDER = "\"odd sender+tag\"@example.org"


def queued(m):
    return m.cli("queue", "list").stdout


def mid_data(mx):
    """The fake MX holds the message data but has not answered yet."""
    return any(t.data is not None and t.data_reply is None
               for t in mx.transactions())


def test_kill9_mid_transaction_delivered_after_restart(outbound_mta,
                                                       remote_mx, dns):
    slow = remote_mx("127.0.0.21", data_delay=4)
    add_mx(dns, "slow.example", ["127.0.0.21"])
    m = outbound_mta()
    qid, msg = submit(m, SENDER, ["u@slow.example"])
    wait_until(lambda: mid_data(slow), 10, what="the data at the fake MX")
    m.kill9()
    # Nothing was recorded: the recipient is still pending.
    assert m.events("delivered", id=qid) == []
    slow.data_delay = 0
    m.start()
    ev = m.wait_event("delivered", id=qid, timeout=20)[0]
    assert ev["agent"] == "smtp", ev["_line"]
    m.wait_event("removed", id=qid)
    assert qid not in queued(m)
    sent = [t for t in slow.transactions() if t.data is not None]
    assert len(sent) >= 2, sent         # the cut one and the retry
    # The retry is the same envelope and the same message.
    assert len({t.mail for t in sent}) == 1, [t.mail for t in sent]
    assert all(t.data.endswith(msg) for t in sent)


def test_sigterm_mid_transaction_exits_0_and_retries(outbound_mta,
                                                     remote_mx, dns):
    slow = remote_mx("127.0.0.21", data_delay=4)
    add_mx(dns, "slow.example", ["127.0.0.21"])
    m = outbound_mta()
    qid, msg = submit(m, SENDER, ["u@slow.example"])
    wait_until(lambda: mid_data(slow), 10, what="the data at the fake MX")
    start = time.monotonic()
    assert m.stop() == 0
    # The qmgr does not wait for a slow server before it exits.
    assert time.monotonic() - start < 4, time.monotonic() - start
    assert m.events("delivered", id=qid) == []
    assert qid in queued(m)
    slow.data_delay = 0
    m.start()
    m.wait_event("delivered", id=qid, timeout=20)
    m.wait_event("removed", id=qid)
    sent = [t for t in slow.transactions() if t.data is not None]
    assert len({t.mail for t in sent}) == 1, [t.mail for t in sent]
    assert sent[-1].data.endswith(msg)


def test_deferred_remote_survives_restart(outbound_mta, remote_mx, dns):
    grumpy = remote_mx("127.0.0.21",
                       rcpt_replies={"u@later.example": "451 4.3.0 not now"})
    add_mx(dns, "later.example", ["127.0.0.21"])
    m = outbound_mta()
    qid, msg = submit(m, SENDER, ["u@later.example"])
    m.wait_event("deferred", id=qid)
    assert m.stop() == 0
    grumpy.rcpt_replies = {}
    m.start()
    m.wait_event("delivered", id=qid, timeout=20)
    m.wait_event("removed", id=qid)
    mails = [t.mail for t in grumpy.transactions()]
    assert len(mails) >= 2 and len(set(mails)) == 1, mails
    done = [t for t in grumpy.transactions() if t.delivered]
    assert len(done) == 1 and done[0].data.endswith(msg), done
