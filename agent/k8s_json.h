/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the Kubernetes source does with the API's JSON before the config
 * loader sees it, all of it pure (no I/O, no threads) for the unit tests and
 * the fuzzer: objects stripped to the fields the parsers read (a pod of the
 * API is kilobytes, what shunt keeps of it a few hundred bytes), converted to
 * the YAML documents the file source's parsers read, and watch streams cut
 * into events.
 */
#ifndef SHUNT_K8S_JSON_H
#define SHUNT_K8S_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <yaml.h>

/* How an object of a resource is stripped (what its parser reads). */
enum k8s_shape {
	K8S_SHAPE_NAMESPACE, /* metadata only */
	K8S_SHAPE_SERVICE,   /* metadata and spec */
	K8S_SHAPE_POD,	     /* metadata, container ports, addresses, phase, Ready */
	K8S_SHAPE_SLICE,     /* metadata, addressType, endpoints, ports */
	K8S_SHAPE_SPEC,	     /* metadata and spec (the Istio kinds) */
	K8S_SHAPE_SECRET,    /* metadata, type, data's tls.crt and tls.key */
};

/*
 * A new object holding what shunt reads of API object @obj, with @api_version and @kind set
 * (items of a list carry neither): metadata's name, namespace, labels, creationTimestamp,
 * deletionTimestamp (and for a Pod generateName, the controller among ownerReferences and
 * the exclusion annotations), then what @shape keeps. resourceVersion, managedFields,
 * status and the like are dropped, so that two versions of an object that differ only there
 * strip to equal objects. NULL on ENOMEM, or when @obj is not an object.
 */
json_t *k8s_strip(const json_t *obj, enum k8s_shape shape, const char *api_version,
		  const char *kind);

/*
 * Builds @doc (initialised here; the caller yaml_document_delete()s it, also on failure)
 * from JSON value @v as the YAML the file source would read: every string, key or value, a
 * double-quoted scalar (so "true" or "80" stay strings), numbers, true, false and null plain
 * scalars. 0 or -ENOMEM.
 */
int k8s_json_to_yaml(const json_t *v, yaml_document_t *doc);

/* A watch stream cut into lines (newline-delimited JSON), across the chunks it arrives in. */
struct k8s_lines {
	char *buf; /* the part of a line received so far */
	size_t len, cap;
};

/* Longest line (one event) accepted: an object of the API is at most 1.5 MiB in etcd. */
#define K8S_LINE_MAX (16u << 20)

/*
 * Appends @n bytes of @data to the stream and calls @fn once per complete line (without its
 * newline; empty lines skipped). Stops at the first non-zero return of @fn and returns it;
 * -E2BIG for a line over K8S_LINE_MAX, -ENOMEM. 0 otherwise.
 */
int k8s_lines_feed(struct k8s_lines *l, const char *data, size_t n,
		   int (*fn)(void *arg, const char *line, size_t len), void *arg);
/* Forgets a partial line (a new connection). */
void k8s_lines_reset(struct k8s_lines *l);
void k8s_lines_free(struct k8s_lines *l);

enum k8s_event_type {
	K8S_EV_ADDED,
	K8S_EV_MODIFIED,
	K8S_EV_DELETED,
	K8S_EV_BOOKMARK,
	K8S_EV_ERROR,
};

/* One watch event. */
struct k8s_event {
	enum k8s_event_type type;
	json_t *object; /* a reference: json_decref() it */
	char rv[64];	/* object.metadata.resourceVersion ("" when none) */
	int code;	/* ERROR: the Status object's code (410: Gone, relist) */
};

/* Parses one line of a watch stream into @ev. 0, or -EINVAL (with *@why) for what is not an
 * event, -ENOMEM. */
int k8s_parse_event(const char *line, size_t len, struct k8s_event *ev, const char **why);

/* object.metadata.@key as a string, or NULL. */
const char *k8s_meta_str(const json_t *obj, const char *key);

#endif /* SHUNT_K8S_JSON_H */
