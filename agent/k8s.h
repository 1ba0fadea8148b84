/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The Kubernetes source: one thread per resource (k8s_resources[]) lists and
 * watches it with the API's own protocol, into a k8s_store (docs/kubernetes.md):
 *
 * - list in pages (limit, continue), then watch from the list's
 *   resourceVersion with bookmarks; each event moves the resourceVersion on;
 * - a watch that ends (the server's timeoutSeconds, a dropped connection, an
 *   error) is started again from the last resourceVersion, after a bounded,
 *   jittered exponential backoff when it failed;
 * - 410 Gone (the HTTP status, or an ERROR event) means that resourceVersion is
 *   too old: relist, and the store swaps the new list in once it is complete;
 * - the Istio kinds are looked up in the API's discovery
 *   (/apis/networking.istio.io, then each version's resources): not installed
 *   (404) is no error, logged once, and looked up again every discovery period.
 *
 * Connections carry the agent's mark (never captured) and are cut within a
 * second of k8s_stop().
 */
#ifndef SHUNT_K8S_H
#define SHUNT_K8S_H

#include <stdbool.h>
#include <stdint.h>

#include "kubeconfig.h"

struct k8s;
struct k8s_store;

struct k8s_opts {
	struct k8s_conn conn; /* where and how; moved into the client by k8s_new() */
	uint32_t mark;	      /* SO_MARK of its sockets; 0: none */
	/* 0: the defaults below */
	unsigned backoff_min_ms, backoff_max_ms, discovery_ms, watch_timeout_s, page_limit;
};

#define K8S_BACKOFF_MIN_MS  500
#define K8S_BACKOFF_MAX_MS  (30 * 1000)
#define K8S_DISCOVERY_MS    (10 * 1000)
#define K8S_WATCH_TIMEOUT_S 300 /* asked of the server; each watch gets up to 25% more */
#define K8S_PAGE_LIMIT	    500

/*
 * Starts the threads. @changed(@arg) is called from them after each change of the store.
 * @o->conn is moved (zeroed), also on failure. 0 or -errno.
 */
int k8s_new(struct k8s_opts *o, void (*changed)(void *arg), void *arg, struct k8s **out);

/* The store the threads fill. */
struct k8s_store *k8s_store(struct k8s *k);

/* Waits until every resource completed its first list, @timeout_ms at most. 0 or -ETIMEDOUT. */
int k8s_wait_synced(struct k8s *k, unsigned timeout_ms);

/* Waits until the store's generation is past @gen, @timeout_ms at most. 0 or -ETIMEDOUT. */
int k8s_wait_change(struct k8s *k, uint64_t gen, unsigned timeout_ms);

/* Counters, for the log and the tests. */
struct k8s_stats {
	uint64_t lists;	    /* lists completed (first ones and relists) */
	uint64_t relists;   /* of them, after 410 Gone */
	uint64_t watches;   /* watches started */
	uint64_t events;    /* events applied (bookmarks included) */
	uint64_t failures;  /* requests that failed (then backed off) */
	uint64_t bookmarks; /* of the events */
};
void k8s_stats(struct k8s *k, struct k8s_stats *out);

/* Stops the threads (their connections are cut within a second) and joins them; the store
 * stays readable until k8s_free(). Idempotent. */
void k8s_stop(struct k8s *k);
/* k8s_stop(), then frees @k and its store. NULL is fine. */
void k8s_free(struct k8s *k);

#endif /* SHUNT_K8S_H */
