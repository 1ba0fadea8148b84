// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The watcher threads: per resource, discovery (the Istio kinds), paged
 * lists, watches from the last resourceVersion, relists after 410, and a
 * bounded, jittered backoff after failures (k8s.h). Watch streams are
 * newline-delimited JSON, cut into events as they come (k8s_lines_feed()),
 * however the chunks split them; the HTTP is k8s_http.c's.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "k8s_int.h"
#include "log.h"
#include "privs.h"

static void count(struct k8s *k, uint64_t *field)
{
	pthread_mutex_lock(&k->lock);
	(*field)++;
	pthread_mutex_unlock(&k->lock);
}

/* Sleeps @ms, or until the client stops. True when it stopped. */
static bool nap(struct k8s *k, unsigned ms)
{
	uint64_t end = k8s_now_ms() + ms;
	struct timespec ts;

	pthread_mutex_lock(&k->lock);
	while (!k->stop && k8s_now_ms() < end) {
		uint64_t left = end - k8s_now_ms();

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(left / 1000);
		ts.tv_nsec += (long)(left % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&k->cond, &k->lock, &ts);
	}
	pthread_mutex_unlock(&k->lock);
	return k8s_stopped(k);
}

static uint32_t next_rand(struct watcher *w)
{
	w->rand ^= w->rand << 13;
	w->rand ^= w->rand >> 17;
	w->rand ^= w->rand << 5;
	return w->rand;
}

/* After a failure: min, 2 min, 4 min, ... max, each between half and all of it (jitter), so
 * that every node's agent does not come back at the same instant. True when stopped. */
static bool backoff(struct watcher *w)
{
	unsigned shift = w->failures < 16 ? w->failures : 16, d;

	d = w->k->o.backoff_min_ms << shift;
	if (d > w->k->o.backoff_max_ms || d < w->k->o.backoff_min_ms)
		d = w->k->o.backoff_max_ms;
	w->failures++;
	count(w->k, &w->k->stats.failures);
	return nap(w->k, d / 2 + next_rand(w) % (d / 2 + 1));
}

/* The path of the resource's collection, all namespaces. */
static void collection(const struct watcher *w, char *buf, size_t len)
{
	if (w->r->group[0])
		snprintf(buf, len, "/apis/%s/%s", w->api_version, w->r->plural);
	else
		snprintf(buf, len, "/api/%s/%s", w->api_version, w->r->plural);
}

/* One page of a list into @acc; *@cont gets the continue token (or ""). */
static int list_page(struct watcher *w, json_t *acc, char *cont, size_t cont_len, char *rv)
{
	const json_t *items, *item, *md;
	json_t *root;
	size_t i;

	root = json_loadb(w->body, w->body_len, 0, NULL);
	items = json_object_get(root, "items");
	md = json_object_get(root, "metadata");
	if (!root || (!json_is_array(items) && !json_is_null(items) && items)) {
		json_decref(root);
		return -EBADMSG;
	}
	json_array_foreach(items, i,
			   item) if (k8s_list_add(acc, w->r, w->api_version, item) == -ENOMEM)
	{
		json_decref(root);
		return -ENOMEM;
	}
	snprintf(rv, 64, "%s", json_string_value(json_object_get(md, "resourceVersion")) ?: "");
	snprintf(cont, cont_len, "%s", json_string_value(json_object_get(md, "continue")) ?: "");
	json_decref(root);
	return 0;
}

/*
 * Lists the resource in pages, and swaps the result into the store once complete. 0,
 * -ENOENT (404: the resource is not served), -EAGAIN (failed: back off), -ECANCELED.
 */
static int list(struct watcher *w)
{
	char path[2048], base[256], cont[4096] = "", rv[64] = "";
	unsigned restarts = 0;
	json_t *acc = k8s_list_new();
	long status;
	int err;

	if (!acc)
		return -EAGAIN;
	collection(w, base, sizeof(base));
	for (;;) {
		char *esc = cont[0] ? curl_easy_escape(w->curl, cont, 0) : NULL;

		snprintf(path, sizeof(path), "%s?limit=%u%s%s%s%s", base, w->k->o.page_limit,
			 esc ? "&continue=" : "", esc ? esc : "", w->r->selector ? "&" : "",
			 w->r->selector ? w->r->selector : "");
		curl_free(esc);
		err = k8s_get(w, path, false, 120, &status);
		if (!err && status == 410 && cont[0] && restarts++ < 3) {
			/* The continue token expired (compaction): start the list again. */
			json_object_clear(acc);
			cont[0] = '\0';
			continue;
		}
		if (!err && status == 200)
			err = list_page(w, acc, cont, sizeof(cont), rv);
		else if (!err)
			err = status == 404 ? -ENOENT : -EAGAIN;
		if (err || !cont[0])
			break;
	}
	if (err) {
		json_decref(acc);
		if (err != -ECANCELED && err != -ENOENT)
			k8s_report(w, "list", status, err);
		return err == -ENOENT || err == -ECANCELED ? err : -EAGAIN;
	}
	snprintf(w->rv, sizeof(w->rv), "%s", rv);
	log_debug("k8s: listed %zu %s at resourceVersion %s", json_object_size(acc), w->r->plural,
		  rv);
	k8s_store_replace(w->k->store, w->i, acc, rv);
	count(w->k, &w->k->stats.lists);
	return 0;
}

