#!/usr/bin/python3
"""The crash-and-restart benchmark (issue 12, items 3 and 8): a queue of
100,000 messages, all due, drained through a series of kill -9 crashes,
with nothing lost.

Usage: bench/restart.py BUILD_DIR [--restart-messages N]
                        [--crash-after S,S,...] [--restart-timeout SECONDS]
                        [--keep] [--out DIR]

Decorum only.  Before the first start the spool is filled with N messages
(100,000) for the local Maildir user user@bench.test, none tried yet, so
all due at once (bench/spoolfill.py; each carries its queue id in its
Message-ID).  Then crash cycles: decorumd starts, and --crash-after
seconds after the start (0.5,1,1,2,3,5,8: three within the first second,
while the start-up scan of a big queue runs) every process of it is
killed with SIGKILL at once, by the PIDs it started (the master's tree,
and whatever is left in its process group); after the last, a final
start drains the queue.  Checked and printed: every one of the N
messages is in the Maildir at least once (by its id), the queue ends
empty (queue/, after a clean stop; data/ may keep a few files of
delivered messages, orphans the cleanup removes later), the duplicates
(at-least-once is the contract, docs/queue.md "Crashes"); per cycle:
seconds until the smtpd greets, until the first delivery and until the
qmgr's start-up scan is done (its event=started, from the log; none if
the crash came first), messages delivered; the total drain time.  It
fails (exit status 1, the reason first in the report) if a message is
lost, the queue is not empty, or a cycle that lived CYCLE_MIN_S or more
delivered nothing (issue 12, item 3: crashes in a row that each cut the
start-up scan short delivered nothing).

bench/run calls run_bench() for `--bench restart` (and in `make bench`);
this file runs it on its own too.  Needs root, as bench/run does.  Every
wait has a timeout (--restart-timeout for the whole drain, and 60 s with
no new delivery); the processes it starts are stopped by PID.
"""

import argparse
import collections
import os
import re
import shutil
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import growth  # noqa: E402
import measure  # noqa: E402
import mta  # noqa: E402
import spoolfill  # noqa: E402

NAME = "restart"
RCPT = "user@bench.test"
SENDER = "load@client.bench.test"
CRASH_AFTER = (0.5, 1.0, 1.0, 2.0, 3.0, 5.0, 8.0)
# A cycle that lived this long must have delivered something.
CYCLE_MIN_S = 2.0
STALL_S = 60
MSGID = re.compile(rb"^Message-ID: <(\w{24})" +
                   re.escape(spoolfill.MSGID_TAIL.encode()) + rb">\r?$",
                   re.M | re.I)


def say(msg):
    print(f"bench: {msg}", flush=True)


# -- counting what arrived ---------------------------------------------------

def delivered_ids(folder):
    """Counter of the spoolfill ids found in the files of a Maildir
    folder (each file's first 8 KiB: the header), and the number of files
    that name none (a bounce, say)."""
    ids, other = collections.Counter(), 0
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return ids, 0
    for name in names:
        with open(os.path.join(folder, name), "rb") as f:
            m = MSGID.search(f.read(8192))
        if m:
            ids[m.group(1).decode()] += 1
        else:
            other += 1
    return ids, other


def tally(expected, ids):
    """(lost ids, sorted; duplicate copies; ids that were never queued)."""
    lost = sorted(set(expected) - set(ids))
    dups = sum(n - 1 for qid, n in ids.items() if qid in expected)
    strays = sorted(set(ids) - set(expected))
    return lost, dups, strays


# -- the daemon's processes --------------------------------------------

def process_group(pgid):
    """The PIDs of live processes (not zombies) whose process group is
    pgid (the daemon runs in a session of its own)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.getpgid(int(name)) == pgid and mta.alive(int(name)):
                out.append(int(name))
        except ProcessLookupError:
            continue
    return out


def crash(inst):
    """SIGKILL every process of the daemon at once: the master's tree,
    then, until none is left, whatever of its process group (it runs in
    a session of its own) was forked meanwhile or orphaned."""
    root = inst.proc.pid
    mta.kill_pids(measure.process_tree(root), signal.SIGKILL)
    inst.proc.wait(timeout=10)
    for _ in range(50):
        left = process_group(root)
        if not left:
            return
        mta.kill_pids(left, signal.SIGKILL)
        mta.wait_gone(left, 1)
    raise mta.BenchError(f"processes of decorumd {root} survive SIGKILL")


class FirstChange(threading.Thread):
    """The monotonic time at which a folder's mtime first changes (a file
    renamed into Maildir new/): one stat every 5 ms, where counting the
    files of a 100,000-file folder would cost the daemon's CPUs."""

    def __init__(self, folder):
        super().__init__(daemon=True)
        self.folder = folder
        self.base = self._mtime()
        self.at = None
        self._stop_event = threading.Event()

    def _mtime(self):
        try:
            return os.stat(self.folder).st_mtime_ns
        except FileNotFoundError:
            return None

    def run(self):
        while not self._stop_event.is_set():
            if self._mtime() != self.base:
                self.at = time.monotonic()
                return
            self._stop_event.wait(0.005)

    def stop(self):
        self._stop_event.set()
        self.join(timeout=5)


