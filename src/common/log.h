/*
 * Logging: one line per event, key=value fields, to stderr (foreground)
 * or syslog (mail facility).
 *
 * Callers write events as "event=connect client=[192.0.2.1] id=..."; the
 * logger adds nothing but the level and, on stderr, a timestamp and the
 * process role.  Never log a password or a message body.
 *
 * fatal() is for start-up and environment errors: it logs and exits 1.
 * panic() is for broken invariants: it logs and aborts (core dump).
 */
#ifndef DECORUM_COMMON_LOG_H
#define DECORUM_COMMON_LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* role: "master", "smtpd", "qmgr", "decorum"; to_stderr: -f mode. */
void log_init(const char *role, bool to_stderr);
void log_set_role(const char *role);
void log_set_level(enum log_level level);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Copy s into out (size outlen) so it is safe inside a quoted
 * key="value" log field: control characters, quotes and backslashes
 * become \xHH (spaces stay, so the field must be quoted).
 * Always NUL-terminates; truncates with "..." when out is too small.
 * Returns out, so it can be used inline in a log call.
 */
const char *log_safe(const char *s, char *out, unsigned outlen);

#endif
