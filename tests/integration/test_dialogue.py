"""SMTP dialogue against the real daemon: every reply of the contract,
byte for byte where the contract fixes the text (RFC 5321 4.2, 4.3.2;
enhanced codes RFC 3463 / RFC 2034), command sequencing, PIPELINING
(RFC 2920), IPv6 and the address forms of RFC 5321 4.1.2 that must be
parsed but never relayed (source routes, %, !)."""

import pytest

from smtpraw import Smtp, check, message, queue_id

GREETING = "mx.example.test ESMTP Decorum"


def session(m, ehlo=True, host="127.0.0.1", port=None):
    s = Smtp(port or m.port, host=host)
    check(s.greeting, 220)
    if ehlo:
        s.ehlo()
    return s


def test_greeting_is_exact(mta):
    m = mta()
    with Smtp(m.port) as s:
        assert s.greeting.code == 220
        assert s.greeting.lines == [GREETING]


def test_ehlo_lists_extensions(mta):
    m = mta()
    with session(m, ehlo=False) as s:
        r = s.cmd("EHLO client.example.org")
        check(r, 250)
        assert r.lines[0] == "mx.example.test"
        ext = r.lines[1:]
        for e in ("PIPELINING", "SIZE 100000", "8BITMIME",
                  "ENHANCEDSTATUSCODES", "SMTPUTF8"):
            assert e in ext, "EHLO lacks %s: %r" % (e, r)
        # tls = "none": offering STARTTLS would be a lie.
        assert not any(x.upper().startswith("STARTTLS") for x in ext)


def test_helo_reply(mta):
    m = mta()
    with session(m, ehlo=False) as s:
        r = s.cmd("HELO client.example.org")
        assert (r.code, r.lines) == (250, ["mx.example.test"])
        # HELO also opens a session: mail can follow.
        s.expect("MAIL FROM:<x@example.org>", 250, "2.1.0")


def test_transaction_replies_are_exact(mta):
    m = mta()
    with session(m) as s:
        r = s.cmd("MAIL FROM:<x@example.org>")
        assert (r.code, r.lines) == (250, ["2.1.0 Ok"])
        r = s.cmd("RCPT TO:<demo@example.test>")
        assert (r.code, r.lines) == (250, ["2.1.5 Ok"])
        r = s.cmd("DATA")
        assert (r.code, r.lines) == (354,
                                     ["End data with <CR><LF>.<CR><LF>"])
        s.send(message())
        qid = queue_id(s.reply())
        assert qid
        r = s.cmd("NOOP")
        assert (r.code, r.lines) == (250, ["2.0.0 Ok"])
        r = s.cmd("RSET")
        assert (r.code, r.lines) == (250, ["2.0.0 Ok"])
        r = s.cmd("QUIT")
        assert (r.code, r.lines) == (221, ["2.0.0 Bye"])
        assert s.closed(), "connection still open after QUIT"
    m.wait_for_delivery("demo")


def test_commands_are_case_insensitive(mta):
    # RFC 5321 2.4: verbs and the FROM:/TO: keywords in any case.
    m = mta()
    with session(m, ehlo=False) as s:
        s.expect("ehlo client.example.org", 250)
        s.expect("mail from:<x@example.org>", 250, "2.1.0")
        s.expect("Rcpt To:<demo@example.test>", 250, "2.1.5")
        s.expect("rset", 250, "2.0.0")


def test_vrfy_help_expn(mta):
    m = mta()
    with session(m) as s:
        s.expect("VRFY demo", 252, "2.5.0")
        s.expect("HELP", 214, "2.0.0")
        # RFC 5321 3.5.2 allows refusing EXPN; we never expand lists.
        s.expect("EXPN team", 502, "5.5.1")


def test_unknown_command(mta):
    m = mta()
    with session(m) as s:
        s.expect("FROB", 500, "5.5.1")
        s.expect("NOOP", 250, "2.0.0")


@pytest.mark.parametrize("line", ["EHLO", "HELO", "EHLO "])
def test_syntax_error(mta, line):
    m = mta()
    with session(m, ehlo=False) as s:
        s.expect(line, 501, "5.5.4")


def test_command_line_too_long(mta):
    m = mta()
    with session(m) as s:
        s.expect("NOOP " + "x" * 5000, 500, "5.5.2")
        # The rest of that line was discarded, not parsed as commands.
        s.expect("NOOP", 250, "2.0.0")
        s.expect("MAIL FROM:<x@example.org>", 250, "2.1.0")


def test_mail_before_helo(mta):
    m = mta()
    with session(m, ehlo=False) as s:
        s.expect("MAIL FROM:<x@example.org>", 503, "5.5.1")


def test_bad_sequences(mta):
    m = mta()
    with session(m) as s:
        s.expect("RCPT TO:<demo@example.test>", 503, "5.5.1")
        s.expect("DATA", 503, "5.5.1")
        s.mail("x@example.org")
        s.expect("MAIL FROM:<y@example.org>", 503, "5.5.1")
        s.expect("DATA", 503, "5.5.1")      # no RCPT attempted yet


