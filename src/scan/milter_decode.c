/*
 * The milter's replies (milter_proto.h), decoded from a stream split
 * anywhere.  Trusts nothing the milter sends: the length is checked
 * against MILTER_DATA_MAX before a single data octet is kept (the buffer
 * is the decoder's own, never allocated from the length), every string
 * must end with its NUL inside the packet, and every field is checked
 * for what the MTA will do with it (a header it writes to the spool, a
 * path it delivers to, a reply it sends to the SMTP client).
 */
#include "scan/milter_proto.h"
#include "scan/scan_text.h"

#include <string.h>

/* The fields of one packet, read from the front. */
struct cur {
	uint8_t *p;
	size_t left;
};

static bool
get_u32(struct cur *c, uint32_t *v)
{
	if (c->left < 4)
		return false;
	*v = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 |
	    (uint32_t)c->p[2] << 8 | c->p[3];
	c->p += 4;
	c->left -= 4;
	return true;
}

/* A NUL-terminated string inside the packet; its length in *len. */
static char *
get_str(struct cur *c, size_t *len)
{
	uint8_t *nul = memchr(c->p, '\0', c->left);
	char *s = (char *)c->p;

	if (nul == NULL)
		return NULL;
	*len = (size_t)(nul - c->p);
	c->left -= *len + 1;
	c->p = nul + 1;
	return s;
}

/* ESMTP args, a reason, a macro list: printable ASCII and spaces. */
static bool
text_ok(const char *s, size_t len, size_t max)
{
	if (len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 32 || ch > 126)
			return false;
	}
	return true;
}

static enum milter_error
decode_header(struct cur *c, struct milter_reply *r, bool indexed)
{
	char *name, *value;
	size_t nlen, vlen;

	if (indexed && !get_u32(c, &r->index))
		return MILTER_ESHORT;
	if ((name = get_str(c, &nlen)) == NULL ||
	    (value = get_str(c, &vlen)) == NULL)
		return MILTER_ESHORT;
	if (!scan_header_name_ok(name, nlen, MILTER_HEADER_NAME_MAX))
		return MILTER_EHDRNAME;
	if (!scan_header_value_fix(value, &vlen, MILTER_HEADER_VALUE_MAX))
		return MILTER_EHDRVALUE;
	r->name = name;
	r->value = value;
	return MILTER_OK;
}

/*
 * A path as libmilter filters send it: "<a@b>" (ESMTP parameters are not
 * part of it) or a bare "a@b".  "<>" only for CHGFROM.  UTF-8 is let
 * through valid (path.utf8 tells the client, which knows whether the
 * transaction is SMTPUTF8).
 */
static enum milter_error
decode_path(struct cur *c, struct milter_reply *r, bool from)
{
	enum smtp_addr_error e;
	char *s;
	size_t len;

	if ((s = get_str(c, &len)) == NULL)
		return MILTER_ESHORT;
	if (len == 0 || len > SMTP_PATH_MAX)
		return MILTER_EADDRESS;
	if (from && strcmp(s, "<>") == 0) {
		r->path.null = true;
		return MILTER_OK;
	}
	/* The rest of a sender's path has a recipient's syntax. */
	if (s[0] == '<')
		e = smtp_parse_rcpt_to(s, len, true, &r->path);
	else
		e = smtp_parse_address(s, len, true, &r->path);
	return e == SMTP_ADDR_OK ? MILTER_OK : MILTER_EADDRESS;
}

/* The optional ESMTP args after a path (ADDRCPT_PAR, CHGFROM). */
static enum milter_error
decode_args(struct cur *c, struct milter_reply *r)
{
	size_t len;

	r->args = "";
	if (c->left == 0)
		return MILTER_OK;
	if ((r->args = get_str(c, &len)) == NULL)
		return MILTER_ESHORT;
	return text_ok(r->args, len, MILTER_ARGS_MAX) ? MILTER_OK : MILTER_EARGS;
}

