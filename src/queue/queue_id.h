/*
 * Queue identifiers: unique across processes and restarts (random digits
 * keep them apart even when the clock steps back), sortable by arrival
 * (within one clock), made of [0-9A-Za-z] only, so they are safe as file
 * names and as log field values.
 */
#ifndef DECORUM_QUEUE_QUEUE_ID_H
#define DECORUM_QUEUE_QUEUE_ID_H

#include <stdbool.h>

#include "common/bounds.h"

/* Length of every id we generate (fixed width keeps them sortable). */
#define QUEUE_ID_LEN 24

/* Fills out (QUEUE_ID_MAX bytes) with a fresh id.  Thread-safe. */
void queue_id_new(char out[QUEUE_ID_MAX]);
/* Is s a plausible queue id: 1..QUEUE_ID_MAX-1 of [0-9A-Za-z]?  Used on
 * every id read from a directory, a datagram or the command line before
 * it becomes part of a path. */
bool queue_id_valid(const char *s);

#endif
