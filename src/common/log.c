/*
 * The logger: see log.h; the line grammar is docs/logging.md.
 *
 * Threads: log_* may be called from worker threads.  Each line is
 * formatted into local buffers and emitted with one write(2)/syslog(3)
 * call, so lines from different threads never interleave; log_init()
 * and log_set_*() run before any thread starts.
 *
 * One escaping routine, log_escape(), serves both log_safe() (one value
 * for a quoted field) and the safety net of log_emit() and
 * log_safe_text() (the whole line, whatever its call site did).  They differ in one thing: a value also
 * escapes '"' and '\\', the bytes that delimit a quoted field, which the
 * line as a whole must keep.  So a call site that forgot log_safe() can
 * at worst spoil its own fields; it can never start a second line.
 *
 * fatal() and panic() take a sentence and make it the escaped reason of
 * an event of their own, so even they cannot write a line that does not
 * parse.
 *
 * Limits: the fields of a line are at most LOG_FIELDS_MAX bytes, before
 * and after escaping.  A longer line is cut after its last whole field
 * and ends " truncated=yes", so it still parses (a cut inside a quoted
 * value would not).
 *
 * Batches (issue 12 item 2): a thread that runs an event loop keeps its
 * stderr lines in a batch (logbatch.h) that its loop writes once per
 * pass (log_batch_start, evloop_run).  Each line is formatted, with its
 * own timestamp, when it is logged; only the write waits.  What must not
 * be lost waits for nothing: fatal() and panic() write every batch of
 * the process first, so does exit() (atexit) and fork() (the parent's,
 * and the child forgets its copies, so no line is written twice).  A
 * line of any other thread writes the batches first, then itself, so
 * the log keeps the process's order.  Each batch has a lock: taken by
 * its loop's thread and by those writers, never held across a call out.
 */
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/logbatch.h"
#include "common/pidcache.h"
#include "common/utf8.h"

#define LOG_FIELDS_MAX	2047
#define LOG_CUT_MARK	" truncated=yes"
/* The fields, and the mark after those that are kept of a cut line. */
#define LOG_MSG_SIZE	(LOG_FIELDS_MAX + sizeof(LOG_CUT_MARK))

static const char *log_role = "decorum";
static bool log_stderr = true;
static enum log_level log_min = LOG_LEVEL_INFO;

/*
 * syslog's tag, "decorum[PID]": the pid is written into it here, once
 * per process, as LOG_PID would have glibc call getpid() for every line.
 * The line reads the same.  Every child of the daemon sets its role
 * right after fork() (src/daemon/master.c), before it has threads, and
 * that makes its own tag.
 */
static char log_tag[32];

static void
log_syslog_open(void)
{
	snprintf(log_tag, sizeof(log_tag), "decorum[%ld]",
	    (long)pidcache_get());
	openlog(log_tag, LOG_NDELAY, LOG_MAIL);
}

void
log_init(const char *role, bool to_stderr)
{
	log_role = role;
	log_stderr = to_stderr;
	if (!to_stderr)
		log_syslog_open();
}

void
log_set_role(const char *role)
{
	log_role = role;
	if (!log_stderr)
		log_syslog_open();
}

void
log_set_level(enum log_level level)
{
	log_min = level;
}

/* -- escaping ------------------------------------------------------------ */

/*
 * Code points that are well-formed but must not reach a log line as they
 * are: C1 controls (U+0085 is a line end to some readers), the line and
 * paragraph separators U+2028/U+2029, and the Bidi_Control characters
 * (Unicode's PropList.txt), which reorder how a line is displayed and
 * could make one field look like another (CVE-2021-42574).
 */
static bool
unicode_printable(uint32_t cp)
{
	return !(cp >= 0x80 && cp <= 0x9f) &&
	    cp != 0x2028 && cp != 0x2029 &&
	    cp != 0x061c && cp != 0x200e && cp != 0x200f &&
	    !(cp >= 0x202a && cp <= 0x202e) &&
	    !(cp >= 0x2066 && cp <= 0x2069);
}

/*
 * Length (1 to 4) of the printable UTF-8 character at s, or 0 when the
 * byte at s must be escaped: an ASCII control or DEL, or what is not
 * well-formed UTF-8 (common/utf8.h) or not printable.
 */
