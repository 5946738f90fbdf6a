"""The dynamic-name check (issue 9, item 8) and the policy group's
configuration, against the real daemon.

rdns_dynamic looks at the client's PTR names for what DSL/cable/dial-up
pools publish: the client's own octets, or words such as dsl, pool,
dyn.  Its default action is "log" (many small senders still sit on such
names); "reject" refuses with 550 5.7.1, never for the exempt mailboxes
(BCP: "especially from DNS heuristics (like pattern-matching the DNS
reverse name...)").
"""

import re

from conftest import HELO
from smtpraw import Smtp, message
from test_policy_fcrdns import policy_conf, session

POOL = "127-0-0-20.dsl.isp.example"


def pool_client(dns, ip="127.0.0.20", name=POOL):
    """A client with valid FCrDNS whose name looks like a pool's."""
    dns.zone.add_ptr(ip, name)
    dns.zone.add(name, "A", ip)


def test_default_logs_and_accepts(dns, mta):
    pool_client(dns)
    m = mta()
    with session(m, "127.0.0.20") as s:
        s.rcpt("demo@example.test")
        s.data(message())
        s.expect("QUIT", 221)
    m.wait_for_delivery("demo")
    ev = m.wait_event("policy", check="rdns_dynamic")[0]
    assert ev["verdict"] == "reject" and ev["action"] == "log", ev
    assert ev["client"] == "[127.0.0.20]", ev
    assert ev["evidence"] == \
        "the four octets of the address in %s" % POOL, ev
    assert m.events("policy", check="fcrdns") == []


def test_word_in_name(dns, mta):
    pool_client(dns, "127.0.0.21", "host.adsl-pool.isp.example")
    m = mta(extra_conf=policy_conf(rdns_dynamic="reject"))
    with session(m, "127.0.0.21") as s:
        r = s.expect("RCPT TO:<demo@example.test>", 550, "5.7.1")
        assert "[127.0.0.21]" in r.first and "dynamic" in r.first, r
        s.expect("QUIT", 221)
    ev = m.wait_event("policy", check="rdns_dynamic")[0]
    assert ev["evidence"] == \
        "the word adsl in host.adsl-pool.isp.example", ev


def test_reject_spares_exempt_mailboxes(dns, mta):
    pool_client(dns)
    m = mta(extra_conf=policy_conf(rdns_dynamic="reject"))
    with session(m, "127.0.0.20") as s:
        s.expect("RCPT TO:<demo@example.test>", 550, "5.7.1")
        s.rcpt("abuse@example.test")
        s.data(message(to="abuse@example.test"))
        s.expect("QUIT", 221)
    m.wait_for_delivery("admin")
    assert m.messages("demo") == []


def test_server_names_pass(dns, mta):
    # A server's name, even one with "client" or a provider called
    # "cablevision", is no pool.
    pool_client(dns, "127.0.0.22", "mx1.cablevision.example")
    m = mta(extra_conf=policy_conf(rdns_dynamic="reject"))
    for source in ("127.0.0.1", "127.0.0.22"):
        with session(m, source) as s:
            s.rcpt("demo@example.test")
            s.expect("QUIT", 221)
    assert m.events("policy") == []


def test_off(dns, mta):
    pool_client(dns)
    m = mta(extra_conf=policy_conf(rdns_dynamic="off"))
    with session(m, "127.0.0.20") as s:
        s.rcpt("demo@example.test")
        s.expect("QUIT", 221)
    m.wait_event("disconnect", client="[127.0.0.20]")
    assert m.events("policy") == []


def test_tempfail_action(dns, mta):
    pool_client(dns)
    m = mta(extra_conf=policy_conf(rdns_dynamic="tempfail"))
    with session(m, "127.0.0.20") as s:
        s.expect("RCPT TO:<demo@example.test>", 450, "4.7.1")
        s.expect("QUIT", 221)


def test_check_config_names_the_line(mta):
    """A bad policy value stops check-config and the daemon with
    FILE:LINE."""
    m = mta(start=False, extra_conf="policy = {\n  fcrdns = \"bounce\";\n};\n")
    r = m.cli("check-config")
    assert r.returncode == 1, r
    line = open(m.conf).read().split("\n").index('  fcrdns = "bounce";') + 1
    want = '%s:%d: policy.fcrdns: must be "reject", "tempfail", "log" or ' \
        '"off", not "bounce"' % (m.conf, line)
    assert want in r.stderr, r.stderr
    bad = 'policy = { exempt = ( "abuse" ); greylist = "on"; };\n'
    m2 = mta(start=False, extra_conf=bad)
    r = m2.cli("check-config")
    assert r.returncode == 1 and re.search(
        r"decorum\.conf:\d+: .*greylist", r.stderr), r.stderr


def test_ipv6_client_words(dns, mta):
    dns.zone.add_ptr("::1", "dyn-v6.isp.example")
    dns.zone.add("dyn-v6.isp.example", "AAAA", "::1")
    m = mta(ipv6=True)
    with Smtp(m.port6, host="::1") as s:
        s.ehlo(HELO)
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.expect("QUIT", 221)
    ev = m.wait_event("policy", check="rdns_dynamic")[0]
    assert ev["client"] == "[::1]" and "word dyn" in ev["evidence"], ev