# -- one run ------------------------------------------------------------

def cycle(inst, n, kill_after, new_dir, wait_end):
    """Start decorumd; after kill_after seconds crash it, or (None) call
    wait_end(t0) and stop it cleanly.  Returns the cycle's figures."""
    inst.log = os.path.join(inst.dir, f"decorum-{n}.log")
    before = measure.count_files(new_dir)
    watch = FirstChange(new_dir)
    watch.start()
    t0 = time.monotonic()
    try:
        inst.start()
        ready = time.monotonic() - t0
        if kill_after is None:
            wait_end(t0)
            lived = time.monotonic() - t0
            mta.stop_process(inst.proc)
        else:
            time.sleep(max(0.0, t0 + kill_after - time.monotonic()))
            lived = time.monotonic() - t0
            crash(inst)
    finally:
        watch.stop()
    _, scanned = growth.startup_marks(inst.log)
    return {"cycle": n, "planned": kill_after, "lived": lived,
            "ready": ready, "scanned": scanned,
            "first": None if watch.at is None else watch.at - t0,
            "delivered": measure.count_files(new_dir) - before}


def drained(inst, new_dir, n, deadline):
    """wait_end of the last cycle: until queue/ is empty (each message
    delivered and removed), or fail at the deadline or after STALL_S with
    no new file in the Maildir."""
    qdir = os.path.join(inst.dir, "spool", "queue")

    def wait(t0):
        last, last_at = -1, time.monotonic()
        while measure.count_files(qdir) > 0:
            now = time.monotonic()
            count = measure.count_files(new_dir)
            if count != last:
                last, last_at = count, now
            if now > deadline or now - last_at > STALL_S:
                raise mta.BenchError(
                    f"queue not drained: {measure.count_files(qdir)} of "
                    f"{n} queue files left, {count} files in the Maildir, "
                    f"{now - t0:.0f}s after the last start")
            time.sleep(0.5)
    return wait


def run_bench(args, workdir):
    """One run; returns (result or None, error or None)."""
    inst = mta.Decorum(workdir, 1, args.build_dir, NAME)
    res = {"cycles": [], "messages": args.restart_messages}
    try:
        spool = os.path.join(inst.dir, "spool")
        t = time.monotonic()
        spoolfill.preload(spool, args.restart_messages, SENDER, RCPT)
        expected = set(os.listdir(os.path.join(spool, "queue")))
        res["fill_s"] = time.monotonic() - t
        say(f"restart: filled the spool with {len(expected)} messages, all "
            f"due, in {res['fill_s']:.1f}s")
        os.sync()
        new_dir = os.path.join(inst.dir, "mail", "bench.test", "user", "new")
        t_first = time.monotonic()
        deadline = t_first + args.restart_timeout
        plan = list(args.crash_after) + [None]
        for n, kill_after in enumerate(plan, 1):
            end = drained(inst, new_dir, len(expected), deadline)
            c = cycle(inst, n, kill_after, new_dir, end)
            res["cycles"].append(c)
            say(f"restart: cycle {n}: {describe(c)}")
        res["drain_s"] = time.monotonic() - t_first
        ids, res["other"] = delivered_ids(new_dir)
        lost, res["dups"], strays = tally(expected, ids)
        res["lost"], res["arrived"] = len(lost), len(expected) - len(lost)
        res["left"] = measure.count_files(os.path.join(spool, "queue"))
        # A crash between a finished message's two unlinks leaves its
        # data file, which the cleanup removes once 2 h old (docs/queue.md).
        orphans = set(os.listdir(os.path.join(spool, "data")))
        res["orphans"] = len(orphans)
        strays += sorted(orphans - set(ids))
        return res, verdict(res, lost, strays)
    except (RuntimeError, OSError) as e:
        mta.stop_process(inst.proc)
        say(f"restart: error: {e}")
        keep_logs(args, inst)
        return res, str(e).splitlines()[0]
    finally:
        if not args.keep:
            shutil.rmtree(inst.dir, ignore_errors=True)


