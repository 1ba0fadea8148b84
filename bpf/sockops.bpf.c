// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockops: once a captured socket is established, index its original
 * destination by 4-tuple so the agent can find it from accept().
 *
 * ACTIVE_ESTABLISHED_CB runs while the client processes the SYN-ACK, before
 * its ACK leaves, so the entry exists before the agent's accept() can return
 * the connection.
 */
#include "lib/maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline long index_captured(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct pair4_key key = {};
	struct orig4 *orig;
	__u32 l4, r4, l6, r6;
	long err;

	if (!sk)
		return 0;
	orig = bpf_sk_storage_get(&shunt_orig4, sk, 0, 0);
	if (!orig || (orig->flags & ORIG4_F_DIRECT))
		return 0; /* not captured, or balanced straight to a backend: no agent to tell */

	/*
	 * A dual-stack socket on an IPv4 path has v4-mapped addresses. Every field
	 * is read at its own constant offset, then chosen: the verifier refuses a
	 * context access at a computed one.
	 */
	l4 = skops->local_ip4;
	r4 = skops->remote_ip4;
	l6 = skops->local_ip6[3];
	r6 = skops->remote_ip6[3];
	barrier_var(l4);
	barrier_var(l6);
	key.client_ip = skops->family == AF_INET6 ? l6 : l4;
	key.server_ip = skops->family == AF_INET6 ? r6 : r4;
	key.client_port = bpf_htons((__u16)skops->local_port); /* host order in ctx */
	key.server_port = bpf_htons((__u16)bpf_ntohl(skops->remote_port));
	err = bpf_map_update_elem(&shunt_pair4, &key, orig, BPF_ANY);
	if (err) {
		stat_inc(SHUNT_STAT_PAIR_FAILED);
		return err;
	}
	stat_inc(SHUNT_STAT_PAIR_INDEXED);
	return 0;
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
	}
	return 1;
}
