// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The resolver of ServiceEntry names against a fake upstream on 127.0.0.1:
 * a thread that answers each name by the rule a test set for it (records in
 * the order given, SERVFAIL, NXDOMAIN, or silence) and notes when each query
 * came. The resolver's timings are shortened (floor, cap, retries) so that a
 * TTL schedule can be watched in a second or two.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "dns_msg.h"
#include "log.h"
#include "resolve.h"

enum mode { M_ANSWER, M_SERVFAIL, M_NXDOMAIN, M_DROP };

struct frr {
	const char *name;
	uint16_t type;
	uint32_t ttl;
	const char *data; /* an address, or a CNAME's target */
};

#define RULES_MAX 8
#define RRS_MAX	  8
#define AT_MAX	  64

struct rule {
	char qname[64];
	enum mode mode;
	struct frr rrs[RRS_MAX];
	size_t n_rrs;
	unsigned queries;
	uint64_t at[AT_MAX]; /* ms since the fake started */
};

static struct {
	int fd;
	struct sockaddr_in addr;
	pthread_t thread;
	pthread_mutex_t lock;
	bool stop;
	uint64_t t0;
	struct rule rules[RULES_MAX];
	size_t n_rules;
} fake;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static bool put_frr(uint8_t *out, size_t *p, const struct frr *rr)
{
	size_t q, start;
	uint8_t ip[16];
	size_t len = rr->type == DNS_T_AAAA ? 16 : 4;

	if (dns_msg_put_name(out, DNS_MSG_MAX, *p, rr->name, &q))
		return false;
	q += dns_put16(out + q, rr->type);
	q += dns_put16(out + q, DNS_C_IN);
	q += dns_put16(out + q, (uint16_t)(rr->ttl >> 16));
	q += dns_put16(out + q, (uint16_t)rr->ttl);
	start = q + 2;
	if (rr->type == DNS_T_CNAME) {
		assert_int_equal(dns_msg_put_name(out, DNS_MSG_MAX, start, rr->data, &q), 0);
		len = q - start;
	} else {
		assert_int_equal(
			inet_pton(rr->type == DNS_T_AAAA ? AF_INET6 : AF_INET, rr->data, ip), 1);
		memcpy(out + start, ip, len);
	}
	dns_put16(out + start - 2, (uint16_t)len);
	*p = start + len;
	return true;
}

/* Answers one query by its name's rule (none: NXDOMAIN). */
static void fake_serve(const uint8_t *q, size_t n, const struct sockaddr_in *from)
{
	uint8_t out[DNS_MSG_MAX];
	char name[DNS_NAME_MAX + 1];
	uint16_t type, class;
	size_t qend, p;
	struct rule *r = NULL;
	unsigned count = 0, rcode = DNS_RC_NXDOMAIN;

	if (!dns_msg_question(q, n, name, &type, &class, &qend))
		return;
	pthread_mutex_lock(&fake.lock);
	for (size_t i = 0; i < fake.n_rules && !r; i++)
		if (!strcmp(fake.rules[i].qname, name))
			r = &fake.rules[i];
	if (r && r->queries < AT_MAX)
		r->at[r->queries] = mono_ms() - fake.t0;
	if (r)
		r->queries++;
	memcpy(out, q, qend);
	out[2] = 0x81;
	dns_put16(out + 6, 0);
	dns_put16(out + 8, 0);
	dns_put16(out + 10, 0);
	p = qend;
	if (r && r->mode == M_DROP) {
		pthread_mutex_unlock(&fake.lock);
		return;
	}
	if (r && r->mode == M_SERVFAIL)
		rcode = DNS_RC_SERVFAIL;
	if (r && r->mode == M_ANSWER) {
		rcode = 0;
		for (size_t i = 0; i < r->n_rrs; i++)
			if (r->rrs[i].type == type || r->rrs[i].type == DNS_T_CNAME)
				count += put_frr(out, &p, &r->rrs[i]);
	}
	pthread_mutex_unlock(&fake.lock);
	out[3] = (uint8_t)(0x80 | rcode);
	dns_put16(out + 6, (uint16_t)count);
	(void)sendto(fake.fd, out, p, 0, (const struct sockaddr *)from, sizeof(*from));
}

