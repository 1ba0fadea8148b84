// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The literal prefix of a uri regex, for the candidate index (route_index.c):
 * the bytes every path the pattern matches whole must start with. Read from
 * the pattern's RE2 syntax conservatively: whatever is unsure ends the prefix
 * or gives none, since a prefix too long would hide a rule that matches, and
 * one too short only makes a rule a candidate more often.
 */
#include <stdbool.h>
#include <string.h>

#include "route_int.h"

/* Whether @pattern has a '|' outside any group: then no prefix is common to its branches.
 * Unsure (a POSIX class, an unclosed class) counts as yes. */
static bool top_level_bar(const char *p)
{
	int depth = 0;

	for (size_t i = 0; p[i]; i++) {
		if (p[i] == '\\') {
			if (p[i + 1] == 'Q')
				return true; /* \Q...\E: not worth parsing here */
			if (p[i + 1])
				i++;
		} else if (p[i] == '[') {
			size_t j = i + 1;

			if (p[j] == '^')
				j++;
			if (p[j] == ']')
				j++; /* a leading ']' is literal */
			for (; p[j] && p[j] != ']'; j++) {
				if (p[j] == '[' && p[j + 1] == ':')
					return true;
				if (p[j] == '\\' && p[j + 1])
					j++;
			}
			if (!p[j])
				return true;
			i = j;
		} else if (p[i] == '(') {
			depth++;
		} else if (p[i] == ')') {
			depth--;
		} else if (p[i] == '|' && depth <= 0) {
			return true;
		}
	}
	return false;
}

static bool is_ascii_punct(unsigned char c)
{
	return c > ' ' && c < 0x7f && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') &&
	       !(c >= 'A' && c <= 'Z');
}

/*
 * RE2 syntax, matched whole (anchored at both ends, as Envoy's full match): the pattern's
 * leading literals, up to the first metacharacter, escape other than "\" + punctuation, or
 * non-ASCII byte; a literal that a quantifier may repeat zero times is left out, one under
 * '+' is kept and ends the prefix. A leading '^' is the anchor the full match has anyway.
 */
size_t rt_regex_prefix(const char *p, char *out, size_t cap)
{
	size_t i = 0, n = 0;

	if (!p || top_level_bar(p))
		return 0;
	if (p[0] == '^')
		i++;
	while (p[i] && n < cap) {
		unsigned char c = (unsigned char)p[i], lit = c;
		size_t width = 1;

		if (c == '\\' && is_ascii_punct((unsigned char)p[i + 1])) {
			lit = (unsigned char)p[i + 1];
			width = 2;
		} else if (c >= 0x80 || strchr(".[]()|*+?{}^$\\", c)) {
			break;
		}
		if (p[i + width] == '?' || p[i + width] == '*' || p[i + width] == '{')
			break;
		out[n++] = (char)lit;
		if (p[i + width] == '+')
			break;
		i += width;
	}
	return n;
}
