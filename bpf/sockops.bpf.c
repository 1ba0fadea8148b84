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
	long err;

	if (!sk)
		return 0;
	orig = bpf_sk_storage_get(&shunt_orig4, sk, 0, 0);
	if (!orig || (orig->flags & ORIG4_F_DIRECT))
		return 0; /* not captured, or balanced straight to a backend: no agent to tell */

	key.client_ip = skops->local_ip4;
	key.client_port = bpf_htons((__u16)skops->local_port); /* host order in ctx */
	key.server_ip = skops->remote_ip4;
	key.server_port = bpf_htons((__u16)bpf_ntohl(skops->remote_port));
	err = bpf_map_update_elem(&shunt_pair4, &key, orig, BPF_ANY);
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
	if (skops->family != AF_INET)
		return 1;
	if (skops->op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		index_captured(skops);
	return 1;
}
