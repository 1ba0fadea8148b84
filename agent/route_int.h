/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Inside the router: the compiled route table that route.c builds and
 * route_select.c and route_match.c read on the request path. Everything here
 * is immutable once route_table_build() returned.
 *
 * Namespaces are interned to small ids at build time; visibility (exportTo)
 * of every VirtualService and DestinationRule is a bitset over those ids, with
 * one extra bit for a client in no known namespace.
 */
#ifndef SHUNT_ROUTE_INT_H
#define SHUNT_ROUTE_INT_H

#include "lb.h"
#include "route.h"

struct regex;

#define RT_NS_NONE    UINT32_MAX       /* the client is in no known namespace */
#define RT_NS_ANY     (UINT32_MAX - 1) /* a match without sourceNamespace */
#define RT_NS_MISSING (UINT32_MAX - 2) /* sourceNamespace no pod lives in: never matches */

#define RT_PORT_REQUEST (-1) /* destination port unset on a multi-port service: the request's */
#define RT_PORT_MISSING (-2) /* the service has no such port: NC */

/* A compiled StringMatch. */
struct rt_str {
	enum str_match_kind kind; /* SM_NONE: no condition (uri...) or presence (headers...) */
	bool caseless;		  /* exact and prefix ignore ASCII case (ignoreUriCase) */
	const char *s;		  /* exact or prefix */
	size_t len;
	struct regex *re; /* SM_REGEX, owned */
};

/* Where a header condition reads its value: a header, or what Envoy keeps as a pseudo-header. */
enum rt_field {
	RF_HEADER,
	RF_AUTHORITY, /* :authority (Host) */
	RF_METHOD,    /* :method */
	RF_SCHEME,    /* :scheme */
	RF_PATH,      /* :path, query included */
};

/* One entry of headers, withoutHeaders (invert) or queryParams. */
struct rt_kv {
	const char *name;
	size_t name_len;
	enum rt_field field;
	struct rt_str m; /* SM_NONE: present */
	bool invert;	 /* withoutHeaders: a missing header is "" (absent for SM_NONE) */
};

/* One HTTPMatchRequest. */
struct rt_match {
	bool mesh;	  /* applies to mesh traffic at all (gateways empty or naming "mesh") */
	bool by_gateways; /* gateways given: Istio then ignores sourceLabels and sourceNamespace */
	uint32_t port;	  /* 0: any */
	struct rt_str uri, scheme, method, authority;
	struct rt_kv *hdrs; /* headers then withoutHeaders */
	size_t n_hdrs;
	struct rt_kv *qps;
	size_t n_qps;
	const struct labels *src_labels; /* NULL: any */
	uint32_t src_ns;		 /* namespace id, RT_NS_ANY, or RT_NS_MISSING */
	/* The gateways it binds to: the entry's, else its VirtualService's (in the config). */
	char *const *gws;
	size_t n_gws;
	const char *vs_ns;
};

struct rt_svc;
struct rt_l4_vs;

/*
 * Header edits of one direction, flattened at build time from the rule's and the destination's
 * set/add/remove in the order Envoy applies them (route_action.c): what is left per name is
 * either "the received values, then these lines" (only added to) or "these lines only" (set or
 * removed somewhere: the name is dropped).
 */
struct rt_hdr_edit {
	char *drop; /* "name\n"... set or removed: the proxy leaves the received ones out */
	char *add;  /* "name: value\r\n"... added */
};

/* One weighted destination of a rule. */
struct rt_dest {
	const struct route_destination *src;
	struct rt_svc *svc; /* NULL: host is no known service (NC) */
	int port;	    /* index in the service's ports, RT_PORT_REQUEST or RT_PORT_MISSING */
	const char *subset; /* NULL: the whole service */
	const char *authority;	     /* Host rewrite: the rule's (rewrite, then headers), else this
					destination's headers; NULL: keep */
	struct rt_hdr_edit req, rsp; /* the rule's and this destination's header operations */
};

/* A mirror of a rule, its cluster resolved like a destination's. */
struct rt_mirror {
	struct rt_svc *svc; /* NULL: no known service, never mirrored */
	int port;
	const char *subset;
	uint32_t ppm; /* chance in millionths (Envoy's FractionalPercent over a million) */
};

