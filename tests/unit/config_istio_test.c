// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * VirtualService and DestinationRule through the config loader: Istio's own
 * Bookinfo samples and the YAML of real tutorials load unmodified into the
 * model of istio.h, field by field; bad input gets every problem reported with
 * Istio's rule and message; hosts resolve, exportTo decides visibility, and an
 * older VirtualService shadows a younger one for the same host. Fixtures are
 * under $SHUNT_SRC/tests/unit/testdata/istio/ (default: the current directory).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "config_int.h" /* ist_parse_duration() */
#include "istio.h"
#include "log.h"

#define MAX_DIAGS 128

static struct {
	char *line[MAX_DIAGS];
	enum log_level level[MAX_DIAGS];
	size_t n;
} diags;

static char dir[512];	/* the directory loaded; diagnostics name files under it */
static char tmpdir[64]; /* a scenario assembled from fixture files, or "" */
static char *tmplinks[16];

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

static void scenario_remove(void)
{
	for (size_t i = 0; i < sizeof(tmplinks) / sizeof(tmplinks[0]) && tmplinks[i]; i++) {
		unlink(tmplinks[i]);
		free(tmplinks[i]);
		tmplinks[i] = NULL;
	}
	if (*tmpdir)
		rmdir(tmpdir);
	*tmpdir = '\0';
}

static int setup(void **state)
{
	diags_clear();
	return 0;
}

static int teardown(void **state)
{
	diags_clear();
	scenario_remove();
	return 0;
}

static int group_setup(void **state)
{
	log_level_cur = LOG_ERROR; /* warnings and notices still reach the sink */
	config_set_diag_sink(capture, NULL);
	return 0;
}

static int group_teardown(void **state)
{
	config_set_diag_sink(NULL, NULL);
	return 0;
}

static const char *src(void)
{
	const char *s = getenv("SHUNT_SRC");

	return s ? s : ".";
}

/* Sets dir to fixture directory @name (under testdata/istio). */
static const char *fixture(const char *name)
{
	snprintf(dir, sizeof(dir), "%s/tests/unit/testdata/istio/%s", src(), name);
	return dir;
}

/* Assembles a directory of symlinks to fixture files @files (NULL-terminated, relative to
 * testdata/istio), each under its base name, and sets dir to it. */
static const char *scenario(const char *const *files)
{
	char target[600];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/shunt-istio-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	for (size_t i = 0; files[i]; i++) {
		const char *base = strrchr(files[i], '/') ? strrchr(files[i], '/') + 1 : files[i];

		assert_true(i + 1 < sizeof(tmplinks) / sizeof(tmplinks[0]));
		snprintf(target, sizeof(target), "%s/tests/unit/testdata/istio/%s", src(),
			 files[i]);
		if (target[0] != '/') {
			char cwd[400];

			assert_non_null(getcwd(cwd, sizeof(cwd)));
			snprintf(target, sizeof(target), "%s/%s/tests/unit/testdata/istio/%s", cwd,
				 src(), files[i]);
		}
		assert_true(asprintf(&tmplinks[i], "%s/%s", tmpdir, base) > 0);
		assert_int_equal(symlink(target, tmplinks[i]), 0);
	}
	snprintf(dir, sizeof(dir), "%s", tmpdir);
	return dir;
}

static size_t count_level(enum log_level level)
{
	size_t n = 0;

	for (size_t i = 0; i < diags.n; i++)
		n += diags.level[i] == level;
	return n;
}

/* Asserts that the @level diagnostics are exactly @expected (NULL-terminated, FILE relative to
 * dir), in order. */
static void assert_diags(enum log_level level, const char *const *expected)
{
	char want[1024];
	size_t k = 0;

	for (size_t i = 0; i < diags.n; i++) {
		if (diags.level[i] != level)
			continue;
		if (!expected[k])
			fail_msg("unexpected diagnostic: %s", diags.line[i]);
		snprintf(want, sizeof(want), "%s/%s", dir, expected[k++]);
		if (strcmp(diags.line[i], want))
			fail_msg("diagnostic\n got: %s\nwant: %s", diags.line[i], want);
	}
	if (expected[k])
		fail_msg("missing diagnostic: %s", expected[k]);
}

static struct config *load_ok(const char *path)
{
	struct config *cfg = NULL;

	if (config_load_dir(path, &cfg) != 0) {
		for (size_t i = 0; i < diags.n; i++)
			print_message("%s\n", diags.line[i]);
		fail_msg("%s did not load", path);
	}
	assert_non_null(cfg);
	return cfg;
}

/* Loads @path expecting -EINVAL, no config, and exactly the errors @expected. */
static void load_fails_with(const char *path, const char *const *expected)
{
	struct config *cfg = (struct config *)0x1;

	assert_int_equal(config_load_dir(path, &cfg), -EINVAL);
	assert_ptr_equal(cfg, (struct config *)0x1);
	assert_diags(LOG_ERROR, expected);
}

static const struct virtual_service *vs(const struct config *cfg, const char *ns, const char *name)
{
	for (size_t i = 0; i < cfg->istio.n_vs; i++)
		if (!strcmp(cfg->istio.vs[i].namespace, ns) && !strcmp(cfg->istio.vs[i].name, name))
			return &cfg->istio.vs[i];
	fail_msg("no VirtualService %s/%s", ns, name);
	return NULL;
}

static const struct destination_rule *dr(const struct config *cfg, const char *ns, const char *name)
{
	for (size_t i = 0; i < cfg->istio.n_dr; i++)
		if (!strcmp(cfg->istio.dr[i].namespace, ns) && !strcmp(cfg->istio.dr[i].name, name))
			return &cfg->istio.dr[i];
	fail_msg("no DestinationRule %s/%s", ns, name);
	return NULL;
}

static void assert_dst(const struct istio_destination *d, const char *host, const char *fqdn,
		       const char *subset, uint32_t port)
{
	assert_string_equal(d->host, host);
	assert_string_equal(d->fqdn, fqdn);
	if (subset)
		assert_string_equal(d->subset, subset);
	else
		assert_null(d->subset);
	assert_int_equal(d->port, port);
}

/* ---- Istio's Bookinfo samples ---- */

static const char *const bookinfo_files[] = {
	"bookinfo-gateway.yaml",
	"certmanager-gateway.yaml",
	"destination-rule-all-mtls.yaml",
	"destination-rule-all.yaml",
	"destination-rule-reviews.yaml",
	"egress-rule-google-apis.yaml",
	"fault-injection-details-v1.yaml",
	"virtual-service-all-v1.yaml",
	"virtual-service-details-v2.yaml",
	"virtual-service-ratings-db.yaml",
	"virtual-service-ratings-mysql-vm.yaml",
	"virtual-service-ratings-mysql.yaml",
	"virtual-service-ratings-test-abort.yaml",
	"virtual-service-ratings-test-delay.yaml",
	"virtual-service-reviews-50-v3.yaml",
	"virtual-service-reviews-80-20.yaml",
	"virtual-service-reviews-90-10.yaml",
	"virtual-service-reviews-jason-v2-v3.yaml",
	"virtual-service-reviews-test-v2.yaml",
	"virtual-service-reviews-v2-v3.yaml",
	"virtual-service-reviews-v3.yaml",
	NULL,
};

/* Loads one Bookinfo file alone, as `kubectl apply -f FILE` would send it. */
static struct config *bookinfo(const char *file)
{
	const char *const files[] = {NULL, NULL};
	char path[600];

	snprintf(path, sizeof(path), "bookinfo/%s", file);
	((const char **)files)[0] = path;
	diags_clear();
	scenario_remove();
	return load_ok(scenario(files));
}

