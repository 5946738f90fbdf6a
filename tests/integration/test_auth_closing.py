"""A session that is closing stays closed whatever its AUTH attempt was
doing (review of issue 8, item 3).  A client that pipelines and stops
reading gets 421 4.4.2 from the write timeout while its AUTH waits for
its network's turn; the attempt's own timer (the 454 after
timeouts.command) or the wake-up at the end of the network's failure
delay used to revive it: a reply written after the 421, reading enabled
again, even a password check (a counted failure, yescrypt spent) for a
session that had said goodbye.  session_close() now ends an attempt
that is not in its password check; one that is ends when the check does.

The client here fills the socket buffers with NOOP replies it never
reads, so the replies that follow stay in the server's output buffer and
the write timeout runs; it watches the server socket's send queue
(/proc/net/tcp) to know when the kernel is full."""

import socket
import time

from conftest import HELO, auth_plain_b64, client_context, implicit
from mtaproc import HOSTNAME, wait_until
from smtpraw import check

ALICE = "alice@example.test"
# The stuck client fills the socket with NOOPs: no junk limit for them.
STUCK_CONF = 'log_level = "debug";\njunk_command_limit = 100000;\n'


def queues(local_port, peer_port):
    """(tx_queue, rx_queue) of the server socket 127.0.0.1:local_port ->
    peer_port in /proc/net/tcp: octets it holds unsent or unacknowledged,
    and octets received that the server has not read."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if (int(local.split(":")[1], 16) == local_port and
                    int(remote.split(":")[1], 16) == peer_port):
                tx, rx = fields[4].split(":")
                return int(tx, 16), int(rx, 16)
    raise AssertionError("no socket %d -> %d" % (local_port, peer_port))


def stuck_client(port):
    """An implicit-TLS client that has said EHLO and reads no more, with
    a small receive buffer and segment size (so the server's socket
    buffer stays small too), once the server's socket buffer is full:
    what the server answers from now on stays in its output buffer."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    raw.settimeout(10)
    raw.connect(("127.0.0.1", port))
    s = client_context().wrap_socket(raw, server_hostname=HOSTNAME)
    f = s.makefile("rb")
    assert f.readline().startswith(b"220 ")
    s.sendall(("EHLO %s\r\n" % HELO).encode())
    while not f.readline().startswith(b"250 "):
        pass
    me = s.getsockname()[1]
    before = queues(port, me)[0]
    for _ in range(200):
        # 1000 replies, about 14 KB: never near what stops the server
        # reading (64 KiB waiting), so the AUTH that follows is read.
        s.sendall(b"NOOP\r\n" * 1000)
        wait_until(lambda: queues(port, me)[1] == 0, 5,
                   what="the server reading the NOOPs")
        time.sleep(0.05)
        if queues(port, me)[0] != before:
            before = queues(port, me)[0]
            continue
        now = settled_queue(port, me)
        if now == before:
            return s        # that batch's replies wait in the server
        before = now
    raise AssertionError("the server's send queue never filled")


def settled_queue(port, me):
    """The server's send queue once it has written nothing for 0.3 s
    (it only grows while we do not read)."""
    last, since = queues(port, me)[0], time.monotonic()
    while time.monotonic() - since < 0.3:
        time.sleep(0.05)
        now = queues(port, me)[0]
        if now != last:
            last, since = now, time.monotonic()
    return last


def fail_once(m, n):
    """One wrong password on a connection of its own: the network's
    failure n, its 535 after the delay."""
    with implicit(m.ports["mx_implicit"]) as c:
        c.ehlo(HELO)
        c.expect("AUTH PLAIN " + auth_plain_b64(ALICE, "wrong%d" % n), 535,
                 "5.7.8")

def session_of_last_connect(m):
    return m.events("connect")[-1]["session"]


def events_after(m, session, event):
    """Events of session logged after its event= line."""
    lines = m.log().splitlines()
    start = next(i for i, l in enumerate(lines)
                 if "event=%s " % event in l and "session=%s " % session in l)
    return [l for l in lines[start + 1:] if "session=%s " % session in l]


def test_waiting_auth_of_a_timed_out_session_stays_dead(tls_mta):
    """Session B's AUTH waits behind the network's failure delay (4 s,
    after the third failure) when B's write timeout (2 s after its last
    write, which came before the AUTH) answers 421 and closes: B's wait
    timer (454) and the wake-up at the end of the delay find nothing to
    revive, no password of B's is checked, and B is freed at its next
    timeout."""
    m = tls_mta(auth={"max_failures": 10, "block_time": 60},
                timeout_command=2, extra_conf=STUCK_CONF)
    fail_once(m, 1)
    fail_once(m, 2)
    b = stuck_client(m.ports["mx_implicit"])
    sb = session_of_last_connect(m)
    a = implicit(m.ports["mx_implicit"])
    a.ehlo(HELO)
    a.send("AUTH PLAIN " + auth_plain_b64(ALICE, "wrong3") + "\r\n")
    m.wait_event("auth-failed", n=3, timeout=10)
    b.sendall(("AUTH PLAIN %s\r\n" % auth_plain_b64(ALICE, "alice-pw"))
              .encode())
    m.wait_event("auth-wait", session=sb, timeout=5)
    m.wait_event("timeout", session=sb, timeout=10)
    # A's delay ends (the wake-up), and B's wait timer would have fired.
    check(a.reply(timeout=10), 535, "5.7.8")
    m.wait_event("disconnect", session=sb, timeout=10)
    after = events_after(m, sb, "timeout")
    assert not [l for l in after if "old=closing" in l], after
    assert all("event=disconnect " in l or "event=lost " in l or
               "event=state " in l for l in after), after
    assert not m.events("auth-wait-timeout", session=sb)
    assert not m.events("auth", session=sb)
    assert not m.events("auth-failed", session=sb)
    assert len(m.events("auth-failed")) == 3
    b.close()
    a.close()


def test_delayed_failure_of_a_timed_out_session_stays_dead(tls_mta):
    """B's own wrong password is the network's third failure: its 535
    waits 4 s, and B's write timeout (2 s after its last write) answers
    421 and closes first.  The delay's end finds nothing to answer: no
    535 after the 421, the session never leaves closing, and the failure
    counted once."""
    m = tls_mta(auth={"max_failures": 10, "block_time": 60},
                timeout_command=2, extra_conf=STUCK_CONF)
    fail_once(m, 1)
    fail_once(m, 2)
    b = stuck_client(m.ports["mx_implicit"])
    sb = session_of_last_connect(m)
    b.sendall(("AUTH PLAIN %s\r\n" % auth_plain_b64(ALICE, "wrong3"))
              .encode())
    m.wait_event("auth-failed", session=sb, timeout=5)
    m.wait_event("timeout", session=sb, timeout=10)
    m.wait_event("disconnect", session=sb, timeout=10)
    after = events_after(m, sb, "timeout")
    assert not [l for l in after if "old=closing" in l], after
    assert all("event=disconnect " in l or "event=lost " in l or
               "event=state " in l for l in after), after
    assert len(m.events("auth-failed", session=sb)) == 1
    assert len(m.events("auth-failed")) == 3
    b.close()
