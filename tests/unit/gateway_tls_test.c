// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Gateway TLS: core/v1 Secrets through the config loader (kubernetes.io/tls
 * ones kept, data decoded from base64, stringData as is, bad base64 and a
 * missing tls.crt or tls.key reported at file:line:col without the bytes,
 * other types ignored with a notice), the warning for a credentialName no
 * Secret provides, the SNI choice among a port's servers, and the TLS
 * contexts gateway_listeners() builds from a real certificate made here.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config.h"
#include "config_int.h"
#include "gateway.h"
#include "gateway_tls.h"
#include "istio.h"
#include "log.h"

#include "diags.h"

/* "-----BEGIN CERTIFICATE-----\nAAA\n" and "KEY\n" in base64. */
#define CRT_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkFBQQo="
#define KEY_B64 "S0VZCg=="

static void tls_secret_data_decoded(void **state)
{
	static const char yaml[] = "apiVersion: v1\n"
				   "kind: Secret\n"
				   "metadata: {name: web-cred}\n"
				   "type: kubernetes.io/tls\n"
				   "data:\n"
				   "  tls.crt: " CRT_B64 "\n"
				   "  tls.key: " KEY_B64 "\n"
				   "  ca.crt: \"\"\n";
	struct config *cfg = load_ok("s.yaml", yaml);
	const struct tls_secret *s = config_find_tls_secret(cfg, "default", "web-cred");

	assert_non_null(s);
	assert_string_equal(s->crt, "-----BEGIN CERTIFICATE-----\nAAA\n");
	assert_int_equal(s->crt_len, strlen(s->crt));
	assert_string_equal(s->key, "KEY\n");
	assert_null(config_find_tls_secret(cfg, "other", "web-cred"));
	config_free(cfg);
}

static void string_data_wins_over_data(void **state)
{
	static const char yaml[] = "apiVersion: v1\n"
				   "kind: Secret\n"
				   "metadata: {name: c, namespace: istio-system}\n"
				   "type: kubernetes.io/tls\n"
				   "data: {tls.crt: " CRT_B64 ", tls.key: " KEY_B64 "}\n"
				   "stringData:\n"
				   "  tls.key: |\n"
				   "    PLAIN\n";
	struct config *cfg = load_ok("s.yaml", yaml);
	const struct tls_secret *s = config_find_tls_secret(cfg, "istio-system", "c");

	assert_non_null(s);
	assert_string_equal(s->key, "PLAIN\n");
	assert_string_equal(s->crt, "-----BEGIN CERTIFICATE-----\nAAA\n");
	config_free(cfg);
}

static void base64_edges(void **state)
{
	static const struct {
		const char *in, *out;
		int err;
		size_t bad;
	} cases[] = {
		{"", "", 0, 0},
		{"YQ==", "a", 0, 0},
		{"YWI=", "ab", 0, 0},
		{"YWJj", "abc", 0, 0},
		{"YW\nJj\r\n", "abc", 0, 0}, /* line breaks, as a folded value has them */
		{"YQ==\n", "a", 0, 0},
		{"YQ", NULL, -EINVAL, 2},	/* a quantum cut short */
		{"Y===", NULL, -EINVAL, 1},	/* padding too early */
		{"YQ=a", NULL, -EINVAL, 3},	/* data after a padding byte */
		{"YQ==YQ==", NULL, -EINVAL, 4}, /* bytes after the padding */
		{"YW*j", NULL, -EINVAL, 2},
		{"YWJj YWJj", NULL, -EINVAL, 4},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;
		size_t len = 0, bad = 99;
		int err = k8s_base64_decode(cases[i].in, strlen(cases[i].in), &out, &len, &bad);

		if (err != cases[i].err)
			fail_msg("\"%s\": got %d, want %d", cases[i].in, err, cases[i].err);
		if (err) {
			assert_int_equal(bad, cases[i].bad);
			assert_null(out);
			continue;
		}
		assert_string_equal(out, cases[i].out);
		assert_int_equal(len, strlen(cases[i].out));
		free(out);
	}
}

static void bad_base64_reported_without_the_bytes(void **state)
{
	static const char yaml[] = "apiVersion: v1\n"
				   "kind: Secret\n"
				   "metadata: {name: web-cred}\n"
				   "type: kubernetes.io/tls\n"
				   "data:\n"
				   "  tls.crt: " CRT_B64 "\n"
				   "  tls.key: S0VZ#secretbytes\n";
	static const char *const errors[] = {
		"s.yaml:7:12: data.tls.key: illegal base64 data at input byte 4",
		NULL,
	};
	struct config *cfg = NULL;

	assert_int_equal(config_load_buf("s.yaml", yaml, strlen(yaml), &cfg), -EINVAL);
	assert_null(cfg);
	assert_diags(LOG_ERROR, errors);
	for (size_t i = 0; i < diags.n; i++)
		assert_null(strstr(diags.line[i], "secretbytes"));
}

