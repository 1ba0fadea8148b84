/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Internals of the metric tables, shared by metrics.c (the writer's side)
 * and metrics_render.c (the scrape) and nothing else. See metrics.h for the
 * threading rules.
 */
#ifndef SHUNT_METRICS_INT_H
#define SHUNT_METRICS_INT_H

#include <stdint.h>

#include "metrics.h"

/* Envoy's default histogram buckets, which Istio's histograms use: 0.5 .. 3600000. */
#define MX_BOUNDS  19
#define MX_BUCKETS (MX_BOUNDS + 1)		 /* the last one is +Inf */
extern const uint64_t mx_bound_milli[MX_BOUNDS]; /* each bound times 1000 */
extern const char *const mx_bound_str[MX_BOUNDS];

#define MX_CHUNK       256 /* series per allocation */
#define MX_CACHE_SLOTS 4096

enum mx_hist_kind {
	MX_H_DURATION, /* sum in microseconds */
	MX_H_REQ_BYTES,
	MX_H_RSP_BYTES,
	MX_H_N,
};

/* An interned tuple of label values; immutable once published. */
struct mx_tup {
	uint64_t hash; /* of the values */
	uint8_t n;
	const char *v[MX_P_N]; /* into the same allocation */
};

/* What tells series apart inside one table (tuple ids are per table). */
struct mx_key {
	uint32_t src, dst, svc;
	uint32_t flags;
	uint16_t status;
	uint8_t proto; /* enum mx_proto */
	uint8_t pad;   /* zero: keys are hashed and compared as bytes */
};

/* Counts not grouped by bucket: per bucket (not cumulative), and the sum. */
struct mx_hist {
	uint64_t bucket[MX_BUCKETS];
	uint64_t sum;
};

struct mx_series {
	struct mx_key key;
	uint64_t hash;			 /* of the label values: the same in every table */
	uint64_t count;			 /* requests; TCP: connections opened */
	uint64_t closed, sent, received; /* TCP */
	struct mx_hist h[MX_H_N];	 /* HTTP */
};

struct mx_table {
	/* published to readers */
	struct mx_series *chunks[MX_SERIES_MAX / MX_CHUNK];
	uint32_t n_series; /* release/acquire */
	struct mx_tup *tups[MX_TUPLES_MAX];
	uint32_t n_tups;   /* release/acquire */
	uint64_t overflow; /* relaxed */

	/* the writer's own */
	uint32_t sslot[2 * MX_SERIES_MAX]; /* series index + 1 by key hash; 0: free */
	uint32_t tslot[2 * MX_TUPLES_MAX]; /* tuple id by value hash; 0: free */
	struct {
		const void *obj;
		uint32_t id;
	} cache[MX_CACHE_SLOTS];
	uint32_t n_cached;
	uint64_t cache_gen;
};

/* Series @i of @t (below a count loaded with acquire). */
static inline const struct mx_series *mx_series_at(const struct mx_table *t, uint32_t i)
{
	return &t->chunks[i / MX_CHUNK][i % MX_CHUNK];
}

/* A counter, read while its writer may be adding to it. */
static inline uint64_t mx_load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

#endif /* SHUNT_METRICS_INT_H */
