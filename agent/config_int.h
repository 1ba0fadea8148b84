/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Inside the config loader: what the generic part (config.c: files, documents,
 * kind dispatch, uniqueness, endpoints, indexes) shares with the parsers of
 * each API group (config_k8s.c: core/v1 Namespace, Service and Pod). A new kind is a
 * parse function here and one row in config.c's kind_parsers[].
 */
#ifndef SHUNT_CONFIG_INT_H
#define SHUNT_CONFIG_INT_H

#include "config.h"
#include "yaml_tree.h"

/* One load in progress. */
struct load {
	struct config *cfg;
	size_t cap_services, cap_pods, cap_namespaces, cap_files;
	size_t cap_vs, cap_dr, cap_sidecars, cap_ses, cap_wes, cap_gws;
	size_t cap_secrets; /* of cfg->istio's arrays */
	size_t cap_slices;
	size_t cap_dns_names; /* of cfg->istio.dns_names */
	unsigned errors;      /* problems reported so far, every file */
	struct yt_sink sink;
};

struct kind_parser {
	const char *group; /* "" for the core group */
	const char *kind;
	const char *const *versions; /* NULL-terminated */
	/* Parses @obj and appends it to the config when it has no problem. 0 or -ENOMEM. */
	int (*parse)(struct load *ld, struct yt *t, yaml_node_t *obj);
};

/* The 1-based position of @m in the file @t is reading. */
struct src_loc config_loc_of(const struct yt *t, yaml_mark_t m);
/* Grows *@v (of @size-byte elements) so that one more fits after @n. 0 or -ENOMEM. */
int config_grow(void **v, size_t *cap, size_t n, size_t size);
/* Moves @v (of @size bytes) to the end of *@arr. 0 or -ENOMEM. */
int config_append(void **arr, size_t *n, size_t *cap, const void *v, size_t size);

/* core/v1 Namespace, Service and Pod: parse @obj and append it to ld->cfg when it has no
 * problem (problems are reported through @t). 0 or -ENOMEM. */
int k8s_parse_namespace(struct load *ld, struct yt *t, yaml_node_t *obj);
int k8s_parse_service(struct load *ld, struct yt *t, yaml_node_t *obj);
int k8s_parse_pod(struct load *ld, struct yt *t, yaml_node_t *obj);
/* core/v1 Secret (config_k8s_secret.c): a kubernetes.io/tls one is appended to
 * ld->cfg->secrets when it has no problem; other types are skipped with a notice. 0 or -ENOMEM.
 */
int k8s_parse_secret(struct load *ld, struct yt *t, yaml_node_t *obj);
void k8s_secret_release(struct tls_secret *s);
/* Once every file is read: warnings for Gateway servers whose credentialName names no
 * kubernetes.io/tls Secret of the Gateway's namespace (those servers are not served). */
void k8s_check_gateway_secrets(struct load *ld);
/* Decodes standard base64 (padding required, CR and LF skipped) from @in (@len bytes) into
 * *@out (NUL-terminated, owned by the caller) and *@out_len. 0, -EINVAL with the offset of the
 * first bad byte in *@bad, or -ENOMEM. */
int k8s_base64_decode(const char *in, size_t len, char **out, size_t *out_len, size_t *bad);
/* What config_k8s.c shares with config_k8s_pod.c. */
/* metadata of a core/v1 object: name (required), namespace ("default"), creationTimestamp,
 * labels, deletionTimestamp. Strings owned by the struct: k8s_meta_release(). */
