/* llmfbctl: talk to llmfbd over its control socket, check a config, or
 * run a program under the shim.  Exit status scripts can trust:
 * 0 success, 1 the daemon said no, could not be reached, or the config
 * is bad, 2 usage. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "ca.h"
#include "config.h"
#include "ctl.h"
#include "ctl_client.h"
#include "ctl_proto.h"
#include "paths.h"	/* generated: the install paths */
#include "util.h"

#define CONTROL_DEFAULT "/run/llmfb/control.sock"
#define EXIT_USAGE	2

const char *control_path;
int json_out;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: llmfbctl [-s socket] [--json] command [arguments]\n"
	    "\n"
	    "commands (any unique prefix):\n"
	    "  status                 the daemon, its targets, routes, programs "
	    "and faults\n"
	    "  status --fleet         the fleet on Redis: the link, each "
	    "host's view\n"
	    "  top [-i SECONDS]       a live view; q or Ctrl-C quits\n"
	    "  events [-f] [-n N] [--route R] [--target T] [--class C] "
	    "[--caller P]\n"
	    "                         the latest N calls' records (default "
	    "20);\n"
	    "                         -f: then each new one, as it happens\n"
	    "  trip TARGET            open TARGET's circuit breaker until "
	    "reset\n"
	    "  reset TARGET           close TARGET's breaker, forget its rate limits\n"
	    "  drain TARGET           send no new calls to TARGET\n"
	    "  undrain TARGET         let calls go to TARGET again\n"
	    "  inject TARGET FAULT [--for DURATION] [--route R] [--caller P]\n"
	    "                         make TARGET fail on purpose for a while "
	    "(default 60s);\n"
	    "                         FAULT: status=CODE, delay=MS, cut=BYTES "
	    "or refusal\n"
	    "  uninject ID|all        end injected faults now\n"
	    "  reload                 load the configuration file again\n"
	    "  check FILE             check a configuration file, without a "
	    "daemon\n"
	    "  import litellm FILE    an llmfb config from a LiteLLM "
	    "config.yaml, on stdout\n"
	    "  metrics                the Prometheus metrics\n"
	    "  bypass                 programs that call LLM hosts without "
	    "llmfb (eBPF)\n"
	    "  run [--] PROGRAM ARGS  run PROGRAM with its LLM calls through "
	    "llmfbd\n"
	    "  ca init|rotate|install|uninstall [-c CONFIG]\n"
	    "                         the local CA: make it, replace it, "
	    "trust it host-wide\n"
	    "                         or not\n"
	    "  version                llmfbctl's and the daemon's versions\n"
	    "\n"
	    "  -s socket      control socket (default $LLMFB_CONTROL or "
	    CONTROL_DEFAULT ")\n"
	    "  --json         print JSON (status, events, trip... and "
	    "version)\n"
	    "  -V, --version  llmfbctl's version, without asking the daemon\n"
	    "  -h, --help     this\n"
	    "\n"
	    "exit status: 0 done, 1 refused, unreachable or a bad config, "
	    "2 usage\n");
}

