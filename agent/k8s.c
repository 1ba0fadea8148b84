// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * List and watch over libcurl: one easy handle per resource thread, blocking
 * transfers, a progress callback that aborts them once the client stops.
 * Watch streams are newline-delimited JSON, cut into events as they come
 * (k8s_lines_feed()), however the chunks split them.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <curl/curl.h>

#include "k8s.h"
#include "k8s_store.h"
#include "log.h"
#include "yaml_tree.h"

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

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool stopped(struct k8s *k)
{
	return __atomic_load_n(&k->stop, __ATOMIC_ACQUIRE);
}

static void count(struct k8s *k, uint64_t *field)
{
	pthread_mutex_lock(&k->lock);
	(*field)++;
	pthread_mutex_unlock(&k->lock);
}

/* Sleeps @ms, or until the client stops. True when it stopped. */
static bool nap(struct k8s *k, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	struct timespec ts;

	pthread_mutex_lock(&k->lock);
	while (!k->stop && now_ms() < end) {
		uint64_t left = end - now_ms();

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
	return stopped(k);
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

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct watcher *w = arg;

	return stopped(w->k) ? 1 : 0;
}

static int on_sockopt(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	struct watcher *w = arg;
	uint32_t mark = w->k->o.mark;

	/* The agent's own connections are never captured (a kubernetes Service VIP is). */
	if (mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)))
		log_debug("k8s: cannot mark a socket: %s", strerror(errno));
	return CURL_SOCKOPT_OK;
}

static int append_body(struct watcher *w, const char *data, size_t n)
{
	if (w->body_len + n + 1 > BODY_MAX)
		return -E2BIG;
	if (w->body_len + n + 1 > w->body_cap) {
		size_t cap = w->body_cap ? w->body_cap : 64 << 10;
		char *nb;

		while (cap < w->body_len + n + 1)
			cap *= 2;
		nb = realloc(w->body, cap);
		if (!nb)
			return -ENOMEM;
		w->body = nb;
		w->body_cap = cap;
	}
	memcpy(w->body + w->body_len, data, n);
	w->body_len += n;
	w->body[w->body_len] = '\0';
	return 0;
}

static int on_event_line(void *arg, const char *line, size_t len);

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct watcher *w = arg;
	size_t n = size * nmemb;
	long status = 0;
	int err;

	curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
	if (w->stream && status == 200)
		err = k8s_lines_feed(&w->lines, data, n, on_event_line, w);
	else
		err = append_body(w, data, n); /* a list, or a Status explaining an error */
	if (err) {
		w->aborted = true;
		return 0;
	}
	return n;
}

/* The bearer token: inline, or read again from its file at every request (rotated). */
static char *token(const struct k8s_conn *c)
{
	char *buf = NULL;
	size_t len = 0;

	if (c->token)
		return strdup(c->token);
	if (!c->token_file || yt_read_file(c->token_file, &buf, &len))
		return NULL;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		len--;
	buf[len] = '\0';
	return buf;
}

static void set_tls(CURL *c, const struct k8s_conn *conn)
{
	struct curl_blob b;

	if (conn->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, conn->ca_file);
	if (conn->ca_pem) {
		b = (struct curl_blob){conn->ca_pem, conn->ca_len, CURL_BLOB_COPY};
		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &b);
	}
	if (conn->insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (conn->cert_file)
		curl_easy_setopt(c, CURLOPT_SSLCERT, conn->cert_file);
	if (conn->key_file)
		curl_easy_setopt(c, CURLOPT_SSLKEY, conn->key_file);
	if (conn->cert_pem) {
		b = (struct curl_blob){conn->cert_pem, conn->cert_len, CURL_BLOB_COPY};
		curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &b);
		curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (conn->key_pem) {
		b = (struct curl_blob){conn->key_pem, conn->key_len, CURL_BLOB_COPY};
		curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &b);
		curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
	}
}

/* The handle's options that do not change between requests. 0 or -ENOMEM. */
static int setup_curl(struct watcher *w)
{
	CURL *c = curl_easy_init();

	if (!c)
		return -ENOMEM;
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L); /* a dead peer of an idle watch */
	curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 10L);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* gzip lists, where the API does */
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, w);
	curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
	curl_easy_setopt(c, CURLOPT_SOCKOPTDATA, w);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "shuntd");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, w->error);
	set_tls(c, &w->k->o.conn);
	w->curl = c;
	return 0;
}

/*
 * GET @path (and query) of the API server; a watch (@stream) feeds its events to
 * on_event_line(). *@status: the HTTP status, 0 when there was no response. 0 when the
 * transfer ended normally, -EIO when it failed (logged at debug), -ECANCELED when stopped or
 * refused by the write callback.
 */
