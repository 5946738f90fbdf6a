"""The key-reload channel stays in step (issue 8, item 6).  The master
sends new TLS keys to the smtpd over a socketpair in frames (magic,
sequence number, length, check); it never gives up half-way, it never
blocks on a slow smtpd, and every smtpd it starts gets a fresh channel.

The certificate chains here are over 64 KiB each (the leaf and eight
padding certificates with 300 names apiece), and each config holds
several, so every key frame is larger than a socketpair's buffer and
goes out in many writes."""

import os
import shutil
import signal
import subprocess
import tempfile
import threading

import pytest

from conftest import HELO, implicit, starttls
from mtaproc import HOSTNAME, cert_der, wait_until
from smtpraw import Smtp, message

PADDING = 8


def _padding_cert(directory, i):
    san = ",".join("DNS:pad%d-%03d.chain.example.test" % (i, j)
                   for j in range(300))
    path = os.path.join(directory, "pad%d.pem" % i)
    r = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec",
         "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
         "-subj", "/CN=pad%d.example.test" % i,
         "-addext", "subjectAltName=" + san,
         "-keyout", os.devnull, "-out", path],
        capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    with open(path) as f:
        return f.read()


@pytest.fixture(scope="session")
def chain_originals(cert_originals):
    """(chain, key) for mx, next and other: each leaf followed by the
    same padding certificates."""
    d = tempfile.mkdtemp(prefix="decorum-chains-")
    pad = "".join(_padding_cert(d, i) for i in range(PADDING))
    out = {}
    for name in ("mx", "next", "other"):
        cert, key = cert_originals[name]
        path = os.path.join(d, name + "-chain.pem")
        with open(cert) as f, open(path, "w") as g:
            g.write(f.read() + pad)
        out[name] = (path, key)
        assert os.path.getsize(path) > 64 * 1024
    yield out
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def live(chain_originals, workdir):
    """The pair the config names, replaced in place by the tests."""
    d = os.path.join(workdir, "live")
    os.makedirs(d)
    pair = (os.path.join(d, "chain.pem"), os.path.join(d, "key.pem"))
    replace(pair, chain_originals["mx"])
    return pair


def replace(dst_pair, src_pair):
    # A temp name and a rename each: the master never reads half a file.
    for src, dst in zip(src_pair, dst_pair):
        shutil.copyfile(src, dst + ".new")
        os.rename(dst + ".new", dst)


def leaf(pair):
    return cert_der(pair[0])


def served(m, where="mx_implicit"):
    """DER of the leaf a new TLS session gets."""
    if where == "mx_implicit":
        s = implicit(m.ports[where], server_hostname=HOSTNAME)
    else:
        s = Smtp(m.ports[where])
        s.ehlo(HELO)
        starttls(s, server_hostname=HOSTNAME)
    try:
        return s.sock.getpeercert(binary_form=True)
    finally:
        s.close()


def frame_octets(m):
    """What one key frame carries: every chain and key of the config."""
    return sum(os.path.getsize(p) for pair in
               [(m.tls["cert"], m.tls["key"])] + list(m.tls["sni"])
               for p in pair)


def socket_buffer():
    with open("/proc/sys/net/core/wmem_default") as f:
        return int(f.read())


class Sessions(threading.Thread):
    """TLS sessions, one after another, each sending a message, on the
    implicit and the STARTTLS listener in turn, until stopped."""

    def __init__(self, m):
        super().__init__(daemon=True)
        self.m = m
        self.done = 0
        self.errors = []
        self.halt = threading.Event()

    def run(self):
        n = 0
        while not self.halt.is_set():
            n += 1
            try:
                if n % 2:
                    s = implicit(self.m.ports["mx_implicit"])
                else:
                    s = Smtp(self.m.ports["mx_starttls"])
                    s.ehlo(HELO)
                    starttls(s)
                with s:
                    s.ehlo(HELO)
                    s.mail("x@example.org")
                    s.rcpt("demo@example.test")
                    s.data(message(subject="during reload %d" % n))
                    s.expect("QUIT", 221)
                self.done += 1
            except Exception as e:          # reported by stop()
                self.errors.append("session %d: %r" % (n, e))

    def stop(self):
        self.halt.set()
        self.join(30)
        assert not self.is_alive()
        assert self.errors == [], self.errors
        assert self.done > 0


def seqs(m, event):
    return [int(e["seq"]) for e in m.events(event)]


def assert_clean(m):
    log = m.log()
    for bad in ("event=control-error", "event=tls-reload-failed",
                "event=control-stale", "event=tls-resend"):
        assert bad not in log, (bad, log[-3000:])


