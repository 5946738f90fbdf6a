/*
 * Checks across keys, once config_load() has read every key: what no
 * single key is wrong about but the combination is.  See config_priv.h.
 *
 *   errors    spool, state and mailboxes are handed to the daemon's
 *             user, so none may lie inside another (nor domains inside
 *             any of them: that user could rewrite the tables and with
 *             them the passwords); the master's folder walk
 *             (common/safedir.c) would refuse the nesting too, but only
 *             after the first start had chowned the outer folder.
 *   warnings  timings that contradict each other but leave a working
 *             daemon (queue.lifetime below queue.retry_min, ...): printed
 *             by check-config as "FILE:LINE: warning: ...", logged by the
 *             daemon at start.
 *
 * Also the two ways out of the loader for problems found later:
 * config_error_at() (FILE:LINE of a recorded key) and the warnings.
 * Pure: no I/O beyond printing the warnings to stderr.
 */
#include "common/config_priv.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
config_error_at(struct config_error *err, const struct config *cfg,
    const struct config_where *w, const char *fmt, ...)
{
	va_list ap;

	memset(err, 0, sizeof(*err));
	snprintf(err->file, sizeof(err->file), "%s",
	    w != NULL && w->file != NULL ? w->file :
	    cfg->path != NULL ? cfg->path : "?");
	err->line = w != NULL ? w->line : 0;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

void
config_warnings_print(const struct config *cfg)
{
	char text[sizeof(cfg->warnings->message) + 16];

	for (size_t i = 0; i < cfg->n_warnings; i++) {
		const struct config_error *w = &cfg->warnings[i];

		snprintf(text, sizeof(text), "warning: %s", w->message);
		config_print(w->file, w->line, text);
	}
}

/*
 * "/a/./b/../c//" -> "/a/c", in place, without looking at the disk.
 * The cleaned path replaces the written one, so what the checks compare
 * is what the daemons open, whatever links lie on the way (the folder
 * walk refuses them in spool, state and mailboxes anyway).  Relative
 * paths were joined to the config's real folder already, so
 * "../var/spool" of the demo is a plain absolute path after this.
 */
void
cfg_clean_path(char *path)
{
	char *out = path, *p = path;
	size_t n;

	while (*p != '\0') {
		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.')) {
			p += n;
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (out > path && *--out != '/')
				continue;
			p += n;
			continue;
		}
		*out++ = '/';
		memmove(out, p, n);
		out += n;
		p += n;
	}
	if (out == path)
		*out++ = '/';
	*out = '\0';
}

/* Is a the folder b, or inside it?  Both are clean absolute paths. */
static bool
path_within(const char *a, const char *b)
{
	size_t n = strlen(b);

	if (strcmp(b, "/") == 0)
		return true;
	return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/');
}

/* The folders the daemon's user gets, and domains, which it must not
 * be able to write. */
static int
check_nesting(struct cfg_ctx *c, const config_setting_t *root)
{
	const struct config *cfg = c->cfg;
	const struct {
		const char *name;
		const char *path;
		bool owned;		/* handed to the daemon's user */
	} f[] = {
		{ "spool", cfg->spool, true },
		{ "state", cfg->state, true },
		{ "mailboxes", cfg->mailboxes, true },
		{ "domains", cfg->domains, false },
	};
	const size_t n = sizeof(f) / sizeof(f[0]);

	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			if (i == j || !f[j].owned ||
			    !path_within(f[i].path, f[j].path))
				continue;
			/* Blame the key that was written, the inner one
			 * first: its default is the usual culprit's victim. */
			const config_setting_t *s =
			    config_setting_get_member(root, f[i].name);

			if (s == NULL)
				s = config_setting_get_member(root, f[j].name);
			cfg_error(c, s, "%s: %.100s is %s %s (%.100s), a folder "
			    "the daemon's user owns; keep them apart",
			    f[i].name, f[i].path, strcmp(f[i].path,
			    f[j].path) == 0 ? "the same folder as" : "inside",
			    f[j].name, f[j].path);
			return -1;
		}
	}
	return 0;
}

/* The setting at path ("queue.lifetime"), else at fallback, for the line
 * a warning names. */
static const config_setting_t *
setting_or(const config_setting_t *root, const char *path,
    const char *fallback)
{
	const config_setting_t *s = config_setting_lookup(
	    (config_setting_t *)root, path);

	if (s == NULL && fallback != NULL)
		s = config_setting_lookup((config_setting_t *)root, fallback);
	return s;
}

static void
warn_timings(struct cfg_ctx *c, const config_setting_t *root)
{
	const struct config *cfg = c->cfg;

	if (cfg->queue_lifetime < cfg->retry_min)
		cfg_warn(c, setting_or(root, "queue.lifetime", "queue.retry_min"),
		    "queue.lifetime (%u s) is shorter than queue.retry_min "
		    "(%u s): a message deferred once expires before its "
		    "first retry", cfg->queue_lifetime, cfg->retry_min);
	if (cfg->delay_warning != 0 && cfg->delay_warning >= cfg->queue_lifetime)
		cfg_warn(c, setting_or(root, "queue.delay_warning", NULL),
		    "queue.delay_warning (%u s) is not below queue.lifetime "
		    "(%u s): no delay warning is ever sent",
		    cfg->delay_warning, cfg->queue_lifetime);
	if (cfg->max_connections_per_ip > cfg->max_connections)
		cfg_warn(c, setting_or(root, "max_connections_per_ip",
		    "max_connections"), "max_connections_per_ip (%u) is above "
		    "max_connections (%u): it never applies",
		    cfg->max_connections_per_ip, cfg->max_connections);
	/* Only when written: the default (10 s) under a shorter command
	 * timeout simply leaves that one in force. */
	if (cfg->stress_timeout >= cfg->timeout_command &&
	    config_setting_lookup((config_setting_t *)root, "stress_timeout") != NULL)
		cfg_warn(c, setting_or(root, "stress_timeout", NULL),
		    "stress_timeout (%u s) is not below timeouts.command (%u s): "
		    "stress changes nothing", cfg->stress_timeout,
		    cfg->timeout_command);
}

int
cfg_cross_check(struct cfg_ctx *c, const config_setting_t *root)
{
	if (check_nesting(c, root) < 0)
		return -1;
	warn_timings(c, root);
	return 0;
}
