// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cgroup sock_addr programs: capture at connect(), hide the capture from
 * getpeername(). Attached to the mesh cgroup; every socket of every process
 * below it passes through here.
 */
#include "lib/maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define UINT32_MAX_ID 0xffffffffu /* svc_id of the pseudo-service of shunt_ports */

/* Whether the agent is there to take a connection: it listens and its heartbeat is fresh. */
static __always_inline bool agent_alive(const struct shunt_cfg *cfg)
{
	__u64 now;

	if (!cfg || !cfg->listen_ip || !cfg->heartbeat_ns)
		return false;
	now = bpf_ktime_get_ns();
	return now - cfg->heartbeat_ns < cfg->alive_ns;
}

/*
 * One of the service port's backend slots in @be_map (shunt_be4 or
 * shunt_be6), at random; NULL when it has none.
 */
static __always_inline const void *pick_backend(void *be_map, const struct svc4_val *svc)
{
	struct be4_key key = {.svc_id = svc->svc_id};
	const void *be;

	if (!svc->n_slots)
		return NULL;
	key.slot = bpf_get_prandom_u32() % svc->n_slots;
	be = bpf_map_lookup_elem(be_map, &key);
	if (!be && key.slot) {
		/* The agent is shrinking the slots right now: slot 0 always exists. */
		key.slot = 0;
		be = bpf_map_lookup_elem(be_map, &key);
	}
	return be;
}

/* The socket's pod, by the cookie of its network namespace (one per pod on a node). */
static __always_inline const struct pod_val *pod_of(struct bpf_sock_addr *ctx)
{
	__u64 cookie = bpf_get_netns_cookie(ctx);

	return bpf_map_lookup_elem(&shunt_pods_v2, &cookie);
}

/*
 * Whether @pod excludes port @port (network order) or, for an IPv4
 * destination (@v4), address @ip from the mesh. Excluded ranges are IPv4.
 */
static __always_inline bool pod_excludes(const struct pod_val *pod, __be32 ip, __be16 port, bool v4)
{
	__u16 hport = bpf_ntohs(port);

	for (int i = 0; i < POD_EXCL_PORTS; i++)
		if (i < pod->n_excl_ports && pod->excl_ports[i] == hport)
			return true;
	for (int i = 0; v4 && i < POD_EXCL_CIDRS; i++)
		if (i < pod->n_excl_cidrs && (ip & pod->excl_mask[i]) == pod->excl_net[i])
			return true;
	return false;
}

/* Whether the socket's pod is in the mesh and does not exclude the destination. */
static __always_inline bool pod_steers(struct bpf_sock_addr *ctx, __be32 ip, __be16 port, bool v4)
{
	const struct pod_val *pod = pod_of(ctx);

	if (!pod || !(pod->flags & POD_F_MESH)) {
		stat_inc(SHUNT_STAT_NOT_MESH);
		return false;
	}
	if (pod_excludes(pod, ip, port, v4)) {
		stat_inc(SHUNT_STAT_EXCLUDED);
		return false;
	}
	return true;
}

/*
 * A connect() to a destination that is no service: allowed (1), unless the
 * socket's pod is in the mesh with outboundTrafficPolicy REGISTRY_ONLY and
 * the destination is not in the registry (@known: an endpoint of a headless
 * service), not loopback (@loopback) and not excluded: then refused at once
 * (0: EPERM), as Istio's BlackHoleCluster refuses it, rather than left to
 * time out.
 */
static __always_inline int egress(struct bpf_sock_addr *ctx, bool known, bool loopback, __be32 ip,
				  __be16 port, bool v4)
{
	const struct pod_val *pod;

	if (loopback || known)
		return 1;
	pod = pod_of(ctx);
	if (!pod ||
	    (pod->flags & (POD_F_MESH | POD_F_REGISTRY_ONLY)) != (POD_F_MESH | POD_F_REGISTRY_ONLY))
		return 1;
	if (pod_excludes(pod, ip, port, v4))
		return 1;
	stat_inc(SHUNT_STAT_EGRESS_BLOCKED);
	return 0;
}

/* What connect() does with a socket headed for a service port. */
enum verdict {
	V_PASS,	   /* untouched */
	V_AGENT,   /* to the agent's listener */
	V_BACKEND, /* balanced here, straight to a backend */
};

