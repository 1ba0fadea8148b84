/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The active configuration, shared read-only by every worker. A new config
 * is published by swapping one pointer; workers notice the new generation
 * between requests and move to it, so the request path never takes a lock.
 * The old snapshot is freed when its last worker lets go of it.
 */
#ifndef SHUNT_SNAPSHOT_H
#define SHUNT_SNAPSHOT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct config;

struct snapshot {
	struct config *cfg;  /* owned */
	uint64_t generation; /* 1 for the first config, +1 per publish */
	size_t *port_base;   /* port_base[i]: flat index of service i's first port */
	size_t n_ports;	     /* ports over all services: size of a per-worker counter array */
	unsigned refcnt;     /* atomic; the store holds one reference to the current one */
};

struct snapshot_store {
	struct snapshot *cur; /* atomic pointer; NULL before the first publish */
	uint64_t generation;  /* atomic; == cur->generation */
	pthread_mutex_t lock; /* serialises acquire against publish; never on the request path */
};

/* Initialises an empty store. */
void snapshot_store_init(struct snapshot_store *st);
/* Drops the store's reference to the current snapshot. */
void snapshot_store_fini(struct snapshot_store *st);

/* Makes @cfg (ownership passes to the store) the current config. 0 or -ENOMEM (cfg then freed). */
int snapshot_publish(struct snapshot_store *st, struct config *cfg);

/* A reference to the current snapshot (NULL before the first publish). Release it. */
struct snapshot *snapshot_acquire(struct snapshot_store *st);
void snapshot_release(struct snapshot *snap);

/* The current generation, without a lock: compare it to the one a worker holds. */
static inline uint64_t snapshot_generation(struct snapshot_store *st)
{
	return __atomic_load_n(&st->generation, __ATOMIC_ACQUIRE);
}

#endif /* SHUNT_SNAPSHOT_H */
