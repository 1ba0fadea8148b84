// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "admin.h"
#include "kern.h"
#include "kern_fill.h"
#include "metrics.h"
#include "prom.h"
#include "proxy.h"
#include "snapshot.h"
#include "resolve.h"
#include "stats_prom.h"
#include "worker.h"

/* HELP of the kernel-path counters (include/shunt_maps.h says the same). */
static const char *const kern_help[SHUNT_STAT_MAX] = {
	[SHUNT_STAT_CAPTURED] = "Connects to L7 services rewritten to the agent.",
	[SHUNT_STAT_SKIPPED_MARK] = "Connects to a service VIP skipped: the agent's own sockets.",
	[SHUNT_STAT_NOT_READY] = "Connects to an L7 service while the agent was not alive.",
	[SHUNT_STAT_PAIR_INDEXED] = "Captured sockets indexed by 4-tuple at ESTABLISHED.",
	[SHUNT_STAT_PAIR_FAILED] = "Captured sockets whose 4-tuple could not be stored.",
	[SHUNT_STAT_PEER_REWRITTEN] = "getpeername() answers rewritten to the VIP.",
	[SHUNT_STAT_DIRECT] = "Connects balanced in the kernel: no L7 rule applies.",
	[SHUNT_STAT_FAIL_OPEN] = "Connects to L7 services balanced in the kernel: agent down.",
	[SHUNT_STAT_NO_BACKEND] = "Connects refused: the service port has no ready backend.",
	[SHUNT_STAT_LISTENER_CLOSED] = "The agent's listener went away (exit, crash): fail open.",
	[SHUNT_STAT_NOT_MESH] = "Connects to a service from a pod not in the mesh: untouched.",
	[SHUNT_STAT_EXCLUDED] = "Connects to a service a pod excludes by port or range.",
	[SHUNT_STAT_EGRESS_BLOCKED] = "Connects refused: REGISTRY_ONLY, not in the registry.",
	[SHUNT_STAT_FASTPATH_INDEXED] = "Pod<->agent sockets put in the fast path's map.",
	[SHUNT_STAT_FASTPATH_FAILED] = "Pod<->agent sockets that could not be put there.",
	[SHUNT_STAT_FASTPATH_REDIRECTED] = "Messages handed to the peer socket, no TCP/IP stack.",
	[SHUNT_STAT_FASTPATH_PASSED] = "Messages of fast-path sockets sent through TCP/IP.",
	[SHUNT_STAT_DNS_CAPTURED] = "UDP port-53 connects and sends sent to the agent's resolver.",
};

/* HELP of the proxy's counters, by name (struct proxy_stats says the same). */
static const char *const proxy_help[][2] = {
	{"accepted", "Client connections accepted."},
	{"active", "Client connections open."},
	{"requests", "Request heads parsed."},
	{"responses", "Final responses sent, from a backend or made by the agent."},
	{"responses_1xx", "Interim responses forwarded."},
	{"responses_2xx", "Final responses with a 2xx status."},
	{"responses_3xx", "Final responses with a 3xx status."},
	{"responses_4xx", "Final responses with a 4xx status."},
	{"responses_5xx", "Final responses with a 5xx status."},
	{"local_replies", "Responses the agent made itself."},
	{"bad_requests", "Malformed or refused requests (400, 413, 414, 431, 501, 505)."},
	{"header_timeouts", "Request heads not whole within --header-timeout (408)."},
	{"no_route", "Requests answered 404: no route."},
	{"no_healthy_upstream", "Requests answered 503: no healthy upstream, or routing failed."},
	{"upstream_connects", "Upstream connections opened."},
	{"upstream_connect_failed", "Upstream connects refused, unreachable or timed out."},
	{"upstream_connect_timeouts", "Upstream connects that timed out."},
	{"upstream_reused", "Requests sent over a pooled upstream connection."},
	{"upstream_retries", "Attempts sent again."},
	{"upstream_timeouts", "Route or per-try timeouts that ended a request (504)."},
	{"upstream_active", "Upstream connections open, busy and idle."},
	{"upstream_idle", "Upstream connections idle in the pool."},
	{"upstream_reset", "Upstreams that closed or reset before the response ended."},
	{"upstream_bad_response", "Malformed upstream responses."},
	{"client_aborted", "Clients that left before their response was complete."},
	{"bytes_from_client", "Request bytes read from clients."},
	{"bytes_to_client", "Response bytes written to clients."},
	{"mirror_sent", "Mirror copies whose response was read to its end."},
	{"mirror_failed", "Mirror copies that failed."},
	{"mirror_dropped", "Mirror copies never started."},
	{"mirror_active", "Mirror connections open."},
	{"tls_handshakes", "TLS handshakes completed on Gateway ports."},
	{"tls_handshake_failed", "TLS handshakes that failed."},
};

