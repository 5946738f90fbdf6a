/*
 * Configuration values: the typed readers behind config_load() (see
 * config_priv.h).  Each takes one libconfig setting, checks its type and
 * range, and on error fills the context's config_error with the file, the
 * line and a message that names the key ("timeouts.command: ...").
 *
 * Called only by config.c and config_listen.c while a file is loaded.
 * Trusts libconfig's tree to be well-formed; trusts nothing about the
 * values in it.  Floats, strings and booleans are never converted to
 * numbers.  The only I/O is re-reading the config file to find the line
 * of a list element (cfg_elem_line) and the literal of an integer
 * (cfg_literal), bounded by their line buffers.
 */
#include "common/config_priv.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bounds.h"
#include "common/xmalloc.h"

/*
 * libconfig 1.5 gives a list's last scalar element the line of the
 * closing ")" (the lexer has looked ahead).  Find the element's own line:
 * the nearest line at or before that one, and not before the list, that
 * holds the quoted value.
 */
static int
cfg_elem_line(const char *file, const char *value, int first, int last)
{
	char needle[300], line[1024];
	int n = 0, found = last;
	FILE *f;

	if (snprintf(needle, sizeof(needle), "\"%s\"", value) >=
	    (int)sizeof(needle) || (f = fopen(file, "r")) == NULL)
		return last;
	while (n < last && fgets(line, sizeof(line), f) != NULL) {
		if (strchr(line, '\n') == NULL && !feof(f))
			break;	/* a long line: keep libconfig's answer */
		if (++n >= first && strstr(line, needle) != NULL)
			found = n;
	}
	fclose(f);
	return found;
}

void
cfg_error(struct cfg_ctx *c, const config_setting_t *s, const char *fmt, ...)
{
	const char *file = NULL;
	va_list ap;

	if (s != NULL)
		file = config_setting_source_file(s);
	if (file == NULL)
		file = c->path;
	snprintf(c->err->file, sizeof(c->err->file), "%s", file);
	c->err->line = s != NULL ? (int)config_setting_source_line(s) : 0;
	if (s != NULL && s->name == NULL &&
	    config_setting_type(s) == CONFIG_TYPE_STRING)
		c->err->line = cfg_elem_line(file, config_setting_get_string(s),
		    (int)config_setting_source_line(config_setting_parent(s)),
		    c->err->line);
	va_start(ap, fmt);
	vsnprintf(c->err->message, sizeof(c->err->message), fmt, ap);
	va_end(ap);
}

/* The dotted name of a setting ("timeouts.command", "listen[1].role")
 * for error messages.  False when it was cut to fit out: callers accept
 * that, as the name only ever appears in a message. */
static bool
cfg_name(const config_setting_t *s, char *out, size_t outlen)
{
	const config_setting_t *parent = config_setting_parent(s);
	char up[128];
	int n;

	if (parent == NULL || config_setting_is_root(parent)) {
		n = snprintf(out, outlen, "%s", s->name ? s->name : "?");
		return n >= 0 && (size_t)n < outlen;
	}
	(void)cfg_name(parent, up, sizeof(up));
	if (s->name != NULL)
		n = snprintf(out, outlen, "%s.%s", up, s->name);
	else
		n = snprintf(out, outlen, "%s[%d]", up, config_setting_index(s));
	return n >= 0 && (size_t)n < outlen;
}

void
cfg_key_error(struct cfg_ctx *c, const config_setting_t *s,
    const char *fmt, ...)
{
	char name[160], msg[sizeof(c->err->message)];
	va_list ap;

	(void)cfg_name(s, name, sizeof(name));
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cfg_error(c, s, "%s: %s", name, msg);
}

int
cfg_string(struct cfg_ctx *c, const config_setting_t *s, const char **out)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		cfg_key_error(c, s, "must be a string in double quotes");
		return -1;
	}
	*out = config_setting_get_string(s);
	return 0;
}

