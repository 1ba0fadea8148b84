// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The config loader against fixture directories (tests/unit/testdata/config/<case>/):
 * the model it builds, the endpoints it computes, and the exact diagnostics a user sees
 * for bad input. Fixtures are found under $SHUNT_SRC (default: the current directory,
 * which is the repo root when tests/run.sh runs us).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "log.h"

#define MAX_DIAGS 64

/* What the loader reported during one test. */
static struct {
	char *line[MAX_DIAGS];
	enum log_level level[MAX_DIAGS];
	size_t n;
} diags;

static char dir[512];

static void capture(enum log_level level, const char *line, void *arg)
{
	if (diags.n == MAX_DIAGS)
		fail_msg("more than %d diagnostics", MAX_DIAGS);
	diags.level[diags.n] = level;
	diags.line[diags.n++] = strdup(line);
}

static void diags_clear(void)
{
	for (size_t i = 0; i < diags.n; i++)
		free(diags.line[i]);
	diags.n = 0;
}

static int setup(void **state)
{
	diags_clear();
	return 0;
}

static int teardown(void **state)
{
	diags_clear();
	return 0;
}

static int group_setup(void **state)
{
	log_level_cur = LOG_ERROR; /* notices still reach the sink */
	config_set_diag_sink(capture, NULL);
	return 0;
}

static int group_teardown(void **state)
{
	config_set_diag_sink(NULL, NULL);
	return 0;
}

/* Sets dir to the fixture directory of @name. */
static const char *fixture(const char *name)
{
	const char *src = getenv("SHUNT_SRC");

	snprintf(dir, sizeof(dir), "%s/tests/unit/testdata/config/%s", src ? src : ".", name);
	return dir;
}

static struct config *load_ok(const char *name)
{
	struct config *cfg = NULL;

	assert_int_equal(config_load_dir(fixture(name), &cfg), 0);
	assert_non_null(cfg);
	return cfg;
}

/* Loads fixture @name, expecting -EINVAL, no config, and exactly the @level lines of
 * @expected (NULL-terminated, each "FILE:LINE:COL: FIELD: MESSAGE" with FILE relative to the
 * fixture directory), in order. */
static void load_fails_with(const char *name, enum log_level level, const char *const *expected)
{
	struct config *cfg = (struct config *)0x1;
	char want[1024];
	size_t k = 0;

	assert_int_equal(config_load_dir(fixture(name), &cfg), -EINVAL);
	assert_ptr_equal(cfg, (struct config *)0x1); /* untouched */
	for (size_t i = 0; i < diags.n; i++) {
		if (diags.level[i] != level)
			continue;
		if (!expected[k])
			fail_msg("unexpected diagnostic: %s", diags.line[i]);
		snprintf(want, sizeof(want), "%s/%s", dir, expected[k++]);
		assert_string_equal(diags.line[i], want);
	}
	if (expected[k])
		fail_msg("missing diagnostic: %s", expected[k]);
}

static size_t count_level(enum log_level level)
{
	size_t n = 0;

	for (size_t i = 0; i < diags.n; i++)
		n += diags.level[i] == level;
	return n;
}

static const struct service *svc(const struct config *cfg, const char *ns, const char *name)
{
	const struct service *s = config_find_service(cfg, ns, name);

	if (!s)
		fail_msg("no service %s/%s", ns, name);
	return s;
}

static const struct pod *pod(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_pods; i++)
		if (!strcmp(cfg->pods[i].name, name))
			return &cfg->pods[i];
	fail_msg("no pod %s", name);
	return NULL;
}

/* Asserts endpoint @i of @sp is @pod_name at @ip:@port with readiness @ready. */
static void assert_ep(const struct svc_port *sp, size_t i, const char *pod_name, const char *ip,
		      uint16_t port, bool ready)
{
	char got[INET_ADDRSTRLEN];

	assert_true(i < sp->n_eps);
	assert_string_equal(sp->eps[i].pod->name, pod_name);
	inet_ntop(AF_INET, &sp->eps[i].ip, got, sizeof(got));
	assert_string_equal(got, ip);
	assert_int_equal(sp->eps[i].port, port);
	assert_int_equal(sp->eps[i].ready, ready);
}

static struct in_addr ip4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

static void greeter_gives_three_endpoints_on_3000(void **state)
{
	struct config *cfg = load_ok("greeter");
	const struct service *g, *h;
	char want[1024];

	assert_int_equal(cfg->n_services, 2);
	assert_int_equal(cfg->n_pods, 4);
	assert_int_equal(count_level(LOG_ERROR), 0);

	g = svc(cfg, "default", "greeter-service");
	assert_int_equal(g->cluster_ip.s_addr, ip4("10.96.77.10").s_addr);
	assert_true(g->has_selector);
	assert_string_equal(labels_get(&g->selector, "app"), "greeter-service");
	assert_int_equal(g->n_ports, 1);
	assert_string_equal(g->ports[0].name, "http");
	assert_int_equal(g->ports[0].port, 3000);
	assert_int_equal(g->ports[0].target_port, 3000);
	assert_null(g->ports[0].target_port_name);
	assert_int_equal(g->ports[0].protocol, IPPROTO_TCP);
	/* Sorted by pod name although the file lists greeter-v2 first. */
	assert_int_equal(g->ports[0].n_eps, 3);
	assert_int_equal(g->ports[0].n_ready, 3);
	assert_ep(&g->ports[0], 0, "greeter-v1-a", "10.77.0.11", 3000, true);
	assert_ep(&g->ports[0], 1, "greeter-v1-b", "10.77.0.12", 3000, true);
	assert_ep(&g->ports[0], 2, "greeter-v2", "10.77.0.13", 3000, true);
	assert_string_equal(labels_get(&g->ports[0].eps[2].pod->labels, "version"), "v2");

	h = svc(cfg, "default", "helloweb");
	assert_null(h->ports[0].name);
	assert_int_equal(h->ports[0].n_eps, 1);
	assert_ep(&h->ports[0], 0, "helloweb", "10.77.0.10", 3000, true);

	snprintf(want, sizeof(want), "%s/services.yaml", dir);
	assert_string_equal(g->loc.file, want);
	assert_int_equal(g->loc.line, 3);
	assert_int_equal(g->loc.col, 1);
	config_free(cfg);
}

