/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The names of ServiceEntries with resolution DNS and DNS_ROUND_ROBIN, kept
 * fresh on a thread of their own, as Envoy's STRICT_DNS and LOGICAL_DNS
 * clusters keep theirs: each name is asked of the upstream resolver (A, and
 * AAAA when asked to), again when its answer's TTL runs out; CNAMEs in an
 * answer are followed. A query that fails (timeout, SERVFAIL, REFUSED, a
 * truncated or malformed answer) keeps the last good addresses and is
 * retried with a doubling backoff; the log says once when a name starts
 * failing and once when it answers again. NXDOMAIN and an answer without
 * an address are answers: the name has no address.
 *
 * The loader reads the last good answers through resolver_name_lookup(),
 * which never blocks; when an answer changes a name's set of addresses,
 * resolver_changed_fd() becomes readable and the agent reloads its config.
 */
#ifndef SHUNT_RESOLVE_H
#define SHUNT_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "config.h"

/* Refreshes: at the answer's TTL, but not sooner than the floor nor later than the cap. A TTL
 * of 0 refreshes at Istio's meshConfig dnsRefreshRate default (Envoy's dns_refresh_rate). */
#define RESOLVE_TTL_FLOOR_MS 1000
#define RESOLVE_TTL_CAP_MS   (300 * 1000)
#define RESOLVE_TTL_ZERO_MS  (60 * 1000)
/* After a failure: 1 s, 2 s, 4 s, ... at most 30 s, until an answer comes. */
#define RESOLVE_RETRY_MIN_MS 1000
#define RESOLVE_RETRY_MAX_MS (30 * 1000)
#define RESOLVE_TIMEOUT_MS   1000 /* one query */
#define RESOLVE_START_MS     2000 /* what the first config waits for its names, at most */
#define RESOLVE_NAMES_MAX    1024 /* names tracked; more are not resolved (warning) */

struct resolver_opts {
	struct sockaddr_in upstream; /* the resolver asked */
	uint32_t mark;		     /* SO_MARK of the query socket (never captured); 0: none */
	bool ipv6;		     /* ask AAAA as well as A */
	/* 0: the RESOLVE_* defaults above (tests shorten them) */
	unsigned timeout_ms, ttl_floor_ms, ttl_cap_ms, ttl_zero_ms, retry_min_ms, retry_max_ms;
};

struct resolver_stats {
	uint64_t queries;  /* sent */
	uint64_t answers;  /* good answers (NXDOMAIN and no-address ones included) */
	uint64_t failures; /* failed attempts */
	uint64_t changes;  /* answers that changed a name's addresses */
	size_t names;	   /* (name, type) pairs tracked */
	size_t failing;	   /* of them, failing now */
};

struct resolver;

/* What one answer says: the addresses of the name asked (CNAMEs followed) and their TTL. */
struct resolve_answer {
	uint8_t addrs[CONFIG_NAME_ADDRS_MAX][16]; /* 4 bytes each for A */
	size_t n;
	uint32_t ttl;	 /* seconds: the smallest along the chain, or the negative TTL */
	const char *why; /* set when the answer is a failure (SERVFAIL, malformed, ...) */
};

/*
 * Reads @msg (@len bytes), an answer to a query for @name (lowercased) of
 * @type (DNS_T_A or DNS_T_AAAA), into @a. NXDOMAIN and NODATA are answers
 * without addresses. Pure: for the resolver thread, tests and fuzzing.
 */
void resolve_parse_answer(const uint8_t *msg, size_t len, const char *name, uint16_t type,
			  struct resolve_answer *a);

/* Starts a resolver thread asking @o->upstream. 0 or -errno; *@out on success. */
int resolver_new(const struct resolver_opts *o, struct resolver **out);

/*
 * The names to keep fresh from now on: @names (@n of them, as a config's
 * istio.dns_names lists them). New ones are asked at once; names no longer
 * in the list are forgotten. Any thread. 0, or -ENOMEM (the set is then
 * unchanged).
 */
int resolver_want(struct resolver *r, const struct config_dns_name *names, size_t n);

/*
 * The last good addresses of @name into *@out (IPv4 from the A answer, IPv6
 * from the AAAA one): 0, or -ENOENT when no good answer came yet. Any
 * thread; never blocks on the network.
 */
int resolver_lookup(struct resolver *r, const char *name, struct config_name_addrs *out);

/* resolver_lookup() as a config_name_lookup_fn, @arg being the resolver. */
int resolver_name_lookup(const char *name, struct config_name_addrs *out, void *arg);

/*
 * Waits until every wanted name had an outcome (an answer, or a failed
 * attempt), @timeout_ms at most. 0, or -ETIMEDOUT.
 */
int resolver_wait(struct resolver *r, unsigned timeout_ms);

/*
 * An eventfd that is readable once an answer changed the addresses of a
 * wanted name (a first answer included); resolver_changed() reads it and
 * says whether it was.
 */
int resolver_changed_fd(const struct resolver *r);
bool resolver_changed(struct resolver *r);

/* Counters and gauges, under the resolver's lock. */
void resolver_stats(struct resolver *r, struct resolver_stats *st);

/*
 * config_load_dir(@dir) with the names resolved, for the first config: each
 * name the load meets is asked then and waited for, @wait_ms in all at most
 * (then the load goes on without waiting), so that the first config is not
 * published with empty DNS entries when the answers come quickly. Then this
 * thread's name lookup is resolver_name_lookup(@r). @r NULL: a plain load.
 * Returns what config_load_dir() does.
 */
int resolver_load_dir(struct resolver *r, const char *dir, unsigned wait_ms, struct config **out);

/* The same for a config from elsewhere: @load(@arg, @out) instead of config_load_dir(). */
int resolver_load(struct resolver *r, int (*load)(void *arg, struct config **out), void *arg,
		  unsigned wait_ms, struct config **out);

/* Stops the thread and frees @r. NULL is fine. Loads must not use it any more. */
void resolver_free(struct resolver *r);

#endif /* SHUNT_RESOLVE_H */
