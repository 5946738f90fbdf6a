"""The outbound source address (issue 8, item 14): delivery.source_address
and a transport's source_address, as Postfix's smtp_bind_address(6).

On a host with several addresses, the one whose PTR names us must be the
one that connects, or receivers that check it refuse us.  Every
127.0.0.x is local, so the fake MX hosts (remotemx.RemoteMX, which
records each connection's peer) see which one Decorum used.  Loopback
has only ::1 for IPv6, so the IPv6 test adds a second address to lo for
its own time (ip -6 addr add ... nodad, removed afterwards: the suite
runs as root) and checks that it, not ::1, is the peer; an address that
is not local fails the bind (the mail waits, the log says why).
"""

import subprocess

import pytest

from conftest import add_mx, submit
from remotemx import RemoteMX

SENDER = "x@example.org"


def transport(match, via, **keys):
    extra = "".join(" %s = %s;" % kv for kv in keys.items())
    return '{ match = "%s"; via = "%s";%s }' % (match, via, extra)


def transports(*entries):
    return "transports = (\n  %s\n);\n" % ",\n  ".join(entries)


def source(*addrs):
    """A source_address value: one string, or a list of them."""
    if len(addrs) == 1:
        return '"%s"' % addrs[0]
    return "( %s )" % ", ".join('"%s"' % a for a in addrs)


def delivery(mx_port, *addrs):
    return ("delivery = { smtp_port = %d; connect_timeout = 5; "
            "source_address = %s; };\n" % (mx_port, source(*addrs)))


def peer_of(sink, m):
    t = sink.wait_delivered(1, log=m.log)[0]
    return t.conn.peer[0]


SECOND_V6 = "fd00:dec0:7e57::45"


@pytest.fixture
def second_ipv6():
    """SECOND_V6 on lo while the test runs."""
    subprocess.run(["ip", "-6", "addr", "add", SECOND_V6 + "/128", "dev",
                    "lo", "nodad"], check=True)
    try:
        yield SECOND_V6
    finally:
        subprocess.run(["ip", "-6", "addr", "del", SECOND_V6 + "/128", "dev",
                        "lo"], check=False)


@pytest.fixture
def ipv6_sink():
    """A fake MX on [::1] (its own port), stopped afterwards."""
    made = []

    def factory(**options):
        mx = RemoteMX("::1", 0, **options).start()
        made.append(mx)
        return mx

    yield factory
    errors = []
    for mx in made:
        mx.stop()
        errors += mx.errors
    assert errors == []


def test_default_source_is_the_kernels(outbound_mta, remote_mx, dns):
    sink = remote_mx("127.0.0.21")
    add_mx(dns, "far.example", ["127.0.0.21"])
    m = outbound_mta()
    qid, _ = submit(m, SENDER, ["a@far.example"])
    # To 127.0.0.21 over lo the kernel picks lo's address.
    assert peer_of(sink, m) == "127.0.0.1"
    m.wait_event("delivered", id=qid)


def test_delivery_source_address(mta, remote_mx, dns, mx_port):
    sink = remote_mx("127.0.0.21")
    relay = remote_mx("127.0.0.30")
    add_mx(dns, "far.example", ["127.0.0.21"])
    m = mta(relay_networks=("127.0.0.0/8",), extra_conf=delivery(
        mx_port, "127.0.0.45", "::1") + transports(
        transport("relayed.example", "relay:[127.0.0.30]:%d" % mx_port)))
    # The MX of a domain (smtp) and a relay both leave from it.
    qid, _ = submit(m, SENDER, ["a@far.example", "b@relayed.example"])
    assert peer_of(sink, m) == "127.0.0.45"
    assert peer_of(relay, m) == "127.0.0.45"
    m.wait_event("removed", id=qid)


def test_transport_source_address_wins(mta, remote_mx, dns, mx_port):
    own = remote_mx("127.0.0.21")
    other = remote_mx("127.0.0.22")
    add_mx(dns, "own.example", ["127.0.0.21"])
    add_mx(dns, "other.example", ["127.0.0.22"])
    m = mta(relay_networks=("127.0.0.0/8",), extra_conf=delivery(
        mx_port, "127.0.0.45") + transports(
        transport("own.example", "smtp",
                  source_address=source("127.0.0.46"))))
    qid, _ = submit(m, SENDER, ["a@own.example", "b@other.example"])
    assert peer_of(own, m) == "127.0.0.46"
    assert peer_of(other, m) == "127.0.0.45"
    m.wait_event("removed", id=qid)


