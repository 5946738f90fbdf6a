"""Commands that never deliver work without root (issue 8).

A relay's auth_password_file and a transport's tls_ca are read by the
master, as root, and may be readable by root only (the password should
be).  `decorum sendmail`, `mailq`, `queue`, `route` and `user` never
deliver, so they do not open those files: the daemon's own account (which
may write the spool) can queue local mail with `sendmail` as cron does,
and anyone who may read the config can ask `decorum route`.
check-config, which judges the whole config, still opens them.
"""

import os
import subprocess

from mtaproc import make_cert

SECRET = b"relay pass 42\n"


def root_only(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, data)
    os.close(fd)


def as_nobody(m, *args, data=None):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    return subprocess.run([m.cli_for_anyone(), "-c", m.conf] + list(args),
                          input=data, capture_output=True, env=env,
                          timeout=20, user="nobody", group="nogroup",
                          text=data is None)


def relay_mta(mta, workdir):
    cert = make_cert(workdir, "relay", "smtp.isp.example")
    secret = os.path.join(workdir, "relay.secret")
    root_only(secret, SECRET)
    os.chmod(cert[0], 0o600)
    conf = ('transports = ( { match = "*"; via = "relay:[smtp.isp.example]";'
            ' auth_user = "me@isp.example"; auth_password_file = "%s";'
            ' tls_ca = "%s"; } );\n' % (secret, cert[0]))
    m = mta(start=False, user="nobody", extra_conf=conf)
    for d in (m.spool, m.state, m.mailboxes):
        os.chown(d, 65534, 65534)
    return m


def test_sendmail_as_the_daemon_user(mta, workdir):
    m = relay_mta(mta, workdir)
    m.start()
    r = as_nobody(m, "sendmail", "demo@example.test",
                  data=b"Subject: from cron\n\nnightly\n")
    assert r.returncode == 0, (r.stdout, r.stderr)
    msg = m.wait_for_delivery("demo")[0]
    assert b"nightly" in msg
    r = as_nobody(m, "mailq")
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_route_and_queue_as_nobody(mta, workdir):
    m = relay_mta(mta, workdir)
    r = as_nobody(m, "route", "someone@far.example")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "relay:[smtp.isp.example]" in r.stdout, r.stdout
    assert SECRET.decode().strip() not in r.stdout + r.stderr
    r = as_nobody(m, "queue", "list")
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_check_config_still_reads_them(mta, workdir):
    """check-config judges the files the daemon will read: as nobody it
    cannot, and says which; as root it can."""
    m = relay_mta(mta, workdir)
    r = as_nobody(m, "check-config")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "relay.secret" in r.stderr and "Permission denied" in r.stderr, \
        r.stderr
    r = m.cli("check-config")
    assert r.returncode == 0, (r.stdout, r.stderr)