static void vip_lookup_hits_misses_and_checks_protocol(void **state)
{
	struct config *cfg = load_ok("greeter");
	const struct service *s = NULL;
	const struct svc_port *sp;

	sp = config_find_vip(cfg, ip4("10.96.77.10"), htons(3000), IPPROTO_TCP, &s);
	assert_non_null(sp);
	assert_string_equal(s->name, "greeter-service");
	assert_ptr_equal(sp, &s->ports[0]);
	sp = config_find_vip(cfg, ip4("10.96.77.11"), htons(3000), IPPROTO_TCP, NULL);
	assert_non_null(sp);
	assert_int_equal(sp->eps[0].port, 3000);

	assert_null(config_find_vip(cfg, ip4("10.96.77.10"), htons(3000), IPPROTO_UDP, NULL));
	assert_null(config_find_vip(cfg, ip4("10.96.77.10"), htons(3001), IPPROTO_TCP, NULL));
	assert_null(config_find_vip(cfg, ip4("10.96.77.12"), htons(3000), IPPROTO_TCP, NULL));
	assert_null(config_find_vip(cfg, ip4("0.0.0.0"), htons(3000), IPPROTO_TCP, NULL));
	/* Host order by mistake: 3000 = 0x0bb8, read back as 0xb80b = 47115. */
	assert_null(config_find_vip(cfg, ip4("10.96.77.10"), 3000, IPPROTO_TCP, NULL));
	config_free(cfg);
}

static void many_services_all_found_through_vip_index(void **state)
{
	enum { N = 2000 };
	size_t cap = N * 160, len = 0;
	char *buf = malloc(cap);
	struct config *cfg = NULL;

	assert_non_null(buf);
	for (int i = 0; i < N; i++)
		len += (size_t)snprintf(
			buf + len, cap - len,
			"---\napiVersion: v1\nkind: Service\nmetadata: {name: s%d}\n"
			"spec: {clusterIP: 10.%d.%d.1, ports: [{port: 80, name: http}, "
			"{port: 53, name: dns, protocol: UDP}]}\n",
			i, 100 + i / 256, i % 256);
	assert_int_equal(config_load_buf("many.yaml", buf, len, &cfg), 0);
	assert_int_equal(cfg->n_services, N);
	for (int i = 0; i < N; i++) {
		char ip[32];
		const struct service *s;

		snprintf(ip, sizeof(ip), "10.%d.%d.1", 100 + i / 256, i % 256);
		assert_non_null(config_find_vip(cfg, ip4(ip), htons(80), IPPROTO_TCP, &s));
		assert_ptr_equal(s, &cfg->services[i]);
		assert_non_null(config_find_vip(cfg, ip4(ip), htons(53), IPPROTO_UDP, NULL));
		assert_null(config_find_vip(cfg, ip4(ip), htons(53), IPPROTO_TCP, NULL));
	}
	free(buf);
	config_free(cfg);
}

static void multi_document_files_and_lists(void **state)
{
	struct config *cfg = load_ok("multidoc");
	const struct service *a, *b;

	/* notes.txt and sub/nested.yaml are not read. */
	assert_int_equal(count_level(LOG_ERROR), 0);
	assert_int_equal(cfg->n_services, 2);
	assert_int_equal(cfg->n_pods, 3);
	a = svc(cfg, "default", "alpha");
	assert_string_equal(a->type, "ClusterIP");
	assert_string_equal(a->creation_timestamp, "2024-05-01T10:00:00Z");
	assert_int_equal(a->ports[0].target_port, 8080);
	assert_int_equal(a->ports[0].n_eps, 2);
	/* alpha-2's labels are an alias of alpha-1's. */
	assert_ep(&a->ports[0], 0, "alpha-1", "10.5.0.1", 8080, true);
	assert_ep(&a->ports[0], 1, "alpha-2", "10.5.0.2", 8080, true);
	b = svc(cfg, "default", "beta");
	assert_int_equal(b->loc.line, 18);
	assert_int_equal(b->loc.col, 3);
	assert_null(b->type);
	/* beta-1 comes from a PodList in more.yml. */
	assert_int_equal(b->ports[0].n_eps, 1);
	assert_ep(&b->ports[0], 0, "beta-1", "10.5.1.1", 80, true);
	config_free(cfg);
}

static void named_target_port_resolved_per_pod(void **state)
{
	struct config *cfg = load_ok("named-port");
	const struct service *s = svc(cfg, "default", "web");
	const struct svc_port *http = &s->ports[0], *metrics = &s->ports[1], *dns = &s->ports[2];

	assert_string_equal(http->target_port_name, "http");
	assert_int_equal(http->target_port, 0);
	/* web-c has no port named http, web-d none at all. */
	assert_int_equal(http->n_eps, 2);
	assert_ep(http, 0, "web-a", "10.1.0.1", 8080, true);
	assert_ep(http, 1, "web-b", "10.1.0.2", 8081, true);
	/* A numeric targetPort reaches every selected pod. */
	assert_int_equal(metrics->n_eps, 4);
	assert_ep(metrics, 3, "web-d", "10.1.0.4", 9090, true);
	/* dns/UDP is in web-a's second container; web-d's dns is TCP. */
	assert_int_equal(dns->protocol, IPPROTO_UDP);
	assert_int_equal(dns->n_eps, 1);
	assert_ep(dns, 0, "web-a", "10.1.0.1", 5353, true);
	assert_int_equal(pod(cfg, "web-a")->n_cports, 2);
	assert_int_equal(pod(cfg, "web-a")->cports[1].protocol, IPPROTO_UDP);
	config_free(cfg);
}

