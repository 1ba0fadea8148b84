/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The active configuration, shared read-only by every worker. A new config
 * is published by swapping one pointer; workers notice the new generation
 * between requests and move to it, so the request path never takes a lock.
 * The store keeps the snapshot it replaced until every worker let go of it,
 * and snapshot_reap() frees it then, off the workers' threads (freeing one of
 * 10,000 services takes some 20 ms).
 */
#ifndef SHUNT_SNAPSHOT_H
#define SHUNT_SNAPSHOT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct route_table;

struct snapshot {
	struct config *cfg;	/* owned */
	struct route_table *rt; /* owned: cfg compiled for the request path */
	uint64_t generation;	/* 1 for the first config, +1 per publish */
	unsigned refcnt;	/* atomic; the store holds one reference to the current one */
};

/* What the reloads did, for the admin API and the metrics. */
#define SNAPSHOT_ERROR_MAX 4096
struct snapshot_reloads {
	uint64_t ok;			     /* configs published, the first one included */
	uint64_t refused;		     /* configs refused: the one before kept serving */
	int64_t last_ok_unix;		     /* when the current config was published (seconds) */
	int64_t last_refused_unix;	     /* 0: never */
	char last_error[SNAPSHOT_ERROR_MAX]; /* why the last refused one was: "FILE:LINE:COL: ..."
					       lines, newline-separated; "" when none */
};

struct snapshot_store {
	struct snapshot *cur;  /* atomic pointer; NULL before the first publish */
	struct snapshot *prev; /* the one cur replaced, a reference, until snapshot_reap() */
	uint64_t generation;   /* atomic; == cur->generation */
	pthread_mutex_t lock;  /* serialises acquire against publish; never on the request path */
	struct snapshot_reloads reloads; /* under lock */
};

/* Initialises an empty store. */
void snapshot_store_init(struct snapshot_store *st);
/* Drops the store's references (the current snapshot, the one it replaced). */
void snapshot_store_fini(struct snapshot_store *st);

/*
 * Compiles @cfg's route table and makes both the current snapshot.
 * Ownership of @cfg passes to the store, also on failure (then it is freed
 * and the current snapshot stays). 0, -EINVAL (the routes do not compile:
 * logged with file and line), or -ENOMEM.
 */
int snapshot_publish(struct snapshot_store *st, struct config *cfg);

/*
 * The two halves of snapshot_publish(), for a reload that builds on one
 * thread and installs on another. snapshot_build() compiles @cfg (ownership
 * passes, also on failure) into a new snapshot *@out with one reference, not
 * installed: 0, -EINVAL or -ENOMEM. snapshot_install() makes @snap current,
 * taking over that reference; the store keeps its reference to the old one as
 * st->prev (releasing the one kept before, if snapshot_reap() did not) for
 * snapshot_reap().
 */
int snapshot_build(struct config *cfg, struct snapshot **out);
void snapshot_install(struct snapshot_store *st, struct snapshot *snap);

/*
 * Frees st->prev, on the calling thread, once the store holds its last
 * reference (every worker moved on: none can take it again). Returns whether
 * a replaced snapshot is still waiting for a worker, to ask again later.
 */
bool snapshot_reap(struct snapshot_store *st);

/*
 * Counts a config that was refused (validation failed: @why, its diagnostics,
 * one per line); the current snapshot stays.
 */
void snapshot_refused(struct snapshot_store *st, const char *why);
/* A copy of the reload record, taken under the lock. */
void snapshot_reloads_get(struct snapshot_store *st, struct snapshot_reloads *out);

/* A reference to the current snapshot (NULL before the first publish). Release it. */
struct snapshot *snapshot_acquire(struct snapshot_store *st);
void snapshot_release(struct snapshot *snap);

/* The current generation, without a lock: compare it to the one a worker holds. */
static inline uint64_t snapshot_generation(struct snapshot_store *st)
{
	return __atomic_load_n(&st->generation, __ATOMIC_ACQUIRE);
}

#endif /* SHUNT_SNAPSHOT_H */
