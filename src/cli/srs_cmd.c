/*
 * `decorum srs keygen|forward|reverse`: the Sender Rewriting Scheme for
 * operators (docs/forwarding.md).
 *
 *   decorum srs keygen [-f] [FILE]     a new secret into FILE (default:
 *                                      srs.key_file), mode 0600; refuses
 *                                      to replace a file without -f
 *   decorum srs forward [-n NOW] ADDRESS   the SRS form of ADDRESS
 *   decorum srs reverse [-n NOW] ADDRESS   the address an SRS one stands for
 *
 * NOW is a Unix time to use instead of the clock (reading an old bounce,
 * tests).  Exit 0 and the address on stdout; 1 when ADDRESS is invalid,
 * forged or expired, with the reason on stderr; 2 on usage errors, a
 * config without an srs group, or a key file that cannot be read.
 * Trusts its arguments no more than a network peer: the codec bounds
 * and checks them; what is echoed goes through log_safe_text().
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cli/commands.h"
#include "common/config.h"
#include "common/log.h"
#include "srs/srs.h"
#include "srs/srs_keyfile.h"

/* 32 random octets: 256 bits, far past what HMAC-SHA1 keys need. */
#define KEYGEN_OCTETS	32

static int
srs_usage(void)
{
	fprintf(stderr, "usage: decorum [-c FILE] srs keygen [-f] [FILE]\n"
	    "       decorum [-c FILE] srs forward|reverse [-n NOW] ADDRESS\n");
	return 2;
}

/* The srs group of the config; 2 (printed) when there is none. */
static int
srs_config(const char *config_path, struct config *cfg)
{
	struct config_error err;

	if (config_load_unprivileged(config_path, cfg, &err) < 0) {
		config_error_print(&err);
		return 2;
	}
	if (!cfg->srs.enabled) {
		fprintf(stderr, "decorum: %s has no srs group: SRS is off\n",
		    config_path);
		config_free(cfg);
		return 2;
	}
	return 0;
}

/* FILE's new secret: written beside it, flushed, then renamed into place
 * (with -f) or linked (without: fails when FILE exists), so no reader
 * ever sees half a key. */
static int
keygen_write(const char *path, bool force)
{
	unsigned char raw[KEYGEN_OCTETS];
	char line[4 * KEYGEN_OCTETS / 3 + 8], tmp[PATH_MAX];
	int fd, len, rc = 1;

	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		fprintf(stderr, "decorum: srs keygen: path too long\n");
		return 2;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		fprintf(stderr, "decorum: srs keygen: no random octets\n");
		return 1;
	}
	len = EVP_EncodeBlock((unsigned char *)line, raw, sizeof(raw));
	OPENSSL_cleanse(raw, sizeof(raw));
	line[len++] = '\n';
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		fprintf(stderr, "decorum: srs keygen: %s: %s\n", tmp,
		    strerror(errno));
		goto out;
	}
	if (write(fd, line, (size_t)len) != len || fsync(fd) < 0 ||
	    close(fd) < 0) {
		fprintf(stderr, "decorum: srs keygen: %s: %s\n", tmp,
		    strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (force ? rename(tmp, path) < 0 : link(tmp, path) < 0) {
		fprintf(stderr, "decorum: srs keygen: %s: %s%s\n", path,
		    strerror(errno), errno == EEXIST ?
		    " (-f replaces it, and every secret in it)" : "");
		unlink(tmp);
		goto out;
	}
	if (!force)
		unlink(tmp);
	printf("%s: a new SRS secret\n", path);
	rc = 0;
out:
	OPENSSL_cleanse(line, sizeof(line));
	return rc;
}

static int
srs_keygen(const char *config_path, int argc, char **argv)
{
	struct config cfg;
	bool force = false;
	int ch, rc;

	while ((ch = getopt(argc, argv, "f")) != -1) {
		if (ch != 'f')
			return srs_usage();
		force = true;
	}
	if (argc - optind > 1)
		return srs_usage();
	if (argc - optind == 1)
		return keygen_write(argv[optind], force);
	if ((rc = srs_config(config_path, &cfg)) != 0)
		return rc;
	rc = keygen_write(cfg.srs.key_file, force);
	config_free(&cfg);
	return rc;
}

/* A Unix time in seconds, for -n. */
static bool
parse_now(const char *s, time_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0)
		return false;
	*out = (time_t)v;
	return true;
}

static int
srs_code(const char *config_path, int argc, char **argv, bool forward)
{
	char out[SRS_ADDRESS_MAX + 1], err[512], safe[600];
	const char *addr;
	struct srs_keys keys;
	struct config cfg;
	time_t now = time(NULL);
	enum srs_result r;
	int ch, rc;

	while ((ch = getopt(argc, argv, "n:")) != -1) {
		if (ch != 'n' || !parse_now(optarg, &now))
			return srs_usage();
	}
	if (argc - optind != 1)
		return srs_usage();
	addr = argv[optind];
	if ((rc = srs_config(config_path, &cfg)) != 0)
		return rc;
	if (srs_keyfile_load(cfg.srs.key_file, &keys, err, sizeof(err)) < 0) {
		fprintf(stderr, "decorum: %s\n", log_safe_text(err, safe,
		    sizeof(safe)));
		config_free(&cfg);
		return 2;
	}
	r = forward ? srs_forward(&keys, cfg.srs.domain, addr, now, out,
	    sizeof(out)) : srs_reverse(&keys, addr, now, cfg.srs.max_age, out,
	    sizeof(out));
	srs_keys_clear(&keys);
	config_free(&cfg);
	if (r != SRS_OK && r != SRS_UNCHANGED) {
		fprintf(stderr, "decorum: srs %s: \"%s\": %s\n",
		    forward ? "forward" : "reverse",
		    log_safe(addr, safe, sizeof(safe)), srs_strerror(r));
		return r == SRS_ECRYPTO ? 2 : 1;
	}
	printf("%s\n", out);
	return 0;
}

int
cmd_srs(const char *config_path, int argc, char **argv)
{
	if (argc < 2)
		return srs_usage();
	/* The verb's own options: getopt from the verb on. */
	optind = 1;
	if (strcmp(argv[1], "keygen") == 0)
		return srs_keygen(config_path, argc - 1, argv + 1);
	if (strcmp(argv[1], "forward") == 0)
		return srs_code(config_path, argc - 1, argv + 1, true);
	if (strcmp(argv[1], "reverse") == 0)
		return srs_code(config_path, argc - 1, argv + 1, false);
	return srs_usage();
}
