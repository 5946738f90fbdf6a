#!/usr/bin/python3
"""The scan benchmark: Decorum and Postfix through rspamd's milter, side
by side (issue 11, item 6).

Usage: bench/scan.py BUILD_DIR [--messages N] [--rounds R] [--sessions S]
                     [--size BYTES] [--only decorum|postfix]
                     [--layout shared|own-cpu|both]
                     [--timeout SECONDS] [--stall SECONDS] [--keep]

For each layout (--layout, both by default; see LAYOUTS) one private
rspamd (bench/rspamd.py: the milter proxy scanning by itself, offline),
and four kinds of run, alternating, each
against a fresh MTA in its own temporary folder, with the local
benchmark's load (smtp-source, S sessions, N messages for a Maildir user):
  decorum plain    Decorum as in the local benchmark;
  postfix plain    Postfix as in the local benchmark;
  decorum milter   the same, with scan.milters naming rspamd's milter;
  postfix milter   the same, with smtpd_milters naming it.
Both MTAs tempfail when the milter fails, so a run that lost the milter
stalls and fails instead of measuring mail that was not scanned.  Before
its load each milter run sends one GTUBE message by hand, which must be
refused with a 5xx; after it, rspamd's log must show exactly N more
messages scanned (0 in a plain run), and the Maildir exactly N
messages: smtp-source's tiny messages are ham (rspamd scores them 0.5
or 0.6 of 15).
Figures per MTA: accepted messages/s without and with scanning, the
overhead 1 - with/without, CPU per message of the MTA and of rspamd, and
the ratio Decorum/Postfix with scanning.  Decorum's overhead must not
exceed Postfix's.

bench/run calls run_bench() and section() for `--bench scan`; this file
runs it on its own too.  Needs root and the packages of deps/bench.txt, as
bench/run does.  Every wait has a timeout; rspamd, the MTAs and
smtp-source are stopped by PID.  An MTA whose run fails gets no more runs
of that kind; the other kinds go on.
"""

import argparse
import os
import re
import shutil
import signal
import smtplib
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import measure  # noqa: E402
import mta  # noqa: E402
import rspamd  # noqa: E402

NAME = "scan"
RCPT = "user@bench.test"
MIB = 1024 * 1024
KINDS = ("plain", "milter")
LABEL = {"plain": "no scanning", "milter": "rspamd's milter"}
# Where rspamd runs.  shared: rspamd, the MTA and smtp-source on every
# CPU, so that rspamd's CPU per message (about 3 ms) is taken from the
# MTA's and bounds both MTAs alike.  own-cpu: rspamd on a CPU of its own,
# the MTA and smtp-source on the others, plain runs too, as when the
# scanner has cores or a host of its own: what the overhead then shows is
# the MTA's cost of scanning (its milter client, and the wait), not
# rspamd's.
LAYOUTS = ("shared", "own-cpu")
LAYOUT_LABEL = {"shared": "rspamd on the same CPUs",
                "own-cpu": "rspamd on a CPU of its own"}
# What each MTA's config gets appended in a milter run.
MILTER_CONF = {"decorum": "decorum-scan.conf.in",
               "postfix": "postfix-scan.cf.in"}

# GTUBE, the spam test pattern every rspamd honours (no test option
# needed): the MTA must refuse it with a 5xx (rspamd asks for 554 5.7.1).
GTUBE = ("From: <probe@client.bench.test>\r\n"
         "To: <user@bench.test>\r\n"
         "Subject: GTUBE probe\r\n"
         "Message-ID: <gtube-probe@client.bench.test>\r\n"
         "\r\n"
         "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL"
         "*C.34X\r\n")

# What smtp-source says when a reply is not 2xx (it gives up the whole
# load at the first one): "smtp-source: fatal: ...: 451 4.7.1 ...".
SOURCE_ERROR = re.compile(r"smtp-source: (?:fatal|warning): .*\b[45]\d\d\b")


def say(msg):
    print(f"bench: {msg}", flush=True)


def make_mta(args, workdir, name, kind, run_no, milter_port):
    bench = f"scan-{kind}"
    if name == "decorum":
        inst = mta.Decorum(workdir, run_no, args.build_dir, bench)
        more = inst.more_conf
    else:
        inst = mta.Postfix(workdir, run_no, bench)
        more = inst.more_main
    if kind == "milter":
        more.append(MILTER_CONF[name])
        inst.more_values = {"MILTERPORT": milter_port}
    return inst


