// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <time.h>

#include "config.h"
#include "istio.h"
#include "kern.h"
#include "kern_int.h"
#include "route.h"
#include "log.h"
#include "sock_addr.skel.h"
#include "sockops.skel.h"

static const char *const sized_names[KERN_N_SIZED] = {SHUNT_MAP_SVC4, SHUNT_MAP_BE4,
						      SHUNT_MAP_PAIR4};
/* Every pinned map whose max_entries a --max-* flag sets: the IPv6 twins follow the IPv4 maps. */
#define KERN_N_PINS 6
static const struct {
	const char *name;
	enum kern_sized_map m;
} sized_pins[KERN_N_PINS] = {
	{SHUNT_MAP_SVC4, KERN_MAP_SVC4},   {SHUNT_MAP_BE4, KERN_MAP_BE4},
	{SHUNT_MAP_PAIR4, KERN_MAP_PAIR4}, {SHUNT_MAP_SVC6, KERN_MAP_SVC4},
	{SHUNT_MAP_BE6, KERN_MAP_BE4},	   {SHUNT_MAP_PAIR6, KERN_MAP_PAIR4},
};
static const char *const sized_flags[KERN_N_SIZED] = {"--max-services", "--max-backends",
						      "--max-pairs"};
static const __u32 sized_defaults[KERN_N_SIZED] = {SHUNT_SVC4_MAX, SHUNT_BE4_MAX, SHUNT_PAIR4_MAX};

const char *kern_sized_name(enum kern_sized_map m)
{
	return (unsigned)m < KERN_N_SIZED ? sized_names[m] : "unknown";
}

const char *kern_sized_flag(enum kern_sized_map m)
{
	return (unsigned)m < KERN_N_SIZED ? sized_flags[m] : "unknown";
}

__u32 kern_sized_default(enum kern_sized_map m)
{
	return (unsigned)m < KERN_N_SIZED ? sized_defaults[m] : 0;
}

bool kern_fill_high(uint64_t entries, uint64_t max)
{
	/* In integers: 80% of 5 is 4, and 4 of 5 is not above it. */
	return max && entries * 100 > max * KERN_FILL_WARN_PCT;
}

static const char *const stat_names[SHUNT_STAT_MAX] = {
	[SHUNT_STAT_CAPTURED] = "captured",
	[SHUNT_STAT_SKIPPED_MARK] = "skipped_mark",
	[SHUNT_STAT_NOT_READY] = "not_ready",
	[SHUNT_STAT_PAIR_INDEXED] = "pair_indexed",
	[SHUNT_STAT_PAIR_FAILED] = "pair_failed",
	[SHUNT_STAT_PEER_REWRITTEN] = "peer_rewritten",
	[SHUNT_STAT_DIRECT] = "direct",
	[SHUNT_STAT_FAIL_OPEN] = "fail_open",
	[SHUNT_STAT_NO_BACKEND] = "no_backend",
	[SHUNT_STAT_LISTENER_CLOSED] = "listener_closed",
	[SHUNT_STAT_NOT_MESH] = "not_mesh",
	[SHUNT_STAT_EXCLUDED] = "excluded",
	[SHUNT_STAT_EGRESS_BLOCKED] = "egress_blocked",
	[SHUNT_STAT_DNS_CAPTURED] = "dns_captured",
	[SHUNT_STAT_FASTPATH_INDEXED] = "fastpath_indexed",
	[SHUNT_STAT_FASTPATH_FAILED] = "fastpath_failed",
	[SHUNT_STAT_FASTPATH_REDIRECTED] = "fastpath_redirected",
	[SHUNT_STAT_FASTPATH_PASSED] = "fastpath_passed",
};

const char *kern_stat_name(enum shunt_stat stat)
{
	if ((unsigned)stat >= SHUNT_STAT_MAX || !stat_names[stat])
		return "unknown";
	return stat_names[stat];
}

void kern_pin_path(const struct kern *k, const char *name, char path[PATH_MAX])
{
	snprintf(path, PATH_MAX, "%s/%s", k->pin_dir, name);
}

