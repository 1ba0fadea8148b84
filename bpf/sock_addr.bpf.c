// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cgroup sock_addr programs: capture at connect(), hide the capture from
 * getpeername(). Attached to the mesh cgroup; every socket of every process
 * below it passes through here.
 */
#include "lib/maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * connect() to a service VIP:port that has L7 rules goes to the agent's
 * listener instead. The original destination is stored on the socket, where
 * sockops (at ESTABLISHED) and getpeername find it. Anything else passes
 * untouched. Always returns 1: this program never refuses a connect.
 */
SEC("cgroup/connect4")
int shunt_connect4(struct bpf_sock_addr *ctx)
{
	const struct shunt_cfg *cfg;
	const struct svc4_val *svc;
	struct bpf_sock *sk = ctx->sk;
	struct svc4_key key = {};
	struct orig4 *orig;

	if (!sk || ctx->type != SOCK_STREAM || ctx->protocol != IPPROTO_TCP)
		return 1;
	/*
	 * A socket connects again after a failed connect() or an AF_UNSPEC
	 * disconnect: what it remembered from last time must not make
	 * getpeername() lie about this connection.
	 */
	bpf_sk_storage_delete(&shunt_orig4, sk);

	key.vip = ctx->user_ip4;
	key.port = (__be16)ctx->user_port;
	key.proto = IPPROTO_TCP;
	svc = bpf_map_lookup_elem(&shunt_svc4, &key);
	if (!svc || !(svc->flags & SVC4_F_L7))
		return 1;

	cfg = cfg_get();
	if (!cfg || !cfg->listen_ip) {
		stat_inc(SHUNT_STAT_NOT_READY);
		return 1;
	}
	/* The agent's own upstream sockets carry its mark: never loop them back. */
	if (cfg->skip_mark && sk->mark == cfg->skip_mark) {
		stat_inc(SHUNT_STAT_SKIPPED_MARK);
		return 1;
	}

	orig = bpf_sk_storage_get(&shunt_orig4, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!orig)
		return 1; /* cannot remember where it was going: leave it alone */
	orig->ip = key.vip;
	orig->port = key.port;
	orig->svc_id = svc->svc_id;

	ctx->user_ip4 = cfg->listen_ip;
	ctx->user_port = cfg->listen_port;
	stat_inc(SHUNT_STAT_CAPTURED);
	return 1;
}

/* getpeername() on a captured socket answers the VIP:port the app asked for. */
SEC("cgroup/getpeername4")
int shunt_peername4(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct orig4 *orig;

	if (!sk)
		return 1;
	orig = bpf_sk_storage_get(&shunt_orig4, sk, 0, 0);
	if (!orig)
		return 1;
	ctx->user_ip4 = orig->ip;
	ctx->user_port = orig->port;
	stat_inc(SHUNT_STAT_PEER_REWRITTEN);
	return 1;
}
