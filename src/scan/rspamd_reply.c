/*
 * rspamd's /checkv2 JSON (rspamd_reply.h), read with json-c.  Trusts
 * nothing in it: the size and depth are bounded before json-c builds a
 * single object, and every string kept is bounded and checked.
 */
#include "scan/rspamd_reply.h"
#include "scan/scan_text.h"

#include <json-c/json.h>
#include <math.h>
#include <string.h>

static const char *const action_names[] = {
	[RSPAMD_NO_ACTION] = "no action",
	[RSPAMD_GREYLIST] = "greylist",
	[RSPAMD_ADD_HEADER] = "add header",
	[RSPAMD_REWRITE_SUBJECT] = "rewrite subject",
	[RSPAMD_SOFT_REJECT] = "soft reject",
	[RSPAMD_REJECT] = "reject",
};
#define N_ACTIONS (sizeof(action_names) / sizeof(action_names[0]))

static const char *
get_string(struct json_object *obj, const char *key, size_t *len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

static bool
get_number(struct json_object *obj, const char *key, double *d)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) ||
	    (!json_object_is_type(v, json_type_double) &&
	    !json_object_is_type(v, json_type_int)))
		return false;
	*d = json_object_get_double(v);
	return isfinite(*d);
}

static enum rspamd_error
parse_action(struct json_object *root, struct rspamd_result *res)
{
	const char *s;
	size_t len;

	if ((s = get_string(root, "action", &len)) == NULL)
		return RSPAMD_EACTION;
	for (size_t i = 0; i < N_ACTIONS; i++)
		if (strlen(action_names[i]) == len &&
		    memcmp(action_names[i], s, len) == 0) {
			res->action = (enum rspamd_action)i;
			return RSPAMD_OK;
		}
	return RSPAMD_EACTION;
}

static void
parse_symbols(struct json_object *root, struct rspamd_result *res)
{
	struct json_object *syms;

	if (!json_object_object_get_ex(root, "symbols", &syms) ||
	    !json_object_is_type(syms, json_type_object))
		return;
	json_object_object_foreach(syms, name, val) {
		(void)val;
		if (res->n_symbols < RSPAMD_SYMBOLS_MAX)
			scan_copy_printable(res->symbols[res->n_symbols++],
			    RSPAMD_SYMBOL_MAX + 1, name, strlen(name));
		res->symbols_total++;
	}
}

/* One header to add: name, and a value checked and normalised. */
static enum rspamd_error
add_header(struct rspamd_result *res, const char *name, struct json_object *v)
{
	struct rspamd_header *h;
	struct json_object *inner;
	size_t nlen = strlen(name), vlen;

	/* {"value": "...", "order": n} as well as a plain string. */
	if (json_object_is_type(v, json_type_object) &&
	    json_object_object_get_ex(v, "value", &inner))
		v = inner;
	if (!json_object_is_type(v, json_type_string))
		return RSPAMD_EHEADER;
	if (res->n_add >= RSPAMD_HEADERS_MAX)
		return RSPAMD_ETOOMANY;
	if (!scan_header_name_ok(name, nlen, RSPAMD_HDR_NAME_MAX))
		return RSPAMD_EHEADER;
	vlen = (size_t)json_object_get_string_len(v);
	if (vlen > RSPAMD_HDR_VALUE_MAX)
		return RSPAMD_EHEADER;
	h = &res->add[res->n_add];
	memcpy(h->name, name, nlen + 1);
	memcpy(h->value, json_object_get_string(v), vlen);
	/* A NUL inside the JSON string would cut the value silently. */
	if (memchr(h->value, '\0', vlen) != NULL ||
	    !scan_header_value_fix(h->value, &vlen, RSPAMD_HDR_VALUE_MAX))
		return RSPAMD_EHEADER;
	res->n_add++;
	return RSPAMD_OK;
}

static enum rspamd_error
parse_add(struct json_object *milter, struct rspamd_result *res)
{
	struct json_object *add;
	enum rspamd_error e;

	if (!json_object_object_get_ex(milter, "add_headers", &add))
		return RSPAMD_OK;
	if (!json_object_is_type(add, json_type_object))
		return RSPAMD_EHEADER;
	json_object_object_foreach(add, name, val) {
		if (json_object_is_type(val, json_type_array)) {
			size_t n = json_object_array_length(val);

			for (size_t i = 0; i < n; i++)
				if ((e = add_header(res, name,
				    json_object_array_get_idx(val, i))) != RSPAMD_OK)
					return e;
		} else if ((e = add_header(res, name, val)) != RSPAMD_OK)
			return e;
	}
	return RSPAMD_OK;
}

