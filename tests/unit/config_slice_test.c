// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * discovery.k8s.io/v1 EndpointSlice in the file source: a Service without a
 * selector gets its endpoints from the slices labelled with its name, port by
 * port (name and protocol), terminating endpoints left out, not-ready ones
 * kept behind the ready ones, an address in two slices once, a Pod targetRef
 * giving its labels (subsets); such a service is balanced by shunt. A
 * Service with a selector keeps its pods' endpoints.
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
#include "kern_int.h"
#include "log.h"
#include "diags.h"

static const char svc_ext[] = "apiVersion: v1\n"
			      "kind: Service\n"
			      "metadata: {name: db, namespace: shop}\n"
			      "spec:\n"
			      "  clusterIP: 10.96.0.20\n"
			      "  ports:\n"
			      "    - {name: sql, port: 5432, targetPort: 5432}\n"
			      "    - {name: admin, port: 8080}\n"
			      "---\n"
			      "apiVersion: v1\n"
			      "kind: Pod\n"
			      "metadata: {name: db-0, namespace: shop, labels: {role: primary}}\n"
			      "status: {podIP: 10.1.0.7}\n"
			      "---\n"
			      "apiVersion: discovery.k8s.io/v1\n"
			      "kind: EndpointSlice\n"
			      "metadata:\n"
			      "  name: db-a\n"
			      "  namespace: shop\n"
			      "  labels: {kubernetes.io/service-name: db}\n"
			      "addressType: IPv4\n"
			      "ports: [{name: sql, port: 15432, protocol: TCP}]\n"
			      "endpoints:\n"
			      "  - addresses: [10.1.0.9]\n"
			      "    conditions: {ready: false}\n"
			      "  - addresses: [10.1.0.7]\n"
			      "    targetRef: {kind: Pod, name: db-0}\n"
			      "  - addresses: [10.1.0.8]\n"
			      "    conditions: {ready: true, terminating: true}\n"
			      "---\n"
			      "apiVersion: discovery.k8s.io/v1\n"
			      "kind: EndpointSlice\n"
			      "metadata:\n"
			      "  name: db-b\n"
			      "  namespace: shop\n"
			      "  labels: {kubernetes.io/service-name: db}\n"
			      "addressType: IPv4\n"
			      "ports: [{name: sql, port: 15432}]\n"
			      "endpoints:\n"
			      "  - addresses: [10.1.0.7]\n"
			      "  - addresses: [10.1.0.6]\n"
			      "---\n"
			      "apiVersion: discovery.k8s.io/v1\n"
			      "kind: EndpointSlice\n"
			      "metadata:\n"
			      "  name: other\n"
			      "  namespace: default\n"
			      "  labels: {kubernetes.io/service-name: db}\n"
			      "addressType: IPv4\n"
			      "ports: [{name: sql, port: 1}]\n"
			      "endpoints: [{addresses: [10.9.9.9]}]\n";

static const char *ip(const struct endpoint *e, char *buf)
{
	return inet_ntop(AF_INET, &e->ip, buf, INET_ADDRSTRLEN);
}

static void selectorless_service_from_slices(void **state)
{
	struct config *cfg = load_ok("db.yaml", svc_ext);
	const struct service *s = config_find_service(cfg, "shop", "db");
	const struct svc_port *sql = &s->ports[0];
	char b[INET_ADDRSTRLEN];

	assert_int_equal(cfg->n_slices, 3);
	assert_true(s->eps_from_slices);
	assert_true(kern_balanced(s, sql));
	/* 10.1.0.7 once (two slices), 10.1.0.8 terminating, 10.9.9.9 another namespace's. */
	assert_int_equal(sql->n_eps, 3);
	assert_int_equal(sql->n_ready, 2);
	assert_string_equal(ip(&sql->eps[0], b), "10.1.0.6");
	assert_string_equal(ip(&sql->eps[1], b), "10.1.0.7");
	assert_string_equal(ip(&sql->eps[2], b), "10.1.0.9");
	assert_false(sql->eps[2].ready);
	assert_int_equal(sql->eps[0].port, 15432);
	/* The Pod of a targetRef: its labels, for subsets. */
	assert_non_null(sql->eps[1].pod);
	assert_string_equal(labels_get(sql->eps[1].labels, "role"), "primary");
	assert_null(sql->eps[0].pod);
	assert_int_equal(sql->eps[0].labels->n, 0);
	/* No slice port is named admin: no endpoints. */
	assert_int_equal(s->ports[1].n_eps, 0);
	config_free(cfg);
}