def gtube_probe(port, timeout):
    """Send GTUBE by hand; return the MTA's 5xx refusal as text.  Anything
    else (accepted, refused before DATA, 4xx) means the MTA does not ask
    the milter as it should, and the run would measure nothing."""
    with smtplib.SMTP("127.0.0.1", port, "[127.0.0.1]",
                      timeout=timeout) as s:
        try:
            s.sendmail("probe@client.bench.test", [RCPT], GTUBE)
        except smtplib.SMTPDataError as e:
            reply = f"{e.smtp_code} {e.smtp_error.decode(errors='replace')}"
            if 500 <= e.smtp_code < 600:
                return reply
            raise mta.BenchError(f"GTUBE got {reply}, not a 5xx")
        except smtplib.SMTPResponseException as e:
            raise mta.BenchError(f"GTUBE refused before its content was "
                                 f"scanned: {e.smtp_code} {e.smtp_error!r}")
    raise mta.BenchError("GTUBE was accepted: the MTA did not ask rspamd")


def source_errors(log):
    try:
        with open(log, encoding="utf-8", errors="replace") as f:
            return sum(1 for line in f if SOURCE_ERROR.search(line))
    except OSError:
        return 0


def wait_scans(scanner, since, want, timeout=10):
    """rspamd's count of scanned messages since `since`, once it reaches
    want (rspamd writes its log line after the milter's reply) or after
    timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = scanner.scans() - since
        if got >= want or time.monotonic() >= deadline:
            return got
        time.sleep(0.1)


def one_run(args, workdir, scanner, name, kind, run_no):
    inst = make_mta(args, workdir, name, kind, run_no, scanner.milter_port)
    res, probe, ok = None, "", False
    log = os.path.join(inst.dir, "smtp-source.log")
    os.sync()
    try:
        inst.start()
        if kind == "milter":
            probe = gtube_probe(inst.port, args.timeout)
        scans0 = scanner.scans()
        rcpu0 = scanner.cpu_seconds()
        res, _ = measure.local_load(inst, args, RCPT, log)
        res["rspamd_cpu_ms"] = (scanner.cpu_seconds() - rcpu0) * 1000 / \
            args.messages
        res["rspamd_busy"] = rspamd_busy(res)
        res["scans"] = wait_scans(scanner, scans0, args.messages
                                  if kind == "milter" else 0,
                                  timeout=10 if kind == "milter" else 0)
        res["arrived"] = measure.count_files(inst.maildir_new)
        check(args, kind, res)
        ok = True
    finally:
        held = {signal.SIGTERM, signal.SIGHUP, signal.SIGINT}
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
        try:
            inst.stop()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
        refused = source_errors(log)
        if not ok:
            keep_logs(args, inst, kind, scanner)
        if not args.keep:
            shutil.rmtree(inst.dir, ignore_errors=True)
    res.update(mta=name, kind=kind, run=run_no, refused=refused,
               probe=probe)
    return res


def check(args, kind, res):
    """A run measured what it claims, or it fails: every message scanned
    once (none without the milter), every one in the Maildir, no more."""
    want_scans = args.messages if kind == "milter" else 0
    if res["scans"] != want_scans:
        raise RuntimeError(f"rspamd scanned {res['scans']} messages of "
                           f"{args.messages}, {want_scans} expected")
    if res["arrived"] != args.messages:
        raise RuntimeError(f"{res['arrived']} messages in the Maildir, "
                           f"{args.messages} sent")


def keep_logs(args, inst, kind, scanner):
    """A failed run's logs, and rspamd's so far, into <out>/."""
    os.makedirs(args.out, exist_ok=True)
    logs = [os.path.join(inst.dir, fn) for fn in os.listdir(inst.dir)
            if fn.endswith(".log")] + [scanner.log]
    for src in logs:
        dst = os.path.join(args.out, f"failed-scan-{kind}-{inst.name}-"
                                     f"{os.path.basename(src)}")
        try:
            shutil.copyfile(src, dst)
            say(f"  kept {dst}")
        except OSError:
            pass


def layouts(args):
    return LAYOUTS if args.layout == "both" else (args.layout,)


def split_cpus():
    """(rspamd's CPU, the others) for the own-cpu layout: the last CPU
    this process may use for rspamd, the rest for the MTA and the load."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise mta.BenchError(f"the {LAYOUT_LABEL['own-cpu']} layout needs "
                             f"2 CPUs, this process may use {len(cpus)}")
    return {cpus[-1]}, set(cpus[:-1])


