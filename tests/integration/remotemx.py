"""A fake remote MX for the outbound tests: aiosmtpd (Debian 12: 1.4.x) on
127.0.0.x:P, recording every session and answering from a script.

Many fake MX hosts share one port number P on different loopback
addresses (127.0.0.21, .22, ...), because Decorum's client uses one port,
delivery.smtp_port, for every MX host; the loopback DNS server (dnsstub)
maps the MX names to those addresses.

What is recorded, per connection (Connection): the EHLO/HELO names,
whether STARTTLS succeeded and the TLS version, AUTH attempts, every
command line as sent (bytes), and its transactions.  Per transaction
(Transaction): the MAIL argument exactly as sent (`mail`, e.g.
'FROM:<a@b> SIZE=12'), the reverse-path inside <> as sent (`sender`),
the RCPT addresses as sent, the reply given to each, and the DATA
content (bytes, CRLF line ends, dot-stuffing removed as RFC 5321 4.5.2
says).  aiosmtpd itself normalises addresses (quoted local parts), so the
raw command lines are what the tests compare.

What can be scripted (constructor arguments, also assignable while the
server runs): the greeting (a non-2xx reply instead of the 220; 421
closes the connection), the EHLO reply (421 closes too), the MAIL reply, a reply per recipient, the reply at the
end of DATA, and greylisting (the first RCPT of each (sender, recipient)
pair gets 451 4.7.1, later ones are accepted).  A script value is None
(accept), a string (that reply every time) or a list (one reply per use,
then accept; "250" entries accept).

STARTTLS is offered with tls_cert=(cert, key); AUTH PLAIN/LOGIN with
auth={"user": "password"}, after TLS only (aiosmtpd's auth_require_tls).
`sni` lists the server name each TLS client asked for (None: no SNI).
host may be an IPv6 address ("::1").
PIPELINING is advertised unless pipelining=False (aiosmtpd reads commands
in order, so a pipelined client is served correctly); SMTPUTF8 unless
smtputf8=False; 8BITMIME unless eightbitmime=False; SIZE with aiosmtpd's
default limit, or size_limit=N ("SIZE N", and aiosmtpd then refuses
larger messages itself).

A broken TLS peer (tls_cert needed, so STARTTLS is offered): broken_tls=
"garbage" answers STARTTLS with 220, then sends plaintext junk instead of
a ServerHello and closes; broken_tls="tls1.1" caps the server at TLS 1.1,
which a TLS 1.2+ client cannot agree on; broken_tls="refuse" offers
STARTTLS and answers it with 454 (and the session goes on in plaintext).  data_delay=S makes every final
reply to DATA wait S seconds (a slow server, for the concurrency tests).
`active` is the number of connections open now (from accept to QUIT or
close) and `max_active` its high-water mark.

lmtp=True makes it an LMTP server (aiosmtpd.lmtp.LMTP: LHLO, and HELO/EHLO
refused) that answers the final dot once per accepted recipient, in RCPT
order (RFC 2033 4.2): lmtp_replies maps a recipient to a script value as
above (default 250).  Transaction.lmtp_replies lists what each got.

Each server runs its own asyncio loop in a thread; stop() closes the
listener and every open session.  Errors inside this module's hooks are
collected in `errors` and the conftest fixture fails the test on them, so
a fixture bug never passes for a Decorum bug.
"""

import asyncio
import functools
import itertools
import socket
import ssl
import threading
import time
import warnings

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, AuthResult, TLSSetupException

_serial = itertools.count(1)

DEFAULT_DATA_REPLY = "250 2.0.0 Ok: queued as FAKE%d"


