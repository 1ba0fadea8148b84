// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The VIP index of a config: clusterIP:port/protocol of every service port to
 * the port, in O(1), for the kernel sync and the proxy (open addressing,
 * linear probing, at most half full).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

struct config_vip6_slot {
	struct in6_addr vip; /* all zero marks a free slot (:: is never a VIP) */
	uint16_t port_be;
	uint8_t proto;
	uint32_t svc, port;
};

struct config_vip_slot {
	uint32_t vip;	  /* network order; 0 marks a free slot (0.0.0.0 is never a VIP) */
	uint16_t port_be; /* network order */
	uint8_t proto;
	uint32_t svc;  /* index into config->services */
	uint32_t port; /* index into service->ports */
};

static size_t vip_hash(uint32_t vip, uint16_t port_be, uint8_t proto)
{
	uint64_t x = ((uint64_t)vip << 32) | ((uint64_t)port_be << 8) | proto;

	/* splitmix64's finaliser: every input bit moves every output bit. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return (size_t)x;
}

/* Open addressing, linear probing, at most half full. 0 or -ENOMEM. */
int config_build_vip_index(struct config *cfg)
{
	size_t n = 0, size = 16;

	for (size_t i = 0; i < cfg->n_services; i++)
		if (cfg->services[i].cluster_ip.s_addr)
			n += cfg->services[i].n_ports;
	while (size < 2 * n)
		size *= 2;
	cfg->vip_slots = calloc(size, sizeof(*cfg->vip_slots));
	if (!cfg->vip_slots)
		return -ENOMEM;
	cfg->vip_mask = size - 1;
	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct service *s = &cfg->services[i];

		for (size_t j = 0; s->cluster_ip.s_addr && j < s->n_ports; j++) {
			uint16_t port_be = htons(s->ports[j].port);
			size_t h = vip_hash(s->cluster_ip.s_addr, port_be, s->ports[j].protocol);

			while (cfg->vip_slots[h & cfg->vip_mask].vip)
				h++;
			cfg->vip_slots[h & cfg->vip_mask] = (struct config_vip_slot){
				.vip = s->cluster_ip.s_addr,
				.port_be = port_be,
				.proto = s->ports[j].protocol,
				.svc = (uint32_t)i,
				.port = (uint32_t)j,
			};
		}
	}
	return 0;
}

static size_t vip6_hash(const struct in6_addr *vip, uint16_t port_be, uint8_t proto)
{
	uint32_t w[4];

	memcpy(w, vip, sizeof(w));
	return vip_hash(w[0] ^ w[1] ^ w[2] ^ w[3], port_be, proto) ^
	       vip_hash(w[1] ^ w[3], (uint16_t)w[0], (uint8_t)w[2]);
}

/* Same as build_vip_index, for IPv6 VIPs. 0 or -ENOMEM. */
int config_build_vip6_index(struct config *cfg)
{
	static const struct in6_addr any = IN6ADDR_ANY_INIT;
	size_t n = 0, size = 16;

	for (size_t i = 0; i < cfg->n_services; i++)
		if (cfg->services[i].has_ip6)
			n += cfg->services[i].n_ports;
	while (size < 2 * n)
		size *= 2;
	cfg->vip6_slots = calloc(size, sizeof(*cfg->vip6_slots));
	if (!cfg->vip6_slots)
		return -ENOMEM;
	cfg->vip6_mask = size - 1;
	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct service *s = &cfg->services[i];

		for (size_t j = 0; s->has_ip6 && j < s->n_ports; j++) {
			uint16_t port_be = htons(s->ports[j].port);
			size_t h = vip6_hash(&s->cluster_ip6, port_be, s->ports[j].protocol);

			while (memcmp(&cfg->vip6_slots[h & cfg->vip6_mask].vip, &any, 16))
				h++;
			cfg->vip6_slots[h & cfg->vip6_mask] = (struct config_vip6_slot){
				.vip = s->cluster_ip6,
				.port_be = port_be,
				.proto = s->ports[j].protocol,
				.svc = (uint32_t)i,
				.port = (uint32_t)j,
			};
		}
	}
	return 0;
}

const struct svc_port *config_find_vip(const struct config *cfg, struct in_addr vip,
				       uint16_t port_be, uint8_t protocol,
				       const struct service **svc)
{
	const struct config_vip_slot *e;
	size_t h;

	if (!vip.s_addr)
		return NULL;
	for (h = vip_hash(vip.s_addr, port_be, protocol);; h++) {
		e = &cfg->vip_slots[h & cfg->vip_mask];
		if (!e->vip)
			return NULL;
		if (e->vip == vip.s_addr && e->port_be == port_be && e->proto == protocol)
			break;
	}
	if (svc)
		*svc = &cfg->services[e->svc];
	return &cfg->services[e->svc].ports[e->port];
}

const struct svc_port *config_find_vip6(const struct config *cfg, const struct in6_addr *vip6,
					uint16_t port_be, uint8_t protocol,
					const struct service **svc)
{
	static const struct in6_addr any = IN6ADDR_ANY_INIT;
	const struct config_vip6_slot *e;

	if (!memcmp(vip6, &any, 16) || !cfg->vip6_slots)
		return NULL;
	for (size_t h = vip6_hash(vip6, port_be, protocol);; h++) {
		e = &cfg->vip6_slots[h & cfg->vip6_mask];
		if (!memcmp(&e->vip, &any, 16))
			return NULL;
		if (!memcmp(&e->vip, vip6, 16) && e->port_be == port_be && e->proto == protocol)
			break;
	}
	if (svc)
		*svc = &cfg->services[e->svc];
	return &cfg->services[e->svc].ports[e->port];
}
