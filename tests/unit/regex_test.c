// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * RE2 semantics on PCRE2: what Envoy's safe_regex full match accepts and
 * refuses, the constructs RE2 (and Istio's webhook) reject with the reason a
 * user sees, and uriRegexRewrite's global replace.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "regex.h"

static bool fm(const char *pattern, bool caseless, const char *s)
{
	struct regex *re = NULL;
	char err[256];
	bool m;

	if (regex_compile(pattern, caseless, &re, err, sizeof(err)) != 0)
		fail_msg("%s: %s", pattern, err);
	m = regex_full_match(re, s, strlen(s));
	regex_free(re);
	return m;
}

/* The error regex_compile gives @pattern (the test fails if it compiles). */
static const char *reject(const char *pattern)
{
	static char err[256];
	struct regex *re = NULL;

	if (regex_compile(pattern, false, &re, err, sizeof(err)) == 0) {
		regex_free(re);
		fail_msg("%s: compiled, expected an error", pattern);
	}
	assert_null(re);
	return err;
}

static void full_match_not_prefix(void **state)
{
	assert_true(fm("/api/v[0-9]+", false, "/api/v12"));
	assert_false(fm("/api/v[0-9]+", false, "/api/v12/users")); /* a prefix is not enough */
	assert_false(fm("api", false, "/api"));			   /* nor a suffix */
	assert_true(fm("/api/.*", false, "/api/"));
	assert_true(fm("", false, ""));
	assert_false(fm("", false, "x"));
	/* $ is the end of text only, as in RE2 (PCRE's default also allows a final newline) */
	assert_false(fm("abc$\n", false, "abc\n"));
	assert_false(fm("a.c", false, "a\nc")); /* . does not match \n without (?s) */
	assert_true(fm("(?s)a.c", false, "a\nc"));
}

static void alternation_is_anchored_as_a_whole(void **state)
{
	assert_true(fm("a|b", false, "a"));
	assert_true(fm("a|b", false, "b"));
	assert_false(fm("a|b", false, "ab"));
	assert_false(fm("a|b", false, "xb"));
	assert_false(fm("a|b", false, "ax"));
	/* leftmost-first would stop at "a": the full match must still find "ab" */
	assert_true(fm("a|ab", false, "ab"));
	assert_true(fm("/v1|/v1/.*", false, "/v1/x"));
}

static void seed_firefox_user_agent(void **state)
{
	const char *ff = "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0";

	assert_true(fm(".*Firefox.*", false, ff));
	assert_false(fm(".*Firefox.*", false, "curl/8.1.2"));
	assert_false(fm(".*Firefox.*", false, "Mozilla/5.0 firefox/1"));
	assert_true(fm(".*Firefox.*", false, "Firefox"));
}

static void caseless(void **state)
{
	assert_true(fm("/Greeting/[a-z]+", true, "/greeting/HELLO"));
	assert_false(fm("/Greeting/[a-z]+", false, "/greeting/hello"));
	assert_true(fm("(?i)/greeting", false, "/GREETING"));
	assert_true(fm("ÉTÉ", true, "été")); /* Unicode case folding, as RE2 */
}

static void utf8_like_re2(void **state)
{
	assert_true(fm("caf.", false, "café")); /* . is one character, not one byte */
	assert_true(fm("\\p{Greek}+", false, "αβγ"));
	assert_false(fm("\\w+", false, "é")); /* \w is ASCII, as RE2 */
	/* invalid UTF-8 in the subject is no error: it just matches nothing */
	assert_false(fm(".*", false, "a\xff"));
	assert_true(fm("a.*", false, "abc"));
}

static void re2_escapes_keep_their_meaning(void **state)
{
	assert_true(fm("a\\vb", false, "a\vb"));  /* RE2 \v is VT only */
	assert_false(fm("a\\vb", false, "a\nb")); /* PCRE's \v would match \n */
	assert_true(fm("\\101", false, "A"));	  /* octal */
	assert_true(fm("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)\\12", false, "abcdefghijkl\n"));
	assert_true(fm("\\x41\\x{42}", false, "AB"));
	assert_true(fm("\\Q.*\\E", false, ".*"));
	assert_false(fm("\\Q.*\\E", false, "ab"));
	assert_true(fm("[[:alpha:]]+[[:^digit:]]", false, "ab-"));
	assert_true(fm("a{2,3}", false, "aaa"));
	assert_true(fm("a{,2}", false, "a{,2}")); /* not a repeat: literal, as RE2 */
	assert_true(fm("(?P<v>v[0-9])/(?<rest>.*)", false, "v1/x"));
	assert_true(fm("a+?b*?", false, "aab"));
	assert_true(fm("\\.\\-\\/", false, ".-/"));
}

static void rejected_constructs(void **state)
{
	static const struct {
		const char *pattern, *err;
	} cases[] = {
		{"(a)\\1", "backreferences are not supported (RE2 syntax) at offset 3"},
		{"(?P<n>a)\\k<n>", "backreferences are not supported (RE2 syntax) at offset 8"},
		{"(?P<n>a)(?P=n)", "backreferences are not supported (RE2 syntax) at offset 8"},
		{"(a)\\g1", "backreferences are not supported (RE2 syntax) at offset 3"},
		{"a(?=b)", "lookahead and lookbehind are not supported (RE2 syntax) at offset 1"},
		{"a(?!b)", "lookahead and lookbehind are not supported (RE2 syntax) at offset 1"},
		{"(?<=a)b", "lookahead and lookbehind are not supported (RE2 syntax) at offset 0"},
		{"(?<!a)b", "lookahead and lookbehind are not supported (RE2 syntax) at offset 0"},
		{"(*pla:a)a",
		 "lookahead and lookbehind are not supported (RE2 syntax) at offset 0"},
		{"(?>a+)b", "atomic groups are not supported (RE2 syntax) at offset 0"},
		{"a*+b", "possessive quantifiers are not supported (RE2 syntax) at offset 1"},
		{"a++", "possessive quantifiers are not supported (RE2 syntax) at offset 1"},
		{"a{2}+", "possessive quantifiers are not supported (RE2 syntax) at offset 1"},
		{"a**", "bad repetition operator: ** at offset 1"},
		{"a{1001}", "bad repetition operator: {1001} at offset 1"},
		{"(a|(?R))",
		 "recursion and subroutine calls are not supported (RE2 syntax) at offset 3"},
		{"(a)(?1)",
		 "recursion and subroutine calls are not supported (RE2 syntax) at offset 3"},
		{"(?&n)",
		 "recursion and subroutine calls are not supported (RE2 syntax) at offset 0"},
		{"(?P>n)",
		 "recursion and subroutine calls are not supported (RE2 syntax) at offset 0"},
		{"(a)?(?(1)b|c)", "conditionals are not supported (RE2 syntax) at offset 4"},
		{"a\\Cb", "\\C is not supported (RE2 syntax) at offset 1"},
		{"a(?C1)b", "callouts are not supported (RE2 syntax) at offset 1"},
		{"(*UTF)a",
		 "pattern-level options such as (*UTF) are not supported (RE2 syntax) at "
		 "offset 0"},
		{"(*LIMIT_MATCH=10)a", "pattern-level options such as (*LIMIT_MATCH) are not "
				       "supported (RE2 syntax) at offset 0"},
		{"a(*SKIP)b",
		 "backtracking control verbs are not supported (RE2 syntax) at offset 1"},
		{"(?x)a b", "flag (?x) is not supported (RE2 syntax: i, m, s, U only) at offset 2"},
		{"(?|(a)|(b))", "branch reset groups are not supported (RE2 syntax) at offset 0"},
		{"a(?#note)", "comments (?#...) are not supported (RE2 syntax) at offset 1"},
		{"(?'n'a)", "named groups (?'name'...) are not supported (RE2 syntax); use "
			    "(?P<name>...) at offset 0"},
		{"a\\Kb", "\\K is not supported (RE2 syntax) at offset 1"},
		{"\\Ga", "\\G is not supported (RE2 syntax) at offset 0"},
		{"a\\Z", "\\Z is not supported (RE2 syntax); use \\z at offset 1"},
		{"\\R", "invalid escape sequence: \\R at offset 0"},
		{"\\h", "invalid escape sequence: \\h at offset 0"},
		{"\\e", "invalid escape sequence: \\e at offset 0"},
		{"\\_", "invalid escape sequence: \\_ at offset 0"},
		{"[\\b]", "invalid escape sequence: \\b at offset 1"},
		{"a\\E", "invalid escape sequence: \\E at offset 1"},
		{"[[:<:]]", "invalid character class range: [:<:] at offset 1"},
		{"a\\", "trailing backslash at end of expression at offset 1"},
		/* PCRE2's own diagnostics, at the user's offset */
		{"(ab", "missing closing parenthesis at offset 3"},
		{"a\\v)", "unmatched closing parenthesis at offset 3"},
		{"[b-a]", "range out of order in character class at offset 3"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *err = reject(cases[i].pattern);

		if (strcmp(err, cases[i].err) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].pattern, err,
				 cases[i].err);
	}
}

static void error_is_truncated_safely(void **state)
{
	struct regex *re = NULL;
	char err[8];

	assert_int_equal(regex_compile("(a)\\1", false, &re, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "backref");
}

static void check_reports_the_offset(void **state)
{
	size_t off = 99;
	char err[128];

	assert_int_equal(regex_check("ab(?=c)", &off, err, sizeof(err)), -EINVAL);
	assert_int_equal(off, 2);
	/* a PCRE2 error after the \v translation still points into the user's pattern */
	assert_int_equal(regex_check("a\\vb(", &off, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "missing closing parenthesis at offset 5");
	assert_int_equal(off, 5);
	assert_int_equal(regex_check(".*Firefox.*", &off, err, sizeof(err)), 0);
}

static void jit_is_used(void **state)
{
	uint32_t jit = 0;
	struct regex *re = NULL;
	char err[128];

	pcre2_config(PCRE2_CONFIG_JIT, &jit);
	if (!jit)
		skip();
	assert_int_equal(regex_compile(".*Firefox.*", false, &re, err, sizeof(err)), 0);
	assert_true(regex_jit(re));
	assert_true(regex_full_match(re, "a Firefox b", 11));
	regex_free(re);
}

static void catastrophic_pattern_is_bounded(void **state)
{
	char s[64];
	struct regex *re = NULL;
	char err[128];
	uint64_t before = regex_limit_hits();

	/* exponential backtracking over "a"s; the 'c' at the end defeats PCRE's quick rejection */
	memset(s, 'a', sizeof(s) - 3);
	memcpy(s + sizeof(s) - 3, "bc", 3);
	assert_int_equal(regex_compile("(a|aa)*c", false, &re, err, sizeof(err)), 0);
	assert_false(regex_full_match(re, s, strlen(s)));
	assert_true(regex_limit_hits() > before);
	regex_free(re);
}

static void *match_in_thread(void *arg)
{
	const struct regex *re = arg;
	long ok = 1;

	for (int i = 0; i < 1000; i++)
		ok &= regex_full_match(re, "/api/v1", 7) && !regex_full_match(re, "/x", 2);
	return (void *)ok;
}

static void threads_share_one_regex(void **state)
{
	pthread_t t[4];
	struct regex *re = NULL;
	char err[128];
	void *ok;

	assert_int_equal(regex_compile("/api/v[0-9]", false, &re, err, sizeof(err)), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, match_in_thread, re), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &ok), 0);
		assert_true(ok == (void *)1);
	}
	regex_free(re);
}

