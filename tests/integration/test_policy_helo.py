"""The HELO/EHLO checks (issue 9, items 4 and 11), against the real daemon
with its default policy and the DNS stub.

BCP "Valid HELO/EHLO": the argument is a fully qualified domain name
whose A/AAAA include the client's address, or an address literal equal
to it.  Three checks with their own actions, all "reject" by default:
helo.syntax (550 5.5.2; also our own name from a client that is not us,
550 5.7.1), helo.resolves (550 5.7.1), helo.matches_ip (550 5.7.1).  DNS
trouble is 450 4.7.1, never a 5xx.  Verdicts bite at RCPT, like FCrDNS:
unknown users get 550 5.1.1 first, the exempt mailboxes are reachable,
relay_networks and authenticated clients skip.

Clients other than 127.0.0.1 and ::1 play foreign hosts from 127.0.0.100
on (above conftest.CLIENT_ADDRS, which client.example.org resolves to),
each with a valid PTR of its own so that FCrDNS passes and every refusal
here is a HELO check's.
"""

import socket
import time

import pytest

from conftest import HELO, starttls, tls_session
from mtaproc import HOSTNAME, wait_until
from smtpraw import Smtp, message


def policy_conf(**helo):
    """policy = { helo = { KEY = "ACTION"; ... }; }"""
    return "policy = { helo = { %s }; };\n" % " ".join(
        '%s = "%s";' % kv for kv in helo.items())


def host(dns, ip):
    """A foreign client at ip with valid reverse DNS (FCrDNS passes)."""
    name = "host-%s.example.net" % ip.replace(".", "-")
    dns.zone.add_ptr(ip, name)
    dns.zone.add(name, "A", ip)
    return name


def named(dns, name, *addrs):
    """A HELO name with these addresses (A or AAAA by their form)."""
    for a in addrs:
        dns.zone.add(name, "AAAA" if ":" in a else "A", a)
    return name


def session(m, helo, source=None, port=None, host6=False, **kw):
    """A session that said EHLO helo and MAIL FROM."""
    if host6:
        s = Smtp(m.port6, host="::1", **kw)
    else:
        s = Smtp(port or m.port, source=source, **kw)
    s.ehlo(helo)
    s.mail("x@example.org")
    return s


def rcpt_reply(m, helo, source=None, rcpt="demo@example.test", **kw):
    with session(m, helo, source, **kw) as s:
        r = s.cmd("RCPT TO:<%s>" % rcpt)
        s.expect("QUIT", 221)
    return r


def helo_events(m, **fields):
    return [e for e in m.events("policy", **fields)
            if e["check"].startswith("helo.")]


def assert_refused(r, code, enhanced, check=None, m=None):
    assert (r.code, r.first.split(" ")[0]) == (code, enhanced), r
    if check is not None:
        ev = m.wait_event("policy", check=check)[-1]
        assert ev["verdict"] == ("reject" if code >= 500 else "tempfail") \
            or ev["action"] == "tempfail", ev
        return ev
    return None


def long_name(total, label=63):
    """A name of exactly total octets with labels of at most label
    octets, ending in .org."""
    body = total - len(".org")
    labels = []
    while body > 0:
        n = min(label, body)
        labels.append("a" * n)
        body -= n + 1           # the dot after it
    if body == 0:               # the last dot overshot: shorten one label
        labels[-1] = labels[-1][:-1]
    name = ".".join(labels) + ".org"
    assert len(name) == total, (len(name), total)
    return name


# -- accepted names ----------------------------------------------------------

def test_fqdn_with_the_client_address_accepted(mta):
    m = mta()
    with session(m, HELO) as s:
        s.rcpt("demo@example.test")
        s.data(message())
        s.expect("QUIT", 221)
    m.wait_for_delivery("demo")
    assert helo_events(m) == []


def test_foreign_client_with_its_own_name(dns, mta):
    name = host(dns, "127.0.0.101")
    m = mta()
    r = rcpt_reply(m, name, "127.0.0.101")
    assert r.code == 250, r
    assert helo_events(m) == []


# -- helo.syntax ----------------------------------------------------------------

