// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What a matched rule does to a request, as the proxy is told in its pick:
 * every test loads tests/unit/testdata/route/base.yaml (the services and pods
 * route_test routes between) plus its own VirtualServices and DestinationRules,
 * routes a request as the worker does (route_select(), then route_actions())
 * and checks what Envoy would do with Istio's config: the request-target sent,
 * the headers dropped and added, the fault drawn, the retry policy, the
 * mirrors, the CORS answer, and where a retry goes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "istio.h"
#include "log.h"
#include "route.h"
#include "route_base.h"

#define CLIENT	"10.0.9.1"	  /* pod client, namespace default */
#define GREETER "10.96.0.10:3000" /* greeter: greeter-v1-a, greeter-v1-b, greeter-v2-a */
#define OTHER	"10.96.0.30:80"	  /* other: other-a (10.0.3.1:8080) */
#define EMPTY	"10.96.0.40:80"	  /* empty: no endpoint */

#define VS_HEAD "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
#define DR_HEAD "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
/* A VirtualService for greeter whose only rule is @rule (YAML, indented by 4, no leading "-"). */
#define VS_GREETER(rule)                                                                           \
	VS_HEAD "metadata: {name: greeter}\nspec:\n  hosts: [greeter]\n  http:\n  - " rule
#define TO_GREETER "    route: [{destination: {host: greeter}}]\n"
#define TO_OTHER   "    route: [{destination: {host: other}}]\n"

#define MAX_HDRS 16
#define END	 ((const char *)NULL)

static struct {
	struct config *cfg;
	struct route_table *rt;
	struct route_worker *w;
	struct route_result res;
	struct proxy_pick pick;
} t;

static int group_setup(void **state)
{
	return route_base_read();
}

static int group_teardown(void **state)
{
	free(base);
	return 0;
}

static int teardown(void **state)
{
	route_worker_free(t.w);
	route_table_free(t.rt);
	config_free(t.cfg);
	memset(&t, 0, sizeof(t));
	return 0;
}

/* Loads the base topology plus @yaml, builds the table and a worker. */
static void load(const char *yaml)
{
	route_base_load(yaml, &t.cfg);
	assert_int_equal(route_table_build(t.cfg, &t.rt), 0);
	t.w = route_worker_new(t.rt, 7);
	assert_non_null(t.w);
	route_worker_set_now(t.w, 1000000);
}

static void parse_addr(const char *s, struct in_addr *ip, uint16_t *port)
{
	char host[32];
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);

	assert_true(n < sizeof(host));
	memcpy(host, s, n);
	host[n] = '\0';
	assert_int_equal(inet_pton(AF_INET, host, ip), 1);
	if (port)
		*port = colon ? (uint16_t)atoi(colon + 1) : 0;
}

/*
 * Routes a request from CLIENT to @dst for @url as the worker does: the pick gets the
 * endpoint, token and the verdict's status and flags, then the rule's actions. The variadic
 * part is NULL-terminated "Name: value" lines; ":method: X" sets the method (GET otherwise).
 * Returns the verdict; the pick is in t.pick.
 */
static enum route_verdict go(const char *dst, const char *url, ...)
{
	struct http_hdr hdrs[MAX_HDRS];
	struct http_req req = {.method = "GET", .url = url, .url_len = strlen(url), .hdrs = hdrs};
	struct route_req rq = {.req = &req};
	const char *h;
	va_list ap;

	va_start(ap, url);
	while ((h = va_arg(ap, const char *))) {
		const char *sep = strstr(h, ": ");

		assert_non_null(sep);
		if (!strncmp(h, ":method: ", 9)) {
			req.method = h + 9;
			continue;
		}
		assert_true(req.n_hdrs < MAX_HDRS);
		hdrs[req.n_hdrs++] =
			(struct http_hdr){h, (size_t)(sep - h), sep + 2, strlen(sep + 2)};
	}
	va_end(ap);
	req.method_len = strlen(req.method);
	parse_addr(CLIENT, &rq.src_ip, NULL);
	parse_addr(dst, &rq.dst_ip, &rq.dst_port);
	assert_int_equal(route_select(t.rt, t.w, &rq, &t.res), 0);
	memset(&t.pick, 0, sizeof(t.pick));
	t.pick.flags = route_verdict_flag(t.res.verdict);
	t.pick.status = route_verdict_status(t.res.verdict);
	if (t.res.verdict == RV_FORWARD || t.res.verdict == RV_PASSTHROUGH) {
		t.pick.ep = t.res.ep;
		t.pick.token[0] = t.res.lb_token;
	}
	if (t.res.verdict == RV_FORWARD || t.res.verdict == RV_PASSTHROUGH || t.res.rule)
		assert_int_equal(route_actions(t.rt, t.w, &rq, &t.res, &t.pick), 0);
	return t.res.verdict;
}

/* The last pick's request-target, "-" when unchanged. */
static const char *target(void)
{
	return t.pick.target ? t.pick.target : "-";
}

static const char *str(const char *s)
{
	return s ? s : "";
}

static const char *ep_str(const struct sockaddr_in *ep)
{
	static char buf[32];
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &ep->sin_addr, ip, sizeof(ip));
	snprintf(buf, sizeof(buf), "%s:%u", ip, ntohs(ep->sin_port));
	return buf;
}

/* ---- rewrite ---- */

