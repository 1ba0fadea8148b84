// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * route_bench: the agent's control-plane figures for make bench (bench/run.sh).
 *
 *   route_bench routes [--ms MS]
 *       ns per route_select() with 10, 1,000 and 10,000 rules in one
 *       VirtualService: a mix of exact, prefix and regex uri matches and
 *       header matches, for a request that matches the first rule, one that
 *       matches the last, and one that matches none (every rule tried). Each
 *       case runs for MS milliseconds (default 200) after a short warm-up; and the
 *       heap the route table of each took (the rules compiled and their index).
 *   route_bench scale [--services N] [--pods N] [--namespaces N] [--pin-dir DIR]
 *       config load time and heap for N services (default 10,000, in 100
 *       namespaces, or --namespaces N) with a
 *       DestinationRule each and a VirtualService every 10th, and N pods
 *       (default 100,000); route table build time and heap; with --pin-dir
 *       (root, a bpffs), kern_open() there and the time kern_sync_services()
 *       takes to write that config into empty maps, and again unchanged (with
 *       the map entries each wrote or deleted); the
 *       pins and the directory are removed at the end.
 *   route_bench gen [--services N] [--pods N] [--namespaces N] FILE
 *       writes the scale config to FILE (for a real shuntd's RSS).
 *
 * Output, one figure a line, for the script to read:
 *   route RULES CASE NS_PER_REQUEST ITERATIONS
 *   routeheap RULES TABLE_HEAP_KIB
 *   scale KEY VALUE
 * Exit 0, 1 when something could not be built or did not route as expected.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "kern.h"
#include "log.h"
#include "route.h"
#include "sysfs.h"

#define ROUTE_CASE_MS_MAX 10000	   /* --ms at most */
#define ROUTE_ITERS_MAX	  50000000 /* iterations per case at most, whatever the clock says */
#define ROUTE_BATCH	  256	   /* requests between two clock reads */
#define SCALE_MAX	  1000000  /* --services and --pods at most */
#define SCALE_NS_DEFAULT  100	   /* namespaces the services are spread over */
#define CLIENT_IP	  "10.0.9.1"
#define GREETER_VIP	  "10.96.0.10"
#define GREETER_PORT	  3000

/* A growable string; all-zero is empty. */
struct sbuf {
	char *data;
	size_t len;
	size_t cap;
};

static void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends to @b; exits on ENOMEM (a benchmark has nothing better to do). */
static void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->data ? b->data + b->len : NULL, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			fprintf(stderr, "route_bench: vsnprintf failed\n");
			exit(1);
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 1 << 16;

		while (cap - b->len <= (size_t)n)
			cap *= 2;
		char *p = realloc(b->data, cap);

		if (!p) {
			fprintf(stderr, "route_bench: out of memory\n");
			exit(1);
		}
		b->data = p;
		b->cap = cap;
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static size_t heap_bytes(void);

/* ---- route selection ---- */

/* The service the rules route to, its pods and the client pod. */
static void routes_base(struct sbuf *y)
{
	sbuf_printf(y,
		    "apiVersion: v1\nkind: Service\nmetadata: {name: greeter, namespace: default}\n"
		    "spec: {clusterIP: " GREETER_VIP ", selector: {app: greeter}, "
		    "ports: [{name: http, port: %d, targetPort: 8080}]}\n",
		    GREETER_PORT);
	for (int i = 0; i < 3; i++)
		sbuf_printf(
			y,
			"---\napiVersion: v1\nkind: Pod\nmetadata: {name: greeter-%d, namespace: "
			"default, labels: {app: greeter}}\nstatus: {podIP: 10.0.1.%d}\n",
			i, i + 1);
	sbuf_printf(y,
		    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: default, "
		    "labels: {app: client}}\nstatus: {podIP: " CLIENT_IP "}\n");
}

/*
 * One VirtualService with @n rules, rule i by i % 4: an exact uri /e/r<i>, a prefix /p/r<i>/, a
 * regex /x/r<i>/[0-9]+, or a header x-route: r<i> with a prefix /h/. The exact ones are what the
 * route table indexes; the others are tried one by one, in order.
 */
static void routes_rules(struct sbuf *y, size_t n)
{
	sbuf_printf(y, "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
		       "metadata: {name: greeter, namespace: default}\n"
		       "spec:\n  hosts: [greeter]\n  http:\n");
	for (size_t i = 0; i < n; i++) {
		switch (i % 4) {
		case 0:
			sbuf_printf(y, "  - match: [{uri: {exact: /e/r%zu}}]\n", i);
			break;
		case 1:
			sbuf_printf(y, "  - match: [{uri: {prefix: /p/r%zu/}}]\n", i);
			break;
		case 2:
			sbuf_printf(y, "  - match: [{uri: {regex: '/x/r%zu/[0-9]+'}}]\n", i);
			break;
		default:
			sbuf_printf(y,
				    "  - match: [{uri: {prefix: /h/}, headers: {x-route: {exact: "
				    "r%zu}}}]\n",
				    i);
			break;
		}
		sbuf_printf(y, "    route: [{destination: {host: greeter}}]\n");
	}
}

/* The url and x-route value of a request that matches rule @i (see routes_rules()). */
static void routes_request_for(size_t i, char *url, size_t len, char *hval, size_t hlen)
{
	static const char *const fmt[] = {"/e/r%zu", "/p/r%zu/items", "/x/r%zu/42", "/h/items"};

	snprintf(url, len, fmt[i % 4], i);
	if (i % 4 == 3)
		snprintf(hval, hlen, "r%zu", i);
	else
		snprintf(hval, hlen, "none");
}

/*
 * Routes the request @rq again and again for @ms milliseconds (after a warm-up a tenth as
 * long); prints "route N CASE NS ITERS". 1 when it does not end as expected.
 */
static int routes_time(const struct route_table *rt, struct route_worker *w,
		       const struct route_req *rq, size_t n, const char *what, long want_rule,
		       unsigned ms)
{
	struct route_result res;
	uint64_t iters = 0, t0, t, budget = (uint64_t)ms * 1000000ULL;

	for (int pass = 0; pass < 2; pass++) {
		uint64_t limit = pass ? budget : budget / 10;

		iters = 0;
		t0 = now_ns();
		do {
			for (int i = 0; i < ROUTE_BATCH; i++) {
				route_select(rt, w, rq, &res);
				if (res.verdict == RV_FORWARD)
					route_done(w, &res, 200);
			}
			iters += ROUTE_BATCH;
			t = now_ns();
		} while (t - t0 < limit && iters < ROUTE_ITERS_MAX);
	}
	if (want_rule >= 0 ? res.verdict != RV_FORWARD || res.rule_index != (size_t)want_rule
			   : res.verdict != RV_NO_ROUTE) {
		fprintf(stderr,
			"route_bench: %zu rules, %s: verdict %s rule %zu, not as expected\n", n,
			what, route_verdict_str(res.verdict), res.rule_index);
		return 1;
	}
	printf("route %zu %s %.1f %llu\n", n, what, (double)(t - t0) / (double)iters,
	       (unsigned long long)iters);
	return 0;
}

/* One table of @n rules, three requests. */
static int routes_one(size_t n, unsigned ms)
{
	struct sbuf y = {0};
	struct config *cfg = NULL;
	struct route_table *rt = NULL;
	struct route_worker *w = NULL;
	char url[64], hval[32];
	/* What a client sends besides: a Host, a User-Agent, an Accept, and the x-route value. */
	struct http_hdr hdrs[] = {
		{"Host", 4, "greeter", 7},
		{"User-Agent", 10, "curl/7.88.1", 11},
		{"Accept", 6, "*/*", 3},
		{"x-route", 7, hval, 0},
	};
	struct http_req req = {.method = "GET", .method_len = 3, .hdrs = hdrs, .n_hdrs = 4};
	struct route_req rq = {.req = &req, .dst_port = GREETER_PORT};
	const struct {
		const char *name;
		long rule; /* the rule it must match, -1: none */
	} cases[] = {{"first", 0}, {"last", (long)n - 1}, {"miss", -1}};
	size_t heap;
	int rc = 1;

	routes_base(&y);
	routes_rules(&y, n);
	if (config_load_buf("routes.yaml", y.data, y.len, &cfg)) {
		fprintf(stderr, "route_bench: cannot load %zu rules\n", n);
		goto free_cfg;
	}
	heap = heap_bytes();
	if (route_table_build(cfg, &rt)) {
		fprintf(stderr, "route_bench: cannot build %zu rules\n", n);
		goto free_cfg;
	}
	printf("routeheap %zu %.0f\n", n, (double)(heap_bytes() - heap) / 1024.0);
	w = route_worker_new(rt, 1);
	if (!w)
		goto free_table;
	route_worker_set_now(w, 1000000);
	inet_pton(AF_INET, GREETER_VIP, &rq.dst_ip);
	inet_pton(AF_INET, CLIENT_IP, &rq.src_ip);
	rc = 0;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]) && !rc; c++) {
		if (cases[c].rule >= 0) {
			routes_request_for((size_t)cases[c].rule, url, sizeof(url), hval,
					   sizeof(hval));
		} else {
			snprintf(url, sizeof(url), "/nothing/here");
			snprintf(hval, sizeof(hval), "none");
		}
		req.url = url;
		req.url_len = strlen(url);
		hdrs[3].value_len = strlen(hval);
		rc = routes_time(rt, w, &rq, n, cases[c].name, cases[c].rule, ms);
	}
	route_worker_free(w);
