"""Log injection (issue 8, item 3): whatever bytes a client, a remote
server, DNS or a path puts into a logged value, the daemon's log stays one
event per line, every line parses under the strict grammar of
docs/logging.md (logfmt.py), the value comes back byte for byte once its
\\xHH escapes are undone, and no event appears that did not happen (no
event=auth without a login, no id=FAKE).

The hostile bytes: CR, LF (wherever the protocol lets them through: SNI,
AUTH user names inside base64, From: folding, remote replies, DNS names,
paths), NUL, '"', '\\\\', DEL, ESC, valid UTF-8 (it must stay readable),
invalid UTF-8, and the Unicode line separator and bidi override.
"""

import base64
import os
import socket
import threading

from conftest import (HELO, add_mx, auth_plain_b64, client_context,
                      starttls, submit)
from logfmt import parse_log
from mtaproc import HOSTNAME, wait_until
from smtpraw import Smtp, check

ALICE = "alice@example.test"
# The text of a forged event: if it ever starts a line, the line parses
# as a login (or a delivery) that never happened.
FORGED_AUTH = b'event=auth session=1 client=[127.0.0.1] user="alice" mechanism=PLAIN'


def lines(m):
    return parse_log(m.logfile)


def events(m, name):
    return [l for l in lines(m) if l.event == name]


def wait_events(m, name, n=1, timeout=10, **fields):
    def found():
        got = [l for l in events(m, name)
               if all(l.get(k) == v for k, v in fields.items())]
        return got if len(got) >= n else None
    try:
        return wait_until(found, timeout, what="%d event=%s %r"
                          % (n, name, fields))
    except AssertionError as e:
        raise AssertionError("%s; log:\n%s" % (e, m.log()[-3000:]))


def assert_nothing_forged(m, logins=0):
    """Every line parses (parse_log), exactly `logins` logins, no FAKE id."""
    all_lines = lines(m)
    assert len([l for l in all_lines if l.event == "auth"]) == logins, \
        m.log()
    assert not [l for l in all_lines
                if l.get("id", "").lower() == "fake"], m.log()
    return all_lines


# -- commands --------------------------------------------------------------

# (command line as sent, whether the parser sees a command in it at all):
# NUL, CR and LF make a line a syntax error before its verb is read.
COMMANDS = [
    (b'HELO a"b\\c', True),
    (b"EHLO " + HELO.encode(), True),
    (b'EHLO x\x7fy"z\\w\x1b[2J', True),
    (b"EHLO \xc3\xa9t\xc3\xa9.example", True),
    (b"EHLO \xff\xfe.example", True),
    (b"EHLO a\x00b", False),
    (b"EHLO a\rb", False),
    (b"EHLO a\nevent=auth", False),
    (b"EHLO " + HELO.encode(), True),
    (b'MAIL FROM:<"x\\"y\\\\z event=auth"@example.org> SIZE=100', True),
    (b'RCPT TO:<"a\\"b\\\\c"@example.test>', True),
    (b'RCPT TO:<demo@example.test> NOTIFY=NEVER X-EVIL="q\\"', True),
    (b"RCPT TO:<demo@example.test> ORCPT=rfc822;a+0Ab\x7f\xe2\x80\xa8", True),
    (b"RCPT TO:<d\xc3\xa9mo@example.test>", True),
    (b"RCPT TO:<x\x00@example.test>", False),
    (b"RCPT TO:<demo@example.test>", True),
    (b"MAIL FROM:<m\xfcller@example.org>", True),
    (b"NOOP \x1b]0;title\x07 \xe2\x80\xae", True),
    (b'XYZZY "forged" \\ event=auth', True),
]


def expected_arg(line):
    """What event=command should give as arg=: the text after the verb
    (after FROM:/TO: for MAIL/RCPT), spaces around it stripped."""
    verb, _, rest = line.partition(b" ")
    if verb.upper() in (b"MAIL", b"RCPT"):
        rest = rest.partition(b":")[2]
    return rest.strip(b" ")