int
cfg_nonempty(struct cfg_ctx *c, const config_setting_t *s, const char **out)
{
	if (cfg_string(c, s, out) < 0)
		return -1;
	if (**out == '\0') {
		cfg_key_error(c, s, "must not be empty");
		return -1;
	}
	return 0;
}

int
cfg_token(struct cfg_ctx *c, const config_setting_t *s, size_t max,
    const char *why, const char **out)
{
	if (cfg_nonempty(c, s, out) < 0)
		return -1;
	if (strlen(*out) > max) {
		cfg_key_error(c, s, "at most %zu characters", max);
		return -1;
	}
	for (const char *p = *out; *p != '\0'; p++) {
		if (*p <= ' ' || *p >= 0x7f) {
			cfg_key_error(c, s, "must be printable ASCII without "
			    "spaces%s%s", why != NULL ? ": " : "",
			    why != NULL ? why : "");
			return -1;
		}
	}
	return 0;
}

/*
 * An integer literal as libconfig's scanner accepts it: [-+]?[0-9]+ or
 * 0x[0-9a-fA-F]+, then an optional L or LL.  Its exact value in *v, or
 * *overflow when that does not fit in 64 bits; the literal's length in
 * *len.  False when p does not start with one.
 */
static bool
lit_parse(const char *p, long long *v, bool *overflow, size_t *len)
{
	const char *q = p;
	unsigned long long acc = 0, limit = (unsigned long long)LLONG_MAX;
	unsigned base = 10, d;
	bool neg = false, any = false;

	*overflow = false;
	if (*q == '-' || *q == '+')
		neg = *q++ == '-';
	if (!neg && q[0] == '0' && (q[1] == 'x' || q[1] == 'X') && q == p) {
		base = 16;
		q += 2;
	}
	if (neg)
		limit += 1;	/* LLONG_MIN's magnitude */
	for (;; q++, any = true) {
		if (*q >= '0' && *q <= '9')
			d = (unsigned)(*q - '0');
		else if (base == 16 && *q >= 'a' && *q <= 'f')
			d = (unsigned)(*q - 'a' + 10);
		else if (base == 16 && *q >= 'A' && *q <= 'F')
			d = (unsigned)(*q - 'A' + 10);
		else
			break;
		if (acc > (limit - d) / base)
			*overflow = true;
		else
			acc = acc * base + d;
	}
	if (!any)
		return false;
	if (*q == 'L')
		q += q[1] == 'L' ? 2 : 1;
	*len = (size_t)(q - p);
	if (!*overflow)
		*v = neg ? (acc == limit ? LLONG_MIN : -(long long)acc) :
		    (long long)acc;
	return true;
}

static bool
name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '*';
}

/* Lines first..first+count-1 of file, joined, in out; a window longer
 * than out is cut (the caller searches what there is). */
static bool
cfg_read_lines(const char *file, int first, int count, char *out,
    size_t outlen)
{
	char chunk[1024];
	size_t used = 0, n;
	int done = 0;		/* complete lines read */
	FILE *f = fopen(file, "r");

	if (f == NULL)
		return false;
	out[0] = '\0';
	while (fgets(chunk, sizeof(chunk), f) != NULL) {
		n = strlen(chunk);
		if (done + 1 >= first) {
			if (used + n >= outlen)
				break;
			memcpy(out + used, chunk, n + 1);
			used += n;
		}
		if (n > 0 && chunk[n - 1] == '\n' &&
		    ++done >= first + count - 1)
			break;
	}
	fclose(f);
	return used > 0;
}

/*
 * libconfig 1.5 reads a plain integer with atoi(): 4294967306 becomes 10
 * and passes a range check, 99999999999999999999 becomes -1 and is
 * reported as "-1 is out of range".  So the literal written after the
 * setting's name is read again from the file (its line and the next
 * three, where "key =" may have left the value) and it is the value.
 * A literal is this setting's when libconfig's value agrees with it, or
 * when it does not fit the 32 bits libconfig gave it.  False when no
 * such literal is found: libconfig's value stands, as before.
 */
