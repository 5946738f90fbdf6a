"""Forwarded copies (issue 10 items 1, 2, 7 and 8): an alias target in a
foreign domain gets a forwarded copy, a new message queued once per run
of the original, whose envelope sender is the SRS address of the
original sender (or the sender itself when it is <>, in a domain of
ours, authenticated, or no srs group is configured), and whose data is
one "Delivered-To: <original recipient>" per recipient that reached a
target, then the original bytes unchanged (every header, our Received:
with the original envelope-from).  The copy's sender is stored in its
envelope: a retry after a greylisting 451 carries the same bytes, also
when the clock passed midnight in between (the daemon run under
libfaketime, stopped and started again on the other side of midnight).
"""
import calendar
import os
import time

import pytest

from conftest import (PASSWORDS, TLS_ALIASES, add_mx, compose, dot_stuff,
                      submit, tls_session)
from mtaproc import DOMAIN, wait_until
from smtpraw import queue_id
from test_sendmail import sendmail

SRS_DOMAIN = "srs.example.test"
SENDER = "s@example.org"
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

ALIASES = [
    ("fwd", ["a@remote.test"]),                 # one foreign target
    ("fwd2", ["a@remote.test"]),                # the same target again
    ("both", ["demo", "b@remote.test"]),        # a mailbox and a forward
    ("chain", ["fwd"]),                         # through another alias
]


def srs_conf(workdir):
    key = os.path.join(workdir, "srs.key")
    with open(key, "w") as f:
        f.write("tops3cr3t\n")
    os.chmod(key, 0o600)
    return 'srs = { domain = "%s"; key_file = "%s"; };\n' % (SRS_DOMAIN, key)


@pytest.fixture
def fwd_mta(outbound_mta, remote_mx, dns, workdir):
    """(mta, sink): aliases forwarding to remote.test, whose MX is the
    sink; srs=False leaves the srs group out."""
    def make(srs=True, sink_options=None, **options):
        sink = remote_mx("127.0.0.21", **(sink_options or {}))
        add_mx(dns, "remote.test", ["127.0.0.21"])
        m = outbound_mta(conf=srs_conf(workdir) if srs else "",
                         aliases=ALIASES, **options)
        return m, sink
    return make


def rev(m, address, now=None):
    args = ["srs", "reverse"] + (["-n", str(now)] if now else []) + [address]
    r = m.cli(*args)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout.strip()


def srs_stamp(address):
    """The TT field of an SRS0 address: SRS0=HHHH=TT=domain=local@srs."""
    assert address.upper().startswith("SRS0="), address
    return address.split("=")[2]


def forwarded(m, qid, **fields):
    ev = m.wait_event("forwarded", id=qid, **fields)
    assert len(ev) == 1, ev
    return ev[0]


def test_forward_srs_every_header_and_trace(fwd_mta):
    m, sink = fwd_mta()
    msg = compose(subject="forward me", sender=SENDER, to="fwd@" + DOMAIN,
                  extra=b"X-Original: kept as it was\r\n")
    qid, sent = submit(m, SENDER, ["fwd@" + DOMAIN], msg=msg)
    t = sink.wait_delivered(1, log=m.log)[0]
    assert t.sender.startswith("SRS0=") and t.sender.endswith(
        "@" + SRS_DOMAIN), t.mail
    assert rev(m, t.sender) == SENDER
    assert t.rcpts == ["a@remote.test"]
    # Our trace first, then the original data byte for byte: our
    # Received: with the original envelope-from, every header, the body.
    assert t.data.startswith(b"Delivered-To: fwd@%s\r\nReceived: "
                             % DOMAIN.encode()), t.data[:300]
    head, _, body = t.data.partition(b"\r\n\r\n")
    assert b"(envelope-from <%s>)" % SENDER.encode() in head
    assert t.data.endswith(sent), t.data
    ev = forwarded(m, qid)
    assert ev["srs"] == "yes" and ev["orig_sender"] == "<%s>" % SENDER, ev
    assert ev["sender"] == "<%s>" % t.sender and ev["targets"] == "1", ev
    assert ev["to"] == "<a@remote.test>", ev
    # The original is done; the copy is delivered and removed too.
    m.wait_event("removed", id=qid)
    m.wait_event("removed", id=ev["forward_id"])
    assert m.events("delivered", id=ev["forward_id"])


