"""A private GNU Mailman 3 core (Debian 12: mailman3 3.3.8) for the
mailing-list test, in the manner of lmtpserver.py.

Mailman(root, smtp_port) writes ROOT/mailman.cfg: every path under
ROOT/var, an SQLite database there, the LMTP runner on 127.0.0.1:PORT
(a free port) and outgoing mail to 127.0.0.1:smtp_port (Decorum's
listener, so list copies come back through Decorum).  incoming is
mailman.mta.null.NullMTA: Mailman writes no Postfix/Exim maps and needs
no MTA of its own; the test's users file is the "alias map".  Only the
runners a posting needs start (lmtp, in, pipeline, out): mail to the
-request, -bounces, -join... addresses is accepted over LMTP and queued,
but nothing processes it (command, bounces and virgin are off, as are
rest with its web port, archive, nntp, digest, task and retry).

create_list() and add_members() run the `mailman -C CFG create` and
`addmembers` commands; start() runs `mailman -C CFG start` (it
daemonizes; the master's PID is in ROOT/var/master.pid) and waits until
the LMTP port answers LHLO; stop() runs `mailman -C CFG stop`, waits for
the master to go, then SIGKILLs any runner of this instance that is left
(found by PID: children of the master seen while running).

Mailman refuses to run as root without --run-as-root, so as root every
command runs as "nobody"/"nogroup" with ROOT/var chowned to it, as
lmtpserver.py does for Dovecot's mail.
"""

import os
import pwd
import signal
import smtplib
import socket
import subprocess
import time

MAILMAN = "/usr/bin/mailman"
BIN_DIR = "/usr/lib/mailman3/bin"       # Debian's master and runner
# A posting needs lmtp, in, pipeline and out; each runner is a Python
# process whose start costs a second or two of CPU, so the rest stay off.
RUNNERS_OFF = ("rest", "archive", "nntp", "digest", "task", "retry",
               "command", "bounces", "virgin")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            out.append(int(d))
    return out


class Mailman:
    def __init__(self, root, smtp_port, port=None):
        assert os.access(MAILMAN, os.X_OK), \
            "no %s: install mailman3 (scripts/deps build test)" % MAILMAN
        self.root = str(root)
        self.port = port or _free_port()
        self.smtp_port = smtp_port
        self.conf = os.path.join(self.root, "mailman.cfg")
        self.var = os.path.join(self.root, "var")
        self.pidfile = os.path.join(self.var, "master.pid")
        self.pid = None
        self.runners = set()
        self.started = False
        os.makedirs(self.var, exist_ok=True)
        self.user = None
        if os.geteuid() == 0:
            pw = pwd.getpwnam("nobody")
            self.user = (pw.pw_uid, pw.pw_gid)
            os.chown(self.var, pw.pw_uid, pw.pw_gid)
        text = """\
[mailman]
layout: decorumtest
site_owner: postmaster@example.test

[paths.decorumtest]
var_dir: {var}
bin_dir: {bin}

[database]
class: mailman.database.sqlite.SQLiteDatabase
url: sqlite:///$DATA_DIR/mailman.db

[mta]
incoming: mailman.mta.null.NullMTA
outgoing: mailman.mta.deliver.deliver
lmtp_host: 127.0.0.1
lmtp_port: {port}
smtp_host: 127.0.0.1
smtp_port: {smtp}

[webservice]
hostname: 127.0.0.1
port: {rest}
""".format(var=self.var, bin=BIN_DIR, port=self.port, smtp=smtp_port,
           rest=_free_port())
        for r in RUNNERS_OFF:
            text += "\n[runner.%s]\nstart: no\n" % r
        with open(self.conf, "w") as f:
            f.write(text)

    @property
    def via(self):
        return "lmtp:127.0.0.1:%d" % self.port

    def run(self, *args, input=None, timeout=60):
        """`mailman -C CFG ARGS...` as the instance's user; its output."""
        env = dict(os.environ, HOME=self.root, LC_ALL="C.UTF-8")
        kw = {}
        if self.user:
            kw = dict(user=self.user[0], group=self.user[1],
                      extra_groups=[])
        # A file, not a pipe: `start` leaves a daemon holding whatever
        # descriptors it inherited, and reading a pipe to its end would
        # wait for that daemon to exit.
        outfile = os.path.join(self.root, "mailman.cmd.log")
        with open(outfile, "w+b") as f:
            p = subprocess.run([MAILMAN, "-C", self.conf] + list(args),
                               input=input, stdout=f, stderr=f, env=env,
                               timeout=timeout, cwd=self.root, **kw)
            f.seek(0)
            out = f.read().decode("utf-8", "replace")
        if p.returncode != 0:
            raise AssertionError("mailman %s exited with %d:\n%s\nlog:\n%s"
                                 % (" ".join(args), p.returncode, out,
                                    self.log()[-2000:]))
        return out

    def create_list(self, address):
        return self.run("create", address)

    def add_members(self, listaddr, members):
        """Subscribes members (pre-verified, no welcome message)."""
        return self.run("addmembers", "--no-welcome-msg", "-", listaddr,
                        input="".join(m + "\n" for m in members).encode())

    def start(self, timeout=40.0):
        assert self.pid is None, "mailman already running"
        self.started = True
        self.run("start")
        deadline = time.monotonic() + timeout
        while True:
            if self.pid is None:
                try:
                    with open(self.pidfile) as f:
                        self.pid = int(f.read().strip())
                except (FileNotFoundError, ValueError):
                    pass
            if self.pid is not None:
                self.runners.update(_children(self.pid))
                if not _alive(self.pid):
                    raise AssertionError("mailman master %d died; log:\n%s"
                                         % (self.pid, self.log()[-3000:]))
                if self._lhlo():
                    return self
            if time.monotonic() > deadline:
                raise AssertionError("mailman's LMTP port %d not answering "
                                     "after %.0fs; log:\n%s" % (
                                         self.port, timeout,
                                         self.log()[-3000:]))
            time.sleep(0.1)

    def _lhlo(self):
        try:
            with smtplib.LMTP("127.0.0.1", self.port, timeout=2) as c:
                code, _ = c.ehlo("probe.example.test")
                return code == 250
        except (OSError, smtplib.SMTPException):
            return False

    def stop(self, timeout=20.0):
        if self.pid is None and self.started:
            # start() failed before it read the PID file.
            try:
                with open(self.pidfile) as f:
                    self.pid = int(f.read().strip())
            except (FileNotFoundError, ValueError):
                pass
        self.started = False
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        self.runners.update(_children(pid))
        try:
            self.run("stop", timeout=timeout)
        except (AssertionError, subprocess.TimeoutExpired):
            if _alive(pid):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) or any(_alive(r) for r in self.runners):
            if time.monotonic() > deadline:
                for p in [pid] + sorted(self.runners):
                    if _alive(p):
                        os.kill(p, signal.SIGKILL)
                raise AssertionError("mailman %d or its runners still "
                                     "running %.0fs after stop" %
                                     (pid, timeout))
            time.sleep(0.05)

    def log(self):
        out = []
        logs = os.path.join(self.var, "logs")
        for name in ("mailman.log", "smtp.log", "error.log", "vette.log"):
            try:
                with open(os.path.join(logs, name), errors="replace") as f:
                    out.append("== %s\n%s" % (name, f.read()))
            except FileNotFoundError:
                pass
        return "\n".join(out)

    def list_addresses(self, name):
        """Local parts Mailman's LMTP runner accepts for list NAME."""
        return [name] + ["%s-%s" % (name, s) for s in
                         ("request", "bounces", "owner", "join", "leave",
                          "confirm")]