# OK: accepted; SYNTAX: helo.syntax refuses at RCPT; PARSER: the command
# parser's own RFC 5321 rules (labels of 1-63 LDH octets, no root dot)
# refuse the EHLO itself with 501, before any policy.
OK, SYNTAX, PARSER = "ok", "syntax", "parser"


@pytest.mark.parametrize("name,want", [
    ("runner", SYNTAX),                         # one label
    ("mail.example.org", OK),                   # two labels and more
    ("host.example", OK),
    ("127.0.0.1", SYNTAX),                      # a bare IP
    ("host.123", SYNTAX),                       # all-numeric TLD
    ("host.x1", OK),                            # a digit in it is fine
    ("-host.example.org", PARSER),
    ("host-.example.org", PARSER),
    ("client.example.org.", PARSER),            # RFC 5321 4.1.2: no root dot
    ("a" * 63 + ".example.org", OK),            # the longest label
    ("a" * 64 + ".example.org", PARSER),
    (long_name(253), OK),                       # the longest name
    (long_name(254), SYNTAX),
])
def test_syntax_boundaries(dns, mta, name, want):
    if want == OK:
        named(dns, name, "127.0.0.1")
    m = mta()
    with Smtp(m.port) as s:
        if want == PARSER:
            s.expect("EHLO " + name, 501, "5.5.4")
            s.expect("QUIT", 221)
            return
        s.ehlo(name)
        s.mail("x@example.org")
        r = s.cmd("RCPT TO:<demo@example.test>")
        s.expect("QUIT", 221)
    if want == OK:
        assert r.code == 250, r
        assert helo_events(m) == []
    else:
        assert_refused(r, 550, "5.5.2", "helo.syntax", m)
        assert "Helo command rejected" in r.first, r


def test_syntax_refusal_logged_with_evidence(mta):
    m = mta()
    r = rcpt_reply(m, "runner")
    assert r.first == ("5.5.2 <runner>: Helo command rejected: need a "
                       "fully-qualified hostname or an address literal"), r
    ev = m.wait_event("policy", check="helo.syntax")[0]
    assert ev["verdict"] == "reject" and ev["action"] == "reject", ev
    assert ev["evidence"] == "runner: not fully qualified (one label)", ev
    assert ev["client"] == "[127.0.0.1]" and ev["session"], ev


# -- address literals (helo.matches_ip) ---------------------------------------

def test_literal_equal_to_client(mta):
    m = mta()
    assert rcpt_reply(m, "[127.0.0.1]").code == 250
    assert helo_events(m) == []


def test_literal_not_the_client(mta):
    m = mta()
    r = rcpt_reply(m, "[127.0.0.2]")
    ev = assert_refused(r, 550, "5.7.1", "helo.matches_ip", m)
    assert "[127.0.0.1]" in r.first, r
    assert "127.0.0.2" in ev["evidence"], ev


def test_ipv6_literal(mta):
    m = mta(ipv6=True)
    with session(m, "[IPv6:::1]", host6=True) as s:
        s.rcpt("demo@example.test")
        s.expect("QUIT", 221)
    with session(m, "[IPv6:::2]", host6=True) as s:
        r = s.expect("RCPT TO:<demo@example.test>", 550, "5.7.1")
        assert "[::1]" in r.first, r
        s.expect("QUIT", 221)
    # An IPv6 literal from an IPv4 client is not its address either.
    r = rcpt_reply(m, "[IPv6:::1]")
    assert_refused(r, 550, "5.7.1")
    assert len(helo_events(m, check="helo.matches_ip")) == 2


# -- helo.resolves, helo.matches_ip ----------------------------------------------

def test_name_without_addresses(dns, mta):
    dns.zone.add("noaddr.example.org", "MX", (10, "mx.example.org"))
    m = mta()
    r = rcpt_reply(m, "noaddr.example.org")
    ev = assert_refused(r, 550, "5.7.1", "helo.resolves", m)
    assert ev["evidence"] == "no A/AAAA for noaddr.example.org", ev
    assert "Host not found" in r.first, r
    r = rcpt_reply(m, "nxdomain.example.org")
    assert_refused(r, 550, "5.7.1")
    assert dns.zone.queried("nxdomain.example.org", "A")
    assert dns.zone.queried("nxdomain.example.org", "AAAA")


