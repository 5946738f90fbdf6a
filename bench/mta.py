"""The two mail servers under test, each a private instance in its own
temporary folder: start, wait until the SMTP port accepts, stop.  For the
relay benchmark also the remote end both relay to: Postfix's smtp-sink on
SINK_HOST, a loopback address of its own.

Called by bench/run only.  Trusts the templates in bench/templates/ and the
binaries it is given; trusts nothing about their state: every wait has a
timeout, and stop() ends exactly the processes this instance started (the
PID we spawned, or the master PID Postfix wrote for our queue directory,
and their descendants), first politely, then with SIGKILL.
"""

import argparse
import os
import pwd
import re
import grp
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import measure

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(HERE, "templates")

# The relay benchmark's "remote" MX.  Linux routes all of 127.0.0.0/8 to
# the loopback interface, so this needs no set-up, and the MTAs, which
# listen on 127.0.0.1 only, cannot mistake the sink for themselves.
SINK_HOST = "127.0.0.31"


class BenchError(RuntimeError):
    """A failure that ends the benchmark with a clear message."""


def free_port(host="127.0.0.1"):
    """A TCP port on host nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def fill(templates, out, values):
    """Write out from one or more templates, one after the other, replacing
    each @NAME@ by values[NAME]."""
    with open(out, "w", encoding="utf-8") as f:
        for template in templates:
            with open(os.path.join(TEMPLATES, template),
                      encoding="utf-8") as t:
                text = t.read()
            for key, val in values.items():
                text = text.replace(f"@{key}@", str(val))
            left = re.search(r"@[A-Z]+@", text)
            if left:
                raise BenchError(f"{template}: unfilled placeholder "
                                 f"{left.group(0)}")
            f.write(text)


def port_accepts(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def greets(port, host="127.0.0.1", timeout=0.5):
    """Does a server on port answer a new connection with its 220 banner
    within timeout?  A listening socket alone is not enough: Decorum's
    master listens before its smtpd is ready, and the kernel queues the
    connections meanwhile; a run that started then would time the
    daemon's start-up too (bench/growth.py times that on purpose)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(4).startswith(b"220")
    except OSError:
        return False


def alive(pid):
    """Is pid still a process that has not been reaped?"""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    state = stat[stat.rfind(b")") + 2:].split()[0]
    return state not in (b"Z", b"X")


