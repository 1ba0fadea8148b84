// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Istio's metrics as a Prometheus server scrapes them: every page the renderer
 * writes goes through a strict parser of the text format (tests/tools/
 * prom_parse.h), and the counts per label set are what was recorded. Also the
 * tables' limits, the merge of several workers' tables, label values that
 * outlive the strings they were copied from, a scrape racing a writer, and
 * the workload names and labels a pod gets.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../tools/prom_parse.h"
#include "admin.h"
#include "config.h"
#include "metrics.h"
#include "metrics_labels.h"
#include "proxy.h"
#include "workload.h"

/* A workload tuple: name, namespace, app, version (canonical ones from app and version). */
static uint32_t peer(struct mx_table *t, const char *wl, const char *ns, const char *app,
		     const char *ver)
{
	const char *v[MX_P_N] = {
		[MX_P_WORKLOAD] = wl,	[MX_P_NAMESPACE] = ns,	       [MX_P_PRINCIPAL] = "unknown",
		[MX_P_APP] = app,	[MX_P_VERSION] = ver,	       [MX_P_CANON_SVC] = app,
		[MX_P_CANON_REV] = ver, [MX_P_CLUSTER] = "Kubernetes",
	};

	return mx_tuple(t, v, MX_P_N);
}

static uint32_t svc(struct mx_table *t, const char *name, const char *ns)
{
	char host[256];
	const char *v[MX_S_N];

	snprintf(host, sizeof(host), "%s.%s.svc.cluster.local", name, ns);
	v[MX_S_HOST] = host;
	v[MX_S_NAME] = name;
	v[MX_S_NAMESPACE] = ns;
	return mx_tuple(t, v, MX_S_N);
}

static void record(struct mx_table *t, uint32_t src, uint32_t dst, uint32_t s, int status,
		   uint32_t flags, uint64_t us)
{
	struct mx_labels l = {src, dst, s};
	struct mx_http_obs o = {.status = status,
				.flags = flags,
				.duration_us = us,
				.req_bytes = 100,
				.rsp_bytes = 2000};

	mx_record_http(t, &l, &o);
}

static size_t left_out; /* by the last scrape() */

/* Renders @n tables and parses the page into @d (its text in *@text, unescaped by the parser);
 * fails the test if it does not parse. */
static void scrape(struct mx_table *const *tables, size_t n, struct pp_doc *d, char **text)
{
	struct admin_resp r = {0};

	assert_int_equal(mx_render(tables, n, MX_RENDER_BUDGET, &r, &left_out), 0);
	assert_false(r.oom);
	assert_non_null(r.body);
	*text = r.body;
	if (prom_parse(d, *text))
		fail_msg("the page does not parse: %s", d->err);
}

static double q(const struct pp_doc *d, const char *name, int *n, ...)
{
	const char *want[2 * PP_LABELS_MAX];
	int k = 0;
	va_list ap;
	const char *s;

	va_start(ap, n);
	while ((s = va_arg(ap, const char *)))
		want[k++] = s;
	va_end(ap);
	return prom_query(d, name, want, k / 2, n);
}

static void requests_per_label_set(void **state)
{
	struct mx_table *t = mx_table_new();
	struct pp_doc d;
	char *text;
	int n;

	assert_non_null(t);
	uint32_t client = peer(t, "sleep", "default", "sleep", "unknown");
	uint32_t v1 = peer(t, "reviews-v1", "default", "reviews", "v1");
	uint32_t v2 = peer(t, "reviews-v2", "default", "reviews", "v2");
	uint32_t rev = svc(t, "reviews", "default");

	for (int i = 0; i < 7; i++)
		record(t, client, v1, rev, 200, 0, 800);
	for (int i = 0; i < 3; i++)
		record(t, client, v2, rev, 200, 0, 800);
	record(t, client, v2, rev, 503, PROXY_RF_UF | PROXY_RF_URX, 800);
	record(t, client, MX_UNKNOWN_PEER, MX_UNKNOWN_SVC, 404, PROXY_RF_NR, 100);
	scrape(&t, 1, &d, &text);

	assert_string_equal(prom_type(&d, "istio_requests_total"), "counter");
	assert_string_equal(prom_type(&d, "istio_request_duration_milliseconds"), "histogram");
	assert_string_equal(prom_type(&d, "istio_request_bytes"), "histogram");
	assert_string_equal(prom_type(&d, "istio_response_bytes"), "histogram");
	assert_string_equal(prom_type(&d, "istio_tcp_connections_opened_total"), "counter");
	assert_true(q(&d, "istio_requests_total", &n, "destination_version", "v1", "response_code",
		      "200", NULL) == 7);
	assert_int_equal(n, 1);
	assert_true(q(&d, "istio_requests_total", &n, "destination_version", "v2", "response_code",
		      "200", "reporter", "source", "source_workload", "sleep",
		      "destination_service", "reviews.default.svc.cluster.local",
		      "destination_service_name", "reviews", "request_protocol", "http",
		      "response_flags", "-", "connection_security_policy", "unknown", NULL) == 3);
	assert_true(q(&d, "istio_requests_total", &n, "response_flags", "UF,URX", "response_code",
		      "503", NULL) == 1);
	assert_true(q(&d, "istio_requests_total", &n, "response_flags", "NR",
		      "destination_workload", "unknown", "destination_service", "unknown",
		      "destination_canonical_revision", "latest", NULL) == 1);
	assert_true(q(&d, "istio_requests_total", &n, NULL) == 12);
	assert_int_equal(n, 4);
	/* every request in each histogram */
	assert_true(q(&d, "istio_request_duration_milliseconds_count", &n, NULL) == 12);
	assert_true(q(&d, "istio_request_bytes_sum", &n, NULL) == 1200);
	assert_true(q(&d, "istio_response_bytes_sum", &n, "destination_version", "v1", NULL) ==
		    7 * 2000);
	pp_free(&d, text);
	mx_table_free(t);
}

