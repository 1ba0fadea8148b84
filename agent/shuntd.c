// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shuntd: the node agent. Loads the capture programs, fills their maps from
 * the config directory, attaches them to the mesh cgroup and proxies the
 * connections they send here. See README.md and docs/.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <curl/curl.h>

#include "accesslog.h"
#include "addr.h"
#include "admin.h"
#include "admin_config.h"
#include "config.h"
#include "dns.h"
#include "gateway.h"
#include "gateway_tls.h"
#include "k8s.h"
#include "kern.h"
#include "log.h"
#include "loop.h"
#include "podns.h"
#include "probe.h"
#include "reload.h"
#include "resolve.h"
#include "snapshot.h"
#include "stats_prom.h"
#include "sysfs.h"
#include "privs.h"
#include "shuntd.h"
#include "worker.h"

/*
 * What libbpf last warned about, for one readable error line when loading
 * fails: the verifier's verdict on the program it rejected, or else the
 * last warning. Written by whichever thread calls libbpf; read by the
 * starter after kern_open() (diagnostics only).
 */
static struct {
	char prog[64];	   /* the program the verifier rejected, or "" */
	char verdict[256]; /* the last line of its verifier log */
	char warning[256]; /* the first line of libbpf's last other warning */
} libbpf_last;

/*
 * libbpf's warnings and info go to the log at debug level, one log line per
 * line (a verifier log is one multi-line message); its debug chatter is
 * dropped. Warnings are remembered for libbpf_report_failure().
 */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *msg, *line, *save = NULL;

	if (level == LIBBPF_DEBUG || (level == LIBBPF_INFO && log_level_cur < LOG_DEBUG))
		return 0;
	if (vasprintf(&msg, fmt, ap) < 0)
		return 0;
	if (level == LIBBPF_WARN &&
	    probe_verifier_summary(msg, libbpf_last.prog, sizeof(libbpf_last.prog),
				   libbpf_last.verdict, sizeof(libbpf_last.verdict)))
		snprintf(libbpf_last.warning, sizeof(libbpf_last.warning), "%.*s",
			 (int)strcspn(msg, "\n"), msg);
	if (log_level_cur >= LOG_DEBUG)
		for (line = strtok_r(msg, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			log_write(LOG_DEBUG, "%s",
				  line); /* libbpf starts its lines with "libbpf: " */
	free(msg);
	return 0;
}

/* After a failed load: the rejected program and the verifier's last words, in one line. */
static void libbpf_report_failure(void)
{
	if (libbpf_last.verdict[0])
		log_error("shuntd: the kernel rejected program %s: %s (--log-level debug shows the "
			  "verifier log)",
			  libbpf_last.prog[0] ? libbpf_last.prog : "?", libbpf_last.verdict);
	else if (libbpf_last.warning[0])
		log_error("shuntd: %s", libbpf_last.warning);
}

/* --check-kernel: one line per feature on stdout; 0 when all are there, else 1. */
static int check_kernel(void)
{
	struct probe_report r;
	char line[512];

	probe_kernel(&r);
	for (unsigned i = 0; i < r.n; i++) {
		probe_line(&r.res[i], line, sizeof(line));
		printf("%s\n", line);
	}
	probe_summary(&r, line, sizeof(line));
	printf("%s\n", line);
	return r.missing ? 1 : 0;
}

/*
 * Before anything is loaded: a kernel without what the programs need is
 * refused with one line per missing feature, not a verifier dump.
 */
static int refuse_kernel_without_features(struct agent *a)
{
	struct probe_report r;
	char line[512];

	bool fast = a->opt.kern.fast_path;

	probe_kernel(&r);
	if (fast && r.missing_fast_path && !a->opt.fast_path_given) {
		for (unsigned i = 0; i < r.n; i++)
			if (r.res[i].feature->fast_path && r.res[i].status == PROBE_MISSING) {
				probe_line(&r.res[i], line, sizeof(line));
				log_warn("shuntd: fast path off (the default is on): %s", line);
				break;
			}
		fast = a->opt.kern.fast_path = false;
	}
	for (unsigned i = 0; i < r.n; i++) {
		if (r.res[i].status != PROBE_MISSING && r.res[i].status != PROBE_UNKNOWN)
			continue;
		if (r.res[i].feature->fast_path && !fast)
			continue; /* --fast-path off: not needed */
		probe_line(&r.res[i], line, sizeof(line));
		if (r.res[i].status == PROBE_MISSING)
			log_error("shuntd: %s", line);
		else
			log_warn("shuntd: %s", line);
	}
	if (!r.missing && !(fast && r.missing_fast_path))
		return 0;
	probe_summary(&r, line, sizeof(line));
	log_error("%s", line);
	a->refused = true;
	return -EOPNOTSUPP;
}

static bool agent_ready(void *ctx)
{
	struct agent *a = ctx;

	return __atomic_load_n(&a->ready, __ATOMIC_ACQUIRE);
}

/* Appends one "name value" line; false when @buf is full. */
static bool stat_line(char *buf, size_t len, size_t *off, const char *prefix, const char *name,
		      uint64_t v)
{
	int n = snprintf(buf + *off, len - *off, "%s%s %llu\n", prefix, name,
			 (unsigned long long)v);

	if (n < 0 || (size_t)n >= len - *off)
		return false;
	*off += (size_t)n;
	return true;
}

static int agent_stats(void *ctx, char *buf, size_t len)
{
	struct agent *a = ctx;
	struct proxy_stats sum = {0}, ws;
	uint64_t k[SHUNT_STAT_MAX];
	const char *name;
	size_t off = 0;

	struct snapshot_reloads rl;

	/* Until ready, the starter thread is still building what is read below. */
	if (!agent_ready(a))
		return snprintf(buf, len, "not ready\n");
	snapshot_reloads_get(&a->store, &rl);
	if (!stat_line(buf, len, &off, "config.", "generation", snapshot_generation(&a->store)) ||
	    !stat_line(buf, len, &off, "config.", "reloads_ok", rl.ok) ||
	    !stat_line(buf, len, &off, "config.", "reloads_refused", rl.refused) ||
	    !stat_line(buf, len, &off, "kernel.", "pins_lost", a->pins_lost))
		return (int)off;
	if (!kern_read_stats(kern_stats_fd(a->kern), k))
		for (int i = 0; i < SHUNT_STAT_MAX; i++)
			if (!stat_line(buf, len, &off, "kernel.", kern_stat_name(i), k[i]))
				return (int)off;
	/* Summed over the workers: each counts its own connections. */
	for (unsigned w = 0; w < a->n_workers; w++) {
		worker_stats(a->workers[w], &ws);
		for (size_t i = 0; proxy_stat_name(i); i++)
			((uint64_t *)&sum)[i] += proxy_stat_value(&ws, i);
	}
	for (size_t i = 0; (name = proxy_stat_name(i)); i++)
		if (!stat_line(buf, len, &off, "proxy.", name, proxy_stat_value(&sum, i)))
			break;
	return (int)off;
}

static void on_signal(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct agent *a = arg;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) {
			log_info("shuntd: %s, shutting down", strsignal((int)si.ssi_signo));
			__atomic_store_n(&a->ready, false, __ATOMIC_RELEASE);
			a->stopping = true;
			loop_stop(loop);
		} else if (si.ssi_signo == SIGHUP && a->reloader) {
			reloader_request(a->reloader, "SIGHUP");
		} else if (si.ssi_signo == SIGHUP) {
			log_info("shuntd: SIGHUP while starting: reloading once ready");
			a->reload_pending = true;
		}
	}
}

