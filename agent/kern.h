/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The kernel side of the agent: loads the capture programs, pins and fills
 * their maps, attaches them to the mesh cgroup, and answers "where was this
 * accepted connection going" from the 4-tuple index.
 */
#ifndef SHUNT_KERN_H
#define SHUNT_KERN_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <linux/types.h>

#include "shunt_maps.h"

struct config;
struct pod;
struct kern;

/* The maps whose size the operator chooses (shuntd --max-*). */
enum kern_sized_map {
	KERN_MAP_SVC4 = 0, /* shunt_svc4_v2, --max-services */
	KERN_MAP_BE4,	   /* shunt_be4, --max-backends */
	KERN_MAP_PAIR4,	   /* shunt_pair4, --max-pairs */
	KERN_N_SIZED,
};

/* kern_open() options. */
struct kern_opts {
	__u32 max_entries[KERN_N_SIZED]; /* by enum kern_sized_map; 0: include/shunt_maps.h's */
	bool fast_path; /* shuntd --fast-path on: load and attach the sk_msg program */
};

/* The pinned name of a sized map, and the shuntd flag that sets its size. */
const char *kern_sized_name(enum kern_sized_map m);
const char *kern_sized_flag(enum kern_sized_map m);

/* The size include/shunt_maps.h gives a sized map. */
__u32 kern_sized_default(enum kern_sized_map m);

/*
 * Opens and loads the programs, with the map sizes of @opts (NULL: the
 * defaults). Maps are pinned by name in @pin_dir, which must exist on a
 * bpffs; maps already pinned there with the same layout and size are reused
 * (their content is reconciled later by kern_sync_services()). A sized map
 * pinned with another max_entries is unpinned and created anew with the size
 * asked (logged): kern_sync_services() rewrites shunt_svc4_v2 and shunt_be4,
 * while shunt_pair4 entries not yet taken by accept() are lost. The programs
 * an earlier agent left attached keep its maps until kern_attach() swaps
 * them, or kern_close() does if this agent never attaches; if loading fails,
 * the old maps are pinned back. With @opts->fast_path, the sk_msg program is
 * loaded too (not attached yet). Stores the handle in *@out; returns 0 or
 * -errno.
 */
int kern_open(const char *pin_dir, const struct kern_opts *opts, struct kern **out);

/* Above this share of max_entries (percent), kern_sync_services() warns. */
#define KERN_FILL_WARN_PCT 80

/* Whether @entries of @max is above KERN_FILL_WARN_PCT: time to raise the flag. */
bool kern_fill_high(uint64_t entries, uint64_t max);

#define KERN_ALIVE_MS	  3000 /* the agent counts as dead this long after its last heartbeat */
#define KERN_HEARTBEAT_MS 500  /* how often a live agent refreshes it */

/*
 * Tells the kernel where captured connections go and which socket mark is
 * the agent's own (NULL @listen: no agent, every connection balanced in the
 * kernel). Connections go to the agent only while its heartbeat is fresh
 * (kern_heartbeat()). 0 or -errno.
 */
int kern_set_listener(struct kern *k, const struct sockaddr_in *listen, uint32_t skip_mark);

/*
 * The agent's DNS resolver, where mesh pods' UDP port-53 queries go while the
 * agent is alive (NULL: none, they go where they were sent). 0 or -errno.
 */
int kern_set_dns(struct kern *k, const struct sockaddr_in *dns);

/*
 * The agent's IPv6 listener, where native IPv6 connections to L7 services go
 * (NULL: none; they are then balanced in the kernel). 0 or -errno.
 */
int kern_set_listener6(struct kern *k, const struct sockaddr_in6 *listen);

/*
 * Names @fd as one of the agent's listening sockets: when it is closed (the
 * agent exits or is killed), the kernel voids the heartbeat at once. 0 or -errno.
 */
int kern_add_listener(struct kern *k, int fd);

/*
 * Refreshes the agent's heartbeat in shunt_cfg_v2 (@alive), or withdraws it
 * (!@alive: connections are balanced in the kernel from now on). Call every
 * KERN_HEARTBEAT_MS while the agent can serve. 0 or -errno.
 */
int kern_heartbeat(struct kern *k, bool alive);

/*
 * Whether the pin directory is still where it was opened: the same directory
 * at the same path, on a bpf filesystem. False when bpffs was unmounted (or
 * the directory removed or replaced): capture goes on through the agent's own
 * fds, but a restarted agent would not find the pinned maps and links.
 */
bool kern_pins_reachable(const struct kern *k);

/* One pod's entry in shunt_pods_v2. */
struct kern_pod {
	uint64_t netns_cookie;
	struct pod_val val;
};

/*
 * Makes shunt_pods_v2 hold exactly @pods (@n of them): writes them, then
 * deletes the entries of network namespaces no longer listed. 0 or -errno.
 */
