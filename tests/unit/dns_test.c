// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * dns_answer(): the names the registry knows get their addresses (VIPs, a
 * headless service's endpoints, ServiceEntry addresses), other cluster.local
 * names NXDOMAIN, everything else is left to the upstream resolver; malformed
 * queries get FORMERR. Messages are built byte by byte here, as a resolver
 * sends them, and the answers decoded the same way.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "dns.h"
#include "log.h"

static const char yaml[] =
	"apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
	"spec: {clusterIPs: [10.96.0.10, 'fd00:96::10'], selector: {app: web}, ports: [{port: "
	"80}]}\n"
	"---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: shop}\n"
	"spec: {clusterIP: None, selector: {app: db}, ports: [{port: 5432}]}\n"
	"---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: db-0, namespace: shop, labels: {app: db}}\n"
	"status: {podIP: 10.77.0.5}\n"
	"---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: db-1, namespace: shop, labels: {app: db}}\n"
	"status: {podIP: 10.77.0.6}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
	"metadata: {name: api, namespace: shop}\n"
	"spec: {hosts: [api.example.com], addresses: [10.96.0.50], resolution: STATIC, ports: "
	"[{number: 80, name: http, protocol: HTTP}], endpoints: [{address: 192.0.2.1}]}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
	"metadata: {name: wild, namespace: shop}\n"
	"spec: {hosts: ['*.wild.example.com'], addresses: [10.96.0.51], resolution: STATIC, "
	"ports: [{number: 80, name: http, protocol: HTTP}], endpoints: [{address: 192.0.2.2}]}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
	"metadata: {name: real, namespace: shop}\n"
	"spec: {hosts: [real.example.com], resolution: DNS, ports: [{number: 80, name: http, "
	"protocol: HTTP}]}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
	"metadata: {name: noaddr, namespace: shop}\n"
	"spec: {hosts: [noaddr.example.com], resolution: STATIC, ports: [{number: 80, name: "
	"http, protocol: HTTP}], endpoints: [{address: 192.0.2.3}]}\n";

static struct config *cfg;
static uint8_t out[DNS_MSG_MAX];
static size_t out_len;

static int group_setup(void **state)
{
	log_level_cur = LOG_ERROR;
	return config_load_buf("dns.yaml", yaml, sizeof(yaml) - 1, &cfg);
}

static int group_teardown(void **state)
{
	config_free(cfg);
	return 0;
}

/* A query for @name of @type, id 0x1234, RD set, as a stub resolver sends it. */
static size_t query(const char *name, uint16_t type, uint8_t *q)
{
	size_t p = 12;
	const char *s = name;

	memset(q, 0, 12);
	q[0] = 0x12;
	q[1] = 0x34;
	q[2] = 0x01; /* RD */
	q[5] = 1;    /* QDCOUNT */
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);

		q[p++] = (uint8_t)l;
		memcpy(q + p, s, l);
		p += l;
		s += l + (dot ? 1 : 0);
	}
	q[p++] = 0;
	q[p++] = (uint8_t)(type >> 8);
	q[p++] = (uint8_t)type;
	q[p++] = 0;
	q[p++] = 1; /* IN */
	return p;
}

static enum dns_verdict ask(const char *name, uint16_t type)
{
	uint8_t q[512];
	size_t n = query(name, type, q);

	out_len = 0;
	return dns_answer(cfg, q, n, out, sizeof(out), &out_len);
}

static int rcode(void)
{
	return out[3] & 0x0f;
}

static unsigned ancount(void)
{
	return (unsigned)(out[6] << 8 | out[7]);
}

/* The @i-th answer's address, as text. */
static const char *answer(unsigned i)
{
	static char buf[INET6_ADDRSTRLEN];
	size_t p = 12;

	while (out[p])
		p += out[p] + 1u;
	p += 5; /* the root label, type, class */
	for (unsigned k = 0;; k++) {
		uint16_t type = (uint16_t)(out[p + 2] << 8 | out[p + 3]);
		uint16_t rdlen = (uint16_t)(out[p + 10] << 8 | out[p + 11]);

		assert_true(p + 12 + rdlen <= out_len);
		assert_int_equal(out[p] & 0xc0, 0xc0); /* the question's name, compressed */
		if (k == i)
			return inet_ntop(type == 28 ? AF_INET6 : AF_INET, out + p + 12, buf,
					 sizeof(buf));
		p += 12u + rdlen;
	}
}

