// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The IPv6 maps: a service port with an IPv6 clusterIP gets an entry in
 * shunt_svc6 with the same svc_id and flags as its IPv4 twin (if any), and
 * backend slots in shunt_be6 over its endpoints' IPv6 addresses, so that
 * connect6 steers native IPv6 exactly as connect4 steers IPv4. Also the
 * set maps (shunt_known4, shunt_known6) and the agent's IPv6 listener.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "config.h"
#include "istio.h"
#include "kern.h"
#include "kern_int.h"
#include "log.h"
#include "route.h"

static int cmp_key(const void *a, const void *b, void *size)
{
	return memcmp(a, b, *(const size_t *)size);
}

static bool has_key(const void *keys, size_t n, size_t size, const void *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp((const char *)keys + mid * size, key, size);

		if (!c)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

void kern_set_last_free(struct kern_set_last *l)
{
	free(l->keys);
	memset(l, 0, sizeof(*l));
}

/* Sorts @keys (@n of @size bytes) and drops repeats. How many are left. */
static size_t sort_unique(void *keys, size_t n, size_t size)
{
	size_t m = 0;

	qsort_r(keys, n, size, cmp_key, &size);
	for (size_t i = 0; i < n; i++) {
		char *k = (char *)keys + i * size;

		if (m && !memcmp((char *)keys + (m - 1) * size, k, size))
			continue;
		memmove((char *)keys + m++ * size, k, size);
	}
	return m;
}

/* Deletes the keys of @fd (at most @max) not among @keys (@n sorted), walking the map. */
static int set_delete_walk(struct kern *k, int fd, const void *keys, size_t n, size_t key_size,
			   size_t max)
{
	unsigned char key[16], prev[16];
	size_t n_stale = 0;
	char *stale;
	bool first = true;

	/* Walk first, delete after: deleting during get_next_key may restart the walk. */
	stale = calloc(max + 1, key_size);
	if (!stale)
		return -ENOMEM;
	while (n_stale < max && !bpf_map_get_next_key(fd, first ? NULL : prev, key)) {
		if (!has_key(keys, n, key_size, key))
			memcpy(stale + n_stale++ * key_size, key, key_size);
		memcpy(prev, key, key_size);
		first = false;
	}
	for (size_t i = 0; i < n_stale; i++) {
		k->writes++;
		(void)bpf_map_delete_elem(fd, stale + i * key_size);
	}
	free(stale);
	return 0;
}

int kern_set_sync(struct kern *k, struct kern_set_last *last, int fd, const char *name, void *keys,
		  size_t n, size_t key_size, size_t max, const void *val)
{
	bool known = last->valid;
	void *copy;
	int err = 0;

	if (key_size > 16)
		return -EINVAL;
	n = sort_unique(keys, n, key_size);
	last->valid = false;
	for (size_t i = 0; i < n && !err; i++) {
		const char *key = (char *)keys + i * key_size;

		if (known && has_key(last->keys, last->n, key_size, key))
			continue; /* written by the last sync, with the one value this map has */
		k->writes++;
		if (bpf_map_update_elem(fd, key, val, BPF_ANY)) {
			err = -errno;
			log_error("kern: cannot write %s: %s", name, strerror(-err));
		}
	}
	for (size_t i = 0; known && !err && i < last->n; i++) {
		const char *key = (char *)last->keys + i * key_size;

		if (has_key(keys, n, key_size, key))
			continue;
		k->writes++;
		(void)bpf_map_delete_elem(fd, key);
	}
	if (!err && !known)
		err = set_delete_walk(k, fd, keys, n, key_size, max);
	copy = err ? NULL : malloc(n * key_size + 1);
	kern_set_last_free(last);
	if (!copy)
		return err ? err : -ENOMEM;
	memcpy(copy, keys, n * key_size);
	*last = (struct kern_set_last){.valid = true, .keys = copy, .n = n};
	return 0;
}

static void svc6_key_of(struct svc6_key *key, const struct in6_addr *vip, uint16_t port)
{
	memset(key, 0, sizeof(*key));
	memcpy(key->vip, vip, sizeof(key->vip));
	key->port = htons(port);
	key->proto = IPPROTO_TCP;
}

/* Deletes every shunt_svc6 entry @cfg does not balance. How many, or -errno. */
static int svc6_delete_stale(struct kern *k, const struct config *cfg, __u32 max)
{
	struct svc6_key key, *prev = NULL, *stale;
	size_t n_stale = 0;
	int n = 0;

	stale = calloc(max + 1, sizeof(*stale));
	if (!stale)
		return -ENOMEM;
	while (n_stale < max && !bpf_map_get_next_key(k->svc6_fd, prev, &key)) {
		const struct service *svc;
		const struct svc_port *sp = config_find_vip6(cfg, (const struct in6_addr *)key.vip,
							     key.port, key.proto, &svc);

		if (!sp || !kern_balanced(svc, sp))
			stale[n_stale++] = key;
		prev = &key;
	}
	for (size_t i = 0; i < n_stale; i++)
		if (!bpf_map_delete_elem(k->svc6_fd, &stale[i]))
			n++;
	free(stale);
	return n;
}

/* A ServiceEntry address that is one host ("a.b.c.d", "/32", "/128") into @v4 or @v6. */
static void se_address(const char *a, __be32 *v4, size_t *n4, struct in6_addr *v6, size_t *n6)
{
	char buf[INET6_ADDRSTRLEN];
	const char *slash = strchr(a, '/');
	size_t len = slash ? (size_t)(slash - a) : strlen(a);

	if (len >= sizeof(buf))
		return;
	memcpy(buf, a, len);
	buf[len] = '\0';
	if ((!slash || !strcmp(slash, "/32")) && inet_pton(AF_INET, buf, &v4[*n4]) == 1)
		(*n4)++;
	else if ((!slash || !strcmp(slash, "/128")) && inet_pton(AF_INET6, buf, &v6[*n6]) == 1)
		(*n6)++;
}

int kern_known_sync(struct kern *k, const struct config *cfg)
{
	size_t total = 0, n4 = 0, n6 = 0;
	struct in6_addr *v6;
	__u32 one = 1;
	__be32 *v4;
	int err;

	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct service *svc = &cfg->services[i];

		total += svc->se ? svc->se->n_addresses : 0;
		for (size_t j = 0; j < svc->n_ports; j++)
			total += svc->ports[j].n_eps;
	}
	v4 = calloc(total + 1, sizeof(*v4));
	v6 = calloc(total + 1, sizeof(*v6));
	if (!v4 || !v6) {
		free(v4);
		free(v6);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct service *svc = &cfg->services[i];

		if (svc->se && svc->se->resolution == SE_RES_NONE)
			for (size_t a = 0; a < svc->se->n_addresses; a++)
				se_address(svc->se->addresses[a], v4, &n4, v6, &n6);
		if (svc->cluster_ip.s_addr || svc->has_ip6 || svc->se)
			continue; /* reached by its VIPs */
		for (size_t j = 0; j < svc->n_ports; j++) {
			for (size_t e = 0; e < svc->ports[j].n_eps; e++) {
				const struct endpoint *ep = &svc->ports[j].eps[e];

				if (ep->ip.s_addr)
					v4[n4++] = ep->ip.s_addr;
				if (ep->has_ip6)
					v6[n6++] = ep->ip6;
			}
		}
	}
	err = kern_set_sync(k, &k->sets[KERN_SET_KNOWN4], k->known4_fd, SHUNT_MAP_KNOWN4, v4, n4,
			    sizeof(*v4), SHUNT_KNOWN4_MAX, &one);
	if (!err)
		err = kern_set_sync(k, &k->sets[KERN_SET_KNOWN6], k->known6_fd, SHUNT_MAP_KNOWN6,
				    v6, n6, sizeof(*v6), SHUNT_KNOWN4_MAX, &one);
	free(v4);
	free(v6);
	return err;
}

