// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * explain (agent/explain.c) and the config views (agent/dump*.c) against
 * tests/unit/testdata/route/base.yaml and a VirtualService whose rules each
 * miss in their own way: the rule that matches, why every earlier rule did
 * not, the weighted destinations with their subsets and endpoints; that the
 * trace changes no decision (route_select() without one, on a table with and
 * without the exact-path index); and that /config_dump and /routes are JSON a
 * parser accepts, for every config of the routing suite.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include <jansson.h>

#include "config.h"
#include "dump.h"
#include "explain.h"
#include "log.h"
#include "proxy.h"
#include "route.h"
#include "route_base.h"

#define CLIENT "10.0.9.1" /* pod client, namespace default, app=client tier=front */

/* greeter's rules, each missing a /split request differently; rule 5 matches it. */
#define RULES                                                                                      \
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"                              \
	"metadata: {name: greeter, namespace: default}\n"                                          \
	"spec:\n  host: greeter\n  subsets:\n"                                                     \
	"  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}\n"           \
	"---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"                          \
	"metadata: {name: greeter, namespace: default}\n"                                          \
	"spec:\n  hosts: [greeter]\n  http:\n"                                                     \
	"  - name: v2-first\n    match: [{uri: {prefix: /v2}}]\n"                                  \
	"    route: [{destination: {host: greeter, subset: v2}}]\n"                                \
	"  - name: exact\n    match: [{uri: {exact: /exact}}]\n"                                   \
	"    route: [{destination: {host: greeter, subset: v2}}]\n"                                \
	"  - name: regex\n    match: [{uri: {regex: '/re[0-9]+'}}]\n"                              \
	"    route: [{destination: {host: greeter, subset: v2}}]\n"                                \
	"  - name: alice\n    match: [{headers: {x-user: {exact: alice}}}]\n"                      \
	"    route: [{destination: {host: greeter, subset: v2}}]\n"                                \
	"  - name: posts\n    match: [{method: {exact: POST}}, {sourceLabels: {app: ops}}]\n"      \
	"    route: [{destination: {host: greeter, subset: v2}}]\n"                                \
	"  - name: split\n    match: [{uri: {prefix: /split}}]\n"                                  \
	"    route:\n"                                                                             \
	"    - {destination: {host: greeter, subset: v1}, weight: 90}\n"                           \
	"    - {destination: {host: greeter, subset: v2}, weight: 10}\n"                           \
	"    timeout: 2s\n"                                                                        \
	"  - route: [{destination: {host: greeter, subset: v1}}]\n"

static struct {
	struct config *cfg;
	struct route_table *rt;
	json_t *x; /* the last explanation */
	char err[512];
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
	json_decref(t.x);
	route_table_free(t.rt);
	config_free(t.cfg);
	memset(&t, 0, sizeof(t));
	return 0;
}

static void load(const char *yaml)
{
	route_base_load(yaml, &t.cfg);
	assert_int_equal(route_table_build(t.cfg, &t.rt), 0);
}

/* Explains @q into t.x; the return of explain_write(). */
static int explain(struct explain_query *q)
{
	struct admin_resp r = {0};
	json_error_t jerr;
	struct jw w;
	int ret;

	json_decref(t.x);
	t.x = NULL;
	jw_init(&w, &r);
	ret = explain_write(&w, t.rt, q, t.err, sizeof(t.err));
	if (!ret) {
		jw_finish(&w);
		assert_false(r.oom);
		t.x = json_loadb(r.body, r.len, 0, &jerr);
		if (!t.x)
			fail_msg("not JSON (%s): %s", jerr.text, r.body);
	}
	free(r.body);
	return ret;
}

/* The reason the explanation gives for rule @i, or "". */
static const char *rule_reason(size_t i)
{
	const char *s = json_string_value(
		json_object_get(json_array_get(json_object_get(t.x, "rules"), i), "reason"));

	return s ? s : "";
}

static json_int_t matched_rule(void)
{
	json_t *m = json_object_get(json_object_get(t.x, "matchedRule"), "index");

	return m ? json_integer_value(m) : -1;
}

static const char *xstr(const char *key)
{
	return json_string_value(json_object_get(t.x, key));
}