/* The retry policy Istio gives Envoy for a rule, parsed once. */
struct rt_retry {
	uint32_t on; /* PROXY_RETRY_* */
	uint16_t retries;
	uint8_t n_status;
	uint16_t status[PROXY_RETRY_STATUS_MAX];
	uint32_t per_try_ms;
};

/* What a rule does besides choosing a destination (route_action.c). */
struct rt_actions {
	struct regex *rewrite_re; /* uriRegexRewrite.match, unanchored; NULL: none */
	struct rt_retry retry;
	uint32_t delay_ppm, abort_ppm; /* fault chances in millionths */
	struct rt_mirror *mirrors;
	size_t n_mirrors;
	struct rt_str *origins; /* corsPolicy allowOrigins, compiled */
	size_t n_origins;
	char *cors_methods, *cors_headers, *cors_expose; /* joined with ","; NULL: none */
	char cors_max_age[24];				 /* "": unset */
};

struct rt_rule {
	const struct http_route *src;
	size_t index;
	struct rt_match *m; /* n_m == 0: catch-all */
	size_t n_m;
	struct rt_dest *d; /* weight > 0 only (Istio drops zero weights when there are several) */
	uint32_t *w;	   /* weights of d */
	size_t n_d;
	uint64_t total;	   /* sum of w */
	uint32_t wrr_base; /* first slot of this rule in a worker's SWRR state (n_d > 1) */
	struct rt_actions act;
};

/* Open-addressing map from strings to ids (keys not owned). */
struct rt_strmap_slot {
	const char *key; /* NULL: empty */
	uint32_t len;
	uint32_t val;
};

struct rt_strmap {
	struct rt_strmap_slot *slots;
	size_t mask, n;
};

/*
 * The candidate index of a VirtualService with many rules (route_index.c builds it,
 * route_cands.c reads it). Each match entry is filed under one condition it cannot match
 * without (its key): a path (uri exact, uri prefix, the literal prefix of a uri regex), a
 * field's value (method, authority, a header: exact) or a field's presence (a header). An
 * entry without such a condition, and a rule without entries, is always a candidate. A
 * request's candidates are the rules of the lists its path, fields and the always list
 * name, merged in rule order; a field is looked up only once the merge reaches its first
 * rule. Lists live in @pool as a count then rule indexes ascending; offset 0 is the empty
 * list.
 */
struct rt_tnode {
	uint32_t label, label_len; /* the edge into this node: bytes of ix->chars, lower case */
	uint32_t kids, n_kids;	   /* children, contiguous in ix->nodes, by their label's byte */
	uint32_t pre;		   /* list: keyed on this path as a uri prefix or regex prefix */
	uint32_t exact;		   /* list: keyed on this path as an exact uri */
};

struct rt_ixfield {
	enum rt_field field;
	const char *name; /* RF_HEADER: lower case, as headers are stored */
	size_t name_len;
	uint32_t first;		 /* the lowest rule of its lists: fields are sorted by it */
	uint32_t present;	 /* list: keyed on the field being present */
	struct rt_strmap values; /* value -> list: keyed on the field having that value */
};

struct rt_index {
	struct rt_tnode *nodes; /* nodes[0] is the root; NULL: no path key */
	size_t n_nodes;
	char *chars;
	struct rt_ixfield *fields;
	size_t n_fields;
	uint32_t *pool;
	uint32_t always;    /* list: rules always tried */
	size_t max_cursors; /* the most lists one request can gather */
	/* When no candidate matched, whether a skipped entry applies to the client: */
	uint32_t *ports; /* ports on which some entry applies to every mesh client, ascending */
	size_t n_ports;
	uint32_t *cond; /* entries (in vs->matches) whose client conditions decide it */
	size_t n_cond;
};

struct rt_vs {
	const struct virtual_service *src;
	struct rt_rule *rules;
	size_t n_rules;
	struct rt_match *matches; /* every rule's entries, rule after rule (rules[i].m points in) */
	size_t n_matches;
	const uint64_t *vis; /* exportTo bitset */
	bool always_applies; /* some entry applies to every client on every port */
	bool indexed;	     /* many rules: ix is built (route_index.c) */
	struct rt_index ix;
};

