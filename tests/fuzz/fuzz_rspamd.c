/*
 * libFuzzer harness: rspamd's /checkv2 reply (src/scan/rspamd_reply.c,
 * with json-c).  Checks what rspamd_reply.h promises: every count within
 * its limit, symbol names and the message printable, header names RFC
 * 5322 and values with no line break but a fold.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scan/rspamd_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_printable(const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len > max)
		abort();
	for (size_t i = 0; i < len; i++)
		if (s[i] < 32 || s[i] > 126)
			abort();
}

static void
check_value(const char *v, size_t max)
{
	if (strlen(v) > max || strchr(v, '\r') != NULL)
		abort();
	for (v = strchr(v, '\n'); v; v = strchr(v + 1, '\n'))
		if (v[1] != ' ' && v[1] != '\t')
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rspamd_result res;
	enum rspamd_error e;

	e = rspamd_reply_parse((const char *)data, size, &res);
	check_printable(res.message, RSPAMD_MESSAGE_MAX);
	if (e != RSPAMD_OK)
		return 0;
	if (res.n_symbols > RSPAMD_SYMBOLS_MAX ||
	    res.n_symbols > res.symbols_total ||
	    res.n_add > RSPAMD_HEADERS_MAX || res.n_remove > RSPAMD_HEADERS_MAX ||
	    res.action > RSPAMD_REJECT)
		abort();
	for (size_t i = 0; i < res.n_symbols; i++)
		check_printable(res.symbols[i], RSPAMD_SYMBOL_MAX);
	for (size_t i = 0; i < res.n_add; i++) {
		if (strlen(res.add[i].name) == 0 ||
		    strpbrk(res.add[i].name, ": \t\r\n") != NULL)
			abort();
		check_value(res.add[i].value, RSPAMD_HDR_VALUE_MAX);
	}
	for (size_t i = 0; i < res.n_remove; i++)
		if (strlen(res.remove[i]) == 0 ||
		    strpbrk(res.remove[i], ": \t\r\n") != NULL)
			abort();
	check_value(res.subject, RSPAMD_SUBJECT_MAX);
	return 0;
}
