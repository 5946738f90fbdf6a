"""Private content scanners on loopback for any test
(../shared/TEST-PEERS-SCANNERS.md, sections 1 and 2), and the messages
that make them act.

    from scanpeers import rspamd, clamd, clamav_milter   # the fixtures

- `rspamd` (session): one rspamd 3.4, offline (every module that would
  reach the network is off, DNS goes to 127.0.0.1:1), test patterns on,
  a normal worker (rspamd.address: "inet:127.0.0.1:PORT", /checkv2) and
  a milter proxy worker that scans itself (rspamd.milter_address).  Its
  hyperscan cache lives in HS_CACHE_DIR, outside the test's folder, so
  only the first start on a machine compiles (~20 s); later ones take
  under a second.
- `clamd` (per test): clamd 1.4.6 with a two-signature database (EICAR
  as a body pattern, Test.EICAR.NDB, and as a whole-file MD5,
  Test.EICAR.HDB; clamd appends ".UNOFFICIAL"), on a TCP port.
  Clamd(workdir, stream_max="1M") makes another with a smaller
  StreamMaxLength.
- `clamav_milter` (per test): clamav-milter pointing at that clamd.

Every daemon runs in the foreground, started here, and is stopped by
the PID started (SIGTERM, then SIGKILL after 15 s).  Addresses are
"inet:127.0.0.1:PORT" strings, as the scan group writes them.

Message builders return the message as spooled (CRLF line ends): gtube()
(rspamd: reject), gtube_add_header() (YJS: add header),
gtube_rewrite_subject() (ZJS: rewrite subject), ham(),
eicar_attachment() (base64 MIME part), eicar_inline() (the 68 octets in
a text body), and message(body, subject=...) for anything else.
"""
import base64
import hashlib
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from dnsstub import free_port

RSPAMD = "/usr/bin/rspamd"
CLAMD = "/usr/sbin/clamd"
CLAMAV_MILTER = "/usr/sbin/clamav-milter"
# Per machine, not per test: the TLD hyperscan compile is what makes a
# cold start slow (TEST-PEERS-SCANNERS.md, "Startup").
HS_CACHE_DIR = "/var/tmp/decorum-rspamd-hs"
RSPAMD_READY_TIMEOUT = 90
CLAMD_READY_TIMEOUT = 30

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-"
         b"TEST-FILE!$H+H*")
assert len(EICAR) == 68

# Modules that would fetch maps or query DNS lists and fuzzy storage on
# the internet, and the Redis-only ones (section 1, "Files").
RSPAMD_MODULES_OFF = (
    "fuzzy_check rbl surbl whitelist phishing multimap mime_types mid "
    "rspamd_update spf dkim dmarc arc asn emails hfilter mx_check dcc "
    "bimi reputation neural greylist ratelimit replies url_redirector "
    "history_redis").split()

RSPAMD_CONF = """\
# Private rspamd test instance (scanpeers.py).  Variables come from
# --var=NAME=VALUE: LOCAL_CONFDIR, DBDIR, RUNDIR, LOGDIR, HS_CACHE_DIR,
# NORMAL_PORT, MILTER_PORT.  No controller, no fuzzy worker.
.include "$CONFDIR/common.conf"

options {
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
    .include(try=true; priority=1,duplicate=merge) "$LOCAL_CONFDIR/local.d/options.inc"
}

logging {
    type = "file";
    filename = "$LOGDIR/rspamd.log";
    .include "$CONFDIR/logging.inc"
    .include(try=true; priority=1,duplicate=merge) "$LOCAL_CONFDIR/local.d/logging.inc"
}

worker "normal" {
    bind_socket = "127.0.0.1:$NORMAL_PORT";
    .include "$CONFDIR/worker-normal.inc"
    count = 1;
}

worker "rspamd_proxy" {
    bind_socket = "127.0.0.1:$MILTER_PORT";
    milter = yes;
    timeout = 120s;
    # self_scan only works inside an upstream block (section 1, pitfalls)
    upstream "local" {
        default = yes;
        self_scan = yes;
    }
    count = 1;
    discard_on_reject = false;
    quarantine_on_reject = false;
    reject_message = "Spam message rejected";
}
"""

RSPAMD_OPTIONS = """\
# DNS only to 127.0.0.1:1, where nothing listens: lookups fail at once.
dns {
    nameserver = ["127.0.0.1:1"];
    timeout = 0.1s;
    retransmits = 1;
}
# The YJS/ZJS/AJS GTUBE variants too (add header, rewrite subject, none).
enable_test_patterns = true;
hs_cache_dir = "$HS_CACHE_DIR/";
"""

