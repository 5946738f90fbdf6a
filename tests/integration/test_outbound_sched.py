"""The outbound scheduler and the queue manager under load (issue 8,
items 10 and 7): no destination stalls another, and nothing waits for
the network that does not need it.

- Slots go round: with delivery.max_connections full, a freed slot goes
  to the next destination in line, not back to the one with the backlog;
  an idle cached connection gives its slot up at once; a connection
  carries at most delivery.connection_reuse_limit messages.
- Back-off: parallel connections of one destination failing together
  count as one failed round (the first back-off step, not six doublings).
- 421 (RFC 5321 3.8: the server is closing the channel): whatever it
  answers, the connection carries no further message and is closed.
- Local delivery never waits for the network, nor one destination for
  another's backlog: a message's Maildir copy goes before its remote one
  is answered; with more messages for a tarpit than the qmgr's whole
  network budget, the tarpit gets its share and local mail and mail for
  other destinations still go at once (test_outbound_budget.py: held
  messages warn and expire).
- The qmgr's loop does no file I/O: with 5,000 messages queued at start
  it is never busy for long (log_level = "debug" times it); a daemon
  stopped while a message's data is read ahead for a slow server exits
  cleanly (ASan) and sends the message whole after the restart.
"""

import os
import threading
import time

import pytest

from conftest import add_mx, compose, submit
from mtaproc import wait_until
from queuefill import b62
from test_outbound_limits import raw_mx, serve  # noqa: F401 (fixture)

SENDER = "alice@example.test"       # local: its reports land in a Maildir


def delivered_order(m, qids):
    """The queue ids of qids in the order of their delivered events."""
    order = []
    for e in m.log_events("delivered"):
        if e.get("id") in qids and e["id"] not in order:
            order.append(e["id"])
    return order


