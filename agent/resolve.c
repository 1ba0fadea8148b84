// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The resolver of ServiceEntry names (resolve.h). One thread, one UDP
 * socket: a table of (name, type) entries, each with its last good answer,
 * when to ask next and the query in flight; poll() sleeps until the next
 * query is due, one times out or an answer comes. Everything in the table is
 * under one lock, taken by the loader's lookups too (short: no I/O under it
 * but a non-blocking sendto).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dns_msg.h"
#include "log.h"
#include "privs.h"
#include "resolve.h"

#define ANSWER_RRS_MAX 64 /* answer records read from one message */
#define CNAME_HOPS_MAX 8  /* CNAMEs followed from the name asked */

struct entry {
	char *name;
	uint16_t type; /* DNS_T_A or DNS_T_AAAA */
	bool wanted;   /* still in the latest resolver_want() */
	bool settled;  /* had an outcome since it was wanted */
	bool known;    /* a good answer came: addrs holds it */
	bool failing;  /* the latest attempt failed (logged when that started) */
	uint8_t addrs[CONFIG_NAME_ADDRS_MAX][16]; /* in the order of the answer that set them */
	size_t n;
	uint64_t due;	   /* monotonic ms: ask then */
	uint64_t deadline; /* of the query in flight; 0: none in flight */
	uint16_t id;	   /* of the query in flight */
	unsigned retry_ms; /* the wait after the next failure */
	unsigned fails;	   /* attempts failed in a row */
};

