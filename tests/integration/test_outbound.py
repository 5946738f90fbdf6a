"""Outbound SMTP delivery (issue 4) against fake remote MX hosts.

Each test gives a remote domain of its own MX records in the loopback DNS
server, pointing at fake MX hosts (remotemx.RemoteMX, aiosmtpd) on
127.0.0.21, .22, ... that all listen on one port, delivery.smtp_port.  A
client on 127.0.0.1 (inside relay_networks) hands Decorum the message;
the test then checks what the fake MX saw (EHLO name, TLS, MAIL argument
byte for byte, RCPT list, DATA bytes, connections and transactions), the
log lines, and the RFC 3464 reports that come back to a local sender
(alice@example.test), parsed with Python's email package.

The contract is /tmp/prompts/contract.md of the issue: one transaction per
destination, MAIL FROM identical on every attempt, 2xx delivered / 4xx
deferred / 5xx failed with one report per message, next MX on connection
failure or a 4xx/5xx greeting, null MX 5.1.10, NXDOMAIN 5.1.2, DNS
tempfail deferred, connection caching, delay warnings, `queue flush`, and
5.6.7 for an SMTPUTF8 message to a server without SMTPUTF8.
"""

import re
import time

from conftest import (HELO, add_mx, compose, parse_report, report_groups,
                      submit)
from mailfile import check_received
from mtaproc import HOSTNAME, wait_until

SENDER = "alice@example.test"       # local: its reports land in a Maildir


def received_prefix(data, msg):
    """data as the MX got it is our one Received: field, then msg
    unchanged; returns that field unfolded."""
    assert data.endswith(msg), \
        "message changed on the way:\n got  %r\n want ...%r" % (data, msg)
    prefix = data[:len(data) - len(msg)]
    assert prefix.startswith(b"Received: "), prefix
    assert prefix.endswith(b"\r\n") and b"\r\n\r\n" not in prefix, prefix
    lines = prefix[:-2].split(b"\r\n")
    # One field: every following line is a continuation (RFC 5322 2.2.3).
    assert all(l[:1] in (b" ", b"\t") for l in lines[1:]), prefix
    return b" ".join(l.strip() for l in lines).decode()


def reports(m, user="alice"):
    return [parse_report(raw) for raw in m.read_messages(user)]


def wait_report(m, n=1, user="alice", timeout=20):
    m.wait_for_delivery(user, n=n, timeout=timeout)
    return reports(m, user)


def rcpt_group(report, addr):
    groups = [g for g in report_groups(report)[1:]
              if g.get("Final-Recipient", "").lower()
              == "rfc822; " + addr.lower()]
    assert len(groups) == 1, report_groups(report)
    return groups[0]


def report_text(report):
    """Every text part of a report, decoded, for "mentions" checks."""
    out = []
    for p in report.walk():
        if p.get_content_maintype() == "multipart":
            continue
        payload = p.get_payload(decode=True)
        if payload is None:         # message/delivery-status: sub-parts
            out += ["%s: %s" % kv for g in p.get_payload() for kv in g.items()]
        else:
            out.append(payload.decode("utf-8", "replace"))
    return "\n".join(out)


def no_queue_file(m, qid):
    return not any(qid in f for f in m.spool_files() if "/queue/" in f)


