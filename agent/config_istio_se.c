// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * networking.istio.io ServiceEntry and WorkloadEntry: parsed and validated as
 * Istio's webhook does (ValidateServiceEntry, ValidateWorkloadEntry), then
 * made part of the registry the way istiod does it: every host of an entry is
 * a service (one per host), whose VIPs are the entry's addresses and whose
 * endpoints are its endpoints[] or the WorkloadEntries its workloadSelector
 * picks. From there, VirtualServices, DestinationRules, the kernel maps and
 * the balancers treat it as any Kubernetes service.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "istio.h"
#include "log.h"

static const struct ist_field se_spec_fields[] = {
	{"hosts", IST_PARSED, NULL},
	{"addresses", IST_PARSED, NULL},
	{"ports", IST_PARSED, NULL},
	{"location", IST_PARSED, NULL},
	{"resolution", IST_PARSED, NULL},
	{"endpoints", IST_PARSED, NULL},
	{"workloadSelector", IST_PARSED, NULL},
	{"exportTo", IST_PARSED, NULL},
	{"subjectAltNames", IST_NOTICE, "not used by shunt (no mTLS yet), ignored"},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field se_port_fields[] = {
	{"number", IST_PARSED, NULL}, {"protocol", IST_PARSED, NULL},
	{"name", IST_PARSED, NULL},   {"targetPort", IST_PARSED, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field we_fields[] = {
	{"address", IST_PARSED, NULL},	      {"ports", IST_PARSED, NULL},
	{"labels", IST_PARSED, NULL},	      {"network", IST_PARSED, NULL},
	{"locality", IST_PARSED, NULL},	      {"weight", IST_PARSED, NULL},
	{"serviceAccount", IST_PARSED, NULL}, {NULL, IST_PARSED, NULL},
};

static const struct ist_field se_selector_fields[] = {{"labels", IST_PARSED, NULL},
						      {NULL, IST_PARSED, NULL}};

const char *istio_se_resolution_str(enum se_resolution r)
{
	static const char *const names[] = {"NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN"};

	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

static bool ip_literal(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Istio's ValidateIPSubnet: an address, or ADDRESS/LEN. */
static bool ip_subnet(const char *s)
{
	const char *slash = strchr(s, '/');
	char addr[INET6_ADDRSTRLEN];
	unsigned char buf[sizeof(struct in6_addr)];
	char *end;
	long len;

	if (!slash)
		return ip_literal(s);
	if ((size_t)(slash - s) >= sizeof(addr))
		return false;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	len = strtol(slash + 1, &end, 10);
	if (*end || end == slash + 1)
		return false;
	if (inet_pton(AF_INET, addr, buf) == 1)
		return len >= 0 && len <= 32;
	return inet_pton(AF_INET6, addr, buf) == 1 && len >= 0 && len <= 128;
}

static void we_release(struct we_spec *w)
{
	free(w->address);
	for (size_t i = 0; i < w->n_ports; i++)
		free(w->ports[i].name);
	free(w->ports);
	ist_labels_release(&w->labels);
	free(w->network);
	free(w->locality);
	free(w->service_account);
}

/* WorkloadEntry.ports: a map of port name to number, each 1-65535. */
static void parse_we_ports(struct yt *t, yaml_node_t *map, struct we_spec *w)
{
	yaml_node_pair_t *p;
	yaml_node_t *m;
	struct yt_frame f;

	if (yt_enter_map(t, map, "ports", 0, &f, &m))
		return;
	w->ports = calloc((size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start) + 1,
			  sizeof(*w->ports));
	if (!w->ports) {
		t->oom = true;
		goto pop;
	}
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yt_node(t, p->key), *v = yt_node(t, p->value);
		struct we_port *wp = &w->ports[w->n_ports];
		long num;

		if (yt_node_str(t, k, NULL, &wp->name))
			continue;
		if (yt_node_int(t, v, wp->name, 1, 65535, &num)) {
			free(wp->name);
			continue;
		}
		wp->number = (uint32_t)num;
		w->n_ports++;
	}
pop:
	yt_pop(t, &f);
}

/*
 * A WorkloadEntry spec at @map (an endpoints[] item, or a WorkloadEntry's
 * spec). @resolution decides what the address may be: an IP (or unix://) for
 * STATIC, an IP or an FQDN for DNS; the other checks are Istio's.
 */
static void parse_we(struct yt *t, yaml_node_t *map, enum se_resolution resolution,
		     struct we_spec *w)
{
	yaml_node_t *n;
	char why[160];
	long weight;

	w->loc = config_loc_of(t, map->start_mark);
	ist_check_fields(t, map, we_fields);
	if (!ist_str(t, map, "address", 0, &w->address)) {
		n = yt_get(t, map, "address", NULL);
		if (!strncmp(w->address, "unix://", 7))
			;
		else if (resolution == SE_RES_STATIC && !ip_literal(w->address))
			yt_error(t, n->start_mark, "address",
				 "endpoint address %s is not a valid IP address", w->address);
		else if (resolution >= SE_RES_DNS && !ip_literal(w->address) &&
			 ist_check_fqdn(w->address, why, sizeof(why)))
			yt_error(t, n->start_mark, "address",
				 "endpoint address %s is not a valid FQDN or an IP address",
				 w->address);
	} else if (!t->oom && !yt_get(t, map, "network", NULL)) {
		yt_error(t, map->start_mark, "address", "address must be set");
	}
	parse_we_ports(t, map, w);
	ist_labels(t, map, "labels", true, &w->labels);
	ist_str(t, map, "network", 0, &w->network);
	ist_str(t, map, "locality", 0, &w->locality);
	ist_str(t, map, "serviceAccount", 0, &w->service_account);
	if (!ist_int(t, map, "weight", 0, UINT32_MAX, &weight))
		w->weight = (uint32_t)weight;
}

static void parse_ports(struct yt *t, yaml_node_t *spec, struct service_entry *se)
{
	struct yt_frame f, fi;
	yaml_node_t *seq, *n;
	size_t cnt;

	if (yt_enter_seq(t, spec, "ports", 0, &f, &seq))
		return;
	cnt = yt_seq_len(seq);
	se->ports = calloc(cnt + 1, sizeof(*se->ports));
	if (!se->ports) {
		t->oom = true;
		goto pop;
	}
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = yt_seq_item(t, seq, i);
		struct se_port *p = &se->ports[se->n_ports];
		long v;

		yt_push(t, &fi, NULL, (long)i, item->start_mark);
		if (yt_is_null(item)) {
			yt_error(t, item->start_mark, NULL, "service entry port may not be null");
			goto next;
		}
		if (yt_check_map(t, item, NULL))
			goto next;
		se->n_ports++;
		ist_check_fields(t, item, se_port_fields);
		if (!ist_int(t, item, "number", 1, 65535, &v)) {
			p->number = (uint32_t)v;
			for (size_t j = 0; j + 1 < se->n_ports; j++)
				if (se->ports[j].number == p->number)
					yt_error(t, yt_get(t, item, "number", NULL)->start_mark,
						 "number", "service entry port %u already defined",
						 p->number);
		} else if (!yt_get(t, item, "number", NULL)) {
			yt_error(t, item->start_mark, "number",
				 "port number 0 must be in the range 1..65535");
		}
		if (!ist_str(t, item, "name", 0, &p->name)) {
			n = yt_get(t, item, "name", NULL);
			if (*p->name && !ist_dns1123_label(p->name))
				yt_error(t, n->start_mark, "name",
					 "port name %s must be a valid DNS1123 label", p->name);
			for (size_t j = 0; *p->name && j + 1 < se->n_ports; j++)
				if (se->ports[j].name && !strcmp(se->ports[j].name, p->name))
					yt_error(t, n->start_mark, "name",
						 "service entry port name %s already defined",
						 p->name);
		}
		if (!ist_str(t, item, "protocol", 0, &p->protocol) &&
		    !ist_protocol_known(p->protocol))
			yt_error(t, yt_get(t, item, "protocol", NULL)->start_mark, "protocol",
				 "%s is not a valid protocol", p->protocol);
		if (!ist_int(t, item, "targetPort", 1, 65535, &v))
			p->target_port = (uint32_t)v;
	next:
		yt_pop(t, &fi);
	}
pop:
	yt_pop(t, &f);
}

static void parse_hosts(struct yt *t, yaml_node_t *spec, struct service_entry *se)
{
	yaml_node_t *seq = yt_get(t, spec, "hosts", NULL);
	char why[160];

	if (ist_str_list(t, spec, "hosts", &se->hosts, &se->n_hosts) || !se->n_hosts) {
		if (!t->oom)
			yt_error(t, seq ? seq->start_mark : spec->start_mark, "hosts",
				 "service entry must have at least one host");
		return;
	}
	for (size_t i = 0; i < se->n_hosts; i++) {
		yaml_node_t *item = yt_seq_item(t, seq, i);
		struct yt_frame f;

		yt_push(t, &f, "hosts", (long)i, item->start_mark);
		if (!strcmp(se->hosts[i], "*"))
			yt_error(t, item->start_mark, NULL, "invalid host *");
		else if (ist_check_wildcard_domain(se->hosts[i], why, sizeof(why)))
			yt_error(t, item->start_mark, NULL, "%s", why);
		yt_pop(t, &f);
	}
}

static void parse_addresses(struct yt *t, yaml_node_t *spec, struct service_entry *se)
{
	yaml_node_t *seq = yt_get(t, spec, "addresses", NULL);

	if (ist_str_list(t, spec, "addresses", &se->addresses, &se->n_addresses))
		return;
	for (size_t i = 0; i < se->n_addresses; i++) {
		yaml_node_t *item = yt_seq_item(t, seq, i);
		struct yt_frame f;

		yt_push(t, &f, "addresses", (long)i, item->start_mark);
		if (!ip_subnet(se->addresses[i]))
			yt_error(t, item->start_mark, NULL,
				 "%s is not a valid IP address or subnet", se->addresses[i]);
		else if (strchr(se->addresses[i], '/') && se->resolution != SE_RES_NONE &&
			 se->resolution != SE_RES_STATIC)
			yt_error(
				t, item->start_mark, NULL,
				"CIDR addresses are allowed only for NONE/STATIC resolution types");
		yt_pop(t, &f);
	}
}

/* An enum field by its Istio names; -ENOENT when absent. */
static int parse_enum(struct yt *t, yaml_node_t *map, const char *key, const char *const *names,
		      size_t n, int *out)
{
	yaml_node_t *node;
	char *v = NULL;
	int err;

	err = ist_str(t, map, key, 0, &v);
	if (err)
		return err;
	node = yt_get(t, map, ist_key(t, map, key), NULL);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(v, names[i])) {
			*out = (int)i;
			free(v);
			return 0;
		}
	}
	yt_error(t, node->start_mark, key, "unknown value \"%s\" (%s%s%s%s%s%s%s)", v, names[0],
		 n > 1 ? ", " : "", n > 1 ? names[1] : "", n > 2 ? ", " : "", n > 2 ? names[2] : "",
		 n > 3 ? ", " : "", n > 3 ? names[3] : "");
	free(v);
	return -EINVAL;
}

static void parse_endpoints(struct yt *t, yaml_node_t *spec, struct service_entry *se)
{
	struct yt_frame f, fi;
	yaml_node_t *seq;
	size_t cnt;

	if (yt_enter_seq(t, spec, "endpoints", 0, &f, &seq))
		return;
	cnt = yt_seq_len(seq);
	if (cnt && se->resolution == SE_RES_NONE)
		yt_error(t, seq->start_mark, NULL,
			 "no endpoints should be provided for resolution type none");
	if (cnt > 1 && se->resolution == SE_RES_DNS_ROUND_ROBIN)
		yt_error(t, seq->start_mark, NULL,
			 "there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN");
	se->endpoints = calloc(cnt + 1, sizeof(*se->endpoints));
	if (!se->endpoints) {
		t->oom = true;
		goto pop;
	}
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = yt_seq_item(t, seq, i);
		struct we_spec *w = &se->endpoints[se->n_endpoints];

		yt_push(t, &fi, NULL, (long)i, item->start_mark);
		if (yt_is_null(item)) {
			yt_error(t, item->start_mark, NULL, "endpoint cannot be nil");
		} else if (!yt_check_map(t, item, NULL)) {
			se->n_endpoints++;
			parse_we(t, item, se->resolution, w);
			for (size_t j = 0; j < w->n_ports; j++) {
				bool known = false;

				for (size_t k = 0; k < se->n_ports && !known; k++)
					known = se->ports[k].name &&
						!strcmp(se->ports[k].name, w->ports[j].name);
				if (!known)
					yt_error(t, item->start_mark, "ports",
						 "endpoint port %s is not defined by the service "
						 "entry",
						 w->ports[j].name);
			}
		}
		yt_pop(t, &fi);
	}
pop:
	yt_pop(t, &f);
}

