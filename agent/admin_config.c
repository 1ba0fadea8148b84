// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "admin_config.h"
#include "dump.h"
#include "explain.h"
#include "log.h"
#include "snapshot.h"

#define JSON "application/json"

/* The snapshot to answer from, or a 503 when there is none yet. */
static struct snapshot *acquire(struct snapshot_store *st, struct admin_resp *resp)
{
	struct snapshot *snap = snapshot_acquire(st);

	if (!snap)
		admin_error(resp, 503, "no config yet");
	return snap;
}

/* ?resource=a,b: the sections asked for (DUMP_ALL without it); 0 after a 400. */
static unsigned sections_asked(const struct admin_req *req, struct admin_resp *resp)
{
	char buf[256], *save = NULL;
	unsigned which = 0, bit;

	if (!admin_query_get(req->query, "resource", buf, sizeof(buf)) || !buf[0])
		return DUMP_ALL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		bit = dump_section_by_name(tok);
		if (!bit) {
			admin_error(
				resp, 400,
				"resource %s: one of reload, services, routes, virtualServices, "
				"destinationRules, serviceEntries, gateways, sidecars",
				tok);
			return 0;
		}
		which |= bit;
	}
	return which;
}

static void on_config_dump(void *ctx, const struct admin_req *req, struct admin_resp *resp)
{
	struct snapshot_store *st = ctx;
	struct snapshot_reloads *rl;
	struct snapshot *snap;
	unsigned which = sections_asked(req, resp);
	struct jw w;

	if (!which || !(snap = acquire(st, resp)))
		return;
	rl = malloc(sizeof(*rl)); /* 4 KiB of error text: not on the stack of the main loop */
	if (!rl) {
		resp->oom = true;
		goto release;
	}
	snapshot_reloads_get(st, rl);
	resp->content_type = JSON;
	jw_init(&w, resp);
	dump_config(&w, snap->cfg, snap->rt, snap->generation, rl, which);
	jw_finish(&w);
	free(rl);
release:
	snapshot_release(snap);
}

/* ?port=N: 0 when absent; -1 after a 400. */
static int port_asked(const struct admin_req *req, struct admin_resp *resp)
{
	char buf[16], *end;
	unsigned long port;

	if (!admin_query_get(req->query, "port", buf, sizeof(buf)))
		return 0;
	port = strtoul(buf, &end, 10);
	if (!buf[0] || *end || !port || port > 65535) {
		admin_error(resp, 400, "port %s: expected 1-65535", buf);
		return -1;
	}
	return (int)port;
}

static void on_routes(void *ctx, const struct admin_req *req, struct admin_resp *resp)
{
	struct snapshot *snap;
	char host[256];
	bool has_host = admin_query_get(req->query, "host", host, sizeof(host)) && host[0];
	int port = port_asked(req, resp);
	struct jw w;

	if (port < 0 || !(snap = acquire(ctx, resp)))
		return;
	resp->content_type = JSON;
	jw_init(&w, resp);
	if (!dump_routes(&w, NULL, snap->rt, has_host ? host : NULL, (uint16_t)port) && has_host)
		admin_error(resp, 404, "no service port matches host %s (port %d; 0: any)", host,
			    port);
	else
		jw_finish(&w);
	snapshot_release(snap);
}

static void on_logging(void *ctx, const struct admin_req *req, struct admin_resp *resp)
{
	char level[16];
	const char *was = log_level_str(log_level_get());

	if (!admin_query_get(req->query, "level", level, sizeof(level))) {
		admin_printf(resp, "level: %s\n", was);
		return;
	}
	if (strcmp(req->method, "POST")) {
		admin_error(resp, 405, "POST /logging?level=... changes the level");
		return;
	}
	if (log_set_level_str(level)) {
		admin_error(resp, 400, "level %s: one of debug, info, warn, error", level);
		return;
	}
	/* An operator's action: logged whatever the new level lets through. */
	log_write(LOG_INFO, "admin: log level %s (was %s)", level, was);
	admin_printf(resp, "level: %s (was %s)\n", level, was);
}

/* Every value of the repeated parameter @key, in order, into @out (@cap of them, each
 * percent-decoded into @buf, which has @len bytes in all). Returns how many; -ENOSPC. */
static int query_all(const char *query, const char *key, const char **out, size_t cap, char *buf,
		     size_t len)
{
	size_t klen = strlen(key), n = 0, used = 0;

	for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
		if (strncmp(p, key, klen) || (p[klen] != '=' && p[klen] != '&' && p[klen]))
			continue;
		if (n == cap || used >= len)
			return -ENOSPC;
		/* p starts with this occurrence: admin_query_get() decodes it */
		admin_query_get(p, key, buf + used, len - used);
		out[n++] = buf + used;
		used += strlen(buf + used) + 1;
	}
	return (int)n;
}

/* The query parameters of /explain, decoded into @bufs. false after a 400. */
static bool explain_query_parse(const struct admin_req *req, struct admin_resp *resp,
				struct explain_query *q, char bufs[7][512], char *hdrs, size_t len)
{
	static const char *const keys[7] = {"host",	     "path", "method",		"source",
					    "source_labels", "port", "source_namespace"};
	const char **slots[7] = {&q->host,	    &q->path, &q->method,	   &q->source_ip,
				 &q->source_labels, NULL,     &q->source_namespace};
	int n, port;

	for (size_t i = 0; i < 7; i++)
		if (slots[i] && admin_query_get(req->query, keys[i], bufs[i], 512) && bufs[i][0])
			*slots[i] = bufs[i];
	port = port_asked(req, resp);
	if (port < 0)
		return false;
	q->port = (uint16_t)port;
	n = query_all(req->query, "header", q->headers, EXPLAIN_HDRS_MAX, hdrs, len);
	if (n < 0) {
		admin_error(resp, 400, "too many headers (at most %d, 8 KiB)", EXPLAIN_HDRS_MAX);
		return false;
	}
	q->n_headers = (size_t)n;
	return true;
}

static void on_explain(void *ctx, const struct admin_req *req, struct admin_resp *resp)
{
	struct explain_query q = {0};
	char bufs[7][512], err[512];
	struct snapshot *snap;
	struct jw w;
	char *hdrs = malloc(8192);
	int ret;

	if (!hdrs) {
		resp->oom = true;
		return;
	}
	if (!explain_query_parse(req, resp, &q, bufs, hdrs, 8192) || !(snap = acquire(ctx, resp)))
		goto free_hdrs;
	resp->content_type = JSON;
	jw_init(&w, resp);
	ret = explain_write(&w, snap->rt, &q, err, sizeof(err));
	if (ret == -ENOMEM)
		resp->oom = true;
	else if (ret)
		admin_error(resp, ret == -ENOENT ? 404 : 400, "%s", err);
	else
		jw_finish(&w);
	snapshot_release(snap);
free_hdrs:
	free(hdrs);
}

int admin_config_register(struct admin *adm, struct snapshot_store *st)
{
	int err;

	err = admin_handle(adm, "/config_dump",
			   "the active config as JSON (?resource=services,routes,...)",
			   on_config_dump, st);
	if (!err)
		err = admin_handle(adm, "/routes", "routes in evaluation order (?host=H&port=P)",
				   on_routes, st);
	if (!err)
		err = admin_handle(adm, "/explain",
				   "how a request is routed (?host=&path=&method=&header=k:v&"
				   "source=IP|source_labels=k=v,..)",
				   on_explain, st);
	if (!err)
		err = admin_handle(adm, "/logging",
				   "the log level (POST ?level=debug|info|warn|error)", on_logging,
				   NULL);
	return err;
}