def test_plain_delivery(outbound_mta, remote_mx, dns, mx_port):
    mx = remote_mx("127.0.0.21")
    add_mx(dns, "plain.example", ["127.0.0.21"])
    m = outbound_mta()
    rcpt = "Someone@plain.example"
    msg = compose(subject="plain", sender="x@example.org", to=rcpt,
                  body=b"first line\r\n\r\nlast line\r\n")
    qid, _ = submit(m, "x@example.org", [rcpt], msg)
    t = mx.wait_delivered(1, log=m.log)[0]
    # EHLO with our hostname, then the envelope exactly as received.
    assert t.conn.ehlos[0] == ("EHLO", HOSTNAME), t.conn.ehlos
    assert t.sender == "x@example.org", t.mail
    assert re.fullmatch(r"FROM:<x@example\.org>( \S+)*", t.mail), t.mail
    for p in t.params:
        name, _, value = p.partition("=")
        assert name.upper() in ("SIZE", "BODY"), t.mail
        if name.upper() == "SIZE":
            assert int(value) >= len(msg), t.mail
    assert t.rcpts == [rcpt]
    # Our Received: on top, the message byte for byte below it.
    rec = received_prefix(t.data, msg)
    check_received(rec, helo=HELO, rdns=HELO, ip="127.0.0.1",
                   sender="x@example.org", qid=qid, rcpt=rcpt)
    ev = m.wait_event("delivered", id=qid)[0]
    assert ev["rcpt"] == "<%s>" % rcpt, ev["_line"]
    assert ev["agent"] == "smtp", ev["_line"]
    assert ev["relay"] == "mx1.plain.example[127.0.0.21]:%d" % mx_port, \
        ev["_line"]
    assert ev.get("code") == "250", ev["_line"]
    assert "Ok: queued as FAKE" in ev.get("reply", ""), ev["_line"]
    m.wait_event("removed", id=qid)
    assert no_queue_file(m, qid)
    assert len(mx.connections) == 1 and len(mx.transactions()) == 1


def test_same_domain_one_transaction(outbound_mta, remote_mx, dns):
    mx = remote_mx("127.0.0.21")
    add_mx(dns, "two.example", ["127.0.0.21"])
    m = outbound_mta()
    rcpts = ["a@two.example", "b@two.example"]
    qid, msg = submit(m, "x@example.org", rcpts)
    t = mx.wait_delivered(1, log=m.log)[0]
    assert sorted(t.rcpts) == rcpts, t
    assert t.data.endswith(msg)
    for r in rcpts:
        m.wait_event("delivered", id=qid, rcpt="<%s>" % r)
    m.wait_event("removed", id=qid)
    # One MAIL, two RCPT, one DATA: nothing else was sent.
    assert len(mx.transactions()) == 1, mx.connections


def test_two_domains_two_hosts(outbound_mta, remote_mx, dns, mx_port):
    one = remote_mx("127.0.0.21")
    other = remote_mx("127.0.0.22")
    add_mx(dns, "one.example", ["127.0.0.21"])
    add_mx(dns, "other.example", ["127.0.0.22"])
    m = outbound_mta()
    qid, msg = submit(m, "x@example.org", ["u@one.example",
                                           "v@other.example"])
    t1 = one.wait_delivered(1, log=m.log)[0]
    t2 = other.wait_delivered(1, log=m.log)[0]
    assert t1.rcpts == ["u@one.example"] and t2.rcpts == ["v@other.example"]
    assert t1.data == t2.data and t1.data.endswith(msg)
    assert t1.mail == t2.mail
    ev = m.wait_event("delivered", id=qid, rcpt="<v@other.example>")[0]
    assert ev["relay"] == "mx1.other.example[127.0.0.22]:%d" % mx_port
    m.wait_event("removed", id=qid)
    assert len(one.transactions()) == 1 and len(other.transactions()) == 1


def test_mx_fallback_when_best_refuses_connections(outbound_mta, remote_mx,
                                                   dns, mx_port):
    # 127.0.0.23 has nothing listening on the port: connection refused.
    backup = remote_mx("127.0.0.21")
    add_mx(dns, "fallback.example", ["127.0.0.23", "127.0.0.21"])
    m = outbound_mta()
    qid, msg = submit(m, "x@example.org", ["u@fallback.example"])
    t = backup.wait_delivered(1, log=m.log)[0]
    assert t.data.endswith(msg)
    ev = m.wait_event("delivered", id=qid)[0]
    assert ev["relay"] == "mx2.fallback.example[127.0.0.21]:%d" % mx_port
    # Delivered on the first attempt, by the second MX: never deferred.
    assert m.events("deferred", id=qid) == []


