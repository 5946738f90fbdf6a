/*
 * The milter client (docs/scanning.md, "Milters"): one conversation with
 * one milter about one message, on the caller's event loop.
 *
 * At the end of DATA it connects, negotiates (milter_proto.h), and
 * replays the session for this message: CONNECT, HELO, MAIL, each RCPT,
 * DATA, the header fields, EOH, the body in chunks, EOB, each step
 * preceded by its macros ({mail_addr}, {rcpt_addr}, i, j, {auth_authen},
 * {client_addr}, {client_name}, {tls_version}, ...) and skipped or left
 * unanswered as negotiated; then QUIT, or, when the conversation ended
 * cleanly (the end of body answered, nothing unread) and mc->reuse,
 * QUIT_NC and the connection goes to the pool (milter_pool.h) for the
 * next message, which starts at CONNECT.  A conversation on a pooled
 * connection that fails (EOF, reset, write error) before its first
 * reply starts over once on a fresh connection: a milter may close an
 * idle connection just as we take it.  A refusal at any step is the
 * message's refusal (the recipients were already answered).  Timeouts:
 * connect_timeout for the connection and the negotiation,
 * command_timeout for each reply before EOB, eom_timeout for the end.
 * Anything wrong (refused connection, timeout, protocol error, a reply
 * not allowed at that step, more changes than SCAN_MODS_MAX) ends with
 * verdict SCAN_FAILED and the reason in detail: the caller applies the
 * milter's default_action.
 *
 * Memory per conversation is bounded: the decoder's one packet, one
 * outgoing body chunk, the changes within scan.h's limits, and a
 * replaced body (REPLBODY) within scan.max_size.
 */
#ifndef DECORUM_SCAN_MILTER_CLIENT_H
#define DECORUM_SCAN_MILTER_CLIENT_H

#include "scan/scan.h"

struct event_base;
struct milter_client;
struct milter_pool;

/*
 * Starts the conversation, on an idle connection of pool (NULL: none;
 * unused unless mc->reuse) when there is one.  msg (and what it points to) and res must
 * stay valid until done runs or the client is cancelled.  res is
 * initialised here and filled: verdict (ACCEPT, TEMPFAIL, REJECT,
 * DISCARD, FAILED; a reject or tempfail is finding mc->kind), the
 * reply a REPLYCODE named, the changes asked at EOB (QUARANTINE as
 * SCAN_MOD_QUARANTINE), a REPLBODY in res->body.  done(arg, res) runs
 * once, from the loop, never from inside this call.
 */
struct milter_client *milter_client_start(struct event_base *base,
    struct milter_pool *pool, const struct milter_conf *mc, size_t max_body,
    const struct scan_message *msg, struct scan_result *res,
    scan_done_fn *done, void *arg);
/* Stops and frees c (sends ABORT and QUIT where it can, without
 * waiting); done will not run.  res keeps what was added so far. */
void milter_client_cancel(struct milter_client *c);

#endif
