"""Replies on a plaintext connection are written straight to the socket
once per loop pass (src/smtpd/session.c), all the replies of a pass in
one write; input waits while 64 KiB of replies do.  A client with a
small receive window that pipelines some 170 KiB of replies' worth of
commands, reading nothing until it has sent them all, gets every reply,
in order, and the session ends as it asked.  (Loopback sockets here
took all of even 5 MB of replies without a short write, so this does not
reach the write-event fallback for a full socket.)"""

import socket
import threading

PAIRS = 6000    # about 170 KiB of replies, 280 KiB of commands


def test_backed_up_replies_arrive_in_order(mta):
    m = mta(timeout_command=60)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Before connect, so the window is small from the start: the
    # server's socket fills and its writes stop short.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", m.port))
    sent = []

    def sender():
        sock.sendall(b"HELO client.example.org\r\n" +
                     b"MAIL FROM:<x@example.org>\r\nRSET\r\n" * PAIRS +
                     b"NOOP\r\nQUIT\r\n")
        sent.append(True)

    try:
        t = threading.Thread(target=sender, daemon=True)
        t.start()
        # Reading nothing until the sender is done or stuck lets the
        # replies fill the server's socket: its writes stop short and
        # it stops reading (then the sender is stuck).  What is checked
        # below holds however long this is.
        t.join(10)
        data = bytearray()
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        t.join(30)
        assert sent
    finally:
        sock.close()
    lines = bytes(data).split(b"\r\n")
    assert lines[-1] == b""
    want = ([b"220 mx.example.test ESMTP Decorum", b"250 mx.example.test"] +
            [b"250 2.1.0 Ok", b"250 2.0.0 Ok"] * PAIRS +
            [b"250 2.0.0 Ok", b"221 2.0.0 Bye"])
    assert lines[:-1] == want
