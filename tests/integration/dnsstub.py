"""A tiny authoritative-looking DNS server on loopback for the tests.

The daemon's resolver is pointed at it (config `dns.nameserver =
"127.0.0.1@PORT"`), so every lookup it makes (PTR of the client, A/AAAA of
the HELO name, MX of a remote domain...) is answered from a per-test table
of records and nothing leaves the machine.  Names not in the table get
NXDOMAIN; a name that exists with other types gets NODATA (NOERROR, empty
answer), as a real server would (RFC 2308 2.1, 2.2).  Names put in
`servfail` get SERVFAIL, to test the "DNS temporary error -> 4xx, never
5xx" rule of the BCP.  Names given to `late()` are answered only from
some seconds after their first query on, and names put in `drop` are
never answered: the asynchronous lookups of the daemon must survive the
late answer and the answer that never comes (`answered()` tells when a
late one went out).  UDP and TCP listen on the same port, because
resolvers retry over TCP on truncation (RFC 7766).
"""

import ipaddress
import socket
import threading
import time

from dnslib import QTYPE, RCODE, RR, A, AAAA, MX, PTR, TXT, CNAME, DNSError
from dnslib.server import BaseResolver, DNSLogger, DNSServer

_RDATA = {
    "A": A,
    "AAAA": AAAA,
    "PTR": PTR,
    "CNAME": CNAME,
    "TXT": TXT,
}


def _norm(name):
    name = str(name).lower()
    return name if name.endswith(".") else name + "."


def reverse_name(ip):
    """The PTR owner name of an IPv4 or IPv6 address (RFC 1035 3.5, RFC 3596 2.5)."""
    return ipaddress.ip_address(ip).reverse_pointer


