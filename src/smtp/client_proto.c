/*
 * The client side of the SMTP/LMTP protocol core: see client_proto.h for
 * the contract.  Pure, no I/O, no allocation.
 *
 * Called by the delivery agent with each line a remote server sent, so
 * every octet here comes from a peer we do not trust: every copy is
 * bounded by the destination's size, never by what the peer claims, and
 * the text kept is sanitised (control characters become '?') so it can
 * go into logs, queue files and DSNs without starting lines of its own.
 *
 * Reply grammar (RFC 5321 4.2): "ddd-text" continues a reply, "ddd text"
 * or a bare "ddd" ends it, every line with the same code.  Only 2xx..5xx
 * exist for a client (1xx was never used in SMTP), so anything else is a
 * broken or hostile server and the connection is given up (BAD).
 *
 * Dot-stuffing (RFC 5321 4.5.2): see smtp_dot_stuff() for why a dot after
 * a bare CR or LF is doubled too.
 */
#include "smtp/client_proto.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A UTF-8 sequence is at most 4 octets: 1 lead and 3 continuations. */
#define UTF8_CONT_MAX	3

static bool
is_utf8_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/* The length a UTF-8 lead octet announces (1 for anything else). */
static size_t
utf8_seq_len(unsigned char c)
{
	if (c >= 0xf0)
		return 4;
	if (c >= 0xe0)
		return 3;
	if (c >= 0xc0)
		return 2;
	return 1;
}

/*
 * How many of the len octets of s to keep so that at most max are kept
 * and no UTF-8 sequence is cut in two: when the sequence of the lead
 * octet just before the cut runs past it, cut before that lead octet.
 * Octets that are not UTF-8 at all are cut anywhere, so at most 3 octets
 * of room are ever left unused.
 */
