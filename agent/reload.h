/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Hot reload of the config directory. A request (inotify on the directory,
 * SIGHUP, POST /reload) wakes the reload thread, which reads the directory,
 * validates all of it and compiles the route table, all off the data path
 * and off the main loop (whose heartbeat must keep beating). A config that
 * fails is refused: its diagnostics go to the log and to the store's reload
 * record, and the current snapshot keeps serving. A good one is handed to
 * the main loop, which installs it and updates the kernel maps (one thread
 * writes the maps). A directory whose content did not change is not
 * reloaded: a new snapshot would reset the balancers' state.
 */
#ifndef SHUNT_RELOAD_H
#define SHUNT_RELOAD_H

#include <stdint.h>

struct config;
struct loop;
struct snapshot;
struct snapshot_store;
struct reloader;

struct reload_ops {
	/*
	 * Reload thread: sets what the agent adds to every config it loads
	 * (the mesh's outbound policy, its own labels). 0, or -errno to refuse
	 * @cfg (with @why, one line, filled).
	 */
	int (*prepare)(void *ctx, struct config *cfg, char *why, size_t why_len);
	/*
	 * Main loop: @snap (validated and compiled, a reference that passes to the
	 * callee) should become the current snapshot. Returns 0, or -errno when it
	 * cannot (then it released @snap and recorded why).
	 */
	int (*apply)(void *ctx, struct snapshot *snap);
	/*
	 * Reload thread, once before its first load (NULL: nothing): what the
	 * loader needs set per thread (config_set_name_lookup).
	 */
	void (*thread_start)(void *ctx);
	void *ctx;
};

/*
 * A hash of the config files of @dir, their names and content, to tell a
 * changed directory from a touched one; 0 when it cannot be read.
 */
uint64_t reload_dir_hash(const char *dir);

/*
 * Starts the reload thread for @dir, delivering good configs to @ops->apply on
 * @loop, refused ones to @store's record. @loaded_hash (reload_dir_hash() of
 * what the agent loaded at start) says what is current. Watches @dir with
 * inotify when it can (else SIGHUP and POST /reload only, logged). 0 or -errno.
 */
int reloader_new(struct loop *loop, const char *dir, uint64_t loaded_hash,
		 struct snapshot_store *store, const struct reload_ops *ops, struct reloader **out);

/* Where a reloader's configs come from, when it is not a config directory. */
struct reload_source {
	const char *what; /* for the log: "the Kubernetes API" */
	/* Reload thread: a new config into *@out, as config_load_dir() does. */
	int (*load)(void *arg, struct config **out);
	/* Any thread: what tells a changed source from an unchanged one; 0: cannot tell. */
	uint64_t (*hash)(void *arg);
	void *arg;
};

/*
 * reloader_new() for another source, which asks for reloads itself
 * (reloader_request_settle()); nothing is watched. @loaded_hash is @src's hash
 * of the config the agent loaded at start: a source that moved on since then
 * reloads at once. 0 or -errno.
 */
int reloader_new_source(struct loop *loop, const struct reload_source *src, uint64_t loaded_hash,
			struct snapshot_store *store, const struct reload_ops *ops,
			struct reloader **out);

/*
 * Asks for a reload (@why: "SIGHUP", "inotify", "admin"; for the log). Any
 * thread. Requests while one is running coalesce into one more run.
 */
void reloader_request(struct reloader *r, const char *why);

/*
 * The same, after the changes settle: the run waits RELOAD_SETTLE_MS (200 ms) and
 * loads once for every request made meanwhile, as inotify's do. Any thread.
 */
void reloader_request_settle(struct reloader *r, const char *why);

/*
 * The same, but the directory is loaded even when its content did not
 * change: something the config is built from besides the files changed (an
 * answer for a DNS ServiceEntry's name). Any thread.
 */
void reloader_request_force(struct reloader *r, const char *why);

/* Reloads requested and finished so far (finished: loaded and applied, refused, or unchanged). */
void reloader_counts(struct reloader *r, uint64_t *requested, uint64_t *finished);

/* Stops the thread (a load in progress finishes first) and frees @r. NULL is fine. */
void reloader_free(struct reloader *r);

#endif /* SHUNT_RELOAD_H */
