"""A private redis-server for the greylist's Redis backend tests
(../shared/TEST-PEERS-SCANNERS.md, section 4).

    r = Redisd(workdir)          # started: 127.0.0.1, a free high port
    r.url()                      # "redis://127.0.0.1:PORT/0"
    r.cli("HGETALL", key)        # redis-cli against it, stdout as text
    r.stop(); r.start()          # same port and folder: "Redis back"
    r.pause(); r.resume()        # SIGSTOP / SIGCONT: a Redis that hangs

Nothing is saved (`--save "" --appendonly no`), it stays in the
foreground (`--daemonize no`) so the PID to stop is the one started
here, and it is ready when it answers PING.  Each instance has its own
folder under the test's workdir, with its log.
"""

import os
import signal
import socket
import subprocess
import time

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_CLI = "/usr/bin/redis-cli"


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Redisd:
    def __init__(self, workdir, name="redis", port=None, binds=("127.0.0.1",),
                 password=None, start=True):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.binds = binds
        self.password = password
        self.proc = None
        if start:
            self.start()

    def url(self, db=0, host="127.0.0.1", password=None):
        auth = "" if password is None else ":%s@" % password
        return "redis://%s%s:%d/%d" % (auth, host, self.port, db)

    def start(self, timeout=10):
        assert self.proc is None, "already running"
        args = [REDIS_SERVER, "--port", str(self.port),
                "--bind", " ".join(self.binds), "--save", "",
                "--appendonly", "no", "--daemonize", "no",
                "--dir", self.dir, "--logfile",
                os.path.join(self.dir, "redis.log")]
        if self.password is not None:
            args += ["--requirepass", self.password]
        with open(os.path.join(self.dir, "stdout"), "ab") as out:
            self.proc = subprocess.Popen(args, stdout=out,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited: %s" % self.log())
            r = self._cli("PING")
            if r.returncode == 0 and r.stdout.strip() == "PONG":
                return
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server not ready: %s" % self.log())
            time.sleep(0.02)

    def _cli(self, *args, db=0):
        cmd = [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.port),
               "-n", str(db)]
        env = dict(os.environ)
        if self.password is not None:
            env["REDISCLI_AUTH"] = self.password
        return subprocess.run(cmd + list(args), capture_output=True,
                              text=True, timeout=10, env=env)

    def cli(self, *args, db=0):
        r = self._cli(*args, db=db)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r.stdout

    def keys(self, db=0):
        """Every key, by SCAN (redis-cli --scan)."""
        return sorted(self.cli("--scan", db=db).split())

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self):
        if self.proc is None:
            return
        os.kill(self.proc.pid, signal.SIGCONT)    # a paused one cannot exit
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def log(self):
        try:
            with open(os.path.join(self.dir, "redis.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""
