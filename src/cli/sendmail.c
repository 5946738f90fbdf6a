/*
 * `decorum sendmail` (also run as `sendmail`) and `decorum mailq` (also
 * `mailq`): local submission for cron, PHP's mail() and scripts, with the
 * options of Postfix's sendmail(1) that they use.
 *
 * Called from main.c, by a local user.  To write the spool the caller
 * must be root or the daemon's user; anyone else gets a clear error and
 * exit 77 (EX_NOPERM) - there is no setgid helper (yet).  Root becomes
 * the daemon's user (`user`) right after reading the config (runas.h),
 * so the files it queues are the daemon's to read and it never acts on
 * a link in the spool; the caller's own uid (the sender, Received:) is
 * taken before that.
 * Trusts: the config; not the message, the options or the recipients
 * (each is parsed and routed as an SMTP RCPT would be).
 * Order, so that an error leaves nothing queued: read the whole message
 * (bounded by max_message_size), check every recipient with route_resolve
 * (an unknown local user is EX_NOUSER), refuse a message with more than
 * max_hops Received: fields (a mail loop, RFC 5321 6.3: the same limit
 * as smtpd's, EX_DATAERR), then write the spool and commit
 * it with spool_writer_commit_now() (a CLI may block on fsync).  As
 * Postfix's cleanup does for local mail, it adds Received: (smtpd's
 * formatter, in its local form: the uid and the envelope sender), and
 * Date:, Message-ID: and From: when missing, and drops Bcc: fields.  Then it
 * tells the queue manager through <spool>/qmgr.sock; a lost notice only
 * delays delivery until the queue manager's next scan.
 * Exit codes are sysexits(3): 0 queued, 64 usage or no recipient, 65 bad
 * address or too many hops, 67 unknown local user, 68 a domain that is no valid name
 * (not IDNA2008), 75 temporary, 77 spool not writable,
 * 1 message too big or config error.  Logs (stderr) only errors.
 */
#include "cli/commands.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cli/runas.h"
#include "cli/sendmail_msg.h"
#include "common/bounds.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/notify.h"
#include "queue/qmgr.h"
#include "queue/spool.h"
#include "route/domains.h"
#include "route/route.h"
#include "smtp/address.h"
#include "smtp/hops.h"
#include "smtpd/received.h"

#ifndef QMGR_SOCKET_NAME
#define QMGR_SOCKET_NAME	"qmgr.sock"
#endif

/* Recipients of one message, from the arguments and -t together. */
#define SENDMAIL_RCPTS_MAX	1000
/* Longest -F full name kept for From:. */
#define SENDMAIL_FULLNAME_MAX	200

struct sendmail {
	const struct config *cfg;
	uid_t uid;			/* the caller's, before runas */
	struct domains *domains;
	bool ignore_dots;		/* -i, -oi */
	bool extract;			/* -t */
	const char *sender_arg;		/* -f / -r, NULL when not given */
	const char *fullname;		/* -F */
	char *sender;			/* "" for <> */
	char **rcpts;
	size_t n_rcpts;
	bool smtputf8;
	int status;			/* first error's exit status */
};

static int
sm_usage(void)
{
	fprintf(stderr, "usage: sendmail [-t] [-i] [-f sender] [-F fullname] "
	    "[-oi] [--] [recipient ...]\n");
	return EX_USAGE;
}

/*
 * addr as a canonical local@domain in out (size SMTP_ADDRESS_MAX + 1):
 * "<a@b>" loses its brackets; a bare name other than postmaster is a
 * user of our host (name@hostname, as sendmail always did).  0, or -1.
 */
static int
sm_canon(const struct sendmail *s, const char *addr, char *out, bool *utf8)
{
	char tmp[SMTP_ADDRESS_MAX + 1];
	struct smtp_path path;
	size_t len = strlen(addr);
	int n;

	if (len >= 2 && addr[0] == '<' && addr[len - 1] == '>') {
		addr++;
		len -= 2;
	}
	if (len == 0 || len > SMTP_ADDRESS_MAX)
		return -1;
	if (memchr(addr, '@', len) == NULL &&
	    !(len == 10 && strncasecmp(addr, "postmaster", 10) == 0)) {
		n = snprintf(tmp, sizeof(tmp), "%.*s@%s", (int)len, addr,
		    s->cfg->hostname);
	} else {
		n = snprintf(tmp, sizeof(tmp), "%.*s", (int)len, addr);
	}
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -1;
	if (smtp_parse_address(tmp, strlen(tmp), true, &path) != SMTP_ADDR_OK)
		return -1;
	*utf8 = path.utf8;
	memcpy(out, path.addr, strlen(path.addr) + 1);
	return 0;
}

