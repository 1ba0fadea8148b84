// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * VirtualService tls routes, and the tcp routes of raw connections: what the
 * loader keeps and refuses (Istio's messages at file:line:col), then where
 * route_select_l4() sends a connection by its SNI: a Kubernetes TLS port with
 * tls routes (exact SNI over the longest wildcard over an earlier shorter
 * one, sourceLabels), ServiceEntry hosts without addresses captured by port
 * (the entry named by SNI, undeclared names to their original destination or
 * closed under REGISTRY_ONLY, TCP by port), weights exact by smooth weighted
 * round robin, and a Gateway's PASSTHROUGH and TCP servers; and which
 * connections the kernel must send to the agent at all (route_conn_mode(),
 * route_port_needs_sni()).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "gateway.h"
#include "istio.h"
#include "log.h"
#include "route.h"

#include "diags.h"

#define VS_HEAD "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"

/* ---- the loader ---- */

/* Istio's bookinfo-sni example (its TLSRoute documentation), bound to a Gateway. */
static void bookinfo_sni_loads(void **state)
{
	static const char yaml[] =
		VS_HEAD "metadata: {name: bookinfo-sni, namespace: default}\n"
			"spec:\n"
			"  hosts: ['*.bookinfo.com']\n"
			"  gateways: [mygateway]\n"
			"  tls:\n"
			"  - match:\n"
			"    - port: 443\n"
			"      sniHosts: [login.bookinfo.com]\n"
			"    route:\n"
			"    - destination: {host: login.prod.svc.cluster.local}\n"
			"  - match:\n"
			"    - port: 443\n"
			"      sniHosts: [reviews.bookinfo.com]\n"
			"      destinationSubnets: [10.1.0.0/16, 10.2.3.4]\n"
			"      sourceLabels: {app: web}\n"
			"      sourceNamespace: shop\n"
			"    route:\n"
			"    - destination: {host: reviews, subset: v1}\n"
			"      weight: 80\n"
			"    - destination: {host: reviews, subset: v2}\n"
			"      weight: 20\n";
	const char *const none[] = {NULL};
	struct config *cfg = load_ok("sni.yaml", yaml);
	const struct virtual_service *v = &cfg->istio.vs[0];
	const struct l4_match *m;

	assert_diags(LOG_ERROR, none);
	assert_diags(LOG_WARN, none);
	assert_diags(LOG_INFO, none);
	assert_int_equal(v->n_tls, 2);
	assert_int_equal(v->tls[0].n_match, 1);
	assert_int_equal(v->tls[0].match[0].port, 443);
	assert_string_equal(v->tls[0].match[0].sni_hosts[0], "login.bookinfo.com");
	assert_string_equal(v->tls[0].route[0].dst.fqdn, "login.prod.svc.cluster.local");
	m = &v->tls[1].match[0];
	assert_int_equal(m->n_dst_subnets, 2);
	assert_int_equal(m->dst_subnets[0].prefix, 16);
	assert_int_equal(m->dst_subnets[1].prefix, 32);
	assert_string_equal(labels_get(&m->source_labels, "app"), "web");
	assert_string_equal(m->source_namespace, "shop");
	assert_int_equal(v->tls[1].n_route, 2);
	assert_string_equal(v->tls[1].route[1].dst.fqdn, "reviews.default.svc.cluster.local");
	assert_int_equal(v->tls[1].route[1].weight, 20);
	assert_int_equal(v->tls[1].loc.line, 13);
	config_free(cfg);
}

/* Every problem at once, each with Istio's message at its place. */
static void problems_reported_where_they_are(void **state)
{
	static const char yaml[] =
		VS_HEAD "metadata: {name: bad, namespace: default}\n"
			"spec:\n"
			"  hosts: [a.example.com, '*.b.example.com', c]\n"
			"  tls:\n"
			"  - route:\n"
			"    - destination: {host: a.example.com}\n"
			"  - match:\n"
			"    - port: 0\n"
			"    - sniHosts: [x.example.com, '*.example.com', a..example.com]\n"
			"    - sniHosts: [x.b.example.com, c, 10.0.0.1]\n"
			"      destinationSubnets: [10.0.0.0/33, 300.1.1.1, 'fe80::1/64']\n"
			"      sourceLabels: {'bad key!': v}\n"
			"      gateways: [a/b/c]\n"
			"      sourceSubnet: 10.0.0.0/8\n"
			"    -\n"
			"  - match:\n"
			"    - sniHosts: [a.example.com]\n"
			"    route:\n"
			"    - destination: {host: a.example.com}\n"
			"      weight: 0\n"
			"    - destination: {host: c}\n"
			"      weight: 0\n";
	const char *const errs[] = {
		"bad.yaml:7:5: spec.tls[0].match: TLS route must have at least one match condition",
		"bad.yaml:10:13: spec.tls[1].match[0].port: port number 0 must be in the range "
		"1..65535",
		"bad.yaml:10:7: spec.tls[1].match[0].sniHosts: TLS match must have at least one "
		"SNI "
		"host",
		"bad.yaml:11:18: spec.tls[1].match[1].sniHosts[0]: SNI host \"x.example.com\" is "
		"not "
		"a compatible subset of any of the virtual service hosts: [a.example.com, "
		"*.b.example.com, c]",
		"bad.yaml:11:33: spec.tls[1].match[1].sniHosts[1]: SNI host \"*.example.com\" is "
		"not "
		"a compatible subset of any of the virtual service hosts: [a.example.com, "
		"*.b.example.com, c]",
		"bad.yaml:11:50: spec.tls[1].match[1].sniHosts[2]: domain name \"a..example.com\" "
		"invalid (label \"\" invalid)",
		"bad.yaml:16:7: spec.tls[1].match[2].sourceSubnet: unknown field (not in the Istio "
		"API)",
		"bad.yaml:15:18: spec.tls[1].match[2].gateways[0]: invalid value for gateway name: "
		"\"b/c\"",
		"bad.yaml:13:28: spec.tls[1].match[2].destinationSubnets: 10.0.0.0/33 is not a "
		"valid "
		"CIDR block",
		"bad.yaml:13:41: spec.tls[1].match[2].destinationSubnets: 300.1.1.1 is not a valid "
		"IP",
		"bad.yaml:14:22: spec.tls[1].match[2].sourceLabels.bad key!: invalid tag key: "
		"\"bad "
		"key!\"",
		"bad.yaml:17:6: spec.tls[1].match[3]: TLS match may not be null",
		"bad.yaml:9:5: spec.tls[1].route: TLS route is required",
		"bad.yaml:21:5: spec.tls[2].route: total destination weight = 0",
		NULL};
	const char *const warns[] = {
		"bad.yaml:12:38: spec.tls[1].match[2].sniHosts[2]: using an IP address "
		"(\"10.0.0.1\") goes against SNI spec and most clients do not support this",
		NULL};
	struct config *cfg = NULL;

	assert_int_equal(config_load_buf("bad.yaml", yaml, strlen(yaml), &cfg), -EINVAL);
	assert_diags(LOG_ERROR, errs);
	assert_diags(LOG_WARN, warns);
}

/* A tcp match's gateways are read now; its source attributes are still ignored, with a warning. */
static void tcp_match_gateways_parsed(void **state)
{
	static const char yaml[] = VS_HEAD "metadata: {name: db, namespace: default}\n"
					   "spec:\n"
					   "  hosts: ['*']\n"
					   "  gateways: [gw]\n"
					   "  tcp:\n"
					   "  - match:\n"
					   "    - {port: 9000, gateways: [default/gw]}\n"
					   "    - sourceLabels: {app: x}\n"
					   "    route:\n"
					   "    - destination: {host: db}\n";
	const char *const warns[] = {
		"d.yaml:10:7: spec.tcp[0].match[1].sourceLabels: not supported "
		"yet for TCP routes, ignored",
		"d.yaml:12:20: spec.tcp[0].route[0].destination.host: db "
		"(db.default.svc.cluster.local) is not a known Service; requests "
		"routed there fail until one (or a ServiceEntry) defines it",
		NULL};
	struct config *cfg = load_ok("d.yaml", yaml);
	const struct tcp_route *tr = &cfg->istio.vs[0].tcp[0];

	assert_diags(LOG_WARN, warns);
	assert_int_equal(tr->n_match, 2);
	assert_int_equal(tr->match[0].port, 9000);
	assert_int_equal(tr->match[0].n_gateways, 1);
	assert_string_equal(tr->match[0].gateways[0], "default/gw");
	assert_int_equal(tr->n_match_ports, 1);
	config_free(cfg);
}

/* ---- the router ---- */

#define CLIENT "10.0.9.1" /* pod client, app=client */
#define OTHER  "10.0.9.2" /* pod other, app=other */
#define REG    "10.0.9.3" /* pod reg, its Sidecar says REGISTRY_ONLY */
#define SECURE "10.96.0.60:443"
#define PLAIN  "10.96.0.61:443"
#define GW     "10.0.0.1"

static const char topology[] =
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: default, labels: {app: "
	"client}}\nstatus: {podIP: 10.0.9.1}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: other, namespace: default, labels: {app: "
	"other}}\nstatus: {podIP: 10.0.9.2}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: reg, namespace: default, labels: {app: "
	"reg}}\nstatus: {podIP: 10.0.9.3}\n---\n"
	"apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: reg, namespace: "
	"default}\nspec:\n  workloadSelector: {labels: {app: reg}}\n  outboundTrafficPolicy: "
	"{mode: REGISTRY_ONLY}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: tls-v1, namespace: default, labels: {app: "
	"tls, version: v1}}\nstatus: {podIP: 10.0.1.1}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: tls-v2, namespace: default, labels: {app: "
	"tls, version: v2}}\nstatus: {podIP: 10.0.1.2}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: db-a, namespace: default, labels: {app: "
	"db}}\nstatus: {podIP: 10.0.3.1}\n---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: secure, namespace: default}\n"
	"spec: {clusterIP: 10.96.0.60, selector: {app: tls}, ports: [{name: https, port: 443}]}\n"
	"---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: plain, namespace: default}\n"
	"spec: {clusterIP: 10.96.0.61, selector: {app: tls}, ports: [{name: tls, port: 443}]}\n"
	"---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: default}\n"
	"spec: {clusterIP: 10.96.0.62, selector: {app: db}, ports: [{name: tcp, port: 5432}]}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: secure, "
	"namespace: default}\nspec:\n  host: secure\n  subsets:\n  - {name: v1, labels: "
	"{version: v1}}\n  - {name: v2, labels: {version: v2}}\n---\n"
	/* the "internet": hosts without addresses, and the real servers behind b.example.com */
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ext, namespace: "
	"default}\nspec:\n  hosts: [a.example.com, b.example.com]\n  resolution: NONE\n  ports: "
	"[{number: 443, name: tls, protocol: TLS}]\n---\n"
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: wild, "
	"namespace: default}\nspec:\n  hosts: ['*.wild.example.com']\n  resolution: NONE\n  ports: "
	"[{number: 443, name: https, protocol: HTTPS}]\n---\n"
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: backends, "
	"namespace: default}\nspec:\n  hosts: [backends.internal]\n  resolution: STATIC\n  ports: "
	"[{number: 443, name: tls, protocol: TLS, targetPort: 8443}]\n  endpoints:\n  - {address: "
	"10.0.2.1, labels: {version: v1}}\n  - {address: 10.0.2.2, labels: {version: v2}}\n---\n"
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: backends, "
	"namespace: default}\nspec:\n  host: backends.internal\n  subsets:\n  - {name: v1, labels: "
	"{version: v1}}\n  - {name: v2, labels: {version: v2}}\n---\n"
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: pg, namespace: "
	"default}\nspec:\n  hosts: [pg.example.com]\n  resolution: NONE\n  ports: [{number: 6432, "
	"name: tcp, protocol: TCP}, {number: 7000, name: tcp-7000, protocol: TCP}]\n---\n"
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: web, namespace: "
	"default}\nspec:\n  hosts: [web.example.com]\n  resolution: NONE\n  ports: [{number: 8080, "
	"name: http, protocol: HTTP}]\n---\n"
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: webtls, "
	"namespace: default}\nspec:\n  hosts: [webtls.example.com]\n  resolution: NONE\n  ports: "
	"[{number: 8080, name: tls, protocol: TLS}, {number: 7000, name: tls-7000, protocol: "
	"TLS}]\n---\n"
	/* tls routes: the Kubernetes service by SNI, and b.example.com steered by weight */
	VS_HEAD "metadata: {name: secure, namespace: default}\n"
	"spec:\n"
	"  hosts: [secure.default.svc.cluster.local, '*.secure.dev']\n"
	"  tls:\n"
	"  - match: [{sniHosts: ['*.secure.dev']}]\n"
	"    route: [{destination: {host: secure, subset: v1}}]\n"
	"  - match: [{sniHosts: [api.secure.dev]}]\n"
	"    route: [{destination: {host: secure, subset: v2}}]\n"
	"  - match: [{sniHosts: ['*.x.secure.dev'], sourceLabels: {app: other}}]\n"
	"    route: [{destination: {host: secure, subset: v2}}]\n"
	"  - match: [{sniHosts: [gone.secure.dev]}]\n"
	"    route: [{destination: {host: secure, subset: v3}}]\n---\n" VS_HEAD
	"metadata: {name: steer, namespace: default}\n"
	"spec:\n"
	"  hosts: [b.example.com]\n"
	"  tls:\n"
	"  - match: [{port: 443, sniHosts: [b.example.com]}]\n"
	"    route:\n"
	"    - {destination: {host: backends.internal, subset: v1}, weight: 75}\n"
	"    - {destination: {host: backends.internal, subset: v2}, weight: 25}\n---\n"
	/* a Gateway: PASSTHROUGH by SNI on 443, a TCP server on 9000 */
	"apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: "
	"default}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n"
	"  - port: {number: 443, name: tls, protocol: TLS}\n"
	"    hosts: ['*.bookinfo.com']\n"
	"    tls: {mode: PASSTHROUGH}\n"
	"  - port: {number: 9000, name: tcp, protocol: TCP}\n"
	"    hosts: ['*']\n"
	"  - port: {number: 8080, name: http, protocol: HTTP}\n"
	"    hosts: ['*']\n"
	"  - port: {number: 8080, name: tcp-8080, protocol: TCP}\n"
	"    hosts: ['*']\n"
	"  - port: {number: 8443, name: tls-any, protocol: TLS}\n"
	"    hosts: ['*']\n"
	"    tls: {mode: PASSTHROUGH}\n"
	"  - port: {number: 9443, name: auto, protocol: TLS}\n"
	"    hosts: ['*.mesh.internal']\n"
	"    tls: {mode: AUTO_PASSTHROUGH}\n---\n" VS_HEAD
	"metadata: {name: bookinfo-sni, namespace: default}\n"
	"spec:\n"
	"  hosts: ['*.bookinfo.com']\n"
	"  gateways: [gw]\n"
	"  tls:\n"
	"  - match: [{port: 443, sniHosts: ['*.bookinfo.com']}]\n"
	"    route: [{destination: {host: secure, subset: v1}}]\n"
	"  - match: [{port: 443, sniHosts: [login.bookinfo.com]}]\n"
	"    route: [{destination: {host: secure, subset: v2}}]\n---\n" VS_HEAD
	"metadata: {name: gw-db, namespace: default}\n"
	"spec:\n"
	"  hosts: ['*']\n"
	"  gateways: [gw]\n"
	"  tcp:\n"
	"  - match: [{port: 9000}, {port: 8443}]\n"
	"    route: [{destination: {host: db}}]\n";

static struct {
	struct config *cfg;
	struct route_table *rt;
	struct route_worker *w;
	struct route_result res;
	struct labels agent;
} t;

static int route_setup(void **state)
{
	diags_clear();
	assert_int_equal(config_load_buf("tls.yaml", topology, strlen(topology), &t.cfg), 0);
	assert_int_equal(gateway_labels_parse("istio=ingressgateway", &t.agent), 0);
	t.cfg->agent_labels = &t.agent;
	assert_int_equal(route_table_build(t.cfg, &t.rt), 0);
	t.w = route_worker_new(t.rt, 7);
	assert_non_null(t.w);
	return 0;
}

static int route_teardown(void **state)
{
	route_worker_free(t.w);
	route_table_free(t.rt);
	config_free(t.cfg);
	gateway_labels_release(&t.agent);
	memset(&t, 0, sizeof(t));
	diags_clear();
	return 0;
}

static struct route_conn conn(const char *client, const char *dst, const char *sni, bool gw)
{
	struct route_conn c = {.sni = sni, .gateway = gw};
	char host[32];
	const char *colon = strchr(dst, ':');

	snprintf(host, sizeof(host), "%.*s", (int)(colon - dst), dst);
	assert_int_equal(inet_pton(AF_INET, host, &c.dst_ip), 1);
	c.dst_port = (uint16_t)atoi(colon + 1);
	assert_int_equal(inet_pton(AF_INET, client, &c.src_ip), 1);
	return c;
}

/* Routes a connection from @client to @dst with @sni; the verdict, the result in t.res. */
static enum route_verdict go(const char *client, const char *dst, const char *sni, bool gw)
{
	struct route_conn c = conn(client, dst, sni, gw);

	assert_int_equal(route_select_l4(t.rt, t.w, &c, &t.res), 0);
	if (t.res.verdict == RV_FORWARD)
		route_done(t.w, &t.res, -1);
	return t.res.verdict;
}

/* The pod (or "ip:port" without one) a forwarded connection went to. */
static const char *where(void)
{
	static char buf[32];

	if (t.res.ep_pod)
		return t.res.ep_pod->name;
	inet_ntop(AF_INET, &t.res.ep.sin_addr, buf, 16);
	snprintf(buf + strlen(buf), 16, ":%u", ntohs(t.res.ep.sin_port));
	return buf;
}

static const char *subset(void)
{
	return t.res.rdst && t.res.rdst->dst.subset ? t.res.rdst->dst.subset : "-";
}

static void sni_chooses_the_tls_route(void **state)
{
	assert_int_equal(go(CLIENT, SECURE, "www.secure.dev", false), RV_FORWARD);
	assert_string_equal(where(), "tls-v1");
	/* an exact name wins over the earlier wildcard */
	assert_int_equal(go(CLIENT, SECURE, "api.secure.dev", false), RV_FORWARD);
	assert_string_equal(where(), "tls-v2");
	assert_int_equal(t.res.rule_index, 1);
	/* the longer wildcard only applies to app=other */
	assert_int_equal(go(CLIENT, SECURE, "a.x.secure.dev", false), RV_FORWARD);
	assert_string_equal(where(), "tls-v1");
	assert_int_equal(go(OTHER, SECURE, "a.x.secure.dev", false), RV_FORWARD);
	assert_string_equal(where(), "tls-v2");
	assert_int_equal(t.res.rule_index, 2);
	/* a subset no DestinationRule defines: NC, the connection is closed */
	assert_int_equal(go(CLIENT, SECURE, "gone.secure.dev", false), RV_NO_CLUSTER);
	assert_string_equal(t.res.cluster, "outbound|443|v3|secure.default.svc.cluster.local");
	/* no route for the name, or no SNI at all: the service itself */
	assert_int_equal(go(CLIENT, SECURE, "secure.default.svc.cluster.local", false), RV_FORWARD);
	assert_null(t.res.rdst);
	assert_int_equal(go(CLIENT, SECURE, NULL, false), RV_FORWARD);
	assert_string_equal(t.res.cluster, "outbound|443||secure.default.svc.cluster.local");
}

static void entries_without_addresses_by_sni(void **state)
{
	/* resolution NONE: to where the app connected */
	assert_int_equal(go(CLIENT, "198.51.100.7:443", "a.example.com", false), RV_PASSTHROUGH);
	assert_string_equal(where(), "198.51.100.7:443");
	assert_string_equal(t.res.svc->name, "a.example.com");
	assert_int_equal(go(CLIENT, "198.51.100.8:443", "x.y.wild.example.com", false),
			 RV_PASSTHROUGH);
	assert_string_equal(t.res.svc->name, "*.wild.example.com");
	/* a name no entry declares, or none: PassthroughCluster, or closed under REGISTRY_ONLY */
	assert_int_equal(go(CLIENT, "198.51.100.9:443", "nobody.example.net", false),
			 RV_PASSTHROUGH);
	assert_string_equal(t.res.cluster, "PassthroughCluster");
	assert_int_equal(go(CLIENT, "198.51.100.9:443", NULL, false), RV_PASSTHROUGH);
	assert_int_equal(go(REG, "198.51.100.9:443", "nobody.example.net", false), RV_BLACKHOLE);
	assert_int_equal(go(REG, "198.51.100.7:443", "a.example.com", false), RV_PASSTHROUGH);
	/* TCP: the entry serving the port */
	assert_int_equal(go(REG, "198.51.100.7:6432", NULL, false), RV_PASSTHROUGH);
	assert_string_equal(t.res.svc->name, "pg.example.com");
}

/* 75/25 by smooth weighted round robin: exactly 6 and 2 of 8, interleaved. */
static void weights_are_exact(void **state)
{
	char seq[9] = {0};

	for (int i = 0; i < 8; i++) {
		assert_int_equal(go(CLIENT, "198.51.100.7:443", "b.example.com", false),
				 RV_FORWARD);
		assert_string_equal(t.res.vs->name, "steer");
		seq[i] = subset()[1];
		assert_int_equal(ntohs(t.res.ep.sin_port), 8443);
	}
	assert_string_equal(seq, "11211121");
}

static void gateway_passthrough_and_tcp(void **state)
{
	assert_int_equal(go("192.0.2.1", GW ":443", "www.bookinfo.com", true), RV_FORWARD);
	assert_string_equal(where(), "tls-v1");
	assert_int_equal(go("192.0.2.1", GW ":443", "login.bookinfo.com", true), RV_FORWARD);
	assert_string_equal(where(), "tls-v2");
	/* a name the server does not serve, or no SNI: nothing routes it */
	assert_int_equal(go("192.0.2.1", GW ":443", "a.example.com", true), RV_NO_ROUTE);
	assert_int_equal(go("192.0.2.1", GW ":443", NULL, true), RV_NO_ROUTE);
	assert_int_equal(go("192.0.2.1", GW ":9000", NULL, true), RV_FORWARD);
	assert_string_equal(where(), "db-a");
	assert_string_equal(t.res.vs->name, "gw-db");
	/* a PASSTHROUGH server with no tls route for the name: its tcp route; a "*" server
	 * takes clients without SNI too */
	assert_int_equal(go("192.0.2.1", GW ":8443", "any.example.org", true), RV_FORWARD);
	assert_string_equal(where(), "db-a");
	assert_int_equal(go("192.0.2.1", GW ":8443", NULL, true), RV_FORWARD);
	assert_string_equal(where(), "db-a");
}

static enum route_conn_mode mode(const char *client, const char *dst, bool gw)
{
	struct route_conn c = conn(client, dst, NULL, gw);

	return route_conn_mode(t.rt, &c);
}

static void which_connections_need_the_agent(void **state)
{
	const struct service *secure = config_find_service(t.cfg, "default", "secure");
	const struct service *plain = config_find_service(t.cfg, "default", "plain");

	assert_true(route_port_needs_sni(t.rt, (size_t)(secure - t.cfg->services), 0));
	assert_false(route_port_needs_sni(t.rt, (size_t)(plain - t.cfg->services), 0));
	assert_true(route_port_is_tls(&plain->ports[0]));
	assert_int_equal(mode(CLIENT, SECURE, false), ROUTE_CONN_TLS);
	assert_int_equal(mode(CLIENT, PLAIN, false), ROUTE_CONN_HTTP); /* the kernel's */
	assert_int_equal(mode(CLIENT, "198.51.100.7:443", false), ROUTE_CONN_TLS);
	/* HTTP wins a port over TLS, TLS over TCP */
	assert_int_equal(mode(CLIENT, "198.51.100.7:8080", false), ROUTE_CONN_HTTP);
	assert_int_equal(mode(CLIENT, "198.51.100.7:7000", false), ROUTE_CONN_TLS);
	assert_int_equal(mode(CLIENT, "198.51.100.7:6432", false), ROUTE_CONN_TCP);
	assert_int_equal(mode(CLIENT, "198.51.100.7:22", false), ROUTE_CONN_HTTP);
	assert_int_equal(mode("192.0.2.1", GW ":443", true), ROUTE_CONN_TLS);
	assert_int_equal(mode("192.0.2.1", GW ":9000", true), ROUTE_CONN_TCP);
	assert_int_equal(mode("192.0.2.1", GW ":80", true), ROUTE_CONN_HTTP);
	/* the port's first served server is HTTP: the TCP one is not served there */
	assert_int_equal(mode("192.0.2.1", GW ":8080", true), ROUTE_CONN_HTTP);
}

/* The Gateway's listeners: PASSTHROUGH and TCP ports raw (no TLS context), 8080 plain HTTP only,
 * AUTO_PASSTHROUGH not served. */
static void gateway_listeners_for_raw_servers(void **state)
{
	struct sockaddr_in out[8];
	struct gw_tls *tls[8];
	size_t n = gateway_listeners(t.cfg, (struct in_addr){htonl(0x0a000001)}, out, tls, 8);

	assert_int_equal(n, 4);
	assert_int_equal(ntohs(out[0].sin_port), 443);
	assert_int_equal(ntohs(out[1].sin_port), 9000);
	assert_int_equal(ntohs(out[2].sin_port), 8080);
	assert_int_equal(ntohs(out[3].sin_port), 8443);
	for (size_t i = 0; i < n; i++)
		assert_null(tls[i]);
	gateway_listeners_release(tls, n);
}

#define T(fn)  cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define RT(fn) cmocka_unit_test_setup_teardown(fn, route_setup, route_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(bookinfo_sni_loads),
		T(problems_reported_where_they_are),
		T(tcp_match_gateways_parsed),
		RT(sni_chooses_the_tls_route),
		RT(entries_without_addresses_by_sni),
		RT(weights_are_exact),
		RT(gateway_passthrough_and_tcp),
		RT(which_connections_need_the_agent),
		RT(gateway_listeners_for_raw_servers),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