static const char *proxy_stat_help(const char *name)
{
	for (size_t i = 0; i < sizeof(proxy_help) / sizeof(proxy_help[0]); i++)
		if (!strcmp(proxy_help[i][0], name))
			return proxy_help[i][1];
	return "A proxy counter (struct proxy_stats).";
}

static void one(struct admin_resp *r, const char *name, const char *type, const char *help,
		uint64_t v)
{
	prom_header(r, name, type, help);
	prom_sample(r, name, NULL, v);
}

static void render_config(struct admin_resp *r, const struct stats_prom_src *src)
{
	struct snapshot_reloads rl;
	const char *name = "shunt_config_reloads_total";

	snapshot_reloads_get(src->store, &rl);
	prom_header(r, name, "counter",
		    "Configs published (result ok, the first one included) and refused "
		    "(the one before kept serving).");
	prom_sample_with(r, name, NULL, "result", "ok", rl.ok);
	prom_sample_with(r, name, NULL, "result", "refused", rl.refused);
	one(r, "shunt_config_generation", "gauge",
	    "Generation of the config serving: 1 for the first, one more per publish.",
	    snapshot_generation(src->store));
	one(r, "shunt_config_last_reload_success_timestamp_seconds", "gauge",
	    "When the config serving was published (Unix time).",
	    rl.last_ok_unix > 0 ? (uint64_t)rl.last_ok_unix : 0);
	one(r, "shunt_config_last_reload_failure_timestamp_seconds", "gauge",
	    "When a config was last refused (Unix time); 0: never.",
	    rl.last_refused_unix > 0 ? (uint64_t)rl.last_refused_unix : 0);
}

static void render_kernel(struct admin_resp *r, struct kern *k)
{
	uint64_t v[SHUNT_STAT_MAX];
	char name[96];

	if (kern_read_stats(kern_stats_fd(k), v))
		return;
	for (int i = 0; i < SHUNT_STAT_MAX; i++) {
		snprintf(name, sizeof(name), "shunt_kernel_%s_total", kern_stat_name(i));
		one(r, name, "counter", kern_help[i] ? kern_help[i] : "A kernel-path counter.",
		    v[i]);
	}
}

static void render_proxy(struct admin_resp *r, const struct stats_prom_src *src)
{
	struct proxy_stats sum = {0}, ws;
	const char *stat;
	char name[96];

	/* Summed over the workers: each counts its own connections. */
	for (unsigned w = 0; w < *src->n_workers; w++) {
		worker_stats(src->workers[w], &ws);
		for (size_t i = 0; proxy_stat_name(i); i++)
			((uint64_t *)&sum)[i] += proxy_stat_value(&ws, i);
	}
	for (size_t i = 0; (stat = proxy_stat_name(i)); i++) {
		bool gauge = proxy_stat_gauge(i);

		snprintf(name, sizeof(name), "shunt_proxy_%s%s", stat, gauge ? "" : "_total");
		one(r, name, gauge ? "gauge" : "counter", proxy_stat_help(stat),
		    proxy_stat_value(&sum, i));
	}
}

/* The hash maps' fill levels (arrays are always full, socket storage cannot be counted). */
struct fills {
	struct kern_fill *f;
	size_t n, cap;
	bool oom;
};

static void add_fill(const struct kern_fill *f, void *arg)
{
	struct fills *fl = arg;

	if (f->entries < 0 || f->type == BPF_MAP_TYPE_ARRAY || f->type == BPF_MAP_TYPE_PERCPU_ARRAY)
		return;
	if (fl->n == fl->cap) {
		size_t cap = fl->cap ? 2 * fl->cap : 32;
		struct kern_fill *p = realloc(fl->f, cap * sizeof(*p));

		if (!p) {
			fl->oom = true;
			return;
		}
		fl->f = p;
		fl->cap = cap;
	}
	fl->f[fl->n++] = *f;
}