/* The IPv6 half of sync_ports4() (kern.c): shunt_be6 and shunt_svc6 for the ports with an IPv6
 * VIP, by the ids kern_sync_services() assigned (a dual-stack port has one for both VIPs). */
static int sync_ports6(struct kern *k, const struct config *cfg, const struct route_table *rt,
		       struct kern_last *next, uint32_t *n_slots, struct kern_sync *out)
{
	size_t flat = 0;
	int err = 0;

	for (size_t i = 0; i < cfg->n_services && !err; i++) {
		const struct service *svc = &cfg->services[i];
		bool l7 = rt && route_port_needs_l7(rt, i);

		for (size_t j = 0; j < svc->n_ports && !err; j++, flat++) {
			const struct svc_port *sp = &svc->ports[j];
			uint32_t id = kern_port_id(k, flat), first = (uint32_t)next->n_slots;
			struct svc4_val val = {.svc_id = id};
			enum kern_sized_map failed = KERN_MAP_BE4;
			struct svc6_key key;

			if (!svc->has_ip6 || id == UINT32_MAX)
				continue;
			err = kern_write_slots(k, AF_INET6, id, rt, i, j, sp, &n_slots[id]);
			val.n_slots = n_slots[id];
			out->slots6 += n_slots[id];
			/* The agent routes an IPv6 connection as the service's IPv4 VIP. */
			/* tls routes (sni) are applied to IPv4 connections only */
			val.flags = kern_svc_flags(svc, sp, l7 && svc->cluster_ip.s_addr, false);
			if (val.flags & SVC4_F_L7) {
				out->l7_6++;
			} else {
				if (l7 && kern_captured_as_http(svc, sp))
					log_warn("kern: %s/%s port %u has only an IPv6 VIP: its L7 "
						 "rules do not apply (the agent proxies dual-stack "
						 "and IPv4 services); balanced in the kernel",
						 svc->namespace, svc->name, sp->port);
				out->direct6++;
			}
			svc6_key_of(&key, &svc->cluster_ip6, sp->port);
			if (!err)
				err = kern_last_commit(k, k->svc6_fd, k->be6_fd, &k->last6, next,
						       id, &key, sizeof(key), &val, first, &failed);
			if (err)
				log_error("kern: cannot write %s/%s port %u to %s and %s: %s%s",
					  svc->namespace, svc->name, sp->port, SHUNT_MAP_BE6,
					  SHUNT_MAP_SVC6, strerror(-err),
					  kern_full_hint(err, failed));
		}
	}
	return err;
}

