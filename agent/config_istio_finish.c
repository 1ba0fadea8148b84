// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * networking.istio.io checks that need every object, once every file is read:
 * duplicates (errors), then VirtualServices shadowed by older ones for a host
 * and destinations nothing defines (warnings). Each check sorts or indexes
 * the objects once, so that a load stays about linear in their number.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "istio.h"
#include "log.h"

/* ---- checks once every file is read ---- */

struct obj_ref {
	const char *ns, *name;
	const struct src_loc *loc;
};

static int cmp_ref(const void *a, const void *b)
{
	const struct obj_ref *x = a, *y = b;
	int c = strcmp(x->ns, y->ns);

	if (!c)
		c = strcmp(x->name, y->name);
	return c ? c : (x->loc > y->loc) - (x->loc < y->loc);
}

static int check_dups(struct load *ld, const char *kind, struct obj_ref *refs, size_t n)
{
	qsort(refs, n, sizeof(*refs), cmp_ref);
	for (size_t i = 1; i < n; i++) {
		const struct obj_ref *a = &refs[i - 1], *b = &refs[i];

		if (strcmp(a->ns, b->ns) || strcmp(a->name, b->name))
			continue;
		config_report(ld, LOG_ERROR,
			      "%s:%d:%d: metadata.name: duplicate %s %s/%s (first defined at "
			      "%s:%d:%d)",
			      b->loc->file, b->loc->line, b->loc->col, kind, b->ns, b->name,
			      a->loc->file, a->loc->line, a->loc->col);
	}
	return 0;
}

static int check_unique(struct load *ld)
{
	const struct istio_config *ic = &ld->cfg->istio;
	size_t n = ic->n_vs > ic->n_dr ? ic->n_vs : ic->n_dr;
	struct obj_ref *refs;

	n = n > ic->n_sidecars ? n : ic->n_sidecars;
	n = n > ic->n_gws ? n : ic->n_gws;
	refs = calloc(n + 1, sizeof(*refs));

	if (!refs)
		return -ENOMEM;
	/* Files are read in order, so the earlier definition is the one with the lower address. */
	for (size_t i = 0; i < ic->n_vs; i++)
		refs[i] = (struct obj_ref){ic->vs[i].namespace, ic->vs[i].name, &ic->vs[i].loc};
	check_dups(ld, "VirtualService", refs, ic->n_vs);
	for (size_t i = 0; i < ic->n_dr; i++)
		refs[i] = (struct obj_ref){ic->dr[i].namespace, ic->dr[i].name, &ic->dr[i].loc};
	check_dups(ld, "DestinationRule", refs, ic->n_dr);
	for (size_t i = 0; i < ic->n_sidecars; i++)
		refs[i] = (struct obj_ref){ic->sidecars[i].namespace, ic->sidecars[i].name,
					   &ic->sidecars[i].loc};
	check_dups(ld, "Sidecar", refs, ic->n_sidecars);
	for (size_t i = 0; i < ic->n_gws; i++)
		refs[i] = (struct obj_ref){ic->gws[i].namespace, ic->gws[i].name, &ic->gws[i].loc};
	check_dups(ld, "Gateway", refs, ic->n_gws);
	free(refs);
	return 0;
}

/* Istio's order among configs for one host: creationTimestamp (absent first), name, namespace.
 * Negative when @a is older. */
static int age_cmp(const struct virtual_service *a, const struct virtual_service *b)
{
	int64_t ta = INT64_MIN, tb = INT64_MIN;
	int c;

	if (a->creation_timestamp)
		ist_parse_rfc3339(a->creation_timestamp, &ta);
	if (b->creation_timestamp)
		ist_parse_rfc3339(b->creation_timestamp, &tb);
	if (ta != tb)
		return ta < tb ? -1 : 1;
	c = strcmp(a->name, b->name);
	return c ? c : strcmp(a->namespace, b->namespace);
}

static bool binds_mesh(const struct virtual_service *v)
{
	if (!v->n_gateways)
		return true;
	for (size_t i = 0; i < v->n_gateways; i++)
		if (!strcmp(v->gateways[i], "mesh"))
			return true;
	return false;
}