static void prefix_rewrite_replaces_the_prefix_and_keeps_the_query(void **state)
{
	load(VS_GREETER("match: [{uri: {prefix: /greeting}}]\n"
			"    rewrite: {uri: /hello}\n" TO_GREETER));
	assert_int_equal(go(GREETER, "/greeting/fr?lang=fr", END), RV_FORWARD);
	assert_string_equal(target(), "/hello/fr?lang=fr");
	go(GREETER, "/greeting", END);
	assert_string_equal(target(), "/hello");
	go(GREETER, "/greetings", END); /* a string prefix, not a segment */
	assert_string_equal(target(), "/hellos");
}

static void prefix_rewrite_of_the_entry_that_matched(void **state)
{
	load(VS_GREETER("match: [{uri: {prefix: /v1/api}}, {uri: {prefix: /api}}]\n"
			"    rewrite: {uri: /v2/}\n" TO_GREETER));
	go(GREETER, "/api/users", END);
	assert_string_equal(target(), "/v2//users");
	go(GREETER, "/v1/api/users", END);
	assert_string_equal(target(), "/v2//users");
	assert_non_null(t.res.match);
	assert_string_equal(t.res.match->uri.value, "/v1/api");
}

static void ignore_uri_case_prefix_rewrite_cuts_the_prefix_length(void **state)
{
	load(VS_GREETER("match: [{uri: {prefix: /API}, ignoreUriCase: true}]\n"
			"    rewrite: {uri: /x}\n" TO_GREETER));
	go(GREETER, "/api/v1", END);
	assert_string_equal(target(), "/x/v1");
}

static void exact_match_rewrite_replaces_the_whole_path(void **state)
{
	load(VS_GREETER("match: [{uri: {exact: /old}}]\n"
			"    rewrite: {uri: /new/place}\n" TO_GREETER));
	go(GREETER, "/old?x=1&y=2", END);
	assert_string_equal(target(), "/new/place?x=1&y=2");
	go(GREETER, "/old", END);
	assert_string_equal(target(), "/new/place");
}

static void regex_match_rewrite_replaces_the_whole_path(void **state)
{
	load(VS_GREETER("match: [{uri: {regex: '/users/[0-9]+'}}]\n"
			"    rewrite: {uri: /user}\n" TO_GREETER));
	go(GREETER, "/users/42?tab=2", END);
	assert_string_equal(target(), "/user?tab=2");
}

static void rewrite_without_uri_match_replaces_the_leading_slash(void **state)
{
	/* Istio's route has the prefix "/" then: Envoy swaps that one character. */
	load(VS_GREETER("match: [{headers: {x-v2: {exact: 'on'}}}]\n"
			"    rewrite: {uri: /v2/}\n" TO_GREETER "  - route: [{destination: {host: "
			"greeter}}]\n    rewrite: {uri: /catch}\n"));
	go(GREETER, "/items?id=3", "x-v2: on", END);
	assert_string_equal(target(), "/v2/items?id=3");
	assert_null(t.res.match->uri.value);
	go(GREETER, "/items", END); /* the catch-all rule */
	assert_null(t.res.match);
	assert_string_equal(target(), "/catchitems");
}

static void uri_regex_rewrite_substitutes_captures_and_keeps_the_query(void **state)
{
	load(VS_GREETER("match: [{uri: {prefix: /service}}]\n"
			"    rewrite:\n"
			"      uriRegexRewrite: {match: '^/service/([^/]+)(/.*)$', rewrite: "
			"'\\2/instance/\\1'}\n" TO_GREETER));
	go(GREETER, "/service/foo/v1/api?x=1", END);
	assert_string_equal(target(), "/v1/api/instance/foo?x=1");
	go(GREETER, "/service", END); /* no match: the path is kept, as Envoy copies it */
	assert_string_equal(target(), "/service");
}

static void uri_regex_rewrite_is_global(void **state)
{
	load(VS_GREETER("rewrite:\n"
			"      uriRegexRewrite: {match: 'a', rewrite: 'b'}\n" TO_GREETER));
	go(GREETER, "/banana?a=a", END);
	assert_string_equal(target(), "/bbnbnb?a=a");
}

static void no_rewrite_leaves_the_target(void **state)
{
	load(VS_GREETER("match: [{uri: {prefix: /greeting}}]\n" TO_GREETER));
	go(GREETER, "/greeting/fr", END);
	assert_null(t.pick.target);
	assert_null(t.pick.req_drop);
	assert_null(t.pick.req_add);
}

static void authority_rewrite_replaces_host(void **state)
{
	load(VS_GREETER("rewrite: {authority: new.example}\n" TO_GREETER));
	go(GREETER, "/x", "Host: greeter:3000", END);
	assert_null(t.pick.target);
	assert_string_equal(str(t.pick.req_drop), "host\n");
	assert_string_equal(str(t.pick.req_add), "host: new.example\r\n");
}

