/*
 * Logging: one line per event, key=value fields, to stderr (foreground)
 * or syslog (mail facility).  The line grammar is docs/logging.md.
 *
 * Callers write events as "event=connect session=ID client=[192.0.2.1]";
 * the logger adds nothing but the level and, on stderr, a timestamp and
 * the process role.  Never log a password or a message body.
 *
 * Values we make ourselves (ids, numbers, IP addresses, enum words) are
 * bare.  Every value a client, a remote server, DNS, a file or the config
 * can influence is written key="%s" with log_safe(), so it can neither
 * end the field nor the line.  Whatever a call site does, the logger
 * escapes control characters and malformed UTF-8 in the whole line once
 * more, so no value can ever start a second line.
 *
 * fatal() is for start-up and environment errors: it logs and exits 1.
 * panic() is for broken invariants: it logs and aborts (core dump).
 * Unlike the others, both take a sentence, not fields ("spool %s: %s"),
 * and log it escaped as one event: event=fatal reason="..." (or
 * event=panic), so a path or a config value in it can break nothing.
 */
#ifndef DECORUM_COMMON_LOG_H
#define DECORUM_COMMON_LOG_H

#include <stdbool.h>
#include <stddef.h>

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
 * Lines of a thread that runs an event loop, written once per loop pass
 * (evloop_run() sets this up; the logger knows no loop).  After
 * log_batch_start() this thread's stderr lines wait in a batch of at
 * most 4096 octets (common/logbatch.h), and wake(arg) is called, in this
 * thread, when the batch gets a line while empty: the loop then calls
 * log_flush() before it waits again.  Returns -1 when this thread has a
 * batch already or every batch is taken: its lines then go out at once.
 * log_batch_stop() writes what is left and ends the batch; call it where
 * the loop returns.  fatal(), panic(), exit() and fork() write every
 * batch first; syslog lines are never batched.
 */
int log_batch_start(void (*wake)(void *), void *arg);
void log_batch_stop(void);
void log_flush(void);

/* An output buffer that holds n input bytes escaped, with no cut. */
#define LOG_SAFE_SIZE(n)	((n) * 4 + 1)

/*
 * Copy s into out (size outlen) so it is safe inside a quoted
 * key="value" log field: '"', '\\' and every byte that is not part of
 * printable UTF-8 become \xHH; printable UTF-8 (SMTPUTF8 addresses) and
 * spaces stay as they are, so the field must be quoted.  Not printable:
 * C0 controls, DEL, malformed UTF-8 (RFC 3629: overlong forms,
 * surrogates, beyond U+10FFFF, cut sequences), C1 controls, U+2028 and
 * U+2029, and the Bidi_Control characters (they reorder what a reader
 * sees on the line).
 * Always NUL-terminates (outlen > 0); when out is too small the copy
 * ends with "...", never inside an escape or a UTF-8 sequence.
 * s NULL is "".  Returns out, so it can be used inline in a log call.
 */
const char *log_safe(const char *s, char *out, size_t outlen);

/* The same for len bytes that may hold NUL (written \x00). */
const char *log_safe_len(const char *s, size_t len, char *out, size_t outlen);

/* The same for text that is a line of its own, not a quoted field (a
 * config error's "FILE:LINE: message" on stderr, the log in -f mode):
 * '"' and '\\' stay as written, so the line reads as it was meant;
 * nothing else in it can end the line or forge the next one. */
const char *log_safe_text(const char *s, char *out, size_t outlen);

#endif
