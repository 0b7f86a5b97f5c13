/*
 * idmap.h: a map from 64-bit ids to pointers (chained hash table that
 * grows). Used to find sessions, desks and conversations by id.
 * Not thread-safe: one owner thread.
 */
#ifndef GW_IDMAP_H
#define GW_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap;

struct idmap *idmap_new(void);
/* Frees the map, not the values. */
void idmap_free(struct idmap *m);
void *idmap_get(const struct idmap *m, uint64_t key);
/* Sets key to value (replacing any); value must not be NULL. */
void idmap_put(struct idmap *m, uint64_t key, void *value);
/* Removes key; returns its value or NULL. */
void *idmap_del(struct idmap *m, uint64_t key);
size_t idmap_count(const struct idmap *m);
/* Calls fn for each entry; fn must not change the map. */
void idmap_each(const struct idmap *m,
                void (*fn)(void *arg, uint64_t key, void *value), void *arg);

#endif