static void selector_only_matches_pods_of_its_namespace(void **state)
{
	struct config *cfg = load_ok("namespaces");
	const struct service *a = svc(cfg, "team-a", "api"), *b = svc(cfg, "team-b", "api");
	const struct service *all = svc(cfg, "team-a", "everything");

	assert_int_equal(a->ports[0].n_eps, 1);
	assert_ep(&a->ports[0], 0, "api-1", "10.2.0.1", 80, true);
	assert_int_equal(b->ports[0].n_eps, 1);
	assert_ep(&b->ports[0], 0, "api-2", "10.2.0.2", 80, true);
	assert_string_equal(pod(cfg, "api-3")->namespace, "default");
	/* selector: {} selects nothing. */
	assert_false(all->has_selector);
	assert_int_equal(all->ports[0].n_eps, 0);
	assert_null(config_find_service(cfg, "default", "api"));
	config_free(cfg);
}

static void pod_states_decide_endpoints_and_readiness(void **state)
{
	struct config *cfg = load_ok("pod-states");
	const struct svc_port *sp = &svc(cfg, "default", "s")->ports[0];

	/* Ready ones first, then not ready, each by name; terminating, Succeeded, Failed and
	 * address-less pods are not endpoints at all. */
	assert_int_equal(sp->n_eps, 4);
	assert_int_equal(sp->n_ready, 2);
	assert_ep(sp, 0, "p-no-conditions", "10.3.0.2", 80, true);
	assert_ep(sp, 1, "p-ready", "10.3.0.1", 80, true);
	assert_ep(sp, 2, "p-not-ready", "10.3.0.3", 80, false);
	assert_ep(sp, 3, "p-ready-unknown", "10.3.0.4", 80, false);

	assert_true(pod(cfg, "p-terminating")->terminating);
	assert_true(pod(cfg, "p-terminating")->ready);
	assert_string_equal(pod(cfg, "p-succeeded")->phase, "Succeeded");
	assert_string_equal(pod(cfg, "p-ready")->phase, "Running");
	assert_null(pod(cfg, "p-no-conditions")->phase);
	assert_int_equal(pod(cfg, "p-no-ip")->ip.s_addr, 0);
	config_free(cfg);
}

static void headless_and_vipless_services_load_without_vip(void **state)
{
	struct config *cfg = load_ok("headless");
	const struct service *db = svc(cfg, "default", "db"), *v6 = svc(cfg, "default", "v6");
	const struct service *ext = svc(cfg, "default", "external");
	char ip[INET6_ADDRSTRLEN];

	assert_true(db->headless);
	assert_int_equal(db->cluster_ip.s_addr, 0);
	assert_false(db->has_ip6);
	/* Headless still has endpoints, the IPv6-only pod too (by name: db-0, db-v6). */
	assert_int_equal(db->ports[0].n_eps, 2);
	assert_ep(&db->ports[0], 0, "db-0", "10.4.0.1", 5432, true);
	assert_false(db->ports[0].eps[0].has_ip6);
	assert_string_equal(db->ports[0].eps[1].pod->name, "db-v6");
	assert_int_equal(db->ports[0].eps[1].ip.s_addr, 0);
	assert_true(db->ports[0].eps[1].has_ip6);
	inet_ntop(AF_INET6, &db->ports[0].eps[1].ip6, ip, sizeof(ip));
	assert_string_equal(ip, "fd00:10:244::5");
	assert_false(svc(cfg, "default", "no-vip")->headless);
	assert_int_equal(svc(cfg, "default", "no-vip")->cluster_ip.s_addr, 0);
	assert_int_equal(svc(cfg, "default", "no-vip")->ports[0].n_eps, 2);
	assert_int_equal(svc(cfg, "default", "empty-vip")->cluster_ip.s_addr, 0);
	/* An IPv6-only service: its VIP is the IPv6 one. */
	assert_true(v6->has_ip6);
	assert_int_equal(v6->cluster_ip.s_addr, 0);
	inet_ntop(AF_INET6, &v6->cluster_ip6, ip, sizeof(ip));
	assert_string_equal(ip, "fd00:10:96::a");
	assert_ptr_equal(config_find_vip6(cfg, &v6->cluster_ip6, htons(80), IPPROTO_TCP, NULL),
			 &v6->ports[0]);
	assert_null(config_find_vip6(cfg, &v6->cluster_ip6, htons(81), IPPROTO_TCP, NULL));
	assert_string_equal(ext->type, "ExternalName");
	assert_int_equal(ext->n_ports, 0);
	assert_int_equal(count_level(LOG_WARN), 0);
	config_free(cfg);
}

static void unknown_kinds_ignored_with_notice(void **state)
{
	struct config *cfg = load_ok("unknown-kind");
	char want[1024];

	assert_int_equal(cfg->n_services, 1);
	assert_int_equal(svc(cfg, "default", "web")->ports[0].port, 80);
	assert_int_equal(count_level(LOG_INFO), 3);
	snprintf(want, sizeof(want),
		 "%s/deploy.yaml:1: ignoring kind Deployment (not used by shunt)", dir);
	assert_string_equal(diags.line[0], want);
	snprintf(want, sizeof(want),
		 "%s/deploy.yaml:7: ignoring kind ConfigMap (not used by shunt)", dir);
	assert_string_equal(diags.line[1], want);
	/* serving.knative.dev's Service is not the core Service. */
	snprintf(want, sizeof(want), "%s/deploy.yaml:13: ignoring kind Service (not used by shunt)",
		 dir);
	assert_string_equal(diags.line[2], want);
	config_free(cfg);
}

