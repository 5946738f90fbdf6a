"""Server TLS (issue 3): STARTTLS on the mx role (RFC 3207), implicit TLS
(RFC 8314), the protocol policy, SNI, certificate reload on SIGHUP, the
STARTTLS hygiene rules (CVE-2011-0411 injection, state reset, no second
STARTTLS), handshake failures, Received: with the TLS details, and real
clients: smtplib, swaks and openssl s_client."""

import os
import re
import shutil
import signal
import smtplib
import ssl
import subprocess
import time
import warnings

import pytest

from conftest import HELO, client_context, implicit, starttls
from mailfile import first_received, split
from mtaproc import HOSTNAME, cert_der, wait_until
from smtpraw import Smtp, check, message

SWAKS = shutil.which("swaks") or "/usr/bin/swaks"
USING = re.compile(r"\(using (TLSv1\.[23]) with cipher ([A-Za-z0-9_-]+)\)")


def ehlo_keywords(r):
    """The extension keywords of an EHLO reply (first line is the
    greeting), upper-cased, with their parameters."""
    return [l.upper() for l in r.lines[1:]]


def has_ext(r, name):
    return any(k == name or k.startswith(name + " ")
               for k in ehlo_keywords(r))


def peer_cert(port, server_hostname, implicit_tls=False):
    """DER of the certificate the server presents for this SNI name."""
    if implicit_tls:
        s = implicit(port, server_hostname=server_hostname)
    else:
        s = Smtp(port)
        s.ehlo(HELO)
        starttls(s, server_hostname=server_hostname)
    try:
        return s.sock.getpeercert(binary_form=True)
    finally:
        s.close()


# -- STARTTLS dialogue -------------------------------------------------------

def test_starttls_advertised_then_not(tls_mta):
    m = tls_mta()
    with Smtp(m.ports["mx_starttls"]) as s:
        check(s.greeting, 220)
        r = s.ehlo(HELO)
        assert has_ext(r, "STARTTLS"), r
        # RFC 4954 4 / issue: no AUTH over plaintext on mx.
        assert not has_ext(r, "AUTH"), r
        starttls(s)
        assert s.sock.version() in ("TLSv1.2", "TLSv1.3")
        r = s.ehlo(HELO)
        assert not has_ext(r, "STARTTLS"), r
        assert "AUTH PLAIN LOGIN" in ehlo_keywords(r), r
        # RFC 3207 4.2: a second STARTTLS is refused.
        s.expect("STARTTLS", 503, "5.5.1")
        s.expect("QUIT", 221)


def test_quit_after_starttls_gets_221(tls_mta):
    """The 221 must reach the client through TLS before the close
    (RFC 5321 4.1.1.10); swaks and s_client report a lost 221 as an
    unexpected close."""
    m = tls_mta()
    for where in ("mx_starttls", "sub_starttls"):
        with Smtp(m.ports[where]) as s:
            s.ehlo(HELO)
            starttls(s)
            s.ehlo(HELO)
            s.expect("QUIT", 221, "2.0.0")
            assert s.closed(), where
        with implicit(m.ports[where.replace("starttls", "implicit")]) as s:
            s.ehlo(HELO)
            s.expect("QUIT", 221, "2.0.0")
            assert s.closed(), where


def test_starttls_with_argument(tls_mta):
    m = tls_mta()
    with Smtp(m.ports["mx_starttls"]) as s:
        s.ehlo(HELO)
        s.expect("STARTTLS now", 501, "5.5.4")
        # Still plaintext and usable: the refused command changed nothing.
        s.expect("NOOP", 250)
        starttls(s)
        s.ehlo(HELO)


def test_starttls_not_offered(tls_mta):
    m = tls_mta()
    for where in ("none", "mx_implicit", "sub_implicit"):
        if where == "none":
            s = Smtp(m.port)
        else:
            s = implicit(m.ports[where])
        with s:
            r = s.ehlo(HELO)
            assert not has_ext(r, "STARTTLS"), (where, r)
            s.expect("STARTTLS", 502, "5.5.1")
            s.expect("NOOP", 250)