struct resolver {
	struct resolver_opts o;
	int fd;		/* the query socket */
	int wake_fd;	/* eventfd: the table changed, or stop */
	int changed_fd; /* eventfd: an answer changed a wanted name's addresses */
	pthread_t thread;
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t settled;
	bool stop, full_warned;
	struct entry **v;
	size_t n, cap;
	uint32_t rand;
	struct resolver_stats st;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static unsigned opt_or(unsigned v, unsigned dflt)
{
	return v ? v : dflt;
}

static const char *type_str(uint16_t type)
{
	return type == DNS_T_AAAA ? "AAAA" : "A";
}

static size_t addr_len(uint16_t type)
{
	return type == DNS_T_AAAA ? 16 : 4;
}

/* xorshift32: query ids need not be secret here, only unlikely to repeat (see docs). */
static uint16_t next_id(struct resolver *r)
{
	r->rand ^= r->rand << 13;
	r->rand ^= r->rand >> 17;
	r->rand ^= r->rand << 5;
	return (uint16_t)r->rand;
}

/* "10.0.0.1, 10.0.0.2" for the log, cut to @len. */
static const char *addrs_str(const void *a, size_t n, uint16_t type, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	if (!n)
		snprintf(buf, len, "no address");
	for (size_t i = 0; i < n && off + INET6_ADDRSTRLEN + 3 < len; i++) {
		if (i)
			off += (size_t)snprintf(buf + off, len - off, ", ");
		inet_ntop(type == DNS_T_AAAA ? AF_INET6 : AF_INET, (const uint8_t *)a + i * 16,
			  buf + off, (socklen_t)(len - off));
		off += strlen(buf + off);
	}
	return buf;
}

static void settle(struct resolver *r, struct entry *e)
{
	if (e->settled)
		return;
	e->settled = true;
	pthread_cond_broadcast(&r->settled);
}

/* The attempt in flight failed: the last good answer stays; retry after a backoff. */
static void fail(struct resolver *r, struct entry *e, const char *why, uint64_t now)
{
	char buf[256];

	e->deadline = 0;
	e->fails++;
	r->st.failures++;
	if (!e->failing) {
		e->failing = true;
		if (e->known)
			log_warn("dns: %s (%s): %s: keeping its last good answer (%s) and retrying",
				 e->name, type_str(e->type), why,
				 addrs_str(e->addrs, e->n, e->type, buf, sizeof(buf)));
		else
			log_warn("dns: %s (%s): %s: no answer yet, retrying", e->name,
				 type_str(e->type), why);
	}
	e->due = now + e->retry_ms;
	e->retry_ms = e->retry_ms * 2 < opt_or(r->o.retry_max_ms, RESOLVE_RETRY_MAX_MS)
			      ? e->retry_ms * 2
			      : opt_or(r->o.retry_max_ms, RESOLVE_RETRY_MAX_MS);
	settle(r, e);
}

static bool same_set(const struct entry *e, const struct resolve_answer *a)
{
	size_t len = addr_len(e->type);

	if (e->n != a->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		bool found = false;

		for (size_t j = 0; j < e->n && !found; j++)
			found = !memcmp(a->addrs[i], e->addrs[j], len);
		if (!found)
			return false;
	}
	return true;
}

static uint64_t refresh_ms(const struct resolver *r, uint32_t ttl)
{
	uint64_t ms = (uint64_t)ttl * 1000;

	if (!ttl)
		return opt_or(r->o.ttl_zero_ms, RESOLVE_TTL_ZERO_MS);
	if (ms < opt_or(r->o.ttl_floor_ms, RESOLVE_TTL_FLOOR_MS))
		return opt_or(r->o.ttl_floor_ms, RESOLVE_TTL_FLOOR_MS);
	if (ms > opt_or(r->o.ttl_cap_ms, RESOLVE_TTL_CAP_MS))
		return opt_or(r->o.ttl_cap_ms, RESOLVE_TTL_CAP_MS);
	return ms;
}

/* A good answer: a new set of addresses (in the answer's order) or the same one again. */
static void answered(struct resolver *r, struct entry *e, const struct resolve_answer *a,
		     uint64_t now)
{
	uint64_t one = 1;
	char was[256], is[256];

	e->deadline = 0;
	r->st.answers++;
	if (e->failing)
		log_info("dns: %s (%s) answers again, after %u failed attempt%s", e->name,
			 type_str(e->type), e->fails, e->fails == 1 ? "" : "s");
	e->failing = false;
	e->fails = 0;
	e->retry_ms = opt_or(r->o.retry_min_ms, RESOLVE_RETRY_MIN_MS);
	e->due = now + refresh_ms(r, a->ttl);
	if (!e->known || !same_set(e, a)) {
		log_info("dns: %s (%s): %s (was %s), TTL %u s", e->name, type_str(e->type),
			 addrs_str(a->addrs, a->n, e->type, is, sizeof(is)),
			 e->known ? addrs_str(e->addrs, e->n, e->type, was, sizeof(was))
				  : "not known",
			 a->ttl);
		memcpy(e->addrs, a->addrs, sizeof(a->addrs));
		e->n = a->n;
		e->known = true;
		r->st.changes++;
		if (write(r->changed_fd, &one, sizeof(one)) != sizeof(one))
			log_warn("dns: cannot signal a changed answer: %s", strerror(errno));
	}
	settle(r, e);
}

static void add_addr(struct resolve_answer *a, const uint8_t *ip, size_t len)
{
	for (size_t i = 0; i < a->n; i++)
		if (!memcmp(a->addrs[i], ip, len))
			return;
	if (a->n < CONFIG_NAME_ADDRS_MAX)
		memcpy(a->addrs[a->n++], ip, len);
}

/* RFC 2181: a TTL with the top bit set is 0. */
static uint32_t ttl_of(uint32_t ttl)
{
	return ttl & 0x80000000u ? 0 : ttl;
}

/*
 * A negative answer's TTL (RFC 2308): the SOA's in the authority section, the
 * smaller of its own and its minimum field; 0 without one.
 */
static uint32_t negative_ttl(const uint8_t *msg, size_t len, size_t p, unsigned an, unsigned ns)
{
	struct dns_rr rr;

	for (unsigned i = 0; i < an + ns; i++) {
		if (dns_msg_rr(msg, len, p, &rr, &p))
			return 0;
		if (i >= an && rr.type == DNS_T_SOA && rr.rdlen >= 20) {
			uint32_t min = ttl_of(dns_get32(msg + rr.rdata + rr.rdlen - 4));

			return ttl_of(rr.ttl) < min ? ttl_of(rr.ttl) : min;
		}
	}
	return 0;
}

/*
 * The addresses of @name of @type in the @an answer records at @p, CNAMEs
 * followed; the TTL is the smallest along the chain. A chain that ends in a
 * CNAME without addresses is a failure (the upstream did not follow it).
 */
static void chase(const uint8_t *msg, size_t len, size_t p, unsigned an, const char *name,
		  uint16_t type, struct resolve_answer *a)
{
	struct dns_rr rrs[ANSWER_RRS_MAX]; /* 18 KB of the resolver thread's stack */
	char cur[DNS_NAME_MAX + 1], target[DNS_NAME_MAX + 1], alias[DNS_NAME_MAX + 1];
	size_t n = 0, next;
	bool cname = false;

	for (unsigned i = 0; i < an && n < ANSWER_RRS_MAX; i++, n++)
		if (dns_msg_rr(msg, len, p, &rrs[n], &p)) {
			a->why = "malformed answer";
			return;
		}
	snprintf(cur, sizeof(cur), "%s", name);
	a->ttl = UINT32_MAX;
	for (int hop = 0; hop <= CNAME_HOPS_MAX && !a->n; hop++) {
		target[0] = '\0';
		for (size_t i = 0; i < n; i++) {
			const struct dns_rr *rr = &rrs[i];

			if (strcmp(rr->name, cur) || rr->class != DNS_C_IN)
				continue;
			if (rr->type == type && rr->rdlen == addr_len(type))
				add_addr(a, msg + rr->rdata, rr->rdlen);
			else if (rr->type != DNS_T_CNAME ||
				 dns_msg_name(msg, len, rr->rdata, alias, &next))
				continue;
			else
				memcpy(target, alias, sizeof(target));
			if (ttl_of(rr->ttl) < a->ttl)
				a->ttl = ttl_of(rr->ttl);
		}
		if (a->n || !target[0])
			break;
		cname = true;
		snprintf(cur, sizeof(cur), "%s", target);
	}
	if (!a->n && cname)
		a->why = "a CNAME without an address";
	if (a->ttl == UINT32_MAX)
		a->ttl = 0;
}

void resolve_parse_answer(const uint8_t *msg, size_t len, const char *name, uint16_t type,
			  struct resolve_answer *a)
{
	static const char *const rcodes[] = {"NOERROR",	 "FORMERR", "SERVFAIL",
					     "NXDOMAIN", "NOTIMP",  "REFUSED"};
	char qname[DNS_NAME_MAX + 1];
	unsigned rcode, an, ns;
	uint16_t qtype, qclass;
	size_t p;

