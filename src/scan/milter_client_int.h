/*
 * The milter client's parts (milter_client.h), shared by its three
 * files and no one else: milter_client.c owns the connection, the timer
 * and the end; milter_client_steps.c decides what to send next;
 * milter_client_reply.c turns each reply into the scan result.
 */
#ifndef DECORUM_SCAN_MILTER_CLIENT_INT_H
#define DECORUM_SCAN_MILTER_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scan/milter_client.h"
#include "scan/milter_proto.h"

struct bufferevent;
struct event;
struct event_base;

/* Octets queued ahead of the socket over which the body waits for room
 * (the write callback comes back at this mark): two packets at most. */
#define MCL_OUT_MAX	MILTER_PACKET_MAX

/* Where the replay is: the step to send next, or the one awaited. */
enum mcl_phase {
	MCL_CONNECTING,		/* TCP or unix connect */
	MCL_OPTNEG,		/* our OPTNEG sent, its reply awaited */
	MCL_CONNECT,
	MCL_HELO,
	MCL_MAIL,
	MCL_RCPT,		/* rcpt_i: the next recipient */
	MCL_DATA,
	MCL_HEADER,		/* hdr_off: the next field */
	MCL_EOH,
	MCL_BODY,		/* body_off: the next chunk */
	MCL_EOB,
	MCL_OVER,		/* the result is final: conclude */
};

struct milter_client {
	struct event_base *base;
	const struct milter_conf *mc;
	const struct scan_message *msg;
	struct scan_result *res;
	scan_done_fn *done;
	void *arg;
	size_t max_body;

	struct milter_pool *pool;	/* NULL: one connection per message */
	struct bufferevent *bev;
	struct event *timer;	/* the wait in progress */
	struct event *later;	/* the first step, or an error known inside start */
	int connect_errno;
	bool connected;
	/* The connection came from the pool and no reply came on it yet:
	 * a failure now is a stale connection, retried on a fresh one. */
	bool reused;
	bool replied;
	bool eob_replied;	/* the verdict answered the end of body */

	enum mcl_phase phase;
	/* A reply is awaited for step wstep (else we are sending). */
	bool waiting;
	enum milter_step wstep;
	unsigned wait_secs;	/* PROGRESS restarts the timer with it */
	size_t rcpt_i;
	size_t hdr_off;
	uint64_t body_off;

	struct milter_agreed agreed;
	struct milter_decoder dec;
	/* One packet out, and the octets it is built from (a body chunk or
	 * one header field, NUL-terminated). */
	uint8_t pkt[MILTER_PACKET_MAX];
	char chunk[MILTER_DATA_MAX + 1];
};

/* Queues len octets of c->pkt; false (and the result failed) when the
 * encoder returned 0. */
bool mcl_send(struct milter_client *c, size_t len, const char *what);
/* Waits secs for a reply to step s. */
void mcl_wait(struct milter_client *c, enum milter_step s, unsigned secs);
/* (Re)arms the timer for secs (what is being waited for: any). */
void mcl_arm(struct milter_client *c, unsigned secs);
/* The result is failed with the reason; the conversation is over. */
void mcl_fail(struct milter_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* What is being waited for ("end of body"), for failure details. */
const char *mcl_doing(const struct milter_client *c);

/* Sends what comes next until a reply must be awaited, the output is
 * full enough, or the conversation is over (milter_client_steps.c). */
void mcl_advance(struct milter_client *c);
/* One decoded reply (milter_client_reply.c). */
void mcl_reply(struct milter_client *c, const struct milter_reply *r);

#endif