static size_t
utf8_printable(const unsigned char *s, size_t len)
{
	uint32_t cp;
	size_t n;

	if (s[0] < 0x80)
		return s[0] >= 0x20 && s[0] != 0x7f ? 1 : 0;
	n = utf8_decode(s, len, &cp);
	return n > 0 && unicode_printable(cp) ? n : 0;
}

/*
 * Copy len bytes of s into out (outlen > 0), each character whole or
 * escaped as \xHH byte by byte; value: '"' and '\\' are escaped too.
 * When out is too small, the copy is cut after the last character or
 * escape after which "..." still fits, and "..." ends it.  Returns true
 * when it cut.
 */
static bool
log_escape(const unsigned char *s, size_t len, bool value, char *out,
    size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, o = 0, mark = 0, n, need;
	bool cut = false;

	while (i < len) {
		/* Printable ASCII first: nearly every byte of every line. */
		if (s[i] >= 0x20 && s[i] < 0x7f)
			n = value && (s[i] == '"' || s[i] == '\\') ? 0 : 1;
		else
			n = utf8_printable(s + i, len - i);
		need = n > 0 ? n : 4;
		if (o + 4 <= outlen)
			mark = o;	/* "..." and the NUL fit after this */
		if (o + need + 1 > outlen) {
			for (o = mark; o - mark < 3 && o + 1 < outlen; o++)
				out[o] = '.';
			cut = true;
			break;
		}
		if (n == 1) {
			out[o] = (char)s[i++];
		} else if (n > 1) {
			memcpy(out + o, s + i, n);
			i += n;
		} else {
			out[o] = '\\';
			out[o + 1] = 'x';
			out[o + 2] = hex[s[i] >> 4];
			out[o + 3] = hex[s[i] & 15];
			i++;
		}
		o += need;
	}
	out[o] = '\0';
	return cut;
}

const char *
log_safe_len(const char *s, size_t len, char *out, size_t outlen)
{
	if (outlen == 0)
		return out;
	if (s == NULL)
		len = 0;
	log_escape((const unsigned char *)s, len, true, out, outlen);
	return out;
}

const char *
log_safe(const char *s, char *out, size_t outlen)
{
	return log_safe_len(s, s != NULL ? strlen(s) : 0, out, outlen);
}

const char *
log_safe_text(const char *s, char *out, size_t outlen)
{
	if (outlen == 0)
		return out;
	log_escape((const unsigned char *)(s != NULL ? s : ""),
	    s != NULL ? strlen(s) : 0, false, out, outlen);
	return out;
}

/* -- batches: one write per loop pass ------------------------------------ */

/* Threads that run an event loop at once: smtpd and the qmgr run one. */
#define LOG_BATCHES_MAX	4

struct log_loop {
	pthread_mutex_t lock;
	bool used;		/* under log_loops_lock */
	void (*wake)(void *);	/* owner's only */
	void *arg;
	struct logbatch batch;	/* under lock */
};

static struct log_loop log_loops[LOG_BATCHES_MAX];
static pthread_mutex_t log_loops_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t log_loops_once = PTHREAD_ONCE_INIT;
/* How many are used: lets a process with no loop skip the walk. */
static _Atomic unsigned log_loops_used;
static _Thread_local struct log_loop *log_mine;

/*
 * Write every batch of the process.  try: the lock only if it is free
 * (fatal, panic, exit: the thread holding it is writing the batch, or
 * this process is past caring); otherwise wait for it.
 */
static void
log_flush_all(bool try)
{
	if (log_loops_used == 0)
		return;
	for (size_t i = 0; i < LOG_BATCHES_MAX; i++) {
		struct log_loop *l = &log_loops[i];

		if (try ? pthread_mutex_trylock(&l->lock) != 0 :
		    pthread_mutex_lock(&l->lock) != 0)
			continue;
		logbatch_flush(&l->batch, STDERR_FILENO);
		pthread_mutex_unlock(&l->lock);
	}
}

static void
log_flush_at_exit(void)
{
	log_flush_all(true);
}

/* Before fork(): the lines so far go out once, from the parent. */
static void
log_fork_prepare(void)
{
	log_flush();
}

/* In the child: the copies of other threads' batches are the parent's
 * to write, and their locks may have been held by threads that are not
 * here; and this thread runs no loop yet. */
