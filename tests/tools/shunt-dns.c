// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shunt-dns: the test DNS server, an "internet" resolver a test controls.
 *
 *   shunt-dns --listen IP:PORT --zone FILE
 *
 * Answers UDP queries from FILE, read again for every query, so a test
 * changes the answers (or makes them fail) by rewriting it. One line each:
 *
 *   NAME TTL A IPV4           an address record (TTL in seconds)
 *   NAME TTL AAAA IPV6
 *   NAME TTL CNAME TARGET     an alias, followed (in FILE) as a recursive
 *                             resolver does: the CNAME, then TARGET's records
 *   NAME servfail|refused|nxdomain|drop
 *                             that answer for NAME (drop: no answer at all)
 *   * servfail|refused|drop   the same for every name
 *   # a comment
 *
 * A name FILE does not have is NXDOMAIN; one it has without a record of
 * the type asked gets an empty answer (NODATA). Names compare without case.
 * Every query is one line on stdout (line-buffered), for a test to count:
 *
 *   query NAME TYPE -> N answers|servfail|refused|nxdomain|drop|formerr
 *
 * Bounded: ZONE_MAX lines read, ANSWERS_MAX records and CHAIN_MAX CNAMEs in
 * an answer. SIGTERM/SIGINT end it (default action). Exit 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "dns_msg.h"

#define ZONE_MAX    256
#define ANSWERS_MAX 32
#define CHAIN_MAX   8

enum action { ACT_ANSWER, ACT_SERVFAIL, ACT_REFUSED, ACT_NXDOMAIN, ACT_DROP };

struct record {
	char name[DNS_NAME_MAX + 1];
	enum action act; /* ACT_ANSWER: the record below */
	uint16_t type;
	uint32_t ttl;
	uint8_t addr[16];
	char target[DNS_NAME_MAX + 1]; /* CNAME */
};

struct zone {
	struct record r[ZONE_MAX];
	size_t n;
	enum action all; /* a "*" line's */
};

static void lower(char *s)
{
	if (!*s)
		return;
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s + 32);
	if (s[-1] == '.')
		s[-1] = '\0';
}

static bool parse_action(const char *w, enum action *act)
{
	static const char *const names[] = {"", "servfail", "refused", "nxdomain", "drop"};

	for (int i = 1; i < 5; i++)
		if (!strcasecmp(w, names[i])) {
			*act = (enum action)i;
			return true;
		}
	return false;
}

/* One line of the zone into @rec; false when it is not a record (comments, junk). */
static bool parse_line(const char *line, struct record *rec, enum action *all)
{
	char name[DNS_NAME_MAX + 1], w2[64], w3[16], w4[DNS_NAME_MAX + 1];
	int n = sscanf(line, "%255s %63s %15s %255s", name, w2, w3, w4);

	memset(rec, 0, sizeof(*rec));
	if (n < 2 || name[0] == '#')
		return false;
	if (n == 2 && !strcmp(name, "*")) {
		parse_action(w2, all);
		return false; /* not a record */
	}
	if (n == 2) {
		snprintf(rec->name, sizeof(rec->name), "%s", name);
		lower(rec->name);
		return parse_action(w2, &rec->act);
	}
	if (n != 4)
		return false;
	snprintf(rec->name, sizeof(rec->name), "%s", name);
	lower(rec->name);
	rec->ttl = (uint32_t)strtoul(w2, NULL, 10);
	if (!strcasecmp(w3, "A") && inet_pton(AF_INET, w4, rec->addr) == 1)
		rec->type = DNS_T_A;
	else if (!strcasecmp(w3, "AAAA") && inet_pton(AF_INET6, w4, rec->addr) == 1)
		rec->type = DNS_T_AAAA;
	else if (!strcasecmp(w3, "CNAME"))
		rec->type = DNS_T_CNAME;
	else
		return false;
	snprintf(rec->target, sizeof(rec->target), "%s", w4);
	lower(rec->target);
	return true;
}

static void read_zone(const char *path, struct zone *z)
{
	char line[640];
	FILE *f = fopen(path, "re");

	z->n = 0;
	z->all = ACT_ANSWER;
	if (!f)
		return; /* no zone: every name is NXDOMAIN */
	while (z->n < ZONE_MAX && fgets(line, sizeof(line), f))
		if (parse_line(line, &z->r[z->n], &z->all))
			z->n++;
	fclose(f);
}