def test_data_when_every_rcpt_refused(mta):
    m = mta()
    with session(m) as s:
        s.mail("x@example.org")
        s.rcpt("nosuchuser@example.test", 550, "5.1.1")
        s.expect("DATA", 554, "5.5.1")
        # Still in sync and the transaction can go on.
        s.rcpt("demo@example.test")
        s.expect("DATA", 354)


@pytest.mark.parametrize("addr", ["not an address", "a@b@c", "x@",
                                  "x@-bad-.example", "@example.org",
                                  "x@[300.1.1.1]"])
def test_bad_sender_syntax(mta, addr):
    m = mta()
    with session(m) as s:
        s.expect("MAIL FROM:<%s>" % addr, 501, "5.1.7")


def test_sender_without_brackets(mta):
    m = mta()
    with session(m) as s:
        s.expect("MAIL FROM:x@example.org", 501, "5.1.7")


@pytest.mark.parametrize("addr", ["demo", "@", "demo@", "a b@example.test",
                                  "demo@@example.test", "demo@exa mple.test"])
def test_bad_recipient_syntax(mta, addr):
    m = mta()
    with session(m) as s:
        s.mail("x@example.org")
        s.expect("RCPT TO:<%s>" % addr, 501, "5.1.3")


def test_unknown_parameters(mta):
    m = mta()
    with session(m) as s:
        s.expect("MAIL FROM:<x@example.org> FOO=bar", 555, "5.5.4")
        s.mail("x@example.org")
        s.expect("RCPT TO:<demo@example.test> FOO=bar", 555, "5.5.4")
        s.rcpt("demo@example.test")


def test_known_parameters_accepted(mta):
    m = mta()
    with session(m) as s:
        s.mail("x@example.org", "SIZE=1000 BODY=8BITMIME SMTPUTF8")
        s.rcpt("demo@example.test")


def test_non_ascii_without_smtputf8(mta):
    # RFC 6531 3.5: 553 5.6.7 without the SMTPUTF8 parameter.
    m = mta()
    with session(m) as s:
        s.expect("MAIL FROM:<jos\u00e9@example.org>", 553, "5.6.7")
        s.mail("x@example.org")
        s.expect("RCPT TO:<jos\u00e9@example.test>", 553, "5.6.7")


def test_mail_size_over_limit(mta):
    # RFC 1870 6.1: a declared size over our limit is refused at MAIL.
    m = mta()
    with session(m) as s:
        s.expect("MAIL FROM:<x@example.org> SIZE=100001", 552, "5.3.4")
        s.mail("x@example.org", "SIZE=100000")


def test_unknown_local_user(mta):
    m = mta()
    with session(m) as s:
        s.mail("x@example.org")
        s.rcpt("nosuchuser@example.test", 550, "5.1.1")


def test_relay_denied(mta):
    m = mta()
    with session(m) as s:
        s.mail("x@example.org")
        r = s.expect("RCPT TO:<someone@remote.example>", 554, "5.7.1")
        assert "Relay access denied" in r.text
        # A local recipient in the same transaction is still fine.
        s.rcpt("demo@example.test")


def test_relay_allowed_from_relay_networks(mta):
    m = mta(relay_networks=["127.0.0.0/8"])
    with session(m) as s:
        s.mail("x@example.org")
        s.rcpt("someone@remote.example")
        s.expect("RSET", 250, "2.0.0")


@pytest.mark.parametrize("rcpt", ["postmaster", "Postmaster", "POSTMASTER",
                                  "postmaster@example.test",
                                  "abuse@example.test",
                                  "security@example.test"])
def test_role_addresses_accepted(mta, rcpt):
    # BCP / RFC 5321 4.5.1 / RFC 2142: always accepted, no user needed.
    m = mta()
    with session(m) as s:
        s.mail("x@example.org")
        s.rcpt(rcpt)


def test_null_sender_accepted(mta):
    m = mta()
    with session(m) as s:
        s.mail("")
        s.rcpt("demo@example.test")
        s.expect("DATA", 354)
        s.send(message(sender="mailer-daemon@example.org"))
        queue_id(s.reply())
    m.wait_for_delivery("demo")


def test_source_route_accepted_as_plain_address(mta):
    # RFC 5321 4.1.2 / C: accept the A-d-l, ignore it, never route by it.
    m = mta(relay_networks=["127.0.0.0/8"])
    with session(m) as s:
        s.mail("@relay.example.org:x@example.org")
        s.rcpt("@a.example,@b.example:demo@example.test")
        s.expect("DATA", 354)
        s.send(message())
        queue_id(s.reply())
    msgs = m.wait_for_delivery("demo")
    assert b"Delivered-To: demo@example.test\n" in msgs[0]
    # The route was dropped: nothing goes to a.example/b.example.
    assert not m.dns.zone.queried("a.example")
    assert not m.dns.zone.queried("b.example")


def test_source_route_to_foreign_domain_not_relayed(mta):
    m = mta()
    with session(m) as s:
        s.mail("x@example.org")
        r = s.expect("RCPT TO:<@mx.example.test:someone@remote.example>",
                     554, "5.7.1")
        assert "Relay access denied" in r.text


