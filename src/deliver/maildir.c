/*
 * Maildir delivery (https://cr.yp.to/proto/maildir.html): write the
 * message to tmp/ under a unique name, fsync it, rename it into new/ and
 * fsync new/, so a mail reader sees either nothing or the whole message.
 * The fsync of new/ is a group commit (maildir_tree.h): deliveries to
 * one mailbox at the same moment share it, each still waiting for an
 * fsync that started after its own rename.  The mailbox tree is made
 * once and remembered; an open or rename that finds it gone (ENOENT)
 * makes it again and retries once.
 *
 * Called by the queue manager in a workpool thread, one call per mailbox.
 * The file is "Return-Path: <sender>" (RFC 5321 4.4), "Delivered-To:
 * local@domain" (loop detection, as Postfix and qmail do), then the
 * queued message (which begins with our Received: header) with CRLF
 * turned into LF, the Maildir convention.
 * Trusts: the queue data and the route's local/domain, but still refuses
 * names that would leave <mailboxes> ("/", leading "."), because a table
 * entry is just text.  Any I/O error is TEMPFAIL: the mailbox may be full,
 * unwritable or on a missing disk today and fine tomorrow; nothing is
 * dropped.  Unique names: "<sec>.M<usec>P<pid>Q<n>.<host>,S=<size>".
 * Before writing, a mailbox not swept for a while loses the files a crash
 * left in its tmp/ 36 hours ago or more (maildir_tmp.h).
 * A request with a folder (mail judged unwanted: spam.folder) goes into
 * that Maildir++ folder of the mailbox instead of its inbox, the folder
 * made on demand (maildir_folder.h); the inbox is made all the same.
 */
#include "deliver/maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/pidcache.h"
#include "deliver/maildir_folder.h"
#include "deliver/maildir_tmp.h"
#include "deliver/maildir_tree.h"

const struct deliver_agent maildir_agent = { "maildir", maildir_deliver };

static atomic_uint maildir_counter;

static void
result_set(struct deliver_result *res, enum deliver_status status,
    const char *code, const char *what, int err)
{
	res->status = status;
	snprintf(res->code, sizeof(res->code), "%s", code);
	if (err != 0)
		snprintf(res->text, sizeof(res->text), "%s: %s", what,
		    strerror(err));
	else
		snprintf(res->text, sizeof(res->text), "%s", what);
}

/* A path component we will create under <mailboxes>. */
static bool
name_ok(const char *s)
{
	return s[0] != '\0' && s[0] != '.' && strchr(s, '/') == NULL &&
	    strlen(s) <= 255;
}

/* mkdir that is happy when it exists; fsyncs the parent when it made one,
 * so the new folder survives a crash with the message in it. */
static int
mkdir_durable(const char *path, const char *parent)
{
	int fd;

	if (mkdir(path, 0700) == 0) {
		fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		if (fsync(fd) < 0) {
			close(fd);
			return -1;
		}
		close(fd);
		return 0;
	}
	return errno == EEXIST ? 0 : -1;
}

/* Maildir spec: '/' and ':' in the host part are written \057 and \072. */
static void
host_part(const char *hostname, char *out, size_t outlen)
{
	struct buf b;

	buf_init(&b, outlen - 1);
	for (; *hostname != '\0'; hostname++) {
		if (*hostname == '/')
			buf_append_str(&b, "\\057");
		else if (*hostname == ':')
			buf_append_str(&b, "\\072");
		else if (buf_append(&b, hostname, 1) < 0)
			break;
	}
	snprintf(out, outlen, "%s", b.data != NULL ? b.data : "localhost");
	buf_free(&b);
}

/* All of out[0..o) to fd, counted in *total; false with errno set (a
 * short write without one is a full disk), never a stale errno. */
static bool
write_out(int fd, const char *out, size_t o, int64_t *total)
{
	errno = 0;
	if (write(fd, out, o) != (ssize_t)o) {
		if (errno == 0)
			errno = ENOSPC;
		return false;
	}
	*total += (int64_t)o;
	return true;
}

