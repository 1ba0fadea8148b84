// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sni_parse() on real ClientHellos, written by OpenSSL's client (the library
 * openssl s_client and curl use here) into a memory BIO: TLS 1.3 and 1.2, with
 * and without SNI, cut at every byte (each read the proxy could see),
 * refragmented into many small records, and one too big for the buffer; then
 * hand-made ClientHellos for the edges OpenSSL never writes, and junk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/ssl.h>

#include "sni.h"

#define CAP (64 * 1024)

/* The first flight of an OpenSSL client for @sni (NULL: none), at most @max_version
 * (0: OpenSSL's default), offering ALPN @alpn (@alpn_len bytes, wire format; NULL: none). */
static size_t openssl_hello(const char *sni, int max_version, const uint8_t *alpn, size_t alpn_len,
			    uint8_t *out)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	SSL *ssl;
	int n;

	assert_non_null(ctx);
	if (max_version)
		assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max_version), 1);
	ssl = SSL_new(ctx);
	assert_non_null(ssl);
	SSL_set_bio(ssl, rb, wb);
	if (sni)
		assert_int_equal(SSL_set_tlsext_host_name(ssl, sni), 1);
	if (alpn)
		assert_int_equal(SSL_set_alpn_protos(ssl, alpn, (unsigned)alpn_len), 0);
	SSL_set_connect_state(ssl);
	assert_int_equal(SSL_do_handshake(ssl), -1); /* waits for the ServerHello */
	n = BIO_read(wb, out, CAP);
	assert_true(n > 0);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return (size_t)n;
}

/* The handshake bytes of the records at @in (@len bytes) re-cut into records of @frag bytes. */
static size_t refragment(const uint8_t *in, size_t len, size_t frag, uint8_t *out)
{
	uint8_t hs[CAP];
	size_t hs_len = 0, n = 0;

	for (size_t off = 0; off < len;) {
		size_t rlen = (size_t)in[off + 3] << 8 | in[off + 4];

		memcpy(hs + hs_len, in + off + 5, rlen);
		hs_len += rlen;
		off += 5 + rlen;
	}
	for (size_t off = 0; off < hs_len; off += frag) {
		size_t k = hs_len - off < frag ? hs_len - off : frag;

		out[n++] = 22;
		out[n++] = 3;
		out[n++] = 1;
		out[n++] = (uint8_t)(k >> 8);
		out[n++] = (uint8_t)k;
		memcpy(out + n, hs + off, k);
		n += k;
	}
	return n;
}

/* Every proper prefix needs more bytes; the whole gives @want (and @name on FOUND). */
static void assert_prefixes(const uint8_t *p, size_t len, enum sni_result want, const char *name)
{
	char got[SNI_NAME_MAX + 1];

	for (size_t i = 0; i < len; i++) {
		size_t need = 0;

		if (sni_parse(p, i, got, &need) != SNI_MORE)
			fail_msg("prefix of %zu of %zu bytes: %s, want MORE", i, len,
				 sni_result_str(sni_parse(p, i, got, NULL)));
		/* more than it has, never beyond the hello, and no answer before it */
		if (need <= i || need > len)
			fail_msg("prefix of %zu of %zu bytes: need %zu", i, len, need);
		for (size_t k = i; k < need; k += 97)
			assert_int_equal(sni_parse(p, k, got, NULL), SNI_MORE);
	}
	assert_string_equal(sni_result_str(sni_parse(p, len, got, NULL)), sni_result_str(want));
	if (want == SNI_FOUND)
		assert_string_equal(got, name);
}

static void tls13_hello_with_sni(void **state)
{
	static uint8_t b[CAP];
	size_t n = openssl_hello("api.example.com", 0, NULL, 0, b);

	assert_prefixes(b, n, SNI_FOUND, "api.example.com");
}

static void tls12_only_hello_with_sni(void **state)
{
	static uint8_t b[CAP];
	size_t n = openssl_hello("legacy.example.org", TLS1_2_VERSION, NULL, 0, b);

	assert_prefixes(b, n, SNI_FOUND, "legacy.example.org");
}

static void name_is_lowercased(void **state)
{
	static uint8_t b[CAP];
	char name[SNI_NAME_MAX + 1];
	size_t n = openssl_hello("API.Example.COM", 0, NULL, 0, b);

	assert_int_equal(sni_parse(b, n, name, NULL), SNI_FOUND);
	assert_string_equal(name, "api.example.com");
}