def test_mx_fallback_when_best_greets_421(outbound_mta, remote_mx, dns,
                                          mx_port):
    busy = remote_mx("127.0.0.21", greeting="421 4.3.2 too busy, go away")
    backup = remote_mx("127.0.0.22")
    add_mx(dns, "busy.example", ["127.0.0.21", "127.0.0.22"])
    m = outbound_mta()
    qid, msg = submit(m, "x@example.org", ["u@busy.example"])
    t = backup.wait_delivered(1, log=m.log)[0]
    assert t.data.endswith(msg)
    # The best MX was tried first and got no further than its greeting.
    assert busy.connections, "the preferred MX was never tried"
    assert all(c.transactions == [] and c.lines == []
               for c in busy.connections), busy.connections
    ev = m.wait_event("delivered", id=qid)[0]
    assert ev["relay"] == "mx2.busy.example[127.0.0.22]:%d" % mx_port
    assert m.events("deferred", id=qid) == []


def test_mx_fallback_when_best_answers_ehlo_421(outbound_mta, remote_mx,
                                                dns, mx_port):
    closing = remote_mx("127.0.0.21", ehlo_reply="421 4.3.2 shutting down")
    backup = remote_mx("127.0.0.22")
    add_mx(dns, "closing.example", ["127.0.0.21", "127.0.0.22"])
    m = outbound_mta()
    qid, msg = submit(m, "x@example.org", ["u@closing.example"])
    t = backup.wait_delivered(1, log=m.log)[0]
    assert t.data.endswith(msg)
    assert closing.connections, "the preferred MX was never tried"
    assert all(c.transactions == [] for c in closing.connections), \
        closing.connections
    ev = m.wait_event("delivered", id=qid)[0]
    assert ev["relay"] == "mx2.closing.example[127.0.0.22]:%d" % mx_port
    assert m.events("deferred", id=qid) == []


def test_8bit_body_sent_with_body_8bitmime(outbound_mta, remote_mx, dns):
    mx = remote_mx("127.0.0.21")            # offers 8BITMIME
    add_mx(dns, "eight.example", ["127.0.0.21"])
    m = outbound_mta()
    body = "Gr\u00fc\u00dfe aus K\u00f6ln, 3 \u20ac\r\n".encode("utf-8")
    msg = compose(subject="8bit", to="u@eight.example", body=body,
                  extra=b"MIME-Version: 1.0\r\nContent-Type: text/plain; "
                        b"charset=utf-8\r\nContent-Transfer-Encoding: "
                        b"8bit\r\n")
    submit(m, "x@example.org", ["u@eight.example"], msg,
           params="BODY=8BITMIME")
    t = mx.wait_delivered(1, log=m.log)[0]
    assert "BODY=8BITMIME" in [p.upper() for p in t.params], t.mail
    assert t.data.endswith(msg)


def test_null_mx_bounces_5_1_10(outbound_mta, remote_mx, dns):
    dns.zone.add("nullmx.example", "MX", (0, "."))
    m = outbound_mta()
    qid, _ = submit(m, SENDER, ["nobody@nullmx.example"])
    ev = m.wait_event("failed", id=qid)[0]
    assert ev["code"] == "5.1.10", ev["_line"]
    report, = wait_report(m)
    g = rcpt_group(report, "nobody@nullmx.example")
    assert g["Action"] == "failed"
    assert g["Status"] == "5.1.10"
    m.wait_event("bounce", id=qid)
    assert m.events("deferred", id=qid) == []
    assert no_queue_file(m, qid)


def test_nxdomain_bounces_5_1_2(outbound_mta, dns):
    m = outbound_mta()
    qid, _ = submit(m, SENDER, ["someone@no-such-domain.example"])
    ev = m.wait_event("failed", id=qid)[0]
    assert ev["code"] == "5.1.2", ev["_line"]
    report, = wait_report(m)
    g = rcpt_group(report, "someone@no-such-domain.example")
    assert g["Action"] == "failed" and g["Status"] == "5.1.2"


