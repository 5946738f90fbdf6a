/*
 * rspamd's /checkv2 reply (docs/scanning.md, "Protocol core"): its JSON
 * read into the verdict the end of DATA acts on.
 *
 * Pure: no I/O; json-c parses, with a depth limit, into its own objects
 * that are freed before returning; the result is fixed-size.  rspamd is
 * trusted to score, not to write well-formed or small replies: the text
 * is bounded, every count is bounded, and every header it asks for goes
 * through the same checks as a milter's (scan_text.h).
 */
#ifndef DECORUM_SCAN_RSPAMD_REPLY_H
#define DECORUM_SCAN_RSPAMD_REPLY_H

#include <stdbool.h>
#include <stddef.h>

/* Longest reply read (a reply with every symbol's options is ~10 KB). */
#define RSPAMD_REPLY_MAX	(1024 * 1024)
/* Deepest JSON nesting taken (the reply needs 4). */
#define RSPAMD_DEPTH_MAX	16
#define RSPAMD_SYMBOLS_MAX	64	/* names kept; the rest counted */
#define RSPAMD_SYMBOL_MAX	64	/* octets of one name kept */
#define RSPAMD_HEADERS_MAX	16	/* to add, and to remove */
#define RSPAMD_HDR_NAME_MAX	128
#define RSPAMD_HDR_VALUE_MAX	2048
#define RSPAMD_SUBJECT_MAX	998	/* RFC 5322 2.1.1 line */
#define RSPAMD_MESSAGE_MAX	400	/* smtp_message */

/* From the least to the most severe, so the worse of two is the larger. */
enum rspamd_action {
	RSPAMD_NO_ACTION,
	RSPAMD_GREYLIST,
	RSPAMD_ADD_HEADER,
	RSPAMD_REWRITE_SUBJECT,
	RSPAMD_SOFT_REJECT,
	RSPAMD_REJECT,
};

enum rspamd_error {
	RSPAMD_OK = 0,
	RSPAMD_ETOOBIG,		/* over RSPAMD_REPLY_MAX */
	RSPAMD_EJSON,		/* not JSON, too deep, not an object */
	RSPAMD_ESERVER,		/* {"error": ...}: message holds it */
	RSPAMD_EACTION,		/* no action, or one we do not know */
	RSPAMD_ESCORE,		/* score or required_score missing, not finite */
	RSPAMD_EHEADER,		/* a header to add/remove or the subject is bad */
	RSPAMD_ETOOMANY,	/* more than RSPAMD_HEADERS_MAX headers */
};

struct rspamd_header {
	char name[RSPAMD_HDR_NAME_MAX + 1];
	/* folds normalised to "\n" + SP/HTAB (scan_text.h) */
	char value[RSPAMD_HDR_VALUE_MAX + 1];
};

struct rspamd_result {
	enum rspamd_action action;
	double score, required_score;
	/* Symbol names, controls and non-ASCII as '?', cut to
	 * RSPAMD_SYMBOL_MAX; symbols_total counts them all. */
	size_t n_symbols, symbols_total;
	char symbols[RSPAMD_SYMBOLS_MAX][RSPAMD_SYMBOL_MAX + 1];
	/* milter.add_headers / milter.remove_headers */
	size_t n_add;
	struct rspamd_header add[RSPAMD_HEADERS_MAX];
	size_t n_remove;
	char remove[RSPAMD_HEADERS_MAX][RSPAMD_HDR_NAME_MAX + 1];
	/* "subject" for rewrite subject, "" when absent */
	char subject[RSPAMD_SUBJECT_MAX + 1];
	/* messages.smtp_message, or the "error" text; printable ASCII */
	char message[RSPAMD_MESSAGE_MAX + 1];
};

/* The reply body, len octets (need not be NUL-terminated; white space
 * may follow the object).  On an error, res holds what was read before
 * it and only message is meant for use (rspamd's "error" text). */
enum rspamd_error rspamd_reply_parse(const char *json, size_t len,
    struct rspamd_result *res);
/* A short English text for e. */
const char *rspamd_strerror(enum rspamd_error e);
/* "reject", "soft reject", ... as rspamd writes it. */
const char *rspamd_action_name(enum rspamd_action a);

#endif
