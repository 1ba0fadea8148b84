/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The identity Istio's telemetry gives a workload (the peer metadata its
 * metrics are labelled with), computed from a pod of the config as istiod
 * computes it: the workload is the pod's controller (a Deployment for a
 * ReplicaSet's pod, a CronJob for its Job's), the canonical service and
 * revision come from the pod's labels.
 */
#ifndef SHUNT_WORKLOAD_H
#define SHUNT_WORKLOAD_H

#include <stddef.h>

struct pod;

#define WORKLOAD_NAME_MAX 254 /* a workload name, NUL included (object names are <= 253) */

/* A pod's telemetry identity. The pointers are the pod's strings, or static ones. */
struct workload_id {
	char workload[WORKLOAD_NAME_MAX]; /* see workload_name() */
	const char *namespace;
	const char *app;     /* label app, else app.kubernetes.io/name; "unknown" */
	const char *version; /* label version, else app.kubernetes.io/version; "unknown" */
	const char *canonical_service;	/* service.istio.io/canonical-name, app.kubernetes.io/name,
					   app, else the workload name */
	const char *canonical_revision; /* service.istio.io/canonical-revision,
					   app.kubernetes.io/version, version, else "latest" */
};

/*
 * The workload name of @p into @out (@len bytes, truncated): with
 * metadata.generateName and a controller, Istio's rules: a ReplicaSet's
 * "NAME-HASH" with label pod-template-hash HASH gives the Deployment NAME, a
 * ReplicationController with label deploymentconfig gives its value, a Job
 * "NAME-TIMESTAMP" (8 to 10 digits) the CronJob NAME, any other controller
 * its own name. Without a controller, a pod "NAME-HASH-XXXXX" with label
 * pod-template-hash HASH gives NAME (a Deployment's pod written by hand);
 * otherwise the pod's name. Returns @out.
 */
const char *workload_name(const struct pod *p, char *out, size_t len);

/* Fills @out for pod @p (which must outlive the pointers). */
void workload_of_pod(const struct pod *p, struct workload_id *out);

#endif /* SHUNT_WORKLOAD_H */