def submit_many(m, jobs):
    """Each (sender, rcpts, msg) on its own connection, all at once;
    returns the queue ids in the order of jobs."""
    out, errors = [None] * len(jobs), []

    def run(i):
        try:
            out[i] = submit(m, *jobs[i])[0]
        except Exception as e:          # reported below
            errors.append(repr(e))
    threads = [threading.Thread(target=run, args=(i,))
               for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    return out


# -- slots go round ----------------------------------------------------------

def test_freed_slot_goes_to_the_next_destination(outbound_mta, remote_mx,
                                                  dns):
    # The reported case: one slot in all, ten messages for a.example on
    # it, then one for b.example.  b waits for one of a's messages, not
    # for all ten.
    mx_a = remote_mx("127.0.0.21", data_delay=0.5)
    mx_b = remote_mx("127.0.0.22")
    add_mx(dns, "a.example", ["127.0.0.21"])
    add_mx(dns, "b.example", ["127.0.0.22"])
    m = outbound_mta(delivery={"max_connections": 1,
                               "connection_cache_time": 30})
    a_ids = [submit(m, SENDER, ["u%d@a.example" % i],
                    compose(subject="a %d" % i, to="u%d@a.example" % i))[0]
             for i in range(10)]
    # a's backlog is queued and its one connection busy when b comes.
    wait_until(lambda: mx_a.transactions(), 10, what="a's first message")
    b_id, _ = submit(m, SENDER, ["u@b.example"])
    mx_b.wait_delivered(1, timeout=20, log=m.log)
    mx_a.wait_delivered(10, timeout=40, log=m.log)
    for qid in a_ids + [b_id]:
        m.wait_event("delivered", id=qid)
    order = delivered_order(m, set(a_ids + [b_id]))
    assert order.index(b_id) <= 2, order
    # Never more than one connection at once, in all.
    assert mx_a.max_active + mx_b.max_active <= 2
    assert mx_a.max_active == 1 and mx_b.max_active == 1


def test_even_shares_keep_their_connections(outbound_mta, remote_mx, dns):
    # Two slots in all, two destinations with a backlog each.  a.example
    # takes both first; b.example, with none, gets one of them after a's
    # current message; then each has one and wants more, and neither has
    # a better claim: both keep their connection for their backlog
    # instead of handing slots back and forth (b may take a's second slot
    # once a's mail is out).
    mx_a = remote_mx("127.0.0.21", data_delay=0.4)
    mx_b = remote_mx("127.0.0.22", data_delay=0.4)
    add_mx(dns, "a.example", ["127.0.0.21"])
    add_mx(dns, "b.example", ["127.0.0.22"])
    m = outbound_mta(delivery={"max_connections": 2,
                               "connection_cache_time": 30})
    ids = [submit(m, SENDER, ["u%d@a.example" % i],
                  compose(subject="a %d" % i, to="u%d@a.example" % i))[0]
           for i in range(6)]
    wait_until(lambda: mx_a.active == 2, 10, what="a's two connections")
    ids += [submit(m, SENDER, ["u%d@b.example" % i],
                   compose(subject="b %d" % i, to="u%d@b.example" % i))[0]
            for i in range(6)]
    mx_a.wait_delivered(6, timeout=30, log=m.log)
    mx_b.wait_delivered(6, timeout=30, log=m.log)
    for qid in ids:
        m.wait_event("delivered", id=qid)
    assert len(mx_a.connections) == 2, mx_a.connections
    assert len(mx_b.connections) <= 2, mx_b.connections
    assert len(mx_b.connections[0].transactions) >= 4, mx_b.connections


def test_idle_connection_gives_its_slot_up(outbound_mta, remote_mx, dns):
    # A cached idle connection to a.example holds the only slot; mail for
    # b.example takes it at once instead of waiting out the cache time.
    mx_a = remote_mx("127.0.0.21")
    mx_b = remote_mx("127.0.0.22")
    add_mx(dns, "a.example", ["127.0.0.21"])
    add_mx(dns, "b.example", ["127.0.0.22"])
    m = outbound_mta(delivery={"max_connections": 1,
                               "connection_cache_time": 60})
    qa, _ = submit(m, SENDER, ["u@a.example"])
    m.wait_event("delivered", id=qa)
    assert mx_a.active == 1, "the connection to a.example is not cached"
    t0 = time.monotonic()
    qb, _ = submit(m, SENDER, ["u@b.example"])
    mx_b.wait_delivered(1, timeout=10, log=m.log)
    assert time.monotonic() - t0 < 5
    m.wait_event("delivered", id=qb)
    # a's idle connection said QUIT to make room.
    conn, = mx_a.connections
    assert conn.lines[-1].upper().startswith(b"QUIT"), conn.lines


def test_connection_reuse_limit(outbound_mta, remote_mx, dns):
    # delivery.connection_reuse_limit = 3: seven messages for one
    # destination over one slot take three connections, 3 + 3 + 1.
    mx = remote_mx("127.0.0.21", data_delay=0.2)
    add_mx(dns, "reuse.example", ["127.0.0.21"])
    m = outbound_mta(delivery={"connection_reuse_limit": 3,
                               "destination_concurrency": 1,
                               "connection_cache_time": 30})
    qids = submit_many(m, [(SENDER, ["u%d@reuse.example" % i],
                            compose(subject="r %d" % i,
                                    to="u%d@reuse.example" % i))
                           for i in range(7)])
    mx.wait_delivered(7, timeout=30, log=m.log)
    for qid in qids:
        m.wait_event("delivered", id=qid)
    conns = mx.connections
    assert [len(c.transactions) for c in conns] == [3, 3, 1], conns
    # The full ones ended with QUIT, at once.
    for c in conns[:2]:
        assert c.lines[-1].upper().startswith(b"QUIT"), c.lines
    assert mx.max_active == 1


def test_connection_reuse_limit_one(outbound_mta, remote_mx, dns):
    # The lower bound: every message on a connection of its own.
    mx = remote_mx("127.0.0.21")
    add_mx(dns, "once.example", ["127.0.0.21"])
    m = outbound_mta(delivery={"connection_reuse_limit": 1,
                               "connection_cache_time": 30})
    for i in range(3):
        qid, _ = submit(m, SENDER, ["u%d@once.example" % i])
        m.wait_event("delivered", id=qid)
    assert [len(c.transactions) for c in mx.connections] == [1, 1, 1]


# -- back-off: once per round ------------------------------------------------

def slow_421_greeting(conn):
    """Holds the greeting for 1.5 s, then refuses: every connection of a
    round is still being set up when the first one fails."""
    time.sleep(1.5)
    conn.send(b"421 4.3.2 raw.example busy, try later\r\n")
    conn.drain(timeout=5)


def test_parallel_failures_back_off_one_step(outbound_mta, raw_mx, dns):
    raw = raw_mx("127.0.0.21", slow_421_greeting)
    add_mx(dns, "busy.example", ["127.0.0.21"])
    dest = "smtp:busy.example"
    m = outbound_mta(retry_min=60, retry_max=3600)
    qids = submit_many(m, [(SENDER, ["u%d@busy.example" % i],
                            compose(subject="busy %d" % i,
                                    to="u%d@busy.example" % i))
                           for i in range(6)])
    for qid in qids:
        m.wait_event("deferred", id=qid, timeout=15)
    # Six connections in one round, all refused.
    assert len(raw.connections) == 6, raw.connections
    wait_until(lambda: len(m.events("connect-failed", dest=dest)) == 6, 10,
               what="six failed connections")
    downs = m.events("destination-down", dest=dest)
    assert downs, m.log()[-2000:]
    # One step of queue.retry_min, however many connections failed.
    for e in downs:
        assert e["failures"] == "1", [d["_line"] for d in downs]
        assert 54 <= int(e["delay"]) <= 66, e["_line"]


# -- 421: the server is leaving ----------------------------------------------

def test_421_after_the_dot_ends_the_connection(outbound_mta, remote_mx, dns):
    # The server answers the final dot with 421 and then says nothing
    # more: the message is deferred, and neither its retry nor the next
    # message goes over that connection.
    mx = remote_mx("127.0.0.21",
                   data_reply=["421 4.3.2 fake MX shutting down"])
    add_mx(dns, "bye.example", ["127.0.0.21"])
    m = outbound_mta(delivery={"connection_cache_time": 30})
    q1, msg1 = submit(m, SENDER, ["u1@bye.example"],
                      compose(subject="bye 1", to="u1@bye.example"))
    ev = m.wait_event("deferred", id=q1)[0]
    assert ev["code"].startswith("4.") and "421" in ev["reason"], ev["_line"]
    q2, msg2 = submit(m, SENDER, ["u2@bye.example"],
                      compose(subject="bye 2", to="u2@bye.example"))
    for qid in (q1, q2):
        m.wait_event("delivered", id=qid, timeout=20)
    conns = mx.connections
    assert len(conns) >= 2, conns
    first = conns[0]
    assert len(first.transactions) == 1, first
    assert first.transactions[0].data_reply.startswith("421")
    wait_until(lambda: first.closed, 5, what="the first connection closed")
    got = [t.data for t in mx.delivered()]
    assert any(d.endswith(msg1) for d in got) and \
        any(d.endswith(msg2) for d in got)


@pytest.mark.parametrize("where", [b"MAIL", b"RCPT", b"DATA", b"."])
def test_421_anywhere_closes_at_once(outbound_mta, raw_mx, dns, where):
    # 421 to MAIL, RCPT, DATA or the final dot, then silence: the client
    # hangs up at once (it neither waits for a reply that will not come
    # nor keeps the connection for the next message), and the retry goes
    # over a new connection.
    seen = []

    def handler(conn):
        seen.append(conn)
        hostile = {where: b"421 4.4.2 raw.example closing\r\n"} \
            if len(seen) == 1 else None
        serve(conn, caps=(b"8BITMIME",), hostile=hostile)
    raw = raw_mx("127.0.0.21", handler)
    add_mx(dns, "closing.example", ["127.0.0.21"])
    m = outbound_mta(delivery={"connection_cache_time": 30})
    qid, msg = submit(m, SENDER, ["u@closing.example"])
    ev = m.wait_event("deferred", id=qid)[0]
    assert ev["code"].startswith("4.") and "421" in ev["reason"], ev["_line"]
    m.wait_event("delivered", id=qid, timeout=20)
    first = raw.connections[0]
    wait_until(lambda: first.done, 20, what="the first connection to end")
    assert first.eof, "the client did not hang up after the 421"
    assert len(raw.connections) == 2, raw.connections
    assert raw.connections[1].messages, raw.connections[1].sent


# -- local delivery never waits for the network ------------------------------

def preload(m, count, rcpt, sender="x@example.org"):
    """count committed messages for rcpt, written into the stopped
    daemon's spool as docs/queue.md describes them (V 1 ... E, the data
    in data/), as a crash would leave them: the start-up scan finds them.
    Ids as src/queue/queue_id.c makes them, sorting before any new one."""
    now = int(time.time())
    for sub in ("queue", "data"):
        os.makedirs(os.path.join(m.spool, sub), 0o700, exist_ok=True)
    body = compose(subject="queued", sender=sender, to=rcpt)
    ids = []
    for i in range(count):
        qid = b62(now - 60, 6) + b62(i, 4) + b62(os.getpid(), 6) + b62(i, 3)
        with open(os.path.join(m.spool, "data", qid), "wb") as f:
            f.write(body)
        with open(os.path.join(m.spool, "queue", qid), "w") as f:
            f.write("V 1\nI %s\nT %d\nS %s\nR %s\nE\n"
                    % (qid, now - 60, sender, rcpt))
        ids.append(qid)
    return ids


def test_local_copy_does_not_wait_for_the_remote_one(outbound_mta,
                                                     remote_mx, dns):
    # One message for a local user and for a server that takes 8 s to
    # answer the dot: the Maildir copy is there at once.
    slow = remote_mx("127.0.0.21", data_delay=8)
    add_mx(dns, "slow.example", ["127.0.0.21"])
    m = outbound_mta()
    t0 = time.monotonic()
    qid, msg = submit(m, SENDER, ["bob@example.test", "u@slow.example"])
    m.wait_for_delivery("bob", timeout=5)
    assert time.monotonic() - t0 < 5
    ev = m.wait_event("delivered", id=qid, rcpt="<bob@example.test>")[0]
    assert ev["agent"] == "maildir", ev["_line"]
    assert m.events("removed", id=qid) == []
    # Then the network copy, recorded by a second run; one copy each.
    m.wait_event("delivered", id=qid, rcpt="<u@slow.example>", timeout=20)
    m.wait_event("removed", id=qid)
    assert len(m.messages("bob")) == 1
    assert [t.data.endswith(msg) for t in slow.delivered()] == [True]


def test_tarpit_backlog_holds_no_other_destination(outbound_mta,
                                                    remote_mx, dns):
    # The reported case (review of issue 8, item 10): 1,010 messages for
    # a server that answers the dot after 60 s, more than the qmgr's
    # whole network budget (1,000 messages out at once).  The tarpit gets
    # its share only (4 x destination_concurrency = 80 messages out, the
    # rest held in its line); local mail, and a message for a fast
    # server, go at once, not behind the backlog.
    tarpit = remote_mx("127.0.0.21", data_delay=60)
    fast = remote_mx("127.0.0.22")
    add_mx(dns, "tarpit.example", ["127.0.0.21"])
    add_mx(dns, "fast.example", ["127.0.0.22"])
    m = outbound_mta(start=False, retry_min=60, retry_max=120,
                     lifetime=3600)
    preload(m, 1010, "u@tarpit.example")
    m.start()
    m.wait_event("started", queued="1010")
    wait_until(lambda: tarpit.active >= 20, 30,
               what="20 connections held by the tarpit")
    t0 = time.monotonic()
    q_local, _ = submit(m, SENDER, ["bob@example.test"])
    q_mixed, msg = submit(m, SENDER, ["alice@example.test",
                                      "v@fast.example"])
    m.wait_for_delivery("bob", timeout=5)
    m.wait_for_delivery("alice", timeout=5)
    t = fast.wait_delivered(1, timeout=10, log=m.log)[0]
    took = time.monotonic() - t0
    assert took < 5, "the fast destination waited %.1f s" % took
    assert t.data.endswith(msg) and t.rcpts == ["v@fast.example"]
    m.wait_event("removed", id=q_mixed, timeout=10)
    m.wait_event("removed", id=q_local)
    assert m.events("deferred", id=q_mixed) == []
    assert len(m.messages("alice")) == 1
    # The held ones were not tried: no record, no deferral; the tarpit
    # never had more than its 20 connections.
    assert m.events("deferred") == []
    assert tarpit.max_active <= 20
    # Stopped with them all still queued.
    assert m.stop() == 0
    assert len(os.listdir(os.path.join(m.spool, "queue"))) == 1010


# -- the data read ahead, and connections that go away ------------------------

def slow_reader(conn):
    """Answers the envelope, then reads the message data slowly (the
    client keeps reading ahead for a full socket) until it hangs up."""
    conn.send(b"220 raw.example ESMTP\r\n")
    while not conn.eof:
        lines = conn.read_group(0.2)
        out = b""
        for line in lines:
            verb = line[:4].upper()
            if verb == b"DATA":
                conn.send(out + b"354 go on\r\n")
                out = b""
                while not conn.eof:
                    conn.buf = b""
                    try:
                        conn._recv(1.0)
                    except OSError:
                        pass
                    time.sleep(0.05)
                return
            out += b"250-raw.example\r\n250 8BITMIME\r\n" \
                if verb in (b"EHLO", b"HELO") else b"250 2.0.0 Ok\r\n"
        if out:
            conn.send(out)


def test_stop_while_data_streams(outbound_mta, raw_mx, remote_mx, dns):
    # SIGTERM while a 3 MB message streams to a server that reads it
    # slowly: the connection is cut with reads of its data in flight;
    # nothing touches freed memory (ASan), the daemon exits 0, and after
    # the restart the message goes whole.
    raw = raw_mx("127.0.0.21", slow_reader)
    add_mx(dns, "sloth.example", ["127.0.0.21"])
    m = outbound_mta(max_message_size=4000000)
    body = b"".join(b"line %07d of a long message\r\n" % i
                    for i in range(100000))
    msg = compose(subject="big", sender=SENDER, to="u@sloth.example",
                  body=body)
    assert len(msg) > 3000000
    qid, _ = submit(m, SENDER, ["u@sloth.example"], msg)
    wait_until(lambda: raw.connections and
               sum(len(c) for c in raw.connections[0].chunks) > 300000,
               20, what="the data to stream")
    assert m.stop() == 0
    assert m.events("delivered", id=qid) == []
    raw.stop()
    good = remote_mx("127.0.0.21")
    m.start()
    t = good.wait_delivered(1, timeout=30, log=m.log)[0]
    assert t.data.endswith(msg)
    m.wait_event("removed", id=qid, timeout=20)


def test_qmgr_loop_stays_free_with_a_big_queue(outbound_mta, remote_mx, dns):
    # 5,000 messages in the spool at start, for a server that hangs: the
    # start-up scan, the loads and the plans of a thousand of them must
    # not hold the qmgr's loop.  Measured by the loop-lag probe of
    # log_level = "debug" as CPU time in one go (the wall clock would
    # count a busy machine too).  Before the loads and scans moved to
    # worker threads this was 1.5 s under ASan (now about 10 ms).
    tarpit = remote_mx("127.0.0.21", data_delay=30)
    add_mx(dns, "tarpit.example", ["127.0.0.21"])
    m = outbound_mta(start=False, retry_min=60, retry_max=120,
                     lifetime=3600, conf='log_level = "debug";\n')
    preload(m, 5000, "u@tarpit.example")
    m.start()
    # The scan's 5,000 ids are added 500 a loop turn; all are known when
    # it says it has started.
    m.wait_event("started", timeout=30, queued="5000")
    wait_until(lambda: tarpit.active >= 20, 60,
               what="20 connections held by the tarpit")
    # A local message still goes at once.
    submit(m, SENDER, ["bob@example.test"])
    m.wait_for_delivery("bob", timeout=10)
    assert m.stop() == 0
    lag, = m.events("loop-lag", loop="qmgr")
    assert int(lag["max_cpu_ms"]) < 250, lag["_line"]


def test_mailbox_copied_once_across_the_two_runs(outbound_mta, remote_mx,
                                                 mx_port):
    # alice directly, and the alias team (alice and bob), with bob's
    # mailbox behind a slow LMTP server: the first run copies alice's
    # mail once for both recipients, the second records bob's LMTP
    # answer and must not copy alice's again.
    lmtp = remote_mx("127.0.0.24", lmtp=True, data_delay=2)
    m = outbound_mta(conf='transports = ( { match = "bob@example.test"; '
                     'via = "lmtp:127.0.0.24:%d"; } );\n' % mx_port)
    qid, msg = submit(m, SENDER, ["alice@example.test", "team@example.test"])
    m.wait_for_delivery("alice", timeout=5)
    assert m.events("removed", id=qid) == []
    t = lmtp.wait_delivered(1, timeout=20, log=m.log)[0]
    assert t.rcpts == ["bob@example.test"] and t.data.endswith(msg)
    m.wait_event("removed", id=qid, timeout=20)
    assert len(m.messages("alice")) == 1, m.messages("alice")
    assert m.messages("bob") == []
