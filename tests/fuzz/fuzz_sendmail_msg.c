/*
 * libFuzzer harness: the message side of sendmail(1)
 * (src/cli/sendmail_msg.c).  The first input byte picks the options
 * (bit 0: a lone "." ends the message; bit 1: a size limit below what the
 * message needs); the rest is the message, read from a memfd as from
 * stdin.  Invariants checked:
 *  - reading agrees with a byte-at-a-time model of the line-end rules
 *    (LF, CRLF, bare CR -> CRLF; a last line gets one; a lone "." ends;
 *    a full header line folds before its last space or tab, any other
 *    full line is broken with CRLF SP after 998 octets);
 *    TOO_BIG only when the model's result exceeds the limit, and then the
 *    buffer stays within it;
 *  - the header split is in bounds: fields in order, back to back from
 *    offset 0, body_off right after them (plus the empty line);
 *  - every address of every field is non-empty, at most SMTP_ADDRESS_MAX
 *    and holds no CR or LF.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli/sendmail_msg.h"
#include "common/bounds.h"
#include "common/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reference: what sendmail_msg_read must make of in. */
static size_t
model(const uint8_t *in, size_t n, bool dot_ends, char *out)
{
	size_t len = 0, line = 0;
	bool body = false;

	for (size_t i = 0; i <= n; i++) {
		bool eol = i < n && (in[i] == '\r' || in[i] == '\n');

		if (i == n && len == line)
			break;		/* nothing on the last line */
		if (i < n && !eol) {
			if (len - line == SMTP_TEXT_LINE_MAX - 2) {
				size_t k = len;

				while (!body && k > line + 1 &&
				    out[k - 1] != ' ' && out[k - 1] != '\t')
					k--;
				if (!body && k > line + 1) {
					k--;		/* the space or tab */
					memmove(out + k + 2, out + k, len - k);
					memcpy(out + k, "\r\n", 2);
					len += 2;
					line = k + 2;
				} else {
					memcpy(out + len, "\r\n ", 3);
					len += 3;
					line = len - 1;
				}
			}
			out[len++] = (char)in[i];
			continue;
		}
		if (dot_ends && len - line == 1 && out[line] == '.')
			return line;
		if (len == line)
			body = true;
		if (i < n && in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
			i++;
		out[len++] = '\r';
		out[len++] = '\n';
		line = len;
	}
	return len;
}

static int
check_addr(void *arg, const char *a)
{
	size_t l = strlen(a);

	(void)arg;
	if (l == 0 || l > SMTP_ADDRESS_MAX || strpbrk(a, "\r\n") != NULL)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct sendmail_msg m;
	enum sendmail_read rc;
	struct buf out;
	bool dot_ends, tight;
	size_t want_len, max, pos;
	char *want;

	if (size < 1)
		return 0;
	if (fd < 0 && (fd = memfd_create("fuzz_sendmail_msg", 0)) < 0)
		abort();
	dot_ends = data[0] & 1;
	tight = data[0] & 2;
	data++;
	size--;
	if (ftruncate(fd, 0) < 0 ||
	    (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size) ||
	    lseek(fd, 0, SEEK_SET) != 0)
		abort();

	want = malloc(2 * size + 3);
	if (want == NULL)
		abort();
	want_len = model(data, size, dot_ends, want);
	max = tight ? want_len / 2 : 2 * size + 2;
	buf_init(&out, max);
	rc = sendmail_msg_read(fd, dot_ends, &out);
	if (rc == SENDMAIL_READ_ERROR || out.len > max ||
	    (!tight && rc != SENDMAIL_READ_OK))
		abort();
	if (rc == SENDMAIL_READ_OK && (out.len != want_len ||
	    (want_len > 0 && memcmp(out.data, want, want_len) != 0)))
		abort();
	/* TOO_BIG only when the kept message is over the limit, or when
	 * the "." that would end it is what passes it. */
	if (rc == SENDMAIL_READ_TOO_BIG && want_len + (dot_ends ? 1 : 0) <= max)
		abort();
	free(want);

	sendmail_msg_parse(out.data != NULL ? out.data : "", out.len, &m);
	pos = 0;
	for (size_t i = 0; i < m.n_fields; i++) {
		const struct sendmail_field *f = &m.fields[i];

		if (f->off != pos || f->len == 0 || f->len > out.len - pos)
			abort();
		pos += f->len;
		(void)sendmail_field_is(out.data, f, "Bcc");
		(void)sendmail_field_addresses(out.data, f, check_addr, NULL);
	}
	if (m.body_off != pos + (m.separator ? 2 : 0) || m.body_off > out.len)
		abort();
	sendmail_msg_free(&m);
	buf_free(&out);
	return 0;
}