CLAMD_CONF = """\
# Private clamd for tests (scanpeers.py).
Foreground yes
DatabaseDirectory {dir}/db
TCPSocket {port}
TCPAddr 127.0.0.1
PidFile {dir}/clamd.pid
LogFile {dir}/clamd.log
LogTime yes
TemporaryDirectory {dir}/tmp
SelfCheck 0
ConcurrentDatabaseReload no
StreamMaxLength {stream_max}
MaxThreads 4
"""

CLAMAV_MILTER_CONF = """\
# Private clamav-milter for tests (scanpeers.py).
Foreground yes
MilterSocket inet:{mport}@127.0.0.1
ClamdSocket tcp:127.0.0.1:{port}
PidFile {dir}/clamav-milter.pid
TemporaryDirectory {dir}/tmp
LogFile {dir}/clamav-milter.log
LogTime yes
LogInfected Basic
LogClean Basic
OnInfected Reject
OnFail Defer
AddHeader Replace
RejectMsg "Virus %v found"
"""


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _tail(path, n=3000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


class _Daemon:
    """A foreground daemon started here, stopped by its PID."""

    proc = None
    stdout = None

    def _spawn(self, args):
        # The sanitizer runtime's options are ours, not the peers'.
        env = dict(os.environ)
        env.pop("ASAN_OPTIONS", None)
        env.pop("UBSAN_OPTIONS", None)
        with open(self.stdout, "ab") as out:
            self.proc = subprocess.Popen(args, stdout=out,
                                         stderr=subprocess.STDOUT, env=env)

    def _wait_ready(self, ready, timeout, what):
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited (%d): %s" % (
                    what, self.proc.returncode, self.log()))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("%s not ready after %d s: %s" % (
                    what, timeout, self.log()))
            time.sleep(0.05)

    def stop(self, timeout=15):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=timeout)
        self.proc = None

    def log(self):
        return _tail(self.stdout)


class Rspamd(_Daemon):
    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "rspamd")
        etc = os.path.join(self.dir, "etc")
        os.makedirs(os.path.join(etc, "local.d"), exist_ok=True)
        for sub in ("db", "run", "log"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        os.makedirs(HS_CACHE_DIR, exist_ok=True)
        self.conf = os.path.join(etc, "rspamd.conf")
        _write(self.conf, RSPAMD_CONF)
        _write(os.path.join(etc, "local.d", "options.inc"), RSPAMD_OPTIONS)
        _write(os.path.join(etc, "local.d", "logging.inc"),
               'level = "info";\n')
        for m in RSPAMD_MODULES_OFF:
            _write(os.path.join(etc, "local.d", m + ".conf"),
                   "enabled = false;\n")
        self.port = free_port()
        self.milter_port = free_port()
        self.address = "inet:127.0.0.1:%d" % self.port
        self.milter_address = "inet:127.0.0.1:%d" % self.milter_port
        self.stdout = os.path.join(self.dir, "log", "stdout")

    def start(self):
        d = self.dir
        args = [RSPAMD, "-f"]
        if os.getuid() == 0:
            args.append("-i")          # root runs workers only with -i
        args += ["-c", self.conf,
                 "--var=LOCAL_CONFDIR=" + os.path.join(d, "etc"),
                 "--var=DBDIR=" + os.path.join(d, "db"),
                 "--var=RUNDIR=" + os.path.join(d, "run"),
                 "--var=LOGDIR=" + os.path.join(d, "log"),
                 "--var=HS_CACHE_DIR=" + HS_CACHE_DIR,
                 "--var=NORMAL_PORT=%d" % self.port,
                 "--var=MILTER_PORT=%d" % self.milter_port]
        self._spawn(args)
        self._wait_ready(self._pong, RSPAMD_READY_TIMEOUT, "rspamd")
        return self

    def _pong(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/ping"
                                        % self.port, timeout=1) as r:
                return b"pong" in r.read()
        except OSError:
            return False

    def check(self, msg, **headers):
        """rspamd's own /checkv2 answer to msg (bytes), as text."""
        req = urllib.request.Request(
            "http://127.0.0.1:%d/checkv2" % self.port, data=msg,
            headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read().decode()

    def log(self):
        return _tail(os.path.join(self.dir, "log", "rspamd.log")) + \
            _tail(self.stdout)


def make_clamd_db(dbdir):
    """The two EICAR signatures (section 2, "Signature DB")."""
    os.makedirs(dbdir, exist_ok=True)
    _write(os.path.join(dbdir, "test.ndb"),
           "Test.EICAR.NDB:0:*:%s\n" % EICAR.hex())
    _write(os.path.join(dbdir, "test.hdb"),
           "%s:68:Test.EICAR.HDB\n" % hashlib.md5(EICAR).hexdigest())


class Clamd(_Daemon):
    def __init__(self, workdir, name="clamd", stream_max="25M"):
        self.dir = os.path.join(workdir, name)
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        make_clamd_db(os.path.join(self.dir, "db"))
        self.port = free_port()
        self.address = "inet:127.0.0.1:%d" % self.port
        self.conf = os.path.join(self.dir, "clamd.conf")
        _write(self.conf, CLAMD_CONF.format(dir=self.dir, port=self.port,
                                            stream_max=stream_max))
        self.stdout = os.path.join(self.dir, "clamd.stdout")

    def start(self):
        self._spawn([CLAMD, "-c", self.conf])
        self._wait_ready(lambda: self.command(b"zPING\0") == b"PONG",
                         CLAMD_READY_TIMEOUT, "clamd")
        return self

    def command(self, cmd):
        """One z-command's NUL-terminated answer, or None."""
        try:
            with socket.create_connection(("127.0.0.1", self.port),
                                          timeout=5) as s:
                s.sendall(cmd)
                data = b""
                while not data.endswith(b"\0"):
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                return data.rstrip(b"\0")
        except OSError:
            return None

    def log(self):
        return _tail(os.path.join(self.dir, "clamd.log"))


class ClamavMilter(_Daemon):
    def __init__(self, workdir, clamd, name="clamav-milter"):
        self.dir = os.path.join(workdir, name)
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        self.port = free_port()
        self.address = "inet:127.0.0.1:%d" % self.port
        self.conf = os.path.join(self.dir, "clamav-milter.conf")
        _write(self.conf, CLAMAV_MILTER_CONF.format(
            dir=self.dir, mport=self.port, port=clamd.port))
        self.stdout = os.path.join(self.dir, "milter.stdout")

    def start(self):
        self._spawn([CLAMAV_MILTER, "-c", self.conf])
        self._wait_ready(self._listening, CLAMD_READY_TIMEOUT,
                         "clamav-milter")
        return self

    def _listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port),
                                     timeout=1).close()
            return True
        except OSError:
            return False

    def log(self):
        return _tail(os.path.join(self.dir, "clamav-milter.log"))


