/*
 * libFuzzer harness: rdns_dynamic_match(), the dynamic-name heuristic of
 * the rdns_dynamic policy check (src/policy/rdns_dynamic.c).  Its name
 * comes from the client's reverse DNS, which the client controls.
 *
 * Input: four octets of a client IPv4 address, one byte choosing IPv4
 * (even) or IPv6 (odd: no address), then the name.  Checks: the answer
 * does not depend on the room given for the reason; the reason is
 * NUL-terminated inside its buffer, empty when there is no match, and a
 * short buffer holds a prefix of the long one.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/rdns_dynamic.h"

#define IN_MAX 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[IN_MAX + 1], why[512], small[9];
	const unsigned char *ip;
	bool a, b;
	size_t len;

	if (size < 5 || size - 5 > IN_MAX)
		return 0;
	ip = (data[4] & 1) ? NULL : data;
	len = size - 5;
	memcpy(name, data + 5, len);
	name[len] = '\0';	/* a NUL inside ends the name early: fine */
	memset(why, 'x', sizeof(why));
	a = rdns_dynamic_match(name, ip, why, sizeof(why));
	if (memchr(why, '\0', sizeof(why)) == NULL)
		abort();
	if (!a && why[0] != '\0')
		abort();
	b = rdns_dynamic_match(name, ip, small, sizeof(small));
	if (a != b || memchr(small, '\0', sizeof(small)) == NULL ||
	    strncmp(small, why, strlen(small)) != 0)
		abort();
	if (rdns_dynamic_match(name, ip, NULL, 0) != a)
		abort();
	return 0;
}
