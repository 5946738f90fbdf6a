"""The system CA store of outbound TLS is read once, when the qmgr starts
(review of issue 8, item 7).

Looking certificates up by hash in /etc/ssl/certs made OpenSSL open
files during each handshake, on the qmgr's event loop.  The qmgr now
loads the system bundle whole when it makes its client context
(OpenSSL's default file, which SSL_CERT_FILE names when set), so a
handshake touches no file: here the bundle is a test CA's certificate,
a relay with a login verifies against it with no tls_ca, and after the
bundle is gone from the disk the next message still goes out verified.
"""

import os
import shutil

from conftest import submit
from test_relay_verify import (LOGIN, PASSWORD, SENDER, test_ca,  # noqa: F401
                               transport, transports, write_secret)


def test_system_bundle_read_once_at_start(outbound_mta, remote_mx, dns,
                                          workdir, mx_port, test_ca,
                                          monkeypatch):
    bundle = os.path.join(workdir, "system-cas.pem")
    shutil.copy(test_ca.pem, bundle)
    os.chmod(bundle, 0o644)
    monkeypatch.setenv("SSL_CERT_FILE", bundle)
    sink = remote_mx("127.0.0.30", tls_cert=test_ca.certs["relay"],
                     auth={LOGIN: PASSWORD}, auth_required=True)
    # Each message on a connection, and so a handshake, of its own.
    dns.zone.add("smtp.isp.example", "A", "127.0.0.30")
    m = outbound_mta(delivery=dict(connection_cache_time=0),
                     conf=transports(transport(
                         "*", "relay:[smtp.isp.example]:%d" % mx_port,
                         auth_user=LOGIN,
                         auth_password_file=write_secret(workdir))))

    qid, msg = submit(m, SENDER, ["a@far.example"])
    t = sink.wait_delivered(1, log=m.log)[0]
    assert t.data.endswith(msg)
    assert t.conn.tls and t.conn.auth == [("PLAIN", LOGIN, PASSWORD, True)]
    m.wait_event("delivered", id=qid)
    assert len(m.events("tls", verified="yes")) == 1, m.log()

    # What the handshakes trust is in memory: a bundle gone from the disk
    # changes nothing until the qmgr starts again.
    os.unlink(bundle)
    qid2, msg2 = submit(m, SENDER, ["b@far.example"])
    t2 = sink.wait_delivered(2, log=m.log)[1]
    assert t2.data.endswith(msg2)
    assert t2.conn is not t.conn and t2.conn.tls
    m.wait_event("delivered", id=qid2)
    assert len(m.events("tls", verified="yes")) == 2, m.log()
    assert m.events("tls", verified="no") == [], m.log()