/* Adds one recipient after checking where it goes; -1 stops the run
 * with s->status set. */
static int
sm_add_rcpt(void *arg, const char *addr)
{
	struct sendmail *s = arg;
	char canon[SMTP_ADDRESS_MAX + 1], safe[SMTP_ADDRESS_MAX * 4 + 8];
	struct route_result r;
	bool utf8 = false;
	size_t i;

	if (sm_canon(s, addr, canon, &utf8) < 0) {
		fprintf(stderr, "sendmail: %s: bad recipient address\n",
		    log_safe(addr, safe, sizeof(safe)));
		s->status = EX_DATAERR;
		return -1;
	}
	for (i = 0; i < s->n_rcpts; i++)
		if (strcasecmp(s->rcpts[i], canon) == 0)
			return 0;		/* To: and Cc: both named it */
	if (s->n_rcpts >= SENDMAIL_RCPTS_MAX) {
		fprintf(stderr, "sendmail: more than %d recipients\n",
		    SENDMAIL_RCPTS_MAX);
		s->status = EX_USAGE;
		return -1;
	}
	route_resolve(s->cfg, s->domains, canon, &r);
	switch (r.kind) {
	case ROUTE_LOCAL:
	case ROUTE_REMOTE:
		break;
	case ROUTE_UNKNOWN:
		fprintf(stderr, "sendmail: %s: unknown user: %s\n",
		    log_safe(canon, safe, sizeof(safe)), r.reason);
		s->status = EX_NOUSER;
		break;
	case ROUTE_TEMPFAIL:
		fprintf(stderr, "sendmail: %s: cannot route now: %s\n",
		    log_safe(canon, safe, sizeof(safe)), r.reason);
		s->status = EX_TEMPFAIL;
		break;
	case ROUTE_INVALID:
		fprintf(stderr, "sendmail: %s: bad domain: %s\n",
		    log_safe(canon, safe, sizeof(safe)), r.reason);
		s->status = EX_NOHOST;
		break;
	default:
		fprintf(stderr, "sendmail: %s: not deliverable: %s\n",
		    log_safe(canon, safe, sizeof(safe)), r.reason);
		s->status = EX_UNAVAILABLE;
		break;
	}
	route_result_free(&r);
	if (s->status != 0)
		return -1;
	if (utf8)
		s->smtputf8 = true;
	s->rcpts = xreallocarray(s->rcpts, s->n_rcpts + 1, sizeof(*s->rcpts));
	s->rcpts[s->n_rcpts++] = xstrdup(canon);
	return 0;
}

/* The envelope sender: -f, else the invoking user at our hostname. */
static int
sm_set_sender(struct sendmail *s)
{
	char canon[SMTP_ADDRESS_MAX + 1], name[64];
	const char *a = s->sender_arg;
	struct passwd *pw;
	bool utf8 = false;

	if (a != NULL && (a[0] == '\0' || strcmp(a, "<>") == 0)) {
		s->sender = xstrdup("");	/* the null sender */
		return 0;
	}
	if (a == NULL) {
		pw = getpwuid(s->uid);
		if (pw != NULL && pw->pw_name[0] != '\0')
			a = pw->pw_name;
		else {
			snprintf(name, sizeof(name), "uid%u",
			    (unsigned)s->uid);
			a = name;
		}
	}
	if (sm_canon(s, a, canon, &utf8) < 0) {
		fprintf(stderr, "sendmail: %s: bad sender address\n", a);
		return EX_DATAERR;
	}
	if (utf8)
		s->smtputf8 = true;
	s->sender = xstrdup(canon);
	return 0;
}

/* The display name for From:, as an RFC 5322 quoted-string ("" if none):
 * -F, else the user's GECOS name.  Control characters are dropped. */
