// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "k8s_store.h"
#include "log.h"

/* clang-format off: one resource a line */
const struct k8s_resource k8s_resources[K8S_RESOURCES] = {
	{.group = "",
	 .version = "v1",
	 .plural = "namespaces",
	 .kind = "Namespace",
	 .shape = K8S_SHAPE_NAMESPACE,
	 .cluster_scoped = true},
	{.group = "",
	 .version = "v1",
	 .plural = "services",
	 .kind = "Service",
	 .shape = K8S_SHAPE_SERVICE},
	{.group = "discovery.k8s.io",
	 .version = "v1",
	 .plural = "endpointslices",
	 .kind = "EndpointSlice",
	 .shape = K8S_SHAPE_SLICE},
	{.group = "", .version = "v1", .plural = "pods", .kind = "Pod", .shape = K8S_SHAPE_POD},
	{.group = "networking.istio.io",
	 .plural = "serviceentries",
	 .kind = "ServiceEntry",
	 .shape = K8S_SHAPE_SPEC},
	{.group = "networking.istio.io",
	 .plural = "workloadentries",
	 .kind = "WorkloadEntry",
	 .shape = K8S_SHAPE_SPEC},
	{.group = "networking.istio.io",
	 .plural = "virtualservices",
	 .kind = "VirtualService",
	 .shape = K8S_SHAPE_SPEC},
	{.group = "networking.istio.io",
	 .plural = "destinationrules",
	 .kind = "DestinationRule",
	 .shape = K8S_SHAPE_SPEC},
	{.group = "networking.istio.io",
	 .plural = "gateways",
	 .kind = "Gateway",
	 .shape = K8S_SHAPE_SPEC},
	{.group = "networking.istio.io",
	 .plural = "sidecars",
	 .kind = "Sidecar",
	 .shape = K8S_SHAPE_SPEC},
	/* Gateway servers' credentialName: TLS Secrets only, never the rest of them. */
	{.group = "",
	 .version = "v1",
	 .plural = "secrets",
	 .kind = "Secret",
	 .shape = K8S_SHAPE_SECRET,
	 .selector = "fieldSelector=type%3Dkubernetes.io%2Ftls",
	 .optional = true},
};
/* clang-format on */

struct k8s_kind_store {
	json_t *objs; /* "namespace/name" (cluster-scoped: "name") -> JSON string of the object */
	char rv[64];
	bool synced;
};

struct k8s_store {
	pthread_mutex_t lock;
	struct k8s_kind_store kinds[K8S_RESOURCES];
	uint64_t generation;
	void (*changed)(void *arg);
	void *arg;
};

int k8s_store_new(void (*changed)(void *arg), void *arg, struct k8s_store **out)
{
	struct k8s_store *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < K8S_RESOURCES; i++) {
		s->kinds[i].objs = json_object();
		if (!s->kinds[i].objs) {
			k8s_store_free(s);
			return -ENOMEM;
		}
	}
	pthread_mutex_init(&s->lock, NULL);
	s->changed = changed;
	s->arg = arg;
	*out = s;
	return 0;
}

void k8s_store_free(struct k8s_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < K8S_RESOURCES; i++)
		json_decref(s->kinds[i].objs);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

json_t *k8s_list_new(void)
{
	return json_object();
}

/* "namespace/name", or "name" for a cluster-scoped resource. -EINVAL without a name. */
static int key_of(const struct k8s_resource *r, const json_t *obj, char *key, size_t len)
{
	const char *name = k8s_meta_str(obj, "name"), *ns = k8s_meta_str(obj, "namespace");
	int n;

	if (!name || !*name)
		return -EINVAL;
	if (r->cluster_scoped)
		n = snprintf(key, len, "%s", name);
	else
		n = snprintf(key, len, "%s/%s", ns && *ns ? ns : "default", name);
	return n > 0 && (size_t)n < len ? 0 : -EINVAL;
}

