/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Which network namespace holds which pod, so that the kernel can tell a
 * mesh pod's sockets from the others on the same node. A pod is found by
 * its address: every network namespace under the netns directory (where
 * the CNI plugins of containerd and CRI-O leave them, /var/run/netns) is
 * entered from a short-lived thread, its IPv4 addresses are read, and a
 * namespace holding a pod's podIP is that pod's. Its cookie (the kernel's
 * stable id of a network namespace, bpf_get_netns_cookie() in the
 * programs) keys shunt_pods_v2.
 */
#ifndef SHUNT_PODNS_H
#define SHUNT_PODNS_H

#include <stddef.h>

#include "istio.h"

struct config;
struct kern;

#define PODNS_DIR_DEFAULT "/var/run/netns"

/* What one podns_sync() found. */
struct podns_result {
	size_t netns_seen;	   /* network namespaces entered */
	size_t pods_found;	   /* pods of the config found in one of them */
	size_t pods_in_mesh;	   /* of which in the mesh */
	size_t pods_registry_only; /* of which with outboundTrafficPolicy REGISTRY_ONLY */
};

/*
 * Maps the network namespaces under @dir to the pods of @cfg and makes
 * shunt_pods_v2 hold exactly those found (in the mesh or not, with their
 * exclusions and outbound traffic policy: the pod's Sidecar, else
 * @mesh_default). A missing @dir counts as empty. 0 or -errno (logged).
 */
int podns_sync(struct kern *k, const struct config *cfg, const char *dir,
	       enum outbound_policy mesh_default, struct podns_result *out);

#endif /* SHUNT_PODNS_H */
