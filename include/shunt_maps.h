/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Map keys and values shared by the kernel programs (bpf/) and the agent
 * (agent/). No system includes: the BPF side gets the __u32/__be16 types from
 * vmlinux.h, the agent from <linux/types.h>. Every struct is padded by hand
 * to a multiple of 4 (8 where a __u64 lives) so that both compilers agree on
 * the layout; a layout change renames the pinned map (suffix _v2, ...),
 * because pinned maps outlive an agent upgrade.
 */
#ifndef SHUNT_MAPS_H
#define SHUNT_MAPS_H

/* Pinned map names, as they appear under the pin directory. At most 15 chars. */
#define SHUNT_MAP_SVC4	   "shunt_svc4_v2"
#define SHUNT_MAP_BE4	   "shunt_be4"
#define SHUNT_MAP_PAIR4	   "shunt_pair4"
#define SHUNT_MAP_ORIG4	   "shunt_orig4"
#define SHUNT_MAP_CFG	   "shunt_cfg_v2"
#define SHUNT_MAP_STATS	   "shunt_stats_v3"
#define SHUNT_MAP_LSN	   "shunt_listeners"
#define SHUNT_MAP_PODS	   "shunt_pods_v2"
#define SHUNT_MAP_KNOWN4   "shunt_known4"
#define SHUNT_MAP_SVC6	   "shunt_svc6"
#define SHUNT_MAP_BE6	   "shunt_be6"
#define SHUNT_MAP_PAIR6	   "shunt_pair6"
#define SHUNT_MAP_ORIG6	   "shunt_orig6"
#define SHUNT_MAP_LSN6	   "shunt_lsn6"
#define SHUNT_MAP_KNOWN6   "shunt_known6"
#define SHUNT_MAP_PORTS	   "shunt_ports"
#define SHUNT_MAP_SCOPE	   "shunt_scope"
#define SHUNT_MAP_BINDS4   "shunt_binds4"
#define SHUNT_MAP_SOCK4	   "shunt_sock4"
#define SHUNT_MAP_MSGPATH4 "shunt_msgpath4"

#define SHUNT_SVC4_MAX	 65536
#define SHUNT_BE4_MAX	 262144 /* backend slots over all services */
#define SHUNT_PAIR4_MAX	 262144
#define SHUNT_SLOTS_MAX	 4096	/* backend slots of one service port */
#define SHUNT_LSN_MAX	 256	/* the agent's listening sockets (one per worker) */
#define SHUNT_STAT_SLOTS 64	/* shunt_stats_v3 entries: SHUNT_STAT_MAX may grow up to this */
#define SHUNT_PODS_MAX	 16384	/* pod network namespaces on one node */
#define SHUNT_KNOWN4_MAX 262144 /* addresses in the registry besides service VIPs */
#define SHUNT_PORTS_MAX	 1024	/* ports captured whatever the address (hosts without VIPs) */
#define SHUNT_SCOPE_MAX	 262144 /* (egress scope, service port) pairs a Sidecar lets pods see */
#define SHUNT_BINDS_MAX	 4096	/* Sidecar egress listeners with a bind address */
#define SHUNT_SOCK4_MAX	 131072 /* fast-path sockets: two per pod<->agent connection */
#define POD_EXCL_PORTS	 8	/* outbound ports a pod may exclude */
#define POD_EXCL_CIDRS	 4	/* outbound IPv4 ranges a pod may exclude */

/* The default SO_MARK the agent puts on its own upstream sockets. */
#define SHUNT_DEFAULT_MARK 0x5e4e0000u

/* shunt_svc4 key: a service VIP and port the kernel captures at connect(). */
struct svc4_key {
	__be32 vip;  /* service clusterIP, network order */
	__be16 port; /* service port, network order */
	__u8 proto;  /* IPPROTO_TCP; UDP is never captured */
	__u8 pad;    /* zero */
};