	memset(a, 0, sizeof(*a));
	if (len < DNS_HDR_LEN || dns_get16(msg + 4) != 1 ||
	    dns_msg_name(msg, len, DNS_HDR_LEN, qname, &p) || p + 4 > len) {
		a->why = "malformed answer";
		return;
	}
	rcode = msg[3] & 0x0f;
	an = dns_get16(msg + 6);
	ns = dns_get16(msg + 8);
	qtype = dns_get16(msg + p);
	qclass = dns_get16(msg + p + 2);
	p += 4;
	if (strcmp(qname, name) || qtype != type || qclass != DNS_C_IN) {
		a->why = "an answer to another question";
	} else if (rcode == DNS_RC_NXDOMAIN) {
		a->ttl = negative_ttl(msg, len, p, an, ns);
	} else if (rcode != DNS_RC_NOERROR) {
		a->why = rcode < sizeof(rcodes) / sizeof(rcodes[0]) ? rcodes[rcode] : "error rcode";
	} else if (msg[2] & 0x02) {
		a->why = "truncated answer (no TCP fallback)";
	} else {
		chase(msg, len, p, an, name, type, a);
		if (!a->why && !a->n)
			a->ttl = negative_ttl(msg, len, p, an, ns);
	}
}

static struct entry *find(const struct resolver *r, const char *name, uint16_t type)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i]->type == type && !strcmp(r->v[i]->name, name))
			return r->v[i];
	return NULL;
}

/* The entry whose query in flight has id @id and the name and type of @msg's question. */
static struct entry *in_flight(const struct resolver *r, uint16_t id)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i]->deadline && r->v[i]->id == id)
			return r->v[i];
	return NULL;
}

