"""Maildirs of international domains left behind on upgrade (review of
issue 8, route finding 4).

A domain folder `bücher.example` used to deliver into
`<mailboxes>/bücher.example/`; its mail now goes to
`<mailboxes>/xn--bcher-kva.example/` (docs/configuration.md,
International domain names, which says what to move).  The queue
manager says so once at start, in one warning line naming the first
such folder, where its mail goes now and how many there are, while a
folder with a non-ASCII name sits directly under `mailboxes`; nothing is
moved for the operator.
"""

import os

from conftest import submit

ULABEL = "b\u00fccher.example"
ALABEL = "xn--bcher-kva.example"


def make_maildir(m, domain, user):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(m.mailboxes, domain, user, sub))


def qmgr_warnings(m):
    return [e for e in m.events("mailbox-folder-unicode")
            if " qmgr[" in e["_line"]]


def test_unicode_mailbox_folder_warned_once(mta):
    m = mta(start=False)
    m.write_domain(ULABEL, {"anna": None}, [])
    make_maildir(m, ULABEL, "anna")
    make_maildir(m, "caf\u00e9.example", "bob")
    with open(os.path.join(m.mailboxes, "\u00e9t\u00e9.txt"), "w") as f:
        f.write("a file, not a folder\n")
    m.start()
    ev = m.wait_event("mailbox-folder-unicode")[0]
    assert ev["folder"] == ULABEL, ev["_line"]
    assert ev["moved_to"] == ALABEL, ev["_line"]
    assert ev["folders"] == "2", ev["_line"]
    assert ev["dir"] == m.mailboxes, ev["_line"]
    assert "docs/configuration.md" in ev["hint"], ev["_line"]
    assert " warn: " in ev["_line"], ev["_line"]
    # Mail goes to the A-label folder; the old one is left as it was.
    submit(m, "x@example.org", ["anna@" + ULABEL], params="SMTPUTF8")
    m.wait_for_delivery("anna", domain=ALABEL)
    assert os.listdir(os.path.join(m.mailboxes, ULABEL, "anna", "new")) == []
    m.stop()
    assert len(qmgr_warnings(m)) == 1, qmgr_warnings(m)
    # Once per start, not per delivery.
    m.start()
    m.wait_event("mailbox-folder-unicode", n=2)
    submit(m, "x@example.org", ["anna@" + ALABEL])
    m.wait_for_delivery("anna", n=2, domain=ALABEL)
    assert len(qmgr_warnings(m)) == 2


def test_no_warning_when_moved(mta):
    m = mta(start=False)
    make_maildir(m, ALABEL, "anna")
    make_maildir(m, "example.test", "demo")
    m.start()
    m.wait_log(r" qmgr\[\d+\] info: event=started")
    submit(m, "x@example.org", ["demo@example.test"])
    m.wait_for_delivery("demo")
    assert m.events("mailbox-folder-unicode") == []
