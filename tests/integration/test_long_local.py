"""Local parts over 64 octets on the wire (RFC 5321 4.5.3.1: "SHOULD be
prepared to accept objects larger than these limits"): only the path
bounds them, 256 octets with its <>, so an address of 254.

SRS depends on it: a forwarder's SRS1 sender, and a bounce to one of our
own SRS0 addresses made of a long original, have local parts well over
64.  Such a sender is accepted and delivered with its Return-Path whole;
the bounce reaches the original sender's MX; a relay client's long
recipient and long sender go out unchanged.  At a local domain no
mailbox name is over 64: 550 5.1.1 at RCPT (user unknown, not a syntax
error), never a name cut to 64 that exists.  Both sides of the path
limit, in MAIL and RCPT: 254 parsed (250, or routed), 255 refused 501.
"""
import os

from conftest import add_mx, compose, submit
from mailfile import check_received, split
from mtaproc import DEFAULT_USERS
from smtpraw import Smtp, queue_id

SRS_DOMAIN = "srs.example.test"
# An SRS1 sender as libsrs2/postsrsd forwarders write them: 200 octets
# of local part.
SRS1_HEAD = ("SRS1=HHHH=forwarder.example==HHHH=TT="
             "mail.some-long-company-name.example=")
SRS1_LOCAL = SRS1_HEAD + "f" * (200 - len(SRS1_HEAD))


def address(length, domain, ch="a"):
    """An address of exactly length octets at domain."""
    return ch * (length - 1 - len(domain)) + "@" + domain


def test_long_srs1_sender_delivered_locally(mta):
    m = mta()
    sender = SRS1_LOCAL + "@forwarder.example"
    assert len(SRS1_LOCAL) == 200
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail(sender)
        s.rcpt("demo@example.test")
        s.expect("DATA", 354)
        s.send(compose(sender=sender, to="demo@example.test") + b".\r\n")
        qid = queue_id(s.reply())
        s.cmd("QUIT")
    lines, _ = split(m.wait_for_delivery("demo")[0])
    assert lines[0] == "Return-Path: <%s>" % sender, lines[0]
    check_received(lines[2], helo="client.example.org",
                   rdns="client.example.org", ip="127.0.0.1",
                   sender=sender, qid=qid, rcpt="demo@example.test")
    # The log names it whole too.
    ev = m.wait_event("queued", id=qid)[0]
    assert ev["from"] == "<%s>" % sender, ev["_line"]


def test_bounce_to_long_srs0_reaches_original_sender(mta, workdir, mx_port,
                                                     remote_mx, dns):
    key = os.path.join(workdir, "srs.key")
    with open(key, "w") as f:
        f.write("tops3cr3t\n")
    os.chmod(key, 0o600)
    m = mta(extra_conf='srs = { domain = "%s"; key_file = "%s"; };\n'
            'delivery = { smtp_port = %d; connect_timeout = 5; };\n'
            % (SRS_DOMAIN, key, mx_port))
    sink = remote_mx("127.0.0.21")
    original = ("Firstname.Lastname.Department@"
                "mail.some-long-company-name.example")
    add_mx(dns, "mail.some-long-company-name.example", ["127.0.0.21"])
    r = m.cli("srs", "forward", original)
    assert r.returncode == 0, (r.stdout, r.stderr)
    srs = r.stdout.strip()
    assert srs.endswith("@" + SRS_DOMAIN) and srs.index("@") > 64, srs
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("")
        s.rcpt(srs)
        s.data(b"From: MAILER-DAEMON@far.example\r\nTo: <%s>\r\n"
               b"Subject: Undelivered Mail\r\n\r\nyour forwarded mail "
               b"bounced\r\n.\r\n" % srs.encode())
        s.cmd("QUIT")
    t = sink.wait_delivered(1, log=m.log)[0]
    assert t.sender == "", t
    assert t.rcpts == [original], t
    assert b"your forwarded mail bounced" in t.data
    # Tampered in its long local part: refused like any unknown user.
    at = srs.index("@")
    bad = srs[:at - 1] + ("x" if srs[at - 1] != "x" else "y") + srs[at:]
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("")
        s.rcpt(bad, code=550, enhanced="5.1.1")
        s.cmd("QUIT")
    assert len(sink.transactions()) == 1


def test_long_local_at_local_domain_is_unknown(mta):
    # A mailbox of exactly 64 octets exists: 65 is not it, cut short.
    users = dict(DEFAULT_USERS)
    users["u" * 64] = None
    m = mta(users=users)
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("x@example.org")
        s.rcpt("u" * 64 + "@example.test")
        for rcpt in ("u" * 65 + "@example.test",
                     "demo+" + "t" * 60 + "@example.test",
                     address(254, "example.test")):
            r = s.cmd("RCPT TO:<%s>" % rcpt)
            assert (r.code, r.first.split()[0]) == (550, "5.1.1"), (rcpt, r)
            assert "User unknown" in r.text, r
        s.cmd("QUIT")


def test_path_limit_both_sides(mta):
    m = mta()
    with Smtp(m.port) as s:
        s.ehlo()
        # MAIL: a path of 256 octets (an address of 254) is the most.
        s.mail(address(255, "example.org"), code=501, enhanced="5.1.7")
        s.mail(address(254, "example.org"))
        # RCPT: 254 is parsed (and routed: no such user), 255 is not.
        s.rcpt(address(255, "example.test"), code=501, enhanced="5.1.3")
        s.rcpt(address(254, "example.test"), code=550, enhanced="5.1.1")
        s.rcpt("demo@example.test")
        s.cmd("QUIT")


def test_relay_sends_long_addresses_unchanged(outbound_mta, remote_mx, dns):
    sink = remote_mx("127.0.0.21")
    add_mx(dns, "far.example", ["127.0.0.21"])
    m = outbound_mta()
    sender = SRS1_LOCAL + "@forwarder.example"
    rcpts = ["R" * 150 + "@far.example", address(254, "far.example", "r")]
    qid, msg = submit(m, sender, rcpts)
    t = sink.wait_delivered(1, log=m.log)[0]
    assert t.sender == sender, t
    assert sorted(t.rcpts) == sorted(rcpts), t
    assert t.data.endswith(msg)
    # On the wire, byte for byte.
    lines = t.conn.lines
    assert ("MAIL FROM:<%s>" % sender).encode() in b"".join(lines), lines
    for r in rcpts:
        assert b"RCPT TO:<%s>\r\n" % r.encode() in lines, lines
        m.wait_event("delivered", id=qid, rcpt="<%s>" % r)
    m.wait_event("removed", id=qid)
