#!/usr/bin/python3
"""System calls per message, Decorum and Postfix (issue 12, items 2 and
5): the local benchmark's load once more per MTA, untimed, with every
process of the MTA under `strace -c -f`.

Usage: bench/syscalls.py BUILD_DIR [--messages N] [--sessions S]
                         [--size BYTES] [--only decorum|postfix]
                         [--timeout SECONDS] [--stall SECONDS] [--keep]

Per MTA: a fresh instance (bench/mta.py, as in the local benchmark); once
its port accepts, one strace attaches to every process of its tree (-p
each, -f: all their threads and every process they start later, such as
Postfix's smtpd, cleanup and virtual), the load runs (smtp-source, N
messages, 2,000 by default, for the local Maildir user), and when all N
are in the Maildir and the queue is empty again strace is stopped
(SIGINT: it detaches and writes its table).  smtp-source is not traced.
Per message: all system calls, fsync and fdatasync, and the calls that
failed; the table's top entries.  Goals for Decorum (issue 12, item 2):
at most 4 fsync and 80 system calls per message received and delivered.

bench/run calls run_bench() for `--bench syscalls`; this file runs it on
its own too.  Needs root (strace attaches to root's and Postfix's
processes).  The processes it starts are stopped by PID.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import measure  # noqa: E402
import mta  # noqa: E402

NAME = "syscalls"
RCPT = "user@bench.test"
GOAL_FSYNC = 4
GOAL_CALLS = 80
SYNC_CALLS = ("fsync", "fdatasync")
TOP = 15

# One row of strace -c's table: % time, seconds, usecs/call, calls,
# errors (may be empty), syscall.
ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\S+)\s*$")


def say(msg):
    print(f"bench: {msg}", flush=True)


def parse_strace(path):
    """{syscall: (calls, errors)} from strace -c's table, and the total."""
    calls = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = ROW.match(line)
            if m and m.group(3) != "total":
                calls[m.group(3)] = (int(m.group(1)), int(m.group(2) or 0))
    return calls


