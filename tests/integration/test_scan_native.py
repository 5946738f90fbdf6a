"""The rspamd and clamd clients (src/scan/rspamd_client.c,
src/scan/clamd_client.c) against a real rspamd and a real clamd
(scanpeers.py), and against small fake peers for what the real ones will
not do on demand: stay silent, answer late, answer 500, bad JSON, too
much, or after the client has left.  Each run is tests/helpers/scanprobe
(one client on one message file, on its own loop); in the sanitizer
build its stderr must hold no report.

What the issue asks (issue 11 item 2): GTUBE rejected, YJS flagged, ZJS
flagged with a new Subject, ham accepted with its score; EICAR as an
attachment and inline rejected as malware, a clean message accepted;
an empty body and a 5 MiB message go through; a message over clamd's
StreamMaxLength fails with clamd's words; scanner down, silent, broken
or too talkative: failed with a reason, within the timeout; cancelled:
nothing after "cancelled", whatever the peer does later.
"""
import os
import re
import socket
import struct
import subprocess
import threading
import time

import pytest

from dnsstub import free_port
from scanpeers import (Clamd, clamav_milter, clamd,  # noqa: F401
                       eicar_attachment, eicar_inline, gtube,
                       gtube_add_header, gtube_rewrite_subject, ham,
                       message, rspamd)

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:",
                   "ERROR: LeakSanitizer")
RSPAMD_REPLY_MAX = 1024 * 1024     # rspamd_reply.h
CLAMD_REPLY_MAX = 1024             # clamd_reply.h
FIVE_MIB = 5 * 1024 * 1024


class Probe:
    """One scanprobe run: its result line as a dict, its change lines."""

    def __init__(self, stdout, stderr, elapsed):
        self.stdout, self.stderr, self.elapsed = stdout, stderr, elapsed
        lines = stdout.splitlines()
        self.result = {}
        if lines and lines[0].startswith("verdict="):
            self.result = {k: (q if q or v.startswith('"') else v)
                           for k, v, q in re.findall(
                               r'(\w+)=("([^"]*)"|\S+)', lines[0])}
        self.mods = [line for line in lines if line.startswith("mod ")]

    def __getitem__(self, key):
        return self.result[key]


@pytest.fixture
def probe(build_dir, tmp_path):
    exe = os.path.join(build_dir, "tests", "helpers", "scanprobe")
    count = [0]

    def run(kind, address, msg, *args, timeout=60):
        count[0] += 1
        path = os.path.join(str(tmp_path), "msg%d.eml" % count[0])
        with open(path, "wb") as f:
            f.write(msg)
        t0 = time.monotonic()
        r = subprocess.run([exe, kind, address, path] + list(args),
                           capture_output=True, text=True, timeout=timeout)
        p = Probe(r.stdout, r.stderr, time.monotonic() - t0)
        for mark in SANITIZER_MARKS:
            assert mark not in r.stderr, r.stderr
        assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
        return p
    return run


def _recv_until(conn, pred, limit=64 << 20):
    data = b""
    while not pred(data):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
        assert len(data) <= limit
    return data


def _http_complete(data):
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)", data[:end])
    return len(data) >= end + 4 + (int(m.group(1)) if m else 0)


def _clamd_complete(data):
    """zINSTREAM\\0 then frames up to the zero-length one."""
    pos = len(b"zINSTREAM\0")
    while len(data) >= pos + 4:
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        if n == 0:
            return True
        pos += 4 + n
    return False


