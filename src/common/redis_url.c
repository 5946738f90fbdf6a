/*
 * Parsing of the Redis backend's URL (redis_url.h), strictly: the
 * operator gets "FILE:LINE: greylist.backend: ..." from the config
 * check for anything this refuses, rather than a daemon that talks to
 * the wrong server.  Pure; called by store_redis.c at open and by the
 * admin commands.  Trusts nothing in the URL; bounds every copy.  The
 * password is never quoted in an error.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "common/redis_url.h"

#define SCHEME	"redis://"

static int
url_err(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s (expected redis://[:PASSWORD@]HOST[:PORT][/DB])", what);
	return -1;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..len) into out (RFC 3986 2.1); no NUL, no controls. */
static int
url_decode(const char *s, size_t len, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
			int lo = hi >= 0 ? hexval(s[i + 2]) : -1;

			if (lo < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f || o + 1 >= outlen)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* Digits only, no sign, no leading garbage, at most max. */
static int
url_number(const char *s, size_t len, unsigned max, unsigned *v)
{
	unsigned long n = 0;
	size_t i;

	if (len == 0 || len > 5)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		n = n * 10 + (unsigned long)(s[i] - '0');
	}
	if (n > max)
		return -1;
	*v = (unsigned)n;
	return 0;
}

/* RFC 1123 2.1 host name: LDH labels of 1-63, no leading/trailing '-'. */
static bool
url_hostname_ok(const char *h)
{
	size_t label = 0, i, n = strlen(h);

	if (n == 0 || n > 253)
		return false;
	for (i = 0; i < n; i++) {
		char c = h[i];

		if (c == '.') {
			if (label == 0 || h[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return h[n - 1] != '-';
}

static int
url_userinfo(const char *s, size_t len, struct redis_url *u, char *err, size_t errlen)
{
	const char *colon = memchr(s, ':', len);

	if (colon == NULL)
		return url_err(err, errlen, "a user without a password");
	if (url_decode(s, (size_t)(colon - s), u->user, sizeof(u->user)) < 0 ||
	    url_decode(colon + 1, len - (size_t)(colon - s) - 1, u->password,
	    sizeof(u->password)) < 0)
		return url_err(err, errlen, "bad user or password (control character, "
		    "bad %-escape or over 255 bytes)");
	if (u->password[0] == '\0')
		return url_err(err, errlen, "empty password");
	u->has_password = true;
	return 0;
}

/* HOST[:PORT] with HOST a name, an IPv4 literal or "[IPv6]". */
static int
url_hostport(const char *s, size_t len, struct redis_url *u, char *err, size_t errlen)
{
	const char *host = s, *port = NULL, *end = s + len;
	size_t hlen;
	unsigned char buf[16];

	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (close == NULL)
			return url_err(err, errlen, "'[' without ']'");
		host = s + 1;
		hlen = (size_t)(close - host);
		if (close + 1 < end && close[1] != ':')
			return url_err(err, errlen, "junk after ']'");
		port = close + 1 < end ? close + 2 : NULL;
	} else {
		const char *colon = memchr(s, ':', len);

		if (colon != NULL && memchr(colon + 1, ':', (size_t)(end - colon - 1)) != NULL)
			return url_err(err, errlen, "an IPv6 literal needs brackets: [::1]");
		hlen = colon != NULL ? (size_t)(colon - s) : len;
		port = colon != NULL ? colon + 1 : NULL;
	}
	if (hlen == 0 || hlen >= sizeof(u->host))
		return url_err(err, errlen, hlen == 0 ? "no host" : "host name too long");
	memcpy(u->host, host, hlen);
	u->host[hlen] = '\0';
	if (host != s ? inet_pton(AF_INET6, u->host, buf) != 1 :
	    !url_hostname_ok(u->host))
		return url_err(err, errlen, host != s ? "bad IPv6 literal" : "bad host name");
	u->port = REDIS_URL_PORT_DEFAULT;
	if (port != NULL && (url_number(port, (size_t)(end - port), 65535, &u->port) < 0 ||
	    u->port == 0))
		return url_err(err, errlen, "port is not 1-65535");
	return 0;
}

int
redis_url_parse(const char *url, struct redis_url *u, char *err, size_t errlen)
{
	const char *auth, *slash, *at, *p;
	size_t alen;

	memset(u, 0, sizeof(*u));
	if (strncmp(url, SCHEME, strlen(SCHEME)) != 0)
		return url_err(err, errlen, "not a redis:// URL");
	auth = url + strlen(SCHEME);
	slash = strchr(auth, '/');
	alen = slash != NULL ? (size_t)(slash - auth) : strlen(auth);
	for (p = auth; *p != '\0'; p++)
		if (*p == '?' || *p == '#' || (unsigned char)*p <= ' ')
			return url_err(err, errlen, "query, fragment or space in the URL");
	/* The last '@' ends the userinfo, so an unescaped '@' in a password
	 * stays in the password rather than becoming part of the host. */
	at = NULL;
	for (p = auth; p < auth + alen; p++)
		if (*p == '@')
			at = p;
	if (at != NULL && url_userinfo(auth, (size_t)(at - auth), u, err, errlen) < 0)
		goto fail;
	p = at != NULL ? at + 1 : auth;
	if (url_hostport(p, (size_t)(auth + alen - p), u, err, errlen) < 0)
		goto fail;
	if (slash != NULL && slash[1] != '\0' &&
	    url_number(slash + 1, strlen(slash + 1), REDIS_URL_DB_MAX, &u->db) < 0) {
		url_err(err, errlen, "database is not a number 0-65535");
		goto fail;
	}
	return 0;
fail:
	redis_url_clear(u);
	return -1;
}

void
redis_url_clear(struct redis_url *u)
{
	explicit_bzero(u->user, sizeof(u->user));
	explicit_bzero(u->password, sizeof(u->password));
	u->has_password = false;
}