/* Appends a record of @name to the answer at *@p; false when it does not fit. */
static bool put_rr(uint8_t *out, size_t cap, size_t *p, const struct record *rec)
{
	size_t len = rec->type == DNS_T_A ? 4 : 16, q, start;

	if (dns_msg_put_name(out, cap, *p, rec->name, &q) || q + 10 > cap)
		return false;
	q += dns_put16(out + q, rec->type);
	q += dns_put16(out + q, DNS_C_IN);
	q += dns_put16(out + q, (uint16_t)(rec->ttl >> 16));
	q += dns_put16(out + q, (uint16_t)rec->ttl);
	start = q + 2;
	if (rec->type == DNS_T_CNAME) {
		if (dns_msg_put_name(out, cap, start, rec->target, &q))
			return false;
		len = q - start;
	} else if (start + len > cap) {
		return false;
	} else {
		memcpy(out + start, rec->addr, len);
	}
	dns_put16(out + start - 2, (uint16_t)len);
	*p = start + len;
	return true;
}

/* The records of @qname and @qtype, CNAMEs followed, after the question at *@p. */
static enum action answer(const struct zone *z, const char *qname, uint16_t qtype, uint8_t *out,
			  size_t cap, size_t *p, unsigned *count)
{
	char cur[DNS_NAME_MAX + 1];
	bool known = false;

	snprintf(cur, sizeof(cur), "%s", qname);
	for (int hop = 0; hop <= CHAIN_MAX; hop++) {
		const struct record *cname = NULL;
		unsigned before = *count;

		for (size_t i = 0; i < z->n; i++) {
			const struct record *rec = &z->r[i];

			if (strcmp(rec->name, cur))
				continue;
			if (!hop && rec->act != ACT_ANSWER)
				return rec->act;
			known = true;
			if (rec->type == DNS_T_CNAME && !cname)
				cname = rec;
			else if (rec->type == qtype && *count < ANSWERS_MAX &&
				 put_rr(out, cap, p, rec))
				(*count)++;
		}
		if (!cname || *count > before)
			break;
		if (*count < ANSWERS_MAX && put_rr(out, cap, p, cname))
			(*count)++;
		snprintf(cur, sizeof(cur), "%s", cname->target);
	}
	return known ? ACT_ANSWER : ACT_NXDOMAIN;
}

static void serve_one(int fd, const char *zone_path, struct zone *z)
{
	static const char *const acts[] = {"", "servfail", "refused", "nxdomain", "drop"};
	static const uint8_t rcodes[] = {0, DNS_RC_SERVFAIL, DNS_RC_REFUSED, DNS_RC_NXDOMAIN, 0};
	uint8_t q[DNS_MSG_MAX], out[DNS_MSG_MAX];
	char name[DNS_NAME_MAX + 1];
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	uint16_t type, class;
	unsigned count = 0;
	enum action act;
	size_t qend, p;
	ssize_t n;

	n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
	if (n < DNS_HDR_LEN)
		return;
	if (!dns_msg_question(q, (size_t)n, name, &type, &class, &qend)) {
		printf("query ? ? -> formerr\n");
		return;
	}
	read_zone(zone_path, z);
	memcpy(out, q, qend);
	out[2] = (uint8_t)(0x80 | (q[2] & 0x01)); /* QR, RD as asked */
	dns_put16(out + 6, 0);
	dns_put16(out + 8, 0);
	dns_put16(out + 10, 0);
	p = qend;
	act = z->all != ACT_ANSWER ? z->all : answer(z, name, type, out, sizeof(out), &p, &count);
	printf("query %s %s -> ", name, type == DNS_T_A ? "A" : type == DNS_T_AAAA ? "AAAA" : "?");
	if (act == ACT_ANSWER)
		printf("%u answers\n", count);
	else
		printf("%s\n", acts[act]);
	if (act == ACT_DROP)
		return;
	if (act != ACT_ANSWER) {
		p = qend;
		count = 0;
	}
	out[3] = (uint8_t)(0x80 | rcodes[act]); /* RA */
	dns_put16(out + 6, (uint16_t)count);
	(void)sendto(fd, out, p, 0, (const struct sockaddr *)&from, flen);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"zone", required_argument, NULL, 'z'},
		{},
	};
	static struct zone z;
	struct sockaddr_in listen = {0};
	const char *zone = NULL;
	int c, fd;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'l' && !addr_parse_ipv4_port(optarg, &listen))
			continue;
		if (c == 'z') {
			zone = optarg;
			continue;
		}
		fprintf(stderr, "usage: shunt-dns --listen IP:PORT --zone FILE\n");
		return 2;
	}
	if (!zone || !listen.sin_port) {
		fprintf(stderr, "usage: shunt-dns --listen IP:PORT --zone FILE\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (const struct sockaddr *)&listen, sizeof(listen))) {
		perror("shunt-dns: bind");
		return 1;
	}
	printf("shunt-dns listening on %s:%u\n", inet_ntoa(listen.sin_addr),
	       ntohs(listen.sin_port));
	for (;;)
		serve_one(fd, zone, &z);
}
