// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kern_fill.h"

bool kern_fd_is(int fd, const char *kind)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return !strncmp(target, "anon_inode:", 11) && !strcmp(target + 11, kind);
}

long kern_map_entries(int fd, const struct bpf_map_info *info)
{
	char *key, *next;
	long n = 0;

	if (info->type == BPF_MAP_TYPE_ARRAY || info->type == BPF_MAP_TYPE_PERCPU_ARRAY)
		return info->max_entries;
	if (info->type == BPF_MAP_TYPE_SK_STORAGE || !info->key_size)
		return -1;
	key = calloc(2, info->key_size);
	if (!key)
		return -1;
	next = key + info->key_size;
	/* A key deleted under the walk restarts it: never count past max_entries. */
	while (n < (long)info->max_entries && !bpf_map_get_next_key(fd, n ? key : NULL, next)) {
		memcpy(key, next, info->key_size);
		n++;
	}
	free(key);
	return n;
}

/* The fill of the map pinned at @dir/@name into @f; false when it is not a map. */
static bool fill_one(const char *dir, const char *name, struct kern_fill *f)
{
	struct bpf_map_info info = {0};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	bool ok = false;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return false;
	if (kern_fd_is(fd, "bpf-map") && !bpf_obj_get_info_by_fd(fd, &info, &len)) {
		snprintf(f->name, sizeof(f->name), "%s", name);
		f->type = info.type;
		f->max_entries = info.max_entries;
		f->entries = kern_map_entries(fd, &info);
		ok = true;
	}
	close(fd);
	return ok;
}

int kern_fill_dir(const char *pin_dir, void (*fn)(const struct kern_fill *f, void *arg), void *arg)
{
	struct dirent **ents;
	struct kern_fill f;
	int n;

	n = scandir(pin_dir, &ents, NULL, alphasort);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.' && fill_one(pin_dir, ents[i]->d_name, &f))
			fn(&f, arg);
		free(ents[i]);
	}
	free(ents);
	return 0;
}
