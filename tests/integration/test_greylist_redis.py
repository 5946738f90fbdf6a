"""The greylist's Redis backend (src/greylist/store_redis.c) against a real
redis-server (redisd.py), driven through tests/helpers/greyprobe: the
backend on its own libevent loop, as the smtpd runs it, one line per
check.  Times are given to each check, so the rules' edges are tested to
the second without waiting.

What the issue asks of it (issue 9 item 6): the rules, the same as
record.c's; a triplet passed on one node passes on another sharing the
Redis; two nodes racing on one triplet count it once; Redis down at
start, killed and back, or hanging (SIGSTOP): TROUBLE within the
timeout, never a hang, greylisting again once it is back; a cancelled
check never answers and its late reply touches nothing freed (ASan in
the sanitizer build: every probe's stderr is searched); closing with
checks out answers nothing and leaks nothing; the operator's list,
allow and purge.
"""

import os
import queue
import subprocess
import threading
import time

import pytest

from redisd import free_port

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:",
                   "ERROR: LeakSanitizer")
NET = "192.0.2.0/24"
T0 = 1_800_000_000
COMMAND_TIMEOUT = 2.0        # REDIS_COMMAND_TIMEOUT_MS
BACKOFF_MAX = 5.0            # REDIS_BACKOFF_MAX_MS


