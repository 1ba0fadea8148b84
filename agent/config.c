// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Config loader: YAML files → Namespaces, Services, Pods, VirtualServices and
 * DestinationRules → endpoints, each pod's enrolment in the mesh, and a VIP index.
 *
 * Each document is dispatched on (apiVersion group, kind) through kind_parsers[];
 * a new kind is a new parse function and a row in that table. Parsers report
 * problems through a struct yt cursor and keep going, so one run lists every
 * problem; only objects without problems are kept, and any problem rejects the
 * whole config. Cross-object checks (duplicates, clusterIPs), endpoints and
 * enrolment are computed once every file is read.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "log.h"
#include "config_int.h"
#include "istio.h"
#include "yaml_tree.h"

/* Where diagnostics go besides the log, per thread so concurrent loads do not mix. */
static __thread void (*diag_fn)(enum log_level level, const char *line, void *arg);
static __thread void *diag_arg;

static const char *const core_v1[] = {"v1", NULL};
static const char *const discovery_v1[] = {"v1", NULL};
static const char *const istio_networking[] = {"v1alpha3", "v1beta1", "v1", NULL};

static const struct kind_parser kind_parsers[] = {
	{"", "Namespace", core_v1, k8s_parse_namespace},
	{"", "Service", core_v1, k8s_parse_service},
	{"", "Pod", core_v1, k8s_parse_pod},
	{"", "Secret", core_v1, k8s_parse_secret},
	{"discovery.k8s.io", "EndpointSlice", discovery_v1, k8s_parse_endpoint_slice},
	{"networking.istio.io", "VirtualService", istio_networking, istio_parse_virtual_service},
	{"networking.istio.io", "DestinationRule", istio_networking, istio_parse_destination_rule},
	{"networking.istio.io", "Sidecar", istio_networking, istio_parse_sidecar},
	{"networking.istio.io", "ServiceEntry", istio_networking, istio_parse_service_entry},
	{"networking.istio.io", "WorkloadEntry", istio_networking, istio_parse_workload_entry},
	{"networking.istio.io", "Gateway", istio_networking, istio_parse_gateway},
};

void config_set_diag_sink(void (*fn)(enum log_level level, const char *line, void *arg), void *arg)
{
	diag_fn = fn;
	diag_arg = arg;
}

static void emit(void *arg, enum log_level level, const char *line)
{
	log_at(level, "%s", line);
	if (diag_fn)
		diag_fn(level, line, diag_arg);
}

/* A diagnostic that is not about a field (I/O, syntax, notices). */
__attribute__((format(printf, 3, 4))) static void load_report(struct load *ld, enum log_level level,
							      const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (level == LOG_ERROR)
		ld->errors++;
	emit(NULL, level, line);
}

void config_report(struct load *ld, enum log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (level == LOG_ERROR)
		ld->errors++;
	emit(NULL, level, line);
}

const char *labels_get(const struct labels *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].key, key))
			return l->v[i].value;
	return NULL;
}

const char *config_proto_str(uint8_t protocol)
{
	switch (protocol) {
	case IPPROTO_TCP:
		return "TCP";
	case IPPROTO_UDP:
		return "UDP";
	case IPPROTO_SCTP:
		return "SCTP";
	}
	return "?";
}

static const struct kind_parser *find_parser(const char *group, const char *kind)
{
	for (size_t i = 0; i < sizeof(kind_parsers) / sizeof(kind_parsers[0]); i++)
		if (!strcmp(kind_parsers[i].group, group) && !strcmp(kind_parsers[i].kind, kind))
			return &kind_parsers[i];
	return NULL;
}

static bool served_as(const struct kind_parser *kp, const char *version)
{
	for (const char *const *v = kp->versions; *v; v++)
		if (!strcmp(*v, version))
			return true;
	return false;
}

static int parse_object(struct load *ld, struct yt *t, yaml_node_t *obj, bool in_list);

