// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "loop.h"
#include "reload.h"
#include "snapshot.h"
#include "yaml_tree.h"

/*
 * Editors and kubelet write a change in several steps (a temporary file and a
 * rename; a ConfigMap's ..data symlink swap): reload once they have settled.
 */
#define RELOAD_SETTLE_MS 200
/* How often the main loop looks whether every worker let go of the replaced snapshot. */
#define RELOAD_REAP_MS 100

struct reloader {
	struct loop *loop;
	char *dir; /* the config directory, watched; NULL for another source */
	struct reload_source src;
	char *what; /* src.what, copied */
	struct snapshot_store *store;
	struct reload_ops ops;
	int watch_fd; /* inotify on dir, -1: none */
	int ready_fd; /* eventfd: a built snapshot waits in `ready` */
	struct loop_timer settle;
	struct loop_timer reap; /* armed while a replaced snapshot waits for its workers */
	pthread_t thread;
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t wake;
	bool stop;
	bool force;    /* the next run loads even an unchanged directory */
	bool settling; /* the next run waits RELOAD_SETTLE_MS for more changes first */
	uint64_t requested, started, finished;
	const char *why;	/* of the latest request */
	struct snapshot *ready; /* built, for the main loop to apply; a reference */
	uint64_t ready_seq;	/* `requested` when it was built */
	uint64_t last_hash;	/* of the directory content last loaded */
};

/* FNV-1a, 64 bits: to tell a changed directory from a touched one. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Folds @path's name, contents and length into *@h, reading it piece by piece: a large file is
 * never whole in memory (next to a snapshot, on reload). 0 or -errno, -EFBIG over YT_FILE_MAX as
 * the loader refuses it. */
static int hash_file(const char *path, uint64_t *h)
{
	unsigned char piece[16384];
	size_t len = 0;
	int fd, err = 0;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*h = fnv1a(*h, path, strlen(path) + 1);
	for (;;) {
		n = read(fd, piece, sizeof(piece));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n ? -errno : 0;
			break;
		}
		len += (size_t)n;
		if (len > YT_FILE_MAX) {
			err = -EFBIG;
			break;
		}
		*h = fnv1a(*h, piece, (size_t)n);
	}
	*h = fnv1a(*h, &len, sizeof(len));
	close(fd);
	return err;
}

uint64_t reload_dir_hash(const char *dir)
{
	uint64_t h = 0xcbf29ce484222325ull;
	char **paths = NULL;
	size_t n = 0;

	if (yt_list_dir(dir, &paths, &n))
		return 0;
	for (size_t i = 0; i < n && h; i++)
		if (hash_file(paths[i], &h))
			h = 0;
	yt_free_paths(paths, n);
	return h ? h : 1;
}

struct why_buf {
	char text[SNAPSHOT_ERROR_MAX];
	size_t len;
};

/* log_set_thread_sink(): every error line of a load, for the reload record. */
static void collect(const char *msg, void *arg)
{
	struct why_buf *w = arg;
	int n;

	if (w->len >= sizeof(w->text) - 1)
		return;
	n = snprintf(w->text + w->len, sizeof(w->text) - w->len, "%s\n", msg);
	if (n > 0)
		w->len += (size_t)n < sizeof(w->text) - w->len ? (size_t)n
							       : sizeof(w->text) - w->len - 1;
}

static void refuse(struct reloader *r, struct why_buf *w)
{
	uint64_t gen = snapshot_generation(r->store);

	if (!w->len)
		collect("the config could not be loaded (see the log)", w);
	snapshot_refused(r->store, w->text);
	log_error("reload: the config in %s is refused (the reasons above); generation %llu keeps "
		  "serving",
		  r->what, (unsigned long long)gen);
}

/* One reload, on the reload thread: *@out gets the snapshot to apply, or NULL. */
static void reload_once(struct reloader *r, uint64_t hash, struct snapshot **out)
{
	struct why_buf *w = calloc(1, sizeof(*w));
	struct config *cfg = NULL;
	char why[512];
	int err;

	*out = NULL;
	if (!w)
		return;
	log_set_thread_sink(collect, w);
	err = r->src.load(r->src.arg, &cfg);
	if (!err && r->ops.prepare) {
		why[0] = '\0';
		err = r->ops.prepare(r->ops.ctx, cfg, why, sizeof(why));
		if (err) {
			log_error("%s", why[0] ? why : "the agent cannot use this config");
			config_free(cfg);
		}
	}
	if (!err)
		err = snapshot_build(cfg, out); /* frees cfg on failure */
	log_set_thread_sink(NULL, NULL);
	if (err) {
		*out = NULL;
		refuse(r, w);
	} else {
		pthread_mutex_lock(&r->lock);
		r->last_hash = hash;
		pthread_mutex_unlock(&r->lock);
	}
	free(w);
}

