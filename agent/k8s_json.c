// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The API's JSON, made into what the file source's parsers read: stripped
 * objects, YAML documents, and watch events cut out of a stream.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "k8s_json.h"

const char *k8s_meta_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

/* Sets @key of @dst to @src's value of @key (a new reference), when there is one. */
static int keep(json_t *dst, const json_t *src, const char *key)
{
	json_t *v = json_object_get(src, key);

	return v ? json_object_set(dst, key, v) : 0;
}

/* The controller among ownerReferences, as the Pod parser reads it (workload.h). */
static int keep_owner(json_t *md, const json_t *src)
{
	const json_t *refs = json_object_get(src, "ownerReferences"), *ref;
	size_t i;

	json_array_foreach(refs, i, ref)
	{
		json_t *one, *arr;

		if (!json_is_true(json_object_get(ref, "controller")))
			continue;
		one = json_object();
		arr = json_array();
		if (!one || !arr || keep(one, ref, "kind") || keep(one, ref, "name") ||
		    json_object_set_new(one, "controller", json_true()) ||
		    json_array_append(arr, one) || json_object_set(md, "ownerReferences", arr)) {
			json_decref(one);
			json_decref(arr);
			return -1;
		}
		json_decref(one);
		json_decref(arr);
		return 0;
	}
	return 0;
}

/* Only the annotations the Pod parser reads: the rest (last-applied-configuration, ...) can
 * be large. */
static int keep_pod_annotations(json_t *md, const json_t *src)
{
	static const char *const keys[] = {CONFIG_EXCL_PORTS_ANN, CONFIG_EXCL_CIDRS_ANN};
	const json_t *ann = json_object_get(src, "annotations");
	json_t *out;

	if (!json_object_get(ann, keys[0]) && !json_object_get(ann, keys[1]))
		return 0;
	out = json_object();
	if (!out || keep(out, ann, keys[0]) || keep(out, ann, keys[1]) ||
	    json_object_set(md, "annotations", out)) {
		json_decref(out);
		return -1;
	}
	json_decref(out);
	return 0;
}

static json_t *strip_meta(const json_t *src, bool pod)
{
	static const char *const keys[] = {"name", "namespace", "labels", "creationTimestamp",
					   "deletionTimestamp"};
	json_t *md = json_object();

	if (!md)
		return NULL;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keep(md, src, keys[i]))
			goto fail;
	if (pod &&
	    (keep(md, src, "generateName") || keep_owner(md, src) || keep_pod_annotations(md, src)))
		goto fail;
	return md;
fail:
	json_decref(md);
	return NULL;
}

/* spec.containers[].ports[] (containerPort, name, protocol) of the containers that have any. */
static json_t *strip_pod_spec(const json_t *spec)
{
	const json_t *ctrs = json_object_get(spec, "containers"), *c, *p;
	json_t *out = json_object(), *arr = json_array();
	size_t i, j;

	if (!out || !arr)
		goto fail;
	json_array_foreach(ctrs, i, c)
	{
		const json_t *ports = json_object_get(c, "ports");
		json_t *oc, *op;

		if (!json_array_size(ports))
			continue;
		oc = json_object();
		op = json_array();
		if (!oc || !op || json_object_set(oc, "ports", op) || json_array_append(arr, oc)) {
			json_decref(oc);
			json_decref(op);
			goto fail;
		}
		json_decref(oc); /* arr holds it, and it holds op */
		json_decref(op);
		json_array_foreach(ports, j, p)
		{
			json_t *one = json_object();
			int err = !one || keep(one, p, "containerPort") || keep(one, p, "name") ||
				  keep(one, p, "protocol") || json_array_append(op, one);

			json_decref(one);
			if (err)
				goto fail;
		}
	}
	if (json_array_size(arr) && json_object_set(out, "containers", arr))
		goto fail;
	json_decref(arr);
	return out;
fail:
	json_decref(arr);
	json_decref(out);
	return NULL;
}