def wait_until(pred, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


def parse_path(arg, keyword):
    """Splits 'FROM:<path> PARAMS' (keyword 'FROM:' or 'TO:', any case)
    into (path, [params]) exactly as sent: the path is the text between
    the angle brackets, with quoted strings and their escapes kept.
    Returns (None, []) when the argument does not have that form."""
    if not arg[:len(keyword)].upper() == keyword:
        return None, []
    rest = arg[len(keyword):]
    if not rest.startswith("<"):
        return None, []
    i, quoted = 1, False
    while i < len(rest):
        c = rest[i]
        if quoted and c == "\\":
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c == ">" and not quoted:
            return rest[1:i], rest[i + 1:].split()
        i += 1
    return None, []


class Transaction:
    """One MAIL ... (RCPT ...)* [DATA] on a connection."""

    def __init__(self, conn, mail):
        self.conn = conn
        self.mail = mail                    # 'FROM:<...> PARAMS' as sent
        self.sender, self.params = parse_path(mail, "FROM:")
        self.mail_reply = None
        self.rcpts = []                     # raw addresses, every RCPT
        self.rcpt_replies = []              # reply given to each
        self.accepted = []                  # raw addresses given 2xx
        self.data = None                    # bytes, unstuffed, CRLF
        self.data_reply = None
        self.lmtp_replies = []              # LMTP: (rcpt, reply) after dot
        self.reset = False                  # ended by RSET/EHLO

    @property
    def delivered(self):
        return self.data_reply is not None and self.data_reply[0] == "2"

    def __repr__(self):
        return ("Transaction(mail=%r, rcpts=%r, replies=%r, data=%s, "
                "data_reply=%r)" % (self.mail, self.rcpts, self.rcpt_replies,
                                    None if self.data is None
                                    else "%d bytes" % len(self.data),
                                    self.data_reply))


class Connection:
    """One TCP session with the fake MX."""

    def __init__(self, peer):
        self.peer = peer
        self.greeting = None                # the scripted greeting, if any
        self.ehlo = None                    # last EHLO/HELO name
        self.ehlos = []                     # ("EHLO"|"HELO", name), in order
        self.tls = False
        self.tls_version = None
        self.auth = []                      # (mechanism, login, password, ok)
        self.lines = []                     # command lines as sent (bytes)
        self.transactions = []
        self.closed = False
        self.counted = True                 # in RemoteMX.active

    @property
    def login(self):
        """The login of the successful AUTH, or None."""
        for mech, login, password, ok in self.auth:
            if ok:
                return login
        return None

    def __repr__(self):
        return ("Connection(peer=%r, ehlo=%r, tls=%r, auth=%r, "
                "transactions=%d, lines=%r)"
                % (self.peer, self.ehlo, self.tls_version,
                   [(a[0], a[1], a[3]) for a in self.auth],
                   len(self.transactions), self.lines[:40]))


def _script(value):
    """One use of a script value: (reply or None, value left)."""
    if value is None:
        return None, None
    if isinstance(value, str):
        return value, value
    value = list(value)
    if not value:
        return None, value
    return value[0], value[1:]


def _guard(fn):
    """A hook that records its own exceptions (a fixture bug) and answers
    451, instead of letting aiosmtpd turn them into a 500."""
    @functools.wraps(fn)                # aiosmtpd inspects the signature
    async def wrapped(self, server, *args):
        try:
            return await fn(self, server, *args)
        except Exception as e:
            self.errors.append(repr(e))
            return "451 4.3.0 fake MX hook error %r" % e
    return wrapped


def _accepts(reply):
    return reply is None or reply.startswith("2")


class _Session(SMTP):
    """aiosmtpd's SMTP protocol, one per connection, with the record and
    the scripted greeting."""

    def __init__(self, mx, **kwargs):
        super().__init__(mx, **kwargs)
        self.mx = mx
        self.conn = None
        self.last_line = b""

    def connection_made(self, transport):
        first = self.conn is None
        super().connection_made(transport)
        if first:
            self.conn = Connection(transport.get_extra_info("peername"))
            self.mx._add_connection(self.conn)

    def connection_lost(self, error):
        if self.conn is not None:
            self.conn.closed = True
            self.mx._end_connection(self.conn)
        super().connection_lost(error)

    def _client_connected_cb(self, reader, writer):
        super()._client_connected_cb(reader, writer)
        # aiosmtpd reads commands with readuntil() (separator "\n") and
        # DATA lines with readuntil(b"\r\n"): record the former, as sent.
        orig = reader.readuntil

        async def readuntil(separator=b"\n"):
            line = await orig(separator)
            if separator == b"\n":
                self.last_line = line
                self.conn.lines.append(line)
            return line
        reader.readuntil = readuntil

    async def _handle_client(self):
        delay, self.mx.greeting_delay = _script(self.mx.greeting_delay)
        if delay:
            await asyncio.sleep(delay)
        reply, self.mx.greeting = _script(self.mx.greeting)
        if reply is None or reply.startswith("2"):
            return await super()._handle_client()
        self.conn.greeting = reply
        await self.push(reply)
        if reply.startswith("421"):
            self.transport.close()
            return
        # RFC 5321 3.1: after a 554 greeting, wait for QUIT.
        while self.transport is not None:
            try:
                line = await self._reader.readuntil()
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                break
            if line.strip().upper() == b"QUIT":
                await self.push("221 2.0.0 Bye")
                self.transport.close()
                break
            await self.push("503 5.5.1 No service here")

    async def smtp_QUIT(self, arg):
        # The client is done with us: no longer one of its connections,
        # even if the close reaches our loop only later.
        self.mx._end_connection(self.conn)
        await super().smtp_QUIT(arg)

    async def smtp_STARTTLS(self, arg):
        if self.mx.broken_tls == "refuse" and not arg:
            await self.push("454 4.7.0 TLS not available due to temporary "
                            "reason")
            return
        if self.mx.broken_tls == "garbage" and not arg and \
                self._tls_protocol is None:
            await self.push("220 2.0.0 Ready to start TLS")
            self._writer.write(b"this is not a TLS ServerHello\r\n")
            await self._writer.drain()
            self.transport.close()
            return
        await super().smtp_STARTTLS(arg)
        if self._tls_protocol is not None and self.transport is not None:
            obj = self.transport.get_extra_info("ssl_object")
            self.conn.tls = True
            self.conn.tls_version = obj.version() if obj else "?"


class _LmtpSession(_Session, LMTP):
    """The same record and scripts, speaking LMTP (LHLO)."""


class RemoteMX:
    """A fake MX on host:port.  See the module comment for the options."""

    def __init__(self, host="127.0.0.21", port=None, tls_cert=None,
                 auth=None, name=None, rcpt_replies=None, data_reply=None,
                 mail_reply=None, greeting=None, ehlo_reply=None,
                 greylist=False, smtputf8=True, pipelining=True,
                 auth_required=False, require_starttls=False,
                 eightbitmime=True, size_limit=None, broken_tls=None,
                 data_delay=0, lmtp=False, lmtp_replies=None,
                 greeting_delay=None):
        assert broken_tls in (None, "garbage", "tls1.1", "refuse"), \
            broken_tls
        assert broken_tls is None or tls_cert is not None, \
            "broken_tls needs tls_cert: STARTTLS is offered only with it"
        self.host = host
        self.port = port
        self.name = name or "fake-mx-%s.example" % host.replace(".", "-")
        self.tls_cert = tls_cert
        self.logins = auth
        self.rcpt_replies = dict(rcpt_replies or {})
        self.data_reply = data_reply
        self.mail_reply = mail_reply
        self.greeting = greeting
        self.greeting_delay = greeting_delay
        self.ehlo_reply = ehlo_reply
        self.greylist = greylist
        self.smtputf8 = smtputf8
        self.pipelining = pipelining
        self.need_auth = auth_required
        self.require_starttls = require_starttls
        self.eightbitmime = eightbitmime
        self.size_limit = size_limit
        self.broken_tls = broken_tls
        self.data_delay = data_delay
        self.lmtp = lmtp
        self.lmtp_replies = dict(lmtp_replies or {})
        self.active = 0                     # connections open now
        self.max_active = 0                 # and at most, so far
        self.sni = []                       # SNI of each TLS handshake
        self.errors = []                    # exceptions in our hooks
        # No attribute of ours may be named auth_* or handle_*: aiosmtpd
        # takes those of the handler for AUTH mechanisms and hooks.
        self._lock = threading.Lock()
        self._connections = []
        self._grey_seen = set()
        self._loop = None
        self._thread = None
        self._server = None

    # -- life cycle --------------------------------------------------------
    def start(self):
        assert self._thread is None, "already running"
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port or 0))
            sock.listen(64)
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        tls = None
        if self.tls_cert is not None:
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.load_cert_chain(*self.tls_cert)
            tls.sni_callback = self._sni_seen
            if self.broken_tls == "tls1.1":
                with warnings.catch_warnings():
                    # Deprecated, and meant to be: that is the point.
                    warnings.simplefilter("ignore", DeprecationWarning)
                    tls.minimum_version = ssl.TLSVersion.TLSv1
                    tls.maximum_version = ssl.TLSVersion.TLSv1_1
        loop = asyncio.new_event_loop()
        # Peers that vanish mid-session are normal here; keep quiet.
        loop.set_exception_handler(lambda lp, ctx: None)
        self._loop = loop
        kwargs = dict(hostname=self.name, enable_SMTPUTF8=self.smtputf8,
                      tls_context=tls, timeout=60,
                      authenticator=self._authenticate,
                      auth_required=bool(self.need_auth),
                      require_starttls=self.require_starttls, loop=loop)
        if self.size_limit is not None:
            kwargs["data_size_limit"] = self.size_limit
        session = _LmtpSession if self.lmtp else _Session
        ready = threading.Event()
        failure = []

        def run():
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(loop.create_server(
                    lambda: session(self, **kwargs), sock=sock))
            except Exception as e:          # reported to start()
                failure.append(e)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True,
                                        name="remotemx-%s" % self.host)
        self._thread.start()
        ready.wait(10)
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop(self):
        if self._thread is None:
            return
        loop = self._loop

        async def shutdown():
            self._server.close()
            for task in asyncio.all_tasks(loop):
                if task is not asyncio.current_task(loop):
                    task.cancel()
            await self._server.wait_closed()
            loop.stop()
        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        self._thread.join(10)
        assert not self._thread.is_alive(), "fake MX %s did not stop" \
            % self.host
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _sni_seen(self, sslobj, name, ctx):
        with self._lock:
            self.sni.append(name)
        return None

    # -- observation (any thread) ------------------------------------------
    def _add_connection(self, conn):
        with self._lock:
            self._connections.append(conn)
            self.active += 1
            self.max_active = max(self.max_active, self.active)

    def _end_connection(self, conn):
        with self._lock:
            if conn.counted:
                conn.counted = False
                self.active -= 1

    @property
    def connections(self):
        with self._lock:
            return list(self._connections)

    def transactions(self):
        with self._lock:
            return [t for c in self._connections for t in c.transactions]

    def delivered(self):
        """Transactions whose DATA got a 2xx, in order."""
        return [t for t in self.transactions() if t.delivered]

    def wait_delivered(self, n=1, timeout=20.0, log=None):
        """Waits for n transactions ended by a 2xx to DATA; returns all of
        them.  log: a callable giving text to add to the failure."""
        try:
            wait_until(lambda: len(self.delivered()) >= n, timeout,
                       what="%d message(s) at fake MX %s" % (n, self.host))
        except AssertionError as e:
            raise AssertionError("%s; sessions: %r%s" % (
                e, self.connections,
                "\nlog:\n" + log()[-3000:] if log else ""))
        return self.delivered()

    def mails(self):
        """Every MAIL argument seen, as sent, in order."""
        return [t.mail for t in self.transactions()]

    # -- aiosmtpd hooks (loop thread) --------------------------------------
    @staticmethod
    def _raw_arg(server, verb):
        line = server.last_line.rstrip(b"\r\n").decode("utf-8",
                                                        "surrogateescape")
        head, _, arg = line.partition(" ")
        assert head.upper() == verb, (line, verb)
        return arg.strip()

    @_guard
    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        self._end_transaction(server)
        server.conn.ehlos.append(("EHLO", hostname))
        server.conn.ehlo = hostname
        reply, self.ehlo_reply = _script(self.ehlo_reply)
        if reply is not None and not reply.startswith("2"):
            if reply.startswith("421"):
                # 421: the server closes the channel (RFC 5321 3.8);
                # close() sends what is buffered first.
                asyncio.get_running_loop().call_soon(server.transport.close)
            return [reply]
        session.host_name = hostname
        out = [r for r in responses
               if not (r[4:].startswith("AUTH") and not self.logins)
               and not (r[4:] == "8BITMIME" and not self.eightbitmime)]
        if self.pipelining:
            out.insert(1, "250-PIPELINING")
        return out

    @_guard
    async def handle_HELO(self, server, session, envelope, hostname):
        self._end_transaction(server)
        server.conn.ehlos.append(("HELO", hostname))
        server.conn.ehlo = hostname
        session.host_name = hostname
        return "250 %s" % self.name

    def _end_transaction(self, server):
        ts = server.conn.transactions
        if ts and ts[-1].data is None and not ts[-1].reset:
            ts[-1].reset = True

    def _current(self, server):
        ts = server.conn.transactions
        assert ts and not ts[-1].reset and ts[-1].data is None, \
            "no open transaction"
        return ts[-1]

    @_guard
    async def handle_MAIL(self, server, session, envelope, address,
                          options):
        self._end_transaction(server)
        t = Transaction(server.conn, self._raw_arg(server, "MAIL"))
        with self._lock:
            server.conn.transactions.append(t)
        reply, self.mail_reply = _script(self.mail_reply)
        if not _accepts(reply):
            t.mail_reply = reply
            t.reset = True
            return reply
        t.mail_reply = "250 2.1.0 Ok"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return t.mail_reply

    @_guard
    async def handle_RCPT(self, server, session, envelope, address,
                          options):
        t = self._current(server)
        raw, _ = parse_path(self._raw_arg(server, "RCPT"), "TO:")
        rcpt = raw if raw is not None else address
        t.rcpts.append(rcpt)
        reply = None
        for key in (rcpt, rcpt.lower(), address):
            if key in self.rcpt_replies:
                reply, self.rcpt_replies[key] = _script(
                    self.rcpt_replies[key])
                break
        if reply is None and self.greylist:
            key = (t.sender, rcpt)
            if key not in self._grey_seen:
                self._grey_seen.add(key)
                reply = "451 4.7.1 <%s>: greylisted, try again later" % rcpt
        if not _accepts(reply):
            t.rcpt_replies.append(reply)
            return reply
        reply = "250 2.1.5 Ok"
        t.rcpt_replies.append(reply)
        t.accepted.append(rcpt)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return reply

    @_guard
    async def handle_DATA(self, server, session, envelope):
        t = self._current(server)
        t.data = bytes(envelope.original_content)
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.lmtp:
            return self._lmtp_replies(t)
        reply, self.data_reply = _script(self.data_reply)
        if _accepts(reply):
            reply = DEFAULT_DATA_REPLY % next(_serial)
        t.data_reply = reply
        return reply

    def _lmtp_replies(self, t):
        """RFC 2033 4.2: one reply per accepted recipient, in order; sent
        as one push of several lines (aiosmtpd itself knows only one)."""
        for rcpt in t.accepted:
            reply = None
            if rcpt in self.lmtp_replies:
                reply, self.lmtp_replies[rcpt] = _script(
                    self.lmtp_replies[rcpt])
            if _accepts(reply):
                reply = "250 2.0.0 <%s> Ok: delivered as FAKE%d" % (
                    rcpt, next(_serial))
            t.lmtp_replies.append((rcpt, reply))
        t.data_reply = "\r\n".join(r for _, r in t.lmtp_replies)
        return t.data_reply

    @_guard
    async def handle_RSET(self, server, session, envelope):
        self._end_transaction(server)
        return "250 2.0.0 Ok"

    async def handle_exception(self, error):
        # TLS handshake failures are the client's business; anything else
        # raised while serving is a bug of this fixture.
        if not isinstance(error, TLSSetupException):
            self.errors.append(repr(error))
        return "451 4.3.0 fake MX error"

    def _authenticate(self, server, session, envelope, mechanism, data):
        login = bytes(data.login).decode("utf-8", "replace")
        password = bytes(data.password).decode("utf-8", "replace")
        ok = bool(self.logins) and self.logins.get(login) == password
        server.conn.auth.append((mechanism, login, password, ok))
        # handled=False: aiosmtpd then sends the 535 itself.
        return AuthResult(success=ok, handled=False, auth_data=login)


def free_port_on(hosts, tries=50):
    """A TCP port number free on every one of hosts (127.0.0.x), so fake
    MX hosts on different addresses can share it."""
    for _ in range(tries):
        with socket.socket() as s:
            s.bind((hosts[0], 0))
            port = s.getsockname()[1]
            ok = True
            for h in hosts[1:]:
                with socket.socket() as t:
                    try:
                        t.bind((h, port))
                    except OSError:
                        ok = False
                        break
        if ok:
            return port
    raise RuntimeError("no port free on all of %r" % (hosts,))