static void parse_se_selector(struct yt *t, yaml_node_t *spec, struct service_entry *se)
{
	struct yt_frame f;
	yaml_node_t *m;

	if (yt_enter_map(t, spec, ist_key(t, spec, "workloadSelector"), 0, &f, &m))
		return;
	ist_check_fields(t, m, se_selector_fields);
	ist_labels(t, m, "labels", false, &se->workload_selector);
	for (size_t i = 0; i < se->workload_selector.n; i++) {
		const struct label *l = &se->workload_selector.v[i];

		if (!*l->key || strchr(l->key, '*') || strchr(l->value, '*'))
			yt_error(t, m->start_mark, "labels",
				 "%s key or wildcard is not supported in selector: \"%s=%s\"",
				 *l->key ? "a" : "an empty", l->key, l->value);
	}
	if (se->resolution == SE_RES_NONE)
		yt_error(t, m->start_mark, NULL,
			 "workloadSelector should not be set when resolution mode is NONE");
	if (se->n_endpoints)
		yt_error(t, m->start_mark, NULL,
			 "only one of WorkloadSelector or Endpoints is allowed in Service Entry");
	yt_pop(t, &f);
}

static void se_release(struct service_entry *se)
{
	free(se->name);
	free(se->namespace);
	free(se->creation_timestamp);
	ist_str_list_free(se->hosts, se->n_hosts);
	ist_str_list_free(se->addresses, se->n_addresses);
	for (size_t i = 0; i < se->n_ports; i++) {
		free(se->ports[i].protocol);
		free(se->ports[i].name);
	}
	free(se->ports);
	for (size_t i = 0; i < se->n_endpoints; i++)
		we_release(&se->endpoints[i]);
	free(se->endpoints);
	ist_labels_release(&se->workload_selector);
	ist_str_list_free(se->export_to, se->n_export_to);
}

