// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ServiceEntries with resolution DNS and DNS_ROUND_ROBIN through the loader,
 * with a fake name lookup: which names it asks (once per load), the
 * endpoints their answers become (labels, ports, every address or the
 * first), hosts resolving themselves, and the warnings for names that give
 * no endpoint, at the place they are written.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "dns.h"
#include "istio.h"
#include "log.h"

#include "diags.h"

struct fake_name {
	const char *name;
	int ret;
	const char *v4[3];
	const char *v6;
	unsigned calls;
};

static struct fake_name names[] = {
	{"v1.example.test", 0, {"192.0.2.1"}, NULL, 0},
	{"v2.example.test", 0, {"192.0.2.2", "192.0.2.3"}, NULL, 0},
	{"api.example.test", 0, {"192.0.2.10", "192.0.2.11"}, NULL, 0},
	{"web.example.test", 0, {"192.0.2.20"}, NULL, 0},
	{"six.example.test", 0, {NULL}, "2001:db8::6", 0},
	{"vm.example.test", 0, {"192.0.2.30"}, NULL, 0},
	{"late.example.test", -ENOENT, {NULL}, NULL, 0},
	{"empty.example.test", 0, {NULL}, NULL, 0},
};

static int fake_lookup(const char *name, struct config_name_addrs *out, void *arg)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct fake_name *f = &names[i];

		if (strcmp(f->name, name))
			continue;
		f->calls++;
		for (size_t k = 0; k < 3 && f->v4[k]; k++)
			inet_pton(AF_INET, f->v4[k], &out->v4[out->n4++]);
		if (f->v6)
			inet_pton(AF_INET6, f->v6, &out->v6[out->n6++]);
		return f->ret;
	}
	return -ENOENT;
}

static int lookup_setup(void **state)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		names[i].calls = 0;
	config_set_name_lookup(fake_lookup, NULL);
	return setup(state);
}

static int lookup_teardown(void **state)
{
	config_set_name_lookup(NULL, NULL);
	return teardown(state);
}

static const struct svc_port *port_of(const struct config *cfg, const char *host, size_t i)
{
	const struct service *s = config_find_service(cfg, "default", host);

	if (!s || i >= s->n_ports)
		fail_msg("no port %zu of %s", i, host);
	return &s->ports[i];
}

static void assert_ep(const struct endpoint *e, const char *ip, uint16_t port, const char *version)
{
	char buf[INET_ADDRSTRLEN];

	assert_string_equal(inet_ntop(AF_INET, &e->ip, buf, sizeof(buf)), ip);
	assert_int_equal(e->port, port);
	assert_true(e->ready);
	assert_null(e->pod);
	if (version)
		assert_string_equal(labels_get(e->labels, "version"), version);
}

/* The pods' DNS answers a resolved host with its allocated VIP (one A record). */
static void assert_dns_vip(const struct config *cfg, const char *host)
{
	const struct service *s = config_find_service(cfg, "default", host);
	uint8_t q[DNS_MSG_MAX], out[DNS_MSG_MAX];
	size_t qlen, len;

	assert_true(s->auto_vip);
	assert_int_equal(ntohl(s->cluster_ip.s_addr) >> 16, CONFIG_AUTO_VIP_NET >> 16);
	assert_int_equal(dns_msg_query(7, host, DNS_T_A, q, sizeof(q), &qlen), 0);
	assert_int_equal(dns_answer(cfg, q, qlen, out, sizeof(out), &len), DNS_ANSWER);
	assert_int_equal(out[3] & 0x0f, DNS_RC_NOERROR);
	assert_int_equal(dns_get16(out + 6), 1);
	assert_memory_equal(out + len - 4, &s->cluster_ip, 4);
}

