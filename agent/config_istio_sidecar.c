// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * networking.istio.io Sidecar: parsed and validated as Istio's webhook does
 * (ValidateSidecar), and chosen for a pod as istiod chooses it.
 *
 * What shunt does with it: outboundTrafficPolicy.mode decides, per pod,
 * whether connect() to an address outside the registry is refused in the
 * kernel (docs/kernel.md, Egress policy); egress[].hosts draw the scope of
 * services the selected pods see (config_sidecar_sees). ingress,
 * captureMode and inboundConnectionPool shape a sidecar proxy's own
 * listeners, which shunt does not have: accepted with a warning.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "istio.h"
#include "log.h"

static const struct ist_field sidecar_spec_fields[] = {
	{"workloadSelector", IST_PARSED, NULL},
	{"egress", IST_PARSED, NULL},
	{"outboundTrafficPolicy", IST_PARSED, NULL},
	{"ingress", IST_WARN,
	 "ingress listeners configure a sidecar proxy's inbound side; shunt has none (traffic "
	 "reaches the pod directly), ignored"},
	{"inboundConnectionPool", IST_WARN,
	 "concerns a sidecar proxy's inbound side; shunt has none, ignored"},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field sidecar_selector_fields[] = {{"labels", IST_PARSED, NULL},
							   {NULL, IST_PARSED, NULL}};

static const struct ist_field egress_fields[] = {
	{"port", IST_PARSED, NULL},  {"bind", IST_PARSED, NULL}, {"captureMode", IST_PARSED, NULL},
	{"hosts", IST_PARSED, NULL}, {NULL, IST_PARSED, NULL},
};

static const struct ist_field sidecar_port_fields[] = {
	{"number", IST_PARSED, NULL},
	{"protocol", IST_PARSED, NULL},
	{"name", IST_PARSED, NULL},
	{"targetPort", IST_NOTICE, "not used by an egress listener, ignored"},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field outbound_fields[] = {
	{"mode", IST_PARSED, NULL},
	{"egressProxy", IST_WARN,
	 "not supported yet: unknown destinations go to their own address, not to the proxy"},
	{NULL, IST_PARSED, NULL},
};

bool ist_protocol_known(const char *s)
{
	static const char *const known[] = {"TCP",  "UDP",	  "GRPC",  "GRPC-Web",
					    "HTTP", "HTTP_PROXY", "HTTP2", "HTTPS",
					    "TLS",  "Mongo",	  "Redis", "MySQL"};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcasecmp(s, known[i]))
			return true;
	return false;
}

static bool ip_address(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static void parse_selector(struct yt *t, yaml_node_t *spec, struct sidecar *s)
{
	const char *key = ist_key(t, spec, "workloadSelector");
	struct yt_frame f;
	yaml_node_t *m, *ln;

	if (yt_enter_map(t, spec, key, 0, &f, &m))
		return;
	ist_check_fields(t, m, sidecar_selector_fields);
	ln = yt_get(t, m, "labels", NULL);
	if (ist_labels(t, m, "labels", false, &s->workload_selector) == -ENOENT ||
	    (!s->workload_selector.n && !t->oom))
		yt_error(t, (ln ? ln : m)->start_mark, "labels",
			 "sidecar: workloadSelector labels is required");
	for (size_t i = 0; i < s->workload_selector.n; i++) {
		const struct label *l = &s->workload_selector.v[i];

		if (!*l->key || strchr(l->key, '*') || strchr(l->value, '*'))
			yt_error(t, m->start_mark, "labels",
				 "%s key or wildcard is not supported in selector: \"%s=%s\"",
				 *l->key ? "a" : "an empty", l->key, l->value);
	}
	yt_pop(t, &f);
}

/* Istio's validateNamespaceSlashWildcardHostname for a Sidecar: "ns/dnsName". */
static void check_host(struct yt *t, yaml_node_t *item, const char *host)
{
	const char *slash = strchr(host, '/'), *dns;
	char why[160], ns[64];
	size_t ns_len;

	if (!slash) {
		yt_error(t, item->start_mark, NULL,
			 "sidecar: config namespace and dnsName in host entry must be separated "
			 "by '/'");
		return;
	}
	ns_len = (size_t)(slash - host);
	dns = slash + 1;
	if (!ns_len || !*dns) {
		yt_error(t, item->start_mark, NULL,
			 "config namespace and dnsName in host entry cannot be empty");
		return;
	}
	if (ns_len >= sizeof(ns)) {
		yt_error(t, item->start_mark, NULL, "invalid namespace value \"%.*s\" in sidecar",
			 (int)ns_len, host);
		return;
	}
	memcpy(ns, host, ns_len);
	ns[ns_len] = '\0';
	if (strcmp(ns, "*") && strcmp(ns, ".") && strcmp(ns, "~") && !ist_dns1123_label(ns))
		yt_error(t, item->start_mark, NULL, "invalid namespace value \"%s\" in sidecar",
			 ns);
	if (strcmp(dns, "*") && ist_check_wildcard_domain(dns, why, sizeof(why)))
		yt_error(t, item->start_mark, NULL, "%s", why);
}

static void parse_port(struct yt *t, yaml_node_t *item, struct sidecar_egress *e)
{
	struct yt_frame f;
	yaml_node_t *m, *n;
	long number = 0;
	int err;

	if (yt_enter_map(t, item, "port", 0, &f, &m))
		return;
	e->has_port = true;
	ist_check_fields(t, m, sidecar_port_fields);
	err = ist_int(t, m, "number", 0, 65535, &number);
	e->port = (uint32_t)number;
	if (!ist_str(t, m, "name", 0, &e->port_name) && !ist_dns1123_label(e->port_name)) {
		n = yt_get(t, m, "name", NULL);
		yt_error(t, n->start_mark, "name", "port name %s must be a valid DNS1123 label",
			 e->port_name);
	}
	if (!ist_str(t, m, "protocol", 0, &e->protocol)) {
		if (!ist_protocol_known(e->protocol)) {
			n = yt_get(t, m, "protocol", NULL);
			yt_error(t, n->start_mark, "protocol", "%s is not a valid protocol",
				 e->protocol);
		}
	} else if (!t->oom) {
		yt_error(t, m->start_mark, "protocol", "\"\" is not a valid protocol");
	}
	if (!e->port && err != -EINVAL) {
		/* Istio: a listener on port 0 (or without a number) is a Unix domain socket. */
		if (!e->bind || strncmp(e->bind, "unix://", 7))
			yt_error(t, m->start_mark, "number",
				 "sidecar: ports with 0 value must have a unix domain socket bind "
				 "address");
	}
	yt_pop(t, &f);
}

static void parse_egress_item(struct yt *t, yaml_node_t *item, struct sidecar_egress *e)
{
	const char *key = ist_key(t, item, "hosts");
	yaml_node_t *hosts = yt_get(t, item, key, NULL), *n;

	e->loc = config_loc_of(t, item->start_mark);
	ist_check_fields(t, item, egress_fields);
	if (!ist_str(t, item, "bind", 0, &e->bind) && strncmp(e->bind, "unix://", 7) &&
	    !ip_address(e->bind)) {
		n = yt_get(t, item, "bind", NULL);
		yt_error(t, n->start_mark, "bind", "%s is not a valid IP address", e->bind);
	}
	if (!ist_str(t, item, "captureMode", 0, &e->capture_mode)) {
		n = yt_get(t, item, ist_key(t, item, "captureMode"), NULL);
		if (strcmp(e->capture_mode, "DEFAULT") && strcmp(e->capture_mode, "IPTABLES") &&
		    strcmp(e->capture_mode, "NONE"))
			yt_error(t, n->start_mark, ist_key(t, item, "captureMode"),
				 "unknown value \"%s\" (DEFAULT, IPTABLES or NONE)",
				 e->capture_mode);
		else
			yt_report(t, LOG_WARN, n->start_mark, ist_key(t, item, "captureMode"),
				  "how a sidecar proxy captures its pod's traffic; shunt captures "
				  "in the kernel whatever the mode, ignored");
	}
	if (yt_get(t, item, "port", NULL))
		parse_port(t, item, e);
	if (ist_str_list(t, item, "hosts", &e->hosts, &e->n_hosts) || !e->n_hosts) {
		if (!t->oom)
			yt_error(t, item->start_mark, key,
				 "sidecar: egress listener must contain at least one host");
		return;
	}
	for (size_t i = 0; i < e->n_hosts; i++) {
		yaml_node_t *h = yt_seq_item(t, hosts, i);
		struct yt_frame f;

		yt_push(t, &f, key, (long)i, h->start_mark);
		check_host(t, h, e->hosts[i]);
		yt_pop(t, &f);
	}
}

static void parse_egress(struct yt *t, yaml_node_t *spec, struct sidecar *s)
{
	struct yt_frame f, fi;
	yaml_node_t *seq;
	bool catch_all = false;
	size_t n;

	if (yt_enter_seq(t, spec, "egress", 0, &f, &seq))
		return;
	n = yt_seq_len(seq);
	s->egress = calloc(n + 1, sizeof(*s->egress));
	if (!s->egress) {
		t->oom = true;
		goto pop;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = yt_seq_item(t, seq, i);
		struct sidecar_egress *e = &s->egress[s->n_egress];

		yt_push(t, &fi, NULL, (long)i, item->start_mark);
		if (yt_is_null(item)) {
			yt_error(t, item->start_mark, NULL, "sidecar: egress may not be null");
			goto next;
		}
		if (yt_check_map(t, item, NULL))
			goto next;
		s->n_egress++;
		parse_egress_item(t, item, e);
		if (!e->has_port && catch_all)
			yt_error(t, item->start_mark, NULL,
				 "sidecar: the egress listener list can contain at most one "
				 "catch-all listener without a port");
		catch_all |= !e->has_port;
		for (size_t j = 0; e->has_port && j + 1 < s->n_egress; j++) {
			const struct sidecar_egress *o = &s->egress[j];

			if (o->has_port && o->port == e->port &&
			    !strcmp(o->bind ? o->bind : "", e->bind ? e->bind : ""))
				yt_error(t, item->start_mark, "port",
					 "sidecar: ports on IP bound listeners must be unique "
					 "(also egress[%zu])",
					 j);
		}
	next:
		yt_pop(t, &fi);
	}
	for (size_t i = 0; i < s->n_egress; i++)
		if (s->egress[i].has_port && !s->egress[i].bind) {
			yt_report(t, LOG_WARN, seq->start_mark, NULL,
				  "an egress listener's port without a bind is not applied yet: "
				  "its hosts count for every port");
			break;
		}
pop:
	yt_pop(t, &f);
}

static void parse_outbound(struct yt *t, yaml_node_t *spec, struct sidecar *s)
{
	const char *key = ist_key(t, spec, "outboundTrafficPolicy");
	struct yt_frame f;
	yaml_node_t *m, *n;
	char *mode = NULL;

	if (yt_enter_map(t, spec, key, 0, &f, &m))
		return;
	ist_check_fields(t, m, outbound_fields);
	s->has_outbound = true; /* an empty policy is mode ALLOW_ANY, proto's zero value */
	s->outbound = OUTBOUND_ALLOW_ANY;
	if (!ist_str(t, m, "mode", 0, &mode)) {
		n = yt_get(t, m, "mode", NULL);
		if (!strcmp(mode, "REGISTRY_ONLY"))
			s->outbound = OUTBOUND_REGISTRY_ONLY;
		else if (strcmp(mode, "ALLOW_ANY"))
			yt_error(t, n->start_mark, "mode",
				 "unknown value \"%s\" (ALLOW_ANY or REGISTRY_ONLY)", mode);
	}
	n = yt_get(t, m, ist_key(t, m, "egressProxy"), NULL);
	if (n && !yt_is_null(n) && s->outbound == OUTBOUND_REGISTRY_ONLY)
		yt_error(t, n->start_mark, ist_key(t, m, "egressProxy"),
			 "sidecar: egress_proxy must be set only with ALLOW_ANY "
			 "outbound_traffic_policy mode");
	free(mode);
	yt_pop(t, &f);
}

void istio_sidecar_release(struct sidecar *s)
{
	free(s->name);
	free(s->namespace);
	free(s->creation_timestamp);
	ist_labels_release(&s->workload_selector);
	for (size_t i = 0; i < s->n_egress; i++) {
		struct sidecar_egress *e = &s->egress[i];

		free(e->protocol);
		free(e->port_name);
		free(e->bind);
		free(e->capture_mode);
		ist_str_list_free(e->hosts, e->n_hosts);
	}
	free(s->egress);
}

int istio_parse_sidecar(struct load *ld, struct yt *t, yaml_node_t *obj)
{
	struct sidecar s = {.loc = config_loc_of(t, obj->start_mark)};
	struct istio_config *ic = &ld->cfg->istio;
	static const char *const parts[] = {"egress", "ingress", "outboundTrafficPolicy",
					    "inboundConnectionPool"};
	unsigned errors = t->errors;
	yaml_node_t *spec;
	struct yt_frame f;
	bool any = false;

	ist_meta(t, obj, &s.name, &s.namespace, &s.creation_timestamp);
	if (yt_enter_map(t, obj, "spec", YT_REQUIRED, &f, &spec))
		goto check;
	ist_check_fields(t, spec, sidecar_spec_fields);
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		yaml_node_t *n = yt_get(t, spec, ist_key(t, spec, parts[i]), NULL);

		any |= n && !yt_is_null(n);
	}
	if (!any)
		yt_error(t, spec->start_mark, NULL, "sidecar: empty configuration provided");
	parse_selector(t, spec, &s);
	parse_egress(t, spec, &s);
	parse_outbound(t, spec, &s);
	yt_pop(t, &f);
check:
	if (t->errors != errors || t->oom)
		goto drop;
	if (!config_append((void **)&ic->sidecars, &ic->n_sidecars, &ld->cap_sidecars, &s,
			   sizeof(s)))
		return 0;
	t->oom = true;
drop:
	istio_sidecar_release(&s);
	return t->oom ? -ENOMEM : 0;
}

/* ---- which Sidecar a pod gets ---- */

/* Istio's order among Sidecars: creationTimestamp (absent first), name, namespace. */
static int older(const struct sidecar *a, const struct sidecar *b)
{
	int64_t ta = INT64_MIN, tb = INT64_MIN;
	int c;

	if (a->creation_timestamp)
		(void)ist_parse_rfc3339(a->creation_timestamp, &ta);
	if (b->creation_timestamp)
		(void)ist_parse_rfc3339(b->creation_timestamp, &tb);
	if (ta != tb)
		return ta < tb ? -1 : 1;
	c = strcmp(a->name, b->name);
	return c ? c : strcmp(a->namespace, b->namespace);
}

static bool selects(const struct sidecar *s, const struct pod *p)
{
	if (!s->workload_selector.n)
		return false;
	for (size_t i = 0; i < s->workload_selector.n; i++) {
		const char *v = labels_get(&p->labels, s->workload_selector.v[i].key);

		if (!v || strcmp(v, s->workload_selector.v[i].value))
			return false;
	}
	return true;
}

/* The oldest selector-less Sidecar of namespace @ns, or NULL. */
static const struct sidecar *ns_default(const struct istio_config *ic, const char *ns)
{
	const struct sidecar *best = NULL;

	for (size_t i = 0; i < ic->n_sidecars; i++) {
		const struct sidecar *s = &ic->sidecars[i];

		if (!s->workload_selector.n && !strcmp(s->namespace, ns) &&
		    (!best || older(s, best) < 0))
			best = s;
	}
	return best;
}

const struct sidecar *config_pod_sidecar(const struct config *cfg, const struct pod *p)
{
	const struct istio_config *ic = &cfg->istio;
	const struct sidecar *best = NULL;

	for (size_t i = 0; i < ic->n_sidecars; i++) {
		const struct sidecar *s = &ic->sidecars[i];

		if (!strcmp(s->namespace, p->namespace) && selects(s, p) &&
		    (!best || older(s, best) < 0))
			best = s;
	}
	if (!best)
		best = ns_default(ic, p->namespace);
	return best ? best : ns_default(ic, ISTIO_ROOT_NAMESPACE);
}

enum outbound_policy config_pod_outbound(const struct config *cfg, const struct pod *p,
					 enum outbound_policy mesh_default)
{
	const struct sidecar *s = config_pod_sidecar(cfg, p);

	return s && s->has_outbound ? s->outbound : mesh_default;
}

void istio_check_sidecars(struct load *ld)
{
	const struct istio_config *ic = &ld->cfg->istio;

	/* Istio's analyzer IST0109: only the oldest selector-less Sidecar of a namespace counts. */
	for (size_t i = 0; i < ic->n_sidecars; i++) {
		const struct sidecar *s = &ic->sidecars[i], *d;

		if (s->workload_selector.n)
			continue;
		d = ns_default(ic, s->namespace);
		if (d != s)
			config_report(
				ld, LOG_WARN,
				"%s:%d:%d: spec.workloadSelector: Sidecar %s/%s has no "
				"workloadSelector, nor has the older %s/%s (%s:%d): only that "
				"one applies to namespace %s",
				s->loc.file, s->loc.line, s->loc.col, s->namespace, s->name,
				d->namespace, d->name, d->loc.file, d->loc.line, s->namespace);
	}
}

/* Whether "ns/dnsName" @host, of a Sidecar in @own_ns, matches @svc. */
static bool host_sees(const char *host, const char *own_ns, const struct service *svc)
{
	const char *slash = strchr(host, '/'), *dns;
	char fqdn[320];
	size_t ns_len, dl, fl;

	if (!slash)
		return false;
	ns_len = (size_t)(slash - host);
	dns = slash + 1;
	if (ns_len == 1 && host[0] == '~')
		return false;
	if (!(ns_len == 1 && host[0] == '*')) {
		const char *ns = ns_len == 1 && host[0] == '.' ? own_ns : host;
		size_t n = ns == own_ns ? strlen(own_ns) : ns_len;

		if (strlen(svc->namespace) != n || strncmp(svc->namespace, ns, n))
			return false;
	}
	if (!strcmp(dns, "*"))
		return true;
	if (svc->fqdn)
		snprintf(fqdn, sizeof(fqdn), "%s", svc->fqdn);
	else
		snprintf(fqdn, sizeof(fqdn), "%s.%s.svc.cluster.local", svc->name, svc->namespace);
	if (dns[0] != '*')
		return !strcasecmp(dns, fqdn);
	dl = strlen(dns);
	fl = strlen(fqdn);
	return fl >= dl && !strcasecmp(fqdn + fl - (dl - 1), dns + 1);
}

bool config_listener_sees(const struct sidecar_egress *e, const char *own_ns,
			  const struct service *svc)
{
	for (size_t j = 0; j < e->n_hosts; j++)
		if (host_sees(e->hosts[j], own_ns, svc))
			return true;
	return false;
}

bool config_sidecar_sees(const struct sidecar *sc, const struct service *svc)
{
	if (!sc || !sc->n_egress)
		return true;
	for (size_t i = 0; i < sc->n_egress; i++)
		if (config_listener_sees(&sc->egress[i], sc->namespace, svc))
			return true;
	return false;
}