def test_name_elsewhere(dns, mta):
    named(dns, "elsewhere.example.org", "192.0.2.1", "2001:db8::1")
    m = mta()
    r = rcpt_reply(m, "elsewhere.example.org")
    ev = assert_refused(r, 550, "5.7.1", "helo.matches_ip", m)
    assert "does not resolve to your address [127.0.0.1]" in r.first, r
    assert ev["evidence"] == ("elsewhere.example.org A/AAAA: 192.0.2.1 "
                              "2001:db8::1; not 127.0.0.1"), ev
    # It resolves: helo.resolves has nothing to say.
    assert helo_events(m, check="helo.resolves") == []


def test_name_elsewhere_a_listed_first(dns, mta):
    """The evidence lists A before AAAA, whichever answers first."""
    named(dns, "late-a.example.org", "192.0.2.1", "2001:db8::1")
    dns.zone.late("late-a.example.org", 1, "A")
    m = mta()
    rcpt_reply(m, "late-a.example.org", timeout=10)
    ev = m.wait_event("policy", check="helo.matches_ip")[0]
    assert dns.zone.answered("late-a.example.org", "AAAA")[0] < \
        dns.zone.answered("late-a.example.org", "A")[0]
    assert ev["evidence"] == ("late-a.example.org A/AAAA: 192.0.2.1 "
                              "2001:db8::1; not 127.0.0.1"), ev


def test_ipv6_client_needs_aaaa(dns, mta):
    named(dns, "v4only.example.org", "127.0.0.1")
    named(dns, "v6.example.org", "::1")
    m = mta(ipv6=True)
    with session(m, "v6.example.org", host6=True) as s:
        s.rcpt("demo@example.test")
        s.expect("RSET", 250)
        s.ehlo("v4only.example.org")
        s.mail("x@example.org")
        s.expect("RCPT TO:<demo@example.test>", 550, "5.7.1")
        s.expect("QUIT", 221)
    ev = m.wait_event("policy", check="helo.matches_ip")[0]
    assert ev["client"] == "[::1]", ev


def test_one_lookup_per_name(dns, mta):
    """resolves and matches_ip share one A and one AAAA query."""
    named(dns, "once.example.org", "192.0.2.9")
    m = mta()
    assert_refused(rcpt_reply(m, "once.example.org"), 550, "5.7.1")
    asked = [q for q in dns.zone.queries if q[0] == "once.example.org."]
    assert sorted(asked) == [("once.example.org.", "A"),
                             ("once.example.org.", "AAAA")], asked


# -- DNS trouble: 4xx, never 5xx -------------------------------------------------

def test_servfail_is_450(dns, mta):
    dns.zone.fail("broken.example.org")
    m = mta()
    r = rcpt_reply(m, "broken.example.org")
    assert r.code == 450 and r.first.startswith("4.7.1 "), r
    ev = m.wait_event("policy", check="helo.resolves")[0]
    assert ev["verdict"] == "tempfail" and ev["action"] == "reject", ev
    ev = m.wait_event("policy", check="helo.matches_ip")[0]
    assert ev["verdict"] == "tempfail", ev


def test_timeout_is_450(dns, mta):
    dns.zone.drop("silent.example.org")
    m = mta(dns_options={"client_timeout": 1})
    r = rcpt_reply(m, "silent.example.org", timeout=10)
    assert r.code == 450 and r.first.startswith("4.7.1 "), r


# -- actions -------------------------------------------------------------------

def test_log_action(mta):
    m = mta(extra_conf=policy_conf(syntax="log", resolves="log",
                                   matches_ip="log"))
    with session(m, "runner") as s:
        s.rcpt("demo@example.test")
        s.data(message())
        s.expect("QUIT", 221)
    m.wait_for_delivery("demo")
    evs = helo_events(m)
    assert sorted(e["check"] for e in evs) == [
        "helo.matches_ip", "helo.resolves", "helo.syntax"], evs
    assert all(e["action"] == "log" for e in evs), evs


