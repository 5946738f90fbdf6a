/*
 * What the milter client sends (milter_client.h): the SMTP session of
 * one message replayed as milter steps, each after its macros, skipped
 * or left unanswered as negotiated.  The message is read through
 * scan_message only: the header section from memory, the body with
 * pread() one chunk at a time (the spool file was just written: page
 * cache), never more than two chunks queued ahead of the socket.
 *
 * Trusts the message and the session facts (our own); the milter's
 * macro lists are matched against the names we know, never echoed.
 */
#include "scan/milter_client_int.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MCL_NAME	"Decorum"

/* The macros we know, and where Postfix sends each by default. */
enum macro_id {
	M_I, M_J, M_DAEMON_NAME, M_V, M_CLIENT_ADDR, M_CLIENT_NAME,
	M_CLIENT_PORT, M_TLS_VERSION, M_AUTH_AUTHEN, M_MAIL_ADDR, M_RCPT_ADDR,
	M_COUNT
};

static const struct {
	const char *name;
	unsigned stages;	/* 1 << enum milter_stage: sent by default */
} macros[M_COUNT] = {
	[M_I] = { "i", 1u << MILTER_STAGE_MAIL | 1u << MILTER_STAGE_DATA |
	    1u << MILTER_STAGE_EOH | 1u << MILTER_STAGE_EOM },
	[M_J] = { "j", 1u << MILTER_STAGE_CONNECT },
	[M_DAEMON_NAME] = { "{daemon_name}", 1u << MILTER_STAGE_CONNECT },
	[M_V] = { "v", 1u << MILTER_STAGE_CONNECT },
	[M_CLIENT_ADDR] = { "{client_addr}", 1u << MILTER_STAGE_CONNECT },
	[M_CLIENT_NAME] = { "{client_name}", 1u << MILTER_STAGE_CONNECT },
	[M_CLIENT_PORT] = { "{client_port}", 1u << MILTER_STAGE_CONNECT },
	[M_TLS_VERSION] = { "{tls_version}", 1u << MILTER_STAGE_HELO |
	    1u << MILTER_STAGE_MAIL },
	[M_AUTH_AUTHEN] = { "{auth_authen}", 1u << MILTER_STAGE_MAIL },
	[M_MAIL_ADDR] = { "{mail_addr}", 1u << MILTER_STAGE_MAIL },
	[M_RCPT_ADDR] = { "{rcpt_addr}", 1u << MILTER_STAGE_RCPT },
};

/* The value of macro id now, or NULL when it has none (not sent). */
static const char *
macro_value(const struct milter_client *c, enum macro_id id, char *port,
    size_t portlen)
{
	const struct scan_message *m = c->msg;

	switch (id) {
	case M_I: return m->queue_id;
	case M_J: return m->hostname;
	case M_DAEMON_NAME: return m->hostname;
	case M_V: return MCL_NAME;
	case M_CLIENT_ADDR: return m->client_ip;
	/* Postfix's word for a client without a verified name. */
	case M_CLIENT_NAME:
		return m->client_name != NULL ? m->client_name : "unknown";
	case M_CLIENT_PORT:
		snprintf(port, portlen, "%u", (unsigned)m->client_port);
		return port;
	case M_TLS_VERSION: return m->tls_version;
	case M_AUTH_AUTHEN: return m->auth_login;
	case M_MAIL_ADDR: return m->sender;
	case M_RCPT_ADDR:
		return c->rcpt_i < m->n_rcpts ? m->rcpts[c->rcpt_i] : NULL;
	case M_COUNT: break;
	}
	return NULL;
}

/* Whether the milter's list for a stage names macro id: its names are
 * matched whole, as Postfix does ("{mail_addr}", not "mail_addr"). */
static bool
listed(const char *list, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = list; *p != '\0';) {
		size_t n = strcspn(p, " ");

		if (n == len && memcmp(p, name, len) == 0)
			return true;
		p += n;
		p += strspn(p, " ");
	}
	return false;
}