/* Every answer waiting on the socket, matched to its query by id, source and question. */
static void receive(struct resolver *r)
{
	uint8_t msg[DNS_MSG_MAX];
	struct resolve_answer a;

	for (int i = 0; i < 64; i++) {
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		struct entry *e;
		ssize_t n;

		n = recvfrom(r->fd, msg, sizeof(msg), MSG_DONTWAIT, (struct sockaddr *)&from,
			     &flen);
		if (n < 0)
			return;
		if (n < DNS_HDR_LEN || !(msg[2] & 0x80) ||
		    from.sin_addr.s_addr != r->o.upstream.sin_addr.s_addr ||
		    from.sin_port != r->o.upstream.sin_port)
			continue; /* not an answer from our resolver: dropped */
		e = in_flight(r, dns_get16(msg));
		if (!e)
			continue; /* late (timed out already) or forged */
		resolve_parse_answer(msg, (size_t)n, e->name, e->type, &a);
		if (a.why && !strcmp(a.why, "an answer to another question"))
			continue; /* the id matched by chance: keep waiting for ours */
		if (a.why)
			fail(r, e, a.why, now_ms());
		else
			answered(r, e, &a, now_ms());
	}
}

static void send_query(struct resolver *r, struct entry *e, uint64_t now)
{
	uint8_t q[DNS_HDR_LEN + DNS_NAME_MAX + 2 + 4 + 11];
	size_t len;

	e->id = next_id(r);
	if (dns_msg_query(e->id, e->name, e->type, q, sizeof(q), &len)) {
		fail(r, e, "not a name that can be asked", now); /* retried, like a timeout */
		return;
	}
	r->st.queries++;
	e->deadline = now + opt_or(r->o.timeout_ms, RESOLVE_TIMEOUT_MS);
	if (sendto(r->fd, q, len, MSG_DONTWAIT, (const struct sockaddr *)&r->o.upstream,
		   sizeof(r->o.upstream)) < 0)
		fail(r, e, strerror(errno), now);
}

/* Sends the queries due, fails those timed out; the ms until the next is due (-1: none). */
static int tick(struct resolver *r, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < r->n; i++) {
		struct entry *e = r->v[i];

		if (e->deadline && e->deadline <= now)
			fail(r, e, "timed out", now);
		if (!e->deadline && e->due <= now)
			send_query(r, e, now);
		if (e->deadline && e->deadline < next)
			next = e->deadline;
		if (!e->deadline && e->due < next)
			next = e->due;
	}
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : next - now > 60000 ? 60000 : (int)(next - now);
}

static void *resolve_main(void *arg)
{
	struct resolver *r = arg;
	struct pollfd pfd[2] = {{.fd = r->fd, .events = POLLIN},
				{.fd = r->wake_fd, .events = POLLIN}};
	uint64_t v;

	/* Its socket is open and marked: nothing it does needs a capability (privs.h). */
	pthread_setname_np(pthread_self(), "shunt-resolve");
	(void)privs_drop(PRIVS_NONE);
	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		int timeout = tick(r, now_ms());

		pthread_mutex_unlock(&r->lock);
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
			log_warn("dns: poll: %s", strerror(errno));
		if (pfd[1].revents & POLLIN)
			(void)!read(r->wake_fd, &v, sizeof(v));
		pthread_mutex_lock(&r->lock);
		if (pfd[0].revents & POLLIN)
			receive(r);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static void wake(struct resolver *r)
{
	uint64_t one = 1;

	if (write(r->wake_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("dns: cannot wake the resolver: %s", strerror(errno));
}

/* A new entry for @name of @type, asked at once; NULL when out of memory. */
static struct entry *add_entry(struct resolver *r, const char *name, uint16_t type)
{
	struct entry *e;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct entry **v = realloc(r->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		r->v = v;
		r->cap = cap;
	}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->name = strdup(name))) {
		free(e);
		return NULL;
	}
	e->type = type;
	e->retry_ms = opt_or(r->o.retry_min_ms, RESOLVE_RETRY_MIN_MS);
	r->v[r->n++] = e;
	return e;
}

/* Drops the entries the latest resolver_want() did not name. */
static void forget_unwanted(struct resolver *r)
{
	size_t k = 0;

	for (size_t i = 0; i < r->n; i++) {
		if (r->v[i]->wanted) {
			r->v[k++] = r->v[i];
			continue;
		}
		log_debug("dns: %s (%s): no longer needed", r->v[i]->name, type_str(r->v[i]->type));
		free(r->v[i]->name);
		free(r->v[i]);
	}
	r->n = k;
}

/* Marks @name wanted (A, and AAAA when asked to), adding what is missing. Under the lock. */
static int want_name(struct resolver *r, const char *name)
{
	const uint16_t types[] = {DNS_T_A, DNS_T_AAAA};

	for (size_t t = 0; t < (r->o.ipv6 ? 2u : 1u); t++) {
		struct entry *e = find(r, name, types[t]);

		if (!e && r->n >= RESOLVE_NAMES_MAX) {
			if (!r->full_warned)
				log_warn(
					"dns: more than %d names to resolve: %s and those after it "
					"are not resolved",
					RESOLVE_NAMES_MAX, name);
			r->full_warned = true;
			return 0;
		}
		if (!e)
			e = add_entry(r, name, types[t]);
		if (!e)
			return -ENOMEM;
		e->wanted = true;
	}
	return 0;
}

int resolver_want(struct resolver *r, const struct config_dns_name *names, size_t n)
{
	int err = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++)
		r->v[i]->wanted = false;
	for (size_t i = 0; i < n && !err; i++)
		err = want_name(r, names[i].name);
	if (err) /* keep every entry: the next call sorts them out */
		for (size_t i = 0; i < r->n; i++)
			r->v[i]->wanted = true;
	forget_unwanted(r);
	pthread_mutex_unlock(&r->lock);
	wake(r);
	return err;
}