def test_permanent_rcpt_failure_bounces_others_delivered(outbound_mta,
                                                         remote_mx, dns):
    bad, good = "bad@perm.example", "good@perm.example"
    mx = remote_mx("127.0.0.21", rcpt_replies={
        bad: "550 5.1.1 <bad@perm.example>: no such user"})
    add_mx(dns, "perm.example", ["127.0.0.21"])
    m = outbound_mta()
    qid, msg = submit(m, SENDER, [good, bad])
    t = mx.wait_delivered(1, log=m.log)[0]
    assert t.accepted == [good] and sorted(t.rcpts) == [bad, good]
    assert t.data.endswith(msg)
    report, = wait_report(m)
    g = rcpt_group(report, bad)
    assert g["Action"] == "failed"
    assert g["Status"] == "5.1.1"
    assert g["Remote-MTA"] == "dns; mx1.perm.example", g
    assert g["Diagnostic-Code"].startswith("smtp; 550"), g
    assert "no such user" in g["Diagnostic-Code"], g
    # Only the failed recipient is reported.
    assert len(report_groups(report)) == 2, report_groups(report)
    ev = m.wait_event("failed", id=qid)[0]
    assert ev["rcpt"] == "<%s>" % bad and ev["code"] == "5.1.1"
    m.wait_event("delivered", id=qid, rcpt="<%s>" % good)
    m.wait_event("removed", id=qid)
    # A 5xx is final: nobody tries either recipient again.
    time.sleep(3)
    assert len(mx.transactions()) == 1, mx.connections


def greylisted(outbound_mta, remote_mx, dns, sender, domain):
    mx = remote_mx("127.0.0.21", greylist=True)
    add_mx(dns, domain, ["127.0.0.21"])
    m = outbound_mta()
    rcpt = "user@" + domain
    msg = compose(subject="grey", sender="someone@example.org", to=rcpt)
    qid, _ = submit(m, sender, [rcpt], msg)
    t = mx.wait_delivered(1, timeout=30, log=m.log)[0]
    assert t.data.endswith(msg)
    ts = mx.transactions()
    assert len(ts) >= 2, ts
    assert ts[0].rcpt_replies[0].startswith("451 4.7.1"), ts[0]
    assert ts[0].data is None, "DATA sent with no recipient accepted"
    # The same envelope on every attempt, byte for byte.
    assert {x.mail for x in ts} == {t.mail}, [x.mail for x in ts]
    assert t.sender == sender, t.mail
    ev = m.wait_event("deferred", id=qid)[0]
    assert ev["code"] == "4.7.1", ev["_line"]
    assert "greylisted" in ev["reason"], ev["_line"]
    m.wait_event("delivered", id=qid)
    return m, t


def test_greylisting_retry_same_quoted_sender(outbound_mta, remote_mx, dns):
    greylisted(outbound_mta, remote_mx, dns,
               '"odd local+tag"@example.org', "grey.example")


def test_greylisting_retry_null_sender(outbound_mta, remote_mx, dns):
    m, t = greylisted(outbound_mta, remote_mx, dns, "", "greynull.example")
    assert re.fullmatch(r"FROM:<>( \S+)*", t.mail), t.mail


def test_4xx_at_data_deferred_then_delivered(outbound_mta, remote_mx, dns):
    mx = remote_mx("127.0.0.21",
                   data_reply=["451 4.3.0 queue file write error"])
    add_mx(dns, "datafail.example", ["127.0.0.21"])
    m = outbound_mta()
    body = b"".join(b"line %d of a body that must come through\r\n" % i
                    for i in range(200))
    msg = compose(subject="data", sender=SENDER, to="u@datafail.example",
                  body=body)
    qid, _ = submit(m, SENDER, ["u@datafail.example"], msg)
    mx.wait_delivered(1, timeout=30, log=m.log)
    ts = [t for t in mx.transactions() if t.data is not None]
    assert len(ts) == 2, mx.connections
    assert ts[0].data_reply.startswith("451") and ts[1].delivered
    assert ts[0].data == ts[1].data and ts[1].data.endswith(msg)
    assert ts[0].mail == ts[1].mail
    ev = m.wait_event("deferred", id=qid)[0]
    assert ev["code"] == "4.3.0", ev["_line"]
    m.wait_event("delivered", id=qid)
    assert m.messages("alice") == []          # no report of any kind


