// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The labels of a request, as Istio's client-side proxy reports them
 * (reporter "source"), from the config snapshot that routed it: the client
 * pod (source_*), the endpoint's pod (destination_*), the destination
 * service. Interned into the worker's table while the snapshot is held, so
 * the series keep their own copies when the snapshot goes.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "config.h"
#include "metrics_labels.h"
#include "route.h"
#include "workload.h"

#define CLUSTER_ID "Kubernetes" /* Istio's default CLUSTER_ID (global.multiCluster.clusterName) */

uint32_t mx_pod_tuple(struct mx_table *t, uint64_t gen, const struct pod *p)
{
	struct workload_id w;
	uint32_t id;

	if (!p)
		return MX_UNKNOWN_PEER;
	id = mx_cache_get(t, gen, p);
	if (id != MX_NONE)
		return id;
	workload_of_pod(p, &w);
	{
		const char *v[MX_P_N] = {
			[MX_P_WORKLOAD] = w.workload,
			[MX_P_NAMESPACE] = w.namespace,
			[MX_P_PRINCIPAL] = "unknown", /* no mutual TLS: no peer identity */
			[MX_P_APP] = w.app,
			[MX_P_VERSION] = w.version,
			[MX_P_CANON_SVC] = w.canonical_service,
			[MX_P_CANON_REV] = w.canonical_revision,
			[MX_P_CLUSTER] = CLUSTER_ID,
		};

		id = mx_tuple(t, v, MX_P_N);
	}
	mx_cache_put(t, gen, p, id);
	return id;
}

uint32_t mx_svc_tuple(struct mx_table *t, uint64_t gen, const struct service *s)
{
	char host[512];
	uint32_t id;

	if (!s)
		return MX_UNKNOWN_SVC;
	id = mx_cache_get(t, gen, s);
	if (id != MX_NONE)
		return id;
	if (s->fqdn)
		snprintf(host, sizeof(host), "%s", s->fqdn);
	else
		snprintf(host, sizeof(host), "%s.%s.svc.cluster.local", s->name, s->namespace);
	{
		/* A ServiceEntry's service is named by its host, as istiod names it. */
		const char *v[MX_S_N] = {host, s->se ? host : s->name, s->namespace};

		id = mx_tuple(t, v, MX_S_N);
	}
	mx_cache_put(t, gen, s, id);
	return id;
}

/* The Host header of @req (port and all) in @out, or NULL when it has none. */
static const char *host_header(const struct http_req *req, char *out, size_t len)
{
	for (size_t i = 0; req && i < req->n_hdrs; i++)
		if (req->hdrs[i].name_len == 4 && !strncasecmp(req->hdrs[i].name, "host", 4) &&
		    req->hdrs[i].value_len) {
			snprintf(out, len, "%.*s", (int)req->hdrs[i].value_len, req->hdrs[i].value);
			return out;
		}
	return NULL;
}

/*
 * No service of the registry: Istio falls back on the Host header for
 * destination_service, and names the catch-all cluster (PassthroughCluster,
 * BlackHoleCluster) in destination_service_name.
 */
static uint32_t host_tuple(struct mx_table *t, const struct route_req *rq, const char *cluster)
{
	char host[512];
	const char *h = host_header(rq->req, host, sizeof(host));
	const char *v[MX_S_N] = {h, cluster && *cluster ? cluster : h, NULL};

	return h || (cluster && *cluster) ? mx_tuple(t, v, MX_S_N) : MX_UNKNOWN_SVC;
}

void mx_pick_labels(struct mx_table *t, const struct snapshot *snap, const struct route_req *rq,
		    const struct route_result *res, bool reached, uint32_t out[3])
{
	const struct service *svc = res->svc;
	uint64_t gen = snap->generation;

	out[0] = mx_pod_tuple(t, gen, route_client_pod(snap->rt, rq->src_ip));
	out[1] = mx_pod_tuple(t, gen, reached ? res->ep_pod : NULL);
	/* No route: the service the client called, known by its VIP. */
	if (!svc && !res->cluster[0])
		config_find_vip(snap->cfg, rq->dst_ip, htons(rq->dst_port), IPPROTO_TCP, &svc);
	out[2] = svc ? mx_svc_tuple(t, gen, svc) : host_tuple(t, rq, res->cluster);
}

void mx_peer_labels(struct mx_table *t, const struct snapshot *snap, struct in_addr src,
		    uint32_t out[3])
{
	out[0] = snap ? mx_pod_tuple(t, snap->generation, route_client_pod(snap->rt, src))
		      : MX_UNKNOWN_PEER;
	out[1] = MX_UNKNOWN_PEER;
	out[2] = MX_UNKNOWN_SVC;
}
