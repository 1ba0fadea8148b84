/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A request's metric labels from the config snapshot that routed it, as tuple
 * ids of a worker's metric table (metrics.h). Writer side: the worker's thread.
 */
#ifndef SHUNT_METRICS_LABELS_H
#define SHUNT_METRICS_LABELS_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "metrics.h"
#include "snapshot.h"

struct pod;
struct route_req;
struct route_result;
struct service;

/* The workload tuple of pod @p of the config of generation @gen (NULL: the unknown one). */
uint32_t mx_pod_tuple(struct mx_table *t, uint64_t gen, const struct pod *p);
/* The service tuple of @s: its FQDN, name and namespace (NULL: the unknown one). */
uint32_t mx_svc_tuple(struct mx_table *t, uint64_t gen, const struct service *s);

/*
 * The labels of a request @rq that @snap's route table decided as @res:
 * @out[0] the client's workload, [1] the endpoint's when it is @reached (else
 * the unknown one), [2] the destination service (the result's, else the one
 * of the VIP called, else the Host header with the catch-all cluster's name).
 * MX_NONE where the table is full.
 */
void mx_pick_labels(struct mx_table *t, const struct snapshot *snap, const struct route_req *rq,
		    const struct route_result *res, bool reached, uint32_t out[3]);

/* The labels of a request routing never saw: its client (from @snap, NULL: unknown) alone. */
void mx_peer_labels(struct mx_table *t, const struct snapshot *snap, struct in_addr src,
		    uint32_t out[3]);

#endif /* SHUNT_METRICS_LABELS_H */