int resolver_lookup(struct resolver *r, const char *name, struct config_name_addrs *out)
{
	const struct entry *a, *aaaa;
	int err = -ENOENT;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&r->lock);
	a = find(r, name, DNS_T_A);
	aaaa = find(r, name, DNS_T_AAAA);
	if (a && a->known) {
		for (size_t i = 0; i < a->n; i++)
			memcpy(&out->v4[out->n4++], a->addrs[i], 4);
		err = 0;
	}
	if (aaaa && aaaa->known) {
		for (size_t i = 0; i < aaaa->n; i++)
			memcpy(&out->v6[out->n6++], aaaa->addrs[i], 16);
		err = 0;
	}
	pthread_mutex_unlock(&r->lock);
	return err;
}

int resolver_name_lookup(const char *name, struct config_name_addrs *out, void *arg)
{
	return resolver_lookup(arg, name, out);
}

static bool all_settled(const struct resolver *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (!r->v[i]->settled)
			return false;
	return true;
}

int resolver_wait(struct resolver *r, unsigned timeout_ms)
{
	struct timespec ts;
	int err = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&r->lock);
	while (!all_settled(r) && !err)
		err = pthread_cond_timedwait(&r->settled, &r->lock, &ts);
	pthread_mutex_unlock(&r->lock);
	return err ? -ETIMEDOUT : 0;
}

int resolver_changed_fd(const struct resolver *r)
{
	return r->changed_fd;
}

bool resolver_changed(struct resolver *r)
{
	uint64_t v = 0;

	return read(r->changed_fd, &v, sizeof(v)) == sizeof(v) && v;
}

void resolver_stats(struct resolver *r, struct resolver_stats *st)
{
	pthread_mutex_lock(&r->lock);
	*st = r->st;
	st->names = r->n;
	st->failing = 0;
	for (size_t i = 0; i < r->n; i++)
		st->failing += r->v[i]->failing;
	pthread_mutex_unlock(&r->lock);
}

/* The first load's lookup: a name not asked yet is asked now and waited for, within what is
 * left of the start's budget, so that the first config has the answers. */
struct start_lookup {
	struct resolver *r;
	uint64_t deadline;
};

static int start_lookup(const char *name, struct config_name_addrs *out, void *arg)
{
	struct start_lookup *s = arg;
	uint64_t now = now_ms();
	int err;

	pthread_mutex_lock(&s->r->lock);
	err = want_name(s->r, name);
	pthread_mutex_unlock(&s->r->lock);
	wake(s->r);
	if (!err && now < s->deadline)
		(void)resolver_wait(s->r, (unsigned)(s->deadline - now));
	return resolver_lookup(s->r, name, out);
}

