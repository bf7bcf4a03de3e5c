/*
 * vmsimctl: the command-line client of vmsimd. Global flags (getopt_long), then the
 * environment and ~/.config/vmsim/config defaults, then one command. Exit codes: 0 ok, 1 the
 * server refused, 2 usage, 3 cannot connect (ctl.h).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static int parse_timeout(const char *s, long *ms)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || v < 0)
		return -1;
	if (strcmp(end, "ms") == 0)
		*ms = (long)v;
	else if (!*end || strcmp(end, "s") == 0)
		*ms = (long)(v * 1000);
	else
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	static struct ctl c;
	int have_server = 0, have_token = 0, have_machine = 0;
	static const struct option opts[] = {
	    {"server", required_argument, NULL, 's'},
	    {"token", required_argument, NULL, 't'},
	    {"machine", required_argument, NULL, 'm'},
	    {"output", required_argument, NULL, 'o'},
	    {"explain", no_argument, NULL, 'x'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	int ch;
	/* "+": stop at the command word; what follows belongs to the command. */
	while ((ch = getopt_long(argc, argv, "+s:t:m:o:xh", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			snprintf(c.server, sizeof(c.server), "%s", optarg);
			have_server = 1;
			break;
		case 't':
			snprintf(c.token, sizeof(c.token), "%s", optarg);
			have_token = 1;
			break;
		case 'm':
			snprintf(c.machine, sizeof(c.machine), "%s", optarg);
			have_machine = 1;
			break;
		case 'o':
			if (strcmp(optarg, "table") == 0 || strcmp(optarg, "wide") == 0)
				c.output = CTL_OUT_TABLE;
			else if (strcmp(optarg, "text") == 0)
				c.output = CTL_OUT_TEXT;
			else if (strcmp(optarg, "json") == 0)
				c.output = CTL_OUT_JSON;
			else {
				fprintf(stderr, "vmsimctl: bad -o '%s': use table, text or json\n",
				        optarg);
				return CTL_EUSAGE;
			}
			break;
		case 'x':
			c.explain = 1;
			break;
		case 'T':
			if (parse_timeout(optarg, &c.timeout_ms)) {
				fprintf(stderr,
				        "vmsimctl: bad --timeout '%s': use seconds like 5 or "
				        "2.5, or 500ms\n",
				        optarg);
				return CTL_EUSAGE;
			}
			break;
		case 'h':
			ctl_usage(stdout);
			return CTL_OK;
		case 'V':
			printf("vmsimctl 1 (API vmsim.v1)\n");
			return CTL_OK;
		default:
			fprintf(stderr, "hint: `vmsimctl --help` lists the global flags\n");
			return CTL_EUSAGE;
		}
	}
	const char *env;
	if (!have_server && (env = getenv("VMSIM_SERVER")) && *env) {
		snprintf(c.server, sizeof(c.server), "%s", env);
		have_server = 1;
	}
	if (!have_token && (env = getenv("VMSIM_TOKEN")) && *env) {
		snprintf(c.token, sizeof(c.token), "%s", env);
		have_token = 1;
	}
	if (!have_machine && (env = getenv("VMSIM_MACHINE")) && *env) {
		snprintf(c.machine, sizeof(c.machine), "%s", env);
		have_machine = 1;
	}
	ctl_config_load(&c, &have_server, &have_token, &have_machine);
	if (!have_server)
		snprintf(c.server, sizeof(c.server), "http://127.0.0.1:8080");

	if (optind >= argc) {
		ctl_usage(stderr);
		return CTL_EUSAGE;
	}
	int rc = ctl_dispatch(&c, argc - optind, argv + optind);
	ctl_transport_free(&c);
	return rc;
}