free_table:
	route_table_free(rt);
free_cfg:
	config_free(cfg);
	free(y.data);
	return rc;
}

static int cmd_routes(unsigned ms)
{
	static const size_t sizes[] = {10, 1000, 10000};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (routes_one(sizes[i], ms))
			return 1;
	return 0;
}

/* ---- a config at scale ---- */

/*
 * @services Services of one HTTP port in @n_ns namespaces (round robin), @pods pods
 * spread over them evenly (version v1 and v2 alternately, all ready), a DestinationRule with
 * subsets v1 and v2 for each service, and for every 10th a VirtualService: a header match to
 * v2, then 90/10 over v1 and v2.
 */
static void scale_config(struct sbuf *y, size_t services, size_t pods, size_t n_ns)
{
	n_ns = services < n_ns ? 1 : n_ns;

	for (size_t ns = 0; ns < n_ns; ns++)
		sbuf_printf(y,
			    "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ns%zu, labels: "
			    "{shunt.io/mesh: enabled}}\n",
			    ns);
	for (size_t i = 0; i < services; i++) {
		size_t ns = i % n_ns;

		sbuf_printf(
			y,
			"---\napiVersion: v1\nkind: Service\nmetadata: {name: s%zu, namespace: "
			"ns%zu}\nspec: {clusterIP: 10.%zu.%zu.%zu, selector: {app: s%zu}, ports: "
			"[{name: http, port: 80, targetPort: 8080}]}\n",
			i, ns, 100 + i / 65536, i / 256 % 256, i % 256, i);
		sbuf_printf(y,
			    "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
			    "metadata: {name: s%zu, namespace: ns%zu}\nspec:\n  host: s%zu\n"
			    "  subsets:\n  - {name: v1, labels: {version: v1}}\n"
			    "  - {name: v2, labels: {version: v2}}\n",
			    i, ns, i);
		if (i % 10)
			continue;
		sbuf_printf(
			y,
			"---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
			"metadata: {name: s%zu, namespace: ns%zu}\nspec:\n  hosts: [s%zu]\n"
			"  http:\n  - match: [{headers: {x-canary: {exact: 'yes'}}}]\n"
			"    route: [{destination: {host: s%zu, subset: v2}}]\n"
			"  - route:\n    - {destination: {host: s%zu, subset: v1}, weight: 90}\n"
			"    - {destination: {host: s%zu, subset: v2}, weight: 10}\n",
			i, ns, i, i, i, i);
	}
	for (size_t k = 0; k < pods; k++) {
		size_t svc = k % (services ? services : 1), ip = k + 1;

		sbuf_printf(
			y,
			"---\napiVersion: v1\nkind: Pod\nmetadata: {name: p%zu, namespace: ns%zu, "
			"labels: {app: s%zu, version: v%zu}}\nstatus: {phase: Running, podIP: "
			"10.%zu.%zu.%zu, conditions: [{type: Ready, status: \"True\"}]}\n",
			k, svc % n_ns, svc, 1 + k / (services ? services : 1) % 2, 128 + ip / 65536,
			ip / 256 % 256, ip % 256);
	}
}

