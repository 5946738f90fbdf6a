/*
 * Verdicts: see verdict.h.  Pure: formatting into fixed buffers, cut
 * rather than overrun (a cut evidence string is still useful in a log;
 * reply texts are ours and short).
 */
#include "policy/verdict.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
verdict_accept(struct verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->kind = VERDICT_ACCEPT;
	v->code = 250;
}

void
verdict_refuse(struct verdict *v, int code, const char *enhanced,
    const char *fmt, ...)
{
	va_list ap;

	v->kind = code >= 500 ? VERDICT_REJECT : VERDICT_TEMPFAIL;
	v->code = code;
	snprintf(v->enhanced, sizeof(v->enhanced), "%s", enhanced);
	va_start(ap, fmt);
	vsnprintf(v->text, sizeof(v->text), fmt, ap);
	va_end(ap);
}

void
verdict_evidence(struct verdict *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->evidence, sizeof(v->evidence), fmt, ap);
	va_end(ap);
}

void
verdict_evidence_add(struct verdict *v, const char *fmt, ...)
{
	size_t len = strlen(v->evidence);
	va_list ap;

	if (len + 1 >= sizeof(v->evidence))
		return;
	va_start(ap, fmt);
	vsnprintf(v->evidence + len, sizeof(v->evidence) - len, fmt, ap);
	va_end(ap);
}

void
verdict_soften(struct verdict *v)
{
	if (v->code < 500)
		return;
	v->code -= 100;
	v->kind = VERDICT_TEMPFAIL;
	if (v->enhanced[0] == '5')
		v->enhanced[0] = '4';
}

const char *
verdict_kind_name(enum verdict_kind k)
{
	switch (k) {
	case VERDICT_ACCEPT:
		return "accept";
	case VERDICT_TEMPFAIL:
		return "tempfail";
	default:
		return "reject";
	}
}
