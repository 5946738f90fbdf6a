/*
 * The Sendmail milter protocol, version 6, as Postfix speaks it: the MTA
 * side's packets, a streaming decoder of the milter's replies, and the
 * option negotiation (docs/scanning.md, "Protocol core").
 *
 * Pure: no I/O, no clock, no allocation.  The asynchronous client that
 * talks to a milter socket feeds the octets it read to the decoder and
 * writes what the encoders put in its buffers.  A milter is a peer we do
 * not trust: every packet it sends is bounded (MILTER_DATA_MAX, before
 * any copy), every field is checked here, and what is wrong is an error
 * value the client turns into the milter's default_action.
 *
 * Wire format (both ways): a 4-octet big-endian length, counting the
 * command octet and the data; the command octet; the data.
 */
#ifndef DECORUM_SCAN_MILTER_PROTO_H
#define DECORUM_SCAN_MILTER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp/address.h"
#include "smtp/client_proto.h"

#define MILTER_VERSION		6
/* Oldest milter version we talk to (libmilter's own floor). */
#define MILTER_VERSION_MIN	2

/*
 * Most data octets in one packet, either way: libmilter's default
 * maximum.  We never offer SMFIP_MDS_256K/1M, so a milter must not send
 * more; BODY chunks we send are at most this long too.
 */
#define MILTER_DATA_MAX		65535
/* Octets of the length field and the command. */
#define MILTER_HEAD_LEN		5
/* Room for one packet we send. */
#define MILTER_PACKET_MAX	(MILTER_HEAD_LEN + MILTER_DATA_MAX)

/* Field limits of the replies (octets, without the NUL). */
#define MILTER_HEADER_NAME_MAX	128
#define MILTER_HEADER_VALUE_MAX	16384
#define MILTER_ARGS_MAX		1024	/* ESMTP args of ADDRCPT_PAR, CHGFROM */
#define MILTER_REASON_MAX	512	/* QUARANTINE */
#define MILTER_SYMLIST_MAX	1024	/* one stage's macro names */
/* Most macros in one SMFIC_MACRO packet we send. */
#define MILTER_MACROS_MAX	64

/* Commands, MTA to milter (SMFIC_*). */
enum milter_cmd {
	MILTER_C_ABORT = 'A',
	MILTER_C_BODY = 'B',
	MILTER_C_CONNECT = 'C',
	MILTER_C_MACRO = 'D',
	MILTER_C_EOB = 'E',
	MILTER_C_HELO = 'H',
	MILTER_C_QUIT_NC = 'K',
	MILTER_C_HEADER = 'L',
	MILTER_C_MAIL = 'M',
	MILTER_C_EOH = 'N',
	MILTER_C_OPTNEG = 'O',
	MILTER_C_QUIT = 'Q',
	MILTER_C_RCPT = 'R',
	MILTER_C_DATA = 'T',
};

/* Replies, milter to MTA (SMFIR_*); OPTNEG is the command's own code. */
enum milter_reply_type {
	MILTER_R_OPTNEG = 'O',
	MILTER_R_ACCEPT = 'a',
	MILTER_R_CONTINUE = 'c',
	MILTER_R_REJECT = 'r',
	MILTER_R_TEMPFAIL = 't',
	MILTER_R_DISCARD = 'd',
	MILTER_R_REPLYCODE = 'y',
	MILTER_R_SKIP = 's',
	MILTER_R_PROGRESS = 'p',
	MILTER_R_ADDHEADER = 'h',
	MILTER_R_CHGHEADER = 'm',
	MILTER_R_INSHEADER = 'i',
	MILTER_R_REPLBODY = 'b',
	MILTER_R_ADDRCPT = '+',
	MILTER_R_ADDRCPT_PAR = '2',
	MILTER_R_DELRCPT = '-',
	MILTER_R_CHGFROM = 'e',
	MILTER_R_QUARANTINE = 'q',
	MILTER_R_SETSYMLIST = 'l',
};

