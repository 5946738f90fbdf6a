"""Tests of the benchmark's own measuring tools, against real processes:
the counting sink (bench/countsink.py, run as bench/run runs it, read by
measure.SinkWatcher), the strace table parser (bench/syscalls.py, on a
real `strace -c` of a command with known calls), the spool filler
(bench/spoolfill.py), the growth run's log reader and the restart run's
loss check and crash (bench/restart.py), and the scan run's ceiling
arithmetic (bench/scan.py).

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider bench/test_tools.py
(no root needed; make test runs it, and installs strace for it).
"""

import os
import smtplib
import socket
import subprocess
import sys
import time
import types

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import growth  # noqa: E402
import measure  # noqa: E402
import mta  # noqa: E402
import restart  # noqa: E402
import scan  # noqa: E402
import spoolfill  # noqa: E402
import syscalls  # noqa: E402

HOST = "127.0.0.1"


def started_sink(tmp_path, rcpt_reply=None):
    sink = mta.Sink(str(tmp_path), host=HOST, rcpt_reply=rcpt_reply)
    sink.start(want=3)
    return sink


def test_countsink_counts_messages_and_empty_sessions(tmp_path):
    sink = started_sink(tmp_path)
    try:
        with smtplib.SMTP(HOST, sink.port) as c:   # two messages
            c.ehlo("client.test")
            assert "pipelining" in c.esmtp_features
            assert "starttls" not in c.esmtp_features
            c.sendmail("a@client.test", ["b@remote.test"],
                       b"Subject: one\r\n\r\n.leading dot\r\n")
            c.sendmail("a@client.test", ["b@remote.test"], b"")
        for _ in range(2):                          # two carry nothing
            with smtplib.SMTP(HOST, sink.port) as c:
                c.ehlo("client.test")
        with smtplib.SMTP(HOST, sink.port) as c:    # one more message
            c.sendmail("a@client.test", ["b@remote.test"],
                       b"Subject: three\r\n\r\n" + b"x" * 100000 + b"\r\n")
    finally:
        sink.stop()
    w = sink.watch
    assert w.count == 3 and w.done_at is not None
    # 3 client sessions with mail or not, plus the readiness probe.
    assert w.sessions == 5
    assert w.empty == 3


def test_countsink_rcpt_reply_defers(tmp_path):
    sink = started_sink(tmp_path, rcpt_reply="451 4.3.0 later")
    try:
        with smtplib.SMTP(HOST, sink.port) as c:
            with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
                c.sendmail("a@client.test", ["b@remote.test"], b"x\r\n")
            assert e.value.recipients["b@remote.test"][0] == 451
    finally:
        sink.stop()
    assert sink.watch.count == 0 and sink.watch.empty == 2


def test_countsink_pipelined_commands_answered_in_order(tmp_path):
    sink = started_sink(tmp_path)
    try:
        with socket.create_connection((HOST, sink.port), timeout=5) as s:
            f = s.makefile("rb")
            assert f.readline().startswith(b"220")
            s.sendall(b"EHLO c\r\nMAIL FROM:<a@c>\r\nRCPT TO:<b@d>\r\n"
                      b"DATA\r\n")
            codes = []
            while len(codes) < 4:
                line = f.readline()
                if line[3:4] == b" ":
                    codes.append(line[:3])
            assert codes == [b"250", b"250", b"250", b"354"]
            s.sendall(b"hello\r\n.\r\n")
            assert f.readline().startswith(b"250")
            # A message of no lines: the final dot right after DATA.
            s.sendall(b"MAIL FROM:<a@c>\r\nRCPT TO:<b@d>\r\nDATA\r\n"
                      b".\r\nQUIT\r\n")
            codes = [f.readline()[:3] for _ in range(5)]
            assert codes == [b"250", b"250", b"354", b"250", b"221"]
    finally:
        sink.stop()
    assert sink.watch.count == 2 and sink.watch.empty == 1


