// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accesslog.h"
#include "config.h"
#include "kern.h"
#include "log.h"
#include "loop.h"
#include "metrics_labels.h"
#include "proxy.h"
#include "privs.h"
#include "redirect.h"
#include "route.h"
#include "snapshot.h"
#include "worker.h"
#include "gateway_tls.h"

/*
 * A pick's tokens: [0] the route table's lb token (0: nothing to report), [1] the snapshot
 * generation it belongs to, [2] hosts already tried (bit i: host i of the cluster, which
 * route_repick() keeps) with TOKEN_HAS_HASH, [3] the consistent-hash key when that bit is set.
 */
#define TOKEN_HAS_HASH (1ULL << 63)

struct worker {
	struct worker_opts opts;
	int listen_fd;
	int listen_fd6; /* -1: none */
	int gw_fds[PROXY_GW_MAX];
	struct sockaddr_in gw_addr[PROXY_GW_MAX]; /* what gw_fds[i] listens on */
	size_t n_gw_fds;
	struct loop *loop;
	struct proxy *proxy;
	pthread_t thread;
	bool started;

	struct snapshot *snap;	 /* the snapshot this worker routes with; a reference */
	struct route_worker *rw; /* this worker's balancing state for snap->rt */
	char location[2048];	 /* a redirect's "location: ...\r\n", until the next pick() */
	struct mx_table *mx;	 /* Istio's metrics of this worker's requests */
	struct alog *alog;	 /* its access log buffer; NULL: off */
	char route_name[512];	 /* proxy_pick.route_name, until the next pick() */
	char cluster[ROUTE_CLUSTER_MAX]; /* proxy_pick.cluster, likewise */
};

/* A listener on @addr (@len bytes, either family; IPv6 sockets take IPv6 only). */
static int listen_socket(const struct sockaddr *addr, socklen_t len)
{
	int fd, one = 1, err;

	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    (addr->sa_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))))
		goto fail;
	if (bind(fd, addr, len))
		goto fail;
	if (listen(fd, 4096))
		goto fail;
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

/* Moves the worker to the current snapshot if a newer one was published. */
static int worker_refresh(struct worker *w)
{
	struct route_worker *rw;
	struct snapshot *snap;

	if (w->snap && w->snap->generation == snapshot_generation(w->opts.store))
		return 0;
	snap = snapshot_acquire(w->opts.store);
	if (!snap)
		return -ENOENT;
	rw = route_worker_new(snap->rt, ((uint64_t)w->opts.id << 32) ^ snap->generation);
	if (!rw) {
		snapshot_release(snap);
		return -ENOMEM;
	}
	route_worker_free(w->rw);
	snapshot_release(w->snap);
	w->snap = snap;
	w->rw = rw;
	return 0;
}

static void refresh_posted(void *arg)
{
	struct worker *w = arg;

	if (worker_refresh(w))
		log_warn("worker %u: cannot take the new config yet (out of memory): the next "
			 "request tries again",
			 w->opts.id);
}

int worker_refresh_soon(struct worker *w)
{
	return loop_post(w->loop, refresh_posted, w);
}

static int worker_orig_dst(void *ctx, int fd, const struct sockaddr_in *peer,
			   const struct sockaddr_in *local, struct sockaddr_in *orig)
{
	struct worker *w = ctx;
	struct orig4 o;
	int err;

	err = kern_orig_dst(w->opts.kern, peer, local, &o);
	if (err)
		return err;
	memset(orig, 0, sizeof(*orig));
	orig->sin_family = AF_INET;
	orig->sin_addr.s_addr = o.ip;
	orig->sin_port = o.port;
	return 0;
}

/*
 * A native IPv6 connection: the service and the client are named by their
 * IPv4 identities, which routing, balancing and the logs use. A service
 * without an IPv4 VIP is never flagged L7 in shunt_svc6 (kern6.c), so it
 * does not get here; a client pod without an IPv4 address is an unknown
 * client (no sourceLabels).
 */
static int worker_orig_dst6(void *ctx, int fd, const struct sockaddr_in6 *peer,
			    const struct sockaddr_in6 *local, struct sockaddr_in *orig,
			    struct sockaddr_in *peer4)
{
	struct worker *w = ctx;
	const struct service *svc = NULL;
	const struct pod *pod;
	struct orig6 o;
	int err;

