"""Remote mail through a smarthost: the transports entry `*` with
`relay:[HOST]:PORT` (no MX lookup; an IP literal or the A record of HOST),
`relay:HOST:PORT` (the MX of HOST), tls = "require" (never in clear) and
AUTH PLAIN after STARTTLS with auth_user / auth_password_file.  The
smarthost is a fake MX (remotemx.RemoteMX) on 127.0.0.30 or .31.  Also
`sendmail -t` with a remote To: ends at the smarthost.
"""

import os
import subprocess

from conftest import compose, submit
from mtaproc import make_cert


def relay_conf(via, **keys):
    extra = "".join(' %s = "%s";' % kv for kv in keys.items())
    return 'transports = ( { match = "*"; via = "%s";%s } );\n' % (via,
                                                                     extra)


def test_relay_ip_literal_no_mx_lookup(outbound_mta, remote_mx, dns,
                                       mx_port):
    sink = remote_mx("127.0.0.30")
    m = outbound_mta(conf=relay_conf("relay:[127.0.0.30]:%d" % mx_port))
    rcpts = ["a@anywhere.example", "b@elsewhere.example"]
    qid, msg = submit(m, "x@example.org", rcpts + ["demo@example.test"])
    t = sink.wait_delivered(1, log=m.log)[0]
    # One next hop for both domains: one transaction.
    assert sorted(t.rcpts) == rcpts, t
    assert t.data.endswith(msg) and t.sender == "x@example.org"
    # The local recipient stays local.
    assert m.wait_for_delivery("demo")[0].endswith(msg.replace(b"\r\n",
                                                               b"\n"))
    for r in rcpts:
        ev = m.wait_event("delivered", id=qid, rcpt="<%s>" % r)[0]
        assert ev["relay"].endswith("[127.0.0.30]:%d" % mx_port), ev["_line"]
    m.wait_event("removed", id=qid)
    for d in ("anywhere.example", "elsewhere.example"):
        assert not dns.zone.queried(d), "looked up %s" % d
    assert len(sink.transactions()) == 1


def test_relay_bracketed_name_uses_its_address(outbound_mta, remote_mx, dns,
                                               mx_port):
    sink = remote_mx("127.0.0.30")
    dns.zone.add("smtp.isp.example", "A", "127.0.0.30")
    # An MX for the name that a bracketed relay must not follow.
    dns.zone.add("smtp.isp.example", "MX", (10, "wrong.isp.example"))
    dns.zone.add("wrong.isp.example", "A", "127.0.0.31")
    m = outbound_mta(conf=relay_conf("relay:[smtp.isp.example]:%d"
                                     % mx_port))
    qid, msg = submit(m, "x@example.org", ["a@far.example"])
    t = sink.wait_delivered(1, log=m.log)[0]
    assert t.rcpts == ["a@far.example"] and t.data.endswith(msg)
    ev = m.wait_event("delivered", id=qid)[0]
    assert ev["relay"] == "smtp.isp.example[127.0.0.30]:%d" % mx_port, \
        ev["_line"]
    assert not dns.zone.queried("far.example")
    assert not dns.zone.queried("smtp.isp.example", "MX")


def test_relay_name_without_brackets_follows_its_mx(outbound_mta, remote_mx,
                                                    dns, mx_port):
    sink = remote_mx("127.0.0.31")
    dns.zone.add("relayhost.example", "MX", (10, "in.relayhost.example"))
    dns.zone.add("in.relayhost.example", "A", "127.0.0.31")
    m = outbound_mta(conf=relay_conf("relay:relayhost.example:%d"
                                     % mx_port))
    qid, msg = submit(m, "x@example.org", ["a@far.example"])
    t = sink.wait_delivered(1, log=m.log)[0]
    assert t.data.endswith(msg)
    ev = m.wait_event("delivered", id=qid)[0]
    assert ev["relay"] == "in.relayhost.example[127.0.0.31]:%d" % mx_port, \
        ev["_line"]
    assert not dns.zone.queried("far.example")


