// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The writer's side of the metric tables: interning label values, finding a
 * request's series, counting it. Nothing here locks or waits; a series or a
 * tuple is allocated the first time it is seen, never on later requests.
 */
#include <stdlib.h>
#include <string.h>

#include "metrics_int.h"

const uint64_t mx_bound_milli[MX_BOUNDS] = {
	500,	  1000,	     5000,	10000,	    25000,	50000,	  100000,
	250000,	  500000,    1000000,	2500000,    5000000,	10000000, 30000000,
	60000000, 300000000, 600000000, 1800000000, 3600000000,
};
const char *const mx_bound_str[MX_BOUNDS] = {
	"0.5",	"1",	"5",	 "10",	  "25",	   "50",     "100",    "250",	  "500",     "1000",
	"2500", "5000", "10000", "30000", "60000", "300000", "600000", "1800000", "3600000",
};

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ull; /* FNV-1a */
	return h;
}

static uint64_t hash_mix(uint64_t h, uint64_t v)
{
	return hash_bytes(h, &v, sizeof(v));
}

#define HASH_SEED 0xcbf29ce484222325ull

/* Adds @n to a counter only this thread writes, so that readers never see it torn. */
static inline void add(uint64_t *p, uint64_t n)
{
	__atomic_store_n(p, *p + n, __ATOMIC_RELAXED);
}

static uint64_t tuple_hash(const char *const *v, size_t n)
{
	uint64_t h = HASH_SEED;

	for (size_t i = 0; i < n; i++) {
		const char *s = v[i] ? v[i] : "unknown";

		h = hash_bytes(h, s, strlen(s) + 1); /* the NUL separates the values */
	}
	return hash_mix(h, n);
}

static bool tuple_equal(const struct mx_tup *tp, const char *const *v, size_t n)
{
	if (tp->n != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(tp->v[i], v[i] ? v[i] : "unknown"))
			return false;
	return true;
}

/* A new tuple holding copies of @v; NULL on ENOMEM. */
static struct mx_tup *tuple_alloc(const char *const *v, size_t n, uint64_t hash)
{
	size_t len = 0;
	struct mx_tup *tp;
	char *p;

	for (size_t i = 0; i < n; i++)
		len += strlen(v[i] ? v[i] : "unknown") + 1;
	tp = malloc(sizeof(*tp) + len);
	if (!tp)
		return NULL;
	tp->hash = hash;
	tp->n = (uint8_t)n;
	p = (char *)(tp + 1);
	for (size_t i = 0; i < n; i++) {
		const char *s = v[i] ? v[i] : "unknown";
		size_t k = strlen(s) + 1;

		memcpy(p, s, k);
		tp->v[i] = p;
		p += k;
	}
	return tp;
}

uint32_t mx_tuple(struct mx_table *t, const char *const *v, size_t n)
{
	uint64_t h;
	size_t mask = 2 * MX_TUPLES_MAX - 1, i;
	struct mx_tup *tp;

	if (n > MX_P_N)
		return MX_NONE;
	h = tuple_hash(v, n);
	for (i = h & mask; t->tslot[i]; i = (i + 1) & mask)
		if (t->tups[t->tslot[i]]->hash == h && tuple_equal(t->tups[t->tslot[i]], v, n))
			return t->tslot[i];
	if (t->n_tups >= MX_TUPLES_MAX)
		return MX_NONE;
	tp = tuple_alloc(v, n, h);
	if (!tp)
		return MX_NONE;
	t->tups[t->n_tups] = tp;
	t->tslot[i] = t->n_tups;
	__atomic_store_n(&t->n_tups, t->n_tups + 1, __ATOMIC_RELEASE);
	return t->tslot[i];
}

struct mx_table *mx_table_new(void)
{
	static const char *const none[MX_P_N] = {"-"};
	/* Istio's fallbacks for a peer it has no metadata of */
	static const char *const unknown[MX_P_N] = {
		[MX_P_CANON_REV] = "latest",
	};
	struct mx_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	/* Ids 0 (nothing), 1 (the unknown workload) and 2 (the unknown service). */
	t->tups[0] = tuple_alloc(none, 1, 0);
	t->n_tups = 1;
	if (!t->tups[0] || mx_tuple(t, unknown, MX_P_N) != MX_UNKNOWN_PEER ||
	    mx_tuple(t, (const char *const[MX_S_N]){0}, MX_S_N) != MX_UNKNOWN_SVC) {
		mx_table_free(t);
		return NULL;
	}
	return t;
}

void mx_table_free(struct mx_table *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->n_tups; i++)
		free(t->tups[i]);
	for (size_t i = 0; i < MX_SERIES_MAX / MX_CHUNK; i++)
		free(t->chunks[i]);
	free(t);
}

static size_t cache_slot(const void *obj)
{
	uint64_t h = (uint64_t)(uintptr_t)obj * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 40) & (MX_CACHE_SLOTS - 1);
}

