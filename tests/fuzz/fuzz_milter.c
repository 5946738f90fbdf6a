/*
 * libFuzzer harness: the milter reply decoder and the negotiation
 * (src/scan/milter_decode.c, milter_negotiate.c).  The first byte sets
 * how the rest is cut into pieces; the rest is what a milter sends.
 * Checks what milter_proto.h promises: progress on every call, never a
 * read past the input, the same replies however the stream is cut, and
 * fields that hold what their checks say (names RFC 5322, values with
 * no line break but a fold, REPLYCODE a 4xx/5xx code).
 */
#include <stdlib.h>
#include <string.h>

#include "scan/milter_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TRACE_MAX	64

static struct milter_decoder dec;

static void
check_reply(const struct milter_reply *r)
{
	struct milter_agreed a;
	const char *v;

	switch (r->type) {
	case MILTER_R_ADDHEADER:
	case MILTER_R_CHGHEADER:
	case MILTER_R_INSHEADER:
		if (strlen(r->name) == 0 ||
		    strlen(r->name) > MILTER_HEADER_NAME_MAX ||
		    strpbrk(r->name, ": \t\r\n") != NULL ||
		    strlen(r->value) > MILTER_HEADER_VALUE_MAX ||
		    strchr(r->value, '\r') != NULL)
			abort();
		for (v = strchr(r->value, '\n'); v; v = strchr(v + 1, '\n'))
			if (v[1] != ' ' && v[1] != '\t')
				abort();
		break;
	case MILTER_R_REPLYCODE:
		if (r->reply.code < 400 || r->reply.code > 599)
			abort();
		break;
	case MILTER_R_REPLBODY:
		if (r->len > MILTER_DATA_MAX)
			abort();
		break;
	case MILTER_R_OPTNEG:
		if (milter_negotiate(MILTER_F_ALL, MILTER_P_OFFER, r, &a) ==
		    MILTER_NEG_OK) {
			if ((a.proto & ~MILTER_P_OFFER) != 0 ||
			    (a.actions & ~MILTER_F_ALL) != 0 ||
			    !milter_step_replied(&a, MILTER_STEP_EOB))
				abort();
			for (int s = 0; s < MILTER_STAGE_COUNT; s++)
				if (strlen(a.symlist[s]) > MILTER_SYMLIST_MAX)
					abort();
		}
		break;
	case MILTER_R_QUARANTINE:
		if (strlen(r->reason) > MILTER_REASON_MAX)
			abort();
		break;
	default:
		break;
	}
}

/* Decodes data in pieces of step octets (0: all at once); the reply
 * types in trace, then 'E' and the error on failure. */
static size_t
run(const uint8_t *data, size_t size, size_t step, char *trace)
{
	static struct milter_reply r;
	enum milter_error err;
	size_t off = 0, used, n = 0;
	enum milter_dec st;

	milter_decoder_init(&dec);
	while (off < size && n < TRACE_MAX - 2) {
		size_t len = step == 0 || size - off < step ? size - off : step;

		st = milter_decode(&dec, data + off, len, &used, &r, &err);
		if (used > len)
			abort();
		off += used;
		if (st == MILTER_DEC_ERROR) {
			trace[n++] = 'E';
			trace[n++] = (char)('a' + err);
			break;
		}
		if (st == MILTER_DEC_MORE) {
			if (used != len)
				abort();
			continue;
		}
		trace[n++] = (char)r.type;
		check_reply(&r);
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char whole[TRACE_MAX], cut[TRACE_MAX];
	size_t nw, nc;

	if (size < 1)
		return 0;
	nw = run(data + 1, size - 1, 0, whole);
	nc = run(data + 1, size - 1, (size_t)data[0] % 17 + 1, cut);
	if (nw != nc || memcmp(whole, cut, nw) != 0)
		abort();
	return 0;
}