static void bookinfo_every_sample_loads(void **state)
{
	size_t vs_total = 0, dr_total = 0;

	for (size_t i = 0; bookinfo_files[i]; i++) {
		struct config *cfg = bookinfo(bookinfo_files[i]);

		if (count_level(LOG_ERROR))
			fail_msg("%s: %s", bookinfo_files[i], diags.line[0]);
		vs_total += cfg->istio.n_vs;
		dr_total += cfg->istio.n_dr;
		config_free(cfg);
	}
	assert_int_equal(vs_total, 24);
	assert_int_equal(dr_total, 11);
}

static void bookinfo_gateway_route_keeps_gateway_and_uri_matches(void **state)
{
	struct config *cfg = bookinfo("bookinfo-gateway.yaml");
	const struct virtual_service *v = vs(cfg, "default", "bookinfo");
	const struct http_route *r;

	assert_int_equal(v->n_hosts, 1);
	assert_string_equal(v->hosts[0], "*"); /* allowed: bound to a gateway, not the mesh */
	assert_int_equal(v->n_gateways, 1);
	assert_string_equal(v->gateways[0], "bookinfo-gateway");
	assert_false(v->shadowed);
	assert_int_equal(v->n_http, 1);
	r = &v->http[0];
	assert_int_equal(r->n_match, 5);
	assert_int_equal(r->match[0].uri.kind, SM_EXACT);
	assert_string_equal(r->match[0].uri.value, "/productpage");
	assert_int_equal(r->match[1].uri.kind, SM_PREFIX);
	assert_string_equal(r->match[1].uri.value, "/static");
	assert_int_equal(r->match[4].uri.kind, SM_PREFIX);
	assert_string_equal(r->match[4].uri.value, "/api/v1/products");
	assert_int_equal(r->match[0].loc.line, 29);
	assert_int_equal(r->n_route, 1);
	assert_dst(&r->route[0].dst, "productpage", "productpage.default.svc.cluster.local", NULL,
		   9080);
	assert_false(r->route[0].has_weight);
	/* the Gateway is parsed: selector, one HTTP server on 8080 for every host */
	assert_int_equal(cfg->istio.n_gws, 1);
	assert_string_equal(cfg->istio.gws[0].name, "bookinfo-gateway");
	assert_string_equal(labels_get(&cfg->istio.gws[0].selector, "istio"), "ingressgateway");
	assert_int_equal(cfg->istio.gws[0].n_servers, 1);
	assert_int_equal(cfg->istio.gws[0].servers[0].port, 8080);
	assert_string_equal(cfg->istio.gws[0].servers[0].protocol, "HTTP");
	assert_string_equal(cfg->istio.gws[0].servers[0].hosts[0], "*");
	assert_true(
		config_binds_gateway(v->gateways, v->n_gateways, v->namespace, &cfg->istio.gws[0]));
	assert_int_equal(count_level(LOG_INFO), 0);
	config_free(cfg);
}

static void bookinfo_weighted_split_50_50(void **state)
{
	struct config *cfg = bookinfo("virtual-service-reviews-50-v3.yaml");
	const struct http_route *r = &vs(cfg, "default", "reviews")->http[0];

	assert_int_equal(r->n_match, 0);
	assert_int_equal(r->n_route, 2);
	assert_dst(&r->route[0].dst, "reviews", "reviews.default.svc.cluster.local", "v1", 0);
	assert_dst(&r->route[1].dst, "reviews", "reviews.default.svc.cluster.local", "v3", 0);
	assert_true(r->route[0].has_weight && r->route[1].has_weight);
	assert_int_equal(r->route[0].weight, 50);
	assert_int_equal(r->route[1].weight, 50);
	assert_false(r->has_timeout);
	assert_false(r->retries.set);
	assert_null(r->fault);
	assert_null(r->redirect);
	assert_null(r->rewrite);
	assert_int_equal(r->n_mirrors, 0);
	config_free(cfg);
}

static void bookinfo_fault_abort_and_delay(void **state)
{
	struct config *cfg = bookinfo("virtual-service-ratings-test-abort.yaml");
	const struct virtual_service *v = vs(cfg, "default", "ratings");
	const struct http_fault *f = v->http[0].fault;

	assert_int_equal(v->n_http, 2);
	assert_int_equal(v->http[0].n_match, 1);
	assert_int_equal(v->http[0].match[0].n_headers, 1);
	assert_string_equal(v->http[0].match[0].headers[0].name, "end-user");
	assert_int_equal(v->http[0].match[0].headers[0].m.kind, SM_EXACT);
	assert_string_equal(v->http[0].match[0].headers[0].m.value, "jason");
	assert_non_null(f);
	assert_true(f->has_abort);
	assert_false(f->has_delay);
	assert_int_equal(f->abort_status, 500);
	assert_true(f->abort_pct.set);
	assert_true(f->abort_pct.value == 100.0);
	assert_null(v->http[1].fault);
	config_free(cfg);

	cfg = bookinfo("virtual-service-ratings-test-delay.yaml");
	f = vs(cfg, "default", "ratings")->http[0].fault;
	assert_true(f->has_delay);
	assert_false(f->has_abort);
	assert_int_equal(f->delay_ms, 7000);
	assert_true(f->delay_pct.set && f->delay_pct.value == 100.0);
	config_free(cfg);

	cfg = bookinfo("fault-injection-details-v1.yaml");
	f = vs(cfg, "default", "details")->http[0].fault;
	assert_int_equal(f->abort_status, 555);
	config_free(cfg);
}

static void bookinfo_destination_rules(void **state)
{
	struct config *cfg = bookinfo("destination-rule-all-mtls.yaml");
	const struct destination_rule *d = dr(cfg, "default", "ratings");

	assert_string_equal(d->host, "ratings");
	assert_string_equal(d->fqdn, "ratings.default.svc.cluster.local");
	assert_int_equal(d->n_subsets, 4);
	assert_string_equal(d->subsets[2].name, "v2-mysql");
	assert_string_equal(labels_get(&d->subsets[2].labels, "version"), "v2-mysql");
	assert_false(d->policy->lb.set); /* tls only: ignored with a notice */
	assert_int_equal(count_level(LOG_INFO), 4);
	assert_non_null(strstr(diags.line[0], "destination-rule-all-mtls.yaml:8:5: "
					      "spec.trafficPolicy.tls: client TLS settings are "
					      "ignored (mTLS is not shunt's business yet)"));
	config_free(cfg);

	cfg = bookinfo("destination-rule-reviews.yaml");
	d = dr(cfg, "default", "reviews");
	assert_true(d->policy->lb.set);
	assert_int_equal(d->policy->lb.simple, LB_RANDOM);
	assert_int_equal(d->policy->lb.hash, LB_HASH_NONE);
	assert_false(d->policy->pool.set);
	assert_false(d->policy->outlier.set);
	assert_int_equal(d->n_subsets, 3);
	config_free(cfg);
}

