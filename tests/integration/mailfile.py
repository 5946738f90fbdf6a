"""Reading delivered Maildir files: header block, unfolding, Received."""

import email.utils
import re
import time


def split(msg):
    """(list of unfolded header lines, body bytes) of a delivered file.
    Delivered files use LF line ends (Maildir convention)."""
    assert b"\r\n" not in msg, "CRLF in a Maildir file: %r" % msg[:300]
    head, sep, body = msg.partition(b"\n\n")
    assert sep, "no end of header in %r" % msg[:300]
    lines = []
    for raw in head.split(b"\n"):
        if raw[:1] in (b" ", b"\t") and lines:
            # RFC 5322 2.2.3: unfolding removes the line break only.
            lines[-1] += raw
        else:
            lines.append(raw)
    return [l.decode("utf-8", "replace") for l in lines], body


def first_received(msg):
    """The first (topmost, so newest) Received: line of a delivered file,
    unfolded, each run of white space as one space."""
    lines, _ = split(msg)
    recs = [l for l in lines if l.startswith("Received:")]
    assert recs, lines
    return re.sub(r"\s+", " ", recs[0])


def received_re(helo, rdns, ip, sender, qid, rcpt=None, proto="ESMTP"):
    """The exact Received: of the contract, whitespace runs normalised:
    from HELO (RDNS [IP]) (envelope-from <sender>) by mx.example.test
    (Decorum) with ESMTP id QUEUEID [for <rcpt>]; DATE"""
    pat = (r"Received: from %s \(%s \[%s\]\) \(envelope-from <%s>\) "
           r"by mx\.example\.test \(Decorum\) with %s id %s"
           % (re.escape(helo), re.escape(rdns), re.escape(ip),
              re.escape(sender), re.escape(proto), re.escape(qid)))
    if rcpt is not None:
        pat += r" for <%s>" % re.escape(rcpt)
    return re.compile(pat + r"; (?P<date>.+)")


def check_received(line, **kw):
    norm = re.sub(r"\s+", " ", line).strip()
    m = received_re(**kw).fullmatch(norm)
    assert m, "Received: does not match the contract:\n  got  %r\n  want %s" \
        % (norm, received_re(**kw).pattern)
    # RFC 5322 3.6.7: the date is a date-time, and it is now.
    when = email.utils.parsedate_to_datetime(m.group("date"))
    assert when.tzinfo is not None, "date without zone: %r" % m.group("date")
    assert abs(when.timestamp() - time.time()) < 300, m.group("date")
    return m
