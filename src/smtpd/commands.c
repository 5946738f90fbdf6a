/*
 * What each SMTP command does (RFC 5321 4.1.1), as a table of handlers
 * that return a reply.  session.c frames the input and sends the reply;
 * this file decides it.
 *
 * Sequence rules (RFC 5321 4.1.4): MAIL needs HELO/EHLO and no open
 * transaction; RCPT needs MAIL; DATA needs an accepted RCPT.  HELO, EHLO
 * and RSET end a transaction.  Recipient decisions come from
 * route_resolve(), the one routing function shared with delivery and
 * `decorum route`; this file only turns its verdict into a reply.
 *
 * A recipient routing accepted then meets the inbound policy
 * (src/policy): per recipient, after routing, so an unknown user gets
 * its 550 5.1.1 first and the exempt mailboxes are reached by anyone.
 * Authenticated clients skip it, relay_networks have no policy at all.
 * When a check has not answered yet the RCPT waits in SESSION_POLICY,
 * reading nothing more, until policy.c wakes it from the loop; the wait
 * ends with the transaction (session_reset_tx), so a client that leaves,
 * a timeout or a shutdown cancels it.  Greylisting answers at DATA
 * (docs/policy.md): DATA waits for the store the same way, and a 451
 * there ends the transaction.
 */
#include "smtpd/session_internal.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "common/config.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "policy/policy.h"
#include "queue/spool.h"
#include "route/domains.h"
#include "route/route.h"
#include "route/senders.h"
#include "smtp/command.h"
#include "smtpd/server.h"

/* Flags of a command table entry. */
#define CMD_NEEDS_HELO	0x01	/* 503 before HELO/EHLO */
#define CMD_BEFORE_TLS	0x02	/* allowed on submission before STARTTLS */

struct command_entry {
	enum smtp_verb verb;
	unsigned flags;
	void (*handler)(struct session *s, const struct smtp_command *c,
	    struct smtp_reply *r);
};

void
session_reset_tx(struct session *s)
{
	struct transaction *tx = s->tx;

	if (tx == NULL)
		return;
	session_scan_cancel(tx);
	policy_wait_cancel(s->policy);
	policy_tx_end(s->policy);
	free(tx->waiting_arg);
	free(tx->waiting_rcpt);
	for (unsigned i = 0; i < tx->n_rcpts; i++)
		free(tx->rcpts[i]);
	free(tx->rcpts);
	if (tx->writer != NULL)
		spool_writer_abort(tx->writer);
	buf_free(&tx->data);
	buf_free(&tx->headers);
	buf_free(&tx->received);
	free(tx);
	s->tx = NULL;
}

static bool
starttls_offered(const struct session *s)
{
	return s->lc->tls == TLS_MODE_STARTTLS && !s->tls && s->srv->tls != NULL;
}

/*
 * The HELO/EHLO name is a fact of the policy (helo.* checks): with
 * whether it is one of our local domains (routing's tables, in memory)
 * and the address the client reached, for the forged-HELO rule.
 */
static void
helo_to_policy(struct session *s)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	int fd = (int)bufferevent_getfd(s->bev);
	bool local_domain;

	if (s->policy == NULL)
		return;
	local_domain = s->helo[0] != '[' &&
	    domains_is_local(s->srv->domains, s->helo) == 1;
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&local, &len) < 0)
		policy_client_helo(s->policy, s->helo, local_domain, NULL);
	else
		policy_client_helo(s->policy, s->helo, local_domain,
		    (const struct sockaddr *)&local);
}