/* kind: List (or FooList) with items[]: each item is an object of its own. */
static int parse_list(struct load *ld, struct yt *t, yaml_node_t *obj, bool in_list)
{
	struct yt_frame f, fi;
	yaml_node_t *items;
	int err = 0;

	if (in_list) {
		yt_error(t, yt_get(t, obj, "kind", NULL)->start_mark, "kind",
			 "a List inside a List is not supported");
		return 0;
	}
	if (yt_enter_seq(t, obj, "items", 0, &f, &items))
		return 0;
	for (size_t i = 0; i < yt_seq_len(items) && !err; i++) {
		yaml_node_t *item = yt_seq_item(t, items, i);

		yt_push(t, &fi, NULL, (long)i, item->start_mark);
		if (!yt_check_map(t, item, NULL))
			err = parse_object(ld, t, item, true);
		yt_pop(t, &fi);
	}
	yt_pop(t, &f);
	return err;
}

static bool is_list_kind(const char *kind)
{
	size_t n = strlen(kind);

	return n >= 4 && !strcmp(kind + n - 4, "List");
}

/* Dispatches one object (a mapping) on its apiVersion group and kind. 0 or -ENOMEM. */
static int parse_object(struct load *ld, struct yt *t, yaml_node_t *obj, bool in_list)
{
	char *api = NULL, *kind = NULL;
	const struct kind_parser *kp;
	const char *slash, *group = "", *version;
	int err = 0;

	yt_str(t, obj, "apiVersion", YT_REQUIRED, &api);
	yt_str(t, obj, "kind", YT_REQUIRED, &kind);
	if (!api || !kind)
		goto out;
	slash = strchr(api, '/');
	version = slash ? slash + 1 : api;
	if (slash) {
		group = api;
		api[slash - api] = '\0';
	}
	if (!strcmp(kind, "List") || (is_list_kind(kind) && yt_get(t, obj, "items", NULL))) {
		err = parse_list(ld, t, obj, in_list);
		goto out;
	}
	kp = find_parser(group, kind);
	if (!kp) {
		load_report(ld, LOG_INFO, "%s:%zu: ignoring kind %s (not used by shunt)", t->file,
			    obj->start_mark.line + 1, kind);
		goto out;
	}
	if (!served_as(kp, version)) {
		yt_error(t, yt_get(t, obj, "apiVersion", NULL)->start_mark, "apiVersion",
			 "%s%s%s is not a known version of %s", group, *group ? "/" : "", version,
			 kind);
		goto out;
	}
	err = kp->parse(ld, t, obj);
out:
	free(api);
	free(kind);
	return err;
}

/* One document: an object, or a List of them. 0 or -ENOMEM. */
static int load_document(void *arg, struct yt *t)
{
	yaml_node_t *root = yaml_document_get_root_node(t->doc);

	if (yt_check_map(t, root, NULL))
		return 0;
	return parse_object(arg, t, root, false);
}

static int load_stream(struct load *ld, const char *file, const char *buf, size_t len)
{
	return yt_load_stream(file, buf, len, &ld->sink, load_document, ld, &ld->errors);
}

/* Keeps a copy of @name in the config, for src_loc.file. NULL on ENOMEM. */
static const char *add_file(struct load *ld, const char *name)
{
	char *copy = strdup(name);

	if (!copy || config_append((void **)&ld->cfg->files, &ld->cfg->n_files, &ld->cap_files,
				   &copy, sizeof(copy))) {
		free(copy);
		return NULL;
	}
	return copy;
}

static int cmp_ns_name(const char *ns1, const char *n1, const char *ns2, const char *n2)
{
	int c = strcmp(ns1, ns2);

	return c ? c : strcmp(n1, n2);
}

/* Sort orders over index arrays; ties keep file order so the first definition comes first. */
static int cmp_svc_name(const void *a, const void *b, void *arg)
{
	const struct service *s = arg, *x = &s[*(const size_t *)a], *y = &s[*(const size_t *)b];
	int c = cmp_ns_name(x->namespace, x->name, y->namespace, y->name);

	return c ? c : (x > y) - (x < y);
}

static int cmp_pod_name(const void *a, const void *b, void *arg)
{
	const struct pod *p = arg, *x = &p[*(const size_t *)a], *y = &p[*(const size_t *)b];
	int c = cmp_ns_name(x->namespace, x->name, y->namespace, y->name);

	return c ? c : (x > y) - (x < y);
}

static int cmp_namespace_name(const void *a, const void *b, void *arg)
{
	const struct k8s_namespace *n = arg, *x = &n[*(const size_t *)a],
				   *y = &n[*(const size_t *)b];
	int c = strcmp(x->name, y->name);

	return c ? c : (x > y) - (x < y);
}

