/*
 * `decorum -c FILE queue list|show ID|flush|delete ID|hold ID|release ID`:
 * looking into the spool and steering it.
 *
 * Run by the operator alongside a running queue manager, as the spool's
 * owner: run as root with `user` set, it becomes that account first
 * (runas.h), so it never follows what that account put in the spool
 * (every folder is opened without following links, too) and what it
 * makes, hold/ included, is the daemon's.  It only reads, except
 * `delete`, which renames the envelope
 * away first (spool_delete) so the queue manager sees the message either
 * whole or gone, and `hold`/`release`, which move the envelope between
 * queue/ and hold/ (spool_hold.h: the queue manager never loads from
 * hold/, so a held message is not delivered); `release` then notifies
 * the queue manager so the message is tried at once.  `flush` only asks
 * the running queue manager (one QUEUE_NOTIFY_FLUSH datagram to
 * <spool>/qmgr.sock) to try every queued message now, retry times
 * ignored once; it fails (exit 1) when no queue manager is listening.
 * Trusts: the config; nothing read from the spool is printed raw (control
 * characters are escaped), since addresses come from clients.
 */
#include "cli/commands.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/runas.h"
#include "common/config.h"
#include "common/log.h"
#include "queue/envelope.h"
#include "queue/notify.h"
#include "queue/qmgr.h"
#include "queue/queue_id.h"
#include "queue/spool.h"
#include "queue/spool_hold.h"

/* Header block printed by `queue show`, at most this many octets. */
#define QUEUE_SHOW_HEADER_MAX	(64 * 1024)

static const char *
rcpt_state_name(enum rcpt_state s)
{
	return s == RCPT_DONE ? "delivered" : s == RCPT_FAILED ? "failed"
	    : "pending";
}

