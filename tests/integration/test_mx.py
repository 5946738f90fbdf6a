"""MX resolution (src/dns/mx.c) seen through `decorum route ADDRESS`.

Each test gives a remote domain of its own some records in the loopback
DNS server (the `dns` fixture) and checks the `mx:` lines that route
prints after its routing decision: preference order, equal preferences,
the implicit MX of RFC 5321 5.1, IPv6 and IPv4 addresses, RFC 7505 null
MX, MX pointing to our own hostname (mx.example.test, from mtaproc), a
SERVFAIL (temporary, never a bounce), NXDOMAIN, hosts without addresses
and delivery.smtp_port.  The routing lines and exit code stay as before.
"""

import re

from mtaproc import HOSTNAME

MX_LINE = re.compile(r"^mx: (\d+) (\S+) \[([0-9a-fA-F:.]+)\]:(\d+)$")


def route(m, addr):
    r = m.cli("route", addr)
    assert r.returncode == 0, (r.stdout, r.stderr)
    # The routing decision comes first, unchanged.
    assert "decision: remote" in r.stdout
    assert "remote: %s (SMTP to the MX of" % addr in r.stdout
    return r.stdout


def mx_lines(out):
    return [l for l in out.splitlines() if l.startswith("mx:")]


def plan(out):
    """[(pref, host, ip, port)] from the mx: lines, in order."""
    rows = []
    for line in mx_lines(out):
        mt = MX_LINE.match(line)
        if mt:
            rows.append((int(mt.group(1)), mt.group(2), mt.group(3),
                         int(mt.group(4))))
    return rows


def test_mx_preference_order(mta, dns):
    z = dns.zone
    # Added worst first: the order must come from the preferences.
    z.add("order.example", "MX", (20, "mx2.order.example"))
    z.add("order.example", "MX", (10, "mx1.order.example"))
    z.add("mx1.order.example", "A", "127.0.0.21")
    z.add("mx2.order.example", "A", "127.0.0.22")
    m = mta(start=False)
    out = route(m, "user@order.example")
    assert plan(out) == [(10, "mx1.order.example", "127.0.0.21", 25),
                         (20, "mx2.order.example", "127.0.0.22", 25)], out
    assert dns.zone.queried("order.example", "MX")


def test_mx_equal_preference_both_present_and_shuffled(mta, dns):
    z = dns.zone
    z.add("equal.example", "MX", (10, "a.equal.example"))
    z.add("equal.example", "MX", (10, "b.equal.example"))
    z.add("equal.example", "MX", (30, "c.equal.example"))
    z.add("a.equal.example", "A", "127.0.0.31")
    z.add("b.equal.example", "A", "127.0.0.32")
    z.add("c.equal.example", "A", "127.0.0.33")
    m = mta(start=False)
    firsts = set()
    for _ in range(20):
        rows = plan(route(m, "user@equal.example"))
        hosts = [h for _, h, _, _ in rows]
        assert sorted(hosts[:2]) == ["a.equal.example", "b.equal.example"]
        assert hosts[2:] == ["c.equal.example"]
        firsts.add(hosts[0])
    # Random among equals (RFC 5321 5.1): both orders show up in 20
    # tries unless the shuffle is broken (chance 2**-19).
    assert firsts == {"a.equal.example", "b.equal.example"}


def test_mx_implicit_from_a(mta, dns):
    dns.zone.add("noMX.example", "A", "127.0.0.40")
    m = mta(start=False)
    out = route(m, "user@nomx.example")
    assert "mx: implicit (no MX records)" in mx_lines(out), out
    assert plan(out) == [(0, "nomx.example", "127.0.0.40", 25)], out


def test_mx_ipv6_and_ipv4_addresses(mta, dns):
    z = dns.zone
    z.add("six.example", "MX", (10, "mx.six.example"))
    z.add("mx.six.example", "A", "127.0.0.50")
    z.add("mx.six.example", "AAAA", "::1")
    z.add("mx.six.example", "AAAA", "2001:db8::25")
    m = mta(start=False)
    rows = plan(route(m, "user@six.example"))
    ips = [ip for _, _, ip, _ in rows]
    # IPv6 first, then IPv4, all of them.
    assert sorted(ips[:2]) == ["2001:db8::25", "::1"], rows
    assert ips[2:] == ["127.0.0.50"], rows
    assert dns.zone.queried("mx.six.example", "AAAA")