static void rewrite_authority_beats_header_host_which_beats_the_destination(void **state)
{
	load(VS_GREETER("rewrite: {authority: from-rewrite}\n"
			"    route:\n"
			"    - destination: {host: greeter}\n"
			"      headers: {request: {set: {host: from-dest}}}\n"));
	go(GREETER, "/", END);
	assert_string_equal(str(t.pick.req_add), "host: from-rewrite\r\n");
	teardown(NULL);
	load(VS_GREETER("headers: {request: {add: {':authority': from-rule}}}\n"
			"    route:\n"
			"    - destination: {host: greeter}\n"
			"      headers: {request: {set: {host: from-dest}}}\n"));
	go(GREETER, "/", END);
	assert_string_equal(str(t.pick.req_add), "host: from-rule\r\n");
	teardown(NULL);
	load(VS_GREETER("route:\n"
			"    - destination: {host: greeter}\n"
			"      headers: {request: {set: {host: from-dest}}}\n"));
	go(GREETER, "/", END);
	assert_string_equal(str(t.pick.req_drop), "host\n");
	assert_string_equal(str(t.pick.req_add), "host: from-dest\r\n");
}

/* ---- headers ---- */

static void single_destination_headers_follow_the_rule_and_win(void **state)
{
	/* One parser: removes first, then the rule's set and add, then the destination's. */
	load(VS_GREETER("headers:\n"
			"      request:\n"
			"        set: {x-a: rule}\n"
			"        add: {x-b: rule}\n"
			"        remove: [x-c]\n"
			"    route:\n"
			"    - destination: {host: greeter}\n"
			"      headers: {request: {set: {x-a: dest}, add: {x-b: dest}}}\n"));
	go(GREETER, "/", END);
	assert_string_equal(str(t.pick.req_drop), "x-c\nx-a\n");
	assert_string_equal(str(t.pick.req_add), "x-a: dest\r\nx-b: rule\r\nx-b: dest\r\n");
}

static void weighted_destination_headers_apply_before_the_rule(void **state)
{
	/* Envoy evaluates a weighted cluster's headers, then the route's: the rule wins, and its
	 * remove takes away what the destination added. */
	load(VS_GREETER("headers:\n"
			"      request: {set: {x-a: rule}, remove: [x-d]}\n"
			"      response: {set: {x-r: rule}}\n"
			"    route:\n"
			"    - destination: {host: greeter, subset: v1}\n"
			"      weight: 50\n"
			"      headers:\n"
			"        request: {set: {x-a: dest}, add: {x-d: dest, x-e: dest}}\n"
			"        response: {set: {x-r: dest}, add: {x-s: dest}}\n"
			"    - destination: {host: greeter, subset: v2}\n"
			"      weight: 50\n"
			"---\n" DR_HEAD "metadata: {name: greeter}\n"
			"spec:\n"
			"  host: greeter\n"
			"  subsets:\n"
			"  - {name: v1, labels: {version: v1}}\n"
			"  - {name: v2, labels: {version: v2}}\n"));
	for (int i = 0; i < 2; i++) {
		go(GREETER, "/", END);
		assert_int_equal(t.res.verdict, RV_FORWARD);
		if (!strcmp(t.res.rdst->dst.subset, "v1")) {
			assert_string_equal(str(t.pick.req_drop), "x-a\nx-d\n");
			assert_string_equal(str(t.pick.req_add), "x-a: rule\r\nx-e: dest\r\n");
			assert_string_equal(str(t.pick.rsp_drop), "x-r\n");
			assert_string_equal(str(t.pick.rsp_add), "x-r: rule\r\nx-s: dest\r\n");
		} else {
			assert_string_equal(str(t.pick.req_drop), "x-d\nx-a\n");
			assert_string_equal(str(t.pick.req_add), "x-a: rule\r\n");
			assert_string_equal(str(t.pick.rsp_add), "x-r: rule\r\n");
		}
	}
}

static void response_set_add_remove(void **state)
{
	load(VS_GREETER("headers:\n"
			"      response:\n"
			"        set: {cache-control: no-store}\n"
			"        add: {x-served-by: shunt}\n"
			"        remove: [server, x-powered-by]\n" TO_GREETER));
	go(GREETER, "/", END);
	assert_string_equal(str(t.pick.rsp_drop), "server\nx-powered-by\ncache-control\n");
	assert_string_equal(str(t.pick.rsp_add),
			    "cache-control: no-store\r\nx-served-by: shunt\r\n");
	assert_null(t.pick.req_drop);
}

/* ---- fault ---- */

static void fault_abort_always(void **state)
{
	load(VS_GREETER(
		"fault: {abort: {httpStatus: 418, percentage: {value: 100}}}\n" TO_GREETER));
	assert_int_equal(go(GREETER, "/", END), RV_FORWARD);
	assert_int_equal(t.pick.status, 418);
	assert_string_equal(t.pick.flags, "FI");
	assert_string_equal(t.pick.body, "fault filter abort");
	assert_int_equal(t.pick.delay_ms, 0);
	assert_int_equal(t.pick.token[0], 0); /* the endpoint was given back */
}

static void fault_abort_never_at_zero_or_unset(void **state)
{
	load(VS_GREETER("match: [{uri: {prefix: /zero}}]\n"
			"    fault: {abort: {httpStatus: 500, percentage: {value: 0}}}\n" TO_GREETER
			"  - fault: {abort: {httpStatus: 500}}\n" TO_GREETER));
	for (int i = 0; i < 200; i++) {
		go(GREETER, i % 2 ? "/zero" : "/unset", END);
		assert_int_equal(t.pick.status, 0);
		assert_null(t.pick.flags);
		route_done_token(t.w, t.pick.token[0], 200);
	}
}

