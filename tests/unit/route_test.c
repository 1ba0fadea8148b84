// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The router against Istio configs: every test loads tests/unit/testdata/route/base.yaml
 * (services, pods, clients in three namespaces) plus its own VirtualServices and
 * DestinationRules, then checks where requests go, the way a user would: which
 * pod answered, which rule matched, what Envoy flag a refusal carries.
 *
 *   route_test           run the tests
 *   route_test --bench   print ns per route_select() with 10, 1000 and 10000 rules
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
#include <time.h>
#include <cmocka.h>

#include "config.h"
#include "istio.h"
#include "log.h"
#include "route.h"
#include "route_base.h"

#define CLIENT	 "10.0.9.1"   /* pod client, namespace default, app=client tier=front */
#define SHOPPER	 "10.0.9.2"   /* pod shopper, namespace shop */
#define OPS	 "10.0.9.3"   /* pod ops-tool, namespace ops */
#define STRANGER "10.0.99.99" /* no pod */

#define GREETER	    "10.96.0.10:3000" /* greeter: greeter-v1-a, greeter-v1-b, greeter-v2-a */
#define MULTI_HTTP  "10.96.0.20:80"   /* multi: ports 80 (http) and 9000 (admin) */
#define MULTI_ADMIN "10.96.0.20:9000"
#define OTHER	    "10.96.0.30:80" /* other: other-a */
#define EMPTY	    "10.96.0.40:80" /* empty: no endpoint */
#define SLEEPY	    "10.96.0.50:80" /* sleepy: one endpoint, not ready */
#define WEB	    "10.96.1.10:80" /* shop/web: web-v1, web-v2 */

#define VS_HEAD "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
#define DR_HEAD "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"

#define MAX_HDRS 16
#define END	 ((const char *)NULL) /* ends the header list of go() and hit() */