/* The macros of stage, before its command; none: no packet. */
static bool
send_macros(struct milter_client *c, enum milter_stage stage)
{
	const struct milter_agreed *a = &c->agreed;
	struct milter_macro m[M_COUNT];
	char port[8];
	size_t n = 0;

	for (int id = 0; id < M_COUNT; id++) {
		bool want = a->has_symlist[stage]
		    ? listed(a->symlist[stage], macros[id].name)
		    : (macros[id].stages & 1u << stage) != 0;
		const char *v = want ? macro_value(c, (enum macro_id)id, port,
		    sizeof(port)) : NULL;

		if (v != NULL) {
			m[n].name = macros[id].name;
			m[n++].value = v;
		}
	}
	if (n == 0)
		return true;
	return mcl_send(c, milter_enc_macros(c->pkt, sizeof(c->pkt),
	    milter_stage_cmd(stage), m, n), "a macro");
}

/* After a step's packet: wait for its reply unless it gets none. */
static void
sent(struct milter_client *c, enum milter_step s)
{
	if (milter_step_replied(&c->agreed, s))
		mcl_wait(c, s, s == MILTER_STEP_EOB ? c->mc->eom_timeout
		    : c->mc->command_timeout);
}

static void
step_connect(struct milter_client *c)
{
	const struct scan_message *m = c->msg;
	enum milter_family fam = m->client_ip == NULL ? MILTER_FAMILY_UNKNOWN
	    : m->client_ipv6 ? MILTER_FAMILY_INET6 : MILTER_FAMILY_INET;
	char name[SCAN_DETAIL_MAX];

	if (m->client_name != NULL)
		snprintf(name, sizeof(name), "%s", m->client_name);
	else
		snprintf(name, sizeof(name), "[%s]",
		    m->client_ip != NULL ? m->client_ip : "unknown");
	if (send_macros(c, MILTER_STAGE_CONNECT) &&
	    mcl_send(c, milter_enc_connect(c->pkt, sizeof(c->pkt), name, fam,
	    m->client_port, m->client_ip != NULL ? m->client_ip : ""),
	    "CONNECT"))
		sent(c, MILTER_STEP_CONNECT);
}

/* MAIL or RCPT with its path in angle brackets, no ESMTP arguments
 * (the spool keeps none a milter would use). */
static void
step_envelope(struct milter_client *c, enum milter_stage stage,
    enum milter_cmd cmd, enum milter_step s, const char *addr)
{
	char path[2 * SMTP_ADDRESS_MAX];

	snprintf(path, sizeof(path), "<%s>", addr);
	if (send_macros(c, stage) &&
	    mcl_send(c, milter_enc_envelope(c->pkt, sizeof(c->pkt), cmd, path,
	    NULL, 0), cmd == MILTER_C_MAIL ? "MAIL" : "RCPT"))
		sent(c, s);
}

static void
step_simple(struct milter_client *c, enum milter_stage stage,
    enum milter_cmd cmd, enum milter_step s, const char *what)
{
	if (send_macros(c, stage) &&
	    mcl_send(c, milter_enc_simple(c->pkt, sizeof(c->pkt), cmd), what))
		sent(c, s);
}

/* The end of the field at off: a CRLF not followed by SP or HTAB. */
static size_t
field_end(const char *h, size_t len, size_t off)
{
	for (size_t i = off; i + 1 < len; i++)
		if (h[i] == '\r' && h[i + 1] == '\n' &&
		    (i + 2 >= len || (h[i + 2] != ' ' && h[i + 2] != '\t')))
			return i;
	return len;
}

/*
 * One header field as Postfix sends it: the name up to the colon, the
 * value after it without its first space unless the milter asked for
 * HDR_LEADSPC (Sendmail's habit, which libmilter filters expect), and
 * each fold's CRLF as a bare LF (Postfix holds folded fields that way,
 * so milters written against it expect "\n" + SP/HTAB).
 */
static void
step_header(struct milter_client *c)
{
	const char *h = c->msg->headers;
	size_t end = field_end(h, c->msg->headers_len, c->hdr_off);
	size_t o = 0, i = c->hdr_off;
	char *colon;

	c->hdr_off = end + 2;
	if (end - i > MILTER_DATA_MAX - 2) {
		mcl_fail(c, "a header field does not fit in a milter packet");
		return;
	}
	for (; i < end; i++) {
		if (h[i] == '\r' && i + 1 < end && h[i + 1] == '\n')
			continue;
		c->chunk[o++] = h[i];
	}
	c->chunk[o] = '\0';
	colon = memchr(c->chunk, ':', o);
	if (colon == NULL)
		colon = c->chunk + o;	/* a stray line: all name */
	else
		*colon++ = '\0';
	if ((c->agreed.proto & MILTER_P_HDR_LEADSPC) == 0 && *colon == ' ')
		colon++;
	if (mcl_send(c, milter_enc_header(c->pkt, sizeof(c->pkt), c->chunk,
	    colon), "a header field"))
		sent(c, MILTER_STEP_HEADER);
}

