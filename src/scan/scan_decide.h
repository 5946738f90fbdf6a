/*
 * The decision at the end of DATA (docs/scanning.md, "The decision"):
 * every scanner's result weighed into the one reply the client gets and
 * what becomes of the message.  Pure: the session gathers the results,
 * this says what they mean, the session acts on it.
 *
 *   malware found                      554 5.7.1, also for postmaster/abuse
 *   a milter of kind "other" refused   its reply (550 5.7.1 when none)
 *   spam at the reject threshold       550 5.7.1 (the scanner's text);
 *                                      flagged delivery for the exempt
 *   soft reject, greylist, tempfail    451 4.7.1; flagged delivery for
 *                                      the exempt when it is about spam
 *   a scanner that cannot be asked     451 4.7.1, or nothing when its
 *                                      default_action is "accept"
 *   discard                            250, and the message is dropped
 *   spam worth a flag                  250, delivered flagged
 *
 * The most severe wins, in the order of this table.  A milter's
 * QUARANTINE holds the accepted message.  Replies about malware never
 * name the signature (the log does).
 */
#ifndef DECORUM_SCAN_SCAN_DECIDE_H
#define DECORUM_SCAN_SCAN_DECIDE_H

#include <stdbool.h>

#include "scan/scan.h"

/* One scanner's part: its result and how it is configured. */
struct scan_vote {
	const struct scan_result *res;
	enum scan_on_failure on_failure;
};

enum scan_outcome {
	SCAN_OUT_ACCEPT,
	SCAN_OUT_FLAG,		/* accept, deliver flagged (spam folder) */
	SCAN_OUT_DISCARD,	/* answer 250, queue nothing */
	SCAN_OUT_TEMPFAIL,	/* answer 4xx */
	SCAN_OUT_REJECT,	/* answer 5xx */
};

struct scan_decision {
	enum scan_outcome outcome;
	int code;		/* TEMPFAIL, REJECT */
	char enhanced[16];
	char text[SCAN_TEXT_MAX + 1];
	/* The vote that decided (NULL: none did), for the log. */
	const struct scan_result *by;
	bool quarantine;	/* hold the accepted message */
	char quarantine_reason[SCAN_TEXT_MAX + 1];
	unsigned failed_accepted;	/* scanners skipped by "accept" */
};

/* exempt: a recipient is one of the exempt mailboxes (postmaster,
 * abuse): spam is delivered flagged to the message, never refused. */
void scan_decide(const struct scan_vote *votes, size_t n, bool exempt,
    struct scan_decision *out);

#endif