def test_state_reset_after_starttls(tls_mta):
    """RFC 3207 4.2: the client must forget everything learnt before TLS
    and so must the server: a new EHLO is needed before MAIL."""
    m = tls_mta()
    with Smtp(m.ports["mx_starttls"]) as s:
        s.ehlo(HELO)
        starttls(s)
        s.expect("MAIL FROM:<x@example.org>", 503, "5.5.1")
        s.ehlo(HELO)
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.data(message(subject="after reset"))
    m.wait_for_delivery("demo")


def test_starttls_injection_discarded(tls_mta):
    """CVE-2011-0411: a command pipelined behind STARTTLS in the same
    plaintext packet must be thrown away, not run inside the TLS session."""
    m = tls_mta()
    with Smtp(m.ports["mx_starttls"]) as s:
        s.ehlo(HELO)
        s.send(b"STARTTLS\r\nMAIL FROM:<x@y.example>\r\n")
        r = s.reply()
        check(r, 220, "2.0.0", what="STARTTLS")
        # No plaintext reply to the injected MAIL may follow the 220.
        assert s.buf == b"", "plaintext after the 220: %r" % s.buf
        s.sock = client_context().wrap_socket(s.sock,
                                              server_hostname=HOSTNAME)
        r = s.cmd("EHLO " + HELO)
        check(r, 250, what="first command after the handshake")
        assert r.first.startswith(HOSTNAME), \
            "first reply after TLS is not the EHLO reply: %r" % r
        # Had the MAIL run, this would be 503 (nested MAIL).
        s.mail("x@example.org")
        s.expect("RSET", 250)
        s.expect("NOOP", 250)
        assert s.buf == b"", "extra replies: %r" % s.buf


def test_starttls_then_plaintext_garbage_closes(tls_mta):
    """A handshake failure after STARTTLS closes the connection and is
    logged with a reason."""
    m = tls_mta()
    mark = len(m.log())
    with Smtp(m.ports["mx_starttls"]) as s:
        s.ehlo(HELO)
        s.expect("STARTTLS", 220, "2.0.0")
        s.send(b"EHLO " + HELO.encode() + b"\r\n")
        assert s.closed(timeout=5), "still open after a failed handshake"
    m.wait_log(lambda: "event=tls-failed" in m.log()[mark:], timeout=5)
    _check_tls_failed_logged(m, mark)


# -- implicit TLS and the handshake policy ----------------------------------

def _check_tls_failed_logged(m, mark):
    evs = [e for e in m.log_events("tls-failed")
           if m.log().find(e["_line"]) >= mark]
    assert evs, "no event=tls-failed; log:\n%s" % m.log()[mark:]
    for e in evs:
        assert e.get("reason"), "event=tls-failed without reason=: %s" \
            % e["_line"]
        assert e.get("ip") == "127.0.0.1" or "127.0.0.1" in e["_line"], \
            "event=tls-failed without the client address: %s" % e["_line"]


def test_implicit_tls_greets_after_handshake(tls_mta):
    m = tls_mta()
    for name in ("mx_implicit", "sub_implicit"):
        with implicit(m.ports[name]) as s:
            check(s.greeting, 220)
            assert s.greeting.first.startswith(HOSTNAME), s.greeting
            r = s.ehlo(HELO)
            assert "AUTH PLAIN LOGIN" in ehlo_keywords(r), (name, r)
            s.expect("QUIT", 221)


