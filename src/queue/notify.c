/*
 * New-message notifications to the queue manager: one datagram holding
 * one queue id, from smtpd over the SOCK_DGRAM socketpair the master
 * creates, or from the decorum command over <spool>/qmgr.sock; and the
 * flush request (QUEUE_NOTIFY_FLUSH) of `decorum queue flush`.
 * A lost datagram only delays delivery until the next periodic scan, so
 * sending is fire-and-forget (MSG_DONTWAIT) and never blocks a session;
 * queue_notify_spool() says whether it went out, for the one caller
 * (flush) that must tell the operator.
 * The receiver trusts nothing: the datagram must be a valid queue id or
 * exactly the flush token.
 */
#include "queue/notify.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/bounds.h"
#include "queue/qmgr.h"
#include "queue/queue_id.h"

/* One datagram, never waiting; 0 when the kernel took it. */
static int
notify_send(int fd, const char *id)
{
	size_t len = strlen(id);
	ssize_t n;

	if (fd < 0 || len == 0 || len >= QUEUE_ID_MAX) {
		errno = EINVAL;
		return -1;
	}
	do
		n = send(fd, id, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -1 : 0;
}

void
queue_notify_send(int fd, const char *id)
{
	(void)notify_send(fd, id);
}

int
queue_notify_spool(const char *spool, const char *id)
{
	struct sockaddr_un sun;
	int fd, n, rc = -1, saved;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", spool,
	    QMGR_SOCKET_NAME);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* No socket file: ENOENT; a stale one (qmgr gone): ECONNREFUSED. */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		rc = notify_send(fd, id);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int
queue_notify_recv(int fd, char *id, size_t idlen)
{
	char dgram[QUEUE_ID_MAX + 1];
	ssize_t n;

	do
		n = recv(fd, dgram, sizeof(dgram), MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n <= 0 || (size_t)n >= QUEUE_ID_MAX || (size_t)n >= idlen)
		return -1;
	/* "flush\0junk" is not the token, nor "ID\0junk" an id. */
	if (memchr(dgram, '\0', (size_t)n) != NULL)
		return -1;
	dgram[n] = '\0';
	/* The flush token is spelt out: it must come through whatever
	 * queue_id_valid() may one day demand of an id. */
	if (strcmp(dgram, QUEUE_NOTIFY_FLUSH) != 0 && !queue_id_valid(dgram))
		return -1;
	memcpy(id, dgram, (size_t)n + 1);
	return 0;
}
