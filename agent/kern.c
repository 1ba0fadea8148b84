// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "config.h"
#include "kern.h"
#include "log.h"
#include "sock_addr.skel.h"
#include "sockops.skel.h"

struct kern {
	struct sock_addr_bpf *sa; /* connect4 + getpeername4; creates the pinned maps */
	struct sockops_bpf *so;	  /* sockops; reuses the pinned maps */
	struct bpf_link *links[3];
	size_t n_links;
	char *pin_dir;
	int lock_fd; /* the pin directory, flock()ed: one agent per pin dir */
	int svc4_fd, pair4_fd, cfg_fd, stats_fd; /* borrowed from sa, not owned */
};

static const char *const stat_names[SHUNT_STAT_MAX] = {
	[SHUNT_STAT_CAPTURED] = "captured",	  [SHUNT_STAT_SKIPPED_MARK] = "skipped_mark",
	[SHUNT_STAT_NOT_READY] = "not_ready",	  [SHUNT_STAT_PAIR_INDEXED] = "pair_indexed",
	[SHUNT_STAT_PAIR_FAILED] = "pair_failed", [SHUNT_STAT_PEER_REWRITTEN] = "peer_rewritten",
};

const char *kern_stat_name(enum shunt_stat stat)
{
	if ((unsigned)stat >= SHUNT_STAT_MAX || !stat_names[stat])
		return "unknown";
	return stat_names[stat];
}

int kern_open(const char *pin_dir, struct kern **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	struct kern *k;
	int err;

	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->pin_dir = strdup(pin_dir);
	if (!k->pin_dir) {
		err = -ENOMEM;
		goto free_kern;
	}
	/*
	 * Two agents on one pin dir would share shunt_cfg, and the first to exit
	 * would switch capture off under the other: refuse the second.
	 */
	k->lock_fd = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (k->lock_fd < 0) {
		err = -errno;
		log_error("kern: cannot open %s: %s", pin_dir, strerror(-err));
		goto free_kern;
	}
	if (flock(k->lock_fd, LOCK_EX | LOCK_NB)) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		log_error(
			"kern: %s is in use by another shuntd (give each agent its own --pin-dir)",
			pin_dir);
		goto close_lock;
	}

	k->sa = sock_addr_bpf__open_opts(&opts);
	if (!k->sa) {
		err = -errno;
		log_error("kern: cannot open sock_addr programs: %s", strerror(-err));
		goto close_lock;
	}
	err = sock_addr_bpf__load(k->sa);
	if (err) {
		log_error("kern: cannot load sock_addr programs into %s: %s", pin_dir,
			  strerror(-err));
		goto destroy_sa;
	}
	/* Opened after sa is loaded, so its maps resolve to the pins sa made. */
	k->so = sockops_bpf__open_opts(&opts);
	if (!k->so) {
		err = -errno;
		log_error("kern: cannot open sockops program: %s", strerror(-err));
		goto destroy_sa;
	}
	err = sockops_bpf__load(k->so);
	if (err) {
		log_error("kern: cannot load sockops program: %s", strerror(-err));
		goto destroy_so;
	}

	k->svc4_fd = bpf_map__fd(k->sa->maps.shunt_svc4);
	k->pair4_fd = bpf_map__fd(k->sa->maps.shunt_pair4);
	k->cfg_fd = bpf_map__fd(k->sa->maps.shunt_cfg);
	k->stats_fd = bpf_map__fd(k->sa->maps.shunt_stats);
	*out = k;
	return 0;

destroy_so:
	sockops_bpf__destroy(k->so);
destroy_sa:
	sock_addr_bpf__destroy(k->sa);
close_lock:
	close(k->lock_fd);
free_kern:
	free(k->pin_dir);
	free(k);
	return err;
}

int kern_set_listener(struct kern *k, const struct sockaddr_in *listen, uint32_t skip_mark)
{
	struct shunt_cfg cfg = {
		.listen_ip = listen ? listen->sin_addr.s_addr : 0,
		.listen_port = listen ? listen->sin_port : 0,
		.skip_mark = skip_mark,
	};
	__u32 key = 0;

	if (bpf_map_update_elem(k->cfg_fd, &key, &cfg, BPF_ANY))
		return -errno;
	return 0;
}

static void svc4_key_of(struct svc4_key *key, struct in_addr vip, uint16_t port)
{
	memset(key, 0, sizeof(*key));
	key->vip = vip.s_addr;
	key->port = htons(port);
	key->proto = IPPROTO_TCP;
}

/*
 * Whether connections to @sp go to the agent. Istio's protocol selection by
 * port name ("<protocol>[-<suffix>]"): a port that declares another protocol
 * than HTTP/1.1 (TCP, TLS, HTTPS, HTTP/2, gRPC, databases) is not captured,
 * because the agent speaks HTTP/1.1 only; kube-proxy keeps serving it. An
 * unnamed port is taken as HTTP/1.1 (where Istio would sniff). A service
 * without a selector has endpoints shunt does not know (manual Endpoints):
 * left to kube-proxy too.
 */
static bool captured_as_http(const struct service *svc, const struct svc_port *sp)
{
	static const char *const not_http1[] = {"tcp",	 "tls",	  "https", "http2", "grpc",
						"mongo", "mysql", "redis", "udp",   "h2c"};
	size_t len;

	if (!svc->has_selector || sp->protocol != IPPROTO_TCP)
		return false;
	if (!sp->name)
		return true;
	for (size_t i = 0; i < sizeof(not_http1) / sizeof(not_http1[0]); i++) {
		len = strlen(not_http1[i]);
		if (!strncmp(sp->name, not_http1[i], len) &&
		    (sp->name[len] == '\0' || sp->name[len] == '-'))
			return false;
	}
	return true;
}

