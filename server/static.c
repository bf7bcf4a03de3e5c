/*
 * Static files for the dashboard. The URL path is percent-decoded once, then rejected if it
 * is absolute, holds a "." or ".." segment, a backslash or a NUL; the joined path is then
 * resolved with realpath() and must still lie under the web root (no symlink escapes).
 * Files are small and read whole; a weak ETag (size + mtime) answers If-None-Match with 304.
 */
#include "static.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATIC_MAX_FILE (16u << 20)

static const struct {
	const char *ext;
	const char *type;
} mime[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
    {".md", "text/markdown; charset=utf-8"},
    {".woff2", "font/woff2"},
    {".map", "application/json"},
};

static const char *mime_type(const char *path)
{
	const char *dot = strrchr(path, '.');
	if (dot)
		for (size_t i = 0; i < sizeof(mime) / sizeof(mime[0]); i++)
			if (!strcasecmp(dot, mime[i].ext))
				return mime[i].type;
	return "application/octet-stream";
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes src into dst (dstlen bytes); -1 on a bad escape, NUL, or overflow. */
static int url_decode(const char *src, char *dst, size_t dstlen)
{
	size_t n = 0;
	for (; *src; src++) {
		int c = (unsigned char)*src;
		if (c == '%') {
			int hi = hexval(src[1]), lo = hi < 0 ? -1 : hexval(src[2]);
			if (lo < 0)
				return -1;
			c = hi * 16 + lo;
			src += 2;
		}
		if (c == 0 || n + 1 >= dstlen)
			return -1;
		dst[n++] = (char)c;
	}
	dst[n] = 0;
	return 0;
}

/* A relative path of plain names: no "", ".", ".." segments, no backslashes. */
static int safe_relative(const char *p)
{
	if (!*p || *p == '/' || strchr(p, '\\'))
		return 0;
	while (*p) {
		size_t n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		p += n;
		if (*p == '/')
			p++;
	}
	return 1;
}

/*
 * If-None-Match (RFC 9110 13.1.2): "*" matches any current file, and a listed entity tag
 * matches by the weak comparison GET uses: the opaque tags equal, "W/" ignored on either side.
 */
static int none_match(const char *list, const char *etag)
{
	const char *opaque = !strncmp(etag, "W/", 2) ? etag + 2 : etag;
	size_t olen = strlen(opaque);
	const char *p = list;
	for (;;) {
		p += strspn(p, " \t,");
		if (!*p)
			return 0;
		if (*p == '*')
			return 1;
		if (!strncmp(p, "W/", 2))
			p += 2;
		if (*p != '"')
			return 0; /* not a list of entity tags: no match */
		const char *close = strchr(p + 1, '"');
		if (!close)
			return 0;
		if ((size_t)(close + 1 - p) == olen && !memcmp(p, opaque, olen))
			return 1;
		p = close + 1;
	}
}

static void not_found(struct srv_request *r)
{
	srv_respond(r, 404, "text/plain", NULL, "not found\n", 10);
}

void static_serve(struct srv *s, struct srv_request *r, const char *rel)
{
	char dec[1024], joined[PATH_MAX + 1100], real[PATH_MAX], root[PATH_MAX];
	if (url_decode(rel, dec, sizeof(dec)) || !safe_relative(dec)) {
		srv_log(s, LOG_WARN, "%s refused static path %s", r->who.peer, r->url);
		srv_respond(r, 400, "text/plain", NULL, "bad path\n", 9);
		return;
	}
	if (!realpath(s->cfg.web_dir, root)) {
		not_found(r);
		return;
	}
	snprintf(joined, sizeof(joined), "%s/%s", root, dec);
	size_t rl = strlen(root);
	if (!realpath(joined, real) || strncmp(real, root, rl) || real[rl] != '/') {
		not_found(r);
		return;
	}
	int fd = open(real, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > STATIC_MAX_FILE) {
		if (fd >= 0)
			close(fd);
		not_found(r);
		return;
	}
	char etag[64], extra[256], lm[64];
	snprintf(etag, sizeof(etag), "W/\"%llx-%llx\"", (unsigned long long)st.st_size,
	         (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
	             (unsigned long long)st.st_mtim.tv_nsec);
	struct tm tm;
	gmtime_r(&st.st_mtim.tv_sec, &tm);
	strftime(lm, sizeof(lm), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(extra, sizeof(extra),
	         "ETag: %s\r\nLast-Modified: %s\r\nCache-Control: no-cache\r\n"
	         "X-Content-Type-Options: nosniff\r\n",
	         etag, lm);
	const char *inm = srv_header(r, "If-None-Match");
	if (inm && none_match(inm, etag)) {
		close(fd);
		srv_respond(r, 304, mime_type(real), extra, NULL, 0);
		return;
	}
	size_t size = (size_t)st.st_size;
	if (r->head) { /* the headers of GET, its Content-Length too, no body */
		close(fd);
		srv_respond(r, 200, mime_type(real), extra, NULL, size);
		return;
	}
	char *buf = malloc(size ? size : 1);
	size_t got = 0;
	while (buf && got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!buf || got != size) {
		free(buf);
		srv_respond(r, 500, "text/plain", NULL, "read error\n", 11);
		return;
	}
	srv_respond(r, 200, mime_type(real), extra, buf, size);
	free(buf);
}