static void
format_time(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL ||
	    strftime(out, outlen, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(out, outlen, "%" PRId64, t);
}

/* The hold/ area is read through spool_hold.h; the others through
 * spool.h. */
static int
area_list(struct spool *sp, const char *area, char ***ids, size_t *n)
{
	if (strcmp(area, SPOOL_HOLD_AREA) == 0)
		return spool_hold_list(sp, ids, n);
	return spool_list(sp, area, ids, n);
}

static int
area_load(struct spool *sp, const char *area, const char *id,
    struct queue_file *qf, char *err, size_t errlen)
{
	if (strcmp(area, SPOOL_HOLD_AREA) == 0)
		return spool_hold_load(sp, id, qf, err, errlen);
	return spool_load(sp, area, id, qf, err, errlen);
}

/* The data's size: format 2's file says it, format 1's data file has it. */
static int64_t
area_data_size(struct spool *sp, const char *area, const char *id,
    const struct queue_file *qf)
{
	if (qf->data_len >= 0)
		return qf->data_len;
	if (strcmp(area, SPOOL_HOLD_AREA) == 0)
		return spool_hold_data_size(sp, id);
	return spool_data_size(sp, id);
}

static void
list_area(struct spool *sp, const char *area, unsigned *count)
{
	struct queue_file qf;
	char err[256], when[32], safe[SMTP_ADDRESS_MAX * 4 + 8];
	char **ids;
	size_t n, i;
	int rc;

	if (area_list(sp, area, &ids, &n) < 0) {
		fprintf(stderr, "decorum: %s/%s: %s\n", spool_dir(sp), area,
		    spool_strerror(errno));
		return;
	}
	for (i = 0; i < n; i++) {
		rc = area_load(sp, area, ids[i], &qf, err, sizeof(err));
		if (rc == -1)
			continue;	/* delivered while we listed */
		(*count)++;
		if (rc == -2) {
			printf("%-24s %-19s %10s  %-8s %s\n", ids[i], "-", "-",
			    "corrupt", log_safe(err, safe, sizeof(safe)));
			continue;
		}
		format_time(qf.env.created, when, sizeof(when));
		printf("%-24s %-19s %10" PRId64 "  %-8s <%s> rcpts=%zu pending=%zu\n",
		    ids[i], when, area_data_size(sp, area, ids[i], &qf),
		    strcmp(area, "queue") == 0 ? "queued" : area,
		    log_safe(qf.env.sender, safe, sizeof(safe)), qf.env.n_rcpts,
		    queue_file_count(&qf, RCPT_PENDING));
		/* One line per recipient still to do, as mailq(1) shows them. */
		for (size_t r = 0; r < qf.env.n_rcpts; r++)
			if (qf.st[r].state != RCPT_DONE)
				printf("%24s <%s> %s\n", "",
				    log_safe(qf.env.rcpts[r].addr, safe, sizeof(safe)),
				    rcpt_state_name(qf.st[r].state));
		queue_file_free(&qf);
	}
	spool_list_free(ids, n);
}

static int
queue_list(struct spool *sp)
{
	unsigned count = 0;

	list_area(sp, "queue", &count);
	list_area(sp, SPOOL_HOLD_AREA, &count);
	list_area(sp, "failed", &count);
	list_area(sp, "corrupt", &count);
	if (count == 0)
		printf("queue is empty\n");
	return 0;
}

/* Prints the message's header block (up to the empty line); control
 * characters other than TAB are shown as '?' (the terminal is ours). */
static void
show_headers(struct spool *sp, const char *area, const char *id,
    int64_t data_len)
{
	char buf[4096];
	size_t total = 0, i, want;
	ssize_t n;
	int64_t size;
	int fd = spool_open_data(sp, area, id, data_len, &size);
	int last_nl = 1;
	unsigned char c;

	if (fd < 0) {
		printf("(message data unreadable: %s)\n", strerror(errno));
		return;
	}
	/* Never past the data: format 2's envelope follows it. */
	if ((int64_t)QUEUE_SHOW_HEADER_MAX < size)
		size = QUEUE_SHOW_HEADER_MAX;
	for (;;) {
		want = (size_t)size - total;
		if (want > sizeof(buf))
			want = sizeof(buf);
		if (want == 0 || (n = read(fd, buf, want)) <= 0)
			break;
		for (i = 0; i < (size_t)n; i++) {
			c = (unsigned char)buf[i];
			if (c == '\r')
				continue;
			if (c == '\n') {
				if (last_nl)
					goto out;
				last_nl = 1;
			} else {
				last_nl = 0;
				if ((c < 0x20 && c != '\t') || c == 0x7f)
					c = '?';
			}
			putchar(c);
		}
		total += (size_t)n;
	}
out:
	close(fd);
}

static int
queue_show(struct spool *sp, const char *id)
{
	static const char *const areas[] = { "queue", SPOOL_HOLD_AREA,
	    "failed", "corrupt" };
	struct queue_file qf;
	char err[256], when[32], safe[1024];
	int64_t data_len;
	size_t i;
	int rc = -1;

	if (!queue_id_valid(id)) {
		fprintf(stderr, "decorum: %s: not a queue id\n", id);
		return 1;
	}
	for (i = 0; i < sizeof(areas) / sizeof(areas[0]); i++) {
		rc = area_load(sp, areas[i], id, &qf, err, sizeof(err));
		if (rc != -1 || errno != ENOENT)
			break;
	}
	if (rc == -1 && errno != ENOENT) {
		fprintf(stderr, "decorum: %s/%s: %s\n", spool_dir(sp),
		    areas[i], spool_strerror(errno));
		return 1;
	}
	if (rc == -1) {
		fprintf(stderr, "decorum: %s: no such message\n", id);
		return 1;
	}
	if (rc == -2) {
		printf("id: %s\nstate: corrupt (%s)\n", id, err);
		return 1;
	}
	format_time(qf.env.created, when, sizeof(when));
	printf("id: %s\nstate: %s\narrived: %s\nsize: %" PRId64 "\n", id,
	    strcmp(areas[i], "queue") == 0 ? "queued" : areas[i], when,
	    area_data_size(sp, areas[i], id, &qf));
	printf("sender: <%s>\n", log_safe(qf.env.sender, safe, sizeof(safe)));
	if (qf.env.client_ip != NULL)
		printf("client: %s\n", log_safe(qf.env.client_ip, safe,
		    sizeof(safe)));
	if (qf.env.helo != NULL)
		printf("helo: %s\n", log_safe(qf.env.helo, safe, sizeof(safe)));
	printf("smtputf8: %s\n8bit: %s\njunk: %s\n",
	    qf.env.smtputf8 ? "yes" : "no", qf.env.eight_bit ? "yes" : "no",
	    qf.env.junk ? "yes" : "no");
	for (i = 0; i < qf.env.n_rcpts; i++) {
		printf("rcpt %zu: <%s> %s", i, log_safe(qf.env.rcpts[i].addr,
		    safe, sizeof(safe)), rcpt_state_name(qf.st[i].state));
		if (qf.st[i].attempts > 0)
			printf(" attempts=%u", qf.st[i].attempts);
		if (qf.st[i].state == RCPT_PENDING && qf.st[i].next_try > 0) {
			format_time(qf.st[i].next_try, when, sizeof(when));
			printf(" next=\"%s\"", when);
		}
		if (qf.st[i].text != NULL)
			printf(" last=\"%s\"", log_safe(qf.st[i].text, safe,
			    sizeof(safe)));
		printf("\n");
	}
	for (i = 0; i < qf.n_delivered; i++)
		printf("delivered: %s\n", log_safe(qf.delivered[i], safe,
		    sizeof(safe)));
	if (qf.warned != 0) {
		format_time(qf.warned, when, sizeof(when));
		printf("delay warning: queued %s\n", when);
	}
	if (qf.torn || qf.bad_records > 0)
		printf("note: %u unreadable status record(s) ignored%s\n",
		    qf.bad_records, qf.torn ? ", torn last line ignored" : "");
	data_len = qf.data_len;
	queue_file_free(&qf);
	printf("\n");
	if (strcmp(areas[i], SPOOL_HOLD_AREA) != 0)
		show_headers(sp, areas[i], id, data_len);
	return 0;
}

/* Why a change to the spool failed, for the operator. */
static void
change_failed(const struct spool *sp, const char *id, const char *enoent)
{
	if (errno == ELOOP)
		fprintf(stderr, "decorum: %s: %s/%s: %s\n", id, spool_dir(sp),
		    SPOOL_HOLD_AREA, spool_strerror(errno));
	else
		fprintf(stderr, "decorum: %s: %s\n", id, errno == ENOENT ?
		    enoent : errno == EINVAL ? "not a queue id" :
		    strerror(errno));
}

static int
queue_delete(struct spool *sp, const char *id)
{
	/* A held message is in hold/, not queue/ or failed/. */
	if (spool_delete(sp, id) < 0 && (errno != ENOENT ||
	    spool_hold_delete(sp, id) < 0)) {
		change_failed(sp, id, "no such message");
		return 1;
	}
	printf("%s: deleted\n", id);
	log_info("event=deleted id=%s by=cli", id);
	return 0;
}

static int
queue_hold(struct spool *sp, const char *id)
{
	if (spool_hold(sp, id) < 0) {
		change_failed(sp, id,
		    "not in the queue (delivered, held or failed?)");
		return 1;
	}
	printf("%s: held\n", id);
	log_info("event=held id=%s by=cli", id);
	return 0;
}

static int
queue_release(const struct config *cfg, struct spool *sp, const char *id)
{
	if (spool_release(sp, id) < 0) {
		change_failed(sp, id, "not held");
		return 1;
	}
	/* Tried at once; without the notice (no qmgr running), at its
	 * next queue scan: released either way. */
	(void)queue_notify_spool(cfg->spool, id);
	printf("%s: released\n", id);
	log_info("event=released id=%s by=cli", id);
	return 0;
}

/* Tries of a flush request while the queue manager's socket is full,
 * and the pause between them: it drains 256 datagrams per wake-up. */
#define QUEUE_FLUSH_TRIES	20
#define QUEUE_FLUSH_PAUSE_US	50000

static int
queue_flush(const struct config *cfg)
{
	int tries = 0, rc;

	while ((rc = queue_notify_spool(cfg->spool, QUEUE_NOTIFY_FLUSH)) < 0 &&
	    errno == EAGAIN && ++tries < QUEUE_FLUSH_TRIES)
		usleep(QUEUE_FLUSH_PAUSE_US);
	if (rc == 0) {
		printf("queue flush requested\n");
		log_info("event=flush by=cli");
		return 0;
	}
	if (errno == ENOENT || errno == ECONNREFUSED)
		fprintf(stderr, "decorum: queue flush: the queue manager is not "
		    "running (%s/%s)\n", cfg->spool, QMGR_SOCKET_NAME);
	else
		fprintf(stderr, "decorum: queue flush: %s/%s: %s\n", cfg->spool,
		    QMGR_SOCKET_NAME, strerror(errno));
	return 1;
}

static int
queue_usage(void)
{
	fprintf(stderr, "usage: decorum [-c FILE] queue list | show ID | "
	    "flush | delete ID | hold ID | release ID\n");
	return 2;
}

static bool
is_id_command(const char *cmd)
{
	static const char *const cmds[] = { "show", "delete", "hold",
	    "release" };

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmd, cmds[i]) == 0)
			return true;
	return false;
}

