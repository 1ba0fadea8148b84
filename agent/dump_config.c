// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * /config_dump: the snapshot the agent serves, as JSON. Services with their
 * ports and endpoints (labels and what is known of their health), the routes
 * (dump_routes.c), and the Istio objects as the loader kept them, with
 * Istio's field names. Endpoint health: readiness comes from the config
 * (the Pod's Ready condition); outlier ejection is per worker (lb.h) and not
 * gathered, so it is reported as "unknown"; shunt has no active health checks.
 */
#include <arpa/inet.h>
#include <string.h>

#include "config.h"
#include "dump.h"
#include "istio.h"
#include "kern_int.h"
#include "route_int.h"
#include "snapshot.h"

static const struct {
	const char *name;
	unsigned bit;
} sections[] = {
	{"reload", DUMP_RELOAD},
	{"services", DUMP_SERVICES},
	{"routes", DUMP_ROUTES},
	{"virtualServices", DUMP_VIRTUAL_SERVICES},
	{"destinationRules", DUMP_DESTINATION_RULES},
	{"serviceEntries", DUMP_SERVICE_ENTRIES},
	{"gateways", DUMP_GATEWAYS},
	{"sidecars", DUMP_SIDECARS},
};

unsigned dump_section_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (!strcmp(name, sections[i].name))
			return sections[i].bit;
	return 0;
}

static void str_list(struct jw *w, const char *key, char *const *v, size_t n)
{
	jw_arr(w, key);
	for (size_t i = 0; i < n; i++)
		jw_str(w, NULL, v[i]);
	jw_end(w);
}

static void source(struct jw *w, const struct src_loc *loc)
{
	if (loc->file)
		jw_strf(w, "source", "%s:%d", loc->file, loc->line);
}

static void reload(struct jw *w, uint64_t generation, const struct snapshot_reloads *rl)
{
	jw_u64(w, "generation", generation);
	if (!rl) {
		jw_null(w, "reload");
		return;
	}
	jw_obj(w, "reload");
	jw_u64(w, "ok", rl->ok);
	jw_u64(w, "refused", rl->refused);
	jw_i64(w, "lastOkUnix", rl->last_ok_unix);
	jw_i64(w, "lastRefusedUnix", rl->last_refused_unix);
	jw_str(w, "lastError", rl->last_error[0] ? rl->last_error : NULL);
	jw_end(w);
}

static void endpoint(struct jw *w, const struct endpoint *e)
{
	char ip[INET6_ADDRSTRLEN];

	jw_obj(w, NULL);
	if (e->ip.s_addr && inet_ntop(AF_INET, &e->ip, ip, sizeof(ip)))
		jw_str(w, "address", ip);
	else
		jw_null(w, "address");
	if (e->has_ip6 && inet_ntop(AF_INET6, &e->ip6, ip, sizeof(ip)))
		jw_str(w, "address6", ip);
	jw_u64(w, "port", e->port);
	if (e->pod)
		jw_strf(w, "pod", "%s/%s", e->pod->namespace, e->pod->name);
	else
		jw_null(w, "pod");
	dump_labels(w, "labels", e->labels);
	jw_obj(w, "health");
	jw_str(w, "ready", e->ready ? "true" : "false");
	jw_str(w, "outlier", "unknown");
	jw_end(w);
	jw_end(w);
}

static void svc_port(struct jw *w, const struct route_table *rt, size_t idx,
		     const struct svc_port *sp)
{
	const struct service *s = &rt->cfg->services[idx];
	bool balanced = kern_balanced(s, sp);
	bool l7 = kern_port_flags(rt->cfg, rt, idx, (size_t)(sp - s->ports)) & SVC4_F_L7;

	jw_obj(w, NULL);
	jw_str(w, "name", sp->name);
	jw_u64(w, "port", sp->port);
	if (sp->target_port_name)
		jw_str(w, "targetPort", sp->target_port_name);
	else
		jw_u64(w, "targetPort", sp->target_port);
	jw_str(w, "protocol", config_proto_str(sp->protocol));
	jw_str(w, "appProtocol",
	       sp->app_protocol		      ? sp->app_protocol
	       : kern_captured_as_http(s, sp) ? "HTTP (by name)"
					      : "TCP (by name)");
	jw_bool(w, "l7", balanced && l7);
	jw_str(w, "path", !balanced ? "not balanced by shunt" : l7 ? "agent" : "kernel");
	jw_u64(w, "ready", sp->n_ready);
	jw_arr(w, "endpoints");
	for (size_t i = 0; i < sp->n_eps; i++)
		endpoint(w, &sp->eps[i]);
	jw_end(w);
	jw_end(w);
}

