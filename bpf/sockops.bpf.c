// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockops: once a captured socket is established, index its original
 * destination by 4-tuple so the agent can find it from accept(); with the
 * fast path on, also put both sockets of a pod<->agent connection in
 * shunt_sock4, where the sk_msg program finds a socket's peer.
 *
 * ACTIVE_ESTABLISHED_CB runs while the client processes the SYN-ACK, before
 * its ACK leaves, so the entry exists before the agent's accept() can return
 * the connection. PASSIVE_ESTABLISHED_CB runs on the agent's side when that
 * ACK arrives, for the socket accept() will return.
 */
#include "lib/maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * The socket's own 4-tuple (network order). A dual-stack socket on an IPv4
 * path has v4-mapped addresses. Every field is read at its own constant
 * offset, then chosen: the verifier refuses a context access at a computed
 * one.
 */
static __always_inline void tuple_of(struct bpf_sock_ops *skops, struct sock4_key *t)
{
	__u32 l4, r4, l6, r6;

	l4 = skops->local_ip4;
	r4 = skops->remote_ip4;
	l6 = skops->local_ip6[3];
	r6 = skops->remote_ip6[3];
	barrier_var(l4);
	barrier_var(l6);
	t->local_ip = skops->family == AF_INET6 ? l6 : l4;
	t->remote_ip = skops->family == AF_INET6 ? r6 : r4;
	t->local_port = bpf_htons((__u16)skops->local_port); /* host order in ctx */
	t->remote_port = bpf_htons((__u16)bpf_ntohl(skops->remote_port));
}

/*
 * Puts a pod<->agent socket in shunt_sock4, its path record created first
 * (undecided): a socket without one is never redirected. 0 or -errno.
 */
static __always_inline long index_fast(struct bpf_sock_ops *skops, struct bpf_sock *sk,
				       struct sock4_key *t)
{
	__u32 *path;
	long err;

	path = bpf_sk_storage_get(&shunt_msgpath4, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!path) {
		stat_inc(SHUNT_STAT_FASTPATH_FAILED);
		return -ENOMEM;
	}
	*path = MSG_PATH_UNDECIDED;
	err = bpf_sock_hash_update(skops, &shunt_sock4, t, BPF_ANY);
	if (err) {
		stat_inc(SHUNT_STAT_FASTPATH_FAILED);
		return err;
	}
	stat_inc(SHUNT_STAT_FASTPATH_INDEXED);
	return 0;
}

static __always_inline bool fast_path_on(const struct shunt_cfg *cfg)
{
	return cfg && (cfg->flags & CFG_F_FAST_PATH) && cfg->listen_ip;
}

/* A pod's socket established towards the agent's listener (ACTIVE_ESTABLISHED). */
static __always_inline long index_captured(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	const struct shunt_cfg *cfg;
	struct pair4_key key = {};
	struct sock4_key t = {};
	struct orig4 *orig;
	long err;

	if (!sk)
		return 0;
	orig = bpf_sk_storage_get(&shunt_orig4, sk, 0, 0);
	if (!orig || (orig->flags & ORIG4_F_DIRECT))
		return 0; /* not captured, or balanced straight to a backend: no agent to tell */

	tuple_of(skops, &t);
	key.client_ip = t.local_ip;
	key.server_ip = t.remote_ip;
	key.client_port = t.local_port;
	key.server_port = t.remote_port;
	err = bpf_map_update_elem(&shunt_pair4, &key, orig, BPF_ANY);
	if (err) {
		stat_inc(SHUNT_STAT_PAIR_FAILED);
		return err;
	}
	stat_inc(SHUNT_STAT_PAIR_INDEXED);

	/* Only a connection to the agent's listener; never one of the agent's own (marked). */
	cfg = cfg_get();
	if (!fast_path_on(cfg) || t.remote_ip != cfg->listen_ip ||
	    t.remote_port != cfg->listen_port || (cfg->skip_mark && sk->mark == cfg->skip_mark))
		return 0;
	return index_fast(skops, sk, &t);
}

/* The agent's side of a connection to its listener (PASSIVE_ESTABLISHED). */
static __always_inline long index_accepted(struct bpf_sock_ops *skops)
{
	const struct shunt_cfg *cfg = cfg_get();
	struct bpf_sock *sk = skops->sk;
	struct sock4_key t = {};

	if (!sk || !fast_path_on(cfg))
		return 0;
	tuple_of(skops, &t);
	if (t.local_ip != cfg->listen_ip || t.local_port != cfg->listen_port)
		return 0; /* a backend pod accepting the agent's upstream connection, ... */
	return index_fast(skops, sk, &t);
}

/* The same for a socket connect6 steered natively to the agent's IPv6 listener. */
static __always_inline long index_captured6(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct pair6_key key = {};
	struct orig6 *orig;
	long err;

	if (!sk)
		return 0;
	orig = bpf_sk_storage_get(&shunt_orig6, sk, 0, 0);
	if (!orig || (orig->flags & ORIG4_F_DIRECT))
		return 0;
	key.client_ip[0] = skops->local_ip6[0];
	key.client_ip[1] = skops->local_ip6[1];
	key.client_ip[2] = skops->local_ip6[2];
	key.client_ip[3] = skops->local_ip6[3];
	key.server_ip[0] = skops->remote_ip6[0];
	key.server_ip[1] = skops->remote_ip6[1];
	key.server_ip[2] = skops->remote_ip6[2];
	key.server_ip[3] = skops->remote_ip6[3];
	key.client_port = bpf_htons((__u16)skops->local_port);
	key.server_port = bpf_htons((__u16)bpf_ntohl(skops->remote_port));
	err = bpf_map_update_elem(&shunt_pair6, &key, orig, BPF_ANY);
	if (err) {
		stat_inc(SHUNT_STAT_PAIR_FAILED);
		return err;
	}
	stat_inc(SHUNT_STAT_PAIR_INDEXED);
	return 0;
}

SEC("sockops")
int shunt_sockops(struct bpf_sock_ops *skops)
{
	/* AF_INET6 sockets: v4-mapped (shunt_orig4) or native (shunt_orig6). */
	if (skops->family != AF_INET && skops->family != AF_INET6)
		return 1;
	if (skops->op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB) {
		index_captured(skops);
		if (skops->family == AF_INET6)
			index_captured6(skops);
	} else if (skops->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		index_accepted(skops);
	return 1;
}
