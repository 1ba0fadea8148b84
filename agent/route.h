/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The router: Istio VirtualService and DestinationRule semantics compiled once
 * per config snapshot into an immutable route table, then applied per HTTP
 * request by route_select().
 *
 * A request is routed by the service whose clusterIP:port it was sent to (the
 * original destination the kernel captured), not by its Host header as a
 * sidecar's Envoy does: the VirtualService that applies is the one whose hosts
 * name that service (exact FQDN first, then the longest wildcard), bound to the
 * mesh and exported to the client's namespace. Its rules are tried in order; a
 * weighted destination is chosen by smooth weighted round robin; the
 * DestinationRule that applies to the destination's host (Istio's lookup
 * order: client namespace, service namespace, root namespace) gives its
 * subsets and traffic policy; the load balancer of the resulting cluster picks
 * the endpoint.
 *
 * Threads: a route_table is shared read-only by every worker. Each worker owns
 * one route_worker bound to one table (weighted round-robin positions,
 * round-robin positions, active requests, outlier state, RNG); nothing on the
 * request path locks or allocates.
 */
#ifndef SHUNT_ROUTE_H
#define SHUNT_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "config.h"
#include "istio.h"
#include "proxy.h"

#define ROUTE_ROOT_NAMESPACE "istio-system" /* Istio's default meshConfig.rootNamespace */
#define ROUTE_CLUSTER_MAX    160

struct route_table;
struct route_worker;
struct route_trace;

/* One request, as the router sees it. */
struct route_req {
	const struct http_req *req; /* method, url (path + query), headers (repeats appear often) */
	struct in_addr dst_ip;	    /* original destination (service VIP) */
	uint16_t dst_port;	    /* host order */
	struct in_addr src_ip; /* client address: its pod gives sourceLabels, sourceNamespace and
				  the namespace exportTo is checked against */
	bool https;	       /* scheme: false for now (plain HTTP capture) */
	const char *sni;       /* through a TLS Gateway port: the ClientHello's server name */
	/* explain.c: told how each match entry was evaluated (route_int.h); NULL on the request
	 * path, where it costs one branch per entry tried. */
	const struct route_trace *trace;
};

enum route_verdict {
	RV_FORWARD,  /* send to ep */
	RV_NO_ROUTE, /* 404, Envoy flag NR: nothing serves dst, or the host's rules match nothing */
	RV_NO_CLUSTER,	/* 503 NC: the destination names no known cluster (host, port, subset) */
	RV_NO_HEALTHY,	/* 503 UH: the cluster has no ready, non-ejected endpoint */
	RV_REDIRECT,	/* the rule redirects: the proxy builds the answer from rule->redirect */
	RV_PASSTHROUGH, /* DestinationRule PASSTHROUGH: forward to the original destination (ep) */
	RV_BLACKHOLE,	/* 502: a host the registry does not know, from a REGISTRY_ONLY pod */
	RV_HTTPS_REDIRECT, /* 301 to https://host/path: the Gateway server's tls.httpsRedirect */
};

/* "FORWARD", "NO_ROUTE", ... */
const char *route_verdict_str(enum route_verdict v);
/* Envoy's response flag for @v ("NR", "NC", "UH") or NULL, and the status of a local reply (404,
 * 503) or 0 when the request goes upstream or is redirected. */
const char *route_verdict_flag(enum route_verdict v);
int route_verdict_status(enum route_verdict v);