/* Appends n octets to out[0..*o), writing out whenever it fills. */
static bool
put(int fd, char *out, size_t cap, size_t *o, const char *p, size_t n,
    int64_t *total)
{
	while (n > 0) {
		size_t take = cap - *o < n ? cap - *o : n;

		memcpy(out + *o, p, take);
		*o += take;
		p += take;
		n -= take;
		if (*o == cap) {
			if (!write_out(fd, out, *o, total))
				return false;
			*o = 0;
		}
	}
	return true;
}

/*
 * The CRLF -> LF of one read: runs up to each CR are copied whole (memchr
 * finds the CRs, the rest is memcpy), a CR before an LF is dropped, a
 * lone CR kept.  A CR that ends the read is left in *pending_cr for the
 * next one to decide.
 */
static bool
put_lf(int fd, char *out, size_t cap, size_t *o, const char *in, size_t n,
    bool *pending_cr, int64_t *total)
{
	size_t i = 0;

	if (*pending_cr) {
		*pending_cr = false;
		if (n > 0 && in[0] != '\n' &&
		    !put(fd, out, cap, o, "\r", 1, total))
			return false;
	}
	while (i < n) {
		const char *cr = memchr(in + i, '\r', n - i);
		size_t at = cr != NULL ? (size_t)(cr - in) : n;

		if (!put(fd, out, cap, o, in + i, at - i, total))
			return false;
		if (cr == NULL)
			break;
		if (at + 1 == n) {
			*pending_cr = true;
			break;
		}
		if (in[at + 1] != '\n' && !put(fd, out, cap, o, "\r", 1, total))
			return false;
		i = at + 1;
	}
	return true;
}

/* Writes head (the fields we add, less than the buffer), then the data,
 * CRLF -> LF, to fd: head and the first data in one write.  Returns
 * octets written or -1 (errno set; *read_err tells a read error from a
 * write error). */
static int64_t
copy_lf(const struct deliver_request *req, int fd, const char *head,
    size_t hlen, bool *read_err)
{
	char in[65536], out[65536];
	int64_t off = 0, total = 0;
	bool pending_cr = false;
	size_t o = hlen;
	ssize_t n;

	*read_err = false;
	memcpy(out, head, hlen);
	for (;;) {
		size_t want = sizeof(in);

		/* The size is known and spool data never changes: no read
		 * just to see the end, and none past it (a queue file of
		 * format 2 goes on with its envelope). */
		if (req->data_size >= 0 && off >= req->data_size)
			break;
		if (req->data_size >= 0 && req->data_size - off < (int64_t)want)
			want = (size_t)(req->data_size - off);
		n = pread(req->data_fd, in, want, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*read_err = true;
			return -1;
		}
		if (n == 0)
			break;
		off += n;
		if (!put_lf(fd, out, sizeof(out), &o, in, (size_t)n,
		    &pending_cr, &total))
			return -1;
	}
	if (pending_cr && !put(fd, out, sizeof(out), &o, "\r", 1, &total))
		return -1;
	if (o > 0 && !write_out(fd, out, o, &total))
		return -1;
	return total;
}

/*
 * The mailbox's tree: <mailboxes>/<domain>/<local>/{tmp,new,cur}.  0, or
 * -1 with res set.  A missing root is an operator's mistake (or an
 * unmounted disk): wait for it rather than create it on the wrong file
 * system.
 */
