// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Kubernetes source's store: a list swaps a resource's objects in whole
 * (what a relist dropped is gone, what it kept never vanished), events add,
 * change and delete, the resourceVersion follows lists, events and
 * bookmarks, and only a change of what shunt reads is a change. Then the
 * config built from it: the same parsers as files, diagnostics naming the
 * object.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "k8s_store.h"
#include "log.h"
#include "diags.h"

enum { NS, SVC, SLICE, POD, SE, WE, VS, DR, GW, SC };

static unsigned changes;

static void on_change(void *arg)
{
	changes++;
}

static json_t *parse(const char *text)
{
	json_t *v = json_loads(text, 0, NULL);

	assert_non_null(v);
	return v;
}

/* A Service item of a list (no apiVersion, no kind, as the API sends items). */
static json_t *svc(const char *name, const char *ip, const char *rv)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\",\"resourceVersion\":"
		 "\"%s\"},\"spec\":{\"clusterIP\":\"%s\",\"selector\":{\"app\":\"%s\"},"
		 "\"ports\":[{\"name\":\"http\",\"port\":80}]}}",
		 name, rv, ip, name);
	return parse(text);
}

static void list_of(struct k8s_store *s, size_t i, const char *rv, json_t **objs, size_t n)
{
	json_t *list = k8s_list_new();

	for (size_t k = 0; k < n; k++) {
		assert_int_equal(k8s_list_add(list, &k8s_resources[i], "v1", objs[k]), 0);
		json_decref(objs[k]);
	}
	k8s_store_replace(s, i, list, rv);
}

/* Every resource listed once, empty but for @i. */
static void sync_all(struct k8s_store *s)
{
	for (size_t i = 0; i < K8S_RESOURCES; i++)
		if (i != SVC)
			k8s_store_replace(s, i, k8s_list_new(), "1");
}

static struct k8s_event event(enum k8s_event_type type, json_t *obj)
{
	struct k8s_event ev = {.type = type, .object = obj};
	const char *rv = k8s_meta_str(obj, "resourceVersion");

	snprintf(ev.rv, sizeof(ev.rv), "%s", rv ? rv : "");
	return ev;
}

static struct config *load(struct k8s_store *s)
{
	struct config *cfg = NULL;

	if (k8s_store_load(s, &cfg, NULL)) {
		for (size_t i = 0; i < diags.n; i++)
			print_message("%s\n", diags.line[i]);
		fail_msg("the store did not load");
	}
	return cfg;
}

static void list_swaps_whole(void **state)
{
	struct k8s_store *s;
	json_t *v[2];
	struct config *cfg;
	char rv[64];

	assert_int_equal(k8s_store_new(on_change, NULL, &s), 0);
	assert_false(k8s_store_synced(s));
	changes = 0;
	v[0] = svc("a", "10.96.0.1", "5");
	v[1] = svc("b", "10.96.0.2", "6");
	list_of(s, SVC, "10", v, 2);
	assert_int_equal(changes, 1);
	assert_false(k8s_store_synced(s)); /* the other resources have not listed */
	sync_all(s);
	assert_true(k8s_store_synced(s));
	k8s_store_rv(s, SVC, rv, sizeof(rv));
	assert_string_equal(rv, "10");
	cfg = load(s);
	assert_int_equal(cfg->n_services, 2);
	assert_non_null(config_find_service(cfg, "default", "b"));
	config_free(cfg);

	/* A relist of the same objects at new resourceVersions: no change. */
	changes = 0;
	v[0] = svc("a", "10.96.0.1", "15");
	v[1] = svc("b", "10.96.0.2", "16");
	list_of(s, SVC, "20", v, 2);
	assert_int_equal(changes, 0);
	k8s_store_rv(s, SVC, rv, sizeof(rv));
	assert_string_equal(rv, "20");

	/* A relist without b: b is gone, a never went. */
	v[0] = svc("a", "10.96.0.1", "15");
	list_of(s, SVC, "30", v, 1);
	assert_int_equal(changes, 1);
	cfg = load(s);
	assert_int_equal(cfg->n_services, 1);
	assert_non_null(config_find_service(cfg, "default", "a"));
	assert_null(config_find_service(cfg, "default", "b"));
	config_free(cfg);
	k8s_store_free(s);
}