static void
cmd_helo(struct session *s, const struct smtp_command *c, struct smtp_reply *r)
{
	const struct config *cfg = s->srv->cfg;

	if (!smtp_valid_helo(c->arg, c->arg_len)) {
		smtp_reply_set(r, 501, "5.5.4", "Syntax: %s hostname",
		    c->verb == SMTP_VERB_EHLO ? "EHLO" : "HELO");
		return;
	}
	session_reset_tx(s);
	snprintf(s->helo, sizeof(s->helo), "%.*s", (int)c->arg_len, c->arg);
	helo_to_policy(s);
	s->esmtp = c->verb == SMTP_VERB_EHLO;
	session_set_state(s, SESSION_READY);
	if (!s->esmtp) {
		smtp_reply_set(r, 250, "", "%s", cfg->hostname);
		return;
	}
	/* RFC 1869 4.3: the first line is the greeting, then one keyword
	 * per line.  No enhanced codes on EHLO lines (RFC 2034 3).  STARTTLS
	 * until TLS is on (RFC 3207 4.2); AUTH only over TLS, so no password
	 * ever crosses the network in clear. */
	smtp_reply_set(r, 250, "", "%s\nPIPELINING\nSIZE %zu\n8BITMIME\n"
	    "ENHANCEDSTATUSCODES\nSMTPUTF8%s%s", cfg->hostname, cfg->max_message_size,
	    starttls_offered(s) ? "\nSTARTTLS" : "",
	    s->tls ? "\nAUTH PLAIN LOGIN" : "");
}

