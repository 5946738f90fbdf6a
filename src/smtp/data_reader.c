/*
 * The DATA reader: see data_reader.h for the contract.  Pure, no I/O.
 *
 * Called by the session with whatever bytes the socket produced after
 * "354", in chunks split anywhere (a CRLF or the final ".\r\n" may straddle
 * two feeds).  Trusts nothing in the input.
 *
 * A byte-level state machine.  The output is the input minus two things:
 * the stuffed dot at the start of a line (RFC 5321 4.5.2) and the final
 * ".\r\n".  So the reader copies runs of input verbatim with one
 * buf_append per run and withholds only a leading dot and a CR after it
 * (".\r" may be the end) until the next byte decides.  Inside a line the
 * scan takes 16 octets a step (SSE2) or 8 (elsewhere), and a CRLF
 * followed by an ordinary line is passed without a change of state.
 *
 * Line state only changes on CRLF: a bare LF or bare CR flags an error
 * but does not start a line, so "\n.\n", "\r\n.\n" and "\n.\r\n" are
 * never the end (the SMTP smuggling family, CVE-2023-51764 and kin).
 * max_line counts the octets of the line as the message holds it: CRLF
 * included, the leading dot a client doubled for transparency not
 * (RFC 5321 4.5.3.1.6 says so in as many words), so a line is too long
 * for us exactly when it was too long for the client to send.  The
 * terminator's dot is not counted either; its CR is, harmlessly.
 * A zero max_size or max_line means no limit.
 */
#include "smtp/data_reader.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum {
	ST_BOL = 0,	/* at the start of a line: a CRLF was just seen */
	ST_TEXT,	/* inside a line */
	ST_CR,		/* a CR inside a line (already copied) */
	ST_DOT,		/* a dot at the start of a line (withheld) */
	ST_DOT_CR,	/* ".\r" at the start of a line (both withheld) */
	ST_DONE,	/* <CRLF>.<CRLF> seen */
};

/* Bytes that stop the fast scan of a line: CR, LF, NUL. */
static const unsigned char special[256] = {
	['\0'] = 1, ['\r'] = 1, ['\n'] = 1,
};

#define ONES	0x0101010101010101ULL
#define HIGHS	0x8080808080808080ULL

/* Non-zero exactly when one of v's eight octets is zero. */
static inline uint64_t
has_zero(uint64_t v)
{
	return (v - ONES) & ~v & HIGHS;
}

#if defined(__SSE2__)
/*
 * Sixteen octets at a time where the CPU has SSE2 (every x86-64): one
 * compare per special octet and one mask of the high bits.  Returns the
 * octets passed; *high is set when one of them is 0x80 or more.
 */
static size_t
scan_wide(const unsigned char *p, const unsigned char *end, bool *high)
{
	const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
	const __m128i nul = _mm_setzero_si128();
	const unsigned char *q = p;
	unsigned seen = 0, stop;
	__m128i v;

	while (end - q >= 16) {
		v = _mm_loadu_si128((const __m128i *)(const void *)q);
		stop = (unsigned)_mm_movemask_epi8(_mm_or_si128(
		    _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)),
		    _mm_cmpeq_epi8(v, nul)));
		if (stop != 0) {
			/* Only the octets before the special one count. */
			seen |= (unsigned)_mm_movemask_epi8(v) &
			    ((1u << __builtin_ctz(stop)) - 1);
			q += __builtin_ctz(stop);
			break;
		}
		seen |= (unsigned)_mm_movemask_epi8(v);
		q += 16;
	}
	*high = seen != 0;
	return (size_t)(q - p);
}
#endif

/*
 * The octets at p before the first CR, LF or NUL (or end): how many, and
 * the OR of them all in *bits (for 8-bit content).  Whole vectors or
 * words first: one with none of the three is passed at once; the one
 * that has one, and the tail, an octet at a time.
 */
static size_t
scan_text(const unsigned char *p, const unsigned char *end, uint64_t *bits)
{
	const unsigned char *q = p;
	uint64_t acc = 0, v;

#if defined(__SSE2__)
	bool high;

	/* Then fewer than 16 octets are left, or q is at a special octet
	 * and the loops below stop at once. */
	q += scan_wide(p, end, &high);
	if (high)
		acc = HIGHS;
#endif
	while (end - q >= 8) {
		memcpy(&v, q, sizeof(v));
		if (has_zero(v) | has_zero(v ^ (ONES * '\r')) |
		    has_zero(v ^ (ONES * '\n')))
			break;
		acc |= v;
		q += 8;
	}
	while (q < end && !special[*q])
		acc |= *q++;
	*bits |= acc;
	return (size_t)(q - p);
}

