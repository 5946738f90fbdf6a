/*
 * The logger: see log.h.  Single-threaded callers only, except that
 * log_* may be called from worker threads: each line is formatted into a
 * local buffer and emitted with one write(2)/syslog(3) call, so lines from
 * different threads never interleave.
 */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static const char *log_role = "decorum";
static bool log_stderr = true;
static enum log_level log_min = LOG_LEVEL_INFO;

void
log_init(const char *role, bool to_stderr)
{
	log_role = role;
	log_stderr = to_stderr;
	if (!to_stderr)
		openlog("decorum", LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_role(const char *role)
{
	log_role = role;
}

void
log_set_level(enum log_level level)
{
	log_min = level;
}

static void
log_emit(enum log_level level, const char *fmt, va_list ap)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
	char msg[LOG_LINE_MAX];
	int saved = errno;

	if (level < log_min)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_stderr) {
		char line[LOG_LINE_MAX + 128];
		struct timespec ts;
		struct tm tm;
		char stamp[32];
		int n;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(line, sizeof(line), "%s.%03ldZ %s[%ld] %s: %s\n",
		    stamp, ts.tv_nsec / 1000000, log_role, (long)getpid(),
		    names[level], msg);
		if (n > (int)sizeof(line) - 1) {
			n = (int)sizeof(line) - 1;
			line[n - 1] = '\n';
		}
		if (write(STDERR_FILENO, line, (size_t)n) < 0) {
			/* Nowhere left to report a failing stderr. */
		}
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

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}

void
panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	abort();
}

const char *
log_safe(const char *s, char *out, unsigned outlen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned o = 0;

	if (outlen == 0)
		return out;
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		unsigned need = (c < ' ' || c == 0x7f || c == '"' ||
		    c == '\\') ? 4 : 1;

		if (o + need + 4 > outlen) {
			if (o + 4 <= outlen) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (need == 4) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return out;
}
