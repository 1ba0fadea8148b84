// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <mntent.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "log.h"
#include "sysfs.h"

#define BPFFS_DEFAULT "/sys/fs/bpf"

int cgroup2_mount_path(char *buf, size_t len)
{
	struct mntent *ent;
	int err = -ENOENT;
	FILE *f;

	f = setmntent("/proc/mounts", "r");
	if (!f)
		return -errno;
	while ((ent = getmntent(f))) {
		if (strcmp(ent->mnt_type, "cgroup2"))
			continue;
		if (strlen(ent->mnt_dir) >= len) {
			err = -ENAMETOOLONG;
			break;
		}
		strcpy(buf, ent->mnt_dir);
		err = 0;
		break;
	}
	endmntent(f);
	return err;
}

static int fs_magic_is(const char *path, long magic)
{
	struct statfs st;

	if (statfs(path, &st))
		return -errno;
	return st.f_type == magic;
}

int cgroup_open(const char *arg, char *resolved, size_t len)
{
	char mnt[PATH_MAX];
	int fd, n, err;

	if (arg[0] == '/') {
		n = snprintf(resolved, len, "%s", arg);
	} else {
		err = cgroup2_mount_path(mnt, sizeof(mnt));
		if (err) {
			log_error("cgroup: no cgroup2 filesystem in /proc/mounts: %s",
				  strerror(-err));
			return err;
		}
		n = snprintf(resolved, len, "%s/%s", mnt, arg);
	}
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;

	err = fs_magic_is(resolved, CGROUP2_SUPER_MAGIC);
	if (err < 0) {
		log_error("cgroup: %s: %s", resolved, strerror(-err));
		return err;
	}
	if (!err) {
		log_error("cgroup: %s is not on a cgroup v2 filesystem (is it a v1 controller "
			  "directory?)",
			  resolved);
		return -EINVAL;
	}
	fd = open(resolved, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		log_error("cgroup: cannot open %s: %s", resolved, strerror(-err));
		return err;
	}
	return fd;
}

int bpffs_prepare(const char *pin_dir)
{
	char parent_buf[PATH_MAX];
	const char *parent;
	int on_bpffs;

	if (strlen(pin_dir) >= sizeof(parent_buf))
		return -ENAMETOOLONG;
	strcpy(parent_buf, pin_dir);
	parent = dirname(parent_buf);

	on_bpffs = fs_magic_is(parent, BPF_FS_MAGIC);
	if (on_bpffs == 0 && !strcmp(parent, BPFFS_DEFAULT)) {
		/* A node that booted without bpffs (Kmesh users hit this): mount it. */
		if (mount("bpf", BPFFS_DEFAULT, "bpf", 0, "mode=0700")) {
			log_error("bpffs: cannot mount bpffs on %s: %s", BPFFS_DEFAULT,
				  strerror(errno));
			return -errno;
		}
		log_info("bpffs: mounted on %s", BPFFS_DEFAULT);
		on_bpffs = 1;
	}
	if (on_bpffs < 0) {
		log_error("bpffs: %s: %s", parent, strerror(-on_bpffs));
		return on_bpffs;
	}
	if (!on_bpffs) {
		log_error("bpffs: %s is not on a bpf filesystem (mount -t bpf bpf %s)", parent,
			  parent);
		return -EINVAL;
	}
	if (mkdir(pin_dir, 0700) && errno != EEXIST) {
		log_error("bpffs: cannot create %s: %s", pin_dir, strerror(errno));
		return -errno;
	}
	return 0;
}

int cgroup_open_self(char *resolved, size_t len)
{
	char line[PATH_MAX + 8], *nl;
	FILE *f = fopen("/proc/self/cgroup", "re");
	int fd = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::/", 4))
			continue;
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		/* Relative to the cgroup2 mount: "/" is the mount itself. */
		fd = cgroup_open(line[4] ? line + 4 : ".", resolved, len);
		break;
	}
	fclose(f);
	if (fd == -ENOENT)
		log_error("cgroup: no cgroup v2 entry in /proc/self/cgroup");
	return fd;
}