def test_hostile_bytes_in_commands(mta):
    m = mta(max_errors=100)
    replies = []
    with Smtp(m.port) as s:
        for line, _ in COMMANDS:
            replies.append(s.cmd(line).code)
        s.expect("DATA", 354)
        s.send(b"Subject: x\r\n\r\nbody\r\n.\r\n")
        check(s.reply(), 250, "2.0.0")
        s.expect("QUIT", 221)
    m.wait_for_delivery("demo")
    wait_events(m, "removed")

    got = [l for l in assert_nothing_forged(m) if l.event == "command"
           and l.get("cmd") not in ("DATA", "QUIT")]
    assert len(got) == len(COMMANDS), m.log()
    for (line, parsed), code, ev in zip(COMMANDS, replies, got):
        assert ev.get("reply") == str(code), (line, ev)
        if not parsed:
            assert code == 501 and ev.get("cmd") == "UNKNOWN", (line, ev)
            assert ev.value("arg") == b"", (line, ev)
        elif ev.get("cmd") == "UNKNOWN":
            assert code == 500, (line, ev)
        else:
            # Lossless: the escapes undone give the bytes sent.
            assert ev.value("arg") == expected_arg(line), (line, ev)
    # The accepted sender, quotes, backslashes and all, in one field.
    queued = events(m, "queued")
    assert len(queued) == 1, m.log()
    assert queued[0].value("from") == \
        b'<"x\\"y\\\\z event=auth"@example.org>', queued[0]
    delivered = events(m, "delivered")
    assert delivered and all(l.get("id") == queued[0].get("id")
                             for l in delivered), m.log()


# -- AUTH ------------------------------------------------------------------

def implicit_from(port, source, server_hostname=HOSTNAME):
    """An EHLO'd implicit-TLS session from the client address source
    (each failure delays the next one from the same address)."""
    s = Smtp(port, greet=False, source=source)
    s.sock = client_context().wrap_socket(s.sock,
                                          server_hostname=server_hostname)
    check(s.reply(), 220)
    s.ehlo(HELO)
    return s


def b64(raw):
    return base64.b64encode(raw).decode("ascii")


# (mechanism, user as bytes, what the log must show for it: None for the
# user itself)
AUTH_USERS = [
    ("PLAIN", b"x\n" + FORGED_AUTH, None),
    ("PLAIN", b'q"uo\\te\r\x7f\x1b[31m@example.test', None),
    ("LOGIN", b"y\r\n" + FORGED_AUTH, None),
    ("LOGIN", b"\xc3\xa9l\xc3\xa8ve\xff\xe2\x80\xae@example.test", None),
    # A NUL makes the user malformed (535 at once): logged empty, never
    # cut at the NUL.
    ("LOGIN", b"nul\x00" + FORGED_AUTH, b""),
]


def test_auth_user_names(tls_mta):
    m = tls_mta(auth={"max_failures": 100, "block_time": 3})
    port = m.ports["sub_implicit"]
    for i, (mech, user, shown) in enumerate(AUTH_USERS):
        with implicit_from(port, "127.0.0.%d" % (50 + i)) as s:
            if mech == "PLAIN":
                raw = b"\0" + user + b"\0" + b"Wrong-pw-1"
                s.expect("AUTH PLAIN " + b64(raw), 535, "5.7.8")
            elif shown is not None:
                s.expect("AUTH LOGIN", 334)
                s.expect(b64(user), 535, "5.7.8")
            else:
                s.expect("AUTH LOGIN", 334)
                s.expect(b64(user), 334)
                s.expect(b64(b"Wrong-pw-1"), 535, "5.7.8")
    with implicit_from(port, "127.0.0.60") as s:
        s.expect("AUTH PLAIN " + auth_plain_b64(ALICE, "alice-pw"), 235,
                 "2.7.0")
    m.stop()

    all_lines = assert_nothing_forged(m, logins=1)
    assert [l.get("user") for l in all_lines if l.event == "auth"] == [ALICE]
    failed = [l for l in all_lines if l.event == "auth-failed"]
    assert len(failed) == len(AUTH_USERS), m.log()
    for (mech, user, shown), ev in zip(AUTH_USERS, failed):
        assert ev.get("mechanism") == mech, ev
        assert ev.value("user") == (user if shown is None else shown), ev
    assert "Wrong-pw-1" not in m.log() and b64(b"Wrong-pw-1") not in m.log()


# -- SNI -------------------------------------------------------------------

# Python sends server_hostname's ASCII bytes as they are; OpenSSL refuses
# only NUL in them.
EVIL_SNI = ('evil\n' + FORGED_AUTH.decode() + '\r"q"\\\x7f\x1b[1m')


def test_sni_with_line_ends(tls_mta):
    m = tls_mta()
    with implicit_from(m.ports["mx_implicit"], "127.0.0.1",
                       server_hostname=EVIL_SNI) as s:
        s.expect("QUIT", 221)
    with Smtp(m.ports["mx_starttls"]) as s:
        s.ehlo(HELO)
        starttls(s, server_hostname=EVIL_SNI)
        s.ehlo(HELO)
        s.expect("QUIT", 221)
    with implicit_from(m.ports["mx_implicit"], "127.0.0.1",
                       server_hostname="other.example.test") as s:
        s.expect("QUIT", 221)
    m.stop()

    tls = [l for l in assert_nothing_forged(m) if l.event == "tls"]
    assert [l.value("sni") for l in tls] == \
        [EVIL_SNI.encode()] * 2 + [b"other.example.test"], m.log()
    assert all(l.quoted("sni") for l in tls)