def start_scanner(workdir, layout):
    """A fresh rspamd for the layout, pinned to its CPU in own-cpu; this
    process is then pinned to the others, so that every MTA and every
    smtp-source it starts inherits them."""
    scanner = rspamd.Rspamd(os.path.join(workdir, layout))
    say(f"scan: starting rspamd, {LAYOUT_LABEL[layout]} (hyperscan cache "
        f"in {rspamd.HS_CACHE})")
    if layout == "own-cpu":
        scan_cpu, others = split_cpus()
        os.sched_setaffinity(0, scan_cpu)
        try:
            scanner.start()
        finally:
            os.sched_setaffinity(0, others)
    else:
        scanner.start()
    return scanner


def run_layout(args, workdir, layout, names, results, failed):
    """The interleaved runs of one layout, appended to results; a failed
    (layout, MTA, kind) gets no more runs, the rest go on, so a milter
    client not built yet on one side still leaves the other's figures."""
    scanner = None
    try:
        scanner = start_scanner(workdir, layout)
        for run_no in range(1, args.rounds + 1):
            for kind in KINDS:
                for name in names:
                    if (layout, name, kind) in failed:
                        continue
                    say(f"scan run {run_no}/{args.rounds}, "
                        f"{LAYOUT_LABEL[layout]}: {name}, {LABEL[kind]}, "
                        f"{args.messages} messages, {args.sessions} "
                        f"sessions")
                    try:
                        r = one_run(args, workdir, scanner, name, kind,
                                    run_no)
                    except (RuntimeError, subprocess.TimeoutExpired,
                            OSError) as e:
                        failed[(layout, name, kind)] = \
                            f"{layout}, {name} {kind}, run {run_no}: " + \
                            str(e).splitlines()[0]
                        say(f"  error: {e}")
                        continue
                    say(f"  {r['accept_rate']:.1f} msg/s accepted, "
                        f"{r['arrived']} in Maildir after "
                        f"{r['deliver_s']:.2f}s, {r['scans']} scanned, "
                        f"{r['cpu_ms']:.2f} ms CPU per message (rspamd "
                        f"{r['rspamd_cpu_ms']:.2f})")
                    r["layout"] = layout
                    results.append(r)
    except mta.BenchError as e:
        failed[(layout, "rspamd", "")] = \
            f"{layout}, rspamd: {str(e).splitlines()[0]}"
    finally:
        if scanner is not None:
            scanner.stop()


def run_bench(args, workdir):
    """For each layout, rspamd, then the interleaved runs; returns
    (results, error or None)."""
    names = [args.only] if getattr(args, "only", None) else \
        ["decorum", "postfix"]
    results, failed = [], {}
    cpus = os.sched_getaffinity(0)
    try:
        for layout in layouts(args):
            run_layout(args, workdir, layout, names, results, failed)
    finally:
        os.sched_setaffinity(0, cpus)
    return results, "; ".join(failed.values()) or None


def med(results, name, kind, key):
    xs = [r[key] for r in results if r["mta"] == name and r["kind"] == kind]
    return statistics.median(xs) if xs else None


def overhead(results, name):
    plain = med(results, name, "plain", "accept_rate")
    milter = med(results, name, "milter", "accept_rate")
    return 1 - milter / plain if plain and milter else None


def added_ms(results, name):
    """Wall-clock milliseconds the milter adds per accepted message, from
    the median rates: a fixed cost per message, which weighs more in the
    relative overhead of the faster MTA."""
    plain = med(results, name, "plain", "accept_rate")
    milter = med(results, name, "milter", "accept_rate")
    return 1000 / milter - 1000 / plain if plain and milter else None


def added_cpu(results, name):
    """MTA CPU milliseconds the milter adds per message: the MTA's own
    cost of scanning, which rspamd's CPU on the same machine does not
    blur."""
    plain = med(results, name, "plain", "cpu_ms")
    milter = med(results, name, "milter", "cpu_ms")
    return milter - plain if plain is not None and milter is not None \
        else None


