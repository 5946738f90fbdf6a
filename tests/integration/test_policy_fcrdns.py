"""The FCrDNS policy check and the exempt mailboxes (issue 9, items 1, 2,
3 and 7), against the real daemon with its default policy and the DNS
stub.

BCP "Valid Reverse DNS" (RFC 1912 2.1): the client's IP has a PTR, and
one PTR name has an A/AAAA equal to the IP.  Default action: refuse at
RCPT with 550 5.7.25 (RFC 7372); a DNS temporary failure or timeout is
450 4.7.25, never a 5xx.  Verdicts apply per recipient, after routing:
an unknown user gets 550 5.1.1 first; postmaster, abuse and security
(and bare <postmaster>) are reachable from a client that fails every
check.  Clients in relay_networks and authenticated clients skip the
checks.

Each client plays its own 127.0.0.x, so each has its own reverse DNS:
127.0.0.1 and ::1 have the fixture's valid PTR (conftest.py), the others
none unless the test writes one.
"""

import socket

import pytest

from conftest import HELO, tls_session
from dnsstub import reverse_name
from mtaproc import wait_until
from smtpraw import Smtp, message

URL = "https://example.test/abuse-form"


def policy_conf(**keys):
    """A policy group; list values become libconfig lists."""
    def value(v):
        if isinstance(v, (list, tuple)):
            return "( %s )" % ", ".join('"%s"' % x for x in v)
        return '"%s"' % v
    return "policy = { %s };\n" % " ".join(
        "%s = %s;" % (k, value(v)) for k, v in keys.items())


def session(m, source="127.0.0.5", sender="x@example.org", **kw):
    """An EHLO'd session with MAIL done, from source."""
    s = Smtp(m.port, source=source, **kw)
    s.ehlo(HELO)
    s.mail(sender)
    return s


def policy_events(m, **fields):
    return m.events("policy", **fields)


def refused_for(m, source, code=550, enhanced="5.7.25"):
    """RCPT demo@ from source: the refusal, checked."""
    with session(m, source) as s:
        r = s.expect("RCPT TO:<demo@example.test>", code, enhanced)
        s.expect("QUIT", 221)
    return r


# -- FCrDNS results ------------------------------------------------------

def test_valid_fcrdns_accepted(mta):
    m = mta()
    with session(m, "127.0.0.1") as s:
        s.rcpt("demo@example.test")
        s.data(message())
        s.expect("QUIT", 221)
    m.wait_for_delivery("demo")
    assert policy_events(m) == [], policy_events(m)


def test_no_ptr_refused(mta):
    m = mta()
    with session(m, "127.0.0.5") as s:
        r = s.expect("RCPT TO:<demo@example.test>", 550, "5.7.25")
        assert r.first == \
            "5.7.25 Reverse DNS validation failed for [127.0.0.5]", r
        # RFC 5321 3.3: every recipient refused, so DATA is 554.
        s.expect("DATA", 554, "5.5.1")
        s.expect("QUIT", 221)
    ev = m.wait_event("policy", check="fcrdns")[0]
    assert ev["verdict"] == "reject" and ev["action"] == "reject", ev
    assert ev["client"] == "[127.0.0.5]" and ev["session"], ev
    assert ev["evidence"] == "no PTR for 127.0.0.5", ev
    # Logged once per session, however many recipients it refuses.
    assert len(policy_events(m, check="fcrdns")) == 1


def test_ptr_without_matching_address_refused(dns, mta):
    dns.zone.add_ptr("127.0.0.6", "host6.example.org")
    dns.zone.add("host6.example.org", "A", "192.0.2.6")
    m = mta()
    refused_for(m, "127.0.0.6")
    ev = m.wait_event("policy", check="fcrdns")[0]
    assert "host6.example.org" in ev["evidence"], ev


def test_second_ptr_name_matches(dns, mta):
    dns.zone.add_ptr("127.0.0.7", "first.example.org")
    dns.zone.add("first.example.org", "A", "192.0.2.7")
    dns.zone.add_ptr("127.0.0.7", "second.example.org")
    dns.zone.add("second.example.org", "A", "127.0.0.7")
    m = mta()
    with session(m, "127.0.0.7") as s:
        s.rcpt("demo@example.test")
        s.expect("QUIT", 221)
    ev = m.wait_event("client-name", client="[127.0.0.7]")[0]
    assert ev["status"] == "verified", ev
    assert ev["rdns"] == "second.example.org", ev
    assert policy_events(m) == []


def test_at_most_ten_ptr_names_tried(dns, mta):
    """Twelve PTR names, none mapping back: ten are asked for their
    address, never more, and the client is refused.  (Which ten is the
    resolver's order of the RRset, so none of them matches here.)"""
    names = ["n%d.example.org" % i for i in range(12)]
    for name in names:
        dns.zone.add_ptr("127.0.0.8", name)
        dns.zone.add(name, "A", "192.0.2.8")
    m = mta()
    refused_for(m, "127.0.0.8")
    asked = [n for n in names if dns.zone.queried(n, "A")]
    assert len(asked) == 10, asked
    ev = m.wait_event("policy", check="fcrdns")[0]
    assert all(n in ev["evidence"] for n in asked), ev


