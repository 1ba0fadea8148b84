// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The loader against the real kernel: programs load, maps are pinned where
 * asked, shunt_svc4 follows the config (stale entries removed, live ones
 * never missing), a second agent adopts the pins, the 4-tuple index is
 * consumed by kern_orig_dst(). Needs root and bpffs; skips loudly without.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <cmocka.h>

#include <bpf/bpf.h>

#include "config.h"
#include "kern.h"
#include "log.h"
#include "route.h"
#include "sysfs.h"

static char pin_dir[80];
static char pin_base[64]; /* each test gets pin_base-N: a failed one leaves nothing in the way */
static unsigned pin_seq;

static const char two_services[] =
	"apiVersion: v1\n"
	"kind: Service\n"
	"metadata: {name: a, namespace: default}\n"
	"spec:\n"
	"  clusterIP: 10.96.0.10\n"
	"  selector: {app: a}\n"
	"  ports: [{port: 80, name: http}, {port: 53, name: dns, protocol: UDP}]\n"
	"---\n"
	"apiVersion: v1\n"
	"kind: Service\n"
	"metadata: {name: b, namespace: default}\n"
	"spec:\n"
	"  clusterIP: 10.96.0.11\n"
	"  selector: {app: b}\n"
	"  ports: [{port: 8080}]\n";

static const char one_service[] =
	"apiVersion: v1\n"
	"kind: Service\n"
	"metadata: {name: b, namespace: default}\n"
	"spec:\n"
	"  clusterIP: 10.96.0.11\n"
	"  selector: {app: b}\n"
	"  ports: [{port: 8080, name: http}, {port: 9090, name: metrics}]\n";

static struct config *load(const char *yaml)
{
	struct config *cfg = NULL;

	assert_int_equal(config_load_buf("test.yaml", yaml, strlen(yaml), &cfg), 0);
	return cfg;
}

static int map_fd(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	return bpf_obj_get(path);
}

static int svc4_fd(void)
{
	return map_fd(SHUNT_MAP_SVC4);
}

/* The shunt_svc4_v2 entry of @ip:@port in *@val; false when there is none. */
static bool get_svc(int fd, const char *ip, uint16_t port, struct svc4_val *val)
{
	struct svc4_key key = {.port = htons(port), .proto = IPPROTO_TCP};

	inet_pton(AF_INET, ip, &key.vip);
	return !bpf_map_lookup_elem(fd, &key, val);
}

/* Whether @ip:@port goes to the agent (an L7 entry); *@svc_id gets its id. */
static bool has_vip(int fd, const char *ip, uint16_t port, uint32_t *svc_id)
{
	struct svc4_val val;

	if (!get_svc(fd, ip, port, &val))
		return false;
	if (svc_id)
		*svc_id = val.svc_id;
	return val.flags & SVC4_F_L7;
}

static int count_entries(int fd, size_t key_size)
{
	char key[16], prev[16];
	int n = 0;

	while (n < 1000 && !bpf_map_get_next_key(fd, n ? prev : NULL, key)) {
		memcpy(prev, key, key_size);
		n++;
	}
	return n;
}

/* kern_sync_services() with @cfg's route table, as the agent calls it. */
static struct kern_sync sync_cfg(struct kern *k, const struct config *cfg)
{
	struct route_table *rt;
	struct kern_sync out;

	assert_int_equal(route_table_build(cfg, &rt), 0);
	assert_int_equal(kern_sync_services(k, cfg, rt, &out), 0);
	route_table_free(rt);
	return out;
}

/* "ip:port" of backend slot @slot of service port @id, or "-". */
static const char *slot(int fd, uint32_t id, uint32_t slot)
{
	static char buf[32];
	struct be4_key key = {.svc_id = id, .slot = slot};
	struct be4_val val;
	char ip[INET_ADDRSTRLEN];

	if (bpf_map_lookup_elem(fd, &key, &val))
		return "-";
	inet_ntop(AF_INET, &val.ip, ip, sizeof(ip));
	snprintf(buf, sizeof(buf), "%s:%u", ip, ntohs(val.port));
	return buf;
}

static const char pods_b[] = "---\n"
			     "apiVersion: v1\n"
			     "kind: Pod\n"
			     "metadata: {name: b1, namespace: default, labels: {app: b}}\n"
			     "status: {podIP: 10.77.0.21}\n"
			     "---\n"
			     "apiVersion: v1\n"
			     "kind: Pod\n"
			     "metadata: {name: b2, namespace: default, labels: {app: b}}\n"
			     "status: {podIP: 10.77.0.22}\n";