/* Gives the sized maps of @obj the sizes of @k; before load. 0 or -errno. */
static int size_maps(const struct kern *k, struct bpf_object *obj)
{
	for (int i = 0; i < KERN_N_PINS; i++) {
		struct bpf_map *map = bpf_object__find_map_by_name(obj, sized_pins[i].name);
		__u32 max = k->max[sized_pins[i].m];
		int err;

		if (!map)
			continue;
		err = bpf_map__set_max_entries(map, max);
		if (err) {
			log_error("kern: cannot size %s to %u: %s", sized_pins[i].name, max,
				  strerror(-err));
			return err;
		}
	}
	return 0;
}

/* Loading failed: the maps unpin_resized() took out go back to their pins, as they were. */
static void pin_back(const struct kern *k, int old[KERN_N_PINS])
{
	char path[PATH_MAX];

	for (int i = 0; i < KERN_N_PINS; i++) {
		if (old[i] < 0)
			continue;
		kern_pin_path(k, sized_pins[i].name, path);
		if (unlink(path) && errno != ENOENT)
			log_warn("kern: cannot remove the new %s: %s", path, strerror(errno));
		if (bpf_obj_pin(old[i], path))
			log_error("kern: cannot pin the old %s back: %s", path, strerror(errno));
		else
			log_warn("kern: %s keeps its old size: loading with the new one failed",
				 sized_pins[i].name);
		close(old[i]);
		old[i] = -1;
	}
}

/*
 * libbpf refuses a pin whose max_entries differs from the map it loads. A
 * sized map pinned with another size is unpinned here, so that loading
 * creates it with the size asked; its fd is kept in @old[i] (else -1) to pin
 * it back if loading fails. 0 or -errno (then nothing is left unpinned).
 */
static int unpin_resized(struct kern *k, int old[KERN_N_PINS])
{
	struct bpf_map_info info;
	char path[PATH_MAX];
	__u32 len;
	int fd, err;

	for (int i = 0; i < KERN_N_PINS; i++)
		old[i] = -1;
	for (int i = 0; i < KERN_N_PINS; i++) {
		enum kern_sized_map m = sized_pins[i].m;

		kern_pin_path(k, sized_pins[i].name, path);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue; /* not pinned yet; anything else, loading reports */
		memset(&info, 0, sizeof(info));
		len = sizeof(info);
		if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.max_entries == k->max[m]) {
			close(fd);
			continue;
		}
		if (unlink(path)) {
			err = -errno;
			log_error("kern: cannot unpin %s to resize it: %s", path, strerror(-err));
			close(fd);
			pin_back(k, old);
			return err;
		}
		old[i] = fd;
		log_warn("kern: %s is pinned with max_entries %u, %s asks %u: recreating it with "
			 "the new size; %s",
			 sized_pins[i].name, info.max_entries, sized_flags[m], k->max[m],
			 m == KERN_MAP_PAIR4
				 ? "its entries in flight (connections captured but not "
				   "yet accepted by the agent) are lost"
				 : "its entries are rewritten from the config");
	}
	return 0;
}

