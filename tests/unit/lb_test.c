// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Load balancing inside a cluster, without a config: smooth weighted round
 * robin, the hash ring (spread, stability when a host comes or goes), round
 * robin, random, least request, and outlier detection with its time rules.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lb.h"

#define MAX_HOSTS 16

/* One cluster and one worker's state for it. */
struct fixture {
	struct lb_cluster c;
	struct lb_outlier o; /* c.outlier, once set */
	struct lb_ring ring; /* c.ring, once built */
	struct lb_cluster_state cs;
	struct lb_host_state hs[MAX_HOSTS];
	uint32_t scratch[MAX_HOSTS];
	struct lb_rng rng;
	uint64_t now;
};

static void fixture_init(struct fixture *f, uint32_t n, enum lb_simple simple)
{
	memset(f, 0, sizeof(*f));
	f->c.n_hosts = n;
	f->c.simple = simple;
	lb_rng_seed(&f->rng, 42);
	f->now = 1000;
}

static void outlier(struct fixture *f, uint32_t c5xx, uint32_t max_pct, uint64_t base_ms)
{
	struct outlier_detection od = {
		.set = true,
		.consecutive_5xx_errors = c5xx,
		.has_consecutive_5xx = true,
		.base_ejection_ms = base_ms,
		.max_ejection_percent = max_pct,
	};

	lb_outlier_from(&f->o, &od);
	f->c.outlier = &f->o;
}

static int pick(struct fixture *f)
{
	return lb_pick(&f->c, &f->cs, f->hs, &f->rng, f->now, NULL, f->scratch);
}

/* Picks and finishes at once with @status; returns the host. */
static int pick_done(struct fixture *f, int status)
{
	int h = pick(f);

	if (h >= 0)
		lb_done(&f->c, &f->cs, f->hs, (uint32_t)h, status, f->now);
	return h;
}

/* Sends @n responses with @status to host @h (as if picked). */
static void answer(struct fixture *f, uint32_t h, int n, int status)
{
	for (int i = 0; i < n; i++) {
		f->hs[h].active++;
		lb_done(&f->c, &f->cs, f->hs, h, status, f->now);
	}
}

static void count_swrr(const uint32_t *w, size_t n, int picks, int *got)
{
	int64_t cur[8] = {0};
	uint64_t total = 0;

	for (size_t i = 0; i < n; i++)
		total += w[i];
	memset(got, 0, n * sizeof(*got));
	for (int i = 0; i < picks; i++)
		got[lb_swrr_pick(cur, w, n, total)]++;
}

static void swrr_90_10_is_exact(void **state)
{
	const uint32_t w[] = {90, 10};
	int got[2];

	count_swrr(w, 2, 1000, got);
	assert_int_equal(got[0], 900);
	assert_int_equal(got[1], 100);
}

static void swrr_50_50_alternates(void **state)
{
	const uint32_t w[] = {50, 50};
	int64_t cur[2] = {0};
	size_t prev = 2;

	for (int i = 0; i < 1000; i++) {
		size_t p = lb_swrr_pick(cur, w, 2, 100);

		assert_int_not_equal(p, prev);
		prev = p;
	}
}

static void swrr_weights_not_summing_to_100(void **state)
{
	const uint32_t w[] = {1, 2, 3};
	int got[3];

	count_swrr(w, 3, 1200, got);
	assert_int_equal(got[0], 200);
	assert_int_equal(got[1], 400);
	assert_int_equal(got[2], 600);
}

static void swrr_is_smooth(void **state)
{
	/* 5:1 gives a a b a a a (one b every window of 6), never a run of all six a. */
	const uint32_t w[] = {5, 1};
	int64_t cur[2] = {0};
	int seq[60];

	for (int i = 0; i < 60; i++)
		seq[i] = (int)lb_swrr_pick(cur, w, 2, 6);
	for (int i = 0; i + 6 <= 60; i++) {
		int b = 0;

		for (int k = 0; k < 6; k++)
			b += seq[i + k];
		assert_int_equal(b, 1);
	}
}

