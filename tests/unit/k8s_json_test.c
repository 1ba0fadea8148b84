// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Kubernetes source's pure parts: the API's JSON converted into the YAML
 * documents the file source's parsers read (strings stay strings, numbers
 * and booleans are typed as kubectl's decoder types them), objects stripped
 * to what shunt reads, and watch streams cut into lines and events however
 * the chunks split them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "k8s_json.h"
#include "log.h"
#include "yaml_tree.h"
#include "diags.h"

static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, 0, &e);

	if (!v)
		fail_msg("bad test JSON: %s at %d", e.text, e.position);
	return v;
}

/* Loads one JSON object as an API object named @name. 0 or what the loader returns. */
static int load_json(const char *name, const char *text, struct config **out)
{
	json_t *v = parse(text);
	yaml_document_t doc;
	struct config_doc d = {name, &doc};
	int err;

	assert_int_equal(k8s_json_to_yaml(v, &doc), 0);
	err = config_load_docs(&d, 1, out);
	yaml_document_delete(&doc);
	json_decref(v);
	return err;
}

static void service_from_json(void **state)
{
	struct config *cfg = NULL;
	const struct service *s;

	assert_int_equal(
		load_json(
			"k8s:Service/default/web",
			"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
			"\"web\","
			"\"namespace\":\"default\",\"labels\":{\"enabled\":\"true\",\"n\":\"80\"}},"
			"\"spec\":{\"clusterIP\":\"10.96.0.10\",\"selector\":{\"app\":\"web\"},"
			"\"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":8080},"
			"{\"name\":\"grpc\",\"port\":81,\"targetPort\":\"grpc\"}]}}",
			&cfg),
		0);
	assert_int_equal(cfg->n_services, 1);
	s = &cfg->services[0];
	assert_string_equal(s->name, "web");
	assert_int_equal(s->n_ports, 2);
	assert_int_equal(s->ports[0].port, 80);
	assert_int_equal(s->ports[0].target_port, 8080);
	assert_string_equal(s->ports[1].target_port_name, "grpc");
	assert_true(s->has_selector);
	/* The file the object came from is the name it was given. */
	assert_string_equal(s->loc.file, "k8s:Service/default/web");
	config_free(cfg);
}

/* "80" in JSON is a string: where a number is wanted the parser says so, naming the object. */
static void quoted_number_stays_a_string(void **state)
{
	static const char *const want[] = {
		"k8s:Service/default/web:1:1: spec.ports[0].port: expected an integer, got \"80\" "
		"(quoted, so a string)",
		NULL};
	struct config *cfg = NULL;

	assert_int_equal(
		load_json("k8s:Service/default/web",
			  "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
			  "\"web\"},"
			  "\"spec\":{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":\"80\"}]}}",
			  &cfg),
		-EINVAL);
	assert_diags(LOG_ERROR, want);
}

