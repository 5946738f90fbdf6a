/*
 * One transaction on an outbound SMTP/LMTP connection (see
 * smtp_client.h; the connection itself is smtp_client.c, what both share
 * smtp_client_priv.h).
 *
 * smtp_conn_send() starts it on an idle connection; ops->done ends it,
 * with every recipient's result filled.  A transaction is a FIFO of the
 * replies we expect (MAIL, each RCPT, DATA, then the final reply, or one
 * per accepted recipient for LMTP): with PIPELINING the commands go out
 * in one write and the replies are matched in order (RFC 2920 3.1),
 * without it one command at a time.  The message data is read from the
 * spool ahead by worker threads (smtp_client_data.c), from the start of
 * the transaction on, and streams dot-stuffed as the socket drains.
 *
 * The connection hands over each reply (smtp_tx_reply()), each drained
 * socket while sending data (smtp_tx_stream_data()), and its own failure
 * (smtp_tx_fill_unfinished(), smtp_tx_done()).  A failure never loses a
 * recipient: whatever has no final answer is a temporary failure.  A
 * transaction that ends with input nobody asked for still unread leaves
 * its connection unusable: the replies would be out of step with the
 * commands of the next one.
 */
#include "deliver/smtp_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "deliver/smtp_client_priv.h"
#include "smtp/client_proto.h"

/* While the message streams out the server is silent: only a write
 * that makes no progress for a data-block time is a timeout. */
static void
set_data_timeout(struct smtp_conn *c)
{
	struct timeval tv = { (time_t)c->p.timeout_data_block, 0 };

	bufferevent_set_timeouts(c->bev, NULL, &tv);
}

static void
expect(struct smtp_conn *c, enum expect what, size_t rcpt)
{
	c->x[c->x_tail].what = what;
	c->x[c->x_tail].rcpt = rcpt;
	c->x_tail++;
}

static void
send_mail(struct smtp_conn *c)
{
	struct smtp_client_msg *m = c->m;
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_add_printf(out, "MAIL FROM:<%s>", m->sender);
	if (c->caps.size)
		evbuffer_add_printf(out, " SIZE=%lld", (long long)m->data_size);
	if (m->eightbit && c->caps.eightbitmime)
		evbuffer_add_printf(out, " BODY=8BITMIME");
	if (m->smtputf8 && c->caps.smtputf8)
		evbuffer_add_printf(out, " SMTPUTF8");
	evbuffer_add(out, "\r\n", 2);
	expect(c, X_MAIL, 0);
}

static void
send_rcpt(struct smtp_conn *c, size_t i)
{
	evbuffer_add_printf(bufferevent_get_output(c->bev), "RCPT TO:<%s>\r\n",
	    c->m->rcpts[i].addr);
	expect(c, X_RCPT, i);
}

static void
send_data_cmd(struct smtp_conn *c)
{
	smtpc_line(c, "DATA");
	expect(c, X_DATA, 0);
	/* Pipelined, DATA's reply comes after MAIL's and the RCPTs': the
	 * longer wait of the group applies. */
	if (!c->caps.pipelining)
		smtpc_timeout(c, c->p.timeout_data_init);
}

/* Every recipient without a result gets res (a whole-message outcome). */
void
smtp_tx_fill_unfinished(struct smtp_conn *c, const struct deliver_result *res)
{
	for (size_t i = 0; i < c->m->n_rcpts; i++)
		if (c->m->rcpts[i].res.code[0] == '\0')
			c->m->rcpts[i].res = *res;
}

/*
 * Input that no command asked for is still there when the transaction
 * ends (a reply the server sent on its own, or read no further because
 * the transaction ended first): the next transaction would take it for
 * the answer to its MAIL.  Such a connection is out of step for good.
 */
static bool
tx_input_left(struct smtp_conn *c)
{
	return evbuffer_get_length(bufferevent_get_input(c->bev)) > 0 ||
	    smtp_client_reader_partial(&c->rd);
}

