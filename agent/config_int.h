/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Inside the config loader: what the generic part (config.c: files, documents,
 * kind dispatch, uniqueness, endpoints, indexes) shares with the parsers of
 * each API group (config_k8s.c: core/v1 Service and Pod). A new kind is a
 * parse function here and one row in config.c's kind_parsers[].
 */
#ifndef SHUNT_CONFIG_INT_H
#define SHUNT_CONFIG_INT_H

#include "config.h"
#include "yaml_tree.h"

/* One load in progress. */
struct load {
	struct config *cfg;
	size_t cap_services, cap_pods, cap_files;
	unsigned errors; /* problems reported so far, every file */
	struct yt_sink sink;
};

struct kind_parser {
	const char *group; /* "" for the core group */
	const char *kind;
	const char *const *versions; /* NULL-terminated */
	/* Parses @obj and appends it to the config when it has no problem. 0 or -ENOMEM. */
	int (*parse)(struct load *ld, struct yt *t, yaml_node_t *obj);
};

/* The 1-based position of @m in the file @t is reading. */
struct src_loc config_loc_of(const struct yt *t, yaml_mark_t m);
/* Grows *@v (of @size-byte elements) so that one more fits after @n. 0 or -ENOMEM. */
int config_grow(void **v, size_t *cap, size_t n, size_t size);
/* Moves @v (of @size bytes) to the end of *@arr. 0 or -ENOMEM. */
int config_append(void **arr, size_t *n, size_t *cap, const void *v, size_t size);

/* core/v1 Service and Pod: parse @obj and append it to ld->cfg when it has no problem
 * (problems are reported through @t). 0 or -ENOMEM. */
int k8s_parse_service(struct load *ld, struct yt *t, yaml_node_t *obj);
int k8s_parse_pod(struct load *ld, struct yt *t, yaml_node_t *obj);
/* Free what a Service or Pod owns (not the struct itself). */
void k8s_service_release(struct service *s);
void k8s_pod_release(struct pod *p);

#endif /* SHUNT_CONFIG_INT_H */