/* Deletes every shunt_svc4 entry that @cfg does not capture. Returns how many, or -errno. */
static int svc4_delete_stale(struct kern *k, const struct config *cfg)
{
	struct svc4_key key, *prev = NULL, *stale;
	size_t n_stale = 0;
	int n = 0;

	/* Walk first, delete after: deleting during get_next_key may restart the walk. */
	stale = calloc(SHUNT_SVC4_MAX, sizeof(*stale));
	if (!stale)
		return -ENOMEM;
	while (n_stale < SHUNT_SVC4_MAX && !bpf_map_get_next_key(k->svc4_fd, prev, &key)) {
		const struct service *svc;
		const struct svc_port *sp =
			config_find_vip(cfg, (struct in_addr){key.vip}, key.port, key.proto, &svc);

		if (!sp || !captured_as_http(svc, sp))
			stale[n_stale++] = key;
		prev = &key;
	}
	for (size_t i = 0; i < n_stale; i++)
		if (!bpf_map_delete_elem(k->svc4_fd, &stale[i]))
			n++;
	free(stale);
	return n;
}

int kern_sync_services(struct kern *k, const struct config *cfg)
{
	int n = 0, stale;

	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct service *svc = &cfg->services[i];

		if (!svc->cluster_ip.s_addr)
			continue; /* headless or no VIP: nothing to capture */
		for (size_t j = 0; j < svc->n_ports; j++) {
			const struct svc_port *sp = &svc->ports[j];
			struct svc4_val val = {.svc_id = (__u32)i, .flags = SVC4_F_L7};
			struct svc4_key key;

			if (!captured_as_http(svc, sp)) {
				log_info("kern: %s/%s port %u%s%s is not captured (%s)",
					 svc->namespace, svc->name, sp->port, sp->name ? " " : "",
					 sp->name ? sp->name : "",
					 !svc->has_selector ? "no selector: endpoints unknown"
					 : sp->protocol != IPPROTO_TCP
						 ? "not TCP"
						 : "not HTTP/1.1 by its name");
				continue;
			}
			svc4_key_of(&key, svc->cluster_ip, sp->port);
			if (bpf_map_update_elem(k->svc4_fd, &key, &val, BPF_ANY)) {
				int err = -errno;

				log_error("kern: cannot write %s/%s port %u to %s: %s",
					  svc->namespace, svc->name, sp->port, SHUNT_MAP_SVC4,
					  strerror(-err));
				return err;
			}
			n++;
		}
	}
	stale = svc4_delete_stale(k, cfg);
	if (stale > 0)
		log_info("kern: removed %d stale service entries", stale);
	return n;
}

static int attach_one(struct kern *k, struct bpf_program *prog, int cgroup_fd)
{
	struct bpf_link *link = bpf_program__attach_cgroup(prog, cgroup_fd);

	if (!link) {
		int err = -errno;

		log_error("kern: cannot attach %s: %s", bpf_program__name(prog), strerror(-err));
		return err;
	}
	k->links[k->n_links++] = link;
	return 0;
}

int kern_attach(struct kern *k, int cgroup_fd)
{
	int err;

	/*
	 * sockops and getpeername first: by the time connect4 captures a socket,
	 * the programs that complete the picture are already in place.
	 */
	err = attach_one(k, k->so->progs.shunt_sockops, cgroup_fd);
	if (!err)
		err = attach_one(k, k->sa->progs.shunt_peername4, cgroup_fd);
	if (!err)
		err = attach_one(k, k->sa->progs.shunt_connect4, cgroup_fd);
	if (err)
		kern_detach(k);
	return err;
}

void kern_detach(struct kern *k)
{
	/* Reverse order: stop capturing before the helpers go away. */
	while (k->n_links > 0)
		bpf_link__destroy(k->links[--k->n_links]);
	kern_set_listener(k, NULL, 0);
}

int kern_orig_dst(const struct kern *k, const struct sockaddr_in *peer,
		  const struct sockaddr_in *local, struct orig4 *orig)
{
	struct pair4_key key = {
		.client_ip = peer->sin_addr.s_addr,
		.server_ip = local->sin_addr.s_addr,
		.client_port = peer->sin_port,
		.server_port = local->sin_port,
	};

	if (bpf_map_lookup_and_delete_elem(k->pair4_fd, &key, orig))
		return errno == ENOENT ? -ENOENT : -errno;
	return 0;
}

int kern_stats_fd(const struct kern *k)
{
	return k->stats_fd;
}

int kern_read_stats(int stats_fd, uint64_t out[SHUNT_STAT_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *vals;

	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (__u32 i = 0; i < SHUNT_STAT_MAX; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(stats_fd, &i, vals)) {
			int err = -errno;

			free(vals);
			return err;
		}
		for (int c = 0; c < ncpu; c++)
			out[i] += vals[c];
	}
	free(vals);
	return 0;
}

static void unpin_all(struct kern *k)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, k->sa->obj)
	{
		if (bpf_map__is_pinned(map) && bpf_map__unpin(map, NULL))
			log_warn("kern: cannot unpin %s: %s", bpf_map__name(map), strerror(errno));
	}
	if (rmdir(k->pin_dir) && errno != ENOENT)
		log_warn("kern: cannot remove %s: %s", k->pin_dir, strerror(errno));
}

void kern_close(struct kern *k, bool unpin)
{
	if (!k)
		return;
	kern_detach(k);
	if (unpin)
		unpin_all(k);
	sockops_bpf__destroy(k->so);
	sock_addr_bpf__destroy(k->sa);
	close(k->lock_fd);
	free(k->pin_dir);
	free(k);
}