class Probe:
    """One greyprobe process: one node's greylist store."""

    def __init__(self, build_dir, workdir, url, delay=300, window=3600,
                 lifetime=86400, auto_allow=0, name="probe"):
        exe = os.path.join(build_dir, "tests", "helpers", "greyprobe")
        self.errfile = os.path.join(workdir, name + ".stderr")
        self.err = open(self.errfile, "wb")
        self.proc = subprocess.Popen(
            [exe, url, str(delay), str(window), str(lifetime),
             str(auto_allow)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
            text=True, bufsize=1)
        self.lines = queue.Queue()
        self.answers = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def check(self, qid, now, sender="alice@example.org",
              rcpt="bob@example.net", net=NET):
        self.send("check %d %s %s %s %s" % (qid, now, net, sender or "<>",
                                              rcpt))

    def check_cancelled(self, qid, now):
        """A check and its cancel in one write, so the probe reads both
        before its loop can deliver the answer: a quick answer (Redis
        down) would otherwise win the race on a loaded machine."""
        self.send("check %d %s %s alice@example.org bob@example.net\n"
                  "cancel %d" % (qid, now, NET, qid))
        assert self.line() == "cancelled %d" % qid

    def line(self, timeout=10):
        """The next line that is no answer (answers are kept aside)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            assert line is not None, "greyprobe ended: " + self.stderr()
            if not line.startswith("answer "):
                return line
            self._keep(line)

    def _keep(self, line):
        _, qid, answer, retry, net_allowed = line.split()
        assert int(qid) not in self.answers, "answered twice: " + line
        self.answers[int(qid)] = (answer, int(retry), net_allowed == "1")

    def answer(self, qid, timeout=10):
        deadline = time.monotonic() + timeout
        while qid not in self.answers:
            left = deadline - time.monotonic()
            assert left > 0, "no answer to %d: %s" % (qid, self.stderr())
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            assert line is not None, "greyprobe ended: " + self.stderr()
            assert line.startswith("answer "), line
            self._keep(line)
        return self.answers[qid]

    def ask(self, qid, now, **kw):
        self.check(qid, now, **kw)
        return self.answer(qid)

    def admin(self, line):
        self.send(line)
        out = []
        while True:
            got = self.line()
            if got.startswith(("net ", "triplet ")):
                out.append(got.split())
                continue
            return got, out

    def stderr(self):
        with open(self.errfile, errors="replace") as f:
            return f.read()

    def finish(self):
        """EOF: it closes the store and exits; nothing else may have
        been answered, and no sanitizer may have spoken."""
        self.proc.stdin.close()
        assert self.proc.wait(timeout=20) == 0, self.stderr()
        self.err.close()
        while True:
            line = self.lines.get(timeout=5)
            if line is None:
                break
            assert not line.startswith("answer "), "late answer: " + line
        text = self.stderr()
        for mark in SANITIZER_MARKS:
            assert mark not in text, text


@pytest.fixture
def redis(redisd):
    return redisd


@pytest.fixture
def probe(build_dir, workdir):
    made = []

    def factory(url, **kw):
        p = Probe(build_dir, workdir, url, name="probe%d" % len(made), **kw)
        made.append(p)
        return p

    yield factory
    for p in made:
        if p.proc.poll() is None and not p.proc.stdin.closed:
            p.finish()


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


# --- the rules (record.c's, the same cases as the SQLite backend's) ---

def test_first_try_early_retry_and_delay(redis, probe):
    p = probe(redis().url())
    assert p.ask(1, T0) == ("defer", T0 + 300, False)
    # An early retry waits for the first try's deadline, never a new one.
    assert p.ask(2, T0 + 299) == ("defer", T0 + 300, False)
    assert p.ask(3, T0 + 300) == ("pass", 0, False)
    # Passed: no more waiting, until lifetime after its last use...
    assert p.ask(4, T0 + 300 + 86400) == ("pass", 0, False)
    assert p.ask(5, T0 + 300 + 2 * 86400) == ("pass", 0, False)
    # ...and a second later it is new.
    assert p.ask(6, T0 + 300 + 3 * 86400 + 1) == \
        ("defer", T0 + 300 + 3 * 86400 + 1 + 300, False)
    p.finish()


def test_retry_window_edges(redis, probe):
    p = probe(redis().url())
    assert p.ask(1, T0, rcpt="a@example.net")[0] == "defer"
    assert p.ask(2, T0 + 3600, rcpt="a@example.net") == ("pass", 0, False)
    assert p.ask(3, T0, rcpt="b@example.net")[0] == "defer"
    # One second after the window: the wait starts again from this try.
    assert p.ask(4, T0 + 3601, rcpt="b@example.net") == \
        ("defer", T0 + 3601 + 300, False)
    assert p.ask(5, T0 + 3601 + 299, rcpt="b@example.net")[0] == "defer"
    assert p.ask(6, T0 + 3601 + 300, rcpt="b@example.net")[0] == "pass"
    p.finish()


def test_triplet_parts_are_distinct(redis, probe):
    """Sender, recipient and network each make a triplet of their own; the
    null sender is one too; no separator joins two into one key."""
    r = redis()
    p = probe(r.url())
    assert p.ask(1, T0, sender="a:b@x", rcpt="c@y")[0] == "defer"
    assert p.ask(2, T0 + 300, sender="a:b@x", rcpt="c@y")[0] == "pass"
    assert p.ask(3, T0 + 300, sender="a", rcpt="b@x:c@y")[0] == "defer"
    assert p.ask(4, T0 + 300, sender="", rcpt="c@y")[0] == "defer"
    assert p.ask(5, T0 + 300, sender="a:b@x", rcpt="c@y",
                 net="198.51.100.0/24")[0] == "defer"
    got, entries = p.admin("list")
    assert got == "listed"
    triplets = sorted((e[2], e[3]) for e in entries if e[0] == "triplet")
    assert ("<>", "c@y") in triplets and ("a", "b@x:c@y") in triplets
    assert len([k for k in r.keys() if k.startswith("decorum:gl:t:")]) == 4
    p.finish()


def test_auto_allow_at_n(redis, probe):
    p = probe(redis().url(), auto_allow=2)
    for i, rcpt in enumerate(["a@example.net", "b@example.net"]):
        assert p.ask(10 * i + 1, T0, rcpt=rcpt)[0] == "defer"
        assert p.ask(10 * i + 2, T0 + 300, rcpt=rcpt)[0] == "pass"
        if i == 0:      # one pass short of auto_allow: still greylisted
            assert p.ask(3, T0 + 300, rcpt="c@example.net")[0] == "defer"
    # At N: a new triplet from the network passes at once.
    assert p.ask(30, T0 + 301, rcpt="new@example.net") == ("pass", 0, True)
    # Another network does not.
    assert p.ask(31, T0 + 301, rcpt="new@example.net",
                 net="198.51.100.0/24")[0] == "defer"
    # The allowance lives lifetime after its last use.
    assert p.ask(32, T0 + 301 + 86400, rcpt="x@example.net")[2] is True
    assert p.ask(33, T0 + 301 + 2 * 86400 + 1, rcpt="y@example.net")[0] == \
        "defer"
    p.finish()


def test_script_sent_once(redis, probe):
    """EVALSHA names the script; its text goes once per Redis (EVAL on
    NOSCRIPT), not with every check."""
    r = redis()
    p = probe(r.url())
    for i in range(10):
        p.ask(i, T0, rcpt="r%d@example.net" % i)
    stats = r.cli("INFO", "commandstats")
    calls = {line.split(":")[0]: int(line.split("calls=")[1].split(",")[0])
             for line in stats.splitlines() if line.startswith("cmdstat_")}
    assert calls.get("cmdstat_eval") == 1, stats
    assert calls.get("cmdstat_evalsha") == 10, stats
    p.finish()


# --- several nodes on one Redis ---

def test_triplet_passed_on_one_node_passes_on_another(redis, probe):
    r = redis()
    a, b = probe(r.url()), probe(r.url())
    assert a.ask(1, T0) == ("defer", T0 + 300, False)
    # The retry lands on the other node, which knows the first try.
    assert b.ask(1, T0 + 10) == ("defer", T0 + 300, False)
    assert b.ask(2, T0 + 300) == ("pass", 0, False)
    assert a.ask(2, T0 + 400) == ("pass", 0, False)
    a.finish()
    b.finish()


def test_two_nodes_racing_count_each_pass_once(redis, probe):
    """Both nodes send the first try and the retry of the same 50
    triplets at once: each triplet passes, and the network counts 50
    passes, not 100 (the check is one script, atomic on the server)."""
    r = redis()
    nodes = [probe(r.url()), probe(r.url())]
    rcpts = ["r%d@example.net" % i for i in range(50)]
    for now in (T0, T0 + 300):
        for n in nodes:
            for i, rcpt in enumerate(rcpts):
                n.check(now * 100 % 997 + i, now, rcpt=rcpt)
        for n in nodes:
            for i in range(len(rcpts)):
                answer = n.answer(now * 100 % 997 + i)[0]
                assert answer == ("defer" if now == T0 else "pass")
            n.answers.clear()
    assert r.cli("HGET", "decorum:gl:n:" + NET, "passes").strip() == "50"
    for n in nodes:
        n.finish()


# --- Redis away, back, hanging ---

def test_down_at_start_then_back(workdir, redis, probe):
    port = free_port()
    p = probe("redis://127.0.0.1:%d/0" % port)
    assert p.ask(1, T0)[0] == "trouble"
    assert p.ask(2, T0)[0] == "trouble"
    assert p.stderr().count("state=down") == 1, p.stderr()
    redis(port=port)
    # Back without a restart: within the reconnect backoff (5 s at most).
    deadline = time.monotonic() + BACKOFF_MAX + 5
    qid = 3
    while p.ask(qid, T0 + 1)[0] == "trouble":
        assert time.monotonic() < deadline, p.stderr()
        time.sleep(0.1)
        qid += 1
    assert p.answers[qid] == ("defer", T0 + 301, False)
    assert "event=greylist-redis state=up" in p.stderr()
    p.finish()


def test_killed_mid_run_then_back(redis, probe):
    r = redis()
    p = probe(r.url())
    assert p.ask(1, T0)[0] == "defer"
    r.stop()
    started = time.monotonic()
    assert p.ask(2, T0 + 300)[0] == "trouble"
    assert time.monotonic() - started < COMMAND_TIMEOUT + 1
    assert p.ask(3, T0 + 300)[0] == "trouble"
    wait_until(lambda: "state=down" in p.stderr(), 5, p.stderr())
    r.start()
    deadline = time.monotonic() + BACKOFF_MAX + 5
    qid = 4
    # A Redis without persistence comes back empty: the triplet is new.
    while p.ask(qid, T0 + 400)[0] == "trouble":
        assert time.monotonic() < deadline, p.stderr()
        time.sleep(0.1)
        qid += 1
    assert p.answers[qid] == ("defer", T0 + 700, False)
    p.finish()


def test_hanging_redis_times_out(redis, probe):
    r = redis()
    p = probe(r.url())
    assert p.ask(1, T0)[0] == "defer"
    r.pause()
    started = time.monotonic()
    p.check(2, T0 + 300)
    p.check(3, T0 + 300, rcpt="other@example.net")
    assert p.answer(2)[0] == "trouble"
    assert p.answer(3)[0] == "trouble"
    took = time.monotonic() - started
    assert COMMAND_TIMEOUT - 0.2 < took < COMMAND_TIMEOUT + 1.5, took
    assert "reason=\"command timeout\"" in p.stderr()
    # While it hangs, no check waits longer than the timeout.
    started = time.monotonic()
    assert p.ask(4, T0 + 300)[0] == "trouble"
    assert time.monotonic() - started < COMMAND_TIMEOUT + 1.5
    r.resume()
    deadline = time.monotonic() + BACKOFF_MAX + 5
    qid = 5
    while p.ask(qid, T0 + 300)[0] == "trouble":
        assert time.monotonic() < deadline, p.stderr()
        time.sleep(0.1)
        qid += 1
    assert p.answers[qid] == ("pass", 0, False)
    p.finish()


def test_queries_in_flight_are_bounded(redis, probe):
    """A hanging Redis holds at most 512 checks; the rest answer TROUBLE
    at once instead of queueing."""
    r = redis()
    p = probe(r.url())
    assert p.ask(1, T0)[0] == "defer"
    r.pause()
    started = time.monotonic()
    for i in range(100, 700):
        p.check(i, T0, rcpt="r%d@example.net" % i)
    for i in range(612, 700):           # the 88 beyond the bound
        assert p.answer(i, timeout=COMMAND_TIMEOUT)[0] == "trouble"
    assert time.monotonic() - started < COMMAND_TIMEOUT
    for i in range(100, 612):
        assert p.answer(i)[0] == "trouble"
    assert p.stderr().count("state=full") == 1, p.stderr()
    assert "limit=512" in p.stderr()
    r.resume()
    p.finish()


# --- the owner gone: cancel, close ---

def test_cancelled_check_never_answers(redis, probe):
    r = redis()
    p = probe(r.url())
    # Cancelled while Redis holds it, its reply on the way.
    p.check_cancelled(1, T0)
    assert p.ask(2, T0, rcpt="other@example.net")[0] == "defer"
    # Cancelled while Redis hangs: the timeout hands it back, unanswered.
    r.pause()
    p.check_cancelled(3, T0 + 300)
    assert p.ask(4, T0 + 300, rcpt="x@example.net")[0] == "trouble"
    r.resume()
    # Cancelled while down: its TROUBLE is never delivered.
    p.check_cancelled(5, T0)
    p.check(6, T0)
    p.answer(6)
    assert 1 not in p.answers and 3 not in p.answers and 5 not in p.answers
    p.finish()


def test_close_with_checks_out(redis, probe):
    r = redis()
    p = probe(r.url())
    assert p.ask(1, T0)[0] == "defer"
    r.pause()
    for i in range(2, 12):
        p.check(i, T0, rcpt="r%d@example.net" % i)
    p.send("close")
    assert p.line() == "closed"
    r.resume()
    time.sleep(COMMAND_TIMEOUT + 0.5)   # past any timeout it had set
    p.finish()                           # no answer, no leak
    assert list(p.answers) == [1]


# --- connection settings ---

def test_password_and_database(redis, probe):
    r = redis(password="s3cret")
    p = probe(r.url(db=5, password="s3cret"))
    assert p.ask(1, T0)[0] == "defer"
    assert r.keys(db=0) == []
    assert [k[:13] for k in r.keys(db=5)] == ["decorum:gl:t:"]
    got, entries = p.admin("list")
    assert got == "listed" and len(entries) == 1
    p.finish()
    bad = probe(r.url(password="wrong"))
    assert bad.ask(1, T0)[0] == "trouble"
    wait_until(lambda: "state=refused" in bad.stderr(), 5, bad.stderr())
    # It retries (0.1 s, 0.2 s, 0.4 s...) and says so once, not each time.
    for i in range(2, 12):
        assert bad.ask(i, T0)[0] == "trouble"
        time.sleep(0.1)
    assert bad.stderr().count("state=refused") == 1, bad.stderr()
    assert bad.stderr().count("state=error") <= 1, bad.stderr()
    assert bad.stderr().count("state=down") == 1, bad.stderr()
    assert "wrong" not in bad.stderr()
    got, _ = bad.admin("list")
    assert got.startswith("error redis: WRONGPASS"), got
    bad.finish()


def test_ipv6_literal_and_host_name(redis, probe):
    r = redis(binds=("127.0.0.1", "::1"))
    for url in (r.url(host="[::1]"), r.url(host="localhost")):
        p = probe(url)
        assert p.ask(1, T0, rcpt=url)[0] == "defer", p.stderr()
        p.finish()


def test_bad_url_refused(build_dir, workdir):
    exe = os.path.join(build_dir, "tests", "helpers", "greyprobe")
    for url, why in [("redis://127.0.0.1:0/0", "port"),
                     ("redis://:pw@127.0.0.1/99999", "database"),
                     ("redis://::1/0", "brackets")]:
        res = subprocess.run([exe, url, "300", "3600", "86400", "0"],
                             input="", capture_output=True, text=True,
                             timeout=10)
        assert res.returncode == 2 and why in res.stderr, res.stderr
        assert "pw" not in res.stderr


# --- the operator's commands ---

def test_list_allow_purge(redis, probe):
    r = redis()
    p = probe(r.url(), auto_allow=5)
    assert p.ask(1, T0, rcpt="waiting@example.net")[0] == "defer"
    assert p.ask(2, T0, rcpt="passed@example.net")[0] == "defer"
    assert p.ask(3, T0 + 300, rcpt="passed@example.net")[0] == "pass"
    got, entries = p.admin("list")
    assert got == "listed"
    entries = sorted(entries)
    assert entries[0] == ["net", NET, "1", "0", str(T0 + 300 + 86400)]
    assert entries[1] == ["triplet", NET, "alice@example.org",
                          "passed@example.net", str(T0), str(T0 + 300), "1",
                          str(T0 + 300 + 86400)]
    assert entries[2] == ["triplet", NET, "alice@example.org",
                          "waiting@example.net", str(T0), str(T0), "0",
                          str(T0 + 3600)]
    # allow: every triplet from the network passes.
    assert p.admin("allow 198.51.100.0/24 %d" % T0)[0] == "allowed"
    assert p.ask(4, T0 + 1, net="198.51.100.0/24") == ("pass", 0, True)
    assert p.admin("allow 198.51.100.0/24* %d" % T0)[0].startswith(
        "error not a network")
    # purge: nothing is over at T0 + 3600; all is a second later... and
    # the passed triplet and the networks a lifetime after their use.
    assert p.admin("purge %d" % (T0 + 3600))[0] == "purged 0"
    assert p.admin("purge %d" % (T0 + 3601))[0] == "purged 1"
    assert p.admin("purge %d" % (T0 + 2 + 86400 + 300))[0] == "purged 3"
    assert r.keys() == []
    p.finish()


# --- the URL in the config: checked whole, with FILE:LINE ---

@pytest.mark.parametrize("url, says", [
    ("redis://127.0.0.1:0/0", "port is not 1-65535"),
    ("redis://127.0.0.1:65536/0", "port is not 1-65535"),
    ("redis://127.0.0.1:6379/65536", "database"),
    ("redis://127.0.0.1:6379/0?db=1", "query"),
    ("redis://::1:6379/0", "brackets"),
    ("redis://[::1/0", "without ']'"),
    ("redis://bad_host/0", "bad host name"),
    ("redis://user@127.0.0.1/0", "a user without a password"),
    ("redis://:hunter2@bad_host/0", "bad host name"),
])
def test_config_refuses_bad_url(mta, url, says):
    m = mta(start=False)
    with open(m.conf, "a") as f:
        f.write('greylist = { backend = "%s"; };\n' % url)
    with open(m.conf) as f:
        line = len(f.read().splitlines())
    r = m.cli("check-config")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stderr.startswith("%s:%d: " % (m.conf, line)), r.stderr
    assert "greylist.backend" in r.stderr and says in r.stderr, r.stderr
    assert "hunter2" not in r.stderr


@pytest.mark.parametrize("url", [
    "redis://127.0.0.1:1/0", "redis://127.0.0.1:65535/65535",
    "redis://[::1]:6379/0", "redis://localhost", "redis://redis.example.org/",
    "redis://:p%40ss@127.0.0.1:6379/0", "redis://decorum:pw@[::1]/3",
])
def test_config_accepts_url(mta, url):
    m = mta(start=False)
    with open(m.conf, "a") as f:
        f.write('greylist = { backend = "%s"; };\n' % url)
    r = m.cli("check-config")
    assert r.returncode == 0, r.stderr
