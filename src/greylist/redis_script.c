/*
 * The Lua script of the Redis greylist backend (redis_script.h): the
 * same steps as the SQLite backend's transaction (store_sqlite.c,
 * check_in_tx), with record.c's pure rules written out in Lua.  Keep
 * the two in step; the integration tests run the same cases against
 * both backends (tests/integration/test_greylist_redis.py and the
 * greylist tests with backend="redis").
 *
 *   record.c / store_sqlite.c             here
 *   greylist_net_allows(): allowed and    1. PASS, net_allowed, and
 *     now <= until                           greylist_net_use():
 *                                            until = now + lifetime
 *   greylist_decide(): no record, a       2. restart: first = last =
 *     passed one unused for lifetime, a      now, DEFER until now+delay
 *     waiting one past its window
 *   passed                                3. PASS; last = now
 *   now < first + delay                   4. DEFER until first+delay;
 *                                            last = now, first stays
 *   otherwise                             5. PASS, passed, and
 *                                            greylist_net_pass(): an
 *                                            expired count restarts,
 *                                            +1, allowed at auto_allow,
 *                                            until = now + lifetime
 *
 * Every edge is inclusive as in record.c.  EXPIRE only collects what
 * the rules already ignore: a key lives one second past the moment
 * greylist_record_expired() (or the network's `until`) gives it up,
 * counted by Redis's clock from ours, so a node's clock skew against
 * Redis does not cut a record short.  `now` is the caller's clock,
 * which keeps the script deterministic.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "greylist/redis_script.h"

const char redis_script_check[] =
	"local now = tonumber(ARGV[1])\n"
	"local delay, window = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
	"local life, auto = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
	"local n = redis.call('HMGET', KEYS[2], 'passes', 'allowed', 'until')\n"
	"local passes, allowed = tonumber(n[1] or '0'), n[2] == '1'\n"
	"local untl = tonumber(n[3] or '0')\n"
	"local function net_put()\n"
	"  redis.call('HSET', KEYS[2], 'passes', passes, 'allowed',\n"
	"    allowed and 1 or 0, 'until', untl)\n"
	"  redis.call('EXPIRE', KEYS[2], untl - now + 1)\n"
	"end\n"
	/* 1. */
	"if allowed and now <= untl then\n"
	"  untl = now + life\n"
	"  net_put()\n"
	"  return {0, 0, 1}\n"
	"end\n"
	"local t = redis.call('HMGET', KEYS[1], 'first', 'last', 'passed')\n"
	"local first, last = tonumber(t[1] or '0'), tonumber(t[2] or '0')\n"
	"local passed, newly, answer, retry = t[3] == '1', false, 0, 0\n"
	/* 2. */
	"if first == 0 or (passed and now > last + life) or\n"
	"    (not passed and now > first + window) then\n"
	"  first, last, passed, answer, retry = now, now, false, 1, now + delay\n"
	/* 3. */
	"elseif passed then\n"
	"  last = now\n"
	/* 4. */
	"elseif now < first + delay then\n"
	"  last, answer, retry = now, 1, first + delay\n"
	/* 5. */
	"else\n"
	"  last, passed, newly = now, true, true\n"
	"end\n"
	"local tuntil = passed and last + life or first + window\n"
	"redis.call('HSET', KEYS[1], 'first', first, 'last', last, 'passed',\n"
	"  passed and 1 or 0, 'until', tuntil, 'net', ARGV[6], 'sender', ARGV[7],\n"
	"  'rcpt', ARGV[8])\n"
	"redis.call('EXPIRE', KEYS[1], tuntil - now + 1)\n"
	"if newly then\n"
	"  if untl ~= 0 and now > untl then passes, allowed = 0, false end\n"
	"  passes = passes + 1\n"
	"  if auto ~= 0 and passes >= auto then allowed = true end\n"
	"  untl = now + life\n"
	"  net_put()\n"
	"end\n"
	"return {answer, retry, 0}\n";

int
redis_script_sha1(char out[41])
{
	unsigned char dig[EVP_MAX_MD_SIZE];
	unsigned dlen = 0, i;

	if (EVP_Digest(redis_script_check, strlen(redis_script_check), dig, &dlen,
	    EVP_sha1(), NULL) != 1 || dlen != 20)
		return -1;
	for (i = 0; i < dlen; i++)
		snprintf(out + 2 * i, 3, "%02x", dig[i]);
	return 0;
}
