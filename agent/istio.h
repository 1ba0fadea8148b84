/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Istio networking.istio.io VirtualService, DestinationRule and Sidecar, as parsed
 * from YAML (v1alpha3, v1beta1 and v1 share this schema). This is the
 * validated model, close to the API: field names follow Istio's. The hot
 * path never reads it directly; agent/route.c compiles it into a route
 * table once per snapshot.
 *
 * Ownership: everything here is owned by the struct config that holds it.
 * Strings are NUL-terminated copies. Optional scalar fields carry a has_*
 * flag where "unset" and "zero" mean different things in Istio.
 */
#ifndef SHUNT_ISTIO_H
#define SHUNT_ISTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* StringMatch: exactly one of exact, prefix, regex (Istio rejects several). */
enum str_match_kind {
	SM_NONE = 0, /* unset, or the empty object {} ("present" for headers) */
	SM_EXACT,
	SM_PREFIX,
	SM_REGEX, /* RE2 syntax, full match */
};

struct str_match {
	enum str_match_kind kind;
	char *value;	    /* the string or pattern; NULL for SM_NONE */
	struct src_loc loc; /* of the StringMatch object, for regex compile errors */
};

/* One entry of headers, withoutHeaders or queryParams. */
struct kv_match {
	char *name; /* header names lowercased at parse time; query param names as written */
	struct str_match m; /* SM_NONE: present (headers), or any value */
};

/* HTTPMatchRequest: every set field must match (AND). */
struct http_match {
	char *name;
	struct str_match uri, scheme, method, authority;
	struct kv_match *headers;
	size_t n_headers;
	struct kv_match *without_headers;
	size_t n_without_headers;
	struct kv_match *query_params;
	size_t n_query_params;
	bool ignore_uri_case;
	uint32_t port; /* 0: any */
	struct labels source_labels;
	char *source_namespace; /* NULL: any */
	char **gateways;
	size_t n_gateways;
	struct src_loc loc;
};

/* Destination: host (resolved to an FQDN), optional subset and port. */
struct istio_destination {
	char *host;    /* as written */
	char *fqdn;    /* resolved as Istio does (short name + namespace of the resource) */
	char *subset;  /* NULL: the whole service */
	uint32_t port; /* 0: unset (the service's only port, or the request's port) */
	struct src_loc loc;
};

/* Headers.HeaderOperations */
struct header_ops {
	struct label *set; /* name lowercased, value */
	size_t n_set;
	struct label *add;
	size_t n_add;
	char **remove; /* lowercased */
	size_t n_remove;
};

struct istio_headers {
	struct header_ops request, response;
};

/* HTTPRouteDestination */
struct route_destination {
	struct istio_destination dst;
	uint32_t weight; /* 0 allowed; see has_weight */
	bool has_weight; /* Istio: a single destination without weight gets 100 */
	struct istio_headers headers;
};

/* HTTPRedirect */
struct http_redirect {
	char *uri;		/* NULL: keep the path */
	char *authority;	/* NULL: keep */
	uint32_t port;		/* 0: unset */
	bool derive_port;	/* derivePort: FROM_PROTOCOL_DEFAULT */
	char *scheme;		/* NULL: keep */
	uint32_t redirect_code; /* 301 when unset */
};

/* HTTPRewrite */
struct http_rewrite {
	char *uri;		 /* replaces the matched prefix, or the whole path; NULL: unset */
	char *uri_regex_match;	 /* uriRegexRewrite.match (RE2); NULL: unset */
	char *uri_regex_rewrite; /* uriRegexRewrite.rewrite (\1 captures) */
	char *authority;	 /* NULL: unset */
	struct src_loc loc;
};

/* Percent: 0..100, fractional allowed (Istio's Percent type). */
struct percent {
	double value;
	bool set; /* an unset percentage means 0% for faults, 100% for mirrors */
};

/* HTTPFaultInjection */
struct http_fault {
	bool has_delay;
	uint64_t delay_ms; /* fixedDelay */
	struct percent delay_pct;
	bool has_abort;
	uint32_t abort_status; /* httpStatus */
	struct percent abort_pct;
};

/* HTTPRetry */
struct http_retry {
	bool set; /* the route has a retries object */
	uint32_t attempts;
	uint64_t per_try_timeout_ms; /* 0: unset */
	char *retry_on;		     /* NULL: Istio's default policy */
	bool retry_remote_localities;
};

