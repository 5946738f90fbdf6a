"""A transaction waiting for its message data from the spool (issue 8,
review item 8): the wait is bounded by delivery.timeouts.data_block.

The server has said 354 and waits for the message; the qmgr's workers
read it from the spool ahead of the socket.  A read that does not come
back (a disk that hangs) used to leave the connection, its slot and the
server waiting forever: with the output buffer empty the write timeout
sees nothing to time.  Here the data file is a FIFO with no writer, so
the worker's open blocks until the test lets it go.
"""

import os
import time

from conftest import add_mx
from mtaproc import wait_until
from test_outbound_sched import preload

SENDER = "x@example.org"


def test_data_wait_times_out(mta, mx_port, remote_mx, dns):
    mx = remote_mx("127.0.0.21")
    add_mx(dns, "wait.example", ["127.0.0.21"])
    m = mta(start=False, retry_min=60, retry_max=60, lifetime=3600,
            relay_networks=("127.0.0.0/8",),
            extra_conf="delivery = { smtp_port = %d; connect_timeout = 5; "
            "timeouts = { data_block = 2; }; };\n" % mx_port)
    qid, = preload(m, 1, "u@wait.example", sender=SENDER)
    data = os.path.join(m.spool, "data", qid)
    os.unlink(data)
    os.mkfifo(data, 0o600)
    released = []

    def release():
        """Lets every reader blocked on the FIFO go (its open returns and
        it reads the end); True once the deferral is recorded."""
        try:
            os.close(os.open(data, os.O_WRONLY | os.O_NONBLOCK))
            released.append(True)
        except OSError:
            pass                        # ENXIO: nobody waits right now
        return m.events("deferred", id=qid)

    try:
        m.start()
        t0 = time.monotonic()
        ev = m.wait_event("spool-error", id=qid, op="read", timeout=20)[0]
        took = time.monotonic() - t0
        assert ev["reason"] == "timed out" and ev["seconds"] == "2", \
            ev["_line"]
        # The 354 came, then two seconds without data: not forever.
        assert 2 <= took < 10, took
        # The server got no message, and the client hung up on it (it
        # holds part of a message at most, which it must not deliver).
        conn, = mx.connections
        wait_until(lambda: conn.closed, 5, what="the connection closed")
        assert conn.transactions and conn.transactions[0].data is None
        assert mx.delivered() == []
        # The run that records the result opens the data file too (and
        # blocks on the FIFO as well): let the readers go.
        ev = wait_until(release, 20, what="the deferral")[0]
    finally:
        release()
    assert released, "no worker was reading the data"
    assert ev["code"] == "4.3.0", ev["_line"]
    assert "not read in time" in ev["reason"], ev["_line"]
    assert m.stop() == 0
