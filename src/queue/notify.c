/*
 * New-message notifications, smtpd -> queue manager: one datagram holding
 * one queue id, over the SOCK_DGRAM socketpair the master creates.
 * A lost datagram only delays delivery until the next periodic scan, so
 * sending is fire-and-forget (MSG_DONTWAIT) and never blocks a session.
 * The receiver trusts nothing: the id must be a valid queue id.
 */
#include "queue/notify.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "common/bounds.h"
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
