// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shuntctl status, validate, routes and explain. routes and explain get
 * their JSON from the admin API, or with --config DIR compute it here with
 * the code the agent runs (config_load_dir(), route_table_build(),
 * dump_routes(), explain_write()); either way it is printed as is (-o json)
 * or as aligned text (ctl_view.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl.h"
#include "dump.h"
#include "istio.h"
#include "log.h"
#include "route.h"

static void print_json(const json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2));
	printf("\n");
}

/* GET @target from the admin API: its JSON in *@out. 0, or 1 (said on stderr). */
static int fetch_json(const struct ctl_opts *o, const char *target, json_t **out)
{
	json_error_t jerr;
	char *body;
	size_t len;
	int status, err;

	err = ctl_http(o->admin, "GET", target, &status, &body, &len);
	if (err) {
		fprintf(stderr, "shuntctl: admin API %s: %s (is shuntd running with --admin %s?)\n",
			o->admin, strerror(-err), o->admin);
		return 1;
	}
	if (status != 200) {
		fprintf(stderr, "shuntctl: %s: %d %s", target, status, body);
		free(body);
		return 1;
	}
	*out = json_loadb(body, len, 0, &jerr);
	free(body);
	if (!*out) {
		fprintf(stderr, "shuntctl: %s: not JSON: %s\n", target, jerr.text);
		return 1;
	}
	return 0;
}

/* Loads @dir and compiles its routes, as shuntd does at start. 0, or 1 (the loader said why). */
static int offline_load(const char *dir, struct config **cfg, struct route_table **rt)
{
	log_level_cur = LOG_WARN; /* problems on stderr; notices are validate's business */
	if (config_load_dir(dir, cfg)) {
		fprintf(stderr, "shuntctl: %s is not a valid config (shuntctl validate %s)\n", dir,
			dir);
		return 1;
	}
	if (route_table_build(*cfg, rt)) {
		fprintf(stderr, "shuntctl: the routes of %s do not compile\n", dir);
		config_free(*cfg);
		return 1;
	}
	return 0;
}

/* The JSON a jw wrote into @r, parsed; NULL when it is not (a bug) or out of memory. */
static json_t *parse_resp(struct admin_resp *r)
{
	json_error_t jerr;
	json_t *j = r->oom ? NULL : json_loadb(r->body, r->len, 0, &jerr);

	if (!j)
		fprintf(stderr, "shuntctl: %s\n", r->oom ? "out of memory" : jerr.text);
	free(r->body);
	return j;
}

static int show(const struct ctl_opts *o, json_t *j, void (*view)(FILE *f, const json_t *j))
{
	if (o->json)
		print_json(j);
	else
		view(stdout, j);
	json_decref(j);
	return 0;
}

int ctl_routes(const struct ctl_opts *o, int argc, char **argv)
{
	const char *host = argc ? argv[0] : NULL;
	struct config *cfg;
	struct route_table *rt;
	struct admin_resp r = {0};
	char target[1024] = "/routes?host=";
	struct jw w;
	json_t *j;
	size_t n;

	if (argc > 1) {
		fprintf(stderr, "shuntctl routes: at most one HOST\n");
		return 2;
	}
	if (!o->config_dir) {
		ctl_url_encode(target, sizeof(target), host ? host : "");
		if (o->xq.port)
			snprintf(target + strlen(target), sizeof(target) - strlen(target),
				 "&port=%u", o->xq.port);
		return fetch_json(o, target, &j) ? 1 : show(o, j, ctl_view_routes);
	}
	if (offline_load(o->config_dir, &cfg, &rt))
		return 1;
	jw_init(&w, &r);
	n = dump_routes(&w, NULL, rt, host, o->xq.port);
	jw_finish(&w);
	route_table_free(rt);
	config_free(cfg);
	if (!n && host) {
		free(r.body);
		fprintf(stderr, "shuntctl: no service port matches host %s\n", host);
		return 1;
	}
	j = parse_resp(&r);
	return j ? show(o, j, ctl_view_routes) : 1;
}

/* "&key=value" percent-encoded onto @target, when @value is set. */
static void add_param(char *target, size_t cap, const char *key, const char *value)
{
	size_t n = strlen(target);

	if (!value || n + strlen(key) + 3 >= cap)
		return;
	snprintf(target + n, cap - n, "%s%s=", strchr(target, '?') ? "&" : "?", key);
	ctl_url_encode(target, cap, value);
}

