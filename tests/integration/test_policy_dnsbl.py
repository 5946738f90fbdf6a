"""DNSBL and DNSWL (issue 9, items 5 and 11), against the real daemon
and the DNS stub, which serves each test's list zones (bl.test, wl.test).

A DNSBL (RFC 5782) lists a client when its reversed address under the
list's zone has an A record: 127.0.0.21 is listed on bl.test when
21.0.0.127.bl.test answers 127.0.0.2.  Each list has a weight and the
codes that count; a sum at or above the threshold refuses at RCPT with
554 5.7.1.  A list that times out or fails lists nobody; an answer in
127.255.255.0/24 is never a listing and is logged as a misconfiguration
at most once a minute per list.  A DNSWL hit at or above its minimum
trust level exempts the client from the DNS heuristics (fcrdns,
rdns_dynamic), not from the DNSBL.

The clients are 127.0.0.2x with valid FCrDNS (good_client) unless the
test wants them to fail it.  The readiness probes at start-up connect
from 127.0.0.1, so the tests look at their own clients' events only.
"""

import re
import socket
import time

import pytest

from conftest import HELO, tls_session
from mtaproc import wait_until
from smtpraw import Smtp, message
from test_policy_fcrdns import session

BL = "bl.test"
WL = "wl.test"


def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, dict):
        return "{ %s }" % " ".join("%s = %s;" % (k, _value(x))
                                   for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return "( %s )" % ", ".join(_value(x) for x in v)
    return '"%s"' % v


def conf(dnsbl=None, dnswl=None, **checks):
    """The policy group: dnsbl/dnswl are dicts (lists: a list of dicts),
    the other keywords check actions."""
    keys = dict(checks)
    if dnsbl is not None:
        keys["dnsbl"] = dnsbl
    if dnswl is not None:
        keys["dnswl"] = dnswl
    return "policy = %s;\n" % _value(keys)


def bl(*zones, **group):
    """A dnsbl group of the zones (a zone may be a dict of its keys)."""
    group["lists"] = [z if isinstance(z, dict) else {"zone": z}
                      for z in zones]
    return group


def wl(*zones, min_level=None, **group):
    lists = []
    for z in zones:
        d = {"zone": z}
        if min_level is not None:
            d["min_level"] = min_level
        lists.append(d)
    group["lists"] = lists
    return group


def query_name(ip, zone):
    """The name a list is asked (RFC 5782 2.1, 2.4: nibbles for IPv6)."""
    if ":" in ip:
        packed = socket.inet_pton(socket.AF_INET6, ip)
        nibbles = "".join("%02x" % b for b in packed)
        return ".".join(reversed(nibbles)) + "." + zone
    return ".".join(reversed(ip.split("."))) + "." + zone


def good_client(dns, ip):
    """ip passes FCrDNS with a plain server name."""
    name = "mail%s.example.org" % ip.split(".")[-1]
    dns.zone.add_ptr(ip, name)
    dns.zone.add(name, "A", ip)


def listed(dns, ip, zone=BL, *codes):
    for code in codes or ("127.0.0.2",):
        dns.zone.add(query_name(ip, zone), "A", code)


def events(m, event, ip, **fields):
    return m.events(event, client="[%s]" % ip, **fields)


def accepted(m, ip, rcpt="demo@example.test"):
    with session(m, ip, timeout=15) as s:
        s.rcpt(rcpt)
        s.expect("QUIT", 221)


def refused(m, ip, code=554, enhanced="5.7.1", rcpt="demo@example.test"):
    with session(m, ip, timeout=15) as s:
        r = s.expect("RCPT TO:<%s>" % rcpt, code, enhanced)
        s.expect("QUIT", 221)
    return r


# -- listed or not --------------------------------------------------------

def test_listed_refused(dns, mta):
    good_client(dns, "127.0.0.21")
    listed(dns, "127.0.0.21")
    m = mta(extra_conf=conf(dnsbl=bl(BL)))
    with session(m, "127.0.0.21") as s:
        r = s.expect("RCPT TO:<demo@example.test>", 554, "5.7.1")
        assert r.first == "5.7.1 Service unavailable; client [127.0.0.21] " \
            "blocked using bl.test", r
        s.expect("DATA", 554, "5.5.1")
        s.expect("QUIT", 221)
    ev = m.wait_event("policy", check="dnsbl")[0]
    assert ev["verdict"] == "reject" and ev["action"] == "reject", ev
    assert ev["client"] == "[127.0.0.21]", ev
    assert ev["evidence"] == \
        "bl.test=127.0.0.2 weight 1; total 1, threshold 1", ev
    assert events(m, "policy", "127.0.0.21", check="fcrdns") == []


def test_not_listed_accepted(dns, mta):
    good_client(dns, "127.0.0.22")
    m = mta(extra_conf=conf(dnsbl=bl(BL)))
    with session(m, "127.0.0.22") as s:
        s.rcpt("demo@example.test")
        s.data(message())
        s.expect("QUIT", 221)
    m.wait_for_delivery("demo")
    assert dns.zone.queried(query_name("127.0.0.22", BL), "A")
    assert events(m, "policy", "127.0.0.22") == []


def test_no_lists_no_queries(dns, mta):
    """The default: no lists, nothing asked of any list."""
    good_client(dns, "127.0.0.23")
    m = mta()
    accepted(m, "127.0.0.23")
    m.wait_event("disconnect", client="[127.0.0.23]")
    assert not [q for q, _ in dns.zone.queries
                if q.startswith("23.0.0.127.") and "in-addr" not in q]


@pytest.mark.parametrize("weights,lists_hit,refuse", [
    ((1, 2), (0,), False),          # 1 < 3
    ((1, 2), (1,), False),          # 2 < 3
    ((1, 2), (0, 1), True),         # 3 = 3: at the threshold
])
def test_weights_and_threshold(dns, mta, weights, lists_hit, refuse):
    zones = ["a.bl.test", "b.bl.test"]
    ip = "127.0.0.24"
    good_client(dns, ip)
    for i in lists_hit:
        listed(dns, ip, zones[i])
    lists = [{"zone": z, "weight": w} for z, w in zip(zones, weights)]
    m = mta(extra_conf=conf(dnsbl={"threshold": 3, "lists": lists}))
    if refuse:
        r = refused(m, ip)
        # The heaviest list that counted names the refusal.
        assert r.first.endswith("blocked using b.bl.test"), r
        ev = m.wait_event("policy", check="dnsbl")[0]
        assert ev["evidence"] == "a.bl.test=127.0.0.2 weight 1; " \
            "b.bl.test=127.0.0.2 weight 2; total 3, threshold 3", ev
    else:
        accepted(m, ip)
        m.wait_event("disconnect", client="[%s]" % ip)
        assert events(m, "policy", ip) == []


def test_return_codes_both_boundaries(dns, mta):
    """codes = "127.0.0.2-127.0.0.11": .1 and .12 do not count, .2 and
    .11 do; one client per answer, one daemon."""
    cases = {"127.0.0.31": ("127.0.0.1", False),
             "127.0.0.32": ("127.0.0.2", True),
             "127.0.0.33": ("127.0.0.11", True),
             "127.0.0.34": ("127.0.0.12", False)}
    for ip, (code, _) in cases.items():
        good_client(dns, ip)
        listed(dns, ip, BL, code)
    m = mta(extra_conf=conf(dnsbl=bl({"zone": BL,
                                      "codes": "127.0.0.2-127.0.0.11"})))
    for ip, (code, counts) in cases.items():
        if counts:
            refused(m, ip)
            ev = m.wait_event("policy", client="[%s]" % ip)[0]
            assert ev["evidence"].startswith("bl.test=%s " % code), ev
        else:
            accepted(m, ip)
            assert events(m, "policy", ip) == []


def test_codes_list_of_ranges(dns, mta):
    """A list of addresses and ranges: only the configured codes count,
    and each one that does is in the evidence."""
    ip = "127.0.0.35"
    good_client(dns, ip)
    listed(dns, ip, BL, "127.0.0.4", "127.0.0.9", "127.0.1.5")
    m = mta(extra_conf=conf(dnsbl=bl({"zone": BL,
                                      "codes": "127.0.0.4, 127.0.1.0/24"})))
    refused(m, ip)
    ev = m.wait_event("policy", check="dnsbl")[0]
    codes = re.match(r"bl\.test=(\S+) ", ev["evidence"]).group(1)
    assert sorted(codes.split(",")) == ["127.0.0.4", "127.0.1.5"], ev


# -- 127.255.255.0/24 -----------------------------------------------------

def test_query_refused_code_is_no_listing(dns, mta):
    """Spamhaus answers 127.255.255.254 to queries through a public
    resolver: never a listing, even where the configured codes cover
    it; logged as a misconfiguration once per list and minute - the
    second client within the minute makes no second line, another list
    its own."""
    for ip in ("127.0.0.41", "127.0.0.42"):
        good_client(dns, ip)
        listed(dns, ip, BL, "127.255.255.254")
        listed(dns, ip, "other.test", "127.255.255.252")
    m = mta(extra_conf=conf(dnsbl=bl({"zone": BL, "codes": "127.0.0.0/8"},
                                     "other.test")))
    accepted(m, "127.0.0.41")
    first = m.wait_event("dnslist-misconfigured", n=2)
    by_list = {e["list"]: e for e in first}
    assert set(by_list) == {BL, "other.test"}, first
    assert by_list[BL]["code"] == "127.255.255.254", first
    assert by_list[BL]["check"] == "dnsbl", first
    accepted(m, "127.0.0.42")
    m.wait_event("disconnect", client="[127.0.0.42]")
    assert len(m.events("dnslist-misconfigured")) == 2
    assert m.events("policy", check="dnsbl") == []


# -- DNS trouble: not listed ----------------------------------------------

def test_timeout_is_not_listed(dns, mta):
    ip = "127.0.0.43"
    good_client(dns, ip)
    dns.zone.drop(query_name(ip, BL))
    m = mta(extra_conf=conf(dnsbl=bl(BL, timeout=1)))
    accepted(m, ip)
    ev = m.wait_event("dnslist-error", client="[%s]" % ip)[0]
    assert ev["list"] == BL and ev["status"] == "timeout", ev
    assert ev["effect"] == "not listed" and ev["check"] == "dnsbl", ev


def test_servfail_is_not_listed(dns, mta):
    ip = "127.0.0.44"
    good_client(dns, ip)
    dns.zone.fail(query_name(ip, BL))
    m = mta(extra_conf=conf(dnsbl=bl(BL)))
    accepted(m, ip)
    ev = m.wait_event("dnslist-error", client="[%s]" % ip)[0]
    assert ev["status"] == "tempfail", ev


def test_lists_asked_in_parallel(dns, mta):
    """Three lists that never answer, timeout 2 s: the RCPT is answered
    about one timeout after connect, not three (6 s)."""
    ip = "127.0.0.45"
    good_client(dns, ip)
    zones = ["one.test", "two.test", "three.test"]
    for z in zones:
        dns.zone.drop(query_name(ip, z))
    m = mta(extra_conf=conf(dnsbl=bl(*zones, timeout=2)))
    t0 = time.monotonic()
    accepted(m, ip)
    took = time.monotonic() - t0
    assert all(dns.zone.queried(query_name(ip, z), "A") for z in zones)
    errs = m.wait_event("dnslist-error", n=3, client="[%s]" % ip)
    assert sorted(e["list"] for e in errs) == sorted(zones)
    print("three silent lists, timeout 2 s: RCPT answered %.2f s after "
          "connect" % took)
    assert 1.5 <= took < 3.5, took


def test_late_answer_after_deadline(dns, mta):
    """The list answers after the timeout: the verdict was made without
    it (not listed), and the late answer reaches nobody (ASan)."""
    ip = "127.0.0.46"
    good_client(dns, ip)
    listed(dns, ip)
    dns.zone.late(query_name(ip, BL), 2.5)
    m = mta(extra_conf=conf(dnsbl=bl(BL, timeout=1)))
    with session(m, ip, timeout=15) as s:
        s.rcpt("demo@example.test")
        m.wait_event("dnslist-error", client="[%s]" % ip)
        wait_until(lambda: dns.zone.answered(query_name(ip, BL)), 15,
                   what="the late answer")
        s.expect("NOOP", 250)
        s.expect("QUIT", 221)
    assert m.events("policy", check="dnsbl") == []
    assert m.events("child-died") == []


@pytest.mark.parametrize("never", [False, True])
def test_client_leaves_first(dns, tls_mta, never):
    """Implicit TLS reads from the start: clients that leave while their
    lists are still out free the session, its policy and its lookups;
    the late answer (or none at all) must reach nothing (ASan watches),
    and the next client is judged."""
    ip = "127.0.0.47"
    good_client(dns, ip)
    listed(dns, ip)
    if never:
        dns.zone.drop(query_name(ip, BL))
    else:
        dns.zone.late(query_name(ip, BL), 1)
    m = tls_mta(extra_conf=conf(dnsbl=bl(BL, timeout=4)))
    for _ in range(3):
        c = socket.create_connection(("127.0.0.1", m.ports["mx_implicit"]),
                                     source_address=(ip, 0))
        c.close()
    wait_until(lambda: len(m.events("disconnect", client="[%s]" % ip)) >= 3,
               10, what="three sessions to end")
    if not never:
        wait_until(lambda: dns.zone.answered(query_name(ip, BL)), 20,
                   what="the late answer")
    else:
        # No event marks an answer that never comes: give a timer that
        # outlived its session the window in which it would fire.
        time.sleep(4.5)
    assert m.events("dnslist-error", client="[%s]" % ip) == []
    good_client(dns, "127.0.0.48")
    listed(dns, "127.0.0.48")
    refused(m, "127.0.0.48")
    assert m.events("child-died") == []


# -- IPv6 -----------------------------------------------------------------

def test_ipv6_nibble_format(dns, mta):
    dns.zone.add(query_name("::1", BL), "A", "127.0.0.2")
    m = mta(ipv6=True, extra_conf=conf(dnsbl=bl(BL)))
    assert query_name("::1", BL).count(".") == 32 + 1
    with Smtp(m.port6, host="::1") as s:
        s.ehlo(HELO)
        s.mail("x@example.org")
        r = s.expect("RCPT TO:<demo@example.test>", 554, "5.7.1")
        assert "client [::1] blocked using bl.test" in r.first, r
        s.expect("QUIT", 221)
    ev = m.wait_event("policy", check="dnsbl")[0]
    assert ev["client"] == "[::1]", ev


# -- DNSWL ----------------------------------------------------------------

def test_dnswl_exempts_from_fcrdns(dns, mta):
    """127.0.0.51 has no PTR (fcrdns refuses it) but a DNSWL lists it at
    level 2: it is exempt, one line says so."""
    ip = "127.0.0.51"
    listed(dns, ip, WL, "127.0.10.2")
    m = mta(extra_conf=conf(dnswl=wl(WL, min_level=1)))
    with session(m, ip) as s:
        s.rcpt("demo@example.test")
        s.data(message())
        s.expect("QUIT", 221)
    m.wait_for_delivery("demo")
    ev = m.wait_event("policy", check="dnswl")[0]
    assert ev["action"] == "exempt" and ev["client"] == "[%s]" % ip, ev
    assert ev["evidence"] == "wl.test=127.0.10.2 level 2", ev
    assert ev["exempt"] == ("fcrdns,rdns_dynamic,helo.syntax,helo.resolves,"
                            "helo.matches_ip"), ev
    assert events(m, "policy", ip, check="fcrdns") == []


@pytest.mark.parametrize("helo,check_name", [
    ("gone.example.org", "helo.resolves"),
    ("elsewhere.example.org", "helo.matches_ip"),
    ("localhost", "helo.syntax"),
])
def test_dnswl_exempts_from_helo(dns, mta, helo, check_name):
    """A listed client with a HELO each HELO check refuses is exempt;
    the same client and HELO, not listed, is refused: the exemption, not
    the HELO, lets it in."""
    dns.zone.add("elsewhere.example.org", "A", "192.0.2.9")
    for ip, wl_listed in (("127.0.0.54", True), ("127.0.0.55", False)):
        good_client(dns, ip)
        if wl_listed:
            listed(dns, ip, WL, "127.0.10.1")
        m = mta(extra_conf=conf(dnswl=wl(WL)))
        with Smtp(m.port, source=ip, timeout=15) as s:
            s.ehlo(helo)
            s.mail("x@example.org")
            if wl_listed:
                s.rcpt("demo@example.test")
            else:
                s.expect("RCPT TO:<demo@example.test>", 550)
            s.expect("QUIT", 221)
        if wl_listed:
            m.wait_event("policy", check="dnswl", client="[%s]" % ip)
            assert events(m, "policy", ip, check=check_name) == []
        else:
            assert events(m, "policy", ip, check=check_name) != []


def test_dnswl_exempts_from_rdns_dynamic(dns, mta):
    ip = "127.0.0.52"
    name = "127-0-0-52.dsl.isp.example"
    dns.zone.add_ptr(ip, name)
    dns.zone.add(name, "A", ip)
    listed(dns, ip, WL, "127.0.10.0")
    m = mta(extra_conf=conf(dnswl=wl(WL), rdns_dynamic="reject"))
    accepted(m, ip)
    m.wait_event("policy", check="dnswl")
    assert m.events("policy", check="rdns_dynamic") == []


@pytest.mark.parametrize("code", ["127.0.10.0", "127.255.255.3",
                                  "127.0.0.255", "127.1.0.3"])
def test_dnswl_not_enough(dns, mta, code):
    """Below the minimum level, an error code (127.255.255.x, and
    dnswl.org's 127.0.0.255 "blocked", whose last octet is no level), or
    an answer outside 127.0.0.0/16: no exemption, fcrdns refuses; the
    error codes are logged as the list's misconfiguration."""
    ip = "127.0.0.53"
    listed(dns, ip, WL, code)
    m = mta(extra_conf=conf(dnswl=wl(WL, min_level=1)))
    refused(m, ip, 550, "5.7.25")
    assert m.events("policy", check="dnswl") == []
    if code in ("127.255.255.3", "127.0.0.255"):
        ev = m.wait_event("dnslist-misconfigured", client="[%s]" % ip)[0]
        assert ev["check"] == "dnswl" and ev["code"] == code, ev
    else:
        assert m.events("dnslist-misconfigured") == []


def test_dnswl_timeout_no_exemption(dns, mta):
    """The RCPT waits for the DNSWL (never a refusal before it is known);
    when it times out, the usual checks apply."""
    ip = "127.0.0.54"
    listed(dns, ip, WL, "127.0.10.2")
    dns.zone.drop(query_name(ip, WL))
    m = mta(extra_conf=conf(dnswl=wl(WL, timeout=2)))
    t0 = time.monotonic()
    refused(m, ip, 550, "5.7.25")
    assert time.monotonic() - t0 >= 1.5
    ev = m.wait_event("dnslist-error", client="[%s]" % ip)[0]
    assert ev["check"] == "dnswl" and ev["status"] == "timeout", ev


def test_dnswl_late_answer_waited_for(dns, mta):
    """The DNSWL answers after 1.5 s, within its timeout: the RCPT waits
    for it and the client is exempt."""
    ip = "127.0.0.55"
    listed(dns, ip, WL, "127.0.10.1")
    dns.zone.late(query_name(ip, WL), 1.5)
    m = mta(extra_conf=conf(dnswl=wl(WL, timeout=5)))
    accepted(m, ip)
    m.wait_event("policy", check="dnswl")


def test_dnswl_does_not_exempt_from_dnsbl(dns, mta):
    ip = "127.0.0.56"
    good_client(dns, ip)
    listed(dns, ip, BL)
    listed(dns, ip, WL, "127.0.10.3")
    m = mta(extra_conf=conf(dnsbl=bl(BL), dnswl=wl(WL)))
    refused(m, ip)
    m.wait_event("policy", check="dnswl")
    m.wait_event("policy", check="dnsbl")


# -- exempt mailboxes, who skips, actions ---------------------------------

def test_exempt_mailboxes_reachable(dns, mta):
    ip = "127.0.0.61"
    good_client(dns, ip)
    listed(dns, ip)
    m = mta(extra_conf=conf(dnsbl=bl(BL)))
    with session(m, ip) as s:
        s.rcpt("postmaster@example.test")
        s.expect("RCPT TO:<demo@example.test>", 554, "5.7.1")
        s.rcpt("abuse@example.test")
        s.rcpt("postmaster")
        s.data(message(to="postmaster@example.test"))
        s.expect("QUIT", 221)
    m.wait_for_delivery("admin")
    assert m.messages("demo") == []


def test_relay_networks_skip(dns, mta):
    ip = "127.0.0.62"
    listed(dns, ip)
    m = mta(relay_networks=("127.0.0.62/32",), extra_conf=conf(dnsbl=bl(BL)))
    accepted(m, ip)
    m.wait_event("disconnect", client="[%s]" % ip)
    assert not dns.zone.queried(query_name(ip, BL))
    assert events(m, "policy", ip) == []


def test_authenticated_skip(dns, tls_mta):
    listed(dns, "127.0.0.1")
    m = tls_mta(extra_conf=conf(dnsbl=bl(BL)))
    s = tls_session(m, "mx_starttls")
    s.mail("x@example.org")
    s.expect("RCPT TO:<demo@example.test>", 554, "5.7.1")
    s.expect("QUIT", 221)
    s.close()
    s = tls_session(m, "mx_starttls", login="alice@example.test",
                    password="alice-pw")
    s.mail("alice@example.test")
    s.rcpt("demo@example.test")
    s.expect("QUIT", 221)
    s.close()
    assert len(m.events("policy", check="dnsbl")) == 1


def test_action_log(dns, mta):
    ip = "127.0.0.63"
    good_client(dns, ip)
    listed(dns, ip)
    m = mta(extra_conf=conf(dnsbl=bl(BL, action="log")))
    accepted(m, ip)
    ev = m.wait_event("policy", check="dnsbl")[0]
    assert ev["verdict"] == "reject" and ev["action"] == "log", ev


def test_action_tempfail(dns, mta):
    ip = "127.0.0.57"
    good_client(dns, ip)
    listed(dns, ip)
    m = mta(extra_conf=conf(dnsbl=bl(BL, action="tempfail")))
    r = refused(m, ip, 454, "4.7.1")
    assert "blocked using bl.test" in r.first, r


def test_action_off_asks_nothing(dns, mta):
    ip = "127.0.0.58"
    good_client(dns, ip)
    listed(dns, ip)
    m = mta(extra_conf=conf(dnsbl=bl(BL, action="off")))
    accepted(m, ip)
    m.wait_event("disconnect", client="[%s]" % ip)
    assert not dns.zone.queried(query_name(ip, BL))
    assert events(m, "policy", ip) == []


# -- configuration ----------------------------------------------------------

@pytest.mark.parametrize("group,line,message", [
    ('dnsbl = {\n lists = ( { zone = "bl.test"; codes = "127.0.0.2-127.0.0.1"; } );\n};',
     ' lists = ( { zone = "bl.test"; codes = "127.0.0.2-127.0.0.1"; } );',
     "codes: a range must go from low to high"),
    ('dnsbl = {\n lists = ( { zone = "bl.test"; codes = "10.0.0.2"; } );\n};',
     ' lists = ( { zone = "bl.test"; codes = "10.0.0.2"; } );',
     "must be inside it"),
    ('dnsbl = {\n threshold = 0;\n};', ' threshold = 0;', "threshold"),
    ('dnsbl = {\n timeout = 61;\n};', ' timeout = 61;', "timeout"),
    ('dnsbl = {\n lists = ( { zone = "bl.test"; level = 1; } );\n};',
     ' lists = ( { zone = "bl.test"; level = 1; } );',
     'unknown setting "policy.dnsbl.lists[0].level"'),
    ('dnswl = {\n lists = ( { zone = "wl.test"; weight = 1; } );\n};',
     ' lists = ( { zone = "wl.test"; weight = 1; } );',
     'unknown setting "policy.dnswl.lists[0].weight"'),
    ('dnswl = {\n lists = ( { zone = "wl.test"; min_level = 256; } );\n};',
     ' lists = ( { zone = "wl.test"; min_level = 256; } );', "min_level"),
    ('dnsbl = {\n lists = ( { zone = "bl.test"; }, { zone = "BL.test."; } );\n};',
     ' lists = ( { zone = "bl.test"; }, { zone = "BL.test."; } );',
     "already listed"),
    ('dnsbl = {\n lists = ( { zone = "bl test"; } );\n};',
     ' lists = ( { zone = "bl test"; } );', "host name"),
    ('dnsbl = {\n action = "bounce";\n};', ' action = "bounce";',
     'policy.dnsbl.action: must be "reject", "tempfail", "log" or "off"'),
    ('dnsbl = "reject";', 'dnsbl = "reject";', "policy.dnsbl: must be a group"),
])
def test_check_config_names_the_line(mta, group, line, message):
    m = mta(start=False, extra_conf="policy = {\n%s\n};\n" % group)
    r = m.cli("check-config")
    assert r.returncode == 1, r
    text = open(m.conf).read().split("\n")
    want = "%s:%d: " % (m.conf, text.index(line) + 1)
    assert want in r.stderr and message in r.stderr, r.stderr


@pytest.mark.parametrize("n,ok", [(16, True), (17, False)])
def test_list_count_limit(mta, n, ok):
    lists = [{"zone": "l%d.test" % i} for i in range(n)]
    m = mta(start=False, extra_conf=conf(dnsbl={"lists": lists}))
    r = m.cli("check-config")
    assert (r.returncode == 0) == ok, r.stderr
    if not ok:
        assert "at most 16 lists" in r.stderr, r.stderr


@pytest.mark.parametrize("length,ok", [(180, True), (181, False)])
def test_zone_length_limit(mta, length, ok):
    zone = ("a" * 59 + ".") * 3
    zone = (zone + "b" * 63)[:length - 5] + ".test"
    assert len(zone) == length
    m = mta(start=False, extra_conf=conf(dnsbl=bl(zone)))
    r = m.cli("check-config")
    assert (r.returncode == 0) == ok, r.stderr