struct k8s_meta {
	char *name, *ns, *created;
	struct labels labels;
	bool deleting;
	yaml_node_t *md;      /* the metadata mapping, NULL when it is not one */
	yaml_mark_t md_owner; /* the mark blamed below metadata */
};
void k8s_parse_meta(struct yt *t, yaml_node_t *obj, struct k8s_meta *m);
void k8s_meta_release(struct k8s_meta *m);
/* The label shunt.io/mesh takes "enabled" or "disabled": anything else is reported. */
void k8s_check_mesh_label(struct yt *t, const struct k8s_meta *m);
/* Frees labels whose keys and values were malloc()ed (parsed, not yet in a string table). */
void k8s_labels_release(struct labels *l);
/* Kubernetes' IANA_SVC_NAME: what a named port must be. */
bool k8s_valid_port_name(const char *s);
/* Field @key of @map as a protocol; TCP when absent. */
void k8s_parse_protocol(struct yt *t, yaml_node_t *map, const char *key, uint8_t *out);
/* A dual-stack address pair: field @one (clusterIP, podIP) and list @many (clusterIPs, podIPs),
 * validated as Kubernetes does. 0 or -EINVAL (reported). */
int k8s_parse_dual(struct yt *t, yaml_node_t *map, const char *one, const char *many,
		   bool items_are_maps, struct in_addr *v4, struct in6_addr *v6, bool *has6,
		   bool *none);

/* Free what a Namespace or Service owns (not the struct itself). A pod owns nothing: its strings
 * and arrays are the config's string table's (struct config.strs). */
void k8s_namespace_release(struct k8s_namespace *ns);
void k8s_service_release(struct service *s);

/* Once every file is read and the config is valid: the endpoints of every service with a selector
 * (config_eps.c), from the pods in @pod_order (indexes sorted by namespace, name). 0 or -ENOMEM. */
int config_compute_endpoints(struct config *cfg, const size_t *pod_order);
/* discovery.k8s.io/v1 EndpointSlice (config_k8s_slice.c): parse @obj and append it to
 * ld->cfg->slices when it has no problem. 0 or -ENOMEM. */
int k8s_parse_endpoint_slice(struct load *ld, struct yt *t, yaml_node_t *obj);
void k8s_slice_release(struct endpoint_slice *s);
/* Once every file is read and the config is valid: the endpoints of every Kubernetes service
 * without a selector from the EndpointSlices that name it (@pod_order: pods sorted by
 * namespace, name, to find their targetRefs). 0 or -ENOMEM. */
int config_slice_endpoints(struct config *cfg, const size_t *pod_order);
/* Once the endpoints are computed (config_vip.c): the IPv4 and IPv6 VIP indexes behind
 * config_find_vip() and config_find_vip6(). 0 or -ENOMEM. */
int config_build_vip_index(struct config *cfg);
int config_build_vip6_index(struct config *cfg);

/* A diagnostic that is not about one field (cross-object checks): @fmt usually starts with
 * "FILE:LINE:COL: FIELD: ". Counts errors in ld->errors. */