static void fault_abort_half_of_the_time(void **state)
{
	int aborted = 0;

	load(VS_GREETER("fault: {abort: {httpStatus: 503, percentage: {value: 50}}}\n" TO_GREETER));
	for (int i = 0; i < 2000; i++) {
		go(GREETER, "/", END);
		aborted += t.pick.status == 503;
		if (!t.pick.status)
			route_done_token(t.w, t.pick.token[0], 200);
	}
	assert_in_range(aborted, 940, 1060); /* 50% +- 3 points */
}

static void fault_delay_then_forward(void **state)
{
	load(VS_GREETER(
		"fault: {delay: {fixedDelay: 1.5s, percentage: {value: 100}}}\n" TO_GREETER));
	assert_int_equal(go(GREETER, "/", END), RV_FORWARD);
	assert_int_equal(t.pick.delay_ms, 1500);
	assert_int_equal(t.pick.status, 0);
	assert_string_equal(t.pick.flags, "DI");
	assert_int_not_equal(t.pick.token[0], 0);
}

static void fault_delay_fraction_and_zero(void **state)
{
	int delayed = 0;

	load(VS_GREETER(
		"match: [{uri: {prefix: /frac}}]\n"
		"    fault: {delay: {fixedDelay: 10ms, percentage: {value: 0.5}}}\n" TO_GREETER
		"  - fault: {delay: {fixedDelay: 10ms}}\n" TO_GREETER));
	for (int i = 0; i < 20000; i++) {
		go(GREETER, "/frac", END);
		delayed += t.pick.delay_ms == 10;
		route_done_token(t.w, t.pick.token[0], 200);
	}
	assert_in_range(delayed, 60, 140); /* 0.5% of 20000 = 100 */
	for (int i = 0; i < 200; i++) {	   /* no percentage: never */
		go(GREETER, "/", END);
		assert_int_equal(t.pick.delay_ms, 0);
		route_done_token(t.w, t.pick.token[0], 200);
	}
}

static void fault_delay_and_abort_both_drawn(void **state)
{
	/* Envoy aborts when the delay's timer fires: the local reply is delayed. */
	load(VS_GREETER("fault:\n"
			"      delay: {fixedDelay: 2s, percentage: {value: 100}}\n"
			"      abort: {httpStatus: 429, percentage: {value: 100}}\n" TO_GREETER));
	go(GREETER, "/", END);
	assert_int_equal(t.pick.delay_ms, 2000);
	assert_int_equal(t.pick.status, 429);
	assert_string_equal(t.pick.flags, "DI,FI");
}

static void fault_abort_comes_before_no_healthy_upstream(void **state)
{
	load(VS_HEAD "metadata: {name: empty}\nspec:\n  hosts: [empty]\n  http:\n"
		     "  - fault: {abort: {httpStatus: 418, percentage: {value: 100}}}\n"
		     "    route: [{destination: {host: empty}}]\n");
	assert_int_equal(go(EMPTY, "/", END), RV_NO_HEALTHY);
	assert_int_equal(t.pick.status, 418);
	assert_string_equal(t.pick.flags, "FI");
}

/* ---- timeout, retries, connect timeout ---- */

static void timeout_is_the_rules(void **state)
{
	load(VS_GREETER("match: [{uri: {prefix: /slow}}]\n    timeout: 2.5s\n" TO_GREETER
			"  - route: [{destination: {host: greeter}}]\n"));
	go(GREETER, "/slow", END);
	assert_int_equal(t.pick.timeout_ms, 2500);
	go(GREETER, "/fast", END);
	assert_int_equal(t.pick.timeout_ms, 0); /* Istio's default: none */
}

static void default_retry_policy_without_retries(void **state)
{
	load(VS_GREETER("route: [{destination: {host: greeter}}]\n"));
	go(GREETER, "/", END);
	assert_int_equal(t.pick.retries, 2);
	assert_int_equal(t.pick.retry_on, PROXY_RETRY_CONNECT_FAILURE | PROXY_RETRY_STATUS);
	assert_int_equal(t.pick.n_retry_status, 1);
	assert_int_equal(t.pick.retry_status[0], 503);
	assert_int_equal(t.pick.per_try_timeout_ms, 0);
	teardown(NULL);
	load(""); /* no VirtualService: Istio's default route has the same policy */
	go(GREETER, "/", END);
	assert_int_equal(t.pick.retries, 2);
	assert_int_equal(t.pick.retry_status[0], 503);
}

static void zero_attempts_disable_retries(void **state)
{
	load(VS_GREETER("retries: {attempts: 0}\n" TO_GREETER));
	go(GREETER, "/", END);
	assert_int_equal(t.pick.retries, 0);
	assert_int_equal(t.pick.retry_on, 0);
	assert_int_equal(t.pick.n_retry_status, 0);
}

static void attempts_alone_keep_the_default_conditions(void **state)
{
	load(VS_GREETER("retries: {attempts: 5, perTryTimeout: 300ms}\n" TO_GREETER));
	go(GREETER, "/", END);
	assert_int_equal(t.pick.retries, 5);
	assert_int_equal(t.pick.per_try_timeout_ms, 300);
	assert_int_equal(t.pick.retry_on, PROXY_RETRY_CONNECT_FAILURE | PROXY_RETRY_STATUS);
	assert_int_equal(t.pick.n_retry_status, 1);
	assert_int_equal(t.pick.retry_status[0], 503);
}

