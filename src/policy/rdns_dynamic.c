/*
 * The "rdns_dynamic" check: see rdns_dynamic.h for the heuristic.  Its
 * default action is "log": many legitimate small senders still sit on
 * pool-looking names, so refusing them is the operator's choice.  The
 * names come from DNS and are untrusted: only letters, digits, '-',
 * '_' and '.' reach here (src/dns/fcrdns.c), but nothing below relies
 * on it; every index is bounded by the copy's length.
 *
 * The words are matched as whole tokens, never as substrings, and the
 * last two labels (the provider's own domain, "cablevision.example")
 * are left out, so "mail.cable.example" is no pool.
 */
#include "policy/rdns_dynamic.h"

#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "policy/check.h"

#define RUNS_MAX	64	/* digit runs looked at in one name */

static const char *const strong_words[] = {
	"dyn", "dynamic", "dsl", "adsl", "vdsl", "xdsl", "pool", "dhcp",
	"cable", "ppp", "pppoe", "dialup", "dialin", "dial", NULL
};
/* Words that name a pool only next to numbers ("client-7.isp"), since
 * "client.example.org" may well be a server's name. */
static const char *const weak_words[] = {
	"client", "cpe", "customer", "broadband", "subscriber", "user", NULL
};

static bool
in_list(const char *const *list, const char *tok, size_t len)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (strlen(list[i]) == len && memcmp(list[i], tok, len) == 0)
			return true;
	return false;
}

/* The decimal digit runs of s: value, or -1 when too long for an
 * octet; a 12-digit run stands for four zero-padded octets. */
static size_t
digit_runs(const char *s, int *runs, size_t max)
{
	size_t n = 0;

	for (const char *p = s; *p != '\0' && n < max;) {
		size_t len = 0;
		int v = 0;

		if (!isdigit((unsigned char)*p)) {
			p++;
			continue;
		}
		while (isdigit((unsigned char)p[len]))
			len++;
		if (len == 12) {
			for (size_t k = 0; k < 4 && n < max; k++)
				runs[n++] = (p[3 * k] - '0') * 100 +
				    (p[3 * k + 1] - '0') * 10 + (p[3 * k + 2] - '0');
		} else {
			for (size_t k = 0; k < len && k < 4; k++)
				v = v * 10 + (p[k] - '0');
			runs[n++] = len <= 3 ? v : -1;
		}
		p += len;
	}
	return n;
}

/* want[0..k) found as consecutive runs. */
static bool
has_sequence(const int *runs, size_t n, const int *want, size_t k)
{
	for (size_t i = 0; i + k <= n; i++) {
		size_t j = 0;

		while (j < k && runs[i + j] == want[j])
			j++;
		if (j == k)
			return true;
	}
	return false;
}

static bool
octets_match(const char *low, const unsigned char *ip, char *why, size_t whylen)
{
	int runs[RUNS_MAX];
	size_t n = digit_runs(low, runs, RUNS_MAX);
	const int fwd[4] = { ip[0], ip[1], ip[2], ip[3] };
	const int rev[4] = { ip[3], ip[2], ip[1], ip[0] };
	char hex[9];

	if (has_sequence(runs, n, fwd, 4) || has_sequence(runs, n, rev, 4)) {
		snprintf(why, whylen, "the four octets of the address in %s", low);
		return true;
	}
	/* The host part and the two octets before it: "x2-3-4.pool". */
	if (has_sequence(runs, n, fwd + 1, 3) || has_sequence(runs, n, rev, 3)) {
		snprintf(why, whylen, "three octets of the address in %s", low);
		return true;
	}
	snprintf(hex, sizeof(hex), "%02x%02x%02x%02x", ip[0], ip[1], ip[2], ip[3]);
	if (strstr(low, hex) != NULL) {
		snprintf(why, whylen, "the address in hex (%s) in %s", hex, low);
		return true;
	}
	return false;
}

/* One label [p, p+len): its tokens against the word lists. */
static bool
label_match(const char *low, const char *p, size_t len, char *why, size_t whylen)
{
	bool digit = false;

	for (size_t i = 0; i < len; i++)
		if (isdigit((unsigned char)p[i]))
			digit = true;
	for (size_t i = 0; i < len;) {
		size_t t = i;

		if (!isalpha((unsigned char)p[i])) {
			i++;
			continue;
		}
		while (t < len && isalpha((unsigned char)p[t]))
			t++;
		if (in_list(strong_words, p + i, t - i) ||
		    (digit && in_list(weak_words, p + i, t - i))) {
			snprintf(why, whylen, "the word %.*s in %s",
			    (int)(t - i), p + i, low);
			return true;
		}
		i = t;
	}
	return false;
}

static bool
words_match(const char *low, char *why, size_t whylen)
{
	const char *labels[128];
	size_t n = 0;

	labels[n++] = low;
	for (const char *p = low; *p != '\0' && n < 128; p++)
		if (*p == '.' && p[1] != '\0')
			labels[n++] = p + 1;
	/* The last two labels name the provider, not the host. */
	for (size_t i = 0; i + 2 < n; i++) {
		const char *end = strchr(labels[i], '.');

		if (end != NULL &&
		    label_match(low, labels[i], (size_t)(end - labels[i]), why, whylen))
			return true;
	}
	return false;
}

bool
rdns_dynamic_match(const char *name, const unsigned char *ip4,
    char *why, size_t whylen)
{
	char low[RDNS_DYNAMIC_NAME_MAX + 1];
	char dummy[1];
	size_t len;

	if (whylen == 0) {
		why = dummy;
		whylen = sizeof(dummy);
	}
	why[0] = '\0';
	len = strnlen(name, RDNS_DYNAMIC_NAME_MAX);
	for (size_t i = 0; i < len; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[len] = '\0';
	if (len > 0 && low[len - 1] == '.')
		low[--len] = '\0';
	if (ip4 != NULL && octets_match(low, ip4, why, whylen))
		return true;
	return words_match(low, why, whylen);
}

static bool
rdns_dynamic_decide(const struct policy_facts *f, const struct config *cfg,
    struct verdict *v)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&f->addr;
	const unsigned char *ip4 = NULL;
	char why[VERDICT_EVIDENCE_MAX];

	(void)cfg;
	if (!f->rdns_known)
		return false;
	if (f->addr.ss_family == AF_INET)
		ip4 = (const unsigned char *)&sin->sin_addr;
	verdict_accept(v);
	for (size_t i = 0; i < f->n_ptr; i++) {
		if (!rdns_dynamic_match(f->ptr[i], ip4, why, sizeof(why)))
			continue;
		verdict_refuse(v, 550, "5.7.1", "Client host [%s] rejected: its "
		    "name looks like a dynamic address; send through your "
		    "provider's mail server", f->ip);
		verdict_evidence(v, "%s", why);
		break;
	}
	return true;
}

const struct policy_check policy_check_rdns_dynamic = {
	.name = "rdns_dynamic",
	.id = POLICY_CHECK_RDNS_DYNAMIC,
	.dnswl_exempt = true,	/* a DNS heuristic (BCP) */
	.decide = rdns_dynamic_decide,
};