static void istio_bookinfo_samples_load(void **state)
{
	struct config *cfg = load_ok("bookinfo");

	/* VirtualService, DestinationRule and Gateway are parsed (config_istio_test.c has the
	 * details). Without Services, every destination host is warned about. */
	assert_int_equal(cfg->n_services, 0);
	assert_int_equal(cfg->istio.n_vs, 1 + 4);
	assert_int_equal(cfg->istio.n_dr, 4);
	assert_int_equal(cfg->istio.n_gws, 1);
	assert_int_equal(count_level(LOG_ERROR), 0);
	assert_int_equal(count_level(LOG_INFO), 0);
	assert_int_equal(count_level(LOG_WARN), 5);
	config_free(cfg);
}

static void dir_without_yaml_is_empty_config(void **state)
{
	struct config *cfg = load_ok("empty");

	assert_int_equal(cfg->n_services, 0);
	assert_int_equal(cfg->n_pods, 0);
	assert_null(config_find_vip(cfg, ip4("10.0.0.1"), htons(80), IPPROTO_TCP, NULL));
	assert_null(config_find_service(cfg, "default", "x"));
	config_free(cfg);
}

static void missing_dir_is_enoent(void **state)
{
	struct config *cfg = NULL;

	char want[1024];

	assert_int_equal(config_load_dir(fixture("no-such-case"), &cfg), -ENOENT);
	assert_null(cfg);
	snprintf(want, sizeof(want), "%s: cannot read config directory: No such file or directory",
		 dir);
	assert_int_equal(diags.n, 1);
	assert_string_equal(diags.line[0], want);
}

static void unreadable_file_is_an_io_error(void **state)
{
	struct config *cfg = NULL;
	char want[1024];

	/* err-io/ holds a valid file and a dangling symlink. */
	assert_int_equal(config_load_dir(fixture("err-io"), &cfg), -ENOENT);
	assert_null(cfg);
	snprintf(want, sizeof(want), "%s/dangling.yaml: cannot read: No such file or directory",
		 dir);
	assert_int_equal(count_level(LOG_ERROR), 1);
	assert_string_equal(diags.line[0], want);
}

static void trailing_slash_in_dir_is_not_doubled(void **state)
{
	struct config *cfg = NULL;
	char path[600], want[1024];

	snprintf(path, sizeof(path), "%s/", fixture("greeter"));
	assert_int_equal(config_load_dir(path, &cfg), 0);
	snprintf(want, sizeof(want), "%s/pods.yaml", dir);
	assert_string_equal(cfg->pods[0].loc.file, want);
	config_free(cfg);
}

static void every_field_error_reported_at_once(void **state)
{
	static const char *const want[] = {
		"web.yaml:3:1: metadata.name: required field is missing",
		"web.yaml:7:14: spec.clusterIP: expected an IPv4 or IPv6 address, got "
		"\"10.96.0.300\"",
		"web.yaml:8:9: spec.type: expected a string, got a mapping",
		"web.yaml:11:14: spec.selector.version: expected a string, got the number 2 "
		"(quote it)",
		"web.yaml:14:11: spec.ports[0].port: expected an integer, got \"http\"",
		"web.yaml:16:11: spec.ports[1].port: must be between 1 and 65535, got 70000",
		"web.yaml:17:17: spec.ports[1].targetPort: \"3000\" is not a valid port name (1-15 "
		"of a-z, 0-9 and '-', with a letter; a port number is written unquoted)",
		"web.yaml:18:11: spec.ports[2].name: \"Metrics\" is not a valid port name (a DNS "
		"label: a-z, 0-9 and '-')",
		"web.yaml:20:15: spec.ports[2].protocol: unsupported protocol \"tcp\" (expected "
		"TCP, "
		"UDP or SCTP)",
		"web.yaml:22:11: spec.ports[3].port: expected an integer, got \"8080\" (quoted, so "
		"a "
		"string)",
		"web.yaml:28:11: metadata.labels: expected a mapping, got a sequence",
		"web.yaml:33:22: spec.containers[0].ports[0].containerPort: must be between 1 and "
		"65535, got 0",
		"web.yaml:34:13: spec.containers[0].ports[1].name: \"this-name-is-far-too-long\" "
		"is "
		"not a valid port name (1-15 of a-z, 0-9 and '-', with a letter)",
		"web.yaml:37:10: status.podIP: expected an IPv4 or IPv6 address, got "
		"\"10.0.0.256\"",
		"web.yaml:38:15: status.conditions: expected a sequence, got \"Ready\"",
		NULL,
	};

	load_fails_with("err-fields", LOG_ERROR, want);
}

static void every_structure_error_reported_at_once(void **state)
{
	static const char *const want[] = {
		"objects.yaml:1:1: document: expected a mapping, got \"just a string\"",
		"objects.yaml:3:1: kind: required field is missing",
		"objects.yaml:6:1: apiVersion: required field is missing",
		"objects.yaml:9:13: apiVersion: v2 is not a known version of Service",
		"objects.yaml:17:3: metadata.name: duplicate key (first at line 16 column 3)",
		"objects.yaml:21:11: metadata: expected a mapping, got \"web-1\"",
		"objects.yaml:25:18: metadata.name: must not be empty",
		"objects.yaml:33:12: spec.ports[1].name: duplicate port name \"http\" (also used "
		"by "
		"ports[0])",
		"objects.yaml:34:23: spec.ports[2].port: duplicate port 80/TCP (also used by "
		"ports[0])",
		"objects.yaml:41:9: items[0].kind: a List inside a List is not supported",
		"objects.yaml:45:3: items[1].metadata.name: required field is missing",
		"objects.yaml:49:25: items[2].spec.ports[0].port: expected a decimal integer, got "
		"0x50",
		"objects.yaml:49:55: items[2].spec.ports[1].targetPort: expected a port number or "
		"name, got \"0x50\"",
		NULL,
	};

	load_fails_with("err-structure", LOG_ERROR, want);
}