/* Exported to every namespace: no exportTo, or "*". */
static bool is_public(char *const *export_to, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(export_to[i], "*"))
			return true;
	return !n;
}

/* Whether every namespace that sees @v also sees @u. */
static bool seen_wherever(const struct virtual_service *v, const struct virtual_service *u)
{
	if (is_public(u->export_to, u->n_export_to))
		return true;
	if (is_public(v->export_to, v->n_export_to))
		return false;
	for (size_t i = 0; i < v->n_export_to; i++) {
		const char *e = strcmp(v->export_to[i], ".") ? v->export_to[i] : v->namespace;

		if (!istio_exported_to(u->export_to, u->n_export_to, u->namespace, e))
			return false;
	}
	return true;
}

/* Warns about each host of @v that an older VirtualService wins (@winner[h], NULL: none) and
 * marks @v shadowed when all of them are. */
static void report_shadowed(struct load *ld, struct virtual_service *v,
			    const struct virtual_service *const *winner)
{
	size_t shadowed = 0;

	if (!binds_mesh(v))
		return;
	for (size_t h = 0; h < v->n_hosts; h++) {
		const struct virtual_service *w = winner[h];

		if (!w)
			continue;
		shadowed++;
		config_report(
			ld, LOG_WARN,
			"%s:%d:%d: spec.hosts[%zu]: virtual service %s/%s (%s:%d) for host %s "
			"is shadowed by older %s/%s (%s:%d)",
			v->loc.file, v->loc.line, v->loc.col, h, v->namespace, v->name, v->loc.file,
			v->loc.line, v->hosts[h], w->namespace, w->name, w->loc.file, w->loc.line);
	}
	v->shadowed = v->n_hosts && shadowed == v->n_hosts;
}

/* One host of one VirtualService bound to the mesh. */
struct host_ref {
	const char *host;
	size_t vs, h; /* index in ic->vs, and of host in its hosts */
};

static int cmp_host_ref(const void *a, const void *b)
{
	const struct host_ref *x = a, *y = b;
	int c = strcmp(x->host, y->host);

	if (!c)
		c = (x->vs > y->vs) - (x->vs < y->vs);
	return c ? c : (x->h > y->h) - (x->h < y->h);
}

/* Every host of every VirtualService bound to the mesh, sorted by host; *@n of them, *@base[i]
 * the first slot of VirtualService i in a per-host array. NULL on ENOMEM. */
static struct host_ref *mesh_hosts(const struct istio_config *ic, size_t **base, size_t *n)
{
	size_t total = 0;
	struct host_ref *refs;

	*base = calloc(ic->n_vs + 1, sizeof(**base));
	if (!*base)
		return NULL;
	for (size_t i = 0; i < ic->n_vs; i++) {
		(*base)[i] = total;
		total += ic->vs[i].n_hosts;
	}
	refs = calloc(total + 1, sizeof(*refs));
	if (!refs) {
		free(*base);
		return NULL;
	}
	*n = 0;
	for (size_t i = 0; i < ic->n_vs; i++)
		for (size_t h = 0; binds_mesh(&ic->vs[i]) && h < ic->vs[i].n_hosts; h++)
			refs[(*n)++] = (struct host_ref){ic->vs[i].hosts[h], i, h};
	qsort(refs, *n, sizeof(*refs), cmp_host_ref);
	return refs;
}

/* For each entry of the group @g (@n entries of one host): the oldest other VirtualService of
 * the group that every namespace seeing its own one also sees, into winner[base[vs] + h]. */
static void group_winners(const struct istio_config *ic, const struct host_ref *g, size_t n,
			  const size_t *base, const struct virtual_service **winner)
{
	for (size_t a = 0; a < n; a++) {
		const struct virtual_service *v = &ic->vs[g[a].vs], *best = NULL;

		for (size_t b = 0; b < n; b++) {
			const struct virtual_service *u = &ic->vs[g[b].vs];

			if (g[b].vs == g[a].vs || age_cmp(u, v) >= 0 || !seen_wherever(v, u))
				continue;
			if (!best || age_cmp(u, best) < 0)
				best = u;
		}
		winner[base[g[a].vs] + g[a].h] = best;
	}
}