static void bookinfo_egress_port_rewrite(void **state)
{
	struct config *cfg = bookinfo("egress-rule-google-apis.yaml");
	const struct virtual_service *v = vs(cfg, "default", "rewrite-port-for-googleapis");
	const struct destination_rule *d = dr(cfg, "default", "originate-tls-for-googleapis");
	const char *const warns[] = {
		"egress-rule-google-apis.yaml:42:5: spec.trafficPolicy.portLevelSettings: not "
		"supported yet: the rule's traffic policy applies to every port",
		"egress-rule-google-apis.yaml:1:1: spec.hosts[0]: www.googleapis.com is not "
		"resolved: the agent has no upstream resolver (--dns-upstream): no endpoint from "
		"it",
		NULL,
	};
	const struct service_entry *se = &cfg->istio.ses[0];

	/* The ServiceEntry declares the host: the destination is known, no warning for it. */
	assert_int_equal(cfg->istio.n_ses, 1);
	assert_string_equal(se->name, "googleapis");
	assert_string_equal(se->hosts[0], "www.googleapis.com");
	assert_int_equal(se->resolution, SE_RES_DNS);
	assert_int_equal(se->location, SE_MESH_EXTERNAL);
	assert_int_equal(se->n_ports, 2);
	assert_int_equal(se->ports[1].number, 443);
	assert_string_equal(se->ports[1].protocol, "HTTPS");
	assert_string_equal(v->hosts[0], "www.googleapis.com"); /* a dot: taken as written */
	assert_int_equal(v->http[0].match[0].port, 80);
	assert_dst(&v->http[0].route[0].dst, "www.googleapis.com", "www.googleapis.com", NULL, 443);
	assert_int_equal(d->policy->lb.simple, LB_ROUND_ROBIN);
	assert_diags(LOG_WARN, warns);
	config_free(cfg);
}

/* ---- tutorials: the greeter walkthrough, the Korean Bookinfo tutorial ---- */

static const char *const greeter_base[] = {
	"greeter/base/greeter-service.yaml", "greeter/base/greeter-service-v2.yaml",
	"greeter/base/helloweb.yaml",	     "greeter/base/gateway.yaml",
	"greeter/base/helloweb-vs.yaml",     "greeter/base/destination-rule.yaml",
};

/* Loads the greeter base plus one step of greeter-service's VirtualService. */
static struct config *greeter(const char *step)
{
	const char *files[16];
	char path[256];
	size_t n = 0;

	for (; n < sizeof(greeter_base) / sizeof(greeter_base[0]); n++)
		files[n] = greeter_base[n];
	snprintf(path, sizeof(path), "greeter/steps/%s", step);
	files[n++] = path;
	files[n] = NULL;
	return load_ok(scenario(files));
}

static void greeter_split_90_10_with_subsets(void **state)
{
	struct config *cfg = greeter("split-90-10.yaml");
	const struct virtual_service *v = vs(cfg, "default", "greeter-service");
	const struct destination_rule *d = dr(cfg, "default", "greeter-service");
	const struct http_route *r = &v->http[0];

	assert_int_equal(count_level(LOG_ERROR), 0);
	assert_int_equal(count_level(LOG_WARN), 0); /* the Service and both subsets exist */
	assert_string_equal(v->hosts[0], "greeter-service.default.svc.cluster.local");
	assert_int_equal(v->n_gateways, 0);
	assert_int_equal(r->n_route, 2);
	assert_dst(&r->route[0].dst, "greeter-service.default.svc.cluster.local",
		   "greeter-service.default.svc.cluster.local", "v1", 3000);
	assert_int_equal(r->route[0].weight, 90);
	assert_dst(&r->route[1].dst, "greeter-service.default.svc.cluster.local",
		   "greeter-service.default.svc.cluster.local", "v2", 3000);
	assert_int_equal(r->route[1].weight, 10);
	assert_string_equal(d->fqdn, "greeter-service.default.svc.cluster.local");
	assert_int_equal(d->n_subsets, 2);
	assert_string_equal(d->subsets[0].name, "v1");
	assert_string_equal(labels_get(&d->subsets[1].labels, "version"), "v2");
	assert_int_equal(d->subsets[1].loc.line, 11);
	config_free(cfg);
}

static void greeter_dark_launch_weight_zero(void **state)
{
	struct config *cfg = greeter("all-to-v1.yaml");
	const struct http_route *r = &vs(cfg, "default", "greeter-service")->http[0];

	assert_int_equal(r->route[0].weight, 100);
	assert_true(r->route[1].has_weight);
	assert_int_equal(r->route[1].weight, 0);
	config_free(cfg);
}

static void greeter_firefox_user_agent_regex(void **state)
{
	struct config *cfg = greeter("firefox.yaml");
	const struct virtual_service *v = vs(cfg, "default", "greeter-service");
	const struct kv_match *h = &v->http[0].match[0].headers[0];

	assert_int_equal(v->n_http, 2);
	assert_string_equal(h->name, "user-agent");
	assert_int_equal(h->m.kind, SM_REGEX);
	assert_string_equal(h->m.value, ".*Firefox.*");
	assert_int_equal(h->m.loc.line, 12);
	assert_string_equal(v->http[0].route[0].dst.subset, "v2");
	assert_int_equal(v->http[1].n_match, 0);
	assert_string_equal(v->http[1].route[0].dst.subset, "v1");
	config_free(cfg);
}

static void greeter_rewrite_and_redirect(void **state)
{
	struct config *cfg = greeter("rewrite.yaml");
	const struct http_route *r = &vs(cfg, "default", "greeter-service")->http[0];

	assert_int_equal(r->match[0].uri.kind, SM_PREFIX);
	assert_string_equal(r->match[0].uri.value, "/greeting");
	assert_non_null(r->rewrite);
	assert_string_equal(r->rewrite->uri, "/hello");
	assert_null(r->rewrite->authority);
	assert_null(r->rewrite->uri_regex_match);
	config_free(cfg);

	diags_clear();
	scenario_remove();
	cfg = greeter("redirect.yaml");
	r = &vs(cfg, "default", "greeter-service")->http[0];
	assert_int_equal(r->n_route, 0);
	assert_non_null(r->redirect);
	assert_string_equal(r->redirect->uri, "/hello");
	assert_string_equal(r->redirect->authority,
			    "greeter-service.default.svc.cluster.local:3000");
	assert_int_equal(r->redirect->redirect_code, 301);
	assert_int_equal(r->redirect->port, 0);
	assert_null(r->redirect->scheme);
	config_free(cfg);
}

static void greeter_mirror_with_legacy_percent(void **state)
{
	struct config *cfg = greeter("mirror.yaml");
	const struct http_route *r = &vs(cfg, "default", "greeter-service")->http[0];
	const char *const warns[] = {
		"mirror.yaml:21:23: spec.http[0].mirror_percent: using deprecated setting "
		"\"mirrorPercent\", use \"mirrorPercentage\" instead",
		NULL,
	};

	assert_int_equal(r->n_route, 1);
	assert_int_equal(r->route[0].weight, 100);
	assert_int_equal(r->n_mirrors, 1);
	assert_true(r->mirrors[0].legacy);
	assert_dst(&r->mirrors[0].dst, "greeter-service.default.svc.cluster.local",
		   "greeter-service.default.svc.cluster.local", "v2", 3000);
	assert_true(r->mirrors[0].pct.set);
	assert_true(r->mirrors[0].pct.value == 100.0);
	assert_diags(LOG_WARN, warns);
	config_free(cfg);
}

static void greeter_two_unweighted_destinations_rejected(void **state)
{
	/* The post shows this one as "not enough"; Istio's webhook refuses it too. */
	const char *files[16];
	size_t n = 0;
	const char *const want[] = {
		"two-destinations-no-weight.yaml:10:7: spec.http[0].route: total destination "
		"weight = 0",
		NULL,
	};

	for (; n < sizeof(greeter_base) / sizeof(greeter_base[0]); n++)
		files[n] = greeter_base[n];
	files[n++] = "greeter/steps/two-destinations-no-weight.yaml";
	files[n] = NULL;
	load_fails_with(scenario(files), want);
}