/* Istio's checks that need several fields at once. */
static void check_se(struct yt *t, yaml_node_t *spec, struct service_entry *se)
{
	char why[160];

	if (se->resolution >= SE_RES_DNS && !se->n_endpoints && !se->workload_selector.n)
		for (size_t i = 0; i < se->n_hosts; i++)
			if (ist_check_fqdn(se->hosts[i], why, sizeof(why)))
				yt_error(t, yt_get(t, spec, "hosts", NULL)->start_mark, "hosts",
					 "hosts must be FQDN if no endpoints are provided for "
					 "resolution mode DNS (%s is not)",
					 se->hosts[i]);
	if (!se->n_addresses)
		for (size_t i = 0; i < se->n_ports; i++)
			if (!se->ports[i].protocol || !strcasecmp(se->ports[i].protocol, "TCP"))
				yt_report(t, LOG_WARN, spec->start_mark, "addresses",
					  "addresses are required for ports serving TCP (or unset) "
					  "protocol: port %u is matched by port alone",
					  se->ports[i].number);
}

int istio_parse_service_entry(struct load *ld, struct yt *t, yaml_node_t *obj)
{
	static const char *const locations[] = {"MESH_EXTERNAL", "MESH_INTERNAL"};
	static const char *const resolutions[] = {"NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN"};
	struct service_entry se = {.loc = config_loc_of(t, obj->start_mark)};
	struct istio_config *ic = &ld->cfg->istio;
	unsigned errors = t->errors;
	yaml_node_t *spec;
	struct yt_frame f;
	int v;

	ist_meta(t, obj, &se.name, &se.namespace, &se.creation_timestamp);
	if (yt_enter_map(t, obj, "spec", YT_REQUIRED, &f, &spec))
		goto check;
	ist_check_fields(t, spec, se_spec_fields);
	if (!parse_enum(t, spec, "resolution", resolutions, 4, &v))
		se.resolution = (enum se_resolution)v;
	if (!parse_enum(t, spec, "location", locations, 2, &v))
		se.location = (enum se_location)v;
	parse_hosts(t, spec, &se);
	parse_addresses(t, spec, &se);
	parse_ports(t, spec, &se);
	parse_endpoints(t, spec, &se);
	parse_se_selector(t, spec, &se);
	ist_export_to(t, spec, se.namespace, false, &se.export_to, &se.n_export_to);
	if (t->errors == errors)
		check_se(t, spec, &se);
	yt_pop(t, &f);
check:
	if (t->errors != errors || t->oom)
		goto drop;
	if (!config_append((void **)&ic->ses, &ic->n_ses, &ld->cap_ses, &se, sizeof(se)))
		return 0;
	t->oom = true;
drop:
	se_release(&se);
	return t->oom ? -ENOMEM : 0;
}

