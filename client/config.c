/*
 * ~/.config/vmsim/config (or $XDG_CONFIG_HOME/vmsim/config): "key = value" lines for
 * server, token and machine, written by `vmsimctl use` and `vmsimctl login`. Flags and
 * environment variables win over it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"

int ctl_config_path(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	if (xdg && *xdg)
		return snprintf(buf, len, "%s/vmsim/config", xdg) < (int)len ? 0 : -1;
	if (home && *home)
		return snprintf(buf, len, "%s/.config/vmsim/config", home) < (int)len ? 0 : -1;
	return -1;
}

/* Splits "key = value" in place. Returns 0 for a key/value line, -1 for blank or comment. */
static int config_line(char *l, char **key, char **value)
{
	l[strcspn(l, "\r\n")] = '\0';
	while (*l == ' ' || *l == '\t')
		l++;
	if (!*l || *l == '#')
		return -1;
	char *eq = strchr(l, '=');
	if (!eq)
		return -1;
	char *k_end = eq;
	while (k_end > l && (k_end[-1] == ' ' || k_end[-1] == '\t'))
		k_end--;
	*k_end = '\0';
	char *v = eq + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	size_t n = strlen(v);
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		v[--n] = '\0';
	*key = l;
	*value = v;
	return 0;
}

void ctl_config_load(struct ctl *c, int *have_server, int *have_token, int *have_machine)
{
	char path[1024], line[1024];
	if (ctl_config_path(path, sizeof(path)))
		return;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *k, *v;
		if (config_line(line, &k, &v))
			continue;
		if (strcmp(k, "server") == 0 && !*have_server) {
			snprintf(c->server, sizeof(c->server), "%s", v);
			*have_server = 1;
		} else if (strcmp(k, "token") == 0 && !*have_token) {
			snprintf(c->token, sizeof(c->token), "%s", v);
			*have_token = 1;
		} else if (strcmp(k, "machine") == 0 && !*have_machine) {
			snprintf(c->machine, sizeof(c->machine), "%s", v);
			*have_machine = 1;
		}
	}
	fclose(f);
}

static int mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int rc = mkdir(path, 0700);
		*p = '/';
		if (rc && errno != EEXIST)
			return -1;
	}
	return 0;
}

int ctl_config_set(const char *key, const char *value)
{
	char path[1024], tmp[1100], line[1024], copy[1024];
	if (ctl_config_path(path, sizeof(path))) {
		fprintf(stderr, "vmsimctl: no HOME to keep the config in\n");
		return -1;
	}
	if (mkdirs(path)) {
		fprintf(stderr, "vmsimctl: cannot create the directory of %s: %s\n", path,
		        strerror(errno));
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *out = fopen(tmp, "w");
	if (!out) {
		fprintf(stderr, "vmsimctl: cannot write %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	fchmod(fileno(out), 0600); /* it may hold a token */
	FILE *in = fopen(path, "r");
	int done = 0;
	while (in && fgets(line, sizeof(line), in)) {
		char *k, *v;
		snprintf(copy, sizeof(copy), "%s", line);
		if (config_line(copy, &k, &v) == 0 && strcmp(k, key) == 0) {
			if (!done && value)
				fprintf(out, "%s = %s\n", key, value);
			done = 1;
			continue;
		}
		fputs(line, out);
		if (line[strlen(line) - 1] != '\n')
			fputc('\n', out);
	}
	if (in)
		fclose(in);
	if (!done && value)
		fprintf(out, "%s = %s\n", key, value);
	if (fclose(out) || rename(tmp, path)) {
		fprintf(stderr, "vmsimctl: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}