static int
tree_make(const struct deliver_request *req, const char *dom, const char *box,
    struct deliver_result *res)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	char sub[PATH_MAX];
	struct stat st;
	size_t i;

	if (stat(req->mailboxes, &st) < 0 || !S_ISDIR(st.st_mode)) {
		result_set(res, DELIVER_TEMPFAIL, "4.3.5", "mailboxes folder",
		    errno != 0 ? errno : ENOTDIR);
		return -1;
	}
	if (mkdir_durable(dom, req->mailboxes) < 0 || mkdir_durable(box, dom) < 0) {
		result_set(res, DELIVER_TEMPFAIL, "4.2.0", "create mailbox", errno);
		return -1;
	}
	for (i = 0; i < 3; i++) {
		if (snprintf(sub, sizeof(sub), "%s/%s", box, subs[i]) >=
		    (int)sizeof(sub) || mkdir_durable(sub, box) < 0) {
			result_set(res, DELIVER_TEMPFAIL, "4.2.0", "create mailbox",
			    errno);
			return -1;
		}
	}
	return 0;
}

/*
 * Where the copy goes, made if need be: the inbox (remembered once made,
 * maildir_tree.h, so a delivery makes no mkdir) or, with a folder, that
 * folder of it.  A folder is checked on every delivery (its entries are
 * never followed through a link, maildir_folder.c); it is only for mail
 * judged unwanted.  0, or -1 with res set.
 */
static int
target_make(const struct deliver_request *req, const char *dom,
    const char *box, char *fold, size_t foldlen, struct deliver_result *res)
{
	if (!maildir_known(box)) {
		if (tree_make(req, dom, box, res) < 0)
			return -1;
		maildir_known_add(box);
	}
	/* A folder lives in a mailbox: the inbox above is made first, so
	 * mail readers always find a whole Maildir++ tree.  A bad folder
	 * name (the config loader lets none through) is a temporary
	 * failure: this mail is never bounced (the BCP). */
	if (req->folder != NULL &&
	    maildir_folder_make(box, req->folder, fold, foldlen) < 0) {
		result_set(res, DELIVER_TEMPFAIL, "4.2.0",
		    "create mailbox folder", errno);
		return -1;
	}
	return 0;
}

/* The paths of one delivery. */
struct md_paths {
	char dom[PATH_MAX], box[PATH_MAX], fold[PATH_MAX];
	const char *dir;	/* box or fold: where the copy goes */
	char base[512], tmpf[PATH_MAX], newf[PATH_MAX];
};

/* A mailbox removed after it was remembered: forget it, make it again.
 * Called when an open or rename in it said ENOENT; true to retry. */
static bool
target_remake(const struct deliver_request *req, struct md_paths *p,
    struct deliver_result *res)
{
	maildir_known_forget(p->box);
	return target_make(req, p->dom, p->box, p->fold, sizeof(p->fold),
	    res) == 0;
}

/* Writes the message file in tmp/ and fsyncs it; its size, or -1 with
 * res set (the file removed). */
static int64_t
write_tmp(const struct deliver_request *req, struct md_paths *p,
    struct deliver_result *res)
{
	char head[1024];
	int64_t body;
	bool read_err;
	int fd, hlen;

