// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The reloader as shuntd drives it: a config directory changes (inotify) or a
 * reload is asked for; a good config reaches apply() on the loop thread, a
 * broken one is refused with its file:line reasons and the current snapshot
 * stays, unchanged content is not reloaded, and requests made while a reload
 * runs coalesce.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "loop.h"
#include "reload.h"
#include "snapshot.h"

static const char svc_a[] = "apiVersion: v1\n"
			    "kind: Service\n"
			    "metadata: {name: a, namespace: default}\n"
			    "spec:\n"
			    "  clusterIP: 10.96.0.10\n"
			    "  selector: {app: a}\n"
			    "  ports: [{port: 80, name: http}]\n";

static const char svc_b[] = "apiVersion: v1\n"
			    "kind: Service\n"
			    "metadata: {name: b, namespace: default}\n"
			    "spec:\n"
			    "  clusterIP: 10.96.0.11\n"
			    "  selector: {app: b}\n"
			    "  ports: [{port: 80, name: http}]\n";

/* Line 5 is the fault: a clusterIP that is no address. */
static const char svc_bad[] = "apiVersion: v1\n"
			      "kind: Service\n"
			      "metadata: {name: b, namespace: default}\n"
			      "spec:\n"
			      "  clusterIP: 10.96.0.999\n"
			      "  ports: [{port: 80}]\n";

struct fixture {
	char dir[64];
	struct snapshot_store store;
	struct loop *loop;
	struct reloader *r;
	pthread_t thread;
	unsigned prepared, applied; /* atomic */
};

static int prepare(void *ctx, struct config *cfg, char *why, size_t len)
{
	struct fixture *f = ctx;

	__atomic_add_fetch(&f->prepared, 1, __ATOMIC_RELAXED);
	return 0;
}

static int apply(void *ctx, struct snapshot *snap)
{
	struct fixture *f = ctx;

	snapshot_install(&f->store, snap);
	__atomic_add_fetch(&f->applied, 1, __ATOMIC_RELEASE);
	return 0;
}

static void *loop_main(void *arg)
{
	struct fixture *f = arg;

	loop_run(f->loop);
	return NULL;
}