/* svc4_val.flags */
#define SVC4_F_L7 (1u << 0) /* L7 rules apply: send connections to the agent while it is alive */
/* Not to the agent: leave the connection to the address it asked for (ServiceEntry NONE). */
#define SVC4_F_PASSTHROUGH (1u << 1)

/*
 * shunt_ports key: a destination port that is captured whatever the address,
 * because a host the registry knows by name only (a ServiceEntry without
 * addresses) serves HTTP on it: the agent routes such connections on the Host
 * header, and sends those for hosts it does not know to their original
 * destination (ALLOW_ANY) or answers 502 (REGISTRY_ONLY). The value is a
 * svc4_val with SVC4_F_L7 and no slots: without a live agent the connection
 * is left alone (or refused, for a REGISTRY_ONLY pod).
 */
struct port_key {
	__be16 port; /* network order */
	__u8 proto;  /* IPPROTO_TCP */
	__u8 pad;    /* zero */
};

/*
 * shunt_svc4_v2 value: what connect4 does with a connection to that VIP:port.
 * With SVC4_F_L7 and a live agent, the agent's listener; otherwise (no L7
 * rule, or the agent dead: fail open) one of the n_slots backend slots of
 * shunt_be4, chosen at random: a backend appears in as many slots as its
 * weight asks.
 */
struct svc4_val {
	__u32 svc_id;  /* key of its slots in shunt_be4; kept by a service port across reloads */
	__u32 flags;   /* SVC4_F_* */
	__u32 n_slots; /* 0: no ready backend (connect() fails with ECONNREFUSED... see docs) */
	__u32 pad;     /* zero */
};

/* shunt_be4 key: slot @slot of the service port whose svc4_val.svc_id is @svc_id. */
struct be4_key {
	__u32 svc_id;
	__u32 slot;
};

/* shunt_be4 value: a backend, podIP:targetPort. */
struct be4_val {
	__be32 ip;   /* network order */
	__be16 port; /* network order */
	__u16 pad;   /* zero */
};

/*
 * Original destination of one captured socket, as connect() asked for it.
 * Stored per socket in shunt_orig4 (socket-local storage, freed with the
 * socket) and per 4-tuple in shunt_pair4 (for the agent's accept()).
 */
struct orig4 {
	__be32 ip;    /* original destination address, network order */
	__be16 port;  /* original destination port, network order */
	__u16 flags;  /* ORIG4_F_* */
	__u32 svc_id; /* svc4_val.svc_id at capture time */
};

/* pod_val.flags */
#define POD_F_MESH	    (1u << 0) /* the pod is in the mesh: its connections to services are steered */
#define POD_F_REGISTRY_ONLY (1u << 1) /* outboundTrafficPolicy REGISTRY_ONLY: others refused */

/*
 * shunt_pods_v2 value, keyed by the network-namespace cookie of a pod
 * (bpf_get_netns_cookie()): whether its connections are steered, and what it
 * excludes (Istio's traffic.sidecar.istio.io/excludeOutboundPorts and
 * excludeOutboundIPRanges annotations). A socket in a network namespace
 * without an entry is not a mesh pod's: untouched.
 */
struct pod_val {
	__u32 flags;			  /* POD_F_* */
	__u16 n_excl_ports;		  /* used entries of excl_ports */
	__u16 n_excl_cidrs;		  /* used entries of excl_net/excl_mask */
	__u16 excl_ports[POD_EXCL_PORTS]; /* host order */
	__be32 excl_net[POD_EXCL_CIDRS];  /* network order, masked */
	__be32 excl_mask[POD_EXCL_CIDRS]; /* network order */
	__u32 scope_id;			  /* 0: every service; else its Sidecar's egress scope */
};

/*
 * shunt_scope key: service port @svc_id is in egress scope @scope_id (a
 * Sidecar with egress hosts; pod_val.scope_id names it). A service port
 * outside a pod's scope is unknown to the pod: its connections are left
 * alone (ALLOW_ANY) or refused (REGISTRY_ONLY). The value is unused.
 */
