// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "istio.h"
#include "kern.h"
#include "log.h"
#include "podns.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define PODNS_MAX	SHUNT_PODS_MAX
#define PODNS_ADDRS_MAX 8 /* IPv4 addresses read per network namespace */

/* One network namespace: its cookie and IPv4 addresses. */
struct netns {
	int fd;
	uint64_t cookie;
	bool ok; /* entered and read */
	struct in_addr addrs[PODNS_ADDRS_MAX];
	size_t n_addrs;
};

struct scan {
	struct netns *ns;
	size_t n;
};

/* Reads the cookie and addresses of the network namespace this thread is in. */
static void read_here(struct netns *ns)
{
	struct ifaddrs *ifa, *i;
	socklen_t len = sizeof(ns->cookie);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return;
	if (getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, &ns->cookie, &len)) {
		if (errno == ENOPROTOOPT)
			log_error("podns: this kernel cannot name a network namespace "
				  "(SO_NETNS_COOKIE, Linux 5.14): no pod can be told apart, none "
				  "is steered");
		close(s);
		return;
	}
	close(s);
	if (getifaddrs(&ifa))
		return;
	for (i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
		    ns->n_addrs == PODNS_ADDRS_MAX)
			continue;
		ns->addrs[ns->n_addrs++] = ((const struct sockaddr_in *)i->ifa_addr)->sin_addr;
	}
	freeifaddrs(ifa);
	ns->ok = true;
}

/* The scanning thread: moves into each namespace in turn (only this thread moves). */
static void *scan_main(void *arg)
{
	struct scan *sc = arg;

	for (size_t i = 0; i < sc->n; i++)
		if (!setns(sc->ns[i].fd, CLONE_NEWNET))
			read_here(&sc->ns[i]);
	return NULL;
}

/* Opens every entry of @dir as a namespace candidate. 0 (a missing dir is empty) or -errno. */
static int open_all(const char *dir, struct scan *sc)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int dfd;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	dfd = dirfd(d);
	while ((e = readdir(d)) && sc->n < PODNS_MAX) {
		int fd;

		if (e->d_name[0] == '.')
			continue;
		fd = openat(dfd, e->d_name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue; /* gone meanwhile, or not ours to open */
		sc->ns[sc->n++] = (struct netns){.fd = fd};
	}
	closedir(d);
	return 0;
}

static void pod_entry(struct kern *k, const struct config *cfg, const struct pod *p,
		      enum outbound_policy mesh_default, struct kern_pod *kp)
{
	memset(&kp->val, 0, sizeof(kp->val));
	kp->val.flags = p->in_mesh ? POD_F_MESH : 0;
	if (p->in_mesh && config_pod_outbound(cfg, p, mesh_default) == OUTBOUND_REGISTRY_ONLY)
		kp->val.flags |= POD_F_REGISTRY_ONLY;
	kp->val.scope_id = p->in_mesh ? kern_scope_id(k, cfg, p) : 0;
	for (size_t i = 0; i < p->n_excl_ports && i < POD_EXCL_PORTS; i++)
		kp->val.excl_ports[kp->val.n_excl_ports++] = p->excl_ports[i];
	for (size_t i = 0; i < p->n_excl_cidrs && i < POD_EXCL_CIDRS; i++) {
		uint32_t mask = p->excl_cidrs[i].len ? ~0u << (32 - p->excl_cidrs[i].len) : 0;

		kp->val.excl_mask[i] = htonl(mask);
		kp->val.excl_net[i] = p->excl_cidrs[i].net.s_addr & htonl(mask);
		kp->val.n_excl_cidrs++;
	}
}

int podns_sync(struct kern *k, const struct config *cfg, const char *dir,
	       enum outbound_policy mesh_default, struct podns_result *out)
{
	struct scan sc = {0};
	struct kern_pod *pods = NULL;
	size_t n_pods = 0;
	pthread_t th;
	int err;

	memset(out, 0, sizeof(*out));
	sc.ns = calloc(PODNS_MAX, sizeof(*sc.ns));
	pods = calloc(PODNS_MAX, sizeof(*pods));
	if (!sc.ns || !pods) {
		err = -ENOMEM;
		goto out;
	}
	err = open_all(dir, &sc);
	if (err) {
		log_error("podns: cannot read %s: %s", dir, strerror(-err));
		goto out;
	}
	/* A thread of its own: setns() moves the calling thread for good. */
	err = -pthread_create(&th, NULL, scan_main, &sc);
	if (err)
		goto out;
	pthread_join(th, NULL);

	for (size_t i = 0; i < sc.n; i++) {
		const struct netns *ns = &sc.ns[i];

		if (!ns->ok)
			continue;
		out->netns_seen++;
		for (size_t p = 0; p < cfg->n_pods && n_pods < PODNS_MAX; p++) {
			const struct pod *pod = &cfg->pods[p];
			bool here = false;

			if (!pod->ip.s_addr)
				continue;
			for (size_t a = 0; a < ns->n_addrs && !here; a++)
				here = ns->addrs[a].s_addr == pod->ip.s_addr;
			if (!here)
				continue;
			pods[n_pods].netns_cookie = ns->cookie;
			pod_entry(k, cfg, pod, mesh_default, &pods[n_pods++]);
			out->pods_found++;
			out->pods_in_mesh += pod->in_mesh;
			out->pods_registry_only +=
				!!(pods[n_pods - 1].val.flags & POD_F_REGISTRY_ONLY);
			break; /* one pod per namespace: the first whose address it holds */
		}
	}
	err = kern_sync_pods(k, pods, n_pods);
out:
	for (size_t i = 0; sc.ns && i < sc.n; i++)
		close(sc.ns[i].fd);
	free(sc.ns);
	free(pods);
	return err;
}
