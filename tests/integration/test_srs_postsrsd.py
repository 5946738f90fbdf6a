"""SRS interop with Debian's postsrsd 1.10 (issue 10 items 2 and 4), and
`decorum srs` and the srs group for operators.

Both sides get the same secret file and the same day (postsrsd's clock
pinned by libfaketime, ours by `-n NOW`): every address Decorum forwards
postsrsd reverses to the original, and the other way round; both write
the same SRS address for the same input.  Rotation: each signs with a
secret the other holds only as its second line.
"""
import os
import stat

import pytest

from srspeer import Postsrsd

SRS_DOMAIN = "srs.example.test"
T = 1709294400          # 2024-03-01 12:00:00 UTC
DAY = 86400

ADDRESSES = [
    "alice@example.org",
    "Alice.Smith@Example.ORG",                  # mixed case kept
    "user+tag@example.org",                     # '+' in the local part
    '"quoted local"@example.org',               # a quoted local part
    "SRS0=abcd=XY=orig.example=bob@hop.example",  # a foreign SRS0: SRS1
    "SRS1=zzzz=hop.example==abcd=XY=orig.example=bob@other.example",
]


def expected_reverse(address):
    """What reversing our forward of address gives: the address, except
    that an SRS1 comes back as the SRS0 of its first hop."""
    local, _, _ = address.rpartition("@")
    if local.upper().startswith("SRS1"):
        _, hop, rest = local[5:].split("=", 2)
        return "SRS0" + rest + "@" + hop
    return address


@pytest.fixture
def srs_mta(mta, workdir):
    def make(secrets=("tops3cr3t",), max_age=None, name="srs.key"):
        key = os.path.join(workdir, name)
        with open(key, "w") as f:
            f.write("".join(s + "\n" for s in secrets))
        os.chmod(key, 0o600)
        extra = ' max_age = %d;' % max_age if max_age is not None else ""
        return mta(start=False, extra_conf='srs = { domain = "%s"; '
                   'key_file = "%s";%s };\n' % (SRS_DOMAIN, key, extra))
    return make


@pytest.fixture
def postsrsd(workdir):
    made = []

    def start(secrets=("tops3cr3t",), when=T, raw_secret=None):
        p = Postsrsd(os.path.join(workdir, "postsrsd%d" % len(made)),
                     secrets, SRS_DOMAIN, when, raw_secret)
        made.append(p)
        return p
    yield start
    for p in made:
        p.stop()


def fwd(m, address, now=T):
    return m.cli("srs", "forward", "-n", str(now), address)


def rev(m, address, now=T):
    return m.cli("srs", "reverse", "-n", str(now), address)


def ok(r):
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stderr == "", r.stderr
    return r.stdout.rstrip("\n")


@pytest.mark.parametrize("address", ADDRESSES)
def test_decorum_forward_postsrsd_reverse(srs_mta, postsrsd, address):
    m, p = srs_mta(), postsrsd()
    ours = ok(fwd(m, address))
    assert ours.endswith("@" + SRS_DOMAIN)
    assert ours[:4] == ("SRS0" if address.count("SRS") == 0 else "SRS1")
    # The same address as postsrsd writes: an operator can switch.
    assert p.forward(address) == (200, ours)
    assert p.reverse(ours) == (200, expected_reverse(address))


@pytest.mark.parametrize("address", ADDRESSES)
def test_postsrsd_forward_decorum_reverse(srs_mta, postsrsd, address):
    m, p = srs_mta(), postsrsd()
    code, theirs = p.forward(address)
    assert code == 200, theirs
    assert ok(rev(m, theirs)) == expected_reverse(address)


def test_mixed_case_reversed_by_both(srs_mta, postsrsd):
    """A forwarder that folds case must not break the bounce: the tag,
    hash and stamp are read without case on both sides."""
    m, p = srs_mta(), postsrsd()
    for address in ("alice@example.org", ADDRESSES[4]):
        srs = ok(fwd(m, address))
        for variant in (srs.lower(), srs.upper()):
            want = expected_reverse(address)
            back = ok(rev(m, variant))
            assert back.lower() == want.lower(), (variant, back)
            code, text = p.reverse(variant)
            assert code == 200 and text.lower() == want.lower(), text


def test_rotation_postsrsd_signs_with_our_second_key(srs_mta, postsrsd):
    m = srs_mta(secrets=("decorum-new", "postsrsd-old"))
    p = postsrsd(secrets=("postsrsd-old",))
    for address in ADDRESSES[:5]:
        code, theirs = p.forward(address)
        assert code == 200
        assert ok(rev(m, theirs)) == expected_reverse(address)
        # We sign with our first line, which this postsrsd cannot check...
        ours = ok(fwd(m, address))
        assert ours != theirs
        code, text = p.reverse(ours)
        assert code == 500, text
    # ...until it gets our new secret as its second line.
    p2 = postsrsd(secrets=("postsrsd-old", "decorum-new"))
    assert p2.reverse(ok(fwd(m, "alice@example.org"))) == \
        (200, "alice@example.org")


def test_age_limit_both_ways(srs_mta, postsrsd):
    """21 days old is valid, 22 expired, tomorrow's stamp invalid: on
    both sides, for the other side's addresses."""
    m, p = srs_mta(), postsrsd()
    code, theirs = p.forward("alice@example.org")
    assert code == 200
    assert ok(rev(m, theirs, T + 21 * DAY)) == "alice@example.org"
    for now in (T + 22 * DAY, T - DAY):
        r = rev(m, theirs, now)
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert "timestamp expired" in r.stderr and r.stdout == ""
    ours = ok(fwd(m, "alice@example.org"))
    assert postsrsd(when=T + 21 * DAY).reverse(ours) == \
        (200, "alice@example.org")
    for when in (T + 22 * DAY, T - 2 * DAY):
        code, text = postsrsd(when=when).reverse(ours)
        assert code == 500, text