int istio_parse_workload_entry(struct load *ld, struct yt *t, yaml_node_t *obj)
{
	struct workload_entry we = {.loc = config_loc_of(t, obj->start_mark)};
	struct istio_config *ic = &ld->cfg->istio;
	unsigned errors = t->errors;
	yaml_node_t *spec;
	struct yt_frame f;

	ist_meta(t, obj, &we.name, &we.namespace, &we.creation_timestamp);
	if (yt_enter_map(t, obj, "spec", YT_REQUIRED, &f, &spec))
		goto check;
	/* The entries that select it decide whether a name is allowed: DNS ones resolve it. */
	parse_we(t, spec, SE_RES_DNS, &we.spec);
	yt_pop(t, &f);
check:
	if (t->errors != errors || t->oom)
		goto drop;
	if (!config_append((void **)&ic->wes, &ic->n_wes, &ld->cap_wes, &we, sizeof(we)))
		return 0;
	t->oom = true;
drop:
	free(we.name);
	free(we.namespace);
	free(we.creation_timestamp);
	we_release(&we.spec);
	return t->oom ? -ENOMEM : 0;
}

void istio_se_release_all(struct istio_config *ic)
{
	for (size_t i = 0; i < ic->n_ses; i++)
		se_release(&ic->ses[i]);
	free(ic->ses);
	for (size_t i = 0; i < ic->n_wes; i++) {
		free(ic->wes[i].name);
		free(ic->wes[i].namespace);
		free(ic->wes[i].creation_timestamp);
		we_release(&ic->wes[i].spec);
	}
	free(ic->wes);
	istio_dns_release(ic);
	ic->ses = NULL;
	ic->wes = NULL;
	ic->n_ses = ic->n_wes = 0;
}

