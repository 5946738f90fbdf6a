/*
 * The certificates and keys a config names, read and checked the one way
 * that counts: as decorumd's master reads them at start and on SIGHUP.
 * `decorum check-config` calls the same function, so a certificate it
 * calls fine is one the daemon starts with, and both name the key's
 * FILE:LINE when it is not.
 *
 * Each pair (tls, then tls.sni in order) is read (tls_keypair_read:
 * regular file, bounded, not empty) and built into a server context on
 * its own (tls_server_new: the chain parses, the key parses and matches
 * the certificate, the policy applies); then the whole set once more, as
 * the smtpd will build it.  The error is put on the line of the file at
 * fault: the certificate when its chain does not parse, else the key.
 * The set must also fit in what a SIGHUP sends the smtpd
 * (TLS_KEYPAIRS_WIRE_MAX), or the daemon would start and never reload.
 *
 * Callers: src/daemon/master.c, src/cli/check_config.c.  Runs as root in
 * the master; reads only the files the config names, and only where the
 * workers' account cannot have changed them (common/rootfile.h): the
 * smtpd gets what is read, at start and on every SIGHUP.
 */
#include "tls/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "common/pem.h"
#include "common/rootfile.h"
#include "common/xmalloc.h"

enum fault { FAULT_CERT, FAULT_KEY_PARSE, FAULT_KEY_MATCH, FAULT_OTHER };

/* Keep the first certificate (the leaf), free the rest. */
static int
leaf_take(X509 *x, void *arg)
{
	X509 **leaf = arg;

	if (*leaf == NULL)
		*leaf = x;
	else
		X509_free(x);
	return 0;
}

/* Does every PEM certificate of the chain parse?  The leaf in *leaf. */
static bool
chain_parses(const struct tls_keypair *kp, X509 **leaf)
{
	*leaf = NULL;
	return pem_certs_each(kp->cert_pem, kp->cert_len, leaf_take, leaf) > 0;
}

/* After tls_server_new() refused a pair: whose fault, the certificate's
 * or the key's?  Decides the line the error names. */
static enum fault
pair_fault(const struct tls_keypair *kp)
{
	enum fault f = FAULT_OTHER;
	EVP_PKEY *key = NULL;
	X509 *leaf;
	BIO *bio;

	if (!chain_parses(kp, &leaf))
		f = FAULT_CERT;
	else if ((bio = BIO_new_mem_buf(kp->key_pem, (int)kp->key_len)) != NULL) {
		key = PEM_read_bio_PrivateKey(bio, NULL, pem_no_passphrase,
		    NULL);
		if (key == NULL)
			f = FAULT_KEY_PARSE;
		else if (X509_check_private_key(leaf, key) != 1)
			f = FAULT_KEY_MATCH;
		BIO_free(bio);
	}
	EVP_PKEY_free(key);
	X509_free(leaf);
	ERR_clear_error();
	return f;
}

/* Pair i of cfg: its files and where they were written. */
static void
pair_conf(const struct config *cfg, size_t i, const char **cert,
    const char **key, const struct config_where **cert_at,
    const struct config_where **key_at)
{
	if (i == 0) {
		*cert = cfg->tls_cert;
		*key = cfg->tls_key;
		*cert_at = &cfg->tls_cert_at;
		*key_at = &cfg->tls_key_at;
		return;
	}
	*cert = cfg->tls_sni[i - 1].cert;
	*key = cfg->tls_sni[i - 1].key;
	*cert_at = &cfg->tls_sni[i - 1].cert_at;
	*key_at = &cfg->tls_sni[i - 1].key_at;
}

