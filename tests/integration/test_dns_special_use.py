"""DNS that obeys the operator (issue 9, item 10): with dns.nameserver set,
names libunbound would otherwise answer from its built-in local zones go
to that server, as RFC 6761 6.2 asks of resolver libraries.

A lab's `.test` domain (RFC 6761 6.2) gets its MX from the test DNS
server and its mail delivered there; the private-address reverse zones
(RFC 6303: 10.in-addr.arpa and the rest) are asked of it too, so the
FCrDNS of a LAN client can pass.  Without the fix each of these is
"no such domain" with no query sent, which `dns.zone.queried` shows.
"""

import os
import subprocess

import pytest

from conftest import add_mx, submit
from dnsstub import reverse_name


def test_test_tld_mx_is_asked_and_delivered(outbound_mta, remote_mx, dns):
    mx = remote_mx("127.0.0.21")
    names = add_mx(dns, "lab.test", ["127.0.0.21"])
    m = outbound_mta()
    qid, msg = submit(m, "x@example.org", ["user@lab.test"])
    t = mx.wait_delivered(1, log=m.log)[0]
    assert t.rcpts == ["user@lab.test"], t
    assert t.data.endswith(msg)
    assert dns.zone.queried("lab.test", "MX")
    ev = m.wait_event("delivered", id=qid)[0]
    assert ev["relay"].startswith("%s[127.0.0.21]" % names[0]), ev["_line"]


def test_test_tld_seen_by_route(mta, dns):
    dns.zone.add("route.test", "MX", (10, "mx.route.test"))
    dns.zone.add("mx.route.test", "A", "127.0.0.21")
    m = mta(start=False, relay_networks=("127.0.0.0/8",))
    r = m.cli("route", "user@route.test")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "mx: 10 mx.route.test [127.0.0.21]:25" in r.stdout, r.stdout


def test_private_reverse_zones_are_asked(mta, dns):
    """Names in 10.in-addr.arpa, 168.192.in-addr.arpa, 16.172.in-addr.arpa
    and d.f.ip6.arpa (fd00::/8) reach the configured server.  `decorum
    route` asks for the MX of a domain, which here is the reverse name
    itself: the local zones answer by zone, whatever the type, so a
    query that reaches the server proves the zone is no longer kept
    back.  The PTR itself, through the daemon's FCrDNS code, is
    test_private_ptr_reaches_server."""
    zones = ("5.0.0.10.in-addr.arpa", "7.1.168.192.in-addr.arpa",
             "9.0.16.172.in-addr.arpa",
             "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa")
    m = mta(start=False, relay_networks=("127.0.0.0/8",))
    for z in zones:
        dns.zone.add(z, "MX", (10, "mx.lan.test"))
    dns.zone.add("mx.lan.test", "A", "127.0.0.21")
    for z in zones:
        r = m.cli("route", "user@" + z)
        assert dns.zone.queried(z, "MX"), (z, r.stdout, r.stderr)
        assert "mx: 10 mx.lan.test [127.0.0.21]:25" in r.stdout, r.stdout


def probe(build_dir, dns, ip):
    """The daemon's own FCrDNS lookup of ip (tests/helpers/dnsprobe),
    configured with dns.nameserver as decorumd is."""
    exe = os.path.join(build_dir, "tests", "helpers", "dnsprobe")
    r = subprocess.run([exe, dns.nameserver, ip], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return r.stdout.strip()


@pytest.mark.parametrize("ip,name", [
    ("10.0.0.5", "host5.lan.test"),
    ("192.168.1.7", "host7.lan.test"),
    ("172.16.3.9", "host9.lan.test"),
    ("fd00::25", "host25.lan.test"),
])
def test_private_ptr_reaches_server(build_dir, dns, ip, name):
    """A LAN client's FCrDNS: the PTR in a private reverse zone and the
    A/AAAA of its .test name both come from the configured server, so
    the name is verified (before, libunbound said "no such name" for
    the PTR itself, without asking)."""
    dns.zone.add_ptr(ip, name)
    dns.zone.add(name, "AAAA" if ":" in ip else "A", ip)
    assert probe(build_dir, dns, ip) == "verified %s" % name
    assert dns.zone.queried(reverse_name(ip), "PTR")


def test_private_ptr_missing_is_none(build_dir, dns):
    """No PTR on the server: none, after asking it."""
    assert probe(build_dir, dns, "10.9.8.7") == "none"
    assert dns.zone.queried(reverse_name("10.9.8.7"), "PTR")