@pytest.mark.parametrize("sender,why", [
    ("demo@" + DOMAIN, "ours"),        # a sender in a domain of ours
    ("", "null"),                      # <>: never rewritten
])
def test_forward_keeps_sender(fwd_mta, sender, why):
    m, sink = fwd_mta()
    qid, _ = submit(m, sender, ["fwd@" + DOMAIN],
                    msg=compose(sender=sender or "x@example.org",
                                to="fwd@" + DOMAIN))
    t = sink.wait_delivered(1, log=m.log)[0]
    assert t.sender == sender, (why, t.mail)
    ev = forwarded(m, qid)
    assert ev["srs"] == "no" and ev["reason"], ev


def test_forward_without_srs_group_keeps_sender(fwd_mta):
    m, sink = fwd_mta(srs=False)
    qid, _ = submit(m, SENDER, ["fwd@" + DOMAIN])
    t = sink.wait_delivered(1, log=m.log)[0]
    assert t.sender == SENDER, t.mail
    assert forwarded(m, qid)["srs"] == "no"


def test_forward_authenticated_local_submission_keeps_sender(fwd_mta):
    """sendmail is a local account submitting: its envelope has the A
    record, and the forward keeps even a foreign sender."""
    m, sink = fwd_mta()
    r = sendmail(m, ["-f", SENDER, "fwd@" + DOMAIN],
                 b"Subject: local\n\nhello\n")
    assert r.returncode == 0, r.stderr
    t = sink.wait_delivered(1, log=m.log)[0]
    assert t.sender == SENDER, t.mail
    ev = m.wait_event("forwarded")[0]
    assert ev["srs"] == "no", ev


def test_mailbox_and_forward_both_get_their_copy(fwd_mta):
    m, sink = fwd_mta()
    qid, _ = submit(m, SENDER, ["both@" + DOMAIN])
    t = sink.wait_delivered(1, log=m.log)[0]
    assert t.rcpts == ["b@remote.test"]
    assert t.data.startswith(b"Delivered-To: both@%s\r\n" % DOMAIN.encode())
    m.wait_for_delivery("demo")
    m.wait_event("removed", id=qid)
    assert len(m.messages("demo")) == 1


def test_two_recipients_one_target_one_copy(fwd_mta):
    """fwd, fwd2 and chain all reach a@remote.test: one copy, one RCPT,
    and a Delivered-To: for each recipient that reached it."""
    m, sink = fwd_mta()
    rcpts = ["fwd@" + DOMAIN, "fwd2@" + DOMAIN, "chain@" + DOMAIN]
    qid, _ = submit(m, SENDER, rcpts)
    ev = forwarded(m, qid)
    assert ev["targets"] == "1", ev
    t = sink.wait_delivered(1, log=m.log)[0]
    m.wait_event("removed", id=ev["forward_id"])
    m.wait_event("removed", id=qid)
    assert len(sink.delivered()) == 1, sink.delivered()
    assert t.rcpts == ["a@remote.test"]
    for r in rcpts:
        assert b"Delivered-To: %s\r\n" % r.encode() in t.data
    assert len(m.events("forwarded")) == 1


def test_target_also_a_recipient_gets_one_copy(fwd_mta):
    """A relay client sends to fwd (which forwards to a@remote.test) and
    to A@remote.test itself: the address gets the one copy as sent, with
    its own sender; no forwarded copy is made for it, on any run."""
    m, sink = fwd_mta()
    qid, _ = submit(m, SENDER, ["fwd@" + DOMAIN, "A@remote.test"])
    t = sink.wait_delivered(1, log=m.log)[0]
    m.wait_event("removed", id=qid)
    assert t.rcpts == ["A@remote.test"] and t.sender == SENDER, t.mail
    assert m.events("forwarded") == [] and len(sink.delivered()) == 1
    assert m.events("failed") == [] and m.events("bounce") == []


