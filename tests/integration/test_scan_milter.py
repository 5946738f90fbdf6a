"""The milter client (src/scan/milter_client*.c) through scanprobe against
test milters (testmilter.py): pymilter ones for every verdict and change
a real libmilter filter can give, raw ones for broken milters, and the
asynchronous cases (timeouts, a client that leaves before the answer)
under the sanitizers when DECORUM_BUILD is build-san.
"""

import hashlib
import os
import re
import socket
import subprocess
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
LINE = re.compile(r'verdict=(\S+) finding=(\S+) code=(\d+) enhanced=(\S+) '
                  r'text="([^"]*)" detail="([^"]*)"')
MOD = re.compile(r'mod (\S+) index=(\d+) name="([^"]*)" value="([^"]*)" '
                 r'addr="([^"]*)"')
HEADERS = (b"Received: from client.example.test\r\n"
           b"Subject: hello\r\n"
           b"X-Drop: me\r\n")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def connectable(sockaddr, family):
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.connect(sockaddr)
        return True
    except OSError:
        return False
    finally:
        s.close()


class Result:
    def __init__(self, out, err):
        self.out, self.err = out, err
        m = LINE.search(out)
        assert m is not None, "no result line in %r (stderr %r)" % (out, err)
        (self.verdict, self.finding, code, self.enhanced, self.text,
         self.detail) = m.groups()
        self.code = int(code)
        self.mods = [m.groups() for m in MOD.finditer(out)]
        b = re.search(r"^body (\d+)$", out, re.M)
        self.body = int(b.group(1)) if b else None

    def headers(self, name):
        return [v for t, _, n, v, _ in self.mods
                if t == "add_header" and n == name]


@pytest.fixture
def milter(tmp_path):
    """milter(behaviour, arg=None, unix=False) -> the scanprobe address of
    a started testmilter.py, listening when returned; killed at teardown."""
    procs = []

    def factory(behaviour, arg=None, unix=False):
        if unix:
            path = str(tmp_path / ("m%d.sock" % len(procs)))
            listen, probe = "unix:" + path, "unix:" + path
            sockaddr, family = path, socket.AF_UNIX
        else:
            port = free_port()
            listen = "inet:%d@127.0.0.1" % port
            probe = "inet:127.0.0.1:%d" % port
            sockaddr, family = ("127.0.0.1", port), socket.AF_INET
        argv = [PYTHON, os.path.join(HERE, "testmilter.py"), listen,
                behaviour] + ([arg] if arg is not None else [])
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        procs.append(p)
        deadline = time.time() + 15
        while not connectable(sockaddr, family):
            assert p.poll() is None, p.stderr.read()
            assert time.time() < deadline, "testmilter did not listen"
            time.sleep(0.05)
        return probe

    yield factory
    for p in procs:
        p.kill()
        p.wait()
        p.stderr.close()


@pytest.fixture
def probe(build_dir, tmp_path):
    """probe(address, body=b"...", headers=HEADERS, *opts) -> Result:
    scanprobe milter on a message of those header fields and body."""
    exe = os.path.join(build_dir, "tests", "helpers", "scanprobe")

    def run(address, *opts, body=b"hello\r\n", headers=HEADERS, wait=30):
        f = tmp_path / "msg.eml"
        f.write_bytes(headers + b"\r\n" + body)
        cp = subprocess.run([exe, "milter", address, str(f)] + list(opts),
                            capture_output=True, timeout=wait)
        out, err = cp.stdout.decode(), cp.stderr.decode()
        assert cp.returncode == 0, err
        assert "Sanitizer" not in err and "runtime error" not in err, err
        return out, err

    def result(address, *opts, **kw):
        return Result(*run(address, *opts, **kw))

    result.raw = run
    return result


# --- verdicts -------------------------------------------------------------

def test_accept_without_changes(milter, probe):
    r = probe(milter("accept"))
    assert (r.verdict, r.finding, r.code, r.detail) == ("accept", "nothing",
                                                        0, "")
    assert r.mods == [] and r.body is None


@pytest.mark.parametrize("kind", ["spam", "malware", "other"])
def test_reject_is_the_milters_kind(milter, probe, kind):
    r = probe(milter("reject"), "-k", kind)
    assert (r.verdict, r.finding, r.code) == ("reject", kind, 0)


