/*
 * Reply formatting: see reply.h.  The only place that turns reply text
 * into wire bytes, so the sanitising rule lives here once.
 */
#include "smtp/reply.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void
smtp_reply_set(struct smtp_reply *r, int code, const char *enhanced,
    const char *fmt, ...)
{
	va_list ap;

	r->code = code;
	snprintf(r->enhanced, sizeof(r->enhanced), "%s", enhanced ? enhanced : "");
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

static int
format_line(const struct smtp_reply *r, const char *text, size_t len,
    bool last, struct buf *out)
{
	char line[SMTP_REPLY_TEXT_MAX];
	size_t i;

	for (i = 0; i < len && i < sizeof(line) - 1; i++) {
		unsigned char c = (unsigned char)text[i];

		line[i] = (c < ' ' || c == 0x7f) ? '?' : (char)c;
	}
	line[i] = '\0';
	if (r->enhanced[0] != '\0')
		return buf_printf(out, "%03d%c%s %s\r\n", r->code,
		    last ? ' ' : '-', r->enhanced, line);
	return buf_printf(out, "%03d%c%s\r\n", r->code, last ? ' ' : '-', line);
}

/*
 * All lines or none: a multi-line reply cut short by a full buffer would
 * leave a "250-" line with no final line, and the client would wait for
 * the rest forever.  So on failure out is put back as it was.
 */
int
smtp_reply_format(const struct smtp_reply *r, struct buf *out)
{
	const char *p = r->text;
	size_t start = out->len;

	for (;;) {
		const char *nl = strchr(p, '\n');
		int rc;

		if (nl == NULL)
			rc = format_line(r, p, strlen(p), true, out);
		else
			rc = format_line(r, p, (size_t)(nl - p), false, out);
		if (rc < 0) {
			out->len = start;
			if (out->data != NULL)
				out->data[start] = '\0';
			return -1;
		}
		if (nl == NULL)
			return 0;
		p = nl + 1;
	}
}

int
smtp_reply_class(const struct smtp_reply *r)
{
	if (r->code >= 500)
		return 5;
	if (r->code >= 400)
		return 4;
	return 1;
}
