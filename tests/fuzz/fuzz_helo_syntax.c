/*
 * libFuzzer harness: helo_syntax_parse() and the helo.syntax check
 * (src/policy/helo_syntax.c).  The name is the client's HELO/EHLO
 * argument: any bytes it sends.
 *
 * Input: one byte of flags (bit 0: the name is "ours", bit 1: the client
 * is the address it reached, bits 2-3: the lookup's outcome), then the
 * name.  Checks: a name accepted as a domain is at most 253 octets of
 * LDH labels of 1 to 63, at least two, no root dot, a top-level label
 * not all digits; a literal is bracketed and its address prints back;
 * a refusal says why; a name is the same name as itself; the check's
 * verdict is a 250, 450 or 550/5.5.2 or 550/5.7.1, its texts
 * NUL-terminated inside their buffers.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy/check.h"
#include "policy/helo_syntax.h"

#define IN_MAX 600

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_name(const char *name)
{
	size_t len = strlen(name), label = 0, labels = 1;
	const char *last;

	if (len > HELO_NAME_MAX || len == 0 || name[len - 1] == '.')
		abort();
	for (const char *p = name; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0 || label > HELO_LABEL_MAX)
				abort();
			label = 0;
			labels++;
		} else if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-')) {
			abort();
		} else {
			label++;
		}
	}
	if (labels < 2 || label == 0 || label > HELO_LABEL_MAX)
		abort();
	last = strrchr(name, '.') + 1;
	if (strspn(last, "0123456789") == strlen(last))
		abort();
}

static void
check_literal(const char *name, const struct helo_parsed *hp)
{
	char text[64];

	if (name[0] != '[' || name[strlen(name) - 1] != ']')
		abort();
	if (hp->family != AF_INET && hp->family != AF_INET6)
		abort();
	if (inet_ntop(hp->family, hp->addr, text, sizeof(text)) == NULL)
		abort();
}

static void
check_verdict(const char *name, uint8_t flags)
{
	struct policy_facts f;
	struct sockaddr_in *sin = (struct sockaddr_in *)&f.addr;
	static const enum dns_status outcome[] = { DNS_OK, DNS_NOTFOUND,
	    DNS_TEMPFAIL, DNS_NOTFOUND };
	struct verdict v;

	memset(&f, 0, sizeof(f));
	sin->sin_family = AF_INET;
	memcpy(f.ip, "192.0.2.7", 10);
	f.helo = name;
	f.helo_ours = flags & 1;
	f.helo_from_us = flags & 2;
	f.helo_dns_known = true;
	f.helo_match = outcome[(flags >> 2) & 3];
	memset(&v, 'x', sizeof(v));
	if (!policy_check_helo_syntax.decide(&f, NULL, &v))
		abort();
	if (memchr(v.text, '\0', sizeof(v.text)) == NULL ||
	    memchr(v.evidence, '\0', sizeof(v.evidence)) == NULL ||
	    memchr(v.enhanced, '\0', sizeof(v.enhanced)) == NULL)
		abort();
	if (v.code != 250 && v.code != 450 && v.code != 550)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[IN_MAX + 1];
	struct helo_parsed hp;
	size_t len;

	if (size < 1 || size - 1 > IN_MAX)
		return 0;
	len = size - 1;
	memcpy(name, data + 1, len);
	name[len] = '\0';	/* a NUL inside ends the name early: fine */
	switch (helo_syntax_parse(name, &hp)) {
	case HELO_FORM_NAME:
		check_name(name);
		break;
	case HELO_FORM_LITERAL:
		check_literal(name, &hp);
		break;
	default:
		if (hp.why == NULL || hp.why[0] == '\0')
			abort();
		break;
	}
	check_verdict(name, data[0]);
	return 0;
}