/* A DestinationRule whose host matches a service: a candidate, chosen per client. */
struct rt_drc {
	const struct destination_rule *src;
	const uint64_t *vis; /* exportTo bitset */
	uint32_t ns;	     /* namespace id */
	uint32_t cl_off;     /* its clusters in each port's run of the service's (struct rt_svc) */
	bool selector;	     /* has a workloadSelector */
	bool private_only;   /* exportTo only its own namespace (not in Istio's exported index) */
};

/* One (service port, DestinationRule, subset): what a destination reaches. 64 bytes, a cache
 * line: a config of 10,000 services has 30,000 of them or more. Its id is its index in
 * rt->clusters (rt_cluster_id()). */
struct rt_cluster {
	const char *name; /* outbound|port|subset|fqdn, in the table's string table */
	const struct service *svc;
	const struct destination_rule *dr; /* NULL: none */
	/* merged: subset parts replace the rule's. The rule's own (or an empty one) when the
	 * subset sets none, else a merged copy in the table's string table. */
	const struct traffic_policy *policy;
	struct lb_cluster lb; /* its ring and outlier parameters in the table's string table */
	/* Its lb.n_hosts ready endpoints (of the subset) from rt->eps[eps] (rt_cluster_ep()): the
	 * port's run when the subset keeps all of them, else a run of its own. */
	uint32_t eps;
	uint32_t host_base; /* first slot of its hosts in a worker's per-host state */
};

/* A cluster's connectionPool admission (rt->admit[id]), over all workers. */
struct rt_admit {
	uint32_t max;	 /* attempts in flight at most; 0: no limit */
	uint32_t active; /* atomic, the table's one mutable field: attempts in flight now */
};

struct rt_svc {
	const struct service *svc;
	char *fqdn;
	struct rt_vs **vs;  /* candidates: visible ones win, most specific host first, then oldest;
			       in rt->vs_refs */
	struct rt_drc *drs; /* candidates: most specific host first, then oldest; in rt->drcs */
	uint32_t n_vs, n_drs;
	uint32_t ns;
	/* Its clusters: from rt->clusters[cl_first], cl_stride per port. In each port's run, the
	 * cluster without DestinationRule first when some client may get none (cl_plain; a rule
	 * exported everywhere leaves none without), then per candidate rule (at drs[i].cl_off)
	 * the whole service's and one per subset. */
	uint32_t cl_first, cl_stride;
	bool cl_plain;
};

/* A client address: its pod (NULL when unknown or ambiguous) and namespace id. */
struct rt_client {
	uint32_t ip; /* network order; 0: empty slot */
	uint32_t ns;
	const struct pod *pod;
};

struct route_table {
	const struct config *cfg;
	uint16_t tag;		/* in every lb_token, to spot tokens from another table */
	struct rt_svc *svcs;	/* parallel to cfg->services */
	struct rt_vs *vs;	/* parallel to cfg->istio.vs */
	struct rt_vs **vs_refs; /* every service's VirtualService candidates, service by service */
	struct rt_drc *drcs;	/* every service's DestinationRule candidates, likewise */
	struct rt_cluster *clusters; /* by id, service by service */
	struct rt_admit *admit;	     /* by cluster id; NULL: no cluster has a connection limit */
	const struct endpoint **eps; /* every cluster's endpoints, one run per port or subset */
	size_t n_clusters, n_hosts, max_hosts;
	uint32_t n_wrr; /* SWRR slots over all rules */
	struct rt_strmap ns_ids;
	const char **ns_names;
	size_t n_ns;
	uint32_t root_ns; /* id of ROUTE_ROOT_NAMESPACE */
	struct rt_strmap svc_by_fqdn;
	struct rt_client *clients; /* open addressing by ip, ip 0 empty */
	size_t clients_mask;
	uint64_t *bits; /* every visibility bitset */
	size_t bits_words;
	size_t n_rules;
	size_t max_cursors; /* the most of any indexed VirtualService (rt_index) */
	bool bad_regex;
	struct rt_l4_vs *l4; /* parallel to vs: their tls and tcp routes (route_tls.c) */
	struct strtab strs;  /* cluster names and service FQDNs */
	uint8_t *l4_ports;   /* [65536]: how a port captured whatever the address is served */
};

