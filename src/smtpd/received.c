/*
 * Received: header formatting: see received.h.  Everything the client
 * chose (HELO, sender, recipient) is sanitised: a client must not be able
 * to end the header early or add a header of its own.  Callers: smtpd's
 * transaction.c at DATA, and the CLI's sendmail.c for local submission.
 */
#include "smtpd/received.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/*
 * Control bytes, and the delimiters of the fields we write, would let a
 * client forge them.  Square brackets are kept in the HELO, where an
 * address literal "[192.0.2.1]" is legitimate (RFC 5321 4.1.3); without
 * parentheses it cannot pose as our "(name [IP])" comment.
 */
static void
sanitise(const char *in, bool brackets_ok, char *out, size_t outlen)
{
	size_t o = 0;

	for (; in != NULL && *in != '\0' && o + 1 < outlen; in++) {
		unsigned char c = (unsigned char)*in;
		bool bad = c < ' ' || c == 0x7f || c == '(' || c == ')' ||
		    c == '<' || c == '>' || c == ';' ||
		    (!brackets_ok && (c == '[' || c == ']'));

		out[o++] = bad ? '?' : (char)c;
	}
	out[o] = '\0';
}

void
received_date(time_t when, char *out, size_t outlen)
{
	/* %a and %b are locale-dependent; RFC 5322 needs the English names. */
	static const char *days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	gmtime_r(&when, &tm);
	snprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* "Received: from HELO (RDNS [IP]) (using TLS) (envelope-from <S>) by
 * HOSTNAME (Decorum) with PROTOCOL id ID": the SMTP form. */
static int
format_smtp(const struct received_info *ri, const char *sender,
    struct buf *out)
{
	char helo[256], rdns[256];

	sanitise(ri->helo, true, helo, sizeof(helo));
	sanitise(ri->rdns ? ri->rdns : "unknown", false, rdns, sizeof(rdns));
	if (buf_printf(out, "Received: from %s", helo[0] ? helo : "unknown") < 0)
		return -1;
	if (!ri->hide_client && buf_printf(out, " (%s [%s])", rdns, ri->ip) < 0)
		return -1;
	if (ri->tls != NULL && buf_printf(out, "\r\n\t(using %s)", ri->tls) < 0)
		return -1;
	return buf_printf(out, "\r\n\t(envelope-from <%s>)\r\n"
	    "\tby %s (Decorum) with %s id %s",
	    sender, ri->hostname, ri->protocol, ri->queue_id);
}

/* Local submission: no client to name, only the uid that handed it in
 * (RFC 5321 4.4 leaves the FROM clause to SMTP). */
static int
format_local(const struct received_info *ri, const char *sender,
    struct buf *out)
{
	return buf_printf(out, "Received: by %s (Decorum, from userid %lu)\r\n"
	    "\t(envelope-from <%s>)\r\n\tid %s",
	    ri->hostname, ri->local_uid, sender, ri->queue_id);
}

int
received_format(const struct received_info *ri, struct buf *out)
{
	char sender[600], rcpt[600], date[64];

	sanitise(ri->sender, false, sender, sizeof(sender));
	received_date(ri->when, date, sizeof(date));
	if ((ri->local ? format_local(ri, sender, out) :
	    format_smtp(ri, sender, out)) < 0)
		return -1;
	if (ri->rcpt != NULL) {
		sanitise(ri->rcpt, false, rcpt, sizeof(rcpt));
		if (buf_printf(out, "\r\n\tfor <%s>", rcpt) < 0)
			return -1;
	}
	return buf_printf(out, "; %s\r\n", date);
}
