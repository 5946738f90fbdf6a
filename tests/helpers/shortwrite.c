/*
 * shortwrite.so: an LD_PRELOAD shim that makes the daemon's writes to one
 * TCP port's connections short, for the test of the reply path's
 * fallback (test_reply_flush.py).  Loopback sockets take megabytes
 * without a short write, so the path that hands the rest of a reply to
 * libevent's write event is otherwise never taken.
 *
 *   SHORTWRITE_PORT   the local port whose connections write short
 *   SHORTWRITE_MAX    at most this many octets per write (default 7)
 *   SHORTWRITE_MARK   a file made at the first shortened write
 *
 * writev, write and send on a stream socket whose local port is
 * SHORTWRITE_PORT pass at most SHORTWRITE_MAX octets on; everything else
 * goes through untouched.  Built without the sanitizers (it runs before
 * their runtime is set up).  Not installed.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static size_t
cap_for(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const char *port = getenv("SHORTWRITE_PORT"), *max;
	int type;
	socklen_t tlen = sizeof(type);
	unsigned local;

	if (port == NULL || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type,
	    &tlen) < 0 || type != SOCK_STREAM ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		local = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else if (ss.ss_family == AF_INET6)
		local = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	else
		return 0;
	if (local != (unsigned)atoi(port))
		return 0;
	max = getenv("SHORTWRITE_MAX");
	return max != NULL && atoi(max) > 0 ? (size_t)atoi(max) : 7;
}

static void
mark(void)
{
	static int done;
	const char *path = getenv("SHORTWRITE_MARK");
	int fd;

	if (done || path == NULL)
		return;
	done = 1;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
}

ssize_t
writev(int fd, const struct iovec *iov, int iovcnt)
{
	static ssize_t (*real)(int, const struct iovec *, int);
	size_t cap = cap_for(fd), total = 0;
	int i;

	if (real == NULL)
		real = (ssize_t (*)(int, const struct iovec *, int))
		    dlsym(RTLD_NEXT, "writev");
	if (cap == 0)
		return real(fd, iov, iovcnt);
	for (i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total <= cap)
		return real(fd, iov, iovcnt);
	mark();
	/* The first cap octets, from however many vectors hold them. */
	for (i = 0; i < iovcnt && iov[i].iov_len == 0; i++)
		;
	return write(fd, iov[i].iov_base,
	    iov[i].iov_len < cap ? iov[i].iov_len : cap);
}

ssize_t
write(int fd, const void *buf, size_t n)
{
	static ssize_t (*real)(int, const void *, size_t);
	size_t cap = cap_for(fd);

	if (real == NULL)
		real = (ssize_t (*)(int, const void *, size_t))
		    dlsym(RTLD_NEXT, "write");
	if (cap != 0 && n > cap) {
		mark();
		n = cap;
	}
	return real(fd, buf, n);
}

ssize_t
send(int fd, const void *buf, size_t n, int flags)
{
	static ssize_t (*real)(int, const void *, size_t, int);
	size_t cap = cap_for(fd);

	if (real == NULL)
		real = (ssize_t (*)(int, const void *, size_t, int))
		    dlsym(RTLD_NEXT, "send");
	if (cap != 0 && n > cap) {
		mark();
		n = cap;
	}
	return real(fd, buf, n, flags);
}