static void service(struct jw *w, const struct route_table *rt, size_t idx)
{
	const struct service *s = &rt->cfg->services[idx];
	char ip[INET6_ADDRSTRLEN];

	jw_obj(w, NULL);
	jw_str(w, "name", s->name);
	jw_str(w, "namespace", s->namespace);
	jw_str(w, "fqdn", rt->svcs[idx].fqdn);
	if (s->se)
		jw_strf(w, "serviceEntry", "%s/%s", s->se->namespace, s->se->name);
	jw_arr(w, "vips");
	if (s->cluster_ip.s_addr && inet_ntop(AF_INET, &s->cluster_ip, ip, sizeof(ip)))
		jw_str(w, NULL, ip);
	if (s->has_ip6 && inet_ntop(AF_INET6, &s->cluster_ip6, ip, sizeof(ip)))
		jw_str(w, NULL, ip);
	jw_end(w);
	if (s->auto_vip)
		jw_bool(w, "autoAllocatedVip", true);
	jw_bool(w, "headless", s->headless);
	dump_labels(w, "selector", &s->selector);
	jw_arr(w, "ports");
	for (size_t p = 0; p < s->n_ports; p++)
		svc_port(w, rt, idx, &s->ports[p]);
	jw_end(w);
	source(w, &s->loc);
	jw_end(w);
}

static void virtual_service(struct jw *w, const struct virtual_service *v)
{
	jw_obj(w, NULL);
	jw_str(w, "name", v->name);
	jw_str(w, "namespace", v->namespace);
	str_list(w, "hosts", v->hosts, v->n_hosts);
	if (v->n_gateways)
		str_list(w, "gateways", v->gateways, v->n_gateways);
	if (v->n_export_to)
		str_list(w, "exportTo", v->export_to, v->n_export_to);
	jw_u64(w, "http", v->n_http);
	jw_u64(w, "tcp", v->n_tcp);
	if (v->shadowed)
		jw_bool(w, "shadowed", true);
	source(w, &v->loc);
	jw_end(w);
}

