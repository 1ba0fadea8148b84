// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer: a watch stream from the Kubernetes API, cut into two chunks
 * where the first byte says, into events, into the store (the resource the
 * second byte picks), and the config built from it. Any stream must be
 * applied or refused; never crash, leak or read out of bounds.
 */
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "k8s_json.h"
#include "k8s_store.h"
#include "log.h"
#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	struct k8s_store *store;
	size_t kind;
};

static int on_line(void *arg, const char *line, size_t len)
{
	struct run *r = arg;
	struct k8s_event ev;
	const char *why;
	int err;

	if (k8s_parse_event(line, len, &ev, &why))
		return 0;
	k8s_store_event(r->store, r->kind, "v1", &ev, &err);
	json_decref(ev.object);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct k8s_lines lines = {0};
	struct route_table *rt = NULL;
	struct config *cfg = NULL;
	struct run r = {0};
	size_t cut;

	log_level_cur = (enum log_level) - 1;
	if (size < 2 || k8s_store_new(NULL, NULL, &r.store))
		return 0;
	r.kind = data[1] % K8S_RESOURCES;
	cut = data[0] % (size - 1);
	data += 2;
	size -= 2;
	if (!k8s_lines_feed(&lines, (const char *)data, cut, on_line, &r))
		k8s_lines_feed(&lines, (const char *)data + cut, size - cut, on_line, &r);
	k8s_lines_free(&lines);
	if (!k8s_store_load(r.store, &cfg, NULL)) {
		if (!route_table_build(cfg, &rt))
			route_table_free(rt);
		config_free(cfg);
	}
	k8s_store_free(r.store);
	return 0;
}