static void rng_below_is_uniform(void **state)
{
	struct lb_rng r;
	int bins[10] = {0};

	lb_rng_seed(&r, 7);
	for (int i = 0; i < 100000; i++)
		bins[lb_rng_below(&r, 10)]++;
	for (int i = 0; i < 10; i++)
		assert_in_range(bins[i], 9700, 10300);
}

static void hosts_init(struct lb_ring_host *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h[i] = (struct lb_ring_host){.ip_be = htonl(0x0a000001 + (uint32_t)i),
					     .port = 8080};
}

/* The address the ring sends key @k to. */
static uint32_t ring_addr(const struct lb_ring *r, const struct lb_ring_host *h, uint64_t k)
{
	return h[r->pts[lb_ring_point(r, lb_hash(&k, sizeof(k)))].host].ip_be;
}

static void ring_spreads_keys_evenly(void **state)
{
	struct lb_ring_host h[10];
	struct lb_ring r;
	int got[10] = {0};

	hosts_init(h, 10);
	assert_int_equal(lb_ring_build(&r, h, 10, 0), 0);
	assert_true(r.n >= LB_RING_MIN_DEFAULT);
	for (uint64_t k = 0; k < 100000; k++)
		got[r.pts[lb_ring_point(&r, lb_hash(&k, sizeof(k)))].host]++;
	for (int i = 0; i < 10; i++)
		assert_in_range(got[i], 7000, 13000);
	lb_ring_free(&r);
}

/*
 * Keys that change host between a ring over the first @a test hosts and one
 * without host @skip plus hosts a..b-1. Returns the share moved; *@collateral
 * counts moves that neither leave @skip nor land on an added host.
 */
static double ring_moved_share(size_t a, size_t b, size_t skip, size_t *collateral)
{
	struct lb_ring_host ha[MAX_HOSTS], hb[MAX_HOSTS], all[MAX_HOSTS];
	struct lb_ring ra, rb;
	size_t moved = 0, n = 100000, k = 0;

	hosts_init(all, MAX_HOSTS);
	memcpy(ha, all, a * sizeof(*ha));
	for (size_t i = 0; i < a; i++)
		if (i != skip)
			hb[k++] = all[i];
	for (size_t i = a; i < b; i++)
		hb[k++] = all[i];
	assert_int_equal(lb_ring_build(&ra, ha, a, 0), 0);
	assert_int_equal(lb_ring_build(&rb, hb, k, 0), 0);
	*collateral = 0;
	for (uint64_t key = 0; key < n; key++) {
		uint32_t from = ring_addr(&ra, ha, key), to = ring_addr(&rb, hb, key);
		bool added = false;

		if (from == to)
			continue;
		moved++;
		for (size_t i = a; i < b; i++)
			added |= to == all[i].ip_be;
		if (!(skip < a && from == all[skip].ip_be) && !added)
			(*collateral)++;
	}
	lb_ring_free(&ra);
	lb_ring_free(&rb);
	return (double)moved / (double)n;
}

static void ring_removing_one_of_ten_moves_a_tenth(void **state)
{
	size_t collateral;
	double moved = ring_moved_share(10, 10, 3, &collateral);

	print_message("moved %.2f%% of keys removing 1 host of 10\n", moved * 100);
	assert_true(moved > 0.07 && moved < 0.13);
	assert_int_equal(collateral, 0); /* only the removed host's keys move */
}

static void ring_adding_one_to_ten_moves_an_eleventh(void **state)
{
	size_t collateral;
	double moved = ring_moved_share(10, 11, SIZE_MAX, &collateral);

	print_message("moved %.2f%% of keys adding 1 host to 10\n", moved * 100);
	assert_true(moved > 0.06 && moved < 0.121);
	assert_int_equal(collateral, 0); /* keys move only to the new host */
}

static void ring_hash_keeps_key_affinity(void **state)
{
	struct fixture f;
	struct lb_ring_host h[5];
	uint64_t key = lb_hash("user-42", 7);
	int first;

	fixture_init(&f, 5, LB_UNSET);
	f.c.hash = LB_HASH_HEADER;
	hosts_init(h, 5);
	assert_int_equal(lb_ring_build(f.c.ring = &f.ring, h, 5, 0), 0);
	first = lb_pick(&f.c, &f.cs, f.hs, &f.rng, f.now, &key, f.scratch);
	for (int i = 0; i < 100; i++)
		assert_int_equal(lb_pick(&f.c, &f.cs, f.hs, &f.rng, f.now, &key, f.scratch), first);
	lb_ring_free(&f.ring);
}