static const char *lb_simple_str(enum lb_simple s)
{
	static const char *const names[] = {
		[LB_UNSET] = "LEAST_REQUEST (default)", [LB_ROUND_ROBIN] = "ROUND_ROBIN",
		[LB_LEAST_REQUEST] = "LEAST_REQUEST",	[LB_RANDOM] = "RANDOM",
		[LB_PASSTHROUGH] = "PASSTHROUGH",
	};

	return (size_t)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

static void lb_policy(struct jw *w, const struct lb_policy *lb)
{
	static const char *const hashes[] = {[LB_HASH_HEADER] = "httpHeaderName",
					     [LB_HASH_COOKIE] = "httpCookie",
					     [LB_HASH_SOURCE_IP] = "useSourceIp",
					     [LB_HASH_QUERY] = "httpQueryParameterName"};

	jw_obj(w, "loadBalancer");
	if (lb->hash == LB_HASH_NONE) {
		jw_str(w, "simple", lb_simple_str(lb->simple));
	} else {
		jw_obj(w, "consistentHash");
		if (lb->hash == LB_HASH_SOURCE_IP)
			jw_bool(w, hashes[lb->hash], true);
		else if ((size_t)lb->hash < sizeof(hashes) / sizeof(hashes[0]))
			jw_str(w, hashes[lb->hash], lb->hash_key);
		if (lb->cookie_ttl_ms)
			dump_duration(w, "ttl", lb->cookie_ttl_ms);
		if (lb->minimum_ring_size)
			jw_u64(w, "minimumRingSize", lb->minimum_ring_size);
		jw_end(w);
	}
	jw_end(w);
}

static void pool(struct jw *w, const struct connection_pool *cp)
{
	jw_obj(w, "connectionPool");
	jw_obj(w, "tcp");
	jw_u64(w, "maxConnections", cp->tcp_max_connections);
	if (cp->tcp_connect_timeout_ms)
		dump_duration(w, "connectTimeout", cp->tcp_connect_timeout_ms);
	jw_end(w);
	jw_obj(w, "http");
	jw_u64(w, "http1MaxPendingRequests", cp->http1_max_pending_requests);
	jw_u64(w, "http2MaxRequests", cp->http2_max_requests);
	jw_u64(w, "maxRequestsPerConnection", cp->max_requests_per_connection);
	if (cp->idle_timeout_ms)
		dump_duration(w, "idleTimeout", cp->idle_timeout_ms);
	jw_end(w);
	jw_end(w);
}

static void outlier(struct jw *w, const struct outlier_detection *od)
{
	jw_obj(w, "outlierDetection");
	if (od->has_consecutive_5xx)
		jw_u64(w, "consecutive5xxErrors", od->consecutive_5xx_errors);
	jw_u64(w, "consecutiveGatewayErrors", od->consecutive_gateway_errors);
	if (od->interval_ms)
		dump_duration(w, "interval", od->interval_ms);
	if (od->base_ejection_ms)
		dump_duration(w, "baseEjectionTime", od->base_ejection_ms);
	jw_u64(w, "maxEjectionPercent", od->max_ejection_percent);
	jw_i64(w, "minHealthPercent", od->min_health_percent);
	jw_end(w);
}

void dump_policy(struct jw *w, const char *key, const struct traffic_policy *p)
{
	jw_obj(w, key);
	if (p->lb.set)
		lb_policy(w, &p->lb);
	if (p->pool.set)
		pool(w, &p->pool);
	if (p->outlier.set)
		outlier(w, &p->outlier);
	jw_end(w);
}

static void destination_rule(struct jw *w, const struct destination_rule *dr)
{
	jw_obj(w, NULL);
	jw_str(w, "name", dr->name);
	jw_str(w, "namespace", dr->namespace);
	jw_str(w, "host", dr->fqdn ? dr->fqdn : dr->host);
	if (dr->n_export_to)
		str_list(w, "exportTo", dr->export_to, dr->n_export_to);
	if (dr->workload_selector.n)
		dump_labels(w, "workloadSelector", &dr->workload_selector);
	dump_policy(w, "trafficPolicy", dr->policy);
	jw_arr(w, "subsets");
	for (size_t i = 0; i < dr->n_subsets; i++) {
		jw_obj(w, NULL);
		jw_str(w, "name", dr->subsets[i].name);
		dump_labels(w, "labels", &dr->subsets[i].labels);
		dump_policy(w, "trafficPolicy", dr->subsets[i].policy);
		jw_end(w);
	}
	jw_end(w);
	source(w, &dr->loc);
	jw_end(w);
}

static void we_spec(struct jw *w, const char *key, const struct we_spec *e)
{
	jw_obj(w, key);
	jw_str(w, "address", e->address);
	if (e->n_ports) {
		jw_obj(w, "ports");
		for (size_t i = 0; i < e->n_ports; i++)
			jw_u64(w, e->ports[i].name, e->ports[i].number);
		jw_end(w);
	}
	dump_labels(w, "labels", &e->labels);
	if (e->network)
		jw_str(w, "network", e->network);
	if (e->locality)
		jw_str(w, "locality", e->locality);
	if (e->weight)
		jw_u64(w, "weight", e->weight);
	jw_end(w);
}

static void service_entry(struct jw *w, const struct service_entry *se)
{
	jw_obj(w, NULL);
	jw_str(w, "name", se->name);
	jw_str(w, "namespace", se->namespace);
	str_list(w, "hosts", se->hosts, se->n_hosts);
	str_list(w, "addresses", se->addresses, se->n_addresses);
	jw_arr(w, "ports");
	for (size_t i = 0; i < se->n_ports; i++) {
		jw_obj(w, NULL);
		jw_u64(w, "number", se->ports[i].number);
		jw_str(w, "protocol", se->ports[i].protocol ? se->ports[i].protocol : "TCP");
		jw_str(w, "name", se->ports[i].name);
		if (se->ports[i].target_port)
			jw_u64(w, "targetPort", se->ports[i].target_port);
		jw_end(w);
	}
	jw_end(w);
	jw_str(w, "location", se->location == SE_MESH_INTERNAL ? "MESH_INTERNAL" : "MESH_EXTERNAL");
	jw_str(w, "resolution", istio_se_resolution_str(se->resolution));
	jw_arr(w, "endpoints");
	for (size_t i = 0; i < se->n_endpoints; i++)
		we_spec(w, NULL, &se->endpoints[i]);
	jw_end(w);
	if (se->workload_selector.n)
		dump_labels(w, "workloadSelector", &se->workload_selector);
	if (se->n_export_to)
		str_list(w, "exportTo", se->export_to, se->n_export_to);
	source(w, &se->loc);
	jw_end(w);
}

static const char *tls_mode_str(enum gw_tls_mode m)
{
	static const char *const names[] = {
		[GW_TLS_NONE] = NULL,
		[GW_TLS_PASSTHROUGH] = "PASSTHROUGH",
		[GW_TLS_SIMPLE] = "SIMPLE",
		[GW_TLS_MUTUAL] = "MUTUAL",
		[GW_TLS_AUTO_PASSTHROUGH] = "AUTO_PASSTHROUGH",
		[GW_TLS_ISTIO_MUTUAL] = "ISTIO_MUTUAL",
		[GW_TLS_OPTIONAL_MUTUAL] = "OPTIONAL_MUTUAL",
	};

	return (size_t)m < sizeof(names) / sizeof(names[0]) ? names[m] : "?";
}

static void gateway(struct jw *w, const struct config *cfg, const struct gateway *g)
{
	jw_obj(w, NULL);
	jw_str(w, "name", g->name);
	jw_str(w, "namespace", g->namespace);
	dump_labels(w, "selector", &g->selector);
	jw_bool(w, "servedByThisAgent", config_gateway_selects(g, cfg->agent_labels));
	jw_arr(w, "servers");
	for (size_t i = 0; i < g->n_servers; i++) {
		const struct gw_server *sv = &g->servers[i];

		jw_obj(w, NULL);
		jw_obj(w, "port");
		jw_u64(w, "number", sv->port);
		jw_str(w, "protocol", sv->protocol);
		jw_str(w, "name", sv->port_name);
		jw_end(w);
		str_list(w, "hosts", sv->hosts, sv->n_hosts);
		if (sv->bind)
			jw_str(w, "bind", sv->bind);
		if (sv->tls_mode != GW_TLS_NONE || sv->https_redirect) {
			jw_obj(w, "tls");
			if (sv->tls_mode != GW_TLS_NONE)
				jw_str(w, "mode", tls_mode_str(sv->tls_mode));
			if (sv->https_redirect)
				jw_bool(w, "httpsRedirect", true);
			if (sv->credential_name) /* a name; the key material is never dumped */
				jw_str(w, "credentialName", sv->credential_name);
			jw_end(w);
		}
		jw_end(w);
	}
	jw_end(w);
	source(w, &g->loc);
	jw_end(w);
}

static void sidecar(struct jw *w, const struct sidecar *sc)
{
	jw_obj(w, NULL);
	jw_str(w, "name", sc->name);
	jw_str(w, "namespace", sc->namespace);
	if (sc->workload_selector.n)
		dump_labels(w, "workloadSelector", &sc->workload_selector);
	if (sc->has_outbound)
		jw_str(w, "outboundTrafficPolicy",
		       sc->outbound == OUTBOUND_REGISTRY_ONLY ? "REGISTRY_ONLY" : "ALLOW_ANY");
	jw_arr(w, "egress");
	for (size_t i = 0; i < sc->n_egress; i++) {
		const struct sidecar_egress *e = &sc->egress[i];

		jw_obj(w, NULL);
		if (e->has_port) {
			jw_obj(w, "port");
			jw_u64(w, "number", e->port);
			jw_str(w, "protocol", e->protocol);
			jw_str(w, "name", e->port_name);
			jw_end(w);
		}
		if (e->bind)
			jw_str(w, "bind", e->bind);
		str_list(w, "hosts", e->hosts, e->n_hosts);
		jw_end(w);
	}
	jw_end(w);
	source(w, &sc->loc);
	jw_end(w);
}

static void istio_sections(struct jw *w, const struct config *cfg, unsigned which)
{
	const struct istio_config *ic = &cfg->istio;

	if (which & DUMP_VIRTUAL_SERVICES) {
		jw_arr(w, "virtualServices");
		for (size_t i = 0; i < ic->n_vs; i++)
			virtual_service(w, &ic->vs[i]);
		jw_end(w);
	}
	if (which & DUMP_DESTINATION_RULES) {
		jw_arr(w, "destinationRules");
		for (size_t i = 0; i < ic->n_dr; i++)
			destination_rule(w, &ic->dr[i]);
		jw_end(w);
	}
	if (which & DUMP_SERVICE_ENTRIES) {
		jw_arr(w, "serviceEntries");
		for (size_t i = 0; i < ic->n_ses; i++)
			service_entry(w, &ic->ses[i]);
		jw_end(w);
		jw_arr(w, "workloadEntries");
		for (size_t i = 0; i < ic->n_wes; i++) {
			jw_obj(w, NULL);
			jw_str(w, "name", ic->wes[i].name);
			jw_str(w, "namespace", ic->wes[i].namespace);
			we_spec(w, "spec", &ic->wes[i].spec);
			jw_end(w);
		}
		jw_end(w);
	}
	if (which & DUMP_GATEWAYS) {
		jw_arr(w, "gateways");
		for (size_t i = 0; i < ic->n_gws; i++)
			gateway(w, cfg, &ic->gws[i]);
		jw_end(w);
	}
	if (which & DUMP_SIDECARS) {
		jw_arr(w, "sidecars");
		for (size_t i = 0; i < ic->n_sidecars; i++)
			sidecar(w, &ic->sidecars[i]);
		jw_end(w);
	}
}

void dump_config(struct jw *w, const struct config *cfg, const struct route_table *rt,
		 uint64_t generation, const struct snapshot_reloads *rl, unsigned which)
{
	jw_obj(w, NULL);
	reload(w, generation, rl);
	if (which & DUMP_SERVICES) {
		jw_arr(w, "services");
		for (size_t i = 0; i < cfg->n_services; i++)
			service(w, rt, i);
		jw_end(w);
	}
	if (which & DUMP_ROUTES)
		dump_routes(w, "routes", rt, NULL, 0);
	istio_sections(w, cfg, which);
	jw_end(w);
}