static void duplicate_objects_name_both_places(void **state)
{
	char want0[1024], want1[1024];
	const char *const want[] = {want0, want1, NULL};

	/* fixture() first, so that dir is set for the messages. */
	fixture("err-dup-objects");
	snprintf(want0, sizeof(want0),
		 "b.yaml:1:1: metadata.name: duplicate Service default/web (first defined at "
		 "%s/a.yaml:1:1)",
		 dir);
	snprintf(want1, sizeof(want1),
		 "b.yaml:10:1: metadata.name: duplicate Pod default/web-1 (first defined at "
		 "%s/a.yaml:6:1)",
		 dir);
	load_fails_with("err-dup-objects", LOG_ERROR, want);
}

static void duplicate_cluster_ip_names_both_services(void **state)
{
	char want1[1024];
	const char *const want[] = {
		"b.yaml:14:11: spec.ports[0].port: expected an integer, got \"eighty\"",
		want1,
		NULL,
	};

	/* The field error does not hide the clash found once every file is read. */
	fixture("err-dup-clusterip");
	snprintf(want1, sizeof(want1),
		 "b.yaml:6:14: spec.clusterIP: 10.96.0.10 is also the clusterIP of Service "
		 "default/a at %s/a.yaml:6:14",
		 dir);
	load_fails_with("err-dup-clusterip", LOG_ERROR, want);
}

static void syntax_error_ends_its_file_not_the_load(void **state)
{
	static const char *const want[] = {
		"2-bad.yaml:5:18: spec.ports[0].port: expected an integer, got \"x\"",
		"2-bad.yaml:11:2: yaml: did not find expected key (while parsing a block mapping "
		"at "
		"line 7 column 1)",
		"3-after.yaml:4:17: status.podIP: expected an IPv4 or IPv6 address, got "
		"\"300.1.1.1\"",
		NULL,
	};

	load_fails_with("err-syntax", LOG_ERROR, want);
}

static void invalid_utf8_is_a_yaml_error_with_position(void **state)
{
	static const char buf[] = "apiVersion: v1\nkind: Pod\nmetadata: {name: \xff}\n";
	struct config *cfg = NULL;

	assert_int_equal(config_load_buf("bin.yaml", buf, sizeof(buf) - 1, &cfg), -EINVAL);
	assert_null(cfg);
	assert_int_equal(count_level(LOG_ERROR), 1);
	assert_string_equal(diags.line[0], "bin.yaml:3:18: yaml: invalid leading UTF-8 octet");
}

static void yaml11_booleans_and_numbers_are_not_strings(void **state)
{
	static const char buf[] = "apiVersion: v1\n"
				  "kind: Pod\n"
				  "metadata:\n"
				  "  name: p\n"
				  "  labels: {country: no, version: 1.0, ok: \"no\", empty: }\n";
	struct config *cfg = NULL;

	assert_int_equal(config_load_buf("p.yaml", buf, sizeof(buf) - 1, &cfg), -EINVAL);
	assert_int_equal(count_level(LOG_ERROR), 2);
	assert_string_equal(diags.line[0], "p.yaml:5:21: metadata.labels.country: expected a "
					   "string, got the boolean no (quote it)");
	assert_string_equal(diags.line[1], "p.yaml:5:34: metadata.labels.version: expected a "
					   "string, got the number 1.0 (quote it)");
}