static void services_follow_config_and_stale_go(void **state)
{
	char *y1, *y2;
	struct config *c1, *c2;
	struct svc4_val val;
	struct kern_sync ks;
	struct kern *k;
	uint32_t id;
	int fd, be;

	assert_true(asprintf(&y1, "%s%s", two_services, pods_b) > 0);
	assert_true(asprintf(&y2, "%s", one_service) > 0);
	c1 = load(y1);
	c2 = load(y2);
	assert_int_equal(kern_open(pin_dir, NULL, &k), 0);
	/* Every TCP port of a selected service is balanced; UDP never. No rule needs L7. */
	ks = sync_cfg(k, c1);
	assert_int_equal(ks.l7, 0);
	assert_int_equal(ks.direct, 2);
	fd = svc4_fd();
	be = map_fd(SHUNT_MAP_BE4);
	assert_true(fd >= 0 && be >= 0);
	assert_false(has_vip(fd, "10.96.0.10", 80, &id));
	assert_int_equal(id, 0);
	assert_true(get_svc(fd, "10.96.0.10", 80, &val));
	assert_int_equal(val.n_slots, 0); /* no pod: refused at connect() */
	assert_true(get_svc(fd, "10.96.0.11", 8080, &val));
	assert_int_equal(val.svc_id, 1); /* ids count the ports the kernel balances, not UDP */
	assert_int_equal(val.n_slots, 2);
	assert_string_equal(slot(be, 1, 0), "10.77.0.21:8080");
	assert_string_equal(slot(be, 1, 1), "10.77.0.22:8080");
	assert_false(get_svc(fd, "10.96.0.10", 53, &val));
	assert_int_equal(count_entries(fd, sizeof(struct svc4_key)), 2);
	assert_int_equal(count_entries(be, sizeof(struct be4_key)), 2);

	/* b's pods are gone and a moved: its slots go, the stale service goes. */
	ks = sync_cfg(k, c2);
	assert_int_equal(ks.direct, 2);
	assert_false(get_svc(fd, "10.96.0.10", 80, &val));
	assert_true(get_svc(fd, "10.96.0.11", 8080, &val));
	/* b is now the first service and keeps its id: a reload never moves an id from one
	 * port to another while connect4 may read it. The new port takes an unused one. */
	assert_int_equal(val.svc_id, 1);
	assert_int_equal(val.n_slots, 0);
	assert_true(get_svc(fd, "10.96.0.11", 9090, &val));
	assert_int_equal(val.svc_id, 2); /* not 0: a's stale entry held 0 until this sync */
	assert_int_equal(count_entries(fd, sizeof(struct svc4_key)), 2);
	assert_int_equal(count_entries(be, sizeof(struct be4_key)), 0);

	close(fd);
	close(be);
	kern_close(k, true);
	config_free(c1);
	config_free(c2);
	free(y1);
	free(y2);
}

static void only_ports_l7_rules_need_go_to_the_agent(void **state)
{
	static const char yaml[] =
		"apiVersion: v1\n"
		"kind: Service\n"
		"metadata: {name: db, namespace: default}\n"
		"spec:\n"
		"  clusterIP: 10.96.0.20\n"
		"  selector: {app: db}\n"
		"  ports:\n"
		"  - {port: 8080, name: http-api}\n"
		"  - {port: 5432, name: tcp-postgres}\n"
		"  - {port: 9090, name: grpc-web}\n"
		"  - {port: 9091, name: httpish}\n"
		"---\n"
		"apiVersion: v1\n"
		"kind: Service\n"
		"metadata: {name: plain, namespace: default}\n"
		"spec:\n"
		"  clusterIP: 10.96.0.22\n"
		"  selector: {app: plain}\n"
		"  ports: [{port: 80, name: http}]\n"
		"---\n"
		"apiVersion: v1\n"
		"kind: Service\n"
		"metadata: {name: od, namespace: default}\n"
		"spec:\n"
		"  clusterIP: 10.96.0.23\n"
		"  selector: {app: od}\n"
		"  ports: [{port: 80, name: http}]\n"
		"---\n"
		"apiVersion: v1\n"
		"kind: Service\n"
		"metadata: {name: manual, namespace: default}\n"
		"spec:\n"
		"  clusterIP: 10.96.0.21\n"
		"  ports: [{port: 80, name: http}]\n"
		"---\n"
		"apiVersion: networking.istio.io/v1\n"
		"kind: VirtualService\n"
		"metadata: {name: db, namespace: default}\n"
		"spec:\n"
		"  hosts: [db]\n"
		"  http: [{route: [{destination: {host: db}}]}]\n"
		"---\n"
		"apiVersion: networking.istio.io/v1\n"
		"kind: DestinationRule\n"
		"metadata: {name: od, namespace: default}\n"
		"spec:\n"
		"  host: od\n"
		"  trafficPolicy: {outlierDetection: {consecutive5xxErrors: 3}}\n";
	struct config *cfg = load(yaml);
	struct svc4_val val;
	struct kern_sync ks;
	struct kern *k;
	int fd;

	assert_int_equal(kern_open(pin_dir, NULL, &k), 0);
	ks = sync_cfg(k, cfg);
	/* db http-api and httpish (no known protocol prefix: taken as HTTP) have http rules; od
	 * has a DestinationRule that needs requests. */
	assert_int_equal(ks.l7, 3);
	assert_int_equal(ks.direct, 3);
	fd = svc4_fd();
	assert_true(fd >= 0);
	assert_true(has_vip(fd, "10.96.0.20", 8080, NULL));
	assert_true(has_vip(fd, "10.96.0.20", 9091, NULL));
	assert_true(has_vip(fd, "10.96.0.23", 80, NULL));
	/* Declared TCP, or HTTP/2: the agent speaks HTTP/1.1 only; the kernel balances them. */
	assert_true(get_svc(fd, "10.96.0.20", 5432, &val) && !(val.flags & SVC4_F_L7));
	assert_true(get_svc(fd, "10.96.0.20", 9090, &val) && !(val.flags & SVC4_F_L7));
	/* No rule at all: no hop through the agent. */
	assert_true(get_svc(fd, "10.96.0.22", 80, &val) && !(val.flags & SVC4_F_L7));
	assert_false(get_svc(fd, "10.96.0.21", 80, &val)); /* no selector: endpoints unknown */
	close(fd);
	kern_close(k, true);
	config_free(cfg);
}

