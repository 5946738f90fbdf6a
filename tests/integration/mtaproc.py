"""Run a real decorumd for one test: config, domain folder, process control.

An Mta owns a directory (config file, domains/, spool/, state/, mail/,
the daemon's stderr log) and one decorumd process group.  It knows the
contract of DESIGN.md and the issue: `decorumd -c FILE -f` in the
foreground, stderr log lines `... event=NAME key=value`, children named
decorum-smtpd / decorum-qmgr, SIGTERM -> exit 0, ready when every
listener accepts TCP connections.  Mail for U@D is in mail/D/U/new/.

Nothing here sleeps for long: every wait polls with a deadline.
"""

import crypt
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:",
                   "LeakSanitizer", "ERROR: ThreadSanitizer")

# logfmt: key=value, the value bare or "quoted" with backslash escapes.
LOGFMT_FIELD = re.compile(r'([A-Za-z_][A-Za-z0-9_.-]*)='
                          r'("(?:[^"\\]|\\.)*"|[^\s"]*)')

DOMAIN = "example.test"
HOSTNAME = "mx.example.test"

# User -> password (None: mailbox without login).
DEFAULT_USERS = {"demo": "demo-pw", "alice": "alice-pw", "bob": "bob-pw",
                 "admin": None}
DEFAULT_ALIASES = [
    ("team", ["alice", "bob"]),             # one alias, two users
    ("crew", ["team"]),                     # alias to an alias
    ("info", ["demo@example.test"]),        # fully qualified target
]


def sha512(pw):
    return crypt.crypt(pw, crypt.mksalt(crypt.METHOD_SHA512))