/*
 * Every KERN_HEARTBEAT_MS on the main thread: while the agent is ready, the
 * kernel hears it is alive. If the agent dies or hangs here, the heartbeat
 * goes stale within KERN_ALIVE_MS and the kernel balances connections itself.
 */
/*
 * Heartbeats between looks at the pin directory. Losing it (bpffs unmounted
 * under the agent) stops nothing now: the programs stay attached through the
 * agent's link fds and the maps through its map fds. But the next agent would
 * start from nothing, and this one's exit would detach capture: say so, loudly,
 * once, and again when it is back.
 */
#define PIN_CHECK_EVERY 10

static void check_pins(struct agent *a)
{
	bool ok = kern_pins_reachable(a->kern);

	if (ok == !a->pins_lost)
		return;
	a->pins_lost = !ok;
	if (ok)
		log_info("shuntd: the pin directory %s is reachable again", a->opt.pin_dir);
	else
		log_error(
			"shuntd: the pin directory %s is gone (bpffs unmounted, or the directory "
			"removed): capture goes on while this agent runs, but its pinned maps and "
			"links cannot be found by the next one, and its exit detaches capture "
			"(fail open); mount bpffs and restart shuntd to pin them again",
			a->opt.pin_dir);
}

/* Main thread, once: loaded, attached, listening; it keeps what privs.h says. */
static void drop_privs(struct agent *a)
{
	if (a->privs_dropped)
		return;
	a->privs_dropped = true;
	if (!privs_drop(PRIVS_MAIN))
		log_info(
			"shuntd: capabilities dropped to CAP_BPF, CAP_SYS_ADMIN, CAP_NET_ADMIN and "
			"CAP_NET_BIND_SERVICE");
}

