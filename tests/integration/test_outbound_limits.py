"""Outbound delivery at its limits (issue 4): what docs/delivery.md
promises beyond the plain path that test_outbound.py covers.

- Concurrency: delivery.destination_concurrency and delivery.max_connections,
  measured as the high-water mark of connections open at once at a slow
  fake MX (remotemx.RemoteMX data_delay, max_active).
- Destination back-off: an unreachable destination is backed off as a
  whole; the next message waits without a connection attempt, until
  `decorum queue flush`.  A destination whose every host answers 5xx to
  the greeting or EHLO is unreachable too: deferred, not bounced.
- Capabilities: no 8-bit message to a server without 8BITMIME (5.6.3), no
  message over the server's SIZE (5.3.4), SIZE= on the MAIL command.
- TLS: a broken handshake under tls = "may" is retried once in plaintext;
  under tls = "require" the mail waits.
- Hostile servers (a raw socket server, RawMX below): over-long lines,
  broken reply codes, multi-line replies whose codes differ, too many
  lines; each defers the mail, the daemon lives on, and a good server
  gets the mail later.
- PIPELINING (RFC 2920) seen on the wire: the whole envelope in one go
  when offered, one command at a time when not.
- LMTP (RFC 2033): one reply per recipient after the final dot.
- A relay that refuses AUTH (535): deferred, and the password is never
  logged.
"""

import base64
import os
import re
import socket
import threading
import time

import pytest

from conftest import (MX_HOSTS, add_mx, compose, parse_report,
                      report_groups, submit)
from mtaproc import make_cert, wait_until

SENDER = "alice@example.test"       # local: its reports land in a Maildir


# -- helpers ---------------------------------------------------------------

def relay_conf(via, **keys):
    extra = "".join(' %s = "%s";' % kv for kv in keys.items())
    return 'transports = ( { match = "*"; via = "%s";%s } );\n' % (via,
                                                                     extra)


def reports(m, user="alice"):
    return [parse_report(raw) for raw in m.read_messages(user)]


def wait_report(m, n=1, user="alice", timeout=20):
    m.wait_for_delivery(user, n=n, timeout=timeout)
    return reports(m, user)


def rcpt_group(report, addr):
    groups = [g for g in report_groups(report)[1:]
              if g.get("Final-Recipient", "").lower()
              == "rfc822; " + addr.lower()]
    assert len(groups) == 1, report_groups(report)
    return groups[0]


def outcome(m, qid, rcpt=None, timeout=20):
    """The first delivered/deferred/failed event of qid (and rcpt), so a
    test expecting one outcome fails at once, naming the other."""
    fields = {"id": qid}
    if rcpt is not None:
        fields["rcpt"] = "<%s>" % rcpt

    def find():
        evs = [e for e in m.log_events()
               if e.get("event") in ("delivered", "deferred", "failed")
               and all(e.get(k) == v for k, v in fields.items())]
        return evs[0] if evs else None
    try:
        return wait_until(find, timeout, what="an outcome for %r" % fields)
    except AssertionError as e:
        raise AssertionError("%s; log:\n%s" % (e, m.log()[-3000:]))


def verbs(lines):
    return [l.split(b" ")[0].rstrip(b"\r\n").upper() for l in lines]