/* Names next to IPs; every address an endpoint with the entry endpoint's labels and port. */
static void endpoint_names_become_their_addresses(void **state)
{
	static const char yaml[] =
		"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		"metadata: {name: api, namespace: default}\n"
		"spec:\n"
		"  hosts: [api.example.test]\n"
		"  resolution: DNS\n"
		"  ports:\n"
		"  - {number: 80, name: http, protocol: HTTP, targetPort: 8080}\n"
		"  - {number: 443, name: https, protocol: HTTPS}\n"
		"  endpoints:\n"
		"  - {address: v1.example.test, labels: {version: v1}}\n"
		"  - {address: V2.Example.Test., labels: {version: v2}, ports: {http: 9090}}\n"
		"  - {address: 192.0.2.99, labels: {version: v3}}\n"
		"  - {address: v1.example.test, labels: {version: v1b}}\n";
	struct config *cfg = load_ok("dns.yaml", yaml);
	const struct svc_port *http = port_of(cfg, "api.example.test", 0);
	const struct svc_port *https = port_of(cfg, "api.example.test", 1);

	assert_int_equal(http->n_eps, 5);
	assert_int_equal(http->n_ready, 5);
	assert_ep(&http->eps[0], "192.0.2.1", 8080, "v1");
	assert_ep(&http->eps[1], "192.0.2.2", 9090, "v2");
	assert_ep(&http->eps[2], "192.0.2.3", 9090, "v2");
	assert_ep(&http->eps[3], "192.0.2.99", 8080, "v3");
	assert_ep(&http->eps[4], "192.0.2.1", 8080, "v1b");
	assert_int_equal(https->n_eps, 5);
	assert_ep(&https->eps[1], "192.0.2.2", 443, "v2");
	/* each name asked once for the whole load, listed once, lowercased */
	assert_int_equal(cfg->istio.n_dns_names, 2);
	assert_string_equal(cfg->istio.dns_names[0].name, "v1.example.test");
	assert_string_equal(cfg->istio.dns_names[1].name, "v2.example.test");
	assert_int_equal(names[0].calls, 1);
	assert_int_equal(names[1].calls, 1);
	assert_true(config_find_service(cfg, "default", "api.example.test")->auto_vip);
	config_free(cfg);
}

/* Without endpoints each host resolves itself; DNS_ROUND_ROBIN keeps the first address. */
static void hosts_resolve_themselves_without_endpoints(void **state)
{
	static const char yaml[] =
		"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		"metadata: {name: two, namespace: default}\n"
		"spec:\n"
		"  hosts: [api.example.test, web.example.test]\n"
		"  resolution: DNS\n"
		"  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 3000}]\n"
		"---\n"
		"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		"metadata: {name: rr, namespace: default}\n"
		"spec:\n"
		"  hosts: [v2.example.test, six.example.test]\n"
		"  resolution: DNS_ROUND_ROBIN\n"
		"  ports: [{number: 5432, name: tcp, protocol: TCP}]\n";
	struct config *cfg = load_ok("hosts.yaml", yaml);
	const struct svc_port *api = port_of(cfg, "api.example.test", 0);
	const struct svc_port *web = port_of(cfg, "web.example.test", 0);
	const struct svc_port *rr = port_of(cfg, "v2.example.test", 0);
	const struct svc_port *six = port_of(cfg, "six.example.test", 0);
	char buf[INET6_ADDRSTRLEN];

	assert_int_equal(api->n_eps, 2);
	assert_ep(&api->eps[0], "192.0.2.10", 3000, NULL);
	assert_ep(&api->eps[1], "192.0.2.11", 3000, NULL);
	assert_null(api->eps[0].labels);
	assert_int_equal(web->n_eps, 1);
	assert_ep(&web->eps[0], "192.0.2.20", 3000, NULL);
	assert_int_equal(rr->n_eps, 1); /* LOGICAL_DNS: the first of 192.0.2.2, .3 */
	assert_ep(&rr->eps[0], "192.0.2.2", 5432, NULL);
	assert_int_equal(six->n_eps, 1);
	assert_true(six->eps[0].has_ip6);
	assert_int_equal(six->eps[0].ip.s_addr, 0);
	assert_string_equal(inet_ntop(AF_INET6, &six->eps[0].ip6, buf, sizeof(buf)), "2001:db8::6");
	assert_int_equal(cfg->istio.n_dns_names, 4);
	assert_dns_vip(cfg, "api.example.test");
	config_free(cfg);
}

/* A DNS entry's workloadSelector picks a WorkloadEntry whose address is a name. */
static void selected_workload_entry_names_are_resolved(void **state)
{
	static const char yaml[] = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
				   "metadata: {name: vm, namespace: default}\n"
				   "spec:\n"
				   "  hosts: [vms.example.test]\n"
				   "  resolution: DNS\n"
				   "  ports: [{number: 80, name: http, protocol: HTTP}]\n"
				   "  workloadSelector: {labels: {app: vm}}\n"
				   "---\n"
				   "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n"
				   "metadata: {name: vm-1, namespace: default}\n"
				   "spec: {address: vm.example.test, labels: {app: vm, version: "
				   "v7}, ports: {http: 81}}\n";
	struct config *cfg = load_ok("we.yaml", yaml);
	const struct svc_port *sp = port_of(cfg, "vms.example.test", 0);

	assert_int_equal(sp->n_eps, 1);
	assert_ep(&sp->eps[0], "192.0.2.30", 81, "v7");
	assert_int_equal(cfg->istio.n_dns_names, 1);
	config_free(cfg);
}

