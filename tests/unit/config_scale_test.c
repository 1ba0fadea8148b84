// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The loader at scale: endpoints computed through the label index are the
 * ones a naive scan of every pod finds, in the same order, for a large
 * generated config full of edge cases (selectors of one and two labels,
 * shared and empty ones, pods not ready, terminating, finished, without an
 * address, named target ports); pods' strings are interned once per config;
 * the string table behaves.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "strtab.h"

#define N_NS   3
#define N_SVC  400
#define N_PODS 4000

/* A growable string; exits the test on ENOMEM. */
struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->cap - b->len < 1024) {
		b->cap = b->cap ? 2 * b->cap : 1 << 16;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < b->cap - b->len);
	b->len += (size_t)n;
}

static uint32_t rng = 12345;

static uint32_t next(uint32_t n)
{
	rng = rng * 1103515245u + 12345u;
	return (rng >> 8) % n;
}

/* Service i selects app=a<i % 150> (so some share a selector and some select nothing),
 * every third also tier=t0; every fifth has a named targetPort. */
static void gen_services(struct buf *y)
{
	for (int i = 0; i < N_SVC; i++) {
		put(y,
		    "---\napiVersion: v1\nkind: Service\nmetadata: {name: s%d, namespace: ns%d}\n"
		    "spec:\n  clusterIP: 10.96.%d.%d\n  selector: {app: a%d%s}\n"
		    "  ports: [{name: http, port: 80, targetPort: %s}, {name: two, port: 81}]\n",
		    i, i % N_NS, i / 250, i % 250 + 1, i % 150, i % 3 ? "" : ", tier: t0",
		    i % 5 ? "8080" : "web");
	}
}

/* Pods with random labels and states, names out of order within each namespace. */
static void gen_pods(struct buf *y)
{
	static const char *const phases[] = {"Running", "Running",   "Running",
					     "Pending", "Succeeded", "Failed"};

	for (int k = 0; k < N_PODS; k++) {
		uint32_t id = (uint32_t)(k * 7919) % N_PODS;
		bool no_ip = !next(30);

		put(y,
		    "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p%u\n  namespace: ns%u\n"
		    "  labels: {app: a%u, tier: t%u, version: v%u}\n%s"
		    "spec: {containers: [{name: c, ports: [{name: %s, containerPort: %u}]}]}\n"
		    "status:\n  phase: %s\n%s%s",
		    id, next(N_NS), next(160), next(3), next(2),
		    next(20) ? "" : "  deletionTimestamp: \"2024-01-01T00:00:00Z\"\n",
		    next(4) ? "web" : "other", 9000 + next(10), phases[next(6)],
		    next(25) ? "" : "  conditions: [{type: Ready, status: \"False\"}]\n",
		    no_ip ? "  podIP: \"\"\n" : "");
		if (!no_ip)
			put(y, "  podIP: 10.%d.%d.%d\n", 1 + k / 65536, k / 256 % 256, k % 256);
	}
}

static bool naive_selects(const struct service *s, const struct pod *p)
{
	if (strcmp(s->namespace, p->namespace))
		return false;
	for (size_t i = 0; i < s->selector.n; i++) {
		const char *v = labels_get(&p->labels, s->selector.v[i].key);

		if (!v || strcmp(v, s->selector.v[i].value))
			return false;
	}
	return true;
}

static bool naive_serves(const struct pod *p)
{
	return (p->ip.s_addr || p->has_ip6) && !p->terminating &&
	       !(p->phase && (!strcmp(p->phase, "Succeeded") || !strcmp(p->phase, "Failed")));
}

static uint16_t naive_port(const struct svc_port *sp, const struct pod *p)
{
	if (!sp->target_port_name)
		return sp->target_port;
	for (size_t i = 0; i < p->n_cports; i++)
		if (p->cports[i].name && !strcmp(p->cports[i].name, sp->target_port_name))
			return p->cports[i].port;
	return 0;
}

/* Ready ones first, then by name. */
static int cmp_naive(const void *a, const void *b)
{
	const struct pod *x = *(const struct pod *const *)a, *y = *(const struct pod *const *)b;

	if (x->ready != y->ready)
		return y->ready - x->ready;
	return strcmp(x->name, y->name);
}