static void buckets_are_envoys_and_cumulative(void **state)
{
	struct mx_table *t = mx_table_new();
	static const uint64_t us[] = {300, 700, 3000, 70000000, 7200000000ull};
	struct pp_doc d;
	char *text;
	int n;

	uint32_t a = peer(t, "a", "ns", "a", "v1"), s = svc(t, "b", "ns");

	for (size_t i = 0; i < sizeof(us) / sizeof(us[0]); i++)
		record(t, a, a, s, 200, 0, us[i]);
	scrape(&t, 1, &d, &text);
	assert_true(q(&d, "istio_request_duration_milliseconds_bucket", &n, "le", "0.5", NULL) ==
		    1);
	assert_true(q(&d, "istio_request_duration_milliseconds_bucket", &n, "le", "1", NULL) == 2);
	assert_true(q(&d, "istio_request_duration_milliseconds_bucket", &n, "le", "5", NULL) == 3);
	assert_true(q(&d, "istio_request_duration_milliseconds_bucket", &n, "le", "60000", NULL) ==
		    3);
	assert_true(q(&d, "istio_request_duration_milliseconds_bucket", &n, "le", "300000", NULL) ==
		    4);
	assert_true(q(&d, "istio_request_duration_milliseconds_bucket", &n, "le", "3600000",
		      NULL) == 4);
	assert_true(q(&d, "istio_request_duration_milliseconds_bucket", &n, "le", "+Inf", NULL) ==
		    5);
	assert_true(q(&d, "istio_request_duration_milliseconds_bucket", &n, NULL) > 0);
	assert_int_equal(n, 20); /* Envoy's 19 bounds and +Inf */
	assert_true(q(&d, "istio_request_duration_milliseconds_sum", &n, NULL) ==
		    0.3 + 0.7 + 3 + 70000 + 7200000);
	/* 100 bytes in each request: the 100 bucket holds them all, the 50 one none */
	assert_true(q(&d, "istio_request_bytes_bucket", &n, "le", "50", NULL) == 0);
	assert_true(q(&d, "istio_request_bytes_bucket", &n, "le", "100", NULL) == 5);
	pp_free(&d, text);
	mx_table_free(t);
}

static void equal_labels_of_two_workers_are_one_series(void **state)
{
	struct mx_table *t[2] = {mx_table_new(), mx_table_new()};
	struct pp_doc d;
	char *text;
	int n;

	/* interned in another order: other ids, the same values */
	uint32_t s0 = svc(t[0], "web", "prod"), a0 = peer(t[0], "a", "prod", "a", "v1");
	uint32_t a1 = peer(t[1], "a", "prod", "a", "v1"), s1 = svc(t[1], "web", "prod");

	assert_int_not_equal(s0, s1);
	record(t[0], a0, a0, s0, 200, 0, 10);
	record(t[0], a0, a0, s0, 200, 0, 10);
	record(t[1], a1, a1, s1, 200, 0, 10);
	record(t[1], a1, a1, s1, 500, 0, 10);
	scrape(t, 2, &d, &text); /* the parser refuses a series written twice */
	assert_true(q(&d, "istio_requests_total", &n, "response_code", "200", NULL) == 3);
	assert_int_equal(n, 1);
	assert_true(q(&d, "istio_request_duration_milliseconds_count", &n, "response_code", "200",
		      NULL) == 3);
	assert_int_equal(n, 1);
	assert_true(q(&d, "istio_requests_total", &n, NULL) == 4);
	assert_int_equal(n, 2);
	pp_free(&d, text);
	mx_table_free(t[0]);
	mx_table_free(t[1]);
}

