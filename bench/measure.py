"""Measurements for `make bench`: memory and CPU time of a process tree,
Maildir counts, the counts of a relay sink, and one timed smtp-source
load.

Called by bench/run only.  Everything here reads /proc, the file system and
the output of the sink bench/mta.py started; it starts one process
(smtp-source) and always reaps it.  Memory is the sum
over the MTA's whole process tree (the root PID we started, or Postfix's
master, and all its descendants), sampled every 50 ms by a thread:
  - RSS, as the brief asks; it counts shared pages (libc, libraries) once per
    process, so it penalises many-process designs such as Postfix;
  - PSS, which splits shared pages between the processes sharing them, as a
    fairer second figure.
"""

import ctypes
import errno
import os
import re
import select
import struct
import subprocess
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")


def _children_map():
    """ppid -> [pid] for every process visible in /proc."""
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: split
        # after the last ')'.  Field 4 of stat(5) is the parent PID.
        rest = stat[stat.rfind(b")") + 2:].split()
        kids.setdefault(int(rest[1]), []).append(int(name))
    return kids


def _children(pid):
    """pid's children from /proc/PID/task/*/children (any thread may be
    a parent), or None when the kernel does not have those files."""
    out = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out      # gone: no children either
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                out.extend(int(c) for c in f.read().split())
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}/task/{tid}"):
                continue        # the thread ended
            return None
        except OSError:
            continue
    return out


def process_tree(root):
    """The PIDs of root and all its descendants (root first).

    Asks each process of the tree for its children: a few reads where
    walking the whole of /proc reads every process's stat, which the
    memory sampler did 20 times a second on the CPUs it was measuring."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        kids = _children(pid)
        if kids is None:
            return _process_tree_walk(root)
        out.append(pid)
        todo.extend(kids)
    return out


def _process_tree_walk(root):
    """process_tree() from the whole of /proc."""
    kids = _children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def _rss_pss(pid):
    """(rss, pss) in bytes for one process, (0, 0) when it is gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith(b"Pss:"):
                    pss = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return rss, pss


class MemorySampler(threading.Thread):
    """Samples the tree under root every `interval` seconds until stop()."""

    def __init__(self, root, interval=0.05):
        super().__init__(daemon=True)
        self.root = root
        self.interval = interval
        self.peak_rss = 0
        self.peak_pss = 0
        self.peak_procs = 0
        self.samples = 0
        self._stop_event = threading.Event()

    def sample(self):
        pids = process_tree(self.root)
        rss = pss = 0
        for pid in pids:
            r, p = _rss_pss(pid)
            rss += r
            pss += p
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)
        self.peak_procs = max(self.peak_procs, len(pids))
        self.samples += 1

    def run(self):
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def stop(self):
        self._stop_event.set()
        self.join(timeout=5)


def count_files(folder):
    """Files in folder; 0 while it does not exist yet."""
    try:
        return len(os.listdir(folder))
    except FileNotFoundError:
        return 0


# inotify(7), through libc: the events a Maildir delivery ends with.
_IN_CREATE, _IN_MOVED_TO, _IN_Q_OVERFLOW = 0x100, 0x80, 0x4000
_IN_NONBLOCK, _IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
_IN_EVENT = struct.Struct("iIII")        # wd, mask, cookie, len
_libc = ctypes.CDLL(None, use_errno=True)


