// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "route.h"
#include "snapshot.h"

void snapshot_store_init(struct snapshot_store *st)
{
	st->cur = st->prev = NULL;
	st->generation = 0;
	memset(&st->reloads, 0, sizeof(st->reloads));
	pthread_mutex_init(&st->lock, NULL);
}

void snapshot_store_fini(struct snapshot_store *st)
{
	pthread_mutex_lock(&st->lock);
	snapshot_release(st->cur);
	snapshot_release(st->prev);
	st->cur = st->prev = NULL;
	pthread_mutex_unlock(&st->lock);
	pthread_mutex_destroy(&st->lock);
}

int snapshot_build(struct config *cfg, struct snapshot **out)
{
	struct snapshot *snap;
	int err;

	snap = calloc(1, sizeof(*snap));
	if (!snap) {
		err = -ENOMEM;
		goto free_cfg;
	}
	/* Built before the swap and off the request path: workers never wait for it. */
	err = route_table_build(cfg, &snap->rt);
	if (err)
		goto free_snap;
	snap->cfg = cfg;
	snap->refcnt = 1;
	*out = snap;
	return 0;

free_snap:
	free(snap);
free_cfg:
	config_free(cfg);
	return err;
}

void snapshot_install(struct snapshot_store *st, struct snapshot *snap)
{
	struct snapshot *old;

	pthread_mutex_lock(&st->lock);
	old = st->prev; /* reloads in a row: its last worker frees it, wherever that is */
	st->prev = st->cur;
	snap->generation = st->generation + 1;
	__atomic_store_n(&st->cur, snap, __ATOMIC_RELEASE);
	__atomic_store_n(&st->generation, snap->generation, __ATOMIC_RELEASE);
	st->reloads.ok++;
	st->reloads.last_ok_unix = (int64_t)time(NULL);
	pthread_mutex_unlock(&st->lock);
	snapshot_release(old);
}

int snapshot_publish(struct snapshot_store *st, struct config *cfg)
{
	struct snapshot *snap;
	int err;

	err = snapshot_build(cfg, &snap);
	if (!err)
		snapshot_install(st, snap);
	return err;
}

bool snapshot_reap(struct snapshot_store *st)
{
	struct snapshot *old = NULL;
	bool waiting;

	pthread_mutex_lock(&st->lock);
	/* Only the store can take prev's references now: 1 stays 1. */
	if (st->prev && __atomic_load_n(&st->prev->refcnt, __ATOMIC_ACQUIRE) == 1) {
		old = st->prev;
		st->prev = NULL;
	}
	waiting = st->prev != NULL;
	pthread_mutex_unlock(&st->lock);
	snapshot_release(old);
	return waiting;
}

void snapshot_refused(struct snapshot_store *st, const char *why)
{
	pthread_mutex_lock(&st->lock);
	st->reloads.refused++;
	st->reloads.last_refused_unix = (int64_t)time(NULL);
	snprintf(st->reloads.last_error, sizeof(st->reloads.last_error), "%s", why ? why : "");
	pthread_mutex_unlock(&st->lock);
}

void snapshot_reloads_get(struct snapshot_store *st, struct snapshot_reloads *out)
{
	pthread_mutex_lock(&st->lock);
	*out = st->reloads;
	pthread_mutex_unlock(&st->lock);
}

struct snapshot *snapshot_acquire(struct snapshot_store *st)
{
	struct snapshot *snap;

	/* The lock keeps publish from dropping the store's reference between load and get. */
	pthread_mutex_lock(&st->lock);
	snap = st->cur;
	if (snap)
		__atomic_add_fetch(&snap->refcnt, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&st->lock);
	return snap;
}

void snapshot_release(struct snapshot *snap)
{
	if (!snap || __atomic_sub_fetch(&snap->refcnt, 1, __ATOMIC_ACQ_REL))
		return;
	route_table_free(snap->rt);
	config_free(snap->cfg);
	free(snap);
	/* A snapshot is most of the heap, built on the reload thread (its arena) and freed
	 * here: glibc keeps freed pages amid its heaps as RSS until asked for them. */
	malloc_trim(0);
}