int
cmd_queue(const char *config_path, int argc, char **argv)
{
	struct config cfg;
	struct config_error cerr;
	struct spool *sp;
	char err[512];
	int rc;

	if (argc < 2)
		return queue_usage();
	if (strcmp(argv[1], "flush") == 0 ? argc != 2 :
	    strcmp(argv[1], "list") != 0 && (argc != 3 ||
	    !is_id_command(argv[1])))
		return queue_usage();
	if (config_load_unprivileged(config_path, &cfg, &cerr) < 0) {
		config_error_print(&cerr);
		return 1;
	}
	if (runas_spool_owner(&cfg, "decorum") < 0) {
		config_free(&cfg);
		return 1;
	}
	/* The queue manager's business: the spool is not even opened. */
	if (strcmp(argv[1], "flush") == 0) {
		rc = queue_flush(&cfg);
		config_free(&cfg);
		return rc;
	}
	sp = spool_open(cfg.spool, err, sizeof(err));
	if (sp == NULL) {
		fprintf(stderr, "decorum: spool: %s\n", err);
		config_free(&cfg);
		return 1;
	}
	if (strcmp(argv[1], "list") == 0)
		rc = queue_list(sp);
	else if (strcmp(argv[1], "show") == 0)
		rc = queue_show(sp, argv[2]);
	else if (strcmp(argv[1], "hold") == 0)
		rc = queue_hold(sp, argv[2]);
	else if (strcmp(argv[1], "release") == 0)
		rc = queue_release(&cfg, sp, argv[2]);
	else
		rc = queue_delete(sp, argv[2]);
	spool_close(sp);
	config_free(&cfg);
	return rc;
}