/* The stripped text of @obj. NULL on ENOMEM (or when @obj is not an object). */
static json_t *stripped_text(const struct k8s_resource *r, const char *api_version,
			     const json_t *obj)
{
	json_t *st = k8s_strip(obj, r->shape, api_version, r->kind), *text = NULL;
	char *s;

	if (!st)
		return NULL;
	s = json_dumps(st, JSON_COMPACT);
	json_decref(st);
	if (s)
		text = json_string_nocheck(s);
	free(s);
	return text;
}

int k8s_list_add(json_t *list, const struct k8s_resource *r, const char *api_version,
		 const json_t *obj)
{
	char key[512];
	json_t *text;

	if (key_of(r, obj, key, sizeof(key)))
		return -EINVAL;
	text = stripped_text(r, api_version, obj);
	if (!text || json_object_set_new_nocheck(list, key, text))
		return -ENOMEM;
	return 0;
}

static bool same(const json_t *a, const json_t *b)
{
	return a && b && json_string_length(a) == json_string_length(b) &&
	       !memcmp(json_string_value(a), json_string_value(b), json_string_length(a));
}

/* After a change, without the lock. */
static void notify(struct k8s_store *s)
{
	if (s->changed)
		s->changed(s->arg);
}

bool k8s_store_replace(struct k8s_store *s, size_t i, json_t *list, const char *rv)
{
	struct k8s_kind_store *k = &s->kinds[i];
	bool changed;
	const char *key;
	json_t *v, *old;

	pthread_mutex_lock(&s->lock);
	old = k->objs;
	changed = json_object_size(old) != json_object_size(list);
	json_object_foreach(list, key, v)
	{
		if (changed)
			break;
		changed = !same(json_object_get(old, key), v);
	}
	k->objs = list;
	snprintf(k->rv, sizeof(k->rv), "%s", rv ? rv : "");
	changed |= !k->synced; /* a first list is a change, even an empty one */
	k->synced = true;
	if (changed)
		s->generation++;
	pthread_mutex_unlock(&s->lock);
	json_decref(old);
	if (changed)
		notify(s);
	return changed;
}

bool k8s_store_absent(struct k8s_store *s, size_t i)
{
	json_t *empty = json_object();

	if (!empty)
		return false;
	return k8s_store_replace(s, i, empty, "");
}

bool k8s_store_event(struct k8s_store *s, size_t i, const char *api_version,
		     const struct k8s_event *ev, int *err)
{
	const struct k8s_resource *r = &k8s_resources[i];
	struct k8s_kind_store *k = &s->kinds[i];
	json_t *text = NULL;
	bool changed = false;
	char key[512];

	*err = 0;
	if (ev->type != K8S_EV_BOOKMARK && key_of(r, ev->object, key, sizeof(key)))
		return false; /* nothing the API would send */
	if (ev->type == K8S_EV_ADDED || ev->type == K8S_EV_MODIFIED) {
		text = stripped_text(r, api_version, ev->object);
		if (!text) {
			*err = -ENOMEM;
			return false;
		}
	}
	pthread_mutex_lock(&s->lock);
	switch (ev->type) {
	case K8S_EV_ADDED:
	case K8S_EV_MODIFIED:
		changed = !same(json_object_get(k->objs, key), text);
		if (changed && json_object_set_nocheck(k->objs, key, text))
			*err = -ENOMEM;
		break;
	case K8S_EV_DELETED:
		changed = !json_object_del(k->objs, key);
		break;
	default:
		break;
	}
	if (ev->rv[0] && !*err)
		snprintf(k->rv, sizeof(k->rv), "%s", ev->rv);
	if (changed && !*err)
		s->generation++;
	pthread_mutex_unlock(&s->lock);
	json_decref(text);
	if (changed && !*err)
		notify(s);
	return changed && !*err;
}

