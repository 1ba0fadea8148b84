/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The mesh configuration as `kubectl apply -f DIR` would see it: Kubernetes
 * Namespaces, Services and Pods read from YAML files, with the endpoints of
 * every service computed the way the Kubernetes endpoints controller does and
 * each pod's enrolment in the mesh decided from its labels and its
 * Namespace's (docs/config.md). A config is immutable once loaded; it is
 * shared read-only and freed by its last owner.
 */
#ifndef SHUNT_CONFIG_H
#define SHUNT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "log.h"
#include "strtab.h"

struct label {
	char *key;
	char *value;
};

struct labels {
	struct label *v;
	size_t n;
};

/* Value of @key in @l, or NULL. */
const char *labels_get(const struct labels *l, const char *key);

/* A place in a config file, 1-based. @file points into config-owned storage. */
struct src_loc {
	const char *file;
	int line;
	int col;
};

/* Enrolment labels (docs/config.md). CONFIG_MESH_LABEL takes "enabled" or "disabled", on a Pod
 * or its Namespace; the others are Istio's, honoured so that pods migrating from Istio keep
 * their settings. */
#define CONFIG_MESH_LABEL	    "shunt.io/mesh"
#define CONFIG_ISTIO_INJECT_LABEL   "sidecar.istio.io/inject"
#define CONFIG_ISTIO_NS_INJECT	    "istio-injection"
#define CONFIG_ISTIO_DATAPLANE_MODE "istio.io/dataplane-mode"
/* Pod annotations (Istio's names) listing outbound traffic never captured. */
/* Where VIPs of ServiceEntry hosts without addresses come from (Istio's auto-allocation range):
 * 240.240.0.0/16, reached only through the agent's DNS answers. */
#define CONFIG_AUTO_VIP_NET 0xf0f00000u /* host order */
#define CONFIG_AUTO_VIP_LEN 16

#define CONFIG_EXCL_PORTS_ANN "traffic.sidecar.istio.io/excludeOutboundPorts"
#define CONFIG_EXCL_CIDRS_ANN "traffic.sidecar.istio.io/excludeOutboundIPRanges"

#define POD_EXCL_PORTS_MAX 8
#define POD_EXCL_CIDRS_MAX 4

struct cidr4 {
	struct in_addr net; /* masked to len bits */
	uint8_t len;	    /* 0..32; 0 is every destination */
};

struct container_port {
	char *name;	  /* NULL when unnamed */
	uint16_t port;	  /* containerPort, host order */
	uint8_t protocol; /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP */
};

/* A Pod, as compact as 100,000 of them need: its strings and labels live in the config's string
 * table (struct config.strs), the namespace, label keys and values and phase shared with every
 * other pod that has the same. */
struct pod {
	char *name, *namespace;
	char *phase; /* status.phase, may be NULL */
	struct labels labels;
	struct container_port *cports; /* every container's ports, in file order */
	size_t n_cports;
	struct in_addr ip;   /* s_addr 0 when the pod has no IPv4 address */
	struct in6_addr ip6; /* status.podIP or podIPs[]: valid when has_ip6 */
	bool has_ip6;
	/* Ready unless status.conditions holds Ready with a status other than "True".
	 * A pod without a Ready condition counts as ready: hand-written files rarely carry
	 * status.conditions, and such a pod is meant to serve. */
	bool ready;
	bool terminating; /* metadata.deletionTimestamp is set */
	bool in_mesh;	  /* computed once the whole config is loaded: see config_pod_in_mesh() */
	uint8_t n_excl_ports, n_excl_cidrs;
	uint16_t excl_ports[POD_EXCL_PORTS_MAX];     /* outbound ports never captured, host order */
	struct cidr4 excl_cidrs[POD_EXCL_CIDRS_MAX]; /* outbound destinations never captured */
	struct src_loc loc;			     /* where the object starts */
	/* Who made it, for the workload name metrics report (workload.h): metadata.generateName
	 * and the controller among metadata.ownerReferences (kind, name). NULL when absent. */
	char *generate_name;
	char *owner_kind, *owner_name;
};

/* A core/v1 Namespace: only its name and labels matter (enrolment). */
struct k8s_namespace {
	char *name;
	struct labels labels;
	struct src_loc loc; /* where the object starts */
};