@pytest.mark.parametrize("stage", ["ptr", "forward"])
def test_servfail_is_450_never_5xx(dns, mta, stage):
    if stage == "ptr":
        dns.zone.fail(reverse_name("127.0.0.9"))
    else:
        dns.zone.add_ptr("127.0.0.9", "broken.example.org")
        dns.zone.fail("broken.example.org")
    m = mta()
    r = refused_for(m, "127.0.0.9", 450, "4.7.25")
    assert "[127.0.0.9]" in r.first, r
    ev = m.wait_event("policy", check="fcrdns")[0]
    assert ev["verdict"] == "tempfail" and ev["action"] == "reject", ev


def test_timeout_is_450_never_5xx(dns, mta):
    dns.zone.drop(reverse_name("127.0.0.10"))
    m = mta(dns_options={"client_timeout": 1})
    refused_for(m, "127.0.0.10", 450, "4.7.25")


def test_second_name_tempfails_first_does_not_match(dns, mta):
    # One name maps elsewhere, the other cannot be asked: no verdict can
    # be permanent, since the second might have matched.
    dns.zone.add_ptr("127.0.0.11", "other.example.org")
    dns.zone.add("other.example.org", "A", "192.0.2.11")
    dns.zone.add_ptr("127.0.0.11", "down.example.org")
    dns.zone.fail("down.example.org")
    m = mta()
    refused_for(m, "127.0.0.11", 450, "4.7.25")


def test_late_answer_within_deadline(dns, mta):
    """The PTR comes after 1.5 s, inside dns.client_timeout: the verdict
    is made from it (the greeting waited for it, so RCPT has it)."""
    dns.zone.add_ptr("127.0.0.12", "slow.example.org")
    dns.zone.add("slow.example.org", "A", "127.0.0.12")
    dns.zone.late(reverse_name("127.0.0.12"), 1.5)
    m = mta(dns_options={"client_timeout": 6})
    with session(m, "127.0.0.12", timeout=10) as s:
        s.rcpt("demo@example.test")
        s.expect("QUIT", 221)
    assert policy_events(m) == []


def test_answer_after_client_left(dns, tls_mta):
    """Implicit TLS reads from the start: clients that leave while their
    PTR is still out free the session and its policy; the late answer
    must reach neither (ASan watches), and the next client is judged."""
    dns.zone.late(reverse_name("127.0.0.13"), 1)
    m = tls_mta(dns_options={"client_timeout": 5}, timeout_command=10)
    for _ in range(3):
        c = socket.create_connection(("127.0.0.1", m.ports["mx_implicit"]),
                                     source_address=("127.0.0.13", 0))
        c.close()
    wait_until(lambda: len(m.events("disconnect")) >= 3, 10,
               what="three sessions to end")
    wait_until(lambda: dns.zone.answered(reverse_name("127.0.0.13")), 20,
               what="the late PTR answer")
    # The next client from there is judged: no PTR (550), or, should
    # the resolver still hold the silence against the server, 450.
    with session(m, "127.0.0.13") as s:
        r = s.cmd("RCPT TO:<demo@example.test>")
        assert (r.code, r.first[:6]) in ((550, "5.7.25"), (450, "4.7.25")), r
        s.expect("QUIT", 221)
    assert m.events("child-died") == []


# -- order of answers, exempt mailboxes ------------------------------------

def test_unknown_user_first(mta):
    """BCP: permanent failure for unknown users first, so callouts get
    the truth: 550 5.1.1 before any policy answer, and relaying is
    still refused as such."""
    m = mta()
    with session(m, "127.0.0.5") as s:
        s.expect("RCPT TO:<nobody@example.test>", 550, "5.1.1")
        s.expect("RCPT TO:<x@remote.example>", 554, "5.7.1")
        s.expect("RCPT TO:<demo@example.test>", 550, "5.7.25")
        s.expect("QUIT", 221)


def test_exempt_mailboxes_in_mixed_transaction(mta):
    """A client that fails FCrDNS still reaches postmaster, abuse and
    security of the domain and bare <postmaster>; each RCPT gets its own
    verdict, and the message goes to the exempt ones only."""
    m = mta()
    with session(m, "127.0.0.5") as s:
        s.rcpt("postmaster@example.test")
        s.expect("RCPT TO:<demo@example.test>", 550, "5.7.25")
        s.rcpt("Abuse@example.test")
        s.rcpt("security+report@example.test")
        s.rcpt("postmaster")
        s.expect("RCPT TO:<alice@example.test>", 550, "5.7.25")
        s.data(message(to="abuse@example.test"))
        s.expect("QUIT", 221)
    m.wait_for_delivery("admin")
    assert m.messages("demo") == [] and m.messages("alice") == []
    # Exempt recipients are accepted without the check being applied:
    # the refusals of demo and alice made the one log line.
    assert len(policy_events(m, check="fcrdns")) == 1


