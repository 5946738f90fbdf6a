"""The SMTP client's RFC 5321 4.5.3.2 timeouts (delivery.timeouts.*).

Servers that go silent at a chosen step are played by a raw socket
server in a thread: silent before the greeting (the client must move on
to the next MX), and silent after the final dot (the client must give
up and defer: the recipient stays queued, nothing bounces).  The
timeouts are set to 2 s so the tests take seconds, not minutes.
"""

import socket
import threading
import time

import pytest

from conftest import add_mx, submit


class SilentServer:
    """Listens on host:port; speaks SMTP up to `until` and then says
    nothing more while keeping the connection open.  until: "greeting"
    (never greets) or "dot" (answers everything but the final dot)."""

    def __init__(self, host, port, until):
        self.until = until
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(8)
        self.accepted = 0
        self.data_seen = 0
        self.conns = []
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _serve(self, c):
        if self.until == "greeting":
            return          # never a byte
        f = c.makefile("rb")
        try:
            c.sendall(b"220 silent.example ESMTP\r\n")
            while True:
                line = f.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb == b"EHLO":
                    c.sendall(b"250-silent.example\r\n250 8BITMIME\r\n")
                elif verb == b"DATA":
                    c.sendall(b"354 go on\r\n")
                    while True:
                        d = f.readline()
                        if not d or d == b".\r\n":
                            break
                    self.data_seen += 1
                    # Silence after the final dot: no 250, no close.
                    while f.readline():
                        pass
                    return
                elif verb == b"QUIT":
                    c.sendall(b"221 bye\r\n")
                    return
                else:
                    c.sendall(b"250 ok\r\n")
        except OSError:
            return

    def stop(self):
        self.stopping = True
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


@pytest.fixture
def silent(mx_port):
    made = []

    def factory(host, until):
        s = SilentServer(host, mx_port, until)
        made.append(s)
        return s

    yield factory
    for s in made:
        s.stop()


def timeout_mta(mta, mx_port, **timeouts):
    t = dict(greeting=2, command=2, data_init=2, data_block=2, data_end=2)
    t.update(timeouts)
    conf = ("delivery = { smtp_port = %d; connect_timeout = 5; "
            "timeouts = { %s }; };\n"
            % (mx_port, " ".join("%s = %d;" % kv for kv in t.items())))
    return mta(relay_networks=("127.0.0.0/8",), extra_conf=conf,
               retry_min=60, retry_max=60)


def test_silent_greeting_moves_to_next_mx(mta, mx_port, remote_mx, silent,
                                          dns):
    mute = silent("127.0.0.21", "greeting")
    backup = remote_mx("127.0.0.22")
    add_mx(dns, "mute.example", ["127.0.0.21", "127.0.0.22"])
    m = timeout_mta(mta, mx_port)
    start = time.monotonic()
    qid, msg = submit(m, "x@example.org", ["u@mute.example"])
    t = backup.wait_delivered(1, timeout=15, log=m.log)[0]
    took = time.monotonic() - start
    assert t.data.endswith(msg)
    assert mute.accepted >= 1, "the preferred MX was never tried"
    # It waited for the greeting (2 s), then went on: not 5 minutes.
    assert 1.5 <= took < 12, took
    failed = m.wait_event("connect-failed")
    assert any("timed out" in e["reason"] and "greeting" in e["reason"]
               for e in failed), [e["_line"] for e in failed]
    assert m.events("deferred", id=qid) == []


def test_silence_after_final_dot_defers(mta, mx_port, silent, dns):
    mute = silent("127.0.0.21", "dot")
    add_mx(dns, "slow.example", ["127.0.0.21"])
    m = timeout_mta(mta, mx_port)
    qid, _ = submit(m, "x@example.org", ["u@slow.example"])
    ev = m.wait_event("deferred", id=qid, timeout=15)[0]
    assert mute.data_seen == 1
    assert ev["code"].startswith("4."), ev["_line"]
    assert "timed out" in ev["reason"], ev["_line"]
    # Deferred, never bounced nor delivered: the message is still queued.
    assert m.events("failed", id=qid) == []
    assert m.events("delivered", id=qid) == []
    assert m.events("bounce", id=qid) == []
    out = m.cli("queue", "list").stdout
    assert qid in out, out