struct route_result {
	enum route_verdict verdict;
	const struct virtual_service *vs; /* NULL: no VirtualService, the default route */
	const struct http_route
		*rule;	   /* the matched rule (actions are read from it); NULL: default */
	size_t rule_index; /* of rule in vs->http */
	const struct http_match *match; /* the entry of rule->match that matched; NULL: the rule
					   has none (catch-all) or no rule */
	const struct route_destination *rdst; /* the weighted destination chosen; NULL: default */
	const struct service *svc; /* the destination service (FORWARD, UH, PASSTHROUGH) */
	const struct traffic_policy *policy; /* the cluster's merged policy (subset parts over the
						rule's); connectionPool is the proxy's to enforce */
	const struct destination_rule *dr;   /* the DestinationRule applied, or NULL */
	uint32_t cluster_id;		 /* < route_table_n_clusters(): per-cluster accounting */
	struct sockaddr_in ep;		 /* FORWARD, PASSTHROUGH */
	char cluster[ROUTE_CLUSTER_MAX]; /* "outbound|3000|v1|greeter.default.svc.cluster.local" */
	const struct pod *ep_pod;	 /* the endpoint's pod, NULL for passthrough */
	uint64_t lb_token;		 /* FORWARD: hand back to route_done(); 0 otherwise */
	bool has_hash;			 /* consistent hashing found its key in the request: */
	uint64_t hash;			 /* the key's hash, for route_repick() */
	/* Consistent hash on an httpCookie with a ttl, and no such cookie in the request: the
	 * Set-Cookie value to add to the response. Owned by the worker, valid until its next
	 * route_select(); NULL otherwise. */
	const char *set_cookie;
};

/*
 * Compiles the VirtualServices and DestinationRules of @cfg (which must outlive
 * the table) into a new table in *@out. Returns 0, -ENOMEM, or -EINVAL when a
 * regex fails to compile (each one reported with log_error() as FILE:LINE:COL:
 * FIELD: reason).
 */
int route_table_build(const struct config *cfg, struct route_table **out);
/* Frees @rt once no worker uses it any more. NULL is fine. */
void route_table_free(struct route_table *rt);
/* The number of clusters of @rt (cluster_id of a result is below it). */
size_t route_table_n_clusters(const struct route_table *rt);

/* Per-worker state for @rt, its RNG seeded with @seed (give each worker its own). NULL on ENOMEM.
 */
struct route_worker *route_worker_new(const struct route_table *rt, uint64_t seed);
/* Frees @w. Tokens it handed out are then meaningless. NULL is fine. */
void route_worker_free(struct route_worker *w);
/* Sets the time (monotonic ms, e.g. loop_now_ms()) route_select() and route_done() use for
 * outlier ejection. Call it before each of them, or at least once per loop iteration. */
void route_worker_set_now(struct route_worker *w, uint64_t now_ms);

/*
 * Routes @rq with @rt and the worker state @w (bound to @rt): fills @out.
 * Returns 0 (the decision is out->verdict), or -EINVAL when @w belongs to
 * another table. Pointers in @out point into the config and @w; they stay
 * valid while the table lives (set_cookie: until the next call).
 */
/*
 * Routes @rq that came in through a Gateway listener of this agent on port
 * rq->dst_port: among the Gateways the agent serves (their selector matches
 * cfg->agent_labels) with a server on that port serving the Host, the
 * VirtualService bound to one (gateways: name or namespace/name) whose host
 * matches best (exact, then the longest wildcard, "*" last) and is visible
 * to the Gateway's namespace; then its rules as route_select() applies them
 * (entries naming other gateways do not apply). On a TLS port with rq->sni,
 * only the servers serving that name count, as Istio gives each server its
 * own routes. No VirtualService: 404.
 */
int route_select_gateway(const struct route_table *rt, struct route_worker *w,
			 const struct route_req *rq, struct route_result *out);

int route_select(const struct route_table *rt, struct route_worker *w, const struct route_req *rq,
		 struct route_result *out);

/*
 * The request @res forwarded is over (least-request accounting, outlier
 * detection): @status is the response status, 0 when the upstream failed
 * (connect failure, reset), -1 when the client left first. Call it once per
 * RV_FORWARD result. A token from another table (the worker moved to a new
 * snapshot meanwhile) is ignored.
 */
void route_done(struct route_worker *w, const struct route_result *res, int status);
/* The same with the token alone, for callers that keep only res->lb_token. */
void route_done_token(struct route_worker *w, uint64_t lb_token, int status);