static void tls_secret_without_key_or_crt(void **state)
{
	static const char yaml[] = "apiVersion: v1\n"
				   "kind: Secret\n"
				   "metadata: {name: only-crt}\n"
				   "type: kubernetes.io/tls\n"
				   "data: {tls.crt: " CRT_B64 "}\n"
				   "---\n"
				   "apiVersion: v1\n"
				   "kind: Secret\n"
				   "metadata: {name: nothing}\n"
				   "type: kubernetes.io/tls\n";
	static const char *const errors[] = {
		"s.yaml:1:1: data: a kubernetes.io/tls Secret must have tls.key",
		"s.yaml:7:1: data: a kubernetes.io/tls Secret must have tls.crt",
		"s.yaml:7:1: data: a kubernetes.io/tls Secret must have tls.key",
		NULL,
	};
	struct config *cfg = NULL;

	assert_int_equal(config_load_buf("s.yaml", yaml, strlen(yaml), &cfg), -EINVAL);
	assert_diags(LOG_ERROR, errors);
}

static void other_secret_types_ignored(void **state)
{
	static const char yaml[] = "apiVersion: v1\n"
				   "kind: Secret\n"
				   "metadata: {name: token, namespace: apps}\n"
				   "type: Opaque\n"
				   "data: {password: '!!not base64!!'}\n"
				   "---\n"
				   "apiVersion: v1\n"
				   "kind: Secret\n"
				   "metadata: {name: untyped}\n"
				   "stringData: {x: y}\n";
	static const char *const notices[] = {
		"s.yaml:1:1: Secret apps/token: type Opaque is not kubernetes.io/tls, ignored",
		"s.yaml:7:1: Secret default/untyped: type Opaque is not kubernetes.io/tls, ignored",
		NULL,
	};
	struct config *cfg = load_ok("s.yaml", yaml);

	assert_int_equal(cfg->n_secrets, 0);
	assert_diags(LOG_INFO, notices);
	config_free(cfg);
}

static const char gateway_yaml[] = "apiVersion: networking.istio.io/v1\n"
				   "kind: Gateway\n"
				   "metadata: {name: gw, namespace: web}\n"
				   "spec:\n"
				   "  selector: {istio: ingressgateway}\n"
				   "  servers:\n"
				   "  - port: {number: 8443, name: https, protocol: HTTPS}\n"
				   "    hosts: [a.dev]\n"
				   "    tls: {mode: SIMPLE, credentialName: a-cred}\n"
				   "  - port: {number: 8443, name: https-b, protocol: HTTPS}\n"
				   "    hosts: [web/b.dev]\n"
				   "    tls: {mode: SIMPLE, credentialName: b-cred}\n"
				   "  - port: {number: 9443, name: https-c, protocol: HTTPS}\n"
				   "    hosts: [c.dev]\n"
				   "    tls: {mode: PASSTHROUGH}\n"
				   "  - port: {number: 8080, name: http, protocol: HTTP}\n"
				   "    hosts: ['*']\n"
				   "---\n";

static void missing_credential_is_a_warning(void **state)
{
	static const char *const warnings[] = {
		"g.yaml:7:5: tls.credentialName: no kubernetes.io/tls Secret web/a-cred in the "
		"config: Gateway web/gw port 8443 is not served with it",
		"g.yaml:10:5: tls.credentialName: no kubernetes.io/tls Secret web/b-cred in the "
		"config: Gateway web/gw port 8443 is not served with it",
		NULL,
	};
	struct config *cfg = load_ok("g.yaml", gateway_yaml);

	assert_diags(LOG_WARN, warnings);
	config_free(cfg);
}

