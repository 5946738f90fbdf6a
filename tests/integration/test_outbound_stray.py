"""A server that answers what nobody asked (review of issue 8, item 10):
a connection whose input is out of step with its commands is never used
for another message.

The case: a transaction that fails before MAIL (the message is larger
than the server's SIZE) says nothing to the server, and ends from the
loop a moment later.  A reply the server sent meanwhile, on its own,
stays unread in the connection's input; were the connection reused, the
next message's MAIL would be answered by it, and every reply after it
would belong to the command before.  The client closes such a
connection instead, and the next message goes over a new one.
"""

import time

from conftest import add_mx, compose, submit
from mtaproc import wait_until
from test_outbound_limits import raw_mx, serve, verbs  # noqa: F401

SENDER = "alice@example.test"       # local: its reports land in a Maildir


def stray_after_ehlo(seen):
    """The first connection: a greeting held 2 s (both messages are
    queued before it is ready), SIZE 2000, and a reply nobody asked for
    sent with the EHLO reply.  Later connections: a plain server.  Each
    connection is appended to seen as it starts."""
    def handler(conn):
        seen.append(conn)
        if len(seen) > 1:
            return serve(conn, caps=(b"PIPELINING", b"8BITMIME",
                                     b"SIZE 2000"))
        time.sleep(2)
        conn.send(b"220 raw.example ESMTP ready\r\n")
        conn.read_group()
        conn.send(b"250-raw.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                  b"250 SIZE 2000\r\n250 2.0.0 nobody asked\r\n")
        # Whatever comes now is answered as a server would, in order.
        while not conn.eof:
            out = b""
            for line in conn.read_group():
                verb = verbs([line])[0]
                out += b"354 go on\r\n" if verb == b"DATA" else \
                    b"221 bye\r\n" if verb == b"QUIT" else b"250 2.0.0 Ok\r\n"
            if out:
                conn.send(out)
    return handler


def test_stray_reply_before_mail_ends_the_connection(outbound_mta, raw_mx,
                                                     dns):
    conns = []
    raw = raw_mx("127.0.0.21", stray_after_ehlo(conns))
    add_mx(dns, "stray.example", ["127.0.0.21"])
    m = outbound_mta(delivery={"destination_concurrency": 1,
                               "connection_cache_time": 30})
    big = compose(subject="big", sender=SENDER, to="u1@stray.example",
                  body=b"".join(b"%04d %s\r\n" % (i, b"z" * 64)
                                for i in range(60)))
    assert len(big) > 2000
    q_big, _ = submit(m, SENDER, ["u1@stray.example"], big)
    # Its connection is being set up (the greeting waits): the second
    # message queues behind it, for the same connection.
    wait_until(lambda: conns, 10, what="the first connection")
    q_small, small = submit(m, SENDER, ["u2@stray.example"],
                            compose(subject="small", sender=SENDER,
                                    to="u2@stray.example"))
    ev = m.wait_event("failed", id=q_big, timeout=20)[0]
    assert ev["code"] == "5.3.4", ev["_line"]
    m.wait_event("delivered", id=q_small, timeout=20)
    # The small one went whole, over a connection of its own, at its
    # first try: never answered by the stray reply.
    assert m.events("deferred", id=q_small) == [], m.log()[-3000:]
    first = conns[0]
    wait_until(lambda: first.done, 10, what="the first connection to end")
    sent = [line for group in first.groups for line in group]
    assert b"MAIL" not in verbs(sent), sent
    second = [c for c in raw.connections if c is not first]
    assert len(second) == 1, raw.connections
    assert len(second[0].messages) == 1
    assert second[0].messages[0].endswith(small)