class FakePeer:
    """A loopback server that reads each request whole (unless
    read=False: it never reads at all), waits delay seconds from the
    accept, sends answer (None: nothing) and closes its side, then reads
    on until the client closes."""

    def __init__(self, kind, answer=None, delay=0.0, read=True,
                 host="127.0.0.1"):
        self.complete = _http_complete if kind == "rspamd" else _clamd_complete
        self.answer, self.delay, self.read = answer, delay, read
        self.requests, self.sent = [], threading.Event()
        if host.startswith("/"):                # a unix socket's path
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.bind(host)
            self.address = "unix:" + host
        else:
            v6 = ":" in host
            self.sock = socket.socket(socket.AF_INET6 if v6
                                      else socket.AF_INET)
            self.sock.bind((host, 0))
            self.address = "inet:%s:%d" % ("[%s]" % host if v6 else host,
                                           self.sock.getsockname()[1])
        self.sock.listen(8)
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,),
                             daemon=True).start()

    def _serve(self, conn):
        t0 = time.monotonic()
        try:
            if self.read:
                self.requests.append(_recv_until(conn, self.complete))
            time.sleep(max(0.0, t0 + self.delay - time.monotonic()))
            if self.answer is not None:
                self.sent.set()        # tried: the client may be gone
                conn.sendall(self.answer)
                conn.shutdown(socket.SHUT_WR)   # as rspamd and clamd do
            if self.read:
                _recv_until(conn, lambda d: False)
        except OSError:
            pass

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def fake():
    peers = []

    def make(*args, **kwargs):
        peers.append(FakePeer(*args, **kwargs))
        return peers[-1]
    yield make
    for p in peers:
        p.close()


def http(status, body, reason="X", length=None):
    head = "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n" % (
        status, reason)
    if length is not False:
        head += "Content-Length: %d\r\n" % (len(body) if length is None
                                             else length)
    head += "Connection: close\r\n\r\n"
    return head.encode() + body


HAM_JSON = (b'{"is_skipped":false,"score":1.5,"required_score":15.0,'
            b'"action":"no action","symbols":{}}')


def padded(json, size):
    """json followed by spaces up to size octets (still one object)."""
    assert len(json) <= size
    return json + b" " * (size - len(json))


# --- both clients: down, silent, late, cancelled ----------------------

KINDS = ("rspamd", "clamd")
CLEAN_ANSWER = {"rspamd": http(200, HAM_JSON), "clamd": b"stream: OK\0"}


@pytest.mark.parametrize("kind", KINDS)
def test_scanner_down_fails_connection_refused(probe, kind):
    p = probe(kind, "inet:127.0.0.1:%d" % free_port(), ham())
    assert p["verdict"] == "failed", p.stdout
    assert p["detail"] == "connection refused"


@pytest.mark.parametrize("kind", KINDS)
def test_silent_server_times_out(fake, probe, kind):
    peer = fake(kind)
    p = probe(kind, peer.address, ham(), "-t", "1")
    assert p["verdict"] == "failed", p.stdout
    assert p["detail"] == "timed out after 1 s"
    assert 0.9 <= p.elapsed < 4, p.elapsed


@pytest.mark.parametrize("kind", KINDS)
def test_late_answer_after_the_timeout(fake, probe, kind):
    peer = fake(kind, CLEAN_ANSWER[kind], delay=2)
    p = probe(kind, peer.address, ham(), "-t", "1")
    assert p["verdict"] == "failed", p.stdout
    assert p["detail"] == "timed out after 1 s"


@pytest.mark.parametrize("kind", KINDS)
def test_cancel_against_a_silent_server(fake, probe, kind):
    peer = fake(kind)
    p = probe(kind, peer.address, ham(), "-c")
    assert p.stdout == "cancelled\n"