def test_relay_tls_require_never_sends_in_clear(outbound_mta, remote_mx,
                                                mx_port):
    sink = remote_mx("127.0.0.30")             # no STARTTLS offered
    m = outbound_mta(conf=relay_conf("relay:[127.0.0.30]:%d" % mx_port,
                                     tls="require"))
    qid, _ = submit(m, "alice@example.test", ["a@far.example"])
    evs = m.wait_event("deferred", id=qid, n=2, timeout=20)
    assert evs[0]["code"].startswith("4."), evs[0]["_line"]
    assert sink.connections, "the relay was never contacted"
    # Connected and said EHLO, but no envelope, no data, no AUTH.
    for c in sink.connections:
        verbs = {l.split(b" ")[0].rstrip(b"\r\n").upper() for l in c.lines}
        assert not verbs & {b"MAIL", b"RCPT", b"DATA", b"AUTH"}, c.lines
    assert m.events("failed", id=qid) == []
    assert m.messages("alice") == []


def test_relay_auth_plain_after_starttls(outbound_mta, remote_mx, dns,
                                        workdir, mx_port):
    # A login implies a verified certificate (issue 8): the relay's own
    # self-signed one, pinned as tls_ca, for the name it is reached by
    # (test_relay_verify.py tests the verification itself).
    cert = make_cert(workdir, "relay", "smtp.isp.example")
    sink = remote_mx("127.0.0.30", tls_cert=cert,
                     auth={"me@isp.example": "relay pass 42"},
                     auth_required=True)
    dns.zone.add("smtp.isp.example", "A", "127.0.0.30")
    secret = os.path.join(workdir, "relay.secret")
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"relay pass 42\n")
    os.close(fd)
    m = outbound_mta(conf=relay_conf("relay:[smtp.isp.example]:%d"
                                     % mx_port,
                                     auth_user="me@isp.example",
                                     auth_password_file=secret,
                                     tls_ca=cert[0]))
    qid, msg = submit(m, "x@example.org", ["a@far.example"])
    t = sink.wait_delivered(1, log=m.log)[0]
    c = t.conn
    assert c.tls, c
    assert c.auth == [("PLAIN", "me@isp.example", "relay pass 42", True)], \
        c.auth
    verbs = [l.split(b" ")[0].rstrip(b"\r\n").upper() for l in c.lines]
    assert verbs.index(b"STARTTLS") < verbs.index(b"AUTH") < \
        verbs.index(b"MAIL"), c.lines
    assert t.data.endswith(msg)
    m.wait_event("delivered", id=qid)
    # The password never reaches the log.
    assert "relay pass 42" not in m.log()


def test_sendmail_t_remote_to_reaches_relay(outbound_mta, remote_mx,
                                           mx_port):
    sink = remote_mx("127.0.0.30")
    m = outbound_mta(conf=relay_conf("relay:[127.0.0.30]:%d" % mx_port))
    data = (b"From: Cron Daemon <root@example.test>\n"
            b"To: Friend <friend@far.example>\n"
            b"Bcc: hidden@elsewhere.example\n"
            b"Subject: nightly report\n\nall good\n")
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    r = subprocess.run([m.decorum, "-c", m.conf, "sendmail", "-t", "-i"],
                       input=data, capture_output=True, env=env, timeout=20)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    t = sink.wait_delivered(1, timeout=30, log=m.log)[0]
    assert sorted(t.rcpts) == ["friend@far.example",
                               "hidden@elsewhere.example"], t
    assert b"Subject: nightly report\r\n" in t.data
    assert t.data.endswith(b"\r\n\r\nall good\r\n"), t.data
    # Bcc: is gone from what was sent.
    assert b"hidden@" not in t.data.split(b"\r\n\r\n", 1)[0]