	err = kern_orig_dst6(w->opts.kern, peer, local, &o);
	if (err)
		return err;
	err = worker_refresh(w);
	if (err)
		return err;
	if (!config_find_vip6(w->snap->cfg, (const struct in6_addr *)o.ip, o.port, IPPROTO_TCP,
			      &svc) ||
	    !svc->cluster_ip.s_addr)
		return -ENOENT;
	memset(orig, 0, sizeof(*orig));
	orig->sin_family = AF_INET;
	orig->sin_addr = svc->cluster_ip;
	orig->sin_port = o.port;
	memset(peer4, 0, sizeof(*peer4));
	peer4->sin_family = AF_INET;
	peer4->sin_port = peer->sin6_port;
	pod = config_find_pod6(w->snap->cfg, &peer->sin6_addr);
	if (pod)
		peer4->sin_addr = pod->ip;
	return 0;
}

/* "location: https://HOST/PATH\r\n" for a Gateway server's httpsRedirect. 0 or -ENOSPC. */
static int https_location(const struct http_req *req, char *buf, size_t len)
{
	const char *host = "";
	size_t host_len = 0;
	int n;

	for (size_t i = 0; i < req->n_hdrs; i++)
		if (req->hdrs[i].name_len == 4 && !strncasecmp(req->hdrs[i].name, "host", 4)) {
			host = req->hdrs[i].value;
			host_len = req->hdrs[i].value_len;
			break;
		}
	n = snprintf(buf, len, "location: https://%.*s%.*s\r\n", (int)host_len, host,
		     (int)req->url_len, req->url);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

/* Istio's route name: the rule's name, ".match" when the entry that matched has one. */
static const char *route_name(struct worker *w, const struct route_result *res)
{
	const char *rule = res->rule && res->rule->name ? res->rule->name : "";
	const char *match = res->match && res->match->name ? res->match->name : "";

	if (!res->vs) /* Istio's catch-all routes */
		return !strcmp(res->cluster, "PassthroughCluster") ? "allow_any"
		       : !strcmp(res->cluster, "BlackHoleCluster") ? "block_all"
								   : "default";
	snprintf(w->route_name, sizeof(w->route_name), "%s%s%s", rule, *match ? "." : "", match);
	return w->route_name;
}

/*
 * The metric labels of what @res decided, while the snapshot that decided is
 * held: the endpoint's only if it is to be reached (a fault's abort or a
 * circuit breaker's 503 reaches none); with the access log, the names it prints.
 */
static void pick_labels(struct worker *w, const struct route_req *rq,
			const struct route_result *res, struct proxy_pick *out)
{
	mx_pick_labels(w->mx, w->snap, rq, res, !out->status, out->tags);
	if (w->alog) {
		snprintf(w->cluster, sizeof(w->cluster), "%s", res->cluster);
		out->cluster = w->cluster[0] ? w->cluster : NULL;
		out->route_name = route_name(w, res);
	}
}

/* What the proxy does with the request route_select() decided as @res. */
static int pick_decide(struct worker *w, const struct http_req *req, const struct route_req *rq,
		       const struct route_result *res, struct proxy_pick *out)
{
	int err;

	out->flags = route_verdict_flag(res->verdict);
	switch (res->verdict) {
	case RV_FORWARD:
		out->ep = res->ep;
		out->token[0] = res->lb_token;
		out->token[1] = w->snap->generation; /* done() must reach the same balancer */
		/* repick(): hosts tried so far, and the consistent-hash key that chose the host */
		out->token[2] = res->has_hash ? TOKEN_HAS_HASH : 0;
		out->token[3] = res->hash;
		err = route_actions(w->snap->rt, w->rw, rq, res, out);
		if (err || out->status || !out->token[0] ||
		    route_admit(w->snap->rt, out->token[0], false))
			return err;
		/* connectionPool overflow: Envoy's circuit breaker answers for the cluster. */
		route_done_token(w->rw, out->token[0], -1);
		out->token[0] = 0;
		out->status = 503;
		out->flags = "UO";
		out->body =
			"upstream connect error or disconnect/reset before headers. reset reason: "
			"overflow";
		out->target = out->req_drop = out->req_add = out->rsp_drop = out->rsp_add = NULL;
		out->n_mirrors = 0;
		out->delay_ms = 0;
		return 0;
	case RV_PASSTHROUGH:
		out->ep = res->ep;
		return route_actions(w->snap->rt, w->rw, rq, res, out);
	case RV_HTTPS_REDIRECT:
		err = https_location(req, w->location, sizeof(w->location));
		if (err)
			return err;
		out->status = 301;
		out->headers = w->location;
		return 0;
	case RV_REDIRECT:
		err = redirect_location(res->rule->redirect, req, false, w->location,
					sizeof(w->location));
		if (err)
			return err;
		out->status = res->rule->redirect->redirect_code
				      ? (int)res->rule->redirect->redirect_code
				      : 301;
		out->headers = w->location;
		return 0;
	case RV_NO_HEALTHY:
		/* Envoy's words, which users grep for */
		out->body = "no healthy upstream";
		/* fall through */
	case RV_NO_CLUSTER:
		out->status = route_verdict_status(res->verdict);
		/* the rule's fault and CORS filters run before the router's local reply */
		return res->rule ? route_actions(w->snap->rt, w->rw, rq, res, out) : 0;
	default:
		out->status = route_verdict_status(res->verdict);
		return 0;
	}
}

/* Routes with route_select() or, for a Gateway's connection, route_select_gateway(). */
static int pick_via(struct worker *w, bool gateway, const struct sockaddr_in *peer,
		    const struct sockaddr_in *orig, const char *sni, const struct http_req *req,
		    struct proxy_pick *out)
{
	struct route_req rq = {
		.req = req,
		.dst_ip = orig->sin_addr,
		.dst_port = ntohs(orig->sin_port),
		.src_ip = peer->sin_addr,
		.sni = sni,
	};
	struct route_result res;
	int err;

	err = worker_refresh(w);
	if (err)
		return err;
	route_worker_set_now(w->rw, loop_now_ms(w->loop));
	err = gateway ? route_select_gateway(w->snap->rt, w->rw, &rq, &res)
		      : route_select(w->snap->rt, w->rw, &rq, &res);
	if (err)
		return err;
	log_debug("route: %.*s %.*s -> %s %s", (int)req->method_len, req->method, (int)req->url_len,
		  req->url, route_verdict_str(res.verdict), res.cluster);
	err = pick_decide(w, req, &rq, &res, out);
	if (err)
		return err;
	pick_labels(w, &rq, &res, out);
	return 0;
}

static int worker_pick(void *ctx, const struct sockaddr_in *peer, const struct sockaddr_in *orig,
		       const struct http_req *req, struct proxy_pick *out)
{
	return pick_via(ctx, false, peer, orig, NULL, req, out);
}

static int worker_pick_gateway(void *ctx, const struct sockaddr_in *peer,
			       const struct sockaddr_in *local, const char *sni,
			       const struct http_req *req, struct proxy_pick *out)
{
	return pick_via(ctx, true, peer, local, sni, req, out);
}

static struct route_conn route_conn_of(const struct sockaddr_in *peer,
				       const struct sockaddr_in *orig, bool gateway,
				       const char *sni)
{
	return (struct route_conn){.dst_ip = orig->sin_addr,
				   .dst_port = ntohs(orig->sin_port),
				   .src_ip = peer->sin_addr,
				   .sni = sni,
				   .gateway = gateway};
}

/* A TLS port with tls routes, a port of hosts without addresses, a Gateway's PASSTHROUGH or TCP
 * server: served raw (route_conn_mode()). */
static enum proxy_conn_mode worker_conn_mode(void *ctx, const struct sockaddr_in *peer,
					     const struct sockaddr_in *orig, bool gateway)
{
	struct route_conn c = route_conn_of(peer, orig, gateway, NULL);
	struct worker *w = ctx;

	if (worker_refresh(w))
		return PROXY_CONN_HTTP;
	switch (route_conn_mode(w->snap->rt, &c)) {
	case ROUTE_CONN_TLS:
		return PROXY_CONN_TLS;
	case ROUTE_CONN_TCP:
		return PROXY_CONN_TCP;
	default:
		return PROXY_CONN_HTTP;
	}
}

/* Routes a raw connection by its SNI (route_select_l4()); every verdict but a forward closes it.
 */
static int worker_pick_l4(void *ctx, const struct sockaddr_in *peer, const struct sockaddr_in *orig,
			  bool gateway, const char *sni, struct proxy_pick *out)
{
	struct route_conn c = route_conn_of(peer, orig, gateway, sni);
	/* the labels' view of it: a connection has no request, no Host */
	struct route_req rq = {
		.dst_ip = orig->sin_addr,
		.dst_port = ntohs(orig->sin_port),
		.src_ip = peer->sin_addr,
	};
	struct worker *w = ctx;
	struct route_result res;
	int err;

	err = worker_refresh(w);
	if (err)
		return err;
	route_worker_set_now(w->rw, loop_now_ms(w->loop));
	err = route_select_l4(w->snap->rt, w->rw, &c, &res);
	if (err)
		return err;
	log_debug("route: %s connection, SNI %s -> %s %s", gateway ? "gateway" : "mesh",
		  sni ? sni : "none", route_verdict_str(res.verdict), res.cluster);
	out->flags = route_verdict_flag(res.verdict);
	if (res.verdict != RV_FORWARD && res.verdict != RV_PASSTHROUGH) {
		out->status = res.verdict == RV_BLACKHOLE ? 502 : 503;
		pick_labels(w, &rq, &res, out);
		return 0;
	}
	out->ep = res.ep;
	out->token[0] = res.lb_token;
	out->token[1] = w->snap->generation;
	if (res.policy && res.policy->pool.tcp_connect_timeout_ms)
		out->connect_timeout_ms = (uint32_t)res.policy->pool.tcp_connect_timeout_ms;
	/* Counted in flight (no limit is applied to raw connections) so that done() balances. */
	if (out->token[0])
		(void)route_admit(w->snap->rt, out->token[0], true);
	pick_labels(w, &rq, &res, out);
	return 0;
}

/* A retry is due: another endpoint of the same cluster, with its own token. */
static int worker_repick(void *ctx, struct proxy_pick *pick)
{
	uint64_t tried = pick->token[2] & ~TOKEN_HAS_HASH, lb_token = pick->token[0];
	struct worker *w = ctx;
	struct sockaddr_in ep;
	int err;

	/* A pick of an older snapshot's table: retry where it went. */
	if (!lb_token || !w->snap || pick->token[1] != w->snap->generation)
		return -ESTALE;
	route_worker_set_now(w->rw, loop_now_ms(w->loop));
	err = route_repick(w->snap->rt, w->rw, &lb_token, &tried,
			   pick->token[2] & TOKEN_HAS_HASH ? &pick->token[3] : NULL, &ep);
	/* The next attempt is in flight wherever it goes; the request was admitted already. */
	(void)route_admit(w->snap->rt, err ? pick->token[0] : lb_token, true);
	if (err)
		return err;
	pick->ep = ep;
	pick->token[0] = lb_token;
	pick->token[2] = tried | (pick->token[2] & TOKEN_HAS_HASH);
	return 0;
}

/* The proxy is done with a request pick() forwarded: least-request and outlier accounting. */
static void worker_done(void *ctx, const struct proxy_pick *pick, int status)
{
	struct worker *w = ctx;

	/* A token from an older snapshot's balancer means nothing to this one. */
	if (pick->token[0] && w->snap && pick->token[1] == w->snap->generation) {
		route_release(w->snap->rt, pick->token[0]);
		route_done_token(w->rw, pick->token[0], status);
	}
}

/* Opens Gateway listener @addr, served with @tls (NULL: plain). 0 or -errno, logged. */
static int gw_open(struct worker *w, const struct sockaddr_in *addr, struct ssl_ctx_st *tls)
{
	char a4[INET_ADDRSTRLEN];
	int fd, err;

	if (w->n_gw_fds == PROXY_GW_MAX)
		return -ENOSPC;
	fd = listen_socket((const struct sockaddr *)addr, sizeof(*addr));
	err = fd < 0 ? fd : proxy_listen_gateway(w->proxy, fd, tls);
	if (err) {
		if (fd >= 0)
			close(fd);
		log_error("worker %u: cannot serve the Gateway port %s:%u: %s", w->opts.id,
			  inet_ntop(AF_INET, &addr->sin_addr, a4, sizeof(a4)),
			  ntohs(addr->sin_port), strerror(-err));
		return err;
	}
	w->gw_addr[w->n_gw_fds] = *addr;
	w->gw_fds[w->n_gw_fds++] = fd;
	return 0;
}

static bool same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

/* The Gateway listeners a reload asks for, on their way to the worker's thread. */
struct gw_update {
	struct worker *w;
	size_t n;
	struct sockaddr_in addr[PROXY_GW_MAX];
	struct ssl_ctx_st *tls[PROXY_GW_MAX];
};

/* On the worker's thread: close what is gone, swap contexts, open what is new. */
static void gw_apply(void *arg)
{
	struct gw_update *u = arg;
	struct worker *w = u->w;
	size_t i = 0, j;

	while (i < w->n_gw_fds) {
		for (j = 0; j < u->n && !same_addr(&u->addr[j], &w->gw_addr[i]); j++)
			;
		if (j < u->n) { /* kept: new connections handshake with the new contexts */
			(void)proxy_gateway_set_tls(w->proxy, w->gw_fds[i++], u->tls[j]);
			continue;
		}
		/* Gone: accepted connections go on; the listener's queue is reset. */
		(void)proxy_unlisten_gateway(w->proxy, w->gw_fds[i]);
		close(w->gw_fds[i]);
		w->n_gw_fds--;
		w->gw_fds[i] = w->gw_fds[w->n_gw_fds];
		w->gw_addr[i] = w->gw_addr[w->n_gw_fds];
	}
	for (j = 0; j < u->n; j++) {
		for (i = 0; i < w->n_gw_fds && !same_addr(&u->addr[j], &w->gw_addr[i]); i++)
			;
		if (i == w->n_gw_fds)
			(void)gw_open(w, &u->addr[j], u->tls[j]);
	}
	free(u);
}

int worker_set_gateways(struct worker *w, const struct sockaddr_in *gw, struct gw_tls *const *tls,
			size_t n)
{
	struct gw_update *u;
	int err;

	if (n > PROXY_GW_MAX)
		return -E2BIG;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->w = w;
	u->n = n;
	for (size_t i = 0; i < n; i++) {
		u->addr[i] = gw[i];
		u->tls[i] = tls && tls[i] ? gw_tls_ctx(tls[i]) : NULL;
	}
	err = loop_post(w->loop, gw_apply, u);
	if (err)
		free(u);
	return err;
}

/* A raw connection's report: Istio's TCP families; its access log line when it ends. */
static void worker_log_tcp(struct worker *w, const struct mx_labels *l,
			   const struct proxy_reqinfo *ri)
{
	bool end = ri->l4 & PROXY_L4_CLOSE;
	struct mx_tcp_obs t = {
		.flags = ri->flags,
		.opened = ri->l4 & PROXY_L4_OPEN,
		.closed = end,
		.sent = end ? ri->wire_out : 0, /* bytes are reported once, at the end */
		.received = end ? ri->wire_in : 0,
	};

	mx_record_tcp(w->mx, l, &t);
	if (w->alog && end)
		alog_request(w->alog, ri);
}

/* A request is over: Istio's metrics, and its access log line. */
static void worker_log(void *ctx, const struct proxy_reqinfo *ri)
{
	struct worker *w = ctx;
	struct mx_http_obs o = {
		.status = ri->status,
		.flags = ri->flags,
		.proto = MX_HTTP,
		.duration_us = ri->duration_us,
		.req_bytes = ri->wire_in,
		.rsp_bytes = ri->wire_out,
	};
	struct mx_labels l;
	uint32_t tags[3];

	if (ri->pick && ri->pick->tags[2]) {
		memcpy(tags, ri->pick->tags, sizeof(tags));
	} else {
		/* routing never saw it: the client is known by the worker's current config */
		(void)worker_refresh(w);
		mx_peer_labels(w->mx, w->snap, ri->peer.sin_addr, tags);
	}
	l = (struct mx_labels){tags[0], tags[1], tags[2]};
	if (ri->l4) {
		worker_log_tcp(w, &l, ri);
		return;
	}
	mx_record_http(w->mx, &l, &o);
	if (w->alog)
		alog_request(w->alog, ri);
}

int worker_new(const struct worker_opts *opts, struct worker **out)
{
	struct proxy_ops ops = {
		.orig_dst = worker_orig_dst,
		.orig_dst6 = worker_orig_dst6,
		.pick = worker_pick,
		.pick_gateway = worker_pick_gateway,
		.done = worker_done,
		.repick = worker_repick,
		.conn_mode = worker_conn_mode,
		.pick_l4 = worker_pick_l4,
		.log = worker_log,
		.log_strings = opts->alog != NULL,
		.upstream_mark = opts->mark,
		.max_connections = opts->max_connections,
		.max_requests = opts->max_requests,
		.header_timeout_ms = opts->http.header_timeout_ms,
		.client_idle_timeout_ms = opts->http.client_idle_timeout_ms,
		.pool_idle_timeout_ms = opts->http.pool_idle_timeout_ms,
		.max_head_bytes = opts->http.max_head_bytes,
		.max_body_bytes = opts->http.max_body_bytes,
	};
	char addr[INET_ADDRSTRLEN];
	struct worker *w;
	int err;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->opts = *opts;
	ops.ctx = w;
	w->mx = mx_table_new();
	if (!w->mx) {
		free(w);
		return -ENOMEM;
	}

	w->listen_fd6 = -1;
	w->listen_fd = listen_socket((const struct sockaddr *)&opts->listen, sizeof(opts->listen));
	if (w->listen_fd < 0) {
		err = w->listen_fd;
		log_error("worker %u: cannot listen on %s:%u: %s", opts->id,
			  inet_ntop(AF_INET, &opts->listen.sin_addr, addr, sizeof(addr)),
			  ntohs(opts->listen.sin_port), strerror(-err));
		goto free_worker;
	}
	w->loop = loop_new();
	if (!w->loop) {
		err = -errno;
		goto close_fd;
	}
	if (opts->alog) {
		err = alog_new(opts->alog, w->loop, &w->alog);
		if (err)
			goto free_loop;
	}
	w->proxy = proxy_new(w->loop, w->listen_fd, &ops);
	if (!w->proxy) {
		err = -errno ? -errno : -ENOMEM;
		goto free_loop;
	}
	if (opts->listen6.sin6_port) {
		char a6[INET6_ADDRSTRLEN];

		w->listen_fd6 = listen_socket((const struct sockaddr *)&opts->listen6,
					      sizeof(opts->listen6));
		err = w->listen_fd6 < 0 ? w->listen_fd6 : proxy_listen6(w->proxy, w->listen_fd6);
		if (err) {
			log_error("worker %u: cannot listen on [%s]:%u: %s", opts->id,
				  inet_ntop(AF_INET6, &opts->listen6.sin6_addr, a6, sizeof(a6)),
				  ntohs(opts->listen6.sin6_port), strerror(-err));
			goto free_proxy;
		}
	}
	for (size_t i = 0; i < opts->n_gw && i < PROXY_GW_MAX; i++) {
		err = gw_open(w, &opts->gw[i],
			      opts->gw_tls && opts->gw_tls[i] ? gw_tls_ctx(opts->gw_tls[i]) : NULL);
		if (err)
			goto free_proxy;
	}
	*out = w;
	return 0;

free_proxy:
	proxy_free(w->proxy);
	if (w->listen_fd6 >= 0)
		close(w->listen_fd6);
	for (size_t i = 0; i < w->n_gw_fds; i++)
		close(w->gw_fds[i]);
free_loop:
	alog_free(w->alog);
	loop_free(w->loop);
close_fd:
	close(w->listen_fd);
free_worker:
	mx_table_free(w->mx);
	free(w);
	return err;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char name[16];
	int err;

	snprintf(name, sizeof(name), "shunt-worker%u", w->opts.id);
	pthread_setname_np(pthread_self(), name);
	(void)privs_drop(PRIVS_WORKER); /* logged; the worker serves either way */
	err = loop_run(w->loop);
	if (err)
		log_error("worker %u: event loop failed: %s", w->opts.id, strerror(-err));
	return NULL;
}

int worker_start(struct worker *w)
{
	int err;

	err = pthread_create(&w->thread, NULL, worker_main, w);
	if (err)
		return -err;
	w->started = true;
	return 0;
}

void worker_free(struct worker *w)
{
	if (!w)
		return;
	if (w->started) {
		loop_stop(w->loop);
		pthread_join(w->thread, NULL);
	}
	proxy_free(w->proxy); /* its sessions' last requests are logged */
	alog_free(w->alog);
	loop_free(w->loop);
	close(w->listen_fd);
	if (w->listen_fd6 >= 0)
		close(w->listen_fd6);
	for (size_t i = 0; i < w->n_gw_fds; i++)
		close(w->gw_fds[i]);
	route_worker_free(w->rw);
	snapshot_release(w->snap);
	mx_table_free(w->mx);
	free(w);
}

void worker_stats(struct worker *w, struct proxy_stats *out)
{
	proxy_get_stats(w->proxy, out);
}

struct mx_table *worker_metrics(const struct worker *w)
{
	return w->mx;
}

int worker_listen_fd(const struct worker *w)
{
	return w->listen_fd;
}

int worker_listen_fd6(const struct worker *w)
{
	return w->listen_fd6;
}
