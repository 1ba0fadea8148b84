/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Inside the kernel-map layer: what kern.c (load, attach, IPv4 maps) shares
 * with kern6.c (the IPv6 and registry maps) and kern_fast.c (the fast path).
 */
#ifndef SHUNT_KERN_INT_H
#define SHUNT_KERN_INT_H

#include <limits.h>
#include <stdbool.h>

#include <bpf/libbpf.h>

#include "kern.h"

struct config;
struct route_table;
struct service;
struct svc_port;
struct sidecar;

#define KERN_N_LINKS 8

/* One service port of the last sync's record (kern_last.c), by svc_id. */
struct kern_last_port {
	unsigned char key[20]; /* its svc4_key or svc6_key, zero-padded */
	struct svc4_val val;
	uint32_t off; /* its first slot in kern_last.slots */
	bool live;    /* the maps hold this entry and these slots */
};

/* What the last sync of one family wrote: while valid, exactly what the maps hold. */
struct kern_last {
	bool valid;
	struct kern_last_port *ports; /* [svc_id] */
	size_t n_ports;
	unsigned char *slots; /* every port's slot values, slot_size bytes each */
	size_t n_slots, cap_slots, slot_size;
};

/* What the last sync wrote to a set map (shunt_known4, ...): sorted, deduplicated keys. */
struct kern_set_last {
	bool valid;
	void *keys;
	size_t n;
};

enum kern_set_map {
	KERN_SET_KNOWN4,
	KERN_SET_KNOWN6,
	KERN_SET_PORTS,
	KERN_SET_SCOPE,
	KERN_SET_BINDS4,
	KERN_N_SETS
};

struct kern {
	struct sock_addr_bpf *sa; /* connect4 + getpeername4; creates the pinned maps */
	struct sockops_bpf *so;	  /* sockops; reuses the pinned maps */
	struct sk_msg_bpf *sm;	  /* the fast path's sk_msg program; NULL when it is off */
	struct bpf_link *links[KERN_N_LINKS];
	size_t n_links;
	char *pin_dir;
	int lock_fd; /* the pin directory, flock()ed: one agent per pin dir */
	int svc4_fd, be4_fd, pair4_fd, cfg_fd, stats_fd, lsn_fd, pods_fd, known4_fd; /* from sa */
	int svc6_fd, be6_fd, pair6_fd, lsn6_fd, known6_fd, ports_fd, scope_fd, binds4_fd, dns_fd;
	int sock4_fd;		 /* shunt_sock4, from sa */
	int fast_link_fd;	 /* the sk_msg link on shunt_sock4 this agent holds, or -1 */
	bool fast_path;		 /* shuntd --fast-path on */
	struct shunt_cfg cfg;	 /* what shunt_cfg_v2 holds */
	__u32 max[KERN_N_SIZED]; /* max_entries of the sized maps, as created */
	/* Stable ids (kern_ids.c), for the config last synced: */
	uint32_t *port_ids; /* [flat port index]: svc_id, UINT32_MAX when not in the maps */
	size_t n_port_ids;
	uint32_t id_span;		/* every svc_id in port_ids is below it */
	struct kern_scope_name *scopes; /* Sidecar "ns/name" -> its egress scope id */
	size_t n_scopes;
	__u32 scope_next; /* the last scope id given out; never reused while the agent runs */
	/* What the last sync wrote (kern_last.c), so that the next writes only what changed: */
	struct kern_last last4, last6;
	struct kern_set_last sets[KERN_N_SETS];
	struct kern_last *staging; /* where kern_write_slots() puts slot values; NULL: nowhere */
	uint64_t writes;	   /* map updates and deletes issued by syncs, ever */
	/*
	 * A sized map was recreated: until kern_attach(), the links an earlier agent
	 * pinned may still run its programs, which use the old, unpinned map.
	 */
	bool links_stale;
};

struct kern_scope_name {
	char *key; /* "namespace/name" */
	__u32 id;
};