static void retry_on_names_and_numeric_codes(void **state)
{
	load(VS_GREETER("retries:\n"
			"      attempts: 3\n"
			"      retryOn: 'gateway-error,reset,connect-failure,retriable-4xx,"
			"refused-stream,unavailable,cancelled,425,503'\n" TO_GREETER));
	go(GREETER, "/", END);
	assert_int_equal(t.pick.retries, 3);
	assert_int_equal(t.pick.retry_on, PROXY_RETRY_GATEWAY | PROXY_RETRY_RESET |
						  PROXY_RETRY_CONNECT_FAILURE | PROXY_RETRY_4XX |
						  PROXY_RETRY_STATUS);
	assert_int_equal(t.pick.n_retry_status, 2);
	assert_int_equal(t.pick.retry_status[0], 425);
	assert_int_equal(t.pick.retry_status[1], 503);
}

static void retry_on_without_codes_drops_the_default_503(void **state)
{
	load(VS_GREETER("retries: {attempts: 1, retryOn: '5xx'}\n" TO_GREETER));
	go(GREETER, "/", END);
	assert_int_equal(t.pick.retry_on, PROXY_RETRY_5XX);
	assert_int_equal(t.pick.n_retry_status, 0);
	teardown(NULL);
	load(VS_GREETER("retries: {attempts: 1, retryOn: 'retriable-status-codes'}\n" TO_GREETER));
	go(GREETER, "/", END);
	assert_int_equal(t.pick.retry_on, PROXY_RETRY_STATUS);
	assert_int_equal(t.pick.n_retry_status, 0);
}

static void connect_timeout_from_the_destination_rule(void **state)
{
	load(VS_GREETER("route: [{destination: {host: greeter}}]\n") "---\n" DR_HEAD
								     "metadata: {name: greeter}\n"
								     "spec:\n"
								     "  host: greeter\n"
								     "  trafficPolicy:\n"
								     "    connectionPool: {tcp: "
								     "{connectTimeout: 250ms}}\n");
	go(GREETER, "/", END);
	assert_int_equal(t.pick.connect_timeout_ms, 250);
}

static void connection_pool_http_settings_reach_the_pick(void **state)
{
	load(VS_GREETER("route: [{destination: {host: greeter}}]\n") "---\n" DR_HEAD
								     "metadata: {name: greeter}\n"
								     "spec:\n"
								     "  host: greeter\n"
								     "  trafficPolicy:\n"
								     "    connectionPool: {http: "
								     "{maxRequestsPerConnection: "
								     "3, idleTimeout: 2s}}\n");
	go(GREETER, "/", END);
	assert_int_equal(t.pick.max_requests_per_conn, 3);
	assert_int_equal(t.pick.idle_timeout_ms, 2000);
}

/* Istio's circuit-breaking task: maxConnections 1 + http1MaxPendingRequests 1. */
static void connection_pool_overflow_is_refused_until_released(void **state)
{
	uint64_t tok[3];

	load(VS_GREETER(
		"route: [{destination: {host: greeter}}]\n") "---\n" DR_HEAD
							     "metadata: {name: greeter}\n"
							     "spec:\n"
							     "  host: greeter\n"
							     "  trafficPolicy:\n"
							     "    connectionPool:\n"
							     "      tcp: {maxConnections: 1}\n"
							     "      http: "
							     "{http1MaxPendingRequests: 1, "
							     "maxRequestsPerConnection: 1}\n");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(go(GREETER, "/", END), RV_FORWARD);
		tok[i] = t.pick.token[0];
		assert_true(tok[i] != 0);
	}
	assert_true(route_admit(t.rt, tok[0], false));
	assert_true(route_admit(t.rt, tok[1], false));
	assert_false(route_admit(t.rt, tok[2], false)); /* 503 UO */
	assert_true(route_admit(t.rt, tok[2], true));	/* a retry of an admitted request */
	route_release(t.rt, tok[2]);
	route_release(t.rt, tok[0]);
	assert_true(route_admit(t.rt, tok[2], false)); /* a slot came free */
	assert_false(route_admit(t.rt, tok[0], false));
	/* http2MaxRequests caps it lower still; no connectionPool: no limit. */
	teardown(NULL);
	load(VS_GREETER("route: [{destination: {host: greeter}}]\n") "---\n" DR_HEAD
								     "metadata: {name: greeter}\n"
								     "spec:\n"
								     "  host: greeter\n"
								     "  trafficPolicy:\n"
								     "    connectionPool: {http: "
								     "{http2MaxRequests: 1}}\n");
	go(GREETER, "/", END);
	assert_true(route_admit(t.rt, t.pick.token[0], false));
	assert_false(route_admit(t.rt, t.pick.token[0], false));
	teardown(NULL);
	load(VS_GREETER("route: [{destination: {host: greeter}}]\n"));
	go(GREETER, "/", END);
	for (int i = 0; i < 1000; i++)
		assert_true(route_admit(t.rt, t.pick.token[0], false));
}

/* ---- mirrors ---- */