def rspamd_busy(r):
    """The share of one CPU rspamd used while the load was sent: it
    scans only then, before each 250."""
    return r["accept_rate"] * r["rspamd_cpu_ms"] / 1000


def least_overhead(results, name):
    """With rspamd on one CPU of its own, no MTA gets more through its
    milter than rspamd's ceiling, 1000 / its CPU ms per message: so
    1 - ceiling/without is the least overhead an MTA with this rate
    without scanning could have.  Above Postfix's overhead, the goal
    is out of reach for this rate, whatever the milter client does."""
    plain = med(results, name, "plain", "accept_rate")
    cpu = med(results, name, "milter", "rspamd_cpu_ms")
    if not plain or not cpu:
        return None
    return max(0.0, 1 - (1000 / cpu) / plain)


def verdict(results):
    d, p = overhead(results, "decorum"), overhead(results, "postfix")
    if d is None or p is None:
        return "n/a (a side has no figures)"
    cd, cp = added_cpu(results, "decorum"), added_cpu(results, "postfix")
    return f"**{'met' if d <= p else 'not met'}** by the relative " \
           f"overhead (Decorum {d * 100:.1f}%, Postfix {p * 100:.1f}%); " \
           f"the MTA's own CPU added per message: Decorum {cd:.2f} ms, " \
           f"Postfix {cp:.2f} ms"


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def section(args, results, error):
    """The report: what was run, then one part per layout."""
    def probe(name):
        ps = {r["probe"] for r in results if r["mta"] == name and r["probe"]}
        return " or ".join(f"`{p}`" for p in sorted(ps)) or "n/a"

    cmd = " ".join(measure.smtp_source_argv("PORT", args.messages,
                                            args.sessions, args.size, RCPT))
    lines = ["", "## Scanning: rspamd's milter, Decorum and Postfix side "
             "by side", "",
             f"- load: `{cmd}`; rounds of each kind: {args.rounds}, "
             f"interleaved; medians below; load average after the runs: "
             f"{load_average()}",
             "- one private rspamd per layout: its milter proxy "
             "(`self_scan`, 2 processes), offline; Decorum `scan.milters`"
             " and Postfix `smtpd_milters` point at it, both with "
             "`tempfail` when it fails",
             f"- every milter run first sends GTUBE by hand: Decorum "
             f"answered {probe('decorum')}, Postfix {probe('postfix')}; "
             "then rspamd's log must show one scan per message of the "
             "load, and the Maildir all of them",
             "- layouts: " + "; ".join(
                 f"{LAYOUT_LABEL[lay]} (`{lay}`)" for lay in layouts(args)) +
             ". In `own-cpu` rspamd is pinned to one CPU and the MTA and "
             "smtp-source to the others, for the plain runs too"]
    if error:
        lines.append(f"- **failed**: {error}")
    for layout in layouts(args):
        lines += layout_part([r for r in results
                              if r.get("layout") == layout], layout)
    return lines