static void *fake_main(void *arg)
{
	struct pollfd pfd = {.fd = fake.fd, .events = POLLIN};
	uint8_t q[DNS_MSG_MAX];

	while (!__atomic_load_n(&fake.stop, __ATOMIC_ACQUIRE)) {
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		ssize_t n;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		n = recvfrom(fake.fd, q, sizeof(q), MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
		if (n >= DNS_HDR_LEN)
			fake_serve(q, (size_t)n, &from);
	}
	return NULL;
}

/* Sets the rule for @qname (replacing one); its query count starts again. */
static void rule(const char *qname, enum mode mode, const struct frr *rrs, size_t n)
{
	struct rule *r = NULL;

	pthread_mutex_lock(&fake.lock);
	for (size_t i = 0; i < fake.n_rules && !r; i++)
		if (!strcmp(fake.rules[i].qname, qname))
			r = &fake.rules[i];
	if (!r) {
		assert_true(fake.n_rules < RULES_MAX);
		r = &fake.rules[fake.n_rules++];
	}
	memset(r, 0, sizeof(*r));
	snprintf(r->qname, sizeof(r->qname), "%s", qname);
	r->mode = mode;
	assert_true(n <= RRS_MAX);
	if (n)
		memcpy(r->rrs, rrs, n * sizeof(*rrs));
	r->n_rrs = n;
	pthread_mutex_unlock(&fake.lock);
}

/* Changes only the mode of @qname's rule, keeping its count. */
static void rule_mode(const char *qname, enum mode mode)
{
	pthread_mutex_lock(&fake.lock);
	for (size_t i = 0; i < fake.n_rules; i++)
		if (!strcmp(fake.rules[i].qname, qname))
			fake.rules[i].mode = mode;
	pthread_mutex_unlock(&fake.lock);
}

static unsigned queries(const char *qname, uint64_t *at, size_t max)
{
	unsigned n = 0;

	pthread_mutex_lock(&fake.lock);
	for (size_t i = 0; i < fake.n_rules; i++)
		if (!strcmp(fake.rules[i].qname, qname)) {
			n = fake.rules[i].queries;
			for (size_t k = 0; at && k < max && k < n && k < AT_MAX; k++)
				at[k] = fake.rules[i].at[k];
		}
	pthread_mutex_unlock(&fake.lock);
	return n;
}

static int group_setup(void **state)
{
	socklen_t len = sizeof(fake.addr);

	log_level_cur = LOG_ERROR;
	fake.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	fake.addr.sin_family = AF_INET;
	fake.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fake.fd < 0 || bind(fake.fd, (struct sockaddr *)&fake.addr, sizeof(fake.addr)) ||
	    getsockname(fake.fd, (struct sockaddr *)&fake.addr, &len))
		return -1;
	pthread_mutex_init(&fake.lock, NULL);
	return pthread_create(&fake.thread, NULL, fake_main, NULL);
}

static int group_teardown(void **state)
{
	__atomic_store_n(&fake.stop, true, __ATOMIC_RELEASE);
	pthread_join(fake.thread, NULL);
	close(fake.fd);
	return 0;
}

static struct resolver *res;

/* A resolver with fast timings: floor 100 ms, cap 1.5 s, TTL 0 refreshes at 300 ms,
 * retries after 100 ms doubling to 400 ms, 200 ms per query. */
static int setup(void **state)
{
	struct resolver_opts o = {.upstream = fake.addr,
				  .ttl_floor_ms = 100,
				  .ttl_cap_ms = 1500,
				  .ttl_zero_ms = 300,
				  .retry_min_ms = 100,
				  .retry_max_ms = 400,
				  .timeout_ms = 200};

	pthread_mutex_lock(&fake.lock);
	fake.n_rules = 0;
	fake.t0 = mono_ms();
	pthread_mutex_unlock(&fake.lock);
	return resolver_new(&o, &res);
}

static int teardown(void **state)
{
	resolver_free(res);
	res = NULL;
	return 0;
}