/*
 * The part of the decision both families share, for a TCP socket headed for
 * service port @svc at @ip4 (IPv4 only, for exclusions) and @port. The
 * agent's own upstream sockets carry its mark: they go where the agent
 * chose, never back to it nor anywhere else. @agent_listens: the agent has a
 * listener of this family.
 */
static __always_inline enum verdict decide(struct bpf_sock_addr *ctx, const struct svc4_val *svc,
					   __be32 ip4, __be16 port, bool v4, bool agent_listens)
{
	const struct shunt_cfg *cfg = cfg_get();
	struct bpf_sock *sk = ctx->sk;

	if (!sk)
		return V_PASS;
	if (cfg && cfg->skip_mark && sk->mark == cfg->skip_mark) {
		stat_inc(SHUNT_STAT_SKIPPED_MARK);
		return V_PASS;
	}
	if (!pod_steers(ctx, ip4, port, v4))
		return V_PASS;
	if (svc->flags & SVC4_F_L7) {
		if (agent_listens && agent_alive(cfg))
			return V_AGENT;
		stat_inc(SHUNT_STAT_NOT_READY);
	}
	return V_BACKEND;
}

/* The pseudo-service of a port captured whatever the address (shunt_ports), or NULL. */
static __always_inline const struct svc4_val *by_port(__be16 port)
{
	struct port_key key = {.port = port, .proto = IPPROTO_TCP};

	return bpf_map_lookup_elem(&shunt_ports, &key);
}

/* The pseudo-service of the socket's pod's egress listener bound to @ip:@port, or NULL. */
static __always_inline const struct svc4_val *by_bind(struct bpf_sock_addr *ctx, __be32 ip,
						      __be16 port)
{
	const struct pod_val *pod = pod_of(ctx);
	struct bind4_key key = {.ip = ip, .port = port};

	if (!pod || !pod->scope_id)
		return NULL;
	key.scope_id = pod->scope_id;
	return bpf_map_lookup_elem(&shunt_binds4, &key);
}

/*
 * Whether service port @svc is outside the egress scope of the socket's pod
 * (its Sidecar's egress hosts): the pod does not know it, as if it were no
 * service. Ports captured whatever the address are left to the agent.
 */
static __always_inline bool out_of_scope(struct bpf_sock_addr *ctx, const struct svc4_val *svc)
{
	const struct pod_val *pod;
	struct scope_key key;

	if (svc->svc_id == UINT32_MAX_ID)
		return false;
	pod = pod_of(ctx);
	if (!pod || !pod->scope_id)
		return false;
	key.scope_id = pod->scope_id;
	key.svc_id = svc->svc_id;
	return !bpf_map_lookup_elem(&shunt_scope, &key);
}

static __always_inline bool tcp_stream(const struct bpf_sock_addr *ctx)
{
	return ctx->sk && ctx->type == SOCK_STREAM && ctx->protocol == IPPROTO_TCP;
}

/*
 * Where a connect() to @vip:@port (network order) goes: the agent, a
 * backend, nowhere (0: refuse, EPERM) or unchanged (1 with *@ip, *@port
 * untouched). The body of connect4 and of connect6 for v4-mapped addresses.
 */
