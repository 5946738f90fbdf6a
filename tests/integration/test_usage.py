"""Asking the programs for help (issue 8, item 12): `decorum --help`,
`decorum -h` and `decorum help`, `decorumd -h` and `decorumd --help` print
the usage on stdout and exit 0; a wrong option still exits 2 with the
usage on stderr, so scripts can tell a request from a mistake."""

import os
import subprocess

import pytest


def run(build_dir, prog, *args):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    # No config is read for help: point at one that does not exist.
    env["DECORUM_CONFIG"] = "/nonexistent/decorum.conf"
    return subprocess.run([os.path.join(build_dir, prog)] + list(args),
                          capture_output=True, text=True, timeout=20,
                          env=env)


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"],
                                  ["-c", "/nonexistent.conf", "--help"]])
def test_decorum_help(build_dir, args):
    r = run(build_dir, "decorum", *args)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stdout.startswith("usage: decorum "), r.stdout
    for cmd in ("check-config", "queue list", "sendmail",
                "route [-f SENDER] [-a] ADDRESS"):
        assert "decorum " + cmd in r.stdout, r.stdout
    assert r.stderr == "", r.stderr


@pytest.mark.parametrize("args", [["--bogus"], ["-x"], []])
def test_decorum_usage_error(build_dir, args):
    r = run(build_dir, "decorum", *args)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == "", r.stdout
    assert "usage: decorum " in r.stderr, r.stderr


@pytest.mark.parametrize("args", [["-h"], ["--help"]])
def test_decorumd_help(build_dir, args):
    r = run(build_dir, "decorumd", *args)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stdout.startswith("usage: decorumd [-c FILE] [-f]"), r.stdout
    assert r.stderr == "", r.stderr


@pytest.mark.parametrize("args", [["--bogus"], ["-x"], ["extra"]])
def test_decorumd_usage_error(build_dir, args):
    r = run(build_dir, "decorumd", *args)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == "", r.stdout
    assert "usage: decorumd" in r.stderr, r.stderr


def test_version(build_dir):
    for prog, args in (("decorum", ["--version"]), ("decorum", ["-V"]),
                       ("decorumd", ["--version"]), ("decorumd", ["-V"])):
        r = run(build_dir, prog, *args)
        assert r.returncode == 0, (prog, args, r.stderr)
        assert r.stdout.startswith(prog + " "), r.stdout