int kern_open(const char *pin_dir, const struct kern_opts *kopts, struct kern **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	int old[KERN_N_PINS] = {-1, -1, -1, -1, -1, -1};
	struct kern *k;
	int err;

	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->fast_link_fd = -1;
	k->fast_path = kopts && kopts->fast_path;
	for (int i = 0; i < KERN_N_SIZED; i++)
		k->max[i] =
			kopts && kopts->max_entries[i] ? kopts->max_entries[i] : sized_defaults[i];
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
	err = size_maps(k, k->sa->obj);
	if (err)
		goto destroy_sa;
	err = unpin_resized(k, old);
	if (err)
		goto destroy_sa;
	err = sock_addr_bpf__load(k->sa);
	if (err) {
		log_error("kern: cannot load sock_addr programs into %s: %s", pin_dir,
			  strerror(-err));
		goto repin_old;
	}
	/* Opened after sa is loaded, so its maps resolve to the pins sa made. */
	k->so = sockops_bpf__open_opts(&opts);
	if (!k->so) {
		err = -errno;
		log_error("kern: cannot open sockops program: %s", strerror(-err));
		goto repin_old;
	}
	err = size_maps(k, k->so->obj);
	if (err)
		goto destroy_so;
	err = sockops_bpf__load(k->so);
	if (err) {
		log_error("kern: cannot load sockops program: %s", strerror(-err));
		goto destroy_so;
	}
	err = kern_fast_load(k, &opts);
	if (err)
		goto destroy_so;
	for (int i = 0; i < KERN_N_PINS; i++) {
		if (old[i] >= 0) {
			k->links_stale = true;
			close(old[i]);
		}
	}

	k->svc4_fd = bpf_map__fd(k->sa->maps.shunt_svc4_v2);
	k->be4_fd = bpf_map__fd(k->sa->maps.shunt_be4);
	k->pair4_fd = bpf_map__fd(k->sa->maps.shunt_pair4);
	k->cfg_fd = bpf_map__fd(k->sa->maps.shunt_cfg_v2);
	k->stats_fd = bpf_map__fd(k->sa->maps.shunt_stats_v3);
	k->lsn_fd = bpf_map__fd(k->sa->maps.shunt_listeners);
	k->pods_fd = bpf_map__fd(k->sa->maps.shunt_pods_v2);
	k->known4_fd = bpf_map__fd(k->sa->maps.shunt_known4);
	k->svc6_fd = bpf_map__fd(k->sa->maps.shunt_svc6);
	k->be6_fd = bpf_map__fd(k->sa->maps.shunt_be6);
	k->pair6_fd = bpf_map__fd(k->sa->maps.shunt_pair6);
	k->lsn6_fd = bpf_map__fd(k->sa->maps.shunt_lsn6);
	k->known6_fd = bpf_map__fd(k->sa->maps.shunt_known6);
	k->ports_fd = bpf_map__fd(k->sa->maps.shunt_ports);
	k->scope_fd = bpf_map__fd(k->sa->maps.shunt_scope);
	k->binds4_fd = bpf_map__fd(k->sa->maps.shunt_binds4);
	k->dns_fd = bpf_map__fd(k->sa->maps.shunt_dns);
	k->sock4_fd = bpf_map__fd(k->sa->maps.shunt_sock4);
	*out = k;
	return 0;

destroy_so:
	sockops_bpf__destroy(k->so);
repin_old:
	pin_back(k, old);
destroy_sa:
	sock_addr_bpf__destroy(k->sa);
close_lock:
	close(k->lock_fd);
free_kern:
	free(k->pin_dir);
	free(k);
	return err;
}

int kern_cfg_write(struct kern *k)
{
	__u32 key = 0;

	if (bpf_map_update_elem(k->cfg_fd, &key, &k->cfg, BPF_ANY))
		return -errno;
	return 0;
}

int kern_set_listener(struct kern *k, const struct sockaddr_in *listen, uint32_t skip_mark)
{
	k->cfg.listen_ip = listen ? listen->sin_addr.s_addr : 0;
	k->cfg.listen_port = listen ? listen->sin_port : 0;
	k->cfg.skip_mark = skip_mark;
	if (!listen) {
		k->cfg.heartbeat_ns = 0; /* gone: fail open at once */
		k->cfg.flags = 0;	 /* no agent socket to redirect to */
	}
	if (!k->cfg.alive_ns)
		k->cfg.alive_ns = KERN_ALIVE_MS * 1000000ull;
	return kern_cfg_write(k);
}

int kern_sync_pods(struct kern *k, const struct kern_pod *pods, size_t n)
{
	__u64 key, prev = 0, *stale;
	size_t n_stale = 0;
	bool first = true;
	int err = 0;

	for (size_t i = 0; i < n && !err; i++)
		if (bpf_map_update_elem(k->pods_fd, &pods[i].netns_cookie, &pods[i].val, BPF_ANY))
			err = -errno;
	if (err) {
		log_error("kern: cannot write %s: %s%s", SHUNT_MAP_PODS, strerror(-err),
			  err == -E2BIG ? " (more pod network namespaces than it holds)" : "");
		return err;
	}
	/* Walk first, delete after: deleting during get_next_key may restart the walk. */
	stale = calloc(SHUNT_PODS_MAX, sizeof(*stale));
	if (!stale)
		return -ENOMEM;
	while (n_stale < SHUNT_PODS_MAX &&
	       !bpf_map_get_next_key(k->pods_fd, first ? NULL : &prev, &key)) {
		bool live = false;

		for (size_t i = 0; i < n && !live; i++)
			live = pods[i].netns_cookie == key;
		if (!live)
			stale[n_stale++] = key;
		prev = key;
		first = false;
	}
	for (size_t i = 0; i < n_stale; i++)
		(void)bpf_map_delete_elem(k->pods_fd, &stale[i]);
	free(stale);
	return 0;
}