def test_parse_strace_counts_known_calls(tmp_path):
    out = tmp_path / "c.txt"
    # Five fsync calls on one file, one failing mkdir.
    prog = ("import os\nfd = os.open(%r, os.O_CREAT | os.O_WRONLY)\n"
            "for _ in range(5):\n    os.fsync(fd)\n"
            "try:\n    os.mkdir('/')\nexcept OSError:\n    pass\n"
            % str(tmp_path / "f"))
    subprocess.run(["strace", "-c", "-f", "-o", str(out), sys.executable,
                    "-c", prog], check=True)
    calls = syscalls.parse_strace(str(out))
    assert calls["fsync"] == (5, 0)
    assert calls["mkdir"] == (1, 1)
    assert "total" not in calls


def test_spoolfill_ids_and_records(tmp_path):
    spool = str(tmp_path)
    spoolfill.preload(spool, 500, "s@a.test", "r@b.test", 2000000000)
    ids = os.listdir(os.path.join(spool, "queue"))
    assert len(set(ids)) == 500
    assert os.listdir(os.path.join(spool, "data")) == []  # one file each
    for qid in ids:
        assert len(qid) == 24 and qid.isalnum()
    with open(os.path.join(spool, "queue", ids[0]), "rb") as f:
        text = f.read()
    # Format 2: the data (a header field first), then the envelope whose
    # end record gives the data's size.
    assert text.startswith(b"From: <s@a.test>\r\n")
    lines = text.decode().split("\n")
    end = [ln for ln in lines if ln.startswith("E ")][-1]
    size = int(end[2:])
    assert text[size:].startswith(f"V 2\nI {ids[0]}\n".encode())
    assert "R r@b.test" in lines
    assert lines[lines.index(end) + 1].startswith("W 0 2000000000 4.")


def test_startup_marks_from_log(tmp_path):
    log = tmp_path / "d.log"
    log.write_text(
        "2026-12-03T01:00:00.000Z master[1] info: event=started x=1\n"
        "2026-12-03T01:00:00.250Z qmgr[2] info: event=started queued=9\n"
        "2026-12-03T01:00:01.000Z smtpd[3] info: event=ready listeners=1\n")
    ready, started = growth.startup_marks(str(log))
    assert ready == pytest.approx(1.0)
    assert started == pytest.approx(0.25)
    assert growth.startup_marks(str(tmp_path / "none")) == (None, None)


def test_restart_counts_ids_not_files(tmp_path):
    """Three messages queued; one delivered twice, one lost, and a
    bounce besides: as many files as messages, yet one is lost."""
    spool, new = tmp_path / "spool", tmp_path / "new"
    spoolfill.preload(str(spool), 3, "s@a.test", "r@b.test")
    qids = sorted(os.listdir(spool / "queue"))
    new.mkdir()
    for n, qid in enumerate((qids[0], qids[0], qids[1])):
        data = (spool / "queue" / qid).read_bytes()
        data = data[:data.index(b"V 2\n")]
        (new / f"{n}.copy").write_bytes(b"Return-Path: <s@a.test>\r\n" + data)
    (new / "bounce").write_bytes(b"Subject: Undelivered\r\n\r\n"
                                 b"Message-ID: <x@y>\r\n")
    ids, other = restart.delivered_ids(str(new))
    assert ids == {qids[0]: 2, qids[1]: 1} and other == 1
    assert restart.tally(set(qids), ids) == ([qids[2]], 1, [])
    res = {"messages": 3, "left": 0, "cycles": []}
    assert "1 of 3 messages LOST" in restart.verdict(res, [qids[2]], [])
    # Nothing lost, but a cycle of 2 s delivered nothing (issue 12, 3).
    res["cycles"] = [{"cycle": 1, "lived": 2.0, "delivered": 0},
                     {"cycle": 2, "lived": 0.5, "delivered": 0}]
    assert "cycles [1]" in restart.verdict(res, [], [])
    res["cycles"][0]["delivered"] = 1
    assert restart.verdict(res, [], []) is None


def test_restart_crash_kills_the_orphans_too(tmp_path):
    """A master with a child and an orphaned grandchild (reparented,
    out of the master's tree, still in its process group): all gone."""
    proc = subprocess.Popen(["sh", "-c", "(sleep 60 &); sleep 60 & wait"],
                            start_new_session=True)
    deadline = time.monotonic() + 10
    while len(restart.process_group(proc.pid)) < 3:
        assert time.monotonic() < deadline, "the sleeps did not start"
        time.sleep(0.02)
    group = restart.process_group(proc.pid)
    restart.crash(types.SimpleNamespace(proc=proc))
    assert proc.returncode == -9
    assert mta.wait_gone(group, 5)
    assert restart.process_group(proc.pid) == []


