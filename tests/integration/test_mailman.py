"""A mailing list on a real GNU Mailman 3 core behind Decorum.

lists.example.test is a local domain whose users file names the list's
addresses (no passwords) and whose transports entry sends them over LMTP
to a private Mailman (mailmanlmtp.Mailman).  Mailman's outgoing SMTP is
Decorum's listener, so a post goes: smtplib -> Decorum -> LMTP -> Mailman
-> SMTP -> Decorum -> the members' Maildirs.  Checked: the round trip
(a member's post reaches every member with Mailman's List-Id: and the
list's bounce address as envelope sender), and that an address of the
list domain that is not in the users file is refused 550 at RCPT, so
nothing is accepted that would bounce later.
"""

import os
import smtplib
import time

import pytest

from conftest import add_mx, compose
from mailmanlmtp import Mailman

LIST_DOMAIN = "lists.example.test"
LIST = "dev"
LIST_ADDR = "%s@%s" % (LIST, LIST_DOMAIN)


def list_mta(mta, workdir):
    """(Decorum, Mailman), neither started: Decorum's config sends
    lists.example.test to the Mailman's LMTP port, and Mailman sends to
    Decorum's listener."""
    m = mta(start=False)
    mm = Mailman(os.path.join(workdir, "mailman"), smtp_port=m.port)
    m.write_config(extra_conf='transports = ( { match = "%s"; via = "%s"; '
                   '} );\n' % (LIST_DOMAIN, mm.via))
    m.write_domain(LIST_DOMAIN, {a: None for a in mm.list_addresses(LIST)},
                   [])
    return m, mm


@pytest.fixture
def mailman_mta(mta, workdir):
    """(Decorum, Mailman): both running, the list created with demo and
    alice of example.test as members."""
    m, mm = list_mta(mta, workdir)
    mm.create_list(LIST_ADDR)
    mm.add_members(LIST_ADDR, ["demo@example.test", "alice@example.test"])
    t0 = time.monotonic()
    try:
        mm.start()
        print("mailman ready in %.1fs" % (time.monotonic() - t0))
        m.start()
        yield m, mm
    finally:
        mm.stop()


def header(stored, name):
    head = stored.split(b"\n\n", 1)[0].decode("utf-8", "replace")
    head = head.replace("\n ", " ").replace("\n\t", " ")
    return [l.split(":", 1)[1].strip() for l in head.split("\n")
            if l.lower().startswith(name.lower() + ":")]


def test_post_goes_round_mailman(mailman_mta):
    m, mm = mailman_mta
    sender = "alice@example.test"
    msg = compose(subject="hello list", sender=sender, to=LIST_ADDR,
                  body=b"first post\r\n")
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as c:
        c.ehlo("client.example.org")
        refused = c.sendmail(sender, [LIST_ADDR], msg)
    assert refused == {}
    ev = m.wait_event("delivered", rcpt="<%s>" % LIST_ADDR, timeout=10)[0]
    assert ev["agent"] == "lmtp", ev["_line"]
    assert ev["relay"] == "127.0.0.1[127.0.0.1]:%d" % mm.port, ev["_line"]
    assert ev["code"] == "250", ev["_line"]
    # Mailman's copies come back over SMTP, one per member.
    for user in ("demo", "alice"):
        try:
            stored = m.wait_for_delivery(user, timeout=20)
        except AssertionError as e:
            raise AssertionError("%s\nmailman:\n%s" % (e, mm.log()[-3000:]))
        assert len(stored) == 1, stored
        s = stored[0]
        assert header(s, "List-Id") == ["<%s.%s>" % (LIST, LIST_DOMAIN)], \
            s[:1500]
        assert header(s, "X-Mailman-Version"), s[:1500]
        assert header(s, "Subject") and "hello list" in \
            header(s, "Subject")[0], s[:1500]
        assert b"first post" in s
        # Envelope sender: the list's bounce address, as Decorum wrote it.
        rp = header(s, "Return-Path")
        assert rp == ["<%s-bounces@%s>" % (LIST, LIST_DOMAIN)], rp
    # Both copies in one SMTP transaction from Mailman, into Maildirs.
    evs = [m.wait_event("delivered", rcpt="<%s@example.test>" % u)[0]
           for u in ("demo", "alice")]
    assert all(e["agent"] == "maildir" for e in evs), evs
    assert evs[0]["id"] == evs[1]["id"] != ev["id"], evs
    assert m.events("failed") == [] and m.events("bounce") == []


def test_unknown_list_address_refused_at_rcpt(mta, workdir):
    # Decided from the users file alone: Mailman need not even run.
    m, _ = list_mta(mta, workdir)
    m.start()
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as c:
        c.ehlo("client.example.org")
        code, _ = c.mail("x@example.org")
        assert code == 250
        code, text = c.rcpt("nosuchlist@" + LIST_DOMAIN)
        assert code == 550, (code, text)
        code, text = c.rcpt("%s-nosuch@%s" % (LIST, LIST_DOMAIN))
        assert code == 550, (code, text)
        code, _ = c.rcpt(LIST_ADDR)
        assert code == 250
        c.rset()
    # Nothing queued, nothing delivered or bounced for the refused ones.
    assert m.events("bounce") == []


def test_list_mail_to_foreign_members_keeps_the_list_sender(
        outbound_mta, remote_mx, dns, workdir):
    """Issue 10 item 6: list mail leaving through Decorum is not SRS-
    rewritten, even with SRS configured and a post from a foreign
    member: Mailman is the sender (its bounce address, one of ours), and
    mail to the members is relayed, not forwarded.  The foreign member's
    MX sees MAIL FROM:<dev-bounces@lists.example.test> exactly."""
    key = os.path.join(workdir, "srs.key")
    with open(key, "w") as f:
        f.write("tops3cr3t\n")
    os.chmod(key, 0o600)
    mx = remote_mx("127.0.0.21")
    add_mx(dns, "remote.test", ["127.0.0.21"])
    m = outbound_mta(start=False)
    mm = Mailman(os.path.join(workdir, "mailman"), smtp_port=m.port)
    m.write_config(relay_networks=("127.0.0.0/8",), extra_conf=(
        "delivery = { smtp_port = %d; connect_timeout = 5; };\n"
        'srs = { domain = "srs.example.test"; key_file = "%s"; };\n'
        'transports = ( { match = "%s"; via = "%s"; } );\n'
        % (mx.port, key, LIST_DOMAIN, mm.via)))
    m.write_domain(LIST_DOMAIN, {a: None for a in mm.list_addresses(LIST)},
                   [])
    poster = "ext@origin.test"
    mm.create_list(LIST_ADDR)
    mm.add_members(LIST_ADDR, [poster, "bob@remote.test"])
    try:
        mm.start()
        m.start()
        msg = compose(subject="from outside", sender=poster, to=LIST_ADDR)
        with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as c:
            c.ehlo("client.example.org")
            assert c.sendmail(poster, [LIST_ADDR], msg) == {}
        try:
            got = mx.wait_delivered(1, timeout=30)
        except AssertionError as e:
            raise AssertionError("%s\nmailman:\n%s" % (e, mm.log()[-3000:]))
    finally:
        mm.stop()
    bob = [t for t in got if any("bob@remote.test" in r for r in t.rcpts)]
    assert bob, [(t.sender, t.rcpts) for t in got]
    assert bob[0].sender == "%s-bounces@%s" % (LIST, LIST_DOMAIN), \
        bob[0].sender
    assert b"from outside" in bob[0].data
    assert not m.events("forwarded")