int kern_sync_pods(struct kern *k, const struct kern_pod *pods, size_t n);

struct route_table;

/* What kern_sync_services() wrote. */
struct kern_sync {
	unsigned l7;			/* service ports sent to the agent (while it is alive) */
	unsigned direct;		/* service ports balanced in the kernel */
	unsigned slots;			/* backend slots in shunt_be4 */
	unsigned l7_6, direct6, slots6; /* the same for IPv6 VIPs (shunt_svc6, shunt_be6) */
	/* Map entries this sync wrote or deleted: only what differs from the previous sync
	 * (the first one of an agent writes everything). */
	unsigned long long writes;
};

/*
 * The svc4_val flags kern_sync_services() writes for port @j of service @i
 * of @cfg (@rt: its route table, NULL: none): SVC4_F_L7 when its connections
 * go to the agent (HTTP with rules, TLS with tls routes), SVC4_F_PASSTHROUGH
 * for a ServiceEntry with resolution NONE. For the admin API and explain too.
 */
__u32 kern_port_flags(const struct config *cfg, const struct route_table *rt, size_t i, size_t j);

/*
 * Whether @cfg's service ports and backend slots fit in the maps at all, so
 * that a reload can refuse a config the kernel cannot hold before anything is
 * written. 0, or -E2BIG with @why (one line naming the flag to raise) filled.
 */
int kern_sync_fits(const struct kern *k, const struct config *cfg, const struct route_table *rt,
		   char *why, size_t len);

/*
 * Makes shunt_svc4_v2 and shunt_be4 hold exactly the TCP service ports of
 * @cfg with a clusterIP and a selector, each with its ready endpoints as
 * backend slots, flagged L7 where @rt says requests need the agent (HTTP/1.1
 * by port name and route_port_needs_l7()). Adds and updates first, then
 * deletes what is stale, so a live service is never missing. Warns (log_warn)
 * when shunt_svc4_v2 or shunt_be4 is then above KERN_FILL_WARN_PCT of its
 * max_entries, naming the flag that raises it. 0 or -errno (-E2BIG: a map
 * is full, logged with its flag).
 */
int kern_sync_services(struct kern *k, const struct config *cfg, const struct route_table *rt,
		       struct kern_sync *out);

/*
 * Attaches the capture programs to the mesh cgroup @cgroup_fd, and the hook
 * that sees the agent's listener close to the agent's own cgroup
 * @self_cgroup_fd (the caller keeps both fds), through links pinned in the
 * pin dir, which outlive the agent; links an earlier agent left on the same
 * cgroups are adopted. Then the fast path: on, the sk_msg program is attached
 * to shunt_sock4 (pinned link link_skmsg, adopted likewise) and sockops starts
 * indexing pod<->agent sockets; off, a link_skmsg an earlier agent left is
 * removed and shunt_sock4 emptied. 0 or -errno.
 */
int kern_attach(struct kern *k, int cgroup_fd, int self_cgroup_fd);

/*
 * The agent leaves: the kernel stops sending connections to it (they are
 * balanced in the kernel: fail open) and stops indexing sockets for the fast
 * path. With @unpin, the programs are also detached (link_skmsg included),
 * and connections to services are no longer touched at all.
 */
void kern_detach(struct kern *k, bool unpin);

/*
 * Takes the original destination of a connection the agent accepted from
 * @peer on @local out of the 4-tuple index (the entry is deleted). 0, or
 * -ENOENT when the connection was not captured.
 */
int kern_orig_dst(const struct kern *k, const struct sockaddr_in *peer,
		  const struct sockaddr_in *local, struct orig4 *orig);

/* The same for a native IPv6 connection (shunt_pair6). */
int kern_orig_dst6(const struct kern *k, const struct sockaddr_in6 *peer,
		   const struct sockaddr_in6 *local, struct orig6 *orig);

/* The egress scope id of pod @p for shunt_pods_v2 (pod_val.scope_id): its Sidecar's, when that
 * has egress hosts; 0 (every service) otherwise. The ids are those the last
 * kern_sync_services() gave the Sidecars of @cfg; a Sidecar keeps its id across reloads. */
__u32 kern_scope_id(struct kern *k, const struct config *cfg, const struct pod *p);

/* Frees the handle; with @unpin, also removes the pins and the pin directory. */
void kern_close(struct kern *k, bool unpin);

/* Reads the per-CPU counters of a shunt_stats map fd, summed. 0 or -errno. */
int kern_read_stats(int stats_fd, uint64_t out[SHUNT_STAT_MAX]);

/* The operator-facing name of a counter ("captured", ...). */
const char *kern_stat_name(enum shunt_stat stat);

/* The fd of the pinned counters map, for the admin API. */
int kern_stats_fd(const struct kern *k);

#endif /* SHUNT_KERN_H */
