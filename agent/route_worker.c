// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A worker's routing state and what happens after a request was routed: the
 * worker's per-table state (created per snapshot), another endpoint for a
 * retry, the connection-pool admission counted over all workers, and the
 * names and statuses of verdicts. route_select.c routes; this file keeps the
 * books. Reads the table, writes only the worker's state and the clusters'
 * atomic counters.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "route_int.h"

const char *route_verdict_str(enum route_verdict v)
{
	static const char *const names[] = {
		[RV_FORWARD] = "FORWARD",	[RV_NO_ROUTE] = "NO_ROUTE",
		[RV_NO_CLUSTER] = "NO_CLUSTER", [RV_NO_HEALTHY] = "NO_HEALTHY",
		[RV_REDIRECT] = "REDIRECT",	[RV_PASSTHROUGH] = "PASSTHROUGH",
		[RV_BLACKHOLE] = "BLACKHOLE",	[RV_HTTPS_REDIRECT] = "HTTPS_REDIRECT",
	};

	return (size_t)v < sizeof(names) / sizeof(names[0]) && names[v] ? names[v] : "?";
}

const char *route_verdict_flag(enum route_verdict v)
{
	switch (v) {
	case RV_NO_ROUTE:
		return "NR";
	case RV_NO_CLUSTER:
		return "NC";
	case RV_NO_HEALTHY:
		return "UH";
	default:
		return NULL;
	}
}

int route_verdict_status(enum route_verdict v)
{
	switch (v) {
	case RV_NO_ROUTE:
		return 404;
	case RV_NO_CLUSTER:
	case RV_NO_HEALTHY:
		return 503;
	case RV_BLACKHOLE:
		return 502;
	default:
		return 0;
	}
}

struct route_worker *route_worker_new(const struct route_table *rt, uint64_t seed)
{
	struct route_worker *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->rt = rt;
	lb_rng_seed(&w->rng, seed);
	w->wrr = calloc(rt->n_wrr + 1, sizeof(*w->wrr));
	w->cs = calloc(rt->n_clusters + 1, sizeof(*w->cs));
	w->hs = calloc(rt->n_hosts + 1, sizeof(*w->hs));
	w->scratch = calloc(rt->max_hosts + 1, sizeof(*w->scratch));
	w->cur = calloc(rt->max_cursors + 1, sizeof(*w->cur));
	if (!w->wrr || !w->cs || !w->hs || !w->scratch || !w->cur) {
		route_worker_free(w);
		return NULL;
	}
	return w;
}

void route_worker_free(struct route_worker *w)
{
	if (!w)
		return;
	free(w->wrr);
	free(w->cs);
	free(w->hs);
	free(w->scratch);
	free(w->cur);
	free(w->buf);
	for (size_t i = 0; i < RT_SBUF_N; i++)
		free(w->act[i].p);
	free(w);
}

void route_worker_set_now(struct route_worker *w, uint64_t now_ms)
{
	w->now_ms = now_ms;
}

#define REPICK_DRAWS 5 /* Istio's HostSelectionRetryMaxAttempts */

int route_repick(const struct route_table *rt, struct route_worker *w, uint64_t *lb_token,
		 uint64_t *tried, const uint64_t *hash, struct sockaddr_in *ep)
{
	uint32_t id = (uint32_t)(*lb_token >> TOKEN_ID_BITS) & TOKEN_ID_MAX;
	uint32_t prev = (uint32_t)*lb_token & TOKEN_ID_MAX;
	const struct rt_cluster *c;
	struct lb_host_state *hs;
	int host = -1;

	if (!*lb_token)
		return -EINVAL;
	if (w->rt != rt || (uint16_t)(*lb_token >> 48) != rt->tag || id >= rt->n_clusters)
		return -ESTALE;
	c = &rt->clusters[id];
	hs = &w->hs[c->host_base];
	if (prev < 63)
		*tried |= 1ULL << prev;
	for (int draw = 0; draw < REPICK_DRAWS; draw++) {
		if (host >= 0 && hs[host].active) /* a rejected draw is no request */
			hs[host].active--;
		host = lb_pick(&c->lb, &w->cs[id], hs, &w->rng, w->now_ms, hash, w->scratch);
		if (host < 0 || hash || c->lb.hash != LB_HASH_NONE || c->lb.n_hosts < 2)
			break;
		if ((uint32_t)host < 63 ? !(*tried >> host & 1) : (uint32_t)host != prev)
			break;
	}
	if (host < 0)
		return -EHOSTUNREACH;
	memset(ep, 0, sizeof(*ep));
	ep->sin_family = AF_INET;
	ep->sin_addr = rt_cluster_ep(rt, c, (uint32_t)host)->ip;
	ep->sin_port = htons(rt_cluster_ep(rt, c, (uint32_t)host)->port);
	*lb_token = (uint64_t)rt->tag << 48 | (uint64_t)id << TOKEN_ID_BITS | (uint32_t)host;
	return 0;
}

/* The admission of the cluster an lb token of @rt names, or NULL (none, or no limit). */
static struct rt_admit *token_admit(const struct route_table *rt, uint64_t lb_token)
{
	uint32_t id = (uint32_t)(lb_token >> TOKEN_ID_BITS) & TOKEN_ID_MAX;

	if (!rt->admit || !lb_token || (uint16_t)(lb_token >> 48) != rt->tag ||
	    id >= rt->n_clusters || !rt->admit[id].max)
		return NULL;
	return &rt->admit[id];
}

bool route_admit(const struct route_table *rt, uint64_t lb_token, bool force)
{
	struct rt_admit *a = token_admit(rt, lb_token);
	uint32_t now;

	if (!a)
		return true;
	now = __atomic_add_fetch(&a->active, 1, __ATOMIC_RELAXED);
	if (now <= a->max || force)
		return true;
	__atomic_sub_fetch(&a->active, 1, __ATOMIC_RELAXED);
	return false;
}

void route_release(const struct route_table *rt, uint64_t lb_token)
{
	struct rt_admit *a = token_admit(rt, lb_token);

	if (a)
		__atomic_sub_fetch(&a->active, 1, __ATOMIC_RELAXED);
}