static void service_names_get_their_vips(void **state)
{
	assert_int_equal(ask("web.shop.svc.cluster.local", 1), DNS_ANSWER);
	assert_int_equal(out[0], 0x12);
	assert_int_equal(out[1], 0x34);
	assert_true(out[2] & 0x80); /* a response */
	assert_true(out[2] & 0x04); /* authoritative */
	assert_true(out[2] & 0x01); /* RD echoed */
	assert_int_equal(rcode(), 0);
	assert_int_equal(ancount(), 1);
	assert_string_equal(answer(0), "10.96.0.10");
	/* The shorter forms a pod's search path tries, any case. */
	assert_int_equal(ask("WEB.Shop.svc", 1), DNS_ANSWER);
	assert_string_equal(answer(0), "10.96.0.10");
	assert_int_equal(ask("web.shop", 1), DNS_ANSWER);
	assert_string_equal(answer(0), "10.96.0.10");
	/* AAAA: the IPv6 VIP. */
	assert_int_equal(ask("web.shop.svc.cluster.local", 28), DNS_ANSWER);
	assert_int_equal(ancount(), 1);
	assert_string_equal(answer(0), "fd00:96::10");
}

static void headless_service_names_get_their_endpoints(void **state)
{
	assert_int_equal(ask("db.shop.svc.cluster.local", 1), DNS_ANSWER);
	assert_int_equal(ancount(), 2);
	assert_string_equal(answer(0), "10.77.0.5");
	assert_string_equal(answer(1), "10.77.0.6");
	/* Known name, no address of that type: NODATA. */
	assert_int_equal(ask("db.shop.svc.cluster.local", 28), DNS_ANSWER);
	assert_int_equal(rcode(), 0);
	assert_int_equal(ancount(), 0);
}

static void service_entry_hosts_with_addresses(void **state)
{
	assert_int_equal(ask("api.example.com", 1), DNS_ANSWER);
	assert_string_equal(answer(0), "10.96.0.50");
	assert_int_equal(ask("a.wild.example.com", 1), DNS_ANSWER);
	assert_string_equal(answer(0), "10.96.0.51");
	/* Resolution DNS, no address: real DNS knows it. */
	assert_int_equal(ask("real.example.com", 1), DNS_FORWARD);
	/* No address but endpoints: the VIP allocated for it from 240.240.0.0/16. */
	assert_int_equal(ask("noaddr.example.com", 1), DNS_ANSWER);
	assert_int_equal(ancount(), 1);
	assert_int_equal(strncmp(answer(0), "240.240.", 8), 0);
}

static void other_names(void **state)
{
	assert_int_equal(ask("nothere.shop.svc.cluster.local", 1), DNS_ANSWER);
	assert_int_equal(rcode(), 3); /* NXDOMAIN */
	assert_int_equal(ask("a.b.c.cluster.local", 1), DNS_ANSWER);
	assert_int_equal(rcode(), 3);
	assert_int_equal(ask("example.org", 1), DNS_FORWARD);
	assert_int_equal(ask("web.nowhere", 1), DNS_FORWARD);
}

static void malformed_queries(void **state)
{
	uint8_t q[512];
	size_t n = query("web.shop.svc.cluster.local", 1, q);

	/* a truncated question */
	assert_int_equal(dns_answer(cfg, q, n - 3, out, sizeof(out), &out_len), DNS_ANSWER);
	assert_int_equal(rcode(), 1); /* FORMERR */
	/* two questions */
	q[5] = 2;
	assert_int_equal(dns_answer(cfg, q, n, out, sizeof(out), &out_len), DNS_ANSWER);
	assert_int_equal(rcode(), 1);
	q[5] = 1;
	/* a response, not a query */
	q[2] |= 0x80;
	assert_int_equal(dns_answer(cfg, q, n, out, sizeof(out), &out_len), DNS_ANSWER);
	assert_int_equal(rcode(), 1);
	q[2] &= 0x7f;
	/* opcode STATUS */
	q[2] |= 2 << 3;
	assert_int_equal(dns_answer(cfg, q, n, out, sizeof(out), &out_len), DNS_ANSWER);
	assert_int_equal(rcode(), 4); /* NOTIMP */
	/* shorter than a header: nothing to answer */
	assert_int_equal(dns_answer(cfg, q, 5, out, sizeof(out), &out_len), DNS_FORWARD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(service_names_get_their_vips),
		cmocka_unit_test(headless_service_names_get_their_endpoints),
		cmocka_unit_test(service_entry_hosts_with_addresses),
		cmocka_unit_test(other_names),
		cmocka_unit_test(malformed_queries),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