static void render_maps(struct admin_resp *r, const char *pin_dir)
{
	struct fills fl = {0};

	if (kern_fill_dir(pin_dir, add_fill, &fl) || fl.oom) {
		free(fl.f);
		return;
	}
	prom_header(r, "shunt_map_entries", "gauge",
		    "Entries of a pinned hash map (arrays and socket storage are left out).");
	for (size_t i = 0; i < fl.n; i++)
		prom_sample_with(r, "shunt_map_entries", NULL, "map", fl.f[i].name,
				 (uint64_t)fl.f[i].entries);
	prom_header(r, "shunt_map_max_entries", "gauge", "max_entries of that map.");
	for (size_t i = 0; i < fl.n; i++)
		prom_sample_with(r, "shunt_map_max_entries", NULL, "map", fl.f[i].name,
				 fl.f[i].max_entries);
	free(fl.f);
}

static void render_own(struct admin_resp *r, const struct stats_prom_src *src,
		       struct mx_table *const *tables, size_t n, size_t left_out)
{
	struct alog_stats as = {0};
	uint64_t over = 0;

	for (size_t i = 0; i < n; i++)
		over += mx_overflow(tables[i]);
	one(r, "shunt_metrics_overflow_total", "counter",
	    "Requests left out of the istio_* metrics: a worker's table of label sets was full.",
	    over);
	one(r, "shunt_metrics_label_sets_left_out", "gauge",
	    "Label sets of the istio_* metrics this page left out: too many for one page.",
	    left_out);
	if (src->alog)
		alog_sink_stats(src->alog, &as);
	one(r, "shunt_access_log_lines_total", "counter", "Access log lines written.", as.lines);
	one(r, "shunt_access_log_dropped_total", "counter",
	    "Access log lines lost: a worker's buffer was full, or the write failed.", as.dropped);
	one(r, "shunt_access_log_write_errors_total", "counter", "Access log writes that failed.",
	    as.write_errors);
}

/* The ServiceEntry resolver's counters (resolution DNS and DNS_ROUND_ROBIN). */
static void render_resolver(struct admin_resp *r, struct resolver *res)
{
	struct resolver_stats st = {0};

	if (res)
		resolver_stats(res, &st);
	one(r, "shunt_dns_resolver_queries_total", "counter",
	    "Queries the ServiceEntry resolver sent upstream.", st.queries);
	one(r, "shunt_dns_resolver_answers_total", "counter",
	    "Good answers it got (NXDOMAIN and answers without an address included).", st.answers);
	one(r, "shunt_dns_resolver_failures_total", "counter",
	    "Attempts that failed (timeout, SERVFAIL, REFUSED, truncated): the last good "
	    "addresses kept serving.",
	    st.failures);
	one(r, "shunt_dns_resolver_changes_total", "counter",
	    "Answers that changed a name's addresses (each one reloads the config).", st.changes);
	one(r, "shunt_dns_resolver_names", "gauge", "Names (and record types) tracked.", st.names);
	one(r, "shunt_dns_resolver_names_failing", "gauge",
	    "Tracked names whose last refresh failed.", st.failing);
}

static void on_prometheus(void *ctx, const struct admin_req *req, struct admin_resp *resp)
{
	const struct stats_prom_src *src = ctx;
	struct mx_table **tables;
	size_t left_out;
	unsigned n;

	resp->content_type = PROM_CONTENT_TYPE;
	render_config(resp, src);
	/* Until ready, the starter thread is still building the workers and the maps. */
	if (!src->ready(src->ctx))
		return;
	n = *src->n_workers;
	tables = calloc(n ? n : 1, sizeof(*tables));
	if (!tables) {
		admin_error(resp, 500, "out of memory");
		return;
	}
	for (unsigned i = 0; i < n; i++)
		tables[i] = worker_metrics(src->workers[i]);
	if (mx_render(tables, n, MX_RENDER_BUDGET, resp, &left_out))
		resp->oom = true;
	render_own(resp, src, tables, n, left_out);
	render_resolver(resp, src->resolver ? *src->resolver : NULL);
	free(tables);
	render_proxy(resp, src);
	render_kernel(resp, *src->kern);
	render_maps(resp, src->pin_dir);
}

int stats_prom_register(struct admin *adm, const struct stats_prom_src *src)
{
	return admin_handle(adm, "/stats/prometheus",
			    "metrics in the Prometheus text format (Istio's and shunt's)",
			    on_prometheus, (void *)src);
}
