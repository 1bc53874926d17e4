/* llmfbctl: talk to llmfbd over its control socket.  Connect, send one
 * request, print the reply, exit with a status scripts can trust:
 * 0 success, 1 the daemon said no or could not be reached, 2 usage. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "ctl_client.h"
#include "ctl_proto.h"
#include "util.h"

#define CONTROL_DEFAULT "/run/llmfb/control.sock"

static const char *control_path;
static int json_out;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: llmfbctl [-s socket] [--json] command [argument]\n"
	    "\n"
	    "commands (any unique prefix):\n"
	    "  status         the daemon, its routes and targets, with "
	    "counters\n"
	    "  reload         load the configuration file again\n"
	    "  version        the daemon's version\n"
	    "  trip TARGET    open TARGET's circuit breaker until reset\n"
	    "  reset TARGET   close TARGET's circuit breaker\n"
	    "  events [N]     the latest N calls' records (default 20)\n"
	    "\n"
	    "  -s socket  control socket (default $LLMFB_CONTROL or "
	    CONTROL_DEFAULT ")\n"
	    "  --json     print the daemon's JSON reply as it is\n");
}

/* Run one request; on success *ret_doc holds the parsed JSON reply. */
static int
request(const char *verb, json_t **ret_doc)
{
	struct buf reply;
	json_error_t jerr;
	bool ok;
	int r;

	buf_init(&reply, CTL_REPLY_MAX);
	r = ctl_request(control_path, verb, &reply, &ok);
	if (r < 0) {
		fprintf(stderr, "llmfbctl: %s: %s\n", control_path,
		    r == -EPROTO ? "the daemon's reply is malformed" :
		    strerror(-r));
		buf_free(&reply);
		return 1;
	}
	if (!ok) {
		fprintf(stderr, "llmfbctl: %s: %.*s\n", verb, (int)reply.len,
		    reply.data ? reply.data : "");
		buf_free(&reply);
		return 1;
	}
	*ret_doc = json_loadb(reply.data ? reply.data : "", reply.len, 0,
	    &jerr);
	buf_free(&reply);
	if (*ret_doc == NULL) {
		fprintf(stderr, "llmfbctl: the daemon's reply is not JSON\n");
		return 1;
	}
	return 0;
}

static json_int_t
num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static const char *
str(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : dflt;
}

