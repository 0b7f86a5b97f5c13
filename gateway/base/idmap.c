/*
 * idmap.c: see idmap.h. Buckets double when the load passes 1.
 */
#include <stdlib.h>

#include "idmap.h"
#include "xmalloc.h"

struct entry {
	struct entry *next;
	uint64_t key;
	void *value;
};

struct idmap {
	struct entry **b;
	size_t nb, n;
};

static size_t
slot(uint64_t key, size_t nb)
{
	/* Fibonacci hashing spreads sequential ids over the buckets. */
	return (size_t)((key * 11400714819323198485ull) >> 32) & (nb - 1);
}

struct idmap *
idmap_new(void)
{
	struct idmap *m = xcalloc(1, sizeof(*m));

	m->nb = 64;
	m->b = xcalloc(m->nb, sizeof(*m->b));
	return m;
}

void
idmap_free(struct idmap *m)
{
	struct entry *e, *next;
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nb; i++)
		for (e = m->b[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	free(m->b);
	free(m);
}

void *
idmap_get(const struct idmap *m, uint64_t key)
{
	struct entry *e;

	for (e = m->b[slot(key, m->nb)]; e != NULL; e = e->next)
		if (e->key == key)
			return e->value;
	return NULL;
}

static void
grow(struct idmap *m)
{
	struct entry **nbk, *e, *next;
	size_t i, nn = m->nb * 2, s;

	nbk = xcalloc(nn, sizeof(*nbk));
	for (i = 0; i < m->nb; i++)
		for (e = m->b[i]; e != NULL; e = next) {
			next = e->next;
			s = slot(e->key, nn);
			e->next = nbk[s];
			nbk[s] = e;
		}
	free(m->b);
	m->b = nbk;
	m->nb = nn;
}

void
idmap_put(struct idmap *m, uint64_t key, void *value)
{
	struct entry *e;
	size_t s = slot(key, m->nb);

	for (e = m->b[s]; e != NULL; e = e->next)
		if (e->key == key) {
			e->value = value;
			return;
		}
	e = xmalloc(sizeof(*e));
	e->key = key;
	e->value = value;
	e->next = m->b[s];
	m->b[s] = e;
	if (++m->n > m->nb)
		grow(m);
}

void *
idmap_del(struct idmap *m, uint64_t key)
{
	struct entry **p = &m->b[slot(key, m->nb)], *e;
	void *v;

	while ((e = *p) != NULL && e->key != key)
		p = &e->next;
	if (e == NULL)
		return NULL;
	*p = e->next;
	v = e->value;
	free(e);
	m->n--;
	return v;
}

size_t
idmap_count(const struct idmap *m)
{
	return m->n;
}

void
idmap_each(const struct idmap *m,
           void (*fn)(void *arg, uint64_t key, void *value), void *arg)
{
	struct entry *e;
	size_t i;

	for (i = 0; i < m->nb; i++)
		for (e = m->b[i]; e != NULL; e = e->next)
			fn(arg, e->key, e->value);
}
