/*
 * Password hashes: see password.h.  libxcrypt does the cryptography; this
 * file only chooses yescrypt for new hashes, strips Dovecot's "{CRYPT}"
 * prefix, compares in constant time and wipes what it touched.
 *
 * Called by `decorum user add|passwd` (hashing) and by SASL AUTH
 * (verification, a later issue).  Trusts nothing about the hash string:
 * it comes from a users file.  A missing, empty or malformed hash costs
 * the same yescrypt computation as a real one, so a client cannot tell
 * "no such user" from "wrong password" by timing.
 *
 * Memory: struct crypt_data is ~32 KiB, so it lives on the heap and is
 * wiped (explicit_bzero) before being freed, as is every copy of a
 * computed hash.
 */
#include "auth/password.h"

#include <crypt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xmalloc.h"

/* The work a failed lookup still does: a yescrypt hash with default
 * cost and a fixed salt, computed once on first use. */
static char password_dummy[CRYPT_GENSALT_OUTPUT_SIZE];

static const char *
password_dummy_setting(void)
{
	static const char rbytes[16] = "decorum-dummy-16";

	if (password_dummy[0] == '\0' &&
	    crypt_gensalt_rn("$y$", 0, rbytes, sizeof(rbytes), password_dummy,
	    sizeof(password_dummy)) == NULL)
		password_dummy[0] = '\0';
	return password_dummy;
}

int
password_hash(const char *password, char *out, size_t outlen)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *h;
	int rc = -1;
	size_t len;

	/* rbytes NULL: libxcrypt draws the salt from the OS's CSPRNG. */
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL)
		return -1;
	cd = xcalloc(1, sizeof(*cd));
	h = crypt_rn(password, salt, cd, sizeof(*cd));
	if (h != NULL && h[0] == '$' && (len = strlen(h)) < outlen) {
		memcpy(out, h, len + 1);
		rc = 0;
	}
	xfree_secret(cd, sizeof(*cd));
	explicit_bzero(salt, sizeof(salt));
	return rc;
}

/* Compare all of a and b whatever their contents; only the lengths
 * (public: they follow from the hash method) may leak. */
static bool
password_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;

	for (size_t i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

bool
password_verify(const char *password, const char *hash)
{
	struct crypt_data *cd;
	const char *setting = hash;
	const char *h;
	bool ok = false, real = true;

	if (setting == NULL)
		setting = "";
	if (strncasecmp(setting, "{CRYPT}", 7) == 0)
		setting += 7;
	/* "" (mailbox without login), "*" / "!" (locked) and anything that
	 * is not a "$id$" hash never verify.  DES and other legacy formats
	 * are refused on purpose. */
	if (setting[0] != '$' || crypt_checksalt(setting) != CRYPT_SALT_OK) {
		real = false;
		setting = password_dummy_setting();
	}
	cd = xcalloc(1, sizeof(*cd));
	h = crypt_rn(password, setting, cd, sizeof(*cd));
	if (h != NULL && h[0] == '$' && real)
		ok = password_equal(h, setting);
	xfree_secret(cd, sizeof(*cd));
	return ok;
}