int kern_add_listener(struct kern *k, int fd)
{
	__u64 cookie;
	__u32 one = 1;
	socklen_t len = sizeof(cookie);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len))
		return -errno;
	if (bpf_map_update_elem(k->lsn_fd, &cookie, &one, BPF_ANY))
		return -errno;
	return 0;
}

#define BPF_FS_MAGIC_ 0xcafe4a11 /* linux/magic.h's BPF_FS_MAGIC */

bool kern_pins_reachable(const struct kern *k)
{
	struct stat held, now;
	struct statfs fs;

	/* The path is looked up afresh: after a (lazy) umount it leads elsewhere, or nowhere,
	 * while lock_fd still holds the old directory. */
	if (fstat(k->lock_fd, &held) || stat(k->pin_dir, &now) || statfs(k->pin_dir, &fs))
		return false;
	return held.st_dev == now.st_dev && held.st_ino == now.st_ino &&
	       (unsigned long)fs.f_type == BPF_FS_MAGIC_;
}

int kern_heartbeat(struct kern *k, bool alive)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* bpf_ktime_get_ns()'s clock */
	k->cfg.heartbeat_ns =
		alive ? (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec : 0;
	return kern_cfg_write(k);
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
bool kern_captured_as_http(const struct service *svc, const struct svc_port *sp)
{
	static const char *const not_http1[] = {"tcp",	 "tls",	  "https", "http2", "grpc",
						"mongo", "mysql", "redis", "udp",   "h2c"};
	size_t len;

	if (!kern_balanced(svc, sp))
		return false;
	if (sp->app_protocol) /* a ServiceEntry port says it */
		return !strcasecmp(sp->app_protocol, "HTTP");
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

__u32 kern_svc_flags(const struct service *svc, const struct svc_port *sp, bool l7, bool sni)
{
	__u32 flags = svc->se && svc->se->resolution == SE_RES_NONE ? SVC4_F_PASSTHROUGH : 0;

	if ((l7 && kern_captured_as_http(svc, sp)) || (sni && kern_balanced(svc, sp)))
		flags |= SVC4_F_L7;
	return flags;
}

__u32 kern_port_flags(const struct config *cfg, const struct route_table *rt, size_t i, size_t j)
{
	const struct service *svc = &cfg->services[i];

	return kern_svc_flags(svc, &svc->ports[j], rt && route_port_needs_l7(rt, i),
			      rt && route_port_needs_sni(rt, i, j));
}

/*
 * Whether connections to @sp are balanced by shunt at all (else kube-proxy's):
 * a Kubernetes service with a selector or with EndpointSlices, or a ServiceEntry (with resolution
 * NONE, its VIP entry says SVC4_F_PASSTHROUGH: the app's connection goes where
 * it asked, through the agent only for L7 rules).
 */
bool kern_balanced(const struct service *svc, const struct svc_port *sp)
{
	if (sp->protocol != IPPROTO_TCP)
		return false;
	return svc->se || svc->has_selector || svc->eps_from_slices;
}

/* Deletes every shunt_svc4_v2 entry that @cfg does not balance. Returns how many, or -errno. */
static int svc4_delete_stale(struct kern *k, const struct config *cfg)
{
	struct svc4_key key, *prev = NULL, *stale;
	size_t n_stale = 0;
	int n = 0;

	/* Walk first, delete after: deleting during get_next_key may restart the walk. */
	stale = calloc(k->max[KERN_MAP_SVC4], sizeof(*stale));
	if (!stale)
		return -ENOMEM;
	while (n_stale < k->max[KERN_MAP_SVC4] && !bpf_map_get_next_key(k->svc4_fd, prev, &key)) {
		const struct service *svc;
		const struct svc_port *sp =
			config_find_vip(cfg, (struct in_addr){key.vip}, key.port, key.proto, &svc);

		if (!sp || !kern_balanced(svc, sp)) /* found by its IPv4 VIP: it has one */
			stale[n_stale++] = key;
		prev = &key;
	}
	for (size_t i = 0; i < n_stale; i++)
		if (!bpf_map_delete_elem(k->svc4_fd, &stale[i]))
			n++;
	free(stale);
	return n;
}

int kern_be_delete_stale(const struct kern *k, int fd, const uint32_t *n_slots, size_t n_ids)
{
	struct be4_key key, *prev = NULL, *stale;
	size_t n_stale = 0;
	int n = 0;

	stale = calloc(k->max[KERN_MAP_BE4], sizeof(*stale));
	if (!stale)
		return -ENOMEM;
	while (n_stale < k->max[KERN_MAP_BE4] && !bpf_map_get_next_key(fd, prev, &key)) {
		if (key.svc_id >= n_ids || key.slot >= n_slots[key.svc_id])
			stale[n_stale++] = key;
		prev = &key;
	}
	for (size_t i = 0; i < n_stale; i++)
		if (!bpf_map_delete_elem(fd, &stale[i]))
			n++;
	free(stale);
	return n;
}

/* Stages slot @slot of service port @id, @be's address of @family (AF_INET: a be4_val, else a
 * be6_val), in k->staging: kern_last_commit() writes it. 0 or -ENOMEM. */
static int write_slot(struct kern *k, int family, uint32_t id, uint32_t slot,
		      const struct route_l4_backend *be)
{
	struct be4_val v4 = {.ip = be->ip.s_addr, .port = htons(be->port)};
	struct be6_val v6 = {.port = htons(be->port)};

	(void)id;
	(void)slot;
	if (!k || !k->staging) /* counting only */
		return 0;
	if (family == AF_INET)
		return kern_last_stage(k->staging, &v4);
	memcpy(v6.ip, &be->ip6, sizeof(v6.ip));
	return kern_last_stage(k->staging, &v6);
}

/* Whether @be has an address of @family. */
static bool has_family(const struct route_l4_backend *be, int family)
{
	return family == AF_INET ? be->ip.s_addr != 0 : be->has_ip6;
}

#define SLOTS_WEIGHTED	1000
#define L4_BACKENDS_FEW 64 /* a tcp route's backends that fit on the stack */

/* The weighted backends of port @j of service @i, in @few (L4_BACKENDS_FEW) or, when they are
 * more, a new array in *@many (freed by the caller). 0, -ENOENT (no tcp route applies), or
 * -ENOMEM/-ENOSPC. */
static int l4_backends(const struct route_table *rt, size_t i, size_t j,
		       struct route_l4_backend *few, struct route_l4_backend **many,
		       struct route_l4_backend **be, size_t *nb)
{
	int err;

	*many = NULL;
	*be = few;
	if (!rt)
		return -ENOENT;
	err = route_l4_backends(rt, i, j, few, L4_BACKENDS_FEW, nb);
	if (err != -ENOSPC)
		return err;
	*many = calloc(SHUNT_SLOTS_MAX, sizeof(**many));
	if (!*many)
		return -ENOMEM;
	*be = *many;
	return route_l4_backends(rt, i, j, *many, SHUNT_SLOTS_MAX, nb);
}

/* Stages the slots of weighted backends @be (@nb) for @family, each in as many of 1,000 slots
 * (SHUNT_SLOTS_MAX with more backends than that) as its weight's share. */
static int weighted_slots(struct kern *k, int family, uint32_t id,
			  const struct route_l4_backend *be, size_t nb, uint32_t *n)
{
	uint32_t slots = nb > SLOTS_WEIGHTED ? SHUNT_SLOTS_MAX : SLOTS_WEIGHTED;
	uint64_t total = 0;
	int err = 0;

	for (size_t b = 0; b < nb; b++)
		total += has_family(&be[b], family) ? be[b].weight : 0;
	for (size_t b = 0; b < nb && total && !err; b++) {
		uint64_t cnt = (be[b].weight * slots + total / 2) / total;

		for (uint64_t c = 0;
		     has_family(&be[b], family) && c < cnt && *n < SHUNT_SLOTS_MAX && !err; c++)
			err = write_slot(k, family, id, (*n)++, &be[b]);
	}
	return err;
}

int kern_write_slots(struct kern *k, int family, uint32_t id, const struct route_table *rt,
		     size_t i, size_t j, const struct svc_port *sp, uint32_t *n_out)
{
	struct route_l4_backend few[L4_BACKENDS_FEW], *many, *be;
	uint32_t n = 0;
	size_t nb = 0;
	int err = 0;

	if (!l4_backends(rt, i, j, few, &many, &be, &nb)) {
		err = weighted_slots(k, family, id, be, nb, &n);
	} else {
		/* Every ready endpoint once; one of the other family only is left out. */
		for (size_t s = 0; s < sp->n_ready && n < SHUNT_SLOTS_MAX && !err; s++) {
			const struct endpoint *e = &sp->eps[s];
			struct route_l4_backend one = {
				.ip = e->ip, .ip6 = e->ip6, .has_ip6 = e->has_ip6, .port = e->port};

			if (has_family(&one, family))
				err = write_slot(k, family, id, n++, &one);
		}
	}
	free(many);
	*n_out = n;
	return err;
}

/* " (full: raise --max-...)" when @err says map @m is full, else "": for error lines. */
const char *kern_full_hint(int err, enum kern_sized_map m)
{
	static const char *const hints[KERN_N_SIZED] = {
		" (the map is full: raise --max-services)",
		" (the map is full: raise --max-backends)",
		" (the map is full: raise --max-pairs)",
	};

	return err == -E2BIG ? hints[m] : "";
}

/* Warns when a map the agent fills is close to full, naming the flag that raises it. */
void kern_warn_fill(const struct kern *k, enum kern_sized_map m, const char *name, uint64_t entries)
{
	if (!kern_fill_high(entries, k->max[m]))
		return;
	log_warn("kern: %s is %.1f%% full (%llu/%u entries, warning above %d%%): raise it with "
		 "shuntd %s N before it fills up",
		 name, 100.0 * (double)entries / k->max[m], (unsigned long long)entries, k->max[m],
		 KERN_FILL_WARN_PCT, sized_flags[m]);
}

/* Writes the shunt_be4 slots and shunt_svc4_v2 entry of every IPv4 service port of @cfg, what
 * the last sync's record says the maps lack; counts in @out, each port's slots in
 * @n_slots[id]. 0 or -errno (logged). */
static int sync_ports4(struct kern *k, const struct config *cfg, const struct route_table *rt,
		       struct kern_last *next, uint32_t *n_slots, struct kern_sync *out)
{
	size_t flat = 0;
	int err = 0;

	for (size_t i = 0; i < cfg->n_services && !err; i++) {
		const struct service *svc = &cfg->services[i];

		for (size_t j = 0; j < svc->n_ports && !err; j++, flat++) {
			const struct svc_port *sp = &svc->ports[j];
			uint32_t id = kern_port_id(k, flat), first = (uint32_t)next->n_slots;
			struct svc4_val val = {.svc_id = id};
			enum kern_sized_map failed = KERN_MAP_BE4;
			struct svc4_key key;

			if (id == UINT32_MAX || !svc->cluster_ip.s_addr)
				continue;
			err = kern_write_slots(k, AF_INET, id, rt, i, j, sp, &n_slots[id]);
			val.n_slots = n_slots[id];
			out->slots += n_slots[id];
			val.flags = kern_port_flags(cfg, rt, i, j);
			if (val.flags & SVC4_F_L7)
				out->l7++;
			else
				out->direct++;
			svc4_key_of(&key, svc->cluster_ip, sp->port);
			/* Slots first, then the entry that counts them: connect4 never sees a
			 * count larger than the slots written. The id is this port's in both. */
			if (!err)
				err = kern_last_commit(k, k->svc4_fd, k->be4_fd, &k->last4, next,
						       id, &key, sizeof(key), &val, first, &failed);
			if (err)
				log_error("kern: cannot write %s/%s port %u to %s and %s: %s%s",
					  svc->namespace, svc->name, sp->port, SHUNT_MAP_BE4,
					  SHUNT_MAP_SVC4, strerror(-err),
					  kern_full_hint(err, failed));
		}
	}
	return err;
}

/* Deletes what the IPv4 maps hold and @cfg does not balance: by the last sync's record when it
 * is valid, else by walking them. */
static void delete_stale4(struct kern *k, const struct config *cfg, const struct kern_last *next,
			  const uint32_t *n_slots)
{
	int stale;

	if (k->last4.valid) {
		stale = kern_last_delete_stale(k, k->svc4_fd, k->be4_fd, &k->last4, next,
					       sizeof(struct svc4_key));
		if (stale > 0)
			log_info("kern: removed %d stale service entries and backend slots", stale);
		return;
	}
	stale = svc4_delete_stale(k, cfg);
	if (stale > 0)
		log_info("kern: removed %d stale service entries", stale);
	k->writes += stale > 0 ? (unsigned)stale : 0;
	stale = kern_be_delete_stale(k, k->be4_fd, n_slots, k->id_span);
	if (stale > 0)
		log_info("kern: removed %d stale backend slots", stale);
	k->writes += stale > 0 ? (unsigned)stale : 0;
}

int kern_sync_services(struct kern *k, const struct config *cfg, const struct route_table *rt,
		       struct kern_sync *out)
{
	uint64_t writes0 = k->writes;
	struct kern_last next;
	uint32_t *n_slots;
	int err;

	memset(out, 0, sizeof(*out));
	err = kern_ids_assign(k, cfg);
	if (!err)
		err = kern_scopes_assign(k, cfg);
	if (!err)
		err = kern_last_begin(&next, k->id_span, sizeof(struct be4_val));
	if (err)
		return err;
	n_slots = calloc(k->id_span + 1, sizeof(*n_slots));
	k->staging = &next;
	err = n_slots ? sync_ports4(k, cfg, rt, &next, n_slots, out) : -ENOMEM;
	k->staging = NULL;
	if (!err) {
		delete_stale4(k, cfg, &next, n_slots);
		/* Now the maps hold exactly what was written. */
		kern_warn_fill(k, KERN_MAP_SVC4, SHUNT_MAP_SVC4, (uint64_t)out->l7 + out->direct);
		kern_warn_fill(k, KERN_MAP_BE4, SHUNT_MAP_BE4, out->slots);
	}
	kern_last_install(&k->last4, &next, !err);
	if (!err)
		err = kern6_sync_services(k, cfg, rt, out);
	if (!err)
		err = kern_known_sync(k, cfg);
	if (!err)
		err = kern_ports_sync(k, cfg);
	if (!err)
		err = kern_scope_sync(k, cfg);
	if (!err)
		err = kern_binds_sync(k, cfg);
	free(n_slots);
	out->writes = k->writes - writes0;
	return err;
}

/* The pin of program link @i under the pin dir ("link_connect4", ...). */
static const char *const link_pins[KERN_N_LINKS] = {
	"link_release",	 "link_sockops",  "link_peername4", "link_peername6",
	"link_recvmsg4", "link_connect4", "link_connect6",  "link_sendmsg4"};

/*
 * Attaches @prog to the cgroup through a link pinned as @name, so that it
 * stays attached when the agent exits or dies: the kernel then balances
 * every connection itself (fail open) until an agent is back. A link an
 * earlier agent pinned on the same cgroup is adopted and given this agent's
 * program (an upgrade swaps the code in place, with no moment uncaptured);
 * one on another cgroup is removed.
 */
static int attach_one(struct kern *k, struct bpf_program *prog, int cgroup_fd, const char *name,
		      uint64_t cgroup_id)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);
	struct bpf_link *link;
	char path[PATH_MAX];
	int err;

	kern_pin_path(k, name, path);
	link = access(path, F_OK) ? NULL : bpf_link__open(path); /* none: no libbpf warning */
	if (link) {
		memset(&info, 0, sizeof(info));
		if (!bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len) &&
		    info.type == BPF_LINK_TYPE_CGROUP && info.cgroup.cgroup_id == cgroup_id &&
		    !bpf_link__update_program(link, prog)) {
			log_info("kern: adopted %s: %s attached since before this agent", path,
				 bpf_program__name(prog));
			k->links[k->n_links++] = link;
			return 0;
		}
		log_info("kern: %s belongs to another cgroup or program type: replacing it", path);
		bpf_link__unpin(link);
		bpf_link__destroy(link);
	}
	link = bpf_program__attach_cgroup(prog, cgroup_fd);
	if (!link) {
		err = -errno;
		log_error("kern: cannot attach %s: %s", bpf_program__name(prog), strerror(-err));
		return err;
	}
	err = bpf_link__pin(link, path);
	if (err) {
		log_error("kern: cannot pin %s: %s", path, strerror(-err));
		bpf_link__destroy(link);
		return err;
	}
	k->links[k->n_links++] = link;
	return 0;
}

