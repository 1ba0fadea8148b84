// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * RE2 semantics on PCRE2. Istio validates regex fields with Go's regexp (RE2
 * syntax) and Envoy runs them with RE2, so a pattern must mean here what it
 * means there, and what they refuse we refuse.
 *
 * The pre-scan walks the pattern the way RE2's parser does (top level, groups,
 * character classes, \Q...\E), rejects PCRE-only constructs with a reason, and
 * writes the pattern PCRE2 compiles, translating the two escapes whose meaning
 * differs: \v (RE2: the VT character; PCRE2: any vertical space) and octal
 * escapes \1NN..\7NN (RE2: always octal; PCRE2: a backreference when the
 * pattern has that many groups). A map from output to input offsets turns
 * PCRE2's error offsets back into the user's.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regex.h"

#define RE2_MAX_REPEAT 1000
#define MATCH_PAIRS    10	/* \0..\9: all a rewrite can name */
#define MATCH_LIMIT    1000000u /* backtracking steps per match */
#define MATCH_HEAP_KIB 8192u	/* interpreter backtracking frames */

struct regex {
	pcre2_code *code;
	unsigned captures;
	bool jit;
};

/* The pre-scan of one pattern. */
struct scan {
	const char *p;
	size_t n, i;	 /* input, its length, the read position */
	char *out;	 /* the pattern PCRE2 compiles */
	size_t *map;	 /* map[k]: the input offset output byte k came from */
	size_t w;	 /* output length */
	unsigned groups; /* capture groups seen */
	size_t erroff;	 /* where the problem is, an input offset */
	char *err;
	size_t errlen;
};

static _Atomic uint64_t limit_hits;

static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static pthread_key_t tls_key;
static pcre2_match_context *match_ctx;

static void tls_free(void *md)
{
	pcre2_match_data_free(md);
}

static void tls_init(void)
{
	if (pthread_key_create(&tls_key, tls_free) != 0)
		abort();
	/* One read-only context shared by every thread: pcre2_match only reads it. */
	match_ctx = pcre2_match_context_create(NULL);
	if (match_ctx) {
		pcre2_set_match_limit(match_ctx, MATCH_LIMIT);
		pcre2_set_heap_limit(match_ctx, MATCH_HEAP_KIB);
	}
}

/* The calling thread's match data (MATCH_PAIRS pairs), created on first use. NULL: no memory. */
static pcre2_match_data *thread_md(void)
{
	pcre2_match_data *md;

	pthread_once(&tls_once, tls_init);
	md = pthread_getspecific(tls_key);
	if (md)
		return md;
	md = pcre2_match_data_create(MATCH_PAIRS, NULL);
	if (md && pthread_setspecific(tls_key, md) != 0) {
		pcre2_match_data_free(md);
		md = NULL;
	}
	return md;
}

void regex_thread_cleanup(void)
{
	pcre2_match_data *md;

	pthread_once(&tls_once, tls_init);
	md = pthread_getspecific(tls_key);
	if (md) {
		pthread_setspecific(tls_key, NULL);
		pcre2_match_data_free(md);
	}
}

uint64_t regex_limit_hits(void)
{
	return atomic_load_explicit(&limit_hits, memory_order_relaxed);
}

__attribute__((format(printf, 3, 4))) static int scan_fail(struct scan *sc, size_t off,
							   const char *fmt, ...)
{
	va_list ap;
	int n;

	sc->erroff = off;
	va_start(ap, fmt);
	n = vsnprintf(sc->err, sc->errlen, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sc->errlen)
		snprintf(sc->err + n, sc->errlen - n, " at offset %zu", off);
	return -EINVAL;
}

/* Copies @len input bytes from @from to the output. */
static void emit_src(struct scan *sc, size_t from, size_t len)
{
	for (size_t k = 0; k < len; k++) {
		sc->map[sc->w] = from + k;
		sc->out[sc->w++] = sc->p[from + k];
	}
}

/* Writes @s to the output as if it stood at input offset @from. */
static void emit_str(struct scan *sc, const char *s, size_t from)
{
	for (; *s; s++) {
		sc->map[sc->w] = from;
		sc->out[sc->w++] = *s;
	}
}