static inline uint32_t rt_cluster_id(const struct route_table *rt, const struct rt_cluster *c)
{
	return (uint32_t)(c - rt->clusters);
}

/* Endpoint @host (< c->lb.n_hosts) of cluster @c. */
static inline const struct endpoint *rt_cluster_ep(const struct route_table *rt,
						   const struct rt_cluster *c, uint32_t host)
{
	return rt->eps[c->eps + host];
}

/* An lb token (route_result.lb_token): the table's tag << 48 | cluster id << TOKEN_ID_BITS |
 * host index. */
#define TOKEN_ID_BITS 24
#define TOKEN_ID_MAX  ((1u << TOKEN_ID_BITS) - 1)

/* A grow-once string buffer of a worker. */
struct rt_sbuf {
	char *p;
	size_t len, cap;
};

/* The buffers route_actions() builds strings in: one per string, so that none moves while
 * another grows. */
enum {
	RT_SB_TARGET,
	RT_SB_RSP_DROP,
	RT_SB_RSP_ADD,
	RT_SB_HEADERS,
	RT_SB_MIRROR, /* RT_SB_MIRROR + i: authority of mirror i */
	RT_SBUF_N = RT_SB_MIRROR + PROXY_MIRRORS_MAX,
};

struct route_worker {
	const struct route_table *rt;
	struct lb_rng rng;
	uint64_t now_ms;
	int64_t *wrr;		     /* [rt->n_wrr] */
	struct lb_cluster_state *cs; /* [rt->n_clusters] */
	struct lb_host_state *hs;    /* [rt->n_hosts] */
	uint32_t *scratch;	     /* [rt->max_hosts] */
	struct rt_cursor *cur;	     /* [rt->max_cursors]: the candidate lists of a request */
	char *buf;		     /* joined header values */
	size_t buf_cap;
	char cookie[256];	       /* the Set-Cookie value of the last result */
	struct rt_sbuf act[RT_SBUF_N]; /* route_actions() strings, until its next call */
};

/* What the matchers read of one request, parsed once. */
struct rt_reqview {
	const struct route_req *rq;
	const char *path; /* without query and fragment */
	size_t path_len;
	const char *pathq; /* path and query: what Envoy's prefix match sees */
	size_t pathq_len;
	const char *query; /* after '?', up to '#'; NULL: none */
	size_t query_len;
	const char *authority; /* Host, or the authority of an absolute-form target; NULL: none */
	size_t authority_len;
	const struct rt_client *client;
	const struct gateway *gw; /* the Gateway the request came in through; NULL: mesh */
};

/* String map and candidate index (route_index.c). */
int rt_strmap_init(struct rt_strmap *m, size_t expect);
bool rt_strmap_get(const struct rt_strmap *m, const char *key, size_t len, uint32_t *val);
/* Adds NUL-terminated @key unless present (false then); the map was sized for every key. */
bool rt_strmap_put(struct rt_strmap *m, const char *key, uint32_t val);
/* Adds @key of @len bytes (not owned, any bytes) unless present (false then). */
bool rt_strmap_put_len(struct rt_strmap *m, const char *key, size_t len, uint32_t val);
void rt_strmap_free(struct rt_strmap *m);
/* Computes vs->always_applies, and the candidate index (vs->ix) when @vs has many rules.
 * 0 or -ENOMEM. */
int rt_vs_index(struct rt_vs *vs);
void rt_vs_index_free(struct rt_vs *vs);
/* The literal bytes every string @pattern (RE2 syntax, matched whole) fully matches must start
 * with, found conservatively (a shorter prefix is always safe), into @out (@cap bytes, no NUL):
 * their length, 0 when none (route_prefix.c). */
size_t rt_regex_prefix(const char *pattern, char *out, size_t cap);

/* The value of @field (@name: RF_HEADER's) in the request of @v, repeated headers joined with
 * "," in w->buf (valid until the next call); false when the request has none (route_match.c,
 * for the index's key fields). */