static void rules_are_tried_in_order_and_the_first_match_wins(void **state)
{
	struct explain_query q = {.host = "greeter", .path = "/split/x", .source_ip = CLIENT};

	load(RULES);
	assert_int_equal(explain(&q), 0);
	assert_int_equal(matched_rule(), 5);
	assert_string_equal(xstr("virtualService"), "default/greeter");
	assert_string_equal(xstr("verdict"), "FORWARD");
	assert_int_equal(json_array_size(json_object_get(t.x, "rules")), 6);
	assert_string_equal(rule_reason(0), "rule 0 (v2-first): uri prefix /v2 does not match "
					    "/split/x");
	assert_string_equal(rule_reason(1), "rule 1 (exact): uri exact \"/exact\" does not match "
					    "/split/x");
	assert_string_equal(rule_reason(2), "rule 2 (regex): uri regex /re[0-9]+ does not match "
					    "/split/x");
	assert_string_equal(rule_reason(3), "rule 3 (alice): header x-user exact \"alice\": the "
					    "request has none");
	assert_string_equal(rule_reason(4),
			    "rule 4 (posts): entry 0: method exact \"POST\" does not match GET; "
			    "entry 1: sourceLabels app=ops: the client default/client has "
			    "app=client,tier=front");
	assert_string_equal(rule_reason(5), "rule 5 (split): matches");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(t.x, "action"), "timeout")),
		"2s");
}

static void a_header_with_another_value_says_which(void **state)
{
	struct explain_query q = {.host = "greeter.default.svc.cluster.local:3000",
				  .path = "/other",
				  .headers = {"x-user: bob", "x-user: carol"},
				  .n_headers = 2,
				  .source_ip = CLIENT};

	load(RULES);
	assert_int_equal(explain(&q), 0);
	assert_string_equal(rule_reason(3), "rule 3 (alice): header x-user exact \"alice\" does "
					    "not match \"bob,carol\"");
	assert_int_equal(matched_rule(), 6);
	assert_string_equal(rule_reason(6), "rule 6: matches (no match conditions)");
}

static void weighted_destinations_list_subsets_and_their_endpoints(void **state)
{
	struct explain_query q = {.host = "greeter", .path = "/split", .source_ip = CLIENT};
	json_t *d, *eps;

	load(RULES);
	assert_int_equal(explain(&q), 0);
	d = json_object_get(t.x, "destinations");
	assert_int_equal(json_array_size(d), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(d, 0), "subset")),
			    "v1");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(d, 0), "weight")), 90);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(d, 1), "weight")), 10);
	assert_string_equal(json_string_value(json_object_get(json_array_get(d, 1), "cluster")),
			    "outbound|3000|v2|greeter.default.svc.cluster.local");
	eps = json_object_get(json_array_get(d, 0), "endpoints");
	assert_int_equal(json_array_size(eps), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(eps, 0), "pod")),
			    "default/greeter-v1-a");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_array_get(eps, 0), "labels"), "version")),
			    "v1");
	eps = json_object_get(json_array_get(d, 1), "endpoints");
	assert_int_equal(json_array_size(eps), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(eps, 0), "address")),
			    "10.0.1.3:8080");
}

static void source_labels_pick_the_client_pod(void **state)
{
	struct explain_query q = {.host = "greeter", .method = "GET", .source_labels = "app=ops"};

	load(RULES);
	assert_int_equal(explain(&q), 0);
	assert_int_equal(matched_rule(), 4);
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(t.x, "request"), "source"), "pod")),
		"ops/ops-tool");
	assert_string_equal(xstr("endpointPod"), "default/greeter-v2-a");
}

static void no_virtual_service_is_the_default_route(void **state)
{
	struct explain_query q = {.host = "other", .source_ip = CLIENT};
	json_t *d;

	load(RULES);
	assert_int_equal(explain(&q), 0);
	assert_true(json_is_null(json_object_get(t.x, "virtualService")));
	assert_int_equal(json_array_size(json_object_get(t.x, "rules")), 0);
	d = json_array_get(json_object_get(t.x, "destinations"), 0);
	assert_string_equal(json_string_value(json_object_get(d, "cluster")),
			    "outbound|80||other.default.svc.cluster.local");
	assert_string_equal(xstr("endpointPod"), "default/other-a");
}