/* ---- the registry: one service per host ---- */

static bool host_matches(const char *pattern, const char *fqdn)
{
	size_t pl = strlen(pattern), fl = strlen(fqdn);

	if (pattern[0] != '*')
		return !strcasecmp(pattern, fqdn);
	return fl >= pl && !strcasecmp(fqdn + fl - (pl - 1), pattern + 1);
}

bool istio_se_declares(const struct istio_config *ic, const char *fqdn)
{
	for (size_t i = 0; i < ic->n_ses; i++)
		for (size_t j = 0; j < ic->ses[i].n_hosts; j++)
			if (host_matches(ic->ses[i].hosts[j], fqdn))
				return true;
	return false;
}

/* The endpoint port of @w for service port @p: its ports[] entry by name, else targetPort. */
static uint16_t we_port_for(const struct we_spec *w, const struct se_port *p)
{
	for (size_t i = 0; p->name && i < w->n_ports; i++)
		if (!strcmp(w->ports[i].name, p->name))
			return (uint16_t)w->ports[i].number;
	return (uint16_t)(p->target_port ? p->target_port : p->number);
}

/* Whether @address is a name that resolution DNS or DNS_ROUND_ROBIN of @se resolves. */
static bool dns_name(const struct service_entry *se, const char *address)
{
	return se->resolution >= SE_RES_DNS && address && strncmp(address, "unix://", 7) &&
	       !ip_literal(address);
}

