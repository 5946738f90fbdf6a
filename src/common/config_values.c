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
 * of a list element (cfg_elem_line), bounded by its line buffer.
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

/* A whole number in [min, max].  Floats, strings and booleans are type
 * errors rather than being converted: "25M" must not become 25. */
int
cfg_number(struct cfg_ctx *c, const config_setting_t *s,
    long long min, long long max, long long *out)
{
	long long v;

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