/* A VirtualService tcp route's weights become backend slots: the kernel's split. */
static void tcp_route_weights_become_slots(void **state)
{
	static const char yaml[] =
		"apiVersion: v1\n"
		"kind: Service\n"
		"metadata: {name: echo, namespace: default}\n"
		"spec:\n"
		"  clusterIP: 10.96.0.30\n"
		"  selector: {app: echo}\n"
		"  ports: [{port: 9000, name: tcp-echo}]\n"
		"---\n"
		"apiVersion: v1\n"
		"kind: Pod\n"
		"metadata: {name: e1, namespace: default, labels: {app: echo, version: v1}}\n"
		"status: {podIP: 10.77.0.31}\n"
		"---\n"
		"apiVersion: v1\n"
		"kind: Pod\n"
		"metadata: {name: e2a, namespace: default, labels: {app: echo, version: v2}}\n"
		"status: {podIP: 10.77.0.32}\n"
		"---\n"
		"apiVersion: v1\n"
		"kind: Pod\n"
		"metadata: {name: e2b, namespace: default, labels: {app: echo, version: v2}}\n"
		"status: {podIP: 10.77.0.33}\n"
		"---\n"
		"apiVersion: networking.istio.io/v1\n"
		"kind: DestinationRule\n"
		"metadata: {name: echo, namespace: default}\n"
		"spec:\n"
		"  host: echo\n"
		"  subsets:\n"
		"  - {name: v1, labels: {version: v1}}\n"
		"  - {name: v2, labels: {version: v2}}\n"
		"---\n"
		"apiVersion: networking.istio.io/v1\n"
		"kind: VirtualService\n"
		"metadata: {name: echo, namespace: default}\n"
		"spec:\n"
		"  hosts: [echo]\n"
		"  tcp:\n"
		"  - match: [{port: 9000}]\n"
		"    route:\n"
		"    - {destination: {host: echo, subset: v1}, weight: 80}\n"
		"    - {destination: {host: echo, subset: v2}, weight: 20}\n";
	struct config *cfg = load(yaml);
	struct svc4_val val;
	struct kern_sync ks;
	struct kern *k;
	int fd, be, v1 = 0, v2a = 0, v2b = 0;

	assert_int_equal(kern_open(pin_dir, NULL, &k), 0);
	ks = sync_cfg(k, cfg);
	assert_int_equal(ks.l7, 0); /* tcp routes only: the kernel's job */
	fd = svc4_fd();
	be = map_fd(SHUNT_MAP_BE4);
	assert_true(get_svc(fd, "10.96.0.30", 9000, &val));
	assert_int_equal(val.n_slots, 1000);
	for (uint32_t i = 0; i < val.n_slots; i++) {
		const char *b = slot(be, val.svc_id, i);

		v1 += !strcmp(b, "10.77.0.31:9000");
		v2a += !strcmp(b, "10.77.0.32:9000");
		v2b += !strcmp(b, "10.77.0.33:9000");
	}
	assert_int_equal(v1, 800);
	assert_int_equal(v2a, 100);
	assert_int_equal(v2b, 100);
	close(fd);
	close(be);
	kern_close(k, true);
	config_free(cfg);
}

static const char three_services_reordered[] = "apiVersion: v1\n"
					       "kind: Service\n"
					       "metadata: {name: c, namespace: default}\n"
					       "spec:\n"
					       "  clusterIP: 10.96.0.12\n"
					       "  selector: {app: c}\n"
					       "  ports: [{port: 80}]\n"
					       "---\n"
					       "apiVersion: v1\n"
					       "kind: Service\n"
					       "metadata: {name: b, namespace: default}\n"
					       "spec:\n"
					       "  clusterIP: 10.96.0.11\n"
					       "  selector: {app: b}\n"
					       "  ports: [{port: 8080}]\n"
					       "---\n"
					       "apiVersion: v1\n"
					       "kind: Service\n"
					       "metadata: {name: a, namespace: default}\n"
					       "spec:\n"
					       "  clusterIP: 10.96.0.10\n"
					       "  selector: {app: a}\n"
					       "  ports: [{port: 80, name: http}]\n";

/* The id of @ip:@port in shunt_svc4_v2 (fails the test when it has none). */
static uint32_t id_of(int fd, const char *ip, uint16_t port)
{
	struct svc4_val val;

	assert_true(get_svc(fd, ip, port, &val));
	return val.svc_id;
}

/*
 * A reload that adds a service in front of the others and reorders them, and
 * a restart of the agent on the same pins: every port keeps its svc_id, so
 * connect4 never pairs one service's entry with another's slots.
 */
static void ids_survive_reload_reorder_and_restart(void **state)
{
	struct config *c1 = load(two_services), *c2 = load(three_services_reordered);
	uint32_t a, b, c;
	struct kern *k;
	int fd;

	assert_int_equal(kern_open(pin_dir, NULL, &k), 0);
	sync_cfg(k, c1);
	fd = svc4_fd();
	a = id_of(fd, "10.96.0.10", 80);
	b = id_of(fd, "10.96.0.11", 8080);
	assert_int_not_equal(a, b);
	sync_cfg(k, c2);
	assert_int_equal(id_of(fd, "10.96.0.10", 80), a);
	assert_int_equal(id_of(fd, "10.96.0.11", 8080), b);
	c = id_of(fd, "10.96.0.12", 80);
	assert_true(c != a && c != b);
	kern_close(k, false);

	assert_int_equal(kern_open(pin_dir, NULL, &k), 0); /* a new agent, the same maps */
	sync_cfg(k, c2);
	assert_int_equal(id_of(fd, "10.96.0.10", 80), a);
	assert_int_equal(id_of(fd, "10.96.0.11", 8080), b);
	assert_int_equal(id_of(fd, "10.96.0.12", 80), c);
	/* Back to the first config: c's entry goes, and its id with it. */
	sync_cfg(k, c1);
	assert_false(get_svc(fd, "10.96.0.12", 80, &(struct svc4_val){0}));
	assert_int_equal(id_of(fd, "10.96.0.11", 8080), b);
	close(fd);
	kern_close(k, true);
	config_free(c1);
	config_free(c2);
}

/*
 * A sync writes only what differs from the last one: nothing for an unchanged config; for a pod
 * added, its slot and then the entry counting it; for a pod gone, the entry and then a delete of
 * the slot. A new agent knows nothing of the last sync: it writes everything once.
 */