/* How many endpoints @w gives a port of @se. */
static size_t we_count(const struct load *ld, const struct service_entry *se,
		       const struct we_spec *w)
{
	return dns_name(se, w->address) ? istio_dns_count(ld, se, w->address) : 1;
}

/* Appends @w as endpoints of @sp: its IP, or the addresses its name resolves to (DNS). */
static void add_endpoint(const struct load *ld, const struct service_entry *se, struct svc_port *sp,
			 const struct we_spec *w, const struct se_port *p)
{
	struct endpoint *e = &sp->eps[sp->n_eps];

	if (!w->address)
		return;
	if (dns_name(se, w->address)) {
		istio_dns_add(ld, se, w->address, &w->labels, we_port_for(w, p), sp);
		return;
	}
	if (inet_pton(AF_INET, w->address, &e->ip) != 1) {
		e->ip.s_addr = 0;
		if (inet_pton(AF_INET6, w->address, &e->ip6) != 1)
			return;
		e->has_ip6 = true;
	}
	e->port = we_port_for(w, p);
	e->ready = true;
	e->labels = &w->labels;
	sp->n_eps++;
	sp->n_ready++;
}

static bool we_selected(const struct service_entry *se, const struct workload_entry *we)
{
	if (!se->workload_selector.n || strcmp(se->namespace, we->namespace))
		return false;
	for (size_t i = 0; i < se->workload_selector.n; i++) {
		const char *v = labels_get(&we->spec.labels, se->workload_selector.v[i].key);

		if (!v || strcmp(v, se->workload_selector.v[i].value))
			return false;
	}
	return true;
}

/* The entry's first single address of family @fam (a /32 or /128 counts), into @out. */
static bool first_address(const struct service_entry *se, int fam, void *out)
{
	char buf[INET6_ADDRSTRLEN + 8];

	for (size_t i = 0; i < se->n_addresses; i++) {
		const char *slash = strchr(se->addresses[i], '/');
		size_t n = slash ? (size_t)(slash - se->addresses[i]) : strlen(se->addresses[i]);

		if (n >= sizeof(buf))
			continue;
		if (slash && strcmp(slash + 1, fam == AF_INET ? "32" : "128"))
			continue;
		memcpy(buf, se->addresses[i], n);
		buf[n] = '\0';
		if (inet_pton(fam, buf, out) == 1)
			return true;
	}
	return false;
}

/* Resolution DNS without endpoints or selector: each host resolves its own name. */
static bool dns_host(const struct service_entry *se)
{
	return se->resolution >= SE_RES_DNS && !se->n_endpoints && !se->workload_selector.n;
}

