/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Load balancing inside one cluster (the endpoints a route destination names)
 * and the pieces the router needs around it: a per-worker RNG, the hash used
 * for consistent hashing, smooth weighted round robin for weighted
 * destinations, and outlier detection.
 *
 * Split in two on purpose: struct lb_cluster is immutable and shared by every
 * worker (endpoints, policy, hash ring), while struct lb_cluster_state and
 * struct lb_host_state are one worker's own (round-robin position, active
 * requests, consecutive errors, ejections). Nothing here locks or allocates on
 * the request path.
 *
 * Outlier detection is per worker: each worker counts the errors it sees and
 * ejects on its own. Envoy runs one detector per cluster per process; with N
 * workers a failing endpoint is ejected by each worker after it saw the
 * threshold itself, so ejection is up to N times slower to reach every
 * worker, and maxEjectionPercent holds per worker.
 */
#ifndef SHUNT_LB_H
#define SHUNT_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "istio.h"

#define LB_RING_MIN_DEFAULT	 1024	 /* Envoy's minimum_ring_size default */
#define LB_RING_MAX		 8388608 /* Envoy's maximum_ring_size default */
#define LB_OUTLIER_5XX_DEFAULT	 5	 /* Envoy's consecutive_5xx when Istio leaves it unset */
#define LB_OUTLIER_INTERVAL_MS	 10000
#define LB_OUTLIER_BASE_EJECT_MS 30000
#define LB_OUTLIER_MAX_PERCENT	 10
#define LB_OUTLIER_MAX_EJECT_MS	 300000 /* Envoy's max_ejection_time default */

/* xoshiro256** seeded through splitmix64: fast, and good enough to spread load. */
struct lb_rng {
	uint64_t s[4];
};

void lb_rng_seed(struct lb_rng *r, uint64_t seed);
uint64_t lb_rng_next(struct lb_rng *r);
/* Uniform in [0, n); n > 0. */
uint32_t lb_rng_below(struct lb_rng *r, uint32_t n);

/* 64-bit hash of @len bytes (FNV-1a with a murmur3 finaliser): ring points and request keys. */
uint64_t lb_hash(const void *p, size_t len);

/*
 * Smooth weighted round robin (nginx's): every pick adds each weight to its
 * current value, takes the largest and subtracts @total from it. Over any
 * @total consecutive picks destination i is chosen exactly @w[i] times, spread
 * evenly (5/1 gives a a a b a a, not a a a a a b). @cur holds @n values, all
 * zero at first. Returns the index picked. @total = sum of @w, > 0.
 */
size_t lb_swrr_pick(int64_t *cur, const uint32_t *w, size_t n, uint64_t total);

/*
 * Ketama-style hash ring. Each host gets the same number of points, the
 * smallest power of two >= ceil(min_size / n_hosts); a point's position is the
 * hash of "ip:port_i", so it depends on the host alone. When a host comes or
 * goes and the per-host count stays the same (it does unless n crosses a power
 * of two boundary of min_size / n), only the keys of that host's points move:
 * about 1/n of them. Envoy recomputes ceil(min/n) exactly and moves a few more.
 */
struct lb_ring_point {
	uint64_t hash; /* position on the ring */
	uint32_t host; /* host index in the cluster */
};

struct lb_ring {
	struct lb_ring_point *pts; /* sorted by hash */
	size_t n;
};

/* The key of host @i of a ring: its address. */
struct lb_ring_host {
	uint32_t ip_be;
	uint16_t port; /* host order */
};

/* Builds @ring over @n hosts (n > 0). min_size 0 means LB_RING_MIN_DEFAULT. 0 or -ENOMEM. */
int lb_ring_build(struct lb_ring *ring, const struct lb_ring_host *hosts, size_t n,
		  uint64_t min_size);
/* The index of the first point at or after @h (wrapping). */
size_t lb_ring_point(const struct lb_ring *ring, uint64_t h);
void lb_ring_free(struct lb_ring *ring);

/* Outlier detection parameters, defaults applied. */
struct lb_outlier {
	bool enabled;
	uint32_t consecutive_5xx;     /* 0: not counted */
	uint32_t consecutive_gateway; /* 502, 503, 504, connect failure; 0: not counted */
	uint64_t interval_ms;
	uint64_t base_ejection_ms;
	uint32_t max_ejection_percent;
	uint32_t min_health_percent; /* below it, balance over every host (panic); 0: never */
};

/* One cluster as every worker sees it. Host i is the i-th entry of the router's endpoint list.
 * All-zero is a cluster without hosts. */
struct lb_cluster {
	struct lb_ring *ring;		  /* NULL unless hash != LB_HASH_NONE (and hosts) */
	const struct lb_outlier *outlier; /* NULL: no outlier detection (most clusters) */
	uint32_t n_hosts;
	uint8_t simple; /* enum lb_simple; LB_UNSET is LEAST_REQUEST */
	uint8_t hash;	/* enum lb_hash_kind */
};

/* One worker's view of a cluster. All-zero is a valid start: a worker that never sends to a
 * cluster never writes its state (calloc'd pages nobody wrote are not resident). */
struct lb_cluster_state {
	uint32_t rr;	    /* next round-robin position + 1; 0: not started (lb_pick() draws it) */
	uint32_t n_ejected; /* hosts ejected now (some may be due back) */
};

/* One worker's view of a host of a cluster. All-zero is a valid start. */
struct lb_host_state {
	uint32_t active;	 /* requests picked and not done */
	uint32_t errors_5xx;	 /* consecutive */
	uint32_t errors_gateway; /* consecutive */
	uint32_t times_ejected;	 /* ejection multiplier */
	bool ejected;
	uint64_t until_ms; /* ejected: back at this time; otherwise: when it came back */
};

/* Fills @o from an Istio outlierDetection (Istio's and Envoy's defaults where unset). */
void lb_outlier_from(struct lb_outlier *o, const struct outlier_detection *od);

/*
 * Picks a host of @c for one request: hosts ejected and not due back are
 * skipped (unless the healthy share fell under minHealthPercent). With a hash
 * ring, @hash (NULL: no key in the request, then a random point, as Envoy
 * does) selects the point and the walk goes on past ejected hosts. @scratch
 * has room for c->n_hosts indexes. Returns the host index, or -1 when no host
 * can serve (none, or all ejected). Counts the request as active on the host.
 */
int lb_pick(const struct lb_cluster *c, struct lb_cluster_state *cs, struct lb_host_state *hs,
	    struct lb_rng *rng, uint64_t now_ms, const uint64_t *hash, uint32_t *scratch);

/*
 * The request lb_pick() sent to host @h is over: @status is the response
 * status, 0 for an upstream failure (connect, reset), -1 when the client left
 * first (neither success nor failure). Updates active requests and the
 * outlier counters, ejecting the host when a threshold is reached.
 */
void lb_done(const struct lb_cluster *c, struct lb_cluster_state *cs, struct lb_host_state *hs,
	     uint32_t h, int status, uint64_t now_ms);

#endif /* SHUNT_LB_H */
