"""The real scanners through the daemon (issue 11 item 5): rspamd over
its milter proxy and over /checkv2, clamd over zINSTREAM and
clamav-milter, each a private instance from Debian's packages
(scanpeers.py).  GTUBE refused with 5xx at the end of DATA, the "add
header" pattern delivered flagged into .Junk, ham delivered with the
scanners' fields; EICAR as an attachment and inline refused with 554, a
clean message passes; nothing refused is ever queued."""

import re

import pytest

from mtaproc import DOMAIN
from scanpeers import (clamav_milter, clamd, eicar_attachment,  # noqa: F401
                       eicar_inline, gtube, gtube_add_header,
                       gtube_rewrite_subject, ham, rspamd)
from conftest import PASSWORDS, tls_session
from smtpraw import Smtp, check, queue_id

SPAM_FOLDER = 'spam = { folder = ".Junk"; };\n'


def smtp_data(msg):
    """A spooled message (CRLF) as DATA sends it: dot-stuffed, ended."""
    return re.sub(rb"(^|\r\n)\.", rb"\1..", msg) + b".\r\n"


def send(m, msg, code, enhanced, rcpt="demo", sender="alice@example.org"):
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail(sender)
        s.rcpt("%s@%s" % (rcpt, DOMAIN))
        return s.data(smtp_data(msg), code, enhanced)


def field(msg, name):
    """The values of the fields called name, folds joined (the Maildir
    keeps LF line ends)."""
    head = msg.replace(b"\r\n", b"\n").split(b"\n\n")[0].decode("latin-1")
    return [re.sub(r"\n[ \t]+", " ", v) for v in
            re.findall(r"(?mi)^%s: ?(.*(?:\n[ \t].*)*)" % re.escape(name), head)]


def assert_nothing_queued(m):
    assert not m.events("queued"), m.events("queued")
    assert m.spool_files() == [], m.spool_files()


def junk(m, user="demo", n=1):
    """The messages in the user's .Junk/new, once n are there."""
    import os
    import time
    d = os.path.join(m.maildir(user), ".Junk", "new")
    deadline = time.time() + 10
    while time.time() < deadline:
        if os.path.isdir(d) and len(os.listdir(d)) >= n:
            return [open(os.path.join(d, f), "rb").read()
                    for f in sorted(os.listdir(d))]
        time.sleep(0.05)
    raise AssertionError("nothing in %s; log:\n%s" % (d, m.log()[-3000:]))


@pytest.fixture(params=["milter", "native"])
def rspamd_conf(request, rspamd):
    if request.param == "milter":
        return ('scan = { milters = ( { name = "rspamd"; address = "%s"; '
                'kind = "spam"; } ); };\n' % rspamd.milter_address)
    return 'scan = { rspamd = { address = "%s"; }; };\n' % rspamd.address


def test_rspamd_refuses_gtube(mta, rspamd_conf):
    m = mta(extra_conf=rspamd_conf)
    r = send(m, gtube(), 550, "5.7.1")
    check(r, 550, "5.7.1", contains="Gtube pattern")
    assert m.events("scan", verdict="reject", finding="spam")
    assert_nothing_queued(m)


def test_rspamd_add_header_goes_to_junk(mta, rspamd_conf):
    m = mta(extra_conf=rspamd_conf + SPAM_FOLDER)
    queue_id(send(m, gtube_add_header(), 250, "2.0.0"))
    msg = junk(m)[0]
    assert field(msg, "X-Spam-Flag") == ["YES"], msg[:600]
    assert m.messages("demo") == []
    assert not m.events("bounce")


def test_rspamd_rewrites_the_subject(mta, rspamd_conf):
    """Natively the action is known: flagged.  rspamd's milter only
    changes the Subject for it (no X-Spam field): delivered, not flagged."""
    m = mta(extra_conf=rspamd_conf)
    queue_id(send(m, gtube_rewrite_subject(), 250, "2.0.0"))
    msg = m.wait_for_delivery("demo")[0]
    assert field(msg, "Subject")[0].startswith("*** SPAM ***"), msg[:600]
    flagged = "milters" not in rspamd_conf
    assert field(msg, "X-Spam-Flag") == (["YES"] if flagged else [])


def test_rspamd_ham_passes(mta, rspamd_conf, rspamd):
    m = mta(extra_conf=rspamd_conf)
    queue_id(send(m, ham(), 250, "2.0.0"))
    msg = m.wait_for_delivery("demo")[0]
    assert field(msg, "X-Spam-Flag") == []
    if "milters" not in rspamd_conf:
        status = field(msg, "X-Spam-Status")
        assert len(status) == 1 and status[0].startswith("No, score="), msg[:600]
    assert m.events("scan", scanner="rspamd", verdict="accept")


def test_gtube_to_postmaster_is_delivered_flagged(mta, rspamd_conf):
    m = mta(extra_conf=rspamd_conf + SPAM_FOLDER)
    queue_id(send(m, gtube(), 250, "2.0.0", rcpt="postmaster"))
    msg = junk(m, "admin")[0]
    assert field(msg, "X-Spam-Flag") == ["YES"]


