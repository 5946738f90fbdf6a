#!/usr/bin/python3
"""The tarpit benchmark: local delivery must not slow down while a remote
destination hangs.

Usage: bench/tarpit.py BUILD_DIR [--messages N] [--tarpit-messages T]
                       [--queued Q] [--delay SECONDS] [--settle SECONDS]
                       [--rounds R] [--sessions S] [--size BYTES]
                       [--timeout SECONDS] [--stall SECONDS] [--keep]

Decorum only (it measures Decorum against itself).  Two kinds of run,
alternating, each against a fresh decorumd in its own temporary folder:
  alone   smtp-source sends N messages for a local Maildir user, as the
          local benchmark of bench/run does; done when all N are in new/;
  tarpit  the same load, started once T messages for tarpit.bench.test
          have been accepted and Q more were put in the spool before the
          daemon started.  That domain is relayed to a tarpit on
          127.0.0.32: a server that takes each message and answers its
          final dot only after --delay seconds (20), so every connection
          to it is busy and its mail piles up, far beyond the queue
          manager's 1,000 messages on the network at once.
Before the local load, both kinds of run sync the disk and wait --settle
seconds (2), so the load meets a settled daemon.
Each run reports the local delivery rate (N over the seconds from the load
start until all N are in the Maildir) and how long the queue manager's
loop was busy in one go at most (its debug log, event=loop-lag).  The
ratio of the median local rates, tarpit/alone, must be about 1.00.

bench/run calls run_bench() for `--bench tarpit`; this file runs it on
its own too.  Needs root and the packages of deps/bench.txt, as bench/run
does.  Every wait has a timeout; the processes it starts (decorumd,
smtp-source) are stopped by PID, the tarpit is a thread of this process.
"""

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import measure  # noqa: E402
import mta  # noqa: E402
import spoolfill  # noqa: E402

TARPIT_HOST = "127.0.0.32"
LOCAL_RCPT = "user@bench.test"
TARPIT_RCPT = "user@tarpit.bench.test"
SENDER = "load@client.bench.test"


def say(msg):
    print(f"bench: {msg}", flush=True)


# -- the tarpit --------------------------------------------------------------

class Tarpit:
    """An SMTP server on TARPIT_HOST in a thread of its own (asyncio): it
    greets, accepts every command at once, reads the message, and answers
    the final dot after `delay` seconds (never, with delay < 0).  Counts
    the connections open now and at most."""

    def __init__(self, delay):
        self.delay = delay
        self.port = mta.free_port(TARPIT_HOST)
        self.active = 0
        self.max_active = 0
        self.messages = 0
        self._loop = None
        self._thread = None
        self._server = None

    async def _session(self, reader, writer):
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            writer.write(b"220 tarpit.bench.test ESMTP\r\n")
            while True:
                line = await reader.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    writer.write(b"250 tarpit.bench.test\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 go ahead\r\n")
                    await writer.drain()
                    await reader.readuntil(b"\r\n.\r\n")
                    self.messages += 1
                    if self.delay < 0:
                        await asyncio.Event().wait()
                    await asyncio.sleep(self.delay)
                    writer.write(b"250 2.0.0 taken, slowly\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 2.0.0 bye\r\n")
                    await writer.drain()
                    return
                else:
                    writer.write(b"250 2.0.0 ok\r\n")
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError):
            return
        finally:
            self.active -= 1
            writer.close()

    def start(self):
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(lambda lp, ctx: None)
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(asyncio.start_server(
                self._session, TARPIT_HOST, self.port, backlog=256))
            ready.set()
            self._loop.run_forever()
            self._loop.close()
        self._thread = threading.Thread(target=run, daemon=True,
                                        name="tarpit")
        self._thread.start()
        if not ready.wait(10):
            raise mta.BenchError("the tarpit did not start")

    def stop(self):
        if self._thread is None:
            return
        loop = self._loop

        async def shutdown():
            self._server.close()
            tasks = [t for t in asyncio.all_tasks(loop)
                     if t is not asyncio.current_task(loop)]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            loop.stop()
        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        self._thread.join(10)
        self._thread = None


# -- one run -----------------------------------------------------------------

