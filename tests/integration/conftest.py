"""Fixtures for the integration suite: a loopback DNS server and real
decorumd daemons.

Run:  DECORUM_BUILD=/path/to/builddir /usr/bin/python3 -m pytest -q tests/integration

- `dns`: a DnsStub (UDP+TCP on a free port) whose Zone starts with the
  records every test needs (the test client's HELO name resolves to the
  loopback addresses) and nothing else: no PTR, so Received says
  "unknown".  Tests add records or SERVFAILs with dns.zone.add()/fail().
- `mta`: a factory.  mta(**options) writes a config and a domain folder
  (users demo, alice, bob, admin; aliases team, crew, info) under a fresh
  0755 directory, starts `decorumd -c FILE -f`, waits until every listener
  accepts, and returns an mtaproc.Mta.  At teardown every daemon is
  stopped and its stderr is searched for sanitizer reports: any report
  fails the test.  The directory is removed when the test passed and kept
  (path printed) when it failed.
"""

import os
import shutil
import tempfile

import pytest

from dnsstub import DnsStub
from mtaproc import Mta

HELO = "client.example.org"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(scope="session")
def build_dir():
    d = os.environ.get("DECORUM_BUILD", "/work/main/build")
    return os.path.abspath(d)


@pytest.fixture
def dns():
    stub = DnsStub()
    z = stub.zone
    z.add(HELO, "A", "127.0.0.1")
    z.add(HELO, "AAAA", "::1")
    z.add("example.org", "MX", (10, "mx.example.org"))
    z.add("mx.example.org", "A", "192.0.2.25")
    z.add("remote.example", "MX", (10, "mx.remote.example"))
    z.add("mx.remote.example", "A", "192.0.2.26")
    yield stub
    stub.stop()


@pytest.fixture
def workdir(request):
    # Our own 0755 directory, not tmp_path: pytest's base is 0700, and the
    # privilege-drop test needs "nobody" to traverse it.
    d = tempfile.mkdtemp(prefix="decorum-it-")
    os.chmod(d, 0o755)
    yield d
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.passed:
        shutil.rmtree(d, ignore_errors=True)
    else:
        print("\nkept test directory %s" % d)


@pytest.fixture
def mta(build_dir, dns, workdir):
    made = []

    def factory(start=True, **options):
        root = os.path.join(workdir, "mta%d" % len(made))
        os.makedirs(root)
        os.chmod(root, 0o755)
        m = Mta(build_dir, root, dns, **options)
        made.append(m)
        if start:
            m.start()
        return m

    yield factory
    problems = []
    for m in made:
        try:
            m.stop()
        except Exception as e:          # report, but still check the others
            problems.append("stopping %s: %s" % (m.root, e))
        marks = m.sanitizer_reports()
        if marks:
            problems.append("sanitizer report %s in %s:\n%s"
                            % (marks, m.logfile, _excerpt(m.log(), marks)))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def _excerpt(text, marks):
    i = min(text.find(mk) for mk in marks if mk in text)
    return text[max(0, i - 500):i + 3000]