@pytest.mark.parametrize("kind", KINDS)
def test_cancel_while_the_message_is_still_going_out(fake, probe, kind):
    """5 MiB to a peer that never reads: cancelled with data queued."""
    peer = fake(kind, read=False)
    p = probe(kind, peer.address,
              message((b"c" * 76 + b"\n") * (FIVE_MIB // 77)), "-c")
    assert p.stdout == "cancelled\n"


# --- rspamd, the real one ---------------------------------------------

def test_rspamd_gtube_is_rejected_as_spam(rspamd, probe):
    p = probe("rspamd", rspamd.address, gtube())
    assert p["verdict"] == "reject", p.stdout
    assert p["finding"] == "spam"
    assert p["code"] == "0"            # the caller picks the reply
    assert p["text"] == "Gtube pattern"
    assert p["detail"].startswith("action=reject score=15.00/15.00 ")
    assert "GTUBE" in p["detail"]
    assert float(p["score"]) >= float(p["required"]) > 0


def test_rspamd_yjs_is_flagged(rspamd, probe):
    p = probe("rspamd", rspamd.address, gtube_add_header())
    assert p["verdict"] == "flag", p.stdout
    assert p["finding"] == "spam"
    assert p["detail"].startswith("action=add header ")
    # Whatever headers rspamd asks for are changes, nothing else.
    assert all(m.startswith(("mod add_header", "mod remove_header"))
               for m in p.mods), p.mods


def test_rspamd_zjs_changes_the_subject(rspamd, probe):
    p = probe("rspamd", rspamd.address, gtube_rewrite_subject())
    assert p["verdict"] == "flag", p.stdout
    assert p["finding"] == "spam"
    assert p["detail"].startswith("action=rewrite subject ")
    subj = [m for m in p.mods if m.startswith("mod change_header")]
    assert len(subj) == 1, p.mods
    assert 'index=1 name="Subject"' in subj[0]
    assert "Test subject" in subj[0] and "SPAM" in subj[0], subj[0]


def test_rspamd_ham_is_accepted_with_its_score(rspamd, probe):
    p = probe("rspamd", rspamd.address, ham())
    assert p["verdict"] == "accept", p.stdout
    assert p["finding"] == "nothing"
    assert p["detail"].startswith("action=no action score=")
    assert float(p["required"]) == 15.0
    assert float(p["score"]) < 15.0
    # rspamd asks to remove any X-Spam a sender wrote, nothing else
    assert all(m.startswith("mod remove_header") for m in p.mods), p.mods


def test_rspamd_empty_body_and_5mib(rspamd, probe):
    p = probe("rspamd", rspamd.address, message(b""))
    assert p["verdict"] == "accept", p.stdout
    big = message((b"y" * 76 + b"\n") * (FIVE_MIB // 77))
    assert len(big) > FIVE_MIB - 200
    p = probe("rspamd", rspamd.address, big)
    assert p["verdict"] in ("accept", "flag"), p.stdout
    assert p["detail"].startswith("action="), p.stdout


# --- rspamd, what goes out, and fake servers --------------------------

def test_rspamd_request_carries_the_facts_and_the_whole_message(fake, probe):
    peer = fake("rspamd", http(200, HAM_JSON))
    msg = ham()
    p = probe("rspamd", peer.address, msg, "-f", "carol@example.org",
              "-r", "bob@example.net", "-r", "dave@example.net",
              "-a", "carol")
    assert p["verdict"] == "accept", p.stdout
    assert p["score"] == "1.50"
    req = peer.requests[0]
    head, _, body = req.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /checkv2 HTTP/1.1"
    hdrs = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:]]
    assert ("IP", "127.0.0.1") in hdrs
    assert ("Helo", "client.example.test") in hdrs
    assert ("Hostname", "client.example.test") in hdrs
    assert ("From", "carol@example.org") in hdrs
    assert [v for k, v in hdrs if k == "Rcpt"] == ["bob@example.net",
                                                   "dave@example.net"]
    assert ("Queue-Id", "1ProbeQueueId") in hdrs
    assert ("User", "carol") in hdrs
    assert not any(k == "TLS-Version" for k, _ in hdrs)
    assert body == msg


def test_rspamd_over_ipv6(fake, probe):
    peer = fake("rspamd", http(200, HAM_JSON), host="::1")
    p = probe("rspamd", peer.address, ham())
    assert p["verdict"] == "accept", p.stdout
    assert b"\r\nHost: [::1]\r\n" in peer.requests[0]


def test_clamd_over_ipv6(fake, probe):
    peer = fake("clamd", b"stream: OK\0", host="::1")
    p = probe("clamd", peer.address, ham())
    assert p["verdict"] == "accept", p.stdout


def test_clamd_over_a_unix_socket(fake, probe, tmp_path):
    peer = fake("clamd", b"stream: Test.Unix FOUND\0",
                host=str(tmp_path / "clamd.sock"))
    p = probe("clamd", peer.address, eicar_inline())
    assert p["verdict"] == "reject", p.stdout
    assert p["detail"] == "Test.Unix"


def test_rspamd_no_user_header_when_not_authenticated(fake, probe):
    peer = fake("rspamd", http(200, HAM_JSON))
    probe("rspamd", peer.address, ham(), "-f", "")
    head = peer.requests[0].partition(b"\r\n\r\n")[0].decode()
    assert "\r\nUser:" not in head
    assert "\r\nFrom: <>" in head


def test_rspamd_detail_keeps_the_first_symbols(fake, probe):
    names = ["SYMBOL_NUMBER_%02d_WITH_A_LONG_NAME" % i for i in range(70)]
    syms = ",".join('"%s":{"name":"%s","score":0.1}' % (n, n) for n in names)
    body = ('{"score":7.0,"required_score":15.0,"action":"add header",'
            '"symbols":{%s},"milter":{"add_headers":{"X-Spam":"Yes"}}}'
            % syms).encode()
    p = probe("rspamd", fake("rspamd", http(200, body)).address, ham())
    assert p["verdict"] == "flag", p.stdout
    d = p["detail"]
    assert d.startswith("action=add header score=7.00/15.00 symbols="
                        + names[0] + ","), d
    assert d.endswith(",...") and len(d) <= 256, d
    assert p.mods == ['mod add_header index=0 name="X-Spam" value="Yes" '
                      'addr=""']


def test_rspamd_http_500_fails(fake, probe):
    peer = fake("rspamd", http(500, b'{"error":"boom"}', "Internal"))
    p = probe("rspamd", peer.address, ham())
    assert p["verdict"] == "failed", p.stdout
    assert p["detail"] == "HTTP 500"


def test_rspamd_invalid_json_fails(fake, probe):
    peer = fake("rspamd", http(200, b'{"action": "reject", "score": '))
    p = probe("rspamd", peer.address, gtube())
    assert p["verdict"] == "failed", p.stdout
    assert p["detail"].startswith("reply: "), p.stdout


@pytest.mark.parametrize("length", [None, False])
def test_rspamd_reply_at_the_limit_is_read(fake, probe, length):
    peer = fake("rspamd", http(200, padded(HAM_JSON, RSPAMD_REPLY_MAX),
                               length=length))
    p = probe("rspamd", peer.address, ham())
    assert p["verdict"] == "accept", p.stdout


@pytest.mark.parametrize("length", [None, False])
def test_rspamd_reply_over_the_limit_fails(fake, probe, length):
    """With a Content-Length, and without one (read to the close)."""
    peer = fake("rspamd", http(200, padded(HAM_JSON, RSPAMD_REPLY_MAX + 1),
                               length=length))
    p = probe("rspamd", peer.address, ham())
    assert p["verdict"] == "failed", p.stdout
    assert p["detail"] == "reply over %d octets" % RSPAMD_REPLY_MAX


def test_rspamd_answer_after_the_client_left(fake, probe):
    peer = fake("rspamd", http(200, HAM_JSON), delay=0.3)
    p = probe("rspamd", peer.address, ham(), "-c")
    assert p.stdout == "cancelled\n"
    assert peer.sent.wait(5)       # it did answer, to a closed socket


# --- clamd, the real one ----------------------------------------------

@pytest.mark.parametrize("build", [eicar_attachment, eicar_inline])
def test_clamd_eicar_is_rejected_as_malware(clamd, probe, build):
    p = probe("clamd", clamd.address, build())
    assert p["verdict"] == "reject", p.stdout
    assert p["finding"] == "malware"
    assert p["code"] == "0"
    assert p["detail"].startswith("Test.EICAR"), p.stdout
    assert p["text"] == ""


def test_clamd_clean_empty_and_5mib_are_accepted(clamd, probe):
    for msg in (ham(), message(b""),
                message((b"z" * 76 + b"\n") * (FIVE_MIB // 77))):
        p = probe("clamd", clamd.address, msg)
        assert p["verdict"] == "accept", p.stdout
        assert p["finding"] == "nothing"


def test_clamd_eicar_after_5mib_is_found(clamd, probe):
    """The last chunk reaches clamd too."""
    p = probe("clamd", clamd.address,
              message((b"z" * 76 + b"\n") * (FIVE_MIB // 77) + eicar_inline()))
    assert p["verdict"] == "reject", p.stdout


def test_clamd_over_stream_max_length_fails(tmp_path, probe):
    small = Clamd(str(tmp_path), name="clamd-1m", stream_max="1M").start()
    try:
        under = message((b"u" * 76 + b"\n") * (900 * 1024 // 77))
        p = probe("clamd", small.address, under)
        assert p["verdict"] == "accept", p.stdout
        over = message((b"o" * 76 + b"\n") * (3 * 1024 * 1024 // 77))
        p = probe("clamd", small.address, over)
        assert p["verdict"] == "failed", p.stdout
        assert "size limit exceeded" in p["detail"], p.stdout
    finally:
        small.stop()


def test_clamd_unix_socket_missing_fails(tmp_path, probe):
    p = probe("clamd", "unix:%s/nothing.sock" % tmp_path, ham())
    assert p["verdict"] == "failed", p.stdout
    assert p["detail"] == "cannot connect: no such socket"


# --- clamd, fake servers ----------------------------------------------

def test_clamd_server_that_never_reads_times_out(fake, probe):
    """5 MiB against a full socket: the client waits, bounded."""
    peer = fake("clamd", read=False)
    p = probe("clamd", peer.address,
              message((b"n" * 76 + b"\n") * (FIVE_MIB // 77)), "-t", "1")
    assert p["verdict"] == "failed", p.stdout
    assert p["detail"] == "timed out after 1 s"


def test_clamd_fake_sees_the_whole_message(fake, probe):
    peer = fake("clamd", b"stream: OK\0")
    msg = message((b"f" * 76 + b"\n") * 3000)     # several chunks
    p = probe("clamd", peer.address, msg)
    assert p["verdict"] == "accept", p.stdout
    data, got, pos = peer.requests[0], b"", 10
    assert data[:10] == b"zINSTREAM\0"
    while True:
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        pos += 4
        if n == 0:
            break
        assert n <= 65536
        got += data[pos:pos + n]
        pos += n
    assert got == msg and pos == len(data)


def test_clamd_reply_at_and_over_the_limit(fake, probe):
    name = b"N" * (CLAMD_REPLY_MAX - len(b"stream: ") - len(b" FOUND"))
    at = b"stream: " + name + b" FOUND"
    assert len(at) == CLAMD_REPLY_MAX
    p = probe("clamd", fake("clamd", at + b"\0").address, ham())
    assert p["verdict"] == "reject", p.stdout
    assert p["detail"].startswith("NNNN")
    over = b"stream: N" + name + b" FOUND"
    p = probe("clamd", fake("clamd", over + b"\0").address, ham())
    assert p["verdict"] == "failed", p.stdout
    assert p["detail"] == "reply over %d octets" % CLAMD_REPLY_MAX


def test_clamd_garbage_reply_fails(fake, probe):
    p = probe("clamd", fake("clamd", b"stream: maybe\0").address, ham())
    assert p["verdict"] == "failed", p.stdout


def test_clamd_answer_after_the_client_left(fake, probe):
    peer = fake("clamd", b"stream: Foo FOUND\0", delay=0.3)
    p = probe("clamd", peer.address, eicar_inline(), "-c")
    assert p.stdout == "cancelled\n"
    assert peer.sent.wait(5)


# --- the milter peers scanpeers.py starts for the milter client's tests ----

def optneg(address):
    """Our OPTNEG (version 6, every action, every protocol bit), and the
    milter's (version, actions, protocol)."""
    host, port = address[len("inet:"):].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        body = b"O" + struct.pack(">III", 6, 0x1ff, 0x1fffff)
        s.sendall(struct.pack(">I", len(body)) + body)
        data = _recv_until(s, lambda d: len(d) >= 4 and
                           len(d) >= 4 + struct.unpack(">I", d[:4])[0],
                           limit=4096)
        assert data[4:5] == b"O", data
        return struct.unpack(">III", data[5:17])


def test_clamav_milter_peer_negotiates(clamav_milter):
    version, actions, protocol = optneg(clamav_milter.address)
    assert version == 6
    assert protocol == 0x342, hex(protocol)    # TEST-PEERS-SCANNERS.md


def test_rspamd_milter_proxy_negotiates(rspamd):
    version, actions, protocol = optneg(rspamd.milter_address)
    assert version == 6
    assert protocol == 0xff080, hex(protocol)  # every NR bit, forced
