/*
 * Unit tests for src/scan/milter_encode.c: every packet the MTA sends,
 * byte for byte as libmilter reads it, and every limit on both sides
 * (the caller's buffer, MILTER_DATA_MAX, MILTER_MACROS_MAX).
 */
#include "scan_fixture.h"

/* out[0..n) equals the packet of cmd with data. */
static void
expect(const uint8_t *out, size_t n, char cmd, const void *data, size_t len)
{
	uint8_t want[256];

	assert_true(len + 5 <= sizeof(want));
	assert_int_equal(n, fx_packet(want, cmd, data, len));
	assert_memory_equal(out, want, n);
}

static void
test_optneg(void **state)
{
	uint8_t out[64];
	size_t n;

	(void)state;
	n = milter_enc_optneg(out, sizeof(out), MILTER_VERSION, MILTER_F_ALL,
	    MILTER_P_OFFER);
	expect(out, n, 'O', "\0\0\0\6" "\0\0\1\377" "\0\37\367\377", 12);
	/* Exactly the room it needs, and one octet less. */
	assert_int_equal(milter_enc_optneg(out, 17, 6, 0, 0), 17);
	assert_int_equal(milter_enc_optneg(out, 16, 6, 0, 0), 0);
	assert_int_equal(milter_enc_optneg(NULL, 0, 6, 0, 0), 0);
}

static void
test_macros(void **state)
{
	static const struct milter_macro m[] = {
		{ "{mail_addr}", "a@b.example" }, { "i", "4Q1" },
	};
	struct milter_macro many[MILTER_MACROS_MAX + 1];
	uint8_t out[1024];
	size_t n;

	(void)state;
	n = milter_enc_macros(out, sizeof(out), MILTER_C_MAIL, m, 2);
	expect(out, n, 'D', "M{mail_addr}\0a@b.example\0i\0" "4Q1", 31);
	/* No macros at all is still a packet: the stage's command. */
	n = milter_enc_macros(out, sizeof(out), MILTER_C_CONNECT, NULL, 0);
	expect(out, n, 'D', "C", 1);
	for (size_t i = 0; i < MILTER_MACROS_MAX + 1; i++)
		many[i] = (struct milter_macro){ "j", "mx" };
	assert_int_not_equal(milter_enc_macros(out, sizeof(out), MILTER_C_EOB,
	    many, MILTER_MACROS_MAX), 0);
	assert_int_equal(milter_enc_macros(out, sizeof(out), MILTER_C_EOB,
	    many, MILTER_MACROS_MAX + 1), 0);
	/* Only before a command that has macros; names are never empty. */
	assert_int_equal(milter_enc_macros(out, sizeof(out), MILTER_C_QUIT,
	    m, 1), 0);
	many[0].name = "";
	assert_int_equal(milter_enc_macros(out, sizeof(out), MILTER_C_EOB,
	    many, 1), 0);
	many[0].name = "j";
	many[0].value = NULL;
	assert_int_equal(milter_enc_macros(out, sizeof(out), MILTER_C_EOB,
	    many, 1), 0);
}

static void
test_connect(void **state)
{
	uint8_t out[256];
	size_t n;

	(void)state;
	n = milter_enc_connect(out, sizeof(out), "mx.example", MILTER_FAMILY_INET,
	    2525, "192.0.2.1");
	expect(out, n, 'C', "mx.example\0" "4\x09\xdd" "192.0.2.1", 24);
	n = milter_enc_connect(out, sizeof(out), "[2001:db8::1]",
	    MILTER_FAMILY_INET6, 25, "2001:db8::1");
	expect(out, n, 'C', "[2001:db8::1]\0" "6\0\x19" "2001:db8::1", 29);
	/* Unknown: no port, no address. */
	n = milter_enc_connect(out, sizeof(out), "localhost",
	    MILTER_FAMILY_UNKNOWN, 0, NULL);
	expect(out, n, 'C', "localhost\0U", 11);
	assert_int_equal(milter_enc_connect(out, sizeof(out), "h",
	    (enum milter_family)'X', 1, "a"), 0);
	assert_int_equal(milter_enc_connect(out, sizeof(out), "h",
	    MILTER_FAMILY_INET, 1, NULL), 0);
	assert_int_equal(milter_enc_connect(out, sizeof(out), NULL,
	    MILTER_FAMILY_UNKNOWN, 0, NULL), 0);
}

