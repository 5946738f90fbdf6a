/*
 * The milter packets the MTA sends (milter_proto.h), written into the
 * caller's bounded buffer.  Trusts its caller for the meaning of what it
 * sends (the SMTP side checked paths and headers already); checks only
 * that the packet is well formed and within MILTER_DATA_MAX, so a milter
 * with libmilter's default limit never sees a packet it must refuse.
 */
#include "scan/milter_proto.h"

#include <string.h>

/* A packet being written: overflow latches, so the writers stay short. */
struct pkt {
	uint8_t *out;
	size_t cap;
	size_t len;
	bool bad;
};

static void
put(struct pkt *p, const void *data, size_t n)
{
	if (p->bad || n > p->cap - p->len) {
		p->bad = true;
		return;
	}
	memcpy(p->out + p->len, data, n);
	p->len += n;
}

static void
put_u8(struct pkt *p, uint8_t v)
{
	put(p, &v, 1);
}

static void
put_u16(struct pkt *p, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(p, b, sizeof(b));
}

static void
put_u32(struct pkt *p, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
		(uint8_t)(v >> 8), (uint8_t)v };

	put(p, b, sizeof(b));
}

/* A C string with its NUL; NULL is refused rather than sent as "". */
static void
put_str(struct pkt *p, const char *s)
{
	if (s == NULL) {
		p->bad = true;
		return;
	}
	put(p, s, strlen(s) + 1);
}

static void
begin(struct pkt *p, uint8_t *out, size_t outlen, enum milter_cmd cmd)
{
	p->out = out;
	p->cap = outlen;
	p->len = 0;
	p->bad = out == NULL || outlen < MILTER_HEAD_LEN;
	if (!p->bad) {
		p->len = 4;	/* the length, written by finish() */
		put_u8(p, (uint8_t)cmd);
	}
}

static size_t
finish(struct pkt *p)
{
	size_t n;

	if (p->bad || p->len - MILTER_HEAD_LEN > MILTER_DATA_MAX)
		return 0;
	n = p->len - 4;
	p->out[0] = (uint8_t)(n >> 24);
	p->out[1] = (uint8_t)(n >> 16);
	p->out[2] = (uint8_t)(n >> 8);
	p->out[3] = (uint8_t)n;
	return p->len;
}

size_t
milter_enc_optneg(uint8_t *out, size_t outlen, uint32_t version,
    uint32_t actions, uint32_t proto)
{
	struct pkt p;

	begin(&p, out, outlen, MILTER_C_OPTNEG);
	put_u32(&p, version);
	put_u32(&p, actions);
	put_u32(&p, proto);
	return finish(&p);
}

static bool
macro_cmd_ok(enum milter_cmd cmd)
{
	switch (cmd) {
	case MILTER_C_CONNECT:
	case MILTER_C_HELO:
	case MILTER_C_MAIL:
	case MILTER_C_RCPT:
	case MILTER_C_DATA:
	case MILTER_C_EOH:
	case MILTER_C_EOB:
		return true;
	default:
		return false;
	}
}

size_t
milter_enc_macros(uint8_t *out, size_t outlen, enum milter_cmd cmd,
    const struct milter_macro *m, size_t n)
{
	struct pkt p;

	begin(&p, out, outlen, MILTER_C_MACRO);
	if (!macro_cmd_ok(cmd) || n > MILTER_MACROS_MAX || (n > 0 && m == NULL))
		return 0;
	put_u8(&p, (uint8_t)cmd);
	for (size_t i = 0; i < n; i++) {
		if (m[i].name == NULL || m[i].name[0] == '\0')
			return 0;
		put_str(&p, m[i].name);
		put_str(&p, m[i].value);
	}
	return finish(&p);
}

size_t
milter_enc_connect(uint8_t *out, size_t outlen, const char *hostname,
    enum milter_family family, uint16_t port, const char *addr)
{
	struct pkt p;

	begin(&p, out, outlen, MILTER_C_CONNECT);
	put_str(&p, hostname);
	switch (family) {
	case MILTER_FAMILY_UNKNOWN:
		put_u8(&p, (uint8_t)family);
		break;
	case MILTER_FAMILY_UNIX:
	case MILTER_FAMILY_INET:
	case MILTER_FAMILY_INET6:
		put_u8(&p, (uint8_t)family);
		put_u16(&p, port);
		put_str(&p, addr);
		break;
	default:
		return 0;
	}
	return finish(&p);
}

size_t
milter_enc_helo(uint8_t *out, size_t outlen, const char *helo)
{
	struct pkt p;

	begin(&p, out, outlen, MILTER_C_HELO);
	put_str(&p, helo);
	return finish(&p);
}

size_t
milter_enc_envelope(uint8_t *out, size_t outlen, enum milter_cmd cmd,
    const char *path, const char *const *args, size_t nargs)
{
	struct pkt p;

	if ((cmd != MILTER_C_MAIL && cmd != MILTER_C_RCPT) ||
	    nargs > MILTER_MACROS_MAX || (nargs > 0 && args == NULL))
		return 0;
	begin(&p, out, outlen, cmd);
	put_str(&p, path);
	for (size_t i = 0; i < nargs; i++)
		put_str(&p, args[i]);
	return finish(&p);
}

size_t
milter_enc_header(uint8_t *out, size_t outlen, const char *name,
    const char *value)
{
	struct pkt p;

	if (name == NULL || name[0] == '\0')
		return 0;
	begin(&p, out, outlen, MILTER_C_HEADER);
	put_str(&p, name);
	put_str(&p, value);
	return finish(&p);
}

size_t
milter_enc_body(uint8_t *out, size_t outlen, const void *chunk, size_t len)
{
	struct pkt p;

	if (len == 0 || len > MILTER_DATA_MAX || chunk == NULL)
		return 0;
	begin(&p, out, outlen, MILTER_C_BODY);
	put(&p, chunk, len);
	return finish(&p);
}

size_t
milter_enc_simple(uint8_t *out, size_t outlen, enum milter_cmd cmd)
{
	struct pkt p;

	switch (cmd) {
	case MILTER_C_DATA:
	case MILTER_C_EOH:
	case MILTER_C_EOB:
	case MILTER_C_ABORT:
	case MILTER_C_QUIT:
	case MILTER_C_QUIT_NC:
		break;
	default:
		return 0;
	}
	begin(&p, out, outlen, cmd);
	return finish(&p);
}