static void sni_chooses_the_server(void **state)
{
	char *h0[] = {"a.dev", "*.wild.dev"}, *h1[] = {"*.b.wild.dev"}, *h2[] = {"*"},
	     *h3[] = {"B.Dev"};
	const struct gw_sni_server v[] = {{h0, 2}, {h1, 1}, {h2, 1}, {h3, 1}};

	assert_int_equal(gw_tls_sni_choose(v, 4, NULL), 0);
	assert_int_equal(gw_tls_sni_choose(v, 4, ""), 0);
	assert_int_equal(gw_tls_sni_choose(v, 4, "a.dev"), 0);
	assert_int_equal(gw_tls_sni_choose(v, 4, "A.DEV"), 0);
	assert_int_equal(gw_tls_sni_choose(v, 4, "b.dev"), 3); /* exact wins over "*" */
	assert_int_equal(gw_tls_sni_choose(v, 4, "x.wild.dev"), 0);
	assert_int_equal(gw_tls_sni_choose(v, 4, "x.b.wild.dev"), 1); /* the longest wildcard */
	assert_int_equal(gw_tls_sni_choose(v, 4, "wild.dev"), 2); /* "*.wild.dev" needs a label */
	assert_int_equal(gw_tls_sni_choose(v, 4, "other.io"), 2);
	assert_int_equal(gw_tls_sni_choose(v, 2, "other.io"), -1); /* no "*": no server */
	assert_int_equal(gw_tls_sni_choose(v, 0, NULL), -1);
}

/* A self-signed EC certificate and its key as PEM (and a second key that does not match). */
static void make_pem(char **crt, char **key, char **other_key)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256"), *pk2 = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	BIO *b;
	char *p;
	long n;

	assert_non_null(pk);
	assert_non_null(x);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pk);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"a.dev", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
	for (int i = 0; i < 3; i++) {
		b = BIO_new(BIO_s_mem());
		if (i == 0)
			PEM_write_bio_X509(b, x);
		else
			PEM_write_bio_PrivateKey(b, i == 1 ? pk : pk2, NULL, NULL, 0, NULL, NULL);
		n = BIO_get_mem_data(b, &p);
		*(i == 0 ? crt : i == 1 ? key : other_key) = strndup(p, (size_t)n);
		BIO_free(b);
	}
	X509_free(x);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(pk2);
}

static char *b64(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
	return out;
}

static void listeners_from_secrets(void **state)
{
	struct labels agent = {0};
	struct gw_tls *tls[8] = {0};
	struct sockaddr_in out[8];
	char *crt, *key, *other, *bc, *bk, *bo, *yaml;
	struct config *cfg;
	size_t n, len;

	make_pem(&crt, &key, &other);
	bc = b64(crt);
	bk = b64(key);
	bo = b64(other);
	len = strlen(gateway_yaml) + strlen(bc) * 2 + strlen(bk) + strlen(bo) + 512;
	yaml = malloc(len);
	snprintf(yaml, len,
		 "%s"
		 "apiVersion: v1\nkind: Secret\nmetadata: {name: a-cred, namespace: web}\n"
		 "type: kubernetes.io/tls\ndata: {tls.crt: %s, tls.key: %s}\n---\n"
		 "apiVersion: v1\nkind: Secret\nmetadata: {name: b-cred, namespace: web}\n"
		 "type: kubernetes.io/tls\ndata: {tls.crt: %s, tls.key: %s}\n",
		 gateway_yaml, bc, bk, bc, bo);
	cfg = load_ok("g.yaml", yaml);
	assert_int_equal(gateway_labels_parse("istio=ingressgateway", &agent), 0);
	cfg->agent_labels = &agent;
	n = gateway_listeners(cfg, (struct in_addr){htonl(0x7f000001)}, out, tls, 8);
	/* 8443 with a-cred only (b-cred's key is not its certificate's), 9443 raw for the
	 * PASSTHROUGH server (no TLS context: the proxy reads the SNI), 8080 plain. */
	assert_int_equal(n, 3);
	assert_int_equal(ntohs(out[0].sin_port), 8443);
	assert_non_null(tls[0]);
	assert_int_equal(gw_tls_count(tls[0]), 1);
	assert_non_null(gw_tls_ctx(tls[0]));
	assert_int_equal(ntohs(out[1].sin_port), 9443);
	assert_null(tls[1]);
	assert_int_equal(ntohs(out[2].sin_port), 8080);
	assert_null(tls[2]);
	gateway_listeners_release(tls, n);
	assert_null(tls[0]);
	config_free(cfg);
	gateway_labels_release(&agent);
	free(yaml);
	free(crt);
	free(key);
	free(other);
	free(bc);
	free(bk);
	free(bo);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(tls_secret_data_decoded),
		T(string_data_wins_over_data),
		T(base64_edges),
		T(bad_base64_reported_without_the_bytes),
		T(tls_secret_without_key_or_crt),
		T(other_secret_types_ignored),
		T(missing_credential_is_a_warning),
		T(sni_chooses_the_server),
		T(listeners_from_secrets),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
