// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * VirtualService tls routes (TLSRoute, TLSMatchAttributes) and the match
 * attributes they share with tcp routes, validated as Istio's webhook does
 * (pilot's validation.go: validateTLSRoute, validateTLSMatch, validateSniHost)
 * with its messages: at least one match, each with at least one SNI host that
 * is a valid wildcard domain (an IP is a warning) and a subset of one of the
 * VirtualService's hosts as written; destinationSubnets IPs or CIDRs; a port
 * 1..65535; Kubernetes label syntax; gateway names; a route with valid
 * destinations and weights.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "istio.h"

static const struct ist_field tls_route_fields[] = {
	{"match", IST_PARSED, NULL}, {"route", IST_PARSED, NULL}, {NULL, IST_PARSED, NULL}};

static const struct ist_field tls_match_fields[] = {
	{"sniHosts", IST_PARSED, NULL}, {"destinationSubnets", IST_PARSED, NULL},
	{"port", IST_PARSED, NULL},	{"sourceLabels", IST_PARSED, NULL},
	{"gateways", IST_PARSED, NULL}, {"sourceNamespace", IST_PARSED, NULL},
	{NULL, IST_PARSED, NULL},
};

void ist_l4_match(struct yt *t, yaml_node_t *m, const struct ist_field *fields,
		  struct l4_match *out)
{
	long p;

	out->loc = config_loc_of(t, m->start_mark);
	ist_check_fields(t, m, fields);
	if (!yt_int(t, m, "port", 0, LONG_MIN, LONG_MAX, &p)) {
		if (p < 1 || p > 65535)
			yt_error(t, yt_get(t, m, "port", NULL)->start_mark, "port",
				 "port number %ld must be in the range 1..65535", p);
		else
			out->port = (uint32_t)p;
	}
	if (!ist_str_list(t, m, "gateways", &out->gateways, &out->n_gateways))
		ist_check_gateway_names(t, m, "gateways", out->gateways, out->n_gateways);
}

void ist_l4_matches_release(struct l4_match *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		ist_str_list_free(v[i].sni_hosts, v[i].n_sni_hosts);
		free(v[i].dst_subnets);
		ist_labels_release(&v[i].source_labels);
		free(v[i].source_namespace);
		ist_str_list_free(v[i].gateways, v[i].n_gateways);
	}
	free(v);
}

/* Istio's ValidateIPSubnet: "a.b.c.d/n" (either family) or a single IP. 0 or -EINVAL. */
static int parse_subnet(const char *s, struct ip_subnet *out)
{
	const char *slash = strchr(s, '/');
	char ip[INET6_ADDRSTRLEN];
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	char *end;
	long pfx;

	if (n >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, n);
	ip[n] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, ip, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, ip, out->addr) == 1)
		out->family = AF_INET6;
	else
		return -EINVAL;
	out->prefix = out->family == AF_INET ? 32 : 128;
	if (!slash)
		return 0;
	pfx = strtol(slash + 1, &end, 10);
	if (!slash[1] || *end || slash[1] == '+' || slash[1] == '-' || pfx > out->prefix)
		return -EINVAL;
	out->prefix = (uint8_t)pfx;
	return 0;
}

static void parse_subnets(struct yt *t, yaml_node_t *m, struct l4_match *out)
{
	const char *key = ist_key(t, m, "destinationSubnets");
	yaml_node_t *seq = yt_get(t, m, key, NULL);
	char **v;
	size_t n;

	if (ist_str_list(t, m, "destinationSubnets", &v, &n))
		return;
	out->dst_subnets = calloc(n + 1, sizeof(*out->dst_subnets));
	t->oom |= !out->dst_subnets;
	for (size_t i = 0; out->dst_subnets && i < n; i++) {
		if (!parse_subnet(v[i], &out->dst_subnets[out->n_dst_subnets])) {
			out->n_dst_subnets++;
			continue;
		}
		yt_error(t, yt_seq_item(t, seq, i)->start_mark, key, "%s is not a valid %s", v[i],
			 strchr(v[i], '/') ? "CIDR block" : "IP");
	}
	ist_str_list_free(v, n);
}

/* Istio's host.Name.SubsetOf: @sni is covered by @host. */
static bool subset_of(const char *sni, const char *host)
{
	size_t ls = strlen(sni), lh = strlen(host);

	if (sni[0] == '*')
		return host[0] == '*' && ls >= lh && !strcmp(sni + ls - (lh - 1), host + 1);
	if (host[0] == '*')
		return ls >= lh - 1 && !strcmp(sni + ls - (lh - 1), host + 1);
	return !strcmp(sni, host);
}

/* The VirtualService's hosts as written (before resolution), joined for a message. */
static void hosts_written(struct yt *t, yaml_node_t *spec, char *buf, size_t len)
{
	yaml_node_t *seq = yt_get(t, spec, "hosts", NULL);
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; seq && seq->type == YAML_SEQUENCE_NODE && i < yt_seq_len(seq); i++) {
		yaml_node_t *h = yt_seq_item(t, seq, i);

		if (h->type == YAML_SCALAR_NODE && off < len)
			off += (size_t)snprintf(buf + off, len - off, "%s%.*s", i ? ", " : "",
						(int)h->data.scalar.length,
						(const char *)h->data.scalar.value);
	}
}