static void want(const char *const *names, size_t n)
{
	struct config_dns_name v[8] = {{0}};

	for (size_t i = 0; i < n; i++)
		v[i].name = (char *)names[i];
	assert_int_equal(resolver_want(res, v, n), 0);
}

static const char *v4(const struct config_name_addrs *a, size_t i)
{
	static char buf[4][INET_ADDRSTRLEN];

	return inet_ntop(AF_INET, &a->v4[i], buf[i % 4], sizeof(buf[0]));
}

/* Waits (2 s at most) until the resolver says a name changed. */
static bool changed_within(unsigned ms)
{
	struct pollfd pfd = {.fd = resolver_changed_fd(res), .events = POLLIN};

	return poll(&pfd, 1, (int)ms) == 1 && resolver_changed(res);
}

static void first_answer_is_served_and_signalled(void **state)
{
	const struct frr rrs[] = {{"api.example.test", DNS_T_A, 30, "192.0.2.1"},
				  {"api.example.test", DNS_T_A, 30, "192.0.2.2"}};
	const char *names[] = {"api.example.test"};
	struct config_name_addrs a;

	rule("api.example.test", M_ANSWER, rrs, 2);
	assert_int_equal(resolver_lookup(res, "api.example.test", &a), -ENOENT);
	want(names, 1);
	assert_int_equal(resolver_wait(res, 2000), 0);
	assert_int_equal(resolver_lookup(res, "api.example.test", &a), 0);
	assert_int_equal(a.n4, 2);
	assert_string_equal(v4(&a, 0), "192.0.2.1");
	assert_string_equal(v4(&a, 1), "192.0.2.2");
	assert_int_equal(a.n6, 0);
	assert_true(changed_within(500));
	assert_false(resolver_changed(res)); /* read once */
	assert_int_equal(resolver_lookup(res, "other.example.test", &a), -ENOENT);
}

/* TTL 1 s: asked again a second later, then every second; a TTL over the cap at the cap. */
static void ttl_decides_when_a_name_is_asked_again(void **state)
{
	const struct frr one[] = {{"one.example.test", DNS_T_A, 1, "192.0.2.1"}};
	const struct frr big[] = {{"big.example.test", DNS_T_A, 3600, "192.0.2.2"}};
	const struct frr zero[] = {{"zero.example.test", DNS_T_A, 0, "192.0.2.3"}};
	const char *names[] = {"one.example.test", "big.example.test", "zero.example.test"};
	uint64_t at[8];
	unsigned n;

	rule("one.example.test", M_ANSWER, one, 1);
	rule("big.example.test", M_ANSWER, big, 1);
	rule("zero.example.test", M_ANSWER, zero, 1);
	want(names, 3);
	sleep_ms(2300);
	n = queries("one.example.test", at, 8);
	assert_int_equal(n, 3); /* at 0, 1000, 2000 ms */
	assert_in_range(at[1] - at[0], 950, 1300);
	assert_in_range(at[2] - at[1], 950, 1300);
	n = queries("big.example.test", at, 8); /* capped at 1.5 s: 0, 1500 */
	assert_int_equal(n, 2);
	assert_in_range(at[1] - at[0], 1450, 1650);
	n = queries("zero.example.test", at, 8); /* TTL 0: every 300 ms */
	assert_in_range(n, 7, 9);
	assert_in_range(at[1] - at[0], 280, 450);
}

/* SERVFAIL, then silence: the last good answer stays, retries back off, one change when
 * a new answer comes. */
