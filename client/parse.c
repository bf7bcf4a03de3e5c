/*
 * Argument words -> numbers: sizes with K/M/G suffixes, hex addresses, protections, and the
 * splitting of trace and shell lines into words. No I/O; every function says no with -1.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

int ctl_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int ctl_parse_u32(const char *s, uint32_t *out)
{
	uint64_t v;
	if (ctl_parse_u64(s, &v) || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int ctl_parse_i32(const char *s, int32_t *out)
{
	char *end;
	if (!s || !*s || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	long long v = strtoll(s, &end, 0);
	if (errno || *end || v < INT32_MIN || v > INT32_MAX)
		return -1;
	*out = (int32_t)v;
	return 0;
}

int ctl_parse_addr(const char *s, uint64_t *out)
{
	return ctl_parse_u64(s, out);
}

/* Binary multiples, as the kernel and dd mean them: K = 1024. */
int ctl_parse_size(const char *s, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	unsigned shift = 0;
	switch (toupper((unsigned char)*end)) {
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	case 'B':
	case '\0':
		break;
	default:
		return -1;
	}
	if (shift) {
		end++;
		if (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0 || strcmp(end, "ib") == 0 ||
		    strcmp(end, "b") == 0)
			end += strlen(end);
	} else if (toupper((unsigned char)*end) == 'B') {
		end++;
	}
	if (*end)
		return -1;
	if (shift && v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

void ctl_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int u = -1;
	uint64_t v = bytes;
	while (v && v % 1024 == 0 && u < 3) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%" PRIu64, bytes);
	else
		snprintf(buf, len, "%" PRIu64 "%c", v, units[u]);
}

/* PROT_READ 0x1, PROT_WRITE 0x2, PROT_EXEC 0x4 (mmap(2)). */
int ctl_parse_prot(const char *s, uint32_t *out)
{
	uint32_t prot = 0;
	if (strcmp(s, "none") == 0 || strcmp(s, "---") == 0) {
		*out = 0;
		return 0;
	}
	if (!*s || strlen(s) > 4)
		return -1;
	for (const char *p = s; *p; p++) {
		uint32_t bit;
		switch (*p) {
		case 'r':
			bit = 0x1;
			break;
		case 'w':
			bit = 0x2;
			break;
		case 'x':
			bit = 0x4;
			break;
		case '-':
			continue;
		default:
			return -1;
		}
		if (prot & bit)
			return -1;
		prot |= bit;
	}
	*out = prot;
	return 0;
}

void ctl_format_prot(uint32_t prot, char *buf)
{
	buf[0] = prot & 0x1 ? 'r' : '-';
	buf[1] = prot & 0x2 ? 'w' : '-';
	buf[2] = prot & 0x4 ? 'x' : '-';
	buf[3] = '\0';
}

int ctl_split(char *line, char **argv, int max)
{
	int n = 0;
	char *p = line;
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '#')
			break;
		if (n == max)
			return -1;
		if (*p == '"') {
			/* A quoted word: everything to the closing quote, spaces included. */
			argv[n++] = ++p;
			while (*p && *p != '"')
				p++;
		} else {
			argv[n++] = p;
			while (*p && !isspace((unsigned char)*p))
				p++;
		}
		if (!*p)
			break;
		*p++ = '\0';
	}
	return n;
}