static void ring_without_key_picks_at_random(void **state)
{
	struct fixture f;
	struct lb_ring_host h[4];
	int got[4] = {0};

	fixture_init(&f, 4, LB_UNSET);
	f.c.hash = LB_HASH_COOKIE;
	hosts_init(h, 4);
	assert_int_equal(lb_ring_build(f.c.ring = &f.ring, h, 4, 0), 0);
	for (int i = 0; i < 4000; i++)
		got[pick(&f)]++;
	for (int i = 0; i < 4; i++)
		assert_in_range(got[i], 700, 1300);
	lb_ring_free(&f.ring);
}

static void ring_walks_past_an_ejected_host(void **state)
{
	struct fixture f;
	struct lb_ring_host h[4];
	uint64_t key = lb_hash("k", 1);
	int first, next;

	fixture_init(&f, 4, LB_UNSET);
	f.c.hash = LB_HASH_HEADER;
	outlier(&f, 1, 100, 30000);
	hosts_init(h, 4);
	assert_int_equal(lb_ring_build(f.c.ring = &f.ring, h, 4, 0), 0);
	first = lb_pick(&f.c, &f.cs, f.hs, &f.rng, f.now, &key, f.scratch);
	lb_done(&f.c, &f.cs, f.hs, (uint32_t)first, 503, f.now);
	next = lb_pick(&f.c, &f.cs, f.hs, &f.rng, f.now, &key, f.scratch);
	assert_int_not_equal(next, first);
	f.now += 30000; /* back: the key returns to its host */
	assert_int_equal(lb_pick(&f.c, &f.cs, f.hs, &f.rng, f.now, &key, f.scratch), first);
	lb_ring_free(&f.ring);
}

static void round_robin_visits_each_host_in_turn(void **state)
{
	struct fixture f;
	int seq[12];

	fixture_init(&f, 4, LB_ROUND_ROBIN);
	f.cs.rr = 2 + 1; /* this worker started at 2 */
	for (int i = 0; i < 12; i++)
		seq[i] = pick_done(&f, 200);
	for (int i = 0; i < 12; i++)
		assert_int_equal(seq[i], (2 + i) % 4);
}

/* A worker's state starts all-zero; its first pick draws where its round robin starts. */
static void round_robin_starts_where_the_worker_draws(void **state)
{
	struct fixture f;
	int seq[8], starts[4] = {0};

	for (uint64_t seed = 1; seed <= 64; seed++) {
		fixture_init(&f, 4, LB_ROUND_ROBIN);
		lb_rng_seed(&f.rng, seed);
		for (int i = 0; i < 8; i++)
			seq[i] = pick_done(&f, 200);
		for (int i = 0; i < 8; i++)
			assert_int_equal(seq[i], (seq[0] + i) % 4);
		starts[seq[0]]++;
	}
	for (int h = 0; h < 4; h++)
		assert_true(starts[h] > 0);
}

static void random_spreads_evenly(void **state)
{
	struct fixture f;
	int got[4] = {0};

	fixture_init(&f, 4, LB_RANDOM);
	for (int i = 0; i < 10000; i++)
		got[pick_done(&f, 200)]++;
	for (int i = 0; i < 4; i++)
		assert_in_range(got[i], 2200, 2800);
}

static void least_request_prefers_idle_hosts(void **state)
{
	struct fixture f;
	int got[4] = {0};

	fixture_init(&f, 4, LB_UNSET);
	for (int h = 0; h < 3; h++)
		f.hs[h].active = 5; /* three busy hosts, one idle */
	for (int i = 0; i < 1000; i++)
		got[pick_done(&f, 200)]++;
	/* P2C: the idle host wins whenever it is one of the two samples: half the time. */
	assert_in_range(got[3], 450, 550);
	for (int h = 0; h < 3; h++)
		assert_in_range(got[h], 120, 215);
}