def test_implicit_plaintext_client_is_closed(tls_mta):
    m = tls_mta()
    # The readiness probe of the fixture also fails a handshake; only the
    # lines after this mark count.
    time.sleep(0.2)
    mark = len(m.log())
    with Smtp(m.ports["mx_implicit"], greet=False) as s:
        s.send(b"EHLO x\r\n")
        # Whatever TLS alert comes back, no SMTP reply may, and the
        # connection must end.
        deadline = time.monotonic() + 5
        got = b""
        try:
            while time.monotonic() < deadline:
                s.sock.settimeout(deadline - time.monotonic())
                chunk = s.sock.recv(4096)
                if not chunk:
                    break
                got += chunk
            else:
                pytest.fail("implicit-TLS port kept a plaintext client open")
        except ConnectionResetError:
            pass
        assert not re.match(rb"\d{3}[ -]", got), \
            "SMTP reply in plaintext on the implicit port: %r" % got
    m.wait_log(lambda: "event=tls-failed" in m.log()[mark:], timeout=5)
    _check_tls_failed_logged(m, mark)


def test_protocol_policy(tls_mta):
    """TLS 1.2 and 1.3 only; for 1.2 ECDHE with AES-GCM or
    ChaCha20-Poly1305 (src/tls/tls.h); server cipher preference; no
    compression.  One daemon, one check per block."""
    m = tls_mta()
    port = m.ports["mx_implicit"]

    with implicit(port) as s:
        assert s.sock.version() == "TLSv1.3"

    # TLS 1.1: SECLEVEL=0 so that our own client can offer it at all;
    # the refusal must come from the server.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = client_context(minimum=ssl.TLSVersion.TLSv1,
                             maximum=ssl.TLSVersion.TLSv1_1,
                             ciphers="DEFAULT:@SECLEVEL=0")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        implicit(port, ctx=old).close()
    with Smtp(m.ports["mx_starttls"]) as s:
        s.ehlo(HELO)
        with pytest.raises((ssl.SSLError, ConnectionError)):
            starttls(s, ctx=old)

    with implicit(port, ctx=client_context(
            maximum=ssl.TLSVersion.TLSv1_2)) as s:
        name, version, _ = s.sock.cipher()
        assert version == "TLSv1.2"
        assert name.startswith("ECDHE-"), name
        assert "GCM" in name or "CHACHA20" in name, name
        # No TLS compression (CRIME).
        assert s.sock.compression() is None

    # CBC suites only: no session.
    cbc = client_context(maximum=ssl.TLSVersion.TLSv1_2,
                         ciphers="ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA"
                                 ":AES128-SHA:AES256-SHA")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        implicit(port, ctx=cbc).close()

    # Server preference: the client's order does not change the choice.
    suites = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305",
              "ECDHE-ECDSA-AES256-GCM-SHA384"]
    chosen = set()
    for order in (suites, suites[::-1], suites[1:] + suites[:1]):
        ctx = client_context(maximum=ssl.TLSVersion.TLSv1_2,
                             ciphers=":".join(order))
        with implicit(port, ctx=ctx) as s:
            chosen.add(s.sock.cipher()[0])
    assert len(chosen) == 1, "client order decided the cipher: %r" % chosen


# -- SNI ---------------------------------------------------------------------

def test_sni_selects_certificate(tls_mta, certs):
    m = tls_mta()
    mx, other = cert_der(certs["mx"][0]), cert_der(certs["other"][0])
    assert mx != other
    for implicit_tls, port in ((True, m.ports["mx_implicit"]),
                               (False, m.ports["mx_starttls"]),
                               (True, m.ports["sub_implicit"])):
        assert peer_cert(port, "other.example.test", implicit_tls) == other
        assert peer_cert(port, HOSTNAME, implicit_tls) == mx
        assert peer_cert(port, "unknown.example.net", implicit_tls) == mx
        assert peer_cert(port, None, implicit_tls) == mx


# -- reload on SIGHUP --------------------------------------------------------

def _replace(dst_pair, src_pair):
    # Write to a temp name and rename: the master never sees half a file.
    for src, dst in zip(src_pair, dst_pair):
        tmp = dst + ".new"
        shutil.copyfile(src, tmp)
        os.rename(tmp, dst)