static void dual_stack_services_and_pods(void **state)
{
	static const char ok_yaml[] = "apiVersion: v1\n"
				      "kind: Service\n"
				      "metadata: {name: web}\n"
				      "spec:\n"
				      "  clusterIP: 10.96.0.10\n"
				      "  clusterIPs: [10.96.0.10, 'fd00:96::10']\n"
				      "  ipFamilies: [IPv4, IPv6]\n"
				      "  selector: {app: web}\n"
				      "  ports: [{port: 80}]\n"
				      "---\n"
				      "apiVersion: v1\n"
				      "kind: Pod\n"
				      "metadata: {name: w, labels: {app: web}}\n"
				      "status:\n"
				      "  podIP: 'fd00:77::5'\n"
				      "  podIPs: [{ip: 'fd00:77::5'}, {ip: 10.77.0.5}]\n";
	static const char bad_yaml[] =
		"apiVersion: v1\n"
		"kind: Service\n"
		"metadata: {name: a}\n"
		"spec:\n"
		"  clusterIP: 10.96.0.10\n"
		"  clusterIPs: [10.96.0.11, 'fd00:96::10']\n"
		"---\n"
		"apiVersion: v1\n"
		"kind: Service\n"
		"metadata: {name: b}\n"
		"spec:\n"
		"  clusterIPs: ['fd00:96::10', 'fd00:96::11']\n"
		"---\n"
		"apiVersion: v1\n"
		"kind: Pod\n"
		"metadata: {name: p}\n"
		"status:\n"
		"  podIPs: [{ip: 10.77.0.5}, {ip: 10.77.0.6}, {ip: 'fd00::1'}]\n"
		"---\n"
		"apiVersion: v1\n"
		"kind: Pod\n"
		"metadata: {name: q}\n"
		"status: {podIPs: [{}, {ip: '::ffff:10.0.0.1'}]}\n";
	const struct service *web;
	const struct pod *w;
	struct config *cfg = NULL;
	struct in6_addr a6;
	char ip[INET6_ADDRSTRLEN];

	assert_int_equal(config_load_buf("ds.yaml", ok_yaml, sizeof(ok_yaml) - 1, &cfg), 0);
	web = &cfg->services[0];
	assert_string_equal(inet_ntoa(web->cluster_ip), "10.96.0.10");
	assert_true(web->has_ip6);
	inet_ntop(AF_INET6, &web->cluster_ip6, ip, sizeof(ip));
	assert_string_equal(ip, "fd00:96::10");
	/* Both VIPs find the same service port. */
	assert_ptr_equal(config_find_vip6(cfg, &web->cluster_ip6, htons(80), IPPROTO_TCP, NULL),
			 &web->ports[0]);
	assert_ptr_equal(config_find_vip(cfg, web->cluster_ip, htons(80), IPPROTO_TCP, NULL),
			 &web->ports[0]);
	/* An IPv6-first pod: both addresses, and it is found by the IPv6 one. */
	w = &cfg->pods[0];
	assert_string_equal(inet_ntoa(w->ip), "10.77.0.5");
	assert_true(w->has_ip6);
	assert_int_equal(web->ports[0].n_eps, 1);
	assert_true(web->ports[0].eps[0].has_ip6);
	assert_int_equal(inet_pton(AF_INET6, "fd00:77::5", &a6), 1);
	assert_ptr_equal(config_find_pod6(cfg, &a6), w);
	assert_int_equal(inet_pton(AF_INET6, "fd00:77::6", &a6), 1);
	assert_null(config_find_pod6(cfg, &a6));
	config_free(cfg);

	diags_clear();
	cfg = (struct config *)0x1;
	assert_int_equal(config_load_buf("ds.yaml", bad_yaml, sizeof(bad_yaml) - 1, &cfg), -EINVAL);
	assert_int_equal(count_level(LOG_ERROR), 5);
	assert_string_equal(
		diags.line[0],
		"ds.yaml:6:16: spec.clusterIPs[0]: must match clusterIP, the first address");
	assert_string_equal(diags.line[1],
			    "ds.yaml:12:31: spec.clusterIPs[1]: a second IPv6 address: "
			    "dual-stack takes one IPv4 and one IPv6");
	assert_string_equal(
		diags.line[2],
		"ds.yaml:18:11: status.podIPs: at most two addresses, one per family, got 3");
	assert_string_equal(diags.line[3], "ds.yaml:23:19: status.podIPs[0].ip: required field is "
					   "missing");
	assert_string_equal(diags.line[4], "ds.yaml:23:28: status.podIPs[1].ip: ::ffff:10.0.0.1 is "
					   "not a usable address");
}

static void multi_port_service_needs_every_port_named(void **state)
{
	static const char buf[] = "apiVersion: v1\n"
				  "kind: Service\n"
				  "metadata: {name: web}\n"
				  "spec:\n"
				  "  clusterIP: 10.96.0.10\n"
				  "  ports:\n"
				  "  - {port: 80, name: http}\n"
				  "  - {port: 9090}\n";
	struct config *cfg = NULL;

	assert_int_equal(config_load_buf("web.yaml", buf, sizeof(buf) - 1, &cfg), -EINVAL);
	assert_null(cfg);
	assert_int_equal(count_level(LOG_ERROR), 1);
	assert_string_equal(diags.line[0], "web.yaml:8:5: spec.ports[1].name: required when a "
					   "Service has more than one port");
}

static void load_buf_builds_the_same_model(void **state)
{
	static const char buf[] =
		"apiVersion: v1\n"
		"kind: Service\n"
		"metadata: {name: a, namespace: default}\n"
		"spec:\n"
		"  clusterIP: 10.96.0.10\n"
		"  ports: [{port: 80, name: a}, {port: 53, name: b, protocol: UDP}, {port: 9, "
		"name: c, protocol: SCTP, targetPort: 99}]\n";
	struct config *cfg = NULL;
	const struct service *s;

	assert_int_equal(config_load_buf("test.yaml", buf, sizeof(buf) - 1, &cfg), 0);
	s = svc(cfg, "default", "a");
	assert_false(s->has_selector);
	assert_int_equal(s->n_ports, 3);
	assert_int_equal(s->ports[1].protocol, IPPROTO_UDP);
	assert_int_equal(s->ports[2].protocol, IPPROTO_SCTP);
	assert_int_equal(s->ports[2].target_port, 99);
	assert_int_equal(s->ports[0].n_eps, 0);
	assert_null(s->ports[0].eps); /* no selector, no endpoints */
	assert_string_equal(s->loc.file, "test.yaml");
	assert_int_equal(s->cluster_ip_loc.line, 5);
	assert_string_equal(config_proto_str(s->ports[2].protocol), "SCTP");
	assert_ptr_equal(config_find_vip(cfg, ip4("10.96.0.10"), htons(9), IPPROTO_SCTP, NULL),
			 &s->ports[2]);
	config_free(cfg);
	config_free(NULL);
}

static void namespaces_read_with_their_labels(void **state)
{
	struct config *cfg = load_ok("mesh");
	static const char *const names[] = {"plain", "meshed",	"opted-out",
					    "istio", "ambient", "istio-off"};
	const struct k8s_namespace *ns;
	char want[1024];

	assert_int_equal(cfg->n_namespaces, 6);
	for (size_t i = 0; i < cfg->n_namespaces; i++) /* file order, the List's items too */
		assert_string_equal(cfg->namespaces[i].name, names[i]);
	ns = config_find_namespace(cfg, "meshed");
	assert_ptr_equal(ns, &cfg->namespaces[1]);
	assert_string_equal(labels_get(&ns->labels, "shunt.io/mesh"), "enabled");
	snprintf(want, sizeof(want), "%s/namespaces.yaml", dir);
	assert_string_equal(ns->loc.file, want);
	assert_int_equal(ns->loc.line, 7);
	assert_int_equal(ns->loc.col, 1);
	assert_int_equal(cfg->namespaces[0].labels.n, 0);
	ns = config_find_namespace(cfg, "ambient");
	assert_non_null(ns);
	assert_string_equal(labels_get(&ns->labels, "istio.io/dataplane-mode"), "ambient");
	assert_int_equal(ns->loc.line, 34);
	assert_int_equal(ns->loc.col, 5);
	assert_null(config_find_namespace(cfg, "ghost"));
	assert_null(config_find_namespace(cfg, "ignored"));
	config_free(cfg);
}