static void
test_helo_envelope(void **state)
{
	static const char *const args[] = { "SIZE=123", "BODY=8BITMIME" };
	uint8_t out[1024];
	size_t n;

	(void)state;
	n = milter_enc_helo(out, sizeof(out), "client.example");
	expect(out, n, 'H', "client.example", 15);
	n = milter_enc_envelope(out, sizeof(out), MILTER_C_MAIL, "<a@b.example>",
	    args, 2);
	expect(out, n, 'M', "<a@b.example>\0SIZE=123\0BODY=8BITMIME", 37);
	n = milter_enc_envelope(out, sizeof(out), MILTER_C_RCPT, "<c@d.example>",
	    NULL, 0);
	expect(out, n, 'R', "<c@d.example>", 14);
	assert_int_equal(milter_enc_envelope(out, sizeof(out), MILTER_C_HELO,
	    "<a@b>", NULL, 0), 0);
	assert_int_equal(milter_enc_envelope(out, sizeof(out), MILTER_C_MAIL,
	    "<a@b>", NULL, 1), 0);
	{
		const char *many[MILTER_MACROS_MAX + 1];

		for (size_t i = 0; i < MILTER_MACROS_MAX + 1; i++)
			many[i] = "X=1";
		assert_int_not_equal(milter_enc_envelope(out, sizeof(out),
		    MILTER_C_RCPT, "<a@b>", many, MILTER_MACROS_MAX), 0);
		assert_int_equal(milter_enc_envelope(out, sizeof(out),
		    MILTER_C_RCPT, "<a@b>", many, MILTER_MACROS_MAX + 1), 0);
	}
}

static void
test_header(void **state)
{
	uint8_t *out = malloc(MILTER_PACKET_MAX + 1);
	char *value = malloc(MILTER_DATA_MAX + 1);
	size_t n, vlen;

	(void)state;
	assert_non_null(out);
	assert_non_null(value);
	n = milter_enc_header(out, MILTER_PACKET_MAX, "Subject", "hi there");
	expect(out, n, 'L', "Subject\0hi there", 17);
	/* Data of exactly MILTER_DATA_MAX: "X\0" + value + "\0". */
	vlen = MILTER_DATA_MAX - 3;
	memset(value, 'v', vlen);
	value[vlen] = '\0';
	assert_int_equal(milter_enc_header(out, MILTER_PACKET_MAX, "X", value),
	    MILTER_PACKET_MAX);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[1], 1);	/* 65536 = command + data */
	assert_int_equal(out[2], 0);
	assert_int_equal(out[3], 0);
	/* One more octet is over the limit, whatever the buffer. */
	value[vlen] = 'v';
	value[vlen + 1] = '\0';
	assert_int_equal(milter_enc_header(out, MILTER_PACKET_MAX + 1, "X",
	    value), 0);
	assert_int_equal(milter_enc_header(out, MILTER_PACKET_MAX, "", "v"), 0);
	free(out);
	free(value);
}

static void
test_body(void **state)
{
	uint8_t *out = malloc(MILTER_PACKET_MAX + 1);
	uint8_t *chunk = calloc(1, MILTER_DATA_MAX + 1);
	size_t n;

	(void)state;
	assert_non_null(out);
	assert_non_null(chunk);
	n = milter_enc_body(out, MILTER_PACKET_MAX, "line\r\n", 6);
	expect(out, n, 'B', "line\r\n", 6);
	assert_int_equal(milter_enc_body(out, MILTER_PACKET_MAX, chunk,
	    MILTER_DATA_MAX), MILTER_PACKET_MAX);
	assert_int_equal(milter_enc_body(out, MILTER_PACKET_MAX + 1, chunk,
	    MILTER_DATA_MAX + 1), 0);
	assert_int_equal(milter_enc_body(out, MILTER_PACKET_MAX, chunk, 0), 0);
	/* A buffer one octet short of the packet. */
	assert_int_equal(milter_enc_body(out, 5 + 99, chunk, 100), 0);
	assert_int_equal(milter_enc_body(out, 5 + 100, chunk, 100), 105);
	free(out);
	free(chunk);
}

static void
test_simple(void **state)
{
	static const char ok[] = { 'T', 'N', 'E', 'A', 'Q', 'K' };
	uint8_t out[8];

	(void)state;
	for (size_t i = 0; i < sizeof(ok); i++)
		expect(out, milter_enc_simple(out, sizeof(out),
		    (enum milter_cmd)ok[i]), ok[i], NULL, 0);
	assert_int_equal(milter_enc_simple(out, sizeof(out), MILTER_C_OPTNEG), 0);
	assert_int_equal(milter_enc_simple(out, sizeof(out), MILTER_C_BODY), 0);
	assert_int_equal(milter_enc_simple(out, 4, MILTER_C_QUIT), 0);
	assert_int_equal(milter_enc_simple(out, 5, MILTER_C_QUIT), 5);
}

/* Our OPTNEG has the reply's format: the decoder reads it back. */
static void
test_optneg_round_trip(void **state)
{
	struct milter_decoder *d = fx_decoder();
	struct milter_reply r;
	enum milter_error err;
	uint8_t out[32];
	size_t n, used;

	(void)state;
	n = milter_enc_optneg(out, sizeof(out), 6, 0x31, 0x342);
	assert_int_equal(milter_decode(d, out, n, &used, &r, &err),
	    MILTER_DEC_REPLY);
	assert_int_equal(r.type, MILTER_R_OPTNEG);
	assert_int_equal(r.version, 6);
	assert_int_equal(r.actions, 0x31);
	assert_int_equal(r.proto, 0x342);
	free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_optneg),
		cmocka_unit_test(test_macros),
		cmocka_unit_test(test_connect),
		cmocka_unit_test(test_helo_envelope),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_optneg_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