static void on_heartbeat(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct agent *a = arg;
	bool ready = __atomic_load_n(&a->ready, __ATOMIC_ACQUIRE);

	if (ready && kern_heartbeat(a->kern, true))
		log_warn("shuntd: heartbeat: cannot write %s: %s", SHUNT_MAP_CFG, strerror(errno));
	if (ready)
		drop_privs(a); /* a no-op unless agent_became_ready() could not be posted */
	if (ready && !a->reloader)
		agent_start_reloader(a);
	if (ready && ++a->pin_checks % PIN_CHECK_EVERY == 0)
		check_pins(a);
	agent_free_retired_gw_tls(a, false);
	(void)loop_timer_arm(loop, t, KERN_HEARTBEAT_MS, on_heartbeat, a);
}

/*
 * Pods come and go: their network namespaces are mapped again when the netns
 * directory changes (inotify, debounced by PODSCAN_SETTLE_MS) and every
 * PODSCAN_MS in any case.
 */
#define PODSCAN_MS	  5000
#define PODSCAN_SETTLE_MS 50

static void on_podscan(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct agent *a = arg;
	struct podns_result r;

	/* The main loop installs snapshots: store.cur is the one the kernel maps follow. */
	if (__atomic_load_n(&a->ready, __ATOMIC_ACQUIRE) &&
	    podns_sync(a->kern, a->store.cur->cfg, a->opt.netns_dir, a->opt.outbound, &r))
		log_warn("shuntd: mapping pods' network namespaces failed; trying again");
	(void)loop_timer_arm(loop, t, PODSCAN_MS, on_podscan, a);
}

static void on_netns_change(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct agent *a = arg;
	char buf[4096];

	(void)events;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	(void)loop_timer_arm(loop, &a->podscan, PODSCAN_SETTLE_MS, on_podscan, a);
}

static void watch_netns(struct agent *a)
{
	a->netns_watch = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (a->netns_watch < 0 ||
	    inotify_add_watch(a->netns_watch, a->opt.netns_dir,
			      IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM) < 0 ||
	    loop_add(a->loop, a->netns_watch, EPOLLIN, on_netns_change, a)) {
		log_info("shuntd: not watching %s (%s): pods are mapped every %d s",
			 a->opt.netns_dir, strerror(errno), PODSCAN_MS / 1000);
		if (a->netns_watch >= 0)
			close(a->netns_watch);
		a->netns_watch = -1;
	}
}

