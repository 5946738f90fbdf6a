"""No idle connections (issue 12, item 6): the outbound scheduler opens a
connection only for a job that no open or opening connection will take.

The reported case: eight messages queued at nearly the same moment for
one destination opened seven connections, three of which carried no
mail (EHLO, STARTTLS, QUIT).  A connection that finished its message
took the next waiting one, which a connection still in its handshake
had been opened for; that one then found nothing to carry.  Now every
connection in setup has a waiting job kept for it.

- Eight messages at once to one destination (STARTTLS, as reported):
  every connection the remote sees carries at least one message, and
  all eight arrive.
- Parallelism stays where there is work for it: forty messages to a
  slow server use more than one connection, never more than
  delivery.destination_concurrency, and none of them carries nothing.
"""

import pytest

from conftest import add_mx, compose, submit
from test_outbound_limits import submit_all


def idle_connections(mx):
    return [c for c in mx.connections if not c.transactions]


def send_at_once(m, domain, n):
    jobs = [("x@example.org", ["u%d@%s" % (i, domain)],
             compose(subject="idle %d" % i, to="u%d@%s" % (i, domain)))
            for i in range(n)]
    return jobs, submit_all(m, jobs)


def assert_all_arrived(m, mx, jobs, qids):
    mx.wait_delivered(len(jobs), timeout=60, log=m.log)
    for qid in qids:
        m.wait_event("delivered", id=qid)
    got = sorted(r for t in mx.delivered() for r in t.rcpts)
    assert got == sorted(j[1][0] for j in jobs)


@pytest.mark.parametrize("tls", [True, False])
def test_eight_at_once_no_connection_carries_nothing(outbound_mta, remote_mx,
                                                     dns, certs, tls):
    mx = remote_mx("127.0.0.21", tls_cert=certs["mx"] if tls else None)
    add_mx(dns, "eight.example", ["127.0.0.21"])
    # A long cache time: a connection with nothing to do stays open, so
    # one that carried nothing would still be counted below.
    m = outbound_mta(delivery={"connection_cache_time": 30})
    jobs, qids = send_at_once(m, "eight.example", 8)
    assert_all_arrived(m, mx, jobs, qids)
    assert idle_connections(mx) == [], mx.connections
    assert 1 <= len(mx.connections) <= 8, mx.connections


def test_busy_connection_leaves_the_job_to_the_one_opened_for_it(
        outbound_mta, remote_mx, dns):
    # The race, made certain: the first connection is busy (a slow
    # reply to DATA) when the second message comes, so a second
    # connection opens for it, and the server greets that one late.
    # The first is free again before the second is ready: it must not
    # take the second message, or the second connection carries nothing.
    mx = remote_mx("127.0.0.21", data_delay=1.0, greeting_delay=[0, 2.5])
    add_mx(dns, "race.example", ["127.0.0.21"])
    m = outbound_mta(delivery={"connection_cache_time": 30})
    jobs, qids = [], []
    for i in range(2):
        rcpt = "u%d@race.example" % i
        jobs.append(("x@example.org", [rcpt],
                     compose(subject="race %d" % i, to=rcpt)))
        qids.append(submit(m, *jobs[-1])[0])
    assert_all_arrived(m, mx, jobs, qids)
    assert idle_connections(mx) == [], mx.connections
    # Each message on its own connection: the second came while the
    # first connection was busy.
    assert [len(c.transactions) for c in mx.connections] == [1, 1], \
        mx.connections


@pytest.mark.parametrize("limit", [4, 20])
def test_forty_messages_still_go_in_parallel(outbound_mta, remote_mx, dns,
                                             limit):
    mx = remote_mx("127.0.0.21", data_delay=0.2)
    add_mx(dns, "forty.example", ["127.0.0.21"])
    m = outbound_mta(delivery={"destination_concurrency": limit,
                               "connection_cache_time": 30},
                     max_connections_per_ip=50)
    jobs, qids = send_at_once(m, "forty.example", 40)
    assert_all_arrived(m, mx, jobs, qids)
    # A slow server and a backlog: more than one connection at once,
    # never more than the limit, and each of them carried mail.
    assert 1 < mx.max_active <= limit, (mx.max_active, mx.connections)
    assert idle_connections(mx) == [], mx.connections