struct scope_key {
	__u32 scope_id;
	__u32 svc_id;
};

/*
 * shunt_binds4 key: a Sidecar egress listener with a bind address and port
 * (the seed's 127.0.0.1:8080), for the pods of its egress scope: their
 * connections to it go to the agent, which routes them to the listener's
 * hosts. The value is a svc4_val with SVC4_F_L7 and no slots.
 */
struct bind4_key {
	__u32 scope_id;
	__be32 ip;   /* network order */
	__be16 port; /* network order */
	__u16 pad;   /* zero */
};

/* orig4.flags */
#define ORIG4_F_DIRECT (1u << 0) /* balanced in connect4 to a backend: not the agent's */

/*
 * shunt_pair4 key: the 4-tuple of a captured connection as the client sees it
 * (client = local end of the app's socket, server = the agent's listener),
 * which is the same 4-tuple, reversed, that the agent sees after accept().
 */
struct pair4_key {
	__be32 client_ip;   /* the app's source address */
	__be32 server_ip;   /* the agent's listener address */
	__be16 client_port; /* the app's source port, network order */
	__be16 server_port; /* the agent's listener port, network order */
};

/* shunt_cfg_v2 value (array, one entry): where captured connections go. */
struct shunt_cfg {
	__be32 listen_ip;   /* the agent's listener, network order; 0: no agent */
	__be16 listen_port; /* network order */
	__u16 flags;	    /* CFG_F_*; zero from agents older than the fast path */
	__u32 skip_mark;    /* sockets with this SO_MARK are never sent to the agent (its own) */
	__u32 pad2;	    /* zero */
	__u64 heartbeat_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) of the agent's last heartbeat */
	__u64 alive_ns;	    /* the agent is alive while now - heartbeat_ns < alive_ns */
};

/*
 * IPv6. A dual-stack service port has one svc_id and two VIPs: connect4
 * finds the IPv4 one in shunt_svc4_v2 (also for v4-mapped ::ffff:VIP from
 * AF_INET6 sockets), connect6 the IPv6 one in shunt_svc6, whose value is a
 * struct svc4_val with the same meaning, its n_slots counting slots of
 * shunt_be6 (keyed by struct be4_key). The maps are sized as their IPv4
 * twins (--max-services, --max-backends, --max-pairs).
 */
struct svc6_key {
	__be32 vip[4]; /* service IPv6 clusterIP, network order */
	__be16 port;   /* network order */
	__u8 proto;    /* IPPROTO_TCP */
	__u8 pad;      /* zero */
};

/* shunt_be6 value: a backend, [podIP]:targetPort. */
struct be6_val {
	__be32 ip[4];
	__be16 port; /* network order */
	__u16 pad;   /* zero */
};

/* Original destination of a socket connect6 steered natively (shunt_orig6, shunt_pair6). */
struct orig6 {
	__be32 ip[4]; /* the VIP the app asked for */
	__be16 port;  /* network order */
	__u16 flags;  /* ORIG4_F_* */
	__u32 svc_id;
};

/* shunt_pair6 key: as struct pair4_key, in IPv6. */
struct pair6_key {
	__be32 client_ip[4];
	__be32 server_ip[4];
	__be16 client_port;
	__be16 server_port;
};

/*
 * shunt_lsn6 value (array, one entry): the agent's IPv6 listener, where
 * connect6 sends native IPv6 connections to L7 services. Port 0: the agent
 * has none, and those connections are balanced in the kernel. Liveness is
 * shunt_cfg_v2's heartbeat.
 */
struct shunt_lsn6 {
	__be32 ip[4];
	__be16 port; /* network order */
	__u16 pad;   /* zero */
};