void
data_reader_init(struct data_reader *r, size_t max_size, size_t max_line)
{
	r->state = ST_BOL;
	r->max_size = max_size;
	r->max_line = max_line;
	r->line_len = 0;
	r->size = 0;
	r->errors = DATA_ERR_NONE;
	r->eight_bit = false;
}

/*
 * Produce n message octets, unless the message is already too big.  The
 * output is always exactly the first min(size, max_size) octets, however
 * the input was split, so the result never depends on read boundaries.
 */
static void
emit(struct data_reader *r, const unsigned char *p, size_t n, struct buf *out)
{
	if (n == 0)
		return;
	if ((r->errors & DATA_ERR_TOO_BIG) == 0) {
		size_t fit = n;

		if (r->max_size != 0 && n > r->max_size - r->size) {
			fit = (size_t)(r->max_size - r->size);
			r->errors |= DATA_ERR_TOO_BIG;
		}
		if (buf_append(out, p, fit) < 0)
			r->errors |= DATA_ERR_TOO_BIG;
	}
	/* size saturates rather than wrap: it only grows toward the limit. */
	r->size = n > UINT64_MAX - r->size ? UINT64_MAX : r->size + n;
}

static void
line_add(struct data_reader *r, size_t n)
{
	r->line_len = n > SIZE_MAX - r->line_len ? SIZE_MAX : r->line_len + n;
	if (r->max_line != 0 && r->line_len > r->max_line)
		r->errors |= DATA_ERR_LINE_TOO_LONG;
}

enum data_status
data_reader_feed(struct data_reader *r, const char *in, size_t len,
    size_t *consumed, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)in;
	const unsigned char *end = p + len;
	const unsigned char *run = p;	/* start of bytes still to copy */
	int state = r->state;

	while (p < end && state != ST_DONE) {
		switch (state) {
		case ST_TEXT: {
			const unsigned char *q;
			uint64_t bits = 0;
			unsigned char c;

			q = p + scan_text(p, end, &bits);
			if (bits & HIGHS)
				r->eight_bit = true;
			line_add(r, (size_t)(q - p));
			p = q;
			if (p == end)
				break;
			c = *p++;
			line_add(r, 1);
			if (c == '\r' && end - p >= 2 && p[0] == '\n' &&
			    p[1] != '.') {
				/* CRLF, then a line without a leading dot:
				 * what ST_CR and ST_BOL would do, at once. */
				p++;
				line_add(r, 1);
				r->line_len = 0;
			} else if (c == '\r')
				state = ST_CR;
			else if (c == '\n')
				r->errors |= DATA_ERR_BARE_LF;	/* stay in line */
			else
				r->errors |= DATA_ERR_NUL;
			break;
		}
		case ST_CR:
			if (*p == '\n') {
				p++;
				line_add(r, 1);
				r->line_len = 0;
				state = ST_BOL;
			} else {
				/* Bare CR; the byte after it is ordinary text. */
				r->errors |= DATA_ERR_BARE_CR;
				state = ST_TEXT;
			}
			break;
		case ST_BOL:
			if (*p == '.') {
				/* Withheld, and not counted: a stuffing dot
				 * or the terminator's, never message text. */
				emit(r, run, (size_t)(p - run), out);
				p++;
				run = p;
				state = ST_DOT;
			} else {
				state = ST_TEXT;
			}
			break;
		case ST_DOT:
			if (*p == '\r') {
				p++;
				run = p;
				line_add(r, 1);
				state = ST_DOT_CR;
			} else {
				/* ".x": the dot was stuffing, x is text. */
				state = ST_TEXT;
			}
			break;
		case ST_DOT_CR:
			if (*p == '\n') {
				p++;
				run = p;
				state = ST_DONE;
			} else {
				/* ".\r" then not LF: a bare CR on a stuffed
				 * line.  The CR was withheld (maybe in an
				 * earlier feed), so produce it now. */
				r->errors |= DATA_ERR_BARE_CR;
				emit(r, (const unsigned char *)"\r", 1, out);
				state = ST_TEXT;
			}
			break;
		default:
			break;
		}
	}
	emit(r, run, (size_t)(p - run), out);
	r->state = state;
	*consumed = (size_t)(p - (const unsigned char *)in);
	return state == ST_DONE ? DATA_END : DATA_MORE;
}
