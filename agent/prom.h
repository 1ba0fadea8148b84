/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Writers for the Prometheus text exposition format, version 0.0.4: family
 * headers (# HELP, # TYPE), samples, escaped label values. They append to an
 * admin answer body (admin.h), or to any struct admin_resp used as a
 * growable buffer.
 */
#ifndef SHUNT_PROM_H
#define SHUNT_PROM_H

#include <stdbool.h>
#include <stdint.h>

struct admin_resp;

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* "# HELP @name @help" (backslash and newline escaped) and "# TYPE @name @type". */
void prom_header(struct admin_resp *r, const char *name, const char *type, const char *help);

/* Appends @v as the inside of a label value: backslash, double quote and newline escaped. */
void prom_escape(struct admin_resp *r, const char *v);

/* Appends 'NAME="VALUE"' (the value escaped), after a comma unless @first. */
void prom_label(struct admin_resp *r, const char *name, const char *value, bool first);

/*
 * One sample line "@name{@labels} @v": @labels is the inside of the braces,
 * already escaped ("" or NULL: no braces).
 */
void prom_sample(struct admin_resp *r, const char *name, const char *labels, uint64_t v);

/* The same with a label @key="@value" after @labels (a histogram's le, a map's name). */
void prom_sample_with(struct admin_resp *r, const char *name, const char *labels, const char *key,
		      const char *value, uint64_t v);

#endif /* SHUNT_PROM_H */