/* Actions a milter may take (SMFIF_*): the OPTNEG's second word. */
#define MILTER_F_ADDHDRS	0x001u
#define MILTER_F_CHGBODY	0x002u
#define MILTER_F_ADDRCPT	0x004u
#define MILTER_F_DELRCPT	0x008u
#define MILTER_F_CHGHDRS	0x010u
#define MILTER_F_QUARANTINE	0x020u
#define MILTER_F_CHGFROM	0x040u
#define MILTER_F_ADDRCPT_PAR	0x080u
#define MILTER_F_SETSYMLIST	0x100u
#define MILTER_F_ALL		0x1ffu

/* Protocol steps and options (SMFIP_*): the OPTNEG's third word. */
#define MILTER_P_NOCONNECT	0x000001u
#define MILTER_P_NOHELO		0x000002u
#define MILTER_P_NOMAIL		0x000004u
#define MILTER_P_NORCPT		0x000008u
#define MILTER_P_NOBODY		0x000010u
#define MILTER_P_NOHDRS		0x000020u
#define MILTER_P_NOEOH		0x000040u
#define MILTER_P_NR_HDR		0x000080u
#define MILTER_P_NOUNKNOWN	0x000100u
#define MILTER_P_NODATA		0x000200u
#define MILTER_P_SKIP		0x000400u
#define MILTER_P_RCPT_REJ	0x000800u
#define MILTER_P_NR_CONN	0x001000u
#define MILTER_P_NR_HELO	0x002000u
#define MILTER_P_NR_MAIL	0x004000u
#define MILTER_P_NR_RCPT	0x008000u
#define MILTER_P_NR_DATA	0x010000u
#define MILTER_P_NR_UNKN	0x020000u
#define MILTER_P_NR_EOH		0x040000u
#define MILTER_P_NR_BODY	0x080000u
#define MILTER_P_HDR_LEADSPC	0x100000u
#define MILTER_P_MDS_256K	0x10000000u
#define MILTER_P_MDS_1M		0x20000000u
/*
 * Everything the MTA side implements, so everything we offer: every
 * step may be skipped (clamav-milter closes the connection when a step
 * it skips is not offered), every reply may be left out (rspamd leaves
 * out all but end-of-body's), SKIP in the body, header values with
 * their leading space.  Not RCPT_REJ: rejected recipients are not sent.
 * We never send UNKNOWN, so NOUNKNOWN and NR_UNKN cost nothing.
 */
#define MILTER_P_OFFER		0x1ff7ffu

/* Macro stages (SMFIM_*), as in the set-symbol-list extension. */
enum milter_stage {
	MILTER_STAGE_CONNECT = 0,
	MILTER_STAGE_HELO,
	MILTER_STAGE_MAIL,
	MILTER_STAGE_RCPT,
	MILTER_STAGE_DATA,
	MILTER_STAGE_EOM,
	MILTER_STAGE_EOH,
	MILTER_STAGE_COUNT
};

/* --- Encoders ---------------------------------------------------------
 * Each writes one whole packet into out (outlen octets) and returns its
 * length, or 0 when it would not fit in outlen, its data would exceed
 * MILTER_DATA_MAX, or an argument is out of bounds; out is then
 * unspecified.  A buffer of MILTER_PACKET_MAX always suffices for a
 * packet whose data fits the limit.  Strings are C strings and are sent
 * with their NUL. */

size_t milter_enc_optneg(uint8_t *out, size_t outlen, uint32_t version,
    uint32_t actions, uint32_t proto);

struct milter_macro {
	const char *name;	/* "i", "j", "{mail_addr}", ...: not empty */
	const char *value;
};
/* The macros for the command cmd (MILTER_C_CONNECT, _HELO, _MAIL, _RCPT,
 * _DATA, _EOH, _EOB) that follows; n at most MILTER_MACROS_MAX. */
size_t milter_enc_macros(uint8_t *out, size_t outlen, enum milter_cmd cmd,
    const struct milter_macro *m, size_t n);