@pytest.mark.parametrize("relay", [[], ["127.0.0.0/8"]])
@pytest.mark.parametrize("rcpt", ["demo%remote.example@example.test",
                                  "remote.example!demo@example.test"])
def test_percent_and_bang_never_relayed(mta, relay, rcpt):
    # RFC 5321 3.6.1 / BCP: the %-hack and UUCP bang paths are local parts
    # of an unknown user, never a route - even for a relay client.
    m = mta(relay_networks=relay)
    with session(m) as s:
        s.mail("x@example.org")
        s.rcpt(rcpt, 550, "5.1.1")
    assert not m.dns.zone.queried("remote.example")


@pytest.mark.parametrize("rcpt", ['"john smith"@example.test',
                                  '"a\\"b"@example.test',
                                  '"x@y"@example.test'])
def test_quoted_local_part_parsed(mta, rcpt):
    # RFC 5321 4.1.2 Quoted-string: valid syntax, here an unknown user.
    m = mta()
    with session(m) as s:
        s.mail("x@example.org")
        s.rcpt(rcpt, 550, "5.1.1")


def test_quoted_local_part_sender(mta):
    m = mta()
    with session(m) as s:
        s.mail('"john smith"@example.org')
        s.rcpt("demo@example.test")
        s.expect("DATA", 354)
        s.send(message())
        queue_id(s.reply())
    msg = m.wait_for_delivery("demo")[0]
    assert msg.startswith(b'Return-Path: <"john smith"@example.org>\n')


def test_pipelining(mta):
    # RFC 2920 3.1: MAIL, RCPT, RCPT, DATA in one write; replies in order.
    m = mta()
    with session(m) as s:
        s.send(b"MAIL FROM:<x@example.org>\r\n"
               b"RCPT TO:<demo@example.test>\r\n"
               b"RCPT TO:<nosuchuser@example.test>\r\n"
               b"RCPT TO:<alice@example.test>\r\n"
               b"DATA\r\n")
        check(s.reply(), 250, "2.1.0")
        check(s.reply(), 250, "2.1.5")
        check(s.reply(), 550, "5.1.1")
        check(s.reply(), 250, "2.1.5")
        check(s.reply(), 354)
        s.send(message() + b"QUIT\r\n")
        queue_id(s.reply())
        check(s.reply(), 221, "2.0.0")
        assert s.closed()
    m.wait_for_delivery("demo")
    m.wait_for_delivery("alice")


def test_pipelined_whole_sessions(mta):
    # Everything including EHLO and QUIT in a single write.
    m = mta()
    with Smtp(m.port, greet=False) as s:
        s.send(b"EHLO client.example.org\r\nMAIL FROM:<x@example.org>\r\n"
               b"RCPT TO:<demo@example.test>\r\nNOOP\r\nRSET\r\nQUIT\r\n")
        check(s.reply(), 220)
        check(s.reply(), 250)
        check(s.reply(), 250, "2.1.0")
        check(s.reply(), 250, "2.1.5")
        check(s.reply(), 250, "2.0.0")
        check(s.reply(), 250, "2.0.0")
        check(s.reply(), 221, "2.0.0")
        assert s.closed()


def test_ipv6_listener(mta):
    m = mta(ipv6=True)
    with session(m, host="::1", port=m.port6) as s:
        assert s.greeting.lines == [GREETING]
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.expect("DATA", 354)
        s.send(message())
        qid = queue_id(s.reply())
    msg = m.wait_for_delivery("demo")[0]
    assert b"[IPv6:::1]" in msg or b"[::1]" in msg, msg[:400]
    assert qid.encode() in msg


def test_ehlo_resets_transaction(mta):
    # RFC 5321 4.1.4: EHLO mid-transaction clears it, as RSET does.
    m = mta()
    with session(m) as s:
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.ehlo()
        s.expect("RCPT TO:<demo@example.test>", 503, "5.5.1")
        s.expect("DATA", 503, "5.5.1")
        s.mail("y@example.org")     # not "nested MAIL"


def test_rset_mid_transaction(mta):
    m = mta()
    with session(m) as s:
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.expect("RSET", 250, "2.0.0")
        s.expect("DATA", 503, "5.5.1")
        s.mail("y@example.org")
        s.rcpt("alice@example.test")
        s.expect("DATA", 354)
        s.send(message(sender="y@example.org", to="alice@example.test"))
        queue_id(s.reply())
    msg = m.wait_for_delivery("alice")[0]
    assert msg.startswith(b"Return-Path: <y@example.org>\n")
    assert m.messages("demo") == []


def test_two_transactions_in_one_session(mta):
    m = mta()
    with session(m) as s:
        ids = []
        for user in ("demo", "alice"):
            s.mail("x@example.org")
            s.rcpt(user + "@example.test")
            s.expect("DATA", 354)
            s.send(message(to=user + "@example.test"))
            ids.append(queue_id(s.reply()))
        assert ids[0] != ids[1]
    m.wait_for_delivery("demo")
    m.wait_for_delivery("alice")


def test_sigterm_exits_zero(mta):
    m = mta()
    assert m.stop() == 0
