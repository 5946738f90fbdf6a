"""Forwarding loops (issue 10 item 5): a local delivery to a mailbox, or
a forward from a recipient, whose address the message already names in
a Delivered-To: header field fails with 5.4.6 "mail forwarding loop for
ADDRESS", and the sender gets one report (which carries no top-level
Delivered-To:, so it cannot loop).  Two Decorum instances whose aliases
point at each other (a.test x -> y@b.test, b.test y -> x@a.test, each
reaching the other through a relay transport): the message goes round
once, stops at the first instance, exactly one report reaches the
sender's MX, and both queues drain.
"""
import email
import email.policy

from conftest import add_mx, compose, parse_report, report_groups, submit
from mtaproc import DOMAIN

ORIGIN = "s@origin.test"


def report_of(t):
    return parse_report(t.data.replace(b"\r\n", b"\n"))


def failed_groups(report):
    return [g for g in report_groups(report)[1:]
            if g.get("Action") == "failed"]


def origin_sink(remote_mx, dns):
    sink = remote_mx("127.0.0.22")
    add_mx(dns, "origin.test", ["127.0.0.22"])
    return sink


def test_delivered_to_loop_on_forward_and_mailbox(outbound_mta, remote_mx,
                                                  dns):
    """One message to a forward and a mailbox, each already named in a
    Delivered-To: field (any case, either form): both fail with 5.4.6,
    one report lists both; a third recipient not named is delivered."""
    far = remote_mx("127.0.0.21")
    add_mx(dns, "remote.test", ["127.0.0.21"])
    sink = origin_sink(remote_mx, dns)
    m = outbound_mta(aliases=[("fwd", ["a@remote.test"])])
    msg = compose(sender=ORIGIN, to="fwd@" + DOMAIN,
                  extra=b"Delivered-To: <FWD@Example.Test>\r\n"
                        b"delivered-to:\r\n demo@example.test\r\n")
    qid, _ = submit(m, ORIGIN, ["fwd@" + DOMAIN, "demo@" + DOMAIN,
                                "alice@" + DOMAIN], msg=msg)
    m.wait_event("bounce", id=qid)
    t = sink.wait_delivered(1, log=m.log)[0]
    assert t.sender == "" and t.rcpts == [ORIGIN], t.mail
    groups = failed_groups(report_of(t))
    assert sorted(g["Final-Recipient"] for g in groups) == [
        "rfc822; demo@example.test", "rfc822; fwd@example.test"], groups
    assert [g["Status"] for g in groups] == ["5.4.6", "5.4.6"], groups
    reasons = sorted(e["reason"] for e in m.events("failed", id=qid))
    assert reasons == ["mail forwarding loop for demo@example.test",
                       "mail forwarding loop for fwd@example.test"], reasons
    assert b"mail forwarding loop for fwd@example.test" in t.data
    m.wait_for_delivery("alice")
    assert m.messages("demo") == []
    assert far.transactions() == []
    assert m.events("forwarded") == []
    m.wait_event("removed", id=qid)
    assert len(sink.delivered()) == 1


def test_no_delivered_to_no_loop(outbound_mta, remote_mx, dns):
    """The control: the same message without the field is forwarded
    and delivered (the test above would pass for a broken forward)."""
    far = remote_mx("127.0.0.21")
    add_mx(dns, "remote.test", ["127.0.0.21"])
    m = outbound_mta(aliases=[("fwd", ["a@remote.test"])])
    msg = compose(sender=ORIGIN, to="fwd@" + DOMAIN,
                  extra=b"Delivered-To: someone-else@example.test\r\n")
    qid, _ = submit(m, ORIGIN, ["fwd@" + DOMAIN, "demo@" + DOMAIN], msg=msg)
    far.wait_delivered(1, log=m.log)
    m.wait_for_delivery("demo")
    m.wait_event("removed", id=qid)
    assert m.events("failed") == []


def relay_to(domain, port):
    return ('{ match = "%s"; via = "relay:[127.0.0.1]:%d"; }'
            % (domain, port))


def test_two_instances_loop_stops(mta, remote_mx, dns, mx_port):
    sink = origin_sink(remote_mx, dns)
    a = mta(start=False, relay_networks=("127.0.0.0/8",))
    b = mta(start=False, relay_networks=("127.0.0.0/8",))
    a.write_domain("a.test", {}, [("x", ["y@b.test"])])
    b.write_domain("b.test", {}, [("y", ["x@a.test"])])
    for me, other, dom in ((a, b, "b.test"), (b, a, "a.test")):
        me.write_config(("127.0.0.0/8",), extra_conf=(
            "delivery = { smtp_port = %d; connect_timeout = 5; };\n"
            "transports = ( %s );\n" % (mx_port, relay_to(dom, other.port))))
    a.start()
    b.start()
    qid, _ = submit(a, ORIGIN, ["x@a.test"],
                    msg=compose(sender=ORIGIN, to="x@a.test"))
    # a forwards to b, b back to a, where it stops.
    a.wait_event("forwarded", id=qid)
    b.wait_event("forwarded")
    ev = a.wait_event("failed", code="5.4.6")
    assert len(ev) == 1, ev
    t = sink.wait_delivered(1, log=lambda: a.log() + b.log())[0]
    assert t.sender == "" and t.rcpts == [ORIGIN], t.mail
    groups = failed_groups(report_of(t))
    assert [g["Status"] for g in groups] == ["5.4.6"], groups
    # The report itself names the loop's trace only in its attachment.
    top = email.message_from_bytes(t.data, policy=email.policy.compat32)
    assert top.get_all("Delivered-To") is None, t.data[:500]
    for m in (a, b):
        m.wait_log(lambda m=m: m.spool_files() == [], timeout=20)
        r = m.cli("queue", "list")
        assert r.returncode == 0 and "example" not in r.stdout \
            and ".test" not in r.stdout, r.stdout
    assert len(sink.delivered()) == 1
    assert len(a.events("forwarded")) == 1 and len(b.events("forwarded")) == 1