class DeliveryWatcher(threading.Thread):
    """Watches a Maildir new/ folder and records the monotonic time at
    which it first holds `want` files.

    Counts inotify's events (a file made in or moved into the folder)
    rather than listing the folder: a list every 10 ms costs a
    millisecond per 2,000 files, about a tenth of a CPU by the end of a
    run, taken from the MTA being measured.  Names are kept in a set, so
    a file seen both in the first listing and as an event counts once;
    when the kernel's event queue overflows, the folder is listed again.
    Until the folder exists (the MTA makes it at the first delivery) it
    is looked for every `interval` seconds."""

    def __init__(self, folder, want, interval=0.01):
        super().__init__(daemon=True)
        self.folder = folder
        self.want = want
        self.interval = interval
        self.where = f"in {folder}"
        self.done_at = None
        self.first_at = None   # when the first file was seen
        self.done = threading.Event()
        self.count = 0
        self._names = set()
        self._stop_event = threading.Event()

    def _seen(self, names):
        self._names.update(names)
        self.count = len(self._names)
        now = time.monotonic()
        if self.count and self.first_at is None:
            self.first_at = now
        if self.count >= self.want and self.done_at is None:
            self.done_at = now
            self.done.set()

    def _watch(self):
        """An inotify descriptor watching the folder, once it exists."""
        fd = _libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        while not self._stop_event.is_set():
            wd = _libc.inotify_add_watch(fd, os.fsencode(self.folder),
                                         _IN_CREATE | _IN_MOVED_TO)
            if wd >= 0:
                return fd
            if ctypes.get_errno() != errno.ENOENT:
                os.close(fd)
                raise OSError(ctypes.get_errno(), "inotify_add_watch",
                              self.folder)
            self._stop_event.wait(self.interval)
        os.close(fd)
        return None

    def _events(self, fd):
        """Names from the events queued on fd; None after an overflow."""
        names = []
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return names
        off = 0
        while off + _IN_EVENT.size <= len(data):
            _, mask, _, n = _IN_EVENT.unpack_from(data, off)
            off += _IN_EVENT.size
            if mask & _IN_Q_OVERFLOW:
                return None
            names.append(data[off:off + n].rstrip(b"\0"))
            off += n
        return names

    def run(self):
        fd = self._watch()
        if fd is None:
            return
        try:
            # After the watch is on: a file made in between is in both.
            self._seen(os.fsencode(n) for n in os.listdir(self.folder))
            while not self._stop_event.is_set() and not self.done.is_set():
                ready, _, _ = select.select([fd], [], [], 0.1)
                if not ready:
                    continue
                names = self._events(fd)
                if names is None:
                    names = (os.fsencode(n) for n in os.listdir(self.folder))
                self._seen(names)
        finally:
            os.close(fd)

    def stop(self):
        self._stop_event.set()
        self.join(timeout=5)


SINK_COUNT = re.compile(rb"sess=(\d+) .*mesg=(\d+)")
# bench/countsink.py's last line, when it is stopped.
SINK_SUMMARY = re.compile(rb"summary sess=\d+ mesg=\d+ empty=(\d+) "
                          rb"max_open=(\d+)")


class SinkWatcher(threading.Thread):
    """Reads the running counters smtp-sink -c prints on its stdout, one
    "sess=N quit=N mesg=N" record per event ended by a CR, and records the
    monotonic time at which mesg first reaches `want`.  sess counts the
    sessions that have ended: read after the sink has stopped, it tells how
    often the MTA reused a connection.

    smtp-sink counts a message when it has read the final "."; it blocks
    when its stdout pipe is full, so this thread reads from the sink's start
    until the pipe closes (the sink is stopped), also after `want`."""

    def __init__(self, stream, want, where):
        super().__init__(daemon=True)
        self.stream = stream
        self.want = want
        self.where = where
        self.done_at = None
        self.done = threading.Event()
        self.count = 0
        self.sessions = 0
        # Sessions that carried no mail and most open at once, when the
        # sink tells (bench/countsink.py); None for smtp-sink.
        self.empty = None
        self.max_open = None

    def _summary(self, tail):
        m = SINK_SUMMARY.search(tail)
        if m:
            self.empty, self.max_open = int(m.group(1)), int(m.group(2))

    def run(self):
        fd = self.stream.fileno()
        tail = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                self._summary(tail)
                return
            # Only complete records count; a record cut by the read waits
            # for its end in the next chunk.
            recs = (tail + chunk).split(b"\r")
            tail = recs.pop()
            for rec in reversed(recs):
                m = SINK_COUNT.search(rec)
                if m:
                    self.sessions = int(m.group(1))
                    self.count = int(m.group(2))
                    break
            if self.done_at is None and self.count >= self.want:
                self.done_at = time.monotonic()
                self.done.set()

    def stop(self):
        # The thread ends at EOF, when the sink's owner stops it.
        pass


def smtp_source_argv(port, messages, sessions, size, rcpt,
                     helo="[127.0.0.1]"):
    """The load generator's command line; printed in the report too.

    HELO is by default an address literal that matches the client
    ([127.0.0.1]) so no HELO check needs DNS (bench/policy.py sends a name
    its DNS server answers); one message per connection (no -d), as an MX
    sees it; -l is the body size, headers come on top.
    """
    return ["smtp-source", "-4", "-s", str(sessions), "-m", str(messages),
            "-l", str(size), "-M", helo,
            "-f", "load@client.bench.test", "-t", rcpt,
            "-S", "bench", f"127.0.0.1:{port}"]


def _wait_done(watch, messages, t0, deliver_timeout, stall):
    """Wait until watch has seen all messages.  Gives up after
    deliver_timeout seconds from t0, or sooner when the count has not moved
    for `stall` seconds (an MTA that defers or drops mail would otherwise
    hold the whole benchmark for the full timeout)."""
    deadline = t0 + deliver_timeout
    last, last_t = watch.count, time.monotonic()
    while not watch.done.wait(0.1):
        now = time.monotonic()
        if watch.count != last:
            last, last_t = watch.count, now
        if now >= deadline:
            raise RuntimeError(f"only {watch.count} of {messages} messages "
                               f"{watch.where} after {deliver_timeout}s")
        if now - last_t >= stall:
            raise RuntimeError(f"only {watch.count} of {messages} messages "
                               f"{watch.where}, and none more for {stall}s")