/* HTTPMirrorPolicy (mirror + mirrorPercentage, or mirrors[]) */
struct http_mirror {
	struct istio_destination dst;
	struct percent pct; /* unset: 100% */
	bool legacy;	    /* written as mirror (+ mirrorPercentage or mirror_percent) */
};

/* CorsPolicy */
struct cors_policy {
	struct str_match *allow_origins;
	size_t n_allow_origins;
	char **allow_methods;
	size_t n_allow_methods;
	char **allow_headers;
	size_t n_allow_headers;
	char **expose_headers;
	size_t n_expose_headers;
	uint64_t max_age_s;    /* 0: unset */
	int allow_credentials; /* -1 unset, 0 false, 1 true */
};

/* HTTPRoute: one rule of a VirtualService's http list. */
struct http_route {
	char *name;
	struct http_match *match; /* n_match == 0: catch-all */
	size_t n_match;
	struct route_destination *route;
	size_t n_route;
	struct http_redirect *redirect; /* NULL unless set; exclusive with route */
	struct http_rewrite *rewrite;
	uint64_t timeout_ms; /* 0: none (Istio's default) */
	bool has_timeout;
	struct http_retry retries;
	struct http_fault *fault;
	struct http_mirror *mirrors; /* mirror + mirrorPercentage folds into mirrors[0] */
	size_t n_mirrors;
	struct cors_policy *cors;
	struct istio_headers headers;
	struct src_loc loc;
};

/* An entry of destinationSubnets: an address and a prefix length (32 or 128 for a single IP). */
struct ip_subnet {
	int family;	  /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network order; IPv4 in the first 4 bytes */
	uint8_t prefix;
};

/* L4MatchAttributes (tcp) and TLSMatchAttributes (tls): every set field must match (AND). */
struct l4_match {
	char **sni_hosts; /* tls only: "a.example.com", "*.example.com", "*", as written */
	size_t n_sni_hosts;
	struct ip_subnet *dst_subnets; /* tls only (tcp: warning, ignored); none: any */
	size_t n_dst_subnets;
	uint32_t port;		     /* 0: any */
	struct labels source_labels; /* tls only; none: any */
	char *source_namespace;	     /* tls only; NULL: any */
	char **gateways;	     /* NULL/0: the VirtualService's gateways */
	size_t n_gateways;
	struct src_loc loc;
};

/* TCPRoute. match_ports (the ports of match[], for the kernel's weighted slots) and match[]
 * (their gateways too, for Gateway TCP servers) describe the same entries. */
struct tcp_route {
	uint32_t *match_ports;
	size_t n_match_ports;
	struct l4_match *match; /* n_match == 0: every connection */
	size_t n_match;
	struct route_destination *route;
	size_t n_route;
	struct src_loc loc;
};

/* TLSRoute: unterminated TLS routed by the ClientHello's SNI (config_istio_tls.c). */
struct tls_route {
	struct l4_match *match; /* at least one */
	size_t n_match;
	struct route_destination *route;
	size_t n_route;
	struct src_loc loc;
};

struct virtual_service {
	char *name, *namespace;
	char *creation_timestamp; /* RFC 3339, NULL when absent */
	char **hosts;		  /* resolved FQDNs (or "*", "*.example.com" as written) */
	size_t n_hosts;
	char **gateways; /* NULL/0: "mesh" */
	size_t n_gateways;
	char **export_to; /* NULL/0: "*" (everywhere) */
	size_t n_export_to;
	struct http_route *http;
	size_t n_http;
	struct tcp_route *tcp;
	size_t n_tcp;
	struct tls_route *tls;
	size_t n_tls;
	bool shadowed; /* another VirtualService for the same host is older: not used */
	struct src_loc loc;
};

enum lb_simple {
	LB_UNSET = 0, /* LEAST_REQUEST, Istio's default */
	LB_ROUND_ROBIN,
	LB_LEAST_REQUEST, /* LEAST_CONN is parsed as this */
	LB_RANDOM,
	LB_PASSTHROUGH,
};

enum lb_hash_kind {
	LB_HASH_NONE = 0,
	LB_HASH_HEADER,	   /* httpHeaderName */
	LB_HASH_COOKIE,	   /* httpCookie */
	LB_HASH_SOURCE_IP, /* useSourceIp */
	LB_HASH_QUERY,	   /* httpQueryParameterName */
};

struct lb_policy {
	bool set; /* loadBalancer present */
	enum lb_simple simple;
	enum lb_hash_kind hash;
	char *hash_key;		    /* header name (lowercased), cookie name, or query parameter */
	char *cookie_path;	    /* httpCookie.path */
	uint64_t cookie_ttl_ms;	    /* httpCookie.ttl; 0: session cookie */
	uint64_t minimum_ring_size; /* 0: default (1024) */
};