static void unchanged_resync_writes_nothing(void **state)
{
	static const char pod_b3[] = "---\napiVersion: v1\nkind: Pod\n"
				     "metadata: {name: b3, namespace: default, labels: {app: b}}\n"
				     "status: {podIP: 10.77.0.23}\n";
	char *y1, *y2;
	struct config *c1, *c2;
	struct svc4_val val;
	struct kern_sync ks;
	struct kern *k;
	int fd, be;

	assert_true(asprintf(&y1, "%s%s", two_services, pods_b) > 0);
	assert_true(asprintf(&y2, "%s%s%s", two_services, pods_b, pod_b3) > 0);
	c1 = load(y1);
	c2 = load(y2);
	assert_int_equal(kern_open(pin_dir, NULL, &k), 0);
	ks = sync_cfg(k, c1);
	assert_int_equal(ks.writes, 2 + 2); /* two entries, two slots */
	ks = sync_cfg(k, c1);
	assert_int_equal(ks.writes, 0);
	assert_int_equal(ks.slots, 2);
	fd = svc4_fd();
	be = map_fd(SHUNT_MAP_BE4);
	assert_true(get_svc(fd, "10.96.0.11", 8080, &val));
	assert_int_equal(val.n_slots, 2);

	ks = sync_cfg(k, c2); /* b3 added: its slot, then the entry counting it */
	assert_int_equal(ks.writes, 2);
	assert_true(get_svc(fd, "10.96.0.11", 8080, &val));
	assert_int_equal(val.n_slots, 3);
	assert_string_equal(slot(be, val.svc_id, 2), "10.77.0.23:8080");
	assert_int_equal(sync_cfg(k, c2).writes, 0);

	ks = sync_cfg(k, c1); /* b3 gone: the entry, then the slot deleted */
	assert_int_equal(ks.writes, 2);
	assert_true(get_svc(fd, "10.96.0.11", 8080, &val));
	assert_int_equal(val.n_slots, 2);
	assert_string_equal(slot(be, val.svc_id, 2), "-");
	assert_int_equal(count_entries(be, sizeof(struct be4_key)), 2);
	kern_close(k, false);

	/* A new agent on the same maps writes everything once, then nothing. */
	assert_int_equal(kern_open(pin_dir, NULL, &k), 0);
	assert_int_equal(sync_cfg(k, c1).writes, 4);
	assert_int_equal(sync_cfg(k, c1).writes, 0);
	assert_int_equal(count_entries(fd, sizeof(struct svc4_key)), 2);
	assert_int_equal(count_entries(be, sizeof(struct be4_key)), 2);
	close(fd);
	close(be);
	kern_close(k, true);
	config_free(c1);
	config_free(c2);
	free(y1);
	free(y2);
}

static void a_second_agent_on_the_same_pin_dir_is_refused(void **state)
{
	struct kern *k1, *k2 = NULL;

	assert_int_equal(kern_open(pin_dir, NULL, &k1), 0);
	assert_int_equal(kern_open(pin_dir, NULL, &k2), -EBUSY);
	assert_null(k2);
	kern_close(k1, false);
	assert_int_equal(kern_open(pin_dir, NULL, &k2), 0); /* free again once the first is gone */
	kern_close(k2, true);
}

static void second_agent_adopts_pins_and_reconciles(void **state)
{
	struct config *c1 = load(two_services), *c2 = load(one_service);
	struct kern *k1, *k2;
	int fd;

	struct svc4_val val;

	assert_int_equal(kern_open(pin_dir, NULL, &k1), 0);
	sync_cfg(k1, c1);
	kern_close(k1, false); /* an agent that exits leaves its maps */

	fd = svc4_fd();
	assert_true(fd >= 0);
	assert_true(get_svc(fd, "10.96.0.10", 80, &val));

	assert_int_equal(kern_open(pin_dir, NULL, &k2), 0);
	sync_cfg(k2, c2);
	/* Same pinned map: the fd taken before the restart sees the new content. */
	assert_false(get_svc(fd, "10.96.0.10", 80, &val));
	assert_true(get_svc(fd, "10.96.0.11", 9090, &val));
	close(fd);
	kern_close(k2, true);

	struct stat st;
	assert_int_equal(stat(pin_dir, &st), -1);
	config_free(c1);
	config_free(c2);
}

static void orig_dst_is_taken_once(void **state)
{
	struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000)};
	struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons(15001)};
	struct pair4_key key = {.client_port = htons(40000), .server_port = htons(15001)};
	struct orig4 val = {.port = htons(3000), .svc_id = 7}, got;
	char path[128];
	struct kern *k;
	int fd;

	inet_pton(AF_INET, "10.77.0.10", &peer.sin_addr);
	inet_pton(AF_INET, "10.77.0.1", &local.sin_addr);
	key.client_ip = peer.sin_addr.s_addr;
	key.server_ip = local.sin_addr.s_addr;
	inet_pton(AF_INET, "10.96.77.10", &val.ip);

	assert_int_equal(kern_open(pin_dir, NULL, &k), 0);
	snprintf(path, sizeof(path), "%s/%s", pin_dir, SHUNT_MAP_PAIR4);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(bpf_map_update_elem(fd, &key, &val, BPF_ANY), 0);

	assert_int_equal(kern_orig_dst(k, &peer, &local, &got), 0);
	assert_int_equal(got.ip, val.ip);
	assert_int_equal(ntohs(got.port), 3000);
	assert_int_equal(got.svc_id, 7);
	assert_int_equal(kern_orig_dst(k, &peer, &local, &got), -ENOENT);
	close(fd);
	kern_close(k, true);
}

/* How many programs of @type are attached to the cgroup @fd. */
static int attached(int fd, enum bpf_attach_type type)
{
	__u32 ids[8], n = 8;

	if (bpf_prog_query(fd, type, 0, NULL, ids, &n))
		return -1;
	return (int)n;
}