int kern6_sync_services(struct kern *k, const struct config *cfg, const struct route_table *rt,
			struct kern_sync *out)
{
	struct kern_last next;
	uint32_t *n_slots;
	int err, stale;

	if (kern_last_begin(&next, k->id_span, sizeof(struct be6_val)))
		return -ENOMEM;
	n_slots = calloc(k->id_span + 1, sizeof(*n_slots));
	k->staging = &next;
	err = n_slots ? sync_ports6(k, cfg, rt, &next, n_slots, out) : -ENOMEM;
	k->staging = NULL;
	if (!err && k->last6.valid) {
		stale = kern_last_delete_stale(k, k->svc6_fd, k->be6_fd, &k->last6, &next,
					       sizeof(struct svc6_key));
		if (stale > 0)
			log_info("kern: removed %d stale IPv6 entries and slots", stale);
	} else if (!err) {
		stale = svc6_delete_stale(k, cfg, k->max[KERN_MAP_SVC4]);
		if (stale > 0)
			log_info("kern: removed %d stale IPv6 service entries", stale);
		(void)kern_be_delete_stale(k, k->be6_fd, n_slots, k->id_span);
	}
	if (!err) {
		kern_warn_fill(k, KERN_MAP_SVC4, SHUNT_MAP_SVC6,
			       (uint64_t)out->l7_6 + out->direct6);
		kern_warn_fill(k, KERN_MAP_BE4, SHUNT_MAP_BE6, out->slots6);
	}
	kern_last_install(&k->last6, &next, !err);
	free(n_slots);
	return err;
}

int kern_ports_sync(struct kern *k, const struct config *cfg)
{
	/* Every port has the same pseudo-service: to the agent while it is alive. */
	const struct svc4_val val = {.svc_id = UINT32_MAX, .flags = SVC4_F_L7};
	struct port_key keys[SHUNT_PORTS_MAX];
	size_t n = 0;

	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct service *svc = &cfg->services[i];

		/* No address declared: reached by name, on any address (an auto-allocated VIP
		 * serves only those that resolve it through the agent). */
		if (!svc->se || svc->se->n_addresses)
			continue;
		for (size_t j = 0; j < svc->n_ports; j++) {
			/* HTTP ports are routed by Host, TLS ones by SNI, TCP ones by port */
			if (!kern_captured_as_http(svc, &svc->ports[j]) &&
			    !route_port_by_port_l4(svc, &svc->ports[j]))
				continue;
			if (n == SHUNT_PORTS_MAX) {
				log_warn("kern: more than %d ports serve hosts without addresses: "
					 "port %u and later are not captured",
					 SHUNT_PORTS_MAX, svc->ports[j].port);
				break;
			}
			keys[n++] = (struct port_key){.port = htons(svc->ports[j].port),
						      .proto = IPPROTO_TCP};
		}
	}
	return kern_set_sync(k, &k->sets[KERN_SET_PORTS], k->ports_fd, SHUNT_MAP_PORTS, keys, n,
			     sizeof(keys[0]), SHUNT_PORTS_MAX, &val);
}

__u32 kern_scope_id(struct kern *k, const struct config *cfg, const struct pod *p)
{
	return kern_sidecar_scope(k, config_pod_sidecar(cfg, p));
}

