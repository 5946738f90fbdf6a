#!/usr/bin/python3
"""Reply latency while a big users file is replaced (issue 8, item 7).

Usage: bench/tables.py BUILD_DIR [--entries N] [--seconds S]
                       [--quiet-seconds Q] [--interval I] [--sessions C]
                       [--out FILE] [--keep]

Starts one Decorum instance (bench/mta.py, the same set-up as the local
benchmark) whose domain bench.test has a users file of N entries (100,000
by default), then runs C client sessions at once (4), each in its own
process, each looping RSET, MAIL, RCPT TO:<user@bench.test>, NOOP and
timing the RCPT and the NOOP round trips.  First for Q seconds with the
file left alone (the quiet figures), then for S seconds while the users
file is replaced every I seconds (1.0): a new version is written to a
temporary file and renamed over it, as `decorum user add` does.  Prints
p50, p99 and the maximum of the RCPT, the NOOP and every round trip
(RSET and MAIL too: any command stuck behind a blocked loop shows) for
both phases, and how many versions the smtpd read.

Each version is dated two seconds back before the rename.  Decorum reads a
file only once it has been still for a second (a file being written in
place has a fresh mtime); a file replaced every second would otherwise
never be read at all, and the benchmark would measure nothing.  Dated
back, every version is read, by the old code (on the loop, at the first
RCPT after the change) and by the new (in a worker thread), so the two
are compared doing the same work.

Called by bench/run (its `tables` benchmark) and usable alone against any
build folder, e.g. one of an older commit, to compare.  Needs no root and
no packages beyond python3.  Stops the daemon it started by PID on every
exit and removes its temporary folder (unless --keep).
"""

import argparse
import multiprocessing
import os
import re
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mta  # noqa: E402

NAME = "tables"
TITLE = "Reply latency while a users file of %d entries is replaced"


def say(msg):
    print(f"bench tables: {msg}", flush=True)