/* The config, table and worker of the running test, and its last result. */
static struct {
	struct config *cfg;
	struct route_table *rt;
	struct route_worker *w;
	struct route_result res;
	uint64_t now;
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

/* Loads the base topology plus @yaml (documents), builds the table and a worker. */
static void load(const char *yaml)
{
	route_base_load(yaml, &t.cfg);
	assert_int_equal(route_table_build(t.cfg, &t.rt), 0);
	t.w = route_worker_new(t.rt, 1);
	assert_non_null(t.w);
	t.now = 1000000;
	route_worker_set_now(t.w, t.now);
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
 * Routes one request from @client to @dst ("ip:port") for @url; the variadic
 * part is NULL-terminated "Name: value" header lines, ":method: POST" sets the
 * method (GET otherwise). Leaves the result in t.res.
 */
static enum route_verdict vgo(const char *client, const char *dst, const char *url, va_list ap)
{
	struct http_hdr hdrs[MAX_HDRS];
	struct http_req req = {.method = "GET", .url = url, .url_len = strlen(url), .hdrs = hdrs};
	struct route_req rq = {.req = &req};
	const char *h;

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
	req.method_len = strlen(req.method);
	parse_addr(client, &rq.src_ip, NULL);
	parse_addr(dst, &rq.dst_ip, &rq.dst_port);
	assert_int_equal(route_select(t.rt, t.w, &rq, &t.res), 0);
	return t.res.verdict;
}

static enum route_verdict go(const char *client, const char *dst, const char *url, ...)
{
	enum route_verdict v;
	va_list ap;

	va_start(ap, url);
	v = vgo(client, dst, url, ap);
	va_end(ap);
	return v;
}

/* The pod that got the last request, "-" for none. */
static const char *pod(void)
{
	return t.res.ep_pod ? t.res.ep_pod->name : "-";
}

/* Routes and finishes with 200 at once; returns the pod. */
static const char *go_pod(const char *client, const char *dst, const char *url)
{
	go(client, dst, url, END);
	assert_int_equal(t.res.verdict, RV_FORWARD);
	route_done(t.w, &t.res, 200);
	return pod();
}

/* A VirtualService for greeter whose rule "hit" (-> other) has the match list @match (YAML items
 * indented by 4) and whose catch-all "miss" goes to greeter. */
static void load_match(const char *match)
{
	char *y;

	assert_true(asprintf(&y,
			     VS_HEAD "metadata: {name: greeter}\n"
				     "spec:\n"
				     "  hosts: [greeter]\n"
				     "  http:\n"
				     "  - name: hit\n"
				     "    match:\n%s"
				     "    route: [{destination: {host: other}}]\n"
				     "  - name: miss\n"
				     "    route: [{destination: {host: greeter}}]\n",
			     match) > 0);
	load(y);
	free(y);
}

/* Whether a request from CLIENT to greeter for @url with the headers that follow hits rule 0. */
static bool hit(const char *url, ...)
{
	va_list ap;

	va_start(ap, url);
	vgo(CLIENT, GREETER, url, ap);
	va_end(ap);
	assert_int_equal(t.res.verdict, RV_FORWARD);
	return t.res.rule_index == 0;
}

/* ---- matchers ---- */

static void uri_exact_ignores_the_query_string(void **state)
{
	load_match("    - uri: {exact: /hello}\n");
	assert_true(hit("/hello", END));
	assert_true(hit("/hello?name=x", END));
	assert_false(hit("/hello/", END));
	assert_false(hit("/Hello", END));
	assert_false(hit("/hell", END));
}

static void uri_prefix_is_a_plain_string_prefix(void **state)
{
	load_match("    - uri: {prefix: /api}\n");
	assert_true(hit("/api", END));
	assert_true(hit("/apiv2", END)); /* not segment-aware */
	assert_true(hit("/api/users?x=1", END));
	assert_false(hit("/ap", END));
	assert_false(hit("/v1/api", END));
}

static void uri_regex_must_match_the_whole_path(void **state)
{
	load_match("    - uri: {regex: '/users/[0-9]+'}\n");
	assert_true(hit("/users/42", END));
	assert_true(hit("/users/42?tab=2", END));
	assert_false(hit("/users/42/posts", END));
	assert_false(hit("/v1/users/42", END));
	assert_false(hit("/users/", END));
}

static void ignore_uri_case_applies_to_exact_and_prefix(void **state)
{
	load_match("    - uri: {exact: /Hello}\n      ignoreUriCase: true\n"
		   "    - uri: {prefix: /API/}\n      ignoreUriCase: true\n");
	assert_true(hit("/hELLO", END));
	assert_true(hit("/api/x", END));
	assert_true(hit("/Api/x", END));
	assert_false(hit("/hello2", END));
}

static void ignore_uri_case_leaves_regex_case_sensitive(void **state)
{
	/* Envoy's case_sensitive does not apply to safe_regex paths. */
	load_match("    - uri: {regex: '/Hello'}\n      ignoreUriCase: true\n");
	assert_true(hit("/Hello", END));
	assert_false(hit("/hello", END));
}

static void method_exact_prefix_and_regex(void **state)
{
	load_match("    - method: {exact: POST}\n"
		   "    - method: {prefix: PA}\n"
		   "    - method: {regex: 'DEL.*'}\n");
	assert_true(hit("/", ":method: POST", END));
	assert_true(hit("/", ":method: PATCH", END));
	assert_true(hit("/", ":method: DELETE", END));
	assert_false(hit("/", END));
	assert_false(hit("/", ":method: post", END));
}

static void authority_is_the_host_header_as_sent(void **state)
{
	load_match("    - authority: {exact: 'greeter:3000'}\n");
	assert_true(hit("/", "Host: greeter:3000", END));
	assert_false(hit("/", "Host: greeter", END));
	assert_false(hit("/", END));
	teardown(NULL);
	load_match("    - authority: {prefix: greeter}\n"
		   "    - authority: {regex: 'web\\.shop(:[0-9]+)?'}\n");
	assert_true(hit("/", "Host: greeter", END));
	assert_true(hit("/", "host: greeter.default.svc.cluster.local:3000", END));
	assert_true(hit("/", "Host: web.shop:80", END));
	assert_false(hit("/", "Host: web.shop.svc", END));
	/* absolute-form target: the authority is the target's */
	assert_true(hit("http://greeter:3000/x", "Host: elsewhere", END));
}

/* Hosts without a VIP (ServiceEntries without addresses), reached through a port captured
 * whatever the address: the Host header names the service; an unknown host goes to its
 * original destination, or gets 502 under REGISTRY_ONLY. */
static void hosts_without_vip_route_by_host_header(void **state)
{
#define SE(name, host, ep)                                                                         \
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"                                 \
	"metadata: {name: " name ", namespace: default}\n"                                         \
	"spec:\n  hosts: ['" host "']\n  resolution: STATIC\n"                                     \
	"  ports: [{number: 8080, name: http, protocol: HTTP}]\n"                                  \
	"  endpoints: [{address: " ep "}]\n---\n"
	load(SE("ext", "ext.example.com", "192.0.2.1") SE("wild", "*.wild.example.com", "192.0.2.2")
		     SE("any", "*.example.com", "192.0.2.3"));
#undef SE
	assert_int_equal(go(CLIENT, "203.0.113.9:8080", "/", "Host: ext.example.com", END),
			 RV_FORWARD);
	assert_string_equal(inet_ntoa(t.res.ep.sin_addr), "192.0.2.1");
	assert_int_equal(ntohs(t.res.ep.sin_port), 8080);
	assert_string_equal(t.res.cluster, "outbound|8080||ext.example.com");
	route_done(t.w, &t.res, 200);
	/* Case and port do not matter; the longest wildcard wins. */
	assert_int_equal(go(CLIENT, "203.0.113.9:8080", "/", "Host: A.Wild.Example.com:8080", END),
			 RV_FORWARD);
	assert_string_equal(inet_ntoa(t.res.ep.sin_addr), "192.0.2.2");
	route_done(t.w, &t.res, 200);
	assert_int_equal(go(CLIENT, "203.0.113.9:8080", "/", "Host: b.example.com", END),
			 RV_FORWARD);
	assert_string_equal(inet_ntoa(t.res.ep.sin_addr), "192.0.2.3");
	route_done(t.w, &t.res, 200);
	/* Nobody declares the host, or the host does not serve that port: where it was headed. */
	assert_int_equal(go(CLIENT, "203.0.113.9:8080", "/", "Host: nobody.example.org", END),
			 RV_PASSTHROUGH);
	assert_string_equal(inet_ntoa(t.res.ep.sin_addr), "203.0.113.9");
	assert_int_equal(ntohs(t.res.ep.sin_port), 8080);
	assert_string_equal(t.res.cluster, "PassthroughCluster");
	assert_int_equal(go(CLIENT, "203.0.113.9:9999", "/", "Host: ext.example.com", END),
			 RV_PASSTHROUGH);
	assert_int_equal(go(CLIENT, "203.0.113.9:8080", "/", END), RV_PASSTHROUGH);
	/* REGISTRY_ONLY (the mesh's here): Istio's BlackHoleCluster. */
	t.cfg->mesh_outbound = OUTBOUND_REGISTRY_ONLY;
	assert_int_equal(go(CLIENT, "203.0.113.9:8080", "/", "Host: nobody.example.org", END),
			 RV_BLACKHOLE);
	assert_int_equal(route_verdict_status(RV_BLACKHOLE), 502);
	assert_string_equal(t.res.cluster, "BlackHoleCluster");
	assert_int_equal(go(STRANGER, "203.0.113.9:8080", "/", "Host: nobody.example.org", END),
			 RV_BLACKHOLE);
	assert_int_equal(go(CLIENT, "203.0.113.9:8080", "/", "Host: ext.example.com", END),
			 RV_FORWARD);
	route_done(t.w, &t.res, 200);
}

/* A Sidecar egress listener bound to 127.0.0.1:8080 (the seed's): the client's loopback port
 * reaches the listener's hosts; any other loopback destination is never passed through. */
static void egress_listener_bind_routes_to_its_hosts(void **state)
{
	load("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
	     "metadata: {name: api, namespace: default}\n"
	     "spec: {hosts: [my-api.example.com], resolution: STATIC, ports: [{number: 3000, "
	     "protocol: HTTP}], endpoints: [{address: 192.0.2.7}]}\n"
	     "---\n"
	     "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
	     "metadata: {name: api2, namespace: default}\n"
	     "spec: {hosts: [other-api.example.com], resolution: STATIC, ports: [{number: 3000, "
	     "protocol: HTTP}], endpoints: [{address: 192.0.2.8}]}\n"
	     "---\n"
	     "apiVersion: networking.istio.io/v1\nkind: Sidecar\n"
	     "metadata: {name: bind, namespace: default}\n"
	     "spec:\n"
	     "  workloadSelector: {labels: {app: client}}\n"
	     "  egress:\n"
	     "  - port: {number: 8080, protocol: HTTP}\n"
	     "    bind: 127.0.0.1\n"
	     "    hosts: ['*/my-api.example.com']\n"
	     "  - port: {number: 8081, protocol: HTTP}\n"
	     "    bind: 127.0.0.1\n"
	     "    hosts: ['*/*.example.com']\n"
	     "  - hosts: ['*/*']\n");
	/* One host: whatever the Host header says; the service's only port. */
	assert_int_equal(go(CLIENT, "127.0.0.1:8080", "/", "Host: 127.0.0.1:8080", END),
			 RV_FORWARD);
	assert_string_equal(inet_ntoa(t.res.ep.sin_addr), "192.0.2.7");
	assert_int_equal(ntohs(t.res.ep.sin_port), 3000);
	route_done(t.w, &t.res, 200);
	/* Several hosts: the Host header chooses; none named: no service. */
	assert_int_equal(go(CLIENT, "127.0.0.1:8081", "/", "Host: other-api.example.com", END),
			 RV_FORWARD);
	assert_string_equal(inet_ntoa(t.res.ep.sin_addr), "192.0.2.8");
	route_done(t.w, &t.res, 200);
	assert_int_equal(go(CLIENT, "127.0.0.1:8081", "/", "Host: localhost:8081", END),
			 RV_BLACKHOLE);
	/* Another pod (no such listener), another loopback port: never the agent's loopback. */
	assert_int_equal(go(SHOPPER, "127.0.0.1:8080", "/", END), RV_BLACKHOLE);
	assert_int_equal(go(CLIENT, "127.0.0.1:9999", "/", END), RV_BLACKHOLE);
}

static void scheme_is_http_on_plain_connections(void **state)
{
	load_match("    - scheme: {exact: http}\n");
	assert_true(hit("/", END));
	teardown(NULL);
	load_match("    - scheme: {exact: https}\n");
	assert_false(hit("/", END));
	teardown(NULL);
	load_match("    - scheme: {prefix: ht}\n");
	assert_true(hit("/", END));
	teardown(NULL);
	load_match("    - scheme: {regex: 'https?'}\n");
	assert_true(hit("/", END));
}

static void header_names_ignore_case_values_do_not(void **state)
{
	load_match("    - headers: {x-user: {exact: Alice}}\n");
	assert_true(hit("/", "X-User: Alice", END));
	assert_true(hit("/", "x-user: Alice", END));
	assert_false(hit("/", "X-User: alice", END));
	assert_false(hit("/", "X-Userx: Alice", END));
	assert_false(hit("/", END));
}

static void header_prefix_and_regex(void **state)
{
	load_match("    - headers: {user-agent: {prefix: curl/}}\n"
		   "    - headers: {x-version: {regex: 'v[0-9]+'}}\n");
	assert_true(hit("/", "User-Agent: curl/8.0", END));
	assert_true(hit("/", "X-Version: v12", END));
	assert_false(hit("/", "X-Version: v12b", END));
	assert_false(hit("/", "User-Agent: Mozilla curl/8.0", END));
}

static void repeated_headers_are_joined_with_commas(void **state)
{
	load_match("    - headers: {x-tag: {exact: 'a,b'}}\n");
	assert_true(hit("/", "X-Tag: a", "X-Tag: b", END));
	assert_true(hit("/", "X-Tag: a", "Other: 1", "x-tag: b", END));
	assert_false(hit("/", "X-Tag: a", END));
	assert_false(hit("/", "X-Tag: b", "X-Tag: a", END));
}

static void header_empty_match_means_present(void **state)
{
	load_match("    - headers: {x-debug: {}}\n");
	assert_true(hit("/", "X-Debug: 1", END));
	assert_true(hit("/", "X-Debug: ", END));
	assert_false(hit("/", END));
}

static void without_headers_treats_a_missing_header_as_empty(void **state)
{
	load_match("    - withoutHeaders: {x-env: {exact: prod}}\n");
	assert_true(hit("/", END));
	assert_true(hit("/", "X-Env: dev", END));
	assert_false(hit("/", "X-Env: prod", END));
	teardown(NULL);
	/* "" matches .*: a request without the header does not pass */
	load_match("    - withoutHeaders: {x-env: {regex: '.*'}}\n");
	assert_false(hit("/", END));
	assert_false(hit("/", "X-Env: x", END));
}

static void without_headers_present_match_means_absent(void **state)
{
	load_match("    - withoutHeaders: {x-canary: {}}\n");
	assert_true(hit("/", END));
	assert_false(hit("/", "X-Canary: 1", END));
}

static void query_params_exact_regex_prefix_and_present(void **state)
{
	load_match("    - queryParams: {v: {exact: '2'}}\n"
		   "    - queryParams: {id: {regex: '[0-9]+'}}\n"
		   "    - queryParams: {lang: {prefix: en}}\n"
		   "    - queryParams: {debug: {}}\n");
	assert_true(hit("/?v=2", END));
	assert_true(hit("/x?a=1&v=2&b", END));
	assert_false(hit("/?v=22", END));
	assert_false(hit("/v=2", END));
	assert_true(hit("/?id=42", END));
	assert_false(hit("/?id=42a", END));
	assert_true(hit("/?lang=en-GB", END));
	assert_true(hit("/?debug", END));
	assert_true(hit("/?debug=", END));
	assert_false(hit("/?debugx=1", END));
	assert_false(hit("/", END));
}

static void query_params_use_the_first_raw_value(void **state)
{
	load_match("    - queryParams: {q: {exact: 'a%20b'}}\n"
		   "    - queryParams: {v: {exact: '1'}}\n"
		   "    - queryParams: {flag: {exact: ''}}\n");
	assert_true(hit("/?q=a%20b", END)); /* not percent-decoded */
	assert_false(hit("/?q=a b", END));
	assert_true(hit("/?v=1&v=2", END));
	assert_false(hit("/?v=2&v=1", END));
	assert_true(hit("/?flag", END));
}

static void port_match_is_the_destination_port(void **state)
{
	load(VS_HEAD "metadata: {name: multi}\n"
		     "spec:\n"
		     "  hosts: [multi]\n"
		     "  http:\n"
		     "  - match: [{port: 9000}]\n"
		     "    route: [{destination: {host: other}}]\n"
		     "  - route: [{destination: {host: multi}}]\n");
	go(CLIENT, MULTI_ADMIN, "/", END);
	assert_int_equal(t.res.rule_index, 0);
	assert_string_equal(pod(), "other-a");
	go(CLIENT, MULTI_HTTP, "/", END);
	assert_int_equal(t.res.rule_index, 1);
	assert_string_equal(pod(), "multi-a");
}

static void source_labels_are_the_client_pod_labels(void **state)
{
	load_match("    - sourceLabels: {app: client}\n"
		   "    - sourceLabels: {app: shopper, tier: back}\n");
	assert_true(hit("/", END));
	go(SHOPPER, GREETER, "/", END);
	assert_int_equal(t.res.rule_index, 1);
	go(STRANGER, GREETER, "/", END);
	assert_int_equal(t.res.rule_index, 1);
}

static void source_namespace_is_the_client_pod_namespace(void **state)
{
	load_match("    - sourceNamespace: shop\n");
	assert_false(hit("/", END));
	go(SHOPPER, GREETER, "/", END);
	assert_int_equal(t.res.rule_index, 0);
	go(STRANGER, GREETER, "/", END);
	assert_int_equal(t.res.rule_index, 1);
}

static void match_gateways_without_mesh_never_apply(void **state)
{
	load_match("    - uri: {prefix: /}\n      gateways: [ingress]\n"
		   "    - uri: {prefix: /mesh}\n      gateways: [mesh]\n"
		   "      sourceLabels: {app: nobody}\n");
	assert_false(hit("/", END));
	/* gateways given: Istio ignores sourceLabels */
	assert_true(hit("/mesh", END));
}

/* ---- rules ---- */

static void first_matching_rule_wins(void **state)
{
	load(VS_HEAD "metadata: {name: greeter}\n"
		     "spec:\n"
		     "  hosts: [greeter]\n"
		     "  http:\n"
		     "  - match: [{uri: {prefix: /a/b}}]\n"
		     "    route: [{destination: {host: other}}]\n"
		     "  - match: [{uri: {prefix: /a}}]\n"
		     "    route: [{destination: {host: multi, port: {number: 80}}}]\n"
		     "  - route: [{destination: {host: greeter}}]\n");
	go(CLIENT, GREETER, "/a/b/c", END);
	assert_int_equal(t.res.rule_index, 0);
	go(CLIENT, GREETER, "/a/x", END);
	assert_int_equal(t.res.rule_index, 1);
	assert_string_equal(pod(), "multi-a");
	assert_string_equal(t.res.cluster, "outbound|80||multi.default.svc.cluster.local");
	go(CLIENT, GREETER, "/z", END); /* the rule without match catches the rest */
	assert_int_equal(t.res.rule_index, 2);
	assert_non_null(t.res.vs);
	assert_string_equal(t.res.vs->name, "greeter");
}

static void match_entries_are_ored_and_their_fields_anded(void **state)
{
	load_match("    - uri: {prefix: /a}\n      headers: {x-k: {exact: '1'}}\n"
		   "    - uri: {prefix: /b}\n");
	assert_true(hit("/a", "X-K: 1", END));
	assert_false(hit("/a", END));
	assert_false(hit("/c", "X-K: 1", END));
	assert_true(hit("/b", END));
}

static int pod_slot(const char *p)
{
	if (!strcmp(p, "greeter-v1-a"))
		return 0;
	if (!strcmp(p, "greeter-v1-b"))
		return 1;
	assert_string_equal(p, "greeter-v2-a");
	return 2;
}

static void no_virtual_service_routes_to_the_whole_service(void **state)
{
	int seen[3] = {0};

	load("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nothing}\n");
	for (int i = 0; i < 300; i++) {
		const char *p = go_pod(CLIENT, GREETER, "/");

		assert_null(t.res.vs);
		assert_null(t.res.rule);
		assert_string_equal(t.res.cluster,
				    "outbound|3000||greeter.default.svc.cluster.local");
		assert_int_equal(ntohs(t.res.ep.sin_port), 8080);
		seen[pod_slot(p)]++;
	}
	for (int i = 0; i < 3; i++)
		assert_in_range(seen[i], 70, 130);
}

static void rules_matching_nothing_answer_no_route(void **state)
{
	load(VS_HEAD "metadata: {name: greeter}\n"
		     "spec:\n"
		     "  hosts: [greeter]\n"
		     "  http:\n"
		     "  - match: [{uri: {exact: /only}}]\n"
		     "    route: [{destination: {host: greeter}}]\n");
	assert_int_equal(go(CLIENT, GREETER, "/other", END), RV_NO_ROUTE);
	assert_string_equal(route_verdict_flag(t.res.verdict), "NR");
	assert_int_equal(route_verdict_status(t.res.verdict), 404);
	assert_int_equal(go(CLIENT, GREETER, "/only", END), RV_FORWARD);
}

static void rules_for_other_clients_leave_the_default_route(void **state)
{
	/* Istio builds no route from a VirtualService none of whose matches apply to the
	 * client (sourceLabels, port): the service keeps its default route. */
	load(VS_HEAD "metadata: {name: greeter}\n"
		     "spec:\n"
		     "  hosts: [greeter]\n"
		     "  http:\n"
		     "  - match: [{sourceLabels: {app: shopper}, uri: {exact: /x}}]\n"
		     "    route: [{destination: {host: other}}]\n");
	assert_int_equal(go(CLIENT, GREETER, "/y", END), RV_FORWARD);
	assert_null(t.res.vs);
	assert_int_equal(go(SHOPPER, GREETER, "/y", END), RV_NO_ROUTE);
	assert_int_equal(go(SHOPPER, GREETER, "/x", END), RV_FORWARD);
	assert_string_equal(pod(), "other-a");
}

/* No service at the original destination (nor by Host): Istio's PassthroughCluster. */
static void unknown_destination_passes_through(void **state)
{
	load("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nothing}\n");
	assert_int_equal(go(CLIENT, "10.96.9.9:80", "/", END), RV_PASSTHROUGH);
	assert_string_equal(inet_ntoa(t.res.ep.sin_addr), "10.96.9.9");
	assert_int_equal(go(CLIENT, "10.96.0.10:3001", "/", END), RV_PASSTHROUGH);
	assert_int_equal(ntohs(t.res.ep.sin_port), 3001);
}

static void redirect_rule_is_left_to_the_proxy(void **state)
{
	load(VS_HEAD "metadata: {name: greeter}\n"
		     "spec:\n"
		     "  hosts: [greeter]\n"
		     "  http:\n"
		     "  - match: [{uri: {exact: /old}}]\n"
		     "    redirect: {uri: /new, redirectCode: 302}\n"
		     "  - route: [{destination: {host: greeter}}]\n");
	assert_int_equal(go(CLIENT, GREETER, "/old", END), RV_REDIRECT);
	assert_non_null(t.res.rule->redirect);
	assert_string_equal(t.res.rule->redirect->uri, "/new");
	assert_int_equal(t.res.rule->redirect->redirect_code, 302);
	assert_int_equal(t.res.lb_token, 0);
}

/* ---- destinations ---- */

#define DR_GREETER_SUBSETS                                                                         \
	DR_HEAD "metadata: {name: greeter}\n"                                                      \
		"spec:\n"                                                                          \
		"  host: greeter\n"                                                                \
		"  subsets:\n"                                                                     \
		"  - {name: v1, labels: {version: v1}}\n"                                          \
		"  - {name: v2, labels: {version: v2}}\n"

static void subset_without_definition_is_no_cluster(void **state)
{
	load(DR_GREETER_SUBSETS "---\n" VS_HEAD "metadata: {name: greeter}\n"
				"spec:\n"
				"  hosts: [greeter]\n"
				"  http:\n"
				"  - route: [{destination: {host: greeter, subset: v9}}]\n");
	assert_int_equal(go(CLIENT, GREETER, "/", END), RV_NO_CLUSTER);
	assert_string_equal(route_verdict_flag(t.res.verdict), "NC");
	assert_int_equal(route_verdict_status(t.res.verdict), 503);
	assert_string_equal(t.res.cluster, "outbound|3000|v9|greeter.default.svc.cluster.local");
}

static void subset_without_destination_rule_is_no_cluster(void **state)
{
	load(VS_HEAD "metadata: {name: greeter}\n"
		     "spec:\n"
		     "  hosts: [greeter]\n"
		     "  http:\n"
		     "  - route: [{destination: {host: greeter, subset: v1}}]\n");
	assert_int_equal(go(CLIENT, GREETER, "/", END), RV_NO_CLUSTER);
}

static void unknown_host_or_port_is_no_cluster(void **state)
{
	load(VS_HEAD "metadata: {name: greeter}\n"
		     "spec:\n"
		     "  hosts: [greeter]\n"
		     "  http:\n"
		     "  - match: [{uri: {prefix: /nohost}}]\n"
		     "    route: [{destination: {host: nothere.example.com}}]\n"
		     "  - match: [{uri: {prefix: /noport}}]\n"
		     "    route: [{destination: {host: other, port: {number: 81}}}]\n"
		     "  - route: [{destination: {host: multi}}]\n");
	assert_int_equal(go(CLIENT, GREETER, "/nohost", END), RV_NO_CLUSTER);
	assert_string_equal(t.res.cluster, "outbound|3000||nothere.example.com");
	assert_int_equal(go(CLIENT, GREETER, "/noport", END), RV_NO_CLUSTER);
	assert_string_equal(t.res.cluster, "outbound|81||other.default.svc.cluster.local");
	/* multi has two ports and none is named: the request's port (3000) is not one of them */
	assert_int_equal(go(CLIENT, GREETER, "/", END), RV_NO_CLUSTER);
}

static void unset_port_takes_the_only_port_or_the_request_port(void **state)
{
	load(VS_HEAD "metadata: {name: multi}\n"
		     "spec:\n"
		     "  hosts: [multi]\n"
		     "  http:\n"
		     "  - match: [{uri: {prefix: /other}}]\n"
		     "    route: [{destination: {host: other}}]\n"
		     "  - route: [{destination: {host: multi}}]\n");
	go(CLIENT, MULTI_ADMIN, "/", END);
	assert_string_equal(t.res.cluster, "outbound|9000||multi.default.svc.cluster.local");
	assert_int_equal(ntohs(t.res.ep.sin_port), 9090);
	go(CLIENT, MULTI_HTTP, "/", END);
	assert_string_equal(t.res.cluster, "outbound|80||multi.default.svc.cluster.local");
	assert_int_equal(ntohs(t.res.ep.sin_port), 8080);
	/* other has one port: 80, whatever the request's */
	go(CLIENT, MULTI_ADMIN, "/other", END);
	assert_string_equal(t.res.cluster, "outbound|80||other.default.svc.cluster.local");
}

static void no_ready_endpoint_is_no_healthy_upstream(void **state)
{
	load("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nothing}\n");
	assert_int_equal(go(CLIENT, EMPTY, "/", END), RV_NO_HEALTHY);
	assert_string_equal(route_verdict_flag(t.res.verdict), "UH");
	assert_int_equal(go(CLIENT, SLEEPY, "/", END), RV_NO_HEALTHY);
	assert_string_equal(t.res.cluster, "outbound|80||sleepy.default.svc.cluster.local");
}

static void subsets_select_endpoints_by_labels(void **state)
{
	load(DR_GREETER_SUBSETS "---\n" VS_HEAD "metadata: {name: greeter}\n"
				"spec:\n"
				"  hosts: [greeter]\n"
				"  http:\n"
				"  - match: [{headers: {x-v: {exact: '2'}}}]\n"
				"    route: [{destination: {host: greeter, subset: v2}}]\n"
				"  - route: [{destination: {host: greeter, subset: v1}}]\n");
	for (int i = 0; i < 50; i++) {
		assert_int_equal(strncmp(go_pod(CLIENT, GREETER, "/"), "greeter-v1-", 11), 0);
		assert_string_equal(t.res.cluster,
				    "outbound|3000|v1|greeter.default.svc.cluster.local");
		go(CLIENT, GREETER, "/", "X-V: 2", END);
		assert_string_equal(pod(), "greeter-v2-a");
		route_done(t.w, &t.res, 200);
	}
}

/* Sends @n requests from CLIENT to greeter; counts which destination of the rule each took. */
static void count_dests(int n, int *got, size_t n_got)
{
	memset(got, 0, n_got * sizeof(*got));
	for (int i = 0; i < n; i++) {
		go(CLIENT, GREETER, "/", END);
		assert_int_equal(t.res.verdict, RV_FORWARD);
		assert_non_null(t.res.rdst);
		assert_true((size_t)(t.res.rdst - t.res.rule->route) < n_got);
		got[t.res.rdst - t.res.rule->route]++;
		route_done(t.w, &t.res, 200);
	}
}

static void load_weights(const char *w1, const char *w2, const char *w3)
{
	char *y;

	assert_true(asprintf(&y,
			     DR_GREETER_SUBSETS "---\n" VS_HEAD "metadata: {name: greeter}\n"
						"spec:\n"
						"  hosts: [greeter]\n"
						"  http:\n"
						"  - route:\n"
						"    - destination: {host: greeter, subset: v1}\n%s"
						"    - destination: {host: greeter, subset: v2}\n%s"
						"%s%s",
			     w1, w2, w3 ? "    - destination: {host: other}\n" : "",
			     w3 ? w3 : "") > 0);
	load(y);
	free(y);
}

static void weights_90_10(void **state)
{
	int got[2];

	load_weights("      weight: 90\n", "      weight: 10\n", NULL);
	count_dests(1000, got, 2);
	assert_int_equal(got[0], 900); /* smooth weighted round robin is exact */
	assert_int_equal(got[1], 100);
}

static void weights_50_50(void **state)
{
	int got[2];

	load_weights("      weight: 50\n", "      weight: 50\n", NULL);
	count_dests(1000, got, 2);
	assert_int_equal(got[0], 500);
	assert_int_equal(got[1], 500);
}

static void weights_not_summing_to_100(void **state)
{
	int got[3];

	load_weights("      weight: 1\n", "      weight: 1\n", "      weight: 2\n");
	count_dests(1000, got, 3);
	assert_int_equal(got[0], 250);
	assert_int_equal(got[1], 250);
	assert_int_equal(got[2], 500);
}

static void weight_zero_is_never_chosen(void **state)
{
	int got[3];

	load_weights("      weight: 0\n", "      weight: 30\n", "      weight: 70\n");
	count_dests(1000, got, 3);
	assert_int_equal(got[0], 0);
	assert_int_equal(got[1], 300);
	assert_int_equal(got[2], 700);
}

static void single_destination_takes_everything(void **state)
{
	int got[1];

	load(DR_GREETER_SUBSETS
	     "---\n" VS_HEAD "metadata: {name: greeter}\n"
	     "spec:\n"
	     "  hosts: [greeter]\n"
	     "  http:\n"
	     "  - route: [{destination: {host: greeter, subset: v2}, weight: 0}]\n");
	count_dests(100, got, 1); /* Istio: one destination gets 100 whatever its weight */
	assert_int_equal(got[0], 100);
}

/* ---- load balancing ---- */

#define DR_GREETER_LB(lb)                                                                          \
	DR_HEAD "metadata: {name: greeter}\n"                                                      \
		"spec:\n"                                                                          \
		"  host: greeter\n"                                                                \
		"  trafficPolicy:\n"                                                               \
		"    loadBalancer: " lb "\n"

static void round_robin_cycles_through_endpoints(void **state)
{
	const char *first[3];

	load(DR_GREETER_LB("{simple: ROUND_ROBIN}"));
	for (int i = 0; i < 3; i++)
		first[i] = go_pod(CLIENT, GREETER, "/");
	assert_string_not_equal(first[0], first[1]);
	assert_string_not_equal(first[1], first[2]);
	assert_string_not_equal(first[0], first[2]);
	for (int i = 0; i < 30; i++)
		assert_string_equal(go_pod(CLIENT, GREETER, "/"), first[i % 3]);
	assert_int_equal(t.res.policy->lb.simple, LB_ROUND_ROBIN);
}

static void random_spreads_over_endpoints(void **state)
{
	int got[3] = {0};

	load(DR_GREETER_LB("{simple: RANDOM}"));
	for (int i = 0; i < 3000; i++)
		got[pod_slot(go_pod(CLIENT, GREETER, "/"))]++;
	for (int i = 0; i < 3; i++)
		assert_in_range(got[i], 910, 1090); /* 1/3 +- 3 points */
}

static void least_request_prefers_idle_endpoints(void **state)
{
	static struct route_result open[300];
	int got[3] = {0};
	const struct pod *idle;

	load(DR_GREETER_LB("{simple: LEAST_REQUEST}"));
	for (int i = 0; i < 300; i++) { /* 300 requests in flight, about 100 per endpoint */
		go(CLIENT, GREETER, "/", END);
		open[i] = t.res;
	}
	idle = open[0].ep_pod;
	for (int i = 0; i < 300; i++) /* those of one endpoint finish */
		if (open[i].ep_pod == idle)
			route_done(t.w, &open[i], 200);
	for (int i = 0; i < 300; i++)
		got[pod_slot(go_pod(CLIENT, GREETER, "/"))]++;
	/* two random choices: the idle endpoint wins whenever drawn, 2 times in 3 */
	assert_in_range(got[pod_slot(idle->name)], 170, 230);
}

static void subset_policy_replaces_the_rule_policy_part_by_part(void **state)
{
	load(DR_HEAD "metadata: {name: greeter}\n"
		     "spec:\n"
		     "  host: greeter\n"
		     "  trafficPolicy:\n"
		     "    loadBalancer: {simple: ROUND_ROBIN}\n"
		     "    connectionPool: {tcp: {maxConnections: 7}}\n"
		     "  subsets:\n"
		     "  - name: v1\n"
		     "    labels: {version: v1}\n"
		     "    trafficPolicy:\n"
		     "      loadBalancer: {simple: RANDOM}\n"
		     "  - {name: v2, labels: {version: v2}}\n"
		     "---\n" VS_HEAD "metadata: {name: greeter}\n"
		     "spec:\n"
		     "  hosts: [greeter]\n"
		     "  http:\n"
		     "  - match: [{uri: {prefix: /v2}}]\n"
		     "    route: [{destination: {host: greeter, subset: v2}}]\n"
		     "  - route: [{destination: {host: greeter, subset: v1}}]\n");
	go(CLIENT, GREETER, "/", END);
	assert_int_equal(t.res.policy->lb.simple, LB_RANDOM);
	assert_int_equal(t.res.policy->pool.tcp_max_connections, 7);
	go(CLIENT, GREETER, "/v2", END);
	assert_int_equal(t.res.policy->lb.simple, LB_ROUND_ROBIN);
	assert_int_equal(t.res.policy->pool.tcp_max_connections, 7);
	assert_string_equal(t.res.dr->name, "greeter");
}

static void consistent_hash_on_a_header_keeps_affinity(void **state)
{
	char h[64];
	const char *p;
	int got[3] = {0};

	load(DR_GREETER_LB("{consistentHash: {httpHeaderName: x-user}}"));
	for (int u = 0; u < 300; u++) {
		snprintf(h, sizeof(h), "X-User: user-%d", u);
		go(CLIENT, GREETER, "/", h, END);
		p = pod();
		got[pod_slot(p)]++;
		for (int i = 0; i < 5; i++) {
			go(CLIENT, GREETER, "/other/path", h, END);
			assert_string_equal(pod(), p);
		}
	}
	for (int i = 0; i < 3; i++) /* users spread over the endpoints */
		assert_in_range(got[i], 50, 150);
}

/* A config of service ring (10.96.7.1:80) with @n pods r0.. but pod @skip, hashing on x-user. */
static struct config *ring_config(int n, int skip)
{
	char y[8192];
	struct config *cfg = NULL;
	int len = snprintf(
		y, sizeof(y),
		"apiVersion: v1\nkind: Service\nmetadata: {name: ring}\n"
		"spec: {clusterIP: 10.96.7.1, selector: {app: ring}, ports: [{port: 80}]}\n"
		"---\n" DR_HEAD "metadata: {name: ring}\n"
		"spec:\n  host: ring\n  trafficPolicy:\n"
		"    loadBalancer: {consistentHash: {httpHeaderName: x-user}}\n");

	for (int i = 0; i < n; i++)
		if (i != skip)
			len += snprintf(y + len, sizeof(y) - (size_t)len,
					"---\napiVersion: v1\nkind: Pod\n"
					"metadata: {name: r%d, labels: {app: ring}}\n"
					"status: {podIP: 10.0.7.%d}\n",
					i, i + 1);
	assert_int_equal(config_load_buf("ring.yaml", y, (size_t)len, &cfg), 0);
	return cfg;
}

/* The pod each of @n users reaches through @cfg. */
static void ring_pods(struct config *cfg, int n, char (*out)[8])
{
	struct route_table *rt;
	struct route_worker *w;
	struct http_hdr h = {"x-user", 6, NULL, 0};
	struct http_req req = {.method = "GET",
			       .method_len = 3,
			       .url = "/",
			       .url_len = 1,
			       .hdrs = &h,
			       .n_hdrs = 1};
	struct route_req rq = {.req = &req, .dst_port = 80};
	struct route_result res;
	char user[32];

	assert_int_equal(route_table_build(cfg, &rt), 0);
	w = route_worker_new(rt, 3);
	inet_pton(AF_INET, "10.96.7.1", &rq.dst_ip);
	for (int u = 0; u < n; u++) {
		h.value_len = (size_t)snprintf(user, sizeof(user), "user-%d", u);
		h.value = user;
		assert_int_equal(route_select(rt, w, &rq, &res), 0);
		assert_int_equal(res.verdict, RV_FORWARD);
		snprintf(out[u], sizeof(out[u]), "%s", res.ep_pod->name);
		route_done(w, &res, 200);
	}
	route_worker_free(w);
	route_table_free(rt);
}

static void consistent_hash_survives_an_endpoint_leaving(void **state)
{
	/* A new snapshot without r3: only r3's users move, about a tenth of them. */
	static char before[4000][8], after[4000][8];
	struct config *all = ring_config(10, -1), *less = ring_config(10, 3);
	int moved = 0;

	ring_pods(all, 4000, before);
	ring_pods(less, 4000, after);
	for (int u = 0; u < 4000; u++) {
		if (!strcmp(before[u], after[u]))
			continue;
		moved++;
		assert_string_equal(before[u], "r3");
	}
	assert_in_range(moved, 4000 * 7 / 100, 4000 * 13 / 100);
	config_free(all);
	config_free(less);
}

static void consistent_hash_without_key_spreads_at_random(void **state)
{
	int got[3] = {0};

	load(DR_GREETER_LB("{consistentHash: {httpHeaderName: x-user}}"));
	for (int i = 0; i < 3000; i++)
		got[pod_slot(go_pod(CLIENT, GREETER, "/"))]++;
	for (int i = 0; i < 3; i++)
		assert_in_range(got[i], 850, 1150);
}

static void consistent_hash_cookie_is_generated_with_a_ttl(void **state)
{
	char cookie[300], *q;
	const char *p;

	load(DR_GREETER_LB("{consistentHash: {httpCookie: {name: sticky, path: /, ttl: 60s}}}"));
	go(CLIENT, GREETER, "/", END);
	assert_non_null(t.res.set_cookie);
	assert_int_equal(strncmp(t.res.set_cookie, "sticky=\"", 8), 0);
	assert_non_null(strstr(t.res.set_cookie, "\"; Max-Age=60; Path=/; HttpOnly"));
	p = pod();
	/* the client sends it back: same endpoint every time, no new cookie */
	snprintf(cookie, sizeof(cookie), "Cookie: a=b; %s", t.res.set_cookie);
	q = strchr(cookie, ';');
	q = strchr(q + 1, ';');
	*q = '\0';
	for (int i = 0; i < 20; i++) {
		go(CLIENT, GREETER, "/", cookie, END);
		assert_null(t.res.set_cookie);
		assert_string_equal(pod(), p);
	}
}

static void consistent_hash_cookie_without_ttl_is_not_generated(void **state)
{
	load(DR_GREETER_LB("{consistentHash: {httpCookie: {name: sticky}}}"));
	go(CLIENT, GREETER, "/", END);
	assert_null(t.res.set_cookie);
}

static void consistent_hash_on_source_ip_and_query(void **state)
{
	const char *p;

	load(DR_GREETER_LB("{consistentHash: {useSourceIp: true}}"));
	go(CLIENT, GREETER, "/", END);
	p = pod();
	for (int i = 0; i < 20; i++) {
		go(CLIENT, GREETER, "/", END);
		assert_string_equal(pod(), p);
	}
	teardown(NULL);
	load(DR_GREETER_LB("{consistentHash: {httpQueryParameterName: user}}"));
	go(CLIENT, GREETER, "/?user=bob", END);
	p = pod();
	for (int i = 0; i < 20; i++) {
		go(CLIENT, GREETER, "/x?a=1&user=bob", END);
		assert_string_equal(pod(), p);
	}
}

static void passthrough_goes_to_the_original_destination(void **state)
{
	load(DR_GREETER_LB("{simple: PASSTHROUGH}"));
	assert_int_equal(go(CLIENT, GREETER, "/", END), RV_PASSTHROUGH);
	assert_string_equal(inet_ntoa(t.res.ep.sin_addr), "10.96.0.10");
	assert_int_equal(ntohs(t.res.ep.sin_port), 3000);
	assert_null(t.res.ep_pod);
}

static void outlier_ejects_an_endpoint_then_brings_it_back(void **state)
{
	const char *bad;

	load(DR_HEAD "metadata: {name: greeter}\n"
		     "spec:\n"
		     "  host: greeter\n"
		     "  trafficPolicy:\n"
		     "    loadBalancer: {simple: ROUND_ROBIN}\n"
		     "    outlierDetection:\n"
		     "      consecutive5xxErrors: 2\n"
		     "      interval: 10s\n"
		     "      baseEjectionTime: 30s\n"
		     "      maxEjectionPercent: 100\n");
	go(CLIENT, GREETER, "/", END);
	bad = pod();
	route_done(t.w, &t.res, 503);
	for (;;) { /* the next request to it fails too: two in a row */
		go(CLIENT, GREETER, "/", END);
		if (!strcmp(pod(), bad)) {
			route_done(t.w, &t.res, 500);
			break;
		}
		route_done(t.w, &t.res, 200);
	}
	for (int i = 0; i < 60; i++)
		assert_string_not_equal(go_pod(CLIENT, GREETER, "/"), bad);
	route_worker_set_now(t.w, t.now + 29999);
	for (int i = 0; i < 6; i++)
		assert_string_not_equal(go_pod(CLIENT, GREETER, "/"), bad);
	route_worker_set_now(t.w, t.now + 30000); /* back: round robin meets it within 3 */
	for (int i = 0, seen = 0; i < 3; i++) {
		seen += !strcmp(go_pod(CLIENT, GREETER, "/"), bad);
		if (i == 2)
			assert_int_equal(seen, 1);
	}
}

static void every_endpoint_ejected_is_no_healthy_upstream(void **state)
{
	load(DR_HEAD "metadata: {name: other}\n"
		     "spec:\n"
		     "  host: other\n"
		     "  trafficPolicy:\n"
		     "    outlierDetection: {consecutive5xxErrors: 1, maxEjectionPercent: 100}\n");
	go(CLIENT, OTHER, "/", END);
	route_done(t.w, &t.res, 0); /* connect failure */
	assert_int_equal(go(CLIENT, OTHER, "/", END), RV_NO_HEALTHY);
	route_worker_set_now(t.w, t.now + 30000); /* default baseEjectionTime */
	assert_int_equal(go(CLIENT, OTHER, "/", END), RV_FORWARD);
}

static void token_from_another_table_is_ignored(void **state)
{
	struct http_req req = {.method = "GET", .method_len = 3, .url = "/", .url_len = 1};
	struct route_table *rt2;
	struct route_worker *w2;
	uint64_t token;

	load("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nothing}\n");
	go(CLIENT, GREETER, "/", END);
	token = t.res.lb_token;
	assert_int_not_equal(token, 0);
	assert_int_equal(route_table_build(t.cfg, &rt2), 0);
	w2 = route_worker_new(rt2, 2);
	route_done_token(w2, token, 500); /* a stale token: nothing happens */
	route_done_token(w2, 0, 500);
	/* a worker of one table cannot route with another */
	assert_int_equal(route_select(rt2, t.w, &(struct route_req){.req = &req}, &t.res), -EINVAL);
	route_worker_free(w2);
	route_table_free(rt2);
}

/* ---- DestinationRule choice ---- */

static void destination_rule_in_client_namespace_wins(void **state)
{
	/* Istio looks in the client's namespace first, then the service's, then the root. */
	load(DR_GREETER_SUBSETS "---\n" DR_HEAD
				"metadata: {name: greeter-for-shop, namespace: shop}\n"
				"spec:\n"
				"  host: greeter.default.svc.cluster.local\n"
				"  subsets: [{name: v1, labels: {version: v2}}]\n"
				"---\n" VS_HEAD "metadata: {name: greeter}\n"
				"spec:\n"
				"  hosts: [greeter]\n"
				"  http:\n"
				"  - route: [{destination: {host: greeter, subset: v1}}]\n");
	go(SHOPPER, GREETER, "/", END);
	assert_string_equal(pod(), "greeter-v2-a");
	assert_string_equal(t.res.dr->namespace, "shop");
	go(CLIENT, GREETER, "/", END);
	assert_int_equal(strncmp(pod(), "greeter-v1-", 11), 0);
	assert_string_equal(t.res.dr->namespace, "default");
	go(OPS, GREETER, "/", END);
	assert_string_equal(t.res.dr->namespace, "default");
}

static void destination_rule_in_root_namespace_comes_last(void **state)
{
	load(DR_HEAD "metadata: {name: mesh-wide, namespace: istio-system}\n"
		     "spec:\n"
		     "  host: '*.svc.cluster.local'\n"
		     "  trafficPolicy: {loadBalancer: {simple: RANDOM}}\n"
		     "---\n" DR_HEAD "metadata: {name: web, namespace: shop}\n"
		     "spec:\n"
		     "  host: web\n"
		     "  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}\n");
	go(CLIENT, GREETER, "/", END);
	assert_string_equal(t.res.dr->name, "mesh-wide");
	assert_int_equal(t.res.policy->lb.simple, LB_RANDOM);
	go(CLIENT, WEB, "/", END);
	assert_string_equal(t.res.dr->name, "web");
	assert_int_equal(t.res.policy->lb.simple, LB_ROUND_ROBIN);
}

static void destination_rule_exported_to_dot_is_hidden_elsewhere(void **state)
{
	load(DR_HEAD "metadata: {name: greeter}\n"
		     "spec:\n"
		     "  host: greeter\n"
		     "  exportTo: ['.']\n"
		     "  subsets: [{name: v1, labels: {version: v1}}]\n"
		     "---\n" VS_HEAD "metadata: {name: greeter}\n"
		     "spec:\n"
		     "  hosts: [greeter]\n"
		     "  http:\n"
		     "  - route: [{destination: {host: greeter, subset: v1}}]\n");
	assert_int_equal(go(CLIENT, GREETER, "/", END), RV_FORWARD);
	assert_int_equal(go(SHOPPER, GREETER, "/", END), RV_NO_CLUSTER);
	assert_int_equal(go(STRANGER, GREETER, "/", END), RV_NO_CLUSTER);
}

static void oldest_destination_rule_wins_in_a_namespace(void **state)
{
	load(DR_HEAD "metadata: {name: newer, creationTimestamp: '2024-06-01T00:00:00Z'}\n"
		     "spec:\n"
		     "  host: greeter\n"
		     "  trafficPolicy: {loadBalancer: {simple: RANDOM}}\n"
		     "---\n" DR_HEAD
		     "metadata: {name: older, creationTimestamp: '2024-01-01T00:00:00Z'}\n"
		     "spec:\n"
		     "  host: greeter.default.svc.cluster.local\n"
		     "  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}\n");
	go(CLIENT, GREETER, "/", END);
	assert_string_equal(t.res.dr->name, "older");
}

static void exact_destination_rule_host_beats_wildcard(void **state)
{
	load(DR_HEAD "metadata: {name: wild, creationTimestamp: '2020-01-01T00:00:00Z'}\n"
		     "spec:\n"
		     "  host: '*.default.svc.cluster.local'\n"
		     "---\n" DR_HEAD "metadata: {name: exact}\n"
		     "spec:\n"
		     "  host: greeter\n");
	go(CLIENT, GREETER, "/", END);
	assert_string_equal(t.res.dr->name, "exact");
	go(CLIENT, OTHER, "/", END);
	assert_string_equal(t.res.dr->name, "wild");
}

static void workload_selector_limits_a_destination_rule(void **state)
{
	load(DR_HEAD "metadata: {name: for-front}\n"
		     "spec:\n"
		     "  host: greeter\n"
		     "  workloadSelector: {matchLabels: {tier: front}}\n"
		     "  trafficPolicy: {loadBalancer: {simple: RANDOM}}\n"
		     "---\n" DR_HEAD "metadata: {name: for-all}\n"
		     "spec:\n"
		     "  host: greeter\n"
		     "  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}\n");
	go(CLIENT, GREETER, "/", END);
	assert_string_equal(t.res.dr->name, "for-front");
	go(SHOPPER, GREETER, "/", END);
	assert_string_equal(t.res.dr->name, "for-all");
}

/*
 * A port's cluster without DestinationRule is built only where some client may get no rule: a
 * rule exported everywhere leaves nobody without, one exported to some namespaces or selecting
 * some workloads does. Istio's choice is the same either way.
 */
static void clusters_without_a_rule_only_where_a_client_gets_none(void **state)
{
	static const char *const all[] = {CLIENT, SHOPPER, OPS, STRANGER};
	size_t everywhere, some;

	load(DR_HEAD "metadata: {name: greeter}\n"
		     "spec:\n"
		     "  host: greeter\n"
		     "  subsets: [{name: v1, labels: {version: v1}}]\n");
	everywhere = route_table_n_clusters(t.rt);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(go(all[i], GREETER, "/", END), RV_FORWARD);
		assert_non_null(t.res.dr);
		assert_string_equal(t.res.cluster,
				    "outbound|3000||greeter.default.svc.cluster.local");
	}
	teardown(NULL);

	load(DR_HEAD "metadata: {name: greeter}\n"
		     "spec:\n"
		     "  host: greeter\n"
		     "  exportTo: [shop]\n"
		     "  subsets: [{name: v1, labels: {version: v1}}]\n");
	some = route_table_n_clusters(t.rt);
	assert_int_equal(some, everywhere + 1); /* greeter's one port, without a rule */
	assert_int_equal(go(CLIENT, GREETER, "/", END), RV_FORWARD); /* its own namespace */
	assert_non_null(t.res.dr);
	assert_int_equal(go(SHOPPER, GREETER, "/", END), RV_FORWARD);
	assert_non_null(t.res.dr);
	assert_int_equal(go(OPS, GREETER, "/", END), RV_FORWARD);
	assert_null(t.res.dr);
	assert_int_equal(go(STRANGER, GREETER, "/", END), RV_FORWARD);
	assert_null(t.res.dr);
	teardown(NULL);

	load(DR_HEAD "metadata: {name: for-front}\n"
		     "spec:\n"
		     "  host: greeter\n"
		     "  workloadSelector: {matchLabels: {tier: front}}\n");
	/* a cluster without rule, and none for a subset: as many as above */
	assert_int_equal(route_table_n_clusters(t.rt), everywhere);
	assert_int_equal(go(CLIENT, GREETER, "/", END), RV_FORWARD);
	assert_string_equal(t.res.dr->name, "for-front");
	assert_int_equal(go(SHOPPER, GREETER, "/", END), RV_FORWARD);
	assert_null(t.res.dr);
}

/* ---- VirtualService choice ---- */

static void virtual_service_exported_to_dot_is_hidden_elsewhere(void **state)
{
	load(VS_HEAD "metadata: {name: greeter}\n"
		     "spec:\n"
		     "  hosts: [greeter]\n"
		     "  exportTo: ['.']\n"
		     "  http:\n"
		     "  - route: [{destination: {host: other}}]\n");
	go(CLIENT, GREETER, "/", END);
	assert_string_equal(pod(), "other-a");
	go(SHOPPER, GREETER, "/", END);
	assert_null(t.res.vs);
	assert_int_equal(strncmp(pod(), "greeter-", 8), 0);
	go(STRANGER, GREETER, "/", END); /* a client in no namespace sees only "*" */
	assert_null(t.res.vs);
}

static void virtual_service_exported_to_a_namespace(void **state)
{
	load(VS_HEAD "metadata: {name: greeter}\n"
		     "spec:\n"
		     "  hosts: [greeter]\n"
		     "  exportTo: [shop]\n"
		     "  http:\n"
		     "  - route: [{destination: {host: other}}]\n");
	go(SHOPPER, GREETER, "/", END);
	assert_string_equal(pod(), "other-a");
	go(OPS, GREETER, "/", END);
	assert_null(t.res.vs);
}

static void shadowed_virtual_service_is_ignored(void **state)
{
	load(VS_HEAD "metadata: {name: newer, creationTimestamp: '2024-06-01T00:00:00Z'}\n"
		     "spec:\n"
		     "  hosts: [greeter]\n"
		     "  http:\n"
		     "  - route: [{destination: {host: multi}}]\n"
		     "---\n" VS_HEAD
		     "metadata: {name: older, creationTimestamp: '2024-01-01T00:00:00Z'}\n"
		     "spec:\n"
		     "  hosts: [greeter]\n"
		     "  http:\n"
		     "  - route: [{destination: {host: other}}]\n");
	go(CLIENT, GREETER, "/", END);
	assert_string_equal(t.res.vs->name, "older");
	assert_string_equal(pod(), "other-a");
}

static void gateway_only_virtual_service_does_not_apply_to_mesh(void **state)
{
	load(VS_HEAD "metadata: {name: greeter}\n"
		     "spec:\n"
		     "  hosts: [greeter]\n"
		     "  gateways: [ingress]\n"
		     "  http:\n"
		     "  - route: [{destination: {host: other}}]\n"
		     "---\n" VS_HEAD "metadata: {name: web, namespace: shop}\n"
		     "spec:\n"
		     "  hosts: [web]\n"
		     "  gateways: [ingress, mesh]\n"
		     "  http:\n"
		     "  - route: [{destination: {host: other.default.svc.cluster.local}}]\n");
	go(CLIENT, GREETER, "/", END);
	assert_null(t.res.vs);
	go(CLIENT, WEB, "/", END);
	assert_string_equal(pod(), "other-a");
}

static void wildcard_hosts_longest_wins_exact_first(void **state)
{
	load(VS_HEAD "metadata: {name: all}\n"
		     "spec:\n"
		     "  hosts: ['*.svc.cluster.local']\n"
		     "  http: [{route: [{destination: {host: multi}}]}]\n"
		     "---\n" VS_HEAD "metadata: {name: default-ns}\n"
		     "spec:\n"
		     "  hosts: ['*.default.svc.cluster.local']\n"
		     "  http: [{route: [{destination: {host: other}}]}]\n"
		     "---\n" VS_HEAD "metadata: {name: greeter}\n"
		     "spec:\n"
		     "  hosts: [greeter.default.svc.cluster.local]\n"
		     "  http: [{route: [{destination: {host: greeter}}]}]\n");
	go(CLIENT, GREETER, "/", END);
	assert_string_equal(t.res.vs->name, "greeter");
	go(CLIENT, OTHER, "/", END);
	assert_string_equal(t.res.vs->name, "default-ns");
	go(CLIENT, WEB, "/", END);
	assert_string_equal(t.res.vs->name, "all");
	assert_string_equal(pod(), "multi-a");
}

static void path_index_keeps_rule_order(void **state)
{
	/* Enough rules for the exact-path index: it must find what a scan in order finds. */
	char y[4096];
	int n = snprintf(y, sizeof(y),
			 VS_HEAD "metadata: {name: greeter}\n"
				 "spec:\n"
				 "  hosts: [greeter]\n"
				 "  http:\n"
				 "  - match: [{uri: {exact: /a}, headers: {x: {exact: '1'}}}]\n"
				 "    route: [{destination: {host: greeter}}]\n"
				 "  - match: [{uri: {exact: /a}}]\n"
				 "    route: [{destination: {host: greeter}}]\n");

	for (int i = 2; i < 20; i++) {
		const char *m = i == 10	  ? "{uri: {prefix: /a}}"
				: i == 11 ? "{uri: {exact: /ab}}"
				: i == 12 ? "{uri: {exact: /x}}, {uri: {exact: /y}}"
				: i == 13 ? "{uri: {exact: /ci}, ignoreUriCase: true}"
					  : NULL;
		char buf[64];

		if (!m) {
			snprintf(buf, sizeof(buf), "{uri: {exact: /e%d}}", i);
			m = buf;
		}
		n += snprintf(y + n, sizeof(y) - (size_t)n,
			      "  - match: [%s]\n    route: [{destination: {host: greeter}}]\n", m);
	}
	load(y);
	go(CLIENT, GREETER, "/a", "X: 1", END);
	assert_int_equal(t.res.rule_index, 0);
	go(CLIENT, GREETER, "/a?q", END);
	assert_int_equal(t.res.rule_index, 1);
	go(CLIENT, GREETER, "/ab", END); /* the prefix rule comes before the exact one */
	assert_int_equal(t.res.rule_index, 10);
	go(CLIENT, GREETER, "/y", END);
	assert_int_equal(t.res.rule_index, 12);
	go(CLIENT, GREETER, "/CI", END);
	assert_int_equal(t.res.rule_index, 13);
	go(CLIENT, GREETER, "/e17", END);
	assert_int_equal(t.res.rule_index, 17);
	assert_int_equal(go(CLIENT, GREETER, "/nothing", END), RV_NO_ROUTE);
}

static void path_index_with_rules_for_other_clients(void **state)
{
	char y[4096];
	int n = snprintf(y, sizeof(y),
			 VS_HEAD "metadata: {name: greeter}\n"
				 "spec:\n"
				 "  hosts: [greeter]\n"
				 "  http:\n");

	for (int i = 0; i < 20; i++)
		n += snprintf(y + n, sizeof(y) - (size_t)n,
			      "  - match: [{uri: {exact: /e%d}, sourceLabels: {app: shopper}}]\n"
			      "    route: [{destination: {host: other}}]\n",
			      i);
	load(y);
	assert_int_equal(go(CLIENT, GREETER, "/e3", END), RV_FORWARD);
	assert_null(t.res.vs); /* nothing applies to this client: default route */
	assert_int_equal(go(SHOPPER, GREETER, "/nothing", END), RV_NO_ROUTE);
	assert_int_equal(go(SHOPPER, GREETER, "/e3", END), RV_FORWARD);
	assert_string_equal(pod(), "other-a");
}

static void bad_regex_fails_the_build_with_its_place(void **state)
{
	struct route_table *rt = (struct route_table *)0x1;
	struct http_match *m;

	load_match("    - uri: {regex: '/ok'}\n");
	/* The parser may refuse bad regexes itself; break one by hand to reach the router's check.
	 */
	m = &t.cfg->istio.vs[0].http[0].match[0];
	free(m->uri.value);
	m->uri.value = strdup("/(unclosed");
	assert_int_equal(route_table_build(t.cfg, &rt), -EINVAL);
	assert_ptr_equal(rt, (struct route_table *)0x1);
}

/* ---- benchmark ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* One VirtualService with @n rules (exact paths, or prefixes when @prefix, which no index helps; a
 * header condition every other rule); routes requests for the first, middle and last rules. */
static void bench(size_t n, bool prefix)
{
	size_t cap = base_len + 200 + n * 160, len;
	char *y = malloc(cap), url[64];
	struct http_hdr h = {"x-canary", 8, "no", 2};
	struct http_req req = {.method = "GET", .method_len = 3, .hdrs = &h, .n_hdrs = 1};
	struct route_req rq = {.req = &req, .dst_port = 3000};
	struct route_result res;
	const int iters = n >= 10000 ? 20000 : 200000;

	len = (size_t)sprintf(y,
			      "%s\n---\n" VS_HEAD "metadata: {name: greeter}\nspec:\n"
			      "  hosts: [greeter]\n  http:\n",
			      base);
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(y + len,
				       "  - match: [{uri: {%s: /r%zu%s}%s}]\n"
				       "    route: [{destination: {host: greeter}}]\n",
				       prefix ? "prefix" : "exact", i, prefix ? "/" : "",
				       i % 2 ? ", headers: {x-canary: {exact: 'yes'}}" : "");
	if (config_load_buf("bench.yaml", y, len, &t.cfg) || route_table_build(t.cfg, &t.rt)) {
		fprintf(stderr, "bench: cannot load %zu rules\n", n);
		exit(1);
	}
	free(y);
	t.w = route_worker_new(t.rt, 1);
	inet_pton(AF_INET, "10.96.0.10", &rq.dst_ip);
	inet_pton(AF_INET, CLIENT, &rq.src_ip);
	for (int which = 0; which < 3; which++) {
		size_t rule = which == 0 ? 0 : which == 1 ? n / 2 : n - 1;
		uint64_t t0;

		rule -= rule % 2; /* an even rule: no header condition, it matches */
		req.url_len =
			(size_t)snprintf(url, sizeof(url), "/r%zu%s", rule, prefix ? "/x" : "");
		req.url = url;
		t0 = now_ns();
		for (int i = 0; i < iters; i++) {
			route_select(t.rt, t.w, &rq, &res);
			route_done(t.w, &res, 200);
		}
		if (res.verdict != RV_FORWARD || res.rule_index != rule) {
			fprintf(stderr, "bench: rule %zu did not match\n", rule);
			exit(1);
		}
		printf("%6zu %s rules, match rule %5zu: %9.1f ns/request\n", n,
		       prefix ? "prefix" : "exact ", rule, (double)(now_ns() - t0) / iters);
	}
	teardown(NULL);
}

/* Table build time for @n services, each with a pod, a VirtualService and a DestinationRule with
 * two subsets, plus one wildcard DestinationRule in the root namespace. */
static void bench_build(size_t n)
{
	size_t cap = 600 + n * 900, len = 0;
	char *y = malloc(cap);
	uint64_t t0, t1;

	len += (size_t)sprintf(y, DR_HEAD "metadata: {name: mesh, namespace: istio-system}\n"
					  "spec: {host: '*.local'}\n");
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(
			y + len,
			"---\napiVersion: v1\nkind: Service\nmetadata: {name: s%zu}\n"
			"spec: {clusterIP: 10.%zu.%zu.%zu, selector: {app: s%zu}, ports: [{port: "
			"80}]}\n"
			"---\napiVersion: v1\nkind: Pod\n"
			"metadata: {name: p%zu, labels: {app: s%zu, version: v1}}\n"
			"status: {podIP: 10.200.%zu.%zu}\n"
			"---\n" VS_HEAD "metadata: {name: s%zu}\n"
			"spec:\n  hosts: [s%zu]\n  http:\n"
			"  - match: [{headers: {x-v: {exact: '2'}}}]\n"
			"    route: [{destination: {host: s%zu, subset: v2}}]\n"
			"  - route: [{destination: {host: s%zu, subset: v1}}]\n"
			"---\n" DR_HEAD "metadata: {name: s%zu}\n"
			"spec:\n  host: s%zu\n  subsets:\n"
			"  - {name: v1, labels: {version: v1}}\n"
			"  - {name: v2, labels: {version: v2}}\n",
			i, 100 + i / 65536, i / 256 % 256, i % 256, i, i, i, i / 256 % 256, i % 256,
			i, i, i, i, i, i);
	t0 = now_ns();
	if (config_load_buf("bench.yaml", y, len, &t.cfg)) {
		fprintf(stderr, "bench: cannot load %zu services\n", n);
		exit(1);
	}
	t1 = now_ns();
	if (route_table_build(t.cfg, &t.rt)) {
		fprintf(stderr, "bench: cannot build %zu services\n", n);
		exit(1);
	}
	printf("%6zu services with a VirtualService and a DestinationRule each: config load %.1f "
	       "ms, route table build %.1f ms, %zu clusters\n",
	       n, (double)(t1 - t0) / 1e6, (double)(now_ns() - t1) / 1e6,
	       route_table_n_clusters(t.rt));
	free(y);
	teardown(NULL);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(uri_exact_ignores_the_query_string, teardown),
		cmocka_unit_test_teardown(uri_prefix_is_a_plain_string_prefix, teardown),
		cmocka_unit_test_teardown(uri_regex_must_match_the_whole_path, teardown),
		cmocka_unit_test_teardown(ignore_uri_case_applies_to_exact_and_prefix, teardown),
		cmocka_unit_test_teardown(ignore_uri_case_leaves_regex_case_sensitive, teardown),
		cmocka_unit_test_teardown(method_exact_prefix_and_regex, teardown),
		cmocka_unit_test_teardown(authority_is_the_host_header_as_sent, teardown),
		cmocka_unit_test_teardown(hosts_without_vip_route_by_host_header, teardown),
		cmocka_unit_test_teardown(egress_listener_bind_routes_to_its_hosts, teardown),
		cmocka_unit_test_teardown(scheme_is_http_on_plain_connections, teardown),
		cmocka_unit_test_teardown(header_names_ignore_case_values_do_not, teardown),
		cmocka_unit_test_teardown(header_prefix_and_regex, teardown),
		cmocka_unit_test_teardown(repeated_headers_are_joined_with_commas, teardown),
		cmocka_unit_test_teardown(header_empty_match_means_present, teardown),
		cmocka_unit_test_teardown(without_headers_treats_a_missing_header_as_empty,
					  teardown),
		cmocka_unit_test_teardown(without_headers_present_match_means_absent, teardown),
		cmocka_unit_test_teardown(query_params_exact_regex_prefix_and_present, teardown),
		cmocka_unit_test_teardown(query_params_use_the_first_raw_value, teardown),
		cmocka_unit_test_teardown(port_match_is_the_destination_port, teardown),
		cmocka_unit_test_teardown(source_labels_are_the_client_pod_labels, teardown),
		cmocka_unit_test_teardown(source_namespace_is_the_client_pod_namespace, teardown),
		cmocka_unit_test_teardown(match_gateways_without_mesh_never_apply, teardown),
		cmocka_unit_test_teardown(first_matching_rule_wins, teardown),
		cmocka_unit_test_teardown(match_entries_are_ored_and_their_fields_anded, teardown),
		cmocka_unit_test_teardown(no_virtual_service_routes_to_the_whole_service, teardown),
		cmocka_unit_test_teardown(rules_matching_nothing_answer_no_route, teardown),
		cmocka_unit_test_teardown(rules_for_other_clients_leave_the_default_route,
					  teardown),
		cmocka_unit_test_teardown(unknown_destination_passes_through, teardown),
		cmocka_unit_test_teardown(redirect_rule_is_left_to_the_proxy, teardown),
		cmocka_unit_test_teardown(subset_without_definition_is_no_cluster, teardown),
		cmocka_unit_test_teardown(subset_without_destination_rule_is_no_cluster, teardown),
		cmocka_unit_test_teardown(unknown_host_or_port_is_no_cluster, teardown),
		cmocka_unit_test_teardown(unset_port_takes_the_only_port_or_the_request_port,
					  teardown),
		cmocka_unit_test_teardown(no_ready_endpoint_is_no_healthy_upstream, teardown),
		cmocka_unit_test_teardown(subsets_select_endpoints_by_labels, teardown),
		cmocka_unit_test_teardown(weights_90_10, teardown),
		cmocka_unit_test_teardown(weights_50_50, teardown),
		cmocka_unit_test_teardown(weights_not_summing_to_100, teardown),
		cmocka_unit_test_teardown(weight_zero_is_never_chosen, teardown),
		cmocka_unit_test_teardown(single_destination_takes_everything, teardown),
		cmocka_unit_test_teardown(round_robin_cycles_through_endpoints, teardown),
		cmocka_unit_test_teardown(random_spreads_over_endpoints, teardown),
		cmocka_unit_test_teardown(least_request_prefers_idle_endpoints, teardown),
		cmocka_unit_test_teardown(subset_policy_replaces_the_rule_policy_part_by_part,
					  teardown),
		cmocka_unit_test_teardown(consistent_hash_on_a_header_keeps_affinity, teardown),
		cmocka_unit_test_teardown(consistent_hash_survives_an_endpoint_leaving, teardown),
		cmocka_unit_test_teardown(consistent_hash_without_key_spreads_at_random, teardown),
		cmocka_unit_test_teardown(consistent_hash_cookie_is_generated_with_a_ttl, teardown),
		cmocka_unit_test_teardown(consistent_hash_cookie_without_ttl_is_not_generated,
					  teardown),
		cmocka_unit_test_teardown(consistent_hash_on_source_ip_and_query, teardown),
		cmocka_unit_test_teardown(passthrough_goes_to_the_original_destination, teardown),
		cmocka_unit_test_teardown(outlier_ejects_an_endpoint_then_brings_it_back, teardown),
		cmocka_unit_test_teardown(every_endpoint_ejected_is_no_healthy_upstream, teardown),
		cmocka_unit_test_teardown(token_from_another_table_is_ignored, teardown),
		cmocka_unit_test_teardown(destination_rule_in_client_namespace_wins, teardown),
		cmocka_unit_test_teardown(destination_rule_in_root_namespace_comes_last, teardown),
		cmocka_unit_test_teardown(destination_rule_exported_to_dot_is_hidden_elsewhere,
					  teardown),
		cmocka_unit_test_teardown(oldest_destination_rule_wins_in_a_namespace, teardown),
		cmocka_unit_test_teardown(exact_destination_rule_host_beats_wildcard, teardown),
		cmocka_unit_test_teardown(workload_selector_limits_a_destination_rule, teardown),
		cmocka_unit_test_teardown(clusters_without_a_rule_only_where_a_client_gets_none,
					  teardown),
		cmocka_unit_test_teardown(virtual_service_exported_to_dot_is_hidden_elsewhere,
					  teardown),
		cmocka_unit_test_teardown(virtual_service_exported_to_a_namespace, teardown),
		cmocka_unit_test_teardown(shadowed_virtual_service_is_ignored, teardown),
		cmocka_unit_test_teardown(gateway_only_virtual_service_does_not_apply_to_mesh,
					  teardown),
		cmocka_unit_test_teardown(wildcard_hosts_longest_wins_exact_first, teardown),
		cmocka_unit_test_teardown(path_index_keeps_rule_order, teardown),
		cmocka_unit_test_teardown(path_index_with_rules_for_other_clients, teardown),
		cmocka_unit_test_teardown(bad_regex_fails_the_build_with_its_place, teardown),
	};

	if (argc > 1 && !strcmp(argv[1], "--bench")) {
		if (group_setup(NULL))
			return 1;
		for (int prefix = 0; prefix < 2; prefix++) {
			bench(10, prefix);
			bench(1000, prefix);
			bench(10000, prefix);
		}
		bench_build(1000);
		bench_build(10000);
		group_teardown(NULL);
		return 0;
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