static void links_outlive_the_agent_and_are_adopted(void **state)
{
	char mnt[256], cg[320], path[400];
	struct kern *k1, *k2;
	struct stat st;
	int cfd;

	assert_int_equal(cgroup2_mount_path(mnt, sizeof(mnt)), 0);
	snprintf(cg, sizeof(cg), "%s/shunt-unit-%d", mnt, (int)getpid());
	assert_int_equal(mkdir(cg, 0755), 0);
	cfd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(cfd >= 0);

	assert_int_equal(kern_open(pin_dir, NULL, &k1), 0);
	assert_int_equal(kern_attach(k1, cfd, cfd), 0);
	snprintf(path, sizeof(path), "%s/link_connect4", pin_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(attached(cfd, BPF_CGROUP_INET4_CONNECT), 1);
	/* The agent exits (or dies): the programs stay, the kernel balances on its own. */
	kern_close(k1, false);
	assert_int_equal(attached(cfd, BPF_CGROUP_INET4_CONNECT), 1);
	assert_int_equal(attached(cfd, BPF_CGROUP_SOCK_OPS), 1);
	/* The next agent adopts them: still one of each, not two. */
	assert_int_equal(kern_open(pin_dir, NULL, &k2), 0);
	assert_int_equal(kern_attach(k2, cfd, cfd), 0);
	assert_int_equal(attached(cfd, BPF_CGROUP_INET4_CONNECT), 1);
	assert_int_equal(attached(cfd, BPF_CGROUP_INET_SOCK_RELEASE), 1);
	assert_int_equal(attached(cfd, BPF_CGROUP_INET4_GETPEERNAME), 1);
	assert_int_equal(attached(cfd, BPF_CGROUP_SOCK_OPS), 1);
	/* Leaving for good (--unpin-on-exit) detaches them. */
	kern_close(k2, true);
	assert_int_equal(attached(cfd, BPF_CGROUP_INET4_CONNECT), 0);
	assert_int_equal(attached(cfd, BPF_CGROUP_INET_SOCK_RELEASE), 0);
	assert_int_equal(attached(cfd, BPF_CGROUP_SOCK_OPS), 0);
	close(cfd);
	assert_int_equal(rmdir(cg), 0);
}

/* shunt_cfg_v2's flags now. */
static unsigned cfg_flags(void)
{
	struct shunt_cfg cfg;
	__u32 key = 0;
	int fd = map_fd(SHUNT_MAP_CFG);

	assert_true(fd >= 0);
	assert_int_equal(bpf_map_lookup_elem(fd, &key, &cfg), 0);
	close(fd);
	return cfg.flags;
}

/* How many sk_msg programs are attached to shunt_sock4 (-1: cannot tell). */
static int msg_progs(void)
{
	__u32 ids[4], n = 4;
	int fd = map_fd(SHUNT_MAP_SOCK4), err;

	assert_true(fd >= 0);
	err = bpf_prog_query(fd, BPF_SK_MSG_VERDICT, 0, NULL, ids, &n);
	close(fd);
	return err ? -1 : (int)n;
}

/*
 * msg_progs() once it is @want, waiting up to a second: the kernel releases a
 * link whose last reference went from a workqueue, a moment after the close.
 */
static int msg_progs_settled(int want)
{
	int n = msg_progs();

	for (int i = 0; i < 100 && n != want; i++) {
		usleep(10 * 1000);
		n = msg_progs();
	}
	return n;
}

/* An established loopback TCP connection: its client end in *@cli, the server's in *@srv. */
static void tcp_pair(int *cli, int *srv)
{
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(addr);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&addr, &alen), 0);
	*cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*cli >= 0);
	assert_int_equal(connect(*cli, (struct sockaddr *)&addr, sizeof(addr)), 0);
	*srv = accept(lfd, NULL, NULL);
	assert_true(*srv >= 0);
	close(lfd);
}

/*
 * --fast-path on attaches shunt_msg to shunt_sock4 through a pinned link and
 * lets sockops index (the flag); the next agent with it on adopts the link;
 * one with it off removes the link and takes every socket out of the map.
 */
static void fast_path_switch_follows_the_agent(void **state)
{
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				   .sin_port = htons(15001)};
	struct kern_opts on = {.fast_path = true}, off = {.fast_path = false};
	char mnt[256], cg[320], path[400];
	struct sock4_key key = {.local_port = htons(1)};
	int cfd, sfd, cli, srv;
	__u64 fd64;
	struct kern *k;

	assert_int_equal(cgroup2_mount_path(mnt, sizeof(mnt)), 0);
	snprintf(cg, sizeof(cg), "%s/shunt-unit-fast-%d", mnt, (int)getpid());
	assert_int_equal(mkdir(cg, 0755), 0);
	cfd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(cfd >= 0);
	snprintf(path, sizeof(path), "%s/link_skmsg", pin_dir);

	assert_int_equal(kern_open(pin_dir, &on, &k), 0);
	assert_int_equal(kern_set_listener(k, &addr, SHUNT_DEFAULT_MARK), 0);
	assert_int_equal(kern_attach(k, cfd, cfd), 0);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(msg_progs(), 1);
	assert_true(cfg_flags() & CFG_F_FAST_PATH);
	/* Exit: no agent socket to redirect to, so no indexing; the link stays pinned. */
	kern_close(k, false);
	assert_int_equal(cfg_flags() & CFG_F_FAST_PATH, 0);
	assert_int_equal(msg_progs(), 1);

	assert_int_equal(kern_open(pin_dir, &on, &k), 0);
	assert_int_equal(kern_set_listener(k, &addr, SHUNT_DEFAULT_MARK), 0);
	assert_int_equal(kern_attach(k, cfd, cfd), 0);
	assert_int_equal(msg_progs(), 1); /* adopted, not a second one */
	/* A socket of this agent's time, as sockops would have put it there. */
	tcp_pair(&cli, &srv);
	sfd = map_fd(SHUNT_MAP_SOCK4);
	assert_true(sfd >= 0);
	fd64 = (__u64)cli;
	assert_int_equal(bpf_map_update_elem(sfd, &key, &fd64, BPF_ANY), 0);
	assert_int_equal(count_entries(sfd, sizeof(key)), 1);
	kern_close(k, false);

	/* Off: the link goes, and so does every socket of the map. */
	assert_int_equal(kern_open(pin_dir, &off, &k), 0);
	assert_int_equal(kern_set_listener(k, &addr, SHUNT_DEFAULT_MARK), 0);
	assert_int_equal(kern_attach(k, cfd, cfd), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(msg_progs_settled(0), 0);
	assert_int_equal(cfg_flags() & CFG_F_FAST_PATH, 0);
	assert_int_equal(count_entries(sfd, sizeof(key)), 0);
	/* The connection itself is untouched, and works as TCP. */
	assert_int_equal(write(cli, "x", 1), 1);
	assert_int_equal(read(srv, &fd64, 1), 1);
	kern_close(k, true);
	close(sfd);
	close(cli);
	close(srv);
	close(cfd);
	assert_int_equal(rmdir(cg), 0);
}

