"""Logs: one line per event, key=value fields after "event=", with the
client IP on session events and the queue id on message events, and no
way for a client to forge a field (values are escaped)."""

import re

from logfmt import parse_log
from smtpraw import Smtp, message, queue_id


def assert_structured(m):
    """Every line in the grammar of docs/logging.md (logfmt.py: one
    event= first, no key twice, quoted values escaped)."""
    assert parse_log(m.logfile), "empty log"


def verdicts(m, *needles):
    """Log lines giving the verdict on a command: event=command (or
    event=rejected) with the client and everything in needles."""
    return [e for e in m.log_events()
            if e.get("event") in ("command", "rejected")
            and "client=[127.0.0.1]" in e["_line"]
            and all(n in e["_line"] for n in needles)]


def events_with(m, event, *needles):
    return [e for e in m.log_events(event)
            if all(n in e["_line"] for n in needles)]


def test_transaction_is_logged(mta):
    m = mta()
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.rcpt("nosuchuser@example.test", 550, "5.1.1")
        s.expect("RCPT TO:<someone@remote.example>", 554, "5.7.1")
        s.expect("DATA", 354)
        s.send(message())
        qid = queue_id(s.reply())
        s.expect("QUIT", 221, "2.0.0")
    m.wait_for_delivery("demo")
    m.wait_log(r"event=delivered\b.*\bid=%s\b" % qid)

    assert events_with(m, "connect", "client=[127.0.0.1]"), m.log()
    # Each command's verdict names the client, the argument and the reply.
    assert verdicts(m, "EHLO", "client.example.org", "250"), m.log()
    assert verdicts(m, "MAIL", "x@example.org", "250"), m.log()
    assert verdicts(m, "demo@example.test", "250"), m.log()
    assert verdicts(m, "nosuchuser@example.test", "550", "5.1.1"), m.log()
    assert verdicts(m, "someone@remote.example", "554", "5.7.1"), m.log()
    assert verdicts(m, "DATA", "354"), m.log()
    queued = [e for e in m.log_events("queued") if e.get("id") == qid]
    assert len(queued) == 1, m.log()
    delivered = [e for e in m.log_events("delivered") if e.get("id") == qid]
    assert len(delivered) == 1, m.log()
    assert delivered[0].get("rcpt") in ("demo@example.test",
                                        "<demo@example.test>")
    assert "mailbox" in delivered[0]
    assert_structured(m)


def test_rejected_commands_are_logged(mta):
    m = mta()
    with Smtp(m.port) as s:
        s.expect("MAIL FROM:<x@example.org>", 503, "5.5.1")
        s.ehlo()
        s.expect("MAIL FROM:<bad address>", 501, "5.1.7")
        s.expect("MAIL FROM:<x@example.org> SIZE=999999999", 552, "5.3.4")
    m.stop()
    assert verdicts(m, "MAIL", "503", "5.5.1"), m.log()
    assert verdicts(m, "MAIL", "501", "5.1.7"), m.log()
    assert verdicts(m, "MAIL", "552", "5.3.4"), m.log()
    assert_structured(m)


def test_data_refusal_is_logged(mta):
    m = mta()
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.expect("DATA", 354)
        s.send(b"Subject: x\r\n\r\nbare\nLF\r\n.\r\n")
        r = s.reply()
        assert r.code == 550
    m.stop()
    assert events_with(m, "rejected", "127.0.0.1"), m.log()
    assert m.log_events("queued") == []


def test_deferred_is_logged(mta):
    m = mta()
    m.block_mailbox("demo")
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.expect("DATA", 354)
        s.send(message())
        qid = queue_id(s.reply())
    m.wait_log(r"event=deferred\b.*\bid=%s\b" % qid)
    ev = [e for e in m.log_events("deferred") if e.get("id") == qid]
    assert ev and "demo@example.test" in ev[0]["_line"]
    assert_structured(m)


def test_client_cannot_forge_log_fields(mta):
    m = mta()
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail("x@example.org")
        # A quoted local part may hold spaces and '=' (RFC 5321 4.1.2).
        s.rcpt('"x event=delivered id=FAKE"@example.test', 550, "5.1.1")
    m.stop()
    assert [e for e in m.log_events() if e.get("id") == "FAKE"] == []
    assert_structured(m)


def test_lines_have_role_and_level(mta):
    m = mta()
    with Smtp(m.port) as s:
        s.expect("QUIT", 221, "2.0.0")
    m.stop()
    for ev in m.log_events():
        assert re.match(r"^\S+ \S+\[\d+\] (debug|info|warn|error): event=",
                        ev["_line"]), ev["_line"]


# -- lines batched per loop pass (issue 12 item 2) ---------------------------
# smtpd's and the qmgr's loop threads write their lines once per loop pass
# (src/common/logbatch.c).  None may wait for a later pass that never
# comes (an idle daemon), and none may be lost when the daemon stops.

def session_events(m, qid):
    """The connect, queued and disconnect events of the session that
    queued qid, in log order (the readiness probe's session has none)."""
    sids = {e["session"] for e in m.events("queued", id=qid)}
    return [e["event"] for e in m.log_events()
            if e.get("session") in sids
            and e.get("event") in ("connect", "queued", "disconnect")]


def one_message(s, rcpt="demo@example.test"):
    s.mail("x@example.org")
    s.rcpt(rcpt)
    s.expect("DATA", 354)
    s.send(message())
    return queue_id(s.reply())


def assert_stopped_cleanly(m):
    """Every process logged its stop and then its end, once each: the
    qmgr's event=stopping is logged in the pass its loop breaks off."""
    def roles(event):
        return [re.match(r"^\S+ (\w+)\[", e["_line"]).group(1)
                for e in m.log_events(event)]
    for role in ("smtpd", "qmgr", "master"):
        assert roles("stopping").count(role) == 1, m.log()
        assert roles("stopped").count(role) == 1, m.log()


def test_idle_daemon_has_written_every_line(mta):
    """The last pass's lines are out while the daemon sits idle."""
    m = mta()
    with Smtp(m.port) as s:
        s.ehlo()
        qid = one_message(s)
        s.expect("QUIT", 221, "2.0.0")
    m.wait_for_delivery("demo")
    m.wait_log(r"event=delivered\b.*\bid=%s\b" % qid)
    m.wait_log(r"event=disconnect\b.*\bmessages=1\b")
    assert session_events(m, qid) == ["connect", "queued", "disconnect"], \
        m.log()
    assert len(m.events("queued", id=qid)) == 1, m.log()
    assert_structured(m)


def test_sigterm_loses_no_line(mta):
    """SIGTERM with a session open and a message just delivered: every
    line of the session, the delivery and each process's stop is in
    the log once the daemon has exited."""
    m = mta()
    s = Smtp(m.port)
    s.ehlo()
    qid = one_message(s)
    m.wait_for_delivery("demo")
    assert m.stop() == 0
    assert s.reply().code == 421
    s.close()
    assert session_events(m, qid) == ["connect", "queued", "disconnect"], \
        m.log()
    assert len(m.events("delivered", id=qid)) == 1, m.log()
    assert_stopped_cleanly(m)
    assert_structured(m)