def test_mx_null(mta, dns):
    dns.zone.add("null.example", "MX", (0, "."))
    m = mta(start=False)
    out = route(m, "user@null.example")
    assert mx_lines(out) == [
        "mx: null MX: the domain accepts no mail (5.1.10)"], out
    # A null MX is final: no address lookups of "." or of the domain.
    assert not dns.zone.queried("null.example", "A")


def test_mx_pointing_to_us_loops(mta, dns):
    z = dns.zone
    z.add("loop.example", "MX", (10, HOSTNAME.upper() + "."))
    z.add("loop.example", "MX", (20, "backup.loop.example"))
    z.add("backup.loop.example", "A", "127.0.0.60")
    z.add(HOSTNAME, "A", "127.0.0.1")
    m = mta(start=False)
    out = route(m, "user@loop.example")
    lines = mx_lines(out)
    assert len(lines) == 1 and lines[0].startswith(
        "mx: loops back to us (5.4.6)"), out
    assert plan(out) == []


def test_mx_we_are_backup(mta, dns):
    # RFC 5321 5.1: as a backup MX, only the better hosts remain.
    z = dns.zone
    z.add("backup.example", "MX", (10, "primary.backup.example"))
    z.add("backup.example", "MX", (20, HOSTNAME))
    z.add("backup.example", "MX", (30, "worse.backup.example"))
    z.add("primary.backup.example", "A", "127.0.0.70")
    z.add("worse.backup.example", "A", "127.0.0.71")
    z.add(HOSTNAME, "A", "127.0.0.1")
    m = mta(start=False)
    out = route(m, "user@backup.example")
    assert plan(out) == [(10, "primary.backup.example", "127.0.0.70", 25)], out
    assert "loops" not in out


def test_mx_servfail_is_temporary(mta, dns):
    dns.zone.fail("broken.example")
    m = mta(start=False)
    out = route(m, "user@broken.example")
    lines = mx_lines(out)
    assert len(lines) == 1, out
    assert lines[0].startswith("mx: temporary DNS failure: "), out
    assert "broken.example" in lines[0]


def test_mx_host_servfail_is_temporary(mta, dns):
    # The MX exists but its only host cannot be resolved right now:
    # retry later, never "not found".
    dns.zone.add("hostfail.example", "MX", (10, "mx.hostfail.example"))
    dns.zone.fail("mx.hostfail.example")
    m = mta(start=False)
    out = route(m, "user@hostfail.example")
    assert mx_lines(out)[0].startswith("mx: temporary DNS failure: "), out


def test_mx_nxdomain(mta, dns):
    m = mta(start=False)
    out = route(m, "user@nosuchdomain.example")
    lines = mx_lines(out)
    assert len(lines) == 1 and lines[0].startswith("mx: not found"), out
    assert "nosuchdomain.example" in lines[0]


def test_mx_host_without_address_skipped(mta, dns):
    z = dns.zone
    z.add("skip.example", "MX", (10, "gone.skip.example"))   # NXDOMAIN
    z.add("skip.example", "MX", (20, "live.skip.example"))
    z.add("live.skip.example", "A", "127.0.0.80")
    m = mta(start=False)
    out = route(m, "user@skip.example")
    assert plan(out) == [(20, "live.skip.example", "127.0.0.80", 25)], out


def test_mx_smtp_port_from_config(mta, dns):
    dns.zone.add("port.example", "MX", (10, "mx.port.example"))
    dns.zone.add("mx.port.example", "A", "127.0.0.90")
    m = mta(start=False, extra_conf="delivery = { smtp_port = 2525; };\n")
    out = route(m, "user@port.example")
    assert plan(out) == [(10, "mx.port.example", "127.0.0.90", 2525)], out


def test_route_local_resolves_no_mx(mta, dns):
    m = mta(start=False)
    r = m.cli("route", "demo@example.test")
    assert r.returncode == 0, r.stderr
    assert mx_lines(r.stdout) == []
    assert not dns.zone.queried("example.test", "MX")
