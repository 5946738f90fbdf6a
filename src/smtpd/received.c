/*
 * Received: header formatting: see received.h.  Everything the client
 * chose (HELO, sender, recipient) is sanitised: a client must not be able
 * to end the header early or add a header of its own.
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

int
received_format(const struct received_info *ri, struct buf *out)
{
	char helo[256], rdns[256], sender[600], rcpt[600], date[64];

	sanitise(ri->helo, true, helo, sizeof(helo));
	sanitise(ri->rdns ? ri->rdns : "unknown", false, rdns, sizeof(rdns));
	sanitise(ri->sender, false, sender, sizeof(sender));
	received_date(ri->when, date, sizeof(date));
	if (buf_printf(out, "Received: from %s", helo[0] ? helo : "unknown") < 0)
		return -1;
	if (!ri->hide_client && buf_printf(out, " (%s [%s])", rdns, ri->ip) < 0)
		return -1;
	if (ri->tls != NULL && buf_printf(out, "\r\n\t(using %s)", ri->tls) < 0)
		return -1;
	if (buf_printf(out, "\r\n\t(envelope-from <%s>)\r\n"
	    "\tby %s (Decorum) with %s id %s",
	    sender, ri->hostname, ri->protocol, ri->queue_id) < 0)
		return -1;
	if (ri->rcpt != NULL) {
		sanitise(ri->rcpt, false, rcpt, sizeof(rcpt));
		if (buf_printf(out, "\r\n\tfor <%s>", rcpt) < 0)
			return -1;
	}
	return buf_printf(out, "; %s\r\n", date);
}