/*
 * The actions of the rule @res matched, as Istio configures Envoy, into @out (which the caller
 * filled with ep, status, flags and tokens from @res): for RV_FORWARD and RV_PASSTHROUGH
 *   - target: rewrite.uriRegexRewrite (global, on the path; the query is kept), else
 *     rewrite.uri in place of what the entry matched (Envoy's prefix_rewrite on Istio's route:
 *     the prefix of a prefix match, the whole path of an exact or regex match, the leading "/"
 *     when the entry has no uri or the rule no entry); NULL: unchanged;
 *   - req_drop/req_add: rule then destination headers.request (a single destination's join the
 *     rule's list; a weighted one's are applied before the rule's, which win), remove before
 *     set/add, Host from rewrite.authority or a header op on host/:authority (a name set or
 *     removed is in req_drop, one only added to is not);
 *   - rsp_drop/rsp_add: the same on the response, then the Set-Cookie of res->set_cookie, then
 *     CORS headers for an allowed Origin;
 *   - timeout_ms, retry policy (Istio's default when the rule has no retries), connect timeout
 *     of the cluster, mirrors[] (endpoint of the mirror's cluster, "<host>-shadow[:port]").
 * For those and for RV_NO_HEALTHY and RV_NO_CLUSTER (a local reply) the rule's fault and
 * CORS preflight apply first, in Envoy's filter order (fault, then CORS, then the router):
 *   - fault delay (flag DI): out->delay_ms; fault abort (FI): out->status, body "fault filter
 *     abort". Both may be drawn: then delay_ms and status are both set and the proxy waits
 *     delay_ms before sending the local reply, as Envoy's fault filter aborts after its timer;
 *   - an allowed CORS preflight: status 200, out->headers, no body (delayed likewise).
 * A local reply made here for an RV_FORWARD result releases its endpoint (route_done with -1)
 * and clears token[0]. Strings live in @w until the next call. 0, or -ENOMEM.
 */
int route_actions(const struct route_table *rt, struct route_worker *w, const struct route_req *rq,
		  const struct route_result *res, struct proxy_pick *out);

/*
 * A retry is due for the request whose last attempt went to the endpoint of @lb_token (its
 * route_done() was already reported): picks an endpoint of the same cluster into *@ep and a
 * new token into *@lb_token. Hosts in *@tried (bit i: host i < 63; the previous host is added)
 * are avoided while the cluster has another one, as Envoy's previous_hosts predicate (up to 5
 * draws). With @hash (consistent hashing, where Istio sets no such predicate) the ring gives
 * the same host again unless it was ejected. 0, -EINVAL (no token), -ESTALE (a token of
 * another table), -EHOSTUNREACH (no host can serve).
 */
int route_repick(const struct route_table *rt, struct route_worker *w, uint64_t *lb_token,
		 uint64_t *tried, const uint64_t *hash, struct sockaddr_in *ep);

/*
 * connectionPool admission (Envoy's circuit breakers, per agent): counts one
 * more attempt in flight in the cluster of @lb_token (from a route_select()
 * or route_repick() of @rt). False when that cluster is full: the request is
 * answered 503 with flag UO and nothing is counted. @force counts it anyway
 * (a retry of an admitted request). Any worker, any thread.
 */
bool route_admit(const struct route_table *rt, uint64_t lb_token, bool force);
/* The attempt route_admit() counted is over. */
void route_release(const struct route_table *rt, uint64_t lb_token);

/*
 * Whether connections to service @svc_index (of the table's config) must go
 * through the agent: a VirtualService with http rules names it (for any
 * client), or a DestinationRule for it asks for per-request work (consistent
 * hash, outlier detection, connection pool limits, passthrough). Otherwise
 * the kernel balances its connections itself and the agent is not on the path.
 */
bool route_port_needs_l7(const struct route_table *rt, size_t svc_index);

/* The pod whose address is @ip as routing sees it (sourceLabels), or NULL: none, or several. */
const struct pod *route_client_pod(const struct route_table *rt, struct in_addr ip);

/* One backend of a weighted L4 (VirtualService tcp) route. */
struct route_l4_backend {
	struct in_addr ip;   /* s_addr 0: none (never, today: clusters hold IPv4 endpoints) */
	struct in6_addr ip6; /* the same pod's IPv6 address, when has_ip6 */
	bool has_ip6;
	uint16_t port;	 /* host order */
	uint64_t weight; /* relative */
};