static int cmp_svc_ip(const void *a, const void *b, void *arg)
{
	const struct service *s = arg, *x = &s[*(const size_t *)a], *y = &s[*(const size_t *)b];
	uint32_t ix = ntohl(x->cluster_ip.s_addr), iy = ntohl(y->cluster_ip.s_addr);

	if (ix != iy)
		return (ix > iy) - (ix < iy);
	return (x > y) - (x < y);
}

static int cmp_svc_ip6(const void *a, const void *b, void *arg)
{
	const struct service *s = arg, *x = &s[*(const size_t *)a], *y = &s[*(const size_t *)b];
	int c = x->has_ip6 - y->has_ip6;

	if (!c && x->has_ip6)
		c = memcmp(&x->cluster_ip6, &y->cluster_ip6, 16);
	return c ? c : (x > y) - (x < y);
}

/* Pods with an IPv6 address first, by address. */
static int cmp_pod_ip6(const void *a, const void *b, void *arg)
{
	const struct pod *p = arg, *x = &p[*(const size_t *)a], *y = &p[*(const size_t *)b];
	int c = y->has_ip6 - x->has_ip6;

	if (!c && x->has_ip6)
		c = memcmp(&x->ip6, &y->ip6, 16);
	return c ? c : (x > y) - (x < y);
}

/* Indexes 0..@n-1 sorted by @cmp over @base. NULL on ENOMEM. */
static size_t *sorted_index(size_t n, int (*cmp)(const void *, const void *, void *), void *base)
{
	size_t *idx = calloc(n + 1, sizeof(*idx));

	if (!idx)
		return NULL;
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	qsort_r(idx, n, sizeof(*idx), cmp, base);
	return idx;
}

/* @ns is NULL for a cluster-scoped kind. */
static void report_dup(struct load *ld, const char *kind, const char *ns, const char *name,
		       const struct src_loc *dup, const struct src_loc *first)
{
	load_report(ld, LOG_ERROR,
		    "%s:%d:%d: metadata.name: duplicate %s %s%s%s (first defined at %s:%d:%d)",
		    dup->file, dup->line, dup->col, kind, ns ? ns : "", ns ? "/" : "", name,
		    first->file, first->line, first->col);
}

/* Reports objects of one kind defined twice and clusterIPs used twice. 0 or -ENOMEM. */
static int check_unique(struct load *ld, const size_t *pod_order)
{
	struct config *cfg = ld->cfg;
	struct service *sv = cfg->services;
	size_t *by_ip, n = cfg->n_services;

	for (size_t i = 1; i < n; i++) {
		const struct service *a = &sv[cfg->svc_by_name[i - 1]],
				     *b = &sv[cfg->svc_by_name[i]];

		/* Two ServiceEntries may declare one host: Istio merges them, the first wins here.
		 */
		if (!cmp_ns_name(a->namespace, a->name, b->namespace, b->name) && !(a->se && b->se))
			report_dup(ld, a->se || b->se ? "Service (a ServiceEntry host)" : "Service",
				   b->namespace, b->name, &b->loc, &a->loc);
	}
	for (size_t i = 1; i < cfg->n_pods; i++) {
		const struct pod *a = &cfg->pods[pod_order[i - 1]], *b = &cfg->pods[pod_order[i]];

		if (!cmp_ns_name(a->namespace, a->name, b->namespace, b->name))
			report_dup(ld, "Pod", b->namespace, b->name, &b->loc, &a->loc);
	}
	for (size_t i = 1; i < cfg->n_namespaces; i++) {
		const struct k8s_namespace *a = &cfg->namespaces[cfg->ns_by_name[i - 1]],
					   *b = &cfg->namespaces[cfg->ns_by_name[i]];

		if (!strcmp(a->name, b->name))
			report_dup(ld, "Namespace", NULL, b->name, &b->loc, &a->loc);
	}
	by_ip = sorted_index(n, cmp_svc_ip, sv);
	if (!by_ip)
		return -ENOMEM;
	for (size_t i = 1; i < n; i++) {
		const struct service *a = &sv[by_ip[i - 1]], *b = &sv[by_ip[i]];
		char ip[INET_ADDRSTRLEN];

		if (!b->cluster_ip.s_addr || a->cluster_ip.s_addr != b->cluster_ip.s_addr)
			continue;
		inet_ntop(AF_INET, &b->cluster_ip, ip, sizeof(ip));
		load_report(
			ld, LOG_ERROR,
			"%s:%d:%d: spec.clusterIP: %s is also the clusterIP of Service %s/%s at "
			"%s:%d:%d",
			b->cluster_ip_loc.file, b->cluster_ip_loc.line, b->cluster_ip_loc.col, ip,
			a->namespace, a->name, a->cluster_ip_loc.file, a->cluster_ip_loc.line,
			a->cluster_ip_loc.col);
	}
	free(by_ip);
	by_ip = sorted_index(n, cmp_svc_ip6, sv);
	if (!by_ip)
		return -ENOMEM;
	for (size_t i = 1; i < n; i++) {
		const struct service *a = &sv[by_ip[i - 1]], *b = &sv[by_ip[i]];
		char ip[INET6_ADDRSTRLEN];

		if (!b->has_ip6 || !a->has_ip6 || memcmp(&a->cluster_ip6, &b->cluster_ip6, 16))
			continue;
		inet_ntop(AF_INET6, &b->cluster_ip6, ip, sizeof(ip));
		load_report(ld, LOG_ERROR,
			    "%s:%d:%d: spec.clusterIPs: %s is also a clusterIP of Service %s/%s at "
			    "%s:%d:%d",
			    b->cluster_ip_loc.file, b->cluster_ip_loc.line, b->cluster_ip_loc.col,
			    ip, a->namespace, a->name, a->cluster_ip_loc.file,
			    a->cluster_ip_loc.line, a->cluster_ip_loc.col);
	}
	free(by_ip);
	return 0;
}

