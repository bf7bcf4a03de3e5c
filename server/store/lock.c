/*
 * The database stays the database. One server at a time: an exclusive flock(2) on "<db>.lock",
 * which names its holder (pid, host, since when) for the one refused; the kernel drops it
 * when the holder dies, kill -9 included. And the file under the path is still the one open:
 * before every commit the writer compares the path's device and inode with the ones it
 * opened, so writes into a deleted or replaced file are refused instead of acknowledged into
 * a file nobody will open again.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A database the server cannot write would take every change and refuse to save it: say so
 * at start instead (a missing file is created, so its folder must be writable). */
static int writable(const char *db, char *err, size_t el)
{
	if (access(db, F_OK) == 0 ? access(db, W_OK) == 0 : 1)
		return 0;
	snprintf(err, el, "cannot write %s: %s (the server needs to write its database)", db,
	         strerror(errno));
	return -1;
}

int store_lock(struct store *s, char *err, size_t el)
{
	if (writable(s->path, err, el))
		return -1;
	char path[sizeof(s->path) + 8];
	snprintf(path, sizeof(path), "%s.lock", s->path);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, el, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		char holder[200] = "";
		ssize_t n = pread(fd, holder, sizeof(holder) - 1, 0);
		holder[n > 0 ? n : 0] = 0;
		holder[strcspn(holder, "\n")] = 0;
		snprintf(err, el, "%s is in use by another vmsimd (%s); one server per database",
		         s->path, *holder ? holder : "holder unknown");
		close(fd);
		return -1;
	}
	char host[128] = "?", since[32], line[256];
	gethostname(host, sizeof(host) - 1);
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
	int len = snprintf(line, sizeof(line), "pid %ld on host %s since %s\n", (long)getpid(),
	                   host, since);
	if (ftruncate(fd, 0) || pwrite(fd, line, (size_t)len, 0) != len) {
		snprintf(err, el, "cannot write %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	s->lock_fd = fd;
	return 0;
}

void store_unlock(struct store *s)
{
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* drops the flock */
	s->lock_fd = -1;
}

int store_remember_file(struct store *s, char *err, size_t el)
{
	struct stat st;
	if (stat(s->path, &st)) {
		snprintf(err, el, "cannot stat %s: %s", s->path, strerror(errno));
		return -1;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	return 0;
}

int store_file_changed(const struct store *s, char *why, size_t len)
{
	struct stat st;
	if (stat(s->path, &st)) {
		snprintf(why, len, "the database file %s is gone (%s)", s->path, strerror(errno));
		return 1;
	}
	if (st.st_dev != s->dev || st.st_ino != s->ino) {
		snprintf(why, len, "the database file %s was replaced by another file", s->path);
		return 1;
	}
	return 0;
}
