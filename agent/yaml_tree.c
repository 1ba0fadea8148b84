// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "yaml_tree.h"

void yt_init(struct yt *t, yaml_document_t *doc, const char *file, const struct yt_sink *sink)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);

	memset(t, 0, sizeof(*t));
	t->doc = doc;
	t->file = file;
	t->sink = sink;
	if (root)
		t->owner = root->start_mark;
}

void yt_push(struct yt *t, struct yt_frame *f, const char *key, long index, yaml_mark_t owner)
{
	size_t room = sizeof(t->path) - t->path_len;
	int n = 0;

	f->path_len = t->path_len;
	f->owner = t->owner;
	if (key)
		n = snprintf(t->path + t->path_len, room, "%s%s", t->path_len ? "." : "", key);
	if (index >= 0 && n >= 0 && (size_t)n < room)
		n += snprintf(t->path + t->path_len + n, room - (size_t)n, "[%ld]", index);
	/* A path longer than the buffer stays truncated; the line and column still locate it. */
	if (n > 0)
		t->path_len += (size_t)n < room ? (size_t)n : room - 1;
	t->owner = owner;
}

void yt_pop(struct yt *t, const struct yt_frame *f)
{
	t->path_len = f->path_len;
	t->path[t->path_len] = '\0';
	t->owner = f->owner;
}

void yt_report(struct yt *t, enum log_level level, yaml_mark_t mark, const char *key,
	       const char *fmt, ...)
{
	char msg[512], line[1024];
	const char *sep = t->path_len && key ? "." : "";
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!t->path_len && !key)
		key = "document";
	n = snprintf(line, sizeof(line), "%s:%zu:%zu: %s%s%s: %s", t->file, mark.line + 1,
		     mark.column + 1, t->path, sep, key ? key : "", msg);
	if (n >= (int)sizeof(line))
		memcpy(line + sizeof(line) - 4, "...", 4);
	if (level == LOG_ERROR)
		t->errors++;
	if (t->sink && t->sink->emit)
		t->sink->emit(t->sink->arg, level, line);
}

static bool is_plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool one_of(const char *s, const char *const *words)
{
	for (; *words; words++)
		if (!strcmp(s, *words))
			return true;
	return false;
}

bool yt_is_null(const yaml_node_t *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};

	return is_plain(n) && one_of(scalar(n), nulls);
}

/* YAML 1.1 booleans, as go-yaml v2 (and so kubectl) resolves them: "no" is false. */
static bool looks_bool(const char *s)
{
	static const char *const bools[] = {"y",    "Y",     "yes",   "Yes",   "YES",  "n",
					    "N",    "no",    "No",    "NO",    "true", "True",
					    "TRUE", "false", "False", "FALSE", "on",   "On",
					    "ON",   "off",   "Off",   "OFF",   NULL};

	return one_of(s, bools);
}

/* YAML 1.1 integers and floats: [-+] then 0x.., 0b.., 0o.., digits with '_', or a decimal
 * float with an optional exponent, or .inf/.nan. A deliberately loose superset is fine here:
 * it only decides whether a plain scalar would reach Kubernetes as a number. */
static bool looks_number(const char *s)
{
	static const char *const specials[] = {".inf", ".Inf", ".INF", ".nan",
					       ".NaN", ".NAN", NULL};
	bool digits = false;

	if (*s == '-' || *s == '+')
		s++;
	if (one_of(s, specials))
		return true;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'b' || s[1] == 'o'))
		return s[2] && strspn(s + 2, "0123456789abcdefABCDEF_") == strlen(s + 2);
	for (; (*s >= '0' && *s <= '9') || *s == '_'; s++)
		digits = true;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++)
			digits = true;
	}
	if (digits && (*s == 'e' || *s == 'E')) {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return false;
		s += strspn(s, "0123456789");
	}
	return digits && !*s;
}