static void failures_keep_the_last_good_answer(void **state)
{
	const struct frr a1[] = {{"flaky.example.test", DNS_T_A, 1, "192.0.2.1"}};
	const struct frr a2[] = {{"flaky.example.test", DNS_T_A, 1, "192.0.2.9"}};
	const char *names[] = {"flaky.example.test"};
	struct config_name_addrs a;
	struct resolver_stats st;
	unsigned before, during;

	rule("flaky.example.test", M_ANSWER, a1, 1);
	want(names, 1);
	assert_int_equal(resolver_wait(res, 2000), 0);
	assert_true(changed_within(500));
	rule_mode("flaky.example.test", M_SERVFAIL);
	before = queries("flaky.example.test", NULL, 0);
	sleep_ms(2000);
	assert_int_equal(resolver_lookup(res, "flaky.example.test", &a), 0);
	assert_int_equal(a.n4, 1);
	assert_string_equal(v4(&a, 0), "192.0.2.1");
	resolver_stats(res, &st);
	assert_int_equal(st.failing, 1);
	during = queries("flaky.example.test", NULL, 0) - before;
	/* after ~1 s: retries at +100, +200, +400, +400 ms...: a handful, not one per 100 ms */
	assert_in_range(during, 2, 6);
	rule_mode("flaky.example.test", M_DROP);
	sleep_ms(1000);
	assert_int_equal(resolver_lookup(res, "flaky.example.test", &a), 0);
	assert_string_equal(v4(&a, 0), "192.0.2.1");
	assert_false(resolver_changed(res));
	rule("flaky.example.test", M_ANSWER, a2, 1);
	assert_true(changed_within(1500));
	assert_int_equal(resolver_lookup(res, "flaky.example.test", &a), 0);
	assert_string_equal(v4(&a, 0), "192.0.2.9");
	resolver_stats(res, &st);
	assert_int_equal(st.failing, 0);
	assert_true(st.failures >= during);
}

/* alias -> mid -> real, records out of order: real's addresses, the smallest TTL. */
static void cnames_in_the_answer_are_followed(void **state)
{
	const struct frr rrs[] = {{"real.example.test", DNS_T_A, 60, "192.0.2.7"},
				  {"mid.example.test", DNS_T_CNAME, 1, "real.example.test"},
				  {"alias.example.test", DNS_T_CNAME, 60, "mid.example.test"}};
	const struct frr dangling[] = {{"dangle.example.test", DNS_T_CNAME, 60, "nowhere.test"}};
	const char *names[] = {"alias.example.test", "dangle.example.test"};
	struct config_name_addrs a;
	uint64_t at[4];

	rule("alias.example.test", M_ANSWER, rrs, 3);
	rule("dangle.example.test", M_ANSWER, dangling, 1);
	want(names, 2);
	assert_int_equal(resolver_wait(res, 2000), 0);
	assert_int_equal(resolver_lookup(res, "alias.example.test", &a), 0);
	assert_int_equal(a.n4, 1);
	assert_string_equal(v4(&a, 0), "192.0.2.7");
	/* a CNAME without its address is a failure: nothing known */
	assert_int_equal(resolver_lookup(res, "dangle.example.test", &a), -ENOENT);
	sleep_ms(1200); /* the chain's TTL is mid's 1 s, not 60 s (capped at 1.5 s) */
	assert_true(queries("alias.example.test", at, 4) >= 2);
	assert_in_range(at[1] - at[0], 950, 1300);
}

/* The same addresses in another order are no change; another address is. */
static void only_a_new_set_of_addresses_is_a_change(void **state)
{
	const struct frr ab[] = {{"set.example.test", DNS_T_A, 1, "192.0.2.1"},
				 {"set.example.test", DNS_T_A, 1, "192.0.2.2"}};
	const struct frr ba[] = {{"set.example.test", DNS_T_A, 1, "192.0.2.2"},
				 {"set.example.test", DNS_T_A, 1, "192.0.2.1"}};
	const struct frr ac[] = {{"set.example.test", DNS_T_A, 1, "192.0.2.1"},
				 {"set.example.test", DNS_T_A, 1, "192.0.2.3"}};
	const char *names[] = {"set.example.test"};
	struct config_name_addrs a;
	struct resolver_stats st;

	rule("set.example.test", M_ANSWER, ab, 2);
	want(names, 1);
	assert_true(changed_within(1000));
	rule("set.example.test", M_ANSWER, ba, 2);
	sleep_ms(1300); /* one refresh, answered b, a */
	assert_true(queries("set.example.test", NULL, 0) >= 1);
	assert_false(resolver_changed(res));
	assert_int_equal(resolver_lookup(res, "set.example.test", &a), 0);
	assert_string_equal(v4(&a, 0), "192.0.2.1"); /* the order of the answer that set it */
	rule("set.example.test", M_ANSWER, ac, 2);
	assert_true(changed_within(1500));
	assert_int_equal(resolver_lookup(res, "set.example.test", &a), 0);
	assert_string_equal(v4(&a, 1), "192.0.2.3");
	resolver_stats(res, &st);
	assert_int_equal(st.changes, 2);
}

