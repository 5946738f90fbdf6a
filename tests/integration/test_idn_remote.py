"""Mail to a remote international domain (review of issue 8, route
finding 1).

A remote destination carries its domain's canonical A-label form
(RFC 5890 2.3.2.1): DNS is asked for the A-label (RFC 5891 5: lookups
use A-labels), the outbound destination is keyed by it, and RCPT TO on
the wire names it.  So a relayed RCPT TO:<u@bücher.example> (SMTPUTF8)
and RCPT TO:<v@XN--BCHER-KVA.example> are one destination, delivered in
one transaction to the MX of xn--bcher-kva.example; the SMTPUTF8 the
message came with still goes with it.  A domain that has no A-label
(not valid IDNA2008: a symbol, bad punycode) is refused at RCPT time
with a reason that says so, never relayed to bounce later as "no such
domain"; `decorum sendmail` and `decorum route` say the same.
"""

from conftest import add_mx, compose, submit
from smtpraw import Smtp

SENDER = "x@example.org"
ULABEL = "b\u00fccher.example"              # bücher.example
ALABEL = "xn--bcher-kva.example"


def test_unicode_domain_delivered_to_the_a_label_mx(outbound_mta, remote_mx,
                                                    dns):
    mx = remote_mx("127.0.0.21")
    add_mx(dns, ALABEL, ["127.0.0.21"])
    m = outbound_mta()
    rcpts = ["u@" + ULABEL, "v@XN--BCHER-KVA.example"]
    msg = compose(subject="idn", sender=SENDER, to="u@" + ALABEL)
    qid, _ = submit(m, SENDER, rcpts, msg, params="SMTPUTF8")
    t = mx.wait_delivered(1, log=m.log)[0]
    # Both spellings: one destination, one transaction, the A-label on
    # the wire; the message still says SMTPUTF8, as it came.
    assert sorted(t.rcpts) == ["u@" + ALABEL, "v@" + ALABEL], t
    assert "SMTPUTF8" in [p.upper() for p in t.params], t.mail
    assert t.data.endswith(msg)
    for r in rcpts:
        m.wait_event("delivered", id=qid, rcpt="<%s>" % r)
    m.wait_event("removed", id=qid)
    assert m.events("failed") == [] and m.events("deferred") == []
    assert len(mx.transactions()) == 1, mx.connections
    # DNS heard of the A-label only.
    names = [q for q, _ in dns.zone.queries]
    assert dns.zone.queried(ALABEL, "MX"), names
    assert all(n.isascii() for n in names), names


def test_two_messages_share_the_destination(outbound_mta, remote_mx, dns):
    """One connection carries both messages (connection reuse is per
    destination): the two spellings are one destination across
    messages too."""
    mx = remote_mx("127.0.0.21", data_delay=0.5)
    add_mx(dns, ALABEL, ["127.0.0.21"])
    m = outbound_mta(delivery={"destination_concurrency": 1,
                               "connection_cache_time": 5})
    submit(m, SENDER, ["a@" + ULABEL], params="SMTPUTF8")
    submit(m, SENDER, ["b@" + ALABEL])
    ts = mx.wait_delivered(2, log=m.log)
    assert sorted(r for t in ts for r in t.rcpts) == \
        ["a@" + ALABEL, "b@" + ALABEL], ts
    assert mx.max_active == 1, mx.connections
    assert len(mx.connections) == 1, mx.connections


def test_invalid_idna_domain_refused_at_rcpt(outbound_mta, dns):
    m = outbound_mta()
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail(SENDER, "SMTPUTF8")
        for rcpt in ("u@\u2603.example", "u@xn--zz.example",
                     "u@xn--ph--xea.example"):
            r = s.rcpt(rcpt, 553, "5.1.2")
            assert "not a valid domain name" in r.text, r
        s.rcpt("u@" + ULABEL)               # the session goes on
    ev = [e for e in m.log_events() if "xn--zz.example" in e["_line"]]
    assert ev, m.log()[-2000:]
    # Nothing was queried for them, nothing queued.
    assert not dns.zone.queried("xn--zz.example")


def test_cli_route_and_sendmail(outbound_mta, dns):
    m = outbound_mta()
    add_mx(dns, ALABEL, ["127.0.0.21"])
    r = m.cli("route", "Anna@" + ULABEL.upper())
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "decision: remote" in r.stdout, r.stdout
    assert "remote: Anna@%s (SMTP to the MX of %s)" % (ALABEL, ALABEL) \
        in r.stdout, r.stdout
    assert "mx: 10 mx1.%s [127.0.0.21]:" % ALABEL in r.stdout, r.stdout
    r = m.cli("route", "u@\u2603.example")
    assert r.returncode == 1, r.stdout
    assert "decision: invalid" in r.stdout, r.stdout
    assert "not a valid domain name" in r.stdout, r.stdout
    r = m.cli("sendmail", "u@xn--zz.example", input="Subject: x\n\nx\n")
    assert r.returncode != 0, (r.stdout, r.stderr)
    assert "not a valid domain name" in r.stderr, r.stderr
    assert [f for f in m.spool_files() if "/queue/" in f] == []
