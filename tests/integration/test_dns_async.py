"""Asynchronous DNS against a server that is slow, silent or late (issue 8,
item 8).

Every lookup the daemon makes is asynchronous and bounded by a deadline:
the client's FCrDNS before the greeting (dns.client_timeout) and the MX
and address lookups of outbound delivery (dns.delivery_timeout).  The
answer can come after the deadline, never, or after the lookup's owner
is gone (the client left, the daemon is stopping).  A use-after-free in
any of these paths was reachable by anyone who controls the reverse DNS
of their own address: a late PTR answer wrote into a freed session.

The DNS stub (dnsstub.py) answers late or never, per name; the tests run
against the sanitizer build, so a late callback into freed memory is an
ASan report, which the mta fixture turns into a failure, and a crashed
child is an event=child-died line, which every test here also rules out.
"""

import socket
import time

import pytest

from conftest import HELO, add_mx, compose, submit, tls_session
from dnsstub import reverse_name
from mtaproc import wait_until
from smtpraw import Smtp, check, message

CLIENT_PTR = reverse_name("127.0.0.1")
FAST = {"client_timeout": 1, "delivery_timeout": 1}


def late_answer_seen(dns, name):
    """Waits until the stub has sent an answer about name.  Whether the
    daemon took it in is shown by what the test does next: a later
    lookup through the same resolver, whose answer libunbound hands over
    after the earlier one."""
    wait_until(lambda: dns.zone.answered(name), 20,
               what="the late DNS answer about %s" % name)


def assert_alive(m, smtpd=None, qmgr=None):
    """No child died, and the children are the ones we started with."""
    assert m.events("child-died") == [], m.events("child-died")
    if smtpd is not None:
        assert m.child("decorum-smtpd") == smtpd
    if qmgr is not None:
        assert m.child("decorum-qmgr") == qmgr


def greeting_after(m, timeout=5.0):
    """Connects; returns (greeting, seconds it took)."""
    t0 = time.monotonic()
    s = Smtp(m.port, timeout=timeout)
    return s, time.monotonic() - t0


def deliver_locally(m):
    """One message to the postmaster: the smtpd still works.  The
    postmaster, exempt from the policy (issue 9), takes it whatever the
    client's DNS says; an ordinary user would refuse a client whose
    lookup failed (450 4.7.25, test_policy_fcrdns.py)."""
    n = len(m.messages("admin"))
    with Smtp(m.port) as s:
        s.ehlo(HELO)
        s.mail("x@example.org")
        s.rcpt("postmaster@example.test")
        s.data(message(subject="alive"))
        s.expect("QUIT", 221)
    m.wait_for_delivery("admin", n=n + 1)


# -- the client's FCrDNS (smtpd) ----------------------------------------

@pytest.mark.parametrize("stage", ["ptr", "forward"])
def test_fcrdns_answer_after_deadline(mta, dns, stage):
    """The deadline fires with a query in flight; its answer comes later
    and must find nothing to write into (the reported crash)."""
    if stage == "ptr":
        dns.zone.add_ptr("127.0.0.1", "late.example.org")
        late = CLIENT_PTR
    else:
        dns.zone.add_ptr("127.0.0.1", "slowname.example.org")
        dns.zone.add("slowname.example.org", "A", "127.0.0.1")
        late = "slowname.example.org"
    dns.zone.late(late, 1.5)
    m = mta(dns_options=FAST)
    smtpd = m.child("decorum-smtpd")
    s, took = greeting_after(m)
    check(s.greeting, 220)
    assert took < 2.5, took                 # the deadline, not the answer
    ev = m.wait_event("client-name")[0]
    assert ev["status"] == "tempfail", ev["_line"]
    s.expect("QUIT", 221)
    s.close()
    late_answer_seen(dns, late)
    deliver_locally(m)          # a later lookup: the late answer is in
    assert_alive(m, smtpd=smtpd)


def test_fcrdns_never_answered(mta, dns):
    """A silent DNS server: the greeting comes at the deadline, mail to
    a user is refused for now (450 4.7.25, never 5xx), mail to the
    postmaster is accepted with the client shown as unknown, and the
    daemon stops cleanly with the queries still pending inside
    libunbound."""
    dns.zone.drop(CLIENT_PTR)
    m = mta(dns_options=FAST)
    smtpd = m.child("decorum-smtpd")
    for _ in range(3):
        s, took = greeting_after(m)
        check(s.greeting, 220)
        assert took < 2.5, took
        s.expect("QUIT", 221)
        s.close()
    assert len(m.events("client-name", status="tempfail")) >= 3
    with Smtp(m.port) as s:
        s.ehlo(HELO)
        s.mail("x@example.org")
        s.expect("RCPT TO:<demo@example.test>", 450, "4.7.25")
        s.expect("QUIT", 221)
    deliver_locally(m)
    msg = m.read_messages("admin")[-1]
    assert b"(unknown [127.0.0.1])" in msg, msg[:400]
    assert_alive(m, smtpd=smtpd)
    assert m.stop() == 0