def test_restart_crash_list():
    assert restart.crash_list("0.5,1, 2") == (0.5, 1.0, 2.0)
    for bad in ("1,x", "0", "1,-1"):
        with pytest.raises(Exception):
            restart.crash_list(bad)


def test_delivery_watcher_counts_made_and_moved_files(tmp_path):
    """The Maildir watcher: a folder made after it started, files there
    before the watch and files made or moved in after it, each counted
    once; done at `want`, with the time of the first and the last."""
    folder = tmp_path / "new"
    watch = measure.DeliveryWatcher(str(folder), 5)
    watch.start()
    time.sleep(0.05)
    assert watch.count == 0 and watch.first_at is None
    (tmp_path / "tmp").mkdir()
    folder.mkdir()
    (folder / "a").write_text("x")
    for name in ("b", "c", "d"):
        (tmp_path / "tmp" / name).write_text("x")
        os.rename(tmp_path / "tmp" / name, folder / name)
    assert not watch.done.wait(0.3)
    assert watch.count == 4
    (folder / "e").write_text("x")
    assert watch.done.wait(5)
    assert watch.count == 5 and watch.first_at <= watch.done_at
    watch.stop()


def test_process_tree_finds_grandchildren():
    """process_tree: a child's child is in the tree, and a process
    outside it is not."""
    outer = subprocess.Popen(["sleep", "30"])
    proc = subprocess.Popen(["/bin/sh", "-c", "sleep 30 & wait"])
    try:
        deadline = time.monotonic() + 5
        tree = []
        while time.monotonic() < deadline and len(tree) < 2:
            tree = measure.process_tree(proc.pid)
            time.sleep(0.02)
        assert tree[0] == proc.pid and len(tree) == 2
        assert outer.pid not in tree
        assert sorted(tree) == sorted(measure._process_tree_walk(proc.pid))
    finally:
        for pid in measure.process_tree(proc.pid)[1:]:
            os.kill(pid, 9)
        for p in (proc, outer):
            p.kill()
            p.wait()


def scan_result(mta_name, kind, rate, rspamd_ms):
    return dict(mta=mta_name, kind=kind, run=1, accept_rate=rate,
                rspamd_cpu_ms=rspamd_ms)


def test_scan_least_overhead_from_rspamds_ceiling():
    """rspamd at 2.5 ms a message has a ceiling of 400 msg/s on its CPU:
    an MTA doing 1000 msg/s without scanning loses at least 60% to it,
    one doing 300 need lose nothing."""
    rs = [scan_result("decorum", "plain", 1000.0, 0.0),
          scan_result("decorum", "milter", 350.0, 2.5),
          scan_result("postfix", "plain", 300.0, 0.0),
          scan_result("postfix", "milter", 200.0, 2.5)]
    assert scan.least_overhead(rs, "decorum") == pytest.approx(0.6)
    assert scan.least_overhead(rs, "postfix") == 0.0
    assert scan.rspamd_busy(rs[1]) == pytest.approx(0.875)
    assert scan.least_overhead(rs[:1], "decorum") is None


def test_machine_share_from_proc_stat(tmp_path):
    """Idle counts iowait; stolen is the steal column; guest time (in
    user already) is not counted twice."""
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 800 40 0 10 0 7 0\ncpu0 1 2 3\n")
    before = measure.machine_cpu(str(stat))
    assert before == (1000, 840, 0)
    stat.write_text("cpu  200 0 150 900 60 0 10 180 99 0\n")
    after = measure.machine_cpu(str(stat))
    idle, stolen = measure.machine_share(before, after)
    assert (round(idle), round(stolen)) == (24, 36)
    assert measure.machine_share(after, after) == (0.0, 0.0)
    # An old kernel's shorter line still reads.
    stat.write_text("cpu  1 2 3 4\n")
    assert measure.machine_cpu(str(stat)) == (10, 4, 0)