/* Space-separated macro names for one stage. */
static enum milter_error
decode_symlist(struct cur *c, struct milter_reply *r, bool unknown_ok)
{
	uint32_t stage;
	char *names;
	size_t len;

	if (!get_u32(c, &stage) || (names = get_str(c, &len)) == NULL)
		return MILTER_ESHORT;
	if (!text_ok(names, len, MILTER_SYMLIST_MAX))
		return MILTER_ETEXT;
	if (stage >= MILTER_STAGE_COUNT)
		/* Postfix ignores a list for a stage it does not know. */
		return unknown_ok ? MILTER_OK : MILTER_ESTAGE;
	r->stage = stage;
	r->symlist[stage] = names;
	return MILTER_OK;
}

static enum milter_error
decode_optneg(struct cur *c, struct milter_reply *r)
{
	enum milter_error e;

	if (!get_u32(c, &r->version) || !get_u32(c, &r->actions) ||
	    !get_u32(c, &r->proto))
		return MILTER_ESHORT;
	/* Version 6's set-symbol-list: (stage, names) pairs, later wins. */
	while (c->left > 0)
		if ((e = decode_symlist(c, r, true)) != MILTER_OK)
			return e;
	return MILTER_OK;
}

/*
 * "550 5.7.1 text", or several lines "550-5.7.1 a\r\n550 5.7.1 b" as
 * libmilter's smfi_setmlreply writes them, read by the SMTP client's own
 * reply reader: the same rules as a remote server's reply.
 */
static enum milter_error
decode_replycode(struct cur *c, struct milter_reply *r)
{
	struct smtp_client_reader rd;
	enum smtp_client_feed f = SMTP_CLIENT_BAD;
	char *s, *nl;
	size_t len;

	if ((s = get_str(c, &len)) == NULL)
		return MILTER_ESHORT;
	smtp_client_reader_init(&rd);
	for (;;) {
		nl = memchr(s, '\n', len);
		f = smtp_client_reader_feed(&rd, s, nl ? (size_t)(nl - s) : len);
		if (nl == NULL || f != SMTP_CLIENT_MORE)
			break;
		len -= (size_t)(nl - s) + 1;
		s = nl + 1;
	}
	/* Done exactly at the last line, and a refusal. */
	if (f != SMTP_CLIENT_DONE || nl != NULL || rd.reply.code < 400)
		return MILTER_EREPLY;
	r->reply = rd.reply;
	return MILTER_OK;
}

static enum milter_error
decode_reason(struct cur *c, struct milter_reply *r)
{
	char *s;
	size_t len;

	if ((s = get_str(c, &len)) == NULL)
		return MILTER_ESHORT;
	if (len > MILTER_REASON_MAX)
		return MILTER_ETEXT;
	scan_copy_printable(s, len + 1, s, len);
	r->reason = s;
	return MILTER_OK;
}

static enum milter_error
decode_fields(uint8_t cmd, struct cur *c, struct milter_reply *r)
{
	enum milter_error e;

	switch (cmd) {
	case MILTER_R_ACCEPT:
	case MILTER_R_CONTINUE:
	case MILTER_R_REJECT:
	case MILTER_R_TEMPFAIL:
	case MILTER_R_DISCARD:
	case MILTER_R_SKIP:
	case MILTER_R_PROGRESS:
		return MILTER_OK;
	case MILTER_R_OPTNEG:
		return decode_optneg(c, r);
	case MILTER_R_REPLYCODE:
		return decode_replycode(c, r);
	case MILTER_R_ADDHEADER:
		return decode_header(c, r, false);
	case MILTER_R_CHGHEADER:
	case MILTER_R_INSHEADER:
		return decode_header(c, r, true);
	case MILTER_R_REPLBODY:
		r->data = c->p;
		r->len = c->left;
		c->left = 0;
		return MILTER_OK;
	case MILTER_R_ADDRCPT:
	case MILTER_R_DELRCPT:
		return decode_path(c, r, false);
	case MILTER_R_ADDRCPT_PAR:
		if ((e = decode_path(c, r, false)) != MILTER_OK)
			return e;
		return decode_args(c, r);
	case MILTER_R_CHGFROM:
		if ((e = decode_path(c, r, true)) != MILTER_OK)
			return e;
		return decode_args(c, r);
	case MILTER_R_QUARANTINE:
		return decode_reason(c, r);
	case MILTER_R_SETSYMLIST:
		return decode_symlist(c, r, false);
	default:
		return MILTER_EUNKNOWN;
	}
}

