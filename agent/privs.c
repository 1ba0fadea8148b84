// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Per-thread capability drop with the raw capget/capset syscalls (libcap would
 * add a dependency for four system calls).
 */
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include "log.h"
#include "privs.h"

#ifndef CAP_BPF
#define CAP_BPF 39 /* Linux 5.8; older kernels check CAP_SYS_ADMIN instead */
#endif
#define CAP_WORDS  _LINUX_CAPABILITY_U32S_3
#define CAP_BIT(c) (1ull << (c))

uint64_t privs_keep_mask(enum privs_role role)
{
	switch (role) {
	case PRIVS_MAIN:
		return CAP_BIT(CAP_BPF) | CAP_BIT(CAP_SYS_ADMIN) | CAP_BIT(CAP_NET_ADMIN) |
		       CAP_BIT(CAP_NET_BIND_SERVICE);
	case PRIVS_WORKER:
		return CAP_BIT(CAP_BPF) | CAP_BIT(CAP_NET_ADMIN) | CAP_BIT(CAP_NET_BIND_SERVICE);
	case PRIVS_NET:
		return CAP_BIT(CAP_NET_ADMIN);
	case PRIVS_NONE:
		break;
	}
	return 0;
}

static int cap_get(struct __user_cap_data_struct data[CAP_WORDS])
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};

	return syscall(SYS_capget, &hdr, data) ? -errno : 0;
}

uint64_t privs_effective(void)
{
	struct __user_cap_data_struct data[CAP_WORDS];

	if (cap_get(data))
		return 0;
	return (uint64_t)data[1].effective << 32 | data[0].effective;
}

/* The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap), probed. */
static int cap_last(void)
{
	int c = 63;

	while (c > 0 && prctl(PR_CAPBSET_READ, (unsigned long)c, 0, 0, 0) < 0)
		c--;
	return c;
}

int privs_drop(enum privs_role role)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[CAP_WORDS];
	uint64_t keep = privs_keep_mask(role);
	int err, last, bset_err = 0;

	err = cap_get(data);
	if (err)
		goto fail;
	/* The bounding set first: dropping from it needs CAP_SETPCAP, which goes next. */
	last = cap_last();
	for (int c = 0; c <= last; c++)
		if (!(keep & CAP_BIT(c)) &&
		    prctl(PR_CAPBSET_READ, (unsigned long)c, 0, 0, 0) == 1 &&
		    prctl(PR_CAPBSET_DROP, (unsigned long)c, 0, 0, 0))
			bset_err = errno;
	if (bset_err)
		log_debug("privs: the bounding set stays as it was (%s)", strerror(bset_err));
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	for (int w = 0; w < CAP_WORDS; w++) {
		uint32_t k = (uint32_t)(keep >> (32 * w));

		data[w].effective &= k;
		data[w].permitted &= k;
		data[w].inheritable = 0;
	}
	if (syscall(SYS_capset, &hdr, data)) {
		err = -errno;
		goto fail;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		err = -errno;
		goto fail;
	}
	return 0;
fail:
	log_error("privs: cannot drop capabilities: %s", strerror(-err));
	return err;
}