def test_fcrdns_answer_after_client_left(tls_mta, dns):
    """On implicit TLS the session reads from the start (the handshake):
    a client that connects and leaves frees its session while the PTR
    query is still out; the answer must not reach it."""
    dns.zone.add_ptr("127.0.0.1", "gone.example.org")
    dns.zone.late(CLIENT_PTR, 1)
    # The deadline and the session's own timeout outlast the answer.
    m = tls_mta(dns_options={"client_timeout": 5}, timeout_command=10)
    smtpd = m.child("decorum-smtpd")
    for _ in range(3):
        c = socket.create_connection(("127.0.0.1", m.ports["mx_implicit"]))
        c.close()
    wait_until(lambda: len(m.events("disconnect")) >= 3, 10,
               what="three sessions to end; log:\n" + m.log()[-1500:])
    late_answer_seen(dns, CLIENT_PTR)
    # A whole TLS session still works (its own lookup is late too).
    s = tls_session(m, "mx_implicit")
    s.expect("QUIT", 221)
    s.close()
    assert_alive(m, smtpd=smtpd)


def test_fcrdns_pending_at_shutdown(mta, dns):
    """SIGTERM while clients wait for their greeting: they get 421, the
    lookups are cancelled, the daemon exits 0, and the late answers find
    no process to crash (LeakSanitizer checks the cancelled queries)."""
    dns.zone.late(CLIENT_PTR, 3)
    m = mta(dns_options={"client_timeout": 10})
    clients = [socket.create_connection(("127.0.0.1", m.port))
               for _ in range(3)]
    wait_until(lambda: len(m.events("connect")) >= 3, 5,
               what="three connections")
    assert m.stop() == 0
    for c in clients:
        c.settimeout(5)
        data = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
        assert data.startswith(b"421 4.3.2 "), data
        c.close()


# -- outbound MX and address lookups (qmgr) ------------------------------

@pytest.mark.parametrize("stage", ["mx", "address"])
def test_mx_answer_after_deadline(outbound_mta, remote_mx, dns, stage):
    """The MX (or the MX host's address) is answered after the deadline:
    the mail is deferred, never bounced; the qmgr survives the late
    answer; once DNS is quick again the retry delivers."""
    mx = remote_mx("127.0.0.21")
    names = add_mx(dns, "late.example", ["127.0.0.21"])
    late = "late.example" if stage == "mx" else names[0]
    dns.zone.late(late, 1.5)
    m = outbound_mta(dns_options=FAST, retry_min=30, retry_max=60)
    qmgr = m.child("decorum-qmgr")
    qid, msg = submit(m, "x@example.org", ["u@late.example"])
    ev = m.wait_event("deferred", id=qid)[0]
    assert ev["code"] == "4.4.3", ev["_line"]
    late_answer_seen(dns, late)
    assert m.events("failed", id=qid) == []
    # DNS is quick again.  libunbound may still be backing off the
    # server it saw time out, so the retry is asked for until it works.
    dns.zone.on_time()

    flushed = [0.0]

    def delivered():
        if not mx.delivered() and time.monotonic() - flushed[0] > 2:
            m.flush()
            flushed[0] = time.monotonic()
        return mx.delivered()
    t = wait_until(delivered, 40, what="delivery once DNS answers in time")[0]
    assert t.data.endswith(msg)
    m.wait_event("delivered", id=qid)
    assert_alive(m, qmgr=qmgr)


def test_mx_never_answered(outbound_mta, remote_mx, dns):
    """A silent DNS server for a destination: deferred at the deadline,
    retried, never bounced; another destination is not held up."""
    mx = remote_mx("127.0.0.21")
    dns.zone.drop("silent.example")
    add_mx(dns, "fine.example", ["127.0.0.21"])
    m = outbound_mta(dns_options=FAST)
    qmgr = m.child("decorum-qmgr")
    qid, _ = submit(m, "x@example.org", ["u@silent.example"])
    qid2, msg2 = submit(m, "x@example.org", ["u@fine.example"],
                        compose(to="u@fine.example"))
    assert mx.wait_delivered(1, timeout=10, log=m.log)[0].data.endswith(msg2)
    evs = m.wait_event("deferred", id=qid, n=2, timeout=20)
    assert all(e["code"] == "4.4.3" for e in evs), evs
    assert m.events("failed", id=qid) == []
    assert_alive(m, qmgr=qmgr)
    assert m.stop() == 0


def test_mx_pending_at_shutdown(outbound_mta, dns):
    """SIGTERM while an MX lookup is out: the lookup is cancelled with its
    connection slot, the answer comes after the qmgr let go of it, the
    daemon exits 0, and the message is still queued for the next start."""
    dns.zone.late("stop.example", 3)
    add_mx(dns, "stop.example", ["127.0.0.21"])
    m = outbound_mta(dns_options={"delivery_timeout": 10})
    qid, _ = submit(m, "x@example.org", ["u@stop.example"])
    wait_until(lambda: dns.zone.queried("stop.example", "MX"), 10,
               what="the MX query")
    assert m.stop() == 0
    assert any(qid in f for f in m.spool_files() if "/queue/" in f)