def test_fifty_reloads_in_a_row(tls_mta, live, chain_originals):
    m = tls_mta(tls={"cert": live[0], "key": live[1],
                     "sni": [chain_originals["other"]] * 2})
    assert frame_octets(m) > socket_buffer()
    sessions = Sessions(m)
    sessions.start()
    try:
        for i in range(1, 51):
            replace(live, chain_originals["next" if i % 2 else "mx"])
            os.kill(m.pid, signal.SIGHUP)
            m.wait_event("tls-reloaded", seq=str(i), timeout=20)
    finally:
        sessions.stop()
    assert seqs(m, "tls-reload") == list(range(1, 51))
    assert seqs(m, "tls-reloaded") == list(range(1, 51))
    assert all(e["certificates"] == "3" for e in m.events("tls-reloaded"))
    # The 50th set was mx's: new sessions get it, on both kinds of port.
    assert served(m) == leaf(chain_originals["mx"])
    assert served(m, "mx_starttls") == leaf(chain_originals["mx"])
    assert_clean(m)


def test_burst_of_reloads(tls_mta, live, chain_originals):
    """50 SIGHUPs as fast as they can be sent: signals merge and frames
    queue behind one half written; only a frame not yet started is
    replaced by a newer one.  The smtpd ends on the master's last set,
    never applying an older one after a newer."""
    m = tls_mta(tls={"cert": live[0], "key": live[1],
                     "sni": [chain_originals["other"]] * 2})
    sessions = Sessions(m)
    sessions.start()
    try:
        replace(live, chain_originals["next"])
        for _ in range(50):
            os.kill(m.pid, signal.SIGHUP)
        # The burst is over when the smtpd has what the master sent last
        # and one more reload, sent after it, arrives too.
        wait_until(lambda: seqs(m, "tls-reload") and
                   seqs(m, "tls-reloaded")[-1:] == seqs(m, "tls-reload")[-1:],
                   30, what="the smtpd to catch up; log:\n%s"
                   % m.log()[-2000:])
        last = seqs(m, "tls-reload")[-1]
        replace(live, chain_originals["mx"])
        os.kill(m.pid, signal.SIGHUP)
        # One SIGHUP of the burst may still be pending and be taken
        # first (signals merge), so "a reload after last" is not yet
        # ours: wait for the certificate itself.
        wait_until(lambda: seqs(m, "tls-reloaded")[-1] > last and
                   served(m) == leaf(chain_originals["mx"]),
                   30, what="the reload after the burst")
        wait_until(lambda: seqs(m, "tls-reloaded")[-1:] ==
                   seqs(m, "tls-reload")[-1:], 30,
                   what="the smtpd to apply the master's last set")
    finally:
        sessions.stop()
    applied = seqs(m, "tls-reloaded")
    assert applied == sorted(set(applied)), applied
    assert seqs(m, "tls-reload") == list(range(1, len(seqs(m, "tls-reload"))
                                               + 1))
    assert served(m) == leaf(chain_originals["mx"])
    assert_clean(m)


def test_smtpd_killed_mid_frame(tls_mta, live, chain_originals):
    """A smtpd stopped while a frame is half written: the master goes on
    taking signals; killed with -9, the smtpd comes back on a fresh
    channel with the latest keys, and the next reload reaches it."""
    m = tls_mta(tls={"cert": live[0], "key": live[1],
                     "sni": [chain_originals["other"]] * 3})
    # More than the socket holds: the first write cannot finish.
    assert frame_octets(m) > socket_buffer()
    old = m.child("decorum-smtpd")
    m.wait_event("ready")       # listeners accept before the smtpd runs
    os.kill(old, signal.SIGSTOP)
    try:
        replace(live, chain_originals["next"])
        os.kill(m.pid, signal.SIGHUP)
        m.wait_event("tls-reload", seq="1")
        # The master is not stuck in that write: it takes the next one.
        replace(live, chain_originals["mx"])
        os.kill(m.pid, signal.SIGHUP)
        m.wait_event("tls-reload", seq="2")
    finally:
        os.kill(old, signal.SIGKILL)
    wait_until(lambda: m.child("decorum-smtpd") != old, 15,
               what="a new smtpd")
    m.wait_event("ready", n=2, timeout=15)
    # It was forked with the keys of reload 2, not half of reload 1.
    assert served(m) == leaf(chain_originals["mx"])
    replace(live, chain_originals["next"])
    os.kill(m.pid, signal.SIGHUP)
    m.wait_event("tls-reloaded", seq="3", timeout=20)
    assert served(m) == leaf(chain_originals["next"])
    assert served(m, "mx_starttls") == leaf(chain_originals["next"])
    assert seqs(m, "tls-reloaded") == [3]
    assert_clean(m)