class Zone(BaseResolver):
    """Records keyed by (owner name, type); thread-safe enough for tests."""

    def __init__(self):
        self.records = {}
        self.servfail = set()
        self.lateness = {}      # (name, type or None) -> seconds
        self.first_query = {}   # name -> monotonic time
        self.drops = set()
        self.queries = []
        self.sent = []          # (name, type, monotonic time) of answers
        self.defaults = set()   # (name, type) a test's own records replace
        self.lock = threading.Lock()

    def add(self, name, rtype, value, ttl=60):
        rtype = rtype.upper()
        if rtype == "MX":
            pref, host = value if isinstance(value, tuple) else (10, value)
            rdata = MX(_norm(host), pref)
        else:
            cls = _RDATA[rtype]
            if rtype in ("PTR", "CNAME"):
                value = _norm(value)
            rdata = cls(value)
        key = (_norm(name), rtype)
        with self.lock:
            if key in self.defaults:
                self.defaults.discard(key)
                self.records.pop(key, None)
            self.records.setdefault(key, []).append((rdata, ttl))

    def add_default(self, name, rtype, value, ttl=60):
        """A record that the first add() of the same name and type
        replaces: the fixture's everyday answers, which a test that
        writes its own records does not want mixed into them.  Several
        defaults of one name and type add up."""
        key = (_norm(name), rtype.upper())
        with self.lock:
            self.defaults.discard(key)   # so add() appends to them
        self.add(name, rtype, value, ttl)
        with self.lock:
            self.defaults.add(key)

    def remove(self, name, rtype):
        """No more records of this type for name (the name still
        exists if it has others: NODATA, else NXDOMAIN)."""
        key = (_norm(name), rtype.upper())
        with self.lock:
            self.records.pop(key, None)
            self.defaults.discard(key)

    def add_ptr(self, ip, name):
        self.add(reverse_name(ip), "PTR", name)

    def remove_ptr(self, ip):
        self.remove(reverse_name(ip), "PTR")

    def fail(self, name):
        """Answer SERVFAIL for every query about name."""
        self.servfail.add(_norm(name))

    def late(self, name, seconds, rtype=None):
        """Leave queries about name (of rtype only, if given) unanswered until seconds after the
        first one, then answer at once: a server that comes back.

        (A query held back and answered late would not do: a resolver
        resends after its retransmission timeout, under a new query id,
        and drops answers to the ids it gave up on, so the answer it
        takes is always to a query sent after the server came back.)"""
        self.lateness[(_norm(name), rtype)] = seconds

    def on_time(self):
        """Every late() name is answered at once from now on."""
        with self.lock:
            self.lateness.clear()

    def drop(self, name):
        """Never answer queries about name."""
        self.drops.add(_norm(name))

    def answered(self, name, rtype=None):
        """Monotonic times at which answers about name went out."""
        name = _norm(name)
        with self.lock:
            return [t for q, ty, t in self.sent
                    if q == name and (rtype is None or ty == rtype)]

    def queried(self, name, rtype=None):
        name = _norm(name)
        with self.lock:
            return any(q == name and (rtype is None or t == rtype)
                       for q, t in self.queries)

    def resolve(self, request, handler):
        qname = _norm(request.q.qname)
        qtype = QTYPE[request.q.qtype]
        now = time.monotonic()
        with self.lock:
            self.queries.append((qname, qtype))
            first = self.first_query.setdefault(qname, now)
            silent = qname in self.drops or \
                now - first < max(self.lateness.get((qname, None), 0),
                                  self.lateness.get((qname, qtype), 0))
        if silent:
            raise DNSError("not answered")  # the handler sends nothing
        reply = self._answer(request, qname, qtype)
        with self.lock:
            self.sent.append((qname, qtype, time.monotonic()))
        return reply

    def _answer(self, request, qname, qtype):
        reply = request.reply()
        with self.lock:
            if qname in self.servfail:
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            exists = any(n == qname for n, _ in self.records)
            found = list(self.records.get((qname, qtype), []))
            if not found and qtype != "CNAME":
                # Follow one CNAME level, as an authoritative server does.
                for rdata, ttl in self.records.get((qname, "CNAME"), []):
                    reply.add_answer(RR(qname, QTYPE.CNAME, rdata=rdata,
                                        ttl=ttl))
                    target = _norm(rdata.label)
                    found = [(r, t) for r, t in
                             self.records.get((target, qtype), [])]
                    for r, t in found:
                        reply.add_answer(RR(target, getattr(QTYPE, qtype),
                                            rdata=r, ttl=t))
                    return reply
        if not exists:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for rdata, ttl in found:
            reply.add_answer(RR(qname, getattr(QTYPE, qtype), rdata=rdata,
                                ttl=ttl))
        return reply


class _QuietLogger(DNSLogger):
    def __init__(self):
        super().__init__(log="-recv,-send,-request,-reply,-truncated,-error,"
                             "-data", prefix=False)

    def log_pass(self, *args):
        pass


class DnsStub:
    """UDP + TCP DNS server on 127.0.0.1:<free port>, answering from a Zone."""

    def __init__(self, zone=None):
        self.zone = zone or Zone()
        self.udp = self.tcp = None
        for _ in range(50):
            udp = DNSServer(self.zone, address="127.0.0.1", port=0,
                            logger=_QuietLogger())
            port = udp.server.server_address[1]
            try:
                tcp = DNSServer(self.zone, address="127.0.0.1", port=port,
                                tcp=True, logger=_QuietLogger())
            except OSError:
                udp.server.server_close()
                continue
            self.udp, self.tcp, self.port = udp, tcp, port
            break
        else:
            raise RuntimeError("no free port for the DNS stub")
        # A short poll interval: shutdown() waits for one, per test.
        for srv in (self.udp, self.tcp):
            t = threading.Thread(target=srv.server.serve_forever,
                                 kwargs={"poll_interval": 0.02}, daemon=True)
            t.start()

    @property
    def nameserver(self):
        return "127.0.0.1@%d" % self.port

    def stop(self):
        for srv in (self.udp, self.tcp):
            srv.server.shutdown()
            srv.server.server_close()


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A TCP port nobody listens on right now (the kernel's choice)."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