static void
print_uptime(json_int_t s)
{
	if (s >= 86400)
		printf("%lldd%02lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		printf("%lldh%02lldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		printf("%lldm%02llds", s / 60, s % 60);
	else
		printf("%llds", s);
}

static void
ms_or_dash(char *out, size_t len, json_t *v)
{
	if (json_is_integer(v))
		snprintf(out, len, "%lldms", json_integer_value(v));
	else
		snprintf(out, len, "-");
}

static void
print_status(json_t *st)
{
	json_t *v, *arr;
	size_t i, k;

	printf("llmfbd %s up ", str(st, "version", "?"));
	print_uptime(num(st, "uptime_s"));
	printf(", pid %lld\n", num(st, "pid"));
	printf("config     %s (reloads %lld, refused %lld)\n",
	    str(st, "config", "?"), num(st, "reloads"),
	    num(st, "reload_failures"));
	printf("sockets    data %s, control %s\n", str(st, "listen", "?"),
	    str(st, "control", "?"));
	printf("calls      %lld (in flight %lld, passthrough %lld, rejected "
	    "%lld), clients %lld\n", num(st, "calls"), num(st, "in_flight"),
	    num(st, "passthrough"), num(st, "rejected"), num(st, "clients"));
	printf("intercept ");
	json_array_foreach(json_object_get(st, "intercept"), i, v)
		printf(" %s", json_string_value(v));
	printf("\n\n%-16s %8s %9s %9s %7s  %s\n", "ROUTE", "CALLS",
	    "FALLBACKS", "SAFE-FAIL", "ERRORS", "LADDER");
	arr = json_object_get(st, "routes");
	json_array_foreach(arr, i, v) {
		json_t *t;

		printf("%-16s %8lld %9lld %9lld %7lld  ", str(v, "name", "?"),
		    num(v, "calls"), num(v, "fallbacks"),
		    num(v, "safe_failures"), num(v, "errors_passed_on"));
		json_array_foreach(json_object_get(v, "ladder"), k, t)
			printf("%s%s", k ? " > " : "", json_string_value(t));
		printf("\n");
	}
	printf("\n%-16s %-12s %-10s %-9s %8s %7s %8s %7s %8s %8s %10s  %s\n",
	    "TARGET", "PROVIDER", "DIALECT", "BREAKER", "ATTEMPTS", "SERVED",
	    "AS-FALLB", "FAILED", "TTFT-P95", "TOTAL-P95", "SPEND-USD",
	    "LAST FAILURE");
	arr = json_object_get(st, "targets");
	json_array_foreach(arr, i, v) {
		json_t *lat = json_object_get(v, "latency");
		char ttft[16], total[16];

		ms_or_dash(ttft, sizeof(ttft), json_object_get(lat,
		    "first_token_p95_ms"));
		ms_or_dash(total, sizeof(total), json_object_get(lat,
		    "total_p95_ms"));
		printf("%-16s %-12s %-10s %-9s %8lld %7lld %8lld %7lld %8s %8s "
		    "%10.4f  %s\n",
		    str(v, "name", "?"), str(v, "provider", "?"),
		    str(v, "dialect", "?"),
		    str(json_object_get(v, "breaker"), "state", "?"),
		    num(v, "attempts"), num(v, "served"),
		    num(v, "fallback_served"), num(v, "failures"), ttft, total,
		    json_number_value(json_object_get(v, "spend_usd")),
		    str(v, "last_failure", "-"));
	}
}

static int
cmd_status(const char *arg)
{
	json_t *doc;

	(void)arg;
	if (request(CTL_VERB_STATUS, &doc) != 0)
		return 1;
	if (json_out)
		json_dumpf(doc, stdout, JSON_INDENT(2));
	else
		print_status(doc);
	if (json_out)
		printf("\n");
	json_decref(doc);
	return 0;
}

static int
cmd_reload(const char *arg)
{
	json_t *doc;

	(void)arg;
	if (request(CTL_VERB_RELOAD, &doc) != 0)
		return 1;
	if (json_out)
		json_dumpf(doc, stdout, JSON_COMPACT);
	else
		printf("reloaded %s", str(doc, "config", "?"));
	printf("\n");
	json_decref(doc);
	return 0;
}

static int
cmd_version(const char *arg)
{
	json_t *doc;

	(void)arg;
	if (request(CTL_VERB_VERSION, &doc) != 0)
		return 1;
	if (json_out)
		json_dumpf(doc, stdout, JSON_COMPACT);
	else
		printf("llmfbctl %s, llmfbd %s", LLMFB_VERSION,
		    str(doc, "version", "?"));
	printf("\n");
	json_decref(doc);
	return 0;
}

/* trip/reset TARGET */
static int
cmd_breaker(const char *verb, const char *target)
{
	char line[CTL_LINE_MAX];
	json_t *doc;

	if (strchr(target, '\n') != NULL ||
	    (size_t)snprintf(line, sizeof(line), "%s %s", verb, target) >=
	    sizeof(line)) {
		fprintf(stderr, "llmfbctl: %s: bad target name\n", verb);
		return 2;
	}
	if (request(line, &doc) != 0)
		return 1;
	if (json_out)
		json_dumpf(doc, stdout, JSON_COMPACT);
	else
		printf("%s: breaker %s", str(doc, "target", "?"),
		    str(json_object_get(doc, "breaker"), "state", "?"));
	printf("\n");
	json_decref(doc);
	return 0;
}

static int
cmd_trip(const char *target)
{
	return cmd_breaker(CTL_VERB_TRIP, target);
}

static int
cmd_reset(const char *target)
{
	return cmd_breaker(CTL_VERB_RESET, target);
}

/* One call per line: when, who, which route, what happened, and each
 * attempt as target:kind(why). */
static void
print_event(json_t *ev)
{
	json_t *caller = json_object_get(ev, "caller"), *a;
	double t = json_number_value(json_object_get(ev, "time"));
	time_t secs = (time_t)t;
	char when[32];
	struct tm tm;
	size_t i;

	strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&secs, &tm));
	printf("%s %-12s %-16s %-14s served=%s", when, str(ev, "route", "-"),
	    str(caller, "comm", "?"), str(ev, "result", "?"),
	    str(ev, "served", "-"));
	json_array_foreach(json_object_get(ev, "attempts"), i, a) {
		printf("%s%s:%s", i ? " > " : " attempts=",
		    str(a, "target", "?"), str(a, "kind", "?"));
		if (json_object_get(a, "error") != NULL)
			printf("(%s)", str(a, "error", ""));
	}
	printf(" %lldms $%.6f\n", num(ev, "duration_ms"),
	    json_number_value(json_object_get(ev, "cost_usd")));
}