def test_each_check_its_own_action(dns, mta):
    """helo.syntax logs, the others are off: only one line, accepted."""
    m = mta(extra_conf=policy_conf(syntax="log", resolves="off",
                                   matches_ip="off"))
    assert rcpt_reply(m, "runner").code == 250
    m.wait_event("disconnect", n=1)
    assert [e["check"] for e in helo_events(m)] == ["helo.syntax"]


def test_matches_ip_log_only(dns, mta):
    """The RFC 5321 4.1.4 switch: a mismatch is logged, a name that does
    not resolve still refused."""
    named(dns, "elsewhere.example.org", "192.0.2.1")
    m = mta(extra_conf=policy_conf(matches_ip="log"))
    assert rcpt_reply(m, "elsewhere.example.org").code == 250
    ev = m.wait_event("policy", check="helo.matches_ip")[0]
    assert ev["action"] == "log", ev
    assert_refused(rcpt_reply(m, "nxdomain.example.org"), 550, "5.7.1")


def test_tempfail_action(mta):
    # (resolves would refuse the name too, and a 5xx wins over a 4xx.)
    m = mta(extra_conf=policy_conf(syntax="tempfail", resolves="off",
                                   matches_ip="off"))
    r = rcpt_reply(m, "host.123")
    assert_refused(r, 450, "4.5.2")
    ev = m.wait_event("policy", check="helo.syntax")[0]
    assert ev["verdict"] == "reject" and ev["action"] == "tempfail", ev


def test_off_runs_nothing(dns, mta):
    m = mta(extra_conf=policy_conf(syntax="off", resolves="off",
                                   matches_ip="off"))
    assert rcpt_reply(m, "nxdomain.example.org").code == 250
    assert rcpt_reply(m, "runner").code == 250
    m.wait_event("disconnect", n=2)
    assert helo_events(m) == []
    assert not dns.zone.queried("nxdomain.example.org")


@pytest.mark.parametrize("conf,message_part", [
    ('policy = { helo = { syntax = "maybe"; }; };',
     'policy.helo.syntax: must be "reject", "tempfail", "log" or "off"'),
    ('policy = { helo = { matches = "log"; }; };', 'unknown setting'),
    ('policy = { helo = "log"; };', "must be a group"),
    ('policy = { helo = { resolves = 1; }; };', "policy.helo.resolves"),
])
def test_config_refused(mta, conf, message_part):
    m = mta(start=False, extra_conf=conf + "\n")
    r = m.cli("check-config")
    assert r.returncode == 1, r
    assert r.stderr.startswith(m.conf + ":"), r.stderr
    assert message_part in r.stderr, r.stderr


# -- our own name --------------------------------------------------------------

def test_own_hostname_from_a_foreign_client(dns, mta):
    host(dns, "127.0.0.103")
    named(dns, HOSTNAME, "127.0.0.1")
    m = mta()
    r = rcpt_reply(m, HOSTNAME, "127.0.0.103")
    ev = assert_refused(r, 550, "5.7.1", "helo.syntax", m)
    assert "our own name" in r.first and "[127.0.0.103]" in r.first, r
    assert HOSTNAME in ev["evidence"], ev
    # Any case, and a local domain, are ours too.
    assert_refused(rcpt_reply(m, HOSTNAME.upper(), "127.0.0.103"), 550, "5.7.1")
    assert_refused(rcpt_reply(m, "example.test", "127.0.0.103"), 550, "5.7.1")
    # From the address it reached (this host itself): accepted.
    assert rcpt_reply(m, HOSTNAME).code == 250


def test_own_hostname_from_one_of_its_addresses(dns, mta):
    """A sibling behind our name (its A includes the client) is us."""
    host(dns, "127.0.0.104")
    named(dns, HOSTNAME, "127.0.0.1", "127.0.0.104")
    m = mta()
    assert rcpt_reply(m, HOSTNAME, "127.0.0.104").code == 250
    assert helo_events(m) == []


def test_own_hostname_kept_when_matches_ip_relaxed(dns, mta):
    host(dns, "127.0.0.105")
    named(dns, HOSTNAME, "127.0.0.1")
    m = mta(extra_conf=policy_conf(matches_ip="log"))
    assert_refused(rcpt_reply(m, HOSTNAME, "127.0.0.105"), 550, "5.7.1",
                   "helo.syntax", m)


