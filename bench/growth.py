#!/usr/bin/python3
"""The queue-growth benchmark (issue 12, item 4): local delivery with a
big queue of deferred mail beside it.

Usage: bench/growth.py BUILD_DIR [--queued Q] [--due] [--idle SECONDS]
                       [--messages N] [--rounds R] [--sessions S]
                       [--size BYTES] [--timeout SECONDS] [--stall SECONDS]
                       [--keep]

Decorum only (it measures Decorum against itself).  Two kinds of run,
alternating, each against a fresh decorumd in its own temporary folder:
  empty   the local benchmark of bench/run: smtp-source sends N messages
          for a local Maildir user, started as soon as the port accepts;
  queued  the same, but before the daemon starts the spool is filled with
          Q messages (100,000) for deferred.bench.test, each already
          deferred once with its next try an hour away (bench/spoolfill.py,
          the format of docs/queue.md), as after an outage.  That domain is
          relayed to bench/countsink.py on 127.0.0.33, which answers every
          RCPT with 451, so a message tried anyway is deferred again.
          --due: no W record, every queued message is due at the start
          (and is tried, and deferred, while the local load runs).
Per run: seconds from the daemon's start until the first local message is
in the Maildir, accepted and delivered messages/s; in the last queued run
only (an empty queue's qmgr has nothing to do; a window costs a minute),
the queue manager's CPU time over --idle seconds (65) of quiet after the
load, which covers one 60-second rescan at least; the queue manager's RSS
at the end of every run.  Checked: every queued message is still in the
queue at the end (none lost, none delivered).  Goals, printed with the
figures: first delivery within 1 s of the start, throughput at least 0.9
times the empty run's, idle CPU of the qmgr under 1%, RSS under 300 bytes
per queued message (qmgr RSS queued minus empty, over Q).

bench/run calls run_bench() for `--bench growth`; this file runs it on its
own too.  Needs root and the packages of deps/bench.txt, as bench/run
does.  Every wait has a timeout; the processes it starts (decorumd,
smtp-source, the sink) are stopped by PID.
"""

import argparse
import datetime
import os
import re
import shutil
import statistics
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import measure  # noqa: E402
import mta  # noqa: E402
import spoolfill  # noqa: E402

NAME = "growth"
DEFER_HOST = "127.0.0.33"
LOCAL_RCPT = "user@bench.test"
DEFER_RCPT = "user@deferred.bench.test"
SENDER = "load@client.bench.test"
DEFER_REPLY = "451 4.3.0 deferred by the benchmark's sink"
KINDS = ("empty", "queued")

GOAL_FIRST_S = 1.0
GOAL_RATE = 0.9
GOAL_IDLE_PCT = 1.0
GOAL_RSS_PER_MSG = 300


def say(msg):
    print(f"bench: {msg}", flush=True)


def qmgr_pid(root):
    """The queue manager among the daemon's children (PR_SET_NAME)."""
    for pid in measure.process_tree(root):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "decorum-qmgr":
                    return pid
        except OSError:
            continue
    raise mta.BenchError("no decorum-qmgr process under the daemon")