static void hello_without_sni(void **state)
{
	static uint8_t b[CAP];
	size_t n = openssl_hello(NULL, 0, NULL, 0, b);

	assert_prefixes(b, n, SNI_NONE, NULL);
}

/* A ClientHello cut into records of 1, 7 and 100 handshake bytes: still one hello. */
static void fragmented_records(void **state)
{
	static uint8_t b[CAP], f[CAP];
	size_t n = openssl_hello("frag.example.com", 0, NULL, 0, b);
	const size_t frags[] = {1, 7, 100};

	for (size_t i = 0; i < sizeof(frags) / sizeof(frags[0]); i++) {
		size_t m = refragment(b, n, frags[i], f);

		assert_true(m > n);
		assert_prefixes(f, m, SNI_FOUND, "frag.example.com");
	}
}

/* Bytes after the ClientHello (a client that does not wait: early data) change nothing. */
static void bytes_after_the_hello(void **state)
{
	static uint8_t b[CAP];
	char name[SNI_NAME_MAX + 1];
	size_t n = openssl_hello("a.example.com", 0, NULL, 0, b);

	memcpy(b + n, "\x17\x03\x03\x00\x05hello", 10);
	assert_int_equal(sni_parse(b, n + 10, name, NULL), SNI_FOUND);
	assert_string_equal(name, "a.example.com");
}

/* 1,500 ALPN names of 11 bytes: OpenSSL writes a 17 KB ClientHello in two records. */
static void hello_larger_than_the_buffer(void **state)
{
	static uint8_t alpn[1500 * 12 + 1], b[CAP]; /* + 1: snprintf's last NUL */
	char name[SNI_NAME_MAX + 1];
	size_t n;

	for (size_t i = 0; i < 1500; i++) {
		alpn[i * 12] = 11;
		snprintf((char *)alpn + i * 12 + 1, 12, "proto%06zu", i);
	}
	n = openssl_hello("big.example.com", 0, alpn, sizeof(alpn) - 1, b);
	assert_true(n > SNI_HELLO_MAX);
	assert_int_equal(sni_parse(b, n, name, NULL), SNI_TOO_BIG);
	/* Told as soon as the first record header says so, not after 16 KB of waiting. */
	assert_int_equal(sni_parse(b, 5, name, NULL), SNI_TOO_BIG);
}

/* ---- hand-made ClientHellos ---- */

struct bytes {
	uint8_t b[1024];
	size_t n;
};

static void put(struct bytes *o, const void *p, size_t n)
{
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void put16(struct bytes *o, size_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	put(o, b, 2);
}

/* A server_name extension with one entry of type @type holding @name. */
static void sni_ext(struct bytes *o, int type, const char *name)
{
	size_t n = strlen(name);

	put16(o, 0);
	put16(o, n + 5);
	put16(o, n + 3);
	put(o, (uint8_t[]){(uint8_t)type}, 1);
	put16(o, n);
	put(o, name, n);
}

/* One record holding a ClientHello with extensions @ext (NULL: no extensions block). */
static void hello(struct bytes *o, const struct bytes *ext)
{
	struct bytes body = {.n = 0};
	size_t len;

	put(&body, "\x03\x03", 2);
	memset(body.b + body.n, 0xab, 32);
	body.n += 32;
	put(&body, "\x00", 1);		   /* no session id */
	put(&body, "\x00\x02\x13\x01", 4); /* TLS_AES_128_GCM_SHA256 */
	put(&body, "\x01\x00", 2);	   /* null compression */
	if (ext) {
		put16(&body, ext->n);
		put(&body, ext->b, ext->n);
	}
	len = body.n;
	o->n = 0;
	put(o, (uint8_t[]){22, 3, 1}, 3);
	put16(o, len + 4);
	put(o, (uint8_t[]){1, 0, (uint8_t)(len >> 8), (uint8_t)len}, 4);
	put(o, body.b, body.n);
}

static enum sni_result parse_hand(const struct bytes *ext, char *name)
{
	struct bytes h;

	hello(&h, ext);
	return sni_parse(h.b, h.n, name, NULL);
}

static void hand_made_edges(void **state)
{
	char name[SNI_NAME_MAX + 1];
	struct bytes e = {.n = 0};

	assert_int_equal(parse_hand(NULL, name), SNI_NONE); /* no extensions block at all */
	sni_ext(&e, 0, "x-y_z.example.com");
	assert_int_equal(parse_hand(&e, name), SNI_FOUND);
	assert_string_equal(name, "x-y_z.example.com");
	e.n = 0;
	sni_ext(&e, 7, "a future name type"); /* skipped: no host_name */
	assert_int_equal(parse_hand(&e, name), SNI_NONE);
}

static void hand_made_malformed(void **state)
{
	static const char *const bad_names[] = {"", "a..b", ".a", "a.", "a b", "a\001b", "é.com"};
	char name[SNI_NAME_MAX + 1], big[300];
	struct bytes e;

	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		e.n = 0;
		sni_ext(&e, 0, bad_names[i]);
		assert_int_equal(parse_hand(&e, name), SNI_MALFORMED);
	}
	memset(big, 'a', 256);
	big[256] = '\0';
	e.n = 0;
	sni_ext(&e, 0, big); /* over 255 bytes */
	assert_int_equal(parse_hand(&e, name), SNI_MALFORMED);
	e.n = 0; /* the extension twice */
	sni_ext(&e, 0, "a.com");
	sni_ext(&e, 0, "b.com");
	assert_int_equal(parse_hand(&e, name), SNI_MALFORMED);
	e.n = 0; /* an extension longer than the block */
	put(&e, "\x00\x10\x00\x40\x00", 5);
	assert_int_equal(parse_hand(&e, name), SNI_MALFORMED);
	e.n = 0; /* a server_name extension with an empty list */
	put(&e, "\x00\x00\x00\x02\x00\x00", 6);
	assert_int_equal(parse_hand(&e, name), SNI_MALFORMED);
}

