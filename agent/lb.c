// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Endpoint choice inside a cluster: round robin, random, least request (power
 * of two choices), ring hash, and consecutive-error outlier detection. See
 * lb.h for what is shared and what is per worker.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void lb_rng_seed(struct lb_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t lb_rng_next(struct lb_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

uint32_t lb_rng_below(struct lb_rng *r, uint32_t n)
{
	/* Lemire's multiply-shift: the bias for n far below 2^32 is negligible here. */
	return (uint32_t)(((lb_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

uint64_t lb_hash(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	/* FNV alone leaves short similar keys ("10.0.0.1:80_1", "_2") close together. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

size_t lb_swrr_pick(int64_t *cur, const uint32_t *w, size_t n, uint64_t total)
{
	size_t best = 0;

	for (size_t i = 0; i < n; i++) {
		cur[i] += w[i];
		if (cur[i] > cur[best])
			best = i;
	}
	cur[best] -= (int64_t)total;
	return best;
}

static int point_cmp(const void *a, const void *b)
{
	const struct lb_ring_point *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->host < y->host ? -1 : x->host > y->host;
}

int lb_ring_build(struct lb_ring *ring, const struct lb_ring_host *hosts, size_t n,
		  uint64_t min_size)
{
	uint64_t want, per_host = 1;
	char key[48];

	memset(ring, 0, sizeof(*ring));
	if (!n)
		return 0;
	if (!min_size)
		min_size = LB_RING_MIN_DEFAULT;
	if (min_size > LB_RING_MAX)
		min_size = LB_RING_MAX;
	want = (min_size + n - 1) / n;
	while (per_host < want)
		per_host <<= 1;
	while (per_host > 1 && per_host * n > LB_RING_MAX)
		per_host >>= 1;

	ring->pts = calloc(per_host * n, sizeof(*ring->pts));
	if (!ring->pts)
		return -ENOMEM;
	for (size_t h = 0; h < n; h++) {
		const unsigned char *ip = (const unsigned char *)&hosts[h].ip_be;

		for (uint64_t i = 0; i < per_host; i++) {
			int len = snprintf(key, sizeof(key), "%u.%u.%u.%u:%u_%llu", ip[0], ip[1],
					   ip[2], ip[3], hosts[h].port, (unsigned long long)i);

			ring->pts[ring->n].hash = lb_hash(key, (size_t)len);
			ring->pts[ring->n++].host = (uint32_t)h;
		}
	}
	qsort(ring->pts, ring->n, sizeof(*ring->pts), point_cmp);
	return 0;
}

size_t lb_ring_point(const struct lb_ring *ring, uint64_t h)
{
	size_t lo = 0, hi = ring->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ring->pts[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == ring->n ? 0 : lo;
}

void lb_ring_free(struct lb_ring *ring)
{
	free(ring->pts);
	memset(ring, 0, sizeof(*ring));
}

void lb_outlier_from(struct lb_outlier *o, const struct outlier_detection *od)
{
	memset(o, 0, sizeof(*o));
	if (!od || !od->set)
		return;
	o->enabled = true;
	/* Istio leaves consecutive_5xx to Envoy's default (5, enforced) when unset; 0 disables. */
	o->consecutive_5xx =
		od->has_consecutive_5xx ? od->consecutive_5xx_errors : LB_OUTLIER_5XX_DEFAULT;
	o->consecutive_gateway = od->consecutive_gateway_errors;
	o->interval_ms = od->interval_ms ? od->interval_ms : LB_OUTLIER_INTERVAL_MS;
	o->base_ejection_ms =
		od->base_ejection_ms ? od->base_ejection_ms : LB_OUTLIER_BASE_EJECT_MS;
	/* Istio passes maxEjectionPercent only when > 0: 0 is Envoy's default. */
	o->max_ejection_percent =
		od->max_ejection_percent ? od->max_ejection_percent : LB_OUTLIER_MAX_PERCENT;
	if (o->max_ejection_percent > 100)
		o->max_ejection_percent = 100;
	o->min_health_percent = od->min_health_percent > 0 ? (uint32_t)od->min_health_percent : 0;
}

/* Brings back the hosts whose ejection is over; fills @avail with the usable ones. */
static uint32_t refresh_ejected(const struct lb_cluster *c, struct lb_cluster_state *cs,
				struct lb_host_state *hs, uint64_t now_ms, uint32_t *avail)
{
	uint32_t n_avail = 0;

	for (uint32_t i = 0; i < c->n_hosts; i++) {
		if (hs[i].ejected && now_ms >= hs[i].until_ms) {
			hs[i].ejected = false;
			hs[i].until_ms = now_ms;
			cs->n_ejected--;
		}
		if (!hs[i].ejected && avail)
			avail[n_avail++] = i;
	}
	return n_avail;
}

/* Least request with two choices among @n candidates (distinct when n > 1): fewer active wins. */
static uint32_t p2c(const struct lb_host_state *hs, const uint32_t *avail, uint32_t n,
		    struct lb_rng *rng)
{
	uint32_t a, b;

	if (n == 1)
		return 0;
	a = lb_rng_below(rng, n);
	b = lb_rng_below(rng, n - 1);
	if (b >= a)
		b++;
	if (avail)
		return hs[avail[b]].active < hs[avail[a]].active ? b : a;
	return hs[b].active < hs[a].active ? b : a;
}

static int pick_ring(const struct lb_cluster *c, const struct lb_host_state *hs, bool skip_ejected,
		     struct lb_rng *rng, const uint64_t *hash)
{
	uint64_t h = hash ? *hash : lb_rng_next(rng);
	size_t p = lb_ring_point(c->ring, h);

	for (size_t k = 0; k < c->ring->n; k++) {
		uint32_t host = c->ring->pts[(p + k) % c->ring->n].host;

		if (!skip_ejected || !hs[host].ejected)
			return (int)host;
	}
	return -1;
}

int lb_pick(const struct lb_cluster *c, struct lb_cluster_state *cs, struct lb_host_state *hs,
	    struct lb_rng *rng, uint64_t now_ms, const uint64_t *hash, uint32_t *scratch)
{
	const uint32_t *avail = NULL;
	uint32_t n_avail = c->n_hosts, i;
	bool skip_ejected = false;
	int host;

	if (!c->n_hosts)
		return -1;
	if (cs->n_ejected) {
		n_avail = refresh_ejected(c, cs, hs, now_ms, scratch);
		if (cs->n_ejected) {
			uint32_t min = c->outlier ? c->outlier->min_health_percent : 0;

			if (min && (uint64_t)n_avail * 100 < (uint64_t)min * c->n_hosts) {
				n_avail = c->n_hosts; /* panic: every host, as Envoy does */
			} else if (!n_avail) {
				return -1;
			} else {
				avail = scratch;
				skip_ejected = true;
			}
		}
	}

	if (c->hash != LB_HASH_NONE && c->ring && c->ring->n) {
		host = pick_ring(c, hs, skip_ejected, rng, hash);
		if (host < 0)
			return -1;
		hs[host].active++;
		return host;
	}
	switch (c->simple) {
	case LB_ROUND_ROBIN:
		if (!cs->rr) /* workers start at different places, not all on the first host */
			cs->rr = lb_rng_below(rng, c->n_hosts) + 1;
		i = (cs->rr++ - 1) % n_avail;
		break;
	case LB_RANDOM:
		i = lb_rng_below(rng, n_avail);
		break;
	default:
		i = p2c(hs, avail, n_avail, rng);
		break;
	}
	host = (int)(avail ? avail[i] : i);
	hs[host].active++;
	return host;
}

/* Ejects @h unless maxEjectionPercent of the cluster is out already. */
static void eject(const struct lb_cluster *c, struct lb_cluster_state *cs, struct lb_host_state *h,
		  uint64_t now_ms)
{
	const struct lb_outlier *o = c->outlier; /* set: lb_done() counted an error */
	uint64_t cap, dur, healthy_for;

	h->errors_5xx = 0;
	h->errors_gateway = 0;
	/* Envoy: eject while the share already ejected is below the maximum. */
	if ((uint64_t)cs->n_ejected * 100 >= (uint64_t)o->max_ejection_percent * c->n_hosts)
		return;
	/* The multiplier decays by one per interval the host stayed in (Envoy's backoff). */
	if (h->times_ejected && now_ms > h->until_ms) {
		healthy_for = (now_ms - h->until_ms) / o->interval_ms;
		h->times_ejected = healthy_for >= h->times_ejected
					   ? 0
					   : h->times_ejected - (uint32_t)healthy_for;
	}
	h->times_ejected++;
	cap = o->base_ejection_ms > LB_OUTLIER_MAX_EJECT_MS ? o->base_ejection_ms
							    : LB_OUTLIER_MAX_EJECT_MS;
	dur = o->base_ejection_ms * h->times_ejected;
	if (dur > cap)
		dur = cap;
	h->ejected = true;
	h->until_ms = now_ms + dur;
	cs->n_ejected++;
}

void lb_done(const struct lb_cluster *c, struct lb_cluster_state *cs, struct lb_host_state *hs,
	     uint32_t h, int status, uint64_t now_ms)
{
	const struct lb_outlier *o = c->outlier;
	struct lb_host_state *st;
	bool err_5xx, err_gw;

	if (h >= c->n_hosts)
		return;
	st = &hs[h];
	if (st->active)
		st->active--;
	if (!o || !o->enabled || status < 0)
		return;
	err_5xx = status == 0 || (status >= 500 && status <= 599);
	err_gw = status == 0 || status == 502 || status == 503 || status == 504;
	st->errors_5xx = err_5xx ? st->errors_5xx + 1 : 0;
	st->errors_gateway = err_gw ? st->errors_gateway + 1 : 0;
	if (st->ejected)
		return;
	if ((o->consecutive_5xx && st->errors_5xx >= o->consecutive_5xx) ||
	    (o->consecutive_gateway && st->errors_gateway >= o->consecutive_gateway)) {
		if (cs->n_ejected)
			refresh_ejected(c, cs, hs, now_ms, NULL);
		eject(c, cs, st, now_ms);
	}
}
