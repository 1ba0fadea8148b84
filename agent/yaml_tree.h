/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A cursor over a document loaded with yaml_parser_load() that knows where it
 * is: the file, the dotted field path inside the object ("spec.ports[0].port")
 * and the mark to blame when a required field is missing. Typed getters check
 * a field's YAML type the way kubectl's decoder would (YAML 1.1 resolution of
 * plain scalars) and report problems as "FILE:LINE:COL: FIELD: MESSAGE".
 *
 * Errors are counted, not returned up the stack: a getter that finds a
 * problem reports it and returns -EINVAL, and the caller carries on so that
 * every problem in a file is reported. An allocation failure is sticky
 * (yt->oom) and also surfaces as -EINVAL from the getter; check yt->oom at
 * the end of an object.
 */
#ifndef SHUNT_YAML_TREE_H
#define SHUNT_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "log.h"

#define YT_PATH_MAX 512

/* Receives one finished diagnostic line. */
struct yt_sink {
	void (*emit)(void *arg, enum log_level level, const char *line);
	void *arg;
};

struct yt {
	yaml_document_t *doc;
	const char *file; /* as opened; outlives the cursor */
	const struct yt_sink *sink;
	char path[YT_PATH_MAX]; /* dotted field path of the current node, "" at the root */
	size_t path_len;	/* strlen(path) */
	yaml_mark_t owner;	/* blamed for a missing field: the key whose value we are in */
	unsigned errors;	/* problems reported so far through this cursor */
	bool oom;		/* an allocation failed; the result is unusable */
};

/* Saved cursor position, restored by yt_pop(). */
struct yt_frame {
	size_t path_len;
	yaml_mark_t owner;
};

enum yt_flags {
	YT_REQUIRED = 1 << 0, /* absent or null is an error */
};

/* The *.yaml and *.yml files of @dir as kubectl apply -f would take them: sorted by name, not
 * recursive, symlinks followed; hidden files are skipped. *@paths receives @n new "dir/name"
 * strings, freed with yt_free_paths(). 0 or -errno. */
int yt_list_dir(const char *dir, char ***paths, size_t *n);
void yt_free_paths(char **paths, size_t n);

/* Reads all of @path into a new buffer *@buf (*@len bytes). 0 or -errno, -EFBIG for a file
 * over YT_FILE_MAX. */
#define YT_FILE_MAX (64u << 20)
int yt_read_file(const char *path, char **buf, size_t *len);

/* Loads every document of @buf (the contents of @file) and calls @fn with a cursor on each one
 * that is not empty; @fn returns 0 or -ENOMEM. A syntax error is reported (FIELD "yaml") and
 * ends the file, since libyaml cannot resume after one. Problems found (by @fn through the
 * cursor, or syntax) are added to *@errors. Returns 0 or -ENOMEM. */
int yt_load_stream(const char *file, const char *buf, size_t len, const struct yt_sink *sink,
		   int (*fn)(void *arg, struct yt *t), void *arg, unsigned *errors);

/* The same for the file @file, read piece by piece as the parser goes (a large file is never
 * whole in memory; one that grows meanwhile is cut at its size when opened). Returns 0 or
 * -ENOMEM; when @file cannot be read (open, read, -EFBIG over YT_FILE_MAX) *@io_err is -errno,
 * not reported, and the documents before the failure were given to @fn. */
int yt_load_file(const char *file, const struct yt_sink *sink, int (*fn)(void *arg, struct yt *t),
		 void *arg, unsigned *errors, int *io_err);

/* Sets up @t for @doc read from @file. The path starts empty and the root node is the owner. */
void yt_init(struct yt *t, yaml_document_t *doc, const char *file, const struct yt_sink *sink);

/* Descends: appends ".@key" (when @key is non-NULL) and "[@index]" (when @index >= 0) to the
 * path and makes @owner the mark blamed for missing fields below. Saves the old state in @f. */
void yt_push(struct yt *t, struct yt_frame *f, const char *key, long index, yaml_mark_t owner);
/* Undoes the yt_push() that filled @f. */
void yt_pop(struct yt *t, const struct yt_frame *f);

/* Reports one problem at @mark for the field "path.@key" (just "path" when @key is NULL) with
 * the given log level. Counts it in t->errors when @level is LOG_ERROR. */