void
smtp_tx_done(struct smtp_conn *c)
{
	struct smtp_client_msg *m = c->m;

	c->m = NULL;
	smtp_data_release(c->data);
	c->data = NULL;
	if (c->data_wait != NULL)
		evtimer_del(c->data_wait);
	if (c->usable && tx_input_left(c))
		c->usable = false;
	if (c->usable) {
		c->state = C_IDLE;
		smtpc_timeout(c, 0);
	}
	c->ops->done(c->arg, c, m);
}

/* The transaction is over without a final DATA reply: reset the
 * server's state before the connection serves another message. */
static void
tx_end_reset(struct smtp_conn *c)
{
	smtpc_line(c, "RSET");
	c->state = C_RSET;
	smtpc_timeout(c, c->p.timeout_command);
}

/* Checks that need the server's capabilities, before MAIL. */
static bool
tx_precheck(struct smtp_conn *c, struct deliver_result *res)
{
	struct smtp_client_msg *m = c->m;
	char text[384];

	if (c->caps.size && c->caps.size_max > 0 &&
	    (uint64_t)m->data_size > c->caps.size_max) {
		/* RFC 1870 6: a fixed limit the message exceeds: permanent. */
		smtpc_textf(text, sizeof(text), "host %s[%s] accepts at "
		    "most %llu octets; the message has %lld", c->name, c->ip,
		    (unsigned long long)c->caps.size_max,
		    (long long)m->data_size);
		smtpc_result(res, DELIVER_PERMFAIL, "5.3.4", text);
		return false;
	}
	if (m->smtputf8 && !c->caps.smtputf8) {
		/* RFC 6531 3.4: no downgrade of addresses; bounce. */
		smtpc_textf(text, sizeof(text), "host %s[%s] does not "
		    "support SMTPUTF8, which this message needs", c->name,
		    c->ip);
		smtpc_result(res, DELIVER_PERMFAIL, "5.6.7", text);
		return false;
	}
	if (m->eightbit && !c->caps.eightbitmime) {
		/* RFC 6152 3: no 8-bit data to a 7-bit server; Decorum does
		 * not convert to quoted-printable (docs/delivery.md). */
		smtpc_textf(text, sizeof(text), "host %s[%s] does not "
		    "support 8BITMIME, which this message needs", c->name,
		    c->ip);
		smtpc_result(res, DELIVER_PERMFAIL, "5.6.3", text);
		return false;
	}
	return true;
}

static void
tx_fail_later_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	smtp_tx_done(arg);
}

/* A chunk of data was read: stream it if the server waits for it (else
 * it waits for the 354). */
static void
tx_data_ready(void *arg)
{
	struct smtp_conn *c = arg;

	if (c->data_wait != NULL)
		evtimer_del(c->data_wait);
	if (c->state == C_DATA)
		smtp_tx_stream_data(c);
}

void
smtp_conn_send(struct smtp_conn *c, struct smtp_client_msg *m)
{
	struct deliver_result res;

	c->m = m;
	for (size_t i = 0; i < m->n_rcpts; i++)
		memset(&m->rcpts[i].res, 0, sizeof(m->rcpts[i].res));
	free(c->x);
	free(c->accepted);
	c->x = xcalloc(2 * m->n_rcpts + 4, sizeof(*c->x));
	c->accepted = xcalloc(m->n_rcpts + 1, sizeof(*c->accepted));
	c->x_head = c->x_tail = 0;
	c->n_accepted = 0;
	c->next_rcpt = 0;
	c->mail_ok = false;
	memset(&c->mail_fail, 0, sizeof(c->mail_fail));
	if (!tx_precheck(c, &res)) {
		smtp_tx_fill_unfinished(c, &res);
		c->state = C_FAILING;
		/* Never call back from inside the caller's call. */
		smtpc_later(c, tx_fail_later_cb);
		return;
	}
	/* The first chunk is read while the envelope is answered. */
	c->data = smtp_data_open(c->p.pool, m->data_dir, m->data_name,
	    m->data_size, tx_data_ready, c);
	c->state = C_TX;
	smtpc_timeout(c, c->p.timeout_command);
	send_mail(c);
	if (c->caps.pipelining) {
		for (size_t i = 0; i < m->n_rcpts; i++)
			send_rcpt(c, i);
		c->next_rcpt = m->n_rcpts;
		send_data_cmd(c);
	}
}