def wait_until(pred, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


def _proc_stats():
    """(pid, comm, [state, ppid, pgrp, ...]) of every process in /proc;
    one that exits while being read is left out."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        # comm may contain spaces and parens: split after the last ')'.
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        yield int(d), comm, stat[stat.rindex(")") + 2:].split()


def proc_children(pid):
    """All descendants of pid, read from /proc (pid, comm)."""
    parents = {}
    for child, comm, rest in _proc_stats():
        parents.setdefault(int(rest[1]), []).append((child, comm))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for child in parents.get(p, []):
            out.append(child)
            todo.append(child[0])
    return out


def proc_uid(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    raise AssertionError("no Uid in /proc/%d/status" % pid)


def make_cert(directory, name, cn, days=2):
    """A CA-less self-signed P-256 certificate for cn (CN and SAN), made
    with the openssl CLI as the issue's contract says.  Returns
    (cert_path, key_path) = DIR/NAME.pem, DIR/NAME.key."""
    cert = os.path.join(directory, name + ".pem")
    key = os.path.join(directory, name + ".key")
    r = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec",
         "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-days", str(days), "-subj", "/CN=" + cn,
         "-addext", "subjectAltName=DNS:" + cn,
         "-keyout", key, "-out", cert],
        capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, "openssl req failed: %s" % r.stderr
    return cert, key


def cert_der(cert_path):
    """The DER bytes of the first certificate in a PEM file, to compare
    with SSLSocket.getpeercert(binary_form=True)."""
    with open(cert_path) as f:
        pem = f.read()
    end = "-----END CERTIFICATE-----"
    return ssl.PEM_cert_to_DER_cert(pem[:pem.index(end) + len(end)] + "\n")


# The four TLS listeners of issue 3, by the names the tests use.
TLS_LISTENERS = (("mx_starttls", "mx", "starttls"),
                 ("mx_implicit", "mx", "implicit"),
                 ("sub_starttls", "submission", "starttls"),
                 ("sub_implicit", "submission", "implicit"))


class Mta:
    def __init__(self, build, root, dns, relay_networks=(), ipv6=False,
                 users=None, aliases=None, extra_conf="", user=None,
                 tls=None, auth=None, submission=None, senders=None,
                 dns_options=None, **limits):
        """tls: None, or a dict cert=, key=, sni=[(cert, key), ...]:
        writes the tls group and adds the four listeners of
        TLS_LISTENERS (ports in self.ports) next to the plaintext one.
        auth / submission: dicts written as those groups (values:
        int, bool or str).  senders: {local: [addr, ...]} written to
        domains/example.test/senders.  dns_options: more keys of the
        dns group (client_timeout, delivery_timeout)."""
        self.build = build
        self.root = str(root)
        self.dns = dns
        self.decorumd = os.path.join(build, "decorumd")
        self.decorum = os.path.join(build, "decorum")
        self.conf = os.path.join(self.root, "decorum.conf")
        self.logfile = os.path.join(self.root, "decorumd.log")
        self.spool = os.path.join(self.root, "spool")
        self.state = os.path.join(self.root, "state")
        self.domains = os.path.join(self.root, "domains")
        self.mailboxes = os.path.join(self.root, "mail")
        taken = set()
        self.port = _free_port(socket.AF_INET, "127.0.0.1", taken)
        self.port6 = _free_port(socket.AF_INET6, "::1") if ipv6 else None
        self.tls = tls
        self.ports = {}
        if tls is not None:
            for name, _, _ in TLS_LISTENERS:
                self.ports[name] = _free_port(socket.AF_INET, "127.0.0.1",
                                              taken)
        self.groups = {"auth": auth, "submission": submission}
        self.dns_options = dns_options or {}
        self.proc = None
        self.exits = []         # exit codes of stopped daemons
        self.limits = dict(max_message_size=100000, max_recipients=5,
                           max_errors=5, max_connections=50,
                           max_connections_per_ip=10, timeout_command=3,
                           timeout_data=3, retry_min=1, retry_max=2,
                           lifetime=60, delay_warning=None)
        # delay_warning (queue group) is written only when given.
        self.limits.update(limits)
        for d in (self.spool, self.state, self.domains, self.mailboxes):
            os.makedirs(d, exist_ok=True)
        self.write_config(relay_networks, extra_conf, user)
        self.write_domain(DOMAIN, DEFAULT_USERS if users is None else users,
                          DEFAULT_ALIASES if aliases is None else aliases)
        if senders is not None:
            self.write_senders(senders)

    # -- files -----------------------------------------------------------
    def write_config(self, relay_networks=(), extra_conf="", user=None):
        lim = self.limits
        listen = ['  { address = "127.0.0.1:%d"; role = "mx"; tls = "none"; }'
                  % self.port]
        if self.port6:
            listen.append('  { address = "[::1]:%d"; role = "mx"; '
                          'tls = "none"; }' % self.port6)
        for name, role, mode in TLS_LISTENERS:
            if name in self.ports:
                listen.append('  { address = "127.0.0.1:%d"; role = "%s"; '
                              'tls = "%s"; }'
                              % (self.ports[name], role, mode))
        text = """\
hostname = "{host}";
spool = "{spool}";
state = "{state}";
domains = "{domains}";
mailboxes = "{mail}";
postmaster = "admin@{dom}";
relay_networks = ( {relay} );
listen = (
{listen}
);
dns = {{ nameserver = "{ns}";{dns_extra} }};
max_message_size = {max_message_size};
max_recipients = {max_recipients};
max_errors = {max_errors};
max_connections = {max_connections};
max_connections_per_ip = {max_connections_per_ip};
timeouts = {{ command = {timeout_command}; data = {timeout_data}; }};
queue = {{ retry_min = {retry_min}; retry_max = {retry_max}; lifetime = {lifetime};{warn} }};
""".format(host=HOSTNAME, spool=self.spool, state=self.state,
           domains=self.domains, mail=self.mailboxes, dom=DOMAIN,
           relay=", ".join('"%s"' % n for n in relay_networks),
           listen=",\n".join(listen), ns=self.dns.nameserver,
           dns_extra="".join(" %s = %s;" % (k, _conf_value(v))
                             for k, v in self.dns_options.items()),
           warn="" if lim["delay_warning"] is None
           else " delay_warning = %d;" % lim["delay_warning"], **lim)
        if user:
            text += 'user = "%s";\n' % user
        text += self._tls_conf()
        for group, values in self.groups.items():
            if values:
                text += "%s = { %s };\n" % (group, " ".join(
                    "%s = %s;" % (k, _conf_value(v))
                    for k, v in values.items()))
        text += extra_conf
        with open(self.conf, "w") as f:
            f.write(text)

    def _tls_conf(self):
        if self.tls is None:
            return ""
        sni = ", ".join('{ cert = "%s"; key = "%s"; }' % pair
                        for pair in self.tls.get("sni", ()))
        return ('tls = {{ cert = "{c}"; key = "{k}"; sni = ( {s} ); }};\n'
                .format(c=self.tls["cert"], k=self.tls["key"], s=sni))

    def write_senders(self, senders, domain=DOMAIN):
        path = os.path.join(self.domain_dir(domain), "senders")
        with open(path, "w", encoding="utf-8") as f:
            for local, addrs in senders.items():
                f.write("%s: %s\n" % (local, ", ".join(addrs)))
        age_files(path, self.domain_dir(domain))

    def domain_dir(self, domain=DOMAIN):
        return os.path.join(self.domains, domain)

    def write_domain(self, domain, users, aliases):
        d = self.domain_dir(domain)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "users"), "w", encoding="utf-8") as f:
            for u, pw in users.items():
                f.write("%s:%s\n" % (u, sha512(pw) if pw else ""))
        with open(os.path.join(d, "aliases"), "w", encoding="utf-8") as f:
            for name, targets in aliases:
                f.write("%s: %s\n" % (name, ", ".join(targets)))
        age_files(os.path.join(d, "users"), os.path.join(d, "aliases"), d)

    # -- process ---------------------------------------------------------
    def start(self, timeout=10.0):
        assert self.proc is None, "daemon already running"
        assert os.access(self.decorumd, os.X_OK), \
            "no daemon binary at %s (set DECORUM_BUILD)" % self.decorumd
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        log = open(self.logfile, "ab")
        try:
            # Own session = own process group, so kill9() reaches every
            # child the master forked even if it is stopped.
            self.proc = subprocess.Popen(
                [self.decorumd, "-c", self.conf, "-f"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True, env=env)
        finally:
            log.close()
        self.wait_ready(timeout)
        return self

    def listeners(self):
        out = [("127.0.0.1", self.port)]
        if self.port6:
            out.append(("::1", self.port6))
        out += [("127.0.0.1", p) for p in self.ports.values()]
        return out

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        pending = self.listeners()
        while pending:
            rc = self.proc.poll()
            if rc is not None:
                self.proc = None
                self.exits.append(rc)
                raise AssertionError("decorumd exited with %d before ready; "
                                     "log:\n%s" % (rc, self.log()[-3000:]))
            host, port = pending[0]
            fam = socket.AF_INET6 if ":" in host else socket.AF_INET
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.settimeout(0.5)
            try:
                s.connect((host, port))
                pending.pop(0)
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("decorumd not accepting on %s:%d "
                                         "after %.0fs; log:\n%s"
                                         % (host, port, timeout,
                                            self.log()[-3000:]))
                time.sleep(0.05)
            finally:
                s.close()
        rc = self.proc.poll()
        if rc is not None:
            self.proc = None
            self.exits.append(rc)
            raise AssertionError("decorumd exited with %d right after "
                                 "ready; log:\n%s" % (rc, self.log()[-3000:]))

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def children(self):
        return proc_children(self.proc.pid) if self.proc else []

    def child(self, comm, timeout=5.0):
        """The pid of the first descendant whose comm is exactly comm."""
        def find():
            for pid, c in self.children():
                if c == comm:
                    return pid
            return None
        return wait_until(find, timeout, what="a %s process (have %r)"
                          % (comm, self.children()))

    def stop(self, timeout=10.0):
        """SIGTERM and wait; returns the exit code (the contract says 0)."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        # A stopped child would never see SIGTERM: wake everything first.
        try:
            os.killpg(proc.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._killgroup(proc.pid)
            proc.wait()
            rc = "hung after SIGTERM"
        # Children must not outlive the master.
        try:
            wait_until(lambda: not _group_alive(proc.pid), 5,
                       what="children of decorumd to exit")
        except AssertionError:
            self._killgroup(proc.pid)
            rc = "children survived SIGTERM"
        self.exits.append(rc)
        return rc

    def kill9(self):
        """Crash simulation: SIGKILL master and every child at once."""
        proc, self.proc = self.proc, None
        self._killgroup(proc.pid, extra=proc_children(proc.pid))
        proc.wait()
        # Children die a moment after the master (ASan unmaps a lot); a
        # restart before they are gone would find their listening sockets.
        wait_until(lambda: not _group_alive(proc.pid), 10,
                   what="killed children to be gone")
        self.exits.append("killed")

    @staticmethod
    def _killgroup(pgid, extra=()):
        for pid, _ in extra:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def restart(self, timeout=10.0):
        if self.proc is not None:
            self.stop()
        return self.start(timeout)

    # -- observation -------------------------------------------------------
    def log(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_events(self, event=None):
        """Parsed log lines: dicts of the key=value fields after 'event='."""
        out = []
        for line in self.log().splitlines():
            i = line.find("event=")
            if i < 0:
                continue
            fields = {}
            for mt in LOGFMT_FIELD.finditer(line, i):
                k, v = mt.group(1), mt.group(2)
                if v.startswith('"') and v.endswith('"') and len(v) > 1:
                    v = v[1:-1]
                fields.setdefault(k, v)
            fields["_line"] = line
            if event is None or fields.get("event") == event:
                out.append(fields)
        return out

    def events(self, event, **fields):
        """Log events named event whose fields equal every given one."""
        return [e for e in self.log_events(event)
                if all(e.get(k) == v for k, v in fields.items())]

    def wait_event(self, event, timeout=10.0, n=1, **fields):
        """Waits for n events as events() finds them; returns them all."""
        def found():
            got = self.events(event, **fields)
            return got if len(got) >= n else None
        try:
            return wait_until(found, timeout, what="%d event=%s %r"
                              % (n, event, fields))
        except AssertionError as e:
            raise AssertionError("%s; log:\n%s" % (e, self.log()[-3000:]))

    def wait_log(self, pred_or_regex, timeout=10.0):
        if isinstance(pred_or_regex, str):
            rx = re.compile(pred_or_regex)
            return wait_until(lambda: rx.search(self.log()), timeout,
                              what="log matching %r; log:\n%s"
                              % (pred_or_regex, self.log()[-2000:]))
        return wait_until(pred_or_regex, timeout, what="log condition")

    def maildir(self, user, domain=DOMAIN):
        return os.path.join(self.mailboxes, domain, user)

    def block_mailbox(self, user, domain=DOMAIN):
        """A regular file where the user's Maildir should be: every
        delivery attempt fails with ENOTDIR, which must be a temporary
        failure (the message is deferred).  unblock_mailbox() undoes it."""
        os.makedirs(os.path.dirname(self.maildir(user, domain)),
                    exist_ok=True)
        with open(self.maildir(user, domain), "w") as f:
            f.write("not a maildir\n")

    def unblock_mailbox(self, user, domain=DOMAIN):
        os.unlink(self.maildir(user, domain))

    def messages(self, user, domain=DOMAIN):
        """Sorted file names in the user's Maildir new/."""
        d = os.path.join(self.maildir(user, domain), "new")
        try:
            return sorted(os.listdir(d))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def read_messages(self, user, domain=DOMAIN):
        d = os.path.join(self.maildir(user, domain), "new")
        out = []
        for name in self.messages(user, domain):
            with open(os.path.join(d, name), "rb") as f:
                out.append(f.read())
        return out

    def wait_for_delivery(self, user, n=1, timeout=10.0, domain=DOMAIN):
        """Wait until the Maildir has at least n messages; return their
        contents.  Fails on timeout with the log tail."""
        try:
            wait_until(lambda: len(self.messages(user, domain)) >= n,
                       timeout, what="%d message(s) for %s@%s"
                       % (n, user, domain))
        except AssertionError as e:
            raise AssertionError("%s; log:\n%s" % (e, self.log()[-3000:]))
        return self.read_messages(user, domain)

    def spool_files(self):
        """Regular files in the spool (mail), not the qmgr's socket."""
        out = []
        for dirpath, _, files in os.walk(self.spool):
            out += [os.path.join(dirpath, f) for f in files
                    if os.path.isfile(os.path.join(dirpath, f))]
        return out

    def sanitizer_reports(self):
        text = self.log()
        return [m for m in SANITIZER_MARKS if m in text]

    # -- the CLI -----------------------------------------------------------
    def cli(self, *args, input=None, timeout=20):
        assert os.access(self.decorum, os.X_OK), \
            "no CLI binary at %s (set DECORUM_BUILD)" % self.decorum
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        return subprocess.run([self.decorum, "-c", self.conf] + list(args),
                              input=input, capture_output=True, text=True,
                              timeout=timeout, env=env)

    def cli_for_anyone(self):
        """The CLI binary where any user may run it: a copy in this
        instance's 0755 folder.  The build folder may sit under a path
        other users cannot traverse (a clone in /root), and the tests
        that run the CLI as "nobody" test the CLI, not the clone's place."""
        path = os.path.join(self.root, "decorum-cli")
        if not os.path.exists(path):
            shutil.copy(self.decorum, path)
            os.chmod(path, 0o755)
        return path

    def flush(self):
        """`decorum -c CONF queue flush`: every queued message due now."""
        r = self.cli("queue", "flush")
        assert r.returncode == 0, ("queue flush", r.returncode, r.stdout,
                                   r.stderr)
        return r


def age_files(*paths, seconds=2):
    """Date paths back: the daemon reads a table only once it has been
    still for a second (docs/configuration.md, domain folders), and
    files the fixture wrote whole need not wait for that."""
    t = time.time() - seconds
    for p in paths:
        os.utime(p, (t, t))


def _conf_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return '"%s"' % v


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # Zombies still count for killpg; check /proc for live members.
    for _, _, rest in _proc_stats():
        if int(rest[2]) == pgid and rest[0] != "Z":
            return True
    return False


def _free_port(family, host, taken=None):
    """A port the kernel says is free, and not in taken (the kernel may
    hand out a port it just gave us again, once our probe socket is
    closed: one daemon's listeners need distinct ones)."""
    while True:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if taken is None:
            return port
        if port not in taken:
            taken.add(port)
            return port
