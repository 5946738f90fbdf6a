"""Real clients, not our own socket code: swaks (plain and --pipeline)
and Python's smtplib, each delivering to the Maildir."""

import shutil
import smtplib
import subprocess

import pytest

from mailfile import split

SWAKS = shutil.which("swaks") or "/usr/bin/swaks"


def swaks(m, *extra, to="demo@example.test"):
    cmd = [SWAKS, "--server", "127.0.0.1:%d" % m.port, "--to", to,
           "--from", "x@example.org", "--helo", "client.example.org",
           "--timeout", "10"] + list(extra)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def test_swaks_delivery(mta):
    m = mta()
    r = swaks(m, "--header", "Subject: from swaks")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "250 2.0.0 Ok: queued as" in r.stdout
    lines, _ = split(m.wait_for_delivery("demo")[0])
    assert lines[0] == "Return-Path: <x@example.org>"
    assert "Subject: from swaks" in lines


def test_swaks_pipeline(mta):
    m = mta()
    r = swaks(m, "--pipeline", "--header", "Subject: pipelined",
              to="demo@example.test,alice@example.test")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "queued as" in r.stdout
    for user in ("demo", "alice"):
        lines, _ = split(m.wait_for_delivery(user)[0])
        assert "Subject: pipelined" in lines


def test_swaks_refused_recipient(mta):
    m = mta()
    r = swaks(m, to="nosuchuser@example.test")
    # swaks exits 24 when the server refuses every RCPT.
    assert r.returncode == 24, r.stdout + r.stderr
    assert "550 5.1.1" in r.stdout


def test_swaks_8bitmime_body(mta):
    m = mta()
    r = swaks(m, "--body", "caf\u00e9 ol\u00e1")
    assert r.returncode == 0, r.stdout + r.stderr
    _, body = split(m.wait_for_delivery("demo")[0])
    assert "caf\u00e9 ol\u00e1".encode() in body


def test_smtplib_sendmail(mta):
    m = mta()
    msg = ("From: x@example.org\r\nTo: demo@example.test\r\n"
           "Subject: smtplib\r\n\r\n.leading dot\r\nbody\r\n")
    with smtplib.SMTP("127.0.0.1", m.port, local_hostname="client.example.org",
                      timeout=10) as c:
        code, _ = c.ehlo()
        assert code == 250
        assert c.has_extn("pipelining") and c.has_extn("size")
        refused = c.sendmail("x@example.org",
                             ["demo@example.test", "bob@example.test"], msg)
        assert refused == {}
    for user in ("demo", "bob"):
        _, body = split(m.wait_for_delivery(user)[0])
        assert body == b".leading dot\nbody\n"


def test_smtplib_smtputf8(mta):
    m = mta()
    msg = ("From: jos\u00e9@example.org\r\nTo: demo@example.test\r\n"
           "Subject: utf8\r\n\r\nol\u00e1\r\n").encode("utf-8")
    with smtplib.SMTP("127.0.0.1", m.port, local_hostname="client.example.org",
                      timeout=10) as c:
        c.ehlo()
        assert c.has_extn("smtputf8")
        c.sendmail("jos\u00e9@example.org", ["demo@example.test"], msg,
                   mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    lines, body = split(m.wait_for_delivery("demo")[0])
    assert lines[0] == "Return-Path: <jos\u00e9@example.org>"
    assert body == "ol\u00e1\n".encode("utf-8")


def test_smtplib_refused_recipient_raises(mta):
    m = mta()
    with smtplib.SMTP("127.0.0.1", m.port, local_hostname="client.example.org",
                      timeout=10) as c:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as ei:
            c.sendmail("x@example.org", ["nosuchuser@example.test"],
                       "Subject: x\r\n\r\nx\r\n")
        code, text = ei.value.recipients["nosuchuser@example.test"]
        assert code == 550 and text.startswith(b"5.1.1")
