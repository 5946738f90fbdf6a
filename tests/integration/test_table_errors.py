"""A broken table is logged, not flooded (review of issue 8, route
finding 5).

A users file with many bad lines makes its domain answer 451 (never
550), as before; each daemon logs the first five bad lines with their
numbers (event=table-error) and then one line with the count
(event=table-invalid), not one line per bad line.  `check-config`
still names every one.
"""

from mtaproc import age_files, wait_until
from test_tables import rcpt_code_now, users_path

BAD = 40


def by_proc(events, proc):
    return [e for e in events if " %s[" % proc in e["_line"]]


def test_many_bad_lines_logged_first_few_and_a_count(mta):
    m = mta()
    with open(users_path(m), "w") as f:
        f.write("demo:\n" + "".join("bad line %d\n" % i for i in range(BAD)))
    age_files(users_path(m))
    wait_until(lambda: rcpt_code_now(m, "demo@example.test") == 451, 5,
               what="the broken table")
    for proc in ("smtpd", "qmgr"):
        inv = wait_until(lambda: by_proc(m.events("table-invalid",
                                                  file=users_path(m)), proc),
                         5, what="%s's table-invalid" % proc)
        assert len(inv) == 1, inv
        assert inv[0]["errors"] == str(BAD), inv[0]["_line"]
        assert inv[0]["logged"] == "5", inv[0]["_line"]
        errs = by_proc(m.events("table-error", file=users_path(m)), proc)
        assert [e["line"] for e in errs] == ["2", "3", "4", "5", "6"], errs
    r = m.cli("check-config")
    assert r.returncode == 1
    assert len([l for l in r.stderr.splitlines()
                if l.startswith(users_path(m) + ":")]) == BAD, r.stderr
    # Fixed: read again, users answer again.
    with open(users_path(m), "w") as f:
        f.write("demo:\n")
    age_files(users_path(m))
    wait_until(lambda: rcpt_code_now(m, "demo@example.test") == 250, 5,
               what="the fixed table")
