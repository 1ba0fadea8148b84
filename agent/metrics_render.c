// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The scrape side of the metric tables: the series of every worker's table
 * are gathered, those with the same labels summed, and each family written
 * in Istio's label order. Runs on the admin thread while workers count on.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "metrics_int.h"
#include "prom.h"
#include "proxy.h"

/* A series of one table. */
struct ref {
	const struct mx_table *t;
	const struct mx_series *s;
};

/* Series of equal labels, refs[first .. first + n), and their label text. */
struct group {
	size_t first, n;
	char *labels;
	bool tcp;
};

struct scrape {
	struct ref *refs;
	size_t n_refs;
	struct group *groups;
	size_t n_groups;
	size_t n_render; /* groups[0 .. n_render) fit in the budget */
};

static const struct mx_tup *tup(const struct ref *r, uint32_t id)
{
	return r->t->tups[id];
}

static int tup_cmp(const struct mx_tup *a, const struct mx_tup *b)
{
	int c;

	if (a->n != b->n)
		return a->n < b->n ? -1 : 1;
	for (uint8_t i = 0; i < a->n; i++)
		if ((c = strcmp(a->v[i], b->v[i])))
			return c;
	return 0;
}

/* Orders by label hash, then by the labels themselves: equal labels end up side by side. */
static int ref_cmp(const void *pa, const void *pb)
{
	const struct ref *a = pa, *b = pb;
	const struct mx_key *ka = &a->s->key, *kb = &b->s->key;
	int c;

	if (a->s->hash != b->s->hash)
		return a->s->hash < b->s->hash ? -1 : 1;
	if (ka->status != kb->status || ka->flags != kb->flags || ka->proto != kb->proto)
		return ka->status != kb->status ? (ka->status < kb->status ? -1 : 1)
		       : ka->flags != kb->flags ? (ka->flags < kb->flags ? -1 : 1)
						: (ka->proto < kb->proto ? -1 : 1);
	if ((c = tup_cmp(tup(a, ka->src), tup(b, kb->src))))
		return c;
	if ((c = tup_cmp(tup(a, ka->dst), tup(b, kb->dst))))
		return c;
	return tup_cmp(tup(a, ka->svc), tup(b, kb->svc));
}

static void peer_labels(struct admin_resp *r, const struct mx_tup *p, const char *side)
{
	static const struct {
		const char *name;
		int field;
	} order[] = {
		{"workload", MX_P_WORKLOAD},
		{"canonical_service", MX_P_CANON_SVC},
		{"canonical_revision", MX_P_CANON_REV},
		{"workload_namespace", MX_P_NAMESPACE},
		{"principal", MX_P_PRINCIPAL},
		{"app", MX_P_APP},
		{"version", MX_P_VERSION},
		{"cluster", MX_P_CLUSTER},
	};
	char name[64];

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		snprintf(name, sizeof(name), "%s_%s", side, order[i].name);
		prom_label(r, name, p->v[order[i].field], false);
	}
}

/* Istio's labels of @g's series, in the order its proxies write them. */
static void group_labels(struct admin_resp *r, const struct ref *g)
{
	const struct mx_key *k = &g->s->key;
	const struct mx_tup *src = tup(g, k->src), *dst = tup(g, k->dst), *svc = tup(g, k->svc);
	const char *proto = k->proto == MX_TCP ? "tcp" : k->proto == MX_GRPC ? "grpc" : "http";
	char flags[PROXY_RF_STR_MAX], code[8];

	prom_label(r, "reporter", "source", true);
	peer_labels(r, src, "source");
	/* destination_* in Istio's order, the service's among the workload's */
	prom_label(r, "destination_workload", dst->v[MX_P_WORKLOAD], false);
	prom_label(r, "destination_workload_namespace", dst->v[MX_P_NAMESPACE], false);
	prom_label(r, "destination_principal", dst->v[MX_P_PRINCIPAL], false);
	prom_label(r, "destination_app", dst->v[MX_P_APP], false);
	prom_label(r, "destination_version", dst->v[MX_P_VERSION], false);
	prom_label(r, "destination_service", svc->v[MX_S_HOST], false);
	prom_label(r, "destination_canonical_service", dst->v[MX_P_CANON_SVC], false);
	prom_label(r, "destination_canonical_revision", dst->v[MX_P_CANON_REV], false);
	prom_label(r, "destination_service_name", svc->v[MX_S_NAME], false);
	prom_label(r, "destination_service_namespace", svc->v[MX_S_NAMESPACE], false);
	prom_label(r, "destination_cluster", dst->v[MX_P_CLUSTER], false);
	prom_label(r, "request_protocol", proto, false);
	if (k->proto != MX_TCP) {
		snprintf(code, sizeof(code), "%u", (unsigned)k->status);
		prom_label(r, "response_code", code, false);
		prom_label(r, "grpc_response_status", "", false);
	}
	prom_label(r, "response_flags", proxy_rflags_str(k->flags, flags), false);
	prom_label(r, "connection_security_policy", "unknown", false);
}