def test_reload_certificate_on_sighup(tls_mta, certs, cert_originals):
    m = tls_mta()
    port = m.ports["mx_implicit"]
    old, new = cert_der(certs["mx"][0]), cert_der(cert_originals["next"][0])
    assert peer_cert(port, HOSTNAME, True) == old

    # A session that is in TLS before the reload (implicit, so that the
    # 221-after-STARTTLS check stays in its own test).
    s = implicit(m.ports["mx_implicit"])
    s.ehlo(HELO)

    _replace(certs["mx"], cert_originals["next"])
    os.kill(m.pid, signal.SIGHUP)
    wait_until(lambda: peer_cert(port, HOSTNAME, True) == new, 10,
               what="the new certificate after SIGHUP; log:\n%s"
               % m.log()[-2000:])
    assert peer_cert(m.ports["mx_starttls"], HOSTNAME) == new
    # SNI certificates are still there after a reload.
    assert peer_cert(port, "other.example.test", True) == \
        cert_der(certs["other"][0])

    # The old session was not dropped and can still send.
    try:
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.data(message(subject="across reload"))
        s.expect("QUIT", 221)
    finally:
        s.close()
    lines, _ = split(m.wait_for_delivery("demo")[0])
    assert "Subject: across reload" in lines

    # A broken certificate: keep the last good one and say why.
    mark = len(m.log())
    _replace(certs["mx"], cert_originals["broken"])
    os.kill(m.pid, signal.SIGHUP)
    m.wait_log(lambda: "event=tls-reload-failed" in m.log()[mark:],
               timeout=10)
    evs = [e for e in m.log_events("tls-reload-failed")
           if m.log().find(e["_line"]) >= mark]
    assert evs and all(e.get("reason") for e in evs), \
        "event=tls-reload-failed without reason=: %r" % evs
    assert peer_cert(port, HOSTNAME, True) == new
    assert peer_cert(m.ports["mx_starttls"], HOSTNAME) == new
    assert m.proc.poll() is None, "daemon died on a bad certificate"


def test_reload_missing_key_keeps_old(tls_mta, certs):
    m = tls_mta()
    port = m.ports["sub_implicit"]
    old = cert_der(certs["mx"][0])
    mark = len(m.log())
    # A key that does not match the certificate is a bad reload too.
    shutil.copyfile(certs["other"][1], certs["mx"][1])
    os.kill(m.pid, signal.SIGHUP)
    m.wait_log(lambda: "event=tls-reload-failed" in m.log()[mark:],
               timeout=10)
    assert peer_cert(port, HOSTNAME, True) == old


def test_bad_certificate_at_start_is_fatal(mta, certs):
    """A key that does not match its certificate (or garbage) is a
    configuration error: the daemon says which file and exits."""
    for cert, key in ((certs["mx"][0], certs["other"][1]), certs["broken"]):
        m = mta(start=False, tls={"cert": cert, "key": key})
        with pytest.raises(AssertionError, match="exited with [1-9]"):
            m.start(timeout=10)
        assert cert in m.log() or key in m.log(), m.log()[-2000:]


# -- Received: ---------------------------------------------------------------

def test_received_says_esmtps_with_cipher(tls_mta):
    m = tls_mta()
    with Smtp(m.ports["mx_starttls"]) as s:
        s.ehlo(HELO)
        starttls(s)
        version, cipher = s.sock.version(), s.sock.cipher()[0]
        s.ehlo(HELO)
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.data(message(subject="starttls"))
    rec = first_received(m.wait_for_delivery("demo")[0])
    assert " with ESMTPS " in rec, rec
    mt = USING.search(rec)
    assert mt, "no (using TLSv1.x with cipher NAME) in %r" % rec
    assert mt.group(1) == version and mt.group(2) == cipher, (rec, version,
                                                               cipher)
    assert "(envelope-from <x@example.org>)" in rec
    assert "[127.0.0.1]" in rec


def test_received_plaintext_stays_esmtp(tls_mta):
    m = tls_mta()
    with Smtp(m.ports["mx_starttls"]) as s:
        s.ehlo(HELO)
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.data(message(subject="plain"))
    rec = first_received(m.wait_for_delivery("demo")[0])
    assert " with ESMTP " in rec and "using TLS" not in rec, rec


