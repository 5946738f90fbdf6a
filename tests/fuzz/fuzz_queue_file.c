/*
 * libFuzzer harness: the queue-file reader (queue/envelope.c), which reads
 * files that a crash may have torn or an operator may have edited.  The
 * whole input is one file.  Invariants checked:
 *  - on error, err holds a message; either way queue_file_free() leaves
 *    qf empty and is safe to call twice;
 *  - on success the envelope has V, I (shorter than QUEUE_ID_MAX), T, S
 *    and at least one R, and a status for every recipient; D records
 *    name one mailbox without spaces; the per-state counts add up;
 *  - writing the envelope back with envelope_format() (when its values
 *    hold no CR) and reading that again gives the same envelope, with no
 *    status records, nothing torn and nothing bad;
 *  - envelope_copy() is deep and equal; envelope_clean_text() leaves no
 *    control character in an F/W text;
 *  - a delay warning time (N record) is never negative, and appending
 *    one more "N <t>" line to a file that parsed whole (not torn) sets
 *    warned to t and changes nothing else;
 *  - format 2 (data first): the end record found from the end is never
 *    negative but -1, and looking at the input as a part from the middle
 *    of a file finds the same one or none; where it names a "V 2" line,
 *    the rest is read as the loader reads it, with the checks above.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/bounds.h"
#include "common/buf.h"
#include "queue/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void
check_same(const struct envelope *a, const struct envelope *b)
{
	if (strcmp(a->id, b->id) != 0 || a->created != b->created ||
	    !str_eq(a->sender, b->sender) || a->smtputf8 != b->smtputf8 ||
	    a->eight_bit != b->eight_bit ||
	    !str_eq(a->client_ip, b->client_ip) || !str_eq(a->helo, b->helo) ||
	    a->n_rcpts != b->n_rcpts)
		abort();
	for (size_t i = 0; i < a->n_rcpts; i++)
		if (!str_eq(a->rcpts[i].addr, b->rcpts[i].addr))
			abort();
}

static void
check_parsed(const struct queue_file *qf)
{
	const struct envelope *env = &qf->env;
	size_t pending, done, failed;

	if (env->sender == NULL || env->n_rcpts == 0 || qf->st == NULL ||
	    env->id[0] == '\0' || strnlen(env->id, QUEUE_ID_MAX) >= QUEUE_ID_MAX)
		abort();
	for (size_t i = 0; i < env->n_rcpts; i++)
		if (env->rcpts[i].addr == NULL || env->rcpts[i].addr[0] == '\0')
			abort();
	for (size_t i = 0; i < qf->n_delivered; i++) {
		if (qf->delivered[i][0] == '\0' ||
		    strchr(qf->delivered[i], ' ') != NULL ||
		    !queue_file_is_delivered(qf, qf->delivered[i]))
			abort();
	}
	pending = queue_file_count(qf, RCPT_PENDING);
	done = queue_file_count(qf, RCPT_DONE);
	failed = queue_file_count(qf, RCPT_FAILED);
	if (pending + done + failed != env->n_rcpts || qf->warned < 0)
		abort();
	for (size_t i = 0; i < env->n_rcpts; i++) {
		char clean[QUEUE_STATUS_TEXT_MAX + 1];

		if (qf->st[i].state == RCPT_FAILED && qf->st[i].text == NULL)
			abort();
		if (qf->st[i].text == NULL)
			continue;
		envelope_clean_text(qf->st[i].text, clean, sizeof(clean));
		for (const char *p = clean; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				abort();
	}
}

/* Write the envelope back and read it again: the same envelope. */
static void
check_round_trip(const struct queue_file *qf)
{
	struct queue_file again;
	struct envelope copy;
	struct buf out;
	char err[128];

	envelope_copy(&copy, &qf->env);
	check_same(&qf->env, &copy);
	envelope_free(&copy);

	buf_init(&out, QUEUE_FILE_MAX);
	if (envelope_format(&qf->env, qf->data_len, &out) == 0) {
		if (queue_file_parse(out.data, out.len, &again, err,
		    sizeof(err)) != 0)
			abort();
		check_same(&qf->env, &again.env);
		if (again.torn || again.bad_records != 0 ||
		    again.n_delivered != 0 || again.warned != 0 ||
		    queue_file_count(&again, RCPT_PENDING) != again.env.n_rcpts)
			abort();
		queue_file_free(&again);
	}
	buf_free(&out);
}

/* The same file with "N 1234567890" appended: only warned differs. */
static void
check_append_warning(const uint8_t *data, size_t size,
    const struct queue_file *qf)
{
	static const char rec[] = "N 1234567890\n";
	struct queue_file again;
	char err[128], *text;

	if (qf->torn)
		return;		/* the record would join the torn line */
	text = malloc(size + sizeof(rec));
	if (text == NULL)
		abort();
	memcpy(text, data, size);
	memcpy(text + size, rec, sizeof(rec) - 1);
	if (queue_file_parse(text, size + sizeof(rec) - 1, &again, err,
	    sizeof(err)) != 0 || again.warned != 1234567890 || again.torn ||
	    again.bad_records != qf->bad_records ||
	    again.n_delivered != qf->n_delivered)
		abort();
	check_same(&qf->env, &again.env);
	for (size_t i = 0; i < qf->env.n_rcpts; i++)
		if (again.st[i].state != qf->st[i].state ||
		    again.st[i].attempts != qf->st[i].attempts ||
		    again.st[i].next_try != qf->st[i].next_try ||
		    !str_eq(again.st[i].text, qf->st[i].text))
			abort();
	queue_file_free(&again);
	free(text);
}

static void
check_file(const uint8_t *data, size_t size)
{
	struct queue_file qf;
	char err[128];

	err[0] = '\0';
	if (queue_file_parse((const char *)data, size, &qf, err,
	    sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort();
	} else {
		check_parsed(&qf);
		check_round_trip(&qf);
		check_append_warning(data, size, &qf);
	}
	queue_file_free(&qf);
	queue_file_free(&qf);	/* documented safe twice */
	if (qf.st != NULL || qf.env.rcpts != NULL || qf.delivered != NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int64_t whole = queue_file_data_len((const char *)data, size, true);
	int64_t part = queue_file_data_len((const char *)data, size, false);

	check_file(data, size);
	if (whole < -1 || (part != -1 && part != whole))
		abort();
	/* The part a loader parses: from the "V 2" the end record names. */
	if (whole >= 0 && (uint64_t)whole + 4 <= size &&
	    memcmp(data + whole, "V 2\n", 4) == 0)
		check_file(data + whole, size - (size_t)whole);
	return 0;
}