static void least_request_keeps_active_counts_level(void **state)
{
	struct fixture f;
	uint32_t lo = UINT32_MAX, hi = 0;

	fixture_init(&f, 4, LB_LEAST_REQUEST);
	for (int i = 0; i < 400; i++)
		pick(&f); /* never done: requests pile up */
	for (int h = 0; h < 4; h++) {
		lo = f.hs[h].active < lo ? f.hs[h].active : lo;
		hi = f.hs[h].active > hi ? f.hs[h].active : hi;
	}
	assert_true(hi - lo <= 3);
}

static void least_request_all_equal_is_fair(void **state)
{
	struct fixture f;
	int got[5] = {0};

	fixture_init(&f, 5, LB_UNSET);
	for (int i = 0; i < 10000; i++)
		got[pick_done(&f, 200)]++;
	for (int i = 0; i < 5; i++)
		assert_in_range(got[i], 1700, 2300);
}

static void outlier_ejects_after_consecutive_5xx_and_returns(void **state)
{
	struct fixture f;

	fixture_init(&f, 4, LB_ROUND_ROBIN);
	outlier(&f, 5, 100, 30000);
	answer(&f, 2, 4, 500);
	assert_false(f.hs[2].ejected);
	answer(&f, 2, 1, 503);
	assert_true(f.hs[2].ejected);
	for (int i = 0; i < 100; i++)
		assert_int_not_equal(pick_done(&f, 200), 2);
	f.now += 29999;
	assert_int_not_equal(pick_done(&f, 200), 2);
	f.now += 1;
	pick_done(&f, 200);
	assert_false(f.hs[2].ejected);
	assert_int_equal(f.cs.n_ejected, 0);
}

static void outlier_success_resets_the_count(void **state)
{
	struct fixture f;

	fixture_init(&f, 4, LB_ROUND_ROBIN);
	outlier(&f, 5, 100, 30000);
	answer(&f, 1, 4, 502);
	answer(&f, 1, 1, 200);
	answer(&f, 1, 4, 502);
	assert_false(f.hs[1].ejected);
	answer(&f, 1, 1, 0); /* a connect failure counts as a 5xx */
	assert_true(f.hs[1].ejected);
}

static void outlier_client_gone_counts_neither_way(void **state)
{
	struct fixture f;

	fixture_init(&f, 4, LB_ROUND_ROBIN);
	outlier(&f, 2, 100, 30000);
	answer(&f, 0, 1, 500);
	answer(&f, 0, 1, -1);
	answer(&f, 0, 1, 500);
	assert_true(f.hs[0].ejected);
	assert_int_equal(f.hs[0].active, 0);
}

static void outlier_respects_max_ejection_percent(void **state)
{
	struct fixture f;

	fixture_init(&f, 3, LB_ROUND_ROBIN);
	outlier(&f, 1, 10, 30000);
	answer(&f, 0, 1, 500); /* 0% ejected < 10%: ejected */
	answer(&f, 1, 1, 500); /* 33% >= 10%: stays */
	assert_true(f.hs[0].ejected);
	assert_false(f.hs[1].ejected);
}

static void outlier_ejection_time_grows_and_decays(void **state)
{
	struct fixture f;

	fixture_init(&f, 2, LB_ROUND_ROBIN);
	outlier(&f, 1, 100, 10000);
	answer(&f, 0, 1, 500);
	assert_int_equal(f.hs[0].until_ms, f.now + 10000);
	f.now += 10000;
	pick_done(&f, 200); /* brings it back */
	assert_false(f.hs[0].ejected);
	answer(&f, 0, 1, 500); /* again at once: twice as long */
	assert_int_equal(f.hs[0].until_ms, f.now + 20000);
	f.now += 20000;
	pick_done(&f, 200);
	f.now += 5 * LB_OUTLIER_INTERVAL_MS; /* healthy long enough: the multiplier decays */
	answer(&f, 0, 1, 500);
	assert_int_equal(f.hs[0].until_ms, f.now + 10000);
}

