"""Domain tables that change under a running daemon (issue 8, items 7 and
15) and international domain folders (item 18).

Tables edited in place never refuse real users: a users file rewritten
slowly in place (O_TRUNC, then a part at a time, as an editor or a script
does) while a client keeps asking for a user in its second half gets 250
or 451, never 550, and the new version is used once the file has been
still; a new domain folder filled slowly answers 451, never 550; a users
file replaced by rename again and again never makes a constant user
unknown, and the last version wins.  The loop keeps answering while a
large users file is re-read.

A domain folder named bücher.example (or xn--bcher-kva.example) takes
RCPT for anna@xn--bcher-kva.example and, with SMTPUTF8,
anna@BÜCHER.example, and both messages land in one Maildir, the A-label
one; two folders for one domain are a check-config error and the daemon
answers 451 for it; `decorum user add` finds the folder in either
spelling.
"""

import os
import threading
import time

from mtaproc import age_files, wait_until
from smtpraw import Smtp, message, queue_id

CLIENT = "x@example.org"


def users_path(m, domain="example.test"):
    return os.path.join(m.domain_dir(domain), "users")


def rcpt_code(s, rcpt, params=""):
    """One RCPT in a fresh transaction on an open session."""
    s.expect("RSET", 250)
    s.mail(CLIENT, params)
    return s.cmd("RCPT TO:<%s>" % rcpt).code


class Prober(threading.Thread):
    """Asks for rcpt over and over on one session until stopped; keeps
    every reply code."""

    def __init__(self, m, rcpt):
        super().__init__(daemon=True)
        self.m, self.rcpt = m, rcpt
        self.codes = []
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            with Smtp(self.m.port) as s:
                s.ehlo()
                while not self.stop.is_set():
                    self.codes.append(rcpt_code(s, self.rcpt))
                    time.sleep(0.02)
        except Exception as e:          # reported by finish()
            self.error = e

    def finish(self):
        self.stop.set()
        self.join(10)
        assert self.error is None, self.error
        assert self.codes, "no RCPT answered"
        return self.codes


def filler(n, prefix="user"):
    return "".join("%s%06d:\n" % (prefix, i) for i in range(n))