static void scrape_free(struct scrape *sc)
{
	for (size_t i = 0; i < sc->n_groups; i++)
		free(sc->groups[i].labels);
	free(sc->groups);
	free(sc->refs);
}

/* Every published series of @tables, sorted and grouped. 0 or -ENOMEM. */
static int scrape_collect(struct mx_table *const *tables, size_t n, struct scrape *sc)
{
	size_t total = 0, cap;

	memset(sc, 0, sizeof(*sc));
	for (size_t i = 0; i < n; i++)
		total += __atomic_load_n(&tables[i]->n_series, __ATOMIC_ACQUIRE);
	cap = total ? total : 1;
	sc->refs = calloc(cap, sizeof(*sc->refs));
	sc->groups = calloc(cap, sizeof(*sc->groups));
	if (!sc->refs || !sc->groups)
		return -ENOMEM;
	/* Counts only grow: reading each again now can only find more than summed above. */
	for (size_t i = 0; i < n; i++) {
		uint32_t k = __atomic_load_n(&tables[i]->n_series, __ATOMIC_ACQUIRE);

		for (uint32_t j = 0; j < k && sc->n_refs < total; j++)
			sc->refs[sc->n_refs++] =
				(struct ref){tables[i], mx_series_at(tables[i], j)};
	}
	qsort(sc->refs, sc->n_refs, sizeof(*sc->refs), ref_cmp);
	for (size_t i = 0; i < sc->n_refs; i++) {
		struct group *g = &sc->groups[sc->n_groups];
		struct admin_resp lab = {0};

		if (i && !ref_cmp(&sc->refs[i - 1], &sc->refs[i])) {
			sc->groups[sc->n_groups - 1].n++;
			continue;
		}
		group_labels(&lab, &sc->refs[i]);
		if (lab.oom || !lab.body) {
			free(lab.body);
			return -ENOMEM;
		}
		*g = (struct group){.first = i, .n = 1, .labels = lab.body};
		g->tcp = sc->refs[i].s->key.proto == MX_TCP;
		sc->n_groups++;
	}
	return 0;
}

/* How many groups fit in @budget bytes: each line repeats the labels. */
static size_t scrape_fit(const struct scrape *sc, size_t budget)
{
	size_t used = 0, i;

	for (i = 0; i < sc->n_groups; i++) {
		size_t lines = sc->groups[i].tcp ? 4 : 1 + MX_H_N * (MX_BUCKETS + 2);

		used += lines * (strlen(sc->groups[i].labels) + 96);
		if (used > budget)
			break;
	}
	return i;
}

/* A counter family: field @off (a uint64_t of struct mx_series) of the groups of kind @tcp. */
static void render_counter(struct admin_resp *r, const struct scrape *sc, const char *name,
			   const char *help, bool tcp, size_t off)
{
	prom_header(r, name, "counter", help);
	for (size_t i = 0; i < sc->n_render; i++) {
		const struct group *g = &sc->groups[i];
		uint64_t v = 0;

		if (g->tcp != tcp)
			continue;
		for (size_t j = g->first; j < g->first + g->n; j++)
			v += mx_load((const uint64_t *)((const char *)sc->refs[j].s + off));
		prom_sample(r, name, g->labels, v);
	}
}