def test_exempt_list_configurable(mta):
    m = mta(extra_conf=policy_conf(exempt=["hostmaster"]))
    with session(m, "127.0.0.5") as s:
        s.expect("RCPT TO:<postmaster@example.test>", 550, "5.7.25")
        s.expect("RCPT TO:<hostmaster@example.test>", 550, "5.1.1")
        s.expect("QUIT", 221)


def test_abuse_url_when_nothing_exempt(mta):
    m = mta(extra_conf=policy_conf(exempt=[], abuse_url=URL))
    with session(m, "127.0.0.5") as s:
        r = s.expect("RCPT TO:<postmaster@example.test>", 550, "5.7.25")
        assert URL in r.text, r
        r = s.expect("RCPT TO:<demo@example.test>", 550, "5.7.25")
        assert URL in r.text, r
        s.expect("QUIT", 221)


def test_abuse_url_not_shown_while_mailboxes_exempt(mta):
    m = mta(extra_conf=policy_conf(abuse_url=URL))
    r = refused_for(m, "127.0.0.5")
    assert URL not in r.text, r


# -- actions ---------------------------------------------------------------

def test_log_action_accepts_and_logs(mta):
    m = mta(extra_conf=policy_conf(fcrdns="log"))
    with session(m, "127.0.0.5") as s:
        s.rcpt("demo@example.test")
        s.data(message())
        s.expect("QUIT", 221)
    m.wait_for_delivery("demo")
    ev = m.wait_event("policy", check="fcrdns")[0]
    assert ev["verdict"] == "reject" and ev["action"] == "log", ev


def test_tempfail_action(mta):
    m = mta(extra_conf=policy_conf(fcrdns="tempfail"))
    r = refused_for(m, "127.0.0.5", 450, "4.7.25")
    assert "Reverse DNS validation failed" in r.first, r


def test_off_logs_nothing(mta):
    m = mta(extra_conf=policy_conf(fcrdns="off", rdns_dynamic="off"))
    with session(m, "127.0.0.5") as s:
        s.rcpt("demo@example.test")
        s.expect("QUIT", 221)
    m.wait_event("disconnect")
    assert policy_events(m) == []


# -- who skips the checks ----------------------------------------------------

def test_relay_networks_skip(mta):
    m = mta(relay_networks=("127.0.0.5/32",))
    with session(m, "127.0.0.5") as s:
        s.rcpt("demo@example.test")
        s.rcpt("x@remote.example")
        s.expect("QUIT", 221)
    with session(m, "127.0.0.6") as s:
        s.expect("RCPT TO:<demo@example.test>", 550, "5.7.25")
        s.expect("QUIT", 221)
    assert [e["client"] for e in policy_events(m)] == ["[127.0.0.6]"]


def test_authenticated_skip(dns, tls_mta):
    # 127.0.0.1 without its PTR: refused until it logs in.
    dns.zone.remove_ptr("127.0.0.1")
    m = tls_mta()
    s = tls_session(m, "mx_starttls")
    s.mail("x@example.org")
    s.expect("RCPT TO:<demo@example.test>", 550, "5.7.25")
    s.expect("QUIT", 221)
    s.close()
    for where in ("mx_starttls", "sub_starttls"):
        s = tls_session(m, where, login="alice@example.test",
                        password="alice-pw")
        s.mail("alice@example.test")
        s.rcpt("demo@example.test")
        s.expect("QUIT", 221)
        s.close()
    assert len(policy_events(m)) == 1


# -- IPv6 -----------------------------------------------------------------

def test_ipv6_valid(mta):
    m = mta(ipv6=True)
    with Smtp(m.port6, host="::1") as s:
        s.ehlo(HELO)
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.expect("QUIT", 221)
    # (The readiness probes connect too: pick the test's session.)
    ev = m.wait_event("client-name", client="[::1]")[-1]
    assert ev["status"] == "verified", ev
    assert policy_events(m) == []


def test_ipv6_no_ptr_refused(dns, mta):
    dns.zone.remove_ptr("::1")
    m = mta(ipv6=True)
    with Smtp(m.port6, host="::1") as s:
        s.ehlo(HELO)
        s.mail("x@example.org")
        r = s.expect("RCPT TO:<demo@example.test>", 550, "5.7.25")
        assert r.first == "5.7.25 Reverse DNS validation failed for [::1]"
        s.rcpt("abuse@example.test")
        s.expect("QUIT", 221)
    ev = m.wait_event("policy", check="fcrdns")[0]
    assert ev["client"] == "[::1]", ev


def test_ipv6_address_must_match(dns, mta):
    # The name has an A for 127.0.0.1 only: an IPv6 client needs AAAA.
    dns.zone.remove_ptr("::1")
    dns.zone.add_ptr("::1", "v4only.example.org")
    dns.zone.add("v4only.example.org", "A", "127.0.0.1")
    m = mta(ipv6=True)
    with Smtp(m.port6, host="::1") as s:
        s.ehlo(HELO)
        s.mail("x@example.org")
        s.expect("RCPT TO:<demo@example.test>", 550, "5.7.25")
        s.expect("QUIT", 221)
    ev = m.wait_event("policy", check="fcrdns")[0]
    assert "v4only.example.org" in ev["evidence"], ev
