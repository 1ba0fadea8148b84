/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Why a request goes where it goes: builds the request an operator
 * describes (host, path, method, headers, client), routes it with the
 * router's own route_select() on a fresh worker, with a trace of every match
 * entry tried (struct route_trace), and writes the decision as JSON: the
 * VirtualService and the rule that matched, why each earlier one did not
 * ("uri prefix /v2 does not match /v1/x"), the weighted destinations with
 * their clusters and endpoints, and the endpoint this one pick chose. The
 * admin API's /explain and `shuntctl explain --config DIR` both call it.
 */
#ifndef SHUNT_EXPLAIN_H
#define SHUNT_EXPLAIN_H

#include <stddef.h>
#include <stdint.h>

#include "json_w.h"

struct route_table;

#define EXPLAIN_HDRS_MAX 32

struct explain_query {
	const char *host;   /* FQDN, short name, name.namespace, or VIP; ":PORT" may follow */
	uint16_t port;	    /* 0: from host, else the service's only (or first HTTP) port */
	const char *path;   /* NULL: "/" (the query string may follow) */
	const char *method; /* NULL: GET */
	const char *headers[EXPLAIN_HDRS_MAX]; /* "name: value" */
	size_t n_headers;
	const char *source_ip;	      /* the client's address; NULL: see below */
	const char *source_labels;    /* "k=v,k2=v2": the first mesh pod with these labels */
	const char *source_namespace; /* ... in this namespace (alone: any pod of it) */
};

/*
 * Explains @q against @rt (and the config it was built from) into @w as one
 * JSON object. 0; -EINVAL for a malformed query and -ENOENT for a host or a
 * client the config does not know, with the reason in @err (@errlen bytes);
 * -ENOMEM.
 */
int explain_write(struct jw *w, const struct route_table *rt, const struct explain_query *q,
		  char *err, size_t errlen);

#endif /* SHUNT_EXPLAIN_H */
