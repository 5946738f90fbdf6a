/*
 * Whether the spool's file system keeps a file's data ahead of its size
 * across a crash: the ground for the rename-first commit (spool_fs.c).
 */
#ifndef DECORUM_QUEUE_SPOOL_FS_H
#define DECORUM_QUEUE_SPOOL_FS_H

#include <stdbool.h>
#include <stddef.h>

/* For the file system of the open fd; why names it (for the log). */
bool spool_fs_keeps_data_order(int fd, char *why, size_t whylen);

/* The judgement from what the above looks up: statfs's f_type, and for
 * ext4 its options file (NULL when it could not be read).  No I/O. */
bool spool_fs_judge(unsigned long f_type, const char *ext4_options,
    char *why, size_t whylen);

#endif