static void write_file(struct fixture *f, const char *name, const char *text)
{
	char tmp[128], path[128];
	FILE *fp;

	/* Renamed into place, as kubelet and editors do: the reload sees whole files. */
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", f->dir, name);
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fp = fopen(tmp, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(rename(tmp, path), 0);
}

/* Waits (5 s at most) until every reload asked for is finished. */
static void settle(struct fixture *f)
{
	uint64_t req, fin;

	for (int i = 0; i < 500; i++) {
		reloader_counts(f->r, &req, &fin);
		if (req && req == fin)
			return;
		usleep(10 * 1000);
	}
	fail_msg("reloads did not finish: %llu asked, %llu done", (unsigned long long)req,
		 (unsigned long long)fin);
}

/* Waits (5 s at most) until the store's generation is @gen. */
static void wait_generation(struct fixture *f, uint64_t gen)
{
	for (int i = 0; i < 500 && snapshot_generation(&f->store) < gen; i++)
		usleep(10 * 1000);
	assert_int_equal(snapshot_generation(&f->store), gen);
}

static int setup(void **state)
{
	static struct fixture f;
	struct reload_ops ops = {.prepare = prepare, .apply = apply, .ctx = &f};
	struct config *cfg = NULL;

	memset(&f, 0, sizeof(f));
	log_level_cur = LOG_ERROR;
	snprintf(f.dir, sizeof(f.dir), "/tmp/shunt-reload-unit.XXXXXX");
	assert_non_null(mkdtemp(f.dir));
	write_file(&f, "a.yaml", svc_a);
	snapshot_store_init(&f.store);
	assert_int_equal(config_load_dir(f.dir, &cfg), 0);
	assert_int_equal(snapshot_publish(&f.store, cfg), 0);
	f.loop = loop_new();
	assert_non_null(f.loop);
	assert_int_equal(reloader_new(f.loop, f.dir, reload_dir_hash(f.dir), &f.store, &ops, &f.r),
			 0);
	assert_int_equal(pthread_create(&f.thread, NULL, loop_main, &f), 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	loop_stop(f->loop);
	pthread_join(f->thread, NULL);
	reloader_free(f->r);
	loop_free(f->loop);
	snapshot_store_fini(&f->store);
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void a_new_file_is_applied_without_being_asked(void **state)
{
	struct fixture *f = *state;
	struct snapshot *snap;

	write_file(f, "b.yaml", svc_b); /* inotify alone */
	wait_generation(f, 2);
	settle(f);
	snap = snapshot_acquire(&f->store);
	assert_int_equal(snap->cfg->n_services, 2);
	snapshot_release(snap);
	assert_int_equal(__atomic_load_n(&f->prepared, __ATOMIC_RELAXED), 1);
}

static void a_broken_file_is_refused_and_the_old_config_serves(void **state)
{
	struct fixture *f = *state;
	struct snapshot_reloads rl;
	struct snapshot *snap;
	char want[128];

	write_file(f, "b.yaml", svc_bad);
	for (int i = 0; i < 500; i++) {
		snapshot_reloads_get(&f->store, &rl);
		if (rl.refused)
			break;
		usleep(10 * 1000);
	}
	settle(f);
	snapshot_reloads_get(&f->store, &rl);
	assert_int_equal(rl.refused, 1);
	assert_true(rl.last_refused_unix > 0);
	snprintf(want, sizeof(want), "%s/b.yaml:5:", f->dir);
	assert_non_null(strstr(rl.last_error, want));
	assert_non_null(strstr(rl.last_error, "spec.clusterIP"));
	assert_int_equal(snapshot_generation(&f->store), 1);
	snap = snapshot_acquire(&f->store);
	assert_int_equal(snap->cfg->n_services, 1); /* a's config, as loaded at start */
	snapshot_release(snap);
	assert_int_equal(__atomic_load_n(&f->applied, __ATOMIC_ACQUIRE), 0);

	/* Fixed: applied, and the record keeps the last refusal for the operator. */
	write_file(f, "b.yaml", svc_b);
	wait_generation(f, 2);
	snapshot_reloads_get(&f->store, &rl);
	assert_int_equal(rl.ok, 2);
	assert_int_equal(rl.refused, 1);
}

static void unchanged_content_is_not_reloaded(void **state)
{
	struct fixture *f = *state;

	write_file(f, "a.yaml", svc_a); /* rewritten, same bytes */
	usleep(400 * 1000);		/* past the settle delay */
	reloader_request(f->r, "test");
	settle(f);
	assert_int_equal(snapshot_generation(&f->store), 1);
	assert_int_equal(__atomic_load_n(&f->prepared, __ATOMIC_RELAXED), 0);
}

static void requests_coalesce(void **state)
{
	struct fixture *f = *state;
	uint64_t req, fin;

	write_file(f, "b.yaml", svc_b);
	for (int i = 0; i < 50; i++)
		reloader_request(f->r, "test");
	settle(f);
	reloader_counts(f->r, &req, &fin);
	assert_int_equal(req, fin);
	/* 50 requests, one change: one new snapshot, however the requests fell. */
	assert_int_equal(snapshot_generation(&f->store), 2);
	assert_true(__atomic_load_n(&f->prepared, __ATOMIC_RELAXED) <= 2);
}

/* The store keeps what it replaced until no worker holds it; snapshot_reap() frees it then (on
 * the main loop, not on the worker that lets go last). */
static void the_replaced_snapshot_waits_for_its_workers(void **state)
{
	struct snapshot_store st;
	struct snapshot *worker, *b;
	struct config *cfg = NULL;

	snapshot_store_init(&st);
	assert_int_equal(config_load_buf("a.yaml", svc_a, strlen(svc_a), &cfg), 0);
	assert_int_equal(snapshot_publish(&st, cfg), 0);
	assert_false(snapshot_reap(&st)); /* nothing replaced yet */
	worker = snapshot_acquire(&st);
	assert_int_equal(config_load_buf("b.yaml", svc_b, strlen(svc_b), &cfg), 0);
	assert_int_equal(snapshot_build(cfg, &b), 0);
	snapshot_install(&st, b);
	assert_ptr_equal(st.prev, worker);
	assert_true(snapshot_reap(&st)); /* the worker still routes with it */
	assert_ptr_equal(st.prev, worker);
	snapshot_release(worker); /* it moved on: the store holds the last reference */
	assert_false(snapshot_reap(&st));
	assert_null(st.prev);
	assert_ptr_equal(st.cur, b);
	snapshot_store_fini(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_new_file_is_applied_without_being_asked, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_broken_file_is_refused_and_the_old_config_serves,
						setup, teardown),
		cmocka_unit_test_setup_teardown(unchanged_content_is_not_reloaded, setup, teardown),
		cmocka_unit_test_setup_teardown(requests_coalesce, setup, teardown),
		cmocka_unit_test(the_replaced_snapshot_waits_for_its_workers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