/*
 * A core/v1 Secret of type kubernetes.io/tls (others are not kept): the PEM text of its
 * tls.crt and tls.key, decoded from data (base64) or taken from stringData. Key material:
 * never logged.
 */
struct tls_secret {
	char *name, *namespace;
	char *crt, *key; /* NUL-terminated PEM text */
	size_t crt_len, key_len;
	struct src_loc loc; /* where the object starts */
};

/* A pod behind a service port: a dual-stack pod carries both addresses. */
struct endpoint {
	struct in_addr ip;   /* s_addr 0: the pod has only an IPv6 address */
	struct in6_addr ip6; /* valid when has_ip6 */
	uint16_t port;	     /* resolved targetPort, host order */
	bool has_ip6;
	bool ready;
	const struct pod *pod; /* points into config->pods; NULL for a ServiceEntry's endpoint */
	const struct labels *labels; /* the pod's, or the WorkloadEntry's: what subsets select */
};

struct svc_port {
	char *name;		  /* NULL when unnamed */
	uint16_t port;		  /* host order */
	uint16_t target_port;	  /* host order; 0 when target_port_name is set */
	char *target_port_name;	  /* NULL when numeric */
	const char *app_protocol; /* a ServiceEntry port's protocol (HTTP, TLS, ...), or a Service's
				     appProtocol http, https, tls or tcp; NULL: by name */
	uint8_t protocol;	  /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP */
	struct endpoint *eps;	  /* computed: ready ones first, each group by pod name */
	size_t n_eps;
	size_t n_ready; /* how many of eps are ready */
};

struct service {
	char *name, *namespace;
	char *type;		     /* spec.type, may be NULL */
	char *creation_timestamp;    /* may be NULL */
	struct in_addr cluster_ip;   /* the IPv4 VIP; s_addr 0: headless, none, or IPv6 only */
	struct in6_addr cluster_ip6; /* the IPv6 VIP, from clusterIP or clusterIPs: has_ip6 */
	bool has_ip6;
	bool headless;	   /* clusterIP: None */
	bool has_selector; /* a non-empty spec.selector */
	/* No selector, and EndpointSlices name it: its endpoints are theirs, and shunt balances
	 * it as it does a service with a selector. */
	bool eps_from_slices;
	/* A ServiceEntry host made a service (the loader adds one per host, after the
	 * Kubernetes ones): its entry, and the host, which is the service's FQDN. */
	const struct service_entry *se;
	const char *fqdn; /* NULL: name.namespace.svc.cluster.local */
	bool auto_vip;	  /* cluster_ip was allocated from CONFIG_AUTO_VIP_NET (no addresses) */
	struct labels selector;
	struct svc_port *ports;
	size_t n_ports;
	struct src_loc loc;	       /* where the object starts */
	struct src_loc cluster_ip_loc; /* where spec.clusterIP is; line 0 when absent */
};

/* One endpoint of an EndpointSlice (its first address: the API says they are fungible). */
struct slice_endpoint {
	struct in_addr ip;   /* of an IPv4 slice */
	struct in6_addr ip6; /* of an IPv6 slice: has_ip6 */
	bool has_ip6;
	bool ready;	  /* conditions.ready; absent is true, as the API defines it */
	bool terminating; /* conditions.terminating */
	char *pod_name;	  /* targetRef of kind Pod (the slice's namespace), or NULL */
};

struct slice_port {
	char *name;	  /* "" when the service port is unnamed */
	uint16_t port;	  /* host order; 0: absent (the slice says nothing about this port) */
	uint8_t protocol; /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP */
};

/*
 * A discovery.k8s.io/v1 EndpointSlice: where a service that has no selector has its
 * endpoints (docs/kubernetes.md). FQDN slices are not kept.
 */
struct endpoint_slice {
	char *name, *namespace;
	char *service; /* its label kubernetes.io/service-name; NULL: it serves no service */
	bool ipv6;     /* addressType IPv6, else IPv4 */
	struct slice_endpoint *eps;
	size_t n_eps;
	struct slice_port *ports;
	size_t n_ports;
	struct src_loc loc; /* where the object starts */
};

#define CONFIG_SLICE_SERVICE_LABEL "kubernetes.io/service-name"