/*
 * Gives every service port of @cfg that the kernel balances its svc_id (see
 * kern_ids.c): the one the maps hold for its VIP, else one no map entry uses.
 * Read them with kern_port_id(). 0 or -ENOMEM (the previous ids stay).
 */
int kern_ids_assign(struct kern *k, const struct config *cfg);
/* The svc_id of flat port @flat (ports numbered service by service), UINT32_MAX: none. */
uint32_t kern_port_id(const struct kern *k, size_t flat);
/* Gives every Sidecar of @cfg with egress hosts its scope id, kept across reloads. 0 or -ENOMEM. */
int kern_scopes_assign(struct kern *k, const struct config *cfg);
/* The scope id of @sc after kern_scopes_assign(), 0 when it has none. */
__u32 kern_sidecar_scope(struct kern *k, const struct sidecar *sc);
void kern_scopes_free(struct kern_scope_name *tab, size_t n);

/* Whether connections to service port @sp of @svc are balanced by shunt at all (else
 * kube-proxy's), whatever the family. */
bool kern_balanced(const struct service *svc, const struct svc_port *sp);
/* Whether they go to the agent (Istio's protocol selection by port name). */
bool kern_captured_as_http(const struct service *svc, const struct svc_port *sp);
/* Deletes the slots of backend map @fd (shunt_be4 or shunt_be6, keyed by struct be4_key) that
 * no service port uses any more: @n_slots[id] of them are live for each of @n_ids ids.
 * How many were deleted, or -errno. */
int kern_be_delete_stale(const struct kern *k, int fd, const uint32_t *n_slots, size_t n_ids);

/* The svc4_val flags of service port @sp of @svc (@l7: its service needs the agent; @sni: a tls
 * route needs the agent to read this TLS port's SNI, route_port_needs_sni()): SVC4_F_L7 for HTTP
 * ports with @l7 and any port with @sni, SVC4_F_PASSTHROUGH for a ServiceEntry with resolution
 * NONE. */
__u32 kern_svc_flags(const struct service *svc, const struct svc_port *sp, bool l7, bool sni);
/* " (the map is full: raise --max-...)" when @err says a map sized by @m is full, else "". */
const char *kern_full_hint(int err, enum kern_sized_map m);
/* Warns when a map sized by @m (named @name) holds more than KERN_FILL_WARN_PCT. */
void kern_warn_fill(const struct kern *k, enum kern_sized_map m, const char *name,
		    uint64_t entries);

/*
 * Writes the backend slots of service port @j of service @i (id @id) for @family (AF_INET:
 * shunt_be4, AF_INET6: shunt_be6): with a VirtualService tcp route, its weighted destinations,
 * each in as many of 1,000 slots as its weight's share (0.1% steps); otherwise the ready
 * endpoints, one slot each. Endpoints without an address of @family are left out. The count
 * in *@n_out. 0 or -errno. With @k NULL, only counts.
 */
int kern_write_slots(struct kern *k, int family, uint32_t id, const struct route_table *rt,
		     size_t i, size_t j, const struct svc_port *sp, uint32_t *n_out);

/*
 * Makes the map @fd (named @name, at most @max keys of @key_size bytes) hold
 * exactly the @n keys at @keys (duplicates allowed; reordered), each with
 * value @val. With @last valid (what the previous call wrote), only the keys
 * that come and go are written and deleted; @last then records this call
 * (invalid after a failure). 0 or -errno (logged).
 */
int kern_set_sync(struct kern *k, struct kern_set_last *last, int fd, const char *name, void *keys,
		  size_t n, size_t key_size, size_t max, const void *val);
void kern_set_last_free(struct kern_set_last *l);

/* The last sync's record (kern_last.c). kern_last_begin() starts @next for ids below @span and
 * slots of @slot_size bytes; kern_last_stage() appends the value of a port's next slot (0 or
 * -ENOMEM). kern_last_commit() records port @id (its slots staged from index @first on, as many
 * as @val counts) and writes to @svc_fd and @be_fd what @prev says the maps lack: slots first,
 * then the entry @key. 0 or -errno. kern_last_delete_stale() deletes what @prev has and @next
 * does not (valid @prev only); how many were deleted. */