/* Client families (SMFIA_*). */
enum milter_family {
	MILTER_FAMILY_UNKNOWN = 'U',
	MILTER_FAMILY_UNIX = 'L',
	MILTER_FAMILY_INET = '4',
	MILTER_FAMILY_INET6 = '6',
};
/* CONNECT: the client's name ("[192.0.2.1]" when it has none), family,
 * port and address text; port and addr are not sent for UNKNOWN. */
size_t milter_enc_connect(uint8_t *out, size_t outlen, const char *hostname,
    enum milter_family family, uint16_t port, const char *addr);
size_t milter_enc_helo(uint8_t *out, size_t outlen, const char *helo);
/* MAIL or RCPT (cmd): the path as "<a@b>" then each ESMTP argument
 * ("SIZE=123"), nargs at most MILTER_MACROS_MAX. */
size_t milter_enc_envelope(uint8_t *out, size_t outlen, enum milter_cmd cmd,
    const char *path, const char *const *args, size_t nargs);
/* One header field, name and value as they are to be seen. */
size_t milter_enc_header(uint8_t *out, size_t outlen, const char *name,
    const char *value);
/* One body chunk of 1..MILTER_DATA_MAX octets. */
size_t milter_enc_body(uint8_t *out, size_t outlen, const void *chunk,
    size_t len);
/* A packet without data: DATA, EOH, EOB, ABORT, QUIT, QUIT_NC. */
size_t milter_enc_simple(uint8_t *out, size_t outlen, enum milter_cmd cmd);

/* --- Decoder --------------------------------------------------------- */

enum milter_error {
	MILTER_OK = 0,
	MILTER_ELENGTH,		/* length 0, or data over MILTER_DATA_MAX */
	MILTER_EUNKNOWN,	/* a reply code we do not know */
	MILTER_ESHORT,		/* fields missing, a string without its NUL */
	MILTER_ETRAILING,	/* octets after the last field */
	MILTER_EHDRNAME,	/* not an RFC 5322 field-name, or too long */
	MILTER_EHDRVALUE,	/* control octets, bare CR/LF, too long */
	MILTER_EADDRESS,	/* not an SMTP path */
	MILTER_EARGS,		/* ESMTP args: controls or too long */
	MILTER_EREPLY,		/* REPLYCODE not a 4xx/5xx SMTP reply */
	MILTER_ETEXT,		/* reason or macro list: controls, too long */
	MILTER_ESTAGE,		/* SETSYMLIST for a stage that does not exist */
};

/*
 * One reply.  Which fields are set depends on type; pointers point into
 * the decoder's buffer and stay valid until its next milter_decode().
 */
struct milter_reply {
	enum milter_reply_type type;
	/* OPTNEG */
	uint32_t version, actions, proto;
	/* OPTNEG's macro lists by stage (NULL: none given), and SETSYMLIST's
	 * one list in symlist[stage] */
	const char *symlist[MILTER_STAGE_COUNT];
	uint32_t stage;		/* SETSYMLIST */
	/* CHGHEADER: which field of that name (1 is the first); INSHEADER:
	 * the position among all fields (0 is the top) */
	uint32_t index;
	/* ADDHEADER, CHGHEADER, INSHEADER.  value: folds normalised to "\n"
	 * followed by SP or HTAB; an empty value in CHGHEADER deletes. */
	const char *name;
	const char *value;
	/* REPLBODY: raw body octets (CRLF lines, split anywhere) */
	const uint8_t *data;
	size_t len;
	/* ADDRCPT, ADDRCPT_PAR, DELRCPT, CHGFROM: the path, checked (null
	 * only for CHGFROM "<>"); args: ESMTP args or "" */
	struct smtp_path path;
	const char *args;
	/* QUARANTINE: the reason, all but printable ASCII as '?' */
	const char *reason;
	/* REPLYCODE: code 400..599, enhanced code, text ('\n' between lines,
	 * controls replaced by '?') */
	struct smtp_client_reply reply;
};