static void unknown_hosts_bad_headers_and_missing_pods_are_refused(void **state)
{
	struct explain_query q = {.host = "nosuch", .source_ip = CLIENT};

	load(RULES);
	assert_int_equal(explain(&q), -ENOENT);
	assert_string_equal(t.err, "no service is named nosuch");
	q = (struct explain_query){.host = "greeter", .headers = {"no colon"}, .n_headers = 1};
	assert_int_equal(explain(&q), -EINVAL);
	q = (struct explain_query){.host = "greeter", .source_labels = "app=nobody"};
	assert_int_equal(explain(&q), -ENOENT);
	q = (struct explain_query){.host = "multi", .port = 9999};
	assert_int_equal(explain(&q), -ENOENT);
}

/* route_select() alone (no trace) on @path from CLIENT to greeter: the rule index, or -1. */
static long plain_rule(const char *path, const char *hdr)
{
	struct http_hdr hdrs[2] = {{"host", 4, "greeter", 7}};
	struct http_req req = {.method = "GET", .method_len = 3, .url = path};
	struct route_req rq = {.req = &req, .dst_port = 3000};
	struct route_worker *w = route_worker_new(t.rt, 1);
	struct route_result res;
	size_t n = 1;

	if (hdr)
		hdrs[n++] = (struct http_hdr){"x-user", 6, hdr, strlen(hdr)};
	req.url_len = strlen(path);
	req.hdrs = hdrs;
	req.n_hdrs = n;
	inet_pton(AF_INET, "10.96.0.10", &rq.dst_ip);
	inet_pton(AF_INET, CLIENT, &rq.src_ip);
	assert_int_equal(route_select(t.rt, w, &rq, &res), 0);
	route_worker_free(w);
	return res.rule ? (long)res.rule_index : -1;
}

/* The same decisions with and without the trace, whether the exact-path index is used or not. */
static void the_trace_changes_no_decision(void **state)
{
	static const char *const paths[] = {"/v2/a", "/exact", "/re12", "/split", "/x", "/p17"};
	char yaml[16384];
	size_t n;

	for (int indexed = 0; indexed < 2; indexed++) {
		n = (size_t)snprintf(yaml, sizeof(yaml), "%s", RULES);
		/* many exact-path rules first: enough for the index */
		if (indexed) {
			n = (size_t)snprintf(yaml, sizeof(yaml), "%.*s",
					     (int)(strstr(RULES, "  - name: v2-first") - RULES),
					     RULES);
			for (int i = 0; i < 40; i++)
				n += (size_t)snprintf(
					yaml + n, sizeof(yaml) - n,
					"  - match: [{uri: {exact: /p%d}}]\n"
					"    route: [{destination: {host: greeter}}]\n",
					i);
			n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "%s",
					      strstr(RULES, "  - name: v2-first"));
		}
		load(yaml);
		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
			struct explain_query q = {.host = "greeter",
						  .path = paths[i],
						  .headers = {"x-user: alice"},
						  .n_headers = 1,
						  .source_ip = CLIENT};

			assert_int_equal(explain(&q), 0);
			assert_int_equal(matched_rule(), plain_rule(paths[i], "alice"));
			/* every rule before the match was explained, index or not */
			assert_int_equal(json_array_size(json_object_get(t.x, "rules")),
					 matched_rule() + 1);
		}
		teardown(state);
	}
}

/* @r's body parsed; fails the test when it is no JSON. */
static json_t *parsed(struct admin_resp *r, const char *what)
{
	json_error_t jerr;
	json_t *j;

	assert_false(r->oom);
	j = json_loadb(r->body, r->len, 0, &jerr);
	if (!j)
		fail_msg("%s: not JSON at line %d: %s", what, jerr.line, jerr.text);
	free(r->body);
	memset(r, 0, sizeof(*r));
	return j;
}

