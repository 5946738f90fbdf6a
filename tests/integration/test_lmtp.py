"""Local mailboxes delivered over LMTP (RFC 2033) to a real Dovecot.

A transports entry for a local domain (or one local address) sends its
mailboxes to a private Dovecot LMTP server (lmtpserver.Dovecot) instead
of Decorum's own Maildir writer.  The domain stays local: its folder and
users file decide at RCPT time who exists.  Checked: delivery over TCP and
over a Unix socket, both recipients of one message in one LMTP
transaction, an address-level entry that moves one mailbox only, and
Dovecot being down (deferred, never bounced) then back (delivered).
"""

import os

from conftest import compose, submit

LMTP_DOMAIN = "lmtp.example.test"


def lmtp_mta(mta, via, match=LMTP_DOMAIN, **options):
    m = mta(start=False, extra_conf='transports = ( { match = "%s"; '
            'via = "%s"; } );\n' % (match, via), **options)
    m.write_domain(LMTP_DOMAIN, {"bob": None, "carol": None}, [])
    return m.start()


def lf(b):
    return b.replace(b"\r\n", b"\n")


def dovecot_header(stored, name):
    head = stored.split(b"\n\n", 1)[0].decode("utf-8", "replace")
    return [l.split(":", 1)[1].strip() for l in head.split("\n")
            if l.lower().startswith(name.lower() + ":")]


def dovecot_session_id(stored):
    """The id of the LMTP session in the Received: Dovecot added on top."""
    head = stored.split(b"\n\n", 1)[0].decode("utf-8", "replace")
    first = head.split("\nReceived:", 1)[1].split("\n", 4)
    for l in first:
        l = l.strip()
        if l.startswith("id "):
            return l[3:].split()[0]
    raise AssertionError("no id in Dovecot's Received: %r" % head[:400])


def check_delivered(m, d, qid, user, msg, sender):
    stored = d.wait_messages(user, LMTP_DOMAIN, log=m.log)
    assert len(stored) == 1, stored
    s = stored[0]
    # Dovecot writes the envelope sender it got in MAIL FROM.
    assert dovecot_header(s, "Return-Path") == ["<%s>" % sender], s[:300]
    # Then, below Dovecot's and our Received:, the message unchanged.
    assert s.endswith(lf(msg)), s
    assert b"by mx.example.test (Decorum)" in s
    ev = m.wait_event("delivered", id=qid,
                      rcpt="<%s@%s>" % (user, LMTP_DOMAIN))[0]
    assert ev["agent"] == "lmtp", ev["_line"]
    return s, ev


def test_lmtp_over_tcp_one_transaction(mta, dovecot):
    d = dovecot()
    m = lmtp_mta(mta, d.via_inet)
    rcpts = ["bob@" + LMTP_DOMAIN, "carol@" + LMTP_DOMAIN]
    msg = compose(subject="lmtp", sender="x@example.org", to=rcpts[0],
                  body=b"over LMTP\r\n.\r\n..dots\r\n")
    qid, _ = submit(m, "x@example.org", rcpts, msg)
    ids = set()
    for user in ("bob", "carol"):
        s, ev = check_delivered(m, d, qid, user, msg, "x@example.org")
        assert ev["relay"] == "127.0.0.1[127.0.0.1]:%d" % d.port, ev["_line"]
        ids.add(dovecot_session_id(s))
    # One LHLO/MAIL/RCPT/RCPT/DATA, one reply per recipient after the dot.
    assert len(ids) == 1, ids
    m.wait_event("removed", id=qid)
    # Nothing went to Decorum's own Maildir for that domain.
    assert not os.path.exists(os.path.join(m.mailboxes, LMTP_DOMAIN))


def test_lmtp_over_unix_socket(mta, dovecot):
    d = dovecot()
    m = lmtp_mta(mta, d.via_unix)
    msg = compose(subject="unix", sender="x@example.org",
                  to="carol@" + LMTP_DOMAIN)
    qid, _ = submit(m, "x@example.org", ["carol@" + LMTP_DOMAIN], msg)
    check_delivered(m, d, qid, "carol", msg, "x@example.org")
    m.wait_event("removed", id=qid)


def test_lmtp_for_one_address_only(mta, dovecot):
    d = dovecot()
    m = lmtp_mta(mta, d.via_inet, match="bob@example.test")
    qid, msg = submit(m, "x@example.org", ["bob@example.test",
                                           "demo@example.test"])
    # bob's copy through Dovecot, demo's through Decorum's Maildir.
    stored = d.wait_messages("bob", "example.test", log=m.log)
    assert len(stored) == 1 and stored[0].endswith(lf(msg))
    assert m.wait_for_delivery("demo")[0].endswith(lf(msg))
    assert m.messages("bob") == []
    assert d.messages("demo", "example.test") == []
    ev = m.wait_event("delivered", id=qid, rcpt="<bob@example.test>")[0]
    assert ev["agent"] == "lmtp", ev["_line"]
    ev = m.wait_event("delivered", id=qid, rcpt="<demo@example.test>")[0]
    assert ev["agent"] == "maildir", ev["_line"]


def test_lmtp_server_down_deferred_then_delivered(mta, dovecot):
    d = dovecot()
    d.stop()
    m = lmtp_mta(mta, d.via_inet)
    sender = "alice@example.test"
    msg = compose(subject="later", sender=sender, to="bob@" + LMTP_DOMAIN)
    qid, _ = submit(m, sender, ["bob@" + LMTP_DOMAIN], msg)
    evs = m.wait_event("deferred", id=qid, n=2, timeout=20)
    assert evs[0]["code"].startswith("4."), evs[0]["_line"]
    assert m.events("failed", id=qid) == []
    d.start()
    check_delivered(m, d, qid, "bob", msg, sender)
    m.wait_event("removed", id=qid)
    # No report of any kind to the (local) sender.
    assert m.messages("alice") == []