/* Bytes of heap in use (glibc's arena plus mmapped blocks). */
static size_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* Resident bytes of this process, from /proc/self/statm; 0 if unknown. */
static size_t rss_bytes(void)
{
	unsigned long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "%lu %lu", &size, &resident);
	fclose(f);
	return n == 2 ? resident * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

static double mib(size_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

static double ms_since(uint64_t t0)
{
	return (double)(now_ns() - t0) / 1e6;
}

/* The smallest power of two at least @n, and at least @min. */
static __u32 map_size(size_t n, __u32 min)
{
	__u32 v = min;

	while (v < n && v < (1u << 30))
		v <<= 1;
	return v;
}

/* kern_open() in @pin_dir, two kern_sync_services() of @cfg timed, kern_close() unpinning. */
static int scale_kern(const char *pin_dir, const struct config *cfg, const struct route_table *rt,
		      size_t services, size_t pods)
{
	struct kern_opts opts = {0};
	struct kern_sync ks;
	struct kern *k;
	uint64_t t0;
	int err;

	opts.max_entries[KERN_MAP_SVC4] = map_size(services * 2, kern_sized_default(KERN_MAP_SVC4));
	opts.max_entries[KERN_MAP_BE4] = map_size(pods * 2, kern_sized_default(KERN_MAP_BE4));
	if (bpffs_prepare(pin_dir))
		return 1;
	t0 = now_ns();
	err = kern_open(pin_dir, &opts, &k);
	if (err) {
		fprintf(stderr, "route_bench: kern_open(%s): %s\n", pin_dir, strerror(-err));
		rmdir(pin_dir);
		return 1;
	}
	printf("scale kern_open_ms %.1f\n", ms_since(t0));
	for (int pass = 0; pass < 2; pass++) {
		t0 = now_ns();
		err = kern_sync_services(k, cfg, rt, &ks);
		if (err) {
			fprintf(stderr, "route_bench: kern_sync_services: %s\n", strerror(-err));
			break;
		}
		printf("scale kern_sync_%s_ms %.1f\nscale kern_sync_%s_writes %llu\n",
		       pass ? "again" : "first", ms_since(t0), pass ? "again" : "first", ks.writes);
	}
	if (!err)
		printf("scale kern_l7 %u\nscale kern_direct %u\nscale kern_slots %u\n", ks.l7,
		       ks.direct, ks.slots);
	kern_close(k, true);
	return err ? 1 : 0;
}

static int cmd_scale(size_t services, size_t pods, size_t n_ns, const char *pin_dir)
{
	struct sbuf y = {0};
	struct config *cfg = NULL;
	struct route_table *rt = NULL;
	size_t heap0, rss0;
	uint64_t t0;
	int rc = 1;

	scale_config(&y, services, pods, n_ns);
	printf("scale services %zu\nscale pods %zu\nscale yaml_mib %.1f\n", services, pods,
	       mib(y.len));
	heap0 = heap_bytes();
	rss0 = rss_bytes();
	t0 = now_ns();
	if (config_load_buf("scale.yaml", y.data, y.len, &cfg)) {
		fprintf(stderr, "route_bench: cannot load the scale config\n");
		goto free_yaml;
	}
	printf("scale config_load_ms %.1f\nscale config_heap_mib %.1f\nscale config_rss_mib %.1f\n",
	       ms_since(t0), mib(heap_bytes() - heap0), mib(rss_bytes() - rss0));
	heap0 = heap_bytes();
	rss0 = rss_bytes();
	t0 = now_ns();
	if (route_table_build(cfg, &rt)) {
		fprintf(stderr, "route_bench: cannot build the scale route table\n");
		goto free_cfg;
	}
	printf("scale table_build_ms %.1f\nscale table_heap_mib %.1f\nscale table_rss_mib %.1f\n",
	       ms_since(t0), mib(heap_bytes() - heap0), mib(rss_bytes() - rss0));
	printf("scale clusters %zu\n", route_table_n_clusters(rt));
	rc = pin_dir ? scale_kern(pin_dir, cfg, rt, services, pods) : 0;
	route_table_free(rt);
free_cfg:
	config_free(cfg);
free_yaml:
	free(y.data);
	return rc;
}

static int cmd_gen(size_t services, size_t pods, size_t n_ns, const char *path)
{
	struct sbuf y = {0};
	FILE *f = fopen(path, "w");
	int rc = 0;

	if (!f) {
		fprintf(stderr, "route_bench: %s: %s\n", path, strerror(errno));
		return 1;
	}
	scale_config(&y, services, pods, n_ns);
	if (fwrite(y.data, 1, y.len, f) != y.len)
		rc = 1;
	if (fclose(f))
		rc = 1;
	if (rc)
		fprintf(stderr, "route_bench: cannot write %s\n", path);
	free(y.data);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: route_bench routes [--ms MS]\n"
		   "       route_bench scale [--services N] [--pods N] [--namespaces N] "
		   "[--pin-dir DIR]\n"
		   "       route_bench gen [--services N] [--pods N] [--namespaces N] FILE\n");
}