static bool
cfg_literal(const config_setting_t *s, long long lib, long long *exact,
    bool *overflow, char *text, size_t textlen)
{
	const char *file = config_setting_source_file(s), *p, *q;
	size_t nlen = s->name != NULL ? strlen(s->name) : 0, len;
	char lines[4096];

	if (nlen == 0 || file == NULL || config_setting_source_line(s) == 0 ||
	    !cfg_read_lines(file,
	    (int)config_setting_source_line(s), 4, lines, sizeof(lines)))
		return false;
	for (p = lines; (p = strstr(p, s->name)) != NULL; p += nlen) {
		if ((p > lines && name_char(p[-1])) || name_char(p[nlen]))
			continue;
		q = p + nlen + strspn(p + nlen, " \t\r\n");
		if (*q != '=' && *q != ':')
			continue;
		q += 1 + strspn(q + 1, " \t\r\n");
		if (!lit_parse(q, exact, overflow, &len))
			continue;
		if (*overflow || *exact == lib ||
		    (config_setting_type(s) == CONFIG_TYPE_INT &&
		    (*exact < INT_MIN || *exact > INT_MAX))) {
			/* As written, without libconfig's 64-bit "L". */
			while (len > 0 && q[len - 1] == 'L')
				len--;
			snprintf(text, textlen, "%.*s", (int)len, q);
			return true;
		}
	}
	return false;
}

/* A whole number in [min, max].  Floats, strings and booleans are type
 * errors rather than being converted: "25M" must not become 25. */