def test_lmtp_has_only_its_own(mta, remote_mx, mx_port):
    # LMTP is local delivery: delivery.source_address is for mail that
    # leaves the host; an LMTP transport may name its own.
    plain = remote_mx("127.0.0.23", lmtp=True)
    bound = remote_mx("127.0.0.24", lmtp=True)
    m = mta(relay_networks=("127.0.0.0/8",), extra_conf=delivery(
        mx_port, "127.0.0.45") + transports(
        transport("plain.example", "lmtp:127.0.0.23:%d" % mx_port),
        transport("bound.example", "lmtp:127.0.0.24:%d" % mx_port,
                  source_address=source("127.0.0.47"))))
    qid, _ = submit(m, SENDER, ["a@plain.example", "b@bound.example"])
    assert peer_of(plain, m) == "127.0.0.1"
    assert peer_of(bound, m) == "127.0.0.47"
    m.wait_event("removed", id=qid)


def test_bind_failure_defers(mta, remote_mx, dns, mx_port):
    # 192.0.2.10 is no address of this host: each attempt fails before
    # connecting, the mail waits, and the log names the address.
    sink = remote_mx("127.0.0.21")
    add_mx(dns, "far.example", ["127.0.0.21"])
    m = mta(relay_networks=("127.0.0.0/8",),
            extra_conf=delivery(mx_port, "192.0.2.10"))
    qid, _ = submit(m, SENDER, ["a@far.example"])
    ev = m.wait_event("deferred", id=qid, timeout=20)[0]
    assert ev["code"] == "4.4.0", ev["_line"]
    assert "cannot bind to the source address 192.0.2.10: Cannot assign " \
        "requested address" in ev["reason"], ev["_line"]
    cf = m.wait_event("connect-failed")[0]
    assert "source address 192.0.2.10" in cf["reason"], cf["_line"]
    assert cf["relay"] == "mx1.far.example[127.0.0.21]:%d" % mx_port
    # A second attempt fails the same way; nothing ever reached the MX.
    m.wait_event("deferred", id=qid, n=2, timeout=20)
    assert sink.connections == []
    assert m.events("failed", id=qid) == []


def test_ipv6_source(mta, ipv6_sink, mx_port, second_ipv6):
    # Without source_address the kernel picks ::1 for ::1; with it, the
    # second address connects.
    sink = ipv6_sink()
    m = mta(relay_networks=("127.0.0.0/8",), extra_conf=delivery(
        mx_port, "127.0.0.45", second_ipv6) + transports(
        transport("*", "relay:[::1]:%d" % sink.port)))
    qid, _ = submit(m, SENDER, ["a@far.example"])
    assert peer_of(sink, m) == second_ipv6
    m.wait_event("delivered", id=qid)


def test_ipv4_source_leaves_ipv6_alone(mta, ipv6_sink, mx_port):
    # Only the destination's family is bound: an IPv4 source_address does
    # not stop delivery over IPv6.
    sink = ipv6_sink()
    m = mta(relay_networks=("127.0.0.0/8",), extra_conf=delivery(
        mx_port, "127.0.0.45") + transports(
        transport("*", "relay:[::1]:%d" % sink.port)))
    qid, _ = submit(m, SENDER, ["a@far.example"])
    assert peer_of(sink, m) == "::1"
    m.wait_event("delivered", id=qid)


def test_ipv6_source_not_local_defers(mta, ipv6_sink, mx_port):
    # The IPv6 source is the one bound for an IPv6 destination: one this
    # host does not have fails the bind.
    sink = ipv6_sink()
    m = mta(relay_networks=("127.0.0.0/8",), extra_conf=delivery(
        mx_port, "127.0.0.1", "2001:db8::10") + transports(
        transport("*", "relay:[::1]:%d" % sink.port)))
    qid, _ = submit(m, SENDER, ["a@far.example"])
    ev = m.wait_event("deferred", id=qid, timeout=20)[0]
    assert ev["code"] == "4.4.0", ev["_line"]
    assert "source address 2001:db8::10" in ev["reason"], ev["_line"]
    assert sink.connections == []


def test_check_config_refuses_bad_source(mta, mx_port):
    m = mta(start=False, extra_conf=delivery(mx_port, "127.0.0.45"))
    r = m.cli("check-config")
    assert r.returncode == 0, (r.stdout, r.stderr)
    for value, want in (
            (source("mx.example.test"),
             '"mx.example.test" is not an IPv4 or IPv6 address'),
            (source("127.0.0.45", "127.0.0.46"),
             '"127.0.0.46" is a second IPv4 address'),
            (source("0.0.0.0"), "is the unspecified address")):
        m.write_config((), "delivery = {\n  source_address = %s;\n};\n"
                       % value)
        with open(m.conf) as f:
            line = 1 + f.read().split("\n").index(
                "  source_address = %s;" % value)
        r = m.cli("check-config")
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert r.stderr.startswith("%s:%d: delivery.source_address"
                                   % (m.conf, line)), r.stderr
        assert want in r.stderr, r.stderr
