// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shuntd --kubernetes: the config comes from the API's objects (agent/k8s.c
 * lists and watches them into a store) instead of a directory. From the
 * objects on, everything is the file source's: the same parsers, the same
 * reloader, refusals and snapshots.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "istio.h"
#include "k8s.h"
#include "k8s_store.h"
#include "kubeconfig.h"
#include "log.h"
#include "reload.h"
#include "resolve.h"
#include "shuntd.h"

/* How often the start says what it is still waiting for. */
#define K8S_WAIT_LOG_MS 10000

/* A watcher thread changed the store: reload once the changes settle. */
static void on_changed(void *arg)
{
	struct agent *a = arg;
	struct reloader *r = __atomic_load_n(&a->reloader, __ATOMIC_ACQUIRE);

	/* Before the reloader starts, it compares generations itself (reloader_new_source).
	 * While a resource is being listed again (Istio's kinds, found served), the config
	 * waits for it: the last list to complete asks for the reload. */
	if (r && k8s_store_synced(k8s_store(a->k8s)))
		reloader_request_settle(r, "the Kubernetes API changed");
}

static int load(void *arg, struct config **out)
{
	return k8s_store_load(k8s_store(arg), out, NULL);
}

/* The store's generation + 1: 0 would mean "cannot tell". */
static uint64_t hash(void *arg)
{
	return k8s_store_generation(k8s_store(arg)) + 1;
}

void agent_k8s_source(struct agent *a, struct reload_source *src)
{
	*src = (struct reload_source){
		.what = "the Kubernetes API", .load = load, .hash = hash, .arg = a->k8s};
}

/* The first config, with the store's generation it was built from. */
struct first_load {
	struct k8s *k;
	uint64_t gen;
};

static int load_first(void *arg, struct config **out)
{
	struct first_load *f = arg;

	return k8s_store_load(k8s_store(f->k), out, &f->gen);
}

static int connect_api(struct agent *a)
{
	struct k8s_opts o = {.mark = a->opt.mark};
	char why[1024] = "";
	int err;

	if (a->opt.kubeconfig)
		err = kubeconfig_load(a->opt.kubeconfig, &o.conn, why, sizeof(why));
	else
		err = k8s_conn_in_cluster(K8S_SA_DIR, &o.conn, why, sizeof(why));
	if (err) {
		log_error("shuntd: --kubernetes: %s", why[0] ? why : strerror(-err));
		return err;
	}
	log_info("shuntd: reading the config from the Kubernetes API at %s (%s)%s%s", o.conn.server,
		 a->opt.kubeconfig ? a->opt.kubeconfig : "in-cluster",
		 a->opt.node_name ? ", node " : "", a->opt.node_name ? a->opt.node_name : "");
	err = k8s_new(&o, on_changed, a, &a->k8s);
	if (err)
		log_error("shuntd: cannot start watching the Kubernetes API: %s", strerror(-err));
	return err;
}

/* Until every resource has been listed once. */
static void wait_synced(struct agent *a)
{
	struct k8s_store *st = k8s_store(a->k8s);

	while (k8s_wait_synced(a->k8s, K8S_WAIT_LOG_MS)) {
		char missing[256] = "";
		size_t off = 0;

		for (size_t i = 0; i < K8S_RESOURCES; i++) {
			char rv[64];

			k8s_store_rv(st, i, rv, sizeof(rv));
			if (!rv[0] && !k8s_store_count(st, i) && off < sizeof(missing))
				off += (size_t)snprintf(missing + off, sizeof(missing) - off,
							"%s%s", off ? " " : "",
							k8s_resources[i].plural);
		}
		log_info("shuntd: not ready: waiting for the first list of every resource "
			 "(still: %s)",
			 missing[0] ? missing : "?");
	}
}

int agent_k8s_first_config(struct agent *a, struct config **cfg)
{
	struct first_load f;
	int err = connect_api(a);

	if (err)
		return err;
	f.k = a->k8s;
	for (;;) {
		wait_synced(a);
		err = resolver_load(a->resolver, load_first, &f, RESOLVE_START_MS, cfg);
		if (!err)
			break;
		if (err == -ENOMEM)
			return err;
		log_error("shuntd: not ready: the Kubernetes API's objects make an invalid config "
			  "(the reasons above); waiting for a change");
		while (k8s_wait_change(a->k8s, f.gen, K8S_WAIT_LOG_MS))
			;
	}
	a->loaded_hash = f.gen + 1; /* hash() of what was loaded */
	log_info("shuntd: the first config from the Kubernetes API: %zu services, %zu pods, %zu "
		 "namespaces, %zu VirtualServices, %zu DestinationRules",
		 (*cfg)->n_services, (*cfg)->n_pods, (*cfg)->n_namespaces, (*cfg)->istio.n_vs,
		 (*cfg)->istio.n_dr);
	return 0;
}