/* The admin API's /explain for the query of @o. */
static int explain_online(const struct ctl_opts *o, json_t **j)
{
	const struct explain_query *q = &o->xq;
	char target[4096] = "/explain", port[8];

	add_param(target, sizeof(target), "host", q->host);
	if (q->port) {
		snprintf(port, sizeof(port), "%u", q->port);
		add_param(target, sizeof(target), "port", port);
	}
	add_param(target, sizeof(target), "path", q->path);
	add_param(target, sizeof(target), "method", q->method);
	for (size_t i = 0; i < q->n_headers; i++)
		add_param(target, sizeof(target), "header", q->headers[i]);
	add_param(target, sizeof(target), "source", q->source_ip);
	add_param(target, sizeof(target), "source_labels", q->source_labels);
	add_param(target, sizeof(target), "source_namespace", q->source_namespace);
	if (strlen(target) + 8 >= sizeof(target)) {
		fprintf(stderr, "shuntctl explain: the request is too long\n");
		return 2;
	}
	return fetch_json(o, target, j);
}

static int explain_offline(const struct ctl_opts *o, json_t **j)
{
	struct config *cfg;
	struct route_table *rt;
	struct admin_resp r = {0};
	char err[512];
	struct jw w;
	int ret;

	if (offline_load(o->config_dir, &cfg, &rt))
		return 1;
	jw_init(&w, &r);
	ret = explain_write(&w, rt, &o->xq, err, sizeof(err));
	if (!ret)
		jw_finish(&w);
	route_table_free(rt);
	config_free(cfg);
	if (ret) {
		free(r.body);
		fprintf(stderr, "shuntctl explain: %s\n", err);
		return 1;
	}
	*j = parse_resp(&r);
	return *j ? 0 : 1;
}

int ctl_explain(const struct ctl_opts *o, int argc, char **argv)
{
	json_t *j = NULL;
	int rc;

	if (argc || !o->xq.host) {
		fprintf(stderr, "shuntctl explain: --host H is needed (and no operand)\n");
		return 2;
	}
	rc = o->config_dir ? explain_offline(o, &j) : explain_online(o, &j);
	return rc ? rc : show(o, j, ctl_view_explain);
}

/* What shuntctl validate gathers from the loader's diagnostic sink. */
struct diags {
	json_t *arr;
	size_t errors, warnings, notices;
};

static const char *level_word(enum log_level level)
{
	return level == LOG_ERROR ? "error" : level == LOG_WARN ? "warning" : "notice";
}

/* One diagnostic, "FILE:LINE:COL: FIELD: MESSAGE" split where it has that shape. */
static void on_diag(enum log_level level, const char *line, void *arg)
{
	struct diags *d = arg;
	json_t *j = json_pack("{s:s,s:s}", "level", level_word(level), "text", line);
	int ln, col, n = 0;

	for (const char *p = strchr(line, ':'); p; p = strchr(p + 1, ':')) {
		if (sscanf(p, ":%d:%d: %n", &ln, &col, &n) == 2 && n) {
			json_object_set_new(j, "file", json_stringn(line, (size_t)(p - line)));
			json_object_set_new(j, "line", json_integer(ln));
			json_object_set_new(j, "col", json_integer(col));
			json_object_set_new(j, "message", json_string(p + n));
			break;
		}
	}
	json_array_append_new(d->arr, j);
	d->errors += level == LOG_ERROR;
	d->warnings += level == LOG_WARN;
	d->notices += level != LOG_ERROR && level != LOG_WARN;
}

/* What a valid config holds, for the summary. */
static json_t *counts(const struct config *cfg)
{
	const struct istio_config *ic = &cfg->istio;
	size_t rules = 0;

	for (size_t i = 0; i < ic->n_vs; i++)
		rules += ic->vs[i].n_http;
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "services",
			 (json_int_t)cfg->n_services, "pods", (json_int_t)cfg->n_pods,
			 "virtualServices", (json_int_t)ic->n_vs, "httpRules", (json_int_t)rules,
			 "destinationRules", (json_int_t)ic->n_dr, "serviceEntries",
			 (json_int_t)ic->n_ses, "gateways", (json_int_t)ic->n_gws, "sidecars",
			 (json_int_t)ic->n_sidecars);
}

static void validate_text(const char *dir, const json_t *res)
{
	const json_t *d, *c = json_object_get(res, "counts");
	size_t i;

	CTL_ARRAY_EACH (json_object_get(res, "diagnostics"), i, d) {
		const char *lvl = json_string_value(json_object_get(d, "level"));

		printf("%s%s\n",
		       !strcmp(lvl, "error")	 ? ""
		       : !strcmp(lvl, "warning") ? "warning: "
						 : "notice: ",
		       json_string_value(json_object_get(d, "text")));
	}
	if (!json_is_true(json_object_get(res, "valid"))) {
		printf("%s: invalid: %lld error(s)\n", dir,
		       (long long)json_integer_value(json_object_get(res, "errors")));
		return;
	}
	printf("%s: valid: %lld services, %lld pods, %lld VirtualServices (%lld http rules), "
	       "%lld DestinationRules, %lld ServiceEntries, %lld Gateways, %lld Sidecars; "
	       "%lld warning(s)\n",
	       dir, (long long)json_integer_value(json_object_get(c, "services")),
	       (long long)json_integer_value(json_object_get(c, "pods")),
	       (long long)json_integer_value(json_object_get(c, "virtualServices")),
	       (long long)json_integer_value(json_object_get(c, "httpRules")),
	       (long long)json_integer_value(json_object_get(c, "destinationRules")),
	       (long long)json_integer_value(json_object_get(c, "serviceEntries")),
	       (long long)json_integer_value(json_object_get(c, "gateways")),
	       (long long)json_integer_value(json_object_get(c, "sidecars")),
	       (long long)json_integer_value(json_object_get(res, "warnings")));
}

