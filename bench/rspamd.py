"""A private rspamd for the scan benchmark (bench/scan.py): one normal
worker (only answering /ping) and the milter proxy scanning by itself,
offline, on two loopback ports, in a folder of its own.  The recipe of
/work/shared/TEST-PEERS-SCANNERS.md section 1.

Trusts the stock configuration under /etc/rspamd (package rspamd 3.4) and
the templates in bench/templates/; trusts nothing about the process:
readiness is rspamd's own /ping answered within a timeout, and stop() ends
the PID it spawned and that PID's descendants, politely, then by SIGKILL.
"""

import http.client
import os
import subprocess
import time

import measure
import mta

# Compiled hyperscan databases, kept between runs and benchmarks on this
# machine: compiling them takes 12-20 s, loading them under a second.
HS_CACHE = "/var/tmp/decorum-rspamd-hs"

# The stock modules that would reach the network (HTTP maps, DNS lists,
# fuzzy storage on rspamd.com) or want Redis: off, one file each.  The
# client's rDNS is the only lookup left, and it fails at once (see
# rspamd-options.inc.in).
OFFLINE = ("fuzzy_check", "rbl", "surbl", "whitelist", "phishing",
           "multimap", "mime_types", "mid", "rspamd_update", "spf", "dkim",
           "dmarc", "arc", "asn", "emails", "hfilter", "mx_check", "dcc",
           "bimi", "reputation", "neural", "greylist", "ratelimit",
           "replies", "url_redirector", "history_redis")

# The line rspamd logs for every message it has scanned, whatever the
# verdict: "rspamd_task_write_log: id: <...>, ... (default: F (no
# action): [0.50/15.00] ...".
SCANNED = "rspamd_task_write_log: "


class Rspamd:
    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "rspamd")
        self.etc = os.path.join(self.dir, "etc")
        self.log = os.path.join(self.dir, "log", "rspamd.log")
        self.stdout = os.path.join(self.dir, "log", "stdout")
        self.normal_port = mta.free_port()
        self.milter_port = mta.free_port()
        self.proc = None

    def start(self, timeout=120):
        """Start rspamd; return once /ping answers.  timeout covers a cold
        hyperscan cache on a busy machine (20 s measured)."""
        for sub in ("etc/local.d", "db", "run", "log"):
            os.makedirs(os.path.join(self.dir, sub), 0o755, exist_ok=True)
        os.makedirs(HS_CACHE, 0o755, exist_ok=True)
        mta.fill(["rspamd.conf.in"], os.path.join(self.etc, "rspamd.conf"),
                 {})
        local = os.path.join(self.etc, "local.d")
        mta.fill(["rspamd-options.inc.in"],
                 os.path.join(local, "options.inc"), {})
        mta.fill(["rspamd-logging.inc.in"],
                 os.path.join(local, "logging.inc"), {})
        for module in OFFLINE:
            with open(os.path.join(local, f"{module}.conf"), "w") as f:
                f.write("enabled = false;\n")
        argv = ["rspamd", "-f", "-c", os.path.join(self.etc, "rspamd.conf")]
        if os.geteuid() == 0:
            argv.append("-i")   # as root, rspamd runs workers only with -i
        argv += [f"--var={k}={v}" for k, v in (
            ("LOCAL_CONFDIR", self.etc),
            ("DBDIR", os.path.join(self.dir, "db")),
            ("RUNDIR", os.path.join(self.dir, "run")),
            ("LOGDIR", os.path.dirname(self.log)),
            ("HS_CACHE_DIR", HS_CACHE),
            ("NORMAL_PORT", self.normal_port),
            ("MILTER_PORT", self.milter_port))]
        with open(self.stdout, "wb") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=out,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._pong() and mta.port_accepts(self.milter_port):
                return
            if self.proc.poll() is not None:
                raise mta.BenchError(
                    f"rspamd exited with status {self.proc.returncode}; "
                    f"its output ends:\n{mta.tail(self.stdout)}"
                    f"{mta.tail(self.log)}")
            time.sleep(0.1)
        raise mta.BenchError(f"rspamd did not answer /ping within "
                             f"{timeout}s; its log ends:\n"
                             f"{mta.tail(self.log)}")

    def _pong(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.normal_port,
                                          timeout=1)
        try:
            conn.request("GET", "/ping")
            return b"pong" in conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def scans(self):
        """How many messages rspamd has logged as scanned so far."""
        n = 0
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if SCANNED in line:
                        n += 1
        except OSError:
            pass
        return n

    def cpu_seconds(self):
        return measure.cpu_seconds(self.proc.pid) if self.proc else 0.0

    def stop(self):
        mta.stop_process(self.proc)
        self.proc = None