static void greeter_gateway_vs_for_helloweb(void **state)
{
	struct config *cfg = greeter("split-90-10.yaml");
	const struct virtual_service *v = vs(cfg, "default", "helloweb");

	assert_string_equal(v->hosts[0], "helloweb.dev");
	assert_string_equal(v->gateways[0], "gateway");
	assert_dst(&v->http[0].route[0].dst, "helloweb.default.svc.cluster.local",
		   "helloweb.default.svc.cluster.local", NULL, 3000);
	/* Deployments are notices, and the DestinationRule's tls; the Gateway is parsed. */
	assert_int_equal(count_level(LOG_INFO), 4);
	assert_int_equal(cfg->istio.n_gws, 1);
	assert_true(
		config_binds_gateway(v->gateways, v->n_gateways, v->namespace, &cfg->istio.gws[0]));
	config_free(cfg);
}

static void reviews_end_user_jason_v1alpha3(void **state)
{
	struct config *cfg = load_ok(fixture("reviews-jason"));
	const struct virtual_service *v = vs(cfg, "default", "reviews");
	const char *const warns[] = {
		"virtual-service.yaml:15:9: spec.http[0].route[0].destination.host: reviews "
		"(reviews.default.svc.cluster.local) is not a known Service; requests routed there "
		"fail until one (or a ServiceEntry) defines it",
		"virtual-service.yaml:15:9: spec.http[0].route[0].destination.subset: no "
		"DestinationRule defines subset v2 of reviews.default.svc.cluster.local; requests "
		"routed there get 503 (no cluster)",
		"virtual-service.yaml:19:9: spec.http[1].route[0].destination.host: reviews "
		"(reviews.default.svc.cluster.local) is not a known Service; requests routed there "
		"fail until one (or a ServiceEntry) defines it",
		"virtual-service.yaml:19:9: spec.http[1].route[0].destination.subset: no "
		"DestinationRule defines subset v1 of reviews.default.svc.cluster.local; requests "
		"routed there get 503 (no cluster)",
		NULL,
	};

	assert_string_equal(v->hosts[0], "reviews.default.svc.cluster.local");
	assert_string_equal(v->http[0].match[0].headers[0].m.value, "jason");
	assert_string_equal(v->http[0].route[0].dst.subset, "v2");
	assert_string_equal(v->http[1].route[0].dst.subset, "v1");
	assert_diags(LOG_WARN, warns);
	config_free(cfg);

	diags_clear();
	cfg = load_ok(fixture("reviews-all-v1"));
	assert_int_equal(cfg->istio.n_vs, 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(cfg->istio.vs[i].http[0].route[0].dst.subset, "v1");
	assert_string_equal(cfg->istio.vs[3].hosts[0], "details.default.svc.cluster.local");
	config_free(cfg);
}

/* ---- every field, read into the model ---- */

static void full_virtual_service_every_field(void **state)
{
	struct config *cfg = load_ok(fixture("full"));
	const struct virtual_service *v = vs(cfg, "shop", "web");
	const struct http_route *r = &v->http[0];
	const struct http_match *m = &r->match[0];
	const struct route_destination *d = &r->route[0];

	assert_int_equal(count_level(LOG_ERROR), 0);
	assert_string_equal(v->creation_timestamp, "2024-03-01T10:00:00Z");
	assert_int_equal(v->loc.line, 2);
	assert_int_equal(v->n_hosts, 3);
	assert_string_equal(v->hosts[0], "web.shop.svc.cluster.local");
	assert_string_equal(v->hosts[1], "web.example.com");
	assert_string_equal(v->hosts[2], "*.web.example.org");
	assert_int_equal(v->n_gateways, 2);
	assert_string_equal(v->gateways[1], "istio-system/ingress");
	assert_int_equal(v->n_export_to, 2);
	assert_string_equal(v->export_to[0], ".");
	assert_false(v->shadowed);
	assert_int_equal(v->n_http, 4);

	/* the first rule: every match field */
	assert_string_equal(r->name, "api");
	assert_int_equal(r->n_match, 2);
	assert_string_equal(m->name, "v2-api");
	assert_int_equal(m->uri.kind, SM_REGEX);
	assert_string_equal(m->uri.value, "/api/v2/.*");
	assert_int_equal(m->scheme.kind, SM_EXACT);
	assert_string_equal(m->method.value, "POST");
	assert_int_equal(m->authority.kind, SM_PREFIX);
	assert_string_equal(m->authority.value, "web");
	assert_int_equal(m->n_headers, 2);
	assert_string_equal(m->headers[0].name, "x-canary"); /* lowercased */
	assert_int_equal(m->headers[0].m.kind, SM_NONE);     /* {}: present */
	assert_null(m->headers[0].m.value);
	assert_string_equal(m->headers[1].name, "x-user");
	assert_int_equal(m->headers[1].m.kind, SM_PREFIX);
	assert_int_equal(m->n_without_headers, 1);
	assert_string_equal(m->without_headers[0].m.value, "1");
	assert_int_equal(m->n_query_params, 1);
	assert_string_equal(m->query_params[0].name, "Debug"); /* as written */
	assert_string_equal(m->query_params[0].m.value, "true");
	assert_int_equal(m->port, 8080);
	assert_int_equal(m->source_labels.n, 2);
	assert_string_equal(labels_get(&m->source_labels, "app"), "frontend");
	assert_string_equal(m->source_namespace, "default");
	assert_int_equal(m->n_gateways, 1);
	assert_false(m->ignore_uri_case);
	assert_true(r->match[1].ignore_uri_case); /* spelled ignore_uri_case */
	assert_string_equal(r->match[1].uri.value, "/API");

	/* destinations, weights, per-destination headers */
	assert_int_equal(r->n_route, 2);
	assert_dst(&d->dst, "web", "web.shop.svc.cluster.local", "v2", 8080);
	assert_int_equal(d->weight, 75);
	assert_int_equal(d->headers.request.n_set, 1);
	assert_string_equal(d->headers.request.set[0].key, "x-route");
	assert_string_equal(d->headers.request.set[0].value, "v2");
	assert_string_equal(d->headers.request.add[0].key, "x-trace");
	assert_int_equal(d->headers.request.n_remove, 1);
	assert_string_equal(d->headers.request.remove[0], "x-debug");
	assert_string_equal(d->headers.response.remove[0], "server");
	assert_dst(&r->route[1].dst, "web.other.svc.cluster.local", "web.other.svc.cluster.local",
		   NULL, 0);
	assert_int_equal(r->route[1].weight, 25);

	/* actions */
	assert_non_null(r->rewrite);
	assert_null(r->rewrite->uri);
	assert_string_equal(r->rewrite->uri_regex_match, "^/api/v2/(.*)$");
	assert_string_equal(r->rewrite->uri_regex_rewrite, "/\\1");
	assert_string_equal(r->rewrite->authority, "backend.shop");
	assert_true(r->has_timeout);
	assert_int_equal(r->timeout_ms, 90000);
	assert_true(r->retries.set);
	assert_int_equal(r->retries.attempts, 3);
	assert_int_equal(r->retries.per_try_timeout_ms, 2500); /* spelled per_try_timeout */
	assert_string_equal(r->retries.retry_on, "5xx,connect-failure,503");
	assert_true(r->retries.retry_remote_localities);
	assert_true(r->fault->has_delay);
	assert_int_equal(r->fault->delay_ms, 100);
	assert_true(r->fault->delay_pct.set && r->fault->delay_pct.value == 5.0); /* legacy */
	assert_true(r->fault->has_abort);
	assert_int_equal(r->fault->abort_status, 503);
	assert_true(r->fault->abort_pct.value == 0.5);
	assert_int_equal(r->n_mirrors, 2);
	assert_false(r->mirrors[0].legacy);
	assert_dst(&r->mirrors[0].dst, "web-shadow", "web-shadow.shop.svc.cluster.local", NULL, 0);
	assert_true(r->mirrors[0].pct.set && r->mirrors[0].pct.value == 12.5);
	assert_false(r->mirrors[1].pct.set); /* 100% */
	assert_int_equal(r->mirrors[1].dst.port, 9000);
	assert_non_null(r->cors);
	assert_int_equal(r->cors->n_allow_origins, 2);
	assert_int_equal(r->cors->allow_origins[1].kind, SM_REGEX);
	assert_int_equal(r->cors->n_allow_methods, 2);
	assert_string_equal(r->cors->allow_headers[1], "*");
	assert_string_equal(r->cors->expose_headers[0], "x-request-id");
	assert_int_equal(r->cors->max_age_s, 86400);
	assert_int_equal(r->cors->allow_credentials, 0);
	assert_string_equal(r->headers.request.add[0].key, "x-via");
	assert_string_equal(r->headers.response.set[0].value, "no-store");

	/* redirects */
	assert_string_equal(v->http[1].redirect->uri, "/new");
	assert_string_equal(v->http[1].redirect->scheme, "https");
	assert_int_equal(v->http[1].redirect->port, 8443);
	assert_int_equal(v->http[1].redirect->redirect_code, 308);
	assert_false(v->http[1].redirect->derive_port);
	assert_true(v->http[2].redirect->derive_port);
	assert_int_equal(v->http[2].redirect->redirect_code, 301);

	/* the catch-all: legacy allowOrigin and mirror + mirrorPercentage */
	r = &v->http[3];
	assert_int_equal(r->cors->n_allow_origins, 2);
	assert_int_equal(r->cors->allow_origins[0].kind, SM_PREFIX); /* "*": any origin */
	assert_string_equal(r->cors->allow_origins[0].value, "");
	assert_int_equal(r->cors->allow_origins[1].kind, SM_EXACT);
	assert_int_equal(r->cors->allow_credentials, -1);
	assert_int_equal(r->n_mirrors, 1);
	assert_true(r->mirrors[0].legacy);
	assert_true(r->mirrors[0].pct.value == 50.0);

	/* tcp */
	assert_int_equal(v->n_tcp, 1);
	assert_int_equal(v->tcp[0].n_match_ports, 2);
	assert_int_equal(v->tcp[0].match_ports[1], 5433);
	assert_dst(&v->tcp[0].route[0].dst, "db", "db.shop.svc.cluster.local", NULL, 5432);
	assert_int_equal(v->tcp[0].route[0].weight, 100);
	config_free(cfg);
}

static void full_destination_rules_every_field(void **state)
{
	struct config *cfg = load_ok(fixture("full"));
	const struct destination_rule *d = dr(cfg, "shop", "web");
	const struct traffic_policy *p = d->policy;
	const char *const warns[] = {
		"destination-rules.yaml:34:45: spec.subsets[1].trafficPolicy.outlierDetection."
		"consecutiveErrors: outlier detection consecutive errors is deprecated, use "
		"consecutiveGatewayErrors or consecutive5xxErrors instead",
		"destination-rules.yaml:60:73: spec.trafficPolicy.loadBalancer.consistentHash."
		"minimumRingSize: consistent hash MinimumRingSize is deprecated, use "
		"ConsistentHashLB's RingHash configuration instead",
		NULL,
	};

	assert_diags(LOG_WARN, warns);
	assert_string_equal(d->fqdn, "web.shop.svc.cluster.local");
	assert_int_equal(d->n_export_to, 1);
	assert_true(p->lb.set);
	assert_int_equal(p->lb.simple, LB_UNSET);
	assert_int_equal(p->lb.hash, LB_HASH_COOKIE);
	assert_string_equal(p->lb.hash_key, "session");
	assert_string_equal(p->lb.cookie_path, "/");
	assert_int_equal(p->lb.cookie_ttl_ms, 3600000);
	assert_int_equal(p->lb.minimum_ring_size, 4096);
	assert_true(p->pool.set);
	assert_int_equal(p->pool.tcp_max_connections, 100);
	assert_int_equal(p->pool.tcp_connect_timeout_ms, 250);
	assert_int_equal(p->pool.http1_max_pending_requests, 10);
	assert_int_equal(p->pool.http2_max_requests, 1000);
	assert_int_equal(p->pool.max_requests_per_connection, 5);
	assert_int_equal(p->pool.idle_timeout_ms, 300000);
	assert_true(p->outlier.set);
	assert_true(p->outlier.has_consecutive_5xx);
	assert_int_equal(p->outlier.consecutive_5xx_errors, 0); /* 0 disables */
	assert_int_equal(p->outlier.consecutive_gateway_errors, 3);
	assert_int_equal(p->outlier.interval_ms, 5000);
	assert_int_equal(p->outlier.base_ejection_ms, 60000);
	assert_int_equal(p->outlier.max_ejection_percent, 50);
	assert_int_equal(p->outlier.min_health_percent, 20);
	assert_int_equal(d->n_subsets, 2);
	assert_false(d->subsets[0].policy->lb.set);		  /* inherits the rule's */
	assert_ptr_equal(d->subsets[0].policy, &istio_no_policy); /* none of its own */
	/* a rule lives in the config's string table: what repeats is there once */
	assert_ptr_equal(d->namespace, dr(cfg, "shop", "db")->namespace);
	assert_int_equal(d->subsets[1].labels.n, 2);
	assert_string_equal(labels_get(&d->subsets[1].labels, "track"), "canary");
	assert_true(d->subsets[1].policy->lb.set);
	assert_int_equal(d->subsets[1].policy->lb.simple, LB_LEAST_REQUEST); /* LEAST_CONN */
	/* Envoy's defaults fill what the subset's outlierDetection leaves out */
	assert_int_equal(d->subsets[1].policy->outlier.consecutive_gateway_errors, 7);
	assert_int_equal(d->subsets[1].policy->outlier.consecutive_5xx_errors, 0);
	assert_int_equal(d->subsets[1].policy->outlier.interval_ms, 10000);
	assert_int_equal(d->subsets[1].policy->outlier.base_ejection_ms, 30000);
	assert_int_equal(d->subsets[1].policy->outlier.max_ejection_percent, 10);
	assert_false(d->subsets[1].policy->pool.set);

	d = dr(cfg, "shop", "web-frontend");
	assert_string_equal(d->fqdn, "*.shop.svc.cluster.local");
	assert_string_equal(labels_get(&d->workload_selector, "app"), "frontend");
	assert_int_equal(d->policy->lb.hash, LB_HASH_HEADER);
	assert_string_equal(d->policy->lb.hash_key, "x-user");
	assert_int_equal(dr(cfg, "shop", "db")->policy->lb.simple, LB_PASSTHROUGH);
	d = dr(cfg, "shop", "web-ip");
	assert_int_equal(d->policy->lb.hash, LB_HASH_SOURCE_IP);
	assert_int_equal(d->policy->lb.minimum_ring_size, 2048);
	d = dr(cfg, "shop", "web-query");
	assert_int_equal(d->policy->lb.hash, LB_HASH_QUERY);
	assert_string_equal(d->policy->lb.hash_key, "user");
	config_free(cfg);
}

/* ---- validation: every problem, each with Istio's rule ---- */

static void every_virtual_service_problem_reported_at_once(void **state)
{
	const char *const errors[] = {
		"1-hosts.yaml:9:5: spec.hosts[0]: wildcard host * is not allowed for virtual "
		"services bound to the mesh gateway",
		"1-hosts.yaml:10:5: spec.hosts[1]: domain name \"Bad_Host.example.com\" invalid "
		"(label \"Bad_Host\" invalid)",
		"1-hosts.yaml:11:5: spec.hosts[2]: domain name \"cart.10\" invalid (top level "
		"domain \"10\" cannot be all-numeric)",
		"1-hosts.yaml:14:5: spec.gateways[1]: invalid value for gateway name: \"Bad_Name\"",
		"1-hosts.yaml:15:19: spec.exportTo[1]: duplicate entries in exportTo: . and "
		"current "
		"namespace shop",
		"1-hosts.yaml:15:25: spec.exportTo[2]: exportTo ~ (none) is not allowed for Istio "
		"configuration objects",
		"1-hosts.yaml:26:28: spec.hosts[1]: duplicate hosts in virtual service: "
		"*.example.com & api.example.com",
		"1-hosts.yaml:27:13: spec.exportTo: cannot have both public (*) and non-public "
		"exportTo values for a resource",
		"1-hosts.yaml:37:10: spec.hosts: at least one host is required (delegate "
		"VirtualServices, which have none, are not supported)",
		"1-hosts.yaml:37:3: spec: http, tcp or tls must be provided in virtual service",
		"2-match.yaml:9:32: spec.http[0].match[0].uri.prefix: only one of exact, prefix or "
		"regex may be set",
		"2-match.yaml:10:23: spec.http[0].match[0].method.regex: regex string match should "
		"not be empty",
		"2-match.yaml:11:19: spec.http[0].match[0].authority.suffix: unknown field (not in "
		"the Istio API)",
		"2-match.yaml:13:9: spec.http[0].match[0].headers.x y: header name x y is not a "
		"valid header name",
		"2-match.yaml:14:16: spec.http[0].match[0].headers.x-null: header match x-null "
		"cannot be null",
		"2-match.yaml:15:9: spec.http[0].match[0].headers.@request.auth.claims.group: JWT "
		"claim based routing is only supported for gateways",
		"2-match.yaml:17:20: spec.http[0].match[0].queryParams.q.regex: invalid regex: "
		"backreferences are not supported (RE2 syntax) at offset 3 (Istio uses RE2 syntax)",
		"2-match.yaml:18:22: spec.http[0].match[0].ignoreUriCase: expected true or false, "
		"got \"true\" (quoted, so a string)",
		"2-match.yaml:19:13: spec.http[0].match[0].port: port number 70000 must be in the "
		"range 1..65535",
		"2-match.yaml:21:22: spec.http[0].match[0].sourceLabels.app/x/y: invalid tag key: "
		"\"app/x/y\"",
		"2-match.yaml:20:24: spec.http[0].match[0].sourceNamespace: sourceNamespace match "
		"Bad_NS is invalid",
		"2-match.yaml:26:15: spec.http[0].route[0].weight: weight -1 < 0",
		"2-match.yaml:28:15: spec.http[0].route[1].weight: expected an integer, got \"1\" "
		"(quoted, so a string)",
		"2-match.yaml:30:7: spec.http[1].route[0].destination: destination is required",
		"2-match.yaml:33:7: spec.http[1].route[1].bogus: unknown field (not in the Istio "
		"API)",
		"2-match.yaml:31:27: spec.http[1].route[1].destination.host: invalid destination "
		"host *",
		"2-match.yaml:31:59: spec.http[1].route[1].destination.port.number: port number 0 "
		"must be in the range 1..65535",
		"3-actions.yaml:8:30: spec.http[0].redirect.redirectCode: 305 is not supported "
		"(301, 302, 303, 307 or 308, as Envoy)",
		"3-actions.yaml:8:15: spec.http[0].redirect: redirect must specify URI, authority, "
		"scheme, or port",
		"3-actions.yaml:8:5: spec.http[0]: HTTP route cannot contain both route and "
		"redirect",
		"3-actions.yaml:8:5: spec.http[0]: HTTP route cannot contain both fault and "
		"redirect",
		"3-actions.yaml:8:5: spec.http[0]: HTTP route rule cannot contain both rewrite and "
		"redirect",
		"3-actions.yaml:12:52: spec.http[1].redirect.scheme: invalid redirect scheme, must "
		"be \"http\" or \"https\"",
		"3-actions.yaml:12:39: spec.http[1].redirect.redirectCode: 200 is not a valid "
		"redirect code, must be 3xx",
		"3-actions.yaml:13:5: spec.http[2]: HTTP route or redirect is required",
		"3-actions.yaml:32:5: spec.http[3].directResponse: directResponse is not supported "
		"yet",
		"3-actions.yaml:33:5: spec.http[3].unknownField: unknown field (not in the Istio "
		"API)",
		"3-actions.yaml:23:14: spec.http[3].rewrite: rewrite may only contain one of URI "
		"or UriRegexRewrite",
		"3-actions.yaml:23:65: spec.http[3].rewrite.uriRegexRewrite.rewrite: rewrite "
		"refers to \\2 but the regex has 1 capture group",
		"3-actions.yaml:14:14: spec.http[3].timeout: duration must be greater than 1ms",
		"3-actions.yaml:15:56: spec.http[3].retries.retryOn: \"419\" is not a valid "
		"retryOn policy",
		"3-actions.yaml:15:56: spec.http[3].retries.retryOn: \"bogus\" is not a valid "
		"retryOn policy",
		"3-actions.yaml:15:14: spec.http[3].retries: http retry policy configured when "
		"attempts are set to 0 (disabled)",
		"3-actions.yaml:18:27: spec.http[3].fault.delay.fixedDelay: expected a duration "
		"such as \"10s\", \"100ms\" or \"1m\", got \"10\"",
		"3-actions.yaml:18:40: spec.http[3].fault.delay.percent: percentage 120 is not in "
		"range 0..100",
		"3-actions.yaml:17:52: spec.http[3].fault.abort.percentage.value: percentage 150 "
		"is neither 0.0, nor in range [0.0001, 100.0]",
		"3-actions.yaml:17:27: spec.http[3].fault.abort.httpStatus: HTTP status 600 is not "
		"in range 200-599",
		"3-actions.yaml:21:23: spec.http[3].mirrorPercentage: mirror_percentage must have "
		"a max value of 100 (it has 101.000000)",
		"3-actions.yaml:20:14: spec.http[3].mirrors: HTTP route cannot contain both mirror "
		"and mirrors",
		"3-actions.yaml:25:22: spec.http[3].corsPolicy.allowOrigins[0]: '' is not a valid "
		"match type for CORS allow origins",
		"3-actions.yaml:26:21: spec.http[3].corsPolicy.allowMethods: \"FETCH\" is not a "
		"supported HTTP method",
		"3-actions.yaml:27:21: spec.http[3].corsPolicy.allowHeaders: header name x y is "
		"not a valid header name",
		"3-actions.yaml:28:15: spec.http[3].corsPolicy.maxAge: max_age duration is "
		"accurate only to seconds precision",
		"3-actions.yaml:30:22: spec.http[3].headers.request.set.:path: invalid header "
		"\":path\": header cannot have \":\" prefix",
		"3-actions.yaml:31:47: spec.http[3].headers.response.add.x-bad: header value "
		"configuration \"a\\x01b\" is invalid (a control character)",
		"3-actions.yaml:31:26: spec.http[3].headers.response.remove: invalid header "
		"\"host\": cannot set Host header",
		"3-actions.yaml:35:58: spec.http[4].rewrite.uriRegexRewrite: UriRegexRewrite "
		"requires both Rewrite and Match fields to be specified",
		"3-actions.yaml:36:25: spec.http[4].retries.attempts: attempts cannot be negative",
		"3-actions.yaml:36:44: spec.http[4].retries.perTryTimeout: invalid duration \"10 "
		"seconds\" (expected a number and a unit: h, m, s, ms, us or ns, such as \"10s\" "
		"or "
		"\"1m30s\")",
		"3-actions.yaml:34:12: spec.http[4].fault: HTTP fault injection must have an abort "
		"and/or a delay",
		"3-actions.yaml:41:14: spec.http[5].headers: authority header cannot be set "
		"multiple times: have \"a.example.com\", attempting to set \"b.example.com\"",
		NULL,
	};
	const char *const warns[] = {
		"2-match.yaml:22:18: spec.http[0].match[0].gateways[0]: using legacy gatewayName "
		"format \"foo.bar\"; prefer the <namespace>/<name> format: \"bar/foo\"",
		"3-actions.yaml:12:5: spec.http[1]: virtualService rule #1 not used (rule #0 "
		"before "
		"it matches every request)",
		"3-actions.yaml:13:5: spec.http[2]: virtualService rule #2 not used (rule #0 "
		"before "
		"it matches every request)",
		"3-actions.yaml:14:5: spec.http[3]: virtualService rule #3 not used (rule #0 "
		"before "
		"it matches every request)",
		"3-actions.yaml:34:5: spec.http[4]: virtualService rule #4 not used (rule #0 "
		"before "
		"it matches every request)",
		"3-actions.yaml:38:5: spec.http[5]: virtualService rule #5 not used (rule #0 "
		"before "
		"it matches every request)",
		NULL,
	};
	const char *const notices[] = {
		"2-match.yaml:23:7: spec.http[0].match[0].statPrefix: statPrefix is not used by "
		"shunt, ignored",
		NULL,
	};

	load_fails_with(fixture("err-vs"), errors);
	assert_diags(LOG_WARN, warns);
	assert_diags(LOG_INFO, notices);
}

static void every_destination_rule_problem_reported_at_once(void **state)
{
	const char *const errors[] = {
		"dr.yaml:5:22: metadata.creationTimestamp: expected an RFC 3339 time such as "
		"2024-01-02T15:04:05Z, got \"yesterday\"",
		"dr.yaml:7:9: spec.host: domain name \"reviews..default\" invalid (label \"\" "
		"invalid)",
		"dr.yaml:8:18: spec.trafficPolicy: traffic policy must have at least one field",
		"dr.yaml:14:17: spec.subsets[0].trafficPolicy.loadBalancer.simple: unknown value "
		"\"LEAST_CONNECTIONS\" (expected ROUND_ROBIN, LEAST_REQUEST, LEAST_CONN, RANDOM or "
		"PASSTHROUGH)",
		"dr.yaml:14:17: spec.subsets[0].trafficPolicy.loadBalancer.simple: simple and "
		"consistentHash are mutually exclusive",
		"dr.yaml:16:11: spec.subsets[1].name: duplicate subset names: v1 (also subsets[0])",
		"dr.yaml:17:14: spec.subsets[1].labels.-bad: invalid tag key: \"-bad\"",
		"dr.yaml:18:11: spec.subsets[2].name: subset name is invalid: V_2",
		"dr.yaml:19:5: spec.subsets[3].name: required field is missing",
		"dr.yaml:20:13: spec.exportTo: destination rule with workload selector cannot have "
		"exportTo beyond current namespace",
		"dr.yaml:34:22: spec.trafficPolicy.loadBalancer.consistentHash.useSourceIp: only "
		"one of httpHeaderName and useSourceIp may be set",
		"dr.yaml:36:19: spec.trafficPolicy.loadBalancer.consistentHash: only one of "
		"MinimumRingSize or Maglev/Ringhash can be specified",
		"dr.yaml:38:29: spec.trafficPolicy.connectionPool.tcp.maxConnections: max "
		"connections must be non-negative",
		"dr.yaml:38:49: spec.trafficPolicy.connectionPool.tcp.connectTimeout: duration "
		"must "
		"be greater than 1ms",
		"dr.yaml:39:39: spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests: "
		"http1 max pending requests must be non-negative",
		"dr.yaml:42:17: spec.trafficPolicy.outlierDetection.interval: only durations to ms "
		"precision are supported",
		"dr.yaml:43:25: spec.trafficPolicy.outlierDetection.baseEjectionTime: expected a "
		"duration such as \"10s\", \"100ms\" or \"1m\", got \"30\"",
		"dr.yaml:44:27: spec.trafficPolicy.outlierDetection.maxEjectionPercent: percentage "
		"150 is not in range 0..100",
		"dr.yaml:45:25: spec.trafficPolicy.outlierDetection.minHealthPercent: percentage "
		"-1 "
		"is not in range 0..100",
		"dr.yaml:53:1: spec.host: required field is missing",
		"dr.yaml:57:21: spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name: "
		"name required for HttpCookie",
		"dr.yaml:58:21: spec.trafficPolicy.connectionPool: connection pool must have at "
		"least one field",
		"dr.yaml:60:13: apiVersion: networking.istio.io/v2 is not a known version of "
		"DestinationRule",
		NULL,
	};
	const char *const warns[] = {
		"dr.yaml:18:5: spec.subsets[2].labels: a subset without labels selects every "
		"endpoint of the service",
		"dr.yaml:47:5: spec.trafficPolicy.tunnel: not supported yet, ignored",
		"dr.yaml:35:26: spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize: "
		"consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash "
		"configuration instead",
		"dr.yaml:39:60: spec.trafficPolicy.connectionPool.http.maxRetries: not supported "
		"yet, ignored",
		NULL,
	};

	load_fails_with(fixture("err-dr"), errors);
	assert_diags(LOG_WARN, warns);
}

static void duplicate_objects_name_both_places(void **state)
{
	char want0[1024], want1[1024];
	const char *const want[] = {want0, want1, NULL};

	fixture("err-dup");
	snprintf(want0, sizeof(want0),
		 "b.yaml:10:1: metadata.name: duplicate VirtualService shop/reviews (first "
		 "defined at %s/a.yaml:1:1)",
		 dir);
	snprintf(want1, sizeof(want1),
		 "b.yaml:17:1: metadata.name: duplicate DestinationRule shop/reviews (first "
		 "defined at %s/a.yaml:8:1)",
		 dir);
	load_fails_with(dir, want);
	/* no warning buries the errors of a rejected config */
	assert_int_equal(count_level(LOG_WARN), 0);
}

static void regexes_are_re2_and_fully_anchored_at_load(void **state)
{
	static const char yaml[] = "apiVersion: networking.istio.io/v1\n"
				   "kind: VirtualService\n"
				   "metadata: {name: re}\n"
				   "spec:\n"
				   "  hosts: [web]\n"
				   "  http:\n"
				   "  - match:\n"
				   "    - uri: {regex: '/a(?=b)'}\n"
				   "    - uri: {regex: '/(?i)ok|/fine'}\n"
				   "    - headers: {user-agent: {regex: '.*(Firefox'}}\n"
				   "      ignoreUriCase: true\n"
				   "    - uri: {regex: '/x.*'}\n"
				   "      ignoreUriCase: true\n"
				   "    route: [{destination: {host: web}}]\n";
	const char *const errors[] = {
		"re.yaml:8:23: spec.http[0].match[0].uri.regex: invalid regex: lookahead and "
		"lookbehind are not supported (RE2 syntax) at offset 2 (Istio uses RE2 syntax)",
		"re.yaml:10:48: spec.http[0].match[2].headers.user-agent.regex: invalid regex: "
		"missing closing parenthesis at offset 10 (Istio uses RE2 syntax)",
		NULL,
	};
	const char *const warns[] = {
		"re.yaml:13:22: spec.http[0].match[3].ignoreUriCase: does not apply to a uri regex "
		"(Envoy matches regexes case-sensitively, and so does shunt): write (?i) in the "
		"pattern",
		NULL,
	};
	struct config *cfg = (struct config *)0x1;

	snprintf(dir, sizeof(dir), "%s", "re.yaml");
	assert_int_equal(config_load_buf("re.yaml", yaml, sizeof(yaml) - 1, &cfg), -EINVAL);
	/* config_load_buf names the file as given: compare without a directory */
	for (size_t i = 0, k = 0, w = 0; i < diags.n; i++) {
		if (diags.level[i] == LOG_ERROR && strncmp(diags.line[i], "config:", 7))
			assert_string_equal(diags.line[i], errors[k++]);
		else if (diags.level[i] == LOG_WARN)
			assert_string_equal(diags.line[i], warns[w++]);
	}
	assert_int_equal(count_level(LOG_ERROR), 2);
	assert_int_equal(count_level(LOG_WARN), 1);
}

/* ---- durations, hosts, exportTo ---- */

static void durations_in_go_syntax(void **state)
{
	static const struct {
		const char *s;
		int64_t ns;
	} ok[] = {
		{"1s", 1000000000LL},
		{"0.5s", 500000000LL},
		{"100ms", 100000000LL},
		{"1m", 60000000000LL},
		{"1h", 3600000000000LL},
		{"1m30s", 90000000000LL},
		{"1.5h", 5400000000000LL},
		{"2h45m0.5s", 9900500000000LL},
		{"300us", 300000LL},
		{"300\xc2\xb5s", 300000LL},
		{"7ns", 7LL},
		{"0", 0},
		{"0s", 0},
		{"-1s", -1000000000LL},
		{".5s", 500000000LL},
		{"1.s", 1000000000LL},
		{"2562047h", 9223369200000000000LL},
	};
	static const char *const bad[] = {
		"", "s", "10", "1x", "1.5.5s", "1 s", "s1", "1sm", "+", "1e3s", "2562048h", "1d",
	};
	int64_t ns;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (ist_parse_duration(ok[i].s, &ns) != 0)
			fail_msg("\"%s\" refused", ok[i].s);
		if (ns != ok[i].ns)
			fail_msg("\"%s\": %lld ns, want %lld", ok[i].s, (long long)ns,
				 (long long)ok[i].ns);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ist_parse_duration(bad[i], &ns) == 0)
			fail_msg("\"%s\" accepted", bad[i]);
}

