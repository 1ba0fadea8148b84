/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Inside the Kubernetes source: what the watcher threads (k8s.c: lists,
 * watches, discovery, backoff) share with their HTTP layer (k8s_http.c:
 * libcurl, TLS, the bearer token, the write callback).
 */
#ifndef SHUNT_K8S_INT_H
#define SHUNT_K8S_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <curl/curl.h>

#include "k8s.h"
#include "k8s_json.h"
#include "k8s_store.h"

#define BODY_MAX (256u << 20) /* a list page or discovery document, at most */

struct k8s;

struct watcher {
	struct k8s *k;
	size_t i; /* in k8s_resources[] */
	const struct k8s_resource *r;
	pthread_t thread;
	bool started;
	CURL *curl;
	uint32_t rand;
	char api_version[96]; /* "v1", "discovery.k8s.io/v1", "networking.istio.io/v1" */
	char rv[64];	      /* where the watch goes on from */
	unsigned failures;    /* in a row: the backoff's exponent */
	long last_status;     /* of the last failure, logged once per new status */
	/* the transfer in progress */
	bool stream; /* a watch: lines are events */
	struct k8s_lines lines;
	char *body;
	size_t body_len, body_cap;
	bool gone;		     /* 410: relist */
	bool aborted;		     /* the write callback refused the data */
	char error[CURL_ERROR_SIZE]; /* what libcurl said of the last failed transfer */
};

struct k8s {
	struct k8s_opts o;
	struct k8s_store *store;
	struct watcher w[K8S_RESOURCES];
	void (*changed)(void *arg);
	void *arg;
	pthread_mutex_t lock; /* stop, stats and the condition */
	pthread_cond_t cond;  /* stop, and every change of the store */
	bool stop;	      /* also read without the lock (progress callback) */
	bool istio_absent;    /* the Istio group was found not served (and said so) */
	unsigned istio_epoch; /* bumped when it is found served again: all its kinds look */
	struct k8s_stats stats;
};

static inline uint64_t k8s_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline bool k8s_stopped(struct k8s *k)
{
	return __atomic_load_n(&k->stop, __ATOMIC_ACQUIRE);
}

/* A new libcurl handle for @w, with what does not change between its requests. 0 or
 * -ENOMEM. */
int k8s_setup_curl(struct watcher *w);

/*
 * GET @path (and query) of the API server; a watch (@stream) feeds its events to
 * k8s_on_event_line(). *@status: the HTTP status, 0 when there was no response. 0 when the
 * transfer ended normally, -EIO when it failed (w->error says how), -ECANCELED when stopped
 * or refused by the write callback.
 */
int k8s_get(struct watcher *w, const char *path, bool stream, long timeout_s, long *status);

/* A request that failed (@what: "list", "watch"): logged once per kind of failure, then at
 * debug level. */
void k8s_report(struct watcher *w, const char *what, long status, int err);

/* One line of a watch stream (k8s.c): the event applied to the store. 0, or non-zero to end
 * the watch (w->gone set when it must relist). */
int k8s_on_event_line(void *arg, const char *line, size_t len);

#endif /* SHUNT_K8S_INT_H */
