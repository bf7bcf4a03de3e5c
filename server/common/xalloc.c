/*
 * Host allocation that never returns NULL (common.h): vmsimd cannot do anything useful once
 * the host is out of memory, so it says so and aborts, as Redis's zmalloc does, instead of
 * threading a failure through every caller.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static void out_of_memory(size_t n)
{
	fprintf(stderr, "vmsimd: out of host memory allocating %zu bytes\n", n);
	fflush(stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		out_of_memory(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		out_of_memory(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		out_of_memory(n);
	return q;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}