static void events_and_bookmarks(void **state)
{
	struct k8s_store *s;
	struct k8s_event ev;
	uint64_t gen;
	char rv[64];
	int err;

	assert_int_equal(k8s_store_new(on_change, NULL, &s), 0);
	list_of(s, SVC, "10", NULL, 0);
	sync_all(s);
	gen = k8s_store_generation(s);

	ev = event(K8S_EV_ADDED, svc("a", "10.96.0.1", "11"));
	assert_true(k8s_store_event(s, SVC, "v1", &ev, &err));
	json_decref(ev.object);
	assert_int_equal(k8s_store_count(s, SVC), 1);
	assert_int_equal(k8s_store_generation(s), gen + 1);

	/* MODIFIED with nothing shunt reads changed: the resourceVersion moves, no change. */
	ev = event(K8S_EV_MODIFIED, svc("a", "10.96.0.1", "12"));
	assert_false(k8s_store_event(s, SVC, "v1", &ev, &err));
	json_decref(ev.object);
	k8s_store_rv(s, SVC, rv, sizeof(rv));
	assert_string_equal(rv, "12");
	assert_int_equal(k8s_store_generation(s), gen + 1);

	ev = event(K8S_EV_MODIFIED, svc("a", "10.96.0.9", "13"));
	assert_true(k8s_store_event(s, SVC, "v1", &ev, &err));
	json_decref(ev.object);

	/* A bookmark: only the resourceVersion. */
	ev = event(K8S_EV_BOOKMARK, parse("{\"kind\":\"Service\",\"metadata\":"
					  "{\"resourceVersion\":\"40\"}}"));
	assert_false(k8s_store_event(s, SVC, "v1", &ev, &err));
	json_decref(ev.object);
	k8s_store_rv(s, SVC, rv, sizeof(rv));
	assert_string_equal(rv, "40");
	assert_int_equal(k8s_store_generation(s), gen + 2);

	ev = event(K8S_EV_DELETED, svc("a", "10.96.0.9", "41"));
	assert_true(k8s_store_event(s, SVC, "v1", &ev, &err));
	json_decref(ev.object);
	assert_int_equal(k8s_store_count(s, SVC), 0);
	/* Deleting what is not there is no change. */
	ev = event(K8S_EV_DELETED, svc("a", "10.96.0.9", "42"));
	assert_false(k8s_store_event(s, SVC, "v1", &ev, &err));
	json_decref(ev.object);
	k8s_store_rv(s, SVC, rv, sizeof(rv));
	assert_string_equal(rv, "42");
	assert_int_equal(err, 0);
	k8s_store_free(s);
}

/* An absent Istio kind counts as listed; found again, it must list before it is synced. */
static void absent_and_unsynced(void **state)
{
	struct k8s_store *s;

	assert_int_equal(k8s_store_new(NULL, NULL, &s), 0);
	for (size_t i = 0; i < K8S_RESOURCES; i++)
		if (k8s_resources[i].version)
			k8s_store_replace(s, i, k8s_list_new(), "1");
		else
			assert_true(k8s_store_absent(s, i));
	assert_true(k8s_store_synced(s));
	k8s_store_unsync(s, VS);
	assert_false(k8s_store_synced(s));
	assert_true(k8s_store_settle(s, VS));
	assert_true(k8s_store_synced(s));
	assert_false(k8s_store_settle(s, VS));
	k8s_store_free(s);
}

/* The kinds reach the loader from the store with their apiVersion and kind set (a list's
 * items have none), and a problem names the object and the field. */
static void bad_object_named(void **state)
{
	static const char *const want[] = {
		"k8s:VirtualService/default/r:1:1: spec.http[0].timeout: invalid duration "
		"\"soon\" (expected a number and a unit: h, m, s, ms, us or ns, such as \"10s\" "
		"or \"1m30s\")",
		NULL};
	struct k8s_store *s;
	struct config *cfg = NULL;
	json_t *list = k8s_list_new(), *vs;

	assert_int_equal(k8s_store_new(NULL, NULL, &s), 0);
	vs = parse("{\"metadata\":{\"name\":\"r\",\"namespace\":\"default\"},\"spec\":{\"hosts\":"
		   "[\"a\"],\"http\":[{\"timeout\":\"soon\",\"route\":[{\"destination\":"
		   "{\"host\":\"a\"}}]}]}}");
	assert_int_equal(k8s_list_add(list, &k8s_resources[VS], "networking.istio.io/v1beta1", vs),
			 0);
	json_decref(vs);
	k8s_store_replace(s, VS, list, "3");
	assert_int_equal(k8s_store_load(s, &cfg, NULL), -EINVAL);
	assert_diags(LOG_ERROR, want);
	k8s_store_free(s);
}

/* An item without a name is no object of the API: skipped, the rest kept. */
static void nameless_item_skipped(void **state)
{
	json_t *list = k8s_list_new(), *bad = parse("{\"metadata\":{}}");

	assert_int_equal(k8s_list_add(list, &k8s_resources[SVC], "v1", bad), -EINVAL);
	assert_int_equal(json_object_size(list), 0);
	json_decref(bad);
	json_decref(list);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(list_swaps_whole), T(events_and_bookmarks),  T(absent_and_unsynced),
		T(bad_object_named), T(nameless_item_skipped),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