const char *yt_describe(const yaml_node_t *n, char *buf, size_t len)
{
	const unsigned char *s;
	size_t o = 0, i;

	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a sequence";
	if (len < 8)
		return "a scalar";
	s = n->data.scalar.value;
	buf[o++] = '"';
	for (i = 0; i < n->data.scalar.length && o + 9 < len; i++) {
		if (s[i] < 0x20 || s[i] == 0x7f)
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", s[i]);
		else
			buf[o++] = (char)s[i];
	}
	if (i < n->data.scalar.length) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

yaml_node_t *yt_get(struct yt *t, yaml_node_t *map, const char *key, yaml_node_t **key_node)
{
	yaml_node_pair_t *p;

	if (key_node)
		*key_node = NULL;
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yt_node(t, p->key), *v;

		if (!k || k->type != YAML_SCALAR_NODE || strcmp(scalar(k), key))
			continue;
		v = yt_node(t, p->value);
		if (key_node)
			*key_node = k;
		return v && !yt_is_null(v) ? v : NULL;
	}
	return NULL;
}

int yt_check_map(struct yt *t, yaml_node_t *n, const char *key)
{
	yaml_node_pair_t *a, *b;
	char buf[64];
	int err = 0;

	if (n->type != YAML_MAPPING_NODE) {
		yt_error(t, n->start_mark, key, "expected a mapping, got %s",
			 yt_describe(n, buf, sizeof(buf)));
		return -EINVAL;
	}
	/* Quadratic, but mappings in objects are small; kubectl refuses duplicate keys too. */
	for (b = n->data.mapping.pairs.start; b < n->data.mapping.pairs.top; b++) {
		yaml_node_t *kb = yt_node(t, b->key);

		if (!kb || kb->type != YAML_SCALAR_NODE)
			continue;
		for (a = n->data.mapping.pairs.start; a < b; a++) {
			yaml_node_t *ka = yt_node(t, a->key);
			struct yt_frame f;

			if (!ka || ka->type != YAML_SCALAR_NODE || strcmp(scalar(ka), scalar(kb)))
				continue;
			yt_push(t, &f, key, -1, t->owner);
			yt_error(t, kb->start_mark, scalar(kb),
				 "duplicate key (first at line %zu column %zu)",
				 ka->start_mark.line + 1, ka->start_mark.column + 1);
			yt_pop(t, &f);
			err = -EINVAL;
			break;
		}
	}
	return err;
}

static int get_typed(struct yt *t, yaml_node_t *map, const char *key, unsigned flags,
		     yaml_node_type_t type, yaml_node_t **out)
{
	yaml_node_t *n = yt_get(t, map, key, NULL);
	char buf[64];

	*out = NULL;
	if (!n) {
		if (!(flags & YT_REQUIRED))
			return -ENOENT;
		yt_error(t, t->owner, key, "required field is missing");
		return -EINVAL;
	}
	if (type == YAML_MAPPING_NODE) {
		if (yt_check_map(t, n, key))
			return -EINVAL;
	} else if (n->type != type) {
		yt_error(t, n->start_mark, key, "expected a sequence, got %s",
			 yt_describe(n, buf, sizeof(buf)));
		return -EINVAL;
	}
	*out = n;
	return 0;
}

int yt_map(struct yt *t, yaml_node_t *map, const char *key, unsigned flags, yaml_node_t **out)
{
	return get_typed(t, map, key, flags, YAML_MAPPING_NODE, out);
}

int yt_seq(struct yt *t, yaml_node_t *map, const char *key, unsigned flags, yaml_node_t **out)
{
	return get_typed(t, map, key, flags, YAML_SEQUENCE_NODE, out);
}

static int enter(struct yt *t, yaml_node_t *map, const char *key, unsigned flags,
		 yaml_node_type_t type, struct yt_frame *f, yaml_node_t **out)
{
	yaml_node_t *k;
	int err = get_typed(t, map, key, flags, type, out);

	if (err)
		return err;
	yt_get(t, map, key, &k);
	yt_push(t, f, key, -1, k->start_mark);
	return 0;
}

int yt_enter_map(struct yt *t, yaml_node_t *map, const char *key, unsigned flags,
		 struct yt_frame *f, yaml_node_t **out)
{
	return enter(t, map, key, flags, YAML_MAPPING_NODE, f, out);
}

int yt_enter_seq(struct yt *t, yaml_node_t *map, const char *key, unsigned flags,
		 struct yt_frame *f, yaml_node_t **out)
{
	return enter(t, map, key, flags, YAML_SEQUENCE_NODE, f, out);
}

bool yt_looks_number(const yaml_node_t *n)
{
	return is_plain(n) && looks_number(scalar(n));
}