/* A name's addresses, in the order of the answer that gave them: what a name lookup gives the
 * loader for a ServiceEntry with resolution DNS or DNS_ROUND_ROBIN (docs/serviceentry.md). */
#define CONFIG_NAME_ADDRS_MAX 16
struct config_name_addrs {
	struct in_addr v4[CONFIG_NAME_ADDRS_MAX];
	size_t n4;
	struct in6_addr v6[CONFIG_NAME_ADDRS_MAX];
	size_t n6;
};

struct config_vip_slot;
struct config_vip6_slot;

/* A name a DNS ServiceEntry resolves, and what the loader was told about it. */
struct config_dns_name {
	char *name; /* lowercased, no trailing dot */
	int err; /* the lookup's: 0, -ENOENT (no answer yet), -ENOSYS (no lookup on the thread) */
	struct config_name_addrs addrs; /* when err is 0 */
};

struct virtual_service;
struct destination_rule;

/* The Istio part of a config (the model is in istio.h): filled by config_istio.c, owned by struct
 * config. Arrays in file order, holding only objects without problems. */
struct istio_config {
	struct virtual_service *vs;
	size_t n_vs;
	struct destination_rule *dr;
	size_t n_dr;
	struct sidecar *sidecars;
	size_t n_sidecars;
	struct service_entry *ses;
	size_t n_ses;
	struct workload_entry *wes;
	size_t n_wes;
	struct gateway *gws;
	size_t n_gws;
	/* The names DNS and DNS_ROUND_ROBIN ServiceEntries resolve (endpoint addresses that are
	 * names, or the hosts themselves), each once, in the order first met, with the answer
	 * this config was built from (config_istio_dns.c). */
	struct config_dns_name *dns_names;
	size_t n_dns_names;
};

struct config {
	struct service *services; /* in file order */
	size_t n_services;
	struct pod *pods; /* in file order */
	size_t n_pods;
	struct k8s_namespace *namespaces; /* the Namespaces read, in file order */
	size_t n_namespaces;
	struct istio_config istio;  /* networking.istio.io objects */
	struct tls_secret *secrets; /* the kubernetes.io/tls Secrets, in file order */
	size_t n_secrets;
	struct endpoint_slice *slices; /* in file order */
	size_t n_slices;
	/* The mesh's outboundTrafficPolicy.mode (enum outbound_policy, istio.h): not in the
	 * files; the agent sets it from --outbound-traffic-policy. 0: ALLOW_ANY. */
	int mesh_outbound;
	/* The agent's own labels, that Gateways' selectors are matched against (not in the
	 * files; the agent sets them from --gateway-labels). NULL: it serves no Gateway. */
	const struct labels *agent_labels;
	/* private */
	struct strtab strs; /* the pods' strings and label arrays */
	char **files;	    /* every file name a src_loc may point to */
	size_t n_files;
	size_t *svc_by_name; /* indexes of services sorted by namespace, name */
	size_t *ns_by_name;  /* indexes of namespaces sorted by name */
	size_t *pod_by_ip6;  /* indexes of pods, those with an IPv6 address first, by it */
	struct config_vip_slot *vip_slots;
	size_t vip_mask; /* slots - 1, a power of two minus one */
	struct config_vip6_slot *vip6_slots;
	size_t vip6_mask;
};

/* Loads every .yaml and .yml file in @dir (sorted by name, not recursive, symlinks followed,
 * hidden files skipped), each holding any number of documents. On success stores a new config in
 * *@out and returns 0. On failure reports every problem in the FILE:LINE:COL: FIELD: MESSAGE form
 * (log_error() and the diagnostic sink), returns -EINVAL (or -errno for I/O, -ENOMEM), and leaves
 * *@out untouched. Kinds shunt does not use are skipped with a log_info() notice. */
int config_load_dir(const char *dir, struct config **out);

/* Same, for one in-memory file named @name (for tests and fuzzing); @buf need not be
 * NUL-terminated. */
int config_load_buf(const char *name, const char *buf, size_t len, struct config **out);