int kern_scope_sync(struct kern *k, const struct config *cfg)
{
	const struct istio_config *ic = &cfg->istio;
	size_t n = 0, n_ports = 0, n_scoped = 0, cap;
	struct scope_key *keys;
	bool full = false;
	__u32 one = 1;
	int err;

	for (size_t i = 0; i < cfg->n_services; i++)
		n_ports += cfg->services[i].n_ports;
	for (size_t s = 0; s < ic->n_sidecars; s++)
		n_scoped += ic->sidecars[s].n_egress > 0;
	cap = n_ports * n_scoped < SHUNT_SCOPE_MAX ? n_ports * n_scoped : SHUNT_SCOPE_MAX;
	keys = calloc(cap + 1, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (size_t s = 0; s < ic->n_sidecars; s++) {
		const struct sidecar *sc = &ic->sidecars[s];
		__u32 scope = kern_sidecar_scope(k, sc);
		size_t flat = 0;

		if (!scope)
			continue;
		for (size_t i = 0; i < cfg->n_services; i++) {
			const struct service *svc = &cfg->services[i];
			bool sees = config_sidecar_sees(sc, svc);

			for (size_t j = 0; j < svc->n_ports; j++, flat++) {
				__u32 id = kern_port_id(k, flat);

				if (!sees || id == UINT32_MAX)
					continue;
				if (n == cap) {
					full = true;
					continue;
				}
				keys[n++] = (struct scope_key){.scope_id = scope, .svc_id = id};
			}
		}
	}
	if (full)
		log_error("kern: %s is full (%d entries): some pods do not see every service their "
			  "Sidecar's egress hosts name",
			  SHUNT_MAP_SCOPE, SHUNT_SCOPE_MAX);
	err = kern_set_sync(k, &k->sets[KERN_SET_SCOPE], k->scope_fd, SHUNT_MAP_SCOPE, keys, n,
			    sizeof(*keys), SHUNT_SCOPE_MAX, &one);
	free(keys);
	return err;
}

int kern_binds_sync(struct kern *k, const struct config *cfg)
{
	const struct svc4_val val = {.svc_id = UINT32_MAX, .flags = SVC4_F_L7};
	const struct istio_config *ic = &cfg->istio;
	struct bind4_key *keys;
	size_t n = 0, total = 0;
	int err;

	for (size_t s = 0; s < ic->n_sidecars; s++)
		total += ic->sidecars[s].n_egress;
	keys = calloc(total + 1, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (size_t s = 0; s < ic->n_sidecars; s++) {
		const struct sidecar *sc = &ic->sidecars[s];

		for (size_t i = 0; i < sc->n_egress && n < SHUNT_BINDS_MAX; i++) {
			const struct sidecar_egress *e = &sc->egress[i];
			struct in_addr ip;

			if (!e->has_port || !e->port || !e->bind)
				continue;
			if (inet_pton(AF_INET, e->bind, &ip) != 1) {
				log_warn("kern: Sidecar %s/%s: egress listener bind %s is not "
					 "captured "
					 "(IPv4 addresses are)",
					 sc->namespace, sc->name, e->bind);
				continue;
			}
			keys[n++] = (struct bind4_key){.scope_id = kern_sidecar_scope(k, sc),
						       .ip = ip.s_addr,
						       .port = htons((uint16_t)e->port)};
		}
	}
	err = kern_set_sync(k, &k->sets[KERN_SET_BINDS4], k->binds4_fd, SHUNT_MAP_BINDS4, keys, n,
			    sizeof(*keys), SHUNT_BINDS_MAX, &val);
	free(keys);
	return err;
}

int kern_set_dns(struct kern *k, const struct sockaddr_in *dns)
{
	struct dns_addr v = {0};
	__u32 key = 0;

	if (dns) {
		v.ip = dns->sin_addr.s_addr;
		v.port = dns->sin_port;
	}
	return bpf_map_update_elem(k->dns_fd, &key, &v, BPF_ANY) ? -errno : 0;
}

int kern_set_listener6(struct kern *k, const struct sockaddr_in6 *listen)
{
	struct shunt_lsn6 v = {0};
	__u32 key = 0;

	if (listen) {
		memcpy(v.ip, &listen->sin6_addr, sizeof(v.ip));
		v.port = listen->sin6_port;
	}
	return bpf_map_update_elem(k->lsn6_fd, &key, &v, BPF_ANY) ? -errno : 0;
}

int kern_orig_dst6(const struct kern *k, const struct sockaddr_in6 *peer,
		   const struct sockaddr_in6 *local, struct orig6 *orig)
{
	struct pair6_key key = {
		.client_port = peer->sin6_port,
		.server_port = local->sin6_port,
	};

	memcpy(key.client_ip, &peer->sin6_addr, sizeof(key.client_ip));
	memcpy(key.server_ip, &local->sin6_addr, sizeof(key.server_ip));
	if (bpf_map_lookup_and_delete_elem(k->pair6_fd, &key, orig))
		return errno == ENOENT ? -ENOENT : -errno;
	return 0;
}