static void label_values_are_escaped_and_copied(void **state)
{
	struct mx_table *t = mx_table_new();
	char *name = strdup("we\"ird\\wl\nx");
	struct pp_doc d;
	char *text;
	int n;

	uint32_t a = peer(t, name, "ns", "a", "v1"), s = svc(t, "b", "ns");

	/* the config that named it is gone: the table kept its own copy */
	memset(name, 'X', strlen(name));
	free(name);
	record(t, a, a, s, 200, 0, 10);
	{
		struct admin_resp r = {0};

		assert_int_equal(mx_render(&t, 1, MX_RENDER_BUDGET, &r, &left_out), 0);
		assert_non_null(strstr(r.body, "source_workload=\"we\\\"ird\\\\wl\\nx\","));
		free(r.body);
	}
	scrape(&t, 1, &d, &text);
	assert_true(q(&d, "istio_requests_total", &n, "source_workload", "we\"ird\\wl\nx", NULL) ==
		    1);
	pp_free(&d, text);
	mx_table_free(t);
}

static void full_table_counts_overflow(void **state)
{
	struct mx_table *t = mx_table_new();
	struct pp_doc d;
	char *text;
	int n, recorded = 0;

	uint32_t a = peer(t, "a", "ns", "a", "v1"), s = svc(t, "b", "ns");

	/* 900 codes x 8 flag sets: more label sets than a table holds */
	for (int code = 100; code < 1000; code++)
		for (uint32_t f = 0; f < 8; f++, recorded++)
			record(t, a, a, s, code, f, 10);
	assert_int_equal(mx_overflow(t), recorded - MX_SERIES_MAX);
	/* a series already there still counts */
	record(t, a, a, s, 100, 0, 10);
	assert_int_equal(mx_overflow(t), recorded - MX_SERIES_MAX);
	/* ids that name nothing, or the wrong kind, are refused too */
	record(t, MX_NONE, a, s, 200, 0, 10);
	record(t, a, s, s, 200, 0, 10);
	assert_int_equal(mx_overflow(t), recorded - MX_SERIES_MAX + 2);
	/* a page holds what fits, whole label sets, and says how many it left out */
	scrape(&t, 1, &d, &text);
	q(&d, "istio_requests_total", &n, NULL);
	assert_true(n > 100 && left_out > 0);
	assert_int_equal(n + left_out, MX_SERIES_MAX);
	assert_true(q(&d, "istio_request_duration_milliseconds_count", &n, NULL) ==
		    MX_SERIES_MAX - left_out);
	assert_int_equal(n + left_out, MX_SERIES_MAX);
	pp_free(&d, text);
	mx_table_free(t);
}

static void full_tuple_table_gives_none(void **state)
{
	struct mx_table *t = mx_table_new();
	char name[32];
	uint32_t id = 0;
	int made = 0;

	for (int i = 0; i < MX_TUPLES_MAX + 10; i++) {
		snprintf(name, sizeof(name), "svc-%d", i);
		id = svc(t, name, "ns");
		if (id == MX_NONE)
			break;
		made++;
	}
	assert_int_equal(id, MX_NONE);
	assert_int_equal(made, MX_TUPLES_MAX - 3); /* nothing, and the two unknown tuples */
	/* one already there is still found */
	assert_int_not_equal(svc(t, "svc-0", "ns"), MX_NONE);
	mx_table_free(t);
}

static void cache_is_emptied_by_a_new_generation(void **state)
{
	struct mx_table *t = mx_table_new();
	int obj1, obj2;

	assert_int_equal(mx_cache_get(t, 1, &obj1), MX_NONE);
	mx_cache_put(t, 1, &obj1, 7);
	mx_cache_put(t, 1, &obj2, 8);
	assert_int_equal(mx_cache_get(t, 1, &obj1), 7);
	assert_int_equal(mx_cache_get(t, 1, &obj2), 8);
	/* config 2 may have other objects at the same addresses */
	assert_int_equal(mx_cache_get(t, 2, &obj1), MX_NONE);
	assert_int_equal(mx_cache_get(t, 2, &obj2), MX_NONE);
	mx_cache_put(t, 1, &obj1, 9); /* a late put of the old config is ignored */
	assert_int_equal(mx_cache_get(t, 2, &obj1), MX_NONE);
	mx_table_free(t);
}