bool rt_field_value(struct route_worker *w, const struct rt_reqview *v, enum rt_field field,
		    const char *name, size_t name_len, const char **val, size_t *len);

/* One list of rule indexes being merged (route_cands.c). */
struct rt_cursor {
	const uint32_t *p, *end;
};

/* A request's walk over the candidates of an indexed VirtualService (route_cands.c). */
struct rt_cands {
	struct route_worker *w;
	const struct rt_vs *vs;
	const struct rt_reqview *v;
	struct rt_cursor *cur; /* the lists gathered so far, w->cur */
	size_t n;
	size_t next_field; /* ix->fields from here on are not looked up yet */
};

/* Starts @c on the candidates of indexed @vs for the request of @v: the lists of the path and
 * the always list; a key field's are added once a rule it names could come next. */
void rt_cands_init(struct rt_cands *c, struct route_worker *w, const struct rt_vs *vs,
		   const struct rt_reqview *v);
/* The next candidate rule into *@rule, ascending, each once: false when there is none. */
bool rt_cands_next(struct rt_cands *c, uint32_t *rule);

/* Whether some entry of indexed @vs applies to the mesh client of @v on @port (the slow
 * question, asked once no candidate matched and no tried entry applied). */
bool rt_vs_applies(const struct rt_vs *vs, const struct rt_reqview *v, uint16_t port);

/* Namespace helpers (route.c). */
static inline bool rt_visible(const uint64_t *vis, uint32_t ns, size_t n_ns)
{
	size_t bit = ns == RT_NS_NONE ? n_ns : ns;

	return vis[bit / 64] >> (bit % 64) & 1;
}
const struct rt_client *rt_client_find(const struct route_table *rt, struct in_addr ip);
bool rt_labels_subset(const struct labels *want, const struct labels *have);
bool rt_host_matches(const char *pattern, const char *fqdn, size_t *specificity);

/* Why a match entry did not match: the first condition that failed, as the matchers saw it. */
enum rt_miss {
	RT_MISS_NONE = 0,      /* it matched */
	RT_MISS_PORT,	       /* match.port is another port */
	RT_MISS_GATEWAY,       /* through a Gateway the entry does not bind to */
	RT_MISS_NOT_MESH,      /* the entry names gateways, "mesh" not among them */
	RT_MISS_SOURCE_LABELS, /* sourceLabels: the client's pod lacks one (or is unknown) */
	RT_MISS_SOURCE_NS,     /* sourceNamespace: the client is in another one */
	RT_MISS_URI,	       /* uri */
	RT_MISS_HEADER, /* m->hdrs[cond]: method, authority, scheme, headers, withoutHeaders */
	RT_MISS_QUERY,	/* m->qps[cond] */
};

/*
 * What route_select() tells explain.c: every entry it evaluated, in order, with
 * the rule it belongs to (@entry SIZE_MAX: a rule without match entries, a
 * catch-all) and why it missed (RT_MISS_NONE: it matched; @cond indexes the
 * header or query condition). With a trace, every rule is tried in order: the
 * candidate index (struct rt_index) only skips rules that cannot match, so the
 * decision is the one the request path makes (route_index_test checks the
 * index against a reference, explain_test the trace against route_select()).
 */
struct route_trace {
	void (*entry)(const struct route_trace *t, const struct rt_rule *r, size_t entry,
		      enum rt_miss miss, size_t cond);
};

/* Request view and matchers (route_match.c). */
void rt_reqview_init(struct rt_reqview *v, const struct route_req *rq,
		     const struct rt_client *client);
/* Whether @m applies to this client and port at all (Istio drops it from the client's routes
 * otherwise): RT_MISS_NONE, or the condition that keeps it from applying. */
enum rt_miss rt_match_applies_why(const struct rt_match *m, const struct rt_reqview *v,
				  uint16_t port);
/* Whether @m matches the request: RT_MISS_NONE, or the first condition that does not hold (its
 * index in *@cond for RT_MISS_HEADER and RT_MISS_QUERY; @cond may be NULL). */
enum rt_miss rt_match_request_why(struct route_worker *w, const struct rt_match *m,
				  const struct rt_reqview *v, size_t *cond);

