"""The scan group's keys (issue 11, docs/configuration.md): a valid group
loads and check-config says nothing; every malformed key is an error on
its own line (FILE:LINE), from check-config and from the daemon before
any listener opens; the limits on both sides."""

import pytest

from test_check_config import check_error, daemon_refuses, set_line

GOOD = ('scan = { max_size = 1048576; score_authenticated = false;\n'
        '  milters = (\n'
        '    { name = "rspamd"; address = "inet:127.0.0.1:11332"; kind = "spam";\n'
        '      default_action = "accept"; connect_timeout = 1;\n'
        '      command_timeout = 3600; eom_timeout = 60; reuse = true; },\n'
        '    { name = "clamav"; address = "unix:/run/clamav/milter.sock";\n'
        '      kind = "malware"; },\n'
        '    { name = "dmarc"; address = "inet:[::1]:8893"; kind = "other"; }\n'
        '  );\n'
        '  rspamd = { address = "inet:127.0.0.1:11333"; timeout = 30; };\n'
        '  clamd = { address = "unix:/run/clamav/clamd.ctl";\n'
        '            default_action = "tempfail"; };\n'
        '};\n')


def test_good_group_loads(mta):
    m = mta(start=False, extra_conf=GOOD)
    r = m.cli("check-config")
    assert r.returncode == 0, r.stderr
    # Only the folders' modes (the daemon makes them), nothing of scan.
    assert "scan" not in r.stderr and "error" not in r.stderr, r.stderr
    m.start()


def one_milter(m, text):
    return set_line(m, "scan = ", 'scan = { milters = ( { %s } ); };' % text)


@pytest.mark.parametrize("text,needle", [
    ('address = "inet:127.0.0.1:1";', "each milter needs a name"),
    ('name = "a";', "address: required"),
    ('name = "a"; address = "127.0.0.1:11332";', "expected inet:IP:PORT or unix:/PATH"),
    ('name = "a"; address = "inet:localhost:11332";', "expected inet:IP:PORT"),
    ('name = "a"; address = "inet:127.0.0.1:0";', "expected inet:IP:PORT"),
    ('name = "a"; address = "inet:127.0.0.1:65536";', "expected inet:IP:PORT"),
    ('name = "a"; address = "unix:relative/path";', "expected unix:/PATH"),
    ('name = "a"; address = "unix:/' + "x" * 108 + '";', "absolute path under"),
    ('name = "a"; address = "inet:127.0.0.1:1"; kind = "virus";',
     'kind: must be "spam", "malware" or "other"'),
    ('name = "a"; address = "inet:127.0.0.1:1"; default_action = "reject";',
     'default_action: must be "tempfail" or "accept"'),
    ('name = "a"; address = "inet:127.0.0.1:1"; eom_timeout = 0;', "eom_timeout"),
    ('name = "a"; address = "inet:127.0.0.1:1"; command_timeout = 3601;',
     "command_timeout"),
    ('name = "a b"; address = "inet:127.0.0.1:1";', "name"),
    ('name = "a"; address = "inet:127.0.0.1:1"; macros = "i";', "macros"),
    ('name = "a"; address = "inet:127.0.0.1:1"; reuse = "yes";', "reuse"),
    ('name = "a"; address = "inet:127.0.0.1:1"; reuse = 1;', "reuse"),
])
def test_bad_milter(mta, text, needle):
    m = mta(start=False)
    line = one_milter(m, text)
    check_error(m, line, needle)


def test_timeouts_both_sides(mta):
    m = mta(start=False)
    one_milter(m, 'name = "a"; address = "inet:127.0.0.1:1"; '
               'connect_timeout = 1; command_timeout = 3600; eom_timeout = 3600;')
    assert m.cli("check-config").returncode == 0


def test_duplicate_name_and_too_many(mta):
    m = mta(start=False)
    line = set_line(m, "scan = ", 'scan = { milters = ( '
                    '{ name = "a"; address = "inet:127.0.0.1:1"; }, '
                    '{ name = "a"; address = "inet:127.0.0.1:2"; } ); };')
    check_error(m, line, '"a" names two milters')
    eight = ", ".join('{ name = "m%d"; address = "inet:127.0.0.1:%d"; }'
                      % (i, i + 1) for i in range(8))
    set_line(m, "scan = ", "scan = { milters = ( %s ); };" % eight)
    assert m.cli("check-config").returncode == 0
    nine = eight + ', { name = "m8"; address = "inet:127.0.0.1:9"; }'
    line = set_line(m, "scan = ", "scan = { milters = ( %s ); };" % nine)
    check_error(m, line, "at most 8 milters")


@pytest.mark.parametrize("text,needle", [
    ('rspamd = { address = "unix:/run/rspamd.sock"; };', "over HTTP on TCP"),
    ('rspamd = { timeout = 5; };', "address: required"),
    ('clamd = { address = "inet:127.0.0.1:3310"; timeout = 0; };', "timeout"),
    ('clamd = { address = "tcp:127.0.0.1:3310"; };', "expected inet:IP:PORT"),
    ('max_size = -1;', "max_size"),
    ('max_size = 1073741825;', "max_size"),
    ('score_authenticated = 1;', "score_authenticated"),
    ('spamd = { address = "inet:127.0.0.1:783"; };', "spamd"),
])
def test_bad_scan_keys(mta, text, needle):
    m = mta(start=False)
    line = set_line(m, "scan = ", "scan = { %s };" % text)
    check_error(m, line, needle)


def test_daemon_refuses_bad_group(mta):
    m = mta(start=False)
    line = one_milter(m, 'name = "a"; address = "inet:nowhere:1";')
    msg = check_error(m, line, "expected inet:IP:PORT")
    daemon_refuses(m, msg)