/* Among VirtualServices bound to the mesh, the oldest one for a host wins: the others are
 * shadowed for that host, and unused when shadowed for all of theirs. Only VirtualServices of
 * one host are compared, after a sort by host. 0 or -ENOMEM. */
static int mark_shadowed(struct load *ld)
{
	struct istio_config *ic = &ld->cfg->istio;
	const struct virtual_service **winner;
	struct host_ref *refs;
	size_t *base, n, total;

	refs = mesh_hosts(ic, &base, &n);
	if (!refs)
		return -ENOMEM;
	total = ic->n_vs ? base[ic->n_vs - 1] + ic->vs[ic->n_vs - 1].n_hosts : 0;
	winner = calloc(total + 1, sizeof(*winner));
	for (size_t a = 0, b; winner && a < n; a = b) {
		for (b = a + 1; b < n && !strcmp(refs[b].host, refs[a].host); b++)
			;
		group_winners(ic, refs + a, b - a, base, winner);
	}
	for (size_t i = 0; winner && i < ic->n_vs; i++)
		report_shadowed(ld, &ic->vs[i], winner + base[i]);
	free(winner);
	free(refs);
	free(base);
	return winner ? 0 : -ENOMEM;
}

/* Whether DestinationRule host @pattern ("*", "*.example.com" or a name) covers @fqdn. */
static bool host_covers(const char *pattern, const char *fqdn)
{
	size_t lp = strlen(pattern), lf = strlen(fqdn);

	if (pattern[0] != '*')
		return !strcmp(pattern, fqdn);
	return lf >= lp - 1 && !strcmp(fqdn + lf - (lp - 1), pattern + 1);
}

static bool known_service(const struct config *cfg, const char *fqdn)
{
	static const char suffix[] = ".svc."
				     "cluster.local";
	const char *dot = strchr(fqdn, '.');
	size_t lf = strlen(fqdn), ls = strlen(suffix);
	char name[256], ns[256];
	size_t nn, lns;

	if (!dot || lf <= ls || strcmp(fqdn + lf - ls, suffix))
		return false;
	nn = (size_t)(dot - fqdn);
	lns = lf - ls - nn - 1;
	if (nn >= sizeof(name) || lns >= sizeof(ns) || !lns)
		return false;
	memcpy(name, fqdn, nn);
	name[nn] = '\0';
	memcpy(ns, dot + 1, lns);
	ns[lns] = '\0';
	return strchr(ns, '.') == NULL && config_find_service(cfg, ns, name) != NULL;
}

/* A Kubernetes service, or a host some ServiceEntry declares. */
static bool known_host(const struct config *cfg, const char *fqdn)
{
	return known_service(cfg, fqdn) || istio_se_declares(&cfg->istio, fqdn);
}

/* The DestinationRules by host: those of one name sorted by it, the wildcard ones apart. */
struct dr_index {
	const struct istio_config *ic;
	size_t *exact, n_exact; /* indexes in ic->dr, by fqdn */
	size_t *wild, n_wild;	/* indexes of those whose host starts with '*' */
};

static int cmp_dr_fqdn(const void *a, const void *b, void *arg)
{
	const struct destination_rule *dr = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(dr[x].fqdn, dr[y].fqdn);

	return c ? c : (x > y) - (x < y);
}

static int dr_index_build(struct dr_index *ix, const struct istio_config *ic)
{
	memset(ix, 0, sizeof(*ix));
	ix->ic = ic;
	ix->exact = calloc(ic->n_dr + 1, sizeof(*ix->exact));
	ix->wild = calloc(ic->n_dr + 1, sizeof(*ix->wild));
	if (!ix->exact || !ix->wild)
		return -ENOMEM;
	for (size_t i = 0; i < ic->n_dr; i++) {
		if (ic->dr[i].fqdn[0] == '*')
			ix->wild[ix->n_wild++] = i;
		else
			ix->exact[ix->n_exact++] = i;
	}
	qsort_r(ix->exact, ix->n_exact, sizeof(*ix->exact), cmp_dr_fqdn, ic->dr);
	return 0;
}

static void dr_index_free(struct dr_index *ix)
{
	free(ix->exact);
	free(ix->wild);
}

static bool dr_has_subset(const struct destination_rule *dr, const char *subset)
{
	for (size_t j = 0; j < dr->n_subsets; j++)
		if (!strcmp(dr->subsets[j].name, subset))
			return true;
	return false;
}

