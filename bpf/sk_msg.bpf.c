// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sk_msg: the same-node fast path (shuntd --fast-path on). Attached to
 * shunt_sock4, it runs on every sendmsg() of a socket sockops put there (a
 * pod's socket to the agent, or the agent's accepted socket) and hands the
 * data straight to the peer socket's ingress queue, skipping TCP/IP, the veth
 * and the bridge (Merbridge's approach). A socket whose peer is not indexed
 * at its first message sends through the stack for the rest of its life.
 */
#include "lib/maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * The peer's key: the sender's 4-tuple with local and remote swapped. Every
 * field at its constant offset, then chosen (as in sockops).
 */
static __always_inline void peer_of(struct sk_msg_md *msg, struct sock4_key *p)
{
	__u32 l4, r4, l6, r6;

	l4 = msg->local_ip4;
	r4 = msg->remote_ip4;
	l6 = msg->local_ip6[3];
	r6 = msg->remote_ip6[3];
	barrier_var(l4);
	barrier_var(l6);
	p->local_ip = msg->family == AF_INET6 ? r6 : r4;
	p->remote_ip = msg->family == AF_INET6 ? l6 : l4;
	p->local_port = bpf_htons((__u16)bpf_ntohl(msg->remote_port));
	p->remote_port = bpf_htons((__u16)msg->local_port); /* host order in ctx */
}

SEC("sk_msg")
int shunt_msg(struct sk_msg_md *msg)
{
	struct sock4_key peer = {};
	struct bpf_sock *sk = msg->sk;
	__u32 *path;

	if (!sk)
		return SK_PASS;
	path = bpf_sk_storage_get(&shunt_msgpath4, sk, 0, 0);
	if (!path || *path == MSG_PATH_STACK) {
		stat_inc(SHUNT_STAT_FASTPATH_PASSED);
		return SK_PASS;
	}
	peer_of(msg, &peer);
	if (bpf_msg_redirect_hash(msg, &shunt_sock4, &peer, BPF_F_INGRESS) == SK_PASS) {
		*path = MSG_PATH_REDIRECT;
		stat_inc(SHUNT_STAT_FASTPATH_REDIRECTED);
		return SK_PASS;
	}
	/*
	 * No peer: at the first message, the agent's side was not established
	 * yet; later, the peer closed (it left the map) and TCP says so.
	 */
	if (*path == MSG_PATH_UNDECIDED)
		*path = MSG_PATH_STACK;
	stat_inc(SHUNT_STAT_FASTPATH_PASSED);
	return SK_PASS;
}