# -- the retry carries the same sender, across midnight -------------------

def _fake(monkeypatch, when):
    """The daemon started next runs with its clock at when (Unix time)."""
    monkeypatch.setenv("LD_PRELOAD", FAKETIME_LIB)
    monkeypatch.setenv("FAKETIME", time.strftime("@%Y-%m-%d %H:%M:%S",
                                                 time.gmtime(when)))
    monkeypatch.setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1")
    monkeypatch.setenv("TZ", "UTC")
    # ASan wants to be first; libfaketime is preloaded before it.  And
    # ASan's allocator reads the clock under its own lock to release
    # memory to the system: libfaketime's first clock call looks up the
    # real one with dlsym, which allocates, and the allocator deadlocks
    # on itself (seen at start-up, depending on the binary's layout).
    monkeypatch.setenv("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:"
                       "verify_asan_link_order=0:"
                       "allocator_release_to_os_interval_ms=-1")


def test_greylisted_retry_same_sender_across_midnight(fwd_mta, monkeypatch):
    # Yesterday, 23:59:40 UTC: in the past, so no spool file looks old.
    today = calendar.timegm(time.gmtime()[:3] + (0, 0, 0))
    before = today - 20
    after = today + 5
    # retry_min is long: the retry happens only after the restart.
    m, sink = fwd_mta(sink_options=dict(greylist=True), start=False,
                      retry_min=300, retry_max=600, lifetime=7200)
    _fake(monkeypatch, before)
    m.start()
    for k in ("LD_PRELOAD", "FAKETIME"):
        monkeypatch.delenv(k)
    qid, _ = submit(m, SENDER, ["fwd@" + DOMAIN])
    fid = forwarded(m, qid)["forward_id"]
    m.wait_event("deferred", id=fid)
    first = sink.transactions()
    assert len(first) == 1 and not first[0].delivered, first
    m.stop()

    _fake(monkeypatch, after)
    m.start()
    for k in ("LD_PRELOAD", "FAKETIME"):
        monkeypatch.delenv(k)
    # The queue manager's socket comes up a moment after the listeners.
    wait_until(lambda: m.cli("queue", "flush").returncode == 0, 10,
               what="queue flush")
    t = sink.wait_delivered(1, log=m.log)[0]
    assert t.mail == first[0].mail, (t.mail, first[0].mail)
    assert t.sender.startswith("SRS0="), t.mail
    # It was stamped before midnight (it still reverses, then) ...
    assert rev(m, t.sender, now=before) == SENDER
    fresh_before = m.cli("srs", "forward", "-n", str(before), SENDER)
    fresh_after = m.cli("srs", "forward", "-n", str(after), SENDER)
    assert srs_stamp(t.sender) == srs_stamp(fresh_before.stdout.strip())
    # ... and a forward made after midnight has another stamp: a copy
    # that recomputed its sender would not have passed the greylist.
    assert srs_stamp(fresh_after.stdout.strip()) != srs_stamp(t.sender)
    m.wait_event("removed", id=fid)


# -- a bounce of the forwarded copy reaches the original sender -----------

def test_refused_copy_bounces_to_original_sender(fwd_mta, remote_mx, dns):
    """The far MX refuses the forwarded copy (550 at RCPT): the report
    goes from <> to the copy's SRS sender, which routes back (reverse
    SRS) to the original sender's MX."""
    m, far = fwd_mta(sink_options=dict(
        rcpt_replies={"a@remote.test": "550 5.1.1 no such user here"}))
    origin = remote_mx("127.0.0.22")
    add_mx(dns, "origin.test", ["127.0.0.22"])
    sender = "s@origin.test"
    qid, _ = submit(m, sender, ["fwd@" + DOMAIN],
                    msg=compose(subject="refused", sender=sender,
                                to="fwd@" + DOMAIN))
    fid = forwarded(m, qid)["forward_id"]
    ev = m.wait_event("bounce", id=fid)[0]
    assert ev["to"].startswith("<SRS0=") and ev["to"].endswith(
        "@%s>" % SRS_DOMAIN), ev
    t = origin.wait_delivered(1, log=m.log)[0]
    assert t.sender == "" and t.rcpts == [sender], t.mail
    assert b"a@remote.test" in t.data and b"5.1.1" in t.data
    attempts = far.transactions()
    assert len(attempts) == 1 and attempts[0].sender.startswith("SRS0=")
    m.wait_event("removed", id=ev["bounce_id"])
    assert len(origin.delivered()) == 1


