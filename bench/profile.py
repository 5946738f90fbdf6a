#!/usr/bin/python3
"""Where Decorum's time goes (issue 12, item 7): `perf record -g` on a
running decorumd under the local benchmark's load.

Usage: bench/profile.py BUILD_DIR [--messages N] [--sessions S]
                        [--size BYTES] [--top N] [--call-graph fp|dwarf]
                        [--timeout SECONDS] [--stall SECONDS] [--keep]

A fresh decorumd (bench/mta.py, the local benchmark's instance); once its
port accepts, `perf record -e cpu-clock -g` attaches to its three
processes (all their threads), the load runs (smtp-source, N messages,
4,000 by default, for the local Maildir user), and when all N are in the
Maildir perf is stopped (SIGINT).  cpu-clock: this virtual machine has no
hardware counters; a timer samples every CPU at 4 kHz, only while one of
Decorum's threads runs on it.  Then `perf report --no-children`:
  - the split of the samples between user and kernel mode, and between
    the processes;
  - the top N (25) symbols by their own samples, user and kernel apart.
Written to bench/out/profile.md (and printed); --keep keeps perf.data
and the full `perf report` text in bench/out/.

The load generator is not profiled, but it shares the two CPUs.  With a
release build (-O3, no frame pointers) the user-mode call chains of -g
are short; the self time per symbol, which the tables give, does not
need them (--call-graph dwarf gives full chains, at a much bigger
perf.data).  Needs root and the packages of deps/bench.txt (linux-perf).
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import measure  # noqa: E402
import mta  # noqa: E402

RCPT = "user@bench.test"
# "  12.34%  decorum-smtpd  [kernel.kallsyms]  [k] do_syscall_64"
ROW = re.compile(r"^\s+([\d.]+)%\s+(\S+)\s+(\S+)\s+\[([k.])\]\s+(.+?)\s*$")
# perf report --children: "  52.63%  0.01%  decorum-smtpd  [k] __x64_sys_openat"
SYSCALL = re.compile(r"^\s+([\d.]+)%\s+[\d.]+%\s+(\S+)\s+\[k\]\s+"
                     r"__x64_sys_(\w+)\s*$")


def say(msg):
    print(f"bench: {msg}", flush=True)


def record(args, inst, data):
    pids = measure.process_tree(inst.root_pid)
    argv = ["perf", "record", "-e", "cpu-clock", "-F", "4000",
            "--call-graph", args.call_graph, "-o", data,
            "-p", ",".join(str(p) for p in pids)]
    log = os.path.join(inst.dir, "perf-record.log")
    with open(log, "wb") as out:
        perf = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=out, start_new_session=True)
    try:
        time.sleep(1)   # perf opens its events
        if perf.poll() is not None:
            raise mta.BenchError(f"perf record exited: {mta.tail(log)}")
        res, _ = measure.local_load(inst, args, RCPT)
    finally:
        if perf.poll() is None:
            perf.send_signal(signal.SIGINT)
        try:
            perf.wait(timeout=120)
        except subprocess.TimeoutExpired:
            perf.kill()
            perf.wait(timeout=5)
    return res


def perf_report(data, *how):
    return subprocess.run(
        ["perf", "report", "-i", data, "--stdio", "-g", "none",
         "--percent-limit", "0", *how],
        capture_output=True, text=True, timeout=600).stdout


def syscall_rows(data):
    """{syscall: {comm: percent}}: the samples under each system call's
    entry point, callees included (the kernel's call chains are whole)."""
    out = {}
    for line in perf_report(data, "--children", "--sort",
                            "comm,sym").splitlines():
        m = SYSCALL.match(line)
        if m:
            out.setdefault(m.group(3), {})[m.group(2)] = float(m.group(1))
    return out


def syscall_table(calls, top):
    comms = sorted({c for per in calls.values() for c in per})
    lines = ["", f"Kernel time by system call, top {top} (% of all samples "
                 f"under the call's entry point, what it calls included):",
             "", "| system call | " + " | ".join(
                 f"`{c}`" for c in comms) + " | all |",
             "|---|" + "---:|" * (len(comms) + 1)]
    for name, per in sorted(calls.items(),
                            key=lambda kv: -sum(kv[1].values()))[:top]:
        lines.append(f"| {name} | " + " | ".join(
            f"{per.get(c, 0):.2f}" for c in comms) +
            f" | {sum(per.values()):.2f} |")
    return lines


def report_rows(data):
    """[(percent, comm, dso, mode, symbol)] from perf report."""
    text = perf_report(data, "--no-children", "--sort", "comm,dso,sym")
    rows = []
    for line in text.splitlines():
        m = ROW.match(line)
        if m:
            rows.append((float(m.group(1)), m.group(2), m.group(3),
                         m.group(4), m.group(5)))
    # Thousands of rows of 0.00x% each, rounded by perf, add up to a
    # little over 100: scale them back.
    total = sum(r[0] for r in rows) or 1.0
    return [(r[0] * 100 / total,) + r[1:] for r in rows], text


def tables(rows, top):
    lines = []
    kern = sum(r[0] for r in rows if r[3] == "k")
    user = sum(r[0] for r in rows if r[3] == ".")
    lines += ["| samples in | % |", "|---|---:|",
              f"| kernel mode | {kern:.1f} |", f"| user mode | {user:.1f} |"]
    comms = {}
    for r in rows:
        comms[r[1]] = comms.get(r[1], 0) + r[0]
    for comm, pct in sorted(comms.items(), key=lambda kv: -kv[1]):
        lines.append(f"| process `{comm}` | {pct:.1f} |")
    for mode, title in ((".", "User mode"), ("k", "Kernel mode")):
        # One symbol over all processes: where it runs matters less than
        # what it is.
        syms = {}
        for pct, comm, dso, m, sym in rows:
            if m != mode:
                continue
            key = (sym, os.path.basename(dso))
            pct0, cs = syms.get(key, (0, set()))
            cs.add(comm.replace("decorum-", ""))
            syms[key] = (pct0 + pct, cs)
        lines += ["", f"{title}, top {top} symbols by their own samples "
                      f"(% of all samples):", "",
                  "| % | symbol | object | processes |",
                  "|---:|---|---|---|"]
        for (sym, dso), (pct, cs) in sorted(syms.items(),
                                            key=lambda kv: -kv[1][0])[:top]:
            lines.append(f"| {pct:.2f} | `{sym}` | {dso} | "
                         f"{', '.join(sorted(cs))} |")
    return lines


def run(args, workdir):
    inst = mta.Decorum(workdir, 1, args.build_dir, "profile")
    data = os.path.join(inst.dir, "perf.data")
    try:
        inst.start()
        say(f"profile: {args.messages} messages under perf record")
        res = record(args, inst, data)
    finally:
        mta.stop_held(inst.stop)
    rows, text = report_rows(data)
    calls = syscall_rows(data)
    if not rows:
        raise mta.BenchError(f"perf report gave no rows for {data}")
    if args.keep:
        os.makedirs(args.out, exist_ok=True)
        shutil.copyfile(data, os.path.join(args.out, "perf.data"))
        with open(os.path.join(args.out, "perf-report.txt"), "w") as f:
            f.write(text)
    cmd = " ".join(measure.smtp_source_argv("PORT", args.messages,
                                            args.sessions, args.size, RCPT))
    return ["", "## Where the time goes (perf, cpu-clock)", "",
            f"- load: `{cmd}`; {res['accept_rate']:.1f} msg/s accepted, "
            f"all in the Maildir after {res['deliver_s']:.2f} s, "
            f"{res['cpu_ms']:.2f} ms of CPU per message (under perf)",
            f"- `perf record -e cpu-clock -F 4000 --call-graph "
            f"{args.call_graph} -p MASTER,SMTPD,QMGR`, then `perf report "
            f"--no-children --sort comm,dso,sym` (self time) and `perf "
            f"report --children --sort comm,sym` (system calls)", ""] + \
        tables(rows, args.top) + syscall_table(calls, 15)


def parse_args():
    p = argparse.ArgumentParser(prog="bench/profile.py",
                                description=__doc__.split("\n")[0])
    mta.alone_arguments(p, rounds=1)
    p.set_defaults(messages=4000)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--call-graph", choices=("fp", "dwarf"), default="fp")
    a = p.parse_args()
    if a.messages < 1 or a.sessions < 1 or a.top < 1:
        p.error("--messages, --sessions, --top must be positive")
    return a


def main():
    args = parse_args()
    if os.geteuid() != 0 or shutil.which("perf") is None or \
            shutil.which("smtp-source") is None:
        print("bench: error: needs root, perf (linux-perf) and smtp-source "
              "(deps/bench.txt)")
        return 1
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.default_int_handler)
    workdir = tempfile.mkdtemp(prefix="decorum-profile-")
    os.chmod(workdir, 0o755)
    try:
        text = "\n".join(run(args, workdir)) + "\n"
        print(text, flush=True)
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "profile.md"), "w") as f:
            f.write(text)
        return 0
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"bench: error: {e}")
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; stopped what was running")
        return 130
    finally:
        if args.keep:
            print(f"bench: kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
