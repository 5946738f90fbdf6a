"""Verified TLS for outbound delivery (issue 8, item 4): no password to an
unverified peer.

A relay with auth_user, and any transport with tls = "verify", sends
nothing after STARTTLS (no AUTH, no envelope) unless the server's
certificate chains to a trusted CA (the system store, or the transport's
tls_ca) and names the host: the relay host as configured, the address of
relay:[IP], or the MX host name used for the connection.  Otherwise the
mail is deferred (4.7.5) and the log says why, with OpenSSL's words.

A test CA is made once per module with the openssl CLI; it signs
certificates for the fake relays (remotemx.RemoteMX on 127.0.0.x) by
name or by address.  Self-signed certificates come from mtaproc.make_cert.
What the sink received (command lines, AUTH attempts, SNI) is what the
tests assert on.
"""

import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import add_mx, submit
from mtaproc import make_cert
from remotemx import RemoteMX

LOGIN = "me@isp.example"
PASSWORD = "relay pass 42"
SENDER = "x@example.org"


class LocalCA:
    """A CA on disk (ca.pem, ca.key) that issues P-256 leaf certificates
    with the given subjectAltName ("DNS:a.example,IP:127.0.0.30")."""

    def __init__(self, directory):
        self.dir = directory
        self.pem = os.path.join(directory, "ca.pem")
        self.key = os.path.join(directory, "ca.key")
        self.serial = 1
        self._run("req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                  "-subj", "/CN=Decorum Test CA",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                  "-keyout", self.key, "-out", self.pem)

    @staticmethod
    def _run(*args):
        r = subprocess.run(("openssl",) + args, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, "openssl %s: %s" % (args[0], r.stderr)

    def issue(self, name, san):
        """(cert_path, key_path) for CN name, signed by this CA."""
        base = os.path.join(self.dir, name)
        ext = base + ".ext"
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n" % san)
        self._run("req", "-new", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-nodes", "-subj",
                  "/CN=" + name, "-keyout", base + ".key",
                  "-out", base + ".csr")
        self.serial += 1
        self._run("x509", "-req", "-in", base + ".csr", "-CA", self.pem,
                  "-CAkey", self.key, "-set_serial", str(self.serial),
                  "-days", "2", "-extfile", ext, "-out", base + ".pem")
        return base + ".pem", base + ".key"


@pytest.fixture(scope="module")
def test_ca():
    d = tempfile.mkdtemp(prefix="decorum-ca-")
    ca = LocalCA(d)
    ca.certs = {
        "relay": ca.issue("smtp.isp.example", "DNS:smtp.isp.example"),
        "wrong": ca.issue("other.isp.example", "DNS:other.isp.example"),
        "ip": ca.issue("127.0.0.30", "IP:127.0.0.30"),
        "mx": ca.issue("in.relayhost.example", "DNS:in.relayhost.example"),
        "good_mx": ca.issue("mx1.good.example", "DNS:mx1.good.example"),
        "v6": ca.issue("ip6", "IP:::1"),
    }
    self_dir = os.path.join(d, "self")
    os.makedirs(self_dir)
    ca.certs["self"] = make_cert(self_dir, "self", "smtp.isp.example")
    yield ca
    shutil.rmtree(d, ignore_errors=True)


def transport(match, via, **keys):
    extra = "".join(' %s = "%s";' % kv for kv in keys.items())
    return '{ match = "%s"; via = "%s";%s }' % (match, via, extra)


def transports(*entries):
    return "transports = (\n  %s\n);\n" % ",\n  ".join(entries)


def write_secret(workdir, text=PASSWORD):
    path = os.path.join(workdir, "relay.secret")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, text.encode() + b"\n")
    os.close(fd)
    return path


def verbs(conn):
    return [l.split(b" ")[0].rstrip(b"\r\n").upper() for l in conn.lines]


def assert_nothing_after_starttls(sink):
    """Every connection said EHLO and STARTTLS and nothing more: no AUTH,
    no envelope, no plaintext retry, and no login reached the sink."""
    assert sink.connections, "the relay was never contacted"
    for c in sink.connections:
        assert verbs(c) == [b"EHLO", b"STARTTLS"], c
        assert c.auth == [] and not c.tls, c
        assert c.transactions == [], c


def wait_deferred(m, qid, code="4.7.5"):
    ev = m.wait_event("deferred", id=qid, timeout=20)[0]
    assert ev["code"] == code, ev["_line"]
    return ev


def tls_refused(m, reason, name):
    """The event=tls verified=no line for name, with OpenSSL's reason."""
    evs = m.wait_event("tls", verified="no", name=name, timeout=20)
    assert evs[0]["reason"] == reason, evs[0]["_line"]
    return evs[0]


# -- a relay with a login ----------------------------------------------------

def relay_auth_mta(outbound_mta, dns, workdir, mx_port, tls=None, **keys):
    dns.zone.add("smtp.isp.example", "A", "127.0.0.30")
    if tls is not None:
        keys["tls"] = tls
    return outbound_mta(conf=transports(transport(
        "*", "relay:[smtp.isp.example]:%d" % mx_port, auth_user=LOGIN,
        auth_password_file=write_secret(workdir), **keys)))


def test_login_to_ca_signed_relay(outbound_mta, remote_mx, dns, workdir,
                                  mx_port, test_ca):
    sink = remote_mx("127.0.0.30", tls_cert=test_ca.certs["relay"],
                     auth={LOGIN: PASSWORD}, auth_required=True)
    m = relay_auth_mta(outbound_mta, dns, workdir, mx_port,
                       tls_ca=test_ca.pem)
    qid, msg = submit(m, SENDER, ["a@far.example"])
    t = sink.wait_delivered(1, log=m.log)[0]
    assert t.data.endswith(msg)
    c = t.conn
    assert c.tls and c.auth == [("PLAIN", LOGIN, PASSWORD, True)], c
    assert verbs(c).index(b"STARTTLS") < verbs(c).index(b"AUTH") < \
        verbs(c).index(b"MAIL"), c.lines
    # SNI names the relay as configured.
    assert sink.sni == ["smtp.isp.example"], sink.sni
    ev = m.wait_event("tls", verified="yes")[0]
    assert ev["relay"] == "smtp.isp.example[127.0.0.30]:%d" % mx_port
    m.wait_event("delivered", id=qid)
    assert PASSWORD not in m.log()


def test_no_login_to_self_signed_relay(outbound_mta, remote_mx, dns,
                                       workdir, mx_port, test_ca):
    # The man in the middle: right name, but no CA vouches for it.
    sink = remote_mx("127.0.0.30", tls_cert=test_ca.certs["self"],
                     auth={LOGIN: PASSWORD}, auth_required=True)
    m = relay_auth_mta(outbound_mta, dns, workdir, mx_port,
                       tls_ca=test_ca.pem)
    qid, _ = submit(m, SENDER, ["a@far.example"])
    ev = wait_deferred(m, qid)
    assert "not verified (self-signed certificate)" in ev["reason"], \
        ev["_line"]
    tls_refused(m, "self-signed certificate", "smtp.isp.example")
    # A retry comes, and is refused the same way.
    m.wait_event("deferred", id=qid, n=2, timeout=20)
    assert len(sink.connections) >= 2, sink.connections
    assert_nothing_after_starttls(sink)
    assert m.events("failed", id=qid) == []
    assert PASSWORD not in m.log()


def test_login_uses_system_store_without_tls_ca(outbound_mta, remote_mx,
                                                dns, workdir, mx_port,
                                                test_ca):
    # No tls_ca: the system store, where the test CA is nobody's root.
    # tls = "may" does not make a login opportunistic.
    sink = remote_mx("127.0.0.30", tls_cert=test_ca.certs["relay"],
                     auth={LOGIN: PASSWORD}, auth_required=True)
    m = relay_auth_mta(outbound_mta, dns, workdir, mx_port, tls="may")
    qid, _ = submit(m, SENDER, ["a@far.example"])
    ev = wait_deferred(m, qid)
    assert "unable to get local issuer certificate" in ev["reason"], \
        ev["_line"]
    tls_refused(m, "unable to get local issuer certificate",
                "smtp.isp.example")
    assert_nothing_after_starttls(sink)


def test_no_login_to_relay_with_wrong_name(outbound_mta, remote_mx, dns,
                                           workdir, mx_port, test_ca):
    # Signed by the trusted CA, but for another host.
    sink = remote_mx("127.0.0.30", tls_cert=test_ca.certs["wrong"],
                     auth={LOGIN: PASSWORD}, auth_required=True)
    m = relay_auth_mta(outbound_mta, dns, workdir, mx_port,
                       tls_ca=test_ca.pem)
    qid, _ = submit(m, SENDER, ["a@far.example"])
    ev = wait_deferred(m, qid)
    assert "hostname mismatch" in ev["reason"], ev["_line"]
    tls_refused(m, "hostname mismatch", "smtp.isp.example")
    assert_nothing_after_starttls(sink)
    assert sink.sni[0] == "smtp.isp.example", sink.sni


def test_login_to_pinned_self_signed_relay(outbound_mta, remote_mx, dns,
                                           workdir, mx_port, test_ca):
    # A private relay with its own certificate: list that certificate as
    # tls_ca and it is trusted (and still checked by name).
    sink = remote_mx("127.0.0.30", tls_cert=test_ca.certs["self"],
                     auth={LOGIN: PASSWORD}, auth_required=True)
    m = relay_auth_mta(outbound_mta, dns, workdir, mx_port,
                       tls_ca=test_ca.certs["self"][0])
    qid, _ = submit(m, SENDER, ["a@far.example"])
    t = sink.wait_delivered(1, log=m.log)[0]
    assert t.conn.auth == [("PLAIN", LOGIN, PASSWORD, True)], t.conn
    m.wait_event("delivered", id=qid)


def test_ca_file_readable_by_root_only(mta, remote_mx, dns, workdir,
                                       mx_port, test_ca):
    # The master reads tls_ca as root, as it reads the password: the
    # unprivileged queue manager never opens either file.
    sink = remote_mx("127.0.0.30", tls_cert=test_ca.certs["relay"],
                     auth={LOGIN: PASSWORD}, auth_required=True)
    ca = os.path.join(workdir, "private-ca.pem")
    shutil.copy(test_ca.pem, ca)
    os.chmod(ca, 0o600)
    dns.zone.add("smtp.isp.example", "A", "127.0.0.30")
    conf = "delivery = { smtp_port = %d; connect_timeout = 5; };\n" % \
        mx_port + transports(transport(
            "*", "relay:[smtp.isp.example]:%d" % mx_port, auth_user=LOGIN,
            auth_password_file=write_secret(workdir), tls_ca=ca))
    m = mta(start=False, user="nobody", extra_conf=conf,
            relay_networks=("127.0.0.0/8",))
    for d in (m.spool, m.state, m.mailboxes):
        os.chown(d, 65534, 65534)
    m.start()
    qid, _ = submit(m, SENDER, ["a@far.example"])
    t = sink.wait_delivered(1, log=m.log)[0]
    assert t.conn.login == LOGIN
    m.wait_event("delivered", id=qid)


# -- tls = "verify" without a login ------------------------------------------

def test_verify_mx_host_name(outbound_mta, remote_mx, dns, mx_port,
                             test_ca):
    # An ordinary transport: the name checked is the MX host's, as
    # Postfix's "verify" level does.  good.example's MX has a certificate
    # by the CA; bad.example's MX a self-signed one.
    good = remote_mx("127.0.0.21", tls_cert=test_ca.certs["good_mx"])
    bad = remote_mx("127.0.0.22", tls_cert=test_ca.certs["self"])
    add_mx(dns, "good.example", ["127.0.0.21"])
    add_mx(dns, "bad.example", ["127.0.0.22"])
    m = outbound_mta(conf=transports(
        transport("good.example", "smtp", tls="verify", tls_ca=test_ca.pem),
        transport("bad.example", "smtp", tls="verify", tls_ca=test_ca.pem)))
    qid_good, msg = submit(m, SENDER, ["a@good.example"])
    t = good.wait_delivered(1, log=m.log)[0]
    assert t.conn.tls and t.data.endswith(msg)
    assert good.sni == ["mx1.good.example"], good.sni
    m.wait_event("delivered", id=qid_good)
    m.wait_event("tls", verified="yes",
                 relay="mx1.good.example[127.0.0.21]:%d" % mx_port)
    qid_bad, _ = submit(m, SENDER, ["b@bad.example"])
    ev = wait_deferred(m, qid_bad)
    assert "self-signed certificate" in ev["reason"], ev["_line"]
    tls_refused(m, "self-signed certificate", "mx1.bad.example")
    assert_nothing_after_starttls(bad)


def test_verify_wrong_name_no_plaintext_retry(outbound_mta, remote_mx, dns,
                                              mx_port, test_ca):
    # Under "may" a failed handshake is retried in plaintext on the same
    # address; a refused certificate under "verify" never is.
    sink = remote_mx("127.0.0.21", tls_cert=test_ca.certs["wrong"])
    add_mx(dns, "far.example", ["127.0.0.21"])
    m = outbound_mta(conf=transports(
        transport("far.example", "smtp", tls="verify", tls_ca=test_ca.pem)))
    qid, _ = submit(m, SENDER, ["a@far.example"])
    ev = wait_deferred(m, qid)
    assert "hostname mismatch" in ev["reason"], ev["_line"]
    # The attempt is over, and it made one connection (the next attempt
    # waits at least queue.retry_min, a second here).
    assert len(sink.connections) == 1, sink.connections
    assert_nothing_after_starttls(sink)


def test_verify_without_starttls(outbound_mta, remote_mx, dns, mx_port,
                                 test_ca):
    sink = remote_mx("127.0.0.21")              # no STARTTLS offered
    add_mx(dns, "far.example", ["127.0.0.21"])
    m = outbound_mta(conf=transports(
        transport("far.example", "smtp", tls="verify")))
    qid, _ = submit(m, SENDER, ["a@far.example"])
    wait_deferred(m, qid, code="4.7.4")
    for c in sink.connections:
        assert verbs(c) == [b"EHLO"] or verbs(c) == [b"EHLO", b"QUIT"], c


def test_verify_relay_ip_literal(outbound_mta, remote_mx, mx_port, test_ca):
    # relay:[IP]: the address must be an iPAddress subjectAltName; a
    # certificate that names a host instead does not do.  No SNI.
    good = remote_mx("127.0.0.30", tls_cert=test_ca.certs["ip"])
    bad = remote_mx("127.0.0.31", tls_cert=test_ca.certs["relay"])
    m = outbound_mta(conf=transports(
        transport("good.example", "relay:[127.0.0.30]:%d" % mx_port,
                  tls="verify", tls_ca=test_ca.pem),
        transport("bad.example", "relay:[127.0.0.31]:%d" % mx_port,
                  tls="verify", tls_ca=test_ca.pem)))
    qid, msg = submit(m, SENDER, ["a@good.example"])
    t = good.wait_delivered(1, log=m.log)[0]
    assert t.conn.tls and t.data.endswith(msg)
    assert good.sni == [None], good.sni
    m.wait_event("delivered", id=qid)
    qid, _ = submit(m, SENDER, ["b@bad.example"])
    ev = wait_deferred(m, qid)
    assert "IP address mismatch" in ev["reason"], ev["_line"]
    tls_refused(m, "IP address mismatch", "127.0.0.31")
    assert_nothing_after_starttls(bad)
    assert bad.sni[0] is None, bad.sni


def test_verify_relay_ipv6_literal(outbound_mta, mx_port, test_ca):
    sink = RemoteMX("::1", 0, tls_cert=test_ca.certs["v6"]).start()
    try:
        m = outbound_mta(conf=transports(
            transport("*", "relay:[::1]:%d" % sink.port, tls="verify",
                      tls_ca=test_ca.pem)))
        qid, msg = submit(m, SENDER, ["a@far.example"])
        t = sink.wait_delivered(1, log=m.log)[0]
        assert t.conn.tls and t.data.endswith(msg)
        m.wait_event("delivered", id=qid)
    finally:
        sink.stop()
    assert sink.errors == []


def test_verify_relay_mx_lookup_checks_mx_name(outbound_mta, remote_mx, dns,
                                               mx_port, test_ca):
    # relay:HOST (no brackets) follows HOST's MX: the MX host's name is
    # the one checked, and sent as SNI.
    sink = remote_mx("127.0.0.31", tls_cert=test_ca.certs["mx"])
    dns.zone.add("relayhost.example", "MX", (10, "in.relayhost.example"))
    dns.zone.add("in.relayhost.example", "A", "127.0.0.31")
    m = outbound_mta(conf=transports(
        transport("*", "relay:relayhost.example:%d" % mx_port,
                  tls="verify", tls_ca=test_ca.pem)))
    qid, _ = submit(m, SENDER, ["a@far.example"])
    sink.wait_delivered(1, log=m.log)
    assert sink.sni == ["in.relayhost.example"], sink.sni
    m.wait_event("delivered", id=qid)


def test_may_still_delivers_and_says_why_unverified(outbound_mta, remote_mx,
                                                    dns, mx_port, test_ca):
    # Opportunistic TLS is unchanged: the self-signed MX gets the mail,
    # and the log says what verification would have found.
    sink = remote_mx("127.0.0.21", tls_cert=test_ca.certs["self"])
    add_mx(dns, "far.example", ["127.0.0.21"])
    m = outbound_mta()
    qid, _ = submit(m, SENDER, ["a@far.example"])
    t = sink.wait_delivered(1, log=m.log)[0]
    assert t.conn.tls
    ev = m.wait_event("tls", verified="no")[0]
    assert ev["reason"] == "self-signed certificate", ev["_line"]
    m.wait_event("delivered", id=qid)


# -- check-config ------------------------------------------------------------

def test_check_config_names_bad_tls_ca(mta, workdir, test_ca):
    bad = os.path.join(workdir, "bad-ca.pem")
    with open(bad, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nbm90\n"
                "-----END CERTIFICATE-----\n")
    m = mta(start=False, extra_conf=transports(
        transport("a.example", "smtp", tls="verify", tls_ca=test_ca.pem)))
    r = m.cli("check-config")
    assert r.returncode == 0, (r.stdout, r.stderr)
    for conf, want in (
            (transport("a.example", "smtp", tls="verify", tls_ca=bad),
             "bad-ca.pem: error:"),
            (transport("a.example", "smtp", tls="may", tls_ca=test_ca.pem),
             "tls_ca is used only with tls = \"verify\""),
            (transport("a.example", "smtp", tls="verify",
                       tls_ca=os.path.join(workdir, "none.pem")),
             "none.pem: No such file or directory")):
        m.write_config(("127.0.0.0/8",), transports(conf))
        with open(m.conf) as f:
            line = 1 + f.read().split("\n").index("  " + conf)
        r = m.cli("check-config")
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert r.stderr.startswith("%s:%d: " % (m.conf, line)), r.stderr
        assert want in r.stderr, r.stderr