static void tcp_families_have_no_response_code(void **state)
{
	struct mx_table *t = mx_table_new();
	struct mx_tcp_obs o = {.opened = true, .sent = 10, .received = 20};
	struct pp_doc d;
	char *text;
	int n;

	uint32_t a = peer(t, "a", "ns", "a", "v1"), s = svc(t, "db", "ns");
	struct mx_labels l = {a, a, s};

	mx_record_tcp(t, &l, &o);
	o = (struct mx_tcp_obs){.closed = true, .sent = 5, .received = 1};
	mx_record_tcp(t, &l, &o);
	scrape(&t, 1, &d, &text);
	assert_true(q(&d, "istio_tcp_connections_opened_total", &n, "request_protocol", "tcp",
		      NULL) == 1);
	assert_true(q(&d, "istio_tcp_connections_closed_total", &n, NULL) == 1);
	assert_true(q(&d, "istio_tcp_sent_bytes_total", &n, NULL) == 15);
	assert_true(q(&d, "istio_tcp_received_bytes_total", &n, NULL) == 21);
	q(&d, "istio_tcp_sent_bytes_total", &n, "response_code", "0", NULL);
	assert_int_equal(n, 0);
	q(&d, "istio_requests_total", &n, NULL);
	assert_int_equal(n, 0); /* a TCP series is no request */
	pp_free(&d, text);
	mx_table_free(t);
}

struct race {
	struct mx_table *t;
	uint32_t a, s;
	int rounds;
	bool done; /* atomic */
};

static void *writer(void *arg)
{
	struct race *r = arg;

	for (int i = 0; i < r->rounds; i++)
		record(r->t, r->a, r->a, r->s, 200 + i % 300, 0, (uint64_t)i);
	__atomic_store_n(&r->done, true, __ATOMIC_RELEASE);
	return NULL;
}

static void scrape_races_a_writer(void **state)
{
	struct race r = {.t = mx_table_new(), .rounds = 200000};
	double last = 0;
	pthread_t th;
	int scrapes = 0, n;

	r.a = peer(r.t, "a", "ns", "a", "v1");
	r.s = svc(r.t, "b", "ns");
	assert_int_equal(pthread_create(&th, NULL, writer, &r), 0);
	/* each page parses (buckets cumulative, _count the +Inf bucket) and counts only grow */
	while (!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE) || !scrapes) {
		struct pp_doc d;
		char *text;
		double now;

		scrape(&r.t, 1, &d, &text);
		now = q(&d, "istio_requests_total", &n, NULL);
		assert_true(now >= last);
		last = now;
		pp_free(&d, text);
		scrapes++;
	}
	pthread_join(th, NULL);
	{
		struct pp_doc d;
		char *text;

		scrape(&r.t, 1, &d, &text);
		assert_true(q(&d, "istio_requests_total", &n, NULL) == r.rounds);
		assert_int_equal(n, 300);
		pp_free(&d, text);
	}
	mx_table_free(r.t);
}

/* --- workload identity ------------------------------------------------------------- */

static struct label lab(const char *k, const char *v)
{
	return (struct label){(char *)k, (char *)v};
}

static void deployment_pod_is_its_deployment(void **state)
{
	struct label l[] = {lab("app", "reviews"), lab("version", "v2"),
			    lab("pod-template-hash", "5b7f8c9d4f")};
	struct pod p = {.name = "reviews-v2-5b7f8c9d4f-x2k9q",
			.namespace = "default",
			.labels = {l, 3},
			.generate_name = "reviews-v2-5b7f8c9d4f-",
			.owner_kind = "ReplicaSet",
			.owner_name = "reviews-v2-5b7f8c9d4f"};
	struct workload_id w;

	workload_of_pod(&p, &w);
	assert_string_equal(w.workload, "reviews-v2");
	assert_string_equal(w.namespace, "default");
	assert_string_equal(w.app, "reviews");
	assert_string_equal(w.version, "v2");
	assert_string_equal(w.canonical_service, "reviews");
	assert_string_equal(w.canonical_revision, "v2");
}