def test_starttls_used_when_offered(outbound_mta, remote_mx, dns, certs):
    mx = remote_mx("127.0.0.21", tls_cert=certs["mx"])
    add_mx(dns, "tls.example", ["127.0.0.21"])
    m = outbound_mta()
    qid, msg = submit(m, "x@example.org", ["u@tls.example"])
    t = mx.wait_delivered(1, log=m.log)[0]
    c = t.conn
    assert c.tls and c.tls_version.startswith("TLSv1"), c
    # EHLO again after the handshake (RFC 3207 4.2), and the envelope
    # only then.
    verbs = [l.split(b" ")[0].rstrip(b"\r\n").upper() for l in c.lines]
    assert verbs.index(b"STARTTLS") < verbs.index(b"MAIL"), c.lines
    assert [e for e in c.ehlos] == [("EHLO", HOSTNAME)] * 2, c.ehlos
    assert t.data.endswith(msg)
    ev = m.wait_event("delivered", id=qid)[0]
    assert ev.get("tls", "").startswith("TLSv1"), ev["_line"]


def test_dns_servfail_deferred_never_bounced(outbound_mta, remote_mx, dns):
    mx = remote_mx("127.0.0.21")
    dns.zone.fail("dnsfail.example")
    m = outbound_mta()
    qid, msg = submit(m, SENDER, ["u@dnsfail.example"])
    # Tried, deferred, tried again: still only deferred.
    evs = m.wait_event("deferred", id=qid, n=2, timeout=30)
    assert evs[0]["code"].startswith("4."), evs[0]["_line"]
    assert m.events("failed", id=qid) == [] and \
        m.events("bounce", id=qid) == []
    # The DNS recovers: the next retry delivers.
    dns.zone.servfail.discard("dnsfail.example.")
    add_mx(dns, "dnsfail.example", ["127.0.0.21"])
    t = mx.wait_delivered(1, timeout=40, log=m.log)[0]
    assert t.data.endswith(msg)
    m.wait_event("delivered", id=qid)
    assert m.messages("alice") == []


def test_connection_reused_for_next_message(outbound_mta, remote_mx, dns):
    mx = remote_mx("127.0.0.21")
    add_mx(dns, "reuse.example", ["127.0.0.21"])
    m = outbound_mta(delivery={"connection_cache_time": 10})
    qids = []
    for i in range(3):
        qid, _ = submit(m, "x@example.org", ["u%d@reuse.example" % i],
                        compose(subject="reuse %d" % i,
                                to="u%d@reuse.example" % i))
        qids.append(qid)
        # The next message comes well within connection_cache_time.
        mx.wait_delivered(i + 1, log=m.log)
    for qid in qids:
        m.wait_event("delivered", id=qid)
    conns = mx.connections
    assert len(conns) < 3, conns
    assert max(len(c.transactions) for c in conns) >= 2, conns
    assert [t.rcpts for t in mx.delivered()] == [
        ["u0@reuse.example"], ["u1@reuse.example"], ["u2@reuse.example"]]


def test_dot_lines_arrive_intact(outbound_mta, remote_mx, dns):
    mx = remote_mx("127.0.0.21")
    add_mx(dns, "dots.example", ["127.0.0.21"])
    m = outbound_mta()
    body = (b".\r\n..\r\n.x\r\n...\r\nmiddle . line\r\n. \r\n"
            b".\r\n.\r\nlast\r\n")
    msg = compose(subject="dots", to="u@dots.example", body=body)
    submit(m, "x@example.org", ["u@dots.example"], msg)
    t = mx.wait_delivered(1, log=m.log)[0]
    assert t.data.endswith(msg), t.data
    # And on the wire each of those lines was stuffed (RFC 5321 4.5.2):
    # aiosmtpd would have ended DATA early otherwise.
    assert t.data.endswith(b"\r\n\r\n" + body)


