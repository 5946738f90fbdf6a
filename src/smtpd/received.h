/*
 * The Received: trace header (RFC 5321 4.4, RFC 5322 3.6.7) that every
 * message gets at acceptance, with the envelope sender as the BCP asks:
 *
 *   Received: from HELO (RDNS [IP])
 *   	(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)
 *   	(envelope-from <sender>)
 *   	by HOSTNAME (Decorum) with ESMTP id QUEUEID
 *   	for <rcpt>; Fri, 27 Nov 2026 20:44:14 +0000
 *
 * The TLS line appears only over TLS; "(RDNS [IP])" is left out when
 * the client is hidden (authenticated submission, for privacy).
 *
 * Local submission (`decorum sendmail`) has no client, HELO or SMTP: its
 * form names the submitting uid, as Postfix's pickup does, and carries
 * the envelope sender all the same:
 *
 *   Received: by HOSTNAME (Decorum, from userid 1000)
 *   	(envelope-from <sender>)
 *   	id QUEUEID
 *   	for <rcpt>; Fri, 27 Nov 2026 20:44:14 +0000
 *
 * Pure: the caller passes the time.
 */
#ifndef DECORUM_SMTPD_RECEIVED_H
#define DECORUM_SMTPD_RECEIVED_H

#include <stdbool.h>
#include <time.h>

#include "common/buf.h"

struct received_info {
	const char *helo;	/* as sent by the client (sanitised here) */
	const char *rdns;	/* verified client name, or NULL for "unknown" */
	const char *ip;		/* "192.0.2.1" or "2001:db8::1" */
	const char *sender;	/* "" for <> */
	const char *hostname;	/* ours */
	const char *protocol;	/* "SMTP", "ESMTP", "ESMTPSA", "UTF8SMTPS", ... */
	const char *tls;	/* "TLSv1.3 with cipher ...", or NULL */
	bool hide_client;	/* leave out "(RDNS [IP])" */
	const char *queue_id;
	const char *rcpt;	/* NULL unless exactly one recipient */
	time_t when;
	/* Local submission: helo, rdns, ip, protocol and tls are unused. */
	bool local;
	unsigned long local_uid;	/* who ran sendmail */
};

int received_format(const struct received_info *ri, struct buf *out);
/* RFC 5322 3.3 date-time in UTC: "Fri, 27 Nov 2026 20:44:14 +0000". */
void received_date(time_t when, char *out, size_t outlen);

#endif