/* A number in 1..@max from @s, or 0. */
static unsigned long parse_count(const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	return errno || *end || end == s || v < 1 || v > max ? 0 : v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"ms", required_argument, NULL, 'm'},
		{"services", required_argument, NULL, 's'},
		{"pods", required_argument, NULL, 'p'},
		{"pin-dir", required_argument, NULL, 'd'},
		{"namespaces", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	unsigned long ms = 200, services = 10000, pods = 100000, n_ns = SCALE_NS_DEFAULT;
	const char *cmd, *pin_dir = NULL;
	int c;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			ms = parse_count(optarg, ROUTE_CASE_MS_MAX);
			break;
		case 's':
			services = parse_count(optarg, SCALE_MAX);
			break;
		case 'p':
			pods = parse_count(optarg, SCALE_MAX);
			break;
		case 'n':
			n_ns = parse_count(optarg, SCALE_MAX);
			break;
		case 'd':
			pin_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (!ms || !services || !pods || !n_ns) {
			fprintf(stderr,
				"route_bench: --ms takes 1..%d, --services, --pods and "
				"--namespaces 1..%d\n",
				ROUTE_CASE_MS_MAX, SCALE_MAX);
			return 2;
		}
	}
	log_level_cur = LOG_ERROR;
	if (!strcmp(cmd, "routes") && optind == argc)
		return cmd_routes((unsigned)ms);
	if (!strcmp(cmd, "scale") && optind == argc)
		return cmd_scale(services, pods, n_ns, pin_dir);
	if (!strcmp(cmd, "gen") && optind == argc - 1)
		return cmd_gen(services, pods, n_ns, argv[optind]);
	usage(stderr);
	return 2;
}