/* Whether what @cfg was built from differs from the answers now; how many had none. */
static bool differs(struct resolver *r, const struct config *cfg, size_t *unanswered)
{
	bool diff = false;

	*unanswered = 0;
	for (size_t i = 0; i < cfg->istio.n_dns_names; i++) {
		const struct config_dns_name *d = &cfg->istio.dns_names[i];
		struct config_name_addrs now;
		int err = resolver_lookup(r, d->name, &now);

		*unanswered += err != 0;
		if (err != d->err || (!err && memcmp(&now, &d->addrs, sizeof(now))))
			diff = true;
	}
	return diff;
}

static int load_dir(void *arg, struct config **out)
{
	return config_load_dir(arg, out);
}

int resolver_load_dir(struct resolver *r, const char *dir, unsigned wait_ms, struct config **out)
{
	return resolver_load(r, load_dir, (void *)dir, wait_ms, out);
}

int resolver_load(struct resolver *r, int (*load)(void *arg, struct config **out), void *arg,
		  unsigned wait_ms, struct config **out)
{
	struct start_lookup s = {.r = r, .deadline = now_ms() + wait_ms};
	uint64_t one = 1, t0 = now_ms();
	size_t unanswered;
	int err;

	if (!r)
		return load(arg, out);
	config_set_name_lookup(start_lookup, &s);
	err = load(arg, out);
	config_set_name_lookup(resolver_name_lookup, r);
	if (err || !(*out)->istio.n_dns_names)
		return err;
	(void)resolver_want(r, (*out)->istio.dns_names, (*out)->istio.n_dns_names);
	/* The answers so far are in this config; one that came meanwhile reloads it. */
	(void)resolver_changed(r);
	if (differs(r, *out, &unanswered) && write(r->changed_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("dns: cannot signal a changed answer: %s", strerror(errno));
	log_info("dns: the config resolves %zu name%s, asked before it is published: %zu "
		 "answered within %llu ms%s",
		 (*out)->istio.n_dns_names, (*out)->istio.n_dns_names == 1 ? "" : "s",
		 (*out)->istio.n_dns_names - unanswered, (unsigned long long)(now_ms() - t0),
		 unanswered ? "; the others follow when they answer" : "");
	return 0;
}

static int setup(struct resolver *r)
{
	pthread_condattr_t ca;

	r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	r->changed_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->fd < 0 || r->wake_fd < 0 || r->changed_fd < 0)
		return -errno;
	/* The agent's own queries are never captured, even inside the mesh cgroup. */
	if (r->o.mark && setsockopt(r->fd, SOL_SOCKET, SO_MARK, &r->o.mark, sizeof(r->o.mark)))
		return -errno;
	if (getrandom(&r->rand, sizeof(r->rand), GRND_NONBLOCK) != sizeof(r->rand))
		r->rand = (uint32_t)now_ms();
	r->rand |= 1; /* xorshift never leaves 0 */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->settled, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&r->lock, NULL);
	return 0;
}

static void close_fds(struct resolver *r)
{
	if (r->fd >= 0)
		close(r->fd);
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	if (r->changed_fd >= 0)
		close(r->changed_fd);
}

int resolver_new(const struct resolver_opts *o, struct resolver **out)
{
	struct resolver *r = calloc(1, sizeof(*r));
	sigset_t all, old;
	int err;

	if (!r)
		return -ENOMEM;
	r->o = *o;
	r->fd = r->wake_fd = r->changed_fd = -1;
	err = setup(r);
	if (err)
		goto close_fds;
	/* The thread takes no signal: the process's are the main loop's (signalfd), and the
	 * resolver may start before they are blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&r->thread, NULL, resolve_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		goto destroy_sync;
	*out = r;
	return 0;

destroy_sync:
	pthread_cond_destroy(&r->settled);
	pthread_mutex_destroy(&r->lock);
close_fds:
	close_fds(r);
	free(r);
	return err;
}

void resolver_free(struct resolver *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_mutex_unlock(&r->lock);
	wake(r);
	pthread_join(r->thread, NULL);
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i]->name);
		free(r->v[i]);
	}
	free(r->v);
	pthread_cond_destroy(&r->settled);
	pthread_mutex_destroy(&r->lock);
	close_fds(r);
	free(r);
}
