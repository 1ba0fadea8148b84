// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * networking.istio.io Gateway, validated as Istio's webhook does
 * (ValidateGateway): servers, their port, hosts ("dnsName" or
 * "namespace/dnsName") and TLS settings. shuntd serves the Gateways whose
 * selector matches its own labels (--gateway-labels) on the node.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "istio.h"
#include "log.h"

static const struct ist_field gw_spec_fields[] = {
	{"selector", IST_PARSED, NULL},
	{"servers", IST_PARSED, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field server_fields[] = {
	{"port", IST_PARSED, NULL},
	{"bind", IST_PARSED, NULL},
	{"hosts", IST_PARSED, NULL},
	{"tls", IST_PARSED, NULL},
	{"name", IST_PARSED, NULL},
	{"defaultEndpoint", IST_NOTICE, "not used by shunt (it has no gateway sidecar), ignored"},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field gw_port_fields[] = {
	{"number", IST_PARSED, NULL},
	{"protocol", IST_PARSED, NULL},
	{"name", IST_PARSED, NULL},
	{"targetPort", IST_NOTICE, "shunt listens on the port number itself, ignored"},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field tls_fields[] = {
	{"httpsRedirect", IST_PARSED, NULL},
	{"mode", IST_PARSED, NULL},
	{"credentialName", IST_PARSED, NULL},
	{"serverCertificate", IST_PARSED, NULL},
	{"privateKey", IST_PARSED, NULL},
	{"caCertificates", IST_PARSED, NULL},
	{"credentialNames", IST_WARN, NULL},
	{"tlsCertificates", IST_WARN, NULL},
	{"caCrl", IST_WARN, NULL},
	{"subjectAltNames", IST_WARN, NULL},
	{"verifyCertificateSpki", IST_WARN, NULL},
	{"verifyCertificateHash", IST_WARN, NULL},
	{"minProtocolVersion", IST_WARN, NULL},
	{"maxProtocolVersion", IST_WARN, NULL},
	{"cipherSuites", IST_WARN, NULL},
	{NULL, IST_PARSED, NULL},
};

static void server_release(struct gw_server *sv)
{
	free(sv->port_name);
	free(sv->protocol);
	free(sv->bind);
	ist_str_list_free(sv->hosts, sv->n_hosts);
	free(sv->name);
	free(sv->credential_name);
	free(sv->server_certificate);
	free(sv->private_key);
}

static void gw_release(struct gateway *g)
{
	free(g->name);
	free(g->namespace);
	free(g->creation_timestamp);
	ist_labels_release(&g->selector);
	for (size_t i = 0; i < g->n_servers; i++)
		server_release(&g->servers[i]);
	free(g->servers);
}

void istio_gw_release_all(struct istio_config *ic)
{
	for (size_t i = 0; i < ic->n_gws; i++)
		gw_release(&ic->gws[i]);
	free(ic->gws);
	ic->gws = NULL;
	ic->n_gws = 0;
}

/* Istio's validateNamespaceSlashWildcardHostname for a Gateway: "[ns/]dnsName". */
static void check_host(struct yt *t, yaml_node_t *item, const char *host)
{
	const char *slash = strchr(host, '/'), *dns = slash ? slash + 1 : host;
	char why[160];

	if (slash && (slash == host || !*dns)) {
		yt_error(t, item->start_mark, NULL,
			 "config namespace and dnsName in host entry cannot be empty");
		return;
	}
	if (slash && strcmp(host, "*/*")) {
		char ns[64];
		size_t n = (size_t)(slash - host);

		if (n >= sizeof(ns) ||
		    (memcpy(ns, host, n), ns[n] = '\0',
		     strcmp(ns, "*") && strcmp(ns, ".") && !ist_dns1123_label(ns)))
			yt_error(t, item->start_mark, NULL,
				 "invalid namespace value %.*s in gateway", (int)n, host);
	}
	if (strcmp(dns, "*") && ist_check_wildcard_domain(dns, why, sizeof(why)))
		yt_error(t, item->start_mark, NULL, "%s", why);
}

static void parse_tls(struct yt *t, yaml_node_t *item, struct gw_server *sv)
{
	static const char *const modes[] = {"",
					    "PASSTHROUGH",
					    "SIMPLE",
					    "MUTUAL",
					    "AUTO_PASSTHROUGH",
					    "ISTIO_MUTUAL",
					    "OPTIONAL_MUTUAL"};
	struct yt_frame f;
	yaml_node_t *m, *n;
	char *mode = NULL;

	if (yt_enter_map(t, item, "tls", 0, &f, &m))
		return;
	ist_check_fields(t, m, tls_fields);
	ist_bool(t, m, "httpsRedirect", &sv->https_redirect);
	if (!ist_str(t, m, "mode", 0, &mode)) {
		n = yt_get(t, m, "mode", NULL);
		for (size_t i = 1; i < sizeof(modes) / sizeof(modes[0]); i++)
			if (!strcmp(mode, modes[i]))
				sv->tls_mode = (enum gw_tls_mode)i;
		if (!sv->tls_mode)
			yt_error(t, n->start_mark, "mode",
				 "unknown value \"%s\" (PASSTHROUGH, SIMPLE, MUTUAL, "
				 "AUTO_PASSTHROUGH, ISTIO_MUTUAL or OPTIONAL_MUTUAL)",
				 mode);
		free(mode);
	}
	ist_str(t, m, "credentialName", 0, &sv->credential_name);
	ist_str(t, m, "serverCertificate", 0, &sv->server_certificate);
	ist_str(t, m, "privateKey", 0, &sv->private_key);
	if ((sv->tls_mode == GW_TLS_SIMPLE || sv->tls_mode == GW_TLS_MUTUAL) &&
	    !sv->credential_name) {
		if (!sv->server_certificate)
			yt_error(t, m->start_mark, "serverCertificate",
				 "%s TLS requires a server certificate",
				 sv->tls_mode == GW_TLS_SIMPLE ? "SIMPLE" : "MUTUAL");
		if (!sv->private_key)
			yt_error(t, m->start_mark, "privateKey", "%s TLS requires a private key",
				 sv->tls_mode == GW_TLS_SIMPLE ? "SIMPLE" : "MUTUAL");
	}
	yt_pop(t, &f);
}

static void parse_server(struct yt *t, yaml_node_t *item, struct gw_server *sv)
{
	const char *hkey = ist_key(t, item, "hosts");
	yaml_node_t *hosts = yt_get(t, item, hkey, NULL), *pm;
	struct yt_frame f;
	long v;

	sv->loc = config_loc_of(t, item->start_mark);
	ist_check_fields(t, item, server_fields);
	if (!yt_enter_map(t, item, "port", YT_REQUIRED, &f, &pm)) {
		ist_check_fields(t, pm, gw_port_fields);
		if (!ist_int(t, pm, "number", 1, 65535, &v))
			sv->port = (uint32_t)v;
		else if (!yt_get(t, pm, "number", NULL))
			yt_error(t, pm->start_mark, "number",
				 "port number 0 must be in the range 1..65535");
		if (!ist_str(t, pm, "protocol", 0, &sv->protocol) &&
		    !ist_protocol_known(sv->protocol))
			yt_error(t, yt_get(t, pm, "protocol", NULL)->start_mark, "protocol",
				 "%s is not a valid protocol", sv->protocol);
		else if (!sv->protocol && !t->oom)
			yt_error(t, pm->start_mark, "protocol", "\"\" is not a valid protocol");
		if (!ist_str(t, pm, "name", 0, &sv->port_name) && !*sv->port_name)
			yt_error(t, yt_get(t, pm, "name", NULL)->start_mark, "name",
				 "port name must be set");
		yt_pop(t, &f);
	}
	ist_str(t, item, "bind", 0, &sv->bind);
	ist_str(t, item, "name", 0, &sv->name);
	if (ist_str_list(t, item, "hosts", &sv->hosts, &sv->n_hosts) || !sv->n_hosts) {
		if (!t->oom)
			yt_error(t, hosts ? hosts->start_mark : item->start_mark, hkey,
				 "server config must contain at least one host");
	}
	for (size_t i = 0; i < sv->n_hosts; i++) {
		yaml_node_t *h = yt_seq_item(t, hosts, i);
		struct yt_frame fh;

		yt_push(t, &fh, hkey, (long)i, h->start_mark);
		check_host(t, h, sv->hosts[i]);
		yt_pop(t, &fh);
	}
	parse_tls(t, item, sv);
	if (sv->protocol &&
	    (!strcasecmp(sv->protocol, "HTTPS") || !strcasecmp(sv->protocol, "TLS")) &&
	    !yt_get(t, item, "tls", NULL))
		yt_error(t, item->start_mark, "tls",
			 "server must have TLS settings for HTTPS/TLS protocols");
	else if (sv->protocol && !strcasecmp(sv->protocol, "HTTP") && sv->tls_mode &&
		 !sv->https_redirect)
		yt_error(t, item->start_mark, "tls",
			 "server cannot have TLS settings for plain text HTTP ports");
}

static void parse_servers(struct yt *t, yaml_node_t *spec, struct gateway *g)
{
	struct yt_frame f, fi;
	yaml_node_t *seq;
	size_t n;

	if (yt_enter_seq(t, spec, "servers", 0, &f, &seq)) {
		if (!t->oom)
			yt_error(t, spec->start_mark, "servers",
				 "gateway must have at least one server");
		return;
	}
	n = yt_seq_len(seq);
	if (!n)
		yt_error(t, seq->start_mark, NULL, "gateway must have at least one server");
	g->servers = calloc(n + 1, sizeof(*g->servers));
	if (!g->servers) {
		t->oom = true;
		goto pop;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = yt_seq_item(t, seq, i);
		struct gw_server *sv = &g->servers[g->n_servers];

		yt_push(t, &fi, NULL, (long)i, item->start_mark);
		if (yt_is_null(item)) {
			yt_error(t, item->start_mark, NULL, "server may not be null");
		} else if (!yt_check_map(t, item, NULL)) {
			g->n_servers++;
			parse_server(t, item, sv);
			for (size_t j = 0; sv->port_name && j + 1 < g->n_servers; j++)
				if (g->servers[j].port_name &&
				    !strcmp(g->servers[j].port_name, sv->port_name))
					yt_error(t, item->start_mark, "port.name",
						 "port names in servers must be unique: duplicate "
						 "name "
						 "%s",
						 sv->port_name);
		}
		yt_pop(t, &fi);
	}
pop:
	yt_pop(t, &f);
}

int istio_parse_gateway(struct load *ld, struct yt *t, yaml_node_t *obj)
{
	struct gateway g = {.loc = config_loc_of(t, obj->start_mark)};
	struct istio_config *ic = &ld->cfg->istio;
	unsigned errors = t->errors;
	yaml_node_t *spec;
	struct yt_frame f;

	ist_meta(t, obj, &g.name, &g.namespace, &g.creation_timestamp);
	if (yt_enter_map(t, obj, "spec", YT_REQUIRED, &f, &spec))
		goto check;
	ist_check_fields(t, spec, gw_spec_fields);
	ist_labels(t, spec, "selector", false, &g.selector);
	parse_servers(t, spec, &g);
	yt_pop(t, &f);
check:
	if (t->errors != errors || t->oom)
		goto drop;
	if (!config_append((void **)&ic->gws, &ic->n_gws, &ld->cap_gws, &g, sizeof(g)))
		return 0;
	t->oom = true;
drop:
	gw_release(&g);
	return t->oom ? -ENOMEM : 0;
}

bool config_gateway_selects(const struct gateway *g, const struct labels *labels)
{
	if (!labels)
		return false;
	for (size_t i = 0; i < g->selector.n; i++) {
		const char *v = labels_get(labels, g->selector.v[i].key);

		if (!v || strcmp(v, g->selector.v[i].value))
			return false;
	}
	return true;
}

bool config_binds_gateway(char *const *gws, size_t n, const char *vs_ns, const struct gateway *g)
{
	size_t ln = strlen(g->namespace);

	for (size_t i = 0; i < n; i++) {
		const char *slash = strchr(gws[i], '/');

		if (slash ? (size_t)(slash - gws[i]) == ln && !strncmp(gws[i], g->namespace, ln) &&
				    !strcmp(slash + 1, g->name)
			  : !strcmp(vs_ns, g->namespace) && !strcmp(gws[i], g->name))
			return true;
	}
	return false;
}
