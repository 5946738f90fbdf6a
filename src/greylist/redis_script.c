/*
 * The Lua script of the Redis greylist backend (redis_script.h): the
 * same rules as greylist_decide() in record.c, applied on the server in
 * one step.  Keep the two in step; the integration tests run the same
 * cases against both backends (tests/integration/test_greylist_redis.py
 * and the greylist tests with backend="redis").
 *
 * greylist_decide(r, now)                 here
 *   network allowed (auto or operator)      1. PASS, net_allowed; the
 *                                              network's TTL restarts
 *   no record (first == 0)                  2. DEFER until now+delay
 *   passed                                  3. PASS; last = now
 *   now < first + delay                     4. DEFER until first+delay
 *   now > first + retry_window              5. a new first try: as 2.
 *   otherwise                               6. PASS, passed; the
 *                                              network counts one pass
 *                                              (allowed at auto_allow)
 *
 * Expiry is Redis's own (EXPIRE): a waiting triplet lives retry_window
 * (plus a second, so the last moment of the window still finds it), a
 * passed triplet and a network `lifetime` after their last use, which
 * is what record.c's purge removes by hand for SQLite.  `now` is the
 * caller's clock (one node's), so the script stays deterministic.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "greylist/redis_script.h"

const char redis_script_check[] =
	"local now = tonumber(ARGV[1])\n"
	"local delay, window = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
	"local life, auto = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
	"local n = redis.call('HMGET', KEYS[2], 'passes', 'allowed')\n"
	"if n[2] == '1' or (auto > 0 and tonumber(n[1] or '0') >= auto) then\n"
	"  redis.call('EXPIRE', KEYS[2], life)\n"
	"  return {0, 0, 1}\n"
	"end\n"
	"local t = redis.call('HMGET', KEYS[1], 'first', 'passed')\n"
	"local first = tonumber(t[1] or '0')\n"
	"if first ~= 0 and t[2] == '1' then\n"
	"  redis.call('HSET', KEYS[1], 'last', now)\n"
	"  redis.call('EXPIRE', KEYS[1], life)\n"
	"  return {0, 0, 0}\n"
	"end\n"
	"if first == 0 or now > first + window then\n"
	"  redis.call('HSET', KEYS[1], 'first', now, 'last', now, 'passed', 0,\n"
	"    'net', ARGV[6], 'sender', ARGV[7], 'rcpt', ARGV[8])\n"
	"  redis.call('EXPIRE', KEYS[1], window + 1)\n"
	"  return {1, now + delay, 0}\n"
	"end\n"
	"if now < first + delay then\n"
	"  redis.call('HSET', KEYS[1], 'last', now)\n"
	"  return {1, first + delay, 0}\n"
	"end\n"
	"redis.call('HSET', KEYS[1], 'last', now, 'passed', 1)\n"
	"redis.call('EXPIRE', KEYS[1], life)\n"
	"local passes = redis.call('HINCRBY', KEYS[2], 'passes', 1)\n"
	"if auto > 0 and passes >= auto then\n"
	"  redis.call('HSET', KEYS[2], 'allowed', 1)\n"
	"end\n"
	"redis.call('EXPIRE', KEYS[2], life)\n"
	"return {0, 0, 0}\n";

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
