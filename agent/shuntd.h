/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Inside shuntd: the agent's state, shared by shuntd.c (start-up, the main
 * loop, shutdown), shuntd_args.c (the command line) and shuntd_reload.c (what
 * a reload does to the agent: config defaults, Gateway listeners, the kernel
 * maps, the admin API's /reload).
 */
#ifndef SHUNT_SHUNTD_H
#define SHUNT_SHUNTD_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "kern.h"
#include "loop.h"
#include "proxy.h"
#include "reload.h"
#include "snapshot.h"
#include "worker.h"

struct admin;
struct admin_req;
struct admin_resp;
struct alog_sink;
struct dns_server;
struct gw_tls;
struct k8s;
struct reloader;
struct resolver;
struct worker;

#define WORKERS_MAX 256
/* --max-*: far above any node, and below what makes the kernel's hash tables overflow. */
#define MAP_ENTRIES_MAX (1u << 26)
/*
 * --fast-path's default: on, because that is what `make bench` measured to
 * win on request throughput and p99 (Linux 6.18: docs/kernel.md, "Same-node
 * fast path"). A kernel without what it needs runs with it off (one warning);
 * only an explicit --fast-path on is refused there.
 */
#define FAST_PATH_DEFAULT true

#define HEADER_TIMEOUT_DEFAULT_MS                                                                  \
	10000				/* --header-timeout: HAProxy's usual timeout http-request  \
					 */
#define IDLE_TIMEOUT_DEFAULT_MS 3600000 /* --idle-timeout, --upstream-idle-timeout: Envoy's 1 h */

struct options {
	const char *config_dir;
	bool kubernetes;	/* --kubernetes (or --kubeconfig): the config from the API */
	const char *kubeconfig; /* --kubeconfig; NULL: in-cluster */
	const char *node_name;	/* --node-name, or $NODE_NAME; NULL: unknown */
	const char *cgroup;
	const char *pin_dir;
	const char *netns_dir;	       /* where pods' network namespaces are (--netns-dir) */
	enum outbound_policy outbound; /* --outbound-traffic-policy: the mesh default */
	struct sockaddr_in listen;
	struct sockaddr_in6 listen6; /* --listen6; sin6_port 0: none */
	struct sockaddr_in admin;
	unsigned workers;
	uint32_t max_connections; /* per worker (--max-connections); 0: from the fd limit */
	uint32_t max_requests;	  /* per worker, in flight upstream (--max-requests); 0: none */
	struct worker_http
		http; /* --header-timeout, --idle-timeout, --max-request-*: per request */
	uint32_t mark;
	bool unpin_on_exit;
	bool check_kernel;	   /* --check-kernel: probe the kernel, print, exit */
	bool fast_path_given;	   /* --fast-path was on the command line, not the default */
	struct kern_opts kern;	   /* map sizes (--max-*); 0: the defaults */
	struct labels gw_labels;   /* --gateway-labels: Gateways whose selector they match */
	struct in_addr gw_address; /* --gateway-address (default: --listen's) */
	struct sockaddr_in gw[PROXY_GW_MAX]; /* the Gateway listeners, from the config */
	struct gw_tls *gw_tls[PROXY_GW_MAX]; /* their TLS contexts, NULL for plain HTTP ones */
	size_t n_gw;
	struct sockaddr_in dns;		 /* --dns-listen; sin_port 0: no DNS for pods */
	struct sockaddr_in dns_upstream; /* --dns-upstream; sin_port 0: none */
	bool dns_given, dns_upstream_given;
	const char *access_log; /* --access-log: "-", a path; NULL: off */
};

/* --max-connections: the default's cap, and the largest value taken for either limit. */
#define MAX_CONNECTIONS_DEFAULT 8192u
#define LIMIT_MAX		1000000u

/* Gateway TLS contexts a reload replaced that wait to be freed (shuntd_reload.c), at most. */
#define GW_RETIRED_MAX 64

struct agent {
	struct options opt;
	struct snapshot_store store;
	struct kern *kern;
	struct worker *workers[WORKERS_MAX];
	unsigned n_workers;
	struct loop *loop;	     /* main thread: signals, admin and the heartbeat */
	struct loop_timer heartbeat; /* refreshes the kernel's view that the agent is alive */
	unsigned pin_checks;	     /* heartbeats counted toward the next look at the pins */
	bool pins_lost;		     /* the pin dir is not reachable at its path (check_pins()) */
	bool privs_dropped;	     /* the main thread dropped its capabilities (privs.h) */
	bool stopping;		     /* SIGINT or SIGTERM: the main loop is stopping */
	struct loop_timer podscan;   /* maps pods' network namespaces again (shunt_pods_v2) */
	int netns_watch;	     /* inotify on --netns-dir: a pod came or went; -1: none */
	struct admin *admin;
	struct dns_server *dns;	      /* the pods' resolver; NULL: none */
	struct resolver *resolver;    /* DNS ServiceEntries' names; NULL: no upstream */
	bool names_changed;	      /* an answer changed before the reloader was there */
	uint64_t dns_reload_ms;	      /* loop time of the last reload DNS answers forced */
	struct loop_timer dns_reload; /* a forced reload held back by DNS_RELOAD_MIN_MS */
	struct reloader *reloader; /* from the first heartbeat after ready; NULL before; atomic */
	uint64_t loaded_hash;	   /* the source's hash of the config loaded at start */
	struct k8s *k8s;	   /* --kubernetes: the API's objects; NULL: --config */
	bool reload_pending;	   /* SIGHUP before the reloader was there */
	struct {
		struct gw_tls *tls;
		uint64_t since_ms;
	} retired[GW_RETIRED_MAX]; /* Gateway TLS contexts a reload replaced, oldest first */
	size_t n_retired;
	struct alog_sink *alog; /* --access-log; NULL: off */
	int cgroup_fd;
	int sig_fd;
	pthread_t starter; /* runs agent_start() while the main loop answers /ready 503 */
	int start_err;	   /* written by the starter before it stops the loop */
	bool ready;   /* atomic: programs attached and maps filled; workers and kern readable */
	bool refused; /* the kernel lacks features, each logged: no generic exit line */
};

/* Parses the command line into @o (usage on error). 0, or -EINVAL (usage printed). */
int shuntd_parse_args(int argc, char **argv, struct options *o);

/* Raises the soft fd limit to the hard one and, when --max-connections was not given, sets
 * o->max_connections from it (at most MAX_CONNECTIONS_DEFAULT per worker). Logs both. */
void shuntd_fd_limits(struct options *o);

/* What the agent sets on every config it loads, at start and at each reload. */
void agent_prepare_config(struct agent *a, struct config *cfg);

/* Where the config comes from, for the log: the directory, or "the Kubernetes API". */
const char *agent_source(const struct agent *a);

/*
 * --kubernetes (shuntd_k8s.c): connects (kubeconfig or in-cluster), lists and watches,
 * waits until every resource has been listed, and loads the first config from them into
 * *@cfg (through @a->resolver, as resolver_load() does). A config the API's objects make
 * invalid is logged and the next change is waited for: the agent is not ready until one is
 * valid. 0, or -errno (logged) when the API cannot be used at all.
 */
int agent_k8s_first_config(struct agent *a, struct config **cfg);

/* The reloader's source for --kubernetes. */
void agent_k8s_source(struct agent *a, struct reload_source *src);

/* Main loop, once ready: starts the reloader (retried at the next heartbeat on failure). */
void agent_start_reloader(struct agent *a);

/* Frees the Gateway TLS contexts a reload replaced that have had their time (@all: every one). */
void agent_free_retired_gw_tls(struct agent *a, bool all);

/* GET /reload: the reload record; POST /reload: reload now (as SIGHUP). */
void agent_admin_reload(void *ctx, const struct admin_req *req, struct admin_resp *resp);

#endif /* SHUNT_SHUNTD_H */