static __always_inline int steer4(struct bpf_sock_addr *ctx, __be32 *ip, __u32 *port)
{
	const struct shunt_cfg *cfg;
	const struct svc4_val *svc;
	const struct be4_val *be = NULL;
	struct svc4_key key = {};
	struct orig4 *orig;
	bool any_addr = false;
	enum verdict v;

	if (!tcp_stream(ctx))
		return 1;
	/*
	 * A socket connects again after a failed connect() or an AF_UNSPEC
	 * disconnect: what it remembered from last time must not make
	 * getpeername() lie about this connection.
	 */
	bpf_sk_storage_delete(&shunt_orig4, ctx->sk);
	bpf_sk_storage_delete(&shunt_orig6, ctx->sk);

	key.vip = *ip;
	key.port = (__be16)*port;
	key.proto = IPPROTO_TCP;
	svc = bpf_map_lookup_elem(&shunt_svc4_v2, &key);
	if (svc && out_of_scope(ctx, svc))
		svc = NULL;
	if (!svc) {
		/* A pod's loopback is its own, bar its egress listeners' binds (as Istio's
		 * iptables leave 127.0.0.1 alone). */
		svc = by_bind(ctx, key.vip, key.port);
		if (!svc && (bpf_ntohl(key.vip) >> 24) != 127)
			svc = by_port(key.port);
		any_addr = true;
	}
	cfg = cfg_get();
	v = svc ? decide(ctx, svc, key.vip, key.port, true, cfg && cfg->listen_ip) : V_BACKEND;
	if (v == V_BACKEND && any_addr) /* no service, and no agent to ask by name */
		return egress(ctx, bpf_map_lookup_elem(&shunt_known4, &key.vip),
			      (bpf_ntohl(key.vip) >> 24) == 127, key.vip, key.port, true);
	if (v == V_PASS || (v == V_BACKEND && (svc->flags & SVC4_F_PASSTHROUGH)))
		return 1;
	if (v == V_BACKEND) {
		be = pick_backend(&shunt_be4, svc);
		if (!be) {
			stat_inc(SHUNT_STAT_NO_BACKEND);
			return 0; /* EPERM now, not a timeout later */
		}
	}
	orig = bpf_sk_storage_get(&shunt_orig4, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!orig && v == V_AGENT)
		return 1; /* cannot remember where it was going: leave it alone */
	if (orig) {
		orig->ip = key.vip;
		orig->port = key.port;
		orig->flags = v == V_AGENT ? 0 : ORIG4_F_DIRECT;
		orig->svc_id = svc->svc_id;
	}
	if (v == V_AGENT && cfg) {
		*ip = cfg->listen_ip;
		*port = cfg->listen_port;
		stat_inc(SHUNT_STAT_CAPTURED);
		return 1;
	}
	if (!be)
		return 1;
	*ip = be->ip;
	*port = be->port;
	stat_inc(svc->flags & SVC4_F_L7 ? SHUNT_STAT_FAIL_OPEN : SHUNT_STAT_DIRECT);
	return 1;
}

/*
 * connect() to a service VIP:port. With L7 rules and a live agent, the
 * connection goes to the agent's listener; otherwise it is balanced here,
 * straight to a backend (podIP:targetPort), and the agent is not on the path
 * at all: a service no L7 rule touches, or any service while the agent is dead
 * (fail open: L7 rules are skipped, traffic keeps flowing). Either way the
 * original destination is stored on the socket so getpeername() answers the
 * VIP. The agent's own sockets (SO_MARK) and anything that is no service
 * pass untouched (or are refused, for a REGISTRY_ONLY pod). A service port
 * without a ready backend is refused at once (EPERM) rather than left to
 * time out against an unroutable VIP.
 */
/*
 * A mesh pod's UDP query to a nameserver (port 53), by connect() or by
 * sendmsg(): to the agent's resolver while it is alive, the nameserver asked
 * kept on the socket for recvmsg4 and getpeername4. The agent's own sockets,
 * other pods' and a dead agent's moments are left alone.
 */
static __always_inline void steer_dns(struct bpf_sock_addr *ctx)
{
	const struct shunt_cfg *cfg = cfg_get();
	const struct pod_val *pod;
	const struct dns_addr *dns;
	struct dns_addr *orig;
	__u32 zero = 0;

	if (!ctx->sk || ctx->type != SOCK_DGRAM || ctx->user_port != bpf_htons(53))
		return;
	dns = bpf_map_lookup_elem(&shunt_dns, &zero);
	if (!dns || !dns->port || !agent_alive(cfg) ||
	    (cfg->skip_mark && ctx->sk->mark == cfg->skip_mark))
		return;
	pod = pod_of(ctx);
	if (!pod || !(pod->flags & POD_F_MESH))
		return;
	orig = bpf_sk_storage_get(&shunt_dnsorig, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!orig)
		return;
	orig->ip = ctx->user_ip4;
	orig->port = (__be16)ctx->user_port;
	ctx->user_ip4 = dns->ip;
	ctx->user_port = dns->port;
	stat_inc(SHUNT_STAT_DNS_CAPTURED);
}

SEC("cgroup/connect4")
int shunt_connect4(struct bpf_sock_addr *ctx)
{
	__be32 ip = ctx->user_ip4;
	__u32 port = ctx->user_port;
	int ret;

	if (ctx->type == SOCK_DGRAM) {
		steer_dns(ctx);
		return 1;
	}
	ret = steer4(ctx, &ip, &port);

	if (ip != ctx->user_ip4)
		ctx->user_ip4 = ip;
	if (port != ctx->user_port)
		ctx->user_port = port;
	return ret;
}