static void other_controllers(void **state)
{
	struct pod p = {.name = "backup-28391700-abcde",
			.namespace = "ops",
			.generate_name = "backup-28391700-",
			.owner_kind = "Job",
			.owner_name = "backup-28391700"};
	char buf[WORKLOAD_NAME_MAX];

	assert_string_equal(workload_name(&p, buf, sizeof(buf)), "backup"); /* a CronJob's */
	p.owner_name = "migrate-1";
	assert_string_equal(workload_name(&p, buf, sizeof(buf)), "migrate-1"); /* a Job's own */
	p.owner_kind = "StatefulSet";
	p.owner_name = "db";
	assert_string_equal(workload_name(&p, buf, sizeof(buf)), "db");
	/* a ReplicaSet without the hash label is not taken for a Deployment's */
	p.owner_kind = "ReplicaSet";
	p.owner_name = "web-7d4b9c";
	assert_string_equal(workload_name(&p, buf, sizeof(buf)), "web-7d4b9c");
	/* without generateName, Istio does not look at the owner */
	p.generate_name = NULL;
	p.name = "web-7d4b9c-q1w2e";
	assert_string_equal(workload_name(&p, buf, sizeof(buf)), "web-7d4b9c-q1w2e");
}

static void hand_written_pods(void **state)
{
	struct label l[] = {lab("pod-template-hash", "5b7f8c9d4f"),
			    lab("service.istio.io/canonical-name", "ratings-svc"),
			    lab("app.kubernetes.io/version", "1.2")};
	struct pod p = {.name = "ratings-5b7f8c9d4f-abcde", .namespace = "ns", .labels = {l, 3}};
	struct workload_id w;

	workload_of_pod(&p, &w);
	assert_string_equal(w.workload, "ratings"); /* the pod name without its hash */
	assert_string_equal(w.canonical_service, "ratings-svc");
	assert_string_equal(w.canonical_revision, "1.2");
	assert_string_equal(w.version, "1.2");
	assert_string_equal(w.app, "unknown");
	p.labels.n = 0;
	p.name = "greeter-v2";
	workload_of_pod(&p, &w);
	assert_string_equal(w.workload, "greeter-v2");
	assert_string_equal(w.canonical_service, "greeter-v2"); /* the workload name */
	assert_string_equal(w.canonical_revision, "latest");
	assert_string_equal(w.version, "unknown");
}

/* A pod of a config that a reload frees, and a pod of the next one at the same address. */
static void pod_labels_outlive_their_config(void **state)
{
	struct mx_table *t = mx_table_new();
	struct label *l = malloc(2 * sizeof(*l));
	struct pod *p = calloc(1, sizeof(*p));
	struct pp_doc d;
	char *text;
	int n;

	l[0] = (struct label){strdup("app"), strdup("web")};
	l[1] = (struct label){strdup("version"), strdup("v1")};
	*p = (struct pod){.name = strdup("web-a"), .namespace = strdup("prod"), .labels = {l, 2}};
	uint32_t s = svc(t, "web", "prod");
	uint32_t v1 = mx_pod_tuple(t, 1, p);

	assert_int_equal(mx_pod_tuple(t, 1, p), v1); /* cached */
	record(t, v1, v1, s, 200, 0, 10);
	/* config 1 goes: its strings are freed; config 2 has another pod at the same address */
	free(p->name);
	free(l[1].value);
	p->name = strdup("web-b");
	l[1].value = strdup("v2");
	uint32_t v2 = mx_pod_tuple(t, 2, p);

	assert_int_not_equal(v1, v2);
	record(t, v2, v2, s, 200, 0, 10);
	scrape(&t, 1, &d, &text);
	assert_true(q(&d, "istio_requests_total", &n, "source_workload", "web-a", "source_version",
		      "v1", "destination_app", "web", NULL) == 1);
	assert_true(q(&d, "istio_requests_total", &n, "destination_workload", "web-b",
		      "destination_version", "v2", NULL) == 1);
	pp_free(&d, text);
	for (int i = 0; i < 2; i++) {
		free(l[i].key);
		free(l[i].value);
	}
	free(l);
	free(p->name);
	free(p->namespace);
	free(p);
	mx_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(requests_per_label_set),
		cmocka_unit_test(buckets_are_envoys_and_cumulative),
		cmocka_unit_test(equal_labels_of_two_workers_are_one_series),
		cmocka_unit_test(label_values_are_escaped_and_copied),
		cmocka_unit_test(full_table_counts_overflow),
		cmocka_unit_test(full_tuple_table_gives_none),
		cmocka_unit_test(cache_is_emptied_by_a_new_generation),
		cmocka_unit_test(tcp_families_have_no_response_code),
		cmocka_unit_test(scrape_races_a_writer),
		cmocka_unit_test(pod_labels_outlive_their_config),
		cmocka_unit_test(deployment_pod_is_its_deployment),
		cmocka_unit_test(other_controllers),
		cmocka_unit_test(hand_written_pods),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
