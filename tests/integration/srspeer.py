"""A private postsrsd 1.10 on loopback (TEST-PEERS-SCANNERS.md section 3),
for the SRS interop tests: started in the foreground by the test, its
clock pinned with libfaketime, stopped by its PID.

postsrsd speaks Postfix's tcp_table protocol: "get ADDRESS\\n" answered
by "200 RESULT\\n" or "500 REASON\\n"; addresses are %-encoded on the way
in (we encode whitespace and '%') and whitespace comes back as %20.
"""
import os
import socket
import subprocess
import time
import urllib.parse

from dnsstub import free_port

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
POSTSRSD = "/usr/sbin/postsrsd"


class Postsrsd:
    def __init__(self, directory, secrets, domain, when, raw_secret=None):
        """secrets: the lines of its secret file (first signs), or
        raw_secret the file's bytes; when: a Unix time its clock starts
        at."""
        os.makedirs(directory, exist_ok=True)
        self.secret = os.path.join(directory, "secret")
        if raw_secret is None:
            raw_secret = "".join(s + "\n" for s in secrets).encode()
        with open(self.secret, "wb") as f:
            f.write(raw_secret)
        self.fport, self.rport = free_port(), free_port()
        env = dict(os.environ, LD_PRELOAD=FAKETIME_LIB,
                   FAKETIME=time.strftime("@%Y-%m-%d %H:%M:%S",
                                          time.gmtime(when)), TZ="UTC")
        env.pop("ASAN_OPTIONS", None)
        self.out = open(os.path.join(directory, "stdout"), "w")
        self.proc = subprocess.Popen(
            [POSTSRSD, "-s", self.secret, "-d", domain, "-l", "127.0.0.1",
             "-4", "-f", str(self.fport), "-r", str(self.rport),
             "-p", os.path.join(directory, "postsrsd.pid")],
            stdout=self.out, stderr=subprocess.STDOUT, env=env)
        self._wait_listening()

    def _wait_listening(self, timeout=5.0):
        end = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, "postsrsd exited at start"
            try:
                for port in (self.fport, self.rport):
                    socket.create_connection(("127.0.0.1", port), 1).close()
                return
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.01)

    def _get(self, port, address):
        req = "get %s\n" % urllib.parse.quote(address, safe="".join(
            chr(c) for c in range(0x21, 0x7f) if chr(c) != "%"))
        with socket.create_connection(("127.0.0.1", port), 5) as s:
            s.sendall(req.encode())
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = s.recv(4096)
                assert chunk, "postsrsd closed without a reply"
                reply += chunk
        code, _, text = reply.decode().rstrip("\n").partition(" ")
        return int(code), urllib.parse.unquote(text)

    def forward(self, address):
        """(code, result): 200 and the SRS address, or 500 and why."""
        return self._get(self.fport, address)

    def reverse(self, address):
        return self._get(self.rport, address)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        self.out.close()