static void enrolment_rules_apply_in_order(void **state)
{
	static const struct {
		const char *pod;
		bool in;
	} cases[] = {
		{"enabled-in-plain", true},	    /* the pod's label, namespace unlabelled */
		{"disabled-in-meshed", false},	    /* the pod's label wins over its namespace */
		{"unlabelled-in-plain", false},	    /* nothing says in */
		{"unlabelled-in-meshed", true},	    /* the namespace's shunt.io/mesh */
		{"unlabelled-in-opted-out", false}, /* ... wins over istio-injection next to it */
		{"unlabelled-in-istio", true},	    /* istio-injection: enabled */
		{"unlabelled-in-ambient", true},    /* istio.io/dataplane-mode: ambient */
		{"unlabelled-in-istio-off", false}, /* istio-injection: disabled */
		{"inject-false-in-istio", false},   /* Istio's per-pod opt-out */
		{"inject-off-in-meshed", false},    /* ... in any spelling Istio reads as no */
		{"inject-true-in-ambient", true},   /* "true" leaves it to the namespace */
		{"enabled-inject-false", true},	    /* shunt's label wins over Istio's */
		{"in-default", false},		    /* no Namespace object named default */
		{"in-ghost", false},		    /* nor ghost */
		{"enabled-in-ghost", true},	    /* the pod's label needs none */
	};
	struct config *cfg = load_ok("mesh");

	assert_int_equal(count_level(LOG_ERROR), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pod *p = pod(cfg, cases[i].pod);

		if (p->in_mesh != cases[i].in)
			fail_msg("pod %s: in_mesh %d, want %d", p->name, p->in_mesh, cases[i].in);
		assert_int_equal(config_pod_in_mesh(cfg, p), cases[i].in);
	}
	config_free(cfg);
}

/* Asserts exclusion @i of @p is @net/@len. */
static void assert_cidr(const struct pod *p, size_t i, const char *net, unsigned len)
{
	char got[INET_ADDRSTRLEN];

	assert_true(i < p->n_excl_cidrs);
	inet_ntop(AF_INET, &p->excl_cidrs[i].net, got, sizeof(got));
	assert_string_equal(got, net);
	assert_int_equal(p->excl_cidrs[i].len, len);
}

