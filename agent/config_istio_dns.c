// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The endpoints of ServiceEntries with resolution DNS and DNS_ROUND_ROBIN,
 * from names: an endpoint whose address is a name, or, without endpoints,
 * each host itself (Istio's STRICT_DNS and LOGICAL_DNS clusters). The loader
 * does not resolve anything: it asks the lookup the agent set on this thread
 * (config_set_name_lookup, the resolver's last good answers, which never
 * block), once per name and load, and records every name it asked for in
 * istio_config.dns_names, so that the agent knows which names to keep fresh.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "dns_msg.h"
#include "istio.h"

static __thread config_name_lookup_fn lookup_fn;
static __thread void *lookup_arg;

void config_set_name_lookup(config_name_lookup_fn fn, void *arg)
{
	lookup_fn = fn;
	lookup_arg = arg;
}

/* @name lowercased, without a trailing dot, into @key. false when too long. */
static bool name_key(const char *name, char key[DNS_NAME_MAX + 1])
{
	size_t n = strlen(name);

	if (n && name[n - 1] == '.')
		n--;
	if (!n || n > DNS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		key[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
	key[n] = '\0';
	return true;
}

static const struct config_dns_name *find(const struct istio_config *ic, const char *name)
{
	char key[DNS_NAME_MAX + 1];

	if (!name_key(name, key))
		return NULL;
	for (size_t i = 0; i < ic->n_dns_names; i++)
		if (!strcmp(ic->dns_names[i].name, key))
			return &ic->dns_names[i];
	return NULL;
}

/* Why a name gives no endpoint, once per load, at the place that names it. */
static void warn_empty(struct load *ld, const struct config_dns_name *d,
		       const struct service_entry *se, const struct src_loc *loc, const char *field)
{
	const char *res = istio_se_resolution_str(se->resolution);

	if (d->err == -ENOSYS)
		config_report(
			ld, LOG_WARN,
			"%s:%d:%d: %s: %s is not resolved: the agent has no upstream resolver "
			"(--dns-upstream): no endpoint from it",
			loc->file, loc->line, loc->col, field, d->name);
	else if (d->err)
		config_report(
			ld, LOG_WARN,
			"%s:%d:%d: %s: %s: no answer yet (resolution %s): no endpoint from it "
			"until one comes",
			loc->file, loc->line, loc->col, field, d->name, res);
	else if (!d->addrs.n4 && !d->addrs.n6)
		config_report(
			ld, LOG_WARN,
			"%s:%d:%d: %s: %s has no address (resolution %s): no endpoint from it",
			loc->file, loc->line, loc->col, field, d->name, res);
}

int istio_dns_want(struct load *ld, const struct service_entry *se, const char *name,
		   const struct src_loc *loc, const char *field)
{
	struct istio_config *ic = &ld->cfg->istio;
	struct config_dns_name d = {.err = -ENOSYS};
	char key[DNS_NAME_MAX + 1];

	if (find(ic, name) || !name_key(name, key))
		return 0; /* asked already in this load; or not a name validation let through */
	d.name = strdup(key);
	if (!d.name)
		return -ENOMEM;
	if (lookup_fn && lookup_fn(d.name, &d.addrs, lookup_arg))
		d.err = -ENOENT;
	else if (lookup_fn)
		d.err = 0;
	if (d.addrs.n4 > CONFIG_NAME_ADDRS_MAX || d.addrs.n6 > CONFIG_NAME_ADDRS_MAX || d.err)
		d.addrs = (struct config_name_addrs){0};
	if (config_grow((void **)&ic->dns_names, &ld->cap_dns_names, ic->n_dns_names, sizeof(d))) {
		free(d.name);
		return -ENOMEM;
	}
	ic->dns_names[ic->n_dns_names++] = d;
	warn_empty(ld, &d, se, loc, field);
	return 0;
}

size_t istio_dns_count(const struct load *ld, const struct service_entry *se, const char *name)
{
	const struct config_dns_name *d = find(&ld->cfg->istio, name);
	size_t n = d ? d->addrs.n4 + d->addrs.n6 : 0;

	/* DNS_ROUND_ROBIN is Envoy's LOGICAL_DNS: one host, the answer's first address. */
	return se->resolution == SE_RES_DNS_ROUND_ROBIN && n > 1 ? 1 : n;
}

static void add_one(struct svc_port *sp, const struct in_addr *ip, const struct in6_addr *ip6,
		    const struct labels *labels, uint16_t port)
{
	struct endpoint *e = &sp->eps[sp->n_eps++];

	if (ip)
		e->ip = *ip;
	if (ip6) {
		e->ip6 = *ip6;
		e->has_ip6 = true;
	}
	e->port = port;
	e->ready = true;
	e->labels = labels;
	sp->n_ready++;
}

void istio_dns_add(const struct load *ld, const struct service_entry *se, const char *name,
		   const struct labels *labels, uint16_t port, struct svc_port *sp)
{
	const struct config_dns_name *d = find(&ld->cfg->istio, name);
	size_t n4, n6;

	if (!d)
		return;
	n4 = d->addrs.n4;
	n6 = d->addrs.n6;
	if (se->resolution == SE_RES_DNS_ROUND_ROBIN && n4 + n6 > 1) {
		/* The first address; an IPv4 one first: the agent's upstreams are IPv4. */
		n6 = n4 ? 0 : 1;
		n4 = n4 ? 1 : 0;
	}
	for (size_t i = 0; i < n4; i++)
		add_one(sp, &d->addrs.v4[i], NULL, labels, port);
	for (size_t i = 0; i < n6; i++)
		add_one(sp, NULL, &d->addrs.v6[i], labels, port);
}

void istio_dns_release(struct istio_config *ic)
{
	for (size_t i = 0; i < ic->n_dns_names; i++)
		free(ic->dns_names[i].name);
	free(ic->dns_names);
	ic->dns_names = NULL;
	ic->n_dns_names = 0;
}