static void record_level_problems(void **state)
{
	static uint8_t b[CAP];
	char name[SNI_NAME_MAX + 1];
	size_t n = openssl_hello("r.example.com", 0, NULL, 0, b), m;
	static uint8_t f[CAP];

	/* an empty handshake record */
	assert_int_equal(sni_parse((const uint8_t *)"\x16\x03\x01\x00\x00", 5, name, NULL),
			 SNI_MALFORMED);
	/* a ServerHello where a ClientHello belongs */
	b[5] = 2;
	assert_int_equal(sni_parse(b, n, name, NULL), SNI_MALFORMED);
	b[5] = 1;
	/* a fragmented hello interrupted by an application-data record */
	m = refragment(b, n, 50, f);
	f[55] = 23;
	assert_int_equal(sni_parse(f, m, name, NULL), SNI_MALFORMED);
	/* a handshake length no record can fit */
	assert_int_equal(
		sni_parse((const uint8_t *)"\x16\x03\x01\x00\x04\x01\x00\x4e\x20", 9, name, NULL),
		SNI_TOO_BIG);
}

static void junk_is_not_tls(void **state)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n";
	/* an SSLv2-compatible ClientHello header, as ancient clients sent */
	static const uint8_t sslv2[] = {0x80, 0x2e, 0x01, 0x00, 0x02};
	char name[SNI_NAME_MAX + 1];

	assert_int_equal(sni_parse((const uint8_t *)http, sizeof(http) - 1, name, NULL),
			 SNI_NOT_TLS);
	assert_int_equal(sni_parse((const uint8_t *)"G", 1, name, NULL), SNI_NOT_TLS);
	assert_int_equal(sni_parse(sslv2, sizeof(sslv2), name, NULL), SNI_NOT_TLS);
	assert_int_equal(sni_parse((const uint8_t *)"\x16\x01", 2, name, NULL), SNI_NOT_TLS);
	assert_int_equal(sni_parse((const uint8_t *)"", 0, name, NULL), SNI_MORE);
	assert_int_equal(sni_parse((const uint8_t *)"\x16", 1, name, NULL), SNI_MORE);
	assert_string_equal(sni_result_str(SNI_TOO_BIG), "TOO_BIG");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tls13_hello_with_sni),
		cmocka_unit_test(tls12_only_hello_with_sni),
		cmocka_unit_test(name_is_lowercased),
		cmocka_unit_test(hello_without_sni),
		cmocka_unit_test(fragmented_records),
		cmocka_unit_test(bytes_after_the_hello),
		cmocka_unit_test(hello_larger_than_the_buffer),
		cmocka_unit_test(hand_made_edges),
		cmocka_unit_test(hand_made_malformed),
		cmocka_unit_test(record_level_problems),
		cmocka_unit_test(junk_is_not_tls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
