"""Fixtures for the integration suite: a loopback DNS server and real
decorumd daemons.

Run:  DECORUM_BUILD=/path/to/builddir /usr/bin/python3 -m pytest -q tests/integration

- `dns`: a DnsStub (UDP+TCP on a free port) whose Zone starts with the
  records every test needs: the test client's HELO name resolves to the
  loopback addresses clients use (CLIENT_ADDRS and ::1: the default HELO
  checks pass; smtplib clients send that name unless told otherwise),
  and 127.0.0.1 and ::1 have it as their PTR, so
  the usual client passes FCrDNS (issue 9: the default policy refuses
  a client without it) and Received names it.  Those two PTRs are
  defaults: a test's own add_ptr() for 127.0.0.1 or ::1 replaces them,
  remove_ptr() drops them.  Other 127.0.0.x have no PTR.  Tests add
  records or SERVFAILs with dns.zone.add()/fail().
- `mta`: a factory.  mta(**options) writes a config and a domain folder
  (users demo, alice, bob, admin; aliases team, crew, info) under a fresh
  0755 directory, starts `decorumd -c FILE -f`, waits until every listener
  accepts, and returns an mtaproc.Mta.  At teardown every daemon is
  stopped and its stderr is searched for sanitizer reports: any report
  fails the test; so does any log line outside the grammar of
  docs/logging.md (logfmt.parse_log).  root_name= names the folder.  The directory is removed when the test passed and kept
  (path printed) when it failed.
- `certs` (issue 3): per-test copies of self-signed certificates made
  once per session with the openssl CLI: `mx` (CN/SAN mx.example.test,
  the default), `other` (other.example.test, chosen by SNI), `next` (a
  second mx.example.test with its own key, for reloads) and `broken`
  (garbage PEM).  Each is a (cert_path, key_path) pair.
- `tls_mta`: mta() with the tls group, the four TLS listeners (ports in
  m.ports: mx_starttls, mx_implicit, sub_starttls, sub_implicit),
  auth = { max_failures = 3; block_time = 3; }, the aliases
  info: alice / team: alice, bob, and a senders file giving alice
  alice.smith@example.test and @alice.example.  Keyword arguments
  override any of these.
- TLS client helpers for smtpraw.Smtp: client_context(), starttls(),
  implicit(), auth_plain_b64(), and tls_session() (an EHLO'd TLS session
  on one of tls_mta's listeners, logged in when asked).
- Outbound delivery (issue 4): `mx_port` (one port number free on every
  address of MX_HOSTS), `remote_mx` (a factory of remotemx.RemoteMX on
  127.0.0.x:mx_port; at teardown each is stopped and any error inside its
  hooks fails the test), `outbound_mta` (mta() with relay_networks
  127.0.0.0/8 and delivery.smtp_port = mx_port), `dovecot` (a factory of
  started lmtpserver.Dovecot instances, stopped at teardown), and the
  helpers add_mx(), submit() and the report readers parse_report(),
  report_groups().
"""

import base64
import email
import email.policy
import os
import re
import shutil
import smtplib
import ssl
import tempfile

import pytest

from dnsstub import DnsStub, reverse_name
from lmtpserver import Dovecot
from logfmt import LogSyntaxError, parse_log
from mtaproc import HOSTNAME, Mta, make_cert
from redisd import Redisd
from remotemx import RemoteMX, free_port_on
from smtpraw import Smtp, check, queue_id

HELO = "client.example.org"
# The addresses test clients bind (127.0.0.x play different hosts): the
# HELO name resolves to every one of them, so the default HELO checks
# (helo.matches_ip) pass whichever a test picks.  Tests of a HELO that
# does not match use addresses above these (test_policy_helo.py).
CLIENT_ADDRS = ["127.0.0.%d" % i for i in range(1, 64)] + ["127.0.1.30"]


# Every smtplib client (SMTP, SMTP_SSL, LMTP) says EHLO client.example.org
# unless the test names another: smtplib's default, socket.getfqdn(), is
# this machine's name, which on a CI runner may be a bare "runner" that
# helo.syntax refuses, and would make the suite depend on the machine.
_smtp_init = smtplib.SMTP.__init__


def _smtp_init_helo(self, host="", port=0, local_hostname=None, *args,
                    **kwargs):
    _smtp_init(self, host, port, local_hostname or HELO, *args, **kwargs)


smtplib.SMTP.__init__ = _smtp_init_helo


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(scope="session")
def build_dir():
    d = os.environ.get("DECORUM_BUILD", "/work/main/build")
    return os.path.abspath(d)


@pytest.fixture
def dns():
    stub = DnsStub()
    z = stub.zone
    for addr in CLIENT_ADDRS:
        z.add_default(HELO, "A", addr)
    z.add_default(HELO, "AAAA", "::1")
    # Our hostname resolves to us, as a real MX's does: one test instance
    # relaying to another says EHLO with it, and the HELO checks look.
    z.add_default(HOSTNAME, "A", "127.0.0.1")
    z.add_default(reverse_name("127.0.0.1"), "PTR", HELO)
    z.add_default(reverse_name("::1"), "PTR", HELO)
    z.add("example.org", "MX", (10, "mx.example.org"))
    z.add("mx.example.org", "A", "192.0.2.25")
    z.add("remote.example", "MX", (10, "mx.remote.example"))
    z.add("mx.remote.example", "A", "192.0.2.26")
    yield stub
    stub.stop()