def kill_pids(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return not any(alive(p) for p in pids)


def tail(path, lines=15):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


class Instance:
    """Common part: a folder, a port, a root PID, and a careful stop()."""

    name = "?"

    def __init__(self, workdir, run_no, bench="local"):
        self.dir = os.path.join(workdir, f"{self.name}-{bench}-{run_no}")
        os.mkdir(self.dir)
        os.chmod(self.dir, 0o755)   # virtual(8) runs as nobody: traverse
        self.port = free_port()
        self.root_pid = None
        self.log = os.path.join(self.dir, f"{self.name}.log")
        self.maildir_new = None
        self.relay_port = None   # set: relay all remote mail to the sink

    def wait_ready(self, timeout, check_alive):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if greets(self.port):
                return
            check_alive()
            time.sleep(0.05)
        raise BenchError(f"{self.name}: port {self.port} did not greet "
                         f"within {timeout}s; its log ends:\n"
                         f"{tail(self.log)}")

    def _kill_tree(self, tree):
        """SIGKILL whatever of tree is still there, by PID."""
        left = [p for p in tree if alive(p)]
        if left:
            kill_pids(left, signal.SIGKILL)
            wait_gone(left, 5)


class Postfix(Instance):
    name = "postfix"

    def __init__(self, workdir, run_no, bench="local"):
        super().__init__(workdir, run_no, bench)
        # More templates appended to main.cf, and their values (the scan
        # benchmark, bench/scan.py).
        self.more_main = []
        self.more_values = {}

    def start(self):
        d = self.dir
        self.conf = os.path.join(d, "etc")
        self.queue = os.path.join(d, "spool")
        data = os.path.join(d, "data")
        mail = os.path.join(d, "mail")
        for p in (self.conf, self.queue):
            os.mkdir(p, 0o755)
        os.mkdir(data, 0o700)
        pf = pwd.getpwnam("postfix")
        os.chown(data, pf.pw_uid, pf.pw_gid)
        # virtual(8) delivers as this account; it must own the Maildir base.
        nobody = pwd.getpwnam("nobody").pw_uid
        nogroup = grp.getgrnam("nogroup").gr_gid
        os.mkdir(mail, 0o755)
        os.chown(mail, nobody, nogroup)
        self.maildir_new = os.path.join(mail, "user", "new")
        main = ["postfix-main.cf.in"]
        if self.relay_port is not None:
            main.append("postfix-relay.cf.in")
        fill(main + self.more_main, os.path.join(self.conf, "main.cf"),
             {"CONF": self.conf, "QUEUE": self.queue, "DATA": data,
              "MAIL": mail, "UID": nobody, "GID": nogroup, "LOG": self.log,
              "DIR": d, "SINKHOST": SINK_HOST, "SINKPORT": self.relay_port,
              **self.more_values})
        fill(["postfix-master.cf.in"], os.path.join(self.conf, "master.cf"),
             {"PORT": self.port})
        with open(os.path.join(self.conf, "vmailbox"), "w") as f:
            f.write("user@bench.test user/\n")
        with open(os.path.join(d, "start.log"), "wb") as out:
            try:
                rc = subprocess.run(["postfix", "-c", self.conf, "start"],
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=out, timeout=120).returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
        self._read_pid()
        if rc != 0:
            raise BenchError(f"postfix start failed ({rc}):\n"
                             f"{tail(os.path.join(d, 'start.log'))}"
                             f"{tail(self.log)}")
        if self.root_pid is None:
            raise BenchError("postfix started but wrote no master.pid")
        self.wait_ready(30, self._check_alive)

    def _read_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                self.root_pid = int(f.read().strip())
        except (OSError, ValueError):
            pass

    def _check_alive(self):
        if not alive(self.root_pid):
            raise BenchError(f"postfix master exited; its log ends:\n"
                             f"{tail(self.log)}")

    def stop(self):
        if self.root_pid is None:
            self._read_pid()
        if self.root_pid is None or not alive(self.root_pid):
            return
        tree = measure.process_tree(self.root_pid)
        try:
            subprocess.run(["postfix", "-c", self.conf, "stop"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=30)
        except subprocess.TimeoutExpired:
            pass
        if not wait_gone(tree, 15):
            self._kill_tree(tree)
        self.root_pid = None


class Decorum(Instance):
    name = "decorum"

    def __init__(self, workdir, run_no, build_dir, bench="local"):
        super().__init__(workdir, run_no, bench)
        self.daemon = os.path.join(build_dir, "decorumd")
        self.proc = None
        # More templates appended to decorum.conf, and their values (the
        # tarpit benchmark, bench/tarpit.py).
        self.more_conf = []
        self.more_values = {}
        # The instance's own config template (bench/policy.py has one).
        self.base_conf = "decorum.conf.in"

    def start(self):
        d = self.dir
        for sub in ("spool", "state", "mail", "domains/bench.test"):
            # The spool may hold mail already (bench/tarpit.py --queued).
            os.makedirs(os.path.join(d, sub), 0o755, exist_ok=True)
        users = os.path.join(d, "domains/bench.test/users")
        with open(users, "w") as f:
            f.write("user:\n")
        # Dated back, as an operator's files are: the daemon does not read
        # a table file, nor take a missing one as empty in a folder,
        # changed within the last second (it may still be being written:
        # docs/architecture.md) and would wait that second at start-up,
        # which bench/growth.py would time as the daemon's.
        past = time.time() - 10
        for path in (users, os.path.dirname(users),
                     os.path.join(d, "domains")):
            os.utime(path, (past, past))
        self.maildir_new = os.path.join(d, "mail", "bench.test", "user", "new")
        self.conf = os.path.join(d, "decorum.conf")
        conf = [self.base_conf]
        if self.relay_port is not None:
            conf.append("decorum-relay.conf.in")
        fill(conf + self.more_conf, self.conf,
             {"DIR": d, "PORT": self.port, "SINKHOST": SINK_HOST,
              "SINKPORT": self.relay_port, **self.more_values})
        with open(self.log, "wb") as out:
            # Own session: a ^C on the terminal reaches bench/run, which
            # then stops the daemon itself, in order.
            self.proc = subprocess.Popen([self.daemon, "-c", self.conf, "-f"],
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=out, start_new_session=True)
        self.root_pid = self.proc.pid
        self.wait_ready(30, self._check_alive)

    def _check_alive(self):
        rc = self.proc.poll()
        if rc is not None:
            raise BenchError(f"decorumd exited with status {rc} before "
                             f"accepting on port {self.port}; its log ends:"
                             f"\n{tail(self.log)}")

    def stop(self):
        stop_process(self.proc)


def stop_held(*stops):
    """Call each stop() in turn, all of them even when one fails, with
    SIGTERM, SIGHUP and SIGINT held: a second ^C must not cut a stop
    short and leave daemons behind; the signals are taken after."""
    held = {signal.SIGTERM, signal.SIGHUP, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        first = None
        for stop in stops:
            try:
                stop()
            except Exception as e:   # noqa: BLE001 - the rest still stop
                first = first or e
        if first is not None:
            raise first
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def stop_process(proc):
    """Stop a daemon we spawned (a Popen, or None) and every process under
    it: SIGTERM, then SIGKILL for what is left after the timeouts."""
    if proc is None or proc.poll() is not None:
        return
    tree = measure.process_tree(proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    # Workers that outlived their master are still ours.
    left = [p for p in tree if alive(p)]
    if left and not wait_gone(left, 5):
        kill_pids(left, signal.SIGKILL)
        wait_gone(left, 5)


def sink_argv(port, kind="count", host=None, rcpt_reply=None):
    """The sink's command line; printed in the report too.

    count: bench/countsink.py, which also counts the sessions that carried
    no mail (the default since issue 12).  smtp-sink: Postfix's, as the
    runs before issue 12 used it; -u: required when started as root; -4:
    SINK_HOST is IPv4; 256: the listen backlog, more than the MTAs' 20
    connections per destination."""
    host = host or SINK_HOST
    if kind == "count":
        argv = [os.path.join(HERE, "countsink.py"), host, str(port)]
        if rcpt_reply:
            argv += ["--rcpt-reply", rcpt_reply]
        return argv
    return ["smtp-sink", "-c", "-4", "-u", "nobody",
            "-h", "sink.remote.example", f"{host}:{port}", "256"]


class Sink:
    """A sink on SINK_HOST (or host): bench/countsink.py or smtp-sink, both
    take every message and throw it away, and print a running count of
    sessions and messages on their stdout (a pipe; measure.SinkWatcher
    reads it).  Both announce PIPELINING, 8BITMIME, DSN and more, but not
    STARTTLS: neither MTA spends time on TLS.  countsink.py also says, when
    stopped, how many sessions carried no mail (watch.empty)."""

    def __init__(self, folder, kind="count", host=SINK_HOST,
                 rcpt_reply=None):
        self.host = host
        self.kind = kind
        self.rcpt_reply = rcpt_reply
        self.port = free_port(host)
        self.log = os.path.join(folder, "sink.log")
        self.proc = None
        self.watch = None

    def start(self, want, timeout=30):
        """Start the sink and its counter (self.watch, done at `want`
        messages); return once it accepts connections."""
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(
                sink_argv(self.port, self.kind, self.host, self.rcpt_reply),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                start_new_session=True)
        self.watch = measure.SinkWatcher(
            self.proc.stdout, want, f"at the sink {self.host}:{self.port}")
        self.watch.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_accepts(self.port, self.host):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise BenchError(f"{self.kind} sink did not accept on {self.host}:"
                         f"{self.port}; its log ends:\n{tail(self.log)}")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        # The counter reads until EOF; close the pipe only after it is done
        # with it, so that it never reads a descriptor number reused since.
        if self.watch is not None:
            self.watch.join(timeout=5)
        if self.watch is None or not self.watch.is_alive():
            self.proc.stdout.close()
        self.proc = None


# -- Decorum against itself, run alone (bench/tarpit.py, bench/policy.py) --

def alone_arguments(p, rounds):
    """The options every Decorum-only benchmark takes."""
    p.add_argument("build_dir", help="meson build folder with decorumd")
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=rounds)
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--timeout", type=int, default=300)
    p.add_argument("--stall", type=int, default=30)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--out", default=os.path.join(HERE, "out"))


def parse_alone(prog, doc, rounds, messages=2000, more=None):
    """The command line of a benchmark run on its own: the options of
    alone_arguments(), those more(parser) adds, checked."""
    p = argparse.ArgumentParser(prog=prog, description=doc.split("\n")[0])
    alone_arguments(p, rounds)
    p.set_defaults(messages=messages)
    if more:
        more(p)
    a = p.parse_args()
    if a.messages < 1 or a.rounds < 1 or a.sessions < 1:
        p.error("--messages, --rounds, --sessions must be positive")
    return a


def interleave(args, kinds, one_run, announce, summary):
    """args.rounds rounds of one run of each kind, in turn: one_run(kind,
    run_no) gives a run's figures, announce(kind, run_no) and summary(r)
    the lines said before and after it.  Returns (results, error or None);
    the first failure ends the benchmark, since its ratio needs every
    kind."""
    results = []
    for run_no in range(1, args.rounds + 1):
        for kind in kinds:
            print(f"bench: {announce(kind, run_no)}", flush=True)
            try:
                r = one_run(kind, run_no)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                print(f"bench:   error: {e}", flush=True)
                return results, f"{kind}, run {run_no}: " + \
                    str(e).splitlines()[0]
            print(f"bench:   {summary(r)}", flush=True)
            results.append(r)
    return results, None


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def run_alone(args, name, run_bench, section):
    """main() of a Decorum-only benchmark: run_bench(args, workdir) gives
    (results, error), section(args, results, error) the report's lines,
    printed and written to <out>/<name>.md.  Exit status 0, 1 (failed or
    cannot run), 130 (interrupted)."""
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _interrupt)
    if os.geteuid() != 0:
        print("bench: error: must run as root, as bench/run does")
        return 1
    daemon = os.path.join(args.build_dir, "decorumd")
    if not os.access(daemon, os.X_OK) or shutil.which("smtp-source") is None:
        print(f"bench: error: needs {daemon} and smtp-source "
              f"(deps/bench.txt)")
        return 1
    workdir = tempfile.mkdtemp(prefix=f"decorum-{name}-")
    os.chmod(workdir, 0o755)
    try:
        results, error = run_bench(args, workdir)
        text = "\n".join(section(args, results, error)) + "\n"
        print(text, flush=True)
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, f"{name}.md"), "w") as f:
            f.write(text)
        return 1 if error else 0
    except KeyboardInterrupt as e:
        print(f"bench: interrupted ({e}); stopped what was running")
        return 130
    finally:
        if args.keep:
            print(f"bench: kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
