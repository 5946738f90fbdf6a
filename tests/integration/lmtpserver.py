"""A private Dovecot LMTP server (Debian 12: dovecot-lmtpd 2.3) for the
LMTP transport tests, as /work/shared/TEST-PEERS.md describes it.

Dovecot(root) writes ROOT/dovecot.conf: LMTP only, on 127.0.0.1:PORT and
on the Unix socket ROOT/lmtp.sock (mode 0666), a static passdb/userdb
that accepts every user, and Maildirs under ROOT/mail/<domain>/<user>
(Dovecot lower-cases the user name).  `dovecot -c FILE` daemonizes; its
PID is read from ROOT/run/master.pid and stop() sends SIGTERM to that PID
only, then waits for it to be gone.  start() after stop() brings the same
instance back on the same port and socket.

The account Dovecot runs its helpers and writes mail as: the current user
when not root; as root, "nobody"/"nogroup" (Dovecot refuses root for
mail), with ROOT/mail chowned to it.  The test reads the Maildir as root.

Each delivered file starts with the Return-Path: and Received: fields
Dovecot adds, then the message as Decorum sent it.
"""

import grp
import os
import pwd
import signal
import socket
import subprocess
import time

DOVECOT = "/usr/sbin/dovecot"


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


def _account():
    """(user, group, uid, gid) for Dovecot's helpers and the mail."""
    if os.geteuid() != 0:
        pw = pwd.getpwuid(os.geteuid())
        return pw.pw_name, grp.getgrgid(pw.pw_gid).gr_name, pw.pw_uid, \
            pw.pw_gid
    pw = pwd.getpwnam("nobody")
    g = grp.getgrgid(pw.pw_gid)
    return pw.pw_name, g.gr_name, pw.pw_uid, pw.pw_gid


class Dovecot:
    def __init__(self, root, port=None):
        self.root = str(root)
        self.port = port or _free_port()
        self.conf = os.path.join(self.root, "dovecot.conf")
        self.base_dir = os.path.join(self.root, "run")
        self.mail = os.path.join(self.root, "mail")
        self.socket = os.path.join(self.root, "lmtp.sock")
        self.logfile = os.path.join(self.root, "dovecot.log")
        self.pid = None
        user, group, uid, gid = _account()
        os.makedirs(self.mail, exist_ok=True)
        os.makedirs(os.path.join(self.root, "state"), exist_ok=True)
        if os.geteuid() == 0:
            os.chown(self.mail, uid, gid)
        text = """\
protocols = lmtp
base_dir = {run}
state_dir = {root}/state
listen = 127.0.0.1
ssl = no
log_path = {log}
default_internal_user = {user}
default_login_user = {user}
default_internal_group = {group}
mail_location = maildir:{mail}/%d/%n
passdb {{
  driver = static
  args = nopassword=y
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/%d/%n
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {port}
  }}
  unix_listener {sock} {{
    mode = 0666
  }}
}}
""".format(run=self.base_dir, root=self.root, log=self.logfile, user=user,
           group=group, mail=self.mail, uid=uid, gid=gid, port=self.port,
           sock=self.socket)
        with open(self.conf, "w") as f:
            f.write(text)

    @property
    def via_inet(self):
        return "lmtp:127.0.0.1:%d" % self.port

    @property
    def via_unix(self):
        return "lmtp:unix:%s" % self.socket

    def start(self, timeout=10.0):
        assert self.pid is None, "dovecot already running"
        # Not a pipe: the daemon keeps the descriptors it inherits, and
        # reading a pipe to its end would wait for it to exit.
        out = os.path.join(self.root, "dovecot.start.log")
        with open(out, "ab") as f:
            rc = subprocess.call([DOVECOT, "-c", self.conf],
                                 stdin=subprocess.DEVNULL, stdout=f,
                                 stderr=f, timeout=timeout)
        if rc != 0:
            with open(out, errors="replace") as f:
                raise AssertionError("dovecot -c %s exited with %d: %s"
                                     % (self.conf, rc, f.read()[-2000:]))
        pidfile = os.path.join(self.base_dir, "master.pid")
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(pidfile) as f:
                    self.pid = int(f.read().strip())
                if _alive(self.pid) and self._accepting():
                    return self
            except (FileNotFoundError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError("dovecot not ready after %.0fs; log:\n%s"
                                     % (timeout, self.log()[-2000:]))
            time.sleep(0.05)

    def _accepting(self):
        for fam, addr in ((socket.AF_INET, ("127.0.0.1", self.port)),
                          (socket.AF_UNIX, self.socket)):
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.settimeout(1)
            try:
                s.connect(addr)
            except OSError:
                return False
            finally:
                s.close()
        return True

    def stop(self, timeout=15.0):
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                raise AssertionError("dovecot %d still running %.0fs after "
                                     "SIGTERM" % (pid, timeout))
            time.sleep(0.05)
        # The listeners go with the master; make sure nothing answers
        # before the caller counts on it.
        deadline = time.monotonic() + timeout
        while self._any_listening():
            if time.monotonic() > deadline:
                raise AssertionError("dovecot's port %d still open after "
                                     "its master exited" % self.port)
            time.sleep(0.05)

    def _any_listening(self):
        s = socket.socket()
        s.settimeout(1)
        try:
            s.connect(("127.0.0.1", self.port))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def maildir(self, user, domain):
        return os.path.join(self.mail, domain.lower(), user.lower())

    def messages(self, user, domain):
        """Contents of the files in the user's Maildir new/, oldest
        first (by name: Dovecot's names start with the time)."""
        d = os.path.join(self.maildir(user, domain), "new")
        try:
            names = sorted(os.listdir(d))
        except FileNotFoundError:
            return []
        out = []
        for n in names:
            with open(os.path.join(d, n), "rb") as f:
                out.append(f.read())
        return out

    def wait_messages(self, user, domain, n=1, timeout=20.0, log=None):
        deadline = time.monotonic() + timeout
        while True:
            got = self.messages(user, domain)
            if len(got) >= n:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(
                    "%d message(s) for %s@%s in Dovecot's Maildir, want %d; "
                    "dovecot log:\n%s%s" % (
                        len(got), user, domain, n, self.log()[-2000:],
                        "\ndecorum log:\n" + log()[-3000:] if log else ""))
            time.sleep(0.05)