static int setup_signals(struct agent *a)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	/* Blocked before any thread starts, so every worker inherits the mask. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		return -EINVAL;
	signal(SIGPIPE, SIG_IGN);
	a->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (a->sig_fd < 0)
		return -errno;
	return loop_add(a->loop, a->sig_fd, EPOLLIN, on_signal, a);
}

static int start_workers(struct agent *a)
{
	struct worker_opts wo = {
		.listen = a->opt.listen,
		.listen6 = a->opt.listen6,
		.gw = a->opt.gw,
		.gw_tls = a->opt.gw_tls,
		.n_gw = a->opt.n_gw,
		.mark = a->opt.mark,
		.max_connections = a->opt.max_connections,
		.max_requests = a->opt.max_requests,
		.http = a->opt.http,
		.kern = a->kern,
		.store = &a->store,
		.alog = a->alog,
	};
	int err;

	for (unsigned i = 0; i < a->opt.workers; i++) {
		wo.id = i;
		err = worker_new(&wo, &a->workers[i]);
		if (err)
			return err;
		a->n_workers++;
		err = worker_start(a->workers[i]);
		if (err)
			return err;
	}
	return 0;
}

/* Whether cgroup directory @path is @top or below it. */
static bool cgroup_within(const char *path, const char *top)
{
	size_t n = strlen(top);

	return !strncmp(path, top, n) && (path[n] == '\0' || path[n] == '/');
}

/* Everything between "config is valid" and "ready". 0 or -errno, logged. */
static int agent_start(struct agent *a)
{
	char cg_path[PATH_MAX], self_path[PATH_MAX], buf[32];
	struct kern_sync sync;
	struct podns_result pods;
	int err, self_fd;

	err = refuse_kernel_without_features(a);
	if (err)
		return err;
	err = bpffs_prepare(a->opt.pin_dir);
	if (err)
		return err;
	a->cgroup_fd = cgroup_open(a->opt.cgroup, cg_path, sizeof(cg_path));
	if (a->cgroup_fd < 0)
		return a->cgroup_fd;
	memset(&libbpf_last, 0, sizeof(libbpf_last));
	err = kern_open(a->opt.pin_dir, &a->opt.kern, &a->kern);
	if (err) {
		libbpf_report_failure();
		return err;
	}

	/* Listen before the kernel learns the address: no connection is sent to a closed port. */
	err = start_workers(a);
	if (err)
		return err;
	err = kern_sync_services(a->kern, a->store.cur->cfg, a->store.cur->rt, &sync);
	if (err)
		return err;
	for (unsigned i = 0; i < a->n_workers; i++) {
		err = kern_add_listener(a->kern, worker_listen_fd(a->workers[i]));
		if (!err && worker_listen_fd6(a->workers[i]) >= 0)
			err = kern_add_listener(a->kern, worker_listen_fd6(a->workers[i]));
		if (err) {
			log_error("kern: cannot name listener %u in %s: %s", i, SHUNT_MAP_LSN,
				  strerror(-err));
			return err;
		}
	}
	err = kern_set_listener(a->kern, &a->opt.listen, a->opt.mark);
	if (!err) /* with none, an earlier agent's must not linger */
		err = kern_set_dns(a->kern, a->dns ? &a->opt.dns : NULL);
	if (!err) /* also without --listen6: an earlier agent's must not linger */
		err = kern_set_listener6(a->kern,
					 a->opt.listen6.sin6_port ? &a->opt.listen6 : NULL);
	if (err)
		return err;
	/* Which sockets are mesh pods': before the first capture. */
	err = podns_sync(a->kern, a->store.cur->cfg, a->opt.netns_dir, a->opt.outbound, &pods);
	if (err)
		return err;
	log_info("shuntd: %zu network namespaces in %s hold %zu pods of the config, %zu of them "
		 "in the mesh, %zu with REGISTRY_ONLY",
		 pods.netns_seen, a->opt.netns_dir, pods.pods_found, pods.pods_in_mesh,
		 pods.pods_registry_only);
	self_fd = cgroup_open_self(self_path, sizeof(self_path));
	if (self_fd < 0)
		return self_fd;
	if (a->opt.kern.fast_path && !cgroup_within(self_path, cg_path))
		log_warn("shuntd: --fast-path on, but this agent runs in %s, outside %s: sockops "
			 "never sees the connections it accepts, so nothing is redirected",
			 self_path, cg_path);
	err = kern_attach(a->kern, a->cgroup_fd, self_fd);
	close(self_fd);
	if (err)
		return err;
	/* From now on the kernel sends L7 services' connections here, while the heartbeat lasts. */
	err = kern_heartbeat(a->kern, true);
	if (err)
		return err;

	log_info("shuntd: ready: %u service ports through the agent (L7), %u balanced in the "
		 "kernel (IPv6 VIPs: %u L7, %u in the kernel), in %s; proxying on %s%s with %u "
		 "worker(s), fast path %s, maps in %s",
		 sync.l7, sync.direct, sync.l7_6, sync.direct6, cg_path,
		 addr_fmt(&a->opt.listen, buf, sizeof(buf)),
		 a->opt.listen6.sin6_port ? " and IPv6" : "", a->n_workers,
		 a->opt.kern.fast_path ? "on" : "off", a->opt.pin_dir);
	return 0;
}