def test_max_age_config(srs_mta):
    m = srs_mta(max_age=3)
    srs = ok(fwd(m, "a@example.org"))
    assert ok(rev(m, srs, T + 3 * DAY)) == "a@example.org"
    assert rev(m, srs, T + 4 * DAY).returncode == 1


def test_forged_and_foreign(srs_mta, postsrsd):
    m, p = srs_mta(), postsrsd()
    srs = ok(fwd(m, "alice@example.org"))
    h = srs[5:9]
    forged = srs.replace(h, h[:3] + ("A" if h[3] not in "Aa" else "B"), 1)
    r = rev(m, forged)
    assert r.returncode == 1 and "hash does not verify" in r.stderr
    assert p.reverse(forged)[0] == 500
    other = srs_mta(secrets=("someone-else",), name="other.key")
    r = rev(other, srs)
    assert r.returncode == 1 and "hash does not verify" in r.stderr
    r = rev(m, "alice@example.org")
    assert r.returncode == 1 and "not an SRS address" in r.stderr
    r = fwd(m, "x" * 65 + "@example.org")
    assert r.returncode == 1 and "too long" in r.stderr
    assert ok(fwd(m, "x" * 64 + "@example.org")).startswith("SRS0=")


def test_keygen(srs_mta, postsrsd, workdir):
    m = srs_mta()
    path = os.path.join(workdir, "new.key")
    r = m.cli("srs", "keygen", path)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    secret = open(path).read()
    assert secret.endswith("\n") and len(secret.strip()) == 44
    r = m.cli("srs", "keygen", path)
    assert r.returncode == 1 and "-f" in r.stderr
    assert open(path).read() == secret
    assert m.cli("srs", "keygen", "-f", path).returncode == 0
    assert open(path).read() != secret
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [f for f in os.listdir(workdir) if f.endswith(".tmp")] == []
    # The generated secret is one postsrsd reads the same way.
    m2 = srs_mta(secrets=(open(path).read().strip(),), name="gen.key")
    p = postsrsd(secrets=(open(path).read().strip(),))
    srs = ok(fwd(m2, "alice@example.org"))
    assert p.forward("alice@example.org") == (200, srs)


def test_usage(srs_mta):
    m = srs_mta()
    for args in (("srs",), ("srs", "forward"), ("srs", "rotate"),
                 ("srs", "reverse", "a", "b"),
                 ("srs", "forward", "-n", "soon", "a@example.org")):
        r = m.cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert "usage" in r.stderr


def test_srs_off_without_group(mta):
    m = mta(start=False)
    r = m.cli("srs", "forward", "a@example.org")
    assert r.returncode == 2 and "no srs group" in r.stderr


def conf_line(m, needle):
    for i, line in enumerate(open(m.conf).read().splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


def test_check_config_key_file(srs_mta, workdir):
    m = srs_mta()
    r = m.cli("check-config")
    assert r.returncode == 0, r.stderr
    open(os.path.join(workdir, "srs.key"), "w").close()
    r = m.cli("check-config")
    assert r.returncode == 1
    assert "%s:%d: " % (m.conf, conf_line(m, "srs =")) in r.stderr
    assert "no secret" in r.stderr
    os.unlink(os.path.join(workdir, "srs.key"))
    r = m.cli("check-config")
    assert r.returncode == 1 and "cannot read the SRS key file" in r.stderr
    r = m.cli("srs", "forward", "a@example.org")
    assert r.returncode == 2 and "cannot read the SRS key file" in r.stderr


@pytest.mark.parametrize("group,error", [
    ('srs = { key_file = "k"; };', "srs.domain: required"),
    ('srs = { domain = "srs.example.test"; };', "srs.key_file: required"),
    ('srs = { domain = "not a domain"; key_file = "k"; };', "srs.domain"),
    ('srs = { domain = "srs.example.test"; key_file = "k"; max_age = 0; };',
     "max_age"),
    ('srs = { domain = "srs.example.test"; key_file = "k"; '
     'max_age = 1001; };', "max_age"),
    ('srs = { domain = "srs.example.test"; key_file = "k"; '
     'max_age = "21"; };', "max_age"),
    ('srs = { domain = "srs.example.test"; key_file = "k"; hash = 4; };',
     "hash"),
])
def test_config_errors(mta, group, error):
    m = mta(start=False, extra_conf=group + "\n")
    r = m.cli("check-config")
    assert r.returncode == 1, r.stderr
    line = len(open(m.conf).read().splitlines())
    assert r.stderr.startswith("%s:%d: " % (m.conf, line)), r.stderr
    assert error in r.stderr, r.stderr


@pytest.mark.parametrize("max_age", [1, 1000])
def test_config_max_age_edges(srs_mta, max_age):
    assert srs_mta(max_age=max_age).cli("check-config").returncode == 0



@pytest.mark.parametrize("raw", [b"tops3cr3t\r\n", b"\ntops3cr3t\n",
                                 b" tops3cr3t\n", b"tops3cr3t",
                                 b"first\n\r\nsecond\n"])
def test_key_file_read_as_postsrsd_reads_it(srs_mta, postsrsd, workdir, raw):
    """Line ends, empty lines, a missing last newline, spaces: the same
    file gives the same signing secret on both sides."""
    m = srs_mta()
    with open(os.path.join(workdir, "srs.key"), "wb") as f:
        f.write(raw)
    p = postsrsd(raw_secret=raw)
    assert p.forward("alice@example.org") == \
        (200, ok(fwd(m, "alice@example.org")))
