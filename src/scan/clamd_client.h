/*
 * clamd's zINSTREAM (docs/scanning.md, "ClamAV"): the whole message
 * streamed in framed chunks (clamd_reply.h) to a TCP or unix socket,
 * then its one verdict.
 */
#ifndef DECORUM_SCAN_CLAMD_CLIENT_H
#define DECORUM_SCAN_CLAMD_CLIENT_H

#include "scan/scan.h"

struct event_base;
struct clamd_client;

/*
 * Starts the scan (timeout: cc->timeout for all of it).  msg and res
 * must stay valid until done runs or the client is cancelled.  res:
 * clean → SCAN_ACCEPT; FOUND → SCAN_REJECT, finding MALWARE, detail
 * the signature name (code 0: the caller picks the reply, which never
 * names the signature); clamd's ERROR (size limit included), no
 * connection, timeout, a reply over CLAMD_REPLY_MAX → SCAN_FAILED.
 * done(arg, res) runs once, from the loop.
 */
struct clamd_client *clamd_client_start(struct event_base *base,
    const struct clamd_conf *cc, const struct scan_message *msg,
    struct scan_result *res, scan_done_fn *done, void *arg);
void clamd_client_cancel(struct clamd_client *c);

#endif