# -- who is checked --------------------------------------------------------------

def test_unknown_user_first_and_exempt_reachable(mta):
    m = mta()
    with session(m, "runner") as s:
        s.expect("RCPT TO:<nobody@example.test>", 550, "5.1.1")
        s.expect("RCPT TO:<demo@example.test>", 550, "5.5.2")
        s.rcpt("postmaster@example.test")
        s.rcpt("abuse@example.test")
        s.rcpt("postmaster")
        s.data(message(to="postmaster@example.test"))
        s.expect("QUIT", 221)
    m.wait_for_delivery("admin")
    assert m.messages("demo") == []


def test_relay_networks_skip(dns, mta):
    host(dns, "127.0.0.106")
    m = mta(relay_networks=("127.0.0.106/32",))
    assert rcpt_reply(m, "runner", "127.0.0.106").code == 250
    m.wait_event("disconnect", n=1)
    assert helo_events(m) == []


def test_authenticated_skip(tls_mta):
    m = tls_mta()
    s = tls_session(m, "mx_starttls")
    s.ehlo("runner")
    s.mail("x@example.org")
    s.expect("RCPT TO:<demo@example.test>", 550, "5.5.2")
    s.expect("QUIT", 221)
    s.close()
    s = tls_session(m, "mx_starttls", login="alice@example.test",
                    password="alice-pw")
    s.ehlo("runner")
    s.mail("alice@example.test")
    s.rcpt("demo@example.test")
    s.expect("QUIT", 221)
    s.close()
    assert len(helo_events(m, check="helo.syntax")) == 1


# -- a new HELO/EHLO replaces the name -------------------------------------------

def test_second_ehlo_judged_anew(mta):
    m = mta()
    with Smtp(m.port) as s:
        s.ehlo(HELO)
        s.ehlo("runner")
        s.mail("x@example.org")
        s.expect("RCPT TO:<demo@example.test>", 550, "5.5.2")
        s.ehlo(HELO)
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.expect("QUIT", 221)
    assert len(helo_events(m, check="helo.syntax")) == 1


def test_ehlo_after_starttls_replaces_the_name(dns, tls_mta):
    """RFC 3207 4.2: the client says EHLO again inside TLS; that name is
    the one judged, both ways, and the one before TLS is forgotten."""
    dns.zone.drop("slowpoke.example.org")
    m = tls_mta(dns_options={"client_timeout": 5})
    with Smtp(m.ports["mx_starttls"], timeout=10) as s:
        s.ehlo("runner")
        starttls(s)
        s.ehlo(HELO)
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.expect("QUIT", 221)
    with Smtp(m.ports["mx_starttls"], timeout=10) as s:
        s.ehlo("slowpoke.example.org")       # its lookup never answers
        starttls(s)
        s.ehlo("runner")
        s.mail("x@example.org")
        t = time.monotonic()
        s.expect("RCPT TO:<demo@example.test>", 550, "5.5.2")
        assert time.monotonic() - t < 2
        s.expect("QUIT", 221)
    assert [e["evidence"] for e in helo_events(m, check="helo.syntax")] == [
        "runner: not fully qualified (one label)"]


def test_second_ehlo_cancels_the_lookup_out(dns, mta):
    """The first name's lookup never answers; the second EHLO cancels it
    and the RCPT is judged on the second name at once."""
    dns.zone.drop("never.example.org")
    m = mta(dns_options={"client_timeout": 5})
    with Smtp(m.port, timeout=10) as s:
        s.ehlo("never.example.org")
        s.ehlo(HELO)
        s.mail("x@example.org")
        t = time.monotonic()
        s.rcpt("demo@example.test")
        assert time.monotonic() - t < 2
        s.expect("QUIT", 221)
    assert helo_events(m) == []


# -- the RCPT waits for the lookup -------------------------------------------------

DEBUG = 'log_level = "debug";\n'