def submit_all(m, jobs):
    """Each (sender, rcpts, msg) on its own client connection, all at
    once; returns the queue ids in the order of jobs."""
    out = [None] * len(jobs)
    errors = []
    barrier = threading.Barrier(len(jobs))

    def run(i):
        try:
            barrier.wait(10)
            out[i] = submit(m, *jobs[i])[0]
        except Exception as e:          # reported below, in this thread
            errors.append(repr(e))
    threads = [threading.Thread(target=run, args=(i,))
               for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert all(out), out
    return out


def eight_bit(conns):
    return [l for c in conns for l in c.lines if any(b > 0x7f for b in l)]


def unstuff(data):
    return re.sub(rb"(^|\r\n)\.", rb"\1", data)


# -- a raw SMTP server -----------------------------------------------------

class RawConn:
    """One connection to RawMX: every recv() chunk as it came (`chunks`),
    the command lines that had arrived each time before the server
    answered (`groups`), what the server sent, and the messages received
    (DATA content, still dot-stuffed, without the final dot line)."""

    def __init__(self, sock, peer):
        self.sock = sock
        self.peer = peer
        self.chunks = []
        self.groups = []
        self.sent = []
        self.messages = []
        self.buf = b""
        self.eof = False                # the client closed its side
        self.broken = None              # a socket error, if any
        self.done = False               # the handler returned

    def send(self, data):
        self.sent.append(data)
        self.sock.sendall(data)

    def _recv(self, timeout):
        self.sock.settimeout(timeout)
        data = self.sock.recv(65536)
        if not data:
            self.eof = True
        else:
            self.chunks.append(data)
            self.buf += data
        return data

    def read_group(self, quiet=0.4, timeout=15):
        """Waits for a complete line, then reads on until nothing new
        comes for `quiet` seconds: everything the client sends before
        hearing from us.  Returns the complete lines (CRLF kept); a
        partial line stays in buf.  [] on EOF."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            have = b"\n" in self.buf
            left = deadline - time.monotonic()
            if not have and left <= 0:
                raise AssertionError("no command from the client in %ds"
                                     % timeout)
            try:
                self._recv(quiet if have else min(left, 1.0))
            except socket.timeout:
                if have:
                    break
        lines = []
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            lines.append(line + b"\n")
        if lines:
            self.groups.append(lines)
        return lines

    def read_data(self, timeout=15):
        """The message after our 354, up to CRLF.CRLF."""
        deadline = time.monotonic() + timeout
        while True:
            if self.buf.startswith(b".\r\n"):
                end, body = 0, b""
                break
            i = self.buf.find(b"\r\n.\r\n")
            if i >= 0:
                end, body = i + 2, self.buf[:i + 2]
                break
            if self.eof or time.monotonic() > deadline:
                raise AssertionError("message data not ended")
            try:
                self._recv(1.0)
            except socket.timeout:
                pass
        self.buf = self.buf[end + 3:]
        self.messages.append(body)
        return body

    def read_some(self, n, timeout=15):
        """Reads until buf holds at least n octets (or EOF)."""
        deadline = time.monotonic() + timeout
        while len(self.buf) < n and not self.eof and \
                time.monotonic() < deadline:
            try:
                self._recv(1.0)
            except socket.timeout:
                pass

    def drain(self, timeout=15):
        """Reads until the client closes (it should, after a reply it
        cannot parse)."""
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            try:
                self._recv(0.5)
            except socket.timeout:
                pass


GREETING = b"220 raw.example ESMTP ready\r\n"


def serve(conn, caps=(b"PIPELINING", b"8BITMIME"), greeting=GREETING,
          hostile=None, quiet=0.4, cut_data=None):
    """A small scripted SMTP server on a RawConn.  hostile maps b"greeting"
    or a verb (b"EHLO", b"MAIL", b"RCPT", ...), or b"." for the end of the
    message data, to raw bytes sent instead of the normal reply; then the
    server only listens until the client closes.  Commands are answered only after `quiet` seconds of silence,
    so conn.groups shows what the client sent without waiting for us.
    cut_data=N: hang up after N octets of message data."""
    hostile = hostile or {}
    if b"greeting" in hostile:
        conn.send(hostile[b"greeting"])
        return conn.drain()
    conn.send(greeting)
    names = (b"raw.example",) + tuple(caps)
    ehlo = b"".join(b"250-%s\r\n" % n for n in names[:-1]) + \
        b"250 %s\r\n" % names[-1]
    n = 0
    while not conn.eof:
        lines = conn.read_group(quiet)
        out = b""
        for k, line in enumerate(lines):
            verb = line.split(b" ", 1)[0].rstrip(b"\r\n").upper()
            if verb in hostile:
                conn.send(out + hostile[verb])
                return conn.drain()
            if verb in (b"EHLO", b"HELO"):
                out += ehlo
            elif verb == b"MAIL":
                out += b"250 2.1.0 Ok\r\n"
            elif verb == b"RCPT":
                out += b"250 2.1.5 Ok\r\n"
            elif verb == b"DATA":
                # Anything after DATA in this group is message data the
                # client sent too early: back to the buffer.
                conn.buf = b"".join(lines[k + 1:]) + conn.buf
                conn.send(out + b"354 End data with <CR><LF>.<CR><LF>\r\n")
                if cut_data is not None:
                    return conn.read_some(cut_data)
                conn.read_data()
                if b"." in hostile:
                    conn.send(hostile[b"."])
                    return conn.drain()
                n += 1
                out = b"250 2.0.0 Ok: queued as RAW%d\r\n" % n
                break
            elif verb in (b"RSET", b"NOOP"):
                out += b"250 2.0.0 Ok\r\n"
            elif verb == b"QUIT":
                conn.send(out + b"221 2.0.0 Bye\r\n")
                return
            else:
                out += b"500 5.5.1 Unknown command\r\n"
        if out:
            conn.send(out)


class RawMX:
    """A TCP server on host:port running handler(RawConn) in a thread per
    connection.  Exceptions other than socket errors and the handler's
    own AssertionErrors (kept in conn.broken) are fixture bugs: errors."""

    def __init__(self, host, port, handler):
        self.host = host
        self.port = port
        self.handler = handler
        self.errors = []
        self._conns = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._lsock = None

    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(16)
        s.settimeout(0.1)
        self._lsock = s
        t = threading.Thread(target=self._accept, daemon=True,
                             name="rawmx-%s" % self.host)
        t.start()
        self._threads.append(t)
        return self

    def _accept(self):
        while not self._stop.is_set():
            try:
                sock, peer = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            conn = RawConn(sock, peer)
            with self._lock:
                self._conns.append(conn)
            t = threading.Thread(target=self._run, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _run(self, conn):
        try:
            self.handler(conn)
        except (OSError, AssertionError) as e:
            conn.broken = repr(e)
        except Exception as e:
            self.errors.append(repr(e))
        finally:
            conn.done = True
            conn.sock.close()

    @property
    def connections(self):
        with self._lock:
            return list(self._conns)

    def stop(self):
        if self._lsock is None:
            return
        self._stop.set()
        self._lsock.close()
        for c in self.connections:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(10)
            assert not t.is_alive(), "raw MX thread did not stop"
        self._lsock = None


@pytest.fixture
def raw_mx(mx_port):
    made = []

    def factory(host, handler):
        assert host in MX_HOSTS, host
        mx = RawMX(host, mx_port, handler).start()
        made.append(mx)
        return mx

    yield factory
    problems = []
    for mx in made:
        mx.stop()
        problems += ["raw MX %s: %s" % (mx.host, e) for e in mx.errors]
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


# -- 1. concurrency --------------------------------------------------------

@pytest.mark.parametrize("limit", [1, 3])
def test_destination_concurrency(outbound_mta, remote_mx, dns, limit):
    mx = remote_mx("127.0.0.21", data_delay=0.3)
    add_mx(dns, "conc.example", ["127.0.0.21"])
    m = outbound_mta(delivery={"destination_concurrency": limit})
    jobs = [("x@example.org", ["u%d@conc.example" % i],
             compose(subject="conc %d" % i, to="u%d@conc.example" % i))
            for i in range(6)]
    qids = submit_all(m, jobs)
    mx.wait_delivered(6, timeout=20, log=m.log)
    for qid in qids:
        m.wait_event("delivered", id=qid)
    conns = mx.connections
    if limit == 1:
        assert mx.max_active == 1, conns
    else:
        # Six messages at once to a slow server: more than one
        # connection, never more than the limit.
        assert 1 < mx.max_active <= limit, (mx.max_active, conns)
    assert sorted(r for t in mx.delivered() for r in t.rcpts) == \
        sorted(j[1][0] for j in jobs)


def test_max_connections_across_destinations(outbound_mta, remote_mx, dns):
    # Two domains, two destinations, one server: it sees them all.
    mx = remote_mx("127.0.0.21", data_delay=0.3)
    add_mx(dns, "left.example", ["127.0.0.21"])
    add_mx(dns, "right.example", ["127.0.0.21"])
    m = outbound_mta(delivery={"max_connections": 2})
    jobs = [("x@example.org", ["u%d@%s" % (i, d)],
             compose(subject="%s %d" % (d, i), to="u%d@%s" % (i, d)))
            for d in ("left.example", "right.example") for i in range(4)]
    qids = submit_all(m, jobs)
    mx.wait_delivered(8, timeout=30, log=m.log)
    for qid in qids:
        m.wait_event("delivered", id=qid)
    assert 1 <= mx.max_active <= 2, (mx.max_active, mx.connections)
    got = sorted(r for t in mx.delivered() for r in t.rcpts)
    assert got == sorted(j[1][0] for j in jobs)


# -- 2. destination back-off -----------------------------------------------

def test_unreachable_destination_backed_off_until_flush(outbound_mta,
                                                        remote_mx, dns):
    # Nothing listens on 127.0.0.23: every connect() is refused.
    add_mx(dns, "down.example", ["127.0.0.23"])
    dest = "smtp:down.example"
    m = outbound_mta(retry_min=3600, retry_max=7200)
    qid1, msg1 = submit(m, SENDER, ["u1@down.example"],
                        compose(subject="down 1", to="u1@down.example"))
    ev1 = outcome(m, qid1)
    assert ev1["event"] == "deferred", ev1["_line"]
    assert ev1["code"].startswith("4."), ev1["_line"]
    down = m.wait_event("destination-down", dest=dest)
    tries = len(m.events("connect-failed", dest=dest))
    assert tries >= 1, m.log()[-2000:]
    # The second message to that destination is deferred at once, with
    # the same error, and without a new connection attempt.
    qid2, msg2 = submit(m, SENDER, ["u2@down.example"],
                        compose(subject="down 2", to="u2@down.example"))
    ev2 = outcome(m, qid2)
    assert ev2["event"] == "deferred", ev2["_line"]
    assert ev2["code"] == ev1["code"], (ev1["_line"], ev2["_line"])
    time.sleep(1)
    assert len(m.events("connect-failed", dest=dest)) == tries, \
        m.log()[-2000:]
    assert len(m.events("destination-down", dest=dest)) == len(down)
    # A server appears; the back-off (an hour) still holds ...
    mx = remote_mx("127.0.0.23")
    time.sleep(1.5)
    assert mx.connections == [], mx.connections
    # ... until `queue flush` lifts it: both messages go.
    m.flush()
    ts = mx.wait_delivered(2, timeout=10, log=m.log)
    assert sorted(t.rcpts[0] for t in ts) == ["u1@down.example",
                                              "u2@down.example"]
    for qid in (qid1, qid2):
        m.wait_event("delivered", id=qid)
        m.wait_event("removed", id=qid)
    assert m.events("failed") == [] and m.messages("alice") == []


@pytest.mark.parametrize("where", ["greeting", "ehlo"])
def test_5xx_at_setup_from_every_host_deferred(outbound_mta, remote_mx,
                                               dns, where):
    # docs/delivery.md: a destination none of whose hosts would talk
    # (refused, timed out, 4xx/5xx to the greeting or EHLO) is backed off
    # as a whole; a recipient fails only on what is said about it.
    reply = "554 5.7.1 no service for you"
    opts = {"greeting" if where == "greeting" else "ehlo_reply": reply}
    mx1 = remote_mx("127.0.0.21", **opts)
    mx2 = remote_mx("127.0.0.22", **opts)
    add_mx(dns, "grumpy.example", ["127.0.0.21", "127.0.0.22"])
    m = outbound_mta(retry_min=3600, retry_max=7200)
    qid, _ = submit(m, SENDER, ["u@grumpy.example"])
    ev = outcome(m, qid)
    assert mx1.connections and mx2.connections, "not every MX was tried"
    assert ev["event"] == "deferred", ev["_line"]
    assert ev["code"].startswith("4."), ev["_line"]
    m.wait_event("destination-down", dest="smtp:grumpy.example")
    time.sleep(1)
    assert m.events("failed", id=qid) == [] and m.messages("alice") == []
    assert mx1.transactions() == [] and mx2.transactions() == []


def test_connection_lost_mid_data_deferred_then_sent_whole(outbound_mta,
                                                          raw_mx, dns):
    # The first server hangs up 100 kB into a 360 kB message; the next
    # attempt sends it whole.
    seen = []

    def handler(conn):
        seen.append(conn)
        serve(conn, cut_data=100000 if len(seen) == 1 else None)
    raw = raw_mx("127.0.0.21", handler)
    add_mx(dns, "cut.example", ["127.0.0.21"])
    m = outbound_mta(max_message_size=1000000)
    rcpt = "u@cut.example"
    body = b"".join(b"line %06d of a long message\r\n" % i
                    for i in range(12000))
    msg = compose(subject="cut", sender=SENDER, to=rcpt, body=body)
    qid, _ = submit(m, SENDER, [rcpt], msg)
    ev = outcome(m, qid)
    assert ev["event"] == "deferred", ev["_line"]
    assert ev["code"] == "4.4.2", ev["_line"]
    ev = m.wait_event("delivered", id=qid, timeout=20)[0]
    conns = raw.connections
    assert len(conns) == 2, conns
    assert conns[0].messages == [] and len(conns[0].buf) >= 100000
    assert unstuff(conns[1].messages[0]).endswith(msg)
    assert m.events("failed", id=qid) == [] and m.messages("alice") == []


@pytest.mark.parametrize("pipelining", [True, False])
def test_mail_from_4xx_defers_every_recipient(outbound_mta, remote_mx, dns,
                                              pipelining):
    # Under PIPELINING the RCPTs and DATA went out anyway and get 503s
    # ("need MAIL"); the refused MAIL is the answer for every recipient.
    mx = remote_mx("127.0.0.21", pipelining=pipelining,
                   mail_reply=["451 4.3.0 sender check failed, try later"])
    add_mx(dns, "mailfrom.example", ["127.0.0.21"])
    m = outbound_mta()
    rcpts = ["a@mailfrom.example", "b@mailfrom.example"]
    qid, msg = submit(m, SENDER, rcpts)
    for r in rcpts:
        ev = outcome(m, qid, r)
        assert ev["event"] == "deferred", ev["_line"]
        assert ev["code"] == "4.3.0", ev["_line"]
        assert "sender check failed" in ev["reason"], ev["_line"]
    t = mx.wait_delivered(1, timeout=20, log=m.log)[0]
    assert sorted(t.rcpts) == rcpts and t.data.endswith(msg)
    first = mx.transactions()[0]
    assert first.mail_reply.startswith("451") and first.data is None
    if not pipelining:
        # Nothing after the refused MAIL but RSET (or QUIT).
        after = verbs(first.conn.lines)
        after = after[after.index(b"MAIL") + 1:]
        assert after[:1] in ([b"RSET"], [b"QUIT"], []), after
    for r in rcpts:
        m.wait_event("delivered", id=qid, rcpt="<%s>" % r)
    assert m.events("failed", id=qid) == [] and m.messages("alice") == []


def test_rset_before_next_message_on_cached_connection(outbound_mta,
                                                       remote_mx, dns):
    bad, good = "bad@rset.example", "good@rset.example"
    mx = remote_mx("127.0.0.21", rcpt_replies={
        bad: "550 5.1.1 <bad@rset.example>: no such user"})
    add_mx(dns, "rset.example", ["127.0.0.21"])
    m = outbound_mta(delivery={"connection_cache_time": 10})
    qid1, _ = submit(m, SENDER, [bad])
    ev = outcome(m, qid1)
    assert ev["event"] == "failed" and ev["code"] == "5.1.1", ev["_line"]
    wait_report(m)
    msg = compose(subject="after rset", sender=SENDER, to=good)
    qid2, _ = submit(m, SENDER, [good], msg)
    t = mx.wait_delivered(1, log=m.log)[0]
    assert t.data.endswith(msg) and t.rcpts == [good]
    m.wait_event("delivered", id=qid2)
    # One connection: the refused transaction, RSET, then the next one.
    assert len(mx.connections) == 1, mx.connections
    vs = verbs(t.conn.lines)
    first, second = [i for i, v in enumerate(vs) if v == b"MAIL"]
    assert b"RSET" in vs[first:second], vs
    assert mx.transactions()[0].data is None


# -- 3. and 4. 8BITMIME and SIZE -------------------------------------------

def test_8bit_message_to_7bit_server_bounces_5_6_3(outbound_mta, remote_mx,
                                                   dns):
    mx = remote_mx("127.0.0.21", eightbitmime=False)
    add_mx(dns, "seven.example", ["127.0.0.21"])
    m = outbound_mta()
    rcpt = "u@seven.example"
    body = "Gr\u00fc\u00dfe aus K\u00f6ln\r\n".encode("utf-8")
    msg8 = compose(subject="8bit", sender=SENDER, to=rcpt, body=body,
                   extra=b"MIME-Version: 1.0\r\nContent-Type: text/plain; "
                         b"charset=utf-8\r\nContent-Transfer-Encoding: "
                         b"8bit\r\n")
    qid8, _ = submit(m, SENDER, [rcpt], msg8, params="BODY=8BITMIME")
    ev = outcome(m, qid8)
    assert ev["event"] == "failed" and ev["code"] == "5.6.3", ev["_line"]
    report, = wait_report(m)
    g = rcpt_group(report, rcpt)
    assert g["Action"] == "failed" and g["Status"] == "5.6.3", g
    # Nothing of it was sent: no MAIL, no 8-bit octet on the wire.
    assert mx.connections, "the server was never asked what it supports"
    assert mx.transactions() == [], mx.connections
    assert eight_bit(mx.connections) == []
    # A 7-bit message to the same server goes, without BODY=8BITMIME.
    msg7 = compose(subject="7bit", sender=SENDER, to=rcpt)
    qid7, _ = submit(m, SENDER, [rcpt], msg7)
    t = mx.wait_delivered(1, log=m.log)[0]
    assert t.data.endswith(msg7)
    assert not any(p.upper().startswith("BODY=8") for p in t.params), t.mail
    m.wait_event("delivered", id=qid7)
    assert len(m.messages("alice")) == 1


def test_message_over_server_size_bounces_5_3_4(outbound_mta, remote_mx,
                                                dns):
    mx = remote_mx("127.0.0.21", size_limit=1000)
    add_mx(dns, "small.example", ["127.0.0.21"])
    m = outbound_mta()
    rcpt = "u@small.example"
    big = compose(subject="big", sender=SENDER, to=rcpt,
                  body=b"".join(b"%04d %s\r\n" % (i, b"z" * 64)
                                for i in range(72)))
    assert len(big) > 5000
    qid, _ = submit(m, SENDER, [rcpt], big)
    ev = outcome(m, qid)
    assert ev["event"] == "failed" and ev["code"] == "5.3.4", ev["_line"]
    report, = wait_report(m)
    g = rcpt_group(report, rcpt)
    assert g["Action"] == "failed" and g["Status"] == "5.3.4", g
    assert mx.connections, "the server was never asked its SIZE"
    assert all(b"MAIL" not in verbs(c.lines) for c in mx.connections), \
        mx.connections
    # A small one goes, announced with SIZE= (RFC 1870: the octets of
    # the message as sent, without dot-stuffing).
    small = compose(subject="small", sender=SENDER, to=rcpt)
    qid2, _ = submit(m, SENDER, [rcpt], small)
    t = mx.wait_delivered(1, log=m.log)[0]
    assert t.data.endswith(small)
    sizes = [p.split("=", 1)[1] for p in t.params
             if p.upper().startswith("SIZE=")]
    assert len(sizes) == 1, t.mail
    assert len(t.data) <= int(sizes[0]) <= 1000, (t.mail, len(t.data))
    m.wait_event("delivered", id=qid2)


# -- 5. TLS fall-back ------------------------------------------------------

@pytest.mark.parametrize("broken", ["garbage", "tls1.1"])
def test_broken_tls_retried_in_plaintext(outbound_mta, remote_mx, dns,
                                         certs, broken):
    mx = remote_mx("127.0.0.21", tls_cert=certs["mx"], broken_tls=broken)
    add_mx(dns, "badtls.example", ["127.0.0.21"])
    m = outbound_mta()
    rcpt = "u@badtls.example"
    qid, msg = submit(m, "x@example.org", [rcpt])
    t = mx.wait_delivered(1, log=m.log)[0]
    assert t.data.endswith(msg)
    conns = mx.connections
    assert len(conns) == 2, conns
    first, second = conns
    # First STARTTLS, which failed; then the same address without it.
    assert b"STARTTLS" in verbs(first.lines), first
    assert first.transactions == [] and not first.tls, first
    assert b"STARTTLS" not in verbs(second.lines), second
    assert t.conn is second and not second.tls
    fails = m.events("connect-failed", dest="smtp:badtls.example")
    assert len(fails) == 1, [e["_line"] for e in fails]
    assert "TLS" in fails[0]["reason"] and \
        "handshake" in fails[0]["reason"], fails[0]["_line"]
    ev = m.wait_event("delivered", id=qid)[0]
    assert ev.get("tls") == "none", ev["_line"]
    assert m.events("deferred", id=qid) == []


def test_broken_tls_with_tls_require_never_in_clear(outbound_mta, remote_mx,
                                                    certs, mx_port):
    sink = remote_mx("127.0.0.30", tls_cert=certs["mx"],
                     broken_tls="garbage")
    m = outbound_mta(conf=relay_conf("relay:[127.0.0.30]:%d" % mx_port,
                                     tls="require"))
    qid, _ = submit(m, SENDER, ["a@far.example"])
    ev = outcome(m, qid)
    assert ev["event"] == "deferred", ev["_line"]
    assert ev["code"].startswith("4."), ev["_line"]
    m.wait_event("deferred", id=qid, n=2, timeout=10)
    # Stopped, so no retry is half-way through what is checked below.
    m.stop()
    assert sink.connections, "the relay was never contacted"
    for c in sink.connections:
        vs = set(verbs(c.lines))
        assert b"STARTTLS" in vs, c
        assert not vs & {b"MAIL", b"RCPT", b"DATA", b"AUTH"}, c
    assert m.events("failed", id=qid) == []
    assert m.messages("alice") == []


@pytest.mark.parametrize("tls", ["may", "require"])
def test_starttls_refused_454(outbound_mta, remote_mx, certs, mx_port, tls):
    sink = remote_mx("127.0.0.30", tls_cert=certs["mx"], broken_tls="refuse")
    m = outbound_mta(conf=relay_conf("relay:[127.0.0.30]:%d" % mx_port,
                                     tls=tls))
    qid, msg = submit(m, SENDER, ["a@far.example"])
    ev = outcome(m, qid)
    if tls == "may":
        # Opportunistic: on in plaintext, on the same connection.
        assert ev["event"] == "delivered", ev["_line"]
        assert ev.get("tls") == "none", ev["_line"]
        t = sink.wait_delivered(1, log=m.log)[0]
        assert t.data.endswith(msg)
        assert len(sink.connections) == 1, sink.connections
        vs = verbs(t.conn.lines)
        assert vs.index(b"STARTTLS") < vs.index(b"MAIL"), vs
        return
    assert ev["event"] == "deferred", ev["_line"]
    assert ev["code"].startswith("4."), ev["_line"]
    m.wait_event("deferred", id=qid, n=2, timeout=10)
    m.stop()
    for c in sink.connections:
        vs = set(verbs(c.lines))
        assert b"STARTTLS" in vs, c
        assert not vs & {b"MAIL", b"RCPT", b"DATA"}, c
    assert m.events("failed", id=qid) == [] and m.messages("alice") == []


# -- 6. hostile replies ----------------------------------------------------

HOSTILE = {
    "long-greeting": {b"greeting": b"220 " + b"x" * 2996 + b"\r\n"},
    "endless-greeting": {b"greeting": b"220 " + b"y" * 100000},
    "bad-code": {b"greeting": b"2x0 hello\r\n"},
    "mixed-greeting": {b"greeting": b"220-raw.example hello\r\n"
                                    b"250 raw.example ready\r\n"},
    "mixed-ehlo": {b"EHLO": b"250-raw.example\r\n220-PIPELINING\r\n"
                            b"250 8BITMIME\r\n"},
    "too-many-lines": {b"EHLO": b"250-raw.example\r\n"
                                + b"250-X-FILLER\r\n" * 150
                                + b"250 8BITMIME\r\n"},
    "mixed-rcpt": {b"RCPT": b"250-2.1.5 Ok\r\n550 5.1.1 no such user\r\n"},
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_reply_deferred_daemon_survives(outbound_mta, raw_mx,
                                                remote_mx, dns, case):
    # No PIPELINING: after the broken RCPT reply nothing may follow.
    raw = raw_mx("127.0.0.21", lambda c: serve(c, caps=(b"8BITMIME",),
                                               hostile=HOSTILE[case]))
    add_mx(dns, "hostile.example", ["127.0.0.21"])
    m = outbound_mta(retry_min=3600, retry_max=7200)
    qmgr = m.child("decorum-qmgr")
    rcpt = "u@hostile.example"
    qid, msg = submit(m, SENDER, [rcpt])
    ev = outcome(m, qid)
    assert ev["event"] == "deferred", ev["_line"]
    assert ev["code"].startswith("4."), ev["_line"]
    # The client hung up on the server, having sent no message.
    conn = raw.connections[0]
    wait_until(lambda: conn.done, 10, what="the client to hang up")
    assert conn.eof or conn.broken, conn.broken
    sent = [v for g in conn.groups for v in verbs(g)]
    assert b"DATA" not in sent and conn.messages == [], sent
    assert m.proc.poll() is None
    assert m.child("decorum-qmgr") == qmgr, "the queue manager restarted"
    # A sane server at that address now; the flush brings the mail.
    raw.stop()
    good = remote_mx("127.0.0.21")
    m.flush()
    t = good.wait_delivered(1, timeout=10, log=m.log)[0]
    assert t.data.endswith(msg)
    m.wait_event("delivered", id=qid)
    assert m.events("failed", id=qid) == [] and m.messages("alice") == []
    assert m.child("decorum-qmgr") == qmgr


# -- 7. PIPELINING on the wire ---------------------------------------------

@pytest.mark.parametrize("pipelining", [True, False])
def test_pipelining_on_the_wire(outbound_mta, raw_mx, dns, pipelining):
    caps = (b"PIPELINING", b"8BITMIME") if pipelining else (b"8BITMIME",)
    raw = raw_mx("127.0.0.21", lambda c: serve(c, caps=caps))
    add_mx(dns, "pipe.example", ["127.0.0.21"])
    m = outbound_mta()
    rcpts = ["a@pipe.example", "b@pipe.example"]
    qid, msg = submit(m, "x@example.org", rcpts)
    for r in rcpts:
        ev = outcome(m, qid, r)
        assert ev["event"] == "delivered", ev["_line"]
    conn = raw.connections[0]
    assert len(conn.messages) == 1
    assert unstuff(conn.messages[0]).endswith(msg)
    # What arrived between two answers of the server, command by command.
    groups = [verbs(g) for g in conn.groups]
    assert groups[0] == [b"EHLO"], groups
    i = next(k for k, g in enumerate(groups) if b"MAIL" in g)
    if pipelining:
        # RFC 2920 3.1: MAIL, every RCPT and DATA without waiting.
        assert groups[i] == [b"MAIL", b"RCPT", b"RCPT", b"DATA"], groups
    else:
        # One command, then its reply, then the next.
        assert groups[i:i + 4] == [[b"MAIL"], [b"RCPT"], [b"RCPT"],
                                   [b"DATA"]], groups
    envelope = [l for g in conn.groups[i:] for l in g][:3]
    assert envelope[0].startswith(b"MAIL FROM:<x@example.org>"), envelope
    assert sorted(envelope[1:]) == [b"RCPT TO:<%s>\r\n" % r.encode()
                                    for r in rcpts], envelope


def test_final_dot_goes_with_the_data(outbound_mta, raw_mx, dns):
    """A message that fits in one read goes out with its final dot in the
    same write: a dot written alone, after the data, waits under Nagle's
    algorithm for the server's delayed ACK (40 ms a message)."""
    raw = raw_mx("127.0.0.21", serve)
    add_mx(dns, "dot.example", ["127.0.0.21"])
    m = outbound_mta()
    qid, msg = submit(m, "x@example.org", ["a@dot.example"])
    assert outcome(m, qid)["event"] == "delivered"
    conn = raw.connections[0]
    with_dot = [c for c in conn.chunks if c.endswith(b"\r\n.\r\n")]
    assert len(with_dot) == 1, conn.chunks
    assert unstuff(with_dot[0][:-3]).endswith(msg), conn.chunks


def test_data_around_the_read_size_arrives_whole(outbound_mta, raw_mx, dns):
    """Messages whose spool file is just under, at and just over the
    client's read size (64 KiB) and a few reads long arrive whole, each
    ended once: the end is found with the last read or after it."""
    raw = raw_mx("127.0.0.21", serve)
    add_mx(dns, "big.example", ["127.0.0.21"])
    m = outbound_mta(max_message_size=400000)
    line = b"x" * 76 + b"\r\n"
    probe = compose(subject="probe", body=line)
    qid, _ = submit(m, "x@example.org", ["a@big.example"], probe)
    assert outcome(m, qid)["event"] == "delivered"
    overhead = len(raw.connections[0].messages[0]) - len(probe)
    sizes = [65536 - 1, 65536, 65536 + 1, 3 * 65536 + 5]
    for i, want in enumerate(sizes):
        head = compose(subject="big%d" % i, body=b"")
        body_len = want - overhead - len(head)
        q, r = divmod(body_len, len(line))
        if r < 2:
            q, r = q - 1, r + len(line)
        body = line * q + b"x" * (r - 2) + b"\r\n"
        msg = head + body
        qid, _ = submit(m, "x@example.org", ["a@big.example"], msg)
        ev = outcome(m, qid)
        assert ev["event"] == "delivered", ev["_line"]
    got = [msg for c in raw.connections for msg in c.messages][1:]
    assert [len(g) for g in got] == sizes
    for g in got:
        assert g.endswith(b"\r\n") and b"\r\n.\r\n" not in g


# -- 8. LMTP: one reply per recipient --------------------------------------

LMTP_DOMAIN = "lmtp.example.test"


def lmtp_mta(mta, mx_port):
    m = mta(start=False, extra_conf='transports = ( { match = "%s"; '
            'via = "lmtp:127.0.0.24:%d"; } );\n' % (LMTP_DOMAIN, mx_port))
    m.write_domain(LMTP_DOMAIN, {"bob": None, "carol": None}, [])
    return m.start()


@pytest.mark.parametrize("refused", ["bob", "carol"])
def test_lmtp_reply_per_recipient(mta, remote_mx, mx_port, refused):
    m = lmtp_mta(mta, mx_port)
    bad = "%s@%s" % (refused, LMTP_DOMAIN)
    good = "%s@%s" % ("carol" if refused == "bob" else "bob", LMTP_DOMAIN)
    lmtp = remote_mx("127.0.0.24", lmtp=True, lmtp_replies={
        bad: "550 5.2.2 <%s>: mailbox full" % bad})
    rcpts = ["bob@" + LMTP_DOMAIN, "carol@" + LMTP_DOMAIN]
    msg = compose(subject="lmtp", sender=SENDER, to=rcpts[0])
    qid, _ = submit(m, SENDER, rcpts, msg)
    ev = outcome(m, qid, bad)
    assert ev["event"] == "failed" and ev["code"] == "5.2.2", ev["_line"]
    ev = outcome(m, qid, good)
    assert ev["event"] == "delivered" and ev["agent"] == "lmtp", ev["_line"]
    report, = wait_report(m)
    g = rcpt_group(report, bad)
    assert g["Action"] == "failed" and g["Status"] == "5.2.2", g
    assert "550 5.2.2" in g["Diagnostic-Code"], g
    assert "mailbox full" in g["Diagnostic-Code"], g
    assert len(report_groups(report)) == 2, report_groups(report)
    m.wait_event("removed", id=qid)
    # One LHLO, one transaction for both, both RCPTs accepted, the reply
    # after the dot split per recipient.
    t, = lmtp.transactions()
    assert verbs(t.conn.lines)[0] == b"LHLO", t.conn.lines
    assert t.accepted == rcpts, t
    assert [r for r, _ in t.lmtp_replies] == rcpts
    assert t.data.endswith(msg)


def test_lmtp_rcpt_refused_then_dot_replies_for_accepted_only(mta, remote_mx,
                                                             mx_port):
    # bob is refused at RCPT; after the dot only carol gets a reply, a
    # 452: bob bounces with the RCPT reply, carol waits and goes later.
    bob, carol = "bob@" + LMTP_DOMAIN, "carol@" + LMTP_DOMAIN
    m = lmtp_mta(mta, mx_port)
    lmtp = remote_mx("127.0.0.24", lmtp=True, rcpt_replies={
        bob: "550 5.1.1 <%s>: no such mailbox" % bob}, lmtp_replies={
        carol: ["452 4.2.2 <%s>: over quota, try later" % carol]})
    msg = compose(subject="lmtp2", sender=SENDER, to=bob)
    qid, _ = submit(m, SENDER, [bob, carol], msg)
    ev = outcome(m, qid, bob)
    assert ev["event"] == "failed" and ev["code"] == "5.1.1", ev["_line"]
    ev = outcome(m, qid, carol)
    assert ev["event"] == "deferred" and ev["code"] == "4.2.2", ev["_line"]
    assert "over quota" in ev["reason"], ev["_line"]
    ev = m.wait_event("delivered", id=qid, rcpt="<%s>" % carol,
                      timeout=20)[0]
    assert ev["agent"] == "lmtp", ev["_line"]
    first, second = lmtp.transactions()[:2]
    assert first.accepted == [carol] and \
        first.lmtp_replies[0][1].startswith("452"), first
    assert second.rcpts == [carol] and second.data.endswith(msg), second
    report, = wait_report(m)
    g = rcpt_group(report, bob)
    assert g["Status"] == "5.1.1" and "no such mailbox" in \
        g["Diagnostic-Code"], g
    assert len(report_groups(report)) == 2, report_groups(report)


# -- 9. relay AUTH refused -------------------------------------------------

def test_relay_auth_refused_deferred_password_not_logged(outbound_mta,
                                                         remote_mx, dns,
                                                         workdir, mx_port):
    password = "wrong pass 17"
    # A login implies a verified certificate (issue 8): the relay's own,
    # pinned as tls_ca, for the name it is reached by.
    cert = make_cert(workdir, "relay", "smtp.isp.example")
    sink = remote_mx("127.0.0.30", tls_cert=cert,
                     auth={"me@isp.example": "the right one"},
                     auth_required=True)
    dns.zone.add("smtp.isp.example", "A", "127.0.0.30")
    secret = os.path.join(workdir, "relay.secret")
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, password.encode() + b"\n")
    os.close(fd)
    m = outbound_mta(conf=relay_conf("relay:[smtp.isp.example]:%d"
                                     % mx_port,
                                     auth_user="me@isp.example",
                                     auth_password_file=secret,
                                     tls_ca=cert[0]))
    qid, _ = submit(m, SENDER, ["a@far.example"])
    ev = outcome(m, qid)
    # A refused login is the relay's configuration problem, not the
    # recipient's: the mail waits for it to be fixed.
    assert ev["event"] == "deferred", ev["_line"]
    assert ev["code"].startswith("4."), ev["_line"]
    c = sink.connections[0]
    assert c.tls and c.auth == [("PLAIN", "me@isp.example", password,
                                 False)], c
    assert b"MAIL" not in verbs(c.lines), c
    time.sleep(1)
    assert m.events("failed", id=qid) == [] and m.messages("alice") == []
    log = m.log()
    assert password not in log
    for raw in ("\0me@isp.example\0" + password, "me@isp.example\0" +
                password):
        assert base64.b64encode(raw.encode()).decode() not in log


