// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Stable ids for what the maps key by number: service ports (svc4_val.svc_id,
 * the key of their slots in shunt_be4/shunt_be6 and of shunt_scope) and
 * Sidecars (egress scopes, pod_val.scope_id).
 *
 * A reload must not move an id from one service port to another while the
 * kernel uses it: connect4 reads svc4_val {svc_id, n_slots} and then the
 * slots, and between the agent writing the slots of a renumbered port and
 * its svc4 entry, a connection to another service would get its backends.
 * So a port that the maps already hold keeps the id they hold (found by its
 * VIP, which also carries the ids across an agent restart), and a new port
 * gets an id that no entry in the maps uses, stale ones included. Ids of
 * deleted ports are free again at the next sync, once their entries are gone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <bpf/bpf.h>

#include "config.h"
#include "istio.h"
#include "kern_int.h"

/* The flat index of port @sp of @svc: ports numbered service by service, as cfg lists them. */
static size_t flat_of(const struct config *cfg, const size_t *base, const struct service *svc,
		      const struct svc_port *sp)
{
	return base[svc - cfg->services] + (size_t)(sp - svc->ports);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The port of @cfg that service key @vip:@port_be (IPv4 when @vip6 is NULL) names, when shunt
 * balances it and it has no id yet: it keeps @id. */
static void keep_id(const struct config *cfg, const size_t *base, uint32_t *ids, struct in_addr vip,
		    const struct in6_addr *vip6, uint16_t port_be, uint8_t proto, uint32_t id)
{
	const struct service *svc;
	const struct svc_port *sp = vip6 ? config_find_vip6(cfg, vip6, port_be, proto, &svc)
					 : config_find_vip(cfg, vip, port_be, proto, &svc);

	if (sp && kern_balanced(svc, sp) && ids[flat_of(cfg, base, svc, sp)] == UINT32_MAX)
		ids[flat_of(cfg, base, svc, sp)] = id;
}

/* ids_from_maps() without a syscall: what the last sync's record says the maps hold. */
static size_t ids_from_record(const struct kern *k, const struct config *cfg, const size_t *base,
			      uint32_t *ids, uint32_t *taken, size_t cap)
{
	size_t n = 0;

	for (uint32_t id = 0; id < k->last4.n_ports && n < cap; id++) {
		struct svc4_key k4;

		if (!k->last4.ports[id].live)
			continue;
		memcpy(&k4, k->last4.ports[id].key, sizeof(k4));
		taken[n++] = id;
		keep_id(cfg, base, ids, (struct in_addr){k4.vip}, NULL, k4.port, k4.proto, id);
	}
	for (uint32_t id = 0; id < k->last6.n_ports && n < cap; id++) {
		struct svc6_key k6;

		if (!k->last6.ports[id].live)
			continue;
		memcpy(&k6, k->last6.ports[id].key, sizeof(k6));
		taken[n++] = id;
		keep_id(cfg, base, ids, (struct in_addr){0}, (const struct in6_addr *)k6.vip,
			k6.port, k6.proto, id);
	}
	return n;
}

/*
 * Every id the service maps hold into @taken (sorted, deduplicated: *@n_taken), and each
 * balanced port of @cfg the maps already know into ids[flat]. 0 or -ENOMEM.
 */
static int ids_from_maps(const struct kern *k, const struct config *cfg, const size_t *base,
			 uint32_t *ids, uint32_t *taken, size_t cap, size_t *n_taken)
{
	struct svc4_key k4, *p4 = NULL;
	struct svc6_key k6, *p6 = NULL;
	struct svc4_val v;
	size_t n = 0;

	if (k->last4.valid && k->last6.valid)
		n = ids_from_record(k, cfg, base, ids, taken, cap);
	while (!(k->last4.valid && k->last6.valid) && n < cap &&
	       !bpf_map_get_next_key(k->svc4_fd, p4, &k4)) {
		p4 = &k4;
		if (bpf_map_lookup_elem(k->svc4_fd, &k4, &v))
			continue;
		taken[n++] = v.svc_id;
		keep_id(cfg, base, ids, (struct in_addr){k4.vip}, NULL, k4.port, k4.proto,
			v.svc_id);
	}
	while (!(k->last4.valid && k->last6.valid) && n < cap &&
	       !bpf_map_get_next_key(k->svc6_fd, p6, &k6)) {
		p6 = &k6;
		if (bpf_map_lookup_elem(k->svc6_fd, &k6, &v))
			continue;
		taken[n++] = v.svc_id;
		keep_id(cfg, base, ids, (struct in_addr){0}, (const struct in6_addr *)k6.vip,
			k6.port, k6.proto, v.svc_id);
	}
	qsort(taken, n, sizeof(*taken), cmp_u32);
	*n_taken = 0;
	for (size_t i = 0; i < n; i++)
		if (!*n_taken || taken[*n_taken - 1] != taken[i])
			taken[(*n_taken)++] = taken[i];
	return 0;
}

/*
 * Two ports that the maps named by the same id (a VIP moved from one service to another
 * while the agent was down): the first keeps it, the other gets a new one.
 */
static void drop_duplicate_ids(uint32_t *ids, size_t n)
{
	uint32_t *sorted = malloc((n + 1) * sizeof(*sorted));
	size_t m = 0;

	if (!sorted) { /* renumber everything known: correct, only less stable */
		for (size_t i = 0; i < n; i++)
			ids[i] = UINT32_MAX;
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (ids[i] != UINT32_MAX)
			sorted[m++] = ids[i];
	qsort(sorted, m, sizeof(*sorted), cmp_u32);
	for (size_t i = 1; i < m; i++) {
		if (sorted[i] != sorted[i - 1])
			continue;
		for (size_t f = 0, seen = 0; f < n; f++)
			if (ids[f] == sorted[i] && seen++)
				ids[f] = UINT32_MAX;
	}
	free(sorted);
}

int kern_ids_assign(struct kern *k, const struct config *cfg)
{
	size_t n = 0, n_taken = 0, cap, t = 0;
	uint32_t *ids, *taken, next = 0, span = 0;
	size_t *base;
	int err = -ENOMEM;

	base = calloc(cfg->n_services + 1, sizeof(*base));
	for (size_t i = 0; base && i < cfg->n_services; i++) {
		base[i] = n;
		n += cfg->services[i].n_ports;
	}
	cap = 2 * (size_t)k->max[KERN_MAP_SVC4];
	ids = malloc((n + 1) * sizeof(*ids));
	taken = malloc((cap + 1) * sizeof(*taken));
	if (!base || !ids || !taken)
		goto out;
	for (size_t f = 0; f < n; f++)
		ids[f] = UINT32_MAX;
	err = ids_from_maps(k, cfg, base, ids, taken, cap, &n_taken);
	if (err)
		goto out;
	drop_duplicate_ids(ids, n);
	for (size_t i = 0, f = 0; i < cfg->n_services; i++) {
		const struct service *svc = &cfg->services[i];

		for (size_t j = 0; j < svc->n_ports; j++, f++) {
			if (!kern_balanced(svc, &svc->ports[j]) ||
			    (!svc->cluster_ip.s_addr && !svc->has_ip6)) {
				ids[f] = UINT32_MAX;
				continue;
			}
			/* The lowest id neither held by the maps nor given out already. */
			while (ids[f] == UINT32_MAX) {
				while (t < n_taken && taken[t] < next)
					t++;
				if (t < n_taken && taken[t] == next)
					next++;
				else
					ids[f] = next++;
			}
			span = ids[f] + 1 > span ? ids[f] + 1 : span;
		}
	}
	free(k->port_ids);
	k->port_ids = ids;
	k->n_port_ids = n;
	k->id_span = span;
	ids = NULL;
	err = 0;
out:
	free(ids);
	free(taken);
	free(base);
	return err;
}

uint32_t kern_port_id(const struct kern *k, size_t flat)
{
	return flat < k->n_port_ids ? k->port_ids[flat] : UINT32_MAX;
}

/* "namespace/name" of @sc, for the scope table. */
static void sidecar_key(const struct sidecar *sc, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", sc->namespace, sc->name);
}

__u32 kern_sidecar_scope(struct kern *k, const struct sidecar *sc)
{
	char key[512];

	if (!sc || !sc->n_egress)
		return 0;
	sidecar_key(sc, key, sizeof(key));
	for (size_t i = 0; i < k->n_scopes; i++)
		if (!strcmp(k->scopes[i].key, key))
			return k->scopes[i].id;
	return 0;
}

int kern_scopes_assign(struct kern *k, const struct config *cfg)
{
	const struct istio_config *ic = &cfg->istio;
	struct kern_scope_name *tab;
	size_t n = 0;
	char key[512];

	tab = calloc(ic->n_sidecars + 1, sizeof(*tab));
	if (!tab)
		return -ENOMEM;
	for (size_t s = 0; s < ic->n_sidecars; s++) {
		const struct sidecar *sc = &ic->sidecars[s];
		__u32 id;

		if (!sc->n_egress)
			continue;
		/* A Sidecar keeps its scope across reloads; a new one never takes a gone one's. */
		id = kern_sidecar_scope(k, sc);
		if (!id)
			id = ++k->scope_next;
		sidecar_key(sc, key, sizeof(key));
		tab[n].key = strdup(key);
		if (!tab[n].key) {
			kern_scopes_free(tab, n);
			return -ENOMEM;
		}
		tab[n++].id = id;
	}
	kern_scopes_free(k->scopes, k->n_scopes);
	k->scopes = tab;
	k->n_scopes = n;
	return 0;
}

void kern_scopes_free(struct kern_scope_name *tab, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(tab[i].key);
	free(tab);
}

int kern_sync_fits(const struct kern *k, const struct config *cfg, const struct route_table *rt,
		   char *why, size_t len)
{
	uint64_t ports4 = 0, ports6 = 0, slots4 = 0, slots6 = 0;
	int err;

	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct service *svc = &cfg->services[i];

		for (size_t j = 0; j < svc->n_ports; j++) {
			const struct svc_port *sp = &svc->ports[j];
			uint32_t n;

			if (!kern_balanced(svc, sp))
				continue;
			if (svc->cluster_ip.s_addr) {
				err = kern_write_slots(NULL, AF_INET, 0, rt, i, j, sp, &n);
				if (err)
					return err;
				ports4++;
				slots4 += n;
			}
			if (svc->has_ip6) {
				err = kern_write_slots(NULL, AF_INET6, 0, rt, i, j, sp, &n);
				if (err)
					return err;
				ports6++;
				slots6 += n;
			}
		}
	}
	if (ports4 > k->max[KERN_MAP_SVC4] || ports6 > k->max[KERN_MAP_SVC4]) {
		snprintf(why, len,
			 "kern: %llu IPv4 and %llu IPv6 service ports do not fit in %u entries of "
			 "%s/%s: raise --max-services",
			 (unsigned long long)ports4, (unsigned long long)ports6,
			 k->max[KERN_MAP_SVC4], SHUNT_MAP_SVC4, SHUNT_MAP_SVC6);
		return -E2BIG;
	}
	if (slots4 > k->max[KERN_MAP_BE4] || slots6 > k->max[KERN_MAP_BE4]) {
		snprintf(why, len,
			 "kern: %llu IPv4 and %llu IPv6 backend slots do not fit in %u entries of "
			 "%s/%s: raise --max-backends",
			 (unsigned long long)slots4, (unsigned long long)slots6,
			 k->max[KERN_MAP_BE4], SHUNT_MAP_BE4, SHUNT_MAP_BE6);
		return -E2BIG;
	}
	return 0;
}