static bool is_octal(char c)
{
	return c >= '0' && c <= '7';
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_word(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '_';
}

static bool is_alnum(char c)
{
	return is_word(c) && c != '_';
}

/* \x: two hex digits, or {hex...}, as RE2 requires. @at is the backslash. */
static int scan_hex(struct scan *sc, size_t at)
{
	size_t j = at + 2;

	if (j < sc->n && sc->p[j] == '{') {
		size_t k = j + 1;

		while (k < sc->n && is_hex(sc->p[k]))
			k++;
		if (k == j + 1 || k >= sc->n || sc->p[k] != '}')
			return scan_fail(sc, at, "invalid escape sequence: \\x{");
		emit_src(sc, at, k + 1 - at);
		sc->i = k + 1;
		return 0;
	}
	if (j + 1 >= sc->n || !is_hex(sc->p[j]) || !is_hex(sc->p[j + 1]))
		return scan_fail(sc, at, "invalid escape sequence: \\x");
	emit_src(sc, at, 4);
	sc->i = at + 4;
	return 0;
}

/* \p and \P: a one-letter class or {Name}. PCRE2 checks the name. */
static int scan_property(struct scan *sc, size_t at)
{
	size_t j = at + 2;

	if (j < sc->n && sc->p[j] == '{') {
		const char *close = memchr(sc->p + j, '}', sc->n - j);

		if (!close)
			return scan_fail(sc, at, "invalid character class range: missing }");
		j = (size_t)(close - sc->p) + 1;
	} else if (j < sc->n && is_alnum(sc->p[j])) {
		j++;
	} else {
		return scan_fail(sc, at, "invalid character class range: \\%c", sc->p[at + 1]);
	}
	emit_src(sc, at, j - at);
	sc->i = j;
	return 0;
}

/* One escape at sc->i (the backslash), inside a character class or not. */
static int scan_escape(struct scan *sc, bool in_class)
{
	size_t at = sc->i;
	char c;

	if (at + 1 >= sc->n)
		return scan_fail(sc, at, "trailing backslash at end of expression");
	c = sc->p[at + 1];
	switch (c) {
	case '1' ... '9': {
		size_t j = at + 2;
		char oct[8];

		if (c >= '8' || j >= sc->n || !is_octal(sc->p[j])) {
			if (in_class)
				return scan_fail(sc, at, "invalid escape sequence: \\%c", c);
			return scan_fail(sc, at, "backreferences are not supported (RE2 syntax)");
		}
		/* RE2: octal, up to three digits. PCRE2 could read a backreference: spell it out.
		 */
		if (j + 1 < sc->n && is_octal(sc->p[j + 1]))
			j++;
		snprintf(oct, sizeof(oct), "\\o{%.*s}", (int)(j + 1 - (at + 1)), sc->p + at + 1);
		emit_str(sc, oct, at);
		sc->i = j + 1;
		return 0;
	}
	case '0': {
		size_t j = at + 2;

		while (j < sc->n && j < at + 4 && is_octal(sc->p[j]))
			j++;
		emit_src(sc, at, j - at);
		sc->i = j;
		return 0;
	}
	case 'v':
		emit_str(sc, "\\x{0b}", at);
		sc->i = at + 2;
		return 0;
	case 'x':
		return scan_hex(sc, at);
	case 'p':
	case 'P':
		return scan_property(sc, at);
	case 'a':
	case 'f':
	case 't':
	case 'n':
	case 'r':
	case 'd':
	case 'D':
	case 's':
	case 'S':
	case 'w':
	case 'W':
		break;
	case 'b':
	case 'B':
	case 'A':
	case 'z':
		if (in_class)
			return scan_fail(sc, at, "invalid escape sequence: \\%c", c);
		break;
	case 'k':
	case 'g':
		return scan_fail(sc, at, "backreferences are not supported (RE2 syntax)");
	case 'C':
		return scan_fail(sc, at, "\\C is not supported (RE2 syntax)");
	case 'K':
		return scan_fail(sc, at, "\\K is not supported (RE2 syntax)");
	case 'G':
		return scan_fail(sc, at, "\\G is not supported (RE2 syntax)");
	case 'Z':
		return scan_fail(sc, at, "\\Z is not supported (RE2 syntax); use \\z");
	default:
		/* RE2: any ASCII punctuation may be escaped; letters, digits, '_' and non-ASCII
		 * only as listed above. */
		if ((unsigned char)c >= 0x80 || is_word(c))
			return scan_fail(sc, at, "invalid escape sequence: \\%c", c);
		break;
	}
	emit_src(sc, at, 2);
	sc->i = at + 2;
	return 0;
}

/* \Q...\E at the top level: literal text, copied as is (PCRE2 reads it the same way). */
static void scan_quote(struct scan *sc)
{
	size_t j = sc->i + 2;

	while (j < sc->n && !(sc->p[j] == '\\' && j + 1 < sc->n && sc->p[j + 1] == 'E'))
		j++;
	if (j < sc->n)
		j += 2;
	emit_src(sc, sc->i, j - sc->i);
	sc->i = j;
}

static const char *const posix_classes[] = {
	"alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph",
	"lower", "print", "punct", "space", "upper", "word",  "xdigit",
};

/* [:name:] inside a class at sc->i. Returns 1 when one was consumed, 0 when '[' is literal. */
static int scan_posix(struct scan *sc)
{
	size_t at = sc->i, j = at + 2, len;
	const char *name = sc->p + j;

	while (j + 1 < sc->n && !(sc->p[j] == ':' && sc->p[j + 1] == ']'))
		j++;
	if (j + 1 >= sc->n)
		return 0;
	len = j - (at + 2);
	if (len && name[0] == '^') {
		name++;
		len--;
	}
	for (size_t k = 0; k < sizeof(posix_classes) / sizeof(posix_classes[0]); k++) {
		if (strlen(posix_classes[k]) == len && !memcmp(posix_classes[k], name, len)) {
			emit_src(sc, at, j + 2 - at);
			sc->i = j + 2;
			return 1;
		}
	}
	return scan_fail(sc, at, "invalid character class range: [:%.*s:]", (int)len, name);
}

/* A character class at sc->i ('['). */
static int scan_class(struct scan *sc)
{
	int rc;

	emit_src(sc, sc->i++, 1);
	if (sc->i < sc->n && sc->p[sc->i] == '^')
		emit_src(sc, sc->i++, 1);
	if (sc->i < sc->n && sc->p[sc->i] == ']')
		emit_src(sc, sc->i++, 1); /* a leading ] is literal in both */
	while (sc->i < sc->n && sc->p[sc->i] != ']') {
		char c = sc->p[sc->i];

		if (c == '\\') {
			rc = scan_escape(sc, true);
		} else if (c == '[' && sc->i + 1 < sc->n && sc->p[sc->i + 1] == ':') {
			rc = scan_posix(sc);
			if (rc == 0)
				emit_src(sc, sc->i++, 1);
			rc = rc < 0 ? rc : 0;
		} else {
			emit_src(sc, sc->i++, 1);
			rc = 0;
		}
		if (rc)
			return rc;
	}
	if (sc->i < sc->n)
		emit_src(sc, sc->i++, 1);
	return 0; /* an unclosed class: PCRE2 reports it */
}

/* (?flags) or (?flags:...): RE2 knows i, m, s, U and one '-'. */
static int scan_flags(struct scan *sc, size_t at)
{
	size_t j = at + 2;
	bool neg = false, any = false;

	for (; j < sc->n && sc->p[j] != ')' && sc->p[j] != ':'; j++) {
		char c = sc->p[j];

		if (c == '-') {
			if (neg)
				return scan_fail(sc, at, "invalid named capture group or flags");
			neg = true;
			any = false;
		} else if (c == 'i' || c == 'm' || c == 's' || c == 'U') {
			any = true;
		} else if ((unsigned char)c < 0x80 && is_alnum(c)) {
			return scan_fail(
				sc, j, "flag (?%c) is not supported (RE2 syntax: i, m, s, U only)",
				c);
		} else {
			return scan_fail(sc, at,
					 "invalid or unsupported group syntax (RE2 syntax)");
		}
	}
	if (j >= sc->n || !any)
		return scan_fail(sc, at, "invalid named capture group or flags");
	emit_src(sc, at, j + 1 - at);
	sc->i = j + 1;
	return 0;
}

/* A group name after "(?<" or "(?P<" at @j: word characters, then '>'. */
static int scan_group_name(struct scan *sc, size_t at, size_t j)
{
	size_t start = j;

	while (j < sc->n && is_word(sc->p[j]))
		j++;
	if (j == start || j >= sc->n || sc->p[j] != '>')
		return scan_fail(sc, at, "invalid named capture group");
	sc->groups++;
	emit_src(sc, at, j + 1 - at);
	sc->i = j + 1;
	return 0;
}

/* PCRE2's short names of (*pla:...) and friends. */
static const char *const lookaround_short[] = {"pla", "plb", "nla", "nlb", "napla", "naplb", NULL};

static bool is_one_of(const char *s, size_t len, const char *const *set)
{
	for (; *set; set++) {
		if (strlen(*set) == len && !memcmp(*set, s, len))
			return true;
	}
	return false;
}

/* (*...) anywhere: PCRE's start-of-pattern options, verbs and alpha assertions. */
static int scan_verb(struct scan *sc, size_t at)
{
	const char *name = sc->p + at + 2;
	size_t len = 0;

	while (at + 2 + len < sc->n && (is_word(name[len])))
		len++;
	if (len && name[0] >= 'A' && name[0] <= 'Z') {
		if (at == 0 || sc->p[at - 1] == ')')
			return scan_fail(sc, at,
					 "pattern-level options such as (*%.*s) are not supported "
					 "(RE2 syntax)",
					 (int)len, name);
		return scan_fail(sc, at,
				 "backtracking control verbs are not supported (RE2 syntax)");
	}
	if (memmem(name, len, "look", 4) || is_one_of(name, len, lookaround_short))
		return scan_fail(sc, at, "lookahead and lookbehind are not supported (RE2 syntax)");
	if (len >= 6 && !memcmp(name, "atomic", 6))
		return scan_fail(sc, at, "atomic groups are not supported (RE2 syntax)");
	return scan_fail(sc, at, "missing argument to repetition operator: *");
}

/* A group opening at sc->i ('('). */
static int scan_group(struct scan *sc)
{
	size_t at = sc->i;
	char c = at + 1 < sc->n ? sc->p[at + 1] : 0;
	char c2 = at + 2 < sc->n ? sc->p[at + 2] : 0;
	char c3 = at + 3 < sc->n ? sc->p[at + 3] : 0;

	if (c == '*')
		return scan_verb(sc, at);
	if (c != '?') {
		sc->groups++;
		emit_src(sc, sc->i++, 1);
		return 0;
	}
	switch (c2) {
	case ':':
		emit_src(sc, at, 3);
		sc->i = at + 3;
		return 0;
	case '=':
	case '!':
	case '*':
		return scan_fail(sc, at, "lookahead and lookbehind are not supported (RE2 syntax)");
	case '<':
		if (c3 == '=' || c3 == '!' || c3 == '*')
			return scan_fail(sc, at,
					 "lookahead and lookbehind are not supported (RE2 syntax)");
		return scan_group_name(sc, at, at + 3);
	case 'P':
		if (c3 == '<')
			return scan_group_name(sc, at, at + 4);
		if (c3 == '=')
			return scan_fail(sc, at, "backreferences are not supported (RE2 syntax)");
		if (c3 == '>')
			return scan_fail(
				sc, at,
				"recursion and subroutine calls are not supported (RE2 syntax)");
		return scan_fail(sc, at, "invalid named capture group");
	case '>':
		return scan_fail(sc, at, "atomic groups are not supported (RE2 syntax)");
	case '|':
		return scan_fail(sc, at, "branch reset groups are not supported (RE2 syntax)");
	case '#':
		return scan_fail(sc, at, "comments (?#...) are not supported (RE2 syntax)");
	case '\'':
		return scan_fail(sc, at,
				 "named groups (?'name'...) are not supported (RE2 syntax); use "
				 "(?P<name>...)");
	case '(':
		return scan_fail(sc, at, "conditionals are not supported (RE2 syntax)");
	case 'C':
		return scan_fail(sc, at, "callouts are not supported (RE2 syntax)");
	case 'R':
	case '&':
	case '0' ... '9':
	case '+':
		return scan_fail(sc, at,
				 "recursion and subroutine calls are not supported (RE2 syntax)");
	case '-':
		if (c3 >= '0' && c3 <= '9')
			return scan_fail(
				sc, at,
				"recursion and subroutine calls are not supported (RE2 syntax)");
		return scan_flags(sc, at);
	default:
		return scan_flags(sc, at);
	}
}

/* A counted repeat {n}, {n,} or {n,m} at @j: its end (one past '}'), or 0 when '{' is literal. */
static size_t repeat_end(const struct scan *sc, size_t j, long *lo, long *hi)
{
	size_t k = j + 1;
	long a = 0, b;

	if (k >= sc->n || sc->p[k] < '0' || sc->p[k] > '9')
		return 0;
	for (; k < sc->n && sc->p[k] >= '0' && sc->p[k] <= '9'; k++)
		a = a > 100000 ? a : a * 10 + (sc->p[k] - '0');
	b = a;
	if (k < sc->n && sc->p[k] == ',') {
		k++;
		b = -1;
		if (k < sc->n && sc->p[k] >= '0' && sc->p[k] <= '9') {
			for (b = 0; k < sc->n && sc->p[k] >= '0' && sc->p[k] <= '9'; k++)
				b = b > 100000 ? b : b * 10 + (sc->p[k] - '0');
		}
	}
	if (k >= sc->n || sc->p[k] != '}')
		return 0;
	*lo = a;
	*hi = b;
	return k + 1;
}

/* A quantifier at sc->i: *, +, ?, or a counted repeat; then RE2's rules on what may follow. */
static int scan_quantifier(struct scan *sc, size_t end)
{
	size_t at = sc->i, j = end;
	long lo, hi;
	bool lazy = false;

	if (j < sc->n && sc->p[j] == '?') {
		lazy = true;
		j++;
	}
	if (j < sc->n && sc->p[j] == '+' && !lazy)
		return scan_fail(sc, at, "possessive quantifiers are not supported (RE2 syntax)");
	if (j < sc->n && (sc->p[j] == '*' || sc->p[j] == '+' || sc->p[j] == '?' ||
			  (sc->p[j] == '{' && repeat_end(sc, j, &lo, &hi))))
		return scan_fail(sc, at, "bad repetition operator: %.*s", (int)(j + 1 - at),
				 sc->p + at);
	emit_src(sc, at, j - at);
	sc->i = j;
	return 0;
}

static int scan_pattern(struct scan *sc)
{
	int rc = 0;

	while (sc->i < sc->n && rc == 0) {
		size_t end;
		long lo, hi;

		switch (sc->p[sc->i]) {
		case '\\':
			if (sc->i + 1 < sc->n && sc->p[sc->i + 1] == 'Q') {
				scan_quote(sc);
			} else if (sc->i + 1 < sc->n && sc->p[sc->i + 1] == 'E') {
				rc = scan_fail(sc, sc->i, "invalid escape sequence: \\E");
			} else {
				rc = scan_escape(sc, false);
			}
			break;
		case '[':
			rc = scan_class(sc);
			break;
		case '(':
			rc = scan_group(sc);
			break;
		case '*':
		case '+':
		case '?':
			rc = scan_quantifier(sc, sc->i + 1);
			break;
		case '{':
			end = repeat_end(sc, sc->i, &lo, &hi);
			if (!end) {
				emit_src(sc, sc->i++, 1); /* a literal brace, in both */
				break;
			}
			if (lo > RE2_MAX_REPEAT || hi > RE2_MAX_REPEAT)
				rc = scan_fail(sc, sc->i, "bad repetition operator: %.*s",
					       (int)(end - sc->i), sc->p + sc->i);
			else if (hi >= 0 && hi < lo)
				rc = scan_fail(sc, sc->i, "bad repetition operator: %.*s",
					       (int)(end - sc->i), sc->p + sc->i);
			else
				rc = scan_quantifier(sc, end);
			break;
		default:
			emit_src(sc, sc->i++, 1);
			break;
		}
	}
	return rc;
}

static int compile(const char *pattern, uint32_t extra, struct regex **out, char *err,
		   size_t errlen, size_t *erroff)
{
	struct scan sc = {.p = pattern, .n = strlen(pattern), .err = err, .errlen = errlen};
	pcre2_compile_context *cctx;
	struct regex *re;
	PCRE2_SIZE eoff;
	int ecode, rc;
	uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY |
			PCRE2_ALT_CIRCUMFLEX | PCRE2_NEVER_BACKSLASH_C | PCRE2_NEVER_UCP | extra;

	if (errlen)
		err[0] = 0;
	sc.out = malloc(3 * sc.n + 1);
	sc.map = malloc((3 * sc.n + 1) * sizeof(*sc.map));
	re = calloc(1, sizeof(*re));
	cctx = pcre2_compile_context_create(NULL);
	rc = -ENOMEM;
	if (!sc.out || !sc.map || !re || !cctx)
		goto free_all;
	rc = scan_pattern(&sc);
	if (rc)
		goto free_all;
	sc.map[sc.w] = sc.n;
	pcre2_set_newline(cctx, PCRE2_NEWLINE_LF);
	re->code = pcre2_compile((PCRE2_SPTR)sc.out, sc.w, opts, &ecode, &eoff, cctx);
	if (!re->code) {
		PCRE2_UCHAR msg[160];

		if (ecode == PCRE2_ERROR_NOMEMORY) {
			rc = -ENOMEM;
			goto free_all;
		}
		pcre2_get_error_message(ecode, msg, sizeof(msg));
		rc = scan_fail(&sc, sc.map[eoff > sc.w ? sc.w : eoff], "%s", (const char *)msg);
		goto free_all;
	}
	pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &re->captures);
	re->jit = pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
	*out = re;
	re = NULL;
	rc = 0;
free_all:
	if (rc == -EINVAL && erroff)
		*erroff = sc.erroff;
	pcre2_compile_context_free(cctx);
	regex_free(re);
	free(sc.map);
	free(sc.out);
	return rc;
}

