#!/usr/bin/python3
"""The policy benchmark: what the inbound checks cost (issue 9, item 12).

Usage: bench/policy.py BUILD_DIR [--messages N] [--rounds R]
                       [--sessions S] [--size BYTES] [--timeout SECONDS]
                       [--stall SECONDS] [--keep]

Decorum only (it measures Decorum against itself).  Two kinds of run,
alternating, each against a fresh decorumd in its own temporary folder,
with the local benchmark's load (smtp-source, S sessions, N messages for
a Maildir user):
  off  every check of the policy off;
  on   the default policy (FCrDNS, HELO, the dynamic-name heuristic) and
       greylisting, with the load client's network allowed beforehand
       (`decorum greylist allow 127.0.0.0/24`), so every message is
       checked and none is deferred.
Both kinds alike have no relay_networks (which would skip every check),
send HELO client.bench.test, and ask the same DNS server on loopback
(tests/integration/dnsstub.py in a thread of this process), which gives
127.0.0.1 the PTR client.bench.test and that name its A record: the
checks pass, as they do for an honest MX.  The figure is the ratio of the
median accepted messages/s, on/off (at least 0.9 wanted); beside it the
CPU time the MTA spent per message, which the disk's noise (every
message is fsync'd before its 250) does not blur.

bench/run calls run_bench() and section() for `--bench policy`; this
file runs it on its own too.  Needs root and the packages of
deps/bench.txt, as bench/run does.  Every wait has a timeout; the daemon
and smtp-source are stopped by PID, the DNS server is a thread.
"""

import os
import shutil
import signal
import statistics
import subprocess
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests",
                                "integration"))

import dnsstub  # noqa: E402
import measure  # noqa: E402
import mta  # noqa: E402

NAME = "policy"
RCPT = "user@bench.test"
HELO = "client.bench.test"
CLIENT_NET = "127.0.0.0/24"
MIB = 1024 * 1024

# The policy of each kind of run, as it goes into the config.
POLICY = {
    "off": 'policy = { fcrdns = "off"; rdns_dynamic = "off";\n'
           '  helo = { syntax = "off"; resolves = "off"; '
           'matches_ip = "off"; }; };\n'
           'greylist = { action = "off"; };\n',
    "on": 'greylist = { action = "tempfail"; };\n',
}


def say(msg):
    print(f"bench: {msg}", flush=True)


def dns_server():
    """The benchmark's DNS: an honest client's PTR and HELO name."""
    zone = dnsstub.Zone()
    zone.add_ptr("127.0.0.1", HELO)
    zone.add(HELO, "A", "127.0.0.1")
    return dnsstub.DnsStub(zone)


def allow_client(build_dir, conf, timeout):
    """Let the load's network pass the greylist, with the operator's
    command, as a network that passed auto_allow triplets would."""
    argv = [os.path.join(build_dir, "decorum"), "-c", conf, "greylist",
            "allow", CLIENT_NET]
    res = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                         text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {res.returncode}: "
                           f"{(res.stderr or res.stdout).strip()}")


def policy_events(log):
    """(refusals, greylist passes) in the run's log.  An honest client
    must meet no refusal (event=policy, a greylist answer other than
    pass, the store unavailable), or the run measured refusals instead of
    checks; and with checks on, every message must have been asked of the
    greylist, or the run measured nothing."""
    refusals = passes = 0
    try:
        with open(log, encoding="utf-8", errors="replace") as f:
            for line in f:
                if "event=greylist " in line:
                    if " answer=pass " in line:
                        passes += 1
                    else:
                        refusals += 1
                elif "event=policy " in line or \
                        "event=greylist-unavailable " in line:
                    refusals += 1
    except OSError:
        return None, None
    return refusals, passes


def one_run(args, workdir, kind, run_no):
    dns = dns_server()
    inst = mta.Decorum(workdir, run_no, args.build_dir, f"policy-{kind}")
    inst.base_conf = "decorum-policy.conf.in"
    inst.more_values = {"DNSPORT": dns.port, "POLICY": POLICY[kind]}
    res = None
    os.sync()
    try:
        inst.start()
        if kind == "on":
            allow_client(args.build_dir, inst.conf, args.timeout)
        res, _ = measure.local_load(inst, args, RCPT, helo=HELO)
    finally:
        held = {signal.SIGTERM, signal.SIGHUP, signal.SIGINT}
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
        try:
            try:
                inst.stop()
            finally:
                dns.stop()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
        refusals, passes = policy_events(inst.log)
        if res is None:
            say(f"  log kept in {keep_log(args, inst, kind)}")
        if not args.keep:
            shutil.rmtree(inst.dir, ignore_errors=True)
    if refusals:
        raise RuntimeError(f"{refusals} policy refusals or deferrals in the "
                           f"log: the run measured refusals, not checks")
    want = args.messages if kind == "on" else 0
    if passes != want:
        raise RuntimeError(f"{passes} greylist answers for {args.messages} "
                           f"messages with checks {kind}, {want} expected")
    res.update(kind=kind, run=run_no)
    return res