static void
log_fork_child(void)
{
	for (size_t i = 0; i < LOG_BATCHES_MAX; i++) {
		pthread_mutex_init(&log_loops[i].lock, NULL);
		log_loops[i].used = false;
		log_loops[i].batch.len = 0;
	}
	pthread_mutex_init(&log_loops_lock, NULL);
	log_loops_used = 0;
	log_mine = NULL;
}

static void
log_loops_setup(void)
{
	for (size_t i = 0; i < LOG_BATCHES_MAX; i++)
		pthread_mutex_init(&log_loops[i].lock, NULL);
	atexit(log_flush_at_exit);
	pthread_atfork(log_fork_prepare, NULL, log_fork_child);
}

int
log_batch_start(void (*wake)(void *), void *arg)
{
	struct log_loop *l = NULL;

	if (log_mine != NULL)
		return -1;
	pthread_once(&log_loops_once, log_loops_setup);
	pthread_mutex_lock(&log_loops_lock);
	for (size_t i = 0; i < LOG_BATCHES_MAX && l == NULL; i++)
		if (!log_loops[i].used)
			l = &log_loops[i];
	if (l != NULL) {
		l->used = true;
		l->wake = wake;
		l->arg = arg;
		log_loops_used++;
	}
	pthread_mutex_unlock(&log_loops_lock);
	if (l == NULL)
		return -1;
	log_mine = l;
	return 0;
}

void
log_batch_stop(void)
{
	struct log_loop *l = log_mine;

	if (l == NULL)
		return;
	log_flush();
	log_mine = NULL;
	pthread_mutex_lock(&log_loops_lock);
	l->used = false;
	log_loops_used--;
	pthread_mutex_unlock(&log_loops_lock);
}

void
log_flush(void)
{
	struct log_loop *l = log_mine;

	if (l == NULL)
		return;
	pthread_mutex_lock(&l->lock);
	logbatch_flush(&l->batch, STDERR_FILENO);
	pthread_mutex_unlock(&l->lock);
}

/* One whole line to stderr: into this thread's batch, or out at once. */
static void
log_put(const char *line, size_t n)
{
	struct log_loop *l = log_mine;
	bool first;

	if (l == NULL) {
		log_flush_all(false);
		if (write(STDERR_FILENO, line, n) < 0) {
			/* Nowhere left to report a failing stderr. */
		}
		return;
	}
	pthread_mutex_lock(&l->lock);
	first = l->batch.len == 0;
	logbatch_add(&l->batch, STDERR_FILENO, line, n);
	first = first && l->batch.len > 0;
	pthread_mutex_unlock(&l->lock);
	if (first)
		l->wake(l->arg);
}

/* -- lines --------------------------------------------------------------- */

/*
 * A line that did not fit: keep its whole fields (a space outside quotes
 * ends one) and say so.  msg (LOG_MSG_SIZE) holds at most
 * LOG_FIELDS_MAX bytes, so the mark fits after any of them.
 */
static void
log_cut_fields(char *msg)
{
	size_t i, last = 0;
	bool quoted = false;

	for (i = 0; msg[i] != '\0'; i++) {
		if (msg[i] == '"')
			quoted = !quoted;
		else if (msg[i] == ' ' && !quoted)
			last = i;
	}
	if (last == 0) {
		/* Not even the event name fits: a bug at the call site. */
		memcpy(msg, "event=log-truncated", sizeof("event=log-truncated"));
		return;
	}
	memcpy(msg + last, LOG_CUT_MARK, sizeof(LOG_CUT_MARK));
}

/* Format, then escape what no line may hold (see the top of the file). */
static void
log_format(char msg[LOG_MSG_SIZE], const char *fmt, va_list ap)
{
	char raw[LOG_FIELDS_MAX + 1];
	int n = vsnprintf(raw, sizeof(raw), fmt, ap);
	bool cut = n < 0 || (size_t)n >= sizeof(raw);

	if (n < 0)
		raw[0] = '\0';
	if (log_escape((const unsigned char *)raw, strlen(raw), false, msg,
	    LOG_FIELDS_MAX + 1) || cut)
		log_cut_fields(msg);
}