/* Whether a DestinationRule whose host covers @fqdn defines @subset. */
static bool subset_defined(const struct dr_index *ix, const char *fqdn, const char *subset)
{
	const struct destination_rule *dr = ix->ic->dr;
	size_t lo = 0, hi = ix->n_exact;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(dr[ix->exact[mid]].fqdn, fqdn) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < ix->n_exact && !strcmp(dr[ix->exact[lo]].fqdn, fqdn); lo++)
		if (dr_has_subset(&dr[ix->exact[lo]], subset))
			return true;
	for (size_t i = 0; i < ix->n_wild; i++)
		if (host_covers(dr[ix->wild[i]].fqdn, fqdn) &&
		    dr_has_subset(&dr[ix->wild[i]], subset))
			return true;
	return false;
}

/* Warns about a destination nothing defines: at run time it answers 503. */
static void check_destination(struct load *ld, const struct dr_index *ix,
			      const struct istio_destination *d, const char *field)
{
	const struct config *cfg = ld->cfg;

	if (!d->fqdn)
		return;
	if (!strchr(d->fqdn, '*') && !known_host(cfg, d->fqdn))
		config_report(ld, LOG_WARN,
			      "%s:%d:%d: %s.host: %s%s%s%s is not a known Service; requests routed "
			      "there fail until one (or a ServiceEntry) defines it",
			      d->loc.file, d->loc.line, d->loc.col, field, d->host,
			      strcmp(d->host, d->fqdn) ? " (" : "",
			      strcmp(d->host, d->fqdn) ? d->fqdn : "",
			      strcmp(d->host, d->fqdn) ? ")" : "");
	if (d->subset && !subset_defined(ix, d->fqdn, d->subset))
		config_report(ld, LOG_WARN,
			      "%s:%d:%d: %s.subset: no DestinationRule defines subset %s of %s; "
			      "requests routed there get 503 (no cluster)",
			      d->loc.file, d->loc.line, d->loc.col, field, d->subset, d->fqdn);
}

static void check_vs_destinations(struct load *ld, const struct dr_index *ix,
				  const struct virtual_service *v)
{
	char field[128];

	for (size_t r = 0; r < v->n_http; r++) {
		const struct http_route *hr = &v->http[r];

		for (size_t d = 0; d < hr->n_route; d++) {
			snprintf(field, sizeof(field), "spec.http[%zu].route[%zu].destination", r,
				 d);
			check_destination(ld, ix, &hr->route[d].dst, field);
		}
		for (size_t m = 0; m < hr->n_mirrors; m++) {
			if (hr->mirrors[m].legacy)
				snprintf(field, sizeof(field), "spec.http[%zu].mirror", r);
			else
				snprintf(field, sizeof(field),
					 "spec.http[%zu].mirrors[%zu].destination", r, m);
			check_destination(ld, ix, &hr->mirrors[m].dst, field);
		}
	}
	for (size_t r = 0; r < v->n_tcp; r++) {
		for (size_t d = 0; d < v->tcp[r].n_route; d++) {
			snprintf(field, sizeof(field), "spec.tcp[%zu].route[%zu].destination", r,
				 d);
			check_destination(ld, ix, &v->tcp[r].route[d].dst, field);
		}
	}
}

/* Warns about every destination of every VirtualService nothing defines. 0 or -ENOMEM. */
static int check_destinations(struct load *ld)
{
	const struct istio_config *ic = &ld->cfg->istio;
	struct dr_index ix;
	int err = dr_index_build(&ix, ic);

	for (size_t i = 0; !err && i < ic->n_vs; i++)
		check_vs_destinations(ld, &ix, &ic->vs[i]);
	dr_index_free(&ix);
	return err;
}

int istio_finish(struct load *ld, bool semantics)
{
	unsigned errors = ld->errors;
	int err = check_unique(ld);

	/* Warnings about a config that is rejected anyway would only bury its errors. */
	if (err || !semantics || ld->errors != errors)
		return err;
	err = mark_shadowed(ld);
	if (!err)
		err = check_destinations(ld);
	if (!err)
		istio_check_sidecars(ld);
	return err;
}