/* The data does not come.  The server may have part of the message:
 * only closing the connection keeps it from delivering that. */
static void
tx_data_abort(struct smtp_conn *c, const char *text)
{
	struct deliver_result res;

	smtpc_result(&res, DELIVER_TEMPFAIL, "4.3.0", text);
	smtp_tx_fill_unfinished(c, &res);
	c->usable = false;
	c->state = C_FAILING;
	smtpc_later(c, tx_fail_later_cb);
}

static void
tx_data_failed(struct smtp_conn *c)
{
	log_warn("event=spool-error id=%s op=read errno=%d", c->m->id, errno);
	tx_data_abort(c, "queued message data unreadable");
}

/* The next chunk took a data block's time (a worker stuck on the disk):
 * the server waits with part of the message, and would wait forever. */
static void
tx_data_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->state != C_DATA)
		return;
	log_warn("event=spool-error id=%s op=read reason=\"timed out\" "
	    "seconds=%u", c->m->id, c->p.timeout_data_block);
	tx_data_abort(c, "queued message data not read in time");
}

/* The socket wants data the workers have not read yet: the write
 * timeout cannot see that wait (an empty buffer is no write), so a timer
 * of its own bounds it, from the first moment the chunk was wanted. */
static void
tx_data_wait(struct smtp_conn *c)
{
	struct timeval tv = { (time_t)c->p.timeout_data_block, 0 };

	if (c->data_wait == NULL) {
		c->data_wait = evtimer_new(c->base, tx_data_wait_cb, c);
		if (c->data_wait == NULL)
			panic("cannot create a timer");
	}
	if (!evtimer_pending(c->data_wait, NULL))
		evtimer_add(c->data_wait, &tv);
}

/* Fill the socket with message data until the high-water mark, from
 * the chunks read ahead; a chunk not read yet calls again when it is. */
void
smtp_tx_stream_data(struct smtp_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char *stuffed, end[8];
	const char *in;
	size_t n, len;
	int rc;

	while (evbuffer_get_length(out) < DATA_HIGH_WATER) {
		rc = smtp_data_peek(c->data, &in, &n);
		if (rc == 0) {
			tx_data_wait(c);
			return;		/* tx_data_ready calls again */
		}
		if (rc < 0) {
			tx_data_failed(c);
			return;
		}
		if (n == 0)
			break;
		stuffed = xmalloc(2 * n);
		len = smtp_dot_stuff(&c->ds, in, n, stuffed);
		evbuffer_add(out, stuffed, len);
		free(stuffed);
		smtp_data_next(c->data);
	}
	if (evbuffer_get_length(out) >= DATA_HIGH_WATER)
		return;		/* conn_write_cb calls again */
	len = smtp_dot_end(&c->ds, end);
	evbuffer_add(out, end, len);
	c->state = C_TX;
	smtpc_timeout(c, c->p.timeout_data_end);
	if (!c->p.lmtp) {
		expect(c, X_DOT, 0);
		return;
	}
	/* RFC 2033 4.2: one reply per accepted recipient, in order. */
	for (size_t i = 0; i < c->n_accepted; i++)
		expect(c, X_DOT, c->accepted[i]);
}

static void
on_mail_reply(struct smtp_conn *c)
{
	c->mail_ok = c->reply.code / 100 == 2;
	if (!c->mail_ok)
		smtpc_reply_result(c, &c->reply, "MAIL FROM",
		    &c->mail_fail);
	if (c->caps.pipelining)
		return;
	if (!c->mail_ok) {
		smtp_tx_fill_unfinished(c, &c->mail_fail);
		tx_end_reset(c);
		return;
	}
	send_rcpt(c, c->next_rcpt++);
}