@pytest.fixture
def workdir(request):
    # Our own 0755 directory, not tmp_path: pytest's base is 0700, and the
    # privilege-drop test needs "nobody" to traverse it.
    d = tempfile.mkdtemp(prefix="decorum-it-")
    os.chmod(d, 0o755)
    yield d
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.passed:
        shutil.rmtree(d, ignore_errors=True)
    else:
        print("\nkept test directory %s" % d)


@pytest.fixture
def redisd(workdir):
    """redisd(**options): a private redis-server (redisd.py) for the
    greylist's Redis backend, each in its own folder; all stopped by
    their PIDs at the end."""
    made = []

    def factory(**options):
        r = Redisd(workdir, name="redis%d" % len(made), **options)
        made.append(r)
        return r

    yield factory
    for r in made:
        r.stop()


@pytest.fixture
def mta(build_dir, dns, workdir):
    made = []

    def factory(start=True, root_name=None, **options):
        # root_name: the folder's name, for tests of odd paths.
        root = os.path.join(workdir, root_name or "mta%d" % len(made))
        os.makedirs(root)
        os.chmod(root, 0o755)
        m = Mta(build_dir, root, dns, **options)
        made.append(m)
        if start:
            m.start()
        return m

    yield factory
    problems = []
    for m in made:
        try:
            m.stop()
        except Exception as e:          # report, but still check the others
            problems.append("stopping %s: %s" % (m.root, e))
        marks = m.sanitizer_reports()
        if marks:
            problems.append("sanitizer report %s in %s:\n%s"
                            % (marks, m.logfile, _excerpt(m.log(), marks)))
        elif os.path.exists(m.logfile):
            try:
                parse_log(m.logfile, config=m.conf)
            except LogSyntaxError as e:
                problems.append("log line outside docs/logging.md: %s" % e)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def _excerpt(text, marks):
    i = min(text.find(mk) for mk in marks if mk in text)
    return text[max(0, i - 500):i + 3000]


# -- TLS, submission and AUTH (issue 3) -----------------------------------

TLS_ALIASES = [
    ("team", ["alice", "bob"]),             # two users: nobody owns it
    ("info", ["alice"]),                    # only alice: alice owns it
    ("crew", ["team"]),
]
TLS_SENDERS = {"alice": ["alice.smith@example.test", "@alice.example"]}
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "demo": "demo-pw"}


@pytest.fixture(scope="session")
def cert_originals():
    d = tempfile.mkdtemp(prefix="decorum-certs-")
    made = {"mx": make_cert(d, "mx", HOSTNAME),
            "other": make_cert(d, "other", "other.example.test"),
            "next": make_cert(d, "next", HOSTNAME)}
    broken = (os.path.join(d, "broken.pem"), os.path.join(d, "broken.key"))
    with open(broken[0], "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n"
                "-----END CERTIFICATE-----\n")
    with open(broken[1], "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n"
                "-----END PRIVATE KEY-----\n")
    made["broken"] = broken
    yield made
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def certs(cert_originals, workdir):
    """Per-test copies, so a reload test may overwrite them."""
    d = os.path.join(workdir, "certs")
    os.makedirs(d)
    out = {}
    for name, pair in cert_originals.items():
        out[name] = tuple(shutil.copy(p, os.path.join(d, os.path.basename(p)))
                          for p in pair)
    return out


@pytest.fixture
def tls_mta(mta, certs):
    def factory(**options):
        opts = dict(tls={"cert": certs["mx"][0], "key": certs["mx"][1],
                         "sni": [certs["other"]]},
                    auth={"max_failures": 3, "block_time": 3},
                    aliases=TLS_ALIASES, senders=TLS_SENDERS)
        opts.update(options)
        return mta(**opts)
    return factory