# -- From: -----------------------------------------------------------------

# (header field, the address as the refusal quotes it); folded lines,
# quoted pairs, an RLO and bytes that are not UTF-8.
FROM_FIELDS = [
    (b'From: "Mallory"\r\n\t<"x\\"y\\\\z ' + FORGED_AUTH.replace(b'"', b'\\"')
     + b'"@example.org>', b'"x\\"y\\\\z ' + FORGED_AUTH.replace(b'"', b'\\"')
     + b'"@example.org'),
    (b"From: <m\xc3\xbcller\xe2\x80\xae@example.org>",
     b"m\xc3\xbcller\xe2\x80\xae@example.org"),
    (b"From: Eve\r\n <a\xffb@example.org>", b"a\xffb@example.org"),
]


def test_from_header_refusal(tls_mta):
    m = tls_mta(submission={"check_from_header": True}, max_errors=20)
    with implicit_from(m.ports["sub_implicit"], "127.0.0.1") as s:
        s.expect("AUTH PLAIN " + auth_plain_b64(ALICE, "alice-pw"), 235)
        for field, _ in FROM_FIELDS:
            s.mail(ALICE)
            s.rcpt("demo@example.test")
            s.expect("DATA", 354)
            s.send(field + b"\r\nSubject: x\r\n\r\nbody\r\n.\r\n")
            check(s.reply(), 550, "5.7.1")
    m.stop()

    rejected = [l for l in assert_nothing_forged(m, logins=1)
                if l.event == "rejected"]
    assert len(rejected) == len(FROM_FIELDS), m.log()
    for (_, addr), ev in zip(FROM_FIELDS, rejected):
        assert ev.value("reason") == b"Message refused: From: <" + addr + \
            b"> not owned by user " + ALICE.encode(), ev
        assert ev.get("status") == "5.7.1"


# -- remote servers --------------------------------------------------------

class RawMX:
    """A remote server that answers from a script of raw bytes, for the
    bytes aiosmtpd would not send (invalid UTF-8, bare CR, ESC).
    replies: verb (b"EHLO", b"MAIL", b"RCPT", b"DATA", b".") -> reply
    bytes with their CRLFs; anything else gets 250."""

    def __init__(self, host, port, greeting, replies=None):
        self.greeting = greeting
        self.replies = dict(replies or {})
        self.sessions = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            self.sessions += 1
            try:
                self._serve(c)
            except OSError:
                pass
            finally:
                c.close()

    def _serve(self, c):
        c.settimeout(10)
        c.sendall(self.greeting)
        if not self.greeting.startswith(b"220"):
            return
        buf, in_data = b"", False
        while True:
            chunk = c.recv(65536)
            if not chunk:
                return
            buf += chunk
            while b"\r\n" in buf:
                line, buf = buf.split(b"\r\n", 1)
                if in_data:
                    if line == b".":
                        in_data = False
                        c.sendall(self.replies.get(b".", b"250 ok\r\n"))
                    continue
                verb = line.split(b" ")[0].split(b":")[0].upper()
                reply = self.replies.get(verb, b"250 ok\r\n")
                if verb == b"QUIT":
                    c.sendall(b"221 bye\r\n")
                    return
                c.sendall(reply)
                in_data = verb == b"DATA" and reply.startswith(b"354")

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


RCPT_REPLY = (b'550-5.1.1 "quoted" back\\slash \xff\xfe \xc3\xa9t\xc3\xa9 '
              b'\x1b[31m bare\rCR\r\n'
              b"550 5.1.1 event=delivered id=FAKE\r\n")
GREETING = b'554 5.7.1 "go away" \\ \xff \xe2\x80\xa8 ' + FORGED_AUTH + b"\r\n"