/* One chunk of the body; false: the output is full, wait for room. */
static bool
step_body(struct milter_client *c)
{
	const struct scan_message *m = c->msg;
	size_t len = m->size - c->body_off > MILTER_DATA_MAX ? MILTER_DATA_MAX
	    : (size_t)(m->size - c->body_off);
	ssize_t n;

	if (evbuffer_get_length(bufferevent_get_output(c->bev)) >
	    MCL_OUT_MAX) {
		mcl_arm(c, c->mc->command_timeout);
		return false;
	}
	n = pread(m->fd, c->chunk, len, (off_t)c->body_off);
	if (n <= 0) {
		mcl_fail(c, "cannot read the message: %s",
		    n < 0 ? strerror(errno) : "shorter than its size");
		return true;
	}
	c->body_off += (uint64_t)n;
	if (mcl_send(c, milter_enc_body(c->pkt, sizeof(c->pkt), c->chunk,
	    (size_t)n), "a body chunk"))
		sent(c, MILTER_STEP_BODY);
	return true;
}

/* The next step of phase p: true to go on, false to wait for room. */
static bool
step(struct milter_client *c)
{
	const struct milter_agreed *a = &c->agreed;
	const struct scan_message *m = c->msg;

	switch (c->phase) {
	case MCL_CONNECT:
		c->phase = MCL_HELO;
		if (milter_step_sent(a, MILTER_STEP_CONNECT))
			step_connect(c);
		return true;
	case MCL_HELO:
		c->phase = MCL_MAIL;
		/* Postfix sends HELO only when the client gave one. */
		if (milter_step_sent(a, MILTER_STEP_HELO) && m->helo != NULL &&
		    m->helo[0] != '\0' && send_macros(c, MILTER_STAGE_HELO) &&
		    mcl_send(c, milter_enc_helo(c->pkt, sizeof(c->pkt),
		    m->helo), "HELO"))
			sent(c, MILTER_STEP_HELO);
		return true;
	case MCL_MAIL:
		c->phase = MCL_RCPT;
		if (milter_step_sent(a, MILTER_STEP_MAIL))
			step_envelope(c, MILTER_STAGE_MAIL, MILTER_C_MAIL,
			    MILTER_STEP_MAIL, m->sender);
		return true;
	case MCL_RCPT:
		if (c->rcpt_i >= m->n_rcpts || !milter_step_sent(a,
		    MILTER_STEP_RCPT)) {
			c->phase = MCL_DATA;
			return true;
		}
		step_envelope(c, MILTER_STAGE_RCPT, MILTER_C_RCPT,
		    MILTER_STEP_RCPT, m->rcpts[c->rcpt_i]);
		c->rcpt_i++;
		return true;
	case MCL_DATA:
		c->phase = MCL_HEADER;
		if (milter_step_sent(a, MILTER_STEP_DATA))
			step_simple(c, MILTER_STAGE_DATA, MILTER_C_DATA,
			    MILTER_STEP_DATA, "DATA");
		return true;
	case MCL_HEADER:
		if (c->hdr_off >= m->headers_len ||
		    !milter_step_sent(a, MILTER_STEP_HEADER))
			c->phase = MCL_EOH;
		else
			step_header(c);
		return true;
	case MCL_EOH:
		c->phase = MCL_BODY;
		c->body_off = m->body_offset;
		if (milter_step_sent(a, MILTER_STEP_EOH))
			step_simple(c, MILTER_STAGE_EOH, MILTER_C_EOH,
			    MILTER_STEP_EOH, "end of header");
		return true;
	case MCL_BODY:
		if (c->body_off >= m->size ||
		    !milter_step_sent(a, MILTER_STEP_BODY)) {
			c->phase = MCL_EOB;
			return true;
		}
		return step_body(c);
	case MCL_EOB:
		step_simple(c, MILTER_STAGE_EOM, MILTER_C_EOB, MILTER_STEP_EOB,
		    "end of body");
		return true;
	default:
		return false;
	}
}

void
mcl_advance(struct milter_client *c)
{
	while (c->phase != MCL_OVER && !c->waiting && step(c))
		;
}