/* No answer yet, no address, no lookup at all: no endpoint, a warning where the name is. */
static void names_without_an_endpoint_are_warned_about(void **state)
{
	static const char yaml[] = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
				   "metadata: {name: late, namespace: default}\n"
				   "spec:\n"
				   "  hosts: [late.example.test]\n"
				   "  resolution: DNS\n"
				   "  ports: [{number: 80, name: http, protocol: HTTP}]\n"
				   "  endpoints:\n"
				   "  - {address: empty.example.test}\n"
				   "  - {address: late.example.test}\n";
	const char *const warns[] = {
		"w.yaml:9:5: spec.endpoints[0].address: empty.example.test has no address "
		"(resolution DNS): no endpoint from it",
		"w.yaml:10:5: spec.endpoints[1].address: late.example.test: no answer yet "
		"(resolution DNS): no endpoint from it until one comes",
		NULL,
	};
	const char *const unresolved[] = {
		"w.yaml:9:5: spec.endpoints[0].address: empty.example.test is not resolved: the "
		"agent has no upstream resolver (--dns-upstream): no endpoint from it",
		"w.yaml:10:5: spec.endpoints[1].address: late.example.test is not resolved: the "
		"agent has no upstream resolver (--dns-upstream): no endpoint from it",
		NULL,
	};
	struct config *cfg = load_ok("w.yaml", yaml);
	const struct service *s = config_find_service(cfg, "default", "late.example.test");

	assert_diags(LOG_WARN, warns);
	assert_int_equal(s->ports[0].n_eps, 0);
	assert_false(s->auto_vip); /* no endpoint: the name is left to real DNS */
	assert_int_equal(cfg->istio.dns_names[1].err, -ENOENT);
	config_free(cfg);
	diags_clear();
	config_set_name_lookup(NULL, NULL);
	cfg = load_ok("w.yaml", yaml);
	assert_diags(LOG_WARN, unresolved);
	assert_int_equal(cfg->istio.dns_names[0].err, -ENOSYS);
	config_free(cfg);
}

/* STATIC entries and DNS ones whose endpoints are IPs ask for no name. */
static void entries_with_addresses_ask_for_no_name(void **state)
{
	static const char yaml[] = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
				   "metadata: {name: s, namespace: default}\n"
				   "spec:\n"
				   "  hosts: [s.example.test]\n"
				   "  resolution: STATIC\n"
				   "  ports: [{number: 80, name: http, protocol: HTTP}]\n"
				   "  endpoints: [{address: 192.0.2.1}]\n"
				   "---\n"
				   "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
				   "metadata: {name: d, namespace: default}\n"
				   "spec:\n"
				   "  hosts: [d.example.test]\n"
				   "  resolution: DNS\n"
				   "  ports: [{number: 80, name: http, protocol: HTTP}]\n"
				   "  endpoints: [{address: 192.0.2.2}]\n"
				   "---\n"
				   "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
				   "metadata: {name: none, namespace: default}\n"
				   "spec:\n"
				   "  hosts: [api.example.test]\n"
				   "  addresses: [192.0.2.50]\n"
				   "  resolution: NONE\n"
				   "  ports: [{number: 80, name: http, protocol: HTTP}]\n";
	struct config *cfg = load_ok("s.yaml", yaml);

	assert_int_equal(cfg->istio.n_dns_names, 0);
	assert_int_equal(names[2].calls, 0);
	assert_int_equal(port_of(cfg, "d.example.test", 0)->n_eps, 1);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(endpoint_names_become_their_addresses, lookup_setup,
						lookup_teardown),
		cmocka_unit_test_setup_teardown(hosts_resolve_themselves_without_endpoints,
						lookup_setup, lookup_teardown),
		cmocka_unit_test_setup_teardown(selected_workload_entry_names_are_resolved,
						lookup_setup, lookup_teardown),
		cmocka_unit_test_setup_teardown(names_without_an_endpoint_are_warned_about,
						lookup_setup, lookup_teardown),
		cmocka_unit_test_setup_teardown(entries_with_addresses_ask_for_no_name,
						lookup_setup, lookup_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