static void bool_and_null_are_typed(void **state)
{
	json_t *v = parse("{\"a\":true,\"b\":false,\"c\":null,\"d\":1.5,\"e\":\"true\",\"f\":[1]}");
	yaml_document_t doc;
	yaml_node_t *root, *n;
	struct yt t;

	assert_int_equal(k8s_json_to_yaml(v, &doc), 0);
	yt_init(&t, &doc, "x", NULL);
	root = yaml_document_get_root_node(&doc);
	assert_int_equal(root->type, YAML_MAPPING_NODE);
	n = yt_get(&t, root, "a", NULL);
	assert_int_equal(n->data.scalar.style, YAML_PLAIN_SCALAR_STYLE);
	assert_string_equal((char *)n->data.scalar.value, "true");
	assert_null(yt_get(&t, root, "c", NULL)); /* null reads as absent */
	n = yt_get(&t, root, "d", NULL);
	assert_string_equal((char *)n->data.scalar.value, "1.5");
	n = yt_get(&t, root, "e", NULL);
	assert_int_equal(n->data.scalar.style, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
	assert_int_equal(yt_get(&t, root, "f", NULL)->type, YAML_SEQUENCE_NODE);
	yaml_document_delete(&doc);
	json_decref(v);
}

/* The same object from a file and from the API: the same service. */
static void json_and_yaml_agree(void **state)
{
	struct config *a =
		load_ok("web.yaml", "apiVersion: v1\nkind: Service\n"
				    "metadata: {name: web, namespace: shop}\n"
				    "spec:\n  clusterIP: 10.96.0.10\n"
				    "  selector: {app: web}\n"
				    "  ports: [{name: http, port: 80, targetPort: 8080}]\n");
	struct config *b = NULL;

	assert_int_equal(load_json("k8s:Service/shop/web",
				   "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"
				   "\"name\":\"web\","
				   "\"namespace\":\"shop\"},\"spec\":{\"clusterIP\":\"10.96.0.10\","
				   "\"selector\":"
				   "{\"app\":\"web\"},\"ports\":[{\"name\":\"http\",\"port\":80,"
				   "\"targetPort\":8080}]}}",
				   &b),
			 0);
	assert_int_equal(a->n_services, b->n_services);
	assert_string_equal(a->services[0].namespace, b->services[0].namespace);
	assert_int_equal(a->services[0].cluster_ip.s_addr, b->services[0].cluster_ip.s_addr);
	assert_int_equal(a->services[0].ports[0].target_port, b->services[0].ports[0].target_port);
	assert_string_equal(a->services[0].selector.v[0].value, b->services[0].selector.v[0].value);
	config_free(a);
	config_free(b);
}

static const char full_pod[] =
	"{\"metadata\":{\"name\":\"web-1\",\"namespace\":\"shop\",\"resourceVersion\":\"%d\","
	"\"uid\":\"u1\",\"generateName\":\"web-\",\"labels\":{\"app\":\"web\"},"
	"\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"{...}\","
	"\"traffic.sidecar.istio.io/excludeOutboundPorts\":\"5432\"},"
	"\"managedFields\":[{\"manager\":\"kubelet\"}],"
	"\"ownerReferences\":[{\"kind\":\"Node\",\"name\":\"n\"},"
	"{\"kind\":\"ReplicaSet\",\"name\":\"web-5d\",\"controller\":true,\"uid\":\"x\"}]},"
	"\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"a\",\"image\":\"i\","
	"\"env\":[{\"name\":\"X\"}]},{\"name\":\"b\",\"ports\":[{\"containerPort\":8080,"
	"\"name\":\"http\",\"protocol\":\"TCP\",\"hostPort\":1}]}]},"
	"\"status\":{\"phase\":\"Running\",\"podIP\":\"10.1.0.5\",\"podIPs\":[{\"ip\":\"10.1.0.5\"}"
	"],"
	"\"hostIP\":\"192.168.0.1\",\"conditions\":[{\"type\":\"Initialized\",\"status\":\"True\"},"
	"{\"type\":\"Ready\",\"status\":\"False\",\"lastTransitionTime\":\"t\"}],"
	"\"containerStatuses\":[{\"restartCount\":%d}]}}";

static const char stripped_pod[] =
	"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-1\",\"namespace\":"
	"\"shop\",\"labels\":{\"app\":\"web\"},\"generateName\":\"web-\",\"ownerReferences\":"
	"[{\"kind\":\"ReplicaSet\",\"name\":\"web-5d\",\"controller\":true}],\"annotations\":"
	"{\"traffic.sidecar.istio.io/excludeOutboundPorts\":\"5432\"}},\"spec\":{\"containers\":"
	"[{\"ports\":[{\"containerPort\":8080,\"name\":\"http\",\"protocol\":\"TCP\"}]}]},"
	"\"status\":{\"podIP\":\"10.1.0.5\",\"podIPs\":[{\"ip\":\"10.1.0.5\"}],\"phase\":"
	"\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}]}}";

static char *strip_text(const char *text, enum k8s_shape shape, const char *api, const char *kind)
{
	json_t *v = parse(text), *st = k8s_strip(v, shape, api, kind);
	char *s;

	assert_non_null(st);
	s = json_dumps(st, JSON_COMPACT);
	json_decref(st);
	json_decref(v);
	return s;
}

static void pod_stripped_to_what_shunt_reads(void **state)
{
	char text[4096], *s;

	snprintf(text, sizeof(text), full_pod, 17, 0);
	s = strip_text(text, K8S_SHAPE_POD, "v1", "Pod");
	assert_string_equal(s, stripped_pod);
	free(s);
}

/* A restart or a new resourceVersion is no change of what shunt keeps. */
static void pod_status_noise_strips_equal(void **state)
{
	char a[4096], b[4096], *sa, *sb;

	snprintf(a, sizeof(a), full_pod, 17, 0);
	snprintf(b, sizeof(b), full_pod, 18, 7);
	sa = strip_text(a, K8S_SHAPE_POD, "v1", "Pod");
	sb = strip_text(b, K8S_SHAPE_POD, "v1", "Pod");
	assert_string_equal(sa, sb);
	free(sa);
	free(sb);
}

/* The stripped pod still loads, with what the Pod parser reads. */
static void stripped_pod_loads(void **state)
{
	struct config *cfg = NULL;
	const struct pod *p;

	assert_int_equal(load_json("k8s:Pod/shop/web-1", stripped_pod, &cfg), 0);
	assert_int_equal(cfg->n_pods, 1);
	p = &cfg->pods[0];
	assert_false(p->ready);
	assert_string_equal(p->owner_kind, "ReplicaSet");
	assert_int_equal(p->n_excl_ports, 1);
	assert_int_equal(p->n_cports, 1);
	assert_int_equal(p->cports[0].port, 8080);
	config_free(cfg);
}

static void slice_and_istio_shapes(void **state)
{
	char *s = strip_text(
		"{\"metadata\":{\"name\":\"x-1\",\"namespace\":\"d\",\"labels\":"
		"{\"kubernetes.io/service-name\":\"x\"}},\"addressType\":\"IPv4\","
		"\"endpoints\":[{\"addresses\":[\"10.0.0.1\"],\"conditions\":"
		"{\"ready\":true},\"nodeName\":\"n\",\"zone\":\"z\",\"targetRef\":"
		"{\"kind\":\"Pod\",\"name\":\"p\",\"uid\":\"u\"}}],\"ports\":[{\"port\":80}]}",
		K8S_SHAPE_SLICE, "discovery.k8s.io/v1", "EndpointSlice");

	assert_string_equal(
		s,
		"{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\"metadata\":"
		"{\"name\":\"x-1\",\"namespace\":\"d\",\"labels\":{\"kubernetes.io/service-name\":"
		"\"x\"}},\"addressType\":\"IPv4\",\"ports\":[{\"port\":80}],\"endpoints\":"
		"[{\"addresses\":[\"10.0.0.1\"],\"conditions\":{\"ready\":true},\"targetRef\":"
		"{\"kind\":\"Pod\",\"name\":\"p\"}}]}");
	free(s);
	s = strip_text("{\"metadata\":{\"name\":\"r\",\"namespace\":\"d\",\"generation\":3},"
		       "\"spec\":{\"hosts\":[\"r\"]},\"status\":{\"observedGeneration\":3}}",
		       K8S_SHAPE_SPEC, "networking.istio.io/v1", "VirtualService");
	assert_string_equal(s,
			    "{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":"
			    "\"VirtualService\",\"metadata\":{\"name\":\"r\",\"namespace\":\"d\"},"
			    "\"spec\":{\"hosts\":[\"r\"]}}");
	free(s);
}

struct lines_seen {
	char got[8][64];
	size_t n;
};

static int on_line(void *arg, const char *line, size_t len)
{
	struct lines_seen *l = arg;

	assert_true(l->n < 8 && len < 64);
	memcpy(l->got[l->n], line, len);
	l->got[l->n++][len] = '\0';
	return 0;
}

/* Lines split anywhere across chunks, several in one chunk, empty ones skipped. */
static void lines_across_chunks(void **state)
{
	static const char stream[] = "{\"a\":1}\n{\"b\":2}\n\n{\"c\":3}\n{\"d\"";
	struct lines_seen seen;
	struct k8s_lines l = {0};

	for (size_t cut = 0; cut < sizeof(stream) - 1; cut++) {
		memset(&seen, 0, sizeof(seen));
		k8s_lines_reset(&l);
		assert_int_equal(k8s_lines_feed(&l, stream, cut, on_line, &seen), 0);
		for (size_t i = cut; i < sizeof(stream) - 1; i++) /* the rest byte by byte */
			assert_int_equal(k8s_lines_feed(&l, stream + i, 1, on_line, &seen), 0);
		assert_int_equal(seen.n, 3);
		assert_string_equal(seen.got[0], "{\"a\":1}");
		assert_string_equal(seen.got[1], "{\"b\":2}");
		assert_string_equal(seen.got[2], "{\"c\":3}");
		assert_int_equal(l.len, 4); /* {"d" waits for the rest */
	}
	k8s_lines_free(&l);
}

static int stop_at_second(void *arg, const char *line, size_t len)
{
	return ++*(int *)arg == 2 ? -ESTALE : 0;
}

static void lines_stop_and_limit(void **state)
{
	struct k8s_lines l = {0};
	char *big = malloc(K8S_LINE_MAX + 1);
	int calls = 0;

	assert_int_equal(k8s_lines_feed(&l, "a\nb\nc\n", 6, stop_at_second, &calls), -ESTALE);
	assert_int_equal(calls, 2);
	k8s_lines_reset(&l);
	memset(big, 'x', K8S_LINE_MAX + 1);
	assert_int_equal(k8s_lines_feed(&l, big, K8S_LINE_MAX, stop_at_second, &calls), 0);
	assert_int_equal(k8s_lines_feed(&l, big, 1, stop_at_second, &calls), -E2BIG);
	free(big);
	k8s_lines_free(&l);
}

static void events_parsed(void **state)
{
	static const char added[] = "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
				    "{\"name\":\"p\",\"resourceVersion\":\"42\"}}}";
	static const char bookmark[] = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\","
				       "\"metadata\":{\"resourceVersion\":\"50\"}}}";
	static const char gone[] = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
				   "\"code\":410,\"reason\":\"Expired\"}}";
	struct k8s_event ev;
	const char *why;

	assert_int_equal(k8s_parse_event(added, strlen(added), &ev, &why), 0);
	assert_int_equal(ev.type, K8S_EV_ADDED);
	assert_string_equal(ev.rv, "42");
	assert_string_equal(k8s_meta_str(ev.object, "name"), "p");
	json_decref(ev.object);
	assert_int_equal(k8s_parse_event(bookmark, strlen(bookmark), &ev, &why), 0);
	assert_int_equal(ev.type, K8S_EV_BOOKMARK);
	assert_string_equal(ev.rv, "50");
	json_decref(ev.object);
	assert_int_equal(k8s_parse_event(gone, strlen(gone), &ev, &why), 0);
	assert_int_equal(ev.type, K8S_EV_ERROR);
	assert_int_equal(ev.code, 410);
	json_decref(ev.object);
	assert_int_equal(k8s_parse_event("{\"type\":", 8, &ev, &why), -EINVAL);
	assert_string_equal(why, "not JSON");
	assert_int_equal(k8s_parse_event("{\"type\":\"SYNC\",\"object\":{}}", 27, &ev, &why),
			 -EINVAL);
	assert_string_equal(why, "unknown type");
	assert_int_equal(k8s_parse_event("{\"type\":\"ADDED\"}", 16, &ev, &why), -EINVAL);
	assert_string_equal(why, "no object");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(service_from_json),
		T(quoted_number_stays_a_string),
		T(bool_and_null_are_typed),
		T(json_and_yaml_agree),
		T(pod_stripped_to_what_shunt_reads),
		T(pod_status_noise_strips_equal),
		T(stripped_pod_loads),
		T(slice_and_istio_shapes),
		T(lines_across_chunks),
		T(lines_stop_and_limit),
		T(events_parsed),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
