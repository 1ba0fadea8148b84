// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"
#include "gateway_tls.h"
#include "istio.h"
#include "log.h"

void gateway_labels_release(struct labels *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int gateway_labels_parse(const char *s, struct labels *out)
{
	size_t n = 1;
	char *copy, *tok, *save = NULL;

	memset(out, 0, sizeof(*out));
	for (const char *p = s; *p; p++)
		n += *p == ',';
	out->v = calloc(n, sizeof(*out->v));
	copy = strdup(s);
	if (!out->v || !copy) {
		free(copy);
		free(out->v);
		out->v = NULL;
		return -ENOMEM;
	}
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq || eq == tok) {
			free(copy);
			gateway_labels_release(out);
			return -EINVAL;
		}
		*eq = '\0';
		out->v[out->n].key = strdup(tok);
		out->v[out->n].value = strdup(eq + 1);
		if (!out->v[out->n].key || !out->v[out->n].value) {
			out->n++;
			free(copy);
			gateway_labels_release(out);
			return -ENOMEM;
		}
		out->n++;
	}
	free(copy);
	return out->n ? 0 : -EINVAL;
}

static const char *gw_tls_mode_str(enum gw_tls_mode m)
{
	static const char *const names[] = {"",
					    "PASSTHROUGH",
					    "SIMPLE",
					    "MUTUAL",
					    "AUTO_PASSTHROUGH",
					    "ISTIO_MUTUAL",
					    "OPTIONAL_MUTUAL"};

	return (unsigned)m < sizeof(names) / sizeof(names[0]) ? names[m] : "?";
}

/* How a server is served; a port serves one kind. */
enum server_kind {
	SK_NONE = -1, /* not served (logged) */
	SK_HTTP,      /* plain HTTP */
	SK_TLS,	      /* TLS terminated here (SIMPLE), then HTTP */
	SK_RAW,	      /* bytes as they come: TLS routed by SNI (PASSTHROUGH), or TCP */
};

static const char *server_kind_str(enum server_kind k)
{
	return k == SK_HTTP  ? "plain HTTP"
	       : k == SK_TLS ? "TLS termination"
			     : "TLS passthrough or TCP";
}

static enum server_kind server_kind(const struct gateway *gw, const struct gw_server *sv)
{
	const char *proto = sv->protocol ? sv->protocol : "?";
	bool tlsish = !strcasecmp(proto, "HTTPS") || !strcasecmp(proto, "TLS");

	if (!strcasecmp(proto, "HTTP"))
		return SK_HTTP;
	if (!strcasecmp(proto, "HTTPS") && sv->tls_mode == GW_TLS_SIMPLE)
		return SK_TLS;
	if ((tlsish && sv->tls_mode == GW_TLS_PASSTHROUGH) || !strcasecmp(proto, "TCP"))
		return SK_RAW;
	if (tlsish && sv->tls_mode == GW_TLS_AUTO_PASSTHROUGH) {
		log_warn("gateway: %s/%s port %u: tls.mode AUTO_PASSTHROUGH is not supported (it "
			 "routes by the cluster name Istio's mTLS encodes in the SNI): not served",
			 gw->namespace, gw->name, sv->port);
		return SK_NONE;
	}
	log_warn("gateway: %s/%s port %u (%s%s%s) is not served yet: HTTP servers are, HTTPS "
		 "ones with tls.mode SIMPLE, HTTPS and TLS ones with PASSTHROUGH, and TCP ones",
		 gw->namespace, gw->name, sv->port, proto, sv->tls_mode ? ", tls.mode " : "",
		 sv->tls_mode ? gw_tls_mode_str(sv->tls_mode) : "");
	return SK_NONE;
}

/* Adds server @sv of kind @kind to the listener of @a in @out/@tls_out (kinds[]: each one's). */
static void add_server(const struct config *cfg, const struct gateway *gw,
		       const struct gw_server *sv, struct sockaddr_in a, enum server_kind kind,
		       enum server_kind *kinds, struct sockaddr_in *out, struct gw_tls **tls_out,
		       size_t *n, size_t cap)
{
	bool tls = kind == SK_TLS;
	size_t i;

	for (i = 0; i < *n; i++)
		if (out[i].sin_port == a.sin_port && out[i].sin_addr.s_addr == a.sin_addr.s_addr)
			break;
	if (i < *n && kinds[i] != kind) {
		log_warn("gateway: %s/%s port %u: the port already serves %s: server not served",
			 gw->namespace, gw->name, sv->port, server_kind_str(kinds[i]));
		return;
	}
	if (i == *n && *n == cap) {
		log_warn("gateway: more than %zu Gateway ports: %s/%s port %u is not served", cap,
			 gw->namespace, gw->name, sv->port);
		return;
	}
	if (i == *n) {
		tls_out[i] = tls ? gw_tls_new() : NULL;
		if (tls && !tls_out[i]) {
			log_warn("gateway: %s/%s port %u: out of memory: not served", gw->namespace,
				 gw->name, sv->port);
			return;
		}
	}
	if (tls && gw_tls_add(tls_out[i], cfg, gw, sv)) {
		if (i == *n) {
			gw_tls_free(tls_out[i]);
			tls_out[i] = NULL;
		}
		return;
	}
	if (i == *n) {
		kinds[i] = kind;
		out[(*n)++] = a;
	}
}

size_t gateway_listeners(const struct config *cfg, struct in_addr bind, struct sockaddr_in *out,
			 struct gw_tls **tls, size_t cap)
{
	const struct istio_config *ic = &cfg->istio;
	enum server_kind *kinds = calloc(cap + 1, sizeof(*kinds));
	size_t n = 0;

	if (!kinds)
		return 0;
	for (size_t g = 0; g < ic->n_gws; g++) {
		const struct gateway *gw = &ic->gws[g];

		if (!config_gateway_selects(gw, cfg->agent_labels))
			continue;
		for (size_t k = 0; k < gw->n_servers; k++) {
			const struct gw_server *sv = &gw->servers[k];
			struct sockaddr_in a = {.sin_family = AF_INET,
						.sin_port = htons((uint16_t)sv->port),
						.sin_addr = bind};
			enum server_kind kind = server_kind(gw, sv);

			if (kind == SK_NONE)
				continue;
			if (sv->bind && inet_pton(AF_INET, sv->bind, &a.sin_addr) != 1) {
				log_warn("gateway: %s/%s port %u: bind %s is not an IPv4 address: "
					 "not served",
					 gw->namespace, gw->name, sv->port, sv->bind);
				continue;
			}
			add_server(cfg, gw, sv, a, kind, kinds, out, tls, &n, cap);
		}
	}
	free(kinds);
	return n;
}

void gateway_listeners_release(struct gw_tls **tls, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		gw_tls_free(tls[i]);
		tls[i] = NULL;
	}
}