static void
sm_fullname(const struct sendmail *s, char *out, size_t outlen)
{
	const char *n = s->fullname;
	struct passwd *pw;
	size_t o = 0, i;

	out[0] = '\0';
	if (n == NULL && s->sender_arg == NULL &&
	    (pw = getpwuid(s->uid)) != NULL && pw->pw_gecos != NULL)
		n = pw->pw_gecos;
	if (n == NULL || n[0] == '\0' || n[0] == ',' || outlen < 8)
		return;
	out[o++] = '"';
	for (i = 0; n[i] != '\0' && n[i] != (s->fullname ? '\0' : ',') &&
	    o + 4 < outlen; i++) {
		unsigned char c = (unsigned char)n[i];

		if (c < 0x20 || c == 0x7f)
			continue;
		if (c == '"' || c == '\\')
			out[o++] = '\\';
		out[o++] = (char)c;
	}
	out[o++] = '"';
	out[o] = '\0';
	if (o == 2)
		out[0] = '\0';
}

static int
sm_write_str(struct spool_writer *w, const char *str)
{
	return spool_writer_write(w, str, strlen(str));
}

/* RFC 5321 4.4: every hop that takes the message adds a trace, and
 * the BCP asks for the envelope sender in it, local mail included. */
static int
sm_write_received(const struct sendmail *s, struct spool_writer *w,
    time_t now)
{
	struct received_info ri;
	struct buf hdr;
	int rc;

	memset(&ri, 0, sizeof(ri));
	ri.local = true;
	ri.local_uid = (unsigned long)s->uid;
	ri.sender = s->sender;
	ri.hostname = s->cfg->hostname;
	ri.queue_id = spool_writer_id(w);
	ri.rcpt = s->n_rcpts == 1 ? s->rcpts[0] : NULL;
	ri.when = now;
	buf_init(&hdr, 4096);
	rc = received_format(&ri, &hdr) < 0 ? -1 :
	    spool_writer_write(w, hdr.data, hdr.len);
	buf_free(&hdr);
	return rc;
}

