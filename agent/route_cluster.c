// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The clusters of the route table: one per (service port, DestinationRule
 * candidate, subset), with its merged policy, ready endpoints, hash ring and
 * connection-pool limit, plus one per port without any rule when some client
 * may get none. They are what a config of many services is mostly made of, so
 * they are laid out flat: every cluster in one array (rt->clusters, by id), a
 * service's as one run per port (struct rt_svc), and every endpoint list in
 * one pool (rt->eps): a port's ready endpoints once, which the clusters that
 * keep all of them share, then a run per subset that leaves some out. What a
 * few clusters have (a policy a subset overrides, outlier parameters) lives
 * in the table's string table; only hash rings are allocated one by one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route_int.h"

/* A cluster is a cache line (the request path reads one); see struct rt_cluster. */
_Static_assert(sizeof(void *) != 8 || sizeof(struct rt_cluster) == 64, "rt_cluster grew");

/*
 * The circuit breaker of a cluster as one number: HTTP/1.1 carries one request
 * per connection, so Envoy runs at most maxConnections at once and queues
 * http1MaxPendingRequests more; http2MaxRequests caps requests in flight. shunt
 * does not queue: it admits maxConnections + http1MaxPendingRequests at once
 * (both set), or http2MaxRequests, whichever is lower, and answers the rest
 * 503 UO. 0: no limit.
 */
static uint32_t max_active(const struct connection_pool *cp)
{
	uint64_t lim = UINT64_MAX;

	if (!cp->set)
		return 0;
	if (cp->http2_max_requests)
		lim = cp->http2_max_requests;
	if (cp->tcp_max_connections && cp->http1_max_pending_requests &&
	    (uint64_t)cp->tcp_max_connections + cp->http1_max_pending_requests < lim)
		lim = (uint64_t)cp->tcp_max_connections + cp->http1_max_pending_requests;
	return lim == UINT64_MAX ? 0 : lim > UINT32_MAX ? UINT32_MAX : (uint32_t)lim;
}

/* The merged policy of a cluster of @dr (NULL: none) and subset @ss (NULL: the whole service):
 * Istio's subset merge, each part the subset sets replacing the rule's. Shared with the rule
 * when the subset sets none, else a new one in the table's string table. 0 or -ENOMEM. */
