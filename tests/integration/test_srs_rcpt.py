"""Mail to our SRS domain (issue 10 item 3): an SRS0/SRS1 address we made
is accepted at RCPT from any client, no relay permission needed, and
delivered to what it stands for, as is: a bounce (MAIL FROM:<>) to the
SRS address of a forwarded message reaches the original sender's MX,
and an SRS1 goes back to the first forwarder's SRS0.  Tampered, expired
(22 days; 21 passes), future, truncated and foreign-secret addresses,
and other names at the SRS domain, get 550 5.1.1 at RCPT.

The addresses are made by `decorum srs forward -n TIME` with the
daemon's own secret: the daemon judges them by its real clock, so the
stamps are placed relative to now.
"""
import os
import time

import pytest

from conftest import add_mx
from smtpraw import Smtp

SRS_DOMAIN = "srs.example.test"
DAY = 86400


@pytest.fixture
def srs_mta(mta, workdir, mx_port):
    """A started daemon with an srs group, sending to the fake MX port,
    relaying for nobody (the test client is no relay client)."""
    def make(secret="tops3cr3t"):
        key = os.path.join(workdir, "srs.key")
        with open(key, "w") as f:
            f.write(secret + "\n")
        os.chmod(key, 0o600)
        m = mta(extra_conf='srs = { domain = "%s"; key_file = "%s"; };\n'
                'delivery = { smtp_port = %d; connect_timeout = 5; };\n'
                % (SRS_DOMAIN, key, mx_port))
        m.srs_key = key
        return m
    return make


def srs(m, address, when=None):
    """The SRS address our forwarding makes of address at when."""
    when = int(time.time()) if when is None else when
    r = m.cli("srs", "forward", "-n", str(when), address)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return r.stdout.strip()


def rcpt_reply(m, address, sender=""):
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail(sender)
        r = s.cmd("RCPT TO:<%s>" % address)
        s.cmd("QUIT")
    return r


def test_srs_rcpt_refused(srs_mta):
    m = srs_mta()
    now = int(time.time())
    good = srs(m, "user@example.org", now)
    local, _, domain = good.rpartition("@")
    h = good[5:9]
    tampered = good[:5] + ("A" if h[0] != "A" else "B") + good[6:]
    cases = {
        "tampered hash": tampered,
        "tampered local part": local[:-1] + "x@" + domain
        if not local.endswith("x") else local[:-1] + "y@" + domain,
        "expired (22 days)": srs(m, "user@example.org", now - 22 * DAY),
        "future (tomorrow)": srs(m, "user@example.org", now + DAY),
        "truncated": good[:good.index("=user@")] + "@" + SRS_DOMAIN,
        "no fields": "SRS0=@" + SRS_DOMAIN,
        "another secret": None,
        "not an SRS name": "someone@" + SRS_DOMAIN,
    }
    # Made with a secret the daemon does not hold: the same shape, its
    # hash computed by a copy of the config naming another key file.
    key2 = os.path.join(m.root, "other.key")
    with open(key2, "w") as f:
        f.write("n0ts3cr3t\n")
    os.chmod(key2, 0o600)
    conf2 = os.path.join(m.root, "other.conf")
    with open(m.conf) as f, open(conf2, "w") as g:
        g.write(f.read().replace(m.srs_key, key2))
    r = m.cli("-c", conf2, "srs", "forward", "-n", str(now),
              "user@example.org")
    cases["another secret"] = r.stdout.strip()
    assert cases["another secret"] != good
    for what, address in cases.items():
        r = rcpt_reply(m, address)
        assert (r.code, r.first.split()[0]) == (550, "5.1.1"), \
            (what, address, r)
        # The reply says no more than for any unknown user.
        assert "User unknown" in r.text, (what, r)


def test_srs_rcpt_age_boundary(srs_mta):
    m = srs_mta()
    now = int(time.time())
    for days in (0, 1, 21):
        r = rcpt_reply(m, srs(m, "user@example.org", now - days * DAY))
        assert r.code == 250, (days, r)
    r = rcpt_reply(m, srs(m, "user@example.org", now - 22 * DAY))
    assert r.code == 550, r
    # Any case: some MTAs fold local parts (the hash is read as libsrs2
    # reads it).
    good = srs(m, "user@example.org", now)
    assert rcpt_reply(m, good.upper()).code == 250
    assert rcpt_reply(m, good.lower()).code == 250


def test_srs_bounce_reaches_original_sender(srs_mta, remote_mx, dns):
    m = srs_mta()
    sink = remote_mx("127.0.0.21")
    add_mx(dns, "example.org", ["127.0.0.21"])
    address = srs(m, "Alice.Smith@example.org")
    bounce = (b"From: MAILER-DAEMON@far.example\r\nTo: <%s>\r\n"
              b"Subject: Undelivered Mail\r\n\r\nyour forwarded mail "
              b"bounced\r\n.\r\n" % address.encode())
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("")
        # Not a relay client: a foreign address is refused, the SRS
        # address (ours) is not.
        s.rcpt("someone@example.org", code=554, enhanced="5.7.1")
        s.rcpt(address)
        s.data(bounce)
        s.cmd("QUIT")
    t = sink.wait_delivered(1, log=m.log)[0]
    # As is: the null sender, the original address (its case kept).
    assert t.sender == "", t
    assert t.rcpts == ["Alice.Smith@example.org"], t
    assert b"your forwarded mail bounced" in t.data
    assert len(sink.transactions()) == 1


def test_srs1_goes_back_to_the_first_hop(srs_mta, remote_mx, dns):
    m = srs_mta()
    sink = remote_mx("127.0.0.22")
    add_mx(dns, "hop.example", ["127.0.0.22"])
    first = "SRS0=abcd=KH=orig.example=bob@hop.example"
    address = srs(m, first)
    assert address.startswith("SRS1="), address
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("")
        s.rcpt(address)
        s.data(b"Subject: bounce\r\n\r\nback\r\n.\r\n")
        s.cmd("QUIT")
    t = sink.wait_delivered(1, log=m.log)[0]
    assert t.sender == "" and t.rcpts == [first], t


def test_srs_domain_role_mailboxes(srs_mta):
    m = srs_mta()
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("x@example.org")
        s.rcpt("postmaster@" + SRS_DOMAIN)
        s.rcpt("Abuse@SRS.example.TEST")
        s.rcpt("demo@" + SRS_DOMAIN, code=550, enhanced="5.1.1")
        s.data(b"Subject: to the SRS domain\r\n\r\nhello\r\n.\r\n")
        s.cmd("QUIT")
    # One copy: both role names are the postmaster's one mailbox.
    assert b"to the SRS domain" in m.wait_for_delivery("admin")[0]