struct connection_pool {
	bool set;
	uint32_t tcp_max_connections;	      /* 0: unlimited */
	uint64_t tcp_connect_timeout_ms;      /* 0: default */
	uint32_t http1_max_pending_requests;  /* 0: unlimited */
	uint32_t http2_max_requests;	      /* maximum active requests */
	uint32_t max_requests_per_connection; /* 0: unlimited */
	uint64_t idle_timeout_ms;	      /* 0: default */
};

struct outlier_detection {
	bool set;
	uint32_t consecutive_5xx_errors; /* consecutive5xxErrors; 0 disables */
	bool has_consecutive_5xx;
	uint32_t consecutive_gateway_errors;
	uint64_t interval_ms;	       /* default 10 s */
	uint64_t base_ejection_ms;     /* default 30 s */
	uint32_t max_ejection_percent; /* default 10 */
	int32_t min_health_percent;
};

/* TrafficPolicy; at subset level each set part replaces the service-level one. */
struct traffic_policy {
	struct lb_policy lb;
	struct connection_pool pool;
	struct outlier_detection outlier;
};

/* What a subset or a rule without trafficPolicy has (all zero: no part set). */
extern const struct traffic_policy istio_no_policy;

struct subset {
	char *name;
	struct labels labels;
	/* Never NULL (istio_no_policy when unset); parts with set == false inherit the rule's. */
	const struct traffic_policy *policy;
	struct src_loc loc;
};

struct destination_rule {
	char *name, *namespace;
	char *creation_timestamp;
	char *host;			     /* as written */
	char *fqdn;			     /* resolved */
	const struct traffic_policy *policy; /* never NULL: istio_no_policy when unset */
	struct subset *subsets;
	size_t n_subsets;
	char **export_to;
	size_t n_export_to;
	struct labels workload_selector; /* empty: every workload */
	struct src_loc loc;
};

/* ServiceEntry.location and .resolution. */
enum se_location { SE_MESH_EXTERNAL = 0, SE_MESH_INTERNAL };
enum se_resolution { SE_RES_NONE = 0, SE_RES_STATIC, SE_RES_DNS, SE_RES_DNS_ROUND_ROBIN };

/* A ServiceEntry port. */
struct se_port {
	uint32_t number;
	char *protocol; /* as written (Istio's names, any case); NULL: TCP */
	char *name;
	uint32_t target_port; /* 0: number */
};

/* WorkloadEntry.ports: endpoint port by service port name. */
struct we_port {
	char *name;
	uint32_t number;
};

/* A WorkloadEntry's spec: a ServiceEntry's endpoints[] items, or a WorkloadEntry object's. */
struct we_spec {
	char *address; /* an IP, a DNS name (resolution DNS), or unix:// */
	struct we_port *ports;
	size_t n_ports;
	struct labels labels;
	char *network, *locality, *service_account;
	uint32_t weight; /* 0: unset */
	struct src_loc loc;
};

struct workload_entry {
	char *name, *namespace;
	char *creation_timestamp;
	struct we_spec spec;
	struct src_loc loc;
};

struct service_entry {
	char *name, *namespace;
	char *creation_timestamp;
	char **hosts; /* as written (FQDNs or *.wildcards; never resolved against the namespace) */
	size_t n_hosts;
	char **addresses; /* IPs or CIDRs */
	size_t n_addresses;
	struct se_port *ports;
	size_t n_ports;
	enum se_location location;
	enum se_resolution resolution;
	struct we_spec *endpoints;
	size_t n_endpoints;
	struct labels workload_selector; /* n == 0: none (WorkloadEntries are not selected) */
	char **export_to;
	size_t n_export_to;
	struct src_loc loc;
};

/* "NONE", "STATIC", ... */
const char *istio_se_resolution_str(enum se_resolution r);

/* Gateway server TLS modes. */
enum gw_tls_mode {
	GW_TLS_NONE = 0,
	GW_TLS_PASSTHROUGH,
	GW_TLS_SIMPLE,
	GW_TLS_MUTUAL,
	GW_TLS_AUTO_PASSTHROUGH,
	GW_TLS_ISTIO_MUTUAL,
	GW_TLS_OPTIONAL_MUTUAL
};