/* The heartbeat shunt_cfg_v2 holds now. */
static uint64_t heartbeat(void)
{
	struct shunt_cfg cfg;
	__u32 key = 0;
	int fd = map_fd(SHUNT_MAP_CFG);

	assert_true(fd >= 0);
	assert_int_equal(bpf_map_lookup_elem(fd, &key, &cfg), 0);
	close(fd);
	return cfg.heartbeat_ns;
}

/* The agent's listener closing (exit, kill -9) voids its heartbeat at once: fail open. */
static void closed_listener_voids_the_heartbeat(void **state)
{
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(addr);
	char self[512];
	struct kern *k;
	int cfd, lfd, one = 1;

	cfd = cgroup_open_self(self, sizeof(self));
	assert_true(cfd >= 0);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&addr, &alen), 0);

	assert_int_equal(kern_open(pin_dir, NULL, &k), 0);
	assert_int_equal(kern_set_listener(k, &addr, 0), 0);
	assert_int_equal(kern_add_listener(k, lfd), 0);
	/* The mesh cgroup does not matter here: this process's own cgroup is both. */
	assert_int_equal(kern_attach(k, cfd, cfd), 0);
	assert_int_equal(kern_heartbeat(k, true), 0);
	assert_true(heartbeat() != 0);
	close(lfd);
	assert_int_equal(heartbeat(), 0);
	kern_close(k, true);
	close(cfd);
}

/* stderr, where log.c writes, goes to a temporary file between these two calls. */
static FILE *captured;
static int saved_stderr = -1;

static void capture_begin(void)
{
	fflush(stderr);
	captured = tmpfile();
	assert_non_null(captured);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_true(dup2(fileno(captured), STDERR_FILENO) >= 0);
}

/* What was logged since capture_begin() (a static buffer); stderr is back. */
static const char *capture_end(void)
{
	static char buf[16384];
	size_t n;

	fflush(stderr);
	assert_true(dup2(saved_stderr, STDERR_FILENO) >= 0);
	close(saved_stderr);
	rewind(captured);
	n = fread(buf, 1, sizeof(buf) - 1, captured);
	buf[n] = '\0';
	fclose(captured);
	fputs(buf, stderr); /* still shown, for whoever reads the test's output */
	return buf;
}

/* The max_entries of the map pinned as @name (0: none). */
static __u32 pinned_max(const char *name)
{
	struct bpf_map_info info = {0};
	__u32 len = sizeof(info);
	int fd = map_fd(name);

	if (fd < 0)
		return 0;
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	return info.max_entries;
}

/* The kernel's id of the map behind @fd. */
static __u32 map_id(int fd)
{
	struct bpf_map_info info = {0};
	__u32 len = sizeof(info);

	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	return info.id;
}

static void fill_warning_is_above_80_percent(void **state)
{
	assert_false(kern_fill_high(0, 0));
	assert_false(kern_fill_high(4, 5)); /* 80% is not above it */
	assert_true(kern_fill_high(5, 5));
	assert_false(kern_fill_high(80, 100));
	assert_true(kern_fill_high(81, 100));
	assert_true(kern_fill_high(52429, SHUNT_SVC4_MAX));
	assert_false(kern_fill_high(52428, SHUNT_SVC4_MAX));
}

/* Service "w" with ports 80.. (@n_ports of them) and one pod: @n_ports entries and slots. */
static struct config *ports_service(int n_ports)
{
	char ports[256] = "", *yaml;
	struct config *cfg;
	size_t off = 0;

	for (int i = 0; i < n_ports; i++)
		off += (size_t)snprintf(ports + off, sizeof(ports) - off, "%s{port: %d, name: p%d}",
					i ? ", " : "", 80 + i, i);
	assert_true(asprintf(&yaml,
			     "apiVersion: v1\n"
			     "kind: Service\n"
			     "metadata: {name: w, namespace: default}\n"
			     "spec:\n"
			     "  clusterIP: 10.96.0.40\n"
			     "  selector: {app: w}\n"
			     "  ports: [%s]\n"
			     "---\n"
			     "apiVersion: v1\n"
			     "kind: Pod\n"
			     "metadata: {name: w1, namespace: default, labels: {app: w}}\n"
			     "status: {podIP: 10.77.0.41}\n",
			     ports) > 0);
	cfg = load(yaml);
	free(yaml);
	return cfg;
}