static int get(struct watcher *w, const char *path, bool stream, long timeout_s, long *status)
{
	struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
	char url[2048], *auth = NULL, *tok = token(&w->k->o.conn);
	CURLcode rc;

	snprintf(url, sizeof(url), "%s%s", w->k->o.conn.server, path);
	if (tok && asprintf(&auth, "Authorization: Bearer %s", tok) > 0)
		hdrs = curl_slist_append(hdrs, auth);
	w->stream = stream;
	w->body_len = 0;
	w->gone = w->aborted = false;
	w->error[0] = '\0';
	k8s_lines_reset(&w->lines);
	curl_easy_setopt(w->curl, CURLOPT_URL, url);
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(w->curl, CURLOPT_TIMEOUT, timeout_s);
	rc = curl_easy_perform(w->curl);
	*status = 0;
	curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, status);
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	if (auth)
		memset(auth, 0, strlen(auth));
	if (tok)
		memset(tok, 0, strlen(tok));
	free(auth);
	free(tok);
	if (rc == CURLE_OK)
		return 0;
	if (stopped(w->k) || w->aborted)
		return -ECANCELED;
	if (!w->error[0])
		snprintf(w->error, sizeof(w->error), "%s", curl_easy_strerror(rc));
	log_debug("k8s: GET %s: %s", path, w->error);
	return -EIO;
}

/* A request that failed: logged once per kind of failure, then at debug level. */
static void report(struct watcher *w, const char *what, long status, int err)
{
	char msg[512];

	if (err == -EIO)
		snprintf(msg, sizeof(msg), "%s %s: %s", what, w->r->plural,
			 w->error[0] ? w->error : "no answer from the API server");
	else if (status && status != 200)
		snprintf(msg, sizeof(msg), "%s %s: HTTP %ld%s%.200s", what, w->r->plural, status,
			 w->body_len ? ": " : "", w->body_len ? w->body : "");
	else
		snprintf(msg, sizeof(msg), "%s %s: %s", what, w->r->plural, strerror(-err));
	if (status != w->last_status || !w->failures)
		log_warn("k8s: %s (retrying with backoff)%s", msg,
			 status == 401 || status == 403 ? "; see docs/kubernetes.md for the RBAC "
							  "shuntd needs"
							: "");
	else
		log_debug("k8s: %s", msg);
	w->last_status = status;
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

		snprintf(path, sizeof(path), "%s?limit=%u%s%s", base, w->k->o.page_limit,
			 esc ? "&continue=" : "", esc ? esc : "");
		curl_free(esc);
		err = get(w, path, false, 120, &status);
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
			report(w, "list", status, err);
		return err == -ENOENT || err == -ECANCELED ? err : -EAGAIN;
	}
	snprintf(w->rv, sizeof(w->rv), "%s", rv);
	log_debug("k8s: listed %zu %s at resourceVersion %s", json_object_size(acc), w->r->plural,
		  rv);
	k8s_store_replace(w->k->store, w->i, acc, rv);
	count(w->k, &w->k->stats.lists);
	return 0;
}

static int on_event_line(void *arg, const char *line, size_t len)
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
	uint64_t t0 = now_ms();
	long status;
	int err;

	t += next_rand(w) % (t / 4 + 1); /* watches of all agents do not end together */
	collection(w, base, sizeof(base));
	snprintf(path, sizeof(path),
		 "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%u", base,
		 w->rv, t);
	count(w->k, &w->k->stats.watches);
	err = get(w, path, true, (long)t + 30, &status);
	if (w->gone || status == 410)
		return -ESTALE;
	if (err == -ECANCELED)
		return err;
	if (!err && status == 404)
		return -ENOENT;
	if (err || status != 200) {
		report(w, "watch", status, err ? err : -EPROTO);
		return -EAGAIN;
	}
	/* A server that ends every watch at once would have us spin: count that as a failure. */
	return now_ms() - t0 < 1000 ? -EAGAIN : 0;
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
	err = get(w, path, false, 30, &status);
	if (err == -ECANCELED)
		return err;
	if (!err && status == 404)
		return -ENOENT;
	if (err || status != 200 || !(root = json_loadb(w->body, w->body_len, 0, NULL))) {
		report(w, "discovery for", status, err ? err : -EPROTO);
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
		err = get(w, path, false, 30, &status);
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
	uint64_t end = now_ms() + w->k->o.discovery_ms;
	unsigned epoch;

	pthread_mutex_lock(&w->k->lock);
	epoch = w->k->istio_epoch;
	pthread_mutex_unlock(&w->k->lock);
	while (now_ms() < end && !nap(w->k, 100)) {
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
	while (!stopped(w->k)) {
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
	int err;

	while (!stopped(w->k)) {
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
			if (istio && w->failures >= 2 && k8s_store_settle(w->k->store, w->i))
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
	uint64_t end = now_ms() + timeout_ms;

	while (!done(k, arg)) {
		if (now_ms() >= end ||
		    nap(k, (unsigned)(end - now_ms()) < 100 ? (unsigned)(end - now_ms()) : 100))
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
		seed = (uint32_t)now_ms();
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
		err = setup_curl(w);
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