int k8s_on_event_line(void *arg, const char *line, size_t len)
{
	struct watcher *w = arg;
	struct k8s_event ev;
	const char *why = "";
	int err;

	err = k8s_parse_event(line, len, &ev, &why);
	if (err) {
		log_warn("k8s: watch %s: %s in the stream: relisting", w->r->plural, why);
		w->gone = true; /* the stream cannot be trusted after it */
		return err;
	}
	if (ev.type == K8S_EV_ERROR) {
		/* 410 Gone (Expired): the resourceVersion was compacted away. Any other error
		 * ends the watch the same way: a relist starts from what the API has now. */
		log_info("k8s: watch %s: error event %d: relisting", w->r->plural, ev.code);
		w->gone = true;
		json_decref(ev.object);
		return -ESTALE;
	}
	k8s_store_event(w->k->store, w->i, w->api_version, &ev, &err);
	json_decref(ev.object);
	if (err) {
		w->gone = true;
		return err;
	}
	if (ev.rv[0])
		snprintf(w->rv, sizeof(w->rv), "%s", ev.rv);
	pthread_mutex_lock(&w->k->lock);
	w->k->stats.events++;
	w->k->stats.bookmarks += ev.type == K8S_EV_BOOKMARK;
	pthread_mutex_unlock(&w->k->lock);
	return 0;
}

/*
 * One watch from w->rv, until the server ends it. 0 (ended normally: watch again), -ESTALE
 * (relist), -ENOENT (404), -EAGAIN (failed: back off), -ECANCELED.
 */
static int watch(struct watcher *w)
{
	unsigned t = w->k->o.watch_timeout_s;
	char path[2048], base[256];
	uint64_t t0 = k8s_now_ms();
	long status;
	int err;

	t += next_rand(w) % (t / 4 + 1); /* watches of all agents do not end together */
	collection(w, base, sizeof(base));
	snprintf(path, sizeof(path),
		 "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%u%s%s",
		 base, w->rv, t, w->r->selector ? "&" : "", w->r->selector ? w->r->selector : "");
	count(w->k, &w->k->stats.watches);
	err = k8s_get(w, path, true, (long)t + 30, &status);
	if (w->gone || status == 410)
		return -ESTALE;
	if (err == -ECANCELED)
		return err;
	if (!err && status == 404)
		return -ENOENT;
	if (err || status != 200) {
		k8s_report(w, "watch", status, err ? err : -EPROTO);
		return -EAGAIN;
	}
	/* A server that ends every watch at once would have us spin: count that as a failure. */
	return k8s_now_ms() - t0 < 1000 ? -EAGAIN : 0;
}

/* 0 with w->api_version set, -ENOENT when the group or the resource is not served, -EAGAIN. */
static int discover(struct watcher *w)
{
	static const char *const known[] = {"v1", "v1beta1", "v1alpha3"};
	const char *pref, *cands[4];
	char path[256];
	size_t n = 0, i;
	json_t *root = NULL, *v;
	long status;
	int err;

	snprintf(path, sizeof(path), "/apis/%s", w->r->group);
	err = k8s_get(w, path, false, 30, &status);
	if (err == -ECANCELED)
		return err;
	if (!err && status == 404)
		return -ENOENT;
	if (err || status != 200 || !(root = json_loadb(w->body, w->body_len, 0, NULL))) {
		k8s_report(w, "discovery for", status, err ? err : -EPROTO);
		return -EAGAIN;
	}
	/* The preferred version first, then the newest shunt reads that the API serves. */
	pref = json_string_value(
		json_object_get(json_object_get(root, "preferredVersion"), "version"));
	for (size_t k = 0; k < 3; k++)
		if (pref && !strcmp(pref, known[k]))
			cands[n++] = known[k];
	for (size_t k = 0; k < 3; k++)
		json_array_foreach(json_object_get(root, "versions"), i, v)
		{
			const char *ver = json_string_value(json_object_get(v, "version"));

			if (ver && !strcmp(ver, known[k]) && (!pref || strcmp(pref, ver)))
				cands[n++] = known[k];
		}
	json_decref(root);
	for (size_t c = 0; c < n; c++) {
		snprintf(path, sizeof(path), "/apis/%s/%s", w->r->group, cands[c]);
		err = k8s_get(w, path, false, 30, &status);
		if (err == -ECANCELED)
			return err;
		if (err || status != 200 || !(root = json_loadb(w->body, w->body_len, 0, NULL)))
			continue;
		json_array_foreach(json_object_get(root, "resources"), i, v)
		{
			const char *name = json_string_value(json_object_get(v, "name"));

			if (name && !strcmp(name, w->r->plural)) {
				snprintf(w->api_version, sizeof(w->api_version), "%s/%s",
					 w->r->group, cands[c]);
				json_decref(root);
				return 0;
			}
		}
		json_decref(root);
	}
	return -ENOENT;
}

