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

/*
 * The listeners this agent opens for the Gateways of @cfg that cfg->agent_labels
 * select: one per distinct port of their HTTP servers, on @bind (a server's own
 * bind address, when it has one). HTTPS, TLS and TCP servers are not served yet
 * (logged). Fills at most @cap of @out; returns how many.
 */
size_t gateway_listeners(const struct config *cfg, struct in_addr bind, struct sockaddr_in *out,
			 size_t cap);

#endif /* SHUNT_GATEWAY_H */