def test_users_rewritten_slowly_in_place(mta):
    """zed is in the second half: while the first half alone is on disk,
    RCPT zed must not be refused (the old table answers)."""
    m = mta(max_errors=1000)
    first = "ann:\n" + filler(3000, "a")
    second = filler(3000, "b") + "zed:\nnewbie:\n"
    with open(users_path(m), "w") as f:
        f.write("ann:\nzed:\n" + filler(3000, "a"))
    age_files(users_path(m))
    # Wait until the daemon has read the file above (it is dated back).
    wait_until(lambda: rcpt_code_now(m, "a000001@example.test") == 250, 5,
               what="the first version")
    probe = Prober(m, "zed@example.test")
    probe.start()
    wait_until(lambda: probe.codes, 10, what="a first RCPT")
    fd = os.open(users_path(m), os.O_WRONLY | os.O_TRUNC)
    try:
        # Pauses shorter than the one-second stillness rule, and long
        # enough in all for the daemon's refresh to look more than once.
        for part in (first[:len(first) // 2], first[len(first) // 2:],
                     second[:len(second) // 2], second[len(second) // 2:]):
            os.write(fd, part.encode())
            time.sleep(0.6)
    finally:
        os.close(fd)
    wait_until(lambda: rcpt_code_now(m, "newbie@example.test") == 250, 5,
               what="newbie after the write")
    codes = probe.finish()
    assert set(codes) <= {250, 451}, codes
    assert 550 not in codes
    assert rcpt_code_now(m, "zed@example.test") == 250
    assert rcpt_code_now(m, "b002999@example.test") == 250
    assert m.events("table-load", entries="6003")


def rcpt_code_now(m, rcpt, params=""):
    with Smtp(m.port) as s:
        s.ehlo()
        return rcpt_code(s, rcpt, params)


def test_new_domain_filled_slowly_says_451_never_550(mta):
    m = mta(max_errors=1000)
    d = m.domain_dir("new.test")
    os.makedirs(d)
    probe = Prober(m, "zoe@new.test")
    probe.start()
    with open(os.path.join(d, "users"), "w") as f:
        f.write(filler(2000))
        f.flush()
        time.sleep(0.7)
        f.write("zoe:\n")
        f.flush()
        time.sleep(0.7)
    wait_until(lambda: rcpt_code_now(m, "zoe@new.test") == 250, 5,
               what="zoe once the file is still")
    codes = probe.finish()
    # 554: not local yet (relaying refused) until the folder is listed.
    assert 550 not in codes, codes
    assert set(codes) <= {554, 451, 250}, codes
    assert 451 in codes, codes


def test_users_replaced_by_rename_again_and_again(mta):
    m = mta(max_errors=1000)
    # Read once before the churn starts: a table that was never still
    # since start-up would (rightly) answer 451.
    assert rcpt_code_now(m, "alice@example.test") == 250
    probe = Prober(m, "alice@example.test")
    probe.start()
    tmp = users_path(m) + ".new"
    for i in range(6):
        with open(tmp, "w") as f:
            f.write("alice:\nbob:\nadmin:\ndemo:\nv%d:\n" % i
                    + filler(20000))
        os.rename(tmp, users_path(m))
        time.sleep(0.4 if i < 3 else 1.3)
    wait_until(lambda: rcpt_code_now(m, "v5@example.test") == 250, 5,
               what="the last version")
    codes = probe.finish()
    assert set(codes) == {250}, codes
    assert rcpt_code_now(m, "v4@example.test") == 550


def test_loop_answers_while_a_big_table_is_read(mta):
    """RCPT and NOOP round trips on one session while a users file of
    300,000 lines is replaced three times: the smtpd re-reads it in a
    worker thread (and frees the old one there), so no round trip waits
    for a parse; before, the RCPT that found the change did."""
    # A probe, not a client: no error or junk limit cuts it short.
    m = mta(max_errors=1000, extra_conf="junk_command_limit = 100000;\n")
    big = "alice:\nbob:\nadmin:\ndemo:\n" + filler(300000)
    lat = []
    with Smtp(m.port) as s:
        s.ehlo()
        for i in range(3):
            tmp = users_path(m) + ".new"
            with open(tmp, "w") as f:
                f.write(big + "round%d:\n" % i)
            age_files(tmp)
            os.rename(tmp, users_path(m))
            deadline = time.monotonic() + 10
            while True:
                t = time.monotonic()
                code = rcpt_code(s, "round%d@example.test" % i)
                s.expect("NOOP", 250)
                lat.append(time.monotonic() - t)
                if code == 250:
                    break
                assert code == 550, code
                assert time.monotonic() < deadline, "round %d not loaded" % i
                time.sleep(0.02)
    # The smtpd read every version (in a worker thread).
    assert len([e for e in m.events("table-load", entries="300005")
                if " smtpd[" in e["_line"]]) == 3
    assert len(lat) > 3
    assert max(lat) < 0.25, sorted(lat)[-5:]
    print("RCPT+NOOP round trips: %d, max %.3f s" % (len(lat), max(lat)))


# -- international domain folders (item 18) ----------------------------------

def test_idn_folder_both_spellings_one_maildir(mta):
    m = mta(start=False)
    m.write_domain("bücher.example", {"anna": None}, [])
    m.write_domain("xn--caf-dma.example", {"bob": None}, [])
    m.start()
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail(CLIENT)
        s.rcpt("anna@xn--bcher-kva.example")
        queue_id(s.data(message(to="anna@xn--bcher-kva.example",
                                subject="alabel")))
        # The U-label, in capitals, with SMTPUTF8 (RFC 6531 3.4).
        s.mail(CLIENT, "SMTPUTF8")
        s.rcpt("anna@BÜCHER.example")
        s.rcpt("bob@café.example")
        s.rcpt("nobody@bücher.example", 550, "5.1.1")
        queue_id(s.data(message(to="anna@xn--bcher-kva.example",
                                subject="ulabel")))
        # Without SMTPUTF8 a U-label is refused before routing.
        s.mail(CLIENT)
        r = s.cmd("RCPT TO:<anna@bücher.example>")
        assert r.code in (501, 553), r
        s.expect("RSET", 250)
    msgs = m.wait_for_delivery("anna", n=2, domain="xn--bcher-kva.example")
    assert len(msgs) == 2
    assert all(b"Delivered-To: anna@xn--bcher-kva.example\n" in x
               for x in msgs), msgs
    m.wait_for_delivery("bob", domain="xn--caf-dma.example")
    # No Maildir under the U-label spelling.
    assert not os.path.exists(os.path.join(m.mailboxes, "bücher.example"))
    r = m.cli("route", "Anna@BÜCHER.example")
    assert r.returncode == 0, r.stderr
    assert "anna@xn--bcher-kva.example" in r.stdout, r.stdout


def test_idn_duplicate_folders(mta):
    m = mta(start=False)
    m.write_domain("bücher.example", {"anna": None}, [])
    m.write_domain("xn--bcher-kva.example", {"anna": None}, [])
    r = m.cli("check-config")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "folders bücher.example and xn--bcher-kva.example are the " \
           "same domain (xn--bcher-kva.example): keep one" in r.stderr, \
        r.stderr
    m.start()
    with Smtp(m.port) as s:
        s.ehlo()
        s.mail(CLIENT, "SMTPUTF8")
        s.rcpt("anna@bücher.example", 451, "4.3.0")
        s.rcpt("demo@example.test")
    assert m.events("domain-clash", domain="xn--bcher-kva.example")


def test_idn_folder_name_not_lower_case(mta):
    m = mta(start=False)
    m.write_domain("Bücher.example", {"anna": None}, [])
    r = m.cli("check-config")
    assert r.returncode == 1
    assert "folder name is not a lower-case domain name: call it " \
           "bücher.example or xn--bcher-kva.example" in r.stderr, r.stderr
    m.start()
    m.wait_event("domain-folder-ignored", folder="Bücher.example")


def test_user_add_finds_the_folder_in_either_spelling(mta):
    m = mta(start=False)
    m.write_domain("xn--bcher-kva.example", {"anna": None}, [])
    r = m.cli("user", "add", "--no-login", "otto@BÜCHER.example")
    assert r.returncode == 0, r.stderr
    with open(users_path(m, "xn--bcher-kva.example")) as f:
        assert "otto:\n" in f.read()
    assert not os.path.exists(m.domain_dir("bücher.example"))
    # A new domain written with a U-label gets a U-label folder.
    r = m.cli("user", "add", "--no-login", "carl@CAFÉ.example")
    assert r.returncode == 0, r.stderr
    assert "created domain folder" in r.stdout
    with open(users_path(m, "café.example")) as f:
        assert f.read() == "carl:\n"
    assert m.cli("check-config").returncode == 0
    r = m.cli("user", "add", "--no-login", "x@xn--zz.example")
    assert r.returncode == 1
    assert "not a valid domain name" in r.stderr
    m.start()
    assert rcpt_code_now(m, "otto@bücher.example", "SMTPUTF8") == 250
    assert rcpt_code_now(m, "carl@xn--caf-dma.example") == 250