static int
cmd_events(const char *arg)
{
	char line[64];
	json_t *doc, *ev;
	uint64_t n = 20;
	size_t i;

	if (arg != NULL && parse_u64(arg, 1, 256, &n) < 0) {
		fprintf(stderr, "llmfbctl: events: N is a number from 1 to "
		    "256\n");
		return 2;
	}
	snprintf(line, sizeof(line), "%s %llu", CTL_VERB_EVENTS,
	    (unsigned long long)n);
	if (request(line, &doc) != 0)
		return 1;
	/* --json: one record per line, as the event log has them. */
	json_array_foreach(json_object_get(doc, "events"), i, ev) {
		if (json_out) {
			json_dumpf(ev, stdout, JSON_COMPACT);
			printf("\n");
		} else {
			print_event(ev);
		}
	}
	json_decref(doc);
	return 0;
}

enum arg { ARG_NONE, ARG_NEEDED, ARG_OPTIONAL };

static const struct {
	const char	*name;
	int		(*fn)(const char *arg);
	enum arg	 arg;
} commands[] = {
	{ "status", cmd_status, ARG_NONE },
	{ "reload", cmd_reload, ARG_NONE },
	{ "version", cmd_version, ARG_NONE },
	{ "trip", cmd_trip, ARG_NEEDED },
	{ "reset", cmd_reset, ARG_NEEDED },
	{ "events", cmd_events, ARG_OPTIONAL },
};

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	size_t i, found = ARRAY_SIZE(commands), matches = 0;
	int ch;

	control_path = getenv("LLMFB_CONTROL");
	if (control_path == NULL || *control_path == '\0')
		control_path = CONTROL_DEFAULT;
	while ((ch = getopt_long(argc, argv, "+s:jh", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			control_path = optarg;
			break;
		case 'j':
			json_out = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1 && optind != argc - 2) {
		usage(stderr);
		return 2;
	}
	for (i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			found = i;
			matches = 1;
			break;
		}
		if (strncmp(argv[optind], commands[i].name,
		    strlen(argv[optind])) == 0) {
			found = i;
			matches++;
		}
	}
	if (matches != 1) {
		fprintf(stderr, "llmfbctl: %s command '%s'\n", matches ?
		    "ambiguous" : "unknown", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (commands[found].arg != ARG_OPTIONAL &&
	    (commands[found].arg == ARG_NEEDED) != (optind == argc - 2)) {
		fprintf(stderr, "llmfbctl: %s %s\n", commands[found].name,
		    commands[found].arg ? "needs a target" :
		    "takes no argument");
		usage(stderr);
		return 2;
	}
	return commands[found].fn(optind == argc - 2 ? argv[optind + 1] :
	    NULL);
}