/* Every service's endpoints from every pod, the slow way, against what the loader computed. */
static void check_endpoints(const struct config *cfg)
{
	const struct pod **v = calloc(cfg->n_pods + 1, sizeof(*v));
	size_t total = 0;

	assert_non_null(v);
	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct service *s = &cfg->services[i];
		size_t n = 0;

		for (size_t k = 0; k < cfg->n_pods; k++)
			if (naive_selects(s, &cfg->pods[k]) && naive_serves(&cfg->pods[k]))
				v[n++] = &cfg->pods[k];
		qsort(v, n, sizeof(*v), cmp_naive);
		for (size_t j = 0; j < s->n_ports; j++) {
			const struct svc_port *sp = &s->ports[j];
			size_t e = 0, ready = 0;

			for (size_t k = 0; k < n; k++) {
				uint16_t port = naive_port(sp, v[k]);

				if (!port)
					continue;
				assert_true(e < sp->n_eps);
				assert_ptr_equal(sp->eps[e].pod, v[k]);
				assert_int_equal(sp->eps[e].port, port);
				assert_int_equal(sp->eps[e].ready, v[k]->ready);
				ready += v[k]->ready;
				e++;
			}
			assert_int_equal(e, sp->n_eps);
			assert_int_equal(ready, sp->n_ready);
			total += e;
		}
	}
	assert_true(total > 1000); /* the generator makes a config worth checking */
	free(v);
}

static void endpoints_match_a_naive_scan(void **state)
{
	struct buf y = {0};
	struct config *cfg = NULL;

	for (int ns = 0; ns < N_NS; ns++)
		put(&y, "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ns%d}\n", ns);
	gen_services(&y);
	gen_pods(&y);
	assert_int_equal(config_load_buf("scale.yaml", y.p, y.len, &cfg), 0);
	assert_int_equal(cfg->n_pods, N_PODS);
	check_endpoints(cfg);
	config_free(cfg);
	free(y.p);
}

/* Pods of one namespace and labels share their strings; another config has its own. */
static void pod_strings_are_interned_per_config(void **state)
{
	static const char yaml[] =
		"apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: web, labels: {app: x}}\n"
		"status: {phase: Running, podIP: 10.0.0.1}\n"
		"---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: web, labels: {app: "
		"x}}\n"
		"status: {phase: Running, podIP: 10.0.0.2}\n";
	struct config *c1 = NULL, *c2 = NULL;

	assert_int_equal(config_load_buf("p.yaml", yaml, strlen(yaml), &c1), 0);
	assert_int_equal(config_load_buf("p.yaml", yaml, strlen(yaml), &c2), 0);
	assert_ptr_equal(c1->pods[0].namespace, c1->pods[1].namespace);
	assert_ptr_equal(c1->pods[0].labels.v[0].key, c1->pods[1].labels.v[0].key);
	assert_ptr_equal(c1->pods[0].labels.v[0].value, c1->pods[1].labels.v[0].value);
	assert_ptr_equal(c1->pods[0].phase, c1->pods[1].phase);
	assert_ptr_not_equal(c1->pods[0].name, c1->pods[1].name);
	assert_ptr_not_equal(c1->pods[0].namespace, c2->pods[0].namespace);
	config_free(c1); /* c2 keeps its own */
	assert_string_equal(c2->pods[1].namespace, "web");
	assert_string_equal(c2->pods[1].labels.v[0].value, "x");
	assert_string_equal(c2->pods[1].name, "b");
	config_free(c2);
}

static void strtab_interns_and_seals(void **state)
{
	struct strtab st = {0};
	char big[20000], *a, *b;
	void *z;

	a = strtab_intern(&st, "default");
	b = strtab_intern(&st, "default");
	assert_ptr_equal(a, b);
	assert_ptr_not_equal(strtab_dup(&st, "default"), a);
	for (int i = 0; i < 5000; i++) { /* the index grows; earlier copies stay */
		char s[16];

		snprintf(s, sizeof(s), "k%d", i);
		assert_string_equal(strtab_intern(&st, s), s);
	}
	assert_ptr_equal(strtab_intern(&st, "default"), a);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_string_equal(strtab_dup(&st, big), big); /* a block of its own */
	z = strtab_alloc(&st, 24);
	assert_true(((uintptr_t)z & 7) == 0);
	assert_int_equal(((char *)z)[23], 0);
	strtab_seal(&st);
	assert_null(strtab_intern(&st, "default"));
	assert_string_equal(a, "default");
	strtab_free(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(endpoints_match_a_naive_scan),
		cmocka_unit_test(pod_strings_are_interned_per_config),
		cmocka_unit_test(strtab_interns_and_seals),
	};

	log_level_cur = LOG_ERROR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