const struct k8s_namespace *config_find_namespace(const struct config *cfg, const char *name)
{
	size_t lo = 0, hi = cfg->n_namespaces;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct k8s_namespace *ns = &cfg->namespaces[cfg->ns_by_name[mid]];
		int c = strcmp(ns->name, name);

		if (!c)
			return ns;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* What Istio's injector reads as "do not inject" in sidecar.istio.io/inject: anything but
 * y, yes, true, on (any case) and the empty string, which means "the namespace decides". */
static bool istio_opts_out(const char *v)
{
	static const char *const yes[] = {"", "y", "yes", "true", "on"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!strcasecmp(v, yes[i]))
			return false;
	return true;
}

static bool label_is(const struct labels *l, const char *key, const char *value)
{
	const char *v = labels_get(l, key);

	return v && !strcmp(v, value);
}

bool config_pod_in_mesh(const struct config *cfg, const struct pod *p)
{
	const char *v = labels_get(&p->labels, CONFIG_MESH_LABEL);
	const struct k8s_namespace *ns;

	if (v)
		return !strcmp(v, "enabled");
	v = labels_get(&p->labels, CONFIG_ISTIO_INJECT_LABEL);
	if (v && istio_opts_out(v))
		return false;
	ns = config_find_namespace(cfg, p->namespace);
	if (!ns)
		return false;
	v = labels_get(&ns->labels, CONFIG_MESH_LABEL);
	if (v)
		return !strcmp(v, "enabled");
	return label_is(&ns->labels, CONFIG_ISTIO_NS_INJECT, "enabled") ||
	       label_is(&ns->labels, CONFIG_ISTIO_DATAPLANE_MODE, "ambient");
}

/* Shrinks *@v (@n elements of @size bytes, room for *@cap) to its contents: arrays grow by
 * doubling while the files are read, up to half of them spare. */
static void trim(void **v, size_t n, size_t *cap, size_t size)
{
	void *nv;

	if (!*v || n >= *cap)
		return;
	nv = realloc(*v, (n + 1) * size);
	if (nv) {
		*v = nv;
		*cap = n + 1;
	}
}

/* Before anything points into the arrays (every file read). */
static void trim_all(struct load *ld)
{
	struct config *c = ld->cfg;
	struct istio_config *ic = &c->istio;

	trim((void **)&c->pods, c->n_pods, &ld->cap_pods, sizeof(*c->pods));
	trim((void **)&c->namespaces, c->n_namespaces, &ld->cap_namespaces, sizeof(*c->namespaces));
	trim((void **)&c->secrets, c->n_secrets, &ld->cap_secrets, sizeof(*c->secrets));
	trim((void **)&c->slices, c->n_slices, &ld->cap_slices, sizeof(*c->slices));
	trim((void **)&ic->vs, ic->n_vs, &ld->cap_vs, sizeof(*ic->vs));
	trim((void **)&ic->dr, ic->n_dr, &ld->cap_dr, sizeof(*ic->dr));
	trim((void **)&ic->sidecars, ic->n_sidecars, &ld->cap_sidecars, sizeof(*ic->sidecars));
	trim((void **)&ic->ses, ic->n_ses, &ld->cap_ses, sizeof(*ic->ses));
	trim((void **)&ic->wes, ic->n_wes, &ld->cap_wes, sizeof(*ic->wes));
	trim((void **)&ic->gws, ic->n_gws, &ld->cap_gws, sizeof(*ic->gws));
}

/* Everything that needs all files: uniqueness checks (even after other problems, so that all
 * are reported), then endpoints and indexes. @err is the load's I/O error so far. Returns it,
 * or -EINVAL when a problem was reported, or -ENOMEM. */
static int finish(struct load *ld, int err)
{
	struct config *cfg = ld->cfg;
	size_t *pod_order;
	int ierr;

	trim_all(ld);
	/* ServiceEntry hosts become services first: every index below holds them. */
	if (!err && !ld->errors && istio_expand_service_entries(ld))
		return -ENOMEM;
	trim((void **)&cfg->services, cfg->n_services, &ld->cap_services, sizeof(*cfg->services));
	strtab_seal(&cfg->strs);
	cfg->svc_by_name = sorted_index(cfg->n_services, cmp_svc_name, cfg->services);
	cfg->ns_by_name = sorted_index(cfg->n_namespaces, cmp_namespace_name, cfg->namespaces);
	cfg->pod_by_ip6 = sorted_index(cfg->n_pods, cmp_pod_ip6, cfg->pods);
	pod_order = sorted_index(cfg->n_pods, cmp_pod_name, cfg->pods);
	if (!cfg->svc_by_name || !cfg->ns_by_name || !pod_order) {
		err = -ENOMEM;
		goto free_order;
	}
	ierr = check_unique(ld, pod_order);
	if (!ierr) /* Istio's checks that need every object, warnings only on a clean load */
		ierr = istio_finish(ld, !err && !ld->errors);
	if (ierr || err || ld->errors) {
		err = ierr ? ierr : err ? err : -EINVAL;
		goto free_order;
	}
	k8s_check_gateway_secrets(ld);
	for (size_t i = 0; i < cfg->n_pods; i++)
		cfg->pods[i].in_mesh = config_pod_in_mesh(cfg, &cfg->pods[i]);
	err = config_compute_endpoints(cfg, pod_order);
	if (!err)
		err = config_slice_endpoints(cfg, pod_order);
	if (!err)
		err = config_build_vip_index(cfg);
	if (!err)
		err = config_build_vip6_index(cfg);
free_order:
	free(pod_order);
	return err;
}

static int load_begin(struct load *ld)
{
	memset(ld, 0, sizeof(*ld));
	ld->sink.emit = emit;
	ld->cfg = calloc(1, sizeof(*ld->cfg));
	return ld->cfg ? 0 : -ENOMEM;
}

/* Hands the config over on success, frees it otherwise. Returns @err. */
static int load_end(struct load *ld, int err, struct config **out)
{
	if (err != -ENOMEM)
		err = finish(ld, err);
	if (err) {
		if (ld->errors)
			log_error("config: %u problem%s, config rejected", ld->errors,
				  ld->errors == 1 ? "" : "s");
		config_free(ld->cfg);
		return err;
	}
	*out = ld->cfg;
	return 0;
}

int config_load_buf(const char *name, const char *buf, size_t len, struct config **out)
{
	const char *file;
	struct load ld;
	int err;

	err = load_begin(&ld);
	if (err)
		return err;
	file = add_file(&ld, name);
	err = file ? load_stream(&ld, file, buf, len) : -ENOMEM;
	return load_end(&ld, err, out);
}

struct config_loader {
	struct load ld;
	int err; /* the first -ENOMEM of an add */
};

int config_loader_new(struct config_loader **out)
{
	struct config_loader *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	if (load_begin(&l->ld)) {
		free(l);
		return -ENOMEM;
	}
	*out = l;
	return 0;
}

int config_loader_add(struct config_loader *l, const char *name, struct yaml_document_s *doc)
{
	const char *file;
	struct yt t;
	int err;

	if (l->err)
		return l->err;
	file = add_file(&l->ld, name);
	if (!file)
		return l->err = -ENOMEM;
	yt_init(&t, doc, file, &l->ld.sink);
	err = load_document(&l->ld, &t);
	l->ld.errors += t.errors;
	if (!err && t.oom)
		err = -ENOMEM;
	return l->err = err;
}

int config_loader_finish(struct config_loader *l, struct config **out)
{
	int err = load_end(&l->ld, l->err, out);

	free(l);
	return err;
}

int config_load_docs(const struct config_doc *docs, size_t n, struct config **out)
{
	struct config_loader *l;
	int err = config_loader_new(&l);

	if (err)
		return err;
	for (size_t i = 0; i < n && !err; i++)
		err = config_loader_add(l, docs[i].name, docs[i].doc); /* sticky */
	return config_loader_finish(l, out);
}

int config_load_dir(const char *dir, struct config **out)
{
	size_t n_paths = 0;
	char **paths;
	struct load ld;
	int err, io_err = 0;

	err = yt_list_dir(dir, &paths, &n_paths);
	if (err) {
		char line[1024];

		snprintf(line, sizeof(line), "%s: cannot read config directory: %s", dir,
			 strerror(-err));
		emit(NULL, LOG_ERROR, line);
		return err;
	}
	err = load_begin(&ld);
	for (size_t i = 0; i < n_paths && !err; i++) {
		const char *file = add_file(&ld, paths[i]);
		int rerr;

		if (!file) {
			err = -ENOMEM;
			break;
		}
		/* Read as it is parsed: a file is never whole in memory next to the config. */
		err = yt_load_file(file, &ld.sink, load_document, &ld, &ld.errors, &rerr);
		if (!err && rerr) {
			load_report(&ld, LOG_ERROR, "%s: cannot read: %s", file, strerror(-rerr));
			io_err = io_err ? io_err : rerr;
		}
	}
	if (ld.cfg)
		err = load_end(&ld, err ? err : io_err, out);
	yt_free_paths(paths, n_paths);
	return err;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_services; i++)
		k8s_service_release(&cfg->services[i]);
	free(cfg->services);
	free(cfg->pods);
	for (size_t i = 0; i < cfg->n_namespaces; i++)
		k8s_namespace_release(&cfg->namespaces[i]);
	free(cfg->namespaces);
	istio_config_release(&cfg->istio);
	for (size_t i = 0; i < cfg->n_secrets; i++)
		k8s_secret_release(&cfg->secrets[i]);
	free(cfg->secrets);
	for (size_t i = 0; i < cfg->n_slices; i++)
		k8s_slice_release(&cfg->slices[i]);
	free(cfg->slices);
	for (size_t i = 0; i < cfg->n_files; i++)
		free(cfg->files[i]);
	free(cfg->files);
	free(cfg->svc_by_name);
	free(cfg->ns_by_name);
	free(cfg->pod_by_ip6);
	free(cfg->vip_slots);
	free(cfg->vip6_slots);
	strtab_free(&cfg->strs);
	free(cfg);
}