/* Main loop, posted by the starter: /ready answers 200 once the main thread has dropped its
 * capabilities, so that what a probe sees ready is the agent as it will run. */
static void agent_became_ready(void *arg)
{
	struct agent *a = arg;

	if (a->stopping) /* SIGTERM came first: this runs from loop_free() */
		return;
	drop_privs(a);
	__atomic_store_n(&a->ready, true, __ATOMIC_RELEASE);
}

/* The starter thread: start-up runs here so that the main loop answers /ready 503 meanwhile. */
static void *agent_starter(void *arg)
{
	struct agent *a = arg;

	a->start_err = agent_start(a);
	if (a->start_err)
		loop_stop(a->loop);
	else if (loop_post(a->loop, agent_became_ready, a))
		__atomic_store_n(&a->ready, true, __ATOMIC_RELEASE); /* the heartbeat drops privs */
	/* Hand back what start-up freed (YAML trees, libbpf's copy of the kernel's BTF, the
	 * sync's scratch): glibc keeps freed pages inside its heaps otherwise, as RSS. */
	malloc_trim(0);
	return NULL;
}

static void agent_stop(struct agent *a)
{
	__atomic_store_n(&a->ready, false, __ATOMIC_RELEASE);
	if (a->k8s) /* its threads ask the reloader for reloads; its store stays for a load */
		k8s_stop(a->k8s);
	reloader_free(a->reloader); /* a load in progress finishes; nothing more is applied */
	a->reloader = NULL;
	/* Stop capturing first, so no new connection is sent to a listener about to close. */
	loop_timer_cancel(a->loop, &a->heartbeat);
	loop_timer_cancel(a->loop, &a->dns_reload);
	loop_timer_cancel(a->loop, &a->podscan);
	if (a->kern)
		kern_detach(a->kern, a->opt.unpin_on_exit);
	for (unsigned i = 0; i < a->n_workers; i++)
		worker_free(a->workers[i]);
	a->n_workers = 0;
	kern_close(a->kern, a->opt.unpin_on_exit);
	a->kern = NULL;
	if (a->cgroup_fd >= 0)
		close(a->cgroup_fd);
}

/* The first IPv4 nameserver of /etc/resolv.conf, port 53, in @out; false when none. */
static bool resolv_conf_nameserver(struct sockaddr_in *out)
{
	char line[256], addr[64];
	FILE *f = fopen("/etc/resolv.conf", "re");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, " nameserver %63s", addr) == 1 &&
		    inet_pton(AF_INET, addr, &out->sin_addr) == 1) {
			out->sin_family = AF_INET;
			out->sin_port = htons(53);
			found = true;
		}
	fclose(f);
	return found;
}

/*
 * Answers that change often (a provider rotating its addresses at every TTL,
 * 1 s at the least) would rebuild the config, and reset the balancers, as
 * often: forced reloads are at least this far apart; the last change waits.
 */
#define DNS_RELOAD_MIN_MS 2000

static void on_dns_reload(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct agent *a = arg;

	a->dns_reload_ms = loop_now_ms(loop);
	reloader_request_force(a->reloader, "a DNS answer changed");
}