def test_relay_login_but_no_auth_offered_deferred(outbound_mta, remote_mx,
                                                  dns, workdir, mx_port):
    # TLS, but no AUTH in the EHLO reply: sending unauthenticated would
    # only be refused or, worse, relayed under another policy.  (The
    # certificate is pinned and verified, as a login requires.)
    cert = make_cert(workdir, "relay", "smtp.isp.example")
    sink = remote_mx("127.0.0.30", tls_cert=cert)
    dns.zone.add("smtp.isp.example", "A", "127.0.0.30")
    secret = os.path.join(workdir, "relay.secret")
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"some pass 5\n")
    os.close(fd)
    m = outbound_mta(conf=relay_conf("relay:[smtp.isp.example]:%d"
                                     % mx_port,
                                     auth_user="me@isp.example",
                                     auth_password_file=secret,
                                     tls_ca=cert[0]))
    qid, _ = submit(m, SENDER, ["a@far.example"])
    ev = outcome(m, qid)
    assert ev["event"] == "deferred", ev["_line"]
    assert ev["code"] == "4.7.0", ev["_line"]
    c = sink.connections[0]
    assert c.tls, c
    assert not {b"AUTH", b"MAIL"} & set(verbs(c.lines)), c
    assert "some pass 5" not in m.log()