/* ::ffff:a.b.c.d, an IPv4 address in an AF_INET6 socket's clothes. */
static __always_inline bool v4mapped(const __u32 ip6[4])
{
	return !ip6[0] && !ip6[1] && ip6[2] == bpf_htonl(0x0000ffff);
}

static __always_inline bool loopback6(const __u32 ip6[4])
{
	return !ip6[0] && !ip6[1] && !ip6[2] && ip6[3] == bpf_htonl(1);
}

/* The IPv6 destination is written back word by word: the context takes 32-bit stores only. */
static __always_inline void set_ip6(struct bpf_sock_addr *ctx, const __u32 ip6[4])
{
	ctx->user_ip6[0] = ip6[0];
	ctx->user_ip6[1] = ip6[1];
	ctx->user_ip6[2] = ip6[2];
	ctx->user_ip6[3] = ip6[3];
}

/* As steer4, for a native IPv6 destination @ip6 (connect6). */
static __always_inline int steer6(struct bpf_sock_addr *ctx, const __u32 ip6[4])
{
	const struct shunt_lsn6 *lsn;
	const struct svc4_val *svc;
	const struct be6_val *be = NULL;
	struct svc6_key key = {};
	struct orig6 *orig;
	bool any_addr = false;
	enum verdict v;
	__u32 zero = 0;

	if (!tcp_stream(ctx))
		return 1;
	bpf_sk_storage_delete(&shunt_orig4, ctx->sk);
	bpf_sk_storage_delete(&shunt_orig6, ctx->sk);

	__builtin_memcpy(key.vip, ip6, sizeof(key.vip));
	key.port = (__be16)ctx->user_port;
	key.proto = IPPROTO_TCP;
	svc = bpf_map_lookup_elem(&shunt_svc6, &key);
	if (svc && out_of_scope(ctx, svc))
		svc = NULL;
	if (!svc) {
		if (!loopback6(ip6))
			svc = by_port(key.port);
		any_addr = true;
	}
	lsn = bpf_map_lookup_elem(&shunt_lsn6, &zero);
	v = svc ? decide(ctx, svc, 0, key.port, false, lsn && lsn->port) : V_BACKEND;
	if (v == V_BACKEND && any_addr)
		return egress(ctx, bpf_map_lookup_elem(&shunt_known6, key.vip), loopback6(ip6), 0,
			      key.port, false);
	if (v == V_PASS || (v == V_BACKEND && (svc->flags & SVC4_F_PASSTHROUGH)))
		return 1;
	if (v == V_BACKEND) {
		be = pick_backend(&shunt_be6, svc);
		if (!be) {
			stat_inc(SHUNT_STAT_NO_BACKEND);
			return 0;
		}
	}
	orig = bpf_sk_storage_get(&shunt_orig6, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!orig && v == V_AGENT)
		return 1;
	if (orig) {
		__builtin_memcpy(orig->ip, key.vip, sizeof(orig->ip));
		orig->port = key.port;
		orig->flags = v == V_AGENT ? 0 : ORIG4_F_DIRECT;
		orig->svc_id = svc->svc_id;
	}
	if (v == V_AGENT && lsn) {
		set_ip6(ctx, lsn->ip);
		ctx->user_port = lsn->port;
		stat_inc(SHUNT_STAT_CAPTURED);
		return 1;
	}
	if (!be)
		return 1;
	set_ip6(ctx, be->ip);
	ctx->user_port = be->port;
	stat_inc(svc->flags & SVC4_F_L7 ? SHUNT_STAT_FAIL_OPEN : SHUNT_STAT_DIRECT);
	return 1;
}

/*
 * connect() from an AF_INET6 socket. A native IPv6 destination is a dual-stack
 * or IPv6 service's VIP (shunt_svc6), steered as connect4 steers IPv4: to the
 * agent's IPv6 listener, or straight to a backend's IPv6 address. A dual-stack
 * app (Java, Go with "tcp", anything that opens AF_INET6 and lets v4
 * addresses be mapped) reaches an IPv4 service at ::ffff:VIP: the same
 * service as connect4 sees, steered the same way, the mapped form kept.
 */
SEC("cgroup/connect6")
int shunt_connect6(struct bpf_sock_addr *ctx)
{
	__u32 ip6[4] = {ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3]};
	__be32 ip;
	__u32 port = ctx->user_port;
	int ret;

	if (!v4mapped(ip6))
		return steer6(ctx, ip6);
	ip = ip6[3];
	ret = steer4(ctx, &ip, &port);
	if (ip != ip6[3])
		ctx->user_ip6[3] = ip;
	if (port != ctx->user_port)
		ctx->user_port = port;
	return ret;
}