def verdict(res, lost, strays):
    """The first reason the run failed, or None."""
    if lost:
        return (f"{len(lost)} of {res['messages']} messages LOST (never "
                f"in the Maildir), first {', '.join(lost[:5])}")
    if strays:
        return (f"{len(strays)} ids delivered but never queued, or data "
                f"files of messages never delivered: {strays[:5]}")
    if res["left"]:
        return f"queue not empty after the drain: {res['left']} files"
    dry = [c["cycle"] for c in res["cycles"]
           if c["lived"] >= CYCLE_MIN_S and c["delivered"] == 0]
    if dry:
        return (f"cycles {dry} lived {CYCLE_MIN_S:.0f}s or more and "
                f"delivered nothing")
    return None


def keep_logs(args, inst):
    os.makedirs(args.out, exist_ok=True)
    for fn in os.listdir(inst.dir):
        if fn.endswith(".log"):
            dst = os.path.join(args.out, f"failed-restart-{fn}")
            shutil.copyfile(os.path.join(inst.dir, fn), dst)
            say(f"restart: kept {dst}")


def _s(v):
    return "n/a" if v is None else f"{v:.2f}"


def describe(c):
    how = "drained" if c["planned"] is None else \
        f"killed after {c['lived']:.2f}s"
    scan = "not done" if c["scanned"] is None else \
        f"done after {c['scanned']:.2f}s"
    return (f"{how}; greeted after {c['ready']:.2f}s, first delivery "
            f"after {_s(c['first'])}s, start-up scan {scan}, "
            f"{c['delivered']} delivered")


# -- the report ---------------------------------------------------------

def section(args, res, error):
    crashes = ", ".join(f"{s:g}" for s in args.crash_after)
    lines = ["", f"## Restart: {args.restart_messages:,} queued messages "
                 f"through kill -9 crashes", "",
             f"- queued: {args.restart_messages} messages for `{RCPT}` "
             f"(local Maildir) written into the spool before the first "
             f"start (bench/spoolfill.py), all due",
             f"- crashes: SIGKILL to every process of decorumd {crashes} s "
             f"after each start, then a start that drains the queue"]
    if error:
        lines.append(f"- **failed**: {error}")
    if res and "lost" in res:
        lines += [
            f"- arrived: {res['arrived']} of {res['messages']} (by id); "
            f"lost: {res['lost']}; duplicate copies: {res['dups']}; other "
            f"files in the Maildir: {res['other']}",
            f"- left after the drain: {res['left']} queue files; "
            f"{res['orphans']} data files of delivered messages (a crash "
            f"between a message's two unlinks; the cleanup removes them "
            f"when 2 h old)",
            f"- spool filled in {res['fill_s']:.1f} s; from the first "
            f"start until the queue was empty: {res['drain_s']:.1f} s "
            f"({res['messages'] / res['drain_s']:.0f} messages/s, crashes "
            f"and restarts included)"]
    lines += ["", "| cycle | ended | lived, s | smtpd greets, s | first "
                  "delivery, s | start-up scan done (log), s | delivered |",
              "|---:|---|---:|---:|---:|---:|---:|"]
    for c in (res or {}).get("cycles", []):
        ended = "drained, stopped" if c["planned"] is None else "kill -9"
        scan = "cut short" if c["scanned"] is None else _s(c["scanned"])
        lines.append(f"| {c['cycle']} | {ended} | {c['lived']:.2f} | "
                     f"{c['ready']:.2f} | {_s(c['first'])} | {scan} | "
                     f"{c['delivered']} |")
    return lines


def add_arguments(p):
    """This benchmark's options (bench/run passes them through)."""
    p.add_argument("--restart-messages", type=int, default=100000,
                   help="messages queued before the first start (restart "
                        "benchmark)")
    p.add_argument("--crash-after", type=crash_list, default=CRASH_AFTER,
                   help="seconds after each start at which decorumd is "
                        "killed, comma-separated (restart benchmark)")
    p.add_argument("--restart-timeout", type=int, default=900,
                   help="seconds the whole drain may take (restart "
                        "benchmark)")


def crash_list(text):
    try:
        out = tuple(float(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of seconds: {text}")
    if any(s <= 0 for s in out):
        raise argparse.ArgumentTypeError("seconds must be positive")
    return out


def check_arguments(p, a):
    if a.restart_messages < 1 or a.restart_timeout < 1:
        p.error("--restart-messages and --restart-timeout must be positive")


def parse_args():
    p = argparse.ArgumentParser(prog="bench/restart.py",
                                description=__doc__.split("\n")[0])
    p.add_argument("build_dir", help="meson build folder with decorumd")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--out", default=os.path.join(HERE, "out"))
    add_arguments(p)
    a = p.parse_args()
    check_arguments(p, a)
    return a


if __name__ == "__main__":
    sys.exit(mta.run_alone(parse_args(), NAME, run_bench, section))
