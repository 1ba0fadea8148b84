// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer: the TLS ClientHello reader, sni_parse(), on any bytes a client
 * might send first. Beyond "no crash, no read past @len": a name found is a
 * lowercased host name; an answer never changes with the bytes after the
 * point it was decided (a prefix answers SNI_MORE or what the whole input
 * answers); and "need" is honest: fewer bytes than it says find no name
 * (SNI_MORE, or an early rejection).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *name)
{
	size_t n = strlen(name);

	if (!n || n > SNI_NAME_MAX || name[0] == '.' || name[n - 1] == '.' || strstr(name, ".."))
		abort();
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[SNI_NAME_MAX + 1], pname[SNI_NAME_MAX + 1];
	enum sni_result r, pr;
	size_t need = 0, pneed = 0, cut;
	uint8_t *copy;

	if (size > SNI_HELLO_MAX + 64)
		return 0;
	/* An exact-size copy: ASan sees any read beyond @len. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	r = sni_parse(copy, size, name, &need);
	if (r == SNI_FOUND)
		check_name(name);
	if (r == SNI_MORE && need <= size)
		abort();
	/* A prefix, at a point the input's last byte picks. */
	cut = size ? copy[size - 1] % size : 0;
	pr = sni_parse(copy, cut, pname, &pneed);
	/* Decided from fewer bytes, the answer must be the one all the bytes give. */
	if (pr != SNI_MORE && (pr != r || (r == SNI_FOUND && strcmp(pname, name))))
		abort();
	if (pr == SNI_MORE && pneed <= cut)
		abort();
	if (pr == SNI_MORE && pneed > cut + 1 && pneed - 1 <= size) {
		/* Fewer bytes than "need": no name yet (a rejection may come early). */
		enum sni_result fr = sni_parse(copy, pneed - 1, pname, NULL);

		if (fr == SNI_FOUND || fr == SNI_NONE)
			abort();
	}
	free(copy);
	return 0;
}