static void mirror_goes_to_the_mirror_cluster_with_a_shadow_host(void **state)
{
	load(VS_GREETER("route: [{destination: {host: greeter}}]\n"
			"    mirror: {host: other}\n"));
	go(GREETER, "/x", "Host: greeter:3000", END);
	assert_int_equal(t.pick.n_mirrors, 1);
	assert_string_equal(ep_str(&t.pick.mirrors[0].ep), "10.0.3.1:8080");
	assert_string_equal(t.pick.mirrors[0].authority, "greeter-shadow:3000");
	go(GREETER, "/x", "Host: greeter.default.svc", END);
	assert_string_equal(t.pick.mirrors[0].authority, "greeter.default.svc-shadow");
	/* No Host (HTTP/1.0 allows it) or an empty one: nothing to shadow, no copy. */
	go(GREETER, "/x", END);
	assert_int_equal(t.pick.n_mirrors, 0);
	go(GREETER, "/x", "Host: ", END);
	assert_int_equal(t.pick.n_mirrors, 0);
}

static void mirror_percentage_zero_never_unset_always(void **state)
{
	int mirrored = 0;

	load(VS_GREETER("route: [{destination: {host: greeter}}]\n"
			"    mirror: {host: other}\n"
			"    mirrorPercentage: {value: 0}\n"));
	for (int i = 0; i < 100; i++) {
		go(GREETER, "/", "Host: greeter", END);
		mirrored += t.pick.n_mirrors;
	}
	assert_int_equal(mirrored, 0);
	teardown(NULL);
	load(VS_GREETER("route: [{destination: {host: greeter}}]\n"
			"    mirrors:\n"
			"    - destination: {host: other}\n"
			"    - destination: {host: greeter, subset: v2}\n"
			"      percentage: {value: 25}\n"
			"    - destination: {host: empty}\n"
			"---\n" DR_HEAD "metadata: {name: greeter}\n"
			"spec:\n"
			"  host: greeter\n"
			"  subsets: [{name: v2, labels: {version: v2}}]\n"));
	mirrored = 0;
	for (int i = 0; i < 2000; i++) {
		go(GREETER, "/", "Host: greeter", END);
		assert_true(t.pick.n_mirrors >= 1);
		assert_string_equal(ep_str(&t.pick.mirrors[0].ep), "10.0.3.1:8080");
		if (t.pick.n_mirrors == 2) {
			mirrored++;
			assert_string_equal(ep_str(&t.pick.mirrors[1].ep), "10.0.1.3:8080");
		}
		assert_true(t.pick.n_mirrors <= 2); /* empty has no endpoint: skipped */
		route_done_token(t.w, t.pick.token[0], 200);
	}
	assert_in_range(mirrored, 440, 560);
}

static void mirror_authority_follows_the_host_rewrite(void **state)
{
	load(VS_GREETER("rewrite: {authority: 'api.example:8443'}\n"
			"    route: [{destination: {host: greeter}}]\n"
			"    mirror: {host: other}\n"));
	go(GREETER, "/", "Host: greeter", END);
	assert_string_equal(t.pick.mirrors[0].authority, "api.example-shadow:8443");
}

/* ---- CORS ---- */

#define CORS_RULE                                                                                  \
	"corsPolicy:\n"                                                                            \
	"      allowOrigins: [{exact: 'https://a.example'}, {regex: "                              \
	"'https://.*\\.b\\.example'}]\n"                                                           \
	"      allowMethods: [GET, POST]\n"                                                        \
	"      allowHeaders: [x-token, content-type]\n"                                            \
	"      exposeHeaders: [x-trace]\n"                                                         \
	"      maxAge: 24h\n"                                                                      \
	"      allowCredentials: true\n" TO_GREETER

static void cors_preflight_allowed_is_answered_locally(void **state)
{
	load(VS_GREETER(CORS_RULE));
	assert_int_equal(go(GREETER, "/api", ":method: OPTIONS", "Origin: https://x.b.example",
			    "Access-Control-Request-Method: POST", END),
			 RV_FORWARD);
	assert_int_equal(t.pick.status, 200);
	assert_null(t.pick.body);
	assert_int_equal(t.pick.token[0], 0);
	assert_string_equal(str(t.pick.headers),
			    "access-control-allow-origin: https://x.b.example\r\n"
			    "access-control-allow-credentials: true\r\n"
			    "access-control-allow-methods: GET,POST\r\n"
			    "access-control-allow-headers: x-token,content-type\r\n"
			    "access-control-max-age: 86400\r\n");
}

static void cors_preflight_refused_origin_is_forwarded_without_cors_headers(void **state)
{
	load(VS_GREETER(CORS_RULE));
	go(GREETER, "/api", ":method: OPTIONS", "Origin: https://evil.example",
	   "Access-Control-Request-Method: POST", END);
	assert_int_equal(t.pick.status, 0);
	assert_null(t.pick.headers);
	assert_null(t.pick.rsp_add);
}

static void cors_simple_request_gets_origin_and_expose_headers(void **state)
{
	load(VS_GREETER(CORS_RULE));
	go(GREETER, "/api", "Origin: https://a.example", END);
	assert_int_equal(t.pick.status, 0);
	assert_string_equal(str(t.pick.rsp_drop),
			    "access-control-allow-origin\naccess-control-allow-credentials\n"
			    "access-control-expose-headers\n");
	assert_string_equal(str(t.pick.rsp_add),
			    "access-control-allow-origin: https://a.example\r\n"
			    "access-control-allow-credentials: true\r\n"
			    "access-control-expose-headers: x-trace\r\n");
	/* OPTIONS without Access-Control-Request-Method is no preflight */
	go(GREETER, "/api", ":method: OPTIONS", "Origin: https://a.example", END);
	assert_int_equal(t.pick.status, 0);
	assert_non_null(t.pick.rsp_add);
	go(GREETER, "/api", "Origin: https://a.example.evil", END);
	assert_null(t.pick.rsp_add);
	go(GREETER, "/api", END);
	assert_null(t.pick.rsp_add);
}