int regex_compile(const char *pattern, bool caseless, struct regex **out, char *err, size_t errlen)
{
	return compile(pattern,
		       PCRE2_ANCHORED | PCRE2_ENDANCHORED | (caseless ? PCRE2_CASELESS : 0), out,
		       err, errlen, NULL);
}

int regex_check(const char *pattern, size_t *offset, char *err, size_t errlen)
{
	struct regex *re = NULL;
	int rc = compile(pattern, 0, &re, err, errlen, offset);

	regex_free(re);
	return rc;
}

struct regex *regex_compile_search(const char *pattern, char *err, size_t errlen)
{
	struct regex *re = NULL;

	if (compile(pattern, 0, &re, err, errlen, NULL) == -ENOMEM && errlen)
		snprintf(err, errlen, "out of memory");
	return re;
}

/* One match: > 0 (or 0: more groups than pairs) on a match, < 0 otherwise. JIT code goes
 * through pcre2_jit_match(), which skips pcre2_match()'s checks of what compile() fixed
 * (a third of a short match's time); PCRE2_MATCH_INVALID_UTF keeps bad UTF-8 safe there. */
static int match_at(const struct regex *re, pcre2_match_data *md, const char *s, size_t len,
		    size_t start)
{
	int rc = re->jit ? pcre2_jit_match(re->code, (PCRE2_SPTR)s, len, start, 0, md, match_ctx)
			 : pcre2_match(re->code, (PCRE2_SPTR)s, len, start, 0, md, match_ctx);

	if (rc == PCRE2_ERROR_JIT_STACKLIMIT) /* deep but legal: the interpreter copes */
		rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, start, PCRE2_NO_JIT, md, match_ctx);
	if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
	    rc == PCRE2_ERROR_HEAPLIMIT)
		atomic_fetch_add_explicit(&limit_hits, 1, memory_order_relaxed);
	return rc;
}