static void hosts_resolve_as_istio_does(void **state)
{
	static const struct {
		const char *host, *ns, *fqdn;
	} cases[] = {
		{"reviews", "default", "reviews.default.svc.cluster.local"},
		{"reviews", "shop", "reviews.shop.svc.cluster.local"},
		/* a dot: taken as written, even when it is not a full name */
		{"reviews.shop", "default", "reviews.shop"},
		{"reviews.shop.svc.cluster.local", "x", "reviews.shop.svc.cluster.local"},
		{"www.googleapis.com", "default", "www.googleapis.com"},
		{"*", "default", "*"},
		{"*.example.com", "default", "*.example.com"},
		{"2001:db8::1", "default", "2001:db8::1"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *fqdn = istio_resolve_host(cases[i].host, cases[i].ns);

		assert_non_null(fqdn);
		assert_string_equal(fqdn, cases[i].fqdn);
		free(fqdn);
	}
}

static void export_to_decides_visibility(void **state)
{
	char *all[] = {"*"}, *own[] = {"."}, *list[] = {"a", "b"}, *mixed[] = {".", "c"};

	assert_true(istio_exported_to(NULL, 0, "shop", "other")); /* none: everywhere */
	assert_true(istio_exported_to(all, 1, "shop", "other"));
	assert_true(istio_exported_to(own, 1, "shop", "shop"));
	assert_false(istio_exported_to(own, 1, "shop", "other"));
	assert_true(istio_exported_to(list, 2, "shop", "b"));
	assert_false(istio_exported_to(list, 2, "shop", "shop"));
	assert_true(istio_exported_to(mixed, 2, "shop", "shop"));
	assert_true(istio_exported_to(mixed, 2, "shop", "c"));
	assert_false(istio_exported_to(mixed, 2, "shop", "d"));
}

static void older_virtual_service_shadows_younger_for_its_host(void **state)
{
	struct config *cfg = load_ok(fixture("shadow"));
	char w0[2048], w1[2048], w2[2048];
	const char *const warns[] = {w0, w1, w2, NULL};

	snprintf(w0, sizeof(w0),
		 "a.yaml:2:1: spec.hosts[0]: virtual service default/a (%s/a.yaml:2) for host "
		 "reviews.default.svc.cluster.local is shadowed by older default/b (%s/b.yaml:2)",
		 dir, dir);
	snprintf(w1, sizeof(w1),
		 "c.yaml:2:1: spec.hosts[0]: virtual service default/c (%s/c.yaml:2) for host "
		 "reviews.default.svc.cluster.local is shadowed by older default/b (%s/b.yaml:2)",
		 dir, dir);
	snprintf(w2, sizeof(w2),
		 "e.yaml:22:1: spec.hosts[0]: virtual service default/g (%s/e.yaml:22) for host "
		 "details.default.svc.cluster.local is shadowed by older default/f (%s/e.yaml:14)",
		 dir, dir);
	assert_diags(LOG_WARN, warns);
	assert_true(vs(cfg, "default", "a")->shadowed);
	assert_false(vs(cfg, "default", "b")->shadowed);
	assert_false(vs(cfg, "default", "c")->shadowed); /* still the one for ratings */
	assert_false(vs(cfg, "default", "d")->shadowed); /* gateway only */
	assert_false(vs(cfg, "other", "d")->shadowed);	 /* reviews.other is another host */
	assert_false(vs(cfg, "default", "e")->shadowed); /* older, but only for namespace test */
	assert_false(vs(cfg, "default", "f")->shadowed);
	assert_true(vs(cfg, "default", "g")->shadowed);
	assert_string_equal(vs(cfg, "default", "b")->hosts[0], "reviews.default.svc.cluster.local");
	config_free(cfg);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(bookinfo_every_sample_loads),
		T(bookinfo_gateway_route_keeps_gateway_and_uri_matches),
		T(bookinfo_weighted_split_50_50),
		T(bookinfo_fault_abort_and_delay),
		T(bookinfo_destination_rules),
		T(bookinfo_egress_port_rewrite),
		T(greeter_split_90_10_with_subsets),
		T(greeter_dark_launch_weight_zero),
		T(greeter_firefox_user_agent_regex),
		T(greeter_rewrite_and_redirect),
		T(greeter_mirror_with_legacy_percent),
		T(greeter_two_unweighted_destinations_rejected),
		T(greeter_gateway_vs_for_helloweb),
		T(reviews_end_user_jason_v1alpha3),
		T(full_virtual_service_every_field),
		T(full_destination_rules_every_field),
		T(every_virtual_service_problem_reported_at_once),
		T(every_destination_rule_problem_reported_at_once),
		T(duplicate_objects_name_both_places),
		T(regexes_are_re2_and_fully_anchored_at_load),
		T(durations_in_go_syntax),
		T(hosts_resolve_as_istio_does),
		T(export_to_decides_visibility),
		T(older_virtual_service_shadows_younger_for_its_host),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