/* Main loop: an answer changed a name's addresses; the config follows (a forced reload). */
static void on_names_changed(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct agent *a = arg;
	uint64_t now = loop_now_ms(loop);

	if (!resolver_changed(a->resolver))
		return;
	if (!a->reloader)
		a->names_changed = true;
	else if (a->dns_reload_ms && now - a->dns_reload_ms < DNS_RELOAD_MIN_MS)
		(void)(loop_timer_armed(&a->dns_reload) ||
		       loop_timer_arm(loop, &a->dns_reload,
				      a->dns_reload_ms + DNS_RELOAD_MIN_MS - now, on_dns_reload,
				      a));
	else
		on_dns_reload(loop, &a->dns_reload, a);
}

/*
 * The resolver of DNS ServiceEntries' names asks --dns-upstream (default: the
 * first nameserver of /etc/resolv.conf), as the pods' resolver forwards to it.
 */
static int start_resolver(struct agent *a)
{
	struct resolver_opts o = {.upstream = a->opt.dns_upstream, .mark = a->opt.mark};
	int err;

	if (!a->opt.dns_upstream_given && !resolv_conf_nameserver(&a->opt.dns_upstream))
		log_warn("dns: no IPv4 nameserver in /etc/resolv.conf: names outside the "
			 "registry get SERVFAIL, DNS ServiceEntries are not resolved (give "
			 "--dns-upstream)");
	if (!a->opt.dns_upstream.sin_port)
		return 0;
	o.upstream = a->opt.dns_upstream;
	o.ipv6 = a->opt.listen6.sin6_port != 0; /* AAAA too on a dual-stack node */
	err = resolver_new(&o, &a->resolver);
	if (err)
		log_error("dns: cannot start the resolver of ServiceEntry names: %s",
			  strerror(-err));
	return err;
}

/* The pods' resolver, in the main loop: bound before the kernel sends queries there. */
static int start_dns(struct agent *a)
{
	char buf[32], up[32];
	int err;

	if (!a->opt.dns_given) {
		a->opt.dns = a->opt.listen;
		a->opt.dns.sin_port = htons(15053);
	}
	if (!a->opt.dns.sin_port)
		return 0;
	err = dns_server_new(a->loop, &a->opt.dns, &a->opt.dns_upstream, a->opt.mark, &a->store,
			     &a->dns);
	if (err) {
		log_error("dns: cannot serve on %s: %s", addr_fmt(&a->opt.dns, buf, sizeof(buf)),
			  strerror(-err));
		return err;
	}
	log_info("dns: answering mesh pods on %s, other names forwarded to %s",
		 addr_fmt(&a->opt.dns, buf, sizeof(buf)),
		 a->opt.dns_upstream.sin_port ? addr_fmt(&a->opt.dns_upstream, up, sizeof(up))
					      : "nobody (SERVFAIL)");
	return 0;
}

/* --access-log: where the workers' lines go, opened before they start. */
static int start_access_log(struct agent *a)
{
	int err;

	if (!a->opt.access_log)
		return 0;
	err = alog_sink_open(a->opt.access_log, &a->alog);
	if (err)
		log_error("shuntd: --access-log %s: %s", a->opt.access_log, strerror(-err));
	else
		log_info("shuntd: access log to %s", a->opt.access_log);
	return err;
}