def client_context(minimum=None, maximum=None, ciphers=None):
    """A client context that does not verify (the certificates are
    self-signed); tests compare the peer certificate's bytes instead."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    return ctx


def starttls(s, server_hostname=HOSTNAME, ctx=None):
    """STARTTLS on an smtpraw.Smtp, check the 220 (RFC 3207 4), then
    handshake over the same socket.  Nothing may follow the 220 in
    plaintext."""
    r = s.cmd("STARTTLS")
    check(r, 220, "2.0.0", contains="Ready to start TLS", what="STARTTLS")
    assert s.buf == b"", "bytes after the 220 to STARTTLS: %r" % s.buf
    s.sock = (ctx or client_context()).wrap_socket(
        s.sock, server_hostname=server_hostname)
    return s


def implicit(port, server_hostname=HOSTNAME, ctx=None, greet=True):
    """An smtpraw.Smtp over implicit TLS (RFC 8314): handshake first,
    then the greeting."""
    s = Smtp(port, greet=False)
    try:
        s.sock = (ctx or client_context()).wrap_socket(
            s.sock, server_hostname=server_hostname)
    except BaseException:
        s.close()
        raise
    if greet:
        s.greeting = s.reply()
    return s


def auth_plain_b64(authcid, password, authzid=""):
    """RFC 4616 message: authzid NUL authcid NUL passwd, base64."""
    raw = "%s\0%s\0%s" % (authzid, authcid, password)
    return base64.b64encode(raw.encode("utf-8")).decode("ascii")


def tls_session(m, where="mx_starttls", login=None, password=None):
    """An EHLO'd TLS session on one of the four TLS listeners of m (see
    tls_mta), logged in with AUTH PLAIN when login is given."""
    if where.endswith("starttls"):
        s = Smtp(m.ports[where])
        s.ehlo(HELO)
        starttls(s)
    else:
        s = implicit(m.ports[where])
    s.ehlo(HELO)
    if login:
        s.expect("AUTH PLAIN " + auth_plain_b64(login, password), 235,
                 "2.7.0")
    return s


def b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


# -- outbound delivery (issue 4) ------------------------------------------

# Loopback addresses the fake MX hosts may use; all share mx_port.
MX_HOSTS = ("127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.24",
            "127.0.0.30", "127.0.0.31")


@pytest.fixture
def mx_port():
    return free_port_on(MX_HOSTS)


@pytest.fixture
def remote_mx(mx_port):
    made = []

    def factory(host="127.0.0.21", **options):
        assert host in MX_HOSTS, host
        mx = RemoteMX(host, mx_port, **options)
        mx.start()
        made.append(mx)
        return mx

    yield factory
    problems = []
    for mx in made:
        mx.stop()
        problems += ["fake MX %s: %s" % (mx.host, e) for e in mx.errors]
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def outbound_mta(mta, mx_port):
    """mta() that relays for 127.0.0.0/8 and sends to the fake MX port.
    delivery: extra keys of the delivery group; conf: more config."""
    def factory(delivery=None, conf="", **options):
        keys = dict(smtp_port=mx_port, connect_timeout=5)
        keys.update(delivery or {})
        extra = "delivery = { %s };\n" % " ".join(
            "%s = %d;" % kv for kv in keys.items())
        options.setdefault("relay_networks", ("127.0.0.0/8",))
        return mta(extra_conf=extra + conf, **options)
    return factory


@pytest.fixture
def dovecot(workdir):
    made = []

    def factory():
        d = Dovecot(os.path.join(workdir, "dovecot%d" % len(made)))
        made.append(d)
        return d.start()

    yield factory
    for d in made:
        d.stop()


def add_mx(dns, domain, hosts, pref=10):
    """MX records for domain: one host mxN.DOMAIN per address in hosts,
    preferences pref, pref+10, ... in that order.  Returns the names."""
    names = []
    for i, ip in enumerate(hosts):
        name = "mx%d.%s" % (i + 1, domain)
        dns.zone.add(domain, "MX", (pref + 10 * i, name))
        dns.zone.add(name, "A", ip)
        names.append(name)
    return names


def compose(subject="outbound", body=b"hello\r\n", sender="x@example.org",
            to="rcpt@remote.example", extra=b""):
    """A small message (CRLF, not dot-stuffed) as bytes."""
    return (b"From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n"
            b"Message-ID: <%s@example.org>\r\n%s\r\n"
            % (sender.encode(), to.encode(), subject.encode(),
               re.sub(r"\W", "", subject).encode() or b"m", extra) + body)


def dot_stuff(msg):
    return re.sub(rb"(^|\r\n)\.", rb"\1..", msg)


def submit(m, sender, rcpts, msg=None, params="", helo=HELO):
    """One transaction on m's plaintext listener; returns (queue id, the
    message as given, unstuffed).  sender "" is the null sender."""
    if msg is None:
        msg = compose(sender=sender or "nobody@example.org", to=rcpts[0])
    with Smtp(m.port) as s:
        s.ehlo(helo)
        s.mail(sender, params)
        for r in rcpts:
            s.rcpt(r)
        s.expect("DATA", 354)
        s.send(dot_stuff(msg) + b".\r\n")
        qid = queue_id(s.reply())
        s.expect("QUIT", 221)
    return qid, msg


def parse_report(raw):
    """A delivered report (Maildir file, LF) as an email.message.Message,
    checked to be an RFC 3464 multipart/report."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    assert msg.get_content_type() == "multipart/report", raw[:600]
    assert msg.get_param("report-type") == "delivery-status", raw[:600]
    return msg


def report_groups(report):
    """The message/delivery-status part: [per-message fields, then one
    dict per recipient]."""
    parts = [p for p in report.walk()
             if p.get_content_type() == "message/delivery-status"]
    assert len(parts) == 1, [p.get_content_type() for p in report.walk()]
    return [dict(g.items()) for g in parts[0].get_payload()]