def run_load(root_pid, port, watch, rcpt, messages, sessions, size,
             send_timeout, deliver_timeout, stall, log, helo="[127.0.0.1]"):
    """One measured run against an MTA already listening on port; watch
    (a DeliveryWatcher or SinkWatcher, already started) says when all
    messages have arrived.

    Returns a dict of figures; raises RuntimeError when smtp-source fails or
    the mail does not all arrive in time (the caller stops the MTA).
    """
    argv = smtp_source_argv(port, messages, sessions, size, rcpt, helo)
    mem = MemorySampler(root_pid)
    mem.sample()
    idle_rss = mem.peak_rss
    mem.start()
    cpu0 = cpu_seconds(root_pid)
    machine0 = machine_cpu()
    t0 = time.monotonic()
    try:
        with open(log, "ab") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=out)
            try:
                rc = proc.wait(timeout=send_timeout)
            except subprocess.TimeoutExpired:
                rc = None
            finally:
                # Interrupted or timed out: the generator is ours to end.
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            if rc is None:
                raise RuntimeError(f"smtp-source did not finish in "
                                   f"{send_timeout}s (see {log})")
        t_sent = time.monotonic()
        if rc != 0:
            raise RuntimeError(f"smtp-source exited with {rc} (see {log})")
        _wait_done(watch, messages, t0, deliver_timeout, stall)
        cpu1 = cpu_seconds(root_pid)
        idle, stolen = machine_share(machine0, machine_cpu())
    finally:
        watch.stop()
        mem.stop()
    return {
        # CPU of the MTA's whole tree from the load's start until all
        # messages have arrived, per message.
        "cpu_ms": (cpu1 - cpu0) * 1000 / messages,
        "accept_s": t_sent - t0,
        "accept_rate": messages / (t_sent - t0),
        "deliver_s": watch.done_at - t0,
        "deliver_rate": messages / (watch.done_at - t0),
        "peak_rss": mem.peak_rss,
        "peak_pss": mem.peak_pss,
        "idle_rss": idle_rss,
        "procs": mem.peak_procs,
        "samples": mem.samples,
        # The whole machine meanwhile: how much of its CPU sat idle, and
        # how much the hypervisor took (a run with much stolen time was
        # slowed by other guests, not by the MTA).
        "machine_idle": idle,
        "machine_stolen": stolen,
    }


def local_load(inst, args, rcpt, log=None, helo="[127.0.0.1]"):
    """The local benchmark's load against inst (an mta.Instance that
    delivers to inst.maildir_new): args' messages, sessions, size,
    timeout and stall; done when all are in the Maildir.  Returns
    (figures, watcher): run_load's dict, and the DeliveryWatcher (when
    the first message arrived: watcher.first_at).  log: smtp-source's
    output, by default smtp-source.log in inst's folder."""
    watch = DeliveryWatcher(inst.maildir_new, args.messages)
    watch.start()
    if log is None:
        log = os.path.join(inst.dir, "smtp-source.log")
    res = run_load(inst.root_pid, inst.port, watch, rcpt, args.messages,
                   args.sessions, args.size, args.timeout, args.timeout,
                   args.stall, log, helo=helo)
    return res, watch


def machine_cpu(stat="/proc/stat"):
    """The machine's CPU time so far, in ticks, from the first line of
    /proc/stat: (total, idle, stolen).  idle counts iowait too (a CPU
    with nothing to run); stolen is what the hypervisor gave to other
    guests while this one had work.  Only differences mean anything."""
    with open(stat, encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice]:
    # guest time is already in user and nice.
    fields = (fields + [0] * 8)[:8]
    return sum(fields), fields[3] + fields[4], fields[7]


def machine_share(before, after):
    """(idle %, stolen %) of the machine's CPU time between two
    machine_cpu() readings."""
    total = after[0] - before[0]
    if total <= 0:
        return 0.0, 0.0
    return (100.0 * (after[1] - before[1]) / total,
            100.0 * (after[2] - before[2]) / total)


def cpu_seconds(root_pid):
    """User + system CPU seconds of a process tree so far: every thread of
    each live process, plus what the root has reaped from children that
    exited (Postfix's master reaps an smtpd once it has served its
    clients; Decorum's and rspamd's processes live for the whole run).
    Only differences between two calls mean anything."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in process_tree(root_pid):
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])   # utime, stime
        if pid == root_pid:
            total += int(fields[13]) + int(fields[14])   # cutime, cstime
    return total / tick