def test_remote_replies_raw(outbound_mta, dns, mx_port):
    add_mx(dns, "raw.example", ["127.0.0.21"])
    add_mx(dns, "rude.example", ["127.0.0.22"])
    servers = [RawMX("127.0.0.21", mx_port, b"220 raw.example ESMTP\r\n",
                     {b"EHLO": b"250 raw.example\r\n", b"RCPT": RCPT_REPLY}),
               RawMX("127.0.0.22", mx_port, GREETING)]
    try:
        m = outbound_mta()
        failed_id, _ = submit(m, ALICE, ["user@raw.example"])
        deferred_id, _ = submit(m, ALICE, ["user@rude.example"])
        failed = wait_events(m, "failed", id=failed_id)[0]
        wait_events(m, "bounce", id=failed_id)
        refused = wait_events(m, "connect-failed",
                              dest="smtp:rude.example")[0]
        wait_events(m, "deferred", id=deferred_id)
        m.wait_for_delivery("alice")        # the report
    finally:
        for s in servers:
            s.stop()
    m.stop()
    assert_nothing_forged(m)
    # The server's words, whole: quotes, backslash, 8-bit bytes as sent
    # (controls are made spaces before the status record, not here).
    reason = failed.value("reason")
    assert b'"quoted" back\\slash \xff\xfe \xc3\xa9t\xc3\xa9' in reason, failed
    assert b"event=delivered id=FAKE" in reason, failed
    assert failed.value("rcpt") == b"<user@raw.example>"
    why = refused.value("reason")
    assert b'"go away" \\ \xff \xe2\x80\xa8 ' + FORGED_AUTH in why, refused
    assert refused.value("relay") == b"mx1.rude.example[127.0.0.22]:%d" \
        % mx_port
    # Nothing the servers said was taken for a delivery.
    assert not [l for l in lines(m) if l.event == "delivered"
                and l.get("id") in (failed_id, deferred_id)]


def test_remote_replies_aiosmtpd(outbound_mta, remote_mx, dns):
    add_mx(dns, "quoted.example", ["127.0.0.23"])
    text = '550 5.1.1 "no" such \\ user \u00e9t\u00e9 \u2028 \u202e x'
    remote_mx("127.0.0.23", rcpt_replies={"u@quoted.example": text})
    m = outbound_mta()
    qid, _ = submit(m, ALICE, ["u@quoted.example"])
    ev = wait_events(m, "failed", id=qid)[0]
    m.wait_for_delivery("alice")
    m.stop()
    assert_nothing_forged(m)
    assert text[4:].encode() in ev.value("reason"), ev
    # UTF-8 stays readable in the line; the separator and the override
    # are escaped there.
    assert "\u00e9t\u00e9".encode() in ev.raw
    assert b"\\xe2\\x80\\xa8" in ev.raw and b"\\xe2\\x80\\xae" in ev.raw


# -- DNS -------------------------------------------------------------------

def test_dns_names(outbound_mta, dns, mx_port):
    # A PTR with a line end and quotes for one client; a good one for
    # another; an MX host name a resolver passes on but we must not use.
    # (A label holds at most 63 octets; the stub lower-cases names.)
    dns.zone.add_ptr("127.0.0.1", 'x\nevent=auth user="alice"\\.evil.example')
    dns.zone.add("x\nevent=auth user=\"alice\"\\.evil.example", "A",
                 "127.0.0.1")
    dns.zone.add_ptr("127.0.0.2", "good.example.org")
    dns.zone.add("good.example.org", "A", "127.0.0.2")
    weird_mx = 'mx\nevent=delivered id=fake "x".weird.example'
    dns.zone.add("weird.example", "MX", (10, weird_mx))
    dns.zone.add(weird_mx, "A", "127.0.0.21")
    m = outbound_mta()
    for source in ("127.0.0.1", "127.0.0.2"):
        with Smtp(m.port, source=source) as s:
            s.expect("QUIT", 221)
    # A UTF-8 domain stays readable in dest=.
    rcpts = ["x@weird.example", "y@b\u00fccher.example"]
    qid, _ = submit(m, ALICE, rcpts, params="SMTPUTF8")
    for r in rcpts:
        wait_until(lambda: [l for l in lines(m) if l.get("id") == qid
                            and l.event in ("failed", "deferred")
                            and l.get("rcpt") == "<%s>" % r], 20,
                   what="an outcome for %s" % r)
    m.stop()

    names = [l for l in assert_nothing_forged(m) if l.event == "client-name"]
    evil = [l for l in names if l.get("status") != "verified"]
    good = [l for l in names if l.get("status") == "verified"]
    assert evil and all(l.value("rdns") is None for l in evil), names
    assert good and all(l.value("rdns") in (b"good.example.org",
                                            b"good.example.org.")
                        for l in good), names
    assert all(l.quoted("rdns") for l in good)
    assert not [l for l in lines(m) if l.event == "delivered"
                and l.get("id") == qid]
    assert "b\u00fccher".encode() in m.log().encode(), m.log()


# -- paths and config values -----------------------------------------------

def conf_string(raw):
    """A libconfig string's contents for raw bytes."""
    out = b""
    for b in raw:
        c = bytes([b])
        if c in (b'"', b"\\"):
            out += b"\\" + c
        elif 0x20 <= b < 0x7f:
            out += c
        else:
            out += b"\\x%02x" % b
    return out