/* NXDOMAIN is an answer: the name has no address (a change from what it had). */
static void nxdomain_empties_the_name(void **state)
{
	const struct frr rrs[] = {{"gone.example.test", DNS_T_A, 1, "192.0.2.1"}};
	const char *names[] = {"gone.example.test"};
	struct config_name_addrs a;

	rule("gone.example.test", M_ANSWER, rrs, 1);
	want(names, 1);
	assert_true(changed_within(1000));
	rule("gone.example.test", M_NXDOMAIN, NULL, 0);
	assert_true(changed_within(1500));
	assert_int_equal(resolver_lookup(res, "gone.example.test", &a), 0);
	assert_int_equal(a.n4, 0);
}

/* A silent upstream: the wait ends when the first attempt times out, not at its bound. */
static void wait_is_bounded_by_the_first_outcome(void **state)
{
	const char *names[] = {"silent.example.test"};
	struct config_name_addrs a;
	uint64_t t0;

	rule("silent.example.test", M_DROP, NULL, 0);
	want(names, 1);
	assert_int_equal(resolver_wait(res, 50), -ETIMEDOUT);
	t0 = mono_ms();
	assert_int_equal(resolver_wait(res, 2000), 0);
	assert_true(mono_ms() - t0 < 400); /* the 200 ms query timeout */
	assert_int_equal(resolver_lookup(res, "silent.example.test", &a), -ENOENT);
}

/* Names a new config does not list are forgotten, and no longer asked. */
static void names_no_longer_wanted_are_forgotten(void **state)
{
	const struct frr rrs[] = {{"old.example.test", DNS_T_A, 1, "192.0.2.1"}};
	const char *names[] = {"old.example.test"};
	struct config_name_addrs a;
	struct resolver_stats st;
	unsigned n;

	rule("old.example.test", M_ANSWER, rrs, 1);
	want(names, 1);
	assert_int_equal(resolver_wait(res, 2000), 0);
	want(NULL, 0);
	resolver_stats(res, &st);
	assert_int_equal(st.names, 0);
	n = queries("old.example.test", NULL, 0);
	sleep_ms(1200);
	assert_int_equal(queries("old.example.test", NULL, 0), n);
	assert_int_equal(resolver_lookup(res, "old.example.test", &a), -ENOENT);
}

