/*
 * New-message notifications to the queue manager: one datagram holding
 * one queue id, from smtpd over the SOCK_DGRAM socketpair the master
 * creates, or from the decorum command over <spool>/qmgr.sock.
 * A lost datagram only delays delivery until the next periodic scan, so
 * sending is fire-and-forget (MSG_DONTWAIT) and never blocks a session.
 * The receiver trusts nothing: the id must be a valid queue id.
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

void
queue_notify_send(int fd, const char *id)
{
	size_t len = strlen(id);

	if (fd < 0 || len == 0 || len >= QUEUE_ID_MAX)
		return;
	while (send(fd, id, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
	    errno == EINTR)
		;
}

void
queue_notify_spool(const char *spool, const char *id)
{
	struct sockaddr_un sun;
	int fd, n;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", spool,
	    QMGR_SOCKET_NAME);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path))
		return;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		queue_notify_send(fd, id);
	close(fd);
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
	dgram[n] = '\0';
	if (!queue_id_valid(dgram))
		return -1;
	memcpy(id, dgram, (size_t)n + 1);
	return 0;
}
