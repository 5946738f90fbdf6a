/*
 * What the spool's file system promises across a crash, for the commit's
 * order (spool.c, docs/queue.md "The commit").
 *
 * A commit that renames its envelope into queue/ before its fsyncs lets
 * one journal commit carry the files and the rename.  A crash before
 * those fsyncs end may then leave queue/<id> whose data is not all on
 * disk, and the queue manager trusts such a message only if data/<id>
 * has the size its envelope's L record says.  That test means something
 * only where a file never shows its new size over blocks not yet
 * written:
 *   - ext4 with a journal in data=ordered or data=journal mode (its
 *     default): the size is committed only with the data it covers;
 *   - XFS: the on-disk size moves only when the write has completed;
 *   - btrfs: copy-on-write, data before the metadata pointing at it.
 * ext4 in data=writeback mode or without a journal, and every file
 * system not named, get the fsync-first order, whose crash rules need
 * nothing but fsync.
 *
 * ext4's mode is read from /proc/fs/ext4/<device>/options (the device's
 * name from /sys/dev/block/<major>:<minor>), which lists every option in
 * force, defaults included; mountinfo shows only what differs from them.
 */
#include "queue/spool_fs.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

/* The options file is a few hundred octets. */
#define EXT4_OPTIONS_MAX	4096

/* The line "word" in text, one option per line. */
static bool
has_line(const char *text, const char *word)
{
	size_t n = strlen(word);
	const char *p = text;

	while ((p = strstr(p, word)) != NULL) {
		if ((p == text || p[-1] == '\n') &&
		    (p[n] == '\n' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

bool
spool_fs_judge(unsigned long f_type, const char *ext4_options, char *why,
    size_t whylen)
{
	switch (f_type) {
	case XFS_SUPER_MAGIC:
		snprintf(why, whylen, "xfs");
		return true;
	case BTRFS_SUPER_MAGIC:
		snprintf(why, whylen, "btrfs");
		return true;
	case EXT4_SUPER_MAGIC:
		break;
	default:
		snprintf(why, whylen, "file system type 0x%lx not known to "
		    "keep data ahead of size", f_type);
		return false;
	}
	if (ext4_options == NULL) {
		snprintf(why, whylen, "ext4 of unknown data mode");
		return false;
	}
	if (has_line(ext4_options, "data=ordered") ||
	    has_line(ext4_options, "data=journal")) {
		snprintf(why, whylen, "ext4 %s", has_line(ext4_options,
		    "data=ordered") ? "data=ordered" : "data=journal");
		return true;
	}
	snprintf(why, whylen, "ext4 %s", has_line(ext4_options,
	    "data=writeback") ? "data=writeback" : "without a journal");
	return false;
}

/* /proc/fs/ext4/<name>/options of the device dev into out; -1 if none. */
static int
ext4_options(dev_t dev, char *out, size_t outlen)
{
	char link[64], target[PATH_MAX], path[PATH_MAX];
	const char *name;
	ssize_t n;
	int fd;

	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(dev),
	    minor(dev));
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return -1;
	target[n] = '\0';
	name = strrchr(target, '/');
	name = name != NULL ? name + 1 : target;
	if (snprintf(path, sizeof(path), "/proc/fs/ext4/%s/options", name) >=
	    (int)sizeof(path))
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, out, outlen - 1);
	close(fd);
	if (n <= 0)
		return -1;
	out[n] = '\0';
	return 0;
}

bool
spool_fs_keeps_data_order(int fd, char *why, size_t whylen)
{
	char options[EXT4_OPTIONS_MAX];
	struct statfs fs;
	struct stat st;

	if (fstatfs(fd, &fs) < 0 || fstat(fd, &st) < 0) {
		snprintf(why, whylen, "file system not known");
		return false;
	}
	return spool_fs_judge((unsigned long)fs.f_type,
	    (unsigned long)fs.f_type == EXT4_SUPER_MAGIC &&
	    ext4_options(st.st_dev, options, sizeof(options)) == 0
	    ? options : NULL, why, whylen);
}