static inline bool rt_match_applies(const struct rt_match *m, const struct rt_reqview *v,
				    uint16_t port)
{
	return rt_match_applies_why(m, v, port) == RT_MISS_NONE;
}

static inline bool rt_match_request(struct route_worker *w, const struct rt_match *m,
				    const struct rt_reqview *v)
{
	return rt_match_request_why(w, m, v, NULL) == RT_MISS_NONE;
}
/* The consistent-hash key of @pol for the request into *@h; false when the request has none. A
 * cookie generated for a ttl sets w->cookie and *@set_cookie. */
bool rt_hash_key(struct route_worker *w, const struct lb_policy *pol, const struct rt_reqview *v,
		 uint64_t *h, const char **set_cookie);
/* Compiles @sm (of @field, for messages) into @out. @star_present: regex "*" means "present", as
 * Istio makes it for header and query matches. -EINVAL (reported with log_error()) for a regex
 * that does not compile, -ENOMEM. */
int rt_str_compile(struct rt_str *out, const struct str_match *sm, bool caseless, bool star_present,
		   const char *field);
void rt_str_release(struct rt_str *s);

/* The cluster destination @d of a rule reaches for a request to port @req_port from client @c,
 * as route_select() finds it (route_select.c, for explain.c); NULL: none (NC). */
const struct rt_cluster *rt_dest_cluster(const struct route_table *rt, const struct rt_dest *d,
					 uint16_t req_port, const struct rt_client *c);

/* Every service's clusters into rt->clusters, their endpoints into rt->eps (route_cluster.c):
 * once its services have their candidates. 0 or -ENOMEM. */
int rt_clusters_build(struct route_table *rt);
/* What rt_clusters_build() allocated (also after it failed). */
void rt_clusters_free(struct route_table *rt);

/* The DestinationRule client @c gets for @rs, as Istio chooses it (route_select.c): 0 (none) or
 * 1 + its index in rs->drs. */
size_t rt_choose_dr(const struct route_table *rt, const struct rt_svc *rs,
		    const struct rt_client *c);

/* Resolves @dst to a service and port index as a route destination is (route.c). */
void rt_resolve(const struct route_table *rt, const struct istio_destination *dst,
		struct rt_svc **svc, int *port);

/* Actions (route_action.c): compiled into r->act and each destination's edits at build time;
 * -EINVAL (reported) for a regex that does not compile, -ENOMEM. */
int rt_actions_build(struct route_table *rt, struct rt_rule *r);
void rt_actions_free(struct rt_rule *r);
/* Picks an endpoint of mirror @m's cluster for the client of @v into *@ep, without counting it
 * as an active request (nothing reports a mirror's end). false: no such cluster or endpoint. */
bool rt_mirror_pick(const struct route_table *rt, struct route_worker *w, const struct rt_mirror *m,
		    const struct rt_reqview *v, struct sockaddr_in *ep);

/* The request path's helpers that raw connections share (route_select.c). */
void rt_result_reset(struct route_result *out);
/* Weighted destination @d was chosen: its cluster for the client of @v (NC: none), then an
 * endpoint of it, into @out. 0 or -errno. */
int rt_dest_forward(const struct route_table *rt, struct route_worker *w, const struct rt_dest *d,
		    const struct rt_reqview *v, struct route_result *out);
/* No route applies: an endpoint of port index @port of @rs itself. 0 or -errno. */
int rt_service_forward(const struct route_table *rt, struct route_worker *w,
		       const struct rt_svc *rs, size_t port, const struct rt_reqview *v,
		       struct route_result *out);
/* See unknown_host(), server_admits() and server_serves() there. */
int rt_unknown_host(const struct route_table *rt, const struct rt_reqview *v,
		    struct route_result *out);
bool rt_server_admits(const char *sh, const struct gateway *g, const char *vs_ns, const char *h);
bool rt_server_serves(const struct gw_server *sv, const char *host);

/* VirtualService tls and tcp routes for raw connections (route_tls.c): compiled into rt->l4 (one
 * per VirtualService) and rt->l4_ports at build time. 0 or -ENOMEM. */
int rt_l4_build(struct route_table *rt);
void rt_l4_free(struct route_table *rt);

#endif /* SHUNT_ROUTE_INT_H */