def test_delay_warning_once_then_delivered(outbound_mta, remote_mx, dns):
    rcpt = "u@slow.example"
    mx = remote_mx("127.0.0.21", rcpt_replies={
        rcpt: "451 4.2.0 <u@slow.example>: mailbox busy"})
    add_mx(dns, "slow.example", ["127.0.0.21"])
    m = outbound_mta(delay_warning=1, lifetime=120)
    qid, msg = submit(m, SENDER, [rcpt])
    report, = wait_report(m, timeout=30)
    g = rcpt_group(report, rcpt)
    assert g["Action"] == "delayed", g
    assert g["Status"].startswith("4."), g
    ev = m.wait_event("delay-warning", id=qid)[0]
    assert ev["to"] == "<%s>" % SENDER, ev["_line"]
    # More retries, still failing: no second warning.
    n = len(m.events("deferred", id=qid))
    m.wait_event("deferred", id=qid, n=n + 2, timeout=20)
    assert len(m.messages("alice")) == 1
    assert len(m.events("delay-warning", id=qid)) == 1
    # The MX recovers: delivered, and the sender hears nothing more.
    del mx.rcpt_replies[rcpt]
    t = mx.wait_delivered(1, timeout=20, log=m.log)[0]
    assert t.data.endswith(msg)
    m.wait_event("delivered", id=qid)
    m.wait_event("removed", id=qid)
    time.sleep(1)
    assert len(m.messages("alice")) == 1


def test_queue_flush_retries_now(outbound_mta, remote_mx, dns):
    rcpt = "u@flush.example"
    mx = remote_mx("127.0.0.21", rcpt_replies={
        rcpt: ["451 4.7.1 <u@flush.example>: try again later"]})
    add_mx(dns, "flush.example", ["127.0.0.21"])
    m = outbound_mta(retry_min=3600, retry_max=7200)
    qid, msg = submit(m, "x@example.org", [rcpt])
    ev = m.wait_event("deferred", id=qid)[0]
    assert int(ev["delay"]) >= 3000, ev["_line"]
    time.sleep(2)
    assert mx.delivered() == [] and len(mx.transactions()) == 1
    start = time.monotonic()
    m.flush()
    t = mx.wait_delivered(1, timeout=10, log=m.log)[0]
    assert time.monotonic() - start < 10
    assert t.data.endswith(msg)
    m.wait_event("delivered", id=qid)


def test_lifetime_expiry_bounces_with_last_error(outbound_mta, remote_mx,
                                                 dns):
    rcpt = "u@expire.example"
    mx = remote_mx("127.0.0.21", rcpt_replies={
        rcpt: "451 4.3.2 <u@expire.example>: system not accepting mail"})
    add_mx(dns, "expire.example", ["127.0.0.21"])
    m = outbound_mta(lifetime=4)
    qid, _ = submit(m, SENDER, [rcpt])
    report, = wait_report(m, timeout=30)
    g = rcpt_group(report, rcpt)
    assert g["Action"] == "failed", g
    assert g["Status"] == "5.4.7", g
    text = report_text(report)
    assert "451 4.3.2" in text and "system not accepting mail" in text, text
    ev = m.wait_event("failed", id=qid)[0]
    assert ev["code"] == "5.4.7", ev["_line"]
    assert "451 4.3.2" in ev["reason"], ev["_line"]
    assert len(mx.transactions()) >= 2          # it did retry meanwhile
    assert mx.delivered() == []


def test_smtputf8_to_server_without_it_bounces_5_6_7(outbound_mta,
                                                     remote_mx, dns):
    mx = remote_mx("127.0.0.21", smtputf8=False)
    add_mx(dns, "utf8.example", ["127.0.0.21"])
    m = outbound_mta()
    rcpt = "j\u00fcrgen@utf8.example"
    msg = compose(subject="utf8", sender=SENDER, to="juergen@utf8.example")
    qid, _ = submit(m, SENDER, [rcpt], msg, params="SMTPUTF8")
    ev = m.wait_event("failed", id=qid, timeout=20)[0]
    assert ev["code"] == "5.6.7", ev["_line"]
    report, = wait_report(m)
    groups = report_groups(report)[1:]
    assert len(groups) == 1
    assert groups[0]["Action"] == "failed" and \
        groups[0]["Status"] == "5.6.7", groups
    # RFC 6531 3.4: nothing of it was sent to that server.
    assert mx.delivered() == []
    assert not any(any(b > 0x7f for b in l)
                   for c in mx.connections for l in c.lines), mx.connections