class Tracer:
    """One strace -c -f attached to the given PIDs."""

    def __init__(self, pids, folder):
        self.out = os.path.join(folder, "strace-c.txt")
        self.err = os.path.join(folder, "strace.log")
        argv = ["strace", "-c", "-f", "-o", self.out]
        for pid in pids:
            argv += ["-p", str(pid)]
        with open(self.err, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err,
                                         start_new_session=True)
        self._wait_attached(pids, 15)

    def _wait_attached(self, pids, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(self.err, encoding="utf-8",
                          errors="replace") as f:
                    text = f.read()
            except OSError:
                text = ""
            if all(f"Process {p} attached" in text for p in pids):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise mta.BenchError(f"strace did not attach to {pids}: "
                             f"{mta.tail(self.err)}")

    def stop(self):
        """Detach (SIGINT) and wait for the table; None if it is not."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                return None
        return self.out


def queue_empty(inst):
    """No message left in the MTA's queue (delivery and clean-up done)."""
    if isinstance(inst, mta.Decorum):
        return measure.count_files(os.path.join(inst.dir, "spool",
                                                "queue")) == 0
    for sub in ("maildrop", "incoming", "active", "deferred"):
        for _, _, files in os.walk(os.path.join(inst.queue, sub)):
            if files:
                return False
    return True


def one_run(args, workdir, name):
    if name == "decorum":
        inst = mta.Decorum(workdir, 1, args.build_dir, NAME)
    else:
        inst = mta.Postfix(workdir, 1, NAME)
    tracer = None
    try:
        inst.start()
        # Let start-up settle (Postfix's qmgr and pickup, Decorum's scan).
        time.sleep(1)
        tracer = Tracer(measure.process_tree(inst.root_pid), inst.dir)
        res, _ = measure.local_load(inst, args, RCPT)
        deadline = time.monotonic() + 60
        while not queue_empty(inst) and time.monotonic() < deadline:
            time.sleep(0.1)
        out = tracer.stop()
        if out is None:
            raise RuntimeError("strace did not write its table")
        calls = parse_strace(out)
        if not calls:
            raise RuntimeError(f"no strace table in {out}")
    finally:
        if tracer is not None:
            tracer.stop()
        mta.stop_held(inst.stop)
        if not args.keep:
            shutil.rmtree(inst.dir, ignore_errors=True)
    n = args.messages
    return {
        "mta": name,
        "calls": calls,
        "per_msg": sum(c for c, _ in calls.values()) / n,
        "fsync_per_msg": sum(calls.get(s, (0, 0))[0]
                             for s in SYNC_CALLS) / n,
        "errors_per_msg": sum(e for _, e in calls.values()) / n,
        "traced_s": res["deliver_s"],
    }


def run_bench(args, workdir):
    """One traced run per MTA; returns (results, error or None)."""
    order = [args.only] if getattr(args, "only", None) else \
        ["decorum", "postfix"]
    results, errors = [], []
    for name in order:
        say(f"syscalls: {name}, {args.messages} messages under strace -c -f")
        try:
            r = one_run(args, workdir, name)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            say(f"  error: {e}")
            errors.append(f"{name}: " + str(e).splitlines()[0])
            continue
        say(f"  {r['per_msg']:.1f} system calls and {r['fsync_per_msg']:.2f}"
            f" fsync per message")
        results.append(r)
    return results, "; ".join(errors) or None


def by_mta(results):
    return {r["mta"]: r for r in results}


def section(args, results, error):
    cmd = " ".join(measure.smtp_source_argv("PORT", args.messages,
                                            args.sessions, args.size, RCPT))
    lines = ["", "## System calls per message (untimed, under strace -c -f)",
             "", f"- load: `{cmd}`; every process of the MTA traced from "
                 f"before the load until its queue is empty again"]
    if error:
        lines.append(f"- **failed**: {error}")
    m = by_mta(results)
    d, p = m.get("decorum"), m.get("postfix")

    def cell(r, key, fmt="{:.1f}"):
        return fmt.format(r[key]) if r else "n/a"

    def ratio(key):
        return f"{d[key] / p[key]:.2f}" if d and p and p[key] else "n/a"
    lines += [
        "",
        "| per message received and delivered | Decorum | Postfix | "
        "Decorum/Postfix | Decorum's goal |",
        "|---|---:|---:|---:|---|",
        f"| system calls | {cell(d, 'per_msg')} | {cell(p, 'per_msg')} | "
        f"{ratio('per_msg')} | <= {GOAL_CALLS} |",
        f"| fsync + fdatasync | {cell(d, 'fsync_per_msg', '{:.2f}')} | "
        f"{cell(p, 'fsync_per_msg', '{:.2f}')} | {ratio('fsync_per_msg')} "
        f"| <= {GOAL_FSYNC} |",
        f"| calls that failed | {cell(d, 'errors_per_msg', '{:.2f}')} | "
        f"{cell(p, 'errors_per_msg', '{:.2f}')} | | |",
        "",
        "The most frequent, per message (calls, of which failed):",
        "",
        "| Decorum | per msg | failed | Postfix | per msg | failed |",
        "|---|---:|---:|---|---:|---:|",
    ]

    def top(r):
        if not r:
            return []
        rows = sorted(r["calls"].items(), key=lambda kv: -kv[1][0])[:TOP]
        n = args.messages
        return [(k, f"{c / n:.2f}", f"{e / n:.2f}" if e else "")
                for k, (c, e) in rows]
    td, tp = top(d), top(p)
    for i in range(max(len(td), len(tp))):
        a = td[i] if i < len(td) else ("", "", "")
        b = tp[i] if i < len(tp) else ("", "", "")
        lines.append(f"| {' | '.join(a)} | {' | '.join(b)} |")
    return lines


def add_arguments(p):
    p.add_argument("--strace-messages", type=int, default=2000,
                   help="messages of the untimed pass under strace "
                        "(syscalls benchmark)")


def own_args(args):
    a = argparse.Namespace(**vars(args))
    a.messages = args.strace_messages
    # Tracing slows both MTAs several times over.
    a.timeout = max(args.timeout, 900)
    a.stall = max(args.stall, 60)
    return a


def parse_args():
    p = argparse.ArgumentParser(prog="bench/syscalls.py",
                                description=__doc__.split("\n")[0])
    mta.alone_arguments(p, rounds=1)
    p.add_argument("--only", choices=("decorum", "postfix"))
    a = p.parse_args()
    a.timeout = max(a.timeout, 900)
    return a


def main():
    args = parse_args()
    if shutil.which("strace") is None:
        print("bench: error: needs strace (deps/bench.txt)")
        return 1
    return mta.run_alone(args, NAME, run_bench, section)


if __name__ == "__main__":
    sys.exit(main())