/* A Service with a selector: its pods, whatever slices say. */
static void selector_wins(void **state)
{
	static const char yaml[] = "apiVersion: v1\n"
				   "kind: Service\n"
				   "metadata: {name: web, namespace: shop}\n"
				   "spec:\n"
				   "  clusterIP: 10.96.0.21\n"
				   "  selector: {app: web}\n"
				   "  ports: [{port: 80}]\n"
				   "---\n"
				   "apiVersion: discovery.k8s.io/v1\n"
				   "kind: EndpointSlice\n"
				   "metadata:\n"
				   "  name: web-x\n"
				   "  namespace: shop\n"
				   "  labels: {kubernetes.io/service-name: web}\n"
				   "addressType: IPv4\n"
				   "ports: [{port: 80}]\n"
				   "endpoints: [{addresses: [10.1.0.50]}]\n";
	struct config *cfg = load_ok("web.yaml", yaml);
	const struct service *s = config_find_service(cfg, "shop", "web");

	assert_false(s->eps_from_slices);
	assert_int_equal(s->ports[0].n_eps, 0); /* no pod matches */
	config_free(cfg);
}

/* Without a slice, a selectorless service stays kube-proxy's, as before. */
static void selectorless_without_slices(void **state)
{
	static const char yaml[] = "apiVersion: v1\n"
				   "kind: Service\n"
				   "metadata: {name: ext, namespace: shop}\n"
				   "spec: {clusterIP: 10.96.0.22, ports: [{port: 80}]}\n";
	struct config *cfg = load_ok("ext.yaml", yaml);
	const struct service *s = config_find_service(cfg, "shop", "ext");

	assert_false(s->eps_from_slices);
	assert_false(kern_balanced(s, &s->ports[0]));
	config_free(cfg);
}

static void bad_slices(void **state)
{
	static const char yaml[] = "apiVersion: discovery.k8s.io/v1\n"
				   "kind: EndpointSlice\n"
				   "metadata: {name: a, namespace: shop}\n"
				   "addressType: IPv4\n"
				   "endpoints:\n"
				   "  - addresses: [fd00::1]\n"
				   "  - conditions: {ready: yes}\n"
				   "ports: [{port: 0}]\n"
				   "---\n"
				   "apiVersion: discovery.k8s.io/v1\n"
				   "kind: EndpointSlice\n"
				   "metadata: {name: b, namespace: shop}\n"
				   "addressType: FQDN\n"
				   "endpoints: [{addresses: [db.example.com]}]\n"
				   "---\n"
				   "apiVersion: discovery.k8s.io/v1\n"
				   "kind: EndpointSlice\n"
				   "metadata: {name: c, namespace: shop}\n"
				   "addressType: IPv5\n";
	static const char *const want[] = {
		"bad.yaml:6:17: endpoints[0].addresses[0]: \"fd00::1\" is not an IPv4 address "
		"(addressType)",
		"bad.yaml:7:5: endpoints[1].addresses: required field is missing",
		"bad.yaml:8:16: ports[0].port: must be between 1 and 65535, got 0",
		"bad.yaml:19:14: addressType: \"IPv5\" is not IPv4, IPv6 or FQDN", NULL};
	static const char *const notices[] = {
		"bad.yaml:10:1: addressType: FQDN slices are not used by shunt", NULL};
	struct config *cfg = NULL;

	assert_int_equal(config_load_buf("bad.yaml", yaml, strlen(yaml), &cfg), -EINVAL);
	assert_diags(LOG_ERROR, want);
	assert_diags(LOG_INFO, notices);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(selectorless_service_from_slices),
		T(selector_wins),
		T(selectorless_without_slices),
		T(bad_slices),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
