/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The agent's DNS resolver for mesh pods, as Istio's DNS proxying does it:
 * the kernel sends a mesh pod's UDP queries to port 53 here (sendmsg4,
 * connect4, recvmsg4 restore the nameserver's address); names the registry
 * knows are answered from the config, everything else is forwarded to the
 * upstream resolver unchanged and its answer relayed.
 */
#ifndef SHUNT_DNS_H
#define SHUNT_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "dns_msg.h"

struct config;
struct loop;
struct snapshot_store;

#define DNS_TTL 30 /* seconds, for answers from the registry */

enum dns_verdict {
	DNS_ANSWER,  /* @out holds the answer */
	DNS_FORWARD, /* not a registry name: ask the upstream resolver */
};

/*
 * Answers query @q (@qlen bytes) from @cfg when it asks for a registry name:
 *   NAME.NS.svc.cluster.local (also NAME.NS.svc and NAME.NS when that service
 *   exists): the service's VIP, A for IPv4, AAAA for IPv6; a service without a
 *   VIP (headless): its ready endpoints;
 *   a ServiceEntry host (exact or by wildcard) with addresses: its VIPs;
 *   any other name under cluster.local: NXDOMAIN.
 * A registry name without an address of the asked type: no answer (NODATA).
 * A malformed query is answered FORMERR, an unsupported opcode NOTIMP.
 * Returns DNS_ANSWER with the message in @out (@cap bytes, *@out_len set), or
 * DNS_FORWARD.
 */
enum dns_verdict dns_answer(const struct config *cfg, const uint8_t *q, size_t qlen, uint8_t *out,
			    size_t cap, size_t *out_len);

struct dns_server;

/*
 * A resolver on @listen (UDP) in @loop, answering from the current snapshot
 * of @store, forwarding to @upstream (sin_port 0: nowhere, such queries get
 * SERVFAIL) from sockets marked @mark. 0 or -errno; *@out on success.
 */
int dns_server_new(struct loop *loop, const struct sockaddr_in *listen,
		   const struct sockaddr_in *upstream, uint32_t mark, struct snapshot_store *store,
		   struct dns_server **out);
void dns_server_free(struct dns_server *d);

/* Counters: queries answered from the registry, forwarded, failed (timeouts, errors). */
void dns_server_stats(const struct dns_server *d, uint64_t *answered, uint64_t *forwarded,
		      uint64_t *failed);

#endif /* SHUNT_DNS_H */