int main(int argc, char **argv)
{
	struct agent a = {.cgroup_fd = -1, .sig_fd = -1, .netns_watch = -1};
	struct stats_prom_src prom = {
		.store = &a.store,
		.ready = agent_ready,
		.ctx = &a,
		.workers = a.workers,
		.n_workers = &a.n_workers,
		.kern = &a.kern,
		.resolver = &a.resolver,
	};
	struct config *cfg = NULL;
	char buf[32];
	int err;

	if (shuntd_parse_args(argc, argv, &a.opt))
		return 2;
	/* A fixed threshold: glibc would raise it after the first large free (a config file read),
	 * and then keep a reload's or libbpf's large scratch (the kernel's BTF) in its heaps for
	 * good instead of giving the pages back with munmap(). */
	mallopt(M_MMAP_THRESHOLD, 128 << 10);
	libbpf_set_print(libbpf_log);
	if (a.opt.check_kernel)
		return check_kernel();
	shuntd_fd_limits(&a.opt);
	snapshot_store_init(&a.store);

	if (start_resolver(&a))
		return 1;
	if (a.opt.kubernetes) {
		curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread */
		err = agent_k8s_first_config(&a, &cfg);
	} else {
		a.loaded_hash = reload_dir_hash(a.opt.config_dir); /* a change meanwhile reloads */
		err = resolver_load_dir(a.resolver, a.opt.config_dir, RESOLVE_START_MS, &cfg);
		if (err)
			log_error("shuntd: refusing to start: the config in %s is not valid (see "
				  "above)",
				  a.opt.config_dir);
	}
	if (err) {
		k8s_free(a.k8s);
		resolver_free(a.resolver);
		return 1;
	}
	agent_prepare_config(&a, cfg);
	if (!a.opt.gw_address.s_addr)
		a.opt.gw_address = a.opt.listen.sin_addr;
	a.opt.n_gw = gateway_listeners(cfg, a.opt.gw_address, a.opt.gw, a.opt.gw_tls, PROXY_GW_MAX);
	err = snapshot_publish(&a.store, cfg);
	if (err)
		goto out;

	a.loop = loop_new();
	if (!a.loop) {
		err = -errno;
		goto out;
	}
	err = setup_signals(&a);
	if (err)
		goto out;
	{
		struct admin_ops ops = {.ready = agent_ready, .stats = agent_stats, .ctx = &a};

		err = admin_new(a.loop, &a.opt.admin, &ops, &a.admin);
		if (!err)
			err = admin_handle(a.admin, "/reload",
					   "GET: the reload record; POST: reload the config now",
					   agent_admin_reload, &a);
		if (err) {
			log_error("shuntd: cannot serve the admin API on %s: %s",
				  addr_fmt(&a.opt.admin, buf, sizeof(buf)), strerror(-err));
			goto out;
		}
	}
	err = admin_config_register(a.admin, &a.store); /* /config_dump, /routes, /explain, ... */
	if (err)
		goto out;
	err = start_access_log(&a);
	if (err)
		goto out;
	prom.alog = a.alog;
	prom.pin_dir = a.opt.pin_dir;
	err = stats_prom_register(a.admin, &prom);
	if (err)
		goto out;
	err = start_dns(&a);
	if (!err && a.resolver)
		err = loop_add(a.loop, resolver_changed_fd(a.resolver), EPOLLIN, on_names_changed,
			       &a);
	if (err)
		goto out;
	err = -pthread_create(&a.starter, NULL, agent_starter, &a);
	if (err)
		goto out;
	watch_netns(&a);
	err = loop_timer_arm(a.loop, &a.podscan, PODSCAN_MS, on_podscan, &a);
	if (!err)
		err = loop_timer_arm(a.loop, &a.heartbeat, KERN_HEARTBEAT_MS, on_heartbeat, &a);
	if (!err)
		err = loop_run(a.loop);
	/* A signal may come while starting: let the starter finish, then undo what it did. */
	pthread_join(a.starter, NULL);
	if (!err)
		err = a.start_err;

out:
	agent_stop(&a);
	if (a.resolver && a.loop) /* after the reloader, whose loads read it */
		loop_del(a.loop, resolver_changed_fd(a.resolver));
	resolver_free(a.resolver);
	k8s_free(a.k8s); /* after the reloader, whose loads read its store */
	if (a.opt.kubernetes)
		curl_global_cleanup();
	dns_server_free(a.dns);
	admin_free(a.admin);
	alog_sink_close(a.alog); /* after the workers, which write to it */
	if (a.sig_fd >= 0)
		close(a.sig_fd);
	if (a.netns_watch >= 0)
		close(a.netns_watch);
	loop_free(a.loop);
	gateway_listeners_release(a.opt.gw_tls, a.opt.n_gw); /* after the workers' sessions */
	agent_free_retired_gw_tls(&a, true);
	snapshot_store_fini(&a.store); /* the config, which points at the labels, goes first */
	gateway_labels_release(&a.opt.gw_labels);
	if (err && !a.refused)
		log_error("shuntd: exiting on error: %s", strerror(-err));
	else if (!err)
		log_info("shuntd: programs detached, exiting");
	return err ? 1 : 0;
}