struct milter_decoder {
	/* private */
	uint8_t head[4];
	size_t head_have;
	size_t want;		/* command + data octets of this packet */
	size_t have;
	bool failed;
	enum milter_error error;
	uint8_t buf[1 + MILTER_DATA_MAX + 1];	/* command, data, NUL */
};

enum milter_dec {
	MILTER_DEC_MORE,	/* every octet used, no whole packet yet */
	MILTER_DEC_REPLY,	/* *r holds one reply; feed the rest again */
	MILTER_DEC_ERROR,	/* *err says why; the stream is unusable */
};

void milter_decoder_init(struct milter_decoder *d);
/*
 * Feeds len octets of the stream (split anywhere); *used says how many
 * were taken.  Stops after one whole packet: call again with the rest.
 * After an error every later call fails the same way.
 */
enum milter_dec milter_decode(struct milter_decoder *d, const void *in,
    size_t len, size_t *used, struct milter_reply *r, enum milter_error *err);

/* A short English text for e ("header name is not RFC 5322"). */
const char *milter_strerror(enum milter_error e);

/* --- Negotiation ----------------------------------------------------- */

/* The milter protocol step each command is, for the NO and NR bits. */
enum milter_step {
	MILTER_STEP_CONNECT,
	MILTER_STEP_HELO,
	MILTER_STEP_MAIL,
	MILTER_STEP_RCPT,
	MILTER_STEP_DATA,
	MILTER_STEP_HEADER,
	MILTER_STEP_EOH,
	MILTER_STEP_BODY,
	MILTER_STEP_EOB,
};

struct milter_agreed {
	uint32_t version;	/* the milter's */
	uint32_t actions;	/* what it may do */
	uint32_t proto;		/* steps it skips, replies it leaves out */
	/* What we offered: libmilter lets a filter SKIP the rest of the
	 * body when the MTA offered SMFIP_SKIP, whatever its reply said */
	uint32_t offered;
	/* Macro names per stage the milter asked for ("" when it did not:
	 * send the configured ones) */
	bool has_symlist[MILTER_STAGE_COUNT];
	char symlist[MILTER_STAGE_COUNT][MILTER_SYMLIST_MAX + 1];
};

enum milter_neg {
	MILTER_NEG_OK = 0,
	MILTER_NEG_VERSION,	/* under MILTER_VERSION_MIN or over ours */
	MILTER_NEG_ACTIONS,	/* an action we did not offer */
	MILTER_NEG_PROTO,	/* a step or option we did not offer */
};

/*
 * What we and the milter agree on, from what we offered (actions and
 * proto as sent in our OPTNEG, version MILTER_VERSION) and its OPTNEG
 * reply.  As Postfix: a milter asking for an action we did not offer is
 * refused; so is one asking to skip a step or leave out a reply we did
 * not offer (never silently obeyed, never silently ignored).  The MDS
 * size bits only say the milter could take bigger packets: ignored.
 */
enum milter_neg milter_negotiate(uint32_t our_actions, uint32_t our_proto,
    const struct milter_reply *optneg, struct milter_agreed *out);
/* A short English text for n. */
const char *milter_neg_strerror(enum milter_neg n);

/* Whether to send this step at all (EOB: always). */
bool milter_step_sent(const struct milter_agreed *a, enum milter_step s);
/* Whether to wait for a reply after sending it (EOB: always). */
bool milter_step_replied(const struct milter_agreed *a, enum milter_step s);
/*
 * Whether reply type t may answer step s: modifications only at EOB and
 * only when their action was agreed, SKIP only for BODY when we offered
 * SMFIP_SKIP,
 * OPTNEG and SETSYMLIST never after the negotiation (libmilter sends the
 * lists inside OPTNEG).  PROGRESS is allowed wherever a reply is awaited
 * (it only restarts the client's timer).  A reply not allowed is a protocol error.
 */
bool milter_reply_allowed(const struct milter_agreed *a, enum milter_step s,
    enum milter_reply_type t);
/* The command a stage's macros precede (MILTER_C_CONNECT for CONNECT). */
enum milter_cmd milter_stage_cmd(enum milter_stage stage);

#endif