def layout_part(results, layout):
    """The tables of one layout's runs."""
    def f(v, fmt="{:.1f}"):
        return fmt.format(v) if v is not None else "n/a"

    def ratio(a, b):
        return f"{a / b:.2f}" if a and b else "n/a"

    def pct(v):
        return v * 100 if v is not None else None

    def row(label, kind, key, fmt="{:.1f}", scale=1.0):
        d, p = med(results, "decorum", kind, key), \
            med(results, "postfix", kind, key)
        d = d / scale if d is not None else None
        p = p / scale if p is not None else None
        return f"| {label} | {f(d, fmt)} | {f(p, fmt)} | {ratio(d, p)} |"

    def totals(name):
        rs = [r for r in results if r["mta"] == name and r["kind"] ==
              "milter"]
        if not rs:
            return "n/a"
        return f"{sum(r['arrived'] for r in rs)} / " \
               f"{sum(r['refused'] for r in rs)}"

    od, op = overhead(results, "decorum"), overhead(results, "postfix")
    lines = ["", f"### {LAYOUT_LABEL[layout]} (`{layout}`)", "",
             f"Decorum's scanning overhead must not exceed Postfix's: "
             f"{verdict(results)}",
             "",
             "| figure | Decorum | Postfix | ratio Decorum/Postfix |",
             "|---|---:|---:|---:|",
             row("accepted, messages/s, no scanning (higher is better)",
                 "plain", "accept_rate"),
             row("accepted, messages/s, rspamd's milter (higher is better)",
                 "milter", "accept_rate"),
             f"| scanning overhead, 1 - with/without (lower is better) | "
             f"{f(od and od * 100, '{:.1f}%')} | "
             f"{f(op and op * 100, '{:.1f}%')} | |",
             f"| milliseconds added per accepted message, 1/with - "
             f"1/without (lower is better) | "
             f"{f(added_ms(results, 'decorum'), '{:.2f}')} "
             f"| {f(added_ms(results, 'postfix'), '{:.2f}')} | |",
             f"| MTA CPU added per message by scanning, ms (lower is "
             f"better) | {f(added_cpu(results, 'decorum'), '{:.2f}')} "
             f"| {f(added_cpu(results, 'postfix'), '{:.2f}')} | |",
             row("all in Maildir, s, no scanning (lower is better)",
                 "plain", "deliver_s", "{:.2f}"),
             row("all in Maildir, s, rspamd's milter (lower is better)",
                 "milter", "deliver_s", "{:.2f}"),
             row("MTA CPU per message, ms, no scanning", "plain", "cpu_ms",
                 "{:.2f}"),
             row("MTA CPU per message, ms, rspamd's milter", "milter",
                 "cpu_ms", "{:.2f}"),
             row("rspamd CPU per message, ms, rspamd's milter", "milter",
                 "rspamd_cpu_ms", "{:.2f}"),
             row("rspamd's CPU busy while the load was sent, share of one "
                 "CPU, rspamd's milter", "milter", "rspamd_busy", "{:.2f}"),
             *([f"| least overhead rspamd's ceiling allows, 1 - "
                f"(1000 / rspamd CPU ms) / without (lower is better) | "
                f"{f(pct(least_overhead(results, 'decorum')), '{:.1f}%')} | "
                f"{f(pct(least_overhead(results, 'postfix')), '{:.1f}%')} "
                f"| |"] if layout == "own-cpu" else []),
             row("peak memory of the MTA, sum of RSS, MiB, rspamd's milter",
                 "milter", "peak_rss", "{:.1f}", MIB),
             f"| milter runs, messages accepted / refused or deferred (all "
             f"rounds) | {totals('decorum')} | {totals('postfix')} | |",
             "",
             "| run | MTA | scanning | accepted, msg/s | all in Maildir, s | "
             "scanned | MTA CPU, ms/msg | rspamd CPU, ms/msg | "
             "rspamd busy, share of a CPU | peak RSS, MiB |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(
            f"| {r['run']} | {r['mta']} | {r['kind']} | "
            f"{r['accept_rate']:.1f} | {r['deliver_s']:.2f} | {r['scans']} "
            f"| {r['cpu_ms']:.2f} | {r['rspamd_cpu_ms']:.2f} | "
            f"{rspamd_busy(r):.2f} | {r['peak_rss'] / MIB:.1f} |")
    return lines


# Fewer messages and rounds than the other benchmarks: four kinds of run,
# and a milter run goes at rspamd's pace; with these it takes about three
# minutes on a 2-CPU machine.
MESSAGES = 500
ROUNDS = 3


def add_arguments(p):
    """The options of this benchmark within bench/run."""
    p.add_argument("--scan-messages", type=int, default=MESSAGES,
                   help="messages per run (scan benchmark)")
    p.add_argument("--scan-rounds", type=int, default=ROUNDS,
                   help="runs of each kind (scan benchmark)")
    p.add_argument("--scan-layout", choices=LAYOUTS + ("both",),
                   default="both", help="where rspamd runs (scan benchmark)")


def own_args(args):
    """bench/run's arguments with this benchmark's sizes."""
    return argparse.Namespace(**{**vars(args),
                                 "messages": args.scan_messages,
                                 "rounds": args.scan_rounds,
                                 "layout": args.scan_layout})


def parse_args():
    return mta.parse_alone(
        "bench/scan.py", __doc__, ROUNDS, MESSAGES,
        more_arguments)


def more_arguments(p):
    p.add_argument("--only", choices=("decorum", "postfix"))
    p.add_argument("--layout", choices=LAYOUTS + ("both",), default="both",
                   help="where rspamd runs: on the same CPUs as the MTA, "
                   "on a CPU of its own, or both in turn")


if __name__ == "__main__":
    sys.exit(mta.run_alone(parse_args(), NAME, run_bench, section))