/* Every name @se resolves, looked up once for this load (config_istio_dns.c). 0 or -ENOMEM. */
static int want_names(struct load *ld, const struct service_entry *se)
{
	const struct istio_config *ic = &ld->cfg->istio;
	char field[48];
	int err = 0;

	for (size_t i = 0; i < se->n_endpoints && !err; i++) {
		snprintf(field, sizeof(field), "spec.endpoints[%zu].address", i);
		if (dns_name(se, se->endpoints[i].address))
			err = istio_dns_want(ld, se, se->endpoints[i].address,
					     &se->endpoints[i].loc, field);
	}
	for (size_t i = 0; i < ic->n_wes && !err; i++)
		if (we_selected(se, &ic->wes[i]) && dns_name(se, ic->wes[i].spec.address))
			err = istio_dns_want(ld, se, ic->wes[i].spec.address, &ic->wes[i].loc,
					     "spec.address");
	for (size_t h = 0; dns_host(se) && h < se->n_hosts && !err; h++) {
		snprintf(field, sizeof(field), "spec.hosts[%zu]", h);
		err = istio_dns_want(ld, se, se->hosts[h], &se->loc, field);
	}
	return err;
}

/*
 * The service of host @h of @se. Only the first host gets the entry's
 * addresses as VIPs: a VIP names one service port here, while Istio would
 * pick among the entry's hosts by the Host header (not yet: see docs/config.md).
 */
static int expand_one(struct load *ld, const struct service_entry *se, size_t h)
{
	const char *host = se->hosts[h];
	const struct istio_config *ic = &ld->cfg->istio;
	struct service s = {.se = se, .fqdn = host, .loc = se->loc, .cluster_ip_loc = se->loc};
	/* DNS without endpoints: the host itself is the name (Istio's convertEndpoints). */
	bool by_host = dns_host(se);
	size_t n_we = by_host ? istio_dns_count(ld, se, host) : 0;

	for (size_t i = 0; i < se->n_endpoints; i++)
		n_we += we_count(ld, se, &se->endpoints[i]);
	for (size_t i = 0; i < ic->n_wes; i++)
		if (we_selected(se, &ic->wes[i]))
			n_we += we_count(ld, se, &ic->wes[i].spec);
	s.name = strdup(host);
	s.namespace = strdup(se->namespace);
	s.ports = calloc(se->n_ports + 1, sizeof(*s.ports));
	if (!s.name || !s.namespace || !s.ports)
		goto oom;
	if (!h) {
		first_address(se, AF_INET, &s.cluster_ip);
		s.has_ip6 = first_address(se, AF_INET6, &s.cluster_ip6);
	}
	for (size_t j = 0; j < se->n_ports; j++) {
		const struct se_port *p = &se->ports[j];
		struct svc_port *sp = &s.ports[s.n_ports++];

		sp->port = (uint16_t)p->number;
		sp->target_port = (uint16_t)(p->target_port ? p->target_port : p->number);
		sp->protocol = IPPROTO_TCP; /* Istio's ServiceEntry ports are TCP-based, bar UDP */
		if (p->protocol && !strcasecmp(p->protocol, "UDP"))
			sp->protocol = IPPROTO_UDP;
		sp->app_protocol = p->protocol ? p->protocol : "TCP";
		if (p->name) {
			sp->name = strdup(p->name);
			if (!sp->name)
				goto oom;
		}
		sp->eps = calloc(n_we + 1, sizeof(*sp->eps));
		if (!sp->eps)
			goto oom;
		for (size_t e = 0; e < se->n_endpoints; e++)
			add_endpoint(ld, se, sp, &se->endpoints[e], p);
		for (size_t w = 0; w < ic->n_wes; w++)
			if (we_selected(se, &ic->wes[w]))
				add_endpoint(ld, se, sp, &ic->wes[w].spec, p);
		if (by_host)
			istio_dns_add(ld, se, host, NULL, sp->target_port, sp);
	}
	if (!config_append((void **)&ld->cfg->services, &ld->cfg->n_services, &ld->cap_services, &s,
			   sizeof(s)))
		return 0;
oom:
	k8s_service_release(&s);
	return -ENOMEM;
}

static int expand_all(struct load *ld);

/* FNV-1a over "namespace/host": where a host's VIP is looked for first. */
static uint32_t vip_seed(const struct service *s)
{
	uint32_t h = 2166136261u;

	for (const char *p = s->namespace; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ '/') * 16777619u;
	for (const char *p = s->fqdn; *p; p++)
		h = (h ^ (uint8_t)tolower((unsigned char)*p)) * 16777619u;
	return h;
}