/* Under r->lock: RELOAD_SETTLE_MS pass (requests meanwhile join this run), or a stop. */
static void settle_wait(struct reloader *r)
{
	struct timespec end;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_nsec += (long)RELOAD_SETTLE_MS * 1000000;
	end.tv_sec += end.tv_nsec / 1000000000;
	end.tv_nsec %= 1000000000;
	while (!r->stop && pthread_cond_timedwait(&r->wake, &r->lock, &end) != ETIMEDOUT)
		;
}

static void *reload_main(void *arg)
{
	struct reloader *r = arg;
	uint64_t one = 1;

	if (r->ops.thread_start)
		r->ops.thread_start(r->ops.ctx);
	pthread_mutex_lock(&r->lock);
	for (;;) {
		struct snapshot *snap, *old;
		uint64_t seq, hash, last;
		bool force;

		while (!r->stop && r->started == r->requested)
			pthread_cond_wait(&r->wake, &r->lock);
		if (r->stop)
			break;
		if (r->settling) {
			r->settling = false;
			settle_wait(r);
			if (r->stop)
				break;
		}
		seq = r->started = r->requested; /* requests until now are served by this run */
		log_info("reload: %s: reading %s", r->why, r->what);
		last = r->last_hash;
		force = r->force;
		r->force = false;
		pthread_mutex_unlock(&r->lock);

		hash = r->src.hash(r->src.arg);
		snap = NULL;
		if (hash && hash == last && !force)
			log_info("reload: %s has not changed: nothing to do", r->what);
		else
			reload_once(r, hash, &snap);

		pthread_mutex_lock(&r->lock);
		if (snap) { /* a newer build replaces one the main loop has not taken yet */
			old = r->ready;
			r->ready = snap;
			r->ready_seq = seq;
			if (old) {
				snapshot_release(old);
				r->finished = seq; /* the replaced one's requests are served too */
			}
			if (write(r->ready_fd, &one, sizeof(one)) != sizeof(one))
				log_warn("reload: cannot wake the main loop: %s", strerror(errno));
		} else {
			r->finished = seq;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static void watch_dir(struct reloader *r);

/* Main loop: the replaced snapshot is freed here, once no worker holds it, not by the worker
 * that lets go of it last (between two of its requests). */
static void on_reap(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct reloader *r = arg;

	if (snapshot_reap(r->store))
		(void)loop_timer_arm(loop, t, RELOAD_REAP_MS, on_reap, r);
}

/* Main loop: a built snapshot waits. */
static void on_ready(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct reloader *r = arg;
	struct snapshot *snap;
	uint64_t n, seq;

	while (read(fd, &n, sizeof(n)) == sizeof(n))
		;
	pthread_mutex_lock(&r->lock);
	snap = r->ready;
	seq = r->ready_seq;
	r->ready = NULL;
	pthread_mutex_unlock(&r->lock);
	if (!snap)
		return;
	n = (uint64_t)r->ops.apply(r->ops.ctx, snap);
	if (!loop_timer_armed(&r->reap))
		(void)loop_timer_arm(loop, &r->reap, RELOAD_REAP_MS, on_reap, r);
	if (r->dir && r->watch_fd < 0) /* the directory is there again (it just loaded): watch it */
		watch_dir(r);
	pthread_mutex_lock(&r->lock);
	if (n)
		r->last_hash = 0; /* not applied: the same content is tried again */
	if (r->finished < seq)
		r->finished = seq;
	pthread_mutex_unlock(&r->lock);
}

/* Main loop: stops watching a directory that is gone (the watch would follow it elsewhere). */
static void unwatch_dir(struct reloader *r)
{
	if (r->watch_fd < 0)
		return;
	loop_del(r->loop, r->watch_fd);
	close(r->watch_fd);
	r->watch_fd = -1;
}

static void on_settled(struct loop *loop, struct loop_timer *t, void *arg)
{
	reloader_request(arg, "the config directory changed");
}

static void on_watch(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct reloader *r = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool overflow = false, gone = false;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			overflow |= ev->mask & IN_Q_OVERFLOW;
			gone |= ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF);
			p += sizeof(*ev) + ev->len;
		}
	if (gone) {
		log_warn(
			"reload: %s itself was removed or moved: the config serving stays; once it "
			"is back, SIGHUP or POST /reload loads it and watching starts again",
			r->dir);
		unwatch_dir(r);
		return;
	}
	if (overflow)
		log_info("reload: inotify queue overflow on %s: reloading", r->dir);
	/* Every event re-arms the timer: the reload runs once the writes stop. */
	(void)loop_timer_arm(loop, &r->settle, RELOAD_SETTLE_MS, on_settled, r);
}

static void watch_dir(struct reloader *r)
{
	const uint32_t mask = IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM |
			      IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;

	r->watch_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (r->watch_fd >= 0 && inotify_add_watch(r->watch_fd, r->dir, mask) >= 0 &&
	    !loop_add(r->loop, r->watch_fd, EPOLLIN, on_watch, r))
		return;
	log_warn("reload: cannot watch %s (%s): reload with SIGHUP or POST /reload", r->dir,
		 strerror(errno));
	if (r->watch_fd >= 0)
		close(r->watch_fd);
	r->watch_fd = -1;
}

static int dir_load(void *arg, struct config **out)
{
	return config_load_dir(arg, out);
}

static uint64_t dir_hash(void *arg)
{
	return reload_dir_hash(arg);
}

/* The reloader without its source's watch. */
static int reloader_alloc(struct loop *loop, const struct reload_source *src, uint64_t loaded_hash,
			  struct snapshot_store *store, const struct reload_ops *ops,
			  struct reloader **out)
{
	pthread_condattr_t ca;
	struct reloader *r;
	int err;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->loop = loop;
	r->store = store;
	r->ops = *ops;
	r->src = *src;
	r->watch_fd = -1;
	r->what = strdup(src->what);
	r->ready_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!r->what || r->ready_fd < 0) {
		err = r->what ? -errno : -ENOMEM;
		goto free_r;
	}
	r->last_hash = loaded_hash; /* what the agent started with */
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* settle_wait() */
	pthread_cond_init(&r->wake, &ca);
	pthread_condattr_destroy(&ca);
	err = loop_add(loop, r->ready_fd, EPOLLIN, on_ready, r);
	if (err)
		goto destroy_sync;
	err = -pthread_create(&r->thread, NULL, reload_main, r);
	if (err)
		goto del_ready;
	*out = r;
	return 0;

del_ready:
	loop_del(loop, r->ready_fd);
destroy_sync:
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
free_r:
	if (r->ready_fd >= 0)
		close(r->ready_fd);
	free(r->what);
	free(r);
	return err;
}

