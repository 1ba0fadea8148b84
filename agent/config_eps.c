// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Endpoints, as the Kubernetes endpoints controller computes them: the pods of
 * a service's namespace that its selector matches, ready ones first, each
 * group by pod name.
 *
 * A service looks only at the pods that carry one of its selector's labels
 * with the value it wants: every (namespace, key, value) of every pod is put
 * once per load into a sorted index, and each service walks the shortest of
 * its selector labels' ranges. A load is then about linear in pods and
 * services, where scanning the namespace for every service was quadratic
 * when they share one.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

/* One label of one pod; @pos is the pod's position in the (namespace, name) order. */
struct lbl_ent {
	const char *ns, *key, *value;
	size_t pos;
};

static int cmp_triple(const char *ns1, const char *k1, const char *v1, const char *ns2,
		      const char *k2, const char *v2)
{
	int c = strcmp(ns1, ns2);

	if (!c)
		c = strcmp(k1, k2);
	return c ? c : strcmp(v1, v2);
}

static int cmp_ent(const void *a, const void *b)
{
	const struct lbl_ent *x = a, *y = b;
	int c = cmp_triple(x->ns, x->key, x->value, y->ns, y->key, y->value);

	return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

/* Every label of every pod, sorted by namespace, key, value, then name order. NULL on ENOMEM. */
static struct lbl_ent *label_index(const struct config *cfg, const size_t *pod_order, size_t *n)
{
	struct lbl_ent *v;
	size_t total = 0;

	for (size_t i = 0; i < cfg->n_pods; i++)
		total += cfg->pods[i].labels.n;
	v = calloc(total + 1, sizeof(*v));
	if (!v)
		return NULL;
	*n = 0;
	for (size_t k = 0; k < cfg->n_pods; k++) {
		const struct pod *p = &cfg->pods[pod_order[k]];

		for (size_t l = 0; l < p->labels.n; l++)
			v[(*n)++] = (struct lbl_ent){p->namespace, p->labels.v[l].key,
						     p->labels.v[l].value, k};
	}
	qsort(v, *n, sizeof(*v), cmp_ent);
	return v;
}

/* The first entry of @v (@n, sorted) at or after (@ns, @key, @value). */
static size_t lower_bound(const struct lbl_ent *v, size_t n, const char *ns, const char *key,
			  const char *value)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_triple(v[mid].ns, v[mid].key, v[mid].value, ns, key, value) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The range [*@lo, *@hi) of @v: the pods of @s's namespace with the rarest of its selector's
 * labels. Empty when some label is on no pod. */
static void rarest_label(const struct lbl_ent *v, size_t n, const struct service *s, size_t *lo,
			 size_t *hi)
{
	*lo = *hi = 0;
	for (size_t i = 0; i < s->selector.n; i++) {
		const struct label *l = &s->selector.v[i];
		size_t a = lower_bound(v, n, s->namespace, l->key, l->value), b = a;

		while (b < n &&
		       !cmp_triple(v[b].ns, v[b].key, v[b].value, s->namespace, l->key, l->value))
			b++;
		if (!i || b - a < *hi - *lo) {
			*lo = a;
			*hi = b;
		}
		if (a == b)
			return;
	}
}

static bool selects(const struct service *s, const struct pod *p)
{
	for (size_t i = 0; i < s->selector.n; i++) {
		const char *v = labels_get(&p->labels, s->selector.v[i].key);

		if (!v || strcmp(v, s->selector.v[i].value))
			return false;
	}
	return true;
}

/* What the endpoints controller skips: no address, being deleted, or finished. */
static bool may_serve(const struct pod *p)
{
	return (p->ip.s_addr || p->has_ip6) && !p->terminating &&
	       !(p->phase && (!strcmp(p->phase, "Succeeded") || !strcmp(p->phase, "Failed")));
}

/* The pod port @sp reaches on @p, or 0: a named targetPort needs a container port of that
 * name and protocol (the first one, as Kubernetes' FindPort takes). */
static uint16_t target_on(const struct svc_port *sp, const struct pod *p)
{
	if (!sp->target_port_name)
		return sp->target_port;
	for (size_t i = 0; i < p->n_cports; i++)
		if (p->cports[i].name && !strcmp(p->cports[i].name, sp->target_port_name) &&
		    p->cports[i].protocol == sp->protocol)
			return p->cports[i].port;
	return 0;
}

/* Fills sp->eps from @pods (the service's pods, ready ones first, each group by name). */
static int fill_port(struct svc_port *sp, const struct pod *const *pods, size_t n)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++)
		m += target_on(sp, pods[i]) != 0;
	sp->eps = calloc(m ? m : 1, sizeof(*sp->eps));
	if (!sp->eps)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint16_t port = target_on(sp, pods[i]);

		if (!port)
			continue;
		sp->eps[sp->n_eps++] = (struct endpoint){.ip = pods[i]->ip,
							 .ip6 = pods[i]->ip6,
							 .has_ip6 = pods[i]->has_ip6,
							 .port = port,
							 .ready = pods[i]->ready,
							 .pod = pods[i],
							 .labels = &pods[i]->labels};
		sp->n_ready += pods[i]->ready;
	}
	return 0;
}

/* The pods @s selects into @out (room for every pod), ready ones first. How many. */
static size_t service_pods(const struct config *cfg, const size_t *pod_order,
			   const struct lbl_ent *v, size_t n, const struct service *s,
			   const struct pod **out)
{
	size_t lo, hi, m = 0;

	rarest_label(v, n, s, &lo, &hi);
	/* Two passes over the range, in name order: ready pods first, then the rest. */
	for (int pass = 1; pass >= 0; pass--) {
		for (size_t k = lo; k < hi; k++) {
			const struct pod *p = &cfg->pods[pod_order[v[k].pos]];

			if (p->ready == pass && may_serve(p) && selects(s, p))
				out[m++] = p;
		}
	}
	return m;
}

int config_compute_endpoints(struct config *cfg, const size_t *pod_order)
{
	const struct pod **pods = calloc(cfg->n_pods + 1, sizeof(*pods));
	struct lbl_ent *v = NULL;
	size_t n = 0;
	int err = -ENOMEM;

	if (!pods)
		return -ENOMEM;
	v = label_index(cfg, pod_order, &n);
	if (!v)
		goto free_pods;
	err = 0;
	for (size_t i = 0; i < cfg->n_services && !err; i++) {
		struct service *s = &cfg->services[i];
		size_t m;

		if (!s->has_selector)
			continue;
		m = service_pods(cfg, pod_order, v, n, s, pods);
		for (size_t j = 0; j < s->n_ports && !err; j++)
			err = fill_port(&s->ports[j], pods, m);
	}
	free(v);
free_pods:
	free(pods);
	return err;
}