def test_bounce_judged_as_of_its_arrival(fwd_mta, remote_mx, dns,
                                        monkeypatch):
    """A bounce accepted on its SRS address's last valid day (21 days)
    and deferred by the original sender's MX is still delivered two
    days later: the queue manager judges the SRS address as of the
    bounce's arrival, as the smtpd did, not as of the retry (then 23
    days: "no such user", and a bounce's report has nowhere to go)."""
    arrived = int(time.time()) - 2 * 86400
    m, _ = fwd_mta(start=False, retry_min=300, retry_max=600,
                   lifetime=7 * 86400)
    origin = remote_mx("127.0.0.22",
                       rcpt_replies={"s@origin.test": ["451 4.3.0 later"]})
    add_mx(dns, "origin.test", ["127.0.0.22"])
    r = m.cli("srs", "forward", "-n", str(arrived - 21 * 86400),
              "s@origin.test")
    assert r.returncode == 0, r.stderr
    address = r.stdout.strip()
    _fake(monkeypatch, arrived)
    m.start()
    for k in ("LD_PRELOAD", "FAKETIME"):
        monkeypatch.delenv(k)
    qid, _ = submit(m, "", [address], msg=compose(
        subject="bounce", sender="MAILER-DAEMON@remote.test", to=address))
    m.wait_event("deferred", id=qid)
    m.stop()
    # Today: the address is 23 days old, the bounce 2 days.
    assert m.cli("srs", "reverse", address).returncode == 1
    m.start()
    wait_until(lambda: m.cli("queue", "flush").returncode == 0, 10,
               what="queue flush")
    t = origin.wait_delivered(1, log=m.log)[0]
    assert t.sender == "" and t.rcpts == ["s@origin.test"], t.mail
    m.wait_event("removed", id=qid)
    assert not m.events("failed", id=qid)


def test_forward_authenticated_smtp_keeps_sender(tls_mta, remote_mx, dns,
                                                 mx_port, workdir):
    """alice, logged in on submission, sends as x@alice.example (a
    foreign domain she may use): the smtpd writes the A record, and the
    forward keeps her sender; the same message from an unauthenticated
    client on port 25 is rewritten."""
    sink = remote_mx("127.0.0.21")
    add_mx(dns, "remote.test", ["127.0.0.21"])
    m = tls_mta(aliases=TLS_ALIASES + [("fwd", ["a@remote.test"])],
                relay_networks=("127.0.0.0/8",), extra_conf=srs_conf(
                    workdir) + "delivery = { smtp_port = %d; "
                "connect_timeout = 5; };\n" % mx_port)
    sender = "x@alice.example"
    msg = compose(sender=sender, to="fwd@" + DOMAIN)
    with tls_session(m, "sub_starttls", "alice@" + DOMAIN,
                     PASSWORDS["alice"]) as s:
        s.mail(sender)
        s.rcpt("fwd@" + DOMAIN)
        qid = queue_id(s.data(dot_stuff(msg) + b".\r\n"))
    t = sink.wait_delivered(1, log=m.log)[0]
    assert t.sender == sender, t.mail
    assert forwarded(m, qid)["srs"] == "no"
    qid2, _ = submit(m, sender, ["fwd@" + DOMAIN], msg=msg)
    t = sink.wait_delivered(2, log=m.log)[1]
    assert t.sender.startswith("SRS0="), t.mail
    assert forwarded(m, qid2)["srs"] == "yes"