static void small_maps_warn_before_they_are_full(void **state)
{
	struct kern_opts opts = {.max_entries = {[KERN_MAP_SVC4] = 5, [KERN_MAP_BE4] = 5}};
	struct config *c4 = ports_service(4), *c5 = ports_service(5), *c6 = ports_service(6);
	struct route_table *rt;
	struct kern_sync ks;
	const char *log;
	struct kern *k;

	assert_int_equal(kern_open(pin_dir, &opts, &k), 0);
	assert_int_equal(pinned_max(SHUNT_MAP_SVC4), 5);
	assert_int_equal(pinned_max(SHUNT_MAP_BE4), 5);
	assert_int_equal(pinned_max(SHUNT_MAP_PAIR4), SHUNT_PAIR4_MAX); /* not asked: default */

	/* 4 of 5 is 80%: not above it, no warning. */
	capture_begin();
	ks = sync_cfg(k, c4);
	log = capture_end();
	assert_int_equal(ks.direct, 4);
	assert_int_equal(ks.slots, 4);
	assert_null(strstr(log, "full"));

	/* 5 of 5: both maps warn, each naming its flag. */
	capture_begin();
	ks = sync_cfg(k, c5);
	log = capture_end();
	assert_int_equal(ks.slots, 5);
	assert_non_null(strstr(log, "shunt_svc4_v2 is 100.0% full (5/5 entries"));
	assert_non_null(strstr(log, "raise it with shuntd --max-services N"));
	assert_non_null(strstr(log, "shunt_be4 is 100.0% full (5/5 entries"));
	assert_non_null(strstr(log, "raise it with shuntd --max-backends N"));

	/* One more: the kernel refuses the sixth slot, and the error says which flag. */
	assert_int_equal(route_table_build(c6, &rt), 0);
	capture_begin();
	assert_int_equal(kern_sync_services(k, c6, rt, &ks), -E2BIG);
	log = capture_end();
	assert_non_null(strstr(log, "the map is full: raise --max-backends"));
	route_table_free(rt);

	kern_close(k, true);
	config_free(c4);
	config_free(c5);
	config_free(c6);
}

/* A restart with other --max-* sizes: the pins are recreated and the agent fills them again. */
static void resized_maps_are_recreated_and_rewritten(void **state)
{
	struct kern_opts small = {.max_entries = {[KERN_MAP_SVC4] = 8, [KERN_MAP_PAIR4] = 16}};
	struct kern_opts huge = {.max_entries = {[KERN_MAP_SVC4] = 0x7fffffff}};
	char *yaml;
	struct config *cfg;
	struct svc4_val val;
	struct kern *k;
	const char *log;
	int old, fd, be;
	__u32 be_id;

	assert_true(asprintf(&yaml, "%s%s", two_services, pods_b) > 0);
	cfg = load(yaml);
	assert_int_equal(kern_open(pin_dir, NULL, &k), 0);
	sync_cfg(k, cfg);
	kern_close(k, false);
	old = svc4_fd();
	be = map_fd(SHUNT_MAP_BE4);
	assert_true(old >= 0 && be >= 0);
	be_id = map_id(be);

	capture_begin();
	assert_int_equal(kern_open(pin_dir, &small, &k), 0);
	log = capture_end();
	assert_non_null(strstr(log, "shunt_svc4_v2 is pinned with max_entries 65536, "
				    "--max-services asks 8: recreating it"));
	assert_non_null(strstr(log, "its entries are rewritten from the config"));
	assert_non_null(strstr(log, "shunt_pair4 is pinned with max_entries 262144, "
				    "--max-pairs asks 16"));
	assert_non_null(strstr(log, "are lost"));
	assert_null(strstr(log, "shunt_be4 is pinned")); /* same size: reused as it is */
	assert_int_equal(pinned_max(SHUNT_MAP_SVC4), 8);
	assert_int_equal(pinned_max(SHUNT_MAP_PAIR4), 16);
	fd = svc4_fd();
	assert_true(fd >= 0);
	assert_int_not_equal(map_id(fd), map_id(old));
	assert_false(get_svc(fd, "10.96.0.11", 8080, &val)); /* new, empty until the sync */
	close(fd);
	fd = map_fd(SHUNT_MAP_BE4);
	assert_int_equal(map_id(fd), be_id);
	close(fd);
	sync_cfg(k, cfg);
	fd = svc4_fd();
	assert_true(get_svc(fd, "10.96.0.11", 8080, &val));
	assert_int_equal(val.n_slots, 2);
	assert_string_equal(slot(be, val.svc_id, 1), "10.77.0.22:8080");
	close(fd);
	kern_close(k, false);

	/* Same sizes again: nothing recreated. */
	capture_begin();
	assert_int_equal(kern_open(pin_dir, &small, &k), 0);
	log = capture_end();
	assert_null(strstr(log, "recreating"));
	kern_close(k, false);

	/* A size the kernel refuses: the load fails, and the old map is pinned back, whole. */
	capture_begin();
	assert_true(kern_open(pin_dir, &huge, &k) < 0);
	log = capture_end();
	assert_non_null(strstr(log, "shunt_svc4_v2 keeps its old size"));
	assert_int_equal(pinned_max(SHUNT_MAP_SVC4), 8);
	fd = svc4_fd();
	assert_true(get_svc(fd, "10.96.0.11", 8080, &val));
	close(fd);

	assert_int_equal(kern_open(pin_dir, &small, &k), 0);
	kern_close(k, true);
	close(old);
	close(be);
	config_free(cfg);
	free(yaml);
}