static void
addr_error_reply(enum smtp_addr_error e, bool sender, struct smtp_reply *r)
{
	switch (e) {
	case SMTP_ADDR_UTF8:
		smtp_reply_set(r, 553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
		break;
	case SMTP_ADDR_PARAM:
		smtp_reply_set(r, 555, "5.5.4", "Unsupported or malformed parameter");
		break;
	case SMTP_ADDR_NULL_RCPT:
		smtp_reply_set(r, 501, "5.1.3", "Null recipient not allowed");
		break;
	case SMTP_ADDR_TOO_LONG:
		smtp_reply_set(r, 501, sender ? "5.1.7" : "5.1.3", "Address too long");
		break;
	default:
		smtp_reply_set(r, 501, sender ? "5.1.7" : "5.1.3",
		    "Bad %s address syntax", sender ? "sender" : "recipient");
		break;
	}
}

/* RFC 6409 8.1: an authenticated user sends only as itself (or as
 * addresses it owns: route/senders.h). */
static bool
sender_owned(struct session *s, const char *sender, struct smtp_reply *r)
{
	switch (route_sender_owned(s->srv->cfg, s->srv->domains, s->login, sender)) {
	case 1:
		return true;
	case 0:
		smtp_reply_set(r, 553, "5.7.1",
		    "<%s>: Sender address rejected: not owned by user %s", sender, s->login);
		return false;
	default:
		smtp_reply_set(r, 451, "4.3.0", "<%s>: Temporary lookup failure", sender);
		return false;
	}
}

static void
cmd_mail(struct session *s, const struct smtp_command *c, struct smtp_reply *r)
{
	const struct config *cfg = s->srv->cfg;
	struct smtp_path path;
	struct smtp_mail_params params;
	enum smtp_addr_error e;

	if (s->tx != NULL) {
		smtp_reply_set(r, 503, "5.5.1", "Sender already specified");
		return;
	}
	/* Submission is for authenticated users only (RFC 6409 4.3, BCP). */
	if (s->lc->role == ROLE_SUBMISSION && !s->authenticated) {
		smtp_reply_set(r, 530, "5.7.0", "Authentication required");
		return;
	}
	/* SMTPUTF8 is advertised in the EHLO reply only (RFC 6531 3.1). */
	e = smtp_parse_mail_from(c->arg, c->arg_len, s->esmtp, &path, &params);
	if (e != SMTP_ADDR_OK) {
		addr_error_reply(e, true, r);
		return;
	}
	if (s->authenticated && !sender_owned(s, path.addr, r))
		return;
	if (params.has_size && params.size > cfg->max_message_size) {
		smtp_reply_set(r, 552, "5.3.4", "Message size exceeds fixed limit");
		return;
	}
	s->tx = xcalloc(1, sizeof(*s->tx));
	s->tx->sender = path;
	s->tx->params = params;
	/* Holds less than one chunk, plus one feed of at most a chunk. */
	buf_init(&s->tx->data, 2 * DATA_CHUNK + SMTP_TEXT_LINE_MAX);
	session_set_state(s, SESSION_MAIL);
	smtp_reply_set(r, 250, "2.1.0", "Ok");
}

bool
tx_has_rcpt(const struct transaction *tx, const char *addr)
{
	for (unsigned i = 0; i < tx->n_rcpts; i++)
		if (strcasecmp(tx->rcpts[i], addr) == 0)
			return true;
	return false;
}

void
tx_add_rcpt(struct transaction *tx, const char *addr)
{
	tx->rcpts = xreallocarray(tx->rcpts, tx->n_rcpts + 1,
	    sizeof(*tx->rcpts));
	tx->rcpts[tx->n_rcpts++] = xstrdup(addr);
}

/* Turn the routing verdict into the RCPT reply (BCP: unknown users are
 * refused now, with a permanent error, never accepted and bounced).
 * *local: the recipient is a local mailbox. */
static bool
rcpt_verdict(struct session *s, const char *addr, struct smtp_reply *r, bool *local)
{
	struct route_result rr;
	bool ok = false;

	route_resolve(s->srv->cfg, s->srv->domains, addr, &rr);
	*local = rr.kind == ROUTE_LOCAL;
	switch (rr.kind) {
	case ROUTE_LOCAL:
		ok = true;
		break;
	case ROUTE_REMOTE:
		/* Relaying only for authenticated users and trusted networks. */
		ok = s->authenticated || config_is_relay_client(s->srv->cfg,
		    (const struct sockaddr *)&s->peer);
		if (!ok)
			smtp_reply_set(r, 554, "5.7.1", "<%s>: Relay access denied", addr);
		break;
	case ROUTE_UNKNOWN:
		smtp_reply_set(r, 550, "5.1.1",
		    "<%s>: Recipient address rejected: User unknown", addr);
		break;
	case ROUTE_UNSUPPORTED:
		smtp_reply_set(r, 451, "4.3.5", "<%s>: Recipient not deliverable now: "
		    "server configuration problem", addr);
		break;
	case ROUTE_INVALID:
		/* RFC 3463 5.1.2: bad destination system address.  Refused
		 * now, not relayed to bounce as "no such domain" later. */
		smtp_reply_set(r, 553, "5.1.2", "<%s>: Recipient address "
		    "rejected: the domain is not a valid domain name (IDNA2008)",
		    addr);
		break;
	case ROUTE_TEMPFAIL:
	default:
		smtp_reply_set(r, 451, "4.3.0", "<%s>: Temporary lookup failure", addr);
		break;
	}
	route_result_free(&rr);
	return ok;
}

static void
rcpt_accept(struct session *s, const char *addr, struct smtp_reply *r)
{
	struct transaction *tx = s->tx;

	if (!tx_has_rcpt(tx, addr))
		tx_add_rcpt(tx, addr);
	session_set_state(s, SESSION_RCPT);
	smtp_reply_set(r, 250, "2.1.5", "Ok");
}

static void rcpt_policy_ready(void *arg);

/*
 * The policy's word on a recipient routing accepted: true with r set
 * (250, or the refusal), false when it waits (SESSION_POLICY; the
 * reply comes from rcpt_policy_ready).
 */
static bool
rcpt_policy(struct session *s, const char *addr, bool exempt, struct smtp_reply *r)
{
	struct verdict v;

	if (s->policy == NULL || s->authenticated) {
		rcpt_accept(s, addr, r);
		return true;
	}
	if (!policy_rcpt(s->policy, exempt, &v, rcpt_policy_ready, s) ||
	    (v.kind == VERDICT_ACCEPT && !policy_rcpt_greylist(s->policy,
	    s->tx->sender.addr, addr, exempt, &v, rcpt_policy_ready, s))) {
		if (s->tx->waiting_rcpt == NULL) {
			s->tx->waiting_rcpt = xstrdup(addr);
			s->tx->waiting_from = s->state;
		}
		session_set_state(s, SESSION_POLICY);
		return false;
	}
	if (v.kind == VERDICT_ACCEPT) {
		rcpt_accept(s, addr, r);
		return true;
	}
	smtp_reply_set(r, v.code, v.enhanced, "%s", v.text);
	s->tx->rcpt_refused++;
	return true;
}

static void log_verdict(struct session *s, const struct smtp_command *c,
    const struct smtp_reply *r);

/* The checks a waiting RCPT needed have answered (on the loop). */
static void
rcpt_policy_ready(void *arg)
{
	struct session *s = arg;
	struct transaction *tx = s->tx;
	struct smtp_command c = { SMTP_VERB_RCPT, tx->waiting_arg,
	    strlen(tx->waiting_arg) };
	struct smtp_reply r = { 0 };

	session_set_state(s, tx->waiting_from);
	if (!rcpt_policy(s, tx->waiting_rcpt, false, &r))
		return;		/* another check still out: keep waiting */
	log_verdict(s, &c, &r);
	free(tx->waiting_arg);
	free(tx->waiting_rcpt);
	tx->waiting_arg = tx->waiting_rcpt = NULL;
	session_reply(s, &r);
	session_count_reply(s, &r);
	if (s->state != SESSION_CLOSING)
		session_resume(s);
}

static void
cmd_rcpt(struct session *s, const struct smtp_command *c, struct smtp_reply *r)
{
	struct transaction *tx = s->tx;
	struct smtp_path path;
	enum smtp_addr_error e;
	bool local;

	if (tx == NULL) {
		smtp_reply_set(r, 503, "5.5.1", "Need MAIL before RCPT");
		return;
	}
	e = smtp_parse_rcpt_to(c->arg, c->arg_len, tx->params.smtputf8, &path);
	if (e != SMTP_ADDR_OK) {
		addr_error_reply(e, false, r);
	} else if (tx->n_rcpts >= s->srv->cfg->max_recipients) {
		/* RFC 5321 4.5.3.1.10: 452, the client sends the rest later. */
		smtp_reply_set(r, 452, "4.5.3", "Too many recipients");
	} else if (rcpt_verdict(s, path.addr, r, &local)) {
		bool exempt = policy_rcpt_exempt(s->srv->cfg, path.addr, local);

		if (!rcpt_policy(s, path.addr, exempt, r))
			tx->waiting_arg = xstrndup(c->arg, c->arg_len);
		else if (exempt && r->code == 250)
			tx->exempt_rcpt = true;	/* spam to it: flagged */
		return;
	}
	tx->rcpt_refused++;
}

static void data_policy_ready(void *arg);

/*
 * Greylisting's word on the transaction (policy_data): true to go on
 * with DATA; false when r holds the refusal (the transaction is over)
 * or, with r->code 0, when DATA waits (SESSION_POLICY) for the store,
 * and data_policy_ready answers.
 */
static bool
data_policy(struct session *s, struct smtp_reply *r)
{
	struct verdict v;

	if (s->policy == NULL || s->authenticated)
		return true;
	if (!policy_data(s->policy, s->tx->sender.addr, &v, data_policy_ready, s)) {
		s->tx->waiting_from = s->state;
		session_set_state(s, SESSION_POLICY);
		return false;
	}
	if (v.kind == VERDICT_ACCEPT)
		return true;
	/* The whole message waits: the client retries all of it. */
	smtp_reply_set(r, v.code, v.enhanced, "%s", v.text);
	session_reset_tx(s);
	session_set_state(s, SESSION_READY);
	return false;
}

static void
cmd_data(struct session *s, const struct smtp_command *c, struct smtp_reply *r)
{
	(void)c;
	if (s->tx == NULL) {
		smtp_reply_set(r, 503, "5.5.1", "Need MAIL command");
		return;
	}
	if (s->tx->n_rcpts == 0) {
		/* RFC 5321 3.3: 554 when every recipient was refused. */
		if (s->tx->rcpt_refused > 0)
			smtp_reply_set(r, 554, "5.5.1", "No valid recipients");
		else
			smtp_reply_set(r, 503, "5.5.1", "Need RCPT command");
		return;
	}
	if (data_policy(s, r))
		session_begin_data(s, r);
}

/* The store answered a waiting DATA (on the loop). */
static void
data_policy_ready(void *arg)
{
	struct session *s = arg;
	struct smtp_command c = { SMTP_VERB_DATA, "", 0 };
	struct smtp_reply r = { 0 };

	session_set_state(s, s->tx->waiting_from);
	if (data_policy(s, &r))
		session_begin_data(s, &r);
	else if (r.code == 0)
		return;		/* still waiting */
	log_verdict(s, &c, &r);
	session_reply(s, &r);
	session_count_reply(s, &r);
	if (s->state != SESSION_CLOSING)
		session_resume(s);
}

static void
cmd_rset(struct session *s, const struct smtp_command *c, struct smtp_reply *r)
{
	(void)c;
	session_reset_tx(s);
	if (s->state != SESSION_CONNECTED)
		session_set_state(s, SESSION_READY);
	smtp_reply_set(r, 250, "2.0.0", "Ok");
}

static void
cmd_noop(struct session *s, const struct smtp_command *c, struct smtp_reply *r)
{
	(void)s;
	(void)c;
	smtp_reply_set(r, 250, "2.0.0", "Ok");
}

static void
cmd_quit(struct session *s, const struct smtp_command *c, struct smtp_reply *r)
{
	(void)c;
	smtp_reply_set(r, 221, "2.0.0", "Bye");
	s->quit = true;
}

static void
cmd_vrfy(struct session *s, const struct smtp_command *c, struct smtp_reply *r)
{
	(void)s;
	(void)c;
	/* RFC 5321 3.5.3: 252 rather than disclosing who exists. */
	smtp_reply_set(r, 252, "2.5.0",
	    "Cannot VRFY user, but will accept message and attempt delivery");
}

static void
cmd_expn(struct session *s, const struct smtp_command *c, struct smtp_reply *r)
{
	(void)s;
	(void)c;
	smtp_reply_set(r, 502, "5.5.1", "EXPN not available");
}

static void
cmd_help(struct session *s, const struct smtp_command *c, struct smtp_reply *r)
{
	(void)s;
	(void)c;
	smtp_reply_set(r, 214, "2.0.0",
	    "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP");
}

static void
cmd_starttls(struct session *s, const struct smtp_command *c, struct smtp_reply *r)
{
	(void)c;
	if (s->tls && s->lc->tls == TLS_MODE_STARTTLS) {
		smtp_reply_set(r, 503, "5.5.1", "TLS already active");
		return;
	}
	if (!starttls_offered(s)) {
		smtp_reply_set(r, 502, "5.5.1", "Command not implemented");
		return;
	}
	smtp_reply_set(r, 220, "2.0.0", "Ready to start TLS");
	s->starttls = true;
}

static void
cmd_auth(struct session *s, const struct smtp_command *c, struct smtp_reply *r)
{
	if (!s->tls) {
		smtp_reply_set(r, 538, "5.7.11",
		    "Encryption required for requested authentication mechanism");
		return;
	}
	if (s->authenticated) {
		smtp_reply_set(r, 503, "5.5.1", "Already authenticated");
		return;
	}
	if (s->tx != NULL) {
		smtp_reply_set(r, 503, "5.5.1", "AUTH not permitted during a mail transaction");
		return;
	}
	session_auth_begin(s, c->arg, c->arg_len, r);
}

static void
cmd_not_implemented(struct session *s, const struct smtp_command *c,
    struct smtp_reply *r)
{
	(void)s;
	(void)c;
	smtp_reply_set(r, 502, "5.5.1", "Command not implemented");
}

static const struct command_entry commands[SMTP_VERB_COUNT] = {
	[SMTP_VERB_HELO] = { SMTP_VERB_HELO, CMD_BEFORE_TLS, cmd_helo },
	[SMTP_VERB_EHLO] = { SMTP_VERB_EHLO, CMD_BEFORE_TLS, cmd_helo },
	[SMTP_VERB_MAIL] = { SMTP_VERB_MAIL, CMD_NEEDS_HELO, cmd_mail },
	[SMTP_VERB_RCPT] = { SMTP_VERB_RCPT, CMD_NEEDS_HELO, cmd_rcpt },
	[SMTP_VERB_DATA] = { SMTP_VERB_DATA, CMD_NEEDS_HELO, cmd_data },
	[SMTP_VERB_BDAT] = { SMTP_VERB_BDAT, 0, cmd_not_implemented },
	[SMTP_VERB_RSET] = { SMTP_VERB_RSET, CMD_BEFORE_TLS, cmd_rset },
	[SMTP_VERB_NOOP] = { SMTP_VERB_NOOP, CMD_BEFORE_TLS, cmd_noop },
	[SMTP_VERB_QUIT] = { SMTP_VERB_QUIT, CMD_BEFORE_TLS, cmd_quit },
	[SMTP_VERB_VRFY] = { SMTP_VERB_VRFY, 0, cmd_vrfy },
	[SMTP_VERB_EXPN] = { SMTP_VERB_EXPN, 0, cmd_expn },
	[SMTP_VERB_HELP] = { SMTP_VERB_HELP, 0, cmd_help },
	[SMTP_VERB_STARTTLS] = { SMTP_VERB_STARTTLS, CMD_BEFORE_TLS, cmd_starttls },
	[SMTP_VERB_AUTH] = { SMTP_VERB_AUTH, CMD_NEEDS_HELO, cmd_auth },
};

/* Commands that move no mail (Postfix's smtpd_junk_command_limit
 * counts the same): a client can send them for ever, and each is a log
 * line.  Unknown verbs and bad syntax count too (session_command).  An
 * RSET that ends a transaction does work (a recipient prober or a
 * client reusing its connection sends one per MAIL): not junk. */
static bool
junk_verb(const struct session *s, enum smtp_verb verb)
{
	switch (verb) {
	case SMTP_VERB_RSET:
		return s->tx == NULL;
	case SMTP_VERB_NOOP:
	case SMTP_VERB_VRFY:
	case SMTP_VERB_EXPN:
	case SMTP_VERB_HELP:
	case SMTP_VERB_BDAT:
	case SMTP_VERB_UNKNOWN:
		return true;
	default:
		return false;
	}
}

/* Log the verdict on one command; never the whole line of DATA/AUTH. */
static void
log_verdict(struct session *s, const struct smtp_command *c,
    const struct smtp_reply *r)
{
	char arg[200];

	log_safe_len(c->arg, c->verb == SMTP_VERB_AUTH ? 0 : c->arg_len, arg,
	    sizeof(arg));
	log_info("event=command session=%s client=[%s] cmd=%s arg=\"%s\" reply=%d%s%s",
	    s->id, s->ip, smtp_verb_name(c->verb), arg, r->code,
	    r->enhanced[0] ? " status=" : "", r->enhanced);
}

void
session_command(struct session *s, const char *line, size_t len)
{
	struct smtp_command c = { SMTP_VERB_UNKNOWN, "", 0 };
	struct smtp_reply r = { 0 };
	const struct command_entry *e;
	enum smtp_parse_result pr;

	s->n_commands++;
	pr = smtp_command_parse(line, len, &c);
	if (session_junk_over(s, pr != SMTP_PARSE_OK || junk_verb(s, c.verb)))
		return;
	switch (pr) {
	case SMTP_PARSE_UNKNOWN:
		smtp_reply_set(&r, 500, "5.5.1", "Command unrecognized");
		c.verb = SMTP_VERB_UNKNOWN;
		c.arg = "";
		c.arg_len = 0;
		break;
	case SMTP_PARSE_SYNTAX:
		smtp_reply_set(&r, 501, "5.5.4", "Syntax error in parameters or arguments");
		break;
	case SMTP_PARSE_OK:
		e = &commands[c.verb];
		if (e->handler == NULL)
			smtp_reply_set(&r, 500, "5.5.1", "Command unrecognized");
		else if (s->lc->role == ROLE_SUBMISSION && !s->tls &&
		    !(e->flags & CMD_BEFORE_TLS))
			smtp_reply_set(&r, 530, "5.7.0", "Must issue a STARTTLS command first");
		else if ((e->flags & CMD_NEEDS_HELO) && s->state == SESSION_CONNECTED)
			smtp_reply_set(&r, 503, "5.5.1", "Send HELO/EHLO first");
		else
			e->handler(s, &c, &r);
		break;
	}
	if (r.code == 0)
		return;		/* AUTH, or DATA waiting for greylisting: the
				 * reply comes when the check is done */
	log_verdict(s, &c, &r);
	if (s->quit) {
		session_close(s, &r);
		return;
	}
	session_reply(s, &r);
	session_count_reply(s, &r);
	if (s->starttls) {
		/* Read nothing more in plaintext; switch once the 220 is out. */
		s->starttls = false;
		session_set_state(s, SESSION_STARTTLS);
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
			session_starttls(s);
	}
}