static void outlier_all_ejected_leaves_no_host(void **state)
{
	struct fixture f;

	fixture_init(&f, 2, LB_UNSET);
	outlier(&f, 1, 100, 30000);
	answer(&f, 0, 1, 500);
	answer(&f, 1, 1, 500);
	assert_int_equal(pick(&f), -1);
	f.now += 30000;
	assert_true(pick(&f) >= 0);
}

static void outlier_min_health_percent_panics(void **state)
{
	struct fixture f;
	struct outlier_detection od = {
		.set = true, .max_ejection_percent = 100, .min_health_percent = 60};
	int got[2] = {0};

	fixture_init(&f, 2, LB_ROUND_ROBIN);
	lb_outlier_from(&f.o, &od);
	f.c.outlier = &f.o;
	answer(&f, 0, 5, 500); /* 50% healthy < 60%: balance over both anyway */
	assert_true(f.hs[0].ejected);
	for (int i = 0; i < 10; i++)
		got[pick_done(&f, 200)]++;
	assert_int_equal(got[0], 5);
	assert_int_equal(got[1], 5);
}

static void outlier_defaults_follow_istio(void **state)
{
	struct outlier_detection od = {.set = true};
	struct lb_outlier o;

	lb_outlier_from(&o, &od);
	assert_true(o.enabled);
	assert_int_equal(o.consecutive_5xx, 5);
	assert_int_equal(o.consecutive_gateway, 0);
	assert_int_equal(o.interval_ms, 10000);
	assert_int_equal(o.base_ejection_ms, 30000);
	assert_int_equal(o.max_ejection_percent, 10);
	od.has_consecutive_5xx = true; /* explicit 0 disables */
	lb_outlier_from(&o, &od);
	assert_int_equal(o.consecutive_5xx, 0);
	lb_outlier_from(&o, NULL);
	assert_false(o.enabled);
}

static void gateway_errors_count_only_502_503_504(void **state)
{
	struct fixture f;
	struct outlier_detection od = {.set = true,
				       .has_consecutive_5xx = true,
				       .consecutive_gateway_errors = 2,
				       .max_ejection_percent = 100};

	fixture_init(&f, 2, LB_ROUND_ROBIN);
	lb_outlier_from(&f.o, &od);
	f.c.outlier = &f.o;
	answer(&f, 0, 3, 500);
	assert_false(f.hs[0].ejected);
	answer(&f, 0, 1, 504);
	answer(&f, 0, 1, 502);
	assert_true(f.hs[0].ejected);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(swrr_90_10_is_exact),
		cmocka_unit_test(swrr_50_50_alternates),
		cmocka_unit_test(swrr_weights_not_summing_to_100),
		cmocka_unit_test(swrr_is_smooth),
		cmocka_unit_test(rng_below_is_uniform),
		cmocka_unit_test(ring_spreads_keys_evenly),
		cmocka_unit_test(ring_removing_one_of_ten_moves_a_tenth),
		cmocka_unit_test(ring_adding_one_to_ten_moves_an_eleventh),
		cmocka_unit_test(ring_hash_keeps_key_affinity),
		cmocka_unit_test(ring_without_key_picks_at_random),
		cmocka_unit_test(ring_walks_past_an_ejected_host),
		cmocka_unit_test(round_robin_visits_each_host_in_turn),
		cmocka_unit_test(round_robin_starts_where_the_worker_draws),
		cmocka_unit_test(random_spreads_evenly),
		cmocka_unit_test(least_request_prefers_idle_hosts),
		cmocka_unit_test(least_request_keeps_active_counts_level),
		cmocka_unit_test(least_request_all_equal_is_fair),
		cmocka_unit_test(outlier_ejects_after_consecutive_5xx_and_returns),
		cmocka_unit_test(outlier_success_resets_the_count),
		cmocka_unit_test(outlier_client_gone_counts_neither_way),
		cmocka_unit_test(outlier_respects_max_ejection_percent),
		cmocka_unit_test(outlier_ejection_time_grows_and_decays),
		cmocka_unit_test(outlier_all_ejected_leaves_no_host),
		cmocka_unit_test(outlier_min_health_percent_panics),
		cmocka_unit_test(outlier_defaults_follow_istio),
		cmocka_unit_test(gateway_errors_count_only_502_503_504),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