static enum rspamd_error
parse_remove(struct json_object *milter, struct rspamd_result *res)
{
	struct json_object *rm;

	if (!json_object_object_get_ex(milter, "remove_headers", &rm))
		return RSPAMD_OK;
	if (!json_object_is_type(rm, json_type_object))
		return RSPAMD_EHEADER;
	json_object_object_foreach(rm, name, val) {
		size_t nlen = strlen(name);

		(void)val;	/* which occurrence: we remove them all */
		if (res->n_remove >= RSPAMD_HEADERS_MAX)
			return RSPAMD_ETOOMANY;
		if (!scan_header_name_ok(name, nlen, RSPAMD_HDR_NAME_MAX))
			return RSPAMD_EHEADER;
		memcpy(res->remove[res->n_remove++], name, nlen + 1);
	}
	return RSPAMD_OK;
}

static enum rspamd_error
parse_headers(struct json_object *root, struct rspamd_result *res)
{
	struct json_object *milter;
	enum rspamd_error e;
	const char *s;
	size_t len;

	if ((s = get_string(root, "subject", &len)) != NULL) {
		if (len > RSPAMD_SUBJECT_MAX || memchr(s, '\0', len) != NULL)
			return RSPAMD_EHEADER;
		memcpy(res->subject, s, len);
		if (!scan_header_value_fix(res->subject, &len,
		    RSPAMD_SUBJECT_MAX))
			return RSPAMD_EHEADER;
	}
	if (!json_object_object_get_ex(root, "milter", &milter))
		return RSPAMD_OK;
	if (!json_object_is_type(milter, json_type_object))
		return RSPAMD_EHEADER;
	if ((e = parse_add(milter, res)) != RSPAMD_OK)
		return e;
	return parse_remove(milter, res);
}

static void
parse_message(struct json_object *root, struct rspamd_result *res)
{
	struct json_object *msgs;
	const char *s;
	size_t len;

	if (json_object_object_get_ex(root, "messages", &msgs) &&
	    json_object_is_type(msgs, json_type_object) &&
	    (s = get_string(msgs, "smtp_message", &len)) != NULL)
		scan_copy_printable(res->message, sizeof(res->message), s, len);
}

static enum rspamd_error
parse_root(struct json_object *root, struct rspamd_result *res)
{
	enum rspamd_error e;
	const char *s;
	size_t len;

	if (!json_object_is_type(root, json_type_object))
		return RSPAMD_EJSON;
	if ((s = get_string(root, "error", &len)) != NULL) {
		scan_copy_printable(res->message, sizeof(res->message), s, len);
		return RSPAMD_ESERVER;
	}
	if ((e = parse_action(root, res)) != RSPAMD_OK)
		return e;
	if (!get_number(root, "score", &res->score) ||
	    !get_number(root, "required_score", &res->required_score))
		return RSPAMD_ESCORE;
	parse_symbols(root, res);
	parse_message(root, res);
	return parse_headers(root, res);
}

static bool
only_space(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

enum rspamd_error
rspamd_reply_parse(const char *json, size_t len, struct rspamd_result *res)
{
	struct json_tokener *tok;
	struct json_object *root;
	enum rspamd_error e;

	memset(res, 0, sizeof(*res));
	if (len > RSPAMD_REPLY_MAX)
		return RSPAMD_ETOOBIG;
	if (json == NULL || len == 0)
		return RSPAMD_EJSON;
	if ((tok = json_tokener_new_ex(RSPAMD_DEPTH_MAX)) == NULL)
		return RSPAMD_EJSON;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, json, (int)len);
	/* The whole reply is one value: nothing left, nothing missing. */
	if (root == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    !only_space(json + json_tokener_get_parse_end(tok),
	    len - json_tokener_get_parse_end(tok)))
		e = RSPAMD_EJSON;
	else
		e = parse_root(root, res);
	json_object_put(root);
	json_tokener_free(tok);
	return e;
}

const char *
rspamd_strerror(enum rspamd_error e)
{
	switch (e) {
	case RSPAMD_OK:
		return "no error";
	case RSPAMD_ETOOBIG:
		return "reply is too long";
	case RSPAMD_EJSON:
		return "reply is not one JSON object";
	case RSPAMD_ESERVER:
		return "rspamd reports an error";
	case RSPAMD_EACTION:
		return "reply has no known action";
	case RSPAMD_ESCORE:
		return "reply has no finite score and required_score";
	case RSPAMD_EHEADER:
		return "reply has a malformed header or subject";
	case RSPAMD_ETOOMANY:
		return "reply has too many headers";
	}
	return "unknown error";
}

const char *
rspamd_action_name(enum rspamd_action a)
{
	return (size_t)a < N_ACTIONS ? action_names[a] : "unknown";
}