LAG = re.compile(r"event=loop-lag loop=qmgr max_ms=(\d+) max_cpu_ms=(\d+)")
STALL = re.compile(r"event=loop-stall loop=qmgr ms=(\d+)")


def loop_lag(log):
    """(longest delay of the qmgr loop in ms, most CPU time in one go in
    ms, stalls of 50 ms or more) from a stopped daemon's log."""
    try:
        with open(log, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None, None, None
    m = LAG.findall(text)
    if not m:
        return None, None, len(STALL.findall(text))
    return int(m[-1][0]), int(m[-1][1]), len(STALL.findall(text))


def send(port, count, sessions, size, rcpt, log, timeout):
    argv = measure.smtp_source_argv(port, count, sessions, size, rcpt)
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=out)
        try:
            rc = proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if rc != 0:
        raise RuntimeError(f"smtp-source exited with {rc} (see {log})")


def one_run(args, workdir, kind, run_no):
    # A fresh tarpit per run: connections of the last daemon are gone.
    tarpit = Tarpit(args.delay)
    tarpit.start()
    inst = mta.Decorum(workdir, run_no, args.build_dir, f"tarpit-{kind}")
    inst.more_conf = ["decorum-tarpit.conf.in"]
    # The last run's files (removed just now) are written back before
    # this one starts, so neither kind of run pays for the other's.
    os.sync()
    inst.more_values = {"TARPITHOST": TARPIT_HOST,
                        "TARPITPORT": tarpit.port}
    res = None
    try:
        if kind == "tarpit" and args.queued > 0:
            spoolfill.preload(os.path.join(inst.dir, "spool"),
                              args.queued, SENDER, TARPIT_RCPT)
        inst.start()
        if kind == "tarpit":
            if args.tarpit_messages > 0:
                send(inst.port, args.tarpit_messages, args.sessions,
                     args.size, TARPIT_RCPT,
                     os.path.join(inst.dir, "smtp-source-tarpit.log"),
                     args.timeout)
            # The tarpit holds every connection the destination may
            # have (delivery.destination_concurrency, 20) before the
            # local load starts.
            want = min(20, args.tarpit_messages + args.queued)
            deadline = time.monotonic() + 30
            while tarpit.active < want and time.monotonic() < deadline:
                time.sleep(0.05)
        # Both kinds alike: the local load starts on a settled machine,
        # so it measures the tarpit's presence, not the tail of sending
        # its mail (the queue manager planning it, the disk writing it).
        os.sync()
        time.sleep(args.settle)
        res, _ = measure.local_load(inst, args, LOCAL_RCPT)
        res["tarpit_conns"] = tarpit.active
    finally:
        held = {signal.SIGTERM, signal.SIGHUP, signal.SIGINT}
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
        try:
            try:
                inst.stop()
            finally:
                tarpit.stop()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
        lag, cpu, stalls = loop_lag(inst.log)
        if res is None:
            say(f"  qmgr loop: longest delay {lag} ms ({cpu} ms of CPU), "
                f"{stalls} delays >= 50 ms; log kept in "
                f"{keep_log(args, inst, kind)}")
        if not args.keep:
            shutil.rmtree(inst.dir, ignore_errors=True)
    res.update(kind=kind, run=run_no, lag_ms=lag, cpu_ms=cpu, stalls=stalls)
    return res


def keep_log(args, inst, kind):
    os.makedirs(args.out, exist_ok=True)
    dst = os.path.join(args.out, f"failed-tarpit-{kind}-decorum.log")
    try:
        shutil.copyfile(inst.log, dst)
    except OSError as e:
        return f"nowhere ({e})"
    return dst


# -- the benchmark -----------------------------------------------------------

def run_bench(args, workdir):
    """The interleaved runs; returns (results, error or None)."""
    def announce(kind, n):
        return (f"tarpit run {n}/{args.rounds}: {kind}, {args.messages} "
                f"local messages"
                + (f" beside {args.tarpit_messages} sent and "
                   f"{args.queued} queued for the tarpit"
                   if kind == "tarpit" else ""))

    return mta.interleave(
        args, ("alone", "tarpit"),
        lambda kind, n: one_run(args, workdir, kind, n), announce,
        lambda r: f"local: {r['deliver_rate']:.1f} msg/s until all in the "
                  f"Maildir ({r['deliver_s']:.2f}s); qmgr loop delayed at "
                  f"most {r['lag_ms']} ms ({r['cpu_ms']} ms of CPU); "
                  f"{r['tarpit_conns']} connections held by the tarpit")


