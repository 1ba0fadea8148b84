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
	/* the Gateway is not shunt's business */
	assert_int_equal(count_level(LOG_INFO), 1);
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
	assert_false(d->policy.lb.set); /* tls only: ignored with a notice */
	assert_int_equal(count_level(LOG_INFO), 4);
	assert_non_null(strstr(diags.line[0], "destination-rule-all-mtls.yaml:8:5: "
					      "spec.trafficPolicy.tls: client TLS settings are "
					      "ignored (mTLS is not shunt's business yet)"));
	config_free(cfg);

	cfg = bookinfo("destination-rule-reviews.yaml");
	d = dr(cfg, "default", "reviews");
	assert_true(d->policy.lb.set);
	assert_int_equal(d->policy.lb.simple, LB_RANDOM);
	assert_int_equal(d->policy.lb.hash, LB_HASH_NONE);
	assert_false(d->policy.pool.set);
	assert_false(d->policy.outlier.set);
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
		"egress-rule-google-apis.yaml:29:9: spec.http[0].route[0].destination.host: "
		"www.googleapis.com is not a known Service; requests routed "
		"there fail until one (or a ServiceEntry) defines it",
		NULL,
	};

	assert_string_equal(v->hosts[0], "www.googleapis.com"); /* a dot: taken as written */
	assert_int_equal(v->http[0].match[0].port, 80);
	assert_dst(&v->http[0].route[0].dst, "www.googleapis.com", "www.googleapis.com", NULL, 443);
	assert_int_equal(d->policy.lb.simple, LB_ROUND_ROBIN);
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
	/* Deployments and the Gateway are notices; the DestinationRule's tls one too. */
	assert_int_equal(count_level(LOG_INFO), 5);
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
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