int
ctl_call(const char *line, json_t **ret_doc)
{
	struct buf reply;
	json_error_t jerr;
	bool ok;
	int r;

	buf_init(&reply, CTL_REPLY_MAX);
	r = ctl_request(control_path, line, &reply, &ok);
	if (r < 0) {
		fprintf(stderr, "llmfbctl: %s: %s\n", control_path,
		    r == -EPROTO ? "the daemon's reply is malformed" :
		    strerror(-r));
		buf_free(&reply);
		return 1;
	}
	if (!ok) {
		fprintf(stderr, "llmfbctl: %s: %.*s\n", line, (int)reply.len,
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

json_int_t
jnum(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

const char *
jstr(const json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : dflt;
}

/* The request line "verb arg arg...", or exit 2 when it cannot be one. */
static int
build_line(char *line, size_t len, const char *verb, int argc, char **argv)
{
	size_t k = (size_t)snprintf(line, len, "%s", verb);
	int i;

	for (i = 0; i < argc && k < len; i++) {
		if (argv[i][0] == '\0' || strpbrk(argv[i], " \n") != NULL) {
			fprintf(stderr, "llmfbctl: %s: '%s' cannot contain "
			    "spaces\n", verb, argv[i]);
			return -1;
		}
		k += (size_t)snprintf(line + k, len - k, " %s", argv[i]);
	}
	if (k >= len) {
		fprintf(stderr, "llmfbctl: %s: arguments too long\n", verb);
		return -1;
	}
	return 0;
}

static void
print_json(const json_t *doc, size_t flags)
{
	json_dumpf(doc, stdout, flags);
	printf("\n");
}

/* ---- status ------------------------------------------------------------ */

void
fmt_uptime(char *out, size_t len, json_int_t s)
{
	if (s >= 86400)
		snprintf(out, len, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(out, len, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(out, len, "%lldm%02llds", s / 60, s % 60);
	else
		snprintf(out, len, "%llds", s);
}

void
fmt_ms(char *out, size_t len, const json_t *v)
{
	if (json_is_integer(v))
		snprintf(out, len, "%lld", json_integer_value(v));
	else if (json_is_real(v))
		snprintf(out, len, "%.2f", json_real_value(v));
	else
		snprintf(out, len, "-");
}

/* {"technical": 0.25, "policy": 0.1} as "tech 25% pol 10%", "-" if none. */
static void
rates(char *out, size_t len, const json_t *o)
{
	const char *k;
	json_t *v;
	size_t n = 0;

	out[0] = '\0';
	json_object_foreach((json_t *)o, k, v) {
		if (n < len)
			n += (size_t)snprintf(out + n, len - n, "%s%.4s %.0f%%",
			    n ? " " : "", k, json_number_value(v) * 100);
	}
	if (n == 0)
		snprintf(out, len, "-");
}

/* Whether a target's rate_limit object says anything: a window its
 * provider advertised, or a configured rpm/tpm. */
static bool
ratelimit_known(const json_t *rl)
{
	static const char *const names[] = { "requests", "tokens",
		"input_tokens", "output_tokens", "configured" };
	size_t k;

	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (json_object_get(rl, names[k]) != NULL)
			return true;
	return false;
}

/* A route's groups: "  group weighted: a 75% (w3) rl 40%, b 25% (w1)",
 * each member's share of the answers the group's members served, and
 * what is left of its tightest rate limit where one is known. */
static void
print_groups(const json_t *groups)
{
	const json_t *g, *m, *rl;
	size_t i, k;

	json_array_foreach(groups, i, g) {
		printf("  group %s:", jstr(g, "pick", "?"));
		json_array_foreach(json_object_get(g, "members"), k, m) {
			printf("%s %s %.0f%%", k ? "," : "", jstr(m, "name",
			    "?"), json_number_value(json_object_get(m,
			    "share")) * 100);
			if (strcmp(jstr(g, "pick", ""), "weighted") == 0)
				printf(" (w%lld)", jnum(m, "weight"));
			rl = json_object_get(m, "rate_limit");
			if (json_is_true(json_object_get(rl, "limited")))
				printf(" rl spent");
			else if (ratelimit_known(rl))
				printf(" rl %.0f%%", json_number_value(
				    json_object_get(rl, "headroom")) * 100);
		}
		printf("\n");
	}
}

/* A route's hedging: "  hedge after 800ms: 3 started, 2 won by the
 * hedge, 3 cancelled, 1 refused by the cap (max 10%)". */
static void
print_hedge(const json_t *h)
{
	if (h == NULL)
		return;
	printf("  hedge after %s: %lld started, %lld won by the hedge, %lld "
	    "cancelled, %lld refused by the cap (max %lld%%)\n",
	    jstr(h, "after", "?"), jnum(h, "started"), jnum(h, "won"),
	    jnum(h, "cancelled"), jnum(h, "capped"), jnum(h, "max_percent"));
}

/* A target's rate limits, when its provider advertised any: "  a rate
 * limit: requests 0/100 (reset 2.0s), tokens 900/1000; passed over for
 * 2.0s", and what another host of the fleet said of its account. */
static void
print_ratelimit(const json_t *t)
{
	static const char *const names[] = { "requests", "tokens",
		"input_tokens", "output_tokens" };
	const json_t *rl = json_object_get(t, "rate_limit"), *w, *f;
	bool any = false;
	size_t k;

	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		if ((w = json_object_get(rl, names[k])) == NULL)
			continue;
		if (!any)
			printf("  %s rate limit:", jstr(t, "name", "?"));
		printf("%s %s %lld/%lld", any ? "," : "", names[k],
		    jnum(w, "remaining"), jnum(w, "limit"));
		if (json_object_get(w, "reset_ms") != NULL)
			printf(" (reset %.1fs)", (double)jnum(w, "reset_ms") /
			    1000);
		any = true;
	}
	if (json_is_true(json_object_get(rl, "limited"))) {
		if (!any)
			printf("  %s rate limit:", jstr(t, "name", "?"));
		printf("%s passed over for %.1fs", any ? ";" : "",
		    (double)jnum(rl, "limited_ms") / 1000);
		any = true;
	}
	/* In a fleet: on another host's word (its account spent there). */
	f = json_object_get(rl, "fleet");
	if (json_object_get(f, "limited_ms") != NULL) {
		if (!any)
			printf("  %s rate limit:", jstr(t, "name", "?"));
		printf("%s passed over for %.1fs on %s's word (account %s, "
		    "%s)", any ? ";" : "", (double)jnum(f, "limited_ms") /
		    1000, jstr(f, "from", "?"), jstr(f, "account", "?"),
		    jstr(f, "why", "?"));
		any = true;
	}
	if (any)
		printf("\n");
}

static void
print_routes(const json_t *st)
{
	const json_t *v, *t;
	char r[96];
	size_t i, k;

	printf("\n%-14s %7s %9s %5s %6s  %-26s %s\n", "ROUTE", "CALLS",
	    "FALLBACKS", "SAFE", "ABORTS", "FALLBACK RATE BY CLASS", "LADDER");
	json_array_foreach(json_object_get(st, "routes"), i, v) {
		rates(r, sizeof(r), json_object_get(v, "fallback_rate_by_class"));
		printf("%-14s %7lld %9lld %5lld %6lld  %-26s ", jstr(v, "name",
		    "?"), jnum(v, "calls"), jnum(v, "fallbacks"),
		    jnum(v, "safe_failures"), jnum(v, "client_gone"), r);
		json_array_foreach(json_object_get(v, "ladder"), k, t)
			printf("%s%s", k ? ">" : "", json_string_value(t));
		printf("\n");
		print_groups(json_object_get(v, "groups"));
		print_hedge(json_object_get(v, "hedge"));
	}
}

static void
print_targets(const json_t *st)
{
	const json_t *v, *lat;
	char r[96], t50[16], t95[16], a50[16], a95[16], state[24];
	size_t i;

	printf("\n%-12s %-10s %-10s %8s %6s %-22s %6s %6s %6s %6s %9s\n",
	    "TARGET", "PROVIDER", "BREAKER", "REQUESTS", "SERVED",
	    "ERROR RATE BY CLASS", "TTFT50", "TTFT95", "TOT50", "TOT95",
	    "SPEND-USD");
	json_array_foreach(json_object_get(st, "targets"), i, v) {
		lat = json_object_get(v, "latency");
		fmt_ms(t50, sizeof(t50), json_object_get(lat,
		    "first_token_p50_ms"));
		fmt_ms(t95, sizeof(t95), json_object_get(lat,
		    "first_token_p95_ms"));
		fmt_ms(a50, sizeof(a50), json_object_get(lat,
		    "total_p50_ms"));
		fmt_ms(a95, sizeof(a95), json_object_get(lat,
		    "total_p95_ms"));
		rates(r, sizeof(r), json_object_get(v, "error_rate_by_class"));
		snprintf(state, sizeof(state), "%s%s", jstr(json_object_get(v,
		    "breaker"), "state", "?"), json_is_true(json_object_get(v,
		    "drained")) ? ",drain" : "");
		printf("%-12s %-10s %-10s %8lld %6lld %-22s %6s %6s %6s %6s "
		    "%9.4f\n", jstr(v, "name", "?"), jstr(v, "provider", "?"),
		    state, jnum(v, "attempts"), jnum(v, "served"), r, t50, t95,
		    a50, a95, json_number_value(json_object_get(v,
		    "spend_usd")));
		print_ratelimit(v);
	}
	printf("(times in ms, over each target's recent answers)\n");
}

static void
print_callers_faults(const json_t *st)
{
	const json_t *v, *arr = json_object_get(st, "callers");
	size_t i;

	if (json_array_size(arr) > 0)
		printf("\n%-40s %6s %7s %9s %5s %9s\n", "PROGRAM", "UID",
		    "CALLS", "FALLBACKS", "SAFE", "SPEND-USD");
	json_array_foreach(arr, i, v)
		printf("%-40.40s %6lld %7lld %9lld %5lld %9.4f\n",
		    jstr(v, "program", "?"), jnum(v, "uid"), jnum(v, "calls"),
		    jnum(v, "fallbacks"), jnum(v, "safe_failures"),
		    json_number_value(json_object_get(v, "spend_usd")));
	arr = json_object_get(st, "faults");
	if (json_array_size(arr) > 0)
		printf("\n%-4s %-12s %-12s %-12s %-16s %8s %6s\n", "ID",
		    "TARGET", "FAULT", "ROUTE", "CALLER", "ENDS-IN", "HITS");
	json_array_foreach(arr, i, v)
		printf("%-4lld %-12s %-12s %-12s %-16s %7llds %6lld\n",
		    jnum(v, "id"), jstr(v, "target", "?"), jstr(v, "fault", "?"),
		    jstr(v, "route", "(any)"), jstr(v, "caller", "(any)"),
		    (jnum(v, "ends_in_ms") + 999) / 1000, jnum(v, "hits"));
}

/* "on", or "off: why", of a part of the network view. */
static const char *
part(const json_t *o, char *out, size_t len)
{
	if (json_is_true(json_object_get(o, "on")))
		snprintf(out, len, "on");
	else
		snprintf(out, len, "off: %s", jstr(o, "why", "?"));
	return out;
}

/* eBPF and netlink: what runs, and each target as the kernel sees it. */
static void
print_net(const json_t *st)
{
	const json_t *eb = json_object_get(st, "ebpf"), *nw, *v, *n;
	char a[256], b[256], n50[16], p50[16], rtt[16];
	size_t i, shown = 0;

	printf("ebpf       %s: network timing %s; bypass watch %s\n",
	    jstr(eb, "mode", "?"), part(json_object_get(eb,
	    "network_timing"), a, sizeof(a)), part(json_object_get(eb,
	    "bypass_watch"), b, sizeof(b)));
	nw = json_object_get(st, "network");
	printf("network    watch %s", part(nw, a, sizeof(a)));
	if (json_is_true(json_object_get(nw, "on")))
		printf(" (%zu links, %lld routes)", json_array_size(
		    json_object_get(nw, "links")), jnum(nw, "routes"));
	printf("\n");
	json_array_foreach(json_object_get(st, "targets"), i, v) {
		n = json_object_get(v, "network");
		if (jnum(n, "samples") == 0 &&
		    json_object_get(n, "address") == NULL)
			continue;
		if (shown++ == 0)
			printf("\n%-12s %-24s %-10s %8s %8s %7s %7s  %s\n",
			    "TARGET", "ADDRESS", "REACHABLE", "NET50",
			    "PROV50", "SRTT", "RETRANS", "WHY");
		fmt_ms(n50, sizeof(n50), json_object_get(n,
		    "network_ms_p50"));
		fmt_ms(p50, sizeof(p50), json_object_get(n,
		    "provider_ms_p50"));
		fmt_ms(rtt, sizeof(rtt), json_object_get(n, "srtt_ms"));
		printf("%-12s %-24s %-10s %8s %8s %7s %7lld  %s\n",
		    jstr(v, "name", "?"), jstr(n, "address", "-"),
		    json_is_true(json_object_get(n, "reachable")) ? "yes" : "NO",
		    n50, p50, rtt, jnum(n, "retransmits"), jstr(n, "why", ""));
	}
	if (shown > 0)
		printf("(network and provider shares of the wait for an "
		    "answer, ms, from eBPF)\n");
}

/* Connections handed over that llmfb let be, and those it refused. */
/* The local CA and the kernel path, when configured. */
static void
print_ca(const json_t *st)
{
	const json_t *ca = json_object_get(st, "ca"), *r, *t;

	if (json_is_true(json_object_get(ca, "enabled"))) {
		t = json_object_get(ca, "terminated");
		if (json_is_true(json_object_get(ca, "loaded")))
			printf("local CA   on (%s): terminated: ok %lld, "
			    "rejected by the client %lld, failed %lld; open "
			    "%lld\n", jstr(ca, "cert", "?"), jnum(t, "ok"),
			    jnum(t, "rejected"), jnum(t, "failed"),
			    jnum(ca, "open"));
		else
			printf("local CA   off: %s\n", jstr(ca, "error", "?"));
	}
	r = json_object_get(st, "redirect");
	if (json_object_get(r, "cgroup") == NULL)
		return;
	if (json_is_true(json_object_get(r, "on")))
		printf("redirect   on, cgroup %s, to port %lld: %lld addresses, "
		    "%lld connections\n", jstr(r, "cgroup", "?"),
		    jnum(r, "port"), jnum(r, "addresses"),
		    jnum(r, "accepted"));
	else
		printf("redirect   off (cgroup %s): %s\n", jstr(r, "cgroup",
		    "?"), jstr(r, "why", "?"));
}

static void
print_unserved(const json_t *st)
{
	const char *why;
	const json_t *v;
	bool any = false;

	printf("unserved   refused at a limit %lld, timed out %lld, "
	    "carried untouched now %lld", jnum(st, "refused"),
	    jnum(st, "timed_out"), jnum(st, "relays"));
	json_object_foreach((json_t *)json_object_get(st, "unserved"), why,
	    v) {
		printf("%s %s %lld", any ? "," : ";", why,
		    (long long)json_integer_value(v));
		any = true;
	}
	printf("\n");
}

static void
print_status(const json_t *st)
{
	const json_t *v;
	char up[32];
	size_t i;

	fmt_uptime(up, sizeof(up), jnum(st, "uptime_s"));
	printf("llmfbd %s up %s, pid %lld\n", jstr(st, "version", "?"), up,
	    jnum(st, "pid"));
	printf("config     %s (reloads %lld, refused %lld)\n",
	    jstr(st, "config", "?"), jnum(st, "reloads"),
	    jnum(st, "reload_failures"));
	printf("sockets    data %s, control %s\n", jstr(st, "listen", "?"),
	    jstr(st, "control", "?"));
	printf("calls      %lld (in flight %lld, passthrough %lld, rejected "
	    "%lld), clients %lld\n", jnum(st, "calls"), jnum(st, "in_flight"),
	    jnum(st, "passthrough"), jnum(st, "rejected"), jnum(st, "clients"));
	printf("intercept ");
	json_array_foreach(json_object_get(st, "intercept"), i, v)
		printf(" %s", json_string_value(v));
	printf("\n");
	print_unserved(st);
	print_ca(st);
	print_net(st);
	print_routes(st);
	print_targets(st);
	print_callers_faults(st);
}

/* status --fleet: this host's link to Redis, then one line per host of
 * the fleet (this one first) from its last heartbeat: what it has open
 * and what its routes spent today. */
static void
print_fleet(const json_t *f)
{
	const json_t *h, *v, *b, *rl, *fails = json_object_get(f, "failures");
	const char *k;
	size_t i, j;

	printf("fleet      %s at %s as %s (prefix %s)\n",
	    json_is_true(json_object_get(f, "up")) ? "linked to Redis" :
	    "ALONE: Redis away", jstr(f, "address", "?"), jstr(f, "host", "?"),
	    jstr(f, "prefix", "?"));
	printf("link       connects %lld, ops %lld, rtt %lld us, lag %lld us "
	    "(last open %lld us), failures", jnum(f, "connects"),
	    jnum(f, "ops"), jnum(f, "rtt_us"), jnum(f, "lag_us"),
	    jnum(f, "open_lag_us"));
	json_object_foreach((json_t *)fails, k, v)
		printf(" %s %lld", k, (long long)json_integer_value(v));
	printf("\n");
	printf("breakers   opened from the fleet %lld, closed from it %lld; "
	    "probe leases won %lld, lost %lld, late %lld\n",
	    jnum(f, "remote_opens"), jnum(f, "remote_closes"),
	    jnum(f, "leases_won"), jnum(f, "leases_lost"),
	    jnum(f, "leases_late"));
	printf("budgets    spends while alone %lld, keys to send %lld\n",
	    jnum(f, "budget_offline"), jnum(f, "unsent_keys"));
	if ((rl = json_object_get(f, "rate_limits")) != NULL)
		printf("limits     %s; spent accounts told %lld, heard %lld "
		    "(last %lld us); rpm/tpm counts %lld (alone %lld)\n",
		    json_is_true(json_object_get(rl, "shared")) ? "shared" :
		    "not shared", jnum(rl, "told"), jnum(rl, "remote"),
		    jnum(rl, "lag_us"), jnum(rl, "counts"),
		    jnum(rl, "offline"));
	printf("%-20s %8s  %-30s %s\n", "HOST", "SEEN", "NOT CLOSED",
	    "ROUTE SPEND TODAY");
	json_array_foreach(json_object_get(f, "hosts"), i, h) {
		const json_t *view = json_object_get(h, "view");
		char seen[32], open[256] = "-", spend[256] = "-";
		size_t n = 0, m = 0;

		if (json_is_true(json_object_get(h, "self")))
			snprintf(seen, sizeof(seen), "this");
		else
			snprintf(seen, sizeof(seen), "%llds",
			    (long long)(jnum(h, "age_ms") / 1000));
		json_array_foreach(json_object_get(view, "breakers"), j, b) {
			if (n >= sizeof(open) - 1)
				break;
			n += (size_t)snprintf(open + n, sizeof(open) - n,
			    "%s%s:%s%s", n ? "," : "", jstr(b, "target", "?"),
			    jstr(b, "state", "?"), json_is_true(
			    json_object_get(b, "from_fleet")) ? "(fleet)" : "");
		}
		json_object_foreach(json_object_get(view, "route_spend"), k,
		    v) {
			double day = json_number_value(json_object_get(v,
			    "day"));

			if (day <= 0 || m >= sizeof(spend) - 1)
				continue;
			m += (size_t)snprintf(spend + m, sizeof(spend) - m,
			    "%s%s $%.4f", m ? ", " : "", k, day);
		}
		printf("%-20s %8s  %-30s %s\n", jstr(h, "host", "?"), seen,
		    open, spend);
		/* Its accounts passed over now: rate-limited, and on whose
		 * word when not its own. */
		json_array_foreach(json_object_get(view, "rate_limited"), j,
		    b) {
			const char *from = jstr(b, "from", NULL);

			printf("%-20s %8s  rate-limited %s (%s, %s) %llds%s%s\n",
			    "", "", jstr(b, "account", "?"),
			    jstr(b, "target", "?"), jstr(b, "why", "?"),
			    (long long)((jnum(b, "ms") + 999) / 1000),
			    from ? ", from " : "", from ? from : "");
		}
	}
}

static int
cmd_status(int argc, char **argv)
{
	bool fleet = false;
	const json_t *f;
	json_t *doc;

	if (argc == 2 && strcmp(argv[1], "--fleet") == 0) {
		fleet = true;
	} else if (argc > 1) {
		fprintf(stderr, "llmfbctl: status takes no argument but "
		    "--fleet\n");
		return EXIT_USAGE;
	}
	if (ctl_call(CTL_VERB_STATUS, &doc) != 0)
		return 1;
	f = json_object_get(doc, "fleet");
	if (fleet && (f == NULL || json_is_null(f))) {
		fprintf(stderr, "llmfbctl: this llmfbd is not in a fleet (no "
		    "shared: in its config)\n");
		json_decref(doc);
		return 1;
	}
	if (json_out)
		print_json(fleet ? f : doc, JSON_INDENT(2));
	else if (fleet)
		print_fleet(f);
	else
		print_status(doc);
	json_decref(doc);
	return 0;
}

/* ---- events ------------------------------------------------------------ */

const char *
attempt_kind(const json_t *a)
{
	const char *kind = jstr(a, "kind", "?");

	return strcmp(kind, "none") == 0 ? "ok" : kind;
}

/* One call per line: when, which route and program, what happened, and
 * each attempt as target:kind(why), the one that answered target:ok. */
static void
print_event(const json_t *ev)
{
	const json_t *caller = json_object_get(ev, "caller"), *a;
	double t = json_number_value(json_object_get(ev, "time"));
	time_t secs = (time_t)t;
	char when[32];
	struct tm tm;
	size_t i;

	strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&secs, &tm));
	printf("%s %-12s %-16s %-14s served=%s", when, jstr(ev, "route", "-"),
	    jstr(caller, "comm", "?"), jstr(ev, "result", "?"),
	    jstr(ev, "served", "-"));
	json_array_foreach(json_object_get(ev, "attempts"), i, a) {
		printf("%s%s:%s", i ? " > " : " attempts=",
		    jstr(a, "target", "?"), attempt_kind(a));
		if (json_object_get(a, "error") != NULL)
			printf("(%s)", jstr(a, "error", ""));
		if (json_object_get(a, "injected") != NULL)
			printf("[injected %s]", jstr(a, "injected", ""));
	}
	printf(" %lldms $%.6f\n", jnum(ev, "duration_ms"),
	    json_number_value(json_object_get(ev, "cost_usd")));
}

static void
show_event(const json_t *ev)
{
	if (json_out)
		print_json(ev, JSON_COMPACT);
	else
		print_event(ev);
	fflush(stdout);
}

static volatile sig_atomic_t stop;

static void
on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

/* events -f: each record as the daemon sends it, until it goes away or
 * the user stops us. */
static int
follow(const char *filters)
{
	char line[CTL_LINE_MAX], chunk[8192];
	struct sigaction sa = { .sa_handler = on_stop };
	struct buf err, pending;
	struct pollfd p;
	json_t *ev;
	char *nl;
	ssize_t n;
	int fd, rc = 0;

	snprintf(line, sizeof(line), "%s%s", CTL_VERB_FOLLOW, filters);
	buf_init(&err, 4096);
	if ((fd = ctl_subscribe(control_path, line, &err)) < 0) {
		fprintf(stderr, "llmfbctl: events: %s\n", err.len ? err.data :
		    strerror(-fd));
		buf_free(&err);
		return 1;
	}
	buf_free(&err);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	buf_init(&pending, CTL_FOLLOW_MAX + 1);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	while (!stop) {
		if (poll(&p, 1, -1) < 0)
			continue;	/* EINTR: look at stop */
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "llmfbctl: events: the daemon closed "
			    "the subscription\n");
			rc = 1;
			break;
		}
		if (buf_add(&pending, chunk, (size_t)n) < 0) {
			rc = 1;
			break;
		}
		while ((nl = memchr(buf_head(&pending), '\n',
		    buf_pending(&pending))) != NULL) {
			*nl = '\0';
			if ((ev = json_loads(buf_head(&pending), 0, NULL)) !=
			    NULL)
				show_event(ev);
			json_decref(ev);
			buf_consume(&pending, (size_t)(nl - buf_head(&pending))
			    + 1);
		}
		if (buf_pending(&pending) == 0)
			buf_reset(&pending);
	}
	buf_free(&pending);
	close(fd);
	return rc;
}

/* Append " key=value" to out for a filter option. */
static int
add_filter(char *out, size_t len, const char *key, const char *value)
{
	size_t k = strlen(out);

	if (value[0] == '\0' || strpbrk(value, " \n") != NULL) {
		fprintf(stderr, "llmfbctl: events: bad %s '%s'\n", key, value);
		return -1;
	}
	if ((size_t)snprintf(out + k, len - k, " %s=%s", key, value) >=
	    len - k) {
		fprintf(stderr, "llmfbctl: events: filters too long\n");
		return -1;
	}
	return 0;
}

static int
cmd_events(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "route", required_argument, NULL, 'r' },
		{ "target", required_argument, NULL, 't' },
		{ "class", required_argument, NULL, 'c' },
		{ "caller", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const keys[] = { ['r'] = "route",
		['t'] = "target", ['c'] = "class", ['p'] = "caller" };
	char filters[CTL_LINE_MAX - 64] = "", line[CTL_LINE_MAX];
	uint64_t n = 20;
	bool follow_on = false;
	json_t *doc, *ev;
	size_t i;
	int ch;

	optind = 0;	/* glibc: start afresh, permuting */
	while ((ch = getopt_long(argc, argv, "fn:r:t:c:p:j", opts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'f':
			follow_on = true;
			break;
		case 'n':
			if (parse_u64(optarg, 0, 256, &n) < 0) {
				fprintf(stderr, "llmfbctl: events: -n takes 0 "
				    "to 256\n");
				return EXIT_USAGE;
			}
			break;
		case 'j':
			json_out = 1;
			break;
		case 'r': case 't': case 'c': case 'p':
			if (add_filter(filters, sizeof(filters), keys[ch],
			    optarg) < 0)
				return EXIT_USAGE;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	/* events N: the old form. */
	if (optind == argc - 1 && parse_u64(argv[optind], 1, 256, &n) == 0)
		optind++;
	if (optind != argc) {
		fprintf(stderr, "llmfbctl: events: unexpected '%s'\n",
		    argv[optind]);
		return EXIT_USAGE;
	}
	if (n > 0) {
		snprintf(line, sizeof(line), "%s %llu%s", CTL_VERB_EVENTS,
		    (unsigned long long)n, filters);
		if (ctl_call(line, &doc) != 0)
			return 1;
		json_array_foreach(json_object_get(doc, "events"), i, ev)
			show_event(ev);
		json_decref(doc);
	}
	return follow_on ? follow(filters) : 0;
}

/* ---- actions ----------------------------------------------------------- */

/* trip/reset/drain/undrain TARGET: the command's name is the verb
 * (main hands it over whole, even when typed as a prefix). */
static int
cmd_target(int argc, char **argv)
{
	const char *verb = argv[0];
	char line[CTL_LINE_MAX];
	json_t *doc;

	if (argc != 2) {
		fprintf(stderr, "llmfbctl: %s needs a target\n", verb);
		return EXIT_USAGE;
	}
	if (build_line(line, sizeof(line), verb, 1, argv + 1) < 0)
		return EXIT_USAGE;
	if (ctl_call(line, &doc) != 0)
		return 1;
	if (json_out)
		print_json(doc, JSON_COMPACT);
	else
		printf("%s: breaker %s%s\n", jstr(doc, "target", "?"),
		    jstr(json_object_get(doc, "breaker"), "state", "?"),
		    json_is_true(json_object_get(doc, "drained")) ?
		    ", drained" : "");
	json_decref(doc);
	return 0;
}

static int
cmd_inject(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "for", required_argument, NULL, 'f' },
		{ "route", required_argument, NULL, 'r' },
		{ "caller", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	char *words[5], forw[40], routew[CTL_LINE_MAX / 4],
	    callerw[CTL_LINE_MAX / 4], line[CTL_LINE_MAX];
	uint64_t ms;
	int ch, n = 0;
	json_t *doc;

	forw[0] = routew[0] = callerw[0] = '\0';
	optind = 0;	/* glibc: start afresh, permuting */
	while ((ch = getopt_long(argc, argv, "f:r:c:", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (parse_duration_ms(optarg, &ms) < 0 ||
			    ms < 1000 || ms > 86400000) {
				fprintf(stderr, "llmfbctl: inject: --for takes "
				    "1s to 24h, like 30s or 5m\n");
				return EXIT_USAGE;
			}
			snprintf(forw, sizeof(forw), "for=%llu",
			    (unsigned long long)(ms / 1000));
			break;
		case 'r':
			snprintf(routew, sizeof(routew), "route=%s", optarg);
			break;
		case 'c':
			snprintf(callerw, sizeof(callerw), "caller=%s", optarg);
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "llmfbctl: inject TARGET FAULT [--for "
		    "DURATION] [--route R] [--caller P]\n");
		return EXIT_USAGE;
	}
	words[n++] = argv[optind];
	words[n++] = argv[optind + 1];
	if (forw[0])
		words[n++] = forw;
	if (routew[0])
		words[n++] = routew;
	if (callerw[0])
		words[n++] = callerw;
	if (build_line(line, sizeof(line), CTL_VERB_INJECT, n, words) < 0)
		return EXIT_USAGE;
	if (ctl_call(line, &doc) != 0)
		return 1;
	if (json_out)
		print_json(doc, JSON_COMPACT);
	else
		printf("fault %lld: %s on %s for %llds (route %s, caller %s)\n",
		    jnum(doc, "id"), jstr(doc, "fault", "?"),
		    jstr(doc, "target", "?"), (jnum(doc, "ends_in_ms") + 999) /
		    1000, jstr(doc, "route", "any"), jstr(doc, "caller", "any"));
	json_decref(doc);
	return 0;
}

static int
cmd_uninject(int argc, char **argv)
{
	char line[CTL_LINE_MAX];
	json_t *doc;

	if (argc != 2) {
		fprintf(stderr, "llmfbctl: uninject ID|all\n");
		return EXIT_USAGE;
	}
	if (build_line(line, sizeof(line), CTL_VERB_UNINJECT, 1, argv + 1) <
	    0)
		return EXIT_USAGE;
	if (ctl_call(line, &doc) != 0)
		return 1;
	if (json_out)
		print_json(doc, JSON_COMPACT);
	else
		printf("%lld fault(s) ended\n", jnum(doc, "ended"));
	json_decref(doc);
	return 0;
}

static int
cmd_reload(int argc, char **argv)
{
	json_t *doc, *w;
	size_t i;

	(void)argc;
	(void)argv;
	if (ctl_call(CTL_VERB_RELOAD, &doc) != 0)
		return 1;
	if (json_out) {
		print_json(doc, JSON_COMPACT);
	} else {
		/* Warnings load: said, and the exit status stays 0. */
		json_array_foreach(json_object_get(doc, "warnings"), i, w)
			if (json_is_string(w))
				fprintf(stderr, "%s\n", json_string_value(w));
		if (json_integer_value(json_object_get(doc,
		    "warnings_dropped")) > 0)
			fprintf(stderr, "%lld more warnings\n", (long long)
			    json_integer_value(json_object_get(doc,
			    "warnings_dropped")));
		printf("reloaded %s\n", jstr(doc, "config", "?"));
	}
	json_decref(doc);
	return 0;
}

static int
cmd_version(int argc, char **argv)
{
	json_t *doc = NULL;
	int r;

	(void)argc;
	(void)argv;
	r = ctl_call(CTL_VERB_VERSION, &doc);
	if (json_out)
		printf("{\"llmfbctl\": \"%s\", \"llmfbd\": %s%s%s}\n",
		    LLMFB_VERSION, doc ? "\"" : "", doc ? jstr(doc, "version",
		    "?") : "null", doc ? "\"" : "");
	else
		printf("llmfbctl %s, llmfbd %s\n", LLMFB_VERSION, doc ?
		    jstr(doc, "version", "?") : "unreachable");
	json_decref(doc);
	return r;
}

/* bypass: who reaches an intercepted host without llmfb. */
static int
cmd_bypass(int argc, char **argv)
{
	const json_t *v, *bw;
	json_t *doc;
	char why[256], when[16];
	struct tm tm;
	time_t t;
	size_t i;

	(void)argc;
	(void)argv;
	if (ctl_call(CTL_VERB_BYPASS, &doc) != 0)
		return 1;
	if (json_out) {
		print_json(doc, JSON_INDENT(2));
		json_decref(doc);
		return 0;
	}
	bw = json_object_get(json_object_get(doc, "watch"), "bypass_watch");
	printf("bypass watch %s", part(bw, why, sizeof(why)));
	if (json_is_true(json_object_get(bw, "on")))
		printf(" (%lld libssl cop%s, %lld probes)", jnum(bw,
		    "libssl_copies"), jnum(bw, "libssl_copies") == 1 ? "y" :
		    "ies", jnum(bw, "probes"));
	printf("\n");
	if (json_array_size(json_object_get(doc, "programs")) > 0)
		printf("%-8s %-32s %-24s %6s %8s %8s %9s\n", "PID", "EXE",
		    "HOST", "CALLS", "LAST-MS", "AVG-MS", "LAST-SEEN");
	json_array_foreach(json_object_get(doc, "programs"), i, v) {
		t = (time_t)jnum(v, "last_seen");
		strftime(when, sizeof(when), "%H:%M:%S",
		    localtime_r(&t, &tm));
		printf("%-8lld %-32.32s %-24.24s %6lld %8.1f %8.1f %9s\n",
		    jnum(v, "pid"), jstr(v, "exe", "")[0] ? jstr(v, "exe", "") :
		    jstr(v, "comm", "?"), jstr(v, "host", "?"), jnum(v, "calls"),
		    json_number_value(json_object_get(v, "last_ms")),
		    json_number_value(json_object_get(v, "avg_ms")), when);
	}
	json_decref(doc);
	return 0;
}

/* metrics: the text as it is, for a scraper or a pipe. */
static int
cmd_metrics(int argc, char **argv)
{
	struct buf reply;
	bool ok;
	int r;

	(void)argc;
	(void)argv;
	buf_init(&reply, CTL_REPLY_MAX);
	r = ctl_request(control_path, CTL_VERB_METRICS, &reply, &ok);
	if (r < 0 || !ok) {
		fprintf(stderr, "llmfbctl: metrics: %.*s\n", r < 0 ? 64 :
		    (int)reply.len, r < 0 ? strerror(-r) : reply.data ?
		    reply.data : "");
		buf_free(&reply);
		return 1;
	}
	fwrite(reply.data ? reply.data : "", 1, reply.len, stdout);
	buf_free(&reply);
	return 0;
}

/* check FILE: what llmfbd -n says, without a daemon. */
static int
cmd_check(int argc, char **argv)
{
	char err[CONFIG_ERR_MAX];
	struct config *c;
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "llmfbctl: check needs a file\n");
		return EXIT_USAGE;
	}
	if ((c = config_load(argv[1], err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	for (i = 0; i < c->nwarnings; i++)
		fprintf(stderr, "%s\n", c->warnings[i]);
	if (c->warnings_dropped > 0)
		fprintf(stderr, "%s: %zu more warnings\n", argv[1],
		    c->warnings_dropped);
	printf("%s: configuration OK (%zu providers, %zu targets, %zu "
	    "routes)\n", argv[1], c->nproviders, c->ntargets, c->nroutes);
	config_unref(c);
	return 0;
}

/* ---- run --------------------------------------------------------------- */

/* The shim: $LLMFB_SHIM, else next to this program (a build tree), else
 * where make install put it (LLMFB_SHIM_PATH, from the install paths). */
static int
find_shim(char *out, size_t len)
{
	const char *env = getenv("LLMFB_SHIM");
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (env != NULL && *env != '\0') {
		snprintf(out, len, "%s", env);
		return access(out, R_OK);
	}
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) >= 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			if ((size_t)snprintf(out, len, "%s/libllmfb.so", self) <
			    len && access(out, R_OK) == 0)
				return 0;
		}
	}
	if ((size_t)snprintf(out, len, "%s", LLMFB_SHIM_PATH) >= len)
		return -1;
	return access(out, R_OK);
}

/* With the local CA up, what each runtime reads to trust it, for this
 * program only: Node (and Bun) add NODE_EXTRA_CA_CERTS to their own
 * roots; OpenSSL, Go, rustls-native-certs, Ruby and Python take
 * SSL_CERT_FILE in place of the system's, so it names the system's
 * trust and the CA together; Deno reads DENO_CERT.  A variable the
 * caller set to the system's trust gets the bundle (the same, and the
 * CA); one set to anything else is left as it is, and said so. */
static void
run_ca_env(const json_t *st)
{
	const json_t *ca = json_object_get(st, "ca");
	const char *cert = jstr(ca, "cert", NULL);
	const char *bundle = jstr(ca, "bundle", NULL);
	static const char *const vars[] = { "NODE_EXTRA_CA_CERTS",
		"SSL_CERT_FILE", "DENO_CERT" };
	size_t i;

	if (!json_is_true(json_object_get(ca, "loaded")) || cert == NULL ||
	    bundle == NULL)
		return;
	for (i = 0; i < ARRAY_SIZE(vars); i++) {
		const char *v = strcmp(vars[i], "SSL_CERT_FILE") == 0 ?
		    bundle : cert, *was = getenv(vars[i]);

		if (was != NULL && strcmp(was, CA_SYSTEM_BUNDLE) == 0) {
			setenv(vars[i], bundle, 1);
			continue;
		}
		if (was != NULL && *was != '\0') {
			fprintf(stderr, "llmfbctl: run: %s is set already: "
			    "the local CA is not added to it\n", vars[i]);
			continue;
		}
		setenv(vars[i], v, 1);
	}
}

static int
cmd_run(int argc, char **argv)
{
	char shim[PATH_MAX], preload[2 * PATH_MAX];
	const char *old = getenv("LD_PRELOAD"), *sock;
	json_t *doc = NULL;
	struct buf reply;
	bool ok;
	int first = 1;

	if (argc > 1 && strcmp(argv[1], "--") == 0)
		first = 2;
	if (first >= argc) {
		fprintf(stderr, "llmfbctl: run [--] PROGRAM [ARGS...]\n");
		return EXIT_USAGE;
	}
	if (find_shim(shim, sizeof(shim)) < 0) {
		fprintf(stderr, "llmfbctl: run: libllmfb.so not found (set "
		    "LLMFB_SHIM)\n");
		return 1;
	}
	/* The data socket the running daemon listens on; without one, the
	 * program still runs, and its calls go direct (the shim fails
	 * open). */
	buf_init(&reply, CTL_REPLY_MAX);
	if (ctl_request(control_path, CTL_VERB_STATUS, &reply, &ok) == 0 &&
	    ok)
		doc = json_loadb(reply.data, reply.len, 0, NULL);
	buf_free(&reply);
	sock = doc ? jstr(doc, "listen", NULL) : NULL;
	if (sock != NULL)
		setenv("LLMFB_SOCKET", sock, 1);
	else
		fprintf(stderr, "llmfbctl: run: llmfbd is not answering on "
		    "%s; the program's calls go direct\n", control_path);
	run_ca_env(doc);
	json_decref(doc);
	snprintf(preload, sizeof(preload), "%s%s%s", shim, old && *old ? " " :
	    "", old && *old ? old : "");
	setenv("LD_PRELOAD", preload, 1);
	execvp(argv[first], argv + first);
	fprintf(stderr, "llmfbctl: run: %s: %s\n", argv[first],
	    strerror(errno));
	return errno == ENOENT ? 127 : 126;
}

static int
cmd_top(int argc, char **argv)
{
	return top_main(argc, argv);
}

/* ---- main -------------------------------------------------------------- */

/* The commands that take nothing say so, rather than ignore it. */
static const struct {
	const char	*name;
	int		(*fn)(int argc, char **argv);
	bool		 no_args;
} commands[] = {
	{ CTL_VERB_STATUS, cmd_status, false },
	{ "top", cmd_top, false },
	{ CTL_VERB_EVENTS, cmd_events, false },
	{ CTL_VERB_TRIP, cmd_target, false },
	{ CTL_VERB_RESET, cmd_target, false },
	{ CTL_VERB_DRAIN, cmd_target, false },
	{ CTL_VERB_UNDRAIN, cmd_target, false },
	{ CTL_VERB_INJECT, cmd_inject, false },
	{ CTL_VERB_UNINJECT, cmd_uninject, false },
	{ CTL_VERB_RELOAD, cmd_reload, true },
	{ "check", cmd_check, false },
	{ "import", import_main, false },
	{ CTL_VERB_METRICS, cmd_metrics, true },
	{ CTL_VERB_BYPASS, cmd_bypass, true },
	{ "run", cmd_run, false },
	{ "ca", ca_main, false },
	{ CTL_VERB_VERSION, cmd_version, true },
};

/* The global options (--json, -j, -s SOCKET, --socket[=]SOCKET) are
 * taken after the command too, as everywhere else (llmfbctl status
 * --json), up to a "--"; what is left stays in order for the command.
 * Returns the new count of av (av[0] the command), or -1 (said why). */
static int
global_options(int ac, char **av)
{
	int i, n = 1;

	for (i = 1; i < ac; i++) {
		const char *a = av[i];

		if (strcmp(a, "--") == 0) {
			while (i < ac)
				av[n++] = av[i++];
			break;
		}
		if (strcmp(a, "--json") == 0 || strcmp(a, "-j") == 0) {
			json_out = 1;
		} else if (strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0) {
			if (i + 1 == ac) {
				fprintf(stderr, "llmfbctl: %s needs a socket "
				    "path\n", a);
				return -1;
			}
			control_path = av[++i];
		} else if (strncmp(a, "--socket=", 9) == 0) {
			control_path = a + 9;
		} else {
			av[n++] = av[i];
		}
	}
	return n;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	size_t i, found = ARRAY_SIZE(commands), matches = 0;
	int ch;

	control_path = getenv("LLMFB_CONTROL");
	if (control_path == NULL || *control_path == '\0')
		control_path = CONTROL_DEFAULT;
	while ((ch = getopt_long(argc, argv, "+s:jhV", opts, NULL)) != -1) {
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
		case 'V':
			/* llmfbctl's own, without asking the daemon (the
			 * version command asks). */
			printf("llmfbctl %s\n", LLMFB_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0) {
		usage(stdout);
		return 0;
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
		return EXIT_USAGE;
	}
	if (commands[found].fn != cmd_run) {
		int n = global_options(argc - optind, argv + optind);

		if (n < 0)
			return EXIT_USAGE;
		argc = optind + n;
	}
	if (argc - optind > 1 && commands[found].no_args) {
		fprintf(stderr, "llmfbctl: %s takes no argument\n",
		    commands[found].name);
		return EXIT_USAGE;
	}
	argv[optind] = (char *)commands[found].name;
	return commands[found].fn(argc - optind, argv + optind);
}
