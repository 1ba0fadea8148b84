// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What a reload does to the agent (agent/reload.c does the loading): the
 * defaults every config gets, the Gateway listeners following the config,
 * the kernel maps following the new snapshot, and GET/POST /reload.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "gateway.h"
#include "gateway_tls.h"
#include "log.h"
#include "podns.h"
#include "reload.h"
#include "resolve.h"
#include "privs.h"
#include "shuntd.h"
#include "worker.h"

const char *agent_source(const struct agent *a)
{
	return a->k8s ? "the Kubernetes API" : a->opt.config_dir;
}

void agent_prepare_config(struct agent *a, struct config *cfg)
{
	cfg->mesh_outbound = a->opt.outbound; /* routes for unknown hosts need it */
	cfg->agent_labels = a->opt.gw_labels.n ? &a->opt.gw_labels : NULL;
}

/*
 * TLS contexts a reload replaced: a handshake begun on them may still run
 * (TLS_HANDSHAKE_MS, or the client idle timeout), so they are freed a while
 * later, on the heartbeat, and at exit.
 */
#define GW_RETIRE_MS (10 * 60 * 1000)

static void retire_gw_tls(struct agent *a, struct gw_tls *t)
{
	if (!t)
		return;
	if (a->n_retired == GW_RETIRED_MAX) { /* the oldest has had its time */
		gw_tls_free(a->retired[0].tls);
		memmove(a->retired, a->retired + 1, (GW_RETIRED_MAX - 1) * sizeof(a->retired[0]));
		a->n_retired--;
	}
	a->retired[a->n_retired].tls = t;
	a->retired[a->n_retired++].since_ms = loop_now_ms(a->loop);
}

void agent_free_retired_gw_tls(struct agent *a, bool all)
{
	size_t n = 0;

	while (n < a->n_retired &&
	       (all || loop_now_ms(a->loop) - a->retired[n].since_ms >= GW_RETIRE_MS))
		gw_tls_free(a->retired[n++].tls);
	memmove(a->retired, a->retired + n, (a->n_retired - n) * sizeof(a->retired[0]));
	a->n_retired -= n;
}

/*
 * Main loop, after a reload: the workers serve the Gateway listeners @cfg
 * asks for. A listener whose certificates did not change keeps its contexts;
 * others get new ones (the old ones retire). Ports come and go without a restart.
 */
static void reload_gateways(struct agent *a, const struct config *cfg)
{
	struct sockaddr_in gw[PROXY_GW_MAX];
	struct gw_tls *tls[PROXY_GW_MAX];
	bool changed;
	size_t n;

	n = gateway_listeners(cfg, a->opt.gw_address, gw, tls, PROXY_GW_MAX);
	changed = n != a->opt.n_gw;
	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < a->opt.n_gw && memcmp(&gw[i], &a->opt.gw[j], sizeof(gw[i])); j++)
			;
		if (j < a->opt.n_gw && gw_tls_equal(tls[i], a->opt.gw_tls[j])) {
			gw_tls_free(tls[i]); /* the same: keep the contexts the workers have */
			tls[i] = a->opt.gw_tls[j];
			a->opt.gw_tls[j] = NULL;
		} else {
			changed = true;
		}
	}
	for (size_t j = 0; j < a->opt.n_gw; j++)
		retire_gw_tls(a, a->opt.gw_tls[j]); /* what no listener keeps */
	memcpy(a->opt.gw, gw, n * sizeof(gw[0]));
	memcpy(a->opt.gw_tls, tls, n * sizeof(tls[0]));
	a->opt.n_gw = n;
	if (!changed)
		return;
	for (unsigned w = 0; w < a->n_workers; w++)
		if (worker_set_gateways(a->workers[w], a->opt.gw, a->opt.gw_tls, n))
			log_error("reload: worker %u cannot take the new Gateway listeners", w);
	log_info("reload: the workers now serve %zu Gateway listener(s)", n);
}

/* Reload thread: a config that loaded and validated, before its routes are compiled. */
static int reload_prepare(void *ctx, struct config *cfg, char *why, size_t len)
{
	struct agent *a = ctx;

	agent_prepare_config(a, cfg);
	if (a->resolver && resolver_want(a->resolver, cfg->istio.dns_names, cfg->istio.n_dns_names))
		log_warn("dns: out of memory: the names to resolve are those of the previous "
			 "config");
	return 0;
}

/*
 * Main loop: install @snap, then make the kernel maps follow it. In that
 * order: a VIP the kernel sends here is one the agent knows; a service both
 * configs have is updated in place (kern_sync_services adds before it deletes).
 */