bool regex_full_match(const struct regex *re, const char *s, size_t len)
{
	pcre2_match_data *md = thread_md();

	return md && match_at(re, md, s ? s : "", len, 0) >= 0;
}

int regex_check_rewrite(const struct regex *re, const char *rewrite, char *err, size_t errlen)
{
	for (const char *r = rewrite; *r; r++) {
		if (*r != '\\')
			continue;
		r++;
		if (*r == '\\')
			continue;
		if (*r >= '0' && *r <= '9') {
			if ((unsigned)(*r - '0') > re->captures) {
				snprintf(err, errlen,
					 "rewrite refers to \\%c but the regex has %u capture "
					 "group%s",
					 *r, re->captures, re->captures == 1 ? "" : "s");
				return -EINVAL;
			}
			continue;
		}
		if (!*r)
			snprintf(err, errlen, "rewrite ends with a lone backslash");
		else
			snprintf(err, errlen,
				 "invalid rewrite sequence \\%c: use \\0..\\9 for groups, \\\\ for "
				 "a backslash",
				 *r);
		return -EINVAL;
	}
	return 0;
}

/* Appends @n bytes; keeps room for the NUL. */
static int put(char *out, size_t cap, size_t *w, const char *src, size_t n)
{
	if (*w + n + 1 > cap)
		return -ENOSPC;
	memcpy(out + *w, src, n);
	*w += n;
	return 0;
}

