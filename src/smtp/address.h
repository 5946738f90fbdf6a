/*
 * SMTP paths and the parameters of MAIL and RCPT (RFC 5321 4.1.2,
 * RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 6531 SMTPUTF8).  Pure: no I/O.
 *
 * A source route "<@a,@b:user@d>" is parsed and dropped (RFC 5321 C): only
 * user@d is kept, it is never relayed through a or b.  The "%" and "!"
 * forms are kept verbatim in the local part and never interpreted.
 * The local part is stored as transmitted (quoted form included); the
 * domain as transmitted too (callers compare it case-insensitively).
 * Address literals "[192.0.2.1]" / "[IPv6:...]" are accepted as domains.
 * Non-ASCII (UTF-8) is accepted only when the caller says SMTPUTF8 is in
 * effect for the transaction, and then must be valid UTF-8.
 *
 * Lengths: the local part may exceed RFC 5321's 64 octets (4.5.3.1 asks
 * us to accept larger objects where we can, and SRS addresses need it);
 * only the path bounds it: at most SMTP_PATH_MAX octets with its "<" ">",
 * so local@domain is at most SMTP_PATH_MAX - 2.  Whether a long local
 * part can name a mailbox here is routing's question (it cannot).
 */
#ifndef DECORUM_SMTP_ADDRESS_H
#define DECORUM_SMTP_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bounds.h"

struct smtp_path {
	bool null;				/* "<>" */
	bool postmaster;			/* "<postmaster>" with no domain */
	bool quoted;				/* local part is a quoted-string */
	bool utf8;				/* contains non-ASCII */
	char local[SMTP_LOCAL_PART_WIRE_MAX + 1];	/* as transmitted */
	char domain[SMTP_DOMAIN_MAX + 1];	/* "" for <> and <postmaster> */
	char addr[SMTP_ADDRESS_MAX + 1];	/* local@domain, or local, or "" */
};

enum smtp_body { SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };

struct smtp_mail_params {
	bool has_size;
	uint64_t size;		/* SIZE=, octets declared by the client */
	enum smtp_body body;	/* BODY= */
	bool smtputf8;		/* SMTPUTF8 */
};

enum smtp_addr_error {
	SMTP_ADDR_OK = 0,
	SMTP_ADDR_SYNTAX,	/* 501 5.1.7 (MAIL) / 501 5.1.3 (RCPT) bad address syntax */
	SMTP_ADDR_TOO_LONG,	/* 501 5.1.7 / 5.1.3 path too long */
	SMTP_ADDR_UTF8,		/* 553 5.6.7 non-ASCII without SMTPUTF8 */
	SMTP_ADDR_PARAM,	/* 555 5.5.4 unrecognized or malformed parameter */
	SMTP_ADDR_NULL_RCPT,	/* 501 5.1.3 "<>" as a recipient */
};

/*
 * arg/len: the argument of MAIL after "FROM:" (see command.h).  Parses
 * the path and its ESMTP parameters.  utf8_ok: SMTPUTF8 was advertised
 * (the SMTPUTF8 parameter itself then enables UTF-8 in the path).
 */
enum smtp_addr_error smtp_parse_mail_from(const char *arg, size_t len,
    bool utf8_ok, struct smtp_path *path, struct smtp_mail_params *params);

/* arg/len: the argument of RCPT after "TO:".  utf8: the transaction
 * was opened with SMTPUTF8.  RCPT parameters (none supported yet) are
 * refused with SMTP_ADDR_PARAM. */
enum smtp_addr_error smtp_parse_rcpt_to(const char *arg, size_t len,
    bool utf8, struct smtp_path *path);

/*
 * Parse a bare address "local@domain" (no angle brackets), as written in
 * config files, aliases and on the command line.  Same rules as a path.
 */
enum smtp_addr_error smtp_parse_address(const char *s, size_t len,
    bool utf8, struct smtp_path *path);

/* Is the string a syntactically valid domain name (or address literal)
 * for HELO/EHLO?  Does not check that it resolves. */
bool smtp_valid_helo(const char *s, size_t len);

#endif
