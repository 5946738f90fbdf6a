/*
 * The policy checks, in the order their verdicts are weighed: when two
 * refuse, the first one's reply is sent (both are logged).  A new check
 * is one file with its descriptor (check.h), one line here and its row
 * in common/config.h (enum policy_check_id, config_policy_checks[]).
 */
#include "policy/check.h"

const struct policy_check *const policy_checks[] = {
	&policy_check_fcrdns,
	&policy_check_rdns_dynamic,
	&policy_check_helo_syntax,
	&policy_check_helo_resolves,
	&policy_check_helo_matches_ip,
	&policy_check_dnsbl,
	&policy_check_dnswl,
};

const size_t policy_n_checks = sizeof(policy_checks) / sizeof(*policy_checks);