def section(args, results, error):
    def med(kind, key):
        xs = [r[key] for r in results if r["kind"] == kind
              and r[key] is not None]
        return statistics.median(xs) if xs else None

    alone, beside = med("alone", "deliver_rate"), med("tarpit",
                                                      "deliver_rate")
    cmd = " ".join(measure.smtp_source_argv("PORT", args.messages,
                                            args.sessions, args.size,
                                            LOCAL_RCPT))
    lines = ["", "## Local delivery beside a tarpit destination", "",
             f"- local load: `{cmd}`",
             f"- tarpit: {args.tarpit_messages} messages for "
             f"`{TARPIT_RCPT}` sent first (same smtp-source options), "
             f"{args.queued} more in the spool at start; the tarpit "
             f"({TARPIT_HOST}) answers each final dot after {args.delay} s"]
    if error:
        lines.append(f"- **failed**: {error}")

    def f(v, fmt="{:.1f}"):
        return fmt.format(v) if v is not None else "n/a"
    lines += [
        "",
        "| figure | alone | beside the tarpit | ratio |",
        "|---|---:|---:|---:|",
        f"| local mail, messages/s until all in Maildir | {f(alone)} | "
        f"{f(beside)} | "
        f"{f(beside / alone if alone and beside else None, '{:.2f}')} "
        f"(tarpit/alone, ~1.00 wanted) |",
        f"| qmgr loop, longest delay of its 10 ms timer, ms | "
        f"{f(med('alone', 'lag_ms'), '{:.0f}')} | "
        f"{f(med('tarpit', 'lag_ms'), '{:.0f}')} | |",
        f"| qmgr loop, most CPU time in one go, ms | "
        f"{f(med('alone', 'cpu_ms'), '{:.0f}')} | "
        f"{f(med('tarpit', 'cpu_ms'), '{:.0f}')} | |",
        "",
        "| run | kind | local msg/s | all in Maildir, s | qmgr loop delay "
        "at most, ms | its CPU, ms | delays >= 50 ms | tarpit connections |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r['run']} | {r['kind']} | "
                     f"{r['deliver_rate']:.1f} | {r['deliver_s']:.2f} | "
                     f"{r['lag_ms']} | {r['cpu_ms']} | {r['stalls']} | "
                     f"{r['tarpit_conns']} |")
    return lines


def add_arguments(p, prefix=""):
    """The options of this benchmark; bench/run passes its own through,
    with --queued as --tarpit-queued (bench/run's --queued is the growth
    benchmark's)."""
    p.add_argument("--tarpit-messages", type=int, default=1500,
                   help="messages for the tarpit sent before the local "
                        "load (tarpit benchmark)")
    p.add_argument(f"--{prefix}queued", type=int, default=0,
                   help="messages for the tarpit put in the spool before "
                        "the daemon starts (tarpit benchmark)")
    p.add_argument("--delay", type=float, default=20,
                   help="seconds the tarpit waits before answering a "
                        "final dot; negative: never (tarpit benchmark)")
    p.add_argument("--settle", type=float, default=2,
                   help="seconds between the start (and the tarpit's "
                        "mail) and the local load (tarpit benchmark)")


def own_args(args):
    """This benchmark's arguments from bench/run's."""
    a = argparse.Namespace(**vars(args))
    a.queued = args.tarpit_queued
    return a


def parse_args():
    p = argparse.ArgumentParser(prog="bench/tarpit.py",
                                description=__doc__.split("\n")[0])
    mta.alone_arguments(p, rounds=3)
    add_arguments(p)
    a = p.parse_args()
    if a.messages < 1 or a.rounds < 1 or a.sessions < 1 or \
            a.tarpit_messages < 0 or a.queued < 0:
        p.error("--messages, --rounds, --sessions must be positive")
    return a


if __name__ == "__main__":
    sys.exit(mta.run_alone(parse_args(), "tarpit", run_bench, section))