def keep_log(args, inst, kind):
    os.makedirs(args.out, exist_ok=True)
    dst = os.path.join(args.out, f"failed-policy-{kind}-decorum.log")
    try:
        shutil.copyfile(inst.log, dst)
    except OSError as e:
        return f"nowhere ({e})"
    return dst


def run_bench(args, workdir):
    """The interleaved runs; returns (results, error or None)."""
    return mta.interleave(
        args, ("off", "on"),
        lambda kind, n: one_run(args, workdir, kind, n),
        lambda kind, n: f"policy run {n}/{args.rounds}: checks {kind}, "
                        f"{args.messages} messages, {args.sessions} sessions",
        lambda r: f"{r['accept_rate']:.1f} msg/s accepted, all in Maildir "
                  f"after {r['deliver_s']:.2f}s, {r['cpu_ms']:.2f} ms of CPU "
                  f"per message, peak RSS {r['peak_rss'] / MIB:.1f} MiB")


def section(args, results, error):
    def med(kind, key):
        xs = [r[key] for r in results if r["kind"] == kind]
        return statistics.median(xs) if xs else None

    def f(v, fmt="{:.1f}"):
        return fmt.format(v) if v is not None else "n/a"

    def ratio(key, better_high=True):
        off, on = med("off", key), med("on", key)
        if not off or not on:
            return "n/a"
        return f"{(on / off if better_high else off / on):.2f}"

    cmd = " ".join(measure.smtp_source_argv("PORT", args.messages,
                                            args.sessions, args.size, RCPT,
                                            helo=HELO))
    lines = ["", "## Inbound policy on and off (Decorum against itself)", "",
             f"- load: `{cmd}`",
             "- off: every check off; on: the default checks (fcrdns, "
             "helo.syntax, helo.resolves, helo.matches_ip, rdns_dynamic) "
             f"and greylisting, `{CLIENT_NET}` allowed with `decorum "
             "greylist allow` before the load; no relay_networks; a DNS "
             "server on loopback gives 127.0.0.1 a valid PTR and "
             f"`{HELO}` its A record"]
    if error:
        lines.append(f"- **failed**: {error}")
    lines += [
        "",
        "| figure | off | on | ratio, on/off (>= 0.90 wanted) |",
        "|---|---:|---:|---:|",
        f"| accepted, messages/s (higher is better) | "
        f"{f(med('off', 'accept_rate'))} | {f(med('on', 'accept_rate'))} | "
        f"{ratio('accept_rate')} |",
        f"| all in Maildir, seconds from load start (lower is better) | "
        f"{f(med('off', 'deliver_s'), '{:.2f}')} | "
        f"{f(med('on', 'deliver_s'), '{:.2f}')} | "
        f"{ratio('deliver_s', False)} |",
        f"| CPU per message, ms, the MTA's processes from load start "
        f"until all in Maildir (lower is better) | "
        f"{f(med('off', 'cpu_ms'), '{:.2f}')} | "
        f"{f(med('on', 'cpu_ms'), '{:.2f}')} | "
        f"{ratio('cpu_ms', False)} |",
        f"| peak memory, sum of RSS, MiB | "
        f"{f(med('off', 'peak_rss') and med('off', 'peak_rss') / MIB)}"
        f" | {f(med('on', 'peak_rss') and med('on', 'peak_rss') / MIB)}"
        f" | |",
        "",
        "| run | checks | accepted, msg/s | all in Maildir, s | "
        "CPU per message, ms | peak RSS, MiB |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r['run']} | {r['kind']} | {r['accept_rate']:.1f} "
                     f"| {r['deliver_s']:.2f} | {r['cpu_ms']:.2f} | "
                     f"{r['peak_rss'] / MIB:.1f} |")
    return lines


if __name__ == "__main__":
    sys.exit(mta.run_alone(mta.parse_alone("bench/policy.py", __doc__, 5),
                           NAME, run_bench, section))