/*
 * The line's timestamp to the second, "YYYY-MM-DDTHH:MM:SS": made once a
 * second per thread, as gmtime_r and strftime cost more than the rest
 * of the prefix (issue 12: about a dozen lines per message).
 */
#define LOG_STAMP_LEN	19

static const char *
log_stamp(time_t sec)
{
	static _Thread_local time_t made = -1;
	static _Thread_local char text[32];
	struct tm tm;

	if (sec != made) {
		gmtime_r(&sec, &tm);
		if (strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm) !=
		    LOG_STAMP_LEN)
			memset(text, '?', LOG_STAMP_LEN);
		made = sec;
	}
	return text;
}

/* Appends n octets of s at line + *at. */
static void
log_append(char *line, size_t *at, const char *s, size_t n)
{
	memcpy(line + *at, s, n);
	*at += n;
}

/* Appends the decimal digits of v (at most 20). */
static void
log_append_number(char *line, size_t *at, unsigned long long v, int width)
{
	char digits[24];
	int n = 0;

	do {
		digits[sizeof(digits) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 || n < width);
	log_append(line, at, digits + sizeof(digits) - n, (size_t)n);
}

/* Longest role name a line carries: ours are a word. */
#define LOG_ROLE_MAX	32

/*
 * "STAMP.mmmZ ROLE[PID] LEVEL: MSG\n" into line (LOG_MSG_SIZE + 128:
 * the prefix is at most 25 + 32 + 22 + 7 octets); its length.  Put
 * together by hand: a format string would copy msg once more.
 */
static size_t
log_line(char *line, const char *level, const char *msg)
{
	struct timespec ts;
	size_t at = 0, role = strlen(log_role), len = strlen(msg);

	clock_gettime(CLOCK_REALTIME, &ts);
	log_append(line, &at, log_stamp(ts.tv_sec), LOG_STAMP_LEN);
	line[at++] = '.';
	log_append_number(line, &at, (unsigned long long)ts.tv_nsec / 1000000,
	    3);
	log_append(line, &at, "Z ", 2);
	log_append(line, &at, log_role, role < LOG_ROLE_MAX ? role :
	    LOG_ROLE_MAX);
	line[at++] = '[';
	log_append_number(line, &at, (unsigned long long)pidcache_get(), 1);
	log_append(line, &at, "] ", 2);
	log_append(line, &at, level, strlen(level));
	log_append(line, &at, ": ", 2);
	log_append(line, &at, msg, len);
	line[at++] = '\n';
	return at;
}

static void
log_emit(enum log_level level, const char *fmt, va_list ap)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
	char msg[LOG_MSG_SIZE];
	int saved = errno;

	if (level < log_min)
		return;
	log_format(msg, fmt, ap);
	if (log_stderr) {
		char line[LOG_MSG_SIZE + 128];

		log_put(line, log_line(line, names[level], msg));
	} else {
		syslog(prio[level], "%s: %s", log_role, msg);
	}
	errno = saved;
}

#define LOG_FN(name, level)                                 \
	void name(const char *fmt, ...)                     \
	{                                                   \
		va_list ap;                                 \
		va_start(ap, fmt);                          \
		log_emit(level, fmt, ap);                   \
		va_end(ap);                                 \
	}

LOG_FN(log_debug, LOG_LEVEL_DEBUG)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_warn, LOG_LEVEL_WARN)
LOG_FN(log_error, LOG_LEVEL_ERROR)

static void
log_emitf(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
log_emitf(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(level, fmt, ap);
	va_end(ap);
}

/* "event=NAME reason=\"SENTENCE\"", the sentence escaped as a value. */
static void
log_sentence(const char *event, const char *fmt, va_list ap)
{
	char text[LOG_FIELDS_MAX / 2], safe[LOG_FIELDS_MAX - 64];

	if (vsnprintf(text, sizeof(text), fmt, ap) < 0)
		text[0] = '\0';
	log_escape((const unsigned char *)text, strlen(text), true, safe,
	    sizeof(safe));
	log_emitf(LOG_LEVEL_ERROR, "event=%s reason=\"%s\"", event, safe);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_sentence("fatal", fmt, ap);
	va_end(ap);
	log_flush_all(true);
	exit(1);
}

void
panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_sentence("panic", fmt, ap);
	va_end(ap);
	log_flush_all(true);
	abort();
}