/* Writes the message with our header changes.  0, or -1 (I/O error). */
static int
sm_write_message(const struct sendmail *s, struct spool_writer *w,
    const struct buf *msg)
{
	struct sendmail_msg m;
	char date[64], line[1200], name[SENDMAIL_FULLNAME_MAX + 8];
	const char *id = spool_writer_id(w);
	bool has_date = false, has_mid = false, has_from = false;
	time_t now = time(NULL);
	struct tm tm;
	int rc = 0, n;
	size_t i;

	if (localtime_r(&now, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		return -1;
	sendmail_msg_parse(msg->data, msg->len, &m);
	rc |= sm_write_received(s, w, now);
	for (i = 0; i < m.n_fields; i++) {
		const struct sendmail_field *f = &m.fields[i];

		/* Bcc: names hidden recipients; the envelope has them. */
		if (sendmail_field_is(msg->data, f, "Bcc"))
			continue;
		has_date |= sendmail_field_is(msg->data, f, "Date");
		has_mid |= sendmail_field_is(msg->data, f, "Message-ID");
		has_from |= sendmail_field_is(msg->data, f, "From");
		rc |= spool_writer_write(w, msg->data + f->off, f->len);
	}
	/* RFC 5322 3.6: Date and From are required, Message-ID should be. */
	if (!has_date) {
		n = snprintf(line, sizeof(line), "Date: %s\r\n", date);
		rc |= n < 0 || (size_t)n >= sizeof(line) ? -1
		    : sm_write_str(w, line);
	}
	if (!has_mid) {
		char stamp[32];

		if (strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm) == 0)
			rc = -1;
		n = snprintf(line, sizeof(line), "Message-ID: <%s.%s@%s>\r\n",
		    stamp, id, s->cfg->hostname);
		rc |= n < 0 || (size_t)n >= sizeof(line) ? -1
		    : sm_write_str(w, line);
	}
	if (!has_from) {
		sm_fullname(s, name, sizeof(name));
		if (s->sender[0] == '\0')
			n = snprintf(line, sizeof(line),
			    "From: MAILER-DAEMON@%s\r\n", s->cfg->hostname);
		else if (name[0] != '\0')
			n = snprintf(line, sizeof(line), "From: %s <%s>\r\n",
			    name, s->sender);
		else
			n = snprintf(line, sizeof(line), "From: %s\r\n",
			    s->sender);
		rc |= n < 0 || (size_t)n >= sizeof(line) ? -1
		    : sm_write_str(w, line);
	}
	rc |= spool_writer_write(w, "\r\n", 2);
	rc |= spool_writer_write(w, msg->data + m.body_off,
	    msg->len - m.body_off);
	sendmail_msg_free(&m);
	return rc < 0 ? -1 : 0;
}

static bool
has_8bit(const struct buf *b)
{
	for (size_t i = 0; i < b->len; i++)
		if ((unsigned char)b->data[i] >= 0x80)
			return true;
	return false;
}

/* Queues msg for s's envelope.  Exit status. */
static int
sm_queue(struct sendmail *s, const struct buf *msg)
{
	struct envelope env;
	struct spool_writer *w;
	struct spool *sp;
	char err[512], id[QUEUE_ID_MAX];
	size_t i;
	int rc;

	sp = spool_open(s->cfg->spool, err, sizeof(err));
	w = sp != NULL ? spool_writer_new(sp, err, sizeof(err)) : NULL;
	if (w == NULL) {
		bool perm = errno == EACCES || errno == EPERM;

		fprintf(stderr, "sendmail: cannot queue: %s%s\n", err, perm
		    ? " (sendmail must run as root or as the mail daemon's "
		    "user to write the spool)" : "");
		spool_close(sp);
		return perm ? EX_NOPERM : EX_TEMPFAIL;
	}
	memset(&env, 0, sizeof(env));
	env.sender = s->sender;
	env.n_rcpts = s->n_rcpts;
	env.rcpts = xcalloc(s->n_rcpts, sizeof(*env.rcpts));
	for (i = 0; i < s->n_rcpts; i++)
		env.rcpts[i].addr = s->rcpts[i];
	env.created = time(NULL);
	env.smtputf8 = s->smtputf8;
	env.eight_bit = has_8bit(msg);
	/* Local: no client address and no HELO (the queue file has no C or
	 * H record, whose values may not be empty). */
	env.client_ip = NULL;
	env.helo = NULL;
	/* A local account is a user of ours: a forward keeps its sender. */
	env.authenticated = true;
	memcpy(id, spool_writer_id(w), sizeof(id));
	if (sm_write_message(s, w, msg) < 0) {
		fprintf(stderr, "sendmail: cannot write the message: %s\n",
		    strerror(errno));
		spool_writer_abort(w);
		rc = EX_TEMPFAIL;
	} else if (spool_writer_commit_now(w, &env) < 0) {
		fprintf(stderr, "sendmail: cannot queue the message: %s\n",
		    strerror(errno));
		rc = EX_TEMPFAIL;
	} else {
		queue_notify_spool(s->cfg->spool, id);
		rc = 0;
	}
	free(env.rcpts);
	spool_close(sp);
	return rc;
}

/* The options; the recipients start at optind.  0 or an exit status. */
static int
sm_options(struct sendmail *s, int argc, char **argv, const char **config,
    bool *mailq)
{
	int ch;

	/* "+": recipients follow the options; "-o" and "-b" take their
	 * letter as an argument ("-oi", "-odb", "-bm"). */
	while ((ch = getopt(argc, argv, "+b:B:C:F:f:GhiL:N:no:R:r:tUvV:X:"))
	    != -1) {
		switch (ch) {
		case 'b':
			if (strcmp(optarg, "p") == 0)
				*mailq = true;
			else if (strcmp(optarg, "m") != 0) {
				fprintf(stderr, "sendmail: -b%s is not "
				    "supported\n", optarg);
				return EX_USAGE;
			}
			break;
		case 'C':
			*config = optarg;
			break;
		case 'F':
			s->fullname = optarg;
			break;
		case 'f':
		case 'r':
			s->sender_arg = optarg;
			break;
		case 'i':
			s->ignore_dots = true;
			break;
		case 'o':
			if (strcmp(optarg, "i") == 0)
				s->ignore_dots = true;
			break;		/* -odb, -oem, -oXXX: accepted */
		case 't':
			s->extract = true;
			break;
		case 'B': case 'G': case 'h': case 'L': case 'N': case 'n':
		case 'R': case 'U': case 'v': case 'V': case 'X':
			break;		/* Postfix accepts and ignores these */
		default:
			return sm_usage();
		}
	}
	return 0;
}

/*
 * RFC 5321 6.3: a message that went round too often is a loop, here as
 * on port 25 (a script that forwards by piping into sendmail is one hop
 * of it).  Refused before anything is queued, with the limit named.
 */
static int
sm_check_hops(const struct sendmail *s, const struct buf *msg)
{
	struct hops h;

	hops_init(&h);
	hops_feed(&h, msg->data != NULL ? msg->data : "", msg->len);
	if (h.count <= s->cfg->max_hops)
		return 0;
	fprintf(stderr, "sendmail: too many hops: %u Received: header fields, "
	    "more than max_hops (%u); a mail loop? not sent\n", h.count,
	    s->cfg->max_hops);
	return EX_DATAERR;
}

int
cmd_sendmail(const char *config_path, int argc, char **argv)
{
	struct sendmail s;
	struct config cfg;
	struct config_error cerr;
	struct buf msg;
	struct sendmail_msg m;
	bool mailq = false;
	int rc, i;
	size_t f;

	memset(&s, 0, sizeof(s));
	s.uid = getuid();
	if ((rc = sm_options(&s, argc, argv, &config_path, &mailq)) != 0)
		return rc;
	if (mailq)
		return cmd_mailq(config_path, 1, argv);
	if (config_load_unprivileged(config_path, &cfg, &cerr) < 0) {
		config_error_print(&cerr);
		return 1;
	}
	if (runas_spool_owner(&cfg, "sendmail") < 0) {
		config_free(&cfg);
		return EX_NOPERM;
	}
	log_set_level(LOG_LEVEL_WARN);
	s.cfg = &cfg;
	s.domains = domains_open(cfg.domains);
	buf_init(&msg, cfg.max_message_size);
	rc = sm_set_sender(&s);
	/* Read the whole message before checking anything: -t needs it,
	 * and the writer of a pipe must not get SIGPIPE. */
	if (rc == 0) {
		switch (sendmail_msg_read(STDIN_FILENO, !s.ignore_dots, &msg)) {
		case SENDMAIL_READ_OK:
			break;
		case SENDMAIL_READ_TOO_BIG:
			fprintf(stderr, "sendmail: message larger than the "
			    "limit of %zu octets; not sent\n",
			    cfg.max_message_size);
			rc = 1;
			break;
		default:
			fprintf(stderr, "sendmail: reading the message: %s\n",
			    strerror(errno));
			rc = EX_IOERR;
		}
	}
	if (rc == 0)
		rc = sm_check_hops(&s, &msg);
	for (i = optind; rc == 0 && i < argc; i++)
		if (sm_add_rcpt(&s, argv[i]) < 0)
			rc = s.status;
	if (rc == 0 && s.extract) {
		sendmail_msg_parse(msg.data, msg.len, &m);
		for (f = 0; rc == 0 && f < m.n_fields; f++) {
			const struct sendmail_field *fd = &m.fields[f];

			if ((sendmail_field_is(msg.data, fd, "To") ||
			    sendmail_field_is(msg.data, fd, "Cc") ||
			    sendmail_field_is(msg.data, fd, "Bcc")) &&
			    sendmail_field_addresses(msg.data, fd,
			    sm_add_rcpt, &s) < 0)
				rc = s.status != 0 ? s.status : EX_DATAERR;
		}
		sendmail_msg_free(&m);
	}
	if (rc == 0 && s.n_rcpts == 0) {
		fprintf(stderr, "sendmail: no recipients\n");
		rc = EX_USAGE;
	}
	if (rc == 0)
		rc = sm_queue(&s, &msg);
	for (size_t r = 0; r < s.n_rcpts; r++)
		free(s.rcpts[r]);
	free(s.rcpts);
	free(s.sender);
	buf_free(&msg);
	domains_free(s.domains);
	config_free(&cfg);
	return rc;
}

int
cmd_mailq(const char *config_path, int argc, char **argv)
{
	char *list_argv[] = { (char *)"queue", (char *)"list", NULL };

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: mailq\n");
		return EX_USAGE;
	}
	return cmd_queue(config_path, 2, list_argv);
}
