"""The text line limit and the transparency dot (RFC 5321 4.5.3.1.6, 4.5.2).

A text line is at most 998 octets plus CRLF, "not counting the leading dot
duplicated for transparency".  A line that starts with a dot goes over the
wire one octet longer (the client doubles the dot), so a legitimate
998-octet line starting with "." is 999 octets plus CRLF on the wire and
must be accepted; 999 octets of text are refused with 550 5.6.0 however
they start.  Tested at 997, 998 and 999 octets with and without the
leading dot: with exact bytes (smtpraw), with a real client that stuffs
the dots itself (smtplib), and Decorum relaying such a line to another
Decorum over STARTTLS (its own client's stuffing read by its own
server).  Local submission breaks longer lines (sendmail_msg.c), so what
a script writes still leaves the host."""

import os
import re
import smtplib
import subprocess

import pytest

from conftest import HELO, compose
from mailfile import split
from smtpraw import Smtp, check, queue_id

# Octets of text in the line (CRLF not counted), and whether it is taken.
LENGTHS = ((997, True), (998, True), (999, False))


def text_line(n, dot):
    """n octets of text; with dot, the first one is '.'."""
    fill = b"d" if dot else b"t"
    return (b"." + fill * (n - 1)) if dot else fill * n


def message(n, dot):
    subject = "line %d%s" % (n, " dot" if dot else "")
    return subject, (b"Subject: %s\r\n\r\nbefore\r\n" % subject.encode()
                     + text_line(n, dot) + b"\r\nafter\r\n")


def delivered_bodies(m, user, n):
    """Subject -> body of the n messages in user's Maildir."""
    out = {}
    for raw in m.wait_for_delivery(user, n):
        lines, body = split(raw)
        subject = [l for l in lines if l.startswith("Subject: ")][0]
        out[subject[len("Subject: "):]] = body
    return out


def test_line_lengths_exact_bytes(mta):
    """On the wire: 997/998/999 + CRLF without a dot, 998/999/1000 + CRLF
    with one (the stuffed dot).  Only the 999-octet lines are refused."""
    m = mta()
    wanted = {}
    with Smtp(m.port) as s:
        s.ehlo(HELO)
        for n, ok in LENGTHS:
            for dot in (False, True):
                subject, msg = message(n, dot)
                wire_line = (b"." if dot else b"") + text_line(n, dot)
                assert len(wire_line) == n + dot
                s.mail("x@example.org")
                s.rcpt("demo@example.test")
                s.expect("DATA", 354)
                s.send(msg.replace(text_line(n, dot), wire_line) + b".\r\n")
                r = s.reply()
                if ok:
                    queue_id(r)
                    wanted[subject] = (b"before\n" + text_line(n, dot)
                                       + b"\nafter\n")
                else:
                    check(r, 550, "5.6.0",
                          contains="line longer than 998 characters")
                # In step after each verdict: the next reply is ours.
                s.expect("NOOP", 250)
        s.expect("QUIT", 221)
    assert delivered_bodies(m, "demo", len(wanted)) == wanted
    m.stop()
    assert len(m.messages("demo")) == len(wanted) == 4


def test_line_lengths_smtplib(mta):
    """smtplib doubles the leading dot itself, as every client must."""
    m = mta()
    wanted = {}
    with smtplib.SMTP("127.0.0.1", m.port, local_hostname=HELO,
                      timeout=10) as c:
        for n, ok in LENGTHS:
            for dot in (False, True):
                subject, msg = message(n, dot)
                if ok:
                    refused = c.sendmail("x@example.org",
                                         ["demo@example.test"], msg)
                    assert refused == {}
                    wanted[subject] = (b"before\n" + text_line(n, dot)
                                       + b"\nafter\n")
                    continue
                with pytest.raises(smtplib.SMTPDataError) as ei:
                    c.sendmail("x@example.org", ["demo@example.test"], msg)
                assert ei.value.smtp_code == 550, ei.value
                assert b"5.6.0" in ei.value.smtp_error, ei.value
                c.rset()
    assert delivered_bodies(m, "demo", len(wanted)) == wanted


def test_decorum_relays_dotted_998_octet_line_to_decorum(mta, tls_mta):
    """One Decorum relays to another over STARTTLS (a transport to the
    second one's port): a 998-octet line starting with a dot arrives
    intact, and so does a 997-octet one; nothing bounces."""
    b = tls_mta()
    a = mta(relay_networks=("127.0.0.0/8",), extra_conf=(
        'transports = ( { match = "example.test"; '
        'via = "relay:[127.0.0.1]:%d"; } );\n' % b.ports["mx_starttls"]))
    body = (b"before\r\n" + text_line(998, True) + b"\r\n"
            + text_line(997, True) + b"\r\n..\r\n.\r\nafter\r\n")
    msg = compose(subject="relayed dots", body=body,
                  to="demo@example.test")
    with smtplib.SMTP("127.0.0.1", a.port, local_hostname=HELO,
                      timeout=10) as c:
        assert c.sendmail("x@example.org", ["demo@example.test"], msg) == {}
    got = b.wait_for_delivery("demo", timeout=20)
    assert len(got) == 1
    _, delivered = split(got[0])
    assert delivered == body.replace(b"\r\n", b"\n")
    ev = a.wait_event("delivered", timeout=10)[0]
    assert "127.0.0.1" in ev["_line"], ev
    assert not a.events("failed") and not a.events("deferred"), a.log()
    assert not a.messages("demo"), "A kept the mail instead of relaying"
    # The relaying client used TLS, and the receiving side saw it.
    assert b.events("tls"), b.log()


def test_sendmail_long_lines_are_broken_and_relayed(mta, tls_mta):
    """A script hands `sendmail` lines longer than 998 octets: they are
    broken after 998 with CRLF and a space (the header field folds, the
    body line continues), so a strict receiver (the second Decorum)
    takes the message instead of it bouncing on its way out."""
    b = tls_mta()
    a = mta(start=False, extra_conf=(
        'transports = ( { match = "example.test"; '
        'via = "relay:[127.0.0.1]:%d"; } );\n' % b.ports["mx_starttls"]))
    subject = b"s" * 1200
    refs = b" ".join(b"<id%04d@example.org>" % i for i in range(120))
    line = text_line(2500, True)
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    r = subprocess.run([a.decorum, "-c", a.conf, "sendmail", "-i",
                        "demo@example.test"],
                       input=b"Subject: " + subject + b"\nReferences: " +
                       refs + b"\n\n" + line + b"\nend\n",
                       capture_output=True, env=env, timeout=20)
    assert r.returncode == 0, r
    a.start()
    got = b.wait_for_delivery("demo", timeout=20)[0]
    assert not a.events("failed") and not a.events("deferred"), a.log()
    assert all(len(l) <= 998 for l in got.split(b"\n")), \
        [len(l) for l in got.split(b"\n")]
    head, body = got.split(b"\n\n", 1)
    # References: had spaces: folded before one, and RFC 5322 unfolding
    # (the line end before the space goes) gives it back whole.
    unfolded = re.sub(rb"\n(?=[ \t])", b"", head)
    assert b"\nReferences: " + refs + b"\n" in b"\n" + unfolded + b"\n", \
        head
    # Subject: had no space to fold at past its name: its text is broken
    # with a line end and a space, as the body line is.
    subj = [l for l in unfolded.split(b"\n") if l.startswith(b"Subject:")]
    assert len(subj) == 1 and subj[0].replace(b" ", b"") == \
        b"Subject:" + subject, subj
    assert body.replace(b"\n ", b"") == line + b"\nend\n"