void config_report(struct load *ld, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* networking.istio.io VirtualService (config_istio_vs.c) and DestinationRule (config_istio.c):
 * parse @obj, validate it as Istio's webhook would, and append it to ld->cfg->istio when it has
 * no problem. 0 or -ENOMEM. */
int istio_parse_virtual_service(struct load *ld, struct yt *t, yaml_node_t *obj);
int istio_parse_destination_rule(struct load *ld, struct yt *t, yaml_node_t *obj);
struct sidecar;
/* networking.istio.io ServiceEntry and WorkloadEntry (config_istio_se.c), the same way. */
int istio_parse_service_entry(struct load *ld, struct yt *t, yaml_node_t *obj);
int istio_parse_workload_entry(struct load *ld, struct yt *t, yaml_node_t *obj);
/* Frees what @ic's ServiceEntries and WorkloadEntries own. */
void istio_se_release_all(struct istio_config *ic);
/* Before the indexes are built: every host of every ServiceEntry becomes a service of ld->cfg
 * (after the Kubernetes ones), with its addresses as VIPs and its endpoints (or the
 * WorkloadEntries it selects) as endpoints. 0 or -ENOMEM. */
int istio_expand_service_entries(struct load *ld);
/* DNS and DNS_ROUND_ROBIN ServiceEntries (config_istio_dns.c). istio_dns_want() looks @name up
 * once per load (the lookup config_set_name_lookup() set), records it in ld->cfg->istio.dns_names
 * and warns at @loc, @field when it gives no endpoint; 0 or -ENOMEM. Then istio_dns_count() is how
 * many endpoints it gives a port of @se (the first address only for DNS_ROUND_ROBIN) and
 * istio_dns_add() appends them to @sp (room for them is the caller's), with @labels and @port. */
int istio_dns_want(struct load *ld, const struct service_entry *se, const char *name,
		   const struct src_loc *loc, const char *field);
size_t istio_dns_count(const struct load *ld, const struct service_entry *se, const char *name);
void istio_dns_add(const struct load *ld, const struct service_entry *se, const char *name,
		   const struct labels *labels, uint16_t port, struct svc_port *sp);
void istio_dns_release(struct istio_config *ic);
/* Whether a ServiceEntry declares host @fqdn (exactly, or by a wildcard). */
bool istio_se_declares(const struct istio_config *ic, const char *fqdn);
/* Istio's protocol.Parse: a protocol name Istio knows (any case). */
bool ist_protocol_known(const char *s);
/* networking.istio.io Gateway (config_istio_gw.c), the same way. */
int istio_parse_gateway(struct load *ld, struct yt *t, yaml_node_t *obj);
void istio_gw_release_all(struct istio_config *ic);
/* networking.istio.io Sidecar (config_istio_sidecar.c), the same way. */
int istio_parse_sidecar(struct load *ld, struct yt *t, yaml_node_t *obj);
void istio_sidecar_release(struct sidecar *s);
/* Once every file is read, when the config is otherwise valid: namespaces with several Sidecars
 * Istio could not choose between (warnings). */
void istio_check_sidecars(struct load *ld);
/* Once every file is read: duplicate objects (errors, always); then, when @semantics, the checks
 * that need every object: shadowed VirtualServices, unknown destination hosts and subsets
 * (warnings). 0 or -ENOMEM. */
int istio_finish(struct load *ld, bool semantics);
/* Frees everything @ic owns, not @ic itself. */
void istio_config_release(struct istio_config *ic);

/* Shared by config_istio.c and config_istio_vs.c. */
struct str_match;
struct labels;
struct istio_destination;
struct percent;
struct virtual_service;

/* What a field of the Istio API is to shunt. */
enum ist_use {
	IST_PARSED = 0, /* read by the parser */
	IST_WARN,	/* not supported yet: warning, ignored */
	IST_NOTICE,	/* not used by shunt: notice, ignored */
	IST_REJECT,	/* not supported, and ignoring it would change routing: error */
};

struct ist_field {
	const char *name; /* JSON (camelCase) name; the proto (snake_case) name is accepted too */
	enum ist_use use;
	const char *why; /* the message for IST_WARN, IST_NOTICE and IST_REJECT; NULL: default */
};

/* Istio's webhook decodes strictly: reports keys of mapping @map that are not in @fields
 * (NULL-name terminated), and the use of fields that are not IST_PARSED. */
void ist_check_fields(struct yt *t, yaml_node_t *map, const struct ist_field *fields);
/* The key spelling of field @camel that @map uses: @camel, or its snake_case form. */
const char *ist_key(struct yt *t, yaml_node_t *map, const char *camel);

enum {
	IST_DUR_MIN_1MS = 1 << 8, /* Istio's ValidateDuration: >= 1ms, whole milliseconds */
	IST_DUR_SECONDS = 1 << 9, /* whole seconds (corsPolicy.maxAge) */
};
/* Field @camel of @map as a duration ("1h", "1m", "10s", "0.5s", "100ms": Go's syntax, as the
 * API server and Istio take it) in milliseconds. @flags: YT_REQUIRED, IST_DUR_*. 0, -ENOENT or
 * -EINVAL (reported). */
int ist_duration(struct yt *t, yaml_node_t *map, const char *camel, unsigned flags, uint64_t *ms);
/* Parses a Go duration string into nanoseconds. 0, or -EINVAL (-ERANGE for overflow). */
int ist_parse_duration(const char *s, int64_t *ns);
/* Field @camel of @map as an integer in [@min, @max]. 0, -ENOENT or -EINVAL (reported). */
int ist_int(struct yt *t, yaml_node_t *map, const char *camel, long min, long max, long *out);
int ist_str(struct yt *t, yaml_node_t *map, const char *camel, unsigned flags, char **out);
int ist_bool(struct yt *t, yaml_node_t *map, const char *camel, bool *out);
/* A list of strings; -ENOENT when absent. */
int ist_str_list(struct yt *t, yaml_node_t *map, const char *camel, char ***out, size_t *n);
void ist_str_list_free(char **v, size_t n);
/* A map of strings (labels); @validate: as Kubernetes label keys and values. */
int ist_labels(struct yt *t, yaml_node_t *map, const char *camel, bool validate,
	       struct labels *out);
void ist_labels_release(struct labels *l);
/* A StringMatch under key @key of mapping @parent (node @n): exactly one of exact, prefix,
 * regex; {} is SM_NONE. A regex is compiled (RE2 syntax, full match) to report problems. */
int ist_string_match(struct yt *t, yaml_node_t *n, const char *key, struct str_match *out);
void ist_str_match_release(struct str_match *m);
/* percentage: {value}: 0..100 (@strict: Istio's "neither 0.0, nor in [0.0001, 100.0]"). */
int ist_percent(struct yt *t, yaml_node_t *map, const char *camel, bool strict,
		struct percent *out);
/* A Destination at field @camel of @map, its host resolved for namespace @ns. */
int ist_destination(struct yt *t, yaml_node_t *map, const char *camel, const char *ns,
		    struct istio_destination *out);
void ist_destination_release(struct istio_destination *d);
/* exportTo of a resource in @ns, validated as Istio does. */
void ist_export_to(struct yt *t, yaml_node_t *spec, const char *ns, bool dr_with_selector,
		   char ***out, size_t *n);
/* metadata: name (required), namespace ("default"), creationTimestamp (RFC 3339). */
void ist_meta(struct yt *t, yaml_node_t *obj, char **name, char **ns, char **created);
/* Istio's ValidateWildcardDomain (a FQDN, '*' allowed in the first label): NULL when @host is
 * valid, else the reason written into @buf. */
const char *ist_check_wildcard_domain(const char *host, char *buf, size_t len);
/* Where byte @off of scalar @n's value is in the file, when that can be told (one line, no
 * escapes); else where @n starts. */
yaml_mark_t ist_mark_at(const yaml_node_t *n, size_t off);
/* RFC 3339 ("2024-01-02T15:04:05Z", fraction and offset optional) to seconds since the epoch.
 * 0 or -EINVAL. */
int ist_parse_rfc3339(const char *s, int64_t *secs);
/* Istio's ValidateFQDN. */
const char *ist_check_fqdn(const char *name, char *buf, size_t len);
/* Istio's labels.IsDNS1123Label. */
bool ist_dns1123_label(const char *s);
/* Istio's header name rule: [-_A-Za-z0-9]+. */
bool ist_header_name(const char *s);
void istio_vs_release(struct virtual_service *v);
/* Istio's validateGatewayNames over field @key (a sequence) of @map, already in @names. */
void ist_check_gateway_names(struct yt *t, yaml_node_t *map, const char *key, char *const *names,
			     size_t n);
struct route_destination;
/* route[] of an HTTP (@http), TCP or TLS route of a resource in @ns: destinations, weights (>= 0;
 * several must not all be 0), into *@out (*@n of them). */
void ist_route_dests(struct yt *t, yaml_node_t *r, const char *ns, bool http,
		     struct route_destination **out, size_t *n);

/* config_istio_tls.c */
struct l4_match;
/* The match attributes tcp and tls routes share (port, gateways) of mapping @m into @out, its
 * other keys checked against @fields. */
void ist_l4_match(struct yt *t, yaml_node_t *m, const struct ist_field *fields,
		  struct l4_match *out);
/* Frees @n matches at @v and the array. */
void ist_l4_matches_release(struct l4_match *v, size_t n);
/* spec.tls of VirtualService @v (its namespace and gateways already read) into v->tls. */
void istio_parse_tls(struct yt *t, yaml_node_t *spec, struct virtual_service *v);

#endif /* SHUNT_CONFIG_INT_H */