class Client:
    """A minimal SMTP client: one command, one reply, timed."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
        self.reply()                    # greeting

    def reply(self):
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("server closed the connection")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            if line[3:4] != b"-":
                return int(line[:3])

    def cmd(self, line):
        t = time.perf_counter()
        self.sock.sendall(line.encode() + b"\r\n")
        code = self.reply()
        return code, time.perf_counter() - t


def session(port, stop_at, out):
    """One client process: loop until stop_at (time.time()); send the
    round trips (seconds) back through out."""
    rcpt, noop, every, bad = [], [], [], []
    c = Client(port)
    c.cmd("EHLO client.bench.test")
    while time.time() < stop_at:
        every.append(c.cmd("RSET")[1])
        every.append(c.cmd("MAIL FROM:<load@client.bench.test>")[1])
        code, t = c.cmd("RCPT TO:<user@bench.test>")
        rcpt.append(t)
        if code != 250:
            bad.append(code)
        code, t2 = c.cmd("NOOP")
        noop.append(t2)
        every += [t, t2]
        time.sleep(0.01)
    c.cmd("QUIT")
    c.sock.close()
    out.send((rcpt, noop, every, bad))
    out.close()


def run_sessions(port, sessions, seconds):
    stop_at = time.time() + seconds
    procs = []
    for _ in range(sessions):
        recv, send = multiprocessing.Pipe(duplex=False)
        p = multiprocessing.Process(target=session,
                                    args=(port, stop_at, send))
        p.start()
        send.close()
        procs.append((p, recv))
    rcpt, noop, every, bad = [], [], [], []
    for p, recv in procs:
        if not recv.poll(seconds + 60):
            raise mta.BenchError("a client session did not finish")
        r, n, e, b = recv.recv()
        rcpt += r
        noop += n
        every += e
        bad += b
        p.join(10)
    return rcpt, noop, every, bad


def users_image(entries):
    # "user" is the benchmark's mailbox; the rest is filler.
    return "user:\n" + "".join("u%07d:\n" % i for i in range(entries - 1))


class Replacer(threading.Thread):
    """Replaces the users file every interval seconds until stopped."""

    def __init__(self, path, image, interval):
        super().__init__(daemon=True)
        self.path, self.image = path, image.encode()
        self.interval = interval
        self.stop = threading.Event()
        self.versions = 0

    def run(self):
        tmp = self.path + ".new"
        while not self.stop.wait(self.interval):
            with open(tmp, "wb") as f:
                f.write(self.image + b"v%d:\n" % self.versions)
            t = time.time() - 2
            os.utime(tmp, (t, t))
            os.rename(tmp, self.path)
            self.versions += 1


def figures(samples):
    s = sorted(samples)
    if not s:
        return None
    p99 = s[min(len(s) - 1, int(len(s) * 0.99))]
    return (statistics.median(s) * 1000, p99 * 1000, s[-1] * 1000, len(s))


def loads(log, entries):
    """Versions of the big users file the smtpd read (table-load events
    with more than `entries` entries; the quoting of file= changed)."""
    try:
        with open(log, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return 0
    n = 0
    for m in re.finditer(r"smtpd\[\d+\].*event=table-load .*entries=(\d+)",
                         text):
        if int(m.group(1)) > entries:
            n += 1
    return n


def wake(port):
    """One RCPT for the domain: code that re-reads tables only when a
    lookup notices a change (the code before issue 8) needs one."""
    c = Client(port)
    c.cmd("EHLO client.bench.test")
    c.cmd("MAIL FROM:<load@client.bench.test>")
    c.cmd("RCPT TO:<user@bench.test>")
    c.cmd("QUIT")
    c.sock.close()


def measure(build_dir, workdir, args):
    inst = mta.Decorum(workdir, 1, build_dir, NAME)
    inst.more_conf.append("decorum-tables.conf.in")
    try:
        inst.start()
        users = os.path.join(inst.dir, "domains", "bench.test", "users")
        image = users_image(args.entries)
        tmp = users + ".new"
        with open(tmp, "w") as f:
            f.write(image)
        t = time.time() - 2
        os.utime(tmp, (t, t))
        os.rename(tmp, users)
        # Let both processes read the big table before measuring.
        deadline = time.monotonic() + 60
        while loads(inst.log, args.entries - 1) < 1:
            if time.monotonic() > deadline:
                raise mta.BenchError("the smtpd never read the big users "
                                     "file; log ends:\n" + mta.tail(inst.log))
            wake(inst.port)
            time.sleep(0.5)
        before = loads(inst.log, args.entries - 1)
        quiet = run_sessions(inst.port, args.sessions, args.quiet_seconds)
        rep = Replacer(users, image, args.interval)
        rep.start()
        try:
            busy = run_sessions(inst.port, args.sessions, args.seconds)
        finally:
            rep.stop.set()
            rep.join(10)
        time.sleep(1.5)
        read = loads(inst.log, args.entries - 1) - before
        return {"quiet": quiet, "busy": busy, "versions": rep.versions,
                "read": read}
    finally:
        inst.stop()
        if args.keep:
            say(f"kept {inst.dir}")


def section(args, res, build_dir, label=None):
    lines = ["", f"## {TITLE % args.entries}", ""]
    if label:
        lines.append(f"- build: {label}")
    lines += [
        f"- {args.sessions} sessions at once, each looping RSET, MAIL, "
        f"RCPT TO:<user@bench.test>, NOOP (10 ms pause per loop); "
        f"{args.quiet_seconds} s with the file left alone, then "
        f"{args.seconds} s while it is replaced by rename every "
        f"{args.interval:g} s",
        f"- versions written: {res['versions']}; versions the smtpd read: "
        f"{res['read']}",
        "",
        "| phase | round trip | samples | p50, ms | p99, ms | max, ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for phase, name in (("quiet", "file left alone"),
                        ("busy", "file replaced")):
        rcpt, noop, every, bad = res[phase]
        for what, samples in (("RCPT", rcpt), ("NOOP", noop),
                              ("any command", every)):
            f = figures(samples)
            if f is None:
                continue
            lines.append(f"| {name} | {what} | {f[3]} | {f[0]:.2f} | "
                         f"{f[1]:.2f} | {f[2]:.1f} |")
        if bad:
            lines.append(f"| {name} | RCPT not 250 | {len(bad)} | "
                         f"codes {sorted(set(bad))} | | |")
    return lines


def run(build_dir, args, workdir=None, label=None):
    """Measure; return the report lines (bench/run's hook)."""
    own = workdir is None
    if own:
        workdir = tempfile.mkdtemp(prefix="decorum-bench-tables-")
        os.chmod(workdir, 0o755)
    try:
        say(f"{args.entries} entries, {args.sessions} sessions, "
            f"{args.quiet_seconds} s quiet + {args.seconds} s replacing "
            f"every {args.interval:g} s ({build_dir})")
        res = measure(build_dir, workdir, args)
        return section(args, res, build_dir, label)
    finally:
        if own and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def default_args(keep=False):
    """The defaults, for bench/run."""
    p = argparse.ArgumentParser()
    add_arguments(p)
    a = p.parse_args([])
    a.keep = keep
    return a


def add_arguments(p):
    p.add_argument("--entries", type=int, default=100000)
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--quiet-seconds", type=int, default=5)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--sessions", type=int, default=4)


def main():
    p = argparse.ArgumentParser(prog="bench/tables.py",
                                description=__doc__.split("\n")[0])
    p.add_argument("build_dir")
    add_arguments(p)
    p.add_argument("--label", help="what to call the build in the report")
    p.add_argument("--out", help="also write the report to this file")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    if args.entries < 2 or args.seconds < 1 or args.quiet_seconds < 1 \
            or args.sessions < 1 or args.interval <= 0:
        p.error("--entries must be at least 2, the rest positive")
    try:
        lines = run(args.build_dir, args, label=args.label)
    except mta.BenchError as e:
        say(f"error: {e}")
        return 1
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