	fd = open(p->tmpf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == ENOENT && target_remake(req, p, res))
		fd = open(p->tmpf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
	if (fd < 0) {
		result_set(res, DELIVER_TEMPFAIL, "4.2.0", "create message file",
		    errno);
		return -1;
	}
	/* RFC 5321 4.4: the final delivery adds Return-Path with the
	 * envelope sender, <> included. */
	hlen = snprintf(head, sizeof(head), "Return-Path: <%s>\nDelivered-To: %s@%s\n",
	    req->sender, req->local, req->domain);
	if (hlen < 0 || hlen >= (int)sizeof(head)) {
		result_set(res, DELIVER_TEMPFAIL, "4.2.0", "write message file",
		    ENOSPC);
		goto fail;
	}
	errno = 0;
	body = copy_lf(req, fd, head, (size_t)hlen, &read_err);
	if (body < 0) {
		result_set(res, DELIVER_TEMPFAIL, read_err ? "4.3.0" : "4.2.0",
		    read_err ? "read queued message" : "write message file",
		    errno != 0 ? errno : ENOSPC);
		goto fail;
	}
	if (fsync(fd) < 0) {
		result_set(res, DELIVER_TEMPFAIL, "4.2.0", "fsync message file",
		    errno);
		goto fail;
	}
	close(fd);
	return body;
fail:
	close(fd);
	unlink(p->tmpf);
	return -1;
}

/* tmp/ to new/, made durable with new/'s shared fsync.  0, or -1 with
 * res set (nothing left in either). */
static int
move_new(const struct deliver_request *req, struct md_paths *p, int64_t size,
    struct deliver_result *res)
{
	if (snprintf(p->newf, sizeof(p->newf), "%s/new/%s,S=%lld", p->dir,
	    p->base, (long long)size) >= (int)sizeof(p->newf)) {
		result_set(res, DELIVER_PERMFAIL, "5.1.3", "mailbox path too long", 0);
		unlink(p->tmpf);
		maildir_new_unexpect();
		return -1;
	}
	if (rename(p->tmpf, p->newf) < 0 &&
	    (errno != ENOENT || access(p->tmpf, F_OK) < 0 ||
	    !target_remake(req, p, res) || rename(p->tmpf, p->newf) < 0)) {
		result_set(res, DELIVER_TEMPFAIL, "4.2.0", "move into new/", errno);
		unlink(p->tmpf);
		maildir_new_unexpect();
		return -1;
	}
	if (maildir_new_sync(p->dir) < 0) {
		/* The message is in new/ but maybe not durably: say TEMPFAIL
		 * and deliver again later (at-least-once, docs/queue.md). */
		result_set(res, DELIVER_TEMPFAIL, "4.2.0", "fsync new/", errno);
		unlink(p->newf);
		return -1;
	}
	return 0;
}

void
maildir_deliver(const struct deliver_request *req, struct deliver_result *res)
{
	struct md_paths p;
	char host[256];
	struct timeval tv;
	int64_t size;

	if (!name_ok(req->local) || !name_ok(req->domain)) {
		result_set(res, DELIVER_PERMFAIL, "5.1.3",
		    "mailbox name unusable as a Maildir folder", 0);
		return;
	}
	if (snprintf(p.dom, sizeof(p.dom), "%s/%s", req->mailboxes,
	    req->domain) >= (int)sizeof(p.dom) || snprintf(p.box,
	    sizeof(p.box), "%s/%s", p.dom, req->local) >= (int)sizeof(p.box)) {
		result_set(res, DELIVER_PERMFAIL, "5.1.3", "mailbox path too long", 0);
		return;
	}
	if (target_make(req, p.dom, p.box, p.fold, sizeof(p.fold), res) < 0)
		return;
	p.dir = req->folder != NULL ? p.fold : p.box;

	gettimeofday(&tv, NULL);
	if (maildir_tmp_due(p.dir, (int64_t)tv.tv_sec))
		(void)maildir_tmp_sweep(p.dir, (int64_t)tv.tv_sec,
		    MAILDIR_TMP_STALE, MAILDIR_TMP_SCAN_MAX);
	host_part(req->hostname != NULL ? req->hostname : "localhost", host,
	    sizeof(host));
	if (snprintf(p.base, sizeof(p.base), "%lld.M%ldP%ldQ%u.%s",
	    (long long)tv.tv_sec, (long)tv.tv_usec, (long)pidcache_get(),
	    atomic_fetch_add(&maildir_counter, 1), host) >= (int)sizeof(p.base) ||
	    snprintf(p.tmpf, sizeof(p.tmpf), "%s/tmp/%s", p.dir, p.base) >=
	    (int)sizeof(p.tmpf)) {
		result_set(res, DELIVER_PERMFAIL, "5.1.3", "mailbox path too long", 0);
		return;
	}
	/* From here on this copy is on its way to a new/ fsync: move_new
	 * arrives there or takes the announcement back. */
	maildir_new_expect();
	size = write_tmp(req, &p, res);
	if (size < 0) {
		maildir_new_unexpect();
		return;
	}
	if (move_new(req, &p, size, res) < 0)
		return;
	result_set(res, DELIVER_OK, "2.0.0", p.base, 0);
}