void yt_report(struct yt *t, enum log_level level, yaml_mark_t mark, const char *key,
	       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
#define yt_error(t, mark, key, ...) yt_report((t), LOG_ERROR, (mark), (key), __VA_ARGS__)

/* True for a plain scalar that YAML reads as null: "", "~", "null", "Null", "NULL". */
bool yt_is_null(const yaml_node_t *n);

/* The value node of @key in mapping @map, or NULL when @key is absent or its value is null.
 * *@key_node (when non-NULL) receives the key node, or NULL. */
yaml_node_t *yt_get(struct yt *t, yaml_node_t *map, const char *key, yaml_node_t **key_node);

/* Checks that @n is a mapping without duplicate keys; reports "expected a mapping" or
 * "duplicate key" against "path.@key". Returns 0 or -EINVAL. */
int yt_check_map(struct yt *t, yaml_node_t *n, const char *key);

/* Fetches field @key of @map like yt_map()/yt_seq() and, on 0, descends into it: the path gets
 * ".@key" and the key's mark is blamed for missing fields below. The caller yt_pop()s @f. */
int yt_enter_map(struct yt *t, yaml_node_t *map, const char *key, unsigned flags,
		 struct yt_frame *f, yaml_node_t **out);
int yt_enter_seq(struct yt *t, yaml_node_t *map, const char *key, unsigned flags,
		 struct yt_frame *f, yaml_node_t **out);

/* Fetches field @key of @map (*@out) or a sequence (*@out). 0 when present and of
 * that type, -ENOENT when absent or null (reported, and -EINVAL, with YT_REQUIRED), -EINVAL
 * when of another type (reported). */
int yt_map(struct yt *t, yaml_node_t *map, const char *key, unsigned flags, yaml_node_t **out);
int yt_seq(struct yt *t, yaml_node_t *map, const char *key, unsigned flags, yaml_node_t **out);

/* Checks that scalar node @n (found under "path.@key") is a string and copies it into a new
 * string *@out that the caller frees. Plain scalars that YAML 1.1 reads as a number or a
 * boolean are refused, as kubectl would. 0 or -EINVAL (reported). */
int yt_node_str(struct yt *t, yaml_node_t *n, const char *key, char **out);
/* yt_node_str() on field @key of @map; -ENOENT when absent or null (see YT_REQUIRED). */
int yt_str(struct yt *t, yaml_node_t *map, const char *key, unsigned flags, char **out);

/* True when @n is a plain scalar that YAML 1.1 reads as a number (1, 0x50, 1.5, .inf). */
bool yt_looks_number(const yaml_node_t *n);
/* True when @n is a plain scalar spelled as a decimal integer ("-?(0|[1-9][0-9]*)"). */
bool yt_is_int(const yaml_node_t *n);
/* Reads field @key of @map as a decimal integer in [@min, @max]. Quoted numbers and other
 * YAML spellings of integers (0x50, 0o17, 1_000) are refused. 0, -ENOENT or -EINVAL. */
int yt_int(struct yt *t, yaml_node_t *map, const char *key, unsigned flags, long min, long max,
	   long *out);
/* Range-checks an integer node @n (yt_is_int() true) found under "path.@key". 0 or -EINVAL. */
int yt_node_int(struct yt *t, yaml_node_t *n, const char *key, long min, long max, long *out);

/* Reads field @key of @map as a boolean: a plain true or false (or another YAML 1.1 spelling such
 * as yes/no, as kubectl's decoder reads them). A quoted "true" is a string and refused. 0, -ENOENT
 * or -EINVAL (reported). */
int yt_bool(struct yt *t, yaml_node_t *map, const char *key, unsigned flags, bool *out);
/* Reads field @key of @map as a number (a plain decimal integer or float: 100, 0.5, 1e-3).
 * Quoted numbers, 0x.., .inf and .nan are refused. 0, -ENOENT or -EINVAL (reported). */
int yt_double(struct yt *t, yaml_node_t *map, const char *key, unsigned flags, double *out);

/* Writes a short, printable rendering of @n for messages: "http" (quoted, escaped, truncated)
 * for a scalar, "a mapping" or "a sequence" otherwise. Returns @buf. */
const char *yt_describe(const yaml_node_t *n, char *buf, size_t len);

/* Node @id of the cursor's document (libyaml ids are 1-based). */
static inline yaml_node_t *yt_node(const struct yt *t, int id)
{
	return yaml_document_get_node(t->doc, id);
}

/* Number of items of sequence @seq, and item @i of it. */
static inline size_t yt_seq_len(const yaml_node_t *seq)
{
	return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

static inline yaml_node_t *yt_seq_item(const struct yt *t, const yaml_node_t *seq, size_t i)
{
	return yt_node(t, seq->data.sequence.items.start[i]);
}

#endif /* SHUNT_YAML_TREE_H */