# Short: the queue manager's socket path must stay under 108 bytes.
WEIRD_DIR = 'w"d \\ dir\nevent=auth user="a"\r\x7f \u00e9\u2028'


def test_paths_with_line_ends(mta):
    m = mta(start=False, root_name=WEIRD_DIR)
    # The config names the paths as libconfig strings, escapes and all.
    with open(m.conf, "rb") as f:
        conf = f.read()
    root = os.fsencode(m.root)
    with open(m.conf, "wb") as f:
        f.write(conf.replace(root, conf_string(root)))
    m.start()
    with Smtp(m.port) as s:
        s.ehlo(HELO)
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.data(b"Subject: x\r\n\r\nbody\r\n.\r\n")
    m.wait_for_delivery("demo")
    wait_events(m, "removed")
    m.stop()

    all_lines = assert_nothing_forged(m)
    started = [l for l in all_lines if l.event == "started"]
    assert started and started[0].value("config") == os.fsencode(m.conf)
    tables = {l.value("file") for l in all_lines if l.event == "table-load"}
    users = os.fsencode(os.path.join(m.domain_dir(), "users"))
    assert users in tables, tables
    # The path's own bytes never reach a line unescaped.
    assert b"dir\n" not in open(m.logfile, "rb").read()


def test_config_error_with_line_end(mta):
    """A config error quotes what it found, a link's target among them;
    under -f the "FILE:LINE: message" line on stderr is the log, so a
    target holding a line end and a whole log line would forge that
    event.  The message comes out escaped: still one line, still
    readable, and check-config prints it the same way."""
    m = mta(start=False)
    forged = (b"2026-01-01T00:00:00.000Z master[1] info: " + FORGED_AUTH)
    link = os.path.join(m.root, "lnk")
    os.symlink(b"x\n" + forged, os.fsencode(link))
    with open(m.conf) as f:
        conf = f.read()
    with open(m.conf, "w") as f:
        f.write(conf.replace('spool = "%s";' % m.spool,
                             'spool = "%s/spool";' % link))
    assert link in open(m.conf).read()
    try:
        m.start(timeout=10)
    except AssertionError as e:
        assert "exited with 1 before ready" in str(e), e
    else:
        raise AssertionError("decorumd started with a linked spool")
    log = open(m.logfile, "rb").read()
    assert b"\n" + forged not in log, log
    refusal = [l for l in log.split(b"\n") if b"symbolic link" in l]
    assert refusal and b"(to x\\x0a2026-01-01" in refusal[0], log
    parse_log(m.logfile, config=m.conf)     # every other line parses
    assert not [l for l in parse_log(m.logfile, config=m.conf)
                if l.event == "auth"]

    r = m.cli("check-config")
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "\n" + forged.decode() not in r.stderr, r.stderr
    assert "(to x\\x0a2026-01-01" in r.stderr, r.stderr


# -- ordinary logs ---------------------------------------------------------

def test_ordinary_session_parses(tls_mta):
    """A plain transaction, a TLS one and a login: every line parses, and
    the values we make ourselves are bare words."""
    m = tls_mta()
    with Smtp(m.port) as s:
        s.ehlo(HELO)
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.data(b"Subject: x\r\n\r\nbody\r\n.\r\n")
    with implicit_from(m.ports["sub_implicit"], "127.0.0.1") as s:
        s.expect("AUTH PLAIN " + auth_plain_b64(ALICE, "alice-pw"), 235)
        s.mail(ALICE)
        s.rcpt("bob@example.test")
        s.data(b"From: <alice@example.test>\r\nSubject: y\r\n\r\nz\r\n.\r\n")
    m.wait_for_delivery("demo")
    m.wait_for_delivery("bob")
    wait_events(m, "removed", n=2)
    m.stop()
    all_lines = assert_nothing_forged(m, logins=1)
    for l in all_lines:
        for key in ("session", "id", "client", "port", "status", "cmd",
                    "mechanism", "nrcpt", "size"):
            if l.value(key) is not None:
                assert not l.quoted(key), (key, l)
        for key in ("from", "rcpt", "user", "sni", "rdns", "arg", "reason",
                    "auth", "mailbox", "file", "listener", "config"):
            if l.value(key) is not None:
                assert l.quoted(key), (key, l)
    queued = [l for l in all_lines if l.event == "queued"]
    assert [l.value("from") for l in queued] == \
        [b"<x@example.org>", b"<alice@example.test>"]
    assert queued[1].value("auth") == ALICE.encode()