int yt_node_str(struct yt *t, yaml_node_t *n, const char *key, char **out)
{
	char buf[64];

	*out = NULL;
	if (n->type != YAML_SCALAR_NODE) {
		yt_error(t, n->start_mark, key, "expected a string, got %s",
			 yt_describe(n, buf, sizeof(buf)));
		return -EINVAL;
	}
	if (is_plain(n) && (looks_number(scalar(n)) || looks_bool(scalar(n)))) {
		yt_error(t, n->start_mark, key, "expected a string, got the %s %s (quote it)",
			 looks_bool(scalar(n)) ? "boolean" : "number", scalar(n));
		return -EINVAL;
	}
	if (strlen(scalar(n)) != n->data.scalar.length) {
		yt_error(t, n->start_mark, key, "a string must not contain a NUL character");
		return -EINVAL;
	}
	*out = strdup(scalar(n));
	if (!*out) {
		t->oom = true;
		return -EINVAL;
	}
	return 0;
}

int yt_str(struct yt *t, yaml_node_t *map, const char *key, unsigned flags, char **out)
{
	yaml_node_t *n = yt_get(t, map, key, NULL);

	*out = NULL;
	if (!n) {
		if (!(flags & YT_REQUIRED))
			return -ENOENT;
		yt_error(t, t->owner, key, "required field is missing");
		return -EINVAL;
	}
	return yt_node_str(t, n, key, out);
}

bool yt_is_int(const yaml_node_t *n)
{
	const char *s;

	if (!is_plain(n))
		return false;
	s = scalar(n);
	if (*s == '-')
		s++;
	if (s[0] == '0')
		return !s[1];
	return *s && strspn(s, "0123456789") == strlen(s);
}