static void routes_are_listed_in_evaluation_order(void **state)
{
	struct admin_resp r = {0};
	json_t *j, *routes;
	struct jw w;

	load(RULES);
	jw_init(&w, &r);
	assert_int_equal(dump_routes(&w, NULL, t.rt, "greeter", 0), 1);
	jw_finish(&w);
	j = parsed(&r, "routes");
	routes = json_object_get(json_array_get(j, 0), "routes");
	/* one route per match entry: rule 4 has two */
	assert_int_equal(json_array_size(routes), 8);
	for (size_t i = 0, want[] = {0, 1, 2, 3, 4, 4, 5, 6}; i < 8; i++)
		assert_int_equal(
			json_integer_value(json_object_get(json_array_get(routes, i), "rule")),
			want[i]);
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(json_array_get(routes, 0), "match"), "uri"),
			"prefix")),
		"/v2");
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "path")),
			    "agent");
	json_decref(j);
}

/* Every config of the routing suite dumps as JSON with each of its services and VirtualServices. */
static void config_dump_is_json_for_every_routing_set(void **state)
{
	const char *dir = "tests/e2e/routing/sets";
	struct dirent **ents;
	char path[512];
	int n = scandir(dir, &ents, NULL, alphasort), dumped = 0;

	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		struct admin_resp r = {0};
		struct jw w;
		json_t *j;

		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		if (ents[i]->d_name[0] != '.' && !config_load_dir(path, &t.cfg)) {
			assert_int_equal(route_table_build(t.cfg, &t.rt), 0);
			jw_init(&w, &r);
			dump_config(&w, t.cfg, t.rt, 7, NULL, DUMP_ALL);
			jw_finish(&w);
			j = parsed(&r, path);
			assert_int_equal(json_integer_value(json_object_get(j, "generation")), 7);
			assert_int_equal(json_array_size(json_object_get(j, "services")),
					 t.cfg->n_services);
			assert_int_equal(json_array_size(json_object_get(j, "virtualServices")),
					 t.cfg->istio.n_vs);
			assert_true(json_array_size(json_object_get(j, "routes")) > 0);
			json_decref(j);
			teardown(state);
			dumped++;
		}
		free(ents[i]);
	}
	free(ents);
	assert_true(dumped > 20);
}

static void config_dump_sections_and_endpoint_health(void **state)
{
	struct admin_resp r = {0};
	json_t *j, *svc, *ep;
	struct jw w;

	load(RULES);
	jw_init(&w, &r);
	dump_config(&w, t.cfg, t.rt, 1, NULL, DUMP_SERVICES | DUMP_DESTINATION_RULES);
	jw_finish(&w);
	j = parsed(&r, "dump");
	assert_null(json_object_get(j, "routes"));
	svc = json_array_get(json_object_get(j, "services"), 4); /* sleepy */
	assert_string_equal(json_string_value(json_object_get(svc, "name")), "sleepy");
	ep = json_array_get(
		json_object_get(json_array_get(json_object_get(svc, "ports"), 0), "endpoints"), 0);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(ep, "health"), "ready")),
		"false");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(ep, "health"), "outlier")),
		"unknown");
	assert_string_equal(
		json_string_value(json_object_get(
			json_array_get(
				json_object_get(
					json_array_get(json_object_get(j, "destinationRules"), 0),
					"subsets"),
				1),
			"name")),
		"v2");
	assert_int_equal(dump_section_by_name("sidecars"), DUMP_SIDECARS);
	assert_int_equal(dump_section_by_name("nope"), 0);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(rules_are_tried_in_order_and_the_first_match_wins,
					  teardown),
		cmocka_unit_test_teardown(a_header_with_another_value_says_which, teardown),
		cmocka_unit_test_teardown(weighted_destinations_list_subsets_and_their_endpoints,
					  teardown),
		cmocka_unit_test_teardown(source_labels_pick_the_client_pod, teardown),
		cmocka_unit_test_teardown(no_virtual_service_is_the_default_route, teardown),
		cmocka_unit_test_teardown(unknown_hosts_bad_headers_and_missing_pods_are_refused,
					  teardown),
		cmocka_unit_test_teardown(the_trace_changes_no_decision, teardown),
		cmocka_unit_test_teardown(routes_are_listed_in_evaluation_order, teardown),
		cmocka_unit_test_teardown(config_dump_is_json_for_every_routing_set, teardown),
		cmocka_unit_test_teardown(config_dump_sections_and_endpoint_health, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
