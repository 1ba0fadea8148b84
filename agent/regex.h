/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Regular expressions with the semantics Envoy gives Istio's regex fields
 * (StringMatch.regex, uriRegexRewrite): RE2 syntax, UTF-8, full match for
 * matching, leftmost-first global replace for rewriting. Implemented on PCRE2:
 * a pre-scan rejects every construct RE2 does not have (RE2 would refuse the
 * pattern, Istio's webhook too), then PCRE2 compiles what is left with options
 * that give RE2's meaning ($ only at the end, ASCII \d\w\b, LF newlines).
 *
 * Known differences with RE2, documented in docs/routing.md: \s also matches
 * \v (0x0B); RE2 runs in linear time while PCRE2 backtracks, so a match that
 * exceeds the match limit counts as "no match" (regex_limit_hits() counts
 * those); RE2's program-size limit is not reproduced.
 *
 * A compiled regex is immutable and may be used from any number of threads.
 */
#ifndef SHUNT_REGEX_H
#define SHUNT_REGEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct regex;

/*
 * Compiles @pattern (RE2 syntax) for full-match use: anchored at both ends, as
 * Envoy's safe_regex does. Rejects what RE2 rejects: backreferences (\1,
 * \k<n>, (?P=n)), lookahead and lookbehind, atomic groups, possessive
 * quantifiers, recursion, conditionals, \C, callouts, and pattern-level
 * options PCRE has and RE2 does not. JIT-compiles when available.
 * @caseless: case-insensitive (ignoreUriCase). Returns 0 and stores the regex
 * in *@out (free with regex_free()), or -EINVAL with a one-line reason ending
 * in " at offset N" (N: byte offset in @pattern) in @err, or -ENOMEM.
 */
int regex_compile(const char *pattern, bool caseless, struct regex **out, char *err, size_t errlen);

/* Checks @pattern as regex_compile() would, without keeping it: for config validation. 0, or
 * -EINVAL with the reason in @err and the byte offset of the problem in *@offset, or -ENOMEM. */
int regex_check(const char *pattern, size_t *offset, char *err, size_t errlen);

/* Whether @re matches all of @s[0..len). Thread-safe: match data is per thread. A match that
 * exceeds the backtracking limit is "no match" and counts in regex_limit_hits(). */
bool regex_full_match(const struct regex *re, const char *s, size_t len);

/* Compiles @pattern (RE2 syntax, same checks as regex_compile) for searching, not anchored:
 * for uriRegexRewrite. NULL on error, with the reason in @err. */
struct regex *regex_compile_search(const char *pattern, char *err, size_t errlen);

/*
 * Checks @rewrite as RE2::Rewrite would use it with @re: "\0".."\9" name capture groups @re
 * has, "\\" is a backslash, any other backslash is an error. 0, or -EINVAL with the reason.
 */
int regex_check_rewrite(const struct regex *re, const char *rewrite, char *err, size_t errlen);

/*
 * Replaces every non-overlapping match of @re (from regex_compile_search) in @s[0..len) by
 * @rewrite, as RE2::GlobalReplace does (an empty match right after a match is skipped), into
 * @out of @cap bytes, NUL-terminated. Without a match @s is copied unchanged. Returns the length
 * written (without the NUL), -ENOSPC when @cap is too small, -EINVAL for a bad rewrite.
 */
int regex_replace(const struct regex *re, const char *s, size_t len, const char *rewrite, char *out,
		  size_t cap);

/* The number of capture groups of @re. */
unsigned regex_capture_count(const struct regex *re);

/* Whether @re runs JIT-compiled code. */
bool regex_jit(const struct regex *re);

/* Matches abandoned at the backtracking limit since the process started, every thread. */
uint64_t regex_limit_hits(void);

/* Frees the calling thread's cached match data (threads that exit free theirs themselves). */
void regex_thread_cleanup(void);

/* Frees @re. NULL is fine. */
void regex_free(struct regex *re);

#endif /* SHUNT_REGEX_H */