struct gw_server {
	uint32_t port;
	char *port_name;
	char *protocol; /* as written: HTTP, HTTPS, HTTP2, GRPC, TCP, TLS, ... */
	char *bind;	/* NULL: every address */
	char **hosts;	/* "dnsName" or "namespace/dnsName", as written */
	size_t n_hosts;
	char *name;
	bool https_redirect; /* tls.httpsRedirect */
	enum gw_tls_mode tls_mode;
	char *credential_name, *server_certificate, *private_key;
	struct src_loc loc;
};

struct gateway {
	char *name, *namespace;
	char *creation_timestamp;
	struct labels selector; /* n == 0: every gateway workload */
	struct gw_server *servers;
	size_t n_servers;
	struct src_loc loc;
};

/* Whether the gateway workload labelled @labels runs Gateway @g (its selector matches). */
bool config_gateway_selects(const struct gateway *g, const struct labels *labels);

/* Whether VirtualService @v binds to Gateway @g (gateways: "name" in its namespace, or
 * "namespace/name"), given the list @gws it uses (the VS's, or a match's). */
bool config_binds_gateway(char *const *gws, size_t n, const char *vs_ns, const struct gateway *g);

/* Sidecar.outboundTrafficPolicy.mode, and the mesh-wide default (meshConfig). */
enum outbound_policy {
	OUTBOUND_ALLOW_ANY = 0, /* unknown destinations pass (Istio's default) */
	OUTBOUND_REGISTRY_ONLY, /* only the registry's: services, ServiceEntries */
};

/* Istio's meshConfig.rootNamespace: its selector-less Sidecar is every namespace's default. */
#define ISTIO_ROOT_NAMESPACE "istio-system"

/* IstioEgressListener. */
struct sidecar_egress {
	bool has_port;	/* false: the catch-all listener */
	uint32_t port;	/* port.number; 0 with a unix:// bind */
	char *protocol; /* port.protocol, NULL without a port */
	char *port_name;
	char *bind;	    /* NULL: none */
	char *capture_mode; /* NULL: DEFAULT */
	char **hosts;	    /* "namespace/dnsName" as written */
	size_t n_hosts;
	struct src_loc loc;
};

struct sidecar {
	char *name, *namespace;
	char *creation_timestamp;
	struct labels workload_selector; /* n == 0: every pod of the namespace */
	bool has_outbound;		 /* outboundTrafficPolicy.mode set */
	enum outbound_policy outbound;
	struct sidecar_egress *egress;
	size_t n_egress;
	struct src_loc loc;
};

/*
 * The Sidecar that applies to pod @p, as Istio chooses it: of the Sidecars in
 * the pod's namespace whose workloadSelector matches the pod's labels, the
 * oldest (creationTimestamp, then name); else the namespace's oldest Sidecar
 * without a selector; else the oldest selector-less one in ISTIO_ROOT_NAMESPACE.
 * NULL when none applies.
 */
const struct sidecar *config_pod_sidecar(const struct config *cfg, const struct pod *p);

/*
 * Whether Sidecar @sc lets its pods see service @svc: no Sidecar (NULL) or one
 * without egress listeners sees every service; otherwise one host of one
 * egress listener matches it, "namespace/dnsName" as Istio reads it: the
 * namespace "*" (any), "." (the Sidecar's own), "~" (none) or a name, against
 * the service's namespace (a ServiceEntry's: the entry's); the dnsName "*",
 * "*.suffix" or an FQDN against the service's FQDN. Listener ports are not
 * told apart (a host listed on any listener is seen on every port).
 */
bool config_sidecar_sees(const struct sidecar *sc, const struct service *svc);
/* The same for one egress listener @e of a Sidecar in namespace @own_ns. */
bool config_listener_sees(const struct sidecar_egress *e, const char *own_ns,
			  const struct service *svc);

/* Pod @p's outboundTrafficPolicy: its Sidecar's mode when set, else @mesh_default. */
enum outbound_policy config_pod_outbound(const struct config *cfg, const struct pod *p,
					 enum outbound_policy mesh_default);

/* struct istio_config (vs, dr, sidecars), the Istio part of a config filled by config_istio.c,
 * is defined in config.h, which embeds it in struct config as cfg->istio. */

/*
 * Resolves @host as Istio does for a resource in @ns: a name without a dot
 * becomes name.ns.svc.cluster.local; names with a dot and wildcards are kept.
 * Returns a new string (caller frees), or NULL on allocation failure.
 */
char *istio_resolve_host(const char *host, const char *ns);

/* Whether a resource exported with @export_to is visible from namespace @ns. */
bool istio_exported_to(char *const *export_to, size_t n, const char *own_ns, const char *ns);

#endif /* SHUNT_ISTIO_H */
