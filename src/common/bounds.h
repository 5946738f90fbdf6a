/*
 * Every fixed limit of the protocol and the process, in one place.
 * Limits an operator may want to change are config keys whose defaults
 * come from here (see docs/configuration.md).
 */
#ifndef DECORUM_COMMON_BOUNDS_H
#define DECORUM_COMMON_BOUNDS_H

/* RFC 5321 4.5.3.1: sizes of objects, in octets.  SMTP_LOCAL_PART_MAX
 * bounds the names we give ourselves (mailboxes, users and aliases keys,
 * Maildir folders, local parts in the config). */
#define SMTP_LOCAL_PART_MAX	64
#define SMTP_DOMAIN_MAX		255
#define SMTP_PATH_MAX		256	/* including < > */
/* A local part as received in MAIL FROM or RCPT TO: 4.5.3.1 asks us to
 * accept objects over the limits where we can, and SRS0/SRS1 senders
 * (and the bounces to them) have local parts well over 64.  The path
 * bounds it: "<" local "@" one-octet domain ">" is at most 256. */
#define SMTP_LOCAL_PART_WIRE_MAX	(SMTP_PATH_MAX - 4)
/* Holds any address: a wire address is at most SMTP_PATH_MAX - 2. */
#define SMTP_ADDRESS_MAX	(SMTP_LOCAL_PART_MAX + 1 + SMTP_DOMAIN_MAX)
/* Command line including CRLF is 512; we allow the SMTPUTF8/params
 * extension head room that RFC 1869 6.1 and RFC 4954 4 grant (AUTH
 * initial responses can be 12288 octets). */
#define SMTP_COMMAND_LINE_MAX	2048
#define SMTP_TEXT_LINE_MAX	1000	/* including CRLF */
#define SMTP_REPLY_LINE_MAX	512

/* Defaults of the tunable limits (config keys of the same meaning). */
#define DEFAULT_MAX_MESSAGE_SIZE	(25 * 1024 * 1024)
#define DEFAULT_MAX_RECIPIENTS		100	/* RFC 5321 4.5.3.1.8 minimum */
#define DEFAULT_MAX_ERRORS		10
#define DEFAULT_MAX_CONNECTIONS		1000
#define DEFAULT_MAX_CONNECTIONS_PER_IP	20
#define DEFAULT_MAX_HOPS		50	/* Received: fields, RFC 5321 6.3 */

/* RFC 5321 4.5.3.2: server timeouts, seconds. */
#define DEFAULT_TIMEOUT_COMMAND		300
#define DEFAULT_TIMEOUT_DATA		600

/* DNS deadlines, seconds (dns.client_timeout, dns.delivery_timeout):
 * how long the greeting waits for the client's FCrDNS name, and how long
 * the MX and address lookup of a destination may take. */
#define DEFAULT_DNS_CLIENT_TIMEOUT	10
#define DEFAULT_DNS_DELIVERY_TIMEOUT	30

/* Local delivery retry schedule, seconds. */
#define DEFAULT_RETRY_MIN		300
#define DEFAULT_RETRY_MAX		3600
#define DEFAULT_QUEUE_LIFETIME		(5 * 24 * 3600)
/* Messages the qmgr loads and delivers locally at once
 * (queue.local_concurrency): 16 delivery threads.  With 8 (4 threads)
 * the Maildir copies fell behind the smtpd on a journaled ext4 under
 * 20 sessions (733 against 891 messages/s, medians of 3); with 32 they
 * kept up (1,065), at no more CPU a message.  Postfix delivers up to 20
 * at once to one local domain. */
#define DEFAULT_LOCAL_CONCURRENCY	32
#define LOCAL_CONCURRENCY_MAX		64

/* Outbound delivery (delivery.*): Postfix's defaults where it has one. */
#define DEFAULT_OUT_MAX_CONNECTIONS	100
#define DEFAULT_OUT_DEST_CONCURRENCY	20
#define DEFAULT_OUT_CONNECT_TIMEOUT	30
#define DEFAULT_OUT_CACHE_TIME		2
#define DEFAULT_OUT_REUSE_LIMIT		100	/* messages per connection */
/* RFC 5321 4.5.3.2 client timeouts, seconds (delivery.timeouts). */
#define DEFAULT_OUT_TIMEOUT_GREETING	300
#define DEFAULT_OUT_TIMEOUT_COMMAND	300	/* EHLO, MAIL, RCPT, RSET, ... */
#define DEFAULT_OUT_TIMEOUT_DATA_INIT	120
#define DEFAULT_OUT_TIMEOUT_DATA_BLOCK	180
#define DEFAULT_OUT_TIMEOUT_DATA_END	600
/* Entries in the transports table. */
#define TRANSPORTS_MAX			10000

/* Alias expansion: how deep, and how many targets at most. */
#define ALIAS_DEPTH_MAX			10
#define ALIAS_TARGETS_MAX		1000

/* Queue identifiers: see queue/spool.h. */
#define QUEUE_ID_MAX			32

#endif
