/*
 * What outbound connections are made with (config_priv.h): the local
 * address they leave from (delivery.source_address, a transport's
 * source_address) and the certificates a transport trusts (tls_ca).
 *
 * Called by config.c (delivery) and config_transport.c (transports)
 * while a file is loaded.  source_address: one IPv4 and/or one IPv6
 * literal, like Postfix's smtp_bind_address and smtp_bind_address6; host
 * names are refused (no DNS at load time), and so is anything that
 * cannot be the one local address of a connection (unspecified,
 * multicast, broadcast, IPv4-mapped, IPv6 link-local without a scope).
 * Whether the address is configured on this host is learnt at bind time:
 * a failed bind is a temporary failure of that connection, logged.
 *
 * tls_ca is read here, by whoever loads the config: the master does so
 * as root before the queue manager drops its privileges, so the file
 * need not be readable by `user` (as the relay password file).  So it
 * is opened by the rules of common/rootfile.h, the folder and each file
 * in it, once every key is known (cfg_root_files): nothing on its way
 * may be in the reach of `user`.  A PEM
 * file, or a folder of PEM files under OpenSSL's hashed names
 * (XXXXXXXX.N, as `openssl rehash` makes them: the files a hashed lookup
 * would open).  At most TLS_CA_MAX octets and TLS_CA_FILES_MAX files;
 * every certificate must parse (OpenSSL's PEM reader, nothing else of
 * OpenSSL here), and there must be at least one.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "common/buf.h"
#include "common/config_priv.h"
#include "common/pem.h"
#include "common/rootfile.h"
#include "common/xmalloc.h"

/* The whole of one tls_ca (the Mozilla bundle is about 220 KB). */
#define TLS_CA_MAX		(4 * 1024 * 1024)
#define TLS_CA_FILES_MAX	1000

/* -- source_address ------------------------------------------------------ */

/* Why a parsed address cannot be a connection's source, or NULL. */
static const char *
source_v4_problem(const struct in_addr *a)
{
	uint32_t h = ntohl(a->s_addr);

	if (h == 0)
		return "the unspecified address";
	if ((h >> 28) == 0xe)
		return "a multicast address";
	if (h == 0xffffffffu)
		return "the broadcast address";
	return NULL;
}

static const char *
source_v6_problem(const struct in6_addr *a)
{
	if (IN6_IS_ADDR_UNSPECIFIED(a))
		return "the unspecified address";
	if (IN6_IS_ADDR_MULTICAST(a))
		return "a multicast address";
	if (IN6_IS_ADDR_V4MAPPED(a))
		return "an IPv4-mapped address (write the IPv4 address)";
	if (IN6_IS_ADDR_LINKLOCAL(a))
		return "a link-local address (it needs an interface)";
	return NULL;
}

/* One literal into out; s is the setting, for the error's line. */
static int
source_one(struct cfg_ctx *c, const config_setting_t *s,
    struct source_address *out)
{
	struct in_addr a4;
	struct in6_addr a6;
	const char *v, *why;

	if (cfg_nonempty(c, s, &v) < 0)
		return -1;
	if (inet_pton(AF_INET, v, &a4) == 1) {
		if ((why = source_v4_problem(&a4)) == NULL &&
		    out->v4.sin_family != 0)
			why = "a second IPv4 address (one per family)";
		if (why != NULL)
			goto bad;
		out->v4.sin_family = AF_INET;
		out->v4.sin_addr = a4;
		return 0;
	}
	if (inet_pton(AF_INET6, v, &a6) == 1) {
		if ((why = source_v6_problem(&a6)) == NULL &&
		    out->v6.sin6_family != 0)
			why = "a second IPv6 address (one per family)";
		if (why != NULL)
			goto bad;
		out->v6.sin6_family = AF_INET6;
		out->v6.sin6_addr = a6;
		return 0;
	}
	cfg_key_error(c, s, "\"%.64s\" is not an IPv4 or IPv6 address", v);
	return -1;
bad:
	cfg_key_error(c, s, "\"%.64s\" is %s", v, why);
	return -1;
}

int
cfg_source_address(struct cfg_ctx *c, const config_setting_t *s,
    struct source_address *out)
{
	struct source_address sa;
	int n;

	memset(&sa, 0, sizeof(sa));
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		if (source_one(c, s, &sa) < 0)
			return -1;
		*out = sa;
		return 0;
	}
	n = config_setting_is_list(s) || config_setting_is_array(s) ?
	    config_setting_length(s) : -1;
	if (n < 1 || n > 2) {
		cfg_key_error(c, s, "must be an address, or a list of one "
		    "IPv4 and one IPv6 address: ( \"192.0.2.10\", "
		    "\"2001:db8::10\" )");
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (source_one(c, config_setting_get_elem(s, (unsigned)i),
		    &sa) < 0)
			return -1;
	*out = sa;
	return 0;
}

/* -- tls_ca -------------------------------------------------------------- */

/* OpenSSL's hashed name of a certificate: 8 hex digits, ".", a number
 * (CRLs are ".rN" and are not wanted here). */
static bool
ca_hashed_name(const char *name)
{
	size_t i;

	for (i = 0; i < 8; i++)
		if (name[i] == '\0' ||
		    strchr("0123456789abcdef", name[i]) == NULL)
			return false;
	if (name[8] != '.' || name[9] == '\0')
		return false;
	return strspn(name + 9, "0123456789") == strlen(name + 9);
}

