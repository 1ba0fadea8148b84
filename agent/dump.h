/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The active configuration as JSON, for the admin API (/config_dump, /routes)
 * and shuntctl's offline mode: what the loader read (dump_config.c) and the
 * routes the router evaluates, per host and port, in evaluation order
 * (dump_routes.c). Written from a config and its compiled route table, which
 * the caller holds (a snapshot reference, or its own offline copy).
 */
#ifndef SHUNT_DUMP_H
#define SHUNT_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json_w.h"

struct config;
struct route_table;
struct snapshot_reloads;
struct labels;
struct str_match;
struct http_match;
struct http_route;
struct traffic_policy;

/* The sections of /config_dump, for ?resource= (Envoy's name for the filter). */
enum dump_section {
	DUMP_RELOAD = 1u << 0,		  /* "reload": generation and the reload record */
	DUMP_SERVICES = 1u << 1,	  /* "services": services, ports, endpoints */
	DUMP_ROUTES = 1u << 2,		  /* "routes": per host and port, in evaluation order */
	DUMP_VIRTUAL_SERVICES = 1u << 3,  /* "virtualServices" */
	DUMP_DESTINATION_RULES = 1u << 4, /* "destinationRules" */
	DUMP_SERVICE_ENTRIES = 1u << 5,	  /* "serviceEntries" and "workloadEntries" */
	DUMP_GATEWAYS = 1u << 6,	  /* "gateways" */
	DUMP_SIDECARS = 1u << 7,	  /* "sidecars" */
	DUMP_ALL = (1u << 8) - 1,
};

/* The section named @name ("services", ...), or 0 when there is none. */
unsigned dump_section_by_name(const char *name);

/*
 * Writes the sections @which of the config @cfg (compiled into @rt) as one
 * JSON object into @w: "generation" (@generation) and "reload" (@rl; NULL:
 * offline, none) first, then each section asked for.
 */
void dump_config(struct jw *w, const struct config *cfg, const struct route_table *rt,
		 uint64_t generation, const struct snapshot_reloads *rl, unsigned which);

/*
 * Writes, as a JSON array (member @key, or NULL), one virtual host per service port whose host
 * matches @host (NULL: every one) and whose port is @port (0: any): its name
 * (FQDN:port), domains, how its connections travel (agent or kernel), and its
 * routes in the order the router tries them (one per rule and match entry,
 * as Envoy's route table has them), each with its match and its action.
 * Returns how many virtual hosts were written.
 */
size_t dump_routes(struct jw *w, const char *key, const struct route_table *rt, const char *host,
		   uint16_t port);

/*
 * The services of @rt's config that @host names: an FQDN, a short name
 * (resolved in @ns first, when given, as Istio resolves it; else in any
 * namespace), "name.namespace", "name.namespace.svc", or a VIP. Their indexes
 * in cfg->services go to @out (@cap of them); returns how many match.
 */
size_t dump_find_services(const struct route_table *rt, const char *host, const char *ns,
			  size_t *out, size_t cap);

/* Pieces the views share: Istio's field names, durations as Go writes them ("2s", "150ms"). */
void dump_labels(struct jw *w, const char *key, const struct labels *l);
void dump_str_match(struct jw *w, const char *key, const struct str_match *m);
void dump_http_match(struct jw *w, const char *key, const struct http_match *m);
void dump_duration(struct jw *w, const char *key, uint64_t ms);
void dump_policy(struct jw *w, const char *key, const struct traffic_policy *p);
/* The action of rule @r of a VirtualService: route (weighted destinations and their clusters
 * for a request to port @port), redirect, rewrite, timeout, retries, fault, mirrors, CORS. */
void dump_rule_action(struct jw *w, const struct route_table *rt, const struct http_route *r,
		      uint16_t port);

#endif /* SHUNT_DUMP_H */