uint32_t mx_cache_get(struct mx_table *t, uint64_t generation, const void *obj)
{
	if (t->cache_gen != generation) {
		/* another config: its objects are other ones, maybe at the same addresses */
		memset(t->cache, 0, sizeof(t->cache));
		t->n_cached = 0;
		t->cache_gen = generation;
		return MX_NONE;
	}
	for (size_t i = cache_slot(obj); t->cache[i].obj; i = (i + 1) & (MX_CACHE_SLOTS - 1))
		if (t->cache[i].obj == obj)
			return t->cache[i].id;
	return MX_NONE;
}

void mx_cache_put(struct mx_table *t, uint64_t generation, const void *obj, uint32_t id)
{
	size_t i;

	/* Three quarters full: what is not cached is interned again, by value. */
	if (t->cache_gen != generation || !obj || id == MX_NONE ||
	    t->n_cached >= MX_CACHE_SLOTS / 4 * 3)
		return;
	for (i = cache_slot(obj); t->cache[i].obj; i = (i + 1) & (MX_CACHE_SLOTS - 1))
		if (t->cache[i].obj == obj)
			return;
	t->cache[i].obj = obj;
	t->cache[i].id = id;
	t->n_cached++;
}

/* The series of @k, added if new; NULL when the table is full. */
static struct mx_series *series_get(struct mx_table *t, const struct mx_key *k)
{
	size_t mask = 2 * MX_SERIES_MAX - 1, i;
	uint32_t n = t->n_series;
	struct mx_series *s;

	for (i = hash_bytes(HASH_SEED, k, sizeof(*k)) & mask; t->sslot[i]; i = (i + 1) & mask) {
		s = &t->chunks[(t->sslot[i] - 1) / MX_CHUNK][(t->sslot[i] - 1) % MX_CHUNK];
		if (!memcmp(&s->key, k, sizeof(*k)))
			return s;
	}
	/* ids of this table, of the right kinds: the renderer trusts them */
	if (n >= MX_SERIES_MAX || !k->src || !k->dst || !k->svc || k->src >= t->n_tups ||
	    k->dst >= t->n_tups || k->svc >= t->n_tups || t->tups[k->src]->n != MX_P_N ||
	    t->tups[k->dst]->n != MX_P_N || t->tups[k->svc]->n != MX_S_N)
		return NULL;
	if (!t->chunks[n / MX_CHUNK]) {
		t->chunks[n / MX_CHUNK] = calloc(MX_CHUNK, sizeof(struct mx_series));
		if (!t->chunks[n / MX_CHUNK])
			return NULL;
	}
	s = &t->chunks[n / MX_CHUNK][n % MX_CHUNK];
	s->key = *k;
	s->hash = hash_mix(hash_mix(hash_mix(t->tups[k->src]->hash, t->tups[k->dst]->hash),
				    t->tups[k->svc]->hash),
			   (uint64_t)k->status << 40 | (uint64_t)k->proto << 32 | k->flags);
	t->sslot[i] = n + 1;
	__atomic_store_n(&t->n_series, n + 1, __ATOMIC_RELEASE);
	return s;
}

/* The bucket of @v (in the unit the bounds are in, times 1000). */
static size_t bucket_of(uint64_t v_milli)
{
	size_t i = 0;

	while (i < MX_BOUNDS && v_milli > mx_bound_milli[i])
		i++;
	return i;
}

static void observe(struct mx_hist *h, uint64_t v, uint64_t v_milli)
{
	add(&h->bucket[bucket_of(v_milli)], 1);
	add(&h->sum, v);
}

static void overflow(struct mx_table *t)
{
	add(&t->overflow, 1);
}

void mx_record_http(struct mx_table *t, const struct mx_labels *l, const struct mx_http_obs *o)
{
	struct mx_key k = {
		.src = l->src,
		.dst = l->dst,
		.svc = l->svc,
		.flags = o->flags,
		.status = o->status > 0 && o->status < 1000 ? (uint16_t)o->status : 0,
		.proto = o->proto == MX_GRPC ? MX_GRPC : MX_HTTP,
	};
	struct mx_series *s = series_get(t, &k);
	const uint64_t cap = UINT64_MAX / 1000;

	if (!s) {
		overflow(t);
		return;
	}
	add(&s->count, 1);
	/* The bounds are kept times 1000: for a duration in microseconds, that is its unit. */
	observe(&s->h[MX_H_DURATION], o->duration_us, o->duration_us);
	observe(&s->h[MX_H_REQ_BYTES], o->req_bytes,
		o->req_bytes < cap ? o->req_bytes * 1000 : UINT64_MAX);
	observe(&s->h[MX_H_RSP_BYTES], o->rsp_bytes,
		o->rsp_bytes < cap ? o->rsp_bytes * 1000 : UINT64_MAX);
}

void mx_record_tcp(struct mx_table *t, const struct mx_labels *l, const struct mx_tcp_obs *o)
{
	struct mx_key k = {
		.src = l->src, .dst = l->dst, .svc = l->svc, .flags = o->flags, .proto = MX_TCP};
	struct mx_series *s = series_get(t, &k);

	if (!s) {
		overflow(t);
		return;
	}
	add(&s->count, o->opened);
	add(&s->closed, o->closed);
	add(&s->sent, o->sent);
	add(&s->received, o->received);
}

uint64_t mx_overflow(const struct mx_table *t)
{
	return mx_load(&t->overflow);
}