/* regex_replace of @s, asserting success. */
static const char *replace(const char *pattern, const char *s, const char *rewrite)
{
	static char out[256];
	char err[128];
	struct regex *re = regex_compile_search(pattern, err, sizeof(err));
	int n;

	if (!re)
		fail_msg("%s: %s", pattern, err);
	if (regex_check_rewrite(re, rewrite, err, sizeof(err)) != 0)
		fail_msg("%s: %s", rewrite, err);
	n = regex_replace(re, s, strlen(s), rewrite, out, sizeof(out));
	regex_free(re);
	assert_true(n >= 0);
	assert_int_equal((size_t)n, strlen(out));
	return out;
}

static void rewrite_replaces_every_match(void **state)
{
	/* Istio's documented example: /service/foo/v1/bar -> /v1/bar */
	assert_string_equal(replace("^/service/([^/]+)(/.*)$", "/service/foo/v1/bar", "\\2"),
			    "/v1/bar");
	assert_string_equal(replace("/v1/", "/v1/a/v1/b", "/v2/"), "/v2/a/v2/b");
	assert_string_equal(replace("x", "abc", "y"), "abc"); /* no match: unchanged */
	assert_string_equal(replace("(b)", "abc", "[\\1\\0\\\\]"), "a[bb\\]c");
	/* empty matches, as RE2::GlobalReplace: none right after a match */
	assert_string_equal(replace("a*", "baaac", "-"), "-b-c-");
	assert_string_equal(replace("", "é", "-"), "-é-"); /* steps over whole characters */
	/* not anchored, but ^ is still the start of the text */
	assert_string_equal(replace("^a", "aaa", "b"), "baa");
}