int reloader_new_source(struct loop *loop, const struct reload_source *src, uint64_t loaded_hash,
			struct snapshot_store *store, const struct reload_ops *ops,
			struct reloader **out)
{
	int err = reloader_alloc(loop, src, loaded_hash, store, ops, out);

	if (!err && src->hash(src->arg) != loaded_hash)
		reloader_request(*out, "the config changed while the agent started");
	return err;
}

int reloader_new(struct loop *loop, const char *dir, uint64_t loaded_hash,
		 struct snapshot_store *store, const struct reload_ops *ops, struct reloader **out)
{
	struct reload_source src = {.what = dir, .load = dir_load, .hash = dir_hash};
	char *copy = strdup(dir);
	struct reloader *r;
	int err;

	if (!copy)
		return -ENOMEM;
	src.arg = copy;
	err = reloader_alloc(loop, &src, loaded_hash, store, ops, &r);
	if (err) {
		free(copy);
		return err;
	}
	r->dir = copy;
	/* Watch first, then look: a change made since the agent loaded the dir is not lost. */
	watch_dir(r);
	if (reload_dir_hash(dir) != loaded_hash)
		reloader_request(r, "the config directory changed while the agent started");
	*out = r;
	return 0;
}

void reloader_request(struct reloader *r, const char *why)
{
	pthread_mutex_lock(&r->lock);
	r->requested++;
	r->why = why;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
}

void reloader_request_settle(struct reloader *r, const char *why)
{
	pthread_mutex_lock(&r->lock);
	if (r->started == r->requested) /* none waiting yet: this one waits for the others */
		r->settling = true;
	pthread_mutex_unlock(&r->lock);
	reloader_request(r, why);
}

void reloader_request_force(struct reloader *r, const char *why)
{
	pthread_mutex_lock(&r->lock);
	r->force = true;
	pthread_mutex_unlock(&r->lock);
	reloader_request(r, why);
}

void reloader_counts(struct reloader *r, uint64_t *requested, uint64_t *finished)
{
	pthread_mutex_lock(&r->lock);
	*requested = r->requested;
	*finished = r->finished;
	pthread_mutex_unlock(&r->lock);
}

void reloader_free(struct reloader *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	loop_timer_cancel(r->loop, &r->settle);
	loop_timer_cancel(r->loop, &r->reap); /* what waits goes with the store */
	if (r->watch_fd >= 0) {
		loop_del(r->loop, r->watch_fd);
		close(r->watch_fd);
	}
	loop_del(r->loop, r->ready_fd);
	close(r->ready_fd);
	snapshot_release(r->ready);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r->dir);
	free(r->what);
	free(r);
}
