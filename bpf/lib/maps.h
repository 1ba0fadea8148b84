/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps every shunt program shares. Each program object includes this
 * header; the maps are pinned by name, so the first object the agent loads
 * creates them and the others reuse the pinned ones.
 */
#ifndef SHUNT_BPF_MAPS_H
#define SHUNT_BPF_MAPS_H

/*
 * The programs read only their context structs (bpf_sock_addr, bpf_sock_ops, bpf_sock,
 * sk_msg_md): UAPI, whose layout the kernel keeps stable. Without CO-RE relocations on them,
 * libbpf never loads the kernel's BTF (5 MiB, parsed twice over at every load: most of the
 * agent's peak memory with a small config). A program that reads a kernel-internal struct
 * asks for relocations where it reads (BPF_CORE_READ()), not for every struct.
 */
#define BPF_NO_PRESERVE_ACCESS_INDEX
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "shunt_maps.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#ifndef IPPROTO_TCP
#define IPPROTO_TCP 6
#endif
#ifndef ENOMEM
#define ENOMEM 12
#endif
#ifndef SOCK_STREAM
#define SOCK_STREAM 1
#endif

/* Service VIP:port -> what to do at connect(). Written by the agent only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_SVC4_MAX);
	__type(key, struct svc4_key);
	__type(value, struct svc4_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_svc4_v2 SEC(".maps");

/* Backend slots of each service port, for balancing in connect4. Written by the agent only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_BE4_MAX);
	__type(key, struct be4_key);
	__type(value, struct be4_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_be4 SEC(".maps");

/*
 * Original destination per captured socket. Socket-local storage: it lives
 * and dies with the socket, so a closed connection leaves nothing behind.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct orig4);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_orig4 SEC(".maps");

/*
 * Original destination per established 4-tuple, for the agent's accept().
 * The agent deletes the entry when it takes it; LRU evicts what a client
 * that died between SYN-ACK and accept() left behind.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SHUNT_PAIR4_MAX);
	__type(key, struct pair4_key);
	__type(value, struct orig4);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_pair4 SEC(".maps");

/* Where captured connections go; written by the agent once it listens. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct shunt_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_cfg_v2 SEC(".maps");

/*
 * The agent's listening sockets, by socket cookie (value unused): when one is
 * released, the agent is going or gone.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_LSN_MAX);
	__type(key, __u64);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_listeners SEC(".maps");

/* Mesh pods by network-namespace cookie; written by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_PODS_MAX);
	__type(key, __u64);
	__type(value, struct pod_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_pods_v2 SEC(".maps");

/*
 * Destinations in the registry besides service VIPs (endpoints of headless
 * services, ServiceEntry addresses), for REGISTRY_ONLY pods. Written by the
 * agent; the value is unused.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_KNOWN4_MAX);
	__type(key, __be32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_known4 SEC(".maps");

/* ---- IPv6 twins of the maps above (see include/shunt_maps.h) ---- */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_SVC4_MAX);
	__type(key, struct svc6_key);
	__type(value, struct svc4_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_svc6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_BE4_MAX);
	__type(key, struct be4_key);
	__type(value, struct be6_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_be6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct orig6);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_orig6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SHUNT_PAIR4_MAX);
	__type(key, struct pair6_key);
	__type(value, struct orig6);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_pair6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct shunt_lsn6);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_lsn6 SEC(".maps");

/* IPv6 addresses in the registry besides VIPs (headless services' endpoints). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_KNOWN4_MAX);
	__type(key, struct in6_addr);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_known6 SEC(".maps");

/* Which service ports each Sidecar egress scope lets its pods see (struct scope_key). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_SCOPE_MAX);
	__type(key, struct scope_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_scope SEC(".maps");

/* Sidecar egress listeners with a bind address, per scope (struct bind4_key). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_BINDS_MAX);
	__type(key, struct bind4_key);
	__type(value, struct svc4_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_binds4 SEC(".maps");

/* The agent's DNS resolver (struct dns_addr); written by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dns_addr);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_dns SEC(".maps");

/* Per UDP socket whose queries went to the agent: the nameserver it asked. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct dns_addr);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_dnsorig SEC(".maps");

/* Ports captured whatever the address (see struct port_key). Written by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHUNT_PORTS_MAX);
	__type(key, struct port_key);
	__type(value, struct svc4_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_ports SEC(".maps");

/*
 * The same-node fast path: both sockets of each pod<->agent connection, by
 * their own 4-tuple (struct sock4_key), while shuntd --fast-path on. The
 * sk_msg program attached to it hands a message to the peer's ingress queue.
 * Filled by sockops at ESTABLISHED; a socket leaves on close by itself. The
 * value is the socket (as a u64, so that user space reads its cookie).
 */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, SHUNT_SOCK4_MAX);
	__type(key, struct sock4_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_sock4 SEC(".maps");

/*
 * Per socket of shunt_sock4: which path its data takes (enum msg_path),
 * created by sockops before the socket is indexed, decided by the sk_msg
 * program at the first message. Socket storage: freed with the socket.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_msgpath4 SEC(".maps");

/* Kernel-path counters, per CPU; shuntctl and /stats sum them. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SHUNT_STAT_SLOTS); /* room for counters to come: same layout */
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shunt_stats_v3 SEC(".maps");

static __always_inline void stat_inc(enum shunt_stat idx)
{
	__u32 key = idx;
	__u64 *val = bpf_map_lookup_elem(&shunt_stats_v3, &key);

	if (val)
		*val += 1;
}

static __always_inline const struct shunt_cfg *cfg_get(void)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(&shunt_cfg_v2, &key);
}

#endif /* SHUNT_BPF_MAPS_H */