def test_received_implicit_tls(tls_mta):
    m = tls_mta()
    with implicit(m.ports["mx_implicit"],
                  ctx=client_context(maximum=ssl.TLSVersion.TLSv1_2)) as s:
        cipher = s.sock.cipher()[0]
        s.ehlo(HELO)
        s.mail("x@example.org")
        s.rcpt("demo@example.test")
        s.data(message(subject="implicit"))
    rec = first_received(m.wait_for_delivery("demo")[0])
    assert " with ESMTPS " in rec, rec
    assert "(using TLSv1.2 with cipher %s)" % cipher in rec, rec


# -- real clients ------------------------------------------------------------

def test_smtplib_starttls_and_ssl(tls_mta):
    m = tls_mta()
    msg = "From: x@example.org\r\nTo: demo@example.test\r\nSubject: %s\r\n\r\nhi\r\n"
    with smtplib.SMTP("127.0.0.1", m.ports["mx_starttls"],
                      local_hostname=HELO, timeout=10) as c:
        c.ehlo()
        assert c.has_extn("starttls") and not c.has_extn("auth")
        code, _ = c.starttls(context=client_context())
        assert code == 220
        c.ehlo()
        assert not c.has_extn("starttls")
        assert c.sendmail("x@example.org", ["demo@example.test"],
                          msg % "smtplib starttls") == {}
    with smtplib.SMTP_SSL("127.0.0.1", m.ports["mx_implicit"],
                          local_hostname=HELO, timeout=10,
                          context=client_context()) as c:
        c.ehlo()
        assert c.has_extn("auth") and not c.has_extn("starttls")
        assert c.sendmail("x@example.org", ["demo@example.test"],
                          msg % "smtplib ssl") == {}
    got = [split(x)[0] for x in m.wait_for_delivery("demo", 2)]
    subjects = sorted(l for ls in got for l in ls if l.startswith("Subject:"))
    assert subjects == ["Subject: smtplib ssl", "Subject: smtplib starttls"]


def test_swaks_starttls_mx(tls_mta):
    m = tls_mta()
    r = subprocess.run(
        [SWAKS, "--server", "127.0.0.1:%d" % m.ports["mx_starttls"],
         "--tls", "--to", "demo@example.test", "--from", "x@example.org",
         "--helo", HELO, "--timeout", "10",
         "--header", "Subject: swaks tls"],
        capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "220 2.0.0 Ready to start TLS" in r.stdout
    assert "queued as" in r.stdout
    rec = first_received(m.wait_for_delivery("demo")[0])
    assert " with ESMTPS " in rec and USING.search(rec), rec


def test_openssl_s_client_starttls(tls_mta):
    m = tls_mta()
    script = ("EHLO %s\nMAIL FROM:<x@example.org>\nRCPT TO:<demo@example.test>\n"
              "DATA\nSubject: s_client\n\nvia openssl\n.\nQUIT\n" % HELO)
    r = subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-name", HELO, "-crlf",
         "-ign_eof", "-servername", HOSTNAME,
         "-connect", "127.0.0.1:%d" % m.ports["mx_starttls"]],
        input=script, capture_output=True, text=True, timeout=30)
    out = r.stdout
    assert "CN = mx.example.test" in out or "CN=mx.example.test" in out, \
        out + r.stderr
    assert re.search(r"Protocol\s*:\s*TLSv1\.3", out), out
    assert "250-AUTH PLAIN LOGIN" in out or "250 AUTH PLAIN LOGIN" in out, out
    # s_client prints only what follows the handshake.
    assert not re.search(r"^250[ -]STARTTLS", out, re.M), \
        "STARTTLS advertised again inside TLS:\n" + out
    assert "queued as" in out and "221" in out, out
    _, body = split(m.wait_for_delivery("demo")[0])
    assert body == b"via openssl\n"