/* sendmsg() with an address on an unconnected UDP socket: DNS queries as in connect4. */
SEC("cgroup/sendmsg4")
int shunt_sendmsg4(struct bpf_sock_addr *ctx)
{
	steer_dns(ctx);
	return 1;
}

/*
 * recvmsg() on a UDP socket whose queries went to the agent's resolver: the
 * answers seem to come from the nameserver asked, as resolvers check.
 */
SEC("cgroup/recvmsg4")
int shunt_recvmsg4(struct bpf_sock_addr *ctx)
{
	const struct dns_addr *dns, *orig;
	__u32 zero = 0;

	if (!ctx->sk)
		return 1;
	orig = bpf_sk_storage_get(&shunt_dnsorig, ctx->sk, 0, 0);
	dns = bpf_map_lookup_elem(&shunt_dns, &zero);
	if (!orig || !dns || ctx->user_ip4 != dns->ip || ctx->user_port != dns->port)
		return 1;
	ctx->user_ip4 = orig->ip;
	ctx->user_port = orig->port;
	return 1;
}

/* getpeername() on a captured socket answers the VIP:port the app asked for. */
SEC("cgroup/getpeername4")
int shunt_peername4(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct dns_addr *dorig;
	struct orig4 *orig;

	if (!sk)
		return 1;
	orig = bpf_sk_storage_get(&shunt_orig4, sk, 0, 0);
	if (!orig) {
		dorig = bpf_sk_storage_get(&shunt_dnsorig, sk, 0, 0);
		if (dorig) {
			ctx->user_ip4 = dorig->ip;
			ctx->user_port = dorig->port;
		}
		return 1;
	}
	ctx->user_ip4 = orig->ip;
	ctx->user_port = orig->port;
	stat_inc(SHUNT_STAT_PEER_REWRITTEN);
	return 1;
}

/*
 * getpeername() on a steered AF_INET6 socket answers [VIP]:port for a native
 * IPv6 service, ::ffff:VIP:port for an IPv4 one reached v4-mapped.
 */
SEC("cgroup/getpeername6")
int shunt_peername6(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct orig4 *orig;
	struct orig6 *o6;

	if (!sk)
		return 1;
	o6 = bpf_sk_storage_get(&shunt_orig6, sk, 0, 0);
	if (o6) {
		set_ip6(ctx, o6->ip);
		ctx->user_port = o6->port;
		stat_inc(SHUNT_STAT_PEER_REWRITTEN);
		return 1;
	}
	orig = bpf_sk_storage_get(&shunt_orig4, sk, 0, 0);
	if (!orig)
		return 1;
	ctx->user_ip6[0] = 0;
	ctx->user_ip6[1] = 0;
	ctx->user_ip6[2] = bpf_htonl(0x0000ffff);
	ctx->user_ip6[3] = orig->ip;
	ctx->user_port = orig->port;
	stat_inc(SHUNT_STAT_PEER_REWRITTEN);
	return 1;
}

/*
 * The agent's listening socket is released: the agent exits or has crashed
 * (kill -9 closes its sockets too). Its heartbeat is void from this instant,
 * not KERN_ALIVE_MS later, so no connect() is sent to a closed port: the next
 * one is balanced in the kernel. Attached to the agent's own cgroup, whose
 * sockets these are.
 */
SEC("cgroup/sock_release")
int shunt_release(struct bpf_sock *sk)
{
	struct shunt_cfg *cfg;
	__u64 cookie;
	__u32 key = 0;

	/* Addresses are not readable here: the agent named its listeners by cookie. */
	if ((sk->family != AF_INET && sk->family != AF_INET6) || sk->protocol != IPPROTO_TCP ||
	    sk->state != BPF_TCP_LISTEN)
		return 1;
	cookie = bpf_get_socket_cookie(sk);
	if (!bpf_map_lookup_elem(&shunt_listeners, &cookie))
		return 1;
	bpf_map_delete_elem(&shunt_listeners, &cookie);
	cfg = bpf_map_lookup_elem(&shunt_cfg_v2, &key);
	if (cfg)
		cfg->heartbeat_ns = 0;
	stat_inc(SHUNT_STAT_LISTENER_CLOSED);
	return 1;
}