/* shunt_cfg.flags */
#define CFG_F_FAST_PATH (1u << 0) /* sockops indexes pod<->agent sockets in shunt_sock4 */

/*
 * shunt_sock4 key: a socket of a pod<->agent connection by its 4-tuple as the
 * socket itself sees it. Its peer's key is the same with local and remote
 * swapped: what the sk_msg program looks up to find where to redirect.
 */
struct sock4_key {
	__be32 local_ip;    /* network order */
	__be32 remote_ip;   /* network order */
	__be16 local_port;  /* network order */
	__be16 remote_port; /* network order */
};

/*
 * shunt_msgpath4 value (socket storage of every socket in shunt_sock4): the
 * path its data takes, chosen at its first message and kept for the life of
 * the connection. A socket that sent through the TCP stack once must never
 * redirect later: the peer reads its redirected queue before its TCP receive
 * queue, so mixing the two would reorder the byte stream.
 */
enum msg_path {
	MSG_PATH_UNDECIDED = 0, /* indexed, nothing sent yet */
	MSG_PATH_REDIRECT,	/* every message goes to the peer's ingress queue */
	MSG_PATH_STACK,		/* the peer was not indexed at the first message: TCP/IP */
};

/*
 * shunt_dns value (array, one entry): the agent's DNS resolver, where mesh
 * pods' UDP queries to port 53 go while the agent is alive (port 0: none).
 * Also the value of shunt_dnsorig (socket storage): the nameserver the app
 * asked, which recvmsg4 and getpeername4 answer instead of the agent.
 */
struct dns_addr {
	__be32 ip;   /* network order */
	__be16 port; /* network order */
	__u16 pad;   /* zero */
};

/* Indexes into shunt_stats (per-CPU array of __u64). */
enum shunt_stat {
	SHUNT_STAT_CAPTURED = 0,    /* connects rewritten to the agent */
	SHUNT_STAT_SKIPPED_MARK,    /* connects to a service VIP skipped: agent's own socket */
	SHUNT_STAT_NOT_READY,	    /* connects to an L7 service while the agent was not alive */
	SHUNT_STAT_PAIR_INDEXED,    /* captured sockets indexed by 4-tuple at ESTABLISHED */
	SHUNT_STAT_PAIR_FAILED,	    /* captured sockets whose 4-tuple could not be stored */
	SHUNT_STAT_PEER_REWRITTEN,  /* getpeername() answers rewritten to the VIP */
	SHUNT_STAT_DIRECT,	    /* connects balanced in the kernel: no L7 rule applies */
	SHUNT_STAT_FAIL_OPEN,	    /* connects to L7 services balanced in the kernel: agent dead */
	SHUNT_STAT_NO_BACKEND,	    /* connects refused: the service port has no ready backend */
	SHUNT_STAT_LISTENER_CLOSED, /* the agent's listener went away (exit, crash): fail open */
	SHUNT_STAT_NOT_MESH,	   /* connects to a service from a pod not in the mesh: untouched */
	SHUNT_STAT_EXCLUDED,	   /* connects to a service a pod excludes by port or range */
	SHUNT_STAT_EGRESS_BLOCKED, /* connects refused: REGISTRY_ONLY and not in the registry */
	SHUNT_STAT_FASTPATH_INDEXED,	/* pod<->agent sockets put in shunt_sock4 (fast path on) */
	SHUNT_STAT_FASTPATH_FAILED,	/* such sockets that could not be put there */
	SHUNT_STAT_FASTPATH_REDIRECTED, /* messages handed to the peer socket, no TCP/IP stack */
	SHUNT_STAT_FASTPATH_PASSED,	/* messages of indexed sockets sent through TCP/IP */
	SHUNT_STAT_DNS_CAPTURED, /* UDP port-53 connects/sends sent to the agent's resolver */
	SHUNT_STAT_MAX,		 /* at most SHUNT_STAT_SLOTS */
};

#endif /* SHUNT_MAPS_H */
