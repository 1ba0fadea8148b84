// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Location header of an HTTPRedirect: what Envoy answers for the
 * redirect Istio gives it, for each field alone and together.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "redirect.h"

/* The Location for a GET of @url with Host @host (NULL: none) redirected by @r. */
static int loc(const struct http_redirect *r, const char *url, const char *host, bool https,
	       char *out, size_t cap)
{
	struct http_hdr h[2] = {
		{"user-agent", 10, "t", 1},
		{"Host", 4, host, host ? strlen(host) : 0},
	};
	struct http_req req = {
		.method = "GET",
		.method_len = 3,
		.url = url,
		.url_len = strlen(url),
		.hdrs = h,
		.n_hdrs = host ? 2 : 1,
		.http_major = 1,
		.http_minor = 1,
	};

	return redirect_location(r, &req, https, out, cap);
}

#define assert_location(r, url, host, want)                                                        \
	do {                                                                                       \
		char got_[256];                                                                    \
		assert_int_equal(loc(r, url, host, false, got_, sizeof(got_)), 0);                 \
		assert_string_equal(got_, "location: " want "\r\n");                               \
	} while (0)

/* Seed 002: uri and authority, the path replaced whatever the prefix matched. */
static void test_seed_uri_authority(void **state)
{
	struct http_redirect r = {.uri = "/hello",
				  .authority = "greeter-service.default.svc.cluster.local:3000"};

	(void)state;
	assert_location(&r, "/greeting", "greeter-service.default.svc.cluster.local:3000",
			"http://greeter-service.default.svc.cluster.local:3000/hello");
	assert_location(&r, "/greeting/fr/x", "greeter-service:3000",
			"http://greeter-service.default.svc.cluster.local:3000/hello");
}

static void test_query_kept_unless_uri_has_one(void **state)
{
	struct http_redirect r = {.uri = "/new"};
	struct http_redirect q = {.uri = "/new?a=1"};

	(void)state;
	assert_location(&r, "/old?x=1&y=2", "svc:8080", "http://svc:8080/new?x=1&y=2");
	assert_location(&q, "/old?x=1", "svc:8080", "http://svc:8080/new?a=1");
}

static void test_nothing_set_keeps_everything(void **state)
{
	struct http_redirect r = {0};

	(void)state;
	assert_location(&r, "/a/b?c", "svc.ns:9080", "http://svc.ns:9080/a/b?c");
	assert_location(&r, "/", "svc", "http://svc/");
}

static void test_authority_alone(void **state)
{
	struct http_redirect r = {.authority = "other.example.com"};

	(void)state;
	/* host_redirect replaces the whole authority: the request's port goes with it. */
	assert_location(&r, "/p?q=1", "svc:9080", "http://other.example.com/p?q=1");
}

static void test_port(void **state)
{
	struct http_redirect r = {.port = 8443};
	struct http_redirect d = {.port = 80};
	struct http_redirect v6 = {.port = 81};

	(void)state;
	assert_location(&r, "/p", "svc:9080", "http://svc:8443/p");
	assert_location(&r, "/p", "svc", "http://svc:8443/p");
	assert_location(&d, "/p", "svc:9080", "http://svc/p");
	assert_location(&v6, "/p", "[fd00::1]:9080", "http://[fd00::1]:81/p");
}

static void test_scheme(void **state)
{
	struct http_redirect https = {.scheme = "https"};
	struct http_redirect https_derive = {.scheme = "https", .derive_port = true};
	struct http_redirect http_derive = {.derive_port = true};

	(void)state;
	assert_location(&https, "/p", "svc:9080", "https://svc:9080/p");
	assert_location(&https, "/p", "svc:443", "https://svc/p");
	assert_location(&https, "/p", "svc", "https://svc/p");
	assert_location(&https_derive, "/p", "svc:9080", "https://svc/p");
	assert_location(&http_derive, "/p", "svc:9080", "http://svc/p");
}

static void test_https_request_keeps_scheme(void **state)
{
	struct http_redirect r = {.uri = "/x"};
	char got[128];

	(void)state;
	assert_int_equal(loc(&r, "/y", "svc", true, got, sizeof(got)), 0);
	assert_string_equal(got, "location: https://svc/x\r\n");
}

static void test_absolute_form_target(void **state)
{
	struct http_redirect r = {.uri = "/x"};

	(void)state;
	assert_location(&r, "http://svc:9080/y?z", NULL, "http://svc:9080/x?z");
	assert_location(&r, "http://svc:9080?z", NULL, "http://svc:9080/x?z");
}

static void test_errors(void **state)
{
	struct http_redirect r = {.uri = "/x"};
	char small[16];

	(void)state;
	assert_int_equal(loc(&r, "/y", NULL, false, small, sizeof(small)), -EINVAL);
	assert_int_equal(loc(&r, "/y", "a-long-host-name", false, small, sizeof(small)), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_uri_authority),
		cmocka_unit_test(test_query_kept_unless_uri_has_one),
		cmocka_unit_test(test_nothing_set_keeps_everything),
		cmocka_unit_test(test_authority_alone),
		cmocka_unit_test(test_port),
		cmocka_unit_test(test_scheme),
		cmocka_unit_test(test_https_request_keeps_scheme),
		cmocka_unit_test(test_absolute_form_target),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