static void rewrite_errors(void **state)
{
	char err[128], out[8];
	struct regex *re = regex_compile_search("(a)", err, sizeof(err));

	assert_non_null(re);
	assert_int_equal(regex_capture_count(re), 1);
	assert_int_equal(regex_check_rewrite(re, "\\2", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "rewrite refers to \\2 but the regex has 1 capture group");
	assert_int_equal(regex_check_rewrite(re, "\\n", err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "invalid rewrite sequence \\n: use \\0..\\9 for groups, \\\\ for a "
			    "backslash");
	assert_int_equal(regex_check_rewrite(re, "x\\", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "rewrite ends with a lone backslash");
	assert_int_equal(regex_replace(re, "aaaa", 4, "\\1\\1", out, sizeof(out)), -ENOSPC);
	assert_int_equal(regex_replace(re, "a", 1, "\\9", out, sizeof(out)), -EINVAL);
	regex_free(re);
	assert_null(regex_compile_search("(?=a)", err, sizeof(err)));
	assert_string_equal(err,
			    "lookahead and lookbehind are not supported (RE2 syntax) at offset 0");
}

static int group_teardown(void **state)
{
	regex_thread_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_match_not_prefix),
		cmocka_unit_test(alternation_is_anchored_as_a_whole),
		cmocka_unit_test(seed_firefox_user_agent),
		cmocka_unit_test(caseless),
		cmocka_unit_test(utf8_like_re2),
		cmocka_unit_test(re2_escapes_keep_their_meaning),
		cmocka_unit_test(rejected_constructs),
		cmocka_unit_test(error_is_truncated_safely),
		cmocka_unit_test(check_reports_the_offset),
		cmocka_unit_test(jit_is_used),
		cmocka_unit_test(catastrophic_pattern_is_bounded),
		cmocka_unit_test(threads_share_one_regex),
		cmocka_unit_test(rewrite_replaces_every_match),
		cmocka_unit_test(rewrite_errors),
	};

	return cmocka_run_group_tests(tests, NULL, group_teardown);
}