/* The Istio kind is not served: no objects; said once for all of them. */
static void absent(struct watcher *w)
{
	bool first;

	pthread_mutex_lock(&w->k->lock);
	first = !w->k->istio_absent;
	w->k->istio_absent = true;
	pthread_mutex_unlock(&w->k->lock);
	if (first)
		log_info("k8s: %s is not served by the API (Istio's CRDs are not installed): no "
			 "Istio objects; looking again every %u s",
			 w->r->group, w->k->o.discovery_ms / 1000);
	else
		log_debug("k8s: %s is not served", w->r->plural);
	k8s_store_absent(w->k->store, w->i);
	w->api_version[0] = '\0';
}

/*
 * The Istio group is served again: every Istio kind looks now, and is unsynced until it
 * listed, so that no config is built with VirtualServices but not yet the DestinationRules
 * that define their subsets.
 */
static void found(struct watcher *w)
{
	bool again;

	pthread_mutex_lock(&w->k->lock);
	again = w->k->istio_absent;
	w->k->istio_absent = false;
	if (again) {
		w->k->istio_epoch++;
		for (size_t i = 0; i < K8S_RESOURCES; i++)
			if (!k8s_resources[i].version)
				k8s_store_unsync(w->k->store, i);
		pthread_cond_broadcast(&w->k->cond);
	}
	pthread_mutex_unlock(&w->k->lock);
	if (again)
		log_info("k8s: %s is served: watching the Istio kinds", w->r->group);
}

/* nap() for an absent kind, cut short when another finds the group served. */
static void nap_absent(struct watcher *w)
{
	uint64_t end = k8s_now_ms() + w->k->o.discovery_ms;
	unsigned epoch;

	pthread_mutex_lock(&w->k->lock);
	epoch = w->k->istio_epoch;
	pthread_mutex_unlock(&w->k->lock);
	while (k8s_now_ms() < end && !nap(w->k, 100)) {
		bool moved;

		pthread_mutex_lock(&w->k->lock);
		moved = w->k->istio_epoch != epoch;
		pthread_mutex_unlock(&w->k->lock);
		if (moved)
			return;
	}
}

/* Watches until it must relist (or stops). */
static void watch_loop(struct watcher *w)
{
	while (!k8s_stopped(w->k)) {
		int err = watch(w);

		if (err == -ESTALE) {
			count(w->k, &w->k->stats.relists);
			return;
		}
		if (err == -ENOENT || err == -ECANCELED)
			return;
		if (err == -EAGAIN && backoff(w))
			return;
		if (!err)
			w->failures = 0;
	}
}

static void *watcher_main(void *arg)
{
	struct watcher *w = arg;
	bool istio = !w->r->version;
	char name[16];
	int err;

	snprintf(name, sizeof(name), "k8s-%.11s", w->r->plural);
	pthread_setname_np(pthread_self(), name);
	(void)privs_drop(PRIVS_NET); /* SO_MARK on each connection it opens: no more */
	while (!k8s_stopped(w->k)) {
		if (istio && !w->api_version[0]) {
			err = discover(w);
			if (err == -ENOENT) {
				absent(w);
				nap_absent(w);
				continue;
			}
			if (err) {
				if (err == -EAGAIN)
					backoff(w);
				continue;
			}
			found(w);
			log_info("k8s: watching %s as %s", w->r->plural, w->api_version);
		}
		err = list(w);
		if (err == -ENOENT && istio) {
			w->api_version[0] = '\0'; /* the CRD went away: look it up again */
			continue;
		}
		if (err) {
			/* An Istio kind found served but not listable (RBAC): the config goes on
			 * without it rather than wait for it. */
			if ((istio || w->r->optional) && w->failures >= 2 &&
			    k8s_store_settle(w->k->store, w->i))
				log_warn("k8s: %s cannot be listed: configs are built without "
					 "them until it can",
					 w->r->plural);
			if (err != -ECANCELED && backoff(w))
				break;
			continue;
		}
		w->failures = 0;
		watch_loop(w);
	}
	return NULL;
}