static void cors_legacy_allow_origin_star_and_echoed_headers(void **state)
{
	load(VS_GREETER("corsPolicy: {allowOrigin: ['*'], allowHeaders: ['*']}\n" TO_GREETER));
	go(GREETER, "/", ":method: OPTIONS", "Origin: https://any.example",
	   "Access-Control-Request-Method: DELETE", "Access-Control-Request-Headers: x-a", END);
	assert_int_equal(t.pick.status, 200);
	assert_string_equal(str(t.pick.headers),
			    "access-control-allow-origin: https://any.example\r\n"
			    "access-control-allow-headers: x-a\r\n");
	teardown(NULL);
	load(VS_GREETER("corsPolicy: {allowOrigin: ['https://a.example']}\n" TO_GREETER));
	go(GREETER, "/", ":method: OPTIONS", "Origin: https://a.example",
	   "Access-Control-Request-Method: PUT", END);
	assert_int_equal(t.pick.status, 200);
	go(GREETER, "/", ":method: OPTIONS", "Origin: https://A.example",
	   "Access-Control-Request-Method: PUT", END);
	assert_int_equal(t.pick.status, 0);
}

static void fault_abort_comes_before_cors(void **state)
{
	load(VS_GREETER("fault: {abort: {httpStatus: 503, percentage: {value: 100}}}\n"
			"    " CORS_RULE));
	go(GREETER, "/", ":method: OPTIONS", "Origin: https://a.example",
	   "Access-Control-Request-Method: GET", END);
	assert_int_equal(t.pick.status, 503);
	assert_string_equal(t.pick.flags, "FI");
	assert_null(t.pick.headers);
}

/* ---- Set-Cookie ---- */

static void hash_cookie_with_ttl_is_set_on_the_response(void **state)
{
	load(VS_GREETER(
		"headers: {response: {add: {x-a: b}}}\n" TO_GREETER "---\n" DR_HEAD
		"metadata: {name: greeter}\n"
		"spec:\n"
		"  host: greeter\n"
		"  trafficPolicy:\n"
		"    loadBalancer: {consistentHash: {httpCookie: {name: sticky, ttl: 60s}}}\n"));
	go(GREETER, "/", END);
	assert_non_null(t.res.set_cookie);
	assert_non_null(t.pick.rsp_add);
	assert_non_null(strstr(t.pick.rsp_add, "x-a: b\r\nset-cookie: sticky=\""));
	assert_non_null(strstr(t.pick.rsp_add, "; Max-Age=60"));
	go(GREETER, "/", "Cookie: sticky=abc", END);
	assert_string_equal(str(t.pick.rsp_add), "x-a: b\r\n");
}

/* ---- repick ---- */

static void repick_avoids_the_hosts_tried(void **state)
{
	uint64_t tok, tried = 0;
	struct sockaddr_in ep, first;

	load(DR_HEAD "metadata: {name: greeter}\nspec:\n  host: greeter\n"
		     "  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}\n");
	for (int i = 0; i < 50; i++) {
		go(GREETER, "/", END);
		first = t.pick.ep;
		tok = t.pick.token[0];
		tried = 0;
		route_done_token(t.w, tok, 503);
		assert_int_equal(route_repick(t.rt, t.w, &tok, &tried, NULL, &ep), 0);
		assert_int_not_equal(ep.sin_addr.s_addr, first.sin_addr.s_addr);
		assert_int_not_equal(tok, t.pick.token[0]);
		route_done_token(t.w, tok, 503);
		first = ep;
		assert_int_equal(route_repick(t.rt, t.w, &tok, &tried, NULL, &ep), 0);
		assert_int_not_equal(ep.sin_addr.s_addr, first.sin_addr.s_addr);
		assert_int_not_equal(ep.sin_addr.s_addr, t.pick.ep.sin_addr.s_addr);
		route_done_token(t.w, tok, 200);
	}
}

static void repick_with_one_host_or_a_hash_stays(void **state)
{
	uint64_t tok, tried = 0, h;
	struct sockaddr_in ep;

	load(DR_HEAD
	     "metadata: {name: greeter}\nspec:\n  host: greeter\n"
	     "  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}\n");
	go(OTHER, "/", END);
	tok = t.pick.token[0];
	route_done_token(t.w, tok, 0);
	assert_int_equal(route_repick(t.rt, t.w, &tok, &tried, NULL, &ep), 0);
	assert_string_equal(ep_str(&ep), "10.0.3.1:8080");
	route_done_token(t.w, tok, 200);
	for (int i = 0; i < 20; i++) {
		go(GREETER, "/", "x-user: alice", END);
		assert_true(t.res.has_hash);
		tok = t.pick.token[0];
		h = t.res.hash;
		tried = 0;
		route_done_token(t.w, tok, 503);
		assert_int_equal(route_repick(t.rt, t.w, &tok, &tried, &h, &ep), 0);
		assert_int_equal(ep.sin_addr.s_addr, t.pick.ep.sin_addr.s_addr);
		route_done_token(t.w, tok, 200);
	}
}