/*
 * Append the regular file fd (closed here) to out, and a newline: files
 * need not end in one, and the next BEGIN line must start a line.  The
 * limit counts the files' octets (*octets, all files so far), not the
 * newlines.  why on error.
 */
static int
ca_append_fd(int fd, struct buf *out, size_t *octets, const char **why)
{
	char chunk[16384];
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		*why = "not a regular file";
		return -1;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		*octets += (size_t)n;
		if (*octets > TLS_CA_MAX ||
		    buf_append(out, chunk, (size_t)n) < 0) {
			close(fd);
			*why = "more than 4 MiB of certificates";
			return -1;
		}
	}
	close(fd);
	if (n < 0) {
		*why = strerror(errno);
		return -1;
	}
	if (buf_append(out, "\n", 1) < 0) {
		*why = "more than 4 MiB of certificates";
		return -1;
	}
	return 0;
}

/* One file of the folder real, by the rules of the folder itself: the
 * hashed names are usually links (`openssl rehash`, ca-certificates),
 * and each is followed as the folder was. */
static int
ca_read_entry(struct cfg_ctx *c, const config_setting_t *s, const char *real,
    const char *name, const struct rootfile_rules *rules, struct buf *out,
    size_t *octets)
{
	char path[PATH_MAX], rwhy[256];
	const char *why = rwhy;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", real, name) >=
	    (int)sizeof(path)) {
		cfg_key_error(c, s, "%.200s/%.64s: path too long", real, name);
		return -1;
	}
	fd = rootfile_open(path, rules, NULL, 0, rwhy, sizeof(rwhy));
	if (fd == -1)
		why = strerror(errno);
	if (fd < 0 || ca_append_fd(fd, out, octets, &why) < 0) {
		cfg_key_error(c, s, "%.200s: %s", path, why);
		return -1;
	}
	return 0;
}

/* Every hashed-name file of the folder dfd (closed here), whose real
 * path is real, appended. */
static int
ca_read_folder(struct cfg_ctx *c, const config_setting_t *s,
    const char *path, const char *real, int dfd,
    const struct rootfile_rules *rules, struct buf *out)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	const char *why = NULL;
	size_t files = 0, octets = 0;

	if (d == NULL) {
		close(dfd);
		cfg_key_error(c, s, "%.200s: %s", path, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (!ca_hashed_name(e->d_name))
			continue;
		if (++files > TLS_CA_FILES_MAX) {
			why = "more than 1000 certificate files";
			break;
		}
		if (ca_read_entry(c, s, real, e->d_name, rules, out,
		    &octets) < 0) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	if (why != NULL) {
		cfg_key_error(c, s, "%.200s: %s", path, why);
		return -1;
	}
	if (files == 0) {
		cfg_key_error(c, s, "%.200s: no certificate under a hashed "
		    "name (XXXXXXXX.0, as `openssl rehash` makes them)", path);
		return -1;
	}
	return 0;
}

static int
ca_drop(X509 *x, void *arg)
{
	(void)arg;
	X509_free(x);
	return 0;
}

/* How many certificates pem holds (0 with why on a broken one). */
static int
ca_count(const char *pem, size_t len, char *why, size_t whylen)
{
	int n = pem_certs_each(pem, len, ca_drop, NULL);

	if (n < 0) {
		ERR_error_string_n(ERR_peek_last_error(), why, whylen);
		ERR_clear_error();
		return 0;
	}
	if (n == 0)
		snprintf(why, whylen, "no PEM certificate in it");
	return n;
}

int
cfg_tls_ca(struct cfg_ctx *c, const config_setting_t *s,
    struct transport_conf *t)
{
	return cfg_path(c, s, &t->tls_ca);
}

int
cfg_tls_ca_read(struct cfg_ctx *c, const config_setting_t *s,
    struct transport_conf *t, const struct rootfile_rules *rules)
{
	struct buf pem;
	struct stat st;
	const char *why = NULL;
	size_t octets = 0;
	char cwhy[256], real[PATH_MAX];
	int fd, rc;

	fd = rootfile_open(t->tls_ca, rules, real, sizeof(real), cwhy,
	    sizeof(cwhy));
	if (fd == -1 || (fd >= 0 && fstat(fd, &st) < 0)) {
		cfg_key_error(c, s, "%.200s: %s", t->tls_ca, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (fd < 0) {
		cfg_key_error(c, s, "%.200s: %s", t->tls_ca, cwhy);
		return -1;
	}
	/* Room for the newline after each file. */
	buf_init(&pem, TLS_CA_MAX + TLS_CA_FILES_MAX);
	if (S_ISDIR(st.st_mode)) {
		rc = ca_read_folder(c, s, t->tls_ca, real, fd, rules, &pem);
	} else {
		rc = ca_append_fd(fd, &pem, &octets, &why);
		if (rc < 0)
			cfg_key_error(c, s, "%.200s: %s", t->tls_ca, why);
	}
	if (rc == 0 && ca_count(pem.data, pem.len, cwhy, sizeof(cwhy)) == 0) {
		cfg_key_error(c, s, "%.200s: %s", t->tls_ca, cwhy);
		rc = -1;
	}
	if (rc < 0) {
		buf_free(&pem);
		return -1;
	}
	t->tls_ca_pem = pem.data;	/* the buffer's, NUL-terminated */
	t->tls_ca_len = pem.len;
	return 0;
}
