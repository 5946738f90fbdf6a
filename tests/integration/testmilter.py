"""A test milter for the milter client's tests (test_scan_milter.py).

    /usr/bin/python3 testmilter.py ADDRESS BEHAVIOUR [ARG]

ADDRESS is libmilter's ("inet:PORT@127.0.0.1", "unix:/path").  The
well-behaved ones are pymilter (libmilter itself, as real milters are);
the broken ones a raw socket server that answers the OPTNEG and then does
what no libmilter filter can.  Stopped by its PID (SIGKILL: a callback
may be asleep on purpose).

pymilter behaviours (at end of body unless said):
  accept, reject, tempfail, discard, replycode (ARG "550" or "451"),
  add-header, change-header (Subject), insert-header (at the top),
  delete-header (X-Drop), add-recipient, delete-recipient, change-from,
  replace-body, big-body (ARG octets of new body), quarantine, reject-at-rcpt, reject-at-connect,
  silent (never answers the end of body), slow (ARG seconds, then adds
  X-Slow), progress (ARG seconds of PROGRESS each 0.5 s, then accept),
  hash (adds X-Body-Hash "SHA256 OCTETS CHUNKS" of the body it got),
  headers (adds X-Got "name=value" for each field, repr()'d),
  macros (adds X-Macro-NAME for each macro it was sent), skip (SKIP
  after the first body chunk, adds X-Chunks), many-headers (ARG count),
  count (adds X-Connections: the option negotiations so far, one per
  connection: reused ones negotiate once; answers CONTINUE, not ACCEPT,
  so libmilter takes a QUIT_NC after it), slow-first (as count, but
  the first end of body of the process waits ARG seconds first).
raw behaviours:
  mute (never answers the OPTNEG), close-after-optneg, garbage, oversized (a packet of 65536 octets),
  not-offered (OPTNEG asking for an action we do not know),
  not-agreed (no actions agreed, an ADDHEADER at end of body),
  early-change (an ADDHEADER answering CONNECT), symlist (asks in its
  OPTNEG for {client_addr} at CONNECT, {mail_addr} and an unknown name
  at MAIL, and adds X-Macro-STAGE-NAME for every macro it was sent),
  close-on-quit-nc (answers QUIT_NC by closing the connection).
The raw ones answer every other command with CONTINUE; a QUIT_NC
starts the next conversation on the same connection.
"""

import hashlib
import os
import socket
import struct
import sys
import time

RAW = ("mute", "symlist", "close-after-optneg", "garbage", "oversized", "not-offered",
       "not-agreed", "early-change", "close-on-quit-nc")
MACROS = ("i", "j", "{daemon_name}", "v", "{client_addr}", "{client_name}",
          "{client_port}", "{mail_addr}", "{rcpt_addr}", "{auth_authen}",
          "{tls_version}")


def packet(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data


def read_packet(conn):
    head = b""
    while len(head) < 4:
        got = conn.recv(4 - len(head))
        if not got:
            return None, None
        head += got
    (n,) = struct.unpack(">I", head)
    data = b""
    while len(data) < n:
        got = conn.recv(n - len(data))
        if not got:
            return None, None
        data += got
    return data[:1], data[1:]


def optneg(actions, proto):
    return packet(b"O", struct.pack(">III", 6, actions, proto))


def symlist_optneg():
    lists = struct.pack(">I", 0) + b"{client_addr}\0"
    lists += struct.pack(">I", 2) + b"{mail_addr} {no_such_macro}\0"
    return packet(b"O", struct.pack(">III", 6, 0x101, 0) + lists)


def macro_headers(data):
    """ADDHEADERs of one SMFIC_MACRO packet's name/value pairs."""
    stage = data[:1].decode()
    fields = data[1:].split(b"\0")[:-1]
    return b"".join(packet(b"h", b"X-Macro-%s-%s\0%s\0" % (
        stage.encode(), name.strip(b"{}").replace(b"_", b"-"), value))
        for name, value in zip(fields[::2], fields[1::2]))


def raw_conversation(conn, behaviour):
    cmd, _ = read_packet(conn)
    if cmd != b"O":
        return
    if behaviour == "mute":
        time.sleep(3600)
    if behaviour == "not-offered":
        conn.sendall(optneg(0x1ff | 0x400, 0))
    elif behaviour == "not-agreed":
        conn.sendall(optneg(0, 0))
    elif behaviour == "symlist":
        conn.sendall(symlist_optneg())
    else:
        conn.sendall(optneg(0x1ff, 0))
    if behaviour == "close-after-optneg":
        return
    if behaviour == "garbage":
        conn.sendall(b"HELLO this is not a milter packet\r\n")
    seen = b""
    while True:
        cmd, data = read_packet(conn)
        if cmd is None:
            return
        if cmd == b"D":
            seen += macro_headers(data)
            continue
        if behaviour == "symlist" and cmd == b"E":
            conn.sendall(seen + packet(b"c"))
            continue
        if behaviour == "oversized":
            conn.sendall(struct.pack(">I", 65537) + b"h" + b"x" * 65536)
        elif behaviour == "early-change" and cmd == b"C":
            conn.sendall(packet(b"h", b"X-Early\0yes\0"))
        elif behaviour == "not-agreed" and cmd == b"E":
            conn.sendall(packet(b"h", b"X-Late\0yes\0") + packet(b"c"))
        elif cmd == b"Q":
            return
        elif cmd == b"K":
            if behaviour == "close-on-quit-nc":
                return
            seen = b""
        else:
            conn.sendall(packet(b"c"))


def raw_server(address, behaviour):
    if address.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(address[5:])
    else:
        port, host = address[5:].split("@")
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(port)))
    s.listen(8)
    while True:
        conn, _ = s.accept()
        try:
            raw_conversation(conn, behaviour)
        except OSError:
            pass
        conn.close()