int
cfg_number(struct cfg_ctx *c, const config_setting_t *s,
    long long min, long long max, long long *out)
{
	long long v, exact;
	bool overflow;
	char text[48];

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		v = config_setting_get_int(s);
		break;
	case CONFIG_TYPE_INT64:
		v = config_setting_get_int64(s);
		break;
	default:
		cfg_key_error(c, s, "must be a whole number");
		return -1;
	}
	/* The number as written, not as libconfig squeezed it. */
	if (cfg_literal(s, v, &exact, &overflow, text, sizeof(text))) {
		if (overflow || exact < min || exact > max) {
			cfg_key_error(c, s, "%s is out of range (%lld to %lld)",
			    text, min, max);
			return -1;
		}
		v = exact;
	}
	if (v < min || v > max) {
		cfg_key_error(c, s, "%lld is out of range (%lld to %lld)",
		    v, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int
cfg_unsigned(struct cfg_ctx *c, const config_setting_t *s,
    long long min, long long max, unsigned *out)
{
	long long v;

	if (cfg_number(c, s, min, max, &v) < 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

void
cfg_where(struct cfg_ctx *c, const config_setting_t *s,
    struct config_where *w)
{
	const char *file = config_setting_source_file(s);

	free(w->file);
	w->file = xstrdup(file != NULL ? file : c->path);
	w->line = (int)config_setting_source_line(s);
}

void
cfg_warn(struct cfg_ctx *c, const config_setting_t *s, const char *fmt, ...)
{
	struct config *cfg = c->cfg;
	struct config_error *w;
	const char *file = s != NULL ? config_setting_source_file(s) : NULL;
	va_list ap;

	if (cfg->n_warnings >= CONFIG_WARNINGS_MAX)
		return;
	cfg->warnings = xreallocarray(cfg->warnings, cfg->n_warnings + 1,
	    sizeof(*cfg->warnings));
	w = &cfg->warnings[cfg->n_warnings++];
	memset(w, 0, sizeof(*w));
	snprintf(w->file, sizeof(w->file), "%s", file != NULL ? file : c->path);
	w->line = s != NULL ? (int)config_setting_source_line(s) : 0;
	va_start(ap, fmt);
	vsnprintf(w->message, sizeof(w->message), fmt, ap);
	va_end(ap);
}

/* Absolute paths as written; relative ones joined to the config's
 * folder.  No normalisation beyond that: the path need not exist yet. */
int
cfg_path(struct cfg_ctx *c, const config_setting_t *s, char **out)
{
	const char *v;

	if (cfg_nonempty(c, s, &v) < 0)
		return -1;
	free(*out);
	if (v[0] == '/')
		*out = xstrdup(v);
	else
		*out = xasprintf("%s/%s", c->dir, v);
	if (strlen(*out) >= PATH_MAX) {
		cfg_key_error(c, s, "path too long");
		return -1;
	}
	return 0;
}

/* RFC 1035 2.3.1 preferred name syntax (letters, digits, hyphens; labels
 * of 1-63 octets; 253 in all), also allowing UTF-8 octets for RFC 6531
 * U-labels.  A trailing dot is not accepted: we compare names as strings. */
bool
cfg_valid_domain(const char *s, bool need_dot)
{
	size_t len = strlen(s), label = 0;
	bool dot = false;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			dot = true;
			continue;
		}
		if (!(ch >= 0x80 || (ch >= 'a' && ch <= 'z') ||
		    (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-'))
			return false;
		if (ch == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	if (label == 0 || s[len - 1] == '-')
		return false;
	return !need_dot || dot;
}

/* "local@domain": a dot-atom or quoted local part (RFC 5321 4.1.2) of at
 * most 64 octets and a domain name.  Kept simple on purpose: the routing
 * code does the rest when mail actually flows. */
bool
cfg_valid_address(const char *s)
{
	const char *at = strrchr(s, '@');
	size_t llen;

	if (at == NULL || at == s)
		return false;
	llen = (size_t)(at - s);
	if (llen > SMTP_LOCAL_PART_MAX)
		return false;
	if (s[0] != '"') {
		for (const char *p = s; p < at; p++) {
			unsigned char ch = (unsigned char)*p;

			if (ch <= ' ' || ch == 0x7f || strchr("\"(),:;<>@[\\]", ch))
				return false;
		}
		if (s[0] == '.' || at[-1] == '.' || memmem(s, llen, "..", 2))
			return false;
	} else if (llen < 2 || at[-1] != '"') {
		return false;
	}
	return cfg_valid_domain(at + 1, false);
}

/* Reject any member of group s whose name is not in allowed. */
static int
cfg_known_keys(struct cfg_ctx *c, const config_setting_t *s,
    const char *const *allowed)
{
	int n = config_setting_length(s);
	char name[160];

	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		bool ok = false;

		for (size_t k = 0; allowed[k] != NULL; k++)
			if (e->name != NULL && strcmp(e->name, allowed[k]) == 0)
				ok = true;
		if (!ok) {
			(void)cfg_name(e, name, sizeof(name));
			cfg_error(c, e, "unknown setting \"%s\"", name);
			return -1;
		}
	}
	return 0;
}

int
cfg_need_group(struct cfg_ctx *c, const config_setting_t *s,
    const char *const *allowed)
{
	if (!config_setting_is_group(s)) {
		cfg_key_error(c, s, "must be a group { ... }");
		return -1;
	}
	return cfg_known_keys(c, s, allowed);
}

int
cfg_member_unsigned(struct cfg_ctx *c, const config_setting_t *g,
    const char *key, long long min, long long max, unsigned *out)
{
	const config_setting_t *s = config_setting_get_member(g, key);

	if (s == NULL)
		return 0;
	return cfg_unsigned(c, s, min, max, out);
}

int
cfg_member_bool(struct cfg_ctx *c, const config_setting_t *g,
    const char *key, bool *out)
{
	const config_setting_t *s = config_setting_get_member(g, key);

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		cfg_key_error(c, s, "must be true or false");
		return -1;
	}
	*out = config_setting_get_bool(s) != 0;
	return 0;
}

int
cfg_choice(struct cfg_ctx *c, const config_setting_t *s,
    const char *const *names, const char *what, int *out)
{
	const char *v;

	if (cfg_string(c, s, &v) < 0)
		return -1;
	for (int i = 0; names[i] != NULL; i++) {
		if (strcmp(v, names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	cfg_error(c, s, "%s, not \"%.32s\"", what, v);
	return -1;
}