/* Whether @sni is a subset of one of the hosts as written under @spec. */
static bool covered(struct yt *t, yaml_node_t *spec, const char *sni)
{
	yaml_node_t *seq = yt_get(t, spec, "hosts", NULL);
	char host[256];

	for (size_t i = 0; seq && seq->type == YAML_SEQUENCE_NODE && i < yt_seq_len(seq); i++) {
		yaml_node_t *h = yt_seq_item(t, seq, i);

		if (h->type != YAML_SCALAR_NODE || !h->data.scalar.length ||
		    h->data.scalar.length >= sizeof(host))
			continue;
		memcpy(host, h->data.scalar.value, h->data.scalar.length);
		host[h->data.scalar.length] = '\0';
		if (subset_of(sni, host))
			return true;
	}
	return false;
}

/* validateSniHost for each of sniHosts (@gw: the VirtualService is bound to gateways only). */
static void check_sni_hosts(struct yt *t, yaml_node_t *spec, yaml_node_t *m, bool gw,
			    const struct l4_match *out)
{
	const char *key = ist_key(t, m, "sniHosts");
	yaml_node_t *seq = yt_get(t, m, key, NULL);
	char why[160], hosts[1024];
	unsigned char ip[16];

	for (size_t i = 0; i < out->n_sni_hosts && i < yt_seq_len(seq); i++) {
		const char *sni = out->sni_hosts[i];
		yaml_mark_t at = yt_seq_item(t, seq, i)->start_mark;
		struct yt_frame f;

		yt_push(t, &f, key, (long)i, at);
		if (gw && !strncmp(sni, "outbound_", 9)) {
			/* AUTO_PASSTHROUGH's SNI-encoded cluster names: accepted, never routed */
		} else if (ist_check_wildcard_domain(sni, why, sizeof(why))) {
			if (inet_pton(AF_INET, sni, ip) == 1 || inet_pton(AF_INET6, sni, ip) == 1)
				yt_report(t, LOG_WARN, at, NULL,
					  "using an IP address (\"%s\") goes against SNI spec and "
					  "most clients do not support this",
					  sni);
			else
				yt_error(t, at, NULL, "%s", why);
		} else if (!covered(t, spec, sni)) {
			hosts_written(t, spec, hosts, sizeof(hosts));
			yt_error(t, at, NULL,
				 "SNI host \"%s\" is not a compatible subset of any of the virtual "
				 "service hosts: [%s]",
				 sni, hosts);
		}
		yt_pop(t, &f);
	}
}

static void parse_tls_match(struct yt *t, yaml_node_t *spec, yaml_node_t *m, bool gw,
			    struct l4_match *out)
{
	const char *key;

	ist_l4_match(t, m, tls_match_fields, out);
	key = ist_key(t, m, "sniHosts");
	if (ist_str_list(t, m, "sniHosts", &out->sni_hosts, &out->n_sni_hosts) == -ENOENT ||
	    (!out->n_sni_hosts && yt_get(t, m, key, NULL)))
		yt_error(t, m->start_mark, key, "TLS match must have at least one SNI host");
	check_sni_hosts(t, spec, m, gw, out);
	parse_subnets(t, m, out);
	ist_labels(t, m, "sourceLabels", true, &out->source_labels);
	yt_str(t, m, ist_key(t, m, "sourceNamespace"), 0, &out->source_namespace);
}

static void parse_tls_route(struct yt *t, yaml_node_t *spec, yaml_node_t *r, bool gw,
			    const char *ns, struct tls_route *tr)
{
	struct yt_frame f, fi;
	yaml_node_t *seq = NULL;

	tr->loc = config_loc_of(t, r->start_mark);
	ist_check_fields(t, r, tls_route_fields);
	if (!yt_enter_seq(t, r, "match", 0, &f, &seq)) {
		tr->match = calloc(yt_seq_len(seq) + 1, sizeof(*tr->match));
		t->oom |= !tr->match;
		for (size_t i = 0; tr->match && i < yt_seq_len(seq); i++) {
			yaml_node_t *item = yt_seq_item(t, seq, i);

			yt_push(t, &fi, NULL, (long)i, item->start_mark);
			if (yt_is_null(item))
				yt_error(t, item->start_mark, NULL, "TLS match may not be null");
			else if (!yt_check_map(t, item, NULL))
				parse_tls_match(t, spec, item, gw, &tr->match[tr->n_match++]);
			yt_pop(t, &fi);
		}
		yt_pop(t, &f);
	}
	if (!seq || !yt_seq_len(seq))
		yt_error(t, r->start_mark, "match",
			 "TLS route must have at least one match condition");
	ist_route_dests(t, r, ns, false, &tr->route, &tr->n_route);
	if (!tr->n_route)
		yt_error(t, r->start_mark, "route", "TLS route is required");
}

void istio_parse_tls(struct yt *t, yaml_node_t *spec, struct virtual_service *v)
{
	bool gw = v->n_gateways > 0;
	struct yt_frame f, fi;
	yaml_node_t *seq;

	for (size_t i = 0; i < v->n_gateways; i++)
		gw &= strcmp(v->gateways[i], "mesh") != 0;
	if (yt_enter_seq(t, spec, "tls", 0, &f, &seq))
		return;
	v->tls = calloc(yt_seq_len(seq) + 1, sizeof(*v->tls));
	t->oom |= !v->tls;
	for (size_t i = 0; v->tls && i < yt_seq_len(seq); i++) {
		yaml_node_t *item = yt_seq_item(t, seq, i);

		yt_push(t, &fi, NULL, (long)i, item->start_mark);
		if (!yt_check_map(t, item, NULL))
			parse_tls_route(t, spec, item, gw, v->namespace, &v->tls[v->n_tls++]);
		yt_pop(t, &fi);
	}
	yt_pop(t, &f);
}