/* status: podIP, podIPs, phase and the Ready condition. */
static json_t *strip_pod_status(const json_t *st)
{
	const json_t *conds = json_object_get(st, "conditions"), *c;
	json_t *out = json_object();
	size_t i;

	if (!out || keep(out, st, "podIP") || keep(out, st, "podIPs") || keep(out, st, "phase"))
		goto fail;
	json_array_foreach(conds, i, c)
	{
		json_t *one, *arr;
		int err;

		if (!json_is_string(json_object_get(c, "type")) ||
		    strcmp(json_string_value(json_object_get(c, "type")), "Ready"))
			continue;
		one = json_object();
		arr = json_array();
		err = !one || !arr || keep(one, c, "type") || keep(one, c, "status") ||
		      json_array_append(arr, one) || json_object_set(out, "conditions", arr);
		json_decref(one);
		json_decref(arr);
		if (err)
			goto fail;
		break;
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

/* endpoints[]: addresses, conditions and a Pod targetRef's kind and name. */
static json_t *strip_slice_endpoints(const json_t *eps)
{
	json_t *out = json_array();
	const json_t *e, *ref;
	size_t i;

	if (!out)
		return NULL;
	json_array_foreach(eps, i, e)
	{
		json_t *one = json_object(), *r = NULL;

		ref = json_object_get(e, "targetRef");
		if (!one || keep(one, e, "addresses") || keep(one, e, "conditions") ||
		    (ref && (!(r = json_object()) || keep(r, ref, "kind") || keep(r, ref, "name") ||
			     json_object_set(one, "targetRef", r))) ||
		    json_array_append(out, one)) {
			json_decref(r);
			json_decref(one);
			json_decref(out);
			return NULL;
		}
		json_decref(r);
		json_decref(one);
	}
	return out;
}

static int set_new(json_t *obj, const char *key, json_t *v)
{
	return v ? json_object_set_new(obj, key, v) : -1;
}

/* A TLS Secret's data: the certificate and the key the Gateway needs, nothing else. */
static json_t *strip_tls_data(const json_t *data)
{
	static const char *const keys[] = {"tls.crt", "tls.key"};
	json_t *out = json_object();

	for (size_t i = 0; out && i < sizeof(keys) / sizeof(keys[0]); i++)
		if (json_object_get(data, keys[i]) && keep(out, data, keys[i])) {
			json_decref(out);
			return NULL;
		}
	return out;
}

json_t *k8s_strip(const json_t *obj, enum k8s_shape shape, const char *api_version,
		  const char *kind)
{
	const json_t *md = json_object_get(obj, "metadata");
	json_t *out;
	int err;

	if (!json_is_object(obj))
		return NULL;
	out = json_object();
	if (!out)
		return NULL;
	err = json_object_set_new(out, "apiVersion", json_string(api_version)) ||
	      json_object_set_new(out, "kind", json_string(kind)) ||
	      set_new(out, "metadata", strip_meta(md, shape == K8S_SHAPE_POD));
	switch (shape) {
	case K8S_SHAPE_NAMESPACE:
		break;
	case K8S_SHAPE_SERVICE:
	case K8S_SHAPE_SPEC:
		err = err || keep(out, obj, "spec");
		break;
	case K8S_SHAPE_POD:
		err = err ||
		      (json_object_get(obj, "spec") &&
		       set_new(out, "spec", strip_pod_spec(json_object_get(obj, "spec")))) ||
		      (json_object_get(obj, "status") &&
		       set_new(out, "status", strip_pod_status(json_object_get(obj, "status"))));
		break;
	case K8S_SHAPE_SECRET:
		err = err || keep(out, obj, "type") ||
		      (json_object_get(obj, "data") &&
		       set_new(out, "data", strip_tls_data(json_object_get(obj, "data"))));
		break;
	case K8S_SHAPE_SLICE:
		err = err || keep(out, obj, "addressType") || keep(out, obj, "ports") ||
		      (json_object_get(obj, "endpoints") &&
		       set_new(out, "endpoints",
			       strip_slice_endpoints(json_object_get(obj, "endpoints"))));
		break;
	}
	if (err) {
		json_decref(out);
		return NULL;
	}
	return out;
}

static int add_scalar(yaml_document_t *doc, const char *s, size_t len, bool quoted)
{
	return yaml_document_add_scalar(doc, NULL, (yaml_char_t *)s, (int)len,
					quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
					       : YAML_PLAIN_SCALAR_STYLE);
}

/* Adds @v (and below it) to @doc: its node id, 0 on ENOMEM. @depth bounds the recursion. */
static int add_node(yaml_document_t *doc, const json_t *v, unsigned depth)
{
	char num[64];
	int id, k, c;

	if (depth > 64) /* deeper than any object of the API; the JSON parser allows 2048 */
		return 0;
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *val;

		id = yaml_document_add_mapping(doc, NULL, YAML_BLOCK_MAPPING_STYLE);
		json_object_foreach((json_t *)v, key, val)
		{
			k = add_scalar(doc, key, strlen(key), true);
			c = k ? add_node(doc, val, depth + 1) : 0;
			if (!id || !c || !yaml_document_append_mapping_pair(doc, id, k, c))
				return 0;
		}
		return id;
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *val;

		id = yaml_document_add_sequence(doc, NULL, YAML_BLOCK_SEQUENCE_STYLE);
		json_array_foreach(v, i, val)
		{
			c = id ? add_node(doc, val, depth + 1) : 0;
			if (!c || !yaml_document_append_sequence_item(doc, id, c))
				return 0;
		}
		return id;
	}
	case JSON_STRING:
		return add_scalar(doc, json_string_value(v), json_string_length(v), true);
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return add_scalar(doc, num, strlen(num), false);
	case JSON_REAL:
		snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		return add_scalar(doc, num, strlen(num), false);
	case JSON_TRUE:
		return add_scalar(doc, "true", 4, false);
	case JSON_FALSE:
		return add_scalar(doc, "false", 5, false);
	case JSON_NULL:
		return add_scalar(doc, "null", 4, false);
	}
	return 0;
}