/* Asked to, AAAA too: the name's IPv6 addresses next to its IPv4 ones. */
static void aaaa_is_asked_when_the_node_has_ipv6(void **state)
{
	const struct frr rrs[] = {{"dual.example.test", DNS_T_A, 30, "192.0.2.1"},
				  {"dual.example.test", DNS_T_AAAA, 30, "2001:db8::1"},
				  {"dual.example.test", DNS_T_AAAA, 30, "2001:db8::2"}};
	const char *names[] = {"dual.example.test"};
	struct resolver_opts o = {.upstream = fake.addr, .ipv6 = true, .timeout_ms = 200};
	struct config_name_addrs a;
	char buf[INET6_ADDRSTRLEN];

	resolver_free(res);
	assert_int_equal(resolver_new(&o, &res), 0);
	rule("dual.example.test", M_ANSWER, rrs, 3);
	want(names, 1);
	assert_int_equal(resolver_wait(res, 2000), 0);
	assert_int_equal(resolver_lookup(res, "dual.example.test", &a), 0);
	assert_int_equal(a.n4, 1);
	assert_int_equal(a.n6, 2);
	assert_string_equal(inet_ntop(AF_INET6, &a.v6[1], buf, sizeof(buf)), "2001:db8::2");
	assert_int_equal(queries("dual.example.test", NULL, 0), 2); /* A and AAAA */
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/*
 * resolver_load_dir(): the first config already has the names' answers, as
 * endpoints with the entry's labels and ports; DNS_ROUND_ROBIN takes the first.
 */
static void first_config_is_built_with_the_answers(void **state)
{
	static const char yaml[] =
		"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		"metadata: {name: api, namespace: default}\n"
		"spec:\n"
		"  hosts: [api.example.test]\n"
		"  resolution: DNS\n"
		"  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}]\n"
		"  endpoints:\n"
		"  - {address: v1.example.test, labels: {version: v1}}\n"
		"  - {address: v2.example.test, labels: {version: v2}, ports: {http: 9090}}\n"
		"---\n"
		"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		"metadata: {name: rr, namespace: default}\n"
		"spec:\n"
		"  hosts: [rr.example.test]\n"
		"  resolution: DNS_ROUND_ROBIN\n"
		"  ports: [{number: 80, name: http, protocol: HTTP}]\n";
	const struct frr v1[] = {{"v1.example.test", DNS_T_A, 30, "192.0.2.1"}};
	const struct frr v2[] = {{"v2.example.test", DNS_T_A, 30, "192.0.2.2"},
				 {"v2.example.test", DNS_T_A, 30, "192.0.2.3"}};
	const struct frr rr[] = {{"rr.example.test", DNS_T_A, 30, "192.0.2.8"},
				 {"rr.example.test", DNS_T_A, 30, "192.0.2.9"}};
	char dir[] = "/tmp/shunt-resolve-XXXXXX", path[64];
	const struct service *api, *rrs;
	const struct svc_port *sp;
	struct config *cfg = NULL;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/se.yaml", dir);
	assert_int_equal(write_file(path, yaml), 0);
	rule("v1.example.test", M_ANSWER, v1, 1);
	rule("v2.example.test", M_ANSWER, v2, 2);
	rule("rr.example.test", M_ANSWER, rr, 2);
	assert_int_equal(resolver_load_dir(res, dir, 2000, &cfg), 0);
	unlink(path);
	rmdir(dir);
	assert_int_equal(cfg->istio.n_dns_names, 3);
	assert_string_equal(cfg->istio.dns_names[0].name, "v1.example.test");
	api = config_find_service(cfg, "default", "api.example.test");
	assert_non_null(api);
	sp = &api->ports[0];
	assert_int_equal(sp->n_eps, 3);
	assert_int_equal(sp->n_ready, 3);
	assert_int_equal(sp->eps[0].ip.s_addr, inet_addr("192.0.2.1"));
	assert_int_equal(sp->eps[0].port, 8080);
	assert_string_equal(labels_get(sp->eps[0].labels, "version"), "v1");
	assert_int_equal(sp->eps[2].ip.s_addr, inet_addr("192.0.2.3"));
	assert_int_equal(sp->eps[2].port, 9090);
	assert_string_equal(labels_get(sp->eps[2].labels, "version"), "v2");
	assert_true(api->auto_vip); /* resolved endpoints: a VIP for the pods' DNS */
	rrs = config_find_service(cfg, "default", "rr.example.test");
	assert_int_equal(rrs->ports[0].n_eps, 1);
	assert_int_equal(rrs->ports[0].eps[0].ip.s_addr, inet_addr("192.0.2.8"));
	assert_int_equal(rrs->ports[0].eps[0].port, 80);
	config_set_name_lookup(NULL, NULL);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(first_answer_is_served_and_signalled, setup,
						teardown),
		cmocka_unit_test_setup_teardown(ttl_decides_when_a_name_is_asked_again, setup,
						teardown),
		cmocka_unit_test_setup_teardown(failures_keep_the_last_good_answer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(cnames_in_the_answer_are_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(only_a_new_set_of_addresses_is_a_change, setup,
						teardown),
		cmocka_unit_test_setup_teardown(nxdomain_empties_the_name, setup, teardown),
		cmocka_unit_test_setup_teardown(wait_is_bounded_by_the_first_outcome, setup,
						teardown),
		cmocka_unit_test_setup_teardown(names_no_longer_wanted_are_forgotten, setup,
						teardown),
		cmocka_unit_test_setup_teardown(aaaa_is_asked_when_the_node_has_ipv6, setup,
						teardown),
		cmocka_unit_test_setup_teardown(first_config_is_built_with_the_answers, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
