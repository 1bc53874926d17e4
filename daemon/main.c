/* llmfbd: main() only, so that everything else can be tested. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl_proto.h"
#include "daemon.h"
#include "log.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: llmfbd [-dnV] [-c file]\n"
	    "  -c file  configuration (default " CONFIG_DEFAULT_PATH ")\n"
	    "  -n       check the configuration and exit\n"
	    "  -d       log debug messages\n"
	    "  -V       print the version and exit\n");
}

int
main(int argc, char **argv)
{
	const char *path = CONFIG_DEFAULT_PATH;
	char err[CONFIG_ERR_MAX];
	struct daemon d = { 0 };
	struct config *cfg;
	int ch, check = 0, level = LOG_LVL_INFO, r;

	while ((ch = getopt(argc, argv, "c:dnVh")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			level = LOG_LVL_DEBUG;
			break;
		case 'n':
			check = 1;
			break;
		case 'V':
			printf("llmfbd %s\n", LLMFB_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init("llmfbd", level, false);
	if ((cfg = config_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "llmfbd: %s\n", err);
		return 1;
	}
	if (check) {
		printf("%s: configuration OK (%zu providers, %zu targets, "
		    "%zu routes)\n", path, cfg->nproviders, cfg->ntargets,
		    cfg->nroutes);
		config_unref(cfg);
		return 0;
	}
	r = daemon_start(&d, cfg);
	if (r == 0)
		r = daemon_run(&d);
	daemon_free(&d);
	return r == 0 ? 0 : 1;
}