/* The whole packet in d->buf: its reply, or why not. */
static enum milter_error
decode_packet(struct milter_decoder *d, struct milter_reply *r)
{
	struct cur c = { d->buf + 1, d->want - 1 };
	enum milter_error e;

	memset(r, 0, sizeof(*r));
	r->type = (enum milter_reply_type)d->buf[0];
	/* Every string search stops at this NUL at the latest. */
	d->buf[d->want] = '\0';
	if ((e = decode_fields(d->buf[0], &c, r)) != MILTER_OK)
		return e;
	if (c.left != 0)
		return MILTER_ETRAILING;
	return MILTER_OK;
}

void
milter_decoder_init(struct milter_decoder *d)
{
	d->head_have = 0;
	d->want = 0;
	d->have = 0;
	d->failed = false;
	d->error = MILTER_OK;
}

static enum milter_dec
fail(struct milter_decoder *d, enum milter_error e, enum milter_error *err)
{
	d->failed = true;
	d->error = e;
	*err = e;
	return MILTER_DEC_ERROR;
}

enum milter_dec
milter_decode(struct milter_decoder *d, const void *in, size_t len,
    size_t *used, struct milter_reply *r, enum milter_error *err)
{
	const uint8_t *p = in;
	size_t n, take = 0;
	enum milter_error e;

	*used = 0;
	*err = MILTER_OK;
	if (d->failed)
		return fail(d, d->error, err);
	while (d->head_have < 4) {
		if (take == len) {
			*used = take;
			return MILTER_DEC_MORE;
		}
		d->head[d->head_have++] = p[take++];
		if (d->head_have == 4) {
			n = (size_t)d->head[0] << 24 | (size_t)d->head[1] << 16 |
			    (size_t)d->head[2] << 8 | d->head[3];
			*used = take;
			if (n == 0 || n > 1 + MILTER_DATA_MAX)
				return fail(d, MILTER_ELENGTH, err);
			d->want = n;
			d->have = 0;
		}
	}
	n = d->want - d->have;
	if (n > len - take)
		n = len - take;
	memcpy(d->buf + d->have, p + take, n);
	d->have += n;
	take += n;
	*used = take;
	if (d->have < d->want)
		return MILTER_DEC_MORE;
	d->head_have = 0;
	if ((e = decode_packet(d, r)) != MILTER_OK)
		return fail(d, e, err);
	return MILTER_DEC_REPLY;
}

const char *
milter_strerror(enum milter_error e)
{
	switch (e) {
	case MILTER_OK:
		return "no error";
	case MILTER_ELENGTH:
		return "packet length is 0 or over the limit";
	case MILTER_EUNKNOWN:
		return "unknown reply code";
	case MILTER_ESHORT:
		return "packet ends inside a field";
	case MILTER_ETRAILING:
		return "octets after the last field";
	case MILTER_EHDRNAME:
		return "header name is not an RFC 5322 field name";
	case MILTER_EHDRVALUE:
		return "header value has control octets or bare line breaks";
	case MILTER_EADDRESS:
		return "address is not an SMTP path";
	case MILTER_EARGS:
		return "ESMTP arguments are malformed or too long";
	case MILTER_EREPLY:
		return "reply is not a 4xx or 5xx SMTP reply";
	case MILTER_ETEXT:
		return "text is malformed or too long";
	case MILTER_ESTAGE:
		return "macro stage does not exist";
	}
	return "unknown error";
}
