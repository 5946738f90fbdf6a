"""A key set the daemon starts with is one it can reload (review of issue
8, item 8).

The smtpd gets its certificates by inheritance at start, and over the
control channel on SIGHUP, in one frame of at most 8 MiB; start-up
alone accepted up to 64 pairs of 1 MiB files, so a set could start the
daemon and never reload.  tls_config_load now sums the encoding
(8 octets, then per pair 12 + path + certificate + key) and refuses a
set over 8 MiB on the cert line of the pair that crosses it.  At exactly
8 MiB check-config passes and a SIGHUP reloads; one octet more and
check-config and decorumd refuse it.

The files are real certificates with text before the PEM block (which
PEM readers skip), so they can be made to any size.
"""

import os
import signal

from test_check_config import check_error, daemon_refuses, write_tls

WIRE_MAX = 8 * 1024 * 1024
SNI_PAIRS = 9
SNI_CERT_SIZE = 900000


def padded(src, dst, size):
    """A copy of the PEM file src of exactly size octets: filler lines
    first, which no PEM reader takes for a block."""
    with open(src, "rb") as f:
        pem = f.read()
    fill = size - len(pem)
    assert fill >= 2, (src, size)
    lines = b"".join(b"x" * 99 + b"\n" for _ in range(fill // 100))
    lines += b"y" * (fill - len(lines) - 1) + b"\n"
    with open(dst, "wb") as f:
        f.write(lines + pem)
    assert os.path.getsize(dst) == size
    return dst


def key_set(certs, size):
    """Nine SNI pairs sharing one padded certificate, and the default
    pair's certificate padded so that the encoding is size octets."""
    cert, key = certs["mx"]
    d = os.path.dirname(cert)
    big = padded(cert, os.path.join(d, "sni-big.pem"), SNI_CERT_SIZE)
    key_len = os.path.getsize(key)
    pair = lambda path, n: 12 + len(path.encode()) + n + key_len
    default = os.path.join(d, "default-big.pem")
    rest = size - 8 - SNI_PAIRS * pair(big, SNI_CERT_SIZE)
    default_len = rest - pair(default, 0)
    assert 0 < default_len <= 1024 * 1024, default_len
    padded(cert, default, default_len)
    return default, key, [(big, key)] * SNI_PAIRS


def test_key_set_at_the_limit_reloads(tls_mta, certs):
    default, key, sni = key_set(certs, WIRE_MAX)
    m = tls_mta(start=False)
    write_tls(m, default, key, sni=sni)
    r = m.cli("check-config")
    assert r.returncode == 0, r.stderr
    m.start(timeout=30)
    os.kill(m.proc.pid, signal.SIGHUP)
    ev = m.wait_event("tls-reload", timeout=30)[0]
    assert ev["certificates"] == str(1 + SNI_PAIRS), ev["_line"]
    assert not m.events("tls-reload-failed"), m.log()


def test_key_set_one_octet_over_is_refused(tls_mta, certs):
    default, key, sni = key_set(certs, WIRE_MAX + 1)
    m = tls_mta(start=False)
    where = write_tls(m, default, key, sni=sni)
    # The last pair is the one that crosses the limit.
    msg = check_error(m, where["sni%d.cert" % (SNI_PAIRS - 1)],
                      "take %d octets to send to the smtpd, at most %d"
                      % (WIRE_MAX + 1, WIRE_MAX))
    daemon_refuses(m, msg)