@pytest.fixture(params=["clamd", "clamav-milter"])
def clam_conf(request, clamd, tmp_path):
    if request.param == "clamd":
        return 'scan = { clamd = { address = "%s"; }; };\n' % clamd.address
    milt = request.getfixturevalue("clamav_milter")
    return ('scan = { milters = ( { name = "clamav"; address = "%s"; '
            'kind = "malware"; } ); };\n' % milt.address)


@pytest.mark.parametrize("make", [eicar_attachment, eicar_inline],
                         ids=["attachment", "inline"])
def test_eicar_refused_554(mta, clam_conf, make):
    m = mta(extra_conf=clam_conf)
    r = send(m, make(), 554, "5.7.1")
    assert "EICAR" not in r.text.upper(), r
    ev = m.events("scan", verdict="reject", finding="malware")[-1]
    assert "EICAR" in ev["detail"].upper(), ev
    assert_nothing_queued(m)


def test_eicar_to_postmaster_still_refused(mta, clam_conf):
    m = mta(extra_conf=clam_conf)
    send(m, eicar_attachment(), 554, "5.7.1", rcpt="postmaster")
    assert_nothing_queued(m)


def test_clean_message_passes(mta, clam_conf):
    m = mta(extra_conf=clam_conf)
    queue_id(send(m, ham(), 250, "2.0.0"))
    msg = m.wait_for_delivery("demo")[0]
    if "clamd = " in clam_conf:
        assert field(msg, "X-Virus-Scanned") == ["clamd at mx.example.test"]
    else:
        assert field(msg, "X-Virus-Status") == ["Clean"], msg[:600]


def test_forged_scan_fields_are_replaced(mta, clamd):
    """A client cannot pre-label its mail: our fields replace its own."""
    from scanpeers import message
    m = mta(extra_conf='scan = { clamd = { address = "%s"; }; };\n'
            % clamd.address)
    forged = message("hello\n", extra_headers=(
        "X-Virus-Scanned: clean, trust me", "X-Spam-Flag: NO"))
    queue_id(send(m, forged, 250, "2.0.0"))
    msg = m.wait_for_delivery("demo")[0]
    assert field(msg, "X-Virus-Scanned") == ["clamd at mx.example.test"]
    assert field(msg, "X-Spam-Flag") == []


@pytest.mark.parametrize("score", [True, False])
def test_authenticated_submission(tls_mta, rspamd, clamd, score):
    """Submission is always scanned for malware; spam-scored only with
    scan.score_authenticated (default true)."""
    m = tls_mta(extra_conf='scan = { score_authenticated = %s; '
                'rspamd = { address = "%s"; }; clamd = { address = "%s"; }; };\n'
                % ("true" if score else "false", rspamd.address, clamd.address))
    with tls_session(m, "sub_starttls", "alice@" + DOMAIN,
                     PASSWORDS["alice"]) as s:
        s.mail("alice@" + DOMAIN)
        s.rcpt("demo@" + DOMAIN)
        s.data(smtp_data(gtube().replace(b"alice@example.org",
                                         b"alice@" + DOMAIN.encode())),
               550 if score else 250, "5.7.1" if score else "2.0.0")
        s.mail("alice@" + DOMAIN)
        s.rcpt("demo@" + DOMAIN)
        s.data(smtp_data(eicar_attachment()), 554, "5.7.1")
    assert bool(m.events("scan", scanner="rspamd")) == score
    assert len(m.events("scan", scanner="clamd")) == 2


def test_rspamd_milter_reuse_across_verdicts(mta, rspamd):
    """One kept connection for messages rspamd answers differently (a
    reject is a reply code at the end of body, ham an ACCEPT): rspamd
    resets on QUIT_NC after either, so each message gets its own
    verdict and none fails."""
    m = mta(extra_conf='scan = { milters = ( { name = "rspamd"; '
            'address = "%s"; kind = "spam"; reuse = true; } ); };\n'
            % rspamd.milter_address)
    queue_id(send(m, ham(), 250, "2.0.0"))
    check(send(m, gtube(), 550, "5.7.1"), 550, "5.7.1", contains="Gtube")
    queue_id(send(m, ham(), 250, "2.0.0"))
    check(send(m, gtube(), 550, "5.7.1"), 550, "5.7.1", contains="Gtube")
    queue_id(send(m, ham(), 250, "2.0.0"))
    assert len(m.events("scan", scanner="rspamd", verdict="accept")) == 3
    assert len(m.events("scan", scanner="rspamd", verdict="reject")) == 2
    assert not m.events("scan", verdict="failed")
    # Kept: one established connection to rspamd's milter port, ours.
    assert established_to(int(rspamd.milter_address.rsplit(":", 1)[1])) == 1


def established_to(port):
    """Established TCP connections whose remote port is port (IPv4)."""
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return sum(1 for r in rows
               if int(r[2].split(":")[1], 16) == port and r[3] == "01")
