/*
 * A policy check's answer (DESIGN.md: "a verdict {accept | tempfail |
 * reject, code, enhanced code, text}"), plus the evidence that led to it
 * for the log.  Pure data, no I/O: checks fill it, src/policy/policy.c
 * weighs them, the session turns the result into its RCPT reply.
 */
#ifndef DECORUM_POLICY_VERDICT_H
#define DECORUM_POLICY_VERDICT_H

#include <stddef.h>

enum verdict_kind { VERDICT_ACCEPT, VERDICT_TEMPFAIL, VERDICT_REJECT };

#define VERDICT_TEXT_MAX	400	/* reply text, abuse_url included */
#define VERDICT_EVIDENCE_MAX	600	/* what the check saw, for the log */

struct verdict {
	enum verdict_kind kind;
	int code;			/* 250, 4xx or 5xx */
	char enhanced[12];		/* "5.7.25" (RFC 3463) */
	char text[VERDICT_TEXT_MAX];	/* printable ASCII: an SMTP reply */
	char evidence[VERDICT_EVIDENCE_MAX];	/* may hold DNS text: log_safe it */
};

/* Accept, no evidence. */
void verdict_accept(struct verdict *v);
/* A refusal: code 4xx with kind VERDICT_TEMPFAIL, 5xx with
 * VERDICT_REJECT; the text is cut at VERDICT_TEXT_MAX. */
void verdict_refuse(struct verdict *v, int code, const char *enhanced,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void verdict_evidence(struct verdict *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append to the evidence (cut, never overrun). */
void verdict_evidence_add(struct verdict *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A refusal made temporary (action "tempfail"): 5xx -> 4xx, 5.x.y -> 4.x.y. */
void verdict_soften(struct verdict *v);
/* "accept", "tempfail", "reject". */
const char *verdict_kind_name(enum verdict_kind k);

#endif