const struct pod *config_find_pod6(const struct config *cfg, const struct in6_addr *ip)
{
	const struct pod *found = NULL;
	size_t lo = 0, hi = cfg->n_pods;

	/* The first pod of that address in the index: a live one wins over one that finished. */
	while (lo < hi && cfg->pod_by_ip6) {
		size_t mid = lo + (hi - lo) / 2;
		const struct pod *p = &cfg->pods[cfg->pod_by_ip6[mid]];
		int c = p->has_ip6 ? memcmp(&p->ip6, ip, 16) : 1;

		if (c < 0) {
			lo = mid + 1;
		} else {
			if (!c)
				found = p;
			hi = mid;
		}
	}
	for (size_t i = lo; found && i < cfg->n_pods; i++) {
		const struct pod *p = &cfg->pods[cfg->pod_by_ip6[i]];

		if (!p->has_ip6 || memcmp(&p->ip6, ip, 16))
			break;
		if (!p->terminating)
			return p;
	}
	return found;
}

const struct service *config_find_service(const struct config *cfg, const char *namespace,
					  const char *name)
{
	size_t lo = 0, hi = cfg->n_services;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct service *s = &cfg->services[cfg->svc_by_name[mid]];
		int c = cmp_ns_name(s->namespace, s->name, namespace, name);

		if (!c)
			return s;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