static size_t
utf8_cut(const char *s, size_t len, size_t max)
{
	size_t n, back;

	if (len <= max)
		return len;
	for (n = max, back = 0; n > 0 && back < UTF8_CONT_MAX &&
	    is_utf8_cont((unsigned char)s[n]); n--, back++)
		;
	if (n < max && (unsigned char)s[n] >= 0xc0 &&
	    n + utf8_seq_len((unsigned char)s[n]) > max)
		return n;
	return max;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* 1 to 3 digits at s[*i] (0..999); advances *i past them. */
static bool
digits3(const char *s, size_t len, size_t *i)
{
	size_t start = *i;

	while (*i < len && *i - start < 3 && is_digit(s[*i]))
		(*i)++;
	return *i > start && (*i == len || !is_digit(s[*i]));
}

/*
 * The length of an RFC 3463 enhanced status code "c.s.d" at the start of
 * s (class 2, 4 or 5; subject and detail 1 to 3 digits), followed by a
 * space or the end of the line; 0 when there is none.
 */
static size_t
enhanced_len(const char *s, size_t len)
{
	size_t i = 0;

	if (len < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return 0;
	i = 2;
	if (!digits3(s, len, &i) || i >= len || s[i] != '.')
		return 0;
	i++;
	if (!digits3(s, len, &i))
		return 0;
	if (i < len && s[i] != ' ')
		return 0;
	return i;
}

void
smtp_client_reader_init(struct smtp_client_reader *rd)
{
	memset(rd, 0, sizeof(*rd));
}

bool
smtp_client_reader_partial(const struct smtp_client_reader *rd)
{
	return rd->in_reply;
}

/* Clears the reply for its first line. */
static void
reply_start(struct smtp_client_reader *rd, int code)
{
	rd->reply.code = code;
	rd->reply.enhanced[0] = '\0';
	rd->reply.text[0] = '\0';
	rd->reply.n_lines = 0;
	rd->text_len = 0;
	rd->text_cut = false;
	rd->in_reply = true;
}

/*
 * Appends one line's text (with a '\n' before it unless it is the first),
 * sanitised.  Once a line did not fit whole, nothing more is appended, so
 * the text is always a prefix of the full text, never a text with a hole.
 */
static void
text_append(struct smtp_client_reader *rd, const char *s, size_t len)
{
	struct smtp_client_reply *r = &rd->reply;
	size_t room = sizeof(r->text) - 1 - rd->text_len, keep, i;

	if (rd->text_cut)
		return;
	if (r->n_lines > 1) {
		if (room == 0) {
			rd->text_cut = true;
			return;
		}
		r->text[rd->text_len++] = '\n';
		room--;
	}
	keep = utf8_cut(s, len, room);
	if (keep < len)
		rd->text_cut = true;
	for (i = 0; i < keep; i++) {
		unsigned char c = (unsigned char)s[i];

		r->text[rd->text_len++] = (c < ' ' || c == 0x7f) ? '?' : (char)c;
	}
	r->text[rd->text_len] = '\0';
}

enum smtp_client_feed
smtp_client_reader_feed(struct smtp_client_reader *rd, const char *line,
    size_t len)
{
	struct smtp_client_reply *r = &rd->reply;
	const char *text;
	size_t text_len, elen;
	bool last;
	int code;

	if (len > SMTP_CLIENT_LINE_MAX)
		goto bad;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len < 3 || !is_digit(line[0]) || !is_digit(line[1]) ||
	    !is_digit(line[2]))
		goto bad;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (code < 200 || code > 599)
		goto bad;
	if (len == 3)
		last = true;
	else if (line[3] == ' ')
		last = true;
	else if (line[3] == '-')
		last = false;
	else
		goto bad;

	if (!rd->in_reply)
		reply_start(rd, code);
	else if (code != r->code || r->n_lines >= SMTP_CLIENT_LINES_MAX)
		goto bad;
	r->n_lines++;

	text = len > 4 ? line + 4 : "";
	text_len = len > 4 ? len - 4 : 0;
	/*
	 * RFC 2034 3: the enhanced code leads the text of every line.  It
	 * is taken from the first line only when its class agrees with the
	 * reply's ("250 5.0.0" is a confused server: keep the text as is),
	 * and removed from later lines that repeat the same code.
	 */
	elen = enhanced_len(text, text_len);
	if (r->n_lines == 1) {
		if (elen > 0 && elen < sizeof(r->enhanced) &&
		    text[0] == line[0]) {
			memcpy(r->enhanced, text, elen);
			r->enhanced[elen] = '\0';
		} else
			elen = 0;
	} else if (r->enhanced[0] == '\0' || elen != strlen(r->enhanced) ||
	    memcmp(text, r->enhanced, elen) != 0)
		elen = 0;
	if (elen > 0) {
		text += elen;
		text_len -= elen;
		if (text_len > 0) {	/* the space after the code */
			text++;
			text_len--;
		}
	}
	text_append(rd, text, text_len);

	if (!last)
		return SMTP_CLIENT_MORE;
	rd->in_reply = false;
	return SMTP_CLIENT_DONE;

bad:
	rd->in_reply = false;
	return SMTP_CLIENT_BAD;
}

static bool
word_is(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

/*
 * RFC 1870: "SIZE" [SP 1*20DIGIT]; 0 or no value means no fixed limit.
 * Anything else (letters, overflow, a second value) is taken as no limit
 * too: the server will say 552 if a message is too big for it.
 */
static uint64_t
size_value(const char *s, size_t len)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 20)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned d;

		if (!is_digit(s[i]))
			return 0;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	return v;
}

/* The mechanisms after "AUTH", separated by spaces. */
static void
auth_mechs(const char *s, size_t len, struct smtp_caps *caps)
{
	size_t i = 0;

	while (i < len) {
		size_t start;

		while (i < len && s[i] == ' ')
			i++;
		start = i;
		while (i < len && s[i] != ' ')
			i++;
		if (word_is(s + start, i - start, "PLAIN"))
			caps->auth_plain = true;
		else if (word_is(s + start, i - start, "LOGIN"))
			caps->auth_login = true;
	}
}

