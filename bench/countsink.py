#!/usr/bin/python3
"""A counting SMTP sink for `make bench`: takes every message and throws
it away, like Postfix's smtp-sink, but also counts the connections that
carried no mail (issue 12, item 6), which smtp-sink cannot tell.

Usage: bench/countsink.py HOST PORT [--rcpt-reply "451 4.3.0 ..."]
                          [--name NAME]

Runs as a process of its own (one event loop, asyncio protocols, no
per-line coroutines), so its CPU is not the benchmark's Python.  Output on
stdout, in smtp-sink -c's format so that measure.SinkWatcher reads it
unchanged: "sess=N quit=N mesg=N" and a CR after every ended session,
QUIT and final dot (sess counts the ended sessions).  On SIGTERM it writes
one more line, "summary sess=N mesg=N empty=N max_open=N" and a LF, and
exits: empty counts the sessions that ended without a single message
accepted (EHLO, maybe RSET, QUIT: an idle connection).

--rcpt-reply: answer every RCPT with this reply instead of 250 (a
destination that defers: bench/growth.py).  EHLO announces PIPELINING,
8BITMIME, ENHANCEDSTATUSCODES and DSN, as smtp-sink does; not STARTTLS,
not SIZE.  Commands are answered in order, so pipelined ones work.
Limits: a line longer than 64 KiB outside DATA ends the session.
"""

import argparse
import asyncio
import signal
import sys

MAX_LINE = 65536


class Counts:
    def __init__(self):
        self.sess = self.quit = self.mesg = self.empty = 0
        self.open = self.max_open = 0

    def report(self):
        sys.stdout.buffer.write(b"sess=%d quit=%d mesg=%d\r" % (
            self.sess, self.quit, self.mesg))
        sys.stdout.buffer.flush()


class Session(asyncio.Protocol):
    def __init__(self, counts, name, rcpt_reply):
        self.c = counts
        self.name = name
        self.rcpt_reply = rcpt_reply
        self.buf = b""
        self.in_data = False
        self.carried = 0
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.c.open += 1
        self.c.max_open = max(self.c.max_open, self.c.open)
        transport.write(b"220 %s ESMTP countsink\r\n" % self.name)

    def connection_lost(self, _exc):
        self.c.open -= 1
        self.c.sess += 1
        if self.carried == 0:
            self.c.empty += 1
        self.c.report()

    def data_received(self, data):
        self.buf += data
        out = []
        while True:
            if self.in_data:
                end = self.buf.find(b"\r\n.\r\n")
                if end < 0:
                    # Keep the tail that may start the terminator.
                    if len(self.buf) > 4:
                        self.buf = self.buf[-4:]
                    break
                self.buf = self.buf[end + 5:]
                self.in_data = False
                self.carried += 1
                self.c.mesg += 1
                out.append(b"250 2.0.0 Ok: queued\r\n")
                self.c.report()
                continue
            nl = self.buf.find(b"\n")
            if nl < 0:
                if len(self.buf) > MAX_LINE:
                    self.transport.close()
                break
            line, self.buf = self.buf[:nl], self.buf[nl + 1:]
            if self.command(line.rstrip(b"\r"), out):
                break
        if out:
            self.transport.write(b"".join(out))

    def command(self, line, out):
        """Answer one command into out; True once the session ends."""
        verb = line[:4].upper()
        if verb == b"EHLO":
            out.append(b"250-%s\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                       b"250-ENHANCEDSTATUSCODES\r\n250 DSN\r\n" % self.name)
        elif verb == b"RCPT" and self.rcpt_reply:
            out.append(self.rcpt_reply + b"\r\n")
        elif verb == b"DATA":
            out.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            self.in_data = True
            # The terminator may follow at once: a message of no lines.
            self.buf = b"\r\n" + self.buf
        elif verb == b"QUIT":
            out.append(b"221 2.0.0 Bye\r\n")
            self.transport.write(b"".join(out))
            out.clear()
            self.c.quit += 1
            self.c.report()
            self.transport.close()
            return True
        else:
            out.append(b"250 2.0.0 Ok\r\n")
        return False


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--rcpt-reply", default="")
    p.add_argument("--name", default="sink.remote.example")
    a = p.parse_args()
    counts = Counts()
    loop = asyncio.new_event_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    loop.add_signal_handler(signal.SIGINT, stop.set_result, None)
    server = loop.run_until_complete(loop.create_server(
        lambda: Session(counts, a.name.encode(), a.rcpt_reply.encode()),
        a.host, a.port, backlog=256, reuse_address=True))
    loop.run_until_complete(stop)
    server.close()
    # Sessions still open are counted as they are at the stop.
    sys.stdout.buffer.write(b"\nsummary sess=%d mesg=%d empty=%d "
                            b"max_open=%d open=%d\n" % (
                                counts.sess, counts.mesg, counts.empty,
                                counts.max_open, counts.open))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