/*
 * The weighted backends of the VirtualService tcp route that applies to port
 * index @port of service @svc_index, in @out (@cap entries), their number in
 * *@n. 0; -ENOENT when no tcp route applies (balance over the ready
 * endpoints evenly); -ENOSPC when @cap is too small.
 */
int route_l4_backends(const struct route_table *rt, size_t svc_index, size_t port,
		      struct route_l4_backend *out, size_t cap, size_t *n);

/* How the agent serves a connection it accepted (route_conn_mode()). */
enum route_conn_mode {
	ROUTE_CONN_HTTP, /* HTTP/1.1, request by request: route_select(), route_select_gateway() */
	ROUTE_CONN_TLS,	 /* unterminated TLS: read the ClientHello's SNI, then route_select_l4() */
	ROUTE_CONN_TCP,	 /* opaque bytes: route_select_l4() at once, without SNI */
};

/* One raw (TLS or TCP) connection, as the router sees it. */
struct route_conn {
	struct in_addr dst_ip; /* original destination; on a Gateway, the address it came in on */
	uint16_t dst_port;     /* host order */
	struct in_addr src_ip; /* the client */
	const char *sni;       /* the ClientHello's server name, lowercased; NULL: none */
	bool gateway;	       /* accepted on a Gateway listener of this agent */
};

/*
 * How connection @c (its sni unused) is served. In the mesh: a service VIP port that
 * route_port_needs_sni() says is TLS; else, on no VIP, a port that hosts without addresses
 * (ServiceEntries) serve as TLS or TCP and none as HTTP; else HTTP. On a Gateway port: TLS for
 * a server with tls.mode PASSTHROUGH (protocol TLS or HTTPS), TCP for a protocol TCP server,
 * else HTTP.
 */
enum route_conn_mode route_conn_mode(const struct route_table *rt, const struct route_conn *c);

/*
 * Routes raw connection @c as Istio's tls and tcp routes do, into @out (verdict FORWARD or
 * PASSTHROUGH with ep; NO_ROUTE, NO_CLUSTER, NO_HEALTHY or BLACKHOLE: the proxy closes it):
 *  - the mesh: the service of the VIP, else the ServiceEntry host without addresses that serves
 *    the port and that c->sni names (exact, else the longest wildcard; TCP: the first that
 *    serves the port), within the client's egress scope; none: PASSTHROUGH to the original
 *    destination, or BLACKHOLE for a REGISTRY_ONLY client. Then its VirtualService (the first
 *    visible to the client): the tls route whose match applies (port, destinationSubnets,
 *    sourceLabels, sourceNamespace, gateways "mesh") with the most specific of its sniHosts
 *    matching c->sni (exact, then the longest wildcard; the first route on a tie); else its
 *    first tcp route that applies; else the service itself;
 *  - a Gateway: among the servers of this agent's Gateways on the port that serve the SNI (TLS)
 *    or any (TCP), the VirtualServices bound to their Gateway whose hosts the server admits,
 *    visible to the Gateway's namespace: the most specific tls match as above, else the first
 *    tcp route that applies; none: NO_ROUTE.
 * A weighted destination is chosen by smooth weighted round robin, its subset and endpoint as
 * for requests. 0, or -EINVAL when @w belongs to another table.
 */
int route_select_l4(const struct route_table *rt, struct route_worker *w,
		    const struct route_conn *c, struct route_result *out);

/*
 * Whether port index @port of service @svc_index is a TLS port (route_port_is_tls()) that a tls
 * route of one of its VirtualServices may apply to (bound to the mesh, on any port or that one):
 * its connections must go through the agent, which reads their SNI.
 */
bool route_port_needs_sni(const struct route_table *rt, size_t svc_index, size_t port);

/* Whether @sp speaks TLS: a ServiceEntry protocol TLS or HTTPS, a Kubernetes appProtocol tls or
 * https, else a name tls, https, tls-* or https-* (Istio's port naming). */
bool route_port_is_tls(const struct svc_port *sp);

/* Whether port @sp of @svc, a ServiceEntry host without addresses, is captured by its port
 * whatever the address and served raw: a TLS port (routed by SNI) or a TCP one. */
bool route_port_by_port_l4(const struct service *svc, const struct svc_port *sp);

#endif /* SHUNT_ROUTE_H */