def test_tempfail(milter, probe):
    r = probe(milter("tempfail"), "-k", "malware")
    assert (r.verdict, r.finding, r.code) == ("tempfail", "malware", 0)


def test_discard(milter, probe):
    r = probe(milter("discard"))
    assert (r.verdict, r.code) == ("discard", 0)


def test_replycode_5xx_is_a_reject_with_its_reply(milter, probe):
    r = probe(milter("replycode", "550"))
    assert (r.verdict, r.finding, r.code, r.enhanced, r.text) == (
        "reject", "spam", 550, "5.7.1", "Refused by test milter")


def test_replycode_4xx_is_a_tempfail_with_its_reply(milter, probe):
    r = probe(milter("replycode", "451"))
    assert (r.verdict, r.code, r.enhanced, r.text) == (
        "tempfail", 451, "4.7.1", "Try later, test milter")


@pytest.mark.parametrize("where", ["reject-at-rcpt", "reject-at-connect"])
def test_refusal_before_the_body_is_the_messages(milter, probe, where):
    r = probe(milter(where))
    assert (r.verdict, r.finding) == ("reject", "spam")


# --- changes at end of body ----------------------------------------------

@pytest.mark.parametrize("behaviour,mod", [
    ("add-header", ("add_header", "0", "X-Test", "added", "")),
    ("change-header", ("change_header", "1", "Subject", "changed subject",
                       "")),
    ("insert-header", ("insert_header", "0", "X-Top", "inserted", "")),
    ("delete-header", ("change_header", "1", "X-Drop", "", "")),
    ("add-recipient", ("add_rcpt", "0", "", "", "carol@example.test")),
    ("delete-recipient", ("del_rcpt", "0", "", "", "bob@example.test")),
    ("change-from", ("change_from", "0", "", "", "bounces@example.test")),
    ("quarantine", ("quarantine", "0", "", "held by test milter", "")),
])
def test_change(milter, probe, behaviour, mod):
    r = probe(milter(behaviour))
    assert r.verdict == "accept", r.detail
    assert r.mods == [mod]


def test_replaced_body(milter, probe):
    r = probe(milter("replace-body"), body=b"x" * 100000)
    assert (r.verdict, r.body, r.mods) == ("accept", len(b"replaced body\r\n"),
                                          [])


# scanprobe's max_body: 64 MiB.
@pytest.mark.parametrize("size,verdict", [(64 << 20, "accept"),
                                          ((64 << 20) + 1, "failed")])
def test_replaced_body_limit(milter, probe, size, verdict):
    r = probe(milter("big-body", str(size)))
    assert r.verdict == verdict, r.detail
    if verdict == "accept":
        assert r.body == size
    else:
        assert "replaced body over 67108864 octets" in r.detail


@pytest.mark.parametrize("n,verdict", [(256, "accept"), (257, "failed")])
def test_changes_limit(milter, probe, n, verdict):
    r = probe(milter("many-headers", str(n)))
    assert r.verdict == verdict
    if verdict == "accept":
        assert r.headers("X-Many") == [str(i) for i in range(n)]
    else:
        assert "more than 256 changes" in r.detail


# --- what the milter is sent --------------------------------------------

def test_header_fields_as_postfix_sends_them(milter, probe):
    headers = (b"Subject: hello\r\n"
               b"X-Two:  two spaces\r\n"
               b"X-Tab:\tafter a tab\r\n"
               b"X-Fold: first\r\n second\r\n\tthird\r\n"
               b"X-Empty:\r\n")
    r = probe(milter("headers"), headers=headers)
    assert r.verdict == "accept", r.detail
    assert r.headers("X-Got") == [
        "Subject='hello'", "X-Two=' two spaces'", "X-Tab='\\tafter a tab'",
        "X-Fold='first\\n second\\n\\tthird'", "X-Empty=''"]


@pytest.mark.parametrize("size,chunks", [
    (0, 0), (1, 1), (65535, 1), (65536, 2), (5 * 1024 * 1024, 81)])
