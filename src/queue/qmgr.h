/*
 * The queue manager: runs in its own unprivileged process, scans the spool
 * at start (recovery after a crash), takes notifications of new messages,
 * and hands each pending recipient to a delivery agent, retrying with
 * backoff (queue.retry_min .. queue.retry_max) until queue.lifetime.
 */
#ifndef DECORUM_QUEUE_QMGR_H
#define DECORUM_QUEUE_QMGR_H

struct config;

/* The qmgr's notification socket in the spool folder: a SOCK_DGRAM unix
 * socket taking the same datagrams as the smtpd socketpair (one queue
 * id each; queue_notify_send() writes them).  For local submission
 * (sendmail); when absent, the periodic scan finds the mail anyway. */
#define QMGR_SOCKET_NAME	"qmgr.sock"

/* Runs until SIGTERM/SIGINT; returns the process exit status.
 * notify_fd: the receiving end of the notify socketpair (or -1). */
int qmgr_main(const struct config *cfg, int notify_fd);

#endif