static int put_rewrite(const char *s, const PCRE2_SIZE *ov, int pairs, const char *rewrite,
		       char *out, size_t cap, size_t *w)
{
	int rc = 0;

	for (const char *r = rewrite; *r && rc == 0; r++) {
		int g;

		if (*r != '\\') {
			rc = put(out, cap, w, r, 1);
			continue;
		}
		r++;
		if (*r == '\\') {
			rc = put(out, cap, w, r, 1);
			continue;
		}
		if (*r < '0' || *r > '9')
			return -EINVAL;
		g = *r - '0';
		if (g >= pairs)
			return -EINVAL;
		if (ov[2 * g] != PCRE2_UNSET)
			rc = put(out, cap, w, s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
	}
	return rc;
}

/* The length of the UTF-8 character at @s (1 for an invalid byte). */
static size_t utf8_len(const unsigned char *s, size_t left)
{
	size_t n = *s < 0x80 ? 1 : *s >= 0xf0 ? 4 : *s >= 0xe0 ? 3 : *s >= 0xc0 ? 2 : 1;

	if (n > left)
		return 1;
	for (size_t k = 1; k < n; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 1;
	}
	return n;
}

int regex_replace(const struct regex *re, const char *s, size_t len, const char *rewrite, char *out,
		  size_t cap)
{
	pcre2_match_data *md = thread_md();
	size_t p = 0, w = 0, lastend = (size_t)-1;
	const PCRE2_SIZE *ov;
	int rc, pairs;

	if (!md)
		return -ENOMEM;
	if (cap == 0)
		return -ENOSPC;
	pairs = re->captures + 1 < MATCH_PAIRS ? (int)re->captures + 1 : MATCH_PAIRS;
	ov = pcre2_get_ovector_pointer(md);
	while (p <= len) {
		size_t ms, me;

		if (match_at(re, md, s, len, p) < 0)
			break;
		ms = ov[0];
		me = ov[1];
		rc = put(out, cap, &w, s + p, ms - p);
		if (rc)
			return rc;
		if (ms == me && ms == lastend) {
			/* RE2: no empty match right after a match; step over one character. */
			size_t n = ms < len ? utf8_len((const unsigned char *)s + ms, len - ms) : 1;

			if (ms < len && (rc = put(out, cap, &w, s + ms, n)))
				return rc;
			p = ms + n;
			continue;
		}
		rc = put_rewrite(s, ov, pairs, rewrite, out, cap, &w);
		if (rc)
			return rc;
		p = me;
		lastend = me;
	}
	if (p < len && (rc = put(out, cap, &w, s + p, len - p)))
		return rc;
	out[w] = 0;
	return (int)w;
}

unsigned regex_capture_count(const struct regex *re)
{
	return re->captures;
}

bool regex_jit(const struct regex *re)
{
	return re->jit;
}

void regex_free(struct regex *re)
{
	if (!re)
		return;
	pcre2_code_free(re->code);
	free(re);
}