/* One group's histogram @kind: cumulative buckets, +Inf, _sum (@ms: microseconds as ms), _count. */
static void render_hist_group(struct admin_resp *r, const struct scrape *sc, const struct group *g,
			      const char *name, enum mx_hist_kind kind, bool ms)
{
	uint64_t b[MX_BUCKETS] = {0}, sum = 0, cum = 0;
	char key[128];

	for (size_t j = g->first; j < g->first + g->n; j++) {
		const struct mx_hist *h = &sc->refs[j].s->h[kind];

		for (size_t i = 0; i < MX_BUCKETS; i++)
			b[i] += mx_load(&h->bucket[i]);
		sum += mx_load(&h->sum);
	}
	snprintf(key, sizeof(key), "%s_bucket", name);
	for (size_t i = 0; i < MX_BOUNDS; i++) {
		cum += b[i];
		prom_sample_with(r, key, g->labels, "le", mx_bound_str[i], cum);
	}
	cum += b[MX_BOUNDS];
	prom_sample_with(r, key, g->labels, "le", "+Inf", cum);
	if (ms)
		admin_printf(r, "%s_sum{%s} %llu.%03llu\n", name, g->labels,
			     (unsigned long long)(sum / 1000), (unsigned long long)(sum % 1000));
	else
		admin_printf(r, "%s_sum{%s} %llu\n", name, g->labels, (unsigned long long)sum);
	admin_printf(r, "%s_count{%s} %llu\n", name, g->labels, (unsigned long long)cum);
}

static void render_hist(struct admin_resp *r, const struct scrape *sc, const char *name,
			const char *help, enum mx_hist_kind kind, bool ms)
{
	prom_header(r, name, "histogram", help);
	for (size_t i = 0; i < sc->n_render; i++)
		if (!sc->groups[i].tcp)
			render_hist_group(r, sc, &sc->groups[i], name, kind, ms);
}

int mx_render(struct mx_table *const *tables, size_t n, size_t budget, struct admin_resp *r,
	      size_t *left_out)
{
	struct scrape sc;
	int err = scrape_collect(tables, n, &sc);

	*left_out = 0;
	if (err) {
		scrape_free(&sc);
		return err;
	}
	sc.n_render = scrape_fit(&sc, budget);
	*left_out = sc.n_groups - sc.n_render;
	render_counter(r, &sc, "istio_requests_total",
		       "Requests the agent proxied, by source "
		       "and destination workload, service, response code and flags.",
		       false, offsetof(struct mx_series, count));
	render_hist(r, &sc, "istio_request_duration_milliseconds",
		    "Request durations: first byte of the request to last byte of the response.",
		    MX_H_DURATION, true);
	render_hist(r, &sc, "istio_request_bytes",
		    "Request sizes as received: head and body bytes.", MX_H_REQ_BYTES, false);
	render_hist(r, &sc, "istio_response_bytes", "Response sizes as sent: head and body bytes.",
		    MX_H_RSP_BYTES, false);
	render_counter(r, &sc, "istio_tcp_connections_opened_total",
		       "TCP connections the agent proxied at L4, opened.", true,
		       offsetof(struct mx_series, count));
	render_counter(r, &sc, "istio_tcp_connections_closed_total",
		       "TCP connections the agent proxied at L4, closed.", true,
		       offsetof(struct mx_series, closed));
	render_counter(r, &sc, "istio_tcp_sent_bytes_total",
		       "Bytes sent to the client on TCP connections proxied at L4.", true,
		       offsetof(struct mx_series, sent));
	render_counter(r, &sc, "istio_tcp_received_bytes_total",
		       "Bytes received from the client on TCP connections proxied at L4.", true,
		       offsetof(struct mx_series, received));
	scrape_free(&sc);
	return r->oom ? -ENOMEM : 0;
}