/*
 * This agent's programs, in link_pins order. The release hook first, so that
 * the agent's death is seen from the first capture on; sockops and
 * getpeername next: by the time connect captures a socket, the programs that
 * complete the picture are already in place.
 */
static void progs_of(const struct kern *k, struct bpf_program *progs[KERN_N_LINKS])
{
	progs[0] = k->sa->progs.shunt_release;
	progs[1] = k->so->progs.shunt_sockops;
	progs[2] = k->sa->progs.shunt_peername4;
	progs[3] = k->sa->progs.shunt_peername6;
	progs[4] = k->sa->progs.shunt_recvmsg4;
	progs[5] = k->sa->progs.shunt_connect4;
	progs[6] = k->sa->progs.shunt_connect6;
	progs[7] = k->sa->progs.shunt_sendmsg4;
}

int kern_attach(struct kern *k, int cgroup_fd, int self_cgroup_fd)
{
	struct bpf_program *progs[KERN_N_LINKS];
	int err = 0;

	progs_of(k, progs);
	for (size_t i = 0; i < KERN_N_LINKS && !err; i++) {
		int fd = i ? cgroup_fd : self_cgroup_fd;
		struct stat st;

		/* On cgroup v2 a cgroup's id is its directory's inode number. */
		if (fstat(fd, &st))
			err = -errno;
		else
			err = attach_one(k, progs[i], fd, link_pins[i], st.st_ino);
	}
	if (!err)
		err = kern_fast_attach(k);
	if (err)
		kern_detach(k, true);
	else
		k->links_stale = false; /* every pinned link runs this agent's programs */
	return err;
}