static void
caps_line(const char *s, size_t len, struct smtp_caps *caps)
{
	const char *arg;
	size_t klen = 0, alen;

	while (len > 0 && s[len - 1] == ' ')
		len--;
	/* "AUTH=LOGIN PLAIN" is what pre-RFC 4954 clients looked for. */
	while (klen < len && s[klen] != ' ' && s[klen] != '=')
		klen++;
	arg = s + klen;
	alen = len - klen;
	if (alen > 0 && (*arg == ' ' || *arg == '=')) {
		bool eq = *arg == '=';

		arg++;
		alen--;
		if (eq && !word_is(s, klen, "AUTH"))
			return;
	}
	while (alen > 0 && *arg == ' ') {
		arg++;
		alen--;
	}

	if (word_is(s, klen, "PIPELINING"))
		caps->pipelining = true;
	else if (word_is(s, klen, "SIZE")) {
		caps->size = true;
		caps->size_max = size_value(arg, alen);
	} else if (word_is(s, klen, "8BITMIME"))
		caps->eightbitmime = true;
	else if (word_is(s, klen, "SMTPUTF8"))
		caps->smtputf8 = true;
	else if (word_is(s, klen, "STARTTLS"))
		caps->starttls = true;
	else if (word_is(s, klen, "ENHANCEDSTATUSCODES"))
		caps->enhancedstatuscodes = true;
	else if (word_is(s, klen, "AUTH"))
		auth_mechs(arg, alen, caps);
}

/*
 * A text cut at SMTP_CLIENT_TEXT_MAX may end in half a keyword line; at
 * worst that loses a capability or lowers SIZE, both safe (the message
 * goes without the extension, or the server's 552 decides).
 */
void
smtp_caps_parse(const struct smtp_client_reply *r, struct smtp_caps *caps)
{
	const char *p, *end;

	memset(caps, 0, sizeof(*caps));
	if (r->code != 250)
		return;
	p = r->text;
	end = p + strnlen(r->text, sizeof(r->text));
	/* The first line is the server's name and greeting, no keyword. */
	p = memchr(p, '\n', (size_t)(end - p));
	while (p != NULL && p < end) {
		const char *nl;

		p++;
		nl = memchr(p, '\n', (size_t)(end - p));
		caps_line(p, (size_t)((nl ? nl : end) - p), caps);
		p = nl;
	}
}

void
smtp_client_reply_line(const struct smtp_client_reply *r, char *out,
    size_t outlen)
{
	/* "ddd" + " " + enhanced + " " + text: all of it fits here. */
	char full[16 + sizeof(r->enhanced) + sizeof(r->text)];
	size_t n, tlen, elen, i, keep;

	if (outlen == 0)
		return;
	n = (size_t)snprintf(full, 16, "%03d", r->code);
	if (n >= 16)
		n = 15;
	elen = strnlen(r->enhanced, sizeof(r->enhanced) - 1);
	if (elen > 0) {
		full[n++] = ' ';
		memcpy(full + n, r->enhanced, elen);
		n += elen;
	}
	tlen = strnlen(r->text, sizeof(r->text) - 1);
	if (tlen > 0) {
		full[n++] = ' ';
		for (i = 0; i < tlen; i++)
			full[n++] = r->text[i] == '\n' ? ' ' : r->text[i];
	}
	keep = utf8_cut(full, n, outlen - 1);
	memcpy(out, full, keep);
	out[keep] = '\0';
}

void
smtp_dot_stuffer_init(struct smtp_dot_stuffer *ds)
{
	ds->at_line_start = true;
	ds->last = '\0';
}

/*
 * RFC 5321 4.5.2 asks for a dot after CRLF to be doubled.  A dot after a
 * bare CR or LF is doubled as well: the spool holds CRLF-only data, so
 * this never happens to real mail, but if it did, a receiver that takes
 * "\n.\n" or "\r.\r" for the end of data (the SMTP smuggling family)
 * still could not be made to see a message end we did not send.  A strict
 * receiver then keeps the extra dot: one octet of a broken message, not a
 * second message.
 *
 * at_line_start says the data so far ends at a line boundary (empty, or
 * ending in CRLF), which smtp_dot_end needs.
 */
size_t
smtp_dot_stuff(struct smtp_dot_stuffer *ds, const char *in, size_t len,
    char *out)
{
	size_t i, o = 0;
	char last = ds->last;
	bool bol = ds->at_line_start;

	for (i = 0; i < len; i++) {
		char c = in[i];

		if (c == '.' && (bol || last == '\r' || last == '\n'))
			out[o++] = '.';
		out[o++] = c;
		bol = last == '\r' && c == '\n';
		last = c;
	}
	ds->last = last;
	ds->at_line_start = bol;
	return o;
}

size_t
smtp_dot_end(const struct smtp_dot_stuffer *ds, char *out)
{
	if (ds->at_line_start) {
		memcpy(out, ".\r\n", 3);
		return 3;
	}
	memcpy(out, "\r\n.\r\n", 5);
	return 5;
}