def test_rcpt_waits_for_a_late_answer(dns, mta):
    named(dns, "slow.example.org", "127.0.0.1")
    dns.zone.late("slow.example.org", 1.5)
    m = mta(dns_options={"client_timeout": 8}, extra_conf=DEBUG)
    with Smtp(m.port, timeout=15) as s:
        s.ehlo("slow.example.org")
        s.mail("x@example.org")
        t = time.monotonic()
        s.rcpt("demo@example.test")
        waited = time.monotonic() - t
        s.data(message())
        s.expect("QUIT", 221)
    assert waited >= 1.0, waited
    m.wait_for_delivery("demo")
    assert m.events("state", new="policy"), "the RCPT did not wait"
    assert helo_events(m) == []


def test_pipelined_rcpts_wait_in_order(dns, mta):
    named(dns, "slowbad.example.org", "192.0.2.1")
    dns.zone.late("slowbad.example.org", 1.5)
    m = mta(dns_options={"client_timeout": 8}, extra_conf=DEBUG)
    with Smtp(m.port, timeout=15) as s:
        s.ehlo("slowbad.example.org")
        s.send(b"MAIL FROM:<x@example.org>\r\n"
               b"RCPT TO:<demo@example.test>\r\n"
               b"RCPT TO:<postmaster@example.test>\r\n"
               b"RCPT TO:<nobody@example.test>\r\n"
               b"RCPT TO:<alice@example.test>\r\n"
               b"DATA\r\n")
        replies = [s.reply() for _ in range(6)]
        codes = [(r.code, r.first[:5]) for r in replies[:5]]
        assert codes == [(250, "2.1.0"), (550, "5.7.1"), (250, "2.1.5"),
                         (550, "5.1.1"), (550, "5.7.1")], replies
        assert replies[5].code == 354, replies
        s.send(message(to="postmaster@example.test"))
        r = s.reply()
        assert r.code == 250, r
        s.expect("QUIT", 221)
    m.wait_for_delivery("admin")
    assert m.events("state", new="policy")


def test_client_leaves_while_rcpt_waits(dns, mta):
    """The lookup is out when the client goes: its late answer must
    reach no freed session (ASan watches), and the daemon goes on."""
    named(dns, "gone.example.org", "127.0.0.1")
    dns.zone.late("gone.example.org", 1.5)
    m = mta(dns_options={"client_timeout": 8}, extra_conf=DEBUG)
    s = Smtp(m.port, timeout=10)
    s.ehlo("gone.example.org")
    s.mail("x@example.org")
    s.send(b"RCPT TO:<demo@example.test>\r\n")
    m.wait_event("state", new="policy")
    s.sock.close()
    m.wait_event("disconnect", n=2)     # the readiness probe, and ours
    wait_until(lambda: dns.zone.answered("gone.example.org"), 10,
               what="the late answer")
    # The daemon still works, and the answer did not end up elsewhere.
    assert rcpt_reply(m, HELO).code == 250
    assert m.events("child-died") == []


def test_never_answered_ends_at_the_deadline(dns, mta):
    dns.zone.drop("void.example.org")
    m = mta(dns_options={"client_timeout": 2}, extra_conf=DEBUG)
    with Smtp(m.port, timeout=15) as s:
        s.ehlo("void.example.org")
        s.mail("x@example.org")
        t = time.monotonic()
        r = s.cmd("RCPT TO:<demo@example.test>")
        waited = time.monotonic() - t
        assert r.code == 450 and r.first.startswith("4.7.1 "), r
        s.rcpt("abuse@example.test")
        s.expect("QUIT", 221)
    assert 1.0 <= waited < 4, waited
    assert m.events("state", new="policy")


def test_shutdown_while_rcpt_waits(dns, mta):
    dns.zone.drop("stuck.example.org")
    m = mta(dns_options={"client_timeout": 8}, extra_conf=DEBUG)
    s = Smtp(m.port, timeout=10)
    s.ehlo("stuck.example.org")
    s.mail("x@example.org")
    s.send(b"RCPT TO:<demo@example.test>\r\n")
    m.wait_event("state", new="policy")
    m.stop()
    try:
        r = s.reply()
        assert r.code == 421, r
    except (ConnectionError, socket.timeout, OSError):
        pass
    s.close()