int ctl_validate(const struct ctl_opts *o, int argc, char **argv)
{
	struct diags d = {.arr = json_array()};
	struct config *cfg = NULL;
	struct route_table *rt = NULL;
	bool valid;
	json_t *res;

	if (argc != 1) {
		fprintf(stderr, "shuntctl validate: one DIR\n");
		return 2;
	}
	log_level_cur = LOG_OFF; /* every line reaches the sink: printed once, below */
	config_set_diag_sink(on_diag, &d);
	valid = !config_load_dir(argv[0], &cfg);
	config_set_diag_sink(NULL, NULL);
	log_level_cur = LOG_ERROR; /* what the router's build reports goes to stderr */
	if (valid && route_table_build(cfg, &rt)) {
		valid = false;
		d.errors++;
	}
	res = json_pack("{s:s,s:b,s:I,s:I,s:I,s:o}", "dir", argv[0], "valid", valid, "errors",
			(json_int_t)d.errors, "warnings", (json_int_t)d.warnings, "notices",
			(json_int_t)d.notices, "diagnostics", d.arr);
	if (valid)
		json_object_set_new(res, "counts", counts(cfg));
	if (o->json)
		print_json(res);
	else
		validate_text(argv[0], res);
	json_decref(res);
	route_table_free(rt);
	config_free(cfg);
	return valid ? 0 : 1;
}

/* The admin API's /stats lines "kernel.NAME N" and "proxy.NAME N", as {"proxy": {...}}. */
static json_t *proxy_counters(const struct ctl_opts *o)
{
	json_t *j = json_object();
	char *body, *save = NULL, name[128];
	unsigned long long v;
	size_t len;
	int status;

	if (ctl_http(o->admin, "GET", "/stats", &status, &body, &len))
		return j;
	for (char *l = strtok_r(body, "\n", &save); l && status == 200;
	     l = strtok_r(NULL, "\n", &save))
		if (sscanf(l, "proxy.%127s %llu", name, &v) == 2)
			json_object_set_new(j, name, json_integer((json_int_t)v));
	free(body);
	return j;
}

/* The agent as its admin API sees it: reachable, ready, config generation and reloads. */
static json_t *admin_status(const struct ctl_opts *o)
{
	json_t *j = json_pack("{s:s}", "admin", o->admin), *dump = NULL;
	char *body;
	size_t len;
	int status, err;

	err = ctl_http(o->admin, "GET", "/ready", &status, &body, &len);
	json_object_set_new(j, "reachable", json_boolean(!err));
	if (err) {
		json_object_set_new(j, "error", json_string(strerror(-err)));
		return j;
	}
	free(body);
	json_object_set_new(j, "ready", json_boolean(status == 200));
	if (!fetch_json(o, "/config_dump?resource=reload", &dump)) {
		json_object_set(j, "generation", json_object_get(dump, "generation"));
		json_object_set(j, "reload", json_object_get(dump, "reload"));
		json_decref(dump);
	}
	return j;
}

int ctl_status(const struct ctl_opts *o, int argc, char **argv)
{
	json_t *st, *agent, *hb, *links, *kstats;
	bool up;

	if (argc) {
		fprintf(stderr, "shuntctl status: takes no arguments\n");
		return 2;
	}
	agent = admin_status(o);
	hb = ctl_agent_cfg_json(o);
	links = ctl_links_json(o);
	kstats = ctl_kernel_stats_json(o);
	up = json_is_true(json_object_get(agent, "ready")) && hb &&
	     json_is_true(json_object_get(hb, "alive"));
	st = json_pack("{s:b,s:o,s:o,s:s,s:o,s:{s:o,s:o}}", "up", up, "agent", agent, "kernel",
		       hb ? hb : json_null(), "pin_dir", o->pin_dir, "programs",
		       links ? links : json_array(), "counters", "kernel",
		       kstats ? kstats : json_object(), "proxy", proxy_counters(o));
	show(o, st, ctl_view_status);
	return up ? 0 : 1;
}