static void
on_rcpt_reply(struct smtp_conn *c, size_t i)
{
	struct smtp_client_rcpt *r = &c->m->rcpts[i];

	if (!c->mail_ok)
		r->res = c->mail_fail;
	else if (c->reply.code / 100 == 2)
		c->accepted[c->n_accepted++] = i;
	else
		smtpc_reply_result(c, &c->reply, "RCPT TO", &r->res);
	if (c->caps.pipelining)
		return;
	if (c->next_rcpt < c->m->n_rcpts)
		send_rcpt(c, c->next_rcpt++);
	else if (c->n_accepted > 0)
		send_data_cmd(c);
	else
		tx_end_reset(c);
}

static void
on_data_reply(struct smtp_conn *c)
{
	struct deliver_result res;

	if (c->reply.code == 354 && c->mail_ok && c->n_accepted > 0) {
		smtp_dot_stuffer_init(&c->ds);
		c->state = C_DATA;
		set_data_timeout(c);
		smtp_tx_stream_data(c);
		return;
	}
	if (c->reply.code == 354) {
		/* RFC 2920 3.1: DATA went out with every RCPT refused;
		 * an empty message ends it, and nothing is delivered. */
		smtpc_line(c, ".");
		expect(c, X_DOT_EMPTY, 0);
		return;
	}
	smtpc_reply_result(c, &c->reply, "DATA", &res);
	if (res.status == DELIVER_OK)
		res.status = DELIVER_TEMPFAIL;
	smtp_tx_fill_unfinished(c, &res);
	tx_end_reset(c);
}

static void
on_dot_reply(struct smtp_conn *c, size_t rcpt)
{
	struct deliver_result res;

	smtpc_reply_result(c, &c->reply, "end of DATA", &res);
	if (c->p.lmtp)
		c->m->rcpts[rcpt].res = res;
	else
		for (size_t i = 0; i < c->n_accepted; i++)
			c->m->rcpts[c->accepted[i]].res = res;
}

/*
 * RFC 5321 3.8: a 421 says the server is closing the channel, whatever
 * it answers: nothing after it will be answered, and the connection
 * carries no further message.  Every recipient without an answer gets
 * the 421 (a temporary failure); the owner closes the connection.
 */
static void
tx_server_closing(struct smtp_conn *c)
{
	static const char *const what[] = {
		"MAIL FROM", "RCPT TO", "DATA", "end of DATA", "end of DATA",
	};
	struct deliver_result res;

	smtpc_reply_result(c, &c->reply, c->x_head < c->x_tail ?
	    what[c->x[c->x_head].what] : "the message data", &res);
	c->usable = false;
	smtp_tx_fill_unfinished(c, &res);
	smtp_tx_done(c);
}

/* Returns -1 when c was freed or handed back (stop reading). */
int
smtp_tx_reply(struct smtp_conn *c)
{
	struct expectation x;

	if (c->reply.code == 421) {
		tx_server_closing(c);
		return -1;
	}
	if (c->x_head == c->x_tail)
		return -2;	/* a reply nobody asked for */
	x = c->x[c->x_head++];
	switch (x.what) {
	case X_MAIL:
		on_mail_reply(c);
		break;
	case X_RCPT:
		on_rcpt_reply(c, x.rcpt);
		break;
	case X_DATA:
		on_data_reply(c);
		break;
	case X_DOT:
		on_dot_reply(c, x.rcpt);
		break;
	case X_DOT_EMPTY:
		break;
	}
	if (c->state == C_TX && c->x_head == c->x_tail) {
		/* Everything answered.  Refused MAIL or every RCPT refused
		 * under PIPELINING leaves a state to reset. */
		if (x.what == X_DOT) {
			smtp_tx_done(c);
			return -1;
		}
		tx_end_reset(c);
	}
	return c->state == C_TX || c->state == C_RSET || c->state == C_DATA
	    ? 0 : -1;
}
