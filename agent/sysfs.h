/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Finding the cgroup v2 hierarchy and making sure a bpffs is there for the pins. */
#ifndef SHUNT_SYSFS_H
#define SHUNT_SYSFS_H

#include <stddef.h>

/*
 * Finds where cgroup v2 is mounted, from /proc/mounts (/sys/fs/cgroup on a
 * unified host, /sys/fs/cgroup/unified on a hybrid one). Writes the path to
 * @buf; returns 0, -ENOENT when there is no cgroup2 mount, or -errno.
 */
int cgroup2_mount_path(char *buf, size_t len);

/*
 * Opens the cgroup directory @arg: an absolute path, which must be on a
 * cgroup2 filesystem, or a path relative to the cgroup2 mount. Writes the
 * resolved path to @resolved. Returns an O_RDONLY directory fd, or -errno.
 */
int cgroup_open(const char *arg, char *resolved, size_t len);

/* Opens the cgroup v2 directory this process runs in, as cgroup_open() does. */
int cgroup_open_self(char *resolved, size_t len);

/*
 * Makes @pin_dir a directory (mode 0700) on a bpffs, mounting bpffs on its
 * parent when the parent is /sys/fs/bpf and nothing is mounted there yet.
 * 0 or -errno, with the reason logged.
 */
int bpffs_prepare(const char *pin_dir);

#endif /* SHUNT_SYSFS_H */
