/*
 * Reads an SRS key file (srs_keyfile.h) for `decorum srs` and
 * check-config.  Trusts the path (the operator's config), not the file:
 * it must be a regular file of at most SRS_KEYFILE_MAX octets, and its
 * text goes through srs_keys_parse().  The buffer that held the secrets
 * is wiped before it is left.
 */
#include "srs/srs_keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

/* Up to SRS_KEYFILE_MAX + 1 octets into buf, so that "too big" shows. */
static ssize_t
read_bounded(int fd, char *buf, size_t cap)
{
	size_t have = 0;

	while (have < cap) {
		ssize_t n = read(fd, buf + have, cap - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		have += (size_t)n;
	}
	return (ssize_t)have;
}

int
srs_keyfile_read(int fd, const char *path, struct srs_keys *keys, char *err,
    size_t errlen)
{
	char buf[SRS_KEYFILE_MAX + 1], why[128];
	struct stat st;
	ssize_t n;
	int rc = -1;

	memset(keys, 0, sizeof(*keys));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: the SRS key file is not a regular "
		    "file", path);
		return -1;
	}
	if ((n = read_bounded(fd, buf, sizeof(buf))) < 0) {
		snprintf(err, errlen, "%s: cannot read the SRS key file: %s",
		    path, strerror(errno));
		goto out;
	}
	if ((size_t)n > SRS_KEYFILE_MAX) {
		snprintf(err, errlen, "%s: the SRS key file is over %d octets",
		    path, SRS_KEYFILE_MAX);
		goto out;
	}
	if (srs_keys_parse(keys, buf, (size_t)n, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: SRS key file: %s", path, why);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

int
srs_keyfile_load(const char *path, struct srs_keys *keys, char *err,
    size_t errlen)
{
	int fd, rc;

	memset(keys, 0, sizeof(*keys));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		snprintf(err, errlen, "%s: cannot read the SRS key file: %s",
		    path, strerror(errno));
		return -1;
	}
	rc = srs_keyfile_read(fd, path, keys, err, errlen);
	close(fd);
	return rc;
}
