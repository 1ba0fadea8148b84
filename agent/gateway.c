// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"
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

size_t gateway_listeners(const struct config *cfg, struct in_addr bind, struct sockaddr_in *out,
			 size_t cap)
{
	const struct istio_config *ic = &cfg->istio;
	size_t n = 0;

	for (size_t g = 0; g < ic->n_gws; g++) {
		const struct gateway *gw = &ic->gws[g];

		if (!config_gateway_selects(gw, cfg->agent_labels))
			continue;
		for (size_t k = 0; k < gw->n_servers; k++) {
			const struct gw_server *sv = &gw->servers[k];
			struct sockaddr_in a = {.sin_family = AF_INET,
						.sin_port = htons((uint16_t)sv->port),
						.sin_addr = bind};
			bool dup = false;

			if (!sv->protocol || strcasecmp(sv->protocol, "HTTP")) {
				log_warn("gateway: %s/%s port %u (%s) is not served: only HTTP "
					 "servers are, yet",
					 gw->namespace, gw->name, sv->port,
					 sv->protocol ? sv->protocol : "?");
				continue;
			}
			if (sv->bind && inet_pton(AF_INET, sv->bind, &a.sin_addr) != 1) {
				log_warn("gateway: %s/%s port %u: bind %s is not an IPv4 address: "
					 "not served",
					 gw->namespace, gw->name, sv->port, sv->bind);
				continue;
			}
			for (size_t i = 0; i < n && !dup; i++)
				dup = out[i].sin_port == a.sin_port &&
				      out[i].sin_addr.s_addr == a.sin_addr.s_addr;
			if (dup)
				continue;
			if (n == cap) {
				log_warn("gateway: more than %zu Gateway ports: %s/%s port %u is "
					 "not "
					 "served",
					 cap, gw->namespace, gw->name, sv->port);
				continue;
			}
			out[n++] = a;
		}
	}
	return n;
}