def cpu_of(pid):
    """User + system CPU seconds of one process, all its threads."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_of(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def idle_cpu(pid, seconds):
    """CPU seconds pid spends in `seconds` of wall time with no load."""
    c0, t0 = cpu_of(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_of(pid) - c0) / (time.monotonic() - t0) * seconds


STAMP = re.compile(r"^(\S+Z) (\w+)\[\d+\] \w+: event=(\S+)")


def startup_marks(log):
    """Seconds from the master's first log line to the smtpd's
    event=ready and to the qmgr's event=started (its start-up scan done),
    from a stopped daemon's log; None for what is not there."""
    first = None
    marks = {"ready": None, "started": None}
    try:
        with open(log, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = STAMP.match(line)
                if not m:
                    continue
                t = datetime.datetime.fromisoformat(
                    m.group(1).replace("Z", "+00:00")).timestamp()
                first = first if first is not None else t
                key = {("smtpd", "ready"): "ready",
                       ("qmgr", "started"): "started"}.get((m.group(2), m.group(3)))
                if key and marks[key] is None:
                    marks[key] = t - first
                if all(v is not None for v in marks.values()):
                    break
    except OSError:
        pass
    return marks["ready"], marks["started"]


def fill(args, inst, kind):
    if kind != "queued" or args.queued <= 0:
        return None
    t0 = time.monotonic()
    until = None if args.due else int(time.time()) + 3600
    octets = spoolfill.preload(os.path.join(inst.dir, "spool"), args.queued,
                               SENDER, DEFER_RCPT, until)
    took = time.monotonic() - t0
    say(f"  filled the spool with {args.queued} messages "
        f"({octets / 1048576:.1f} MiB) in {took:.1f}s")
    return took


def one_run(args, workdir, kind, run_no):
    sink = mta.Sink(workdir, host=DEFER_HOST, rcpt_reply=DEFER_REPLY)
    sink.log = os.path.join(workdir, f"defer-sink-{kind}-{run_no}.log")
    inst = mta.Decorum(workdir, run_no, args.build_dir, f"growth-{kind}")
    inst.more_conf = ["decorum-growth.conf.in"]
    res = None
    try:
        sink.start(10 ** 9)
        inst.more_values = {"DEFERHOST": DEFER_HOST,
                            "DEFERPORT": sink.port}
        fill_s = fill(args, inst, kind)
        # The fill's (and the last run's) writes go to disk first, so the
        # run measures the daemon, not the write-back.
        os.sync()
        t_start = time.monotonic()
        inst.start()
        ready_s = time.monotonic() - t_start
        res, watch = measure.local_load(inst, args, LOCAL_RCPT)
        res.update(ready_s=ready_s, first_s=watch.first_at - t_start,
                   fill_s=fill_s)
        qmgr = qmgr_pid(inst.root_pid)
        res["idle_cpu_s"] = None
        if args.idle > 0 and run_no == args.rounds and kind == "queued":
            say(f"  {args.idle:.0f}s of quiet for the qmgr's idle CPU")
            res["idle_cpu_s"] = idle_cpu(qmgr, args.idle)
        res["qmgr_rss"] = rss_of(qmgr)
        res["left"] = measure.count_files(os.path.join(inst.dir, "spool",
                                                       "queue"))
    finally:
        mta.stop_held(inst.stop, sink.stop)
        if res is None:
            keep_log(args, inst, kind)
        else:
            res["smtpd_ready_s"], res["qmgr_started_s"] = \
                startup_marks(inst.log)
        if not args.keep:
            shutil.rmtree(inst.dir, ignore_errors=True)
    res.update(kind=kind, run=run_no, defer_sessions=sink.watch.sessions - 1)
    want = args.queued if kind == "queued" else 0
    if res["left"] != want:
        raise RuntimeError(f"{res['left']} queue files left at the end, "
                           f"{want} expected")
    return res


def keep_log(args, inst, kind):
    os.makedirs(args.out, exist_ok=True)
    dst = os.path.join(args.out, f"failed-growth-{kind}-decorum.log")
    try:
        shutil.copyfile(inst.log, dst)
        say(f"  log kept in {dst}")
    except OSError as e:
        say(f"  log not kept: {e}")


def run_bench(args, workdir):
    """The interleaved runs; returns (results, error or None)."""
    def announce(kind, n):
        return (f"growth run {n}/{args.rounds}: {kind}, {args.messages} "
                f"local messages"
                + (f" beside {args.queued} queued" if kind == "queued"
                   else ""))

    def summary(r):
        idle = "" if r["idle_cpu_s"] is None else \
            f"; qmgr idle CPU {r['idle_cpu_s'] / args.idle * 100:.2f}%"
        return (f"first delivery {r['first_s']:.2f}s after the start; "
                f"{r['accept_rate']:.1f} msg/s accepted, "
                f"{r['deliver_rate']:.1f} msg/s until all in the Maildir; "
                f"qmgr RSS {r['qmgr_rss'] / 1048576:.1f} MiB{idle}")

    return mta.interleave(args, KINDS,
                          lambda kind, n: one_run(args, workdir, kind, n),
                          announce, summary)


def _med(results, kind, key):
    xs = [r[key] for r in results if r["kind"] == kind
          and r.get(key) is not None]
    return statistics.median(xs) if xs else None


def _f(v, fmt="{:.1f}"):
    return fmt.format(v) if v is not None else "n/a"


def _verdict(ok):
    return "n/a" if ok is None else ("met" if ok else "**not met**")


def goal_rows(args, results):
    """(figure, empty, queued, goal, verdict) rows of the summary table."""
    def med(kind, key):
        return _med(results, kind, key)

    rows = []
    first = med("queued", "first_s")
    rows.append(("start until the first new local delivery, s",
                 _f(med("empty", "first_s"), "{:.2f}"), _f(first, "{:.2f}"),
                 f"<= {GOAL_FIRST_S:.0f} s",
                 _verdict(None if first is None else first <= GOAL_FIRST_S)))
    for key, what in (("accept_rate", "accepted, messages/s"),
                      ("deliver_rate", "delivered, messages/s until all "
                                       "in the Maildir")):
        e, q = med("empty", key), med("queued", key)
        r = q / e if e and q else None
        rows.append((what, _f(e), _f(q),
                     f">= {GOAL_RATE}x empty"
                     + (f" ({r:.2f}x)" if r is not None else ""),
                     _verdict(None if r is None else r >= GOAL_RATE)))
    pct = {k: (None if med(k, "idle_cpu_s") is None
               else med(k, "idle_cpu_s") / args.idle * 100) for k in KINDS}
    rows.append((f"qmgr CPU while idle, % ({args.idle:.0f} s window)",
                 _f(pct["empty"], "{:.2f}"), _f(pct["queued"], "{:.2f}"),
                 f"< {GOAL_IDLE_PCT:.0f}%",
                 _verdict(None if pct["queued"] is None
                          else pct["queued"] < GOAL_IDLE_PCT)))
    rows.append(("qmgr CPU while idle, s per minute",
                 _f(pct["empty"] and pct["empty"] * 0.6, "{:.3f}"),
                 _f(pct["queued"] and pct["queued"] * 0.6, "{:.3f}"), "", ""))
    e, q = med("empty", "qmgr_rss"), med("queued", "qmgr_rss")
    per = (q - e) / args.queued if e and q and args.queued else None
    rows.append(("qmgr RSS, MiB", _f(e and e / 1048576),
                 _f(q and q / 1048576), "", ""))
    rows.append(("qmgr RSS per queued message, bytes ((queued - empty) / "
                 "Q)", "", _f(per, "{:.0f}"), f"< {GOAL_RSS_PER_MSG}",
                 _verdict(None if per is None
                          else per < GOAL_RSS_PER_MSG)))
    return rows


def section(args, results, error):
    cmd = " ".join(measure.smtp_source_argv("PORT", args.messages,
                                            args.sessions, args.size,
                                            LOCAL_RCPT))
    state = "due at the start" if args.due else \
        "deferred once, next try in an hour"
    lines = ["", f"## Queue growth: local delivery beside {args.queued:,} "
                 f"queued messages", "",
             f"- local load: `{cmd}`, started as soon as the daemon greets",
             f"- queued: {args.queued} messages for `{DEFER_RCPT}` written "
             f"into the spool before the start ({state}); that destination "
             f"({DEFER_HOST}, bench/countsink.py) answers RCPT with "
             f"`{DEFER_REPLY}`"]
    if error:
        lines.append(f"- **failed**: {error}")
    lines += ["", "| figure | empty queue | queued | goal | |",
              "|---|---:|---:|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in goal_rows(args, results)]
    lines += [
        "",
        "| run | kind | spool filled in, s | first 220, s | smtpd ready "
        "(log), s | qmgr scan done (log), s | first delivery, s | accepted, msg/s | all in Maildir, s | msg/s until "
        "then | qmgr idle CPU, % | qmgr RSS, MiB | queue files left | "
        "connections to the 451 sink |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        "---:|",
    ]
    for r in results:
        idle = None if r["idle_cpu_s"] is None else \
            r["idle_cpu_s"] / args.idle * 100
        lines.append(
            f"| {r['run']} | {r['kind']} | {_f(r['fill_s'])} | "
            f"{r['ready_s']:.2f} | {_f(r['smtpd_ready_s'], '{:.2f}')} | "
            f"{_f(r['qmgr_started_s'], '{:.2f}')} | {r['first_s']:.2f} | "
            f"{r['accept_rate']:.1f} | {r['deliver_s']:.2f} | "
            f"{r['deliver_rate']:.1f} | {_f(idle, '{:.2f}')} | "
            f"{r['qmgr_rss'] / 1048576:.1f} | {r['left']} | "
            f"{r['defer_sessions']} |")
    return lines


def add_arguments(p):
    """This benchmark's options (bench/run passes them through, with
    --rounds as --growth-rounds)."""
    p.add_argument("--queued", type=int, default=100000,
                   help="messages in the spool at the start (growth "
                        "benchmark)")
    p.add_argument("--due", action="store_true",
                   help="the queued messages are due at the start, not "
                        "deferred (growth benchmark)")
    p.add_argument("--idle", type=float, default=65,
                   help="seconds of quiet over which the qmgr's CPU is "
                        "measured, in the last round; 0: not measured "
                        "(growth benchmark)")


def own_args(args):
    """This benchmark's arguments from bench/run's."""
    a = argparse.Namespace(**vars(args))
    a.rounds = args.growth_rounds
    return a


def parse_args():
    p = argparse.ArgumentParser(prog="bench/growth.py",
                                description=__doc__.split("\n")[0])
    mta.alone_arguments(p, rounds=2)
    add_arguments(p)
    a = p.parse_args()
    if a.messages < 1 or a.rounds < 1 or a.sessions < 1 or a.queued < 0 \
            or a.idle < 0:
        p.error("--messages, --rounds, --sessions must be positive")
    return a


if __name__ == "__main__":
    sys.exit(mta.run_alone(parse_args(), NAME, run_bench, section))
