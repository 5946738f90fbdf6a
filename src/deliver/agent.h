/*
 * Delivery results, and the interface of blocking delivery agents.
 *
 * struct deliver_result is what every delivery ends in, blocking or not:
 * OK, TEMPFAIL (try again later, the message is never dropped) or
 * PERMFAIL, with an RFC 3463 enhanced status code and a text for logs,
 * `decorum queue show` and DSNs.  The Maildir agent fills it from a
 * workpool thread through struct deliver_agent (its deliver() blocks and
 * must not touch the event loop); the SMTP/LMTP client (smtp_client.h)
 * fills it on the qmgr's loop.
 */
#ifndef DECORUM_DELIVER_AGENT_H
#define DECORUM_DELIVER_AGENT_H

#include <stdint.h>

enum deliver_status { DELIVER_OK, DELIVER_TEMPFAIL, DELIVER_PERMFAIL };

/* Room for a result text: "host NAME[IP] said: REPLY (in reply to CMD)". */
#define DELIVER_TEXT_MAX	512

struct deliver_result {
	enum deliver_status status;
	char code[16];		/* enhanced status code, e.g. "4.2.0" */
	char text[DELIVER_TEXT_MAX];	/* what went wrong, or where it went */
	int reply_code;		/* the remote server's reply code, 0 if none */
};

struct deliver_request {
	const char *id;		/* queue id, for logs and Maildir names */
	const char *sender;	/* envelope sender, "" for <> */
	const char *local;	/* destination mailbox local part */
	const char *domain;	/* destination mailbox domain */
	int data_fd;		/* message data, CRLF line ends; read with pread */
	int64_t data_size;
	const char *hostname;	/* our FQDN (Maildir names) */
	const char *mailboxes;	/* <mailboxes>/<domain>/<local>/ root */
	/* A Maildir++ folder of the mailbox (".Junk": its own tmp/, new/,
	 * cur/ under <local>/.Junk/), or NULL: the inbox.  Agents without
	 * folders (SMTP, LMTP) ignore it. */
	const char *folder;
};

struct deliver_agent {
	const char *name;	/* "maildir", for logs */
	void (*deliver)(const struct deliver_request *req,
	    struct deliver_result *res);
};

#endif