int k8s_json_to_yaml(const json_t *v, yaml_document_t *doc)
{
	if (!yaml_document_initialize(doc, NULL, NULL, NULL, 1, 1))
		return -ENOMEM;
	return add_node(doc, v, 0) ? 0 : -ENOMEM;
}

void k8s_lines_reset(struct k8s_lines *l)
{
	l->len = 0;
}

void k8s_lines_free(struct k8s_lines *l)
{
	free(l->buf);
	memset(l, 0, sizeof(*l));
}

/* Keeps @n bytes of a line that goes on in the next chunk. 0, -E2BIG or -ENOMEM. */
static int hold(struct k8s_lines *l, const char *data, size_t n)
{
	if (l->len + n > K8S_LINE_MAX)
		return -E2BIG;
	if (l->len + n > l->cap) {
		size_t cap = l->cap ? l->cap : 4096;
		char *nb;

		while (cap < l->len + n)
			cap *= 2;
		nb = realloc(l->buf, cap);
		if (!nb)
			return -ENOMEM;
		l->buf = nb;
		l->cap = cap;
	}
	memcpy(l->buf + l->len, data, n);
	l->len += n;
	return 0;
}

int k8s_lines_feed(struct k8s_lines *l, const char *data, size_t n,
		   int (*fn)(void *arg, const char *line, size_t len), void *arg)
{
	while (n) {
		const char *nl = memchr(data, '\n', n);
		size_t take = nl ? (size_t)(nl - data) : n;
		int err;

		if (!nl)
			return hold(l, data, n);
		if (l->len) { /* the end of a held line */
			err = hold(l, data, take);
			if (!err && l->len)
				err = fn(arg, l->buf, l->len);
			l->len = 0;
		} else {
			err = take ? fn(arg, data, take) : 0;
		}
		if (err)
			return err;
		data += take + 1;
		n -= take + 1;
	}
	return 0;
}

int k8s_parse_event(const char *line, size_t len, struct k8s_event *ev, const char **why)
{
	static const char *const types[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
	json_error_t jerr;
	const char *type, *rv;
	json_t *root, *obj;
	size_t i;

	memset(ev, 0, sizeof(*ev));
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		*why = "not JSON";
		return -EINVAL;
	}
	type = json_string_value(json_object_get(root, "type"));
	obj = json_object_get(root, "object");
	for (i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(type, types[i]))
			break;
	if (!type || i == sizeof(types) / sizeof(types[0]) || !json_is_object(obj)) {
		*why = !type ? "no type" : !json_is_object(obj) ? "no object" : "unknown type";
		json_decref(root);
		return -EINVAL;
	}
	ev->type = (enum k8s_event_type)i;
	ev->object = json_incref(obj);
	rv = k8s_meta_str(obj, "resourceVersion");
	snprintf(ev->rv, sizeof(ev->rv), "%s", rv ? rv : "");
	if (ev->type == K8S_EV_ERROR)
		ev->code = (int)json_integer_value(json_object_get(obj, "code"));
	json_decref(root);
	return 0;
}
