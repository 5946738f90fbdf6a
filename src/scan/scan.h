/*
 * What every content scanner client takes and gives (docs/scanning.md):
 * the message as spooled, the session's facts, and one result per
 * scanner with the reply it asks for and the changes it wants made.
 *
 * The clients (milter_client.h, rspamd_client.h, clamd_client.h) run on
 * the caller's event loop and never block it.  Each reads the message
 * only through scan_message: its header section from memory, its octets
 * from a descriptor the caller keeps open until the client is done or
 * cancelled (read with pread() or handed to libevent as a file segment,
 * never by moving the file offset).  A client calls its done callback
 * exactly once, never from inside its start function, unless it was
 * cancelled first; after cancel nothing of it runs again (a late answer
 * arrives at a closed socket).  When done runs the client is finished:
 * it has freed itself or never again touches res or msg, so the
 * callback may free both.
 */
#ifndef DECORUM_SCAN_SCAN_H
#define DECORUM_SCAN_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

/* Changes one scanner may ask for, and their octets in all. */
#define SCAN_MODS_MAX		256
#define SCAN_MODS_BYTES_MAX	(256 * 1024)
/* Longest reply text kept, and log detail. */
#define SCAN_TEXT_MAX		400
#define SCAN_DETAIL_MAX		256

struct evbuffer;

struct scan_message {
	/* The message as it will be queued (our Received: on top), size
	 * octets, CRLF line ends, no dot-stuffing. */
	int fd;
	uint64_t size;
	/* Its header section (every field, CRLF line ends, without the
	 * empty line that ends it), and where the body starts in fd (after
	 * that empty line; size when there is none). */
	const char *headers;
	size_t headers_len;
	uint64_t body_offset;
	/* Facts, for macros and rspamd's request headers. */
	const char *queue_id;		/* "i" */
	const char *hostname;		/* "j": our FQDN */
	const char *client_ip;		/* text, no brackets */
	uint16_t client_port;
	bool client_ipv6;
	const char *client_name;	/* verified rDNS; NULL: unknown */
	const char *helo;		/* "" when none */
	const char *sender;		/* "" for <> */
	const char *const *rcpts;	/* as accepted */
	size_t n_rcpts;
	const char *auth_login;		/* NULL: not authenticated */
	const char *tls_version;	/* "TLSv1.3", NULL: no TLS */
};

/* A scanner's answer, from the most to the least severe. */
enum scan_verdict {
	SCAN_ACCEPT,		/* nothing against it (changes may apply) */
	SCAN_FLAG,		/* spam worth a flag, not a refusal */
	SCAN_TEMPFAIL,		/* 4xx: greylist, soft reject, tempfail */
	SCAN_REJECT,		/* 5xx */
	SCAN_DISCARD,		/* accept and drop (a milter's DISCARD) */
	SCAN_FAILED,		/* could not be asked: default_action applies */
};

/* What a refusal or a flag is about. */
enum scan_finding {
	SCAN_FOUND_NOTHING,
	SCAN_FOUND_SPAM,
	SCAN_FOUND_MALWARE,
	SCAN_FOUND_OTHER,	/* a milter of kind "other" refused */
};

enum scan_mod_type {
	SCAN_MOD_ADD_HEADER,	/* name, value: at the end of the header */
	SCAN_MOD_INSERT_HEADER,	/* name, value at index (0: the top) */
	SCAN_MOD_CHANGE_HEADER,	/* name's index-th (1-based) field gets
				 * value; an empty value deletes it */
	SCAN_MOD_REMOVE_HEADER,	/* every field called name */
	SCAN_MOD_ADD_RCPT,	/* addr */
	SCAN_MOD_DEL_RCPT,	/* addr */
	SCAN_MOD_CHANGE_FROM,	/* addr ("" for <>) */
	SCAN_MOD_QUARANTINE,	/* value: the reason; the message is held */
};

struct scan_mod {
	struct scan_mod *next;
	enum scan_mod_type type;
	uint32_t index;
	char *name;		/* header field name */
	char *value;		/* header value (folds as "\n" + SP/HTAB),
				 * or the quarantine reason */
	char *addr;		/* path without brackets */
};

struct scan_result {
	const char *scanner;	/* its name, for the log (not owned) */
	enum scan_verdict verdict;
	enum scan_finding finding;
	/* The reply the scanner asked for (REJECT, TEMPFAIL): code 0 when
	 * it named none (the caller picks the reply). */
	int code;
	char enhanced[16];
	char text[SCAN_TEXT_MAX + 1];
	/* For the log: a signature name, rspamd's action and score, or why
	 * the scanner could not be asked; printable ASCII. */
	char detail[SCAN_DETAIL_MAX + 1];
	double score, required;	/* rspamd; 0 otherwise */
	/* Changes, in the order asked, at most SCAN_MODS_MAX (more: the
	 * scanner broke the protocol, verdict SCAN_FAILED). */
	struct scan_mod *mods;
	size_t n_mods;
	size_t mod_bytes;
	/* A milter's REPLBODY: the new body, CRLF lines; NULL: unchanged. */
	struct evbuffer *body;
};

typedef void scan_done_fn(void *arg, struct scan_result *res);

/* A zeroed result for scanner (ACCEPT, nothing found). */
void scan_result_init(struct scan_result *r, const char *scanner);
/* Frees the changes and the body; r may be reused after. */
void scan_result_clear(struct scan_result *r);
/* Appends one change (strings copied; NULL allowed where unused).
 * false when the limits above would be passed. */
bool scan_result_add_mod(struct scan_result *r, enum scan_mod_type type,
    uint32_t index, const char *name, const char *value, const char *addr);
/* verdict SCAN_FAILED with the reason as detail (printf-style). */
void scan_result_fail(struct scan_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
