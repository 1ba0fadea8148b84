// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "workload.h"

/* Whether @s ends with "-@suffix"; its length without that, in *@base. */
static bool dash_suffix(const char *s, const char *suffix, size_t *base)
{
	size_t n = strlen(s), k = strlen(suffix);

	if (!k || n < k + 2 || s[n - k - 1] != '-' || strcmp(s + n - k, suffix))
		return false;
	*base = n - k - 1;
	return true;
}

/* A Job "NAME-TIMESTAMP" a CronJob made: the length of NAME, or 0 when it is not one. */
static size_t cronjob_base(const char *job)
{
	const char *dash = strrchr(job, '-');
	size_t digits;

	if (!dash || dash == job)
		return 0;
	digits = strlen(dash + 1);
	if (digits < 8 || digits > 10)
		return 0;
	for (const char *c = dash + 1; *c; c++)
		if (!isdigit((unsigned char)*c))
			return 0;
	return (size_t)(dash - job);
}

/* The name the controller of @p gives its workload, in @out; false when it gives none. */
static bool from_controller(const struct pod *p, const char *hash, char *out, size_t len)
{
	const char *kind = p->owner_kind, *name = p->owner_name, *dc;
	size_t base = strlen(name);

	if (!strcmp(kind, "ReplicaSet") && hash && dash_suffix(name, hash, &base)) {
		/* a Deployment's ReplicaSet */
	} else if (!strcmp(kind, "ReplicationController") &&
		   (dc = labels_get(&p->labels, "deploymentconfig"))) {
		name = dc;
		base = strlen(dc);
	} else if (!strcmp(kind, "Job") && cronjob_base(name)) {
		base = cronjob_base(name);
	}
	snprintf(out, len, "%.*s", (int)base, name);
	return true;
}

const char *workload_name(const struct pod *p, char *out, size_t len)
{
	const char *hash = labels_get(&p->labels, "pod-template-hash");
	const char *mid;
	size_t base;

	if (p->generate_name && p->owner_kind && p->owner_name &&
	    from_controller(p, hash, out, len))
		return out;
	/* NAME-HASH-XXXXX: the pod of a Deployment, without its ownerReferences */
	mid = strrchr(p->name, '-');
	if (hash && !p->owner_name && mid && mid != p->name) {
		char rs[WORKLOAD_NAME_MAX];

		snprintf(rs, sizeof(rs), "%.*s", (int)(mid - p->name), p->name);
		if (dash_suffix(rs, hash, &base)) {
			snprintf(out, len, "%.*s", (int)base, rs);
			return out;
		}
	}
	snprintf(out, len, "%s", p->name);
	return out;
}

/* The value of the first of @keys (NULL-terminated) that @p has, or NULL. */
static const char *first_label(const struct pod *p, const char *const *keys)
{
	for (; *keys; keys++) {
		const char *v = labels_get(&p->labels, *keys);

		if (v && *v)
			return v;
	}
	return NULL;
}

void workload_of_pod(const struct pod *p, struct workload_id *out)
{
	static const char *const app[] = {"app", "app.kubernetes.io/name", NULL};
	static const char *const version[] = {"version", "app.kubernetes.io/version", NULL};
	static const char *const cname[] = {"service.istio.io/canonical-name",
					    "app.kubernetes.io/name", "app", NULL};
	static const char *const crev[] = {"service.istio.io/canonical-revision",
					   "app.kubernetes.io/version", "version", NULL};
	const char *v;

	workload_name(p, out->workload, sizeof(out->workload));
	out->namespace = p->namespace;
	out->app = (v = first_label(p, app)) ? v : "unknown";
	out->version = (v = first_label(p, version)) ? v : "unknown";
	out->canonical_service = (v = first_label(p, cname)) ? v : out->workload;
	out->canonical_revision = (v = first_label(p, crev)) ? v : "latest";
}
