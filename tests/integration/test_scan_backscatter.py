"""No backscatter, as a tested invariant (issue 11 item 4; the BCP:
"Already accepted mail which is later flagged as spam, malware or
otherwise unacceptable must not generate a DSN").

One daemon with rspamd (native), a test milter and a spam folder; the
senders are foreign, their domain's MX a sink on 127.0.0.21.  Every path
that flags mail or drops it after the 250 is walked: rspamd's "add
header" and "rewrite subject", spam to postmaster, a milter's discard
and quarantine, a flagged message relayed to a remote domain whose MX
refuses it with 550 (a delivery-time failure), and one whose MX keeps
deferring until the queue lifetime ends.  Then: no message from <> in
any spool folder, no transaction from <> at the sender's MX, and no
report in any mailbox."""

import os
import re
import time

from conftest import add_mx
from mtaproc import DOMAIN
from scanpeers import (gtube, gtube_add_header, gtube_rewrite_subject,  # noqa: F401
                       message, rspamd)
from smtpraw import Smtp, queue_id
from test_scan_milter import milter  # noqa: F401  (fixture)
from test_scan_real import junk, smtp_data

SENDER_DOMAIN = "sender.example"


def send(m, msg, rcpt, sender="alice@" + SENDER_DOMAIN, code=250,
         enhanced="2.0.0"):
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail(sender)
        s.rcpt(rcpt if "@" in rcpt else "%s@%s" % (rcpt, DOMAIN))
        return s.data(smtp_data(msg), code, enhanced)


def spool_senders(m):
    """The S record of every envelope anywhere in the spool."""
    out = []
    for f in m.spool_files():
        try:
            with open(f, "rb") as fh:
                text = fh.read()
        except OSError:
            continue
        if text.startswith(b"V 1\n"):
            out += re.findall(rb"(?m)^S (.*)$", text)
    return out


def mailbox_files(m):
    out = []
    for root, _, files in os.walk(m.mailboxes):
        out += [os.path.join(root, f) for f in files
                if os.sep + "new" in root or os.sep + "cur" in root]
    return out


def test_no_path_that_flags_mail_sends_a_dsn(outbound_mta, remote_mx, dns,
                                              rspamd, milter):
    sender_mx = remote_mx("127.0.0.21")
    add_mx(dns, SENDER_DOMAIN, ["127.0.0.21"])
    refusing = remote_mx("127.0.0.22", data_reply="550 5.7.1 no thanks")
    add_mx(dns, "refuses.example", ["127.0.0.22"])
    deferring = remote_mx("127.0.0.23", data_reply="451 4.3.0 later")
    add_mx(dns, "defers.example", ["127.0.0.23"])
    m = outbound_mta(
        conf='scan = { rspamd = { address = "%s"; }; milters = ( '
             '{ name = "q"; address = "%s"; kind = "other"; } ); };\n'
             'spam = { folder = ".Junk"; };\n'
             % (rspamd.address, milter("quarantine")),
        retry_min=1, retry_max=1, lifetime=4)
    ids = [
        queue_id(send(m, gtube_add_header(), "demo")),
        queue_id(send(m, gtube_rewrite_subject(), "demo")),
        queue_id(send(m, gtube(), "postmaster")),
        queue_id(send(m, gtube_add_header(), "bob@refuses.example")),
        queue_id(send(m, gtube_add_header(), "carl@defers.example")),
    ]
    # The milter quarantines every message: release them all so each
    # goes the way its verdict says.
    for qid in ids:
        m.wait_event("quarantined", id=qid)
    for qid in ids:
        assert m.cli("queue", "release", qid).returncode == 0
    junk(m, "demo", 2)
    junk(m, "admin", 1)
    m.wait_event("failed", rcpt="<bob@refuses.example>")
    m.wait_event("failed", rcpt="<carl@defers.example>", timeout=20)
    time.sleep(2)
    assert refusing.transactions(), "the refusing MX was never tried"
    # The invariant.
    assert b"<>" not in spool_senders(m), spool_senders(m)
    assert [t for t in sender_mx.transactions() if t.sender == ""] == []
    assert sender_mx.transactions() == []
    assert not m.events("bounce"), m.events("bounce")
    assert not m.events("delay-warning")
    for f in mailbox_files(m):
        with open(f, "rb") as fh:
            head = fh.read().replace(b"\r\n", b"\n").split(b"\n\n")[0]
        assert b"multipart/report" not in head, f


def test_discarded_mail_sends_nothing(mta, milter, remote_mx, dns):
    sender_mx = remote_mx("127.0.0.21")
    add_mx(dns, SENDER_DOMAIN, ["127.0.0.21"])
    m = mta(extra_conf='scan = { milters = ( { name = "d"; address = "%s"; '
            'kind = "spam"; } ); };\n' % milter("discard"))
    r = send(m, message("hello\n"), "demo")
    assert "discarded" in r.text
    time.sleep(1)
    assert m.spool_files() == []
    assert sender_mx.transactions() == []
    assert mailbox_files(m) == []