def test_every_body_octet_arrives(milter, probe, size, chunks):
    body = bytes((i * 7 + i // 251) % 256 for i in range(size))
    r = probe(milter("hash"), body=body)
    assert r.verdict == "accept", r.detail
    assert r.headers("X-Body-Hash") == ["%s %d %d" % (
        hashlib.sha256(body).hexdigest(), size, chunks)]


def test_skip_stops_the_body(milter, probe):
    r = probe(milter("skip"), body=b"y" * 300000)
    assert r.verdict == "accept", r.detail
    assert r.headers("X-Chunks") == ["1"]


def test_macros(milter, probe):
    r = probe(milter("macros"), "-a", "alice", "-f", "a@example.org",
              "-r", "bob@example.test", "-r", "carol@example.test")
    got = {n[len("X-Macro-"):]: v for t, _, n, v, _ in r.mods}
    assert r.verdict == "accept", r.detail
    assert got["mail-addr"] == "a@example.org"
    assert got["rcpt-addr"] == "carol@example.test"
    assert got["rcpts"] == "<bob@example.test>,<carol@example.test>"
    assert got["sender"] == "<a@example.org>"
    assert got["i"] == "1ProbeQueueId"
    assert got["j"] == got["daemon-name"] == "mx.example.test"
    assert got["client-addr"] == "127.0.0.1"
    assert got["client-port"] == "40000"
    assert got["client-name"] == got["hostname"] == "client.example.test"
    assert got["auth-authen"] == "alice"
    assert got["v"] == "Decorum"
    assert "tls-version" not in got


def test_no_auth_macro_without_login(milter, probe):
    r = probe(milter("macros"))
    names = [n for _, _, n, _, _ in r.mods]
    assert "X-Macro-mail-addr" in names
    assert "X-Macro-auth-authen" not in names


def test_macros_the_milter_asked_for(milter, probe):
    r = probe(milter("symlist"), "-a", "alice")
    assert r.verdict == "accept", r.detail
    got = sorted((n, v) for t, _, n, v, _ in r.mods)
    # Only what it asked for at CONNECT (C) and MAIL (M), the unknown
    # name left out; the defaults where it named nothing.
    assert got == [("X-Macro-C-client-addr", "127.0.0.1"),
                   ("X-Macro-E-i", "1ProbeQueueId"),
                   ("X-Macro-M-mail-addr", "alice@example.org"),
                   ("X-Macro-N-i", "1ProbeQueueId"),
                   ("X-Macro-R-rcpt-addr", "bob@example.test"),
                   ("X-Macro-T-i", "1ProbeQueueId")]


def test_unix_socket(milter, probe):
    r = probe(milter("add-header", unix=True))
    assert r.verdict == "accept", r.detail
    assert r.headers("X-Test") == ["added"]


# --- timeouts and cancel (the asynchronous cases) -------------------------

def test_answer_after_the_eom_timeout(milter, probe):
    addr = milter("slow", "3")
    t0 = time.time()
    r = probe(addr, "-t", "1")
    assert time.time() - t0 < 2.5
    assert r.verdict == "failed"
    assert "timed out waiting for end of body" in r.detail


def test_answer_within_the_eom_timeout(milter, probe):
    r = probe(milter("slow", "0.5"), "-t", "2")
    assert (r.verdict, r.headers("X-Slow")) == ("accept", ["answered"])


def test_never_answers(milter, probe):
    r = probe(milter("silent"), "-t", "1")
    assert r.verdict == "failed"
    assert "timed out" in r.detail


def test_progress_restarts_the_timer(milter, probe):
    t0 = time.time()
    r = probe(milter("progress", "2.5"), "-t", "1")
    assert r.verdict == "accept", r.detail
    assert time.time() - t0 >= 2.4


def test_negotiation_timeout(milter, probe):
    r = probe(milter("mute"), "-t", "1")
    assert r.verdict == "failed"
    assert "timed out waiting for the option negotiation" in r.detail


@pytest.mark.parametrize("behaviour,arg", [("slow", "0.3"), ("mute", None)])
def test_answer_after_the_client_left(milter, probe, behaviour, arg):
    """Cancelled while waiting for the end of body (slow: its answer at
    0.3 s reaches a closed socket while scanprobe's loop runs on for a
    second) or for the negotiation (mute): only the cancel is printed,
    and the sanitizers see nothing (probe checks stderr)."""
    out, err = probe.raw(milter(behaviour, arg), "-c")
    assert out.splitlines() == ["cancelled"], out


# --- milters that cannot be asked or break the protocol -------------------

def test_connection_refused(probe):
    r = probe("inet:127.0.0.1:%d" % free_port())
    assert r.verdict == "failed"
    assert "cannot connect" in r.detail and "refused" in r.detail


def test_unix_socket_missing(probe, tmp_path):
    r = probe("unix:%s" % (tmp_path / "nothing.sock"))
    assert r.verdict == "failed"
    assert "No such file" in r.detail


@pytest.mark.parametrize("behaviour,detail", [
    ("close-after-optneg", "closed the connection during CONNECT"),
    ("garbage", "protocol error: packet length"),
    ("oversized", "protocol error: packet length"),
    ("not-offered", "milter asks for actions not offered"),
    ("not-agreed", "reply 'h' not allowed after end of body"),
    ("early-change", "reply 'h' not allowed after CONNECT"),
])
def test_broken_milter(milter, probe, behaviour, detail):
    r = probe(milter(behaviour))
    assert r.verdict == "failed"
    assert detail in r.detail, r.detail


# --- one connection for many messages (SMFIC_QUIT_NC) ----------------------

def results(out):
    """The Result of each message of a scanprobe -n run, in order."""
    blocks = re.split(r"^(?=verdict=)", out, flags=re.M)
    return [Result(b, "") for b in blocks if b.startswith("verdict=")]


def connections(rs):
    return [r.headers("X-Connections") for r in rs]


def test_messages_share_one_connection(milter, probe):
    """Five messages on one loop: the milter negotiated once (libmilter
    took each QUIT_NC and the next CONNECT on the same socket)."""
    out, _ = probe.raw(milter("count"), "-n", "5")
    rs = results(out)
    assert [r.verdict for r in rs] == ["accept"] * 5, out
    assert connections(rs) == [["1"]] * 5


@pytest.mark.parametrize("at_once,negotiations", [(64, 64), (65, 66)])
def test_the_pool_keeps_at_most_64_per_address(milter, probe, at_once,
                                              negotiations):
    """Two rounds of conversations at once on one pool: 64 all come back
    and serve the second round; of 65, one is closed at the end of the
    first round (the pool holds 64 per address), so the second round
    negotiates one new connection."""
    out, _ = probe.raw(milter("count"), "-n", "2", "-P", str(at_once),
                       wait=60)
    rs = results(out)
    assert [r.verdict for r in rs] == ["accept"] * (2 * at_once), out
    seen = [int(c[0]) for c in connections(rs)]
    assert max(seen[:at_once]) == at_once
    assert max(seen[at_once:]) == negotiations


def test_no_reuse_is_one_connection_per_message(milter, probe):
    out, _ = probe.raw(milter("count"), "-n", "3", "-N")
    rs = results(out)
    assert [r.verdict for r in rs] == ["accept"] * 3, out
    assert connections(rs) == [["1"], ["2"], ["3"]]


def test_a_stale_connection_is_retried_on_a_fresh_one(milter, probe):
    """The raw milter closes the connection on QUIT_NC; scanprobe starts
    the next message at once, on that connection (its QUIT_NC not even
    read yet), so every message after the first finds it closed before
    its first reply and must start over, never fail."""
    out, _ = probe.raw(milter("close-on-quit-nc"), "-n", "4")
    rs = results(out)
    assert [(r.verdict, r.detail) for r in rs] == [("accept", "")] * 4, out


def test_a_failed_conversation_is_not_kept(milter, probe):
    """The first end of body times out: that connection is closed, and
    the second message negotiates a new one."""
    out, _ = probe.raw(milter("slow-first", "2"), "-n", "2", "-t", "1")
    rs = results(out)
    assert [r.verdict for r in rs] == ["failed", "accept"], out
    assert "timed out waiting for end of body" in rs[0].detail
    assert connections(rs)[1] == ["2"]


def test_cancel_on_a_kept_connection(milter, probe):
    """The second message, on the first's connection, is cancelled while
    the milter thinks: the sanitizers see no leak of it or of the pool."""
    out, _ = probe.raw(milter("slow", "0.3"), "-n", "2", "-c")
    lines = out.splitlines()
    assert lines[0].startswith("verdict=accept") and lines[-1] == "cancelled"
    assert len(results(out)) == 1, out
