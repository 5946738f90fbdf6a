/*
 * The spam group of the configuration (docs/configuration.md,
 * docs/delivery.md):
 *
 *   spam = {
 *     folder = ".Junk";     # Maildir++ folder for mail judged unwanted
 *   };
 *
 * Mail accepted and later judged unwanted is never bounced (the BCP):
 * the queue delivers its Maildir copies into this folder of each
 * mailbox (the J record, docs/queue.md).  Called by config.c for the
 * "spam" key.  Trusts nothing in the file: the folder becomes a path
 * component under every mailbox, so it is held to Maildir++'s form
 * ('.', then names of [A-Za-z0-9_-] joined by '.') and no more: no '/',
 * no "..", nothing that leaves the mailbox.  No group, or folder = "":
 * cfg->scan.spam_folder stays NULL and such mail goes to the inbox,
 * marked only by the scanner's header.  The value is freed with the
 * scan group's memory (cfg_scan_free, config_scan.c).
 */
#include "common/config_priv.h"

#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"

static bool
folder_octet(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
}

/* Why v is no Maildir++ folder name, or NULL when it is one. */
static const char *
folder_wrong(const char *v)
{
	size_t len = strlen(v);

	if (v[0] != '.')
		return "must start with '.' (Maildir++, such as \".Junk\")";
	if (len == 1)
		return "must name a folder after the '.' (such as \".Junk\")";
	if (len > SCAN_FOLDER_MAX)
		return "at most 64 characters";
	if (strstr(v, "..") != NULL)
		return "must not hold \"..\"";
	if (v[len - 1] == '.')
		return "must not end with '.'";
	for (const char *p = v + 1; *p != '\0'; p++)
		if (*p != '.' && !folder_octet(*p))
			return "only letters, digits, '_', '-' and '.' between "
			    "folder names";
	return NULL;
}

static int
cfg_spam_folder(struct cfg_ctx *c, const config_setting_t *s)
{
	const char *v, *why;

	if (cfg_string(c, s, &v) < 0)
		return -1;
	if (v[0] == '\0')
		return 0;	/* the inbox */
	if ((why = folder_wrong(v)) != NULL) {
		cfg_key_error(c, s, "%s, not \"%.80s\"", why, v);
		return -1;
	}
	free(c->cfg->scan.spam_folder);
	c->cfg->scan.spam_folder = xstrdup(v);
	return 0;
}

int
cfg_spam(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "folder", NULL };
	const config_setting_t *s;

	if (cfg_need_group(c, g, keys) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "folder")) == NULL)
		return 0;
	return cfg_spam_folder(c, s);
}
