/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the Kubernetes source knows of the cluster: per resource (Services,
 * Pods, VirtualServices, ...), every object stripped to what shunt reads
 * (k8s_strip()) and kept as compact JSON text, keyed by namespace/name, with
 * the resourceVersion the watch goes on from.
 *
 * A list replaces a resource's objects in one step, once the list is
 * complete: known objects never vanish while a relist runs. An object whose
 * stripped text did not change (a pod's restart count, a resourceVersion) is
 * no change, so a relist of what is known, a bookmark and the status updates
 * shunt does not read do not rebuild the config. Every change bumps the
 * store's generation and calls the change callback. One lock; any thread.
 */
#ifndef SHUNT_K8S_STORE_H
#define SHUNT_K8S_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "k8s_json.h"

struct config;
struct k8s_store;

/* A resource the store holds. */
struct k8s_resource {
	const char *group;   /* "" for the core group */
	const char *version; /* NULL: discovered (the Istio kinds) */
	const char *plural;  /* the path segment: "pods" */
	const char *kind;
	enum k8s_shape shape;
	bool cluster_scoped;
	const char *selector; /* "fieldSelector=..." both list and watch ask for; NULL: all */
	bool optional;	      /* when it cannot be listed (RBAC), configs are built without it */
};

#define K8S_RESOURCES 11
/* The resources, in the order their objects reach the loader. */
extern const struct k8s_resource k8s_resources[K8S_RESOURCES];

/* A new, empty store; @changed(@arg) is called (on the thread that changed it, without the
 * store's lock) after each change. 0 or -ENOMEM. */
int k8s_store_new(void (*changed)(void *arg), void *arg, struct k8s_store **out);
void k8s_store_free(struct k8s_store *s);

/* A list being built: objects keyed like the store's. */
json_t *k8s_list_new(void);
/*
 * Strips API object @obj (an item of a list of resource @r, whose apiVersion is
 * @api_version) and adds it to @list. 0, -EINVAL (an object without a name: skipped), or
 * -ENOMEM.
 */
int k8s_list_add(json_t *list, const struct k8s_resource *r, const char *api_version,
		 const json_t *obj);

/*
 * Resource @i's objects become those of @list (stolen), at resourceVersion @rv, and it is
 * synced. Whether anything changed.
 */
bool k8s_store_replace(struct k8s_store *s, size_t i, json_t *list, const char *rv);

/*
 * A watch event for resource @i: ADDED and MODIFIED store the stripped object, DELETED drops
 * it, BOOKMARK only moves the resourceVersion. Whether anything changed; -ENOMEM as an error
 * through *@err (then the caller relists).
 */
bool k8s_store_event(struct k8s_store *s, size_t i, const char *api_version,
		     const struct k8s_event *ev, int *err);

/* Resource @i is absent from the API (a CRD not installed): no objects, and synced. */
bool k8s_store_absent(struct k8s_store *s, size_t i);

/* Resource @i is to be listed again before a config is built from the store (its kind was
 * found served): not synced, its objects unchanged. No change. */
void k8s_store_unsync(struct k8s_store *s, size_t i);

/* Resource @i counts as synced with what it holds (its lists keep failing): a change, when
 * it was not synced. Whether it was not. */
bool k8s_store_settle(struct k8s_store *s, size_t i);

/* Resource @i's resourceVersion into @rv (@len bytes). */
void k8s_store_rv(struct k8s_store *s, size_t i, char *rv, size_t len);

/* How many objects resource @i holds. */
size_t k8s_store_count(struct k8s_store *s, size_t i);

/* Every resource has completed its first list (or is absent). */
bool k8s_store_synced(struct k8s_store *s);

/* Bumped by each change; 0 before the first. */
uint64_t k8s_store_generation(struct k8s_store *s);

/*
 * Builds a config from every object of the store, as config_load_dir() does from files
 * (same parsers, same checks, same diagnostics with "k8s:Kind/namespace/name" where a file
 * name would be). Objects are taken resource by resource, each sorted by namespace and name.
 * *@gen (when non-NULL) receives the generation the objects were taken at. Returns what
 * config_loader_finish() does.
 */
int k8s_store_load(struct k8s_store *s, struct config **out, uint64_t *gen);

#endif /* SHUNT_K8S_STORE_H */
