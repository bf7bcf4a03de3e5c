/*
 * Lower bound by id over the tables sorted by their leading int64_t id (common.h).
 */
#include <string.h>

#include "common.h"

static int64_t id_at(const void *base, size_t size, size_t i)
{
	int64_t id;
	memcpy(&id, (const char *)base + i * size, sizeof(id));
	return id;
}

size_t id_lower_bound(const void *base, size_t n, size_t size, int64_t id)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (id_at(base, size, mid) < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}