int kern_last_begin(struct kern_last *next, size_t span, size_t slot_size);
int kern_last_stage(struct kern_last *l, const void *v);
int kern_last_commit(struct kern *k, int svc_fd, int be_fd, const struct kern_last *prev,
		     struct kern_last *next, uint32_t id, const void *key, size_t key_size,
		     const struct svc4_val *val, uint32_t first, enum kern_sized_map *failed);
int kern_last_delete_stale(struct kern *k, int svc_fd, int be_fd, const struct kern_last *prev,
			   const struct kern_last *next, size_t key_size);
/* Makes @next the record of @l after a sync that succeeded (@ok), else drops both. */
void kern_last_install(struct kern_last *l, struct kern_last *next, bool ok);
void kern_last_free(struct kern_last *l);

/*
 * Makes shunt_ports hold the HTTP, TLS and TCP ports of the registry's hosts
 * that have no VIP (ServiceEntries without addresses): connections from mesh
 * pods to any address on those ports go to the agent, which routes them by
 * the Host header, the ClientHello's SNI, or the port. 0 or -errno (logged).
 */
int kern_ports_sync(struct kern *k, const struct config *cfg);

/*
 * Makes shunt_scope hold, for each Sidecar with egress hosts (its scope id from
 * kern_scopes_assign(), see kern_scope_id()), the service ports
 * its pods see. 0 or -errno (logged).
 */
int kern_scope_sync(struct kern *k, const struct config *cfg);

/*
 * Makes shunt_binds4 hold the egress listeners with an IPv4 bind address and a
 * port, keyed by their Sidecar's scope id. 0 or -errno (logged).
 */
int kern_binds_sync(struct kern *k, const struct config *cfg);

/*
 * Makes shunt_known4 and shunt_known6 hold the registry's addresses besides
 * service VIPs, which a REGISTRY_ONLY pod may reach: the endpoints of services
 * without a VIP (headless), and the single addresses of ServiceEntries with
 * resolution NONE (the app connects to them directly). 0 or -errno (logged).
 */
int kern_known_sync(struct kern *k, const struct config *cfg);

/*
 * The IPv6 half of kern_sync_services(): shunt_svc6 and shunt_be6 for the
 * service ports with an IPv6 clusterIP (same svc_id as their IPv4 twin);
 * stale entries removed.
 * Adds what it wrote to @out. 0 or -errno (logged).
 */
int kern6_sync_services(struct kern *k, const struct config *cfg, const struct route_table *rt,
			struct kern_sync *out);
/* @name's path under the pin dir. */
void kern_pin_path(const struct kern *k, const char *name, char path[PATH_MAX]);

/* Writes k->cfg to shunt_cfg_v2. 0 or -errno. */
int kern_cfg_write(struct kern *k);

/*
 * With the fast path on, opens and loads the sk_msg program with @opts (its
 * maps resolve to the pins the other objects made); off, loads nothing.
 * 0 or -errno, logged.
 */
int kern_fast_load(struct kern *k, const struct bpf_object_open_opts *opts);

/*
 * On: attaches the sk_msg program to shunt_sock4 through the link pinned as
 * link_skmsg (one an earlier agent pinned is adopted and given this agent's
 * program), then lets sockops index sockets (CFG_F_FAST_PATH). Off: removes
 * a link an earlier agent pinned and empties shunt_sock4, so that no socket
 * keeps redirecting. 0 or -errno, logged.
 */
int kern_fast_attach(struct kern *k);

/*
 * Lets go of the sk_msg link (it stays attached through its pin unless
 * @unpin). With @unpin, a pinned link this agent does not hold is removed too.
 */
void kern_fast_detach(struct kern *k, bool unpin);

/* Frees the sk_msg program (after kern_fast_detach()). */
void kern_fast_close(struct kern *k);

#endif /* SHUNT_KERN_INT_H */