def pymilter_server(address, behaviour, arg):
    import Milter

    # Option negotiations (one per connection) and ends of body seen.
    counts = {"negotiations": 0, "eoms": 0}

    class Test(Milter.Base):
        def __init__(self):
            self.seen = {}
            self.fields = []
            self.sha = hashlib.sha256()
            self.octets = 0
            self.chunks = 0

        def note_macros(self):
            for m in MACROS:
                v = self.getsymval(m)
                if v is not None and m not in self.seen:
                    self.seen[m] = v

        def negotiate(self, opts):
            counts["negotiations"] += 1
            return Milter.Base.negotiate(self, opts)

        def connect(self, hostname, family, hostaddr):
            self.note_macros()
            self.seen["hostname"] = hostname
            if behaviour == "reject-at-connect":
                return Milter.REJECT
            return Milter.CONTINUE

        def hello(self, name):
            self.seen["helo"] = name
            return Milter.CONTINUE

        def envfrom(self, sender, *params):
            self.note_macros()
            self.seen["sender"] = sender
            return Milter.CONTINUE

        def envrcpt(self, rcpt, *params):
            self.seen.pop("{rcpt_addr}", None)
            self.note_macros()
            self.seen.setdefault("rcpts", []).append(rcpt)
            if behaviour == "reject-at-rcpt":
                return Milter.REJECT
            return Milter.CONTINUE

        def header(self, name, value):
            self.fields.append((name, value))
            return Milter.CONTINUE

        def eoh(self):
            self.note_macros()
            return Milter.CONTINUE

        def body(self, chunk):
            self.sha.update(chunk)
            self.octets += len(chunk)
            self.chunks += 1
            if behaviour == "skip":
                return Milter.SKIP
            return Milter.CONTINUE

        def eom(self):
            self.note_macros()
            return answer(self)

    def answer(m):
        b = behaviour
        if b == "reject":
            return Milter.REJECT
        if b == "tempfail":
            return Milter.TEMPFAIL
        if b == "discard":
            return Milter.DISCARD
        if b == "replycode":
            if arg.startswith("5"):
                m.setreply(arg, "5.7.1", "Refused by test milter")
                return Milter.REJECT
            m.setreply(arg, "4.7.1", "Try later, test milter")
            return Milter.TEMPFAIL
        if b == "add-header":
            m.addheader("X-Test", "added")
        elif b == "change-header":
            m.chgheader("Subject", 1, "changed subject")
        elif b == "insert-header":
            m.addheader("X-Top", "inserted", 0)
        elif b == "delete-header":
            m.chgheader("X-Drop", 1, "")
        elif b == "add-recipient":
            m.addrcpt("<carol@example.test>")
        elif b == "delete-recipient":
            m.delrcpt("<bob@example.test>")
        elif b == "change-from":
            m.chgfrom("<bounces@example.test>")
        elif b == "replace-body":
            m.replacebody(b"replaced body\r\n")
        elif b == "big-body":
            piece = b"z" * 1048576
            for _ in range(int(arg) // len(piece)):
                m.replacebody(piece)
            m.replacebody(b"z" * (int(arg) % len(piece)))
        elif b == "quarantine":
            m.quarantine("held by test milter")
        elif b == "silent":
            time.sleep(3600)
        elif b == "slow":
            time.sleep(float(arg))
            m.addheader("X-Slow", "answered")
        elif b == "progress":
            end = time.time() + float(arg)
            while time.time() < end:
                m.progress()
                time.sleep(0.5)
        elif b == "hash":
            m.addheader("X-Body-Hash", "%s %d %d" % (
                m.sha.hexdigest(), m.octets, m.chunks))
        elif b == "skip":
            m.addheader("X-Chunks", str(m.chunks))
        elif b == "headers":
            for name, value in m.fields:
                m.addheader("X-Got", "%s=%r" % (name, value))
        elif b == "macros":
            for k, v in sorted(m.seen.items()):
                if isinstance(v, list):
                    v = ",".join(v)
                m.addheader("X-Macro-" + k.strip("{}").replace("_", "-")
                            or "x", v)
        elif b == "many-headers":
            for n in range(int(arg)):
                m.addheader("X-Many", str(n))
        elif b in ("count", "slow-first"):
            counts["eoms"] += 1
            if b == "slow-first" and counts["eoms"] == 1:
                time.sleep(float(arg))
            m.addheader("X-Connections", str(counts["negotiations"]))
            # After an ACCEPT (or any final verdict) libmilter goes back
            # to its HELO state and ignores QUIT_NC; after CONTINUE it
            # is at the end of the message, where QUIT_NC is allowed.
            return Milter.CONTINUE
        return Milter.ACCEPT

    Milter.factory = Test
    Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS | Milter.CHGBODY |
                     Milter.ADDRCPT | Milter.DELRCPT | Milter.CHGFROM |
                     Milter.QUARANTINE)
    Milter.runmilter("testmilter", address, 600)


def main():
    address, behaviour = sys.argv[1], sys.argv[2]
    arg = sys.argv[3] if len(sys.argv) > 3 else ""
    sys.stdout.write("testmilter %d\n" % os.getpid())
    sys.stdout.flush()
    if behaviour in RAW:
        raw_server(address, behaviour)
    else:
        pymilter_server(address, behaviour, arg)


if __name__ == "__main__":
    main()