/* The store changed (on a watcher thread): waiters, then the agent. */
static void on_store_changed(void *arg)
{
	struct k8s *k = arg;

	pthread_mutex_lock(&k->lock);
	pthread_cond_broadcast(&k->cond);
	pthread_mutex_unlock(&k->lock);
	if (k->changed)
		k->changed(k->arg);
}

struct k8s_store *k8s_store(struct k8s *k)
{
	return k->store;
}

static int wait_until(struct k8s *k, bool (*done)(struct k8s *k, uint64_t arg), uint64_t arg,
		      unsigned timeout_ms)
{
	uint64_t end = k8s_now_ms() + timeout_ms;

	while (!done(k, arg)) {
		if (k8s_now_ms() >= end ||
		    nap(k, (unsigned)(end - k8s_now_ms()) < 100 ? (unsigned)(end - k8s_now_ms())
								: 100))
			return done(k, arg) ? 0 : -ETIMEDOUT;
	}
	return 0;
}

static bool is_synced(struct k8s *k, uint64_t arg)
{
	return k8s_store_synced(k->store);
}

static bool is_past(struct k8s *k, uint64_t gen)
{
	return k8s_store_generation(k->store) > gen;
}

int k8s_wait_synced(struct k8s *k, unsigned timeout_ms)
{
	return wait_until(k, is_synced, 0, timeout_ms);
}

int k8s_wait_change(struct k8s *k, uint64_t gen, unsigned timeout_ms)
{
	return wait_until(k, is_past, gen, timeout_ms);
}

void k8s_stats(struct k8s *k, struct k8s_stats *out)
{
	pthread_mutex_lock(&k->lock);
	*out = k->stats;
	pthread_mutex_unlock(&k->lock);
}

static void defaults(struct k8s_opts *o)
{
	o->backoff_min_ms = o->backoff_min_ms ? o->backoff_min_ms : K8S_BACKOFF_MIN_MS;
	o->backoff_max_ms = o->backoff_max_ms ? o->backoff_max_ms : K8S_BACKOFF_MAX_MS;
	o->discovery_ms = o->discovery_ms ? o->discovery_ms : K8S_DISCOVERY_MS;
	o->watch_timeout_s = o->watch_timeout_s ? o->watch_timeout_s : K8S_WATCH_TIMEOUT_S;
	o->page_limit = o->page_limit ? o->page_limit : K8S_PAGE_LIMIT;
}

int k8s_new(struct k8s_opts *o, void (*changed)(void *arg), void *arg, struct k8s **out)
{
	struct k8s *k = calloc(1, sizeof(*k));
	sigset_t all, old;
	uint32_t seed = 0;
	int err;

	if (!k) {
		k8s_conn_release(&o->conn);
		return -ENOMEM;
	}
	k->o = *o;
	memset(&o->conn, 0, sizeof(o->conn));
	defaults(&k->o);
	k->changed = changed;
	k->arg = arg;
	pthread_mutex_init(&k->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&k->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	err = k8s_store_new(on_store_changed, k, &k->store);
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint32_t)k8s_now_ms();
	/* The threads take no signal: shuntd's main thread reads them from a signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (size_t i = 0; i < K8S_RESOURCES && !err; i++) {
		struct watcher *w = &k->w[i];

		w->k = k;
		w->i = i;
		w->r = &k8s_resources[i];
		w->rand = (seed + (uint32_t)i * 0x9e3779b9u) | 1;
		if (w->r->version)
			snprintf(w->api_version, sizeof(w->api_version), "%s%s%s", w->r->group,
				 w->r->group[0] ? "/" : "", w->r->version);
		err = k8s_setup_curl(w);
		if (!err)
			err = -pthread_create(&w->thread, NULL, watcher_main, w);
		w->started = !err;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		k8s_free(k);
		return err;
	}
	*out = k;
	return 0;
}

void k8s_stop(struct k8s *k)
{
	pthread_mutex_lock(&k->lock);
	__atomic_store_n(&k->stop, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&k->cond);
	pthread_mutex_unlock(&k->lock);
	for (size_t i = 0; i < K8S_RESOURCES; i++) {
		if (k->w[i].started)
			pthread_join(k->w[i].thread, NULL);
		k->w[i].started = false;
	}
}

void k8s_free(struct k8s *k)
{
	if (!k)
		return;
	k8s_stop(k);
	for (size_t i = 0; i < K8S_RESOURCES; i++) {
		if (k->w[i].curl)
			curl_easy_cleanup(k->w[i].curl);
		k8s_lines_free(&k->w[i].lines);
		free(k->w[i].body);
	}
	k8s_store_free(k->store);
	k8s_conn_release(&k->o.conn);
	pthread_cond_destroy(&k->cond);
	pthread_mutex_destroy(&k->lock);
	free(k);
}