@pytest.fixture(scope="session")
def rspamd(tmp_path_factory):
    r = Rspamd(str(tmp_path_factory.mktemp("rspamd"))).start()
    yield r
    r.stop()


@pytest.fixture
def clamd(tmp_path):
    c = Clamd(str(tmp_path)).start()
    yield c
    c.stop()


@pytest.fixture
def clamav_milter(tmp_path, clamd):
    m = ClamavMilter(str(tmp_path), clamd).start()
    yield m
    m.stop()


# --- messages, as spooled (CRLF) ---------------------------------------

def message(body, subject="Lunch", extra_headers=(), sender="alice@example.org",
            rcpt="bob@example.net"):
    """A whole message: the usual headers, then body (str or bytes, its
    line ends made CRLF)."""
    if isinstance(body, str):
        body = body.encode()
    body = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    head = ["Received: from client.example.org (client.example.org "
            "[127.0.0.1]) by mx.example.test with ESMTP id 1ProbeQueueId",
            "From: Alice <%s>" % sender, "To: Bob <%s>" % rcpt,
            "Subject: " + subject,
            "Date: Wed, 02 Dec 2026 12:00:00 +0000",
            "Message-ID: <%d.%d@example.org>" % (os.getpid(),
                                                  time.monotonic_ns()),
            "MIME-Version: 1.0"]
    head += list(extra_headers)
    if not any(h.lower().startswith("content-type:") for h in head):
        head.append("Content-Type: text/plain; charset=us-ascii")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def gtube():
    return message("Hello,\n%s\n" % GTUBE, subject="Test spam")


def gtube_add_header():
    return message("Hello,\nY%s\n" % GTUBE[1:], subject="Test flag")


def gtube_rewrite_subject():
    return message("Hello,\nZ%s\n" % GTUBE[1:], subject="Test subject")


def ham():
    return message("Hi Bob, lunch tomorrow?\n")


def eicar_inline():
    return message(b"Look at this:\n" + EICAR + b"\n", subject="Inline")


def eicar_attachment():
    b64 = base64.encodebytes(EICAR).decode()
    body = ("--b1\n"
            "Content-Type: text/plain; charset=us-ascii\n\n"
            "See the attachment.\n"
            "--b1\n"
            "Content-Type: application/octet-stream; name=\"eicar.com\"\n"
            "Content-Disposition: attachment; filename=\"eicar.com\"\n"
            "Content-Transfer-Encoding: base64\n\n"
            + b64 +
            "--b1--\n")
    return message(body, subject="Attachment", extra_headers=(
        'Content-Type: multipart/mixed; boundary="b1"',))

