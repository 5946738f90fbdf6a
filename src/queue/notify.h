/*
 * "A new message is queued": the one message smtpd sends the queue
 * manager, over a SOCK_DGRAM socketpair created by the master.  Losing a
 * notification is harmless (the queue manager also scans the queue
 * periodically), so sending never blocks and never fails loudly.
 */
#ifndef DECORUM_QUEUE_NOTIFY_H
#define DECORUM_QUEUE_NOTIFY_H

#include <stddef.h>

void queue_notify_send(int fd, const char *id);
/* The same, from outside the daemon (sendmail, queue release): one
 * datagram to the qmgr's socket <spool>/qmgr.sock, if it is listening. */
void queue_notify_spool(const char *spool, const char *id);
/* Reads one notification; 0 and id filled, or -1 (EAGAIN or garbage). */
int queue_notify_recv(int fd, char *id, size_t idlen);

#endif
