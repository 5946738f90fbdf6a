/*
 * rspamd's own protocol (docs/scanning.md, "rspamd"): one POST of the
 * message to /checkv2 through libevent's HTTP client, with the facts as
 * request headers (IP, Helo, Hostname, From, Rcpt per recipient,
 * Queue-Id, User when authenticated, TLS-Version, as rspamd names them),
 * read into a verdict by rspamd_reply.h.
 */
#ifndef DECORUM_SCAN_RSPAMD_CLIENT_H
#define DECORUM_SCAN_RSPAMD_CLIENT_H

#include "scan/scan.h"

struct event_base;
struct rspamd_client;

/*
 * Starts the request (timeout: rc->timeout for all of it).  msg and res
 * must stay valid until done runs or the client is cancelled.  res is
 * filled: reject → SCAN_REJECT, finding SPAM, code 0 unless rspamd gave
 * an smtp_message (text then); soft reject and greylist → SCAN_TEMPFAIL;
 * add header and rewrite subject → SCAN_FLAG, finding SPAM; no action →
 * SCAN_ACCEPT; score/required set; the headers rspamd asks to add
 * (SCAN_MOD_ADD_HEADER) and remove (SCAN_MOD_REMOVE_HEADER), a
 * rewritten subject as SCAN_MOD_CHANGE_HEADER "Subject" index 1; detail
 * "action=... score=.../..." with the first symbols.  Unreachable,
 * timeout, HTTP status other than 200, a reply rspamd_reply_parse
 * refuses: SCAN_FAILED.  done(arg, res) runs once, from the loop.
 */
struct rspamd_client *rspamd_client_start(struct event_base *base,
    const struct rspamd_conf *rc, const struct scan_message *msg,
    struct scan_result *res, scan_done_fn *done, void *arg);
void rspamd_client_cancel(struct rspamd_client *c);

#endif