static int reload_apply(void *ctx, struct snapshot *snap)
{
	struct agent *a = ctx;
	struct podns_result pods;
	struct kern_sync sync;
	char why[512];
	int err;

	err = kern_sync_fits(a->kern, snap->cfg, snap->rt, why, sizeof(why));
	if (err) {
		log_error("reload: %s", why);
		log_error("reload: the config in %s is refused; generation %llu keeps serving",
			  agent_source(a), (unsigned long long)snapshot_generation(&a->store));
		snapshot_refused(&a->store, why);
		snapshot_release(snap);
		return err;
	}
	snapshot_install(&a->store, snap);
	/* Idle workers let go of the old snapshot too: its memory goes once the last one did. */
	for (unsigned w = 0; w < a->n_workers; w++)
		if (worker_refresh_soon(a->workers[w]))
			log_warn("reload: worker %u keeps generation %llu until its next request",
				 w, (unsigned long long)snap->generation - 1);
	reload_gateways(a, snap->cfg);
	err = kern_sync_services(a->kern, snap->cfg, snap->rt, &sync);
	if (!err)
		err = podns_sync(a->kern, snap->cfg, a->opt.netns_dir, a->opt.outbound, &pods);
	if (err) {
		log_error("reload: generation %llu serves, but the kernel maps could not follow it "
			  "(%s): the next reload tries again",
			  (unsigned long long)snap->generation, strerror(-err));
		return err;
	}
	log_info("reload: generation %llu serves: %u service ports through the agent, %u in the "
		 "kernel (IPv6: %u, %u), %zu pods in the mesh",
		 (unsigned long long)snap->generation, sync.l7, sync.direct, sync.l7_6,
		 sync.direct6, pods.pods_in_mesh);
	return 0;
}

/* Reload thread: its loads read DNS ServiceEntries' names from the resolver; it reads files
 * and needs no capability (privs.h). */
static void reload_thread_start(void *ctx)
{
	struct agent *a = ctx;

	pthread_setname_np(pthread_self(), "shunt-reload");
	(void)privs_drop(PRIVS_NONE);
	if (a->resolver)
		config_set_name_lookup(resolver_name_lookup, a->resolver);
}

void agent_start_reloader(struct agent *a)
{
	struct reload_ops ops = {.prepare = reload_prepare,
				 .apply = reload_apply,
				 .thread_start = reload_thread_start,
				 .ctx = a};
	int err;

	struct reloader *r = NULL;
	struct reload_source src;

	if (a->k8s) {
		agent_k8s_source(a, &src);
		err = reloader_new_source(a->loop, &src, a->loaded_hash, &a->store, &ops, &r);
	} else {
		err = reloader_new(a->loop, a->opt.config_dir, a->loaded_hash, &a->store, &ops, &r);
	}
	if (err) {
		log_error("shuntd: cannot start reloading %s: %s (trying again)", agent_source(a),
			  strerror(-err));
		return;
	}
	/* The Kubernetes source's threads read it to ask for reloads. */
	__atomic_store_n(&a->reloader, r, __ATOMIC_RELEASE);
	if (a->names_changed)
		reloader_request_force(a->reloader, "a DNS answer changed");
	else if (a->reload_pending)
		reloader_request(a->reloader, "SIGHUP");
	a->reload_pending = a->names_changed = false;
}

void agent_admin_reload(void *ctx, const struct admin_req *req, struct admin_resp *resp)
{
	struct agent *a = ctx;
	struct snapshot_reloads rl;
	uint64_t requested = 0, finished = 0;

	if (!strcmp(req->method, "POST")) {
		if (!a->reloader) {
			admin_error(resp, 503, "not ready: the agent is starting");
			return;
		}
		reloader_request(a->reloader, "POST /reload");
		resp->status = 202;
		admin_printf(resp, "reload requested\n");
		return;
	}
	snapshot_reloads_get(&a->store, &rl);
	if (a->reloader)
		reloader_counts(a->reloader, &requested, &finished);
	admin_printf(resp,
		     "generation %llu\nreloads_ok %llu\nreloads_refused %llu\n"
		     "last_ok_unix %lld\nlast_refused_unix %lld\nrequested %llu\nfinished %llu\n",
		     (unsigned long long)snapshot_generation(&a->store), (unsigned long long)rl.ok,
		     (unsigned long long)rl.refused, (long long)rl.last_ok_unix,
		     (long long)rl.last_refused_unix, (unsigned long long)requested,
		     (unsigned long long)finished);
	if (rl.last_error[0])
		admin_printf(resp, "last_error:\n%s", rl.last_error);
}