/*
 * The links pinned in the pin dir that this agent did not attach or adopt:
 * with @unpin they are removed (the programs detached); otherwise, when a map
 * was recreated, they still run an earlier agent's programs on the old,
 * unpinned map, and get this agent's programs, which use the pinned maps. A
 * link that cannot be updated is removed: no program is left attached to a
 * map that is not the pinned one.
 */
static void links_settle(struct kern *k, bool unpin)
{
	struct bpf_program *progs[KERN_N_LINKS];
	struct bpf_link *link;
	char path[PATH_MAX];

	progs_of(k, progs);
	for (size_t i = 0; i < KERN_N_LINKS; i++) {
		kern_pin_path(k, link_pins[i], path);
		if (access(path, F_OK))
			continue; /* none: spare libbpf's warning */
		link = bpf_link__open(path);
		if (!link)
			continue;
		if (unpin) {
			bpf_link__unpin(link);
		} else if (bpf_link__update_program(link, progs[i])) {
			log_warn("kern: %s runs an earlier agent's program on a map no longer "
				 "pinned and cannot be updated (%s): removing it",
				 path, strerror(errno));
			bpf_link__unpin(link);
		} else {
			log_info("kern: %s now runs this agent's %s, on the resized maps", path,
				 bpf_program__name(progs[i]));
		}
		bpf_link__destroy(link);
	}
}

void kern_detach(struct kern *k, bool unpin)
{
	/* The agent is gone for the kernel first: new connections are balanced there. */
	kern_set_listener(k, NULL, k->cfg.skip_mark);
	/* Reverse order: stop capturing before the helpers go away. */
	while (k->n_links > 0) {
		struct bpf_link *link = k->links[--k->n_links];

		if (unpin)
			bpf_link__unpin(link);
		bpf_link__destroy(link); /* a pinned link stays attached */
	}
	kern_fast_detach(k, unpin);
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
	kern_detach(k, unpin);
	if (unpin || k->links_stale)
		links_settle(k, unpin);
	if (unpin)
		unpin_all(k);
	kern_fast_close(k);
	sockops_bpf__destroy(k->so);
	sock_addr_bpf__destroy(k->sa);
	close(k->lock_fd);
	free(k->pin_dir);
	free(k->port_ids);
	kern_scopes_free(k->scopes, k->n_scopes);
	kern_last_free(&k->last4);
	kern_last_free(&k->last6);
	for (int i = 0; i < KERN_N_SETS; i++)
		kern_set_last_free(&k->sets[i]);
	free(k);
}