int yt_node_int(struct yt *t, yaml_node_t *n, const char *key, long min, long max, long *out)
{
	long v;

	errno = 0;
	v = strtol(scalar(n), NULL, 10);
	if (errno || v < min || v > max) {
		yt_error(t, n->start_mark, key, "must be between %ld and %ld, got %s", min, max,
			 scalar(n));
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int yt_int(struct yt *t, yaml_node_t *map, const char *key, unsigned flags, long min, long max,
	   long *out)
{
	yaml_node_t *n = yt_get(t, map, key, NULL);
	char buf[64];

	if (!n) {
		if (!(flags & YT_REQUIRED))
			return -ENOENT;
		yt_error(t, t->owner, key, "required field is missing");
		return -EINVAL;
	}
	if (yt_is_int(n))
		return yt_node_int(t, n, key, min, max, out);
	if (is_plain(n) && looks_number(scalar(n)))
		yt_error(t, n->start_mark, key, "expected a decimal integer, got %s", scalar(n));
	else
		yt_error(t, n->start_mark, key, "expected an integer, got %s%s",
			 yt_describe(n, buf, sizeof(buf)),
			 n->type == YAML_SCALAR_NODE && !is_plain(n) ? " (quoted, so a string)"
								     : "");
	return -EINVAL;
}

/* kubectl's choice of files, minus hidden ones (editor lock files, a ConfigMap's ..data). */
static bool is_yaml_name(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	return (n > 5 && !strcmp(name + n - 5, ".yaml")) ||
	       (n > 4 && !strcmp(name + n - 4, ".yml"));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void yt_free_paths(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

int yt_list_dir(const char *dir, char ***paths, size_t *n)
{
	size_t cap = 0;
	struct dirent *de;
	struct stat st;
	int err = 0;
	DIR *d;

	*paths = NULL;
	*n = 0;
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((errno = 0, de = readdir(d))) {
		char *path, **np;

		if (!is_yaml_name(de->d_name))
			continue;
		if (asprintf(&path, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
			     de->d_name) < 0) {
			err = -ENOMEM;
			break;
		}
		/* Follow symlinks (a ConfigMap's files are); skip directories and the like. A
		 * dangling entry stays, so that reading it reports the problem. */
		if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
			free(path);
			continue;
		}
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			np = reallocarray(*paths, cap, sizeof(*np));
			if (!np) {
				free(path);
				err = -ENOMEM;
				break;
			}
			*paths = np;
		}
		(*paths)[(*n)++] = path;
	}
	if (!err && errno)
		err = -errno;
	closedir(d);
	if (err) {
		yt_free_paths(*paths, *n);
		*paths = NULL;
		*n = 0;
		return err;
	}
	if (*n) /* an empty directory has no array: qsort(NULL, 0) is undefined */
		qsort(*paths, *n, sizeof(**paths), cmp_str);
	return 0;
}

int yt_read_file(const char *path, char **buf, size_t *len)
{
	size_t got = 0;
	struct stat st;
	int fd, err = 0;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto close_fd;
	}
	if (st.st_size > YT_FILE_MAX) {
		err = -EFBIG;
		goto close_fd;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf) {
		err = -ENOMEM;
		goto close_fd;
	}
	/* A file that grows while we read is cut at its size when opened. */
	while (got < (size_t)st.st_size) {
		n = read(fd, *buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			free(*buf);
			*buf = NULL;
			goto close_fd;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*len = got;
close_fd:
	close(fd);
	return err;
}

/* Where the parser reads from: a buffer, or a file piece by piece. */
struct yt_input {
	const char *buf; /* NULL: read from fd */
	size_t len;
	int fd;
	size_t left; /* fd: bytes left of the size it had when opened */
	int err;     /* fd: a read's -errno */
};

/* libyaml's read handler over a file: the next piece, 0 bytes at the end. */
static int read_piece(void *data, unsigned char *buf, size_t size, size_t *got)
{
	struct yt_input *in = data;
	ssize_t n;

	*got = 0;
	if (!in->left)
		return 1;
	if (size > in->left)
		size = in->left;
	do
		n = read(in->fd, buf, size);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		in->err = -errno;
		return 0;
	}
	/* A file that shrank ends there; one that grows is cut at its size when opened. */
	in->left = n ? in->left - (size_t)n : 0;
	*got = (size_t)n;
	return 1;
}

/* The line and column of byte @off of the input: the reader gives an offset, not a mark. */
static yaml_mark_t offset_mark(const struct yt_input *in, size_t off)
{
	yaml_mark_t m = {0};
	char piece[4096];
	size_t at = 0;

	while (at < off) {
		size_t n = off - at < sizeof(piece) ? off - at : sizeof(piece);
		const char *p = piece;
		ssize_t got;

		if (in->buf) {
			if (at >= in->len)
				break;
			n = n < in->len - at ? n : in->len - at;
			p = in->buf + at;
		} else if ((got = pread(in->fd, piece, n, (off_t)at)) > 0) {
			n = (size_t)got;
		} else {
			break;
		}
		for (size_t i = 0; i < n; i++) {
			m.column++;
			if (p[i] == '\n') {
				m.line++;
				m.column = 0;
			}
		}
		at += n;
	}
	return m;
}

static void report_syntax(const char *file, const yaml_parser_t *p, const struct yt_input *in,
			  const struct yt_sink *sink)
{
	yaml_mark_t m = p->problem_mark;
	char ctx[128] = "", line[1024];

	if (p->error == YAML_READER_ERROR)
		m = offset_mark(in, p->problem_offset);
	if (p->context)
		snprintf(ctx, sizeof(ctx), " (%s at line %zu column %zu)", p->context,
			 p->context_mark.line + 1, p->context_mark.column + 1);
	snprintf(line, sizeof(line), "%s:%zu:%zu: yaml: %s%s", file, m.line + 1, m.column + 1,
		 p->problem ? p->problem : "syntax error", ctx);
	if (sink && sink->emit)
		sink->emit(sink->arg, LOG_ERROR, line);
}

/* Every document of @in through @parser (set up to read it) to @fn. 0 or -ENOMEM; a read
 * error of a file is left in in->err. */
static int load_parser(const char *file, yaml_parser_t *parser, const struct yt_input *in,
		       const struct yt_sink *sink, int (*fn)(void *arg, struct yt *t), void *arg,
		       unsigned *errors)
{
	yaml_document_t doc;
	yaml_node_t *root;
	struct yt t;
	int err = 0;

	while (!err) {
		if (!yaml_parser_load(parser, &doc)) {
			if (parser->error == YAML_MEMORY_ERROR) {
				err = -ENOMEM;
				break;
			}
			if (in->err) /* not the file's fault: the caller reports the I/O error */
				break;
			report_syntax(file, parser, in, sink);
			(*errors)++;
			break;
		}
		root = yaml_document_get_root_node(&doc);
		if (!root) {
			yaml_document_delete(&doc); /* the end of the stream */
			break;
		}
		if (!yt_is_null(root)) { /* "---" followed by nothing */
			yt_init(&t, &doc, file, sink);
			err = fn(arg, &t);
			*errors += t.errors;
			if (!err && t.oom)
				err = -ENOMEM;
		}
		yaml_document_delete(&doc);
	}
	return err;
}

int yt_load_stream(const char *file, const char *buf, size_t len, const struct yt_sink *sink,
		   int (*fn)(void *arg, struct yt *t), void *arg, unsigned *errors)
{
	struct yt_input in = {.buf = buf, .len = len, .fd = -1};
	yaml_parser_t parser;
	int err;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	err = load_parser(file, &parser, &in, sink, fn, arg, errors);
	yaml_parser_delete(&parser);
	return err;
}

int yt_load_file(const char *file, const struct yt_sink *sink, int (*fn)(void *arg, struct yt *t),
		 void *arg, unsigned *errors, int *io_err)
{
	struct yt_input in = {.fd = -1};
	yaml_parser_t parser;
	struct stat st;
	int err = 0;

	*io_err = 0;
	in.fd = open(file, O_RDONLY | O_CLOEXEC);
	if (in.fd < 0) {
		*io_err = -errno;
		return 0;
	}
	if (fstat(in.fd, &st) < 0) {
		*io_err = -errno;
		goto close_fd;
	}
	if (st.st_size > YT_FILE_MAX) {
		*io_err = -EFBIG;
		goto close_fd;
	}
	in.left = (size_t)st.st_size;
	if (!yaml_parser_initialize(&parser)) {
		err = -ENOMEM;
		goto close_fd;
	}
	yaml_parser_set_input(&parser, read_piece, &in);
	err = load_parser(file, &parser, &in, sink, fn, arg, errors);
	yaml_parser_delete(&parser);
	*io_err = in.err;
close_fd:
	close(in.fd);
	return err;
}

/* YAML 1.1 true values, as go-yaml v2 reads them; the rest of looks_bool() is false. */
static bool bool_value(const char *s)
{
	static const char *const trues[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
					    "True", "TRUE", "on",  "On",  "ON",	 NULL};

	return one_of(s, trues);
}

/* The node of field @key of @map, or NULL (reported with YT_REQUIRED; *@err set). */
static yaml_node_t *get_scalar_field(struct yt *t, yaml_node_t *map, const char *key,
				     unsigned flags, int *err)
{
	yaml_node_t *n = yt_get(t, map, key, NULL);

	*err = 0;
	if (n)
		return n;
	*err = -ENOENT;
	if (flags & YT_REQUIRED) {
		yt_error(t, t->owner, key, "required field is missing");
		*err = -EINVAL;
	}
	return NULL;
}

int yt_bool(struct yt *t, yaml_node_t *map, const char *key, unsigned flags, bool *out)
{
	char buf[64];
	int err;
	yaml_node_t *n = get_scalar_field(t, map, key, flags, &err);

	if (!n)
		return err;
	if (is_plain(n) && looks_bool(scalar(n))) {
		*out = bool_value(scalar(n));
		return 0;
	}
	yt_error(t, n->start_mark, key, "expected true or false, got %s%s",
		 yt_describe(n, buf, sizeof(buf)),
		 n->type == YAML_SCALAR_NODE && !is_plain(n) ? " (quoted, so a string)" : "");
	return -EINVAL;
}

int yt_double(struct yt *t, yaml_node_t *map, const char *key, unsigned flags, double *out)
{
	char buf[64], *end;
	const char *s;
	int err;
	yaml_node_t *n = get_scalar_field(t, map, key, flags, &err);

	if (!n)
		return err;
	s = n->type == YAML_SCALAR_NODE ? scalar(n) : "";
	/* Plain decimal spellings only: what JSON would carry as a number. */
	if (is_plain(n) && looks_number(s) && strspn(s, "+-0123456789.eE") == strlen(s)) {
		errno = 0;
		*out = strtod(s, &end);
		if (!errno && !*end)
			return 0;
	}
	yt_error(t, n->start_mark, key, "expected a number, got %s%s",
		 yt_describe(n, buf, sizeof(buf)),
		 n->type == YAML_SCALAR_NODE && !is_plain(n) ? " (quoted, so a string)" : "");
	return -EINVAL;
}
