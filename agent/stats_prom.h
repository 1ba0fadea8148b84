/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * GET /stats/prometheus on the admin API: Istio's standard metrics from the
 * workers' tables, and shunt's own (config reloads, kernel-path counters,
 * proxy counters, map fill levels, the access log), in the Prometheus text
 * format. Served on the admin thread; workers are never stopped or locked.
 */
#ifndef SHUNT_STATS_PROM_H
#define SHUNT_STATS_PROM_H

#include <stdbool.h>

struct admin;
struct alog_sink;
struct kern;
struct snapshot_store;
struct worker;

/*
 * Where the agent keeps what is rendered. The pointed-to variables are read
 * at each scrape: workers, n_workers and kern only once ready() says so (the
 * starter thread fills them before).
 */
struct resolver;

struct stats_prom_src {
	struct snapshot_store *store;
	bool (*ready)(void *ctx);
	void *ctx;
	struct worker *const *workers; /* the agent's array of them */
	const unsigned *n_workers;
	struct kern *const *kern;
	struct alog_sink *alog;		  /* NULL: the access log is off */
	const char *pin_dir;		  /* the maps whose fill levels are reported */
	struct resolver *const *resolver; /* DNS ServiceEntries' names; *resolver NULL: none */
};

/* Serves /stats/prometheus on @adm from @src, which (and what it points to) must outlive @adm. */
int stats_prom_register(struct admin *adm, const struct stats_prom_src *src);

#endif /* SHUNT_STATS_PROM_H */