static void repick_refuses_tokens_it_cannot_use(void **state)
{
	struct route_table *other;
	struct route_worker *w2;
	uint64_t tok = 0, tried = 0;
	struct sockaddr_in ep;

	load("");
	assert_int_equal(route_repick(t.rt, t.w, &tok, &tried, NULL, &ep), -EINVAL);
	go(GREETER, "/", END);
	tok = t.pick.token[0];
	assert_int_equal(route_table_build(t.cfg, &other), 0);
	w2 = route_worker_new(other, 1);
	assert_non_null(w2);
	assert_int_equal(route_repick(other, w2, &tok, &tried, NULL, &ep), -ESTALE);
	route_worker_free(w2);
	route_table_free(other);
}

static void passthrough_and_default_route_keep_the_pick(void **state)
{
	load(DR_HEAD "metadata: {name: greeter}\nspec:\n  host: greeter\n"
		     "  trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}\n");
	assert_int_equal(go(GREETER, "/a?b", END), RV_PASSTHROUGH);
	assert_null(t.pick.target);
	assert_int_equal(t.pick.status, 0);
	assert_int_equal(t.pick.retries, 2);
	assert_string_equal(ep_str(&t.pick.ep), "10.96.0.10:3000");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(prefix_rewrite_replaces_the_prefix_and_keeps_the_query,
					  teardown),
		cmocka_unit_test_teardown(prefix_rewrite_of_the_entry_that_matched, teardown),
		cmocka_unit_test_teardown(ignore_uri_case_prefix_rewrite_cuts_the_prefix_length,
					  teardown),
		cmocka_unit_test_teardown(exact_match_rewrite_replaces_the_whole_path, teardown),
		cmocka_unit_test_teardown(regex_match_rewrite_replaces_the_whole_path, teardown),
		cmocka_unit_test_teardown(rewrite_without_uri_match_replaces_the_leading_slash,
					  teardown),
		cmocka_unit_test_teardown(
			uri_regex_rewrite_substitutes_captures_and_keeps_the_query, teardown),
		cmocka_unit_test_teardown(uri_regex_rewrite_is_global, teardown),
		cmocka_unit_test_teardown(no_rewrite_leaves_the_target, teardown),
		cmocka_unit_test_teardown(authority_rewrite_replaces_host, teardown),
		cmocka_unit_test_teardown(
			rewrite_authority_beats_header_host_which_beats_the_destination, teardown),
		cmocka_unit_test_teardown(single_destination_headers_follow_the_rule_and_win,
					  teardown),
		cmocka_unit_test_teardown(weighted_destination_headers_apply_before_the_rule,
					  teardown),
		cmocka_unit_test_teardown(response_set_add_remove, teardown),
		cmocka_unit_test_teardown(fault_abort_always, teardown),
		cmocka_unit_test_teardown(fault_abort_never_at_zero_or_unset, teardown),
		cmocka_unit_test_teardown(fault_abort_half_of_the_time, teardown),
		cmocka_unit_test_teardown(fault_delay_then_forward, teardown),
		cmocka_unit_test_teardown(fault_delay_fraction_and_zero, teardown),
		cmocka_unit_test_teardown(fault_delay_and_abort_both_drawn, teardown),
		cmocka_unit_test_teardown(fault_abort_comes_before_no_healthy_upstream, teardown),
		cmocka_unit_test_teardown(timeout_is_the_rules, teardown),
		cmocka_unit_test_teardown(default_retry_policy_without_retries, teardown),
		cmocka_unit_test_teardown(zero_attempts_disable_retries, teardown),
		cmocka_unit_test_teardown(attempts_alone_keep_the_default_conditions, teardown),
		cmocka_unit_test_teardown(retry_on_names_and_numeric_codes, teardown),
		cmocka_unit_test_teardown(retry_on_without_codes_drops_the_default_503, teardown),
		cmocka_unit_test_teardown(connect_timeout_from_the_destination_rule, teardown),
		cmocka_unit_test_teardown(connection_pool_http_settings_reach_the_pick, teardown),
		cmocka_unit_test_teardown(connection_pool_overflow_is_refused_until_released,
					  teardown),
		cmocka_unit_test_teardown(mirror_goes_to_the_mirror_cluster_with_a_shadow_host,
					  teardown),
		cmocka_unit_test_teardown(mirror_percentage_zero_never_unset_always, teardown),
		cmocka_unit_test_teardown(mirror_authority_follows_the_host_rewrite, teardown),
		cmocka_unit_test_teardown(cors_preflight_allowed_is_answered_locally, teardown),
		cmocka_unit_test_teardown(
			cors_preflight_refused_origin_is_forwarded_without_cors_headers, teardown),
		cmocka_unit_test_teardown(cors_simple_request_gets_origin_and_expose_headers,
					  teardown),
		cmocka_unit_test_teardown(cors_legacy_allow_origin_star_and_echoed_headers,
					  teardown),
		cmocka_unit_test_teardown(fault_abort_comes_before_cors, teardown),
		cmocka_unit_test_teardown(hash_cookie_with_ttl_is_set_on_the_response, teardown),
		cmocka_unit_test_teardown(repick_avoids_the_hosts_tried, teardown),
		cmocka_unit_test_teardown(repick_with_one_host_or_a_hash_stays, teardown),
		cmocka_unit_test_teardown(repick_refuses_tokens_it_cannot_use, teardown),
		cmocka_unit_test_teardown(passthrough_and_default_route_keep_the_pick, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