/* Read pair i and build it alone.  0, or -1 with err at its line. */
static int
pair_load(const struct config *cfg, const struct rootfile_rules *rules,
    size_t i, struct tls_keypair *kp, struct config_error *err)
{
	const struct config_where *cert_at, *key_at;
	const char *cert, *key;
	enum tls_keypair_fault fault;
	struct tls_server *ts;
	char why[sizeof(err->message)], what[32];

	pair_conf(cfg, i, &cert, &key, &cert_at, &key_at);
	if (i == 0)
		snprintf(what, sizeof(what), "tls");
	else
		snprintf(what, sizeof(what), "tls.sni[%zu]", i - 1);
	fault = tls_keypair_read(cert, key, rules, kp, why, sizeof(why));
	if (fault != TLS_KEYPAIR_OK) {
		config_error_at(err, cfg, fault == TLS_KEYPAIR_BAD_CERT ?
		    cert_at : key_at, "%s: %s", what, why);
		return -1;
	}
	if ((ts = tls_server_new(kp, 1, why, sizeof(why))) != NULL) {
		tls_server_free(ts);
		return 0;
	}
	switch (pair_fault(kp)) {
	case FAULT_CERT:
		config_error_at(err, cfg, cert_at, "%s.cert: %s", what, why);
		break;
	case FAULT_KEY_PARSE:
		config_error_at(err, cfg, key_at, "%s.key: %s: no usable PEM "
		    "private key (encrypted keys are not supported)", what, key);
		break;
	case FAULT_KEY_MATCH:
		config_error_at(err, cfg, key_at, "%s.key: %s does not match "
		    "the certificate %s", what, key, cert);
		break;
	default:
		config_error_at(err, cfg, cert_at, "%s: %s", what, why);
	}
	tls_keypair_free(kp);
	return -1;
}

/*
 * Do pairs 0..i still fit in what a SIGHUP sends the smtpd?  The limit
 * is on the sum, so the error names the pair that crossed it; without
 * this check a set could start the daemon (the smtpd inherits it) and
 * then never reload.
 */
static int
pair_fits(const struct config *cfg, const struct tls_keypair *kps, size_t i,
    struct config_error *err)
{
	const struct config_where *cert_at, *key_at;
	const char *cert, *key;
	size_t size = tls_keypairs_encoded_size(kps, i + 1);

	if (size <= TLS_KEYPAIRS_WIRE_MAX)
		return 0;
	pair_conf(cfg, i, &cert, &key, &cert_at, &key_at);
	config_error_at(err, cfg, cert_at, "tls: the certificates and keys "
	    "up to %s take %zu octets to send to the smtpd, at most %d: a "
	    "reload could never send them", cert, size,
	    TLS_KEYPAIRS_WIRE_MAX);
	return -1;
}

int
tls_config_load(const struct config *cfg, const struct safedir_owner *o,
    struct tls_keypair **out, size_t *n_out, struct config_error *err)
{
	size_t n = cfg->tls_cert != NULL ? 1 + cfg->n_tls_sni : 0;
	struct rootfile_rules rules;
	struct tls_keypair *kps;
	struct tls_server *ts;
	char why[sizeof(err->message)];

	*out = NULL;
	*n_out = 0;
	if (n == 0)
		return 0;
	if (n > TLS_KEYPAIRS_MAX) {
		config_error_at(err, cfg, &cfg->tls_cert_at, "tls: %zu "
		    "certificates, at most %d", n, TLS_KEYPAIRS_MAX);
		return -1;
	}
	config_root_rules(cfg, o, &rules);
	kps = xcalloc(n, sizeof(*kps));
	for (size_t i = 0; i < n; i++) {
		if (pair_load(cfg, &rules, i, &kps[i], err) < 0 ||
		    pair_fits(cfg, kps, i, err) < 0) {
			tls_keypairs_free(kps, n);
			return -1;
		}
	}
	/* The set as the smtpd builds it: what is left is resources. */
	if ((ts = tls_server_new(kps, n, why, sizeof(why))) == NULL) {
		config_error_at(err, cfg, &cfg->tls_cert_at, "tls: %s", why);
		tls_keypairs_free(kps, n);
		return -1;
	}
	tls_server_free(ts);
	*out = kps;
	*n_out = n;
	return 0;
}