/* Whether the program behind the pinned link @link uses the map pinned as @map. */
static bool link_uses_pinned_map(const char *link, const char *map)
{
	struct bpf_link_info li = {0};
	struct bpf_prog_info pi = {0};
	__u32 ids[32] = {0}, len, want;
	char path[128];
	int lfd, pfd, mfd;
	bool found = false;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, link);
	lfd = bpf_obj_get(path);
	mfd = map_fd(map);
	assert_true(lfd >= 0 && mfd >= 0);
	len = sizeof(li);
	assert_int_equal(bpf_obj_get_info_by_fd(lfd, &li, &len), 0);
	pfd = bpf_prog_get_fd_by_id(li.prog_id);
	assert_true(pfd >= 0);
	pi.nr_map_ids = 32;
	pi.map_ids = (__u64)(unsigned long)ids;
	len = sizeof(pi);
	assert_int_equal(bpf_obj_get_info_by_fd(pfd, &pi, &len), 0);
	want = map_id(mfd);
	for (__u32 i = 0; i < pi.nr_map_ids && i < 32; i++)
		found |= ids[i] == want;
	close(pfd);
	close(lfd);
	close(mfd);
	return found;
}

/* The programs left attached never keep running on a map that is no longer pinned. */
static void attached_programs_follow_a_resized_map(void **state)
{
	struct kern_opts small = {.max_entries = {[KERN_MAP_SVC4] = 8, [KERN_MAP_PAIR4] = 16}};
	char mnt[256], cg[320];
	struct kern *k;
	int cfd;

	assert_int_equal(cgroup2_mount_path(mnt, sizeof(mnt)), 0);
	snprintf(cg, sizeof(cg), "%s/shunt-unit-resize-%d", mnt, (int)getpid());
	assert_int_equal(mkdir(cg, 0755), 0);
	cfd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(cfd >= 0);

	assert_int_equal(kern_open(pin_dir, NULL, &k), 0);
	assert_int_equal(kern_attach(k, cfd, cfd), 0);
	kern_close(k, false);
	assert_true(link_uses_pinned_map("link_connect4", SHUNT_MAP_SVC4));

	/* Resized: until this agent attaches, the old programs run on the old map... */
	assert_int_equal(kern_open(pin_dir, &small, &k), 0);
	assert_false(link_uses_pinned_map("link_connect4", SHUNT_MAP_SVC4));
	assert_false(link_uses_pinned_map("link_sockops", SHUNT_MAP_PAIR4));
	/* ...and if it exits before attaching, the links get its programs anyway. */
	kern_close(k, false);
	assert_true(link_uses_pinned_map("link_connect4", SHUNT_MAP_SVC4));
	assert_true(link_uses_pinned_map("link_sockops", SHUNT_MAP_PAIR4));
	assert_int_equal(attached(cfd, BPF_CGROUP_INET4_CONNECT), 1);

	/* Resized back, attached as usual: adopted, on the new map. */
	assert_int_equal(kern_open(pin_dir, NULL, &k), 0);
	assert_int_equal(kern_attach(k, cfd, cfd), 0);
	assert_true(link_uses_pinned_map("link_connect4", SHUNT_MAP_SVC4));
	assert_true(link_uses_pinned_map("link_sockops", SHUNT_MAP_PAIR4));
	assert_int_equal(attached(cfd, BPF_CGROUP_INET4_CONNECT), 1);
	kern_close(k, true);
	assert_int_equal(attached(cfd, BPF_CGROUP_INET4_CONNECT), 0);
	close(cfd);
	assert_int_equal(rmdir(cg), 0);
}

static int group_setup(void **state)
{
	struct statfs st;

	if (geteuid() != 0) {
		fprintf(stderr, "kern_test: FAILED: needs root (CAP_BPF) to load programs: run "
				"make test as root\n");
		return -1;
	}
	log_level_cur = LOG_WARN;
	snprintf(pin_base, sizeof(pin_base), "/sys/fs/bpf/shunt-unit-%d", (int)getpid());
	snprintf(pin_dir, sizeof(pin_dir), "%s-0", pin_base);
	if (bpffs_prepare(pin_dir))
		return -1;
	if (statfs(pin_dir, &st) || st.f_type != BPF_FS_MAGIC)
		return -1;
	return 0;
}

/* Each test starts with an empty pin directory (tests unpin, which removes it). */
static int pin_dir_setup(void **state)
{
	snprintf(pin_dir, sizeof(pin_dir), "%s-%u", pin_base, ++pin_seq);
	return bpffs_prepare(pin_dir) ? -1 : 0;
}

static int group_teardown(void **state)
{
	char cmd[160];

	/* Whatever a failed test left behind. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'-*", pin_base);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(services_follow_config_and_stale_go, pin_dir_setup),
		cmocka_unit_test_setup(ids_survive_reload_reorder_and_restart, pin_dir_setup),
		cmocka_unit_test_setup(unchanged_resync_writes_nothing, pin_dir_setup),
		cmocka_unit_test_setup(second_agent_adopts_pins_and_reconciles, pin_dir_setup),
		cmocka_unit_test_setup(orig_dst_is_taken_once, pin_dir_setup),
		cmocka_unit_test_setup(only_ports_l7_rules_need_go_to_the_agent, pin_dir_setup),
		cmocka_unit_test_setup(tcp_route_weights_become_slots, pin_dir_setup),
		cmocka_unit_test_setup(links_outlive_the_agent_and_are_adopted, pin_dir_setup),
		cmocka_unit_test_setup(closed_listener_voids_the_heartbeat, pin_dir_setup),
		cmocka_unit_test_setup(fast_path_switch_follows_the_agent, pin_dir_setup),
		cmocka_unit_test_setup(a_second_agent_on_the_same_pin_dir_is_refused,
				       pin_dir_setup),
		cmocka_unit_test(fill_warning_is_above_80_percent),
		cmocka_unit_test_setup(small_maps_warn_before_they_are_full, pin_dir_setup),
		cmocka_unit_test_setup(resized_maps_are_recreated_and_rewritten, pin_dir_setup),
		cmocka_unit_test_setup(attached_programs_follow_a_resized_map, pin_dir_setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
