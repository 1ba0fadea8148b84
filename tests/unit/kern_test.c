// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The loader against the real kernel: programs load, maps are pinned where
 * asked, shunt_svc4 follows the config (stale entries removed, live ones
 * never missing), a second agent adopts the pins, the 4-tuple index is
 * consumed by kern_orig_dst(). Needs root and bpffs; skips loudly without.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <cmocka.h>

#include <bpf/bpf.h>

#include "config.h"
#include "kern.h"
#include "log.h"
#include "sysfs.h"

static char pin_dir[64];

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

static int svc4_fd(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", pin_dir, SHUNT_MAP_SVC4);
	return bpf_obj_get(path);
}

static bool has_vip(int fd, const char *ip, uint16_t port, uint32_t *svc_id)
{
	struct svc4_key key = {.port = htons(port), .proto = IPPROTO_TCP};
	struct svc4_val val;

	inet_pton(AF_INET, ip, &key.vip);
	if (bpf_map_lookup_elem(fd, &key, &val))
		return false;
	if (svc_id)
		*svc_id = val.svc_id;
	return val.flags & SVC4_F_L7;
}

static int count_entries(int fd)
{
	struct svc4_key key, *prev = NULL;
	int n = 0;

	while (n < 1000 && !bpf_map_get_next_key(fd, prev, &key)) {
		prev = &key;
		n++;
	}
	return n;
}

static void services_follow_config_and_stale_go(void **state)
{
	struct config *c1 = load(two_services), *c2 = load(one_service);
	struct kern *k;
	uint32_t id;
	int fd;

	assert_int_equal(kern_open(pin_dir, &k), 0);
	/* UDP ports are never captured. */
	assert_int_equal(kern_sync_services(k, c1), 2);
	fd = svc4_fd();
	assert_true(fd >= 0);
	assert_true(has_vip(fd, "10.96.0.10", 80, &id));
	assert_int_equal(id, 0);
	assert_true(has_vip(fd, "10.96.0.11", 8080, &id));
	assert_int_equal(id, 1);
	assert_false(has_vip(fd, "10.96.0.10", 53, NULL));
	assert_int_equal(count_entries(fd), 2);

	assert_int_equal(kern_sync_services(k, c2), 2);
	assert_false(has_vip(fd, "10.96.0.10", 80, NULL));
	assert_true(has_vip(fd, "10.96.0.11", 8080, &id));
	assert_int_equal(id, 0); /* b is now the first service */
	assert_true(has_vip(fd, "10.96.0.11", 9090, NULL));
	assert_int_equal(count_entries(fd), 2);

	close(fd);
	kern_close(k, true);
	config_free(c1);
	config_free(c2);
}

static void only_http_ports_of_selected_services_are_captured(void **state)
{
	static const char yaml[] = "apiVersion: v1\n"
				   "kind: Service\n"
				   "metadata: {name: db, namespace: default}\n"
				   "spec:\n"
				   "  clusterIP: 10.96.0.20\n"
				   "  selector: {app: db}\n"
				   "  ports:\n"
				   "  - {port: 8080, name: http-api}\n"
				   "  - {port: 5432, name: tcp-postgres}\n"
				   "  - {port: 6379, name: redis}\n"
				   "  - {port: 9090, name: grpc-web}\n"
				   "  - {port: 9091, name: httpish}\n"
				   "---\n"
				   "apiVersion: v1\n"
				   "kind: Service\n"
				   "metadata: {name: manual, namespace: default}\n"
				   "spec:\n"
				   "  clusterIP: 10.96.0.21\n"
				   "  ports: [{port: 80, name: http}]\n";
	struct config *cfg = load(yaml);
	struct kern *k;
	int fd;

	assert_int_equal(kern_open(pin_dir, &k), 0);
	/* http-api, and httpish (no known protocol prefix: taken as HTTP, as unnamed ports are) */
	assert_int_equal(kern_sync_services(k, cfg), 2);
	fd = svc4_fd();
	assert_true(fd >= 0);
	assert_true(has_vip(fd, "10.96.0.20", 8080, NULL));
	assert_true(has_vip(fd, "10.96.0.20", 9091, NULL));
	assert_false(has_vip(fd, "10.96.0.20", 5432, NULL)); /* declared TCP: kube-proxy's */
	assert_false(has_vip(fd, "10.96.0.20", 6379, NULL));
	assert_false(has_vip(fd, "10.96.0.20", 9090, NULL)); /* gRPC is HTTP/2 */
	assert_false(has_vip(fd, "10.96.0.21", 80, NULL));   /* no selector: endpoints unknown */
	close(fd);
	kern_close(k, true);
	config_free(cfg);
}

static void a_second_agent_on_the_same_pin_dir_is_refused(void **state)
{
	struct kern *k1, *k2 = NULL;

	assert_int_equal(kern_open(pin_dir, &k1), 0);
	assert_int_equal(kern_open(pin_dir, &k2), -EBUSY);
	assert_null(k2);
	kern_close(k1, false);
	assert_int_equal(kern_open(pin_dir, &k2), 0); /* free again once the first is gone */
	kern_close(k2, true);
}

static void second_agent_adopts_pins_and_reconciles(void **state)
{
	struct config *c1 = load(two_services), *c2 = load(one_service);
	struct kern *k1, *k2;
	int fd;

	assert_int_equal(kern_open(pin_dir, &k1), 0);
	assert_int_equal(kern_sync_services(k1, c1), 2);
	kern_close(k1, false); /* an agent that exits leaves its maps */

	fd = svc4_fd();
	assert_true(fd >= 0);
	assert_true(has_vip(fd, "10.96.0.10", 80, NULL));

	assert_int_equal(kern_open(pin_dir, &k2), 0);
	assert_int_equal(kern_sync_services(k2, c2), 2);
	/* Same pinned map: the fd taken before the restart sees the new content. */
	assert_false(has_vip(fd, "10.96.0.10", 80, NULL));
	assert_true(has_vip(fd, "10.96.0.11", 9090, NULL));
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

	assert_int_equal(kern_open(pin_dir, &k), 0);
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

static int group_setup(void **state)
{
	struct statfs st;

	if (geteuid() != 0) {
		fprintf(stderr, "kern_test: FAILED: needs root (CAP_BPF) to load programs: run "
				"make test as root\n");
		return -1;
	}
	log_level_cur = LOG_WARN;
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/shunt-unit-%d", (int)getpid());
	if (bpffs_prepare(pin_dir))
		return -1;
	if (statfs(pin_dir, &st) || st.f_type != BPF_FS_MAGIC)
		return -1;
	return 0;
}

/* Each test starts with an empty pin directory (tests unpin, which removes it). */
static int pin_dir_setup(void **state)
{
	return bpffs_prepare(pin_dir) ? -1 : 0;
}

static int group_teardown(void **state)
{
	char cmd[160];

	/* Whatever a failed test left behind. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pin_dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(services_follow_config_and_stale_go, pin_dir_setup),
		cmocka_unit_test_setup(second_agent_adopts_pins_and_reconciles, pin_dir_setup),
		cmocka_unit_test_setup(orig_dst_is_taken_once, pin_dir_setup),
		cmocka_unit_test_setup(only_http_ports_of_selected_services_are_captured,
				       pin_dir_setup),
		cmocka_unit_test_setup(a_second_agent_on_the_same_pin_dir_is_refused,
				       pin_dir_setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