static int cluster_policy(struct route_table *rt, struct rt_cluster *c,
			  const struct destination_rule *dr, const struct subset *ss)
{
	static const struct traffic_policy none;
	struct traffic_policy *p;

	c->policy = dr ? dr->policy : &none;
	if (!ss || !(ss->policy->lb.set || ss->policy->pool.set || ss->policy->outlier.set))
		return 0;
	p = strtab_alloc(&rt->strs, sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = *c->policy;
	if (ss->policy->lb.set)
		p->lb = ss->policy->lb;
	if (ss->policy->pool.set)
		p->pool = ss->policy->pool;
	if (ss->policy->outlier.set)
		p->outlier = ss->policy->outlier;
	c->policy = p;
	return 0;
}

/* Whether endpoint @i of @sp is one a cluster can use: ready, with an IPv4 address (the agent's
 * upstream connections are IPv4: an IPv6-only pod is no host here). */
static bool usable(const struct svc_port *sp, size_t i)
{
	return sp->eps[i].ready && sp->eps[i].ip.s_addr;
}

/* Into @out (room for sp->n_ready) the usable endpoints of @sp; their number. */
static size_t usable_eps(const struct svc_port *sp, const struct endpoint **out)
{
	size_t n = 0;

	for (size_t i = 0; i < sp->n_ready; i++)
		if (usable(sp, i))
			out[n++] = &sp->eps[i];
	return n;
}

/* How many usable endpoints of @sp subset @ss (NULL: none, the whole service) keeps. */
static size_t usable_count(const struct svc_port *sp, const struct subset *ss)
{
	size_t n = 0;

	for (size_t i = 0; i < sp->n_ready; i++)
		n += usable(sp, i) && (!ss || rt_labels_subset(&ss->labels, sp->eps[i].labels));
	return n;
}

/* The consistent-hash ring of @c, when its policy hashes (its points allocated, freed by
 * rt_clusters_free()). 0 or -ENOMEM. */
static int cluster_ring(struct route_table *rt, struct rt_cluster *c)
{
	struct lb_ring_host *keys;
	int err;

	if (c->lb.hash == LB_HASH_NONE || !c->lb.n_hosts)
		return 0;
	c->lb.ring = strtab_alloc(&rt->strs, sizeof(*c->lb.ring));
	keys = calloc(c->lb.n_hosts, sizeof(*keys));
	if (!c->lb.ring || !keys) {
		free(keys);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < c->lb.n_hosts; i++)
		keys[i] = (struct lb_ring_host){rt_cluster_ep(rt, c, i)->ip.s_addr,
						rt_cluster_ep(rt, c, i)->port};
	err = lb_ring_build(c->lb.ring, keys, c->lb.n_hosts, c->policy->lb.minimum_ring_size);
	free(keys);
	return err;
}

/* Where the clusters being built are. */
struct cl_build {
	uint32_t all;	  /* the port's usable endpoints, from rt->eps[all] */
	uint32_t n_all;	  /* how many */
	size_t used;	  /* rt->eps taken so far */
	size_t n_planned; /* clusters plan_service() laid out */
};

/* Cluster rt->clusters[rt->n_clusters] for port @port of @rs, rule @dr (NULL: none) and subset
 * @ss (NULL: the whole service). 0 or -ENOMEM. */
static int build_cluster(struct route_table *rt, const struct rt_svc *rs, size_t port,
			 const struct destination_rule *dr, const struct subset *ss,
			 struct cl_build *at)
{
	struct rt_cluster *c = &rt->clusters[rt->n_clusters++];
	const struct svc_port *sp = &rs->svc->ports[port];
	char name[ROUTE_CLUSTER_MAX];
	uint32_t n = at->n_all, limit;
	int err;

	c->svc = rs->svc;
	c->dr = dr;
	snprintf(name, sizeof(name), "outbound|%u|%s|%s", sp->port, ss ? ss->name : "", rs->fqdn);
	c->name = strtab_dup(&rt->strs, name);
	err = c->name ? cluster_policy(rt, c, dr, ss) : -ENOMEM;
	if (err)
		return err;
	c->eps = at->all;
	if (ss) { /* a run of its own unless it keeps them all (rt->eps has room: see below) */
		const struct endpoint **own = rt->eps + at->used;

		n = 0;
		for (uint32_t i = 0; i < at->n_all; i++)
			if (rt_labels_subset(&ss->labels, rt->eps[at->all + i]->labels))
				own[n++] = rt->eps[at->all + i];
		if (n != at->n_all) {
			c->eps = (uint32_t)at->used;
			at->used += n;
		}
	}
	c->lb.n_hosts = n;
	limit = max_active(&c->policy->pool);
	if (limit && !rt->admit && !(rt->admit = calloc(at->n_planned, sizeof(*rt->admit))))
		return -ENOMEM;
	if (limit)
		rt->admit[c - rt->clusters].max = limit;
	c->lb.simple = (uint8_t)c->policy->lb.simple;
	/* A ServiceEntry with resolution NONE: the original destination is the endpoint. */
	if (rs->svc->se && rs->svc->se->resolution == SE_RES_NONE)
		c->lb.simple = LB_PASSTHROUGH;
	c->lb.hash = (uint8_t)c->policy->lb.hash;
	if (c->policy->outlier.set) {
		struct lb_outlier *o = strtab_alloc(&rt->strs, sizeof(*o));

		if (!o)
			return -ENOMEM;
		lb_outlier_from(o, &c->policy->outlier);
		c->lb.outlier = o;
	}
	err = cluster_ring(rt, c);
	if (err)
		return err;
	c->host_base = (uint32_t)rt->n_hosts;
	rt->n_hosts += c->lb.n_hosts;
	if (c->lb.n_hosts > rt->max_hosts)
		rt->max_hosts = c->lb.n_hosts;
	return 0;
}

/* The first rule of @rs in namespace @ns that Istio's exported index holds (no selector, not
 * private): what steps 2 and 3 of rt_choose_dr() look at; NULL: none. */
static const struct rt_drc *exported_in(const struct rt_svc *rs, uint32_t ns)
{
	for (size_t i = 0; i < rs->n_drs; i++)
		if (rs->drs[i].ns == ns && !rs->drs[i].selector && !rs->drs[i].private_only)
			return &rs->drs[i];
	return NULL;
}

/*
 * Whether some client may get no DestinationRule for @rs from rt_choose_dr(), so that the
 * clusters without one are needed. A client without pod is the worst case (no selector selects
 * it): it is asked for every namespace that holds a rule for the service, the service's, the
 * root and none; any other namespace only reaches the service's and the root's first exported
 * rules, which must then be visible to every namespace. Errs towards building them.
 */
static bool plain_reachable(const struct route_table *rt, const struct rt_svc *rs)
{
	const struct rt_drc *own = exported_in(rs, rs->ns), *root = exported_in(rs, rt->root_ns);
	uint32_t ask[3] = {rs->ns, rt->root_ns, RT_NS_NONE};
	struct rt_client c = {.ns = RT_NS_NONE};

	if (!own && !root)
		return true;
	for (size_t i = 0; i < rs->n_drs; i++) {
		c.ns = rs->drs[i].ns;
		if (!rt_choose_dr(rt, rs, &c))
			return true;
	}
	for (size_t i = 0; i < 3; i++) {
		c.ns = ask[i];
		if (!rt_choose_dr(rt, rs, &c))
			return true;
	}
	for (size_t b = 0; b <= rt->n_ns; b++) {
		uint64_t seen = (own ? own->vis[b / 64] : 0) | (root ? root->vis[b / 64] : 0);

		if (!(seen >> (b % 64) & 1))
			return true;
	}
	return false;
}

/* Lays out the clusters of @rs (cl_plain, cl_first, cl_stride, each rule's cl_off) after the
 * *@n_clusters laid out so far, and adds what they take to *@n_clusters and to *@n_eps (the
 * ports' lists, and the subsets' that leave some out); *@max_all: the longest port list. */
static void plan_service(const struct route_table *rt, struct rt_svc *rs, size_t *n_clusters,
			 size_t *n_eps, size_t *max_all)
{
	uint32_t stride;

	rs->cl_plain = plain_reachable(rt, rs);
	stride = rs->cl_plain;
	for (size_t k = 0; k < rs->n_drs; k++) {
		rs->drs[k].cl_off = stride;
		stride += 1 + (uint32_t)rs->drs[k].src->n_subsets;
	}
	rs->cl_first = (uint32_t)*n_clusters;
	rs->cl_stride = stride;
	*n_clusters += (size_t)stride * rs->svc->n_ports;
	for (size_t p = 0; p < rs->svc->n_ports; p++) {
		const struct svc_port *sp = &rs->svc->ports[p];
		size_t n_all = usable_count(sp, NULL);

		*n_eps += n_all;
		*max_all = n_all > *max_all ? n_all : *max_all;
		for (size_t k = 0; n_all && k < rs->n_drs; k++) {
			const struct destination_rule *dr = rs->drs[k].src;

			for (size_t i = 0; i < dr->n_subsets; i++) {
				size_t n = usable_count(sp, &dr->subsets[i]);

				*n_eps += n == n_all ? 0 : n;
			}
		}
	}
}

int rt_clusters_build(struct route_table *rt)
{
	size_t n_clusters = 0, n_eps = 0, max_all = 0, used = 0;
	int err = 0;

	for (size_t s = 0; s < rt->cfg->n_services; s++)
		plan_service(rt, &rt->svcs[s], &n_clusters, &n_eps, &max_all);
	rt->clusters = calloc(n_clusters + 1, sizeof(*rt->clusters));
	/* + max_all: a subset's run is written before it is known to keep every endpoint */
	rt->eps = calloc(n_eps + max_all + 1, sizeof(*rt->eps));
	if (!rt->clusters || !rt->eps)
		return -ENOMEM;
	if (n_eps + max_all > UINT32_MAX) /* rt_cluster.eps is 32 bits */
		return -E2BIG;
	/* In the order plan_service() laid them out. */
	for (size_t s = 0; !err && s < rt->cfg->n_services; s++) {
		const struct rt_svc *rs = &rt->svcs[s];

		for (size_t p = 0; !err && p < rs->svc->n_ports; p++) {
			struct cl_build at = {.all = (uint32_t)used, .n_planned = n_clusters};

			at.n_all = (uint32_t)usable_eps(&rs->svc->ports[p], rt->eps + used);
			at.used = used + at.n_all;
			if (rs->cl_plain)
				err = build_cluster(rt, rs, p, NULL, NULL, &at);
			for (size_t k = 0; !err && k < rs->n_drs; k++) {
				const struct destination_rule *dr = rs->drs[k].src;

				err = build_cluster(rt, rs, p, dr, NULL, &at);
				for (size_t i = 0; !err && i < dr->n_subsets; i++)
					err = build_cluster(rt, rs, p, dr, &dr->subsets[i], &at);
			}
			used = at.used;
		}
	}
	return err;
}

void rt_clusters_free(struct route_table *rt)
{
	for (size_t i = 0; rt->clusters && i < rt->n_clusters; i++)
		if (rt->clusters[i].lb.ring) /* the struct is in the string table */
			lb_ring_free(rt->clusters[i].lb.ring);
	free(rt->clusters);
	free(rt->admit);
	free(rt->eps);
}