void k8s_store_unsync(struct k8s_store *s, size_t i)
{
	pthread_mutex_lock(&s->lock);
	s->kinds[i].synced = false;
	pthread_mutex_unlock(&s->lock);
}

bool k8s_store_settle(struct k8s_store *s, size_t i)
{
	bool was;

	pthread_mutex_lock(&s->lock);
	was = !s->kinds[i].synced;
	s->kinds[i].synced = true;
	if (was)
		s->generation++;
	pthread_mutex_unlock(&s->lock);
	if (was)
		notify(s);
	return was;
}

void k8s_store_rv(struct k8s_store *s, size_t i, char *rv, size_t len)
{
	pthread_mutex_lock(&s->lock);
	snprintf(rv, len, "%s", s->kinds[i].rv);
	pthread_mutex_unlock(&s->lock);
}

size_t k8s_store_count(struct k8s_store *s, size_t i)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = json_object_size(s->kinds[i].objs);
	pthread_mutex_unlock(&s->lock);
	return n;
}

bool k8s_store_synced(struct k8s_store *s)
{
	bool all = true;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < K8S_RESOURCES; i++)
		all &= s->kinds[i].synced;
	pthread_mutex_unlock(&s->lock);
	return all;
}

uint64_t k8s_store_generation(struct k8s_store *s)
{
	uint64_t g;

	pthread_mutex_lock(&s->lock);
	g = s->generation;
	pthread_mutex_unlock(&s->lock);
	return g;
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The objects of @objs (a copy the caller owns) into @l, sorted by key. 0 or -ENOMEM. */
static int load_kind(struct config_loader *l, const struct k8s_resource *r, json_t *objs)
{
	size_t n = 0, cap = json_object_size(objs);
	const char **keys = calloc(cap + 1, sizeof(*keys));
	const char *key;
	json_t *v;
	int err = 0;

	if (!keys)
		return -ENOMEM;
	json_object_foreach(objs, key, v) keys[n++] = key;
	if (n)
		qsort(keys, n, sizeof(*keys), cmp_key);
	for (size_t i = 0; i < n && !err; i++) {
		const json_t *text = json_object_get(objs, keys[i]);
		json_t *obj =
			json_loadb(json_string_value(text), json_string_length(text), 0, NULL);
		yaml_document_t doc = {0};
		char name[600];

		if (!obj) { /* our own text: only ENOMEM */
			err = -ENOMEM;
			break;
		}
		snprintf(name, sizeof(name), "k8s:%s/%s", r->kind, keys[i]);
		err = k8s_json_to_yaml(obj, &doc);
		if (!err)
			err = config_loader_add(l, name, &doc);
		yaml_document_delete(&doc);
		json_decref(obj);
	}
	free(keys);
	return err;
}

int k8s_store_load(struct k8s_store *s, struct config **out, uint64_t *gen)
{
	json_t *copies[K8S_RESOURCES] = {0};
	struct config_loader *l;
	int err = 0;

	pthread_mutex_lock(&s->lock);
	/* Shallow copies: the texts are shared (jansson counts references atomically) and
	 * never changed in place, so the load runs without the lock. */
	for (size_t i = 0; i < K8S_RESOURCES && !err; i++)
		if (!(copies[i] = json_copy(s->kinds[i].objs)))
			err = -ENOMEM;
	if (gen)
		*gen = s->generation;
	pthread_mutex_unlock(&s->lock);
	if (!err)
		err = config_loader_new(&l);
	if (!err) {
		int kerr = 0;

		for (size_t i = 0; i < K8S_RESOURCES && !kerr; i++)
			kerr = load_kind(l, &k8s_resources[i], copies[i]);
		err = config_loader_finish(l, out);
		if (!err && kerr) {
			config_free(*out);
			*out = NULL;
			err = kerr;
		}
	}
	for (size_t i = 0; i < K8S_RESOURCES; i++)
		json_decref(copies[i]);
	return err;
}