static int cmp_svc_host(const void *a, const void *b, void *arg)
{
	const struct service *v = arg, *x = &v[*(const size_t *)a], *y = &v[*(const size_t *)b];
	int c = strcmp(x->namespace, y->namespace);

	return c ? c : strcmp(x->fqdn, y->fqdn);
}

/*
 * Istio's DNS auto-allocation: a ServiceEntry host without addresses (not a
 * wildcard, resolution other than NONE, with endpoints) gets a VIP from CONFIG_AUTO_VIP_NET,
 * so that a pod that resolves it through the agent's DNS reaches it by VIP
 * (TCP ports too). Stable: the address comes from a hash of namespace/host,
 * collisions resolved in name order.
 */
static int auto_allocate(struct config *cfg, size_t first)
{
	const uint32_t size = 1u << (32 - CONFIG_AUTO_VIP_LEN);
	size_t *order, n = 0;
	uint8_t *used;

	order = calloc(cfg->n_services - first + 1, sizeof(*order));
	used = calloc(size / 8, 1);
	if (!order || !used) {
		free(order);
		free(used);
		return -ENOMEM;
	}
	for (size_t i = first; i < cfg->n_services; i++) {
		const struct service *s = &cfg->services[i];

		bool eps = false;

		for (size_t j = 0; j < s->n_ports && !eps; j++)
			eps = s->ports[j].n_eps > 0;
		/* Without an endpoint (a DNS name without an answer yet), the name is left to
		 * real DNS: a VIP would lead nowhere. */
		if (s->se && !s->se->n_addresses && s->se->resolution != SE_RES_NONE &&
		    s->fqdn[0] != '*' && eps)
			order[n++] = i;
	}
	qsort_r(order, n, sizeof(*order), cmp_svc_host, cfg->services);
	used[0] |= 1; /* the network's own address */
	for (size_t k = 0; k < n && k + 2 < size; k++) {
		struct service *s = &cfg->services[order[k]];
		uint32_t off = vip_seed(s) % (size - 2) + 1;

		while (used[off / 8] & (1u << (off % 8)))
			off = off + 1 < size - 1 ? off + 1 : 1;
		used[off / 8] |= (uint8_t)(1u << (off % 8));
		s->cluster_ip.s_addr = htonl(CONFIG_AUTO_VIP_NET + off);
		s->auto_vip = true;
	}
	free(order);
	free(used);
	return 0;
}

int istio_expand_service_entries(struct load *ld)
{
	size_t first = ld->cfg->n_services;
	int err = expand_all(ld);

	return err ? err : auto_allocate(ld->cfg, first);
}

static int expand_all(struct load *ld)
{
	const struct istio_config *ic = &ld->cfg->istio;

	for (size_t i = 0; i < ic->n_ses; i++) {
		const struct service_entry *se = &ic->ses[i];
		int err;

		for (size_t a = 0; a < se->n_addresses; a++) {
			const char *slash = strchr(se->addresses[a], '/');

			if (slash && strcmp(slash, "/32") && strcmp(slash, "/128"))
				config_report(
					ld, LOG_WARN,
					"%s:%d:%d: spec.addresses[%zu]: %s: address ranges are "
					"not captured yet (single addresses are)",
					se->loc.file, se->loc.line, se->loc.col, a,
					se->addresses[a]);
		}
		if (se->n_addresses && se->n_hosts > 1)
			config_report(ld, LOG_WARN,
				      "%s:%d:%d: spec.addresses: with %zu hosts, the addresses are "
				      "%s's VIPs; the other hosts get none (Istio would choose "
				      "among them by the Host header; shunt does not yet)",
				      se->loc.file, se->loc.line, se->loc.col, se->n_hosts,
				      se->hosts[0]);
		err = want_names(ld, se);
		for (size_t h = 0; h < se->n_hosts && !err; h++)
			err = expand_one(ld, se, h);
		if (err)
			return err;
	}
	return 0;
}
