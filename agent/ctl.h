/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * shuntctl's commands, one module per kind of source: the pinned maps
 * (ctl_maps.c), the agent's admin API or an offline copy of its config
 * (ctl_cmds.c, with ctl_http.c as the HTTP client and ctl_view.c turning
 * JSON into aligned text). Each command returns the process exit status:
 * 0, 1 (failed, or invalid for validate), 2 (usage).
 */
#ifndef SHUNT_CTL_H
#define SHUNT_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/types.h>

#include <jansson.h>

#include "explain.h"

/* jansson's json_array_foreach and json_object_foreach, spelled out so that cppcheck (which
 * does not read system headers) sees the loops. */
#define CTL_ARRAY_EACH(a, i, v)                                                                    \
	for ((i) = 0; (i) < json_array_size(a) && ((v) = json_array_get((a), (i))); (i)++)
#define CTL_OBJECT_EACH(o, k, v)                                                                   \
	for (void *it_ = json_object_iter((json_t *)(o));                                          \
	     it_ && ((k) = json_object_iter_key(it_), (v) = json_object_iter_value(it_), 1);       \
	     it_ = json_object_iter_next((json_t *)(o), it_))

struct ctl_opts {
	const char *pin_dir;	 /* --pin-dir */
	const char *admin;	 /* --admin IP:PORT */
	const char *config_dir;	 /* --config DIR: offline, from the files */
	bool json;		 /* -o json */
	struct explain_query xq; /* explain's --host, --path, -H, ... */
};

/* What the map commands share (ctl_pins.c). */
/* Opens map or link @name pinned in @pin_dir: its fd, or -1 (said on stderr). */
int ctl_open_pinned(const char *pin_dir, const char *name);
/* "IP:PORT" of @ip and @port (network order) in @buf. */
const char *ctl_ipport(__u32 ip, __u16 port, char *buf, size_t len);
/* CLOCK_MONOTONIC in ns: the clock of bpf_ktime_get_ns() and the heartbeat. */
uint64_t ctl_now_ns(void);

/* The map commands (ctl_pins.c, and ctl_maps.c for maps). */
int ctl_stats(const struct ctl_opts *o);
int ctl_services(const struct ctl_opts *o);
int ctl_pairs(const struct ctl_opts *o);
int ctl_config(const struct ctl_opts *o);
int ctl_maps(const struct ctl_opts *o);
/* The pinned programs' links, as JSON (an array), for status; NULL when none can be read. */
json_t *ctl_links_json(const struct ctl_opts *o);
/* shunt_cfg as JSON (listener, heartbeat age, alive) and the kernel counters; NULL: no pins. */
json_t *ctl_agent_cfg_json(const struct ctl_opts *o);
json_t *ctl_kernel_stats_json(const struct ctl_opts *o);

/* The admin API and config commands (ctl_cmds.c); @argc/@argv are the command's operands. */
int ctl_status(const struct ctl_opts *o, int argc, char **argv);
int ctl_validate(const struct ctl_opts *o, int argc, char **argv);
int ctl_routes(const struct ctl_opts *o, int argc, char **argv);
int ctl_explain(const struct ctl_opts *o, int argc, char **argv);

/*
 * One HTTP/1.1 request to the admin API at @addr (IP:PORT), 5 s at most
 * (ctl_http.c). Stores the status and the body (NUL-terminated, caller
 * frees) and returns 0, or -errno when no answer came (connection refused,
 * timeout, malformed).
 */
int ctl_http(const char *addr, const char *method, const char *target, int *status, char **body,
	     size_t *len);
/* Appends @s to @out percent-encoded for a query value (at most @cap bytes with the NUL). */
void ctl_url_encode(char *out, size_t cap, const char *s);

/* Text views of the JSON the admin API answers (ctl_view.c). */
void ctl_view_routes(FILE *f, const json_t *vhosts);
void ctl_view_explain(FILE *f, const json_t *x);
void ctl_view_status(FILE *f, const json_t *st);

#endif /* SHUNT_CTL_H */