/*
 * The same from objects that are not in files (the Kubernetes API's, converted from JSON into
 * YAML documents): a loader takes them one at a time, so that a large cluster is never held
 * as documents all at once. @name stands where a file name would in diagnostics (and in
 * src_loc.file), e.g. "k8s:VirtualService/default/reviews"; @doc stays the caller's. Objects
 * are read as a file's documents would be, in the order added; finishing runs the checks
 * that need every object and gives what config_load_dir() would. config_loader_new(): 0 or
 * -ENOMEM. config_loader_add(): 0, or -ENOMEM (sticky: finishing then fails with it).
 * config_loader_finish() frees @l, whatever it returns.
 */
struct yaml_document_s;
struct config_loader;
int config_loader_new(struct config_loader **out);
int config_loader_add(struct config_loader *l, const char *name, struct yaml_document_s *doc);
int config_loader_finish(struct config_loader *l, struct config **out);

/* One object for config_load_docs(). */
struct config_doc {
	const char *name;
	struct yaml_document_s *doc;
};

/* config_loader_*() over @n documents (tests). */
int config_load_docs(const struct config_doc *docs, size_t n, struct config **out);

/* Frees @cfg and everything it owns. NULL is fine. */
void config_free(struct config *cfg);

/* The service port whose clusterIP:port/proto is @vip:@port_be (network order both), or NULL.
 * O(1) through a hash index built at load time. *@svc receives its service when non-NULL. */
const struct svc_port *config_find_vip(const struct config *cfg, struct in_addr vip,
				       uint16_t port_be, uint8_t protocol,
				       const struct service **svc);

/* Same for an IPv6 VIP (@vip6, 16 bytes, network order). */
const struct svc_port *config_find_vip6(const struct config *cfg, const struct in6_addr *vip6,
					uint16_t port_be, uint8_t protocol,
					const struct service **svc);

/* The pod whose IPv6 address is @ip (one that is not terminating, if several), or NULL.
 * O(log n). */
const struct pod *config_find_pod6(const struct config *cfg, const struct in6_addr *ip);

/* The service @namespace/@name, or NULL. O(log n). */
const struct service *config_find_service(const struct config *cfg, const char *namespace,
					  const char *name);

/* The kubernetes.io/tls Secret @namespace/@name (the first one read), or NULL. O(n). */
const struct tls_secret *config_find_tls_secret(const struct config *cfg, const char *namespace,
						const char *name);

/* The Namespace @name, or NULL when the config has no such object. O(log n). */
const struct k8s_namespace *config_find_namespace(const struct config *cfg, const char *name);

/* Whether pod @p (of @cfg) is in the mesh, first rule that applies:
 *   1. its label shunt.io/mesh: "enabled" is in, "disabled" is out;
 *   2. its label sidecar.istio.io/inject set to anything Istio reads as no ("false") is out;
 *   3. its Namespace's label shunt.io/mesh: "enabled" is in, "disabled" is out;
 *   4. its Namespace labelled istio-injection: enabled or istio.io/dataplane-mode: ambient is in;
 *   5. anything else is out, a pod of a namespace without a Namespace object too.
 * The loader stores the answer in every pod's in_mesh. */
bool config_pod_in_mesh(const struct config *cfg, const struct pod *p);

/* "TCP", "UDP", "SCTP" or "?". */
const char *config_proto_str(uint8_t protocol);

/* Looks @name up (lowercased, no trailing dot) without blocking: 0 with its last good addresses
 * in *@out (none at all: the name has no address), or -ENOENT when no answer is known yet. */
typedef int (*config_name_lookup_fn)(const char *name, struct config_name_addrs *out, void *arg);

/* Where loads on this thread get the addresses of DNS ServiceEntries' names: @fn(@arg), asked
 * once per name and load (every port and host of one load sees the same answer). Without one
 * (NULL), such names give no endpoint. The names a config asked for are in
 * config->istio.dns_names, for the agent's resolver to track. */
void config_set_name_lookup(config_name_lookup_fn fn, void *arg);

/* Receives every diagnostic line of a load on this thread, in the order reported, in addition
 * to the log: errors (LOG_ERROR) as "FILE:LINE:COL: FIELD: MESSAGE" ("FILE: MESSAGE" when a file
 * or the directory cannot be read), warnings (LOG_WARN: an IPv6 address skipped) and notices
 * (LOG_INFO: a kind ignored). Per thread, so concurrent loads do not mix; NULL stops it. */
void config_set_diag_sink(void (*fn)(enum log_level level, const char *line, void *arg), void *arg);

#endif /* SHUNT_CONFIG_H */
