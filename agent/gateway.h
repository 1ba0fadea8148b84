/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The agent as a Gateway workload: its own labels (--gateway-labels), which
 * Gateways' selectors pick, and the ports of the servers it serves.
 */
#ifndef SHUNT_GATEWAY_H
#define SHUNT_GATEWAY_H

#include <stddef.h>
#include <netinet/in.h>

#include "config.h"

/* Parses "k=v[,k=v]..." into @out (owned: gateway_labels_release()). 0 or -EINVAL/-ENOMEM. */
int gateway_labels_parse(const char *s, struct labels *out);
void gateway_labels_release(struct labels *l);

struct gw_tls;

/*
 * The listeners this agent opens for the Gateways of @cfg that cfg->agent_labels
 * select: one per distinct port of their HTTP servers, their HTTPS servers with
 * tls.mode SIMPLE, their HTTPS and TLS servers with tls.mode PASSTHROUGH and their
 * TCP servers, on @bind (a server's own bind address, when it has one). For a TLS
 * termination port, tls[i] holds its servers' contexts (gateway_tls.h; owned by the
 * caller: gateway_listeners_release()); NULL for the others (the proxy asks the
 * router whether a port is raw: route_conn_mode()). A server whose certificate
 * cannot be had, AUTO_PASSTHROUGH, MUTUAL and other modes, and a server whose port
 * another server already serves in another way (plain HTTP, TLS termination, raw)
 * are not served (logged). Fills at most @cap of @out and @tls; returns how many.
 */
size_t gateway_listeners(const struct config *cfg, struct in_addr bind, struct sockaddr_in *out,
			 struct gw_tls **tls, size_t cap);

/* Frees the @n TLS contexts gateway_listeners() filled in @tls (NULL entries are fine). */
void gateway_listeners_release(struct gw_tls **tls, size_t n);

#endif /* SHUNT_GATEWAY_H */