static void exclusions_read_from_istio_annotations(void **state)
{
	struct config *cfg = load_ok("mesh");
	const struct pod *p = pod(cfg, "excl");
	static const uint16_t ports[] = {5432, 6379, 1, 65535};
	char want[1024];

	/* Spaces trimmed, the second 5432 dropped. */
	assert_int_equal(p->n_excl_ports, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(p->excl_ports[i], ports[i]);
	/* Host bits masked, /32 by default, the IPv6 range skipped, 10.96.0.0/16 already in. */
	assert_int_equal(p->n_excl_cidrs, 3);
	assert_cidr(p, 0, "10.96.0.0", 16);
	assert_cidr(p, 1, "192.168.1.5", 32);
	assert_cidr(p, 2, "0.0.0.0", 0);
	assert_int_equal(count_level(LOG_WARN), 1);
	snprintf(want, sizeof(want),
		 "%s/exclusions.yaml:8:82: metadata.annotations.traffic.sidecar.istio.io/"
		 "excludeOutboundIPRanges: IPv6 range fd00::/8 skipped (excluded ranges are IPv4): "
		 "pod "
		 "meshed/excl",
		 dir);
	for (size_t i = 0; i < diags.n; i++)
		if (diags.level[i] == LOG_WARN)
			assert_string_equal(diags.line[i], want);

	p = pod(cfg, "excl-all");
	assert_int_equal(p->n_excl_ports, POD_EXCL_PORTS_MAX);
	assert_int_equal(p->excl_ports[7], 8);
	assert_int_equal(p->n_excl_cidrs, 1);
	assert_cidr(p, 0, "0.0.0.0", 0); /* "*" */

	p = pod(cfg, "excl-blank");
	assert_int_equal(p->n_excl_ports, 0);
	assert_int_equal(p->n_excl_cidrs, 0);

	p = pod(cfg, "excl-four");
	assert_int_equal(p->n_excl_cidrs, POD_EXCL_CIDRS_MAX);
	assert_cidr(p, 0, "10.0.0.0", 8);
	assert_cidr(p, 1, "10.1.0.0", 16);
	assert_cidr(p, 2, "10.1.2.0", 24);
	assert_cidr(p, 3, "10.1.2.3", 32);

	p = pod(cfg, "unlabelled-in-plain"); /* no annotations */
	assert_int_equal(p->n_excl_ports, 0);
	assert_int_equal(p->n_excl_cidrs, 0);
	config_free(cfg);
}

static void mesh_label_and_exclusion_errors(void **state)
{
	static const char *const want[] = {
		"mesh.yaml:5:27: metadata.labels.shunt.io/mesh: unknown value \"Enabled\" "
		"(expected enabled or disabled)",
		"mesh.yaml:12:20: metadata.labels.shunt.io/mesh: unknown value \"on\" (expected "
		"enabled or disabled)",
		"mesh.yaml:19:5: metadata.labels.shunt.io/mesh: unknown value null (expected "
		"enabled or disabled)",
		"mesh.yaml:26:59: metadata.annotations.traffic.sidecar.istio.io/"
		"excludeOutboundPorts: \"x1\" is not a port number (1-65535)",
		"mesh.yaml:26:62: metadata.annotations.traffic.sidecar.istio.io/"
		"excludeOutboundPorts: \"0\" is not a port number (1-65535)",
		"mesh.yaml:26:64: metadata.annotations.traffic.sidecar.istio.io/"
		"excludeOutboundPorts: \"65536\" is not a port number (1-65535)",
		"mesh.yaml:26:71: metadata.annotations.traffic.sidecar.istio.io/"
		"excludeOutboundPorts: empty entry (entries are separated by single commas)",
		"mesh.yaml:26:75: metadata.annotations.traffic.sidecar.istio.io/"
		"excludeOutboundPorts: empty entry (entries are separated by single commas)",
		"mesh.yaml:33:69: metadata.annotations.traffic.sidecar.istio.io/"
		"excludeOutboundPorts: more than 8 ports: shunt excludes at most 8 per pod",
		"mesh.yaml:40:52: metadata.annotations.traffic.sidecar.istio.io/"
		"excludeOutboundPorts: expected a string, got the number 5432 (quote it)",
		"mesh.yaml:47:56: metadata.annotations.traffic.sidecar.istio.io/"
		"excludeOutboundIPRanges: \"10.0.0/8\" is not an IPv4 range (ADDRESS, "
		"ADDRESS/0-32 or *)",
		"mesh.yaml:47:65: metadata.annotations.traffic.sidecar.istio.io/"
		"excludeOutboundIPRanges: \"10.0.0.0/33\" is not an IPv4 range (ADDRESS, "
		"ADDRESS/0-32 or *)",
		"mesh.yaml:47:77: metadata.annotations.traffic.sidecar.istio.io/"
		"excludeOutboundIPRanges: \"10.0.0.0/\" is not an IPv4 range (ADDRESS, "
		"ADDRESS/0-32 or *)",
		"mesh.yaml:47:87: metadata.annotations.traffic.sidecar.istio.io/"
		"excludeOutboundIPRanges: empty entry (entries are separated by single commas)",
		"mesh.yaml:47:88: metadata.annotations.traffic.sidecar.istio.io/"
		"excludeOutboundIPRanges: \"fd00::/129\" is not an IPv4 range (ADDRESS, "
		"ADDRESS/0-32 or *)",
		"mesh.yaml:47:100: metadata.annotations.traffic.sidecar.istio.io/"
		"excludeOutboundIPRanges: \"10.1.0.0/x\" is not an IPv4 range (ADDRESS, "
		"ADDRESS/0-32 or *)",
		"mesh.yaml:47:111: metadata.annotations.traffic.sidecar.istio.io/"
		"excludeOutboundIPRanges: \"**\" is not an IPv4 range (ADDRESS, ADDRESS/0-32 or "
		"*)",
		"mesh.yaml:54:92: metadata.annotations.traffic.sidecar.istio.io/"
		"excludeOutboundIPRanges: more than 4 ranges: shunt excludes at most 4 per pod",
		"mesh.yaml:60:16: metadata.annotations: expected a mapping, got a sequence",
		NULL,
	};

	load_fails_with("err-mesh", LOG_ERROR, want);
}

static void duplicate_namespace_names_both_places(void **state)
{
	char want0[1024];
	const char *const want[] = {want0, NULL};

	/* A Service of the same name is no clash; metadata.namespace does not tell Namespaces
	 * apart. */
	fixture("err-dup-namespace");
	snprintf(want0, sizeof(want0),
		 "b.yaml:8:1: metadata.name: duplicate Namespace team-a (first defined at "
		 "%s/a.yaml:1:1)",
		 dir);
	load_fails_with("err-dup-namespace", LOG_ERROR, want);
}

static void labels_get_finds_values(void **state)
{
	struct label v[] = {{"app", "web"}, {"version", ""}};
	struct labels l = {v, 2};

	assert_string_equal(labels_get(&l, "app"), "web");
	assert_string_equal(labels_get(&l, "version"), "");
	assert_null(labels_get(&l, "tier"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(greeter_gives_three_endpoints_on_3000),
		T(vip_lookup_hits_misses_and_checks_protocol),
		T(many_services_all_found_through_vip_index),
		T(multi_document_files_and_lists),
		T(named_target_port_resolved_per_pod),
		T(selector_only_matches_pods_of_its_namespace),
		T(pod_states_decide_endpoints_and_readiness),
		T(headless_and_vipless_services_load_without_vip),
		T(dual_stack_services_and_pods),
		T(unknown_kinds_ignored_with_notice),
		T(istio_bookinfo_samples_load),
		T(dir_without_yaml_is_empty_config),
		T(missing_dir_is_enoent),
		T(unreadable_file_is_an_io_error),
		T(trailing_slash_in_dir_is_not_doubled),
		T(every_field_error_reported_at_once),
		T(every_structure_error_reported_at_once),
		T(duplicate_objects_name_both_places),
		T(duplicate_cluster_ip_names_both_services),
		T(syntax_error_ends_its_file_not_the_load),
		T(invalid_utf8_is_a_yaml_error_with_position),
		T(yaml11_booleans_and_numbers_are_not_strings),
		T(multi_port_service_needs_every_port_named),
		T(load_buf_builds_the_same_model),
		T(labels_get_finds_values),
		T(namespaces_read_with_their_labels),
		T(enrolment_rules_apply_in_order),
		T(exclusions_read_from_istio_annotations),
		T(mesh_label_and_exclusion_errors),
		T(duplicate_namespace_names_both_places),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
