#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "breaker.h"
#include "buf.h"
#include "config.h"
#include "daemon.h"
#include "loop.h"
#include "metrics.h"
#include "stats.h"
#include "util.h"

static const char *yaml =
    "providers:\n"
    "  p: { dialect: openai, base_url: 'https://secret-host.example',"
    " api_key_env: CHECK_METRICS_KEY }\n"
    "targets:\n"
    "  a: { provider: p, model: m1, price: { input: 1, output: 2 } }\n"
    "  b: { provider: p, model: m2 }\n"
    "routes:\n"
    "  - name: chat\n"
    "    ladder: [a, b]\n";

/* Every family, in the order it is rendered. */
static const char *const families[] = {
	"llmfb_info", "llmfb_start_time_seconds", "llmfb_reloads_total",
	"llmfb_reload_failures_total", "llmfb_otel_spans_exported_total",
	"llmfb_otel_spans_dropped_total", "llmfb_calls_total",
	"llmfb_passthrough_total", "llmfb_rejected_total", "llmfb_in_flight",
	"llmfb_requests_total", "llmfb_attempts_total",
	"llmfb_fallbacks_total", "llmfb_unserved_total",
	"llmfb_tls_terminated_total",
	"llmfb_first_token_seconds",
	"llmfb_attempt_seconds", "llmfb_network_seconds",
	"llmfb_provider_seconds", "llmfb_tcp_retransmits_total",
	"llmfb_tcp_srtt_seconds", "llmfb_target_reachable",
	"llmfb_breaker_state",
	"llmfb_breaker_opens_total", "llmfb_target_drained",
	"llmfb_target_in_flight", "llmfb_target_spend_usd_total",
	"llmfb_target_429_total", "llmfb_target_ratelimit_remaining",
	"llmfb_target_rate_limited", "llmfb_tokens_total", "llmfb_target_info",
	"llmfb_model_tokens_total", "llmfb_model_spend_usd_total",
	"llmfb_route_spend_usd_total",
	"llmfb_fallback_cost_diff_usd", "llmfb_safe_failures_total",
	"llmfb_midstream_continued_total", "llmfb_midstream_errors_total",
	"llmfb_hedges_total", "llmfb_hedges_won_total",
	"llmfb_hedges_cancelled_total", "llmfb_hedges_capped_total",
	"llmfb_client_aborts_total", "llmfb_shim_to_daemon_seconds",
	"llmfb_metrics_label_sets_dropped_total",
};

/* First-token samples of target a, in ms: on, under and over bounds. */
static const double ttft_a[] = { 10, 25, 60, 100, 100.5, 3000, 70000 };
static const char *const les[] = { "0.025", "0.05", "0.1", "0.25", "0.5",
	"1", "2.5", "5", "10", "20", "30", "60", "+Inf" };
static const uint32_t le_ms[] = { 25, 50, 100, 250, 500, 1000, 2500, 5000,
	10000, 20000, 30000, 60000, UINT32_MAX };
/* A quote, a backslash, a newline. */
#define WEIRD	"we\"ird\\na\nme"
#define WEIRD_ESC "we\\\"ird\\\\na\\nme"

static struct daemon d;
static struct buf out;

static void
add(struct lset *s, const char *route, const char *target,
    const char *outcome, int n)
{
	char lb[512];

	ck_assert_int_eq(prom_labels(lb, sizeof(lb), "route", route, "target",
	    target, "outcome", outcome, NULL), 0);
	while (n-- > 0)
		lset_add(s, lb, 1);
}

static void
fill(void)
{
	struct stats *s = d.stats;
	struct tstat *ts;
	struct rstat *rs;
	char lb[512];
	size_t i;

	d.started = 1700000000;
	d.reloads = 2;
	d.reload_failures = 1;
	s->calls = 7;
	s->passthrough = 1;
	s->rejected = 1;
	s->in_flight = 2;
	add(&s->attempts, "chat", "a", "ok", 3);
	add(&s->attempts, "chat", "a", "technical", 1);
	add(&s->attempts, WEIRD, "a", "ok", 1);
	add(&s->requests, "chat", "a", "served", 3);
	add(&s->requests, "chat", "none", "safe-failure", 1);
	ck_assert_int_eq(prom_labels(lb, sizeof(lb), "route", "chat", "from",
	    "a", "to", "b", "class", "technical", "kind", "technical", NULL),
	    0);
	lset_add(&s->fallbacks, lb, 1);
	s->attempts.dropped = 2;
	s->requests.dropped = 1;
	for (i = 0; i < ARRAY_SIZE(ttft_a); i++)
		hist_add(&stats_target(s, "a")->ttft_h, ttft_a[i]);
	hist_add(&stats_target(s, "a")->total_h, 250);
	hist_add(&s->shim_h, 0.5);
	ts = stats_target(s, "a");
	breaker_trip(&ts->br, now_mono_ms());
	ts->in_flight = 1;
	/* Spent requests, with no reset said: passed over. */
	ts->rl.w[RL_REQUESTS].remaining = 0;
	ts->rl.w[RL_TOKENS].remaining = 4000;
	ts->rl_429s = 3;
	ts->in_tokens = 1200;
	ts->out_tokens = 345;
	ts->spend_usd = 0.5;
	hist_add(&ts->network_h, 0.3);		/* ms */
	hist_add(&ts->provider_h, 200);
	ts->retransmits = 3;
	ts->srtt_us = 1500;
	snprintf(ts->addr, sizeof(ts->addr), "10.77.0.2");
	ts->unreachable = true;
	ts = stats_target(s, "b");
	ts->drained = true;
	ts->spend_usd = 0.1;		/* not exact in binary */
	/* A target and a route of an older config: not rendered. */
	stats_target(s, "gone")->spend_usd = 9;
	stats_route(s, "old")->spend_usd = 9;
	rs = stats_route(s, "chat");
	rs->spend_usd = 1.25;
	rs->fallback_cost_diff_usd = -0.125;
	rs->client_gone = 5;
	rs->client_gone_fell_back = 2;
	rs->safe_failures = 1;
	rs->midstream_continued = 4;
	rs->midstream_errors = 6;
	rs->hedges = 7;
	rs->hedges_won = 5;
	rs->hedges_cancelled = 6;
	rs->hedges_capped = 2;
}

static void
setup(void)
{
	char err[CONFIG_ERR_MAX];

	setenv("CHECK_METRICS_KEY", "sk-very-secret", 1);
	memset(&d, 0, sizeof(d));
	d.cfg = config_load_string("t.yaml", yaml, err, sizeof(err));
	ck_assert_msg(d.cfg != NULL, "%s", err);
	d.stats = stats_new();
	fill();
	buf_init(&out, 1u << 20);
}

static void
teardown(void)
{
	buf_free(&out);
	stats_free(d.stats);
	config_unref(d.cfg);
}

static const char *
render(void)
{
	buf_reset(&out);
	ck_assert_int_eq(metrics_render(&d, &out), 0);
	return out.data;
}

/* Whether text holds this whole line. */
static bool
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p;

	for (p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

#define ck_line(text, line) \
	ck_assert_msg(has_line((text), (line)), "no line: %s", (line))

static size_t
count(const char *text, const char *s)
{
	size_t n = 0;
	const char *p;

	for (p = text; (p = strstr(p, s)) != NULL; p++)
		n++;
	return n;
}

START_TEST(test_scalars)
{
	const char *t = render();

	ck_line(t, "llmfb_info{version=\"0.1.0\"} 1");
	ck_line(t, "llmfb_start_time_seconds 1700000000");
	ck_line(t, "llmfb_reloads_total 2");
	ck_line(t, "llmfb_reload_failures_total 1");
	ck_line(t, "llmfb_calls_total 7");
	ck_line(t, "llmfb_passthrough_total 1");
	ck_line(t, "llmfb_rejected_total 1");
	ck_line(t, "llmfb_in_flight 2");
	ck_line(t, "llmfb_metrics_label_sets_dropped_total 3");
}
END_TEST

START_TEST(test_label_sets)
{
	const char *t = render();

	ck_line(t, "llmfb_attempts_total{route=\"chat\",target=\"a\","
	    "outcome=\"ok\"} 3");
	ck_line(t, "llmfb_attempts_total{route=\"chat\",target=\"a\","
	    "outcome=\"technical\"} 1");
	ck_line(t, "llmfb_requests_total{route=\"chat\",target=\"a\","
	    "outcome=\"served\"} 3");
	ck_line(t, "llmfb_requests_total{route=\"chat\",target=\"none\","
	    "outcome=\"safe-failure\"} 1");
	ck_line(t, "llmfb_fallbacks_total{route=\"chat\",from=\"a\",to=\"b\","
	    "class=\"technical\",kind=\"technical\"} 1");
}
END_TEST

START_TEST(test_escaping)
{
	const char *t = render();

	ck_line(t, "llmfb_attempts_total{route=\"" WEIRD_ESC "\",target=\"a\","
	    "outcome=\"ok\"} 1");
	/* The raw newline never reaches the text. */
	ck_assert_ptr_null(strstr(t, "na\nme"));
}
END_TEST

START_TEST(test_histogram)
{
	const char *t = render();
	char line[256];
	size_t i, k, below;

	for (i = 0; i < ARRAY_SIZE(les); i++) {
		for (below = 0, k = 0; k < ARRAY_SIZE(ttft_a); k++)
			if (ttft_a[k] <= le_ms[i])
				below++;
		snprintf(line, sizeof(line), "llmfb_first_token_seconds_bucket"
		    "{target=\"a\",provider=\"p\",le=\"%s\"} %zu", les[i], below);
		ck_line(t, line);
		snprintf(line, sizeof(line), "llmfb_first_token_seconds_bucket"
		    "{target=\"b\",provider=\"p\",le=\"%s\"} 0", les[i]);
		ck_line(t, line);
	}
	ck_line(t, "llmfb_first_token_seconds_bucket{target=\"a\",provider=\"p\","
	    "le=\"0.1\"} 4");
	ck_line(t, "llmfb_first_token_seconds_bucket{target=\"a\",provider=\"p\","
	    "le=\"+Inf\"} 7");
	ck_line(t, "llmfb_first_token_seconds_count{target=\"a\",provider=\"p\"} 7");
	ck_line(t, "llmfb_first_token_seconds_sum{target=\"b\",provider=\"p\"} 0");
	ck_line(t, "llmfb_attempt_seconds_bucket{target=\"a\",provider=\"p\",le=\"0.1\"} 0");
	ck_line(t, "llmfb_attempt_seconds_bucket{target=\"a\",provider=\"p\",le=\"0.25\"} 1");
	ck_line(t, "llmfb_attempt_seconds_sum{target=\"a\",provider=\"p\"} 0.25");
	ck_line(t, "llmfb_shim_to_daemon_seconds_bucket{le=\"0.025\"} 1");
	ck_line(t, "llmfb_shim_to_daemon_seconds_bucket{le=\"+Inf\"} 1");
	ck_line(t, "llmfb_shim_to_daemon_seconds_sum 0.0005");
	ck_line(t, "llmfb_shim_to_daemon_seconds_count 1");
}
END_TEST

START_TEST(test_histogram_sum)
{
	const char *t = render(), *p;
	double want = 0, got;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ttft_a); i++)
		want += ttft_a[i] / 1000;
	p = strstr(t, "\nllmfb_first_token_seconds_sum{target=\"a\",provider=\"p\"} ");
	ck_assert_ptr_nonnull(p);
	got = strtod(strchr(p, '}') + 2, NULL);
	/* Printed so that it reads back exactly. */
	ck_assert(got == want);
}
END_TEST

START_TEST(test_breakers)
{
	const struct target *b = config_target(d.cfg, "b");
	struct tstat *ts = stats_target(d.stats, "b");
	uint64_t now = now_mono_ms();
	const char *t;

	t = render();
	ck_line(t, "llmfb_breaker_state{target=\"a\",provider=\"p\"} 2");	/* tripped */
	ck_line(t, "llmfb_breaker_state{target=\"b\",provider=\"p\"} 0");
	ck_line(t, "llmfb_breaker_opens_total{target=\"a\",provider=\"p\"} 1");
	ck_line(t, "llmfb_breaker_opens_total{target=\"b\",provider=\"p\"} 0");
	/* Open for longer than its cooldown: seen as half-open. */
	ck_assert_uint_gt(now, b->breaker.cooldown_ms + 1);
	ts->br.state = BREAKER_OPEN;
	ts->br.opened_ms = now - b->breaker.cooldown_ms - 1;
	t = render();
	ck_line(t, "llmfb_breaker_state{target=\"b\",provider=\"p\"} 1");
}
END_TEST

START_TEST(test_targets_and_routes)
{
	const char *t = render();

	ck_line(t, "llmfb_target_drained{target=\"a\",provider=\"p\"} 0");
	ck_line(t, "llmfb_target_drained{target=\"b\",provider=\"p\"} 1");
	ck_line(t, "llmfb_target_in_flight{target=\"a\",provider=\"p\"} 1");
	ck_line(t, "llmfb_tokens_total{target=\"a\",provider=\"p\",direction=\"input\"} 1200");
	ck_line(t, "llmfb_tokens_total{target=\"a\",provider=\"p\",direction=\"output\"} 345");
	ck_line(t, "llmfb_tokens_total{target=\"b\",provider=\"p\",direction=\"input\"} 0");
	ck_line(t, "llmfb_target_spend_usd_total{target=\"a\",provider=\"p\"} 0.5");
	ck_line(t, "llmfb_target_spend_usd_total{target=\"b\",provider=\"p\"} 0.1");
	ck_line(t, "llmfb_target_429_total{target=\"a\",provider=\"p\"} 3");
	ck_line(t, "llmfb_target_ratelimit_remaining{target=\"a\",provider=\"p\","
	    "window=\"requests\"} 0");
	ck_line(t, "llmfb_target_ratelimit_remaining{target=\"a\",provider=\"p\","
	    "window=\"tokens\"} 4000");
	ck_line(t, "llmfb_target_rate_limited{target=\"a\",provider=\"p\"} 1");
	ck_line(t, "llmfb_target_rate_limited{target=\"b\",provider=\"p\"} 0");
	ck_line(t, "llmfb_route_spend_usd_total{route=\"chat\"} 1.25");
	ck_line(t, "llmfb_fallback_cost_diff_usd{route=\"chat\"} -0.125");
	ck_line(t, "llmfb_client_aborts_total{route=\"chat\","
	    "fell_back=\"true\"} 2");
	ck_line(t, "llmfb_client_aborts_total{route=\"chat\","
	    "fell_back=\"false\"} 3");
	ck_line(t, "llmfb_safe_failures_total{route=\"chat\"} 1");
	ck_line(t, "llmfb_midstream_continued_total{route=\"chat\"} 4");
	ck_line(t, "llmfb_midstream_errors_total{route=\"chat\"} 6");
	ck_line(t, "llmfb_hedges_total{route=\"chat\"} 7");
	ck_line(t, "llmfb_hedges_won_total{route=\"chat\"} 5");
	ck_line(t, "llmfb_hedges_cancelled_total{route=\"chat\"} 6");
	ck_line(t, "llmfb_hedges_capped_total{route=\"chat\"} 2");
	/* The kernel's view: network time in the fast buckets. */
	ck_line(t, "llmfb_network_seconds_bucket{target=\"a\",provider=\"p\",le=\"0.00025\"} 0");
	ck_line(t, "llmfb_network_seconds_bucket{target=\"a\",provider=\"p\",le=\"0.0005\"} 1");
	ck_line(t, "llmfb_provider_seconds_bucket{target=\"a\",provider=\"p\",le=\"0.1\"} 0");
	ck_line(t, "llmfb_provider_seconds_bucket{target=\"a\",provider=\"p\",le=\"0.25\"} 1");
	ck_line(t, "llmfb_tcp_retransmits_total{target=\"a\",provider=\"p\"} 3");
	ck_line(t, "llmfb_tcp_srtt_seconds{target=\"a\",provider=\"p\"} 0.0015");
	ck_line(t, "llmfb_target_reachable{target=\"a\",provider=\"p\"} 0");
	/* b was never reached: no address, no verdict. */
	ck_assert_ptr_null(strstr(t, "llmfb_target_reachable{target=\"b\",provider=\"p\"}"));
	/* Only what the running config names. */
	ck_assert_ptr_null(strstr(t, "\"gone\""));
	ck_assert_ptr_null(strstr(t, "\"old\""));
}
END_TEST

/* Each family: one HELP, then one TYPE, then its samples, and no
 * sample outside the family declared last. */
START_TEST(test_families)
{
	const char *t = render(), *line, *nl;
	char help[128], type[128];
	const char *fam = NULL;
	size_t i, famlen = 0;

	for (i = 0; i < ARRAY_SIZE(families); i++) {
		snprintf(help, sizeof(help), "# HELP %s ", families[i]);
		snprintf(type, sizeof(type), "# TYPE %s ", families[i]);
		ck_assert_uint_eq(count(t, help), 1);
		ck_assert_uint_eq(count(t, type), 1);
		ck_assert(strstr(t, help) < strstr(t, type));
	}
	ck_assert_uint_eq(count(t, "# HELP "), ARRAY_SIZE(families));
	ck_assert_uint_eq(count(t, "# TYPE "), ARRAY_SIZE(families));
	for (line = t; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		ck_assert_ptr_nonnull(nl);
		if (strncmp(line, "# TYPE ", 7) == 0) {
			fam = line + 7;
			famlen = strcspn(fam, " ");
		} else if (line[0] != '#') {
			ck_assert_msg(fam != NULL &&
			    strncmp(line, fam, famlen) == 0,
			    "sample out of its family: %.*s", (int)(nl - line),
			    line);
		}
	}
}
END_TEST

START_TEST(test_no_secrets)
{
	const char *t = render();

	ck_assert_ptr_nonnull(config_target(d.cfg, "a")->provider->api_key);
	ck_assert_ptr_null(strstr(t, "sk-very-secret"));
	ck_assert_ptr_null(strstr(t, "secret-host"));
	/* Model names are no secret: llmfb_target_info and the model
	 * families carry them (issue 24). */
}
END_TEST

/* Model and provider labels where they belong, and money in decimals:
 * 0.1 + 0.2 dollars is 0.3, not 0.30000000000000004. */
START_TEST(test_models_and_money)
{
	const char *t;

	stats_model_add(d.stats, "p", "m1", 1000, 200, 0.1);
	stats_model_add(d.stats, "p", "m1", 10, 2, 0.2);
	stats_model_add(d.stats, "p", NULL, 5, 0, 0);
	stats_target(d.stats, "a")->spend_usd = 0.1 + 0.2;
	stats_route(d.stats, "chat")->spend_usd = 1e-9 * 3;
	t = render();
	ck_line(t, "llmfb_target_info{target=\"a\",provider=\"p\","
	    "dialect=\"openai\",model=\"m1\"} 1");
	ck_line(t, "llmfb_model_tokens_total{provider=\"p\",model=\"m1\","
	    "direction=\"input\"} 1010");
	ck_line(t, "llmfb_model_tokens_total{provider=\"p\",model=\"m1\","
	    "direction=\"output\"} 202");
	ck_line(t, "llmfb_model_tokens_total{provider=\"p\",model=\"\","
	    "direction=\"input\"} 5");
	ck_line(t, "llmfb_model_spend_usd_total{provider=\"p\",model=\"m1\"} "
	    "0.3");
	ck_line(t, "llmfb_model_spend_usd_total{provider=\"p\",model=\"\"} 0");
	ck_line(t, "llmfb_target_spend_usd_total{target=\"a\",provider=\"p\"} "
	    "0.3");
	ck_line(t, "llmfb_route_spend_usd_total{route=\"chat\"} 0.000000003");
	ck_line(t, "llmfb_tokens_total{target=\"a\",provider=\"p\","
	    "direction=\"input\"} 1200");
}
END_TEST

/* Every cap short of the whole text fails and leaves the buffer as it
 * was; the exact size succeeds. */
START_TEST(test_too_small)
{
	size_t full = strlen(render()), max;
	struct buf b;

	for (max = 0; max < full; max += max < 64 ? 1 : 97) {
		buf_init(&b, max);
		if (max >= 4)
			ck_assert_int_eq(buf_addstr(&b, "keep"), 0);
		ck_assert_int_eq(metrics_render(&d, &b), -1);
		ck_assert_uint_eq(b.len, (max >= 4 ? 4 : 0));
		if (max >= 4)
			ck_assert_str_eq(b.data, "keep");
		buf_free(&b);
	}
	buf_init(&b, full - 1);
	ck_assert_int_eq(metrics_render(&d, &b), -1);
	buf_free(&b);
	buf_init(&b, full);
	ck_assert_int_eq(metrics_render(&d, &b), 0);
	ck_assert_msg(strcmp(b.data, out.data) == 0, "not the same text");
	buf_free(&b);
}
END_TEST

/* METRICS_DUMP=FILE: the exposition, for tests/e2e/promcheck.py. */
START_TEST(test_dump)
{
	const char *path = getenv("METRICS_DUMP");
	const char *t = render();
	FILE *f;

	if (path == NULL)
		return;
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_uint_eq(fwrite(t, 1, strlen(t), f), strlen(t));
	ck_assert_int_eq(fclose(f), 0);
}
END_TEST

/* ---- the HTTP listener -------------------------------------------------- */

/* The loop runs in a thread of its own; the test's thread is the client
 * and touches the daemon only before the loop starts and after it
 * ends.  A byte down the stop pipe ends it, from the loop itself. */
static struct metrics_http *mh;
static int port;
static int stop_fd[2];
static struct watcher stop_w;
static pthread_t loop_thread;

static void
stop_now(void *arg)
{
	(void)arg;
	metrics_http_free(mh);
	mh = NULL;
	loop_stop(d.loop);
}

static void
stop_event(struct watcher *w, uint32_t events)
{
	(void)events;
	watcher_del(d.loop, w);
	/* Not from a watcher: its connections may have events pending. */
	loop_defer(d.loop, stop_now, NULL);
}

static void *
run_loop(void *arg)
{
	(void)arg;
	loop_run(d.loop);
	return NULL;
}

/* A port free a moment ago (metrics_http_new has no way to tell the
 * one the kernel picked). */
static int
free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

static void
http_setup(void)
{
	setup();
	render();		/* what the listener must answer */
	ck_assert_ptr_nonnull(d.loop = loop_new());
	port = free_port();
	ck_assert_ptr_nonnull(mh = metrics_http_new(&d, "127.0.0.1", port));
	ck_assert_int_eq(pipe2(stop_fd, O_CLOEXEC), 0);
	stop_w.fd = stop_fd[0];
	stop_w.events = EPOLLIN;
	stop_w.cb = stop_event;
	ck_assert_int_eq(watcher_add(d.loop, &stop_w), 0);
	ck_assert_int_eq(pthread_create(&loop_thread, NULL, run_loop, NULL), 0);
}

static void
http_teardown(void)
{
	ck_assert_int_eq(write(stop_fd[1], "x", 1), 1);
	ck_assert_int_eq(pthread_join(loop_thread, NULL), 0);
	ck_assert_ptr_null(mh);
	close(stop_fd[0]);
	close(stop_fd[1]);
	loop_free(d.loop);
	teardown();
}

/* A connected client; the receive timeout only keeps a broken server
 * from hanging the test. */
static int
client(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 2 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)), 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* Everything the server sends until it closes; NULL if it reset. */
static char *
read_all(int fd)
{
	struct buf b;
	char chunk[4096];
	ssize_t n;

	buf_init(&b, 1u << 22);
	ck_assert_int_eq(buf_addstr(&b, ""), 0);
	while ((n = recv(fd, chunk, sizeof(chunk), 0)) > 0)
		ck_assert_int_eq(buf_add(&b, chunk, (size_t)n), 0);
	ck_assert_msg(n == 0 || errno == ECONNRESET, "recv: %s",
	    strerror(errno));
	close(fd);
	if (n < 0) {
		buf_free(&b);
		return NULL;
	}
	return b.data;
}

static char *
ask(const char *req)
{
	int fd = client();

	ck_assert_int_eq(send(fd, req, strlen(req), MSG_NOSIGNAL),
	    (ssize_t)strlen(req));
	return read_all(fd);
}

static const char *
body_of(const char *resp)
{
	const char *p = strstr(resp, "\r\n\r\n");

	ck_assert_ptr_nonnull(p);
	return p + 4;
}

static void
check_status(const char *resp, const char *status_line)
{
	ck_assert_msg(strncmp(resp, status_line, strlen(status_line)) == 0 &&
	    resp[strlen(status_line)] == '\r', "got: %.40s", resp);
	ck_assert_ptr_nonnull(strstr(resp, "\r\nConnection: close\r\n"));
}

static size_t
content_length(const char *resp)
{
	const char *p = strstr(resp, "\r\nContent-Length: ");
	uint64_t v;
	char num[32];

	ck_assert_ptr_nonnull(p);
	p += 18;
	snprintf(num, sizeof(num), "%.*s", (int)strcspn(p, "\r"), p);
	ck_assert_int_eq(parse_u64(num, 0, UINT32_MAX, &v), 0);
	return (size_t)v;
}

START_TEST(test_http_body)
{
	char *r = ask("GET /metrics HTTP/1.0\r\nHost: x\r\n"
	    "Accept: text/plain\r\n\r\n");

	check_status(r, "HTTP/1.1 200 OK");
	ck_assert_ptr_nonnull(strstr(r, "\r\nContent-Type: text/plain; "
	    "version=0.0.4; charset=utf-8\r\n"));
	ck_line(body_of(r), "llmfb_info{version=\"0.1.0\"} 1");
	ck_line(body_of(r), "llmfb_attempts_total{route=\"chat\","
	    "target=\"a\",outcome=\"ok\"} 3");
	ck_assert_uint_eq(content_length(r), strlen(body_of(r)));
	free(r);
}
END_TEST

START_TEST(test_http_paths)
{
	static const char *const ok[] = {
		"GET /metrics/ HTTP/1.1\r\n\r\n",
		"GET /metrics?name[]=llmfb_info HTTP/1.1\r\n\r\n",
		"GET http://127.0.0.1:9464/metrics HTTP/1.1\r\n\r\n",
		"GET /metrics HTTP/1.1\n\n",
	};
	size_t i;
	char *r;

	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		r = ask(ok[i]);
		check_status(r, "HTTP/1.1 200 OK");
		free(r);
	}
	r = ask("GET /nope HTTP/1.1\r\n\r\n");
	check_status(r, "HTTP/1.1 404 Not Found");
	free(r);
	r = ask("GET /metricsx HTTP/1.1\r\n\r\n");
	check_status(r, "HTTP/1.1 404 Not Found");
	free(r);
}
END_TEST

START_TEST(test_http_head)
{
	char *r = ask("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");

	check_status(r, "HTTP/1.1 200 OK");
	ck_assert_uint_gt(content_length(r), 1000);
	ck_assert_msg(body_of(r)[0] == '\0', "HEAD got a body");
	free(r);
}
END_TEST

START_TEST(test_http_methods)
{
	char *r = ask("POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\n"
	    "hello");

	check_status(r, "HTTP/1.1 405 Method Not Allowed");
	ck_assert_ptr_nonnull(strstr(r, "\r\nAllow: GET, HEAD\r\n"));
	ck_assert_uint_eq(content_length(r), strlen(body_of(r)));
	free(r);
	r = ask("get /metrics HTTP/1.1\r\n\r\n");	/* case matters */
	check_status(r, "HTTP/1.1 405 Method Not Allowed");
	free(r);
}
END_TEST

/* A body the server does not read still lets its answer through: it
 * reads and drops it rather than reset the connection. */
START_TEST(test_http_unread_body)
{
	static char req[32768];
	int n;
	char *r;

	n = snprintf(req, sizeof(req), "PUT /metrics HTTP/1.1\r\n"
	    "Content-Length: 30000\r\n\r\n");
	memset(req + n, 'x', 30000);
	r = ask(req);
	ck_assert_ptr_nonnull(r);
	check_status(r, "HTTP/1.1 405 Method Not Allowed");
	free(r);
}
END_TEST

START_TEST(test_http_garbage)
{
	static const char *const bad[] = {
		"garbage\r\n\r\n",
		"GET /metrics\r\n\r\n",
		"GET /metrics HTTP/2.0\r\n\r\n",
		"GET  /metrics HTTP/1.1\r\n\r\n",
		"GET /metrics HTTP/1.1 x\r\n\r\n",
		"G(T /metrics HTTP/1.1\r\n\r\n",
		"GET /met\x01rics HTTP/1.1\r\n\r\n",
		"\r\n\r\n",
	};
	size_t i;
	char *r;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		r = ask(bad[i]);
		check_status(r, "HTTP/1.1 400 Bad Request");
		free(r);
	}
}
END_TEST

/* A client that closes its side after the request line still gets its
 * answer; one that sends a head over 8 KiB gets none. */
START_TEST(test_http_half_close_and_overflow)
{
	char big[9000];
	int fd = client();
	char *r;

	ck_assert_int_eq(send(fd, "GET /metrics HTTP/1.0\r\n", 23, 0), 23);
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	r = read_all(fd);
	check_status(r, "HTTP/1.1 200 OK");
	free(r);
	fd = client();			/* half a request line, then EOF */
	ck_assert_int_eq(send(fd, "GET /met", 8, 0), 8);
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	r = read_all(fd);
	ck_assert(r == NULL || r[0] == '\0');
	free(r);
	memset(big, 'A', sizeof(big));
	fd = client();
	send(fd, big, sizeof(big), MSG_NOSIGNAL);	/* may be cut off */
	r = read_all(fd);
	ck_assert(r == NULL || r[0] == '\0');
	free(r);
}
END_TEST

/* Past 64 connections, one is closed at once; the server takes them in
 * the order they came, so it is the 65th. */
START_TEST(test_http_bound)
{
	int fds[64], fd, i;
	char c;

	for (i = 0; i < 64; i++)
		fds[i] = client();
	fd = client();
	ck_assert_int_eq(recv(fd, &c, 1, 0), 0);
	close(fd);
	for (i = 0; i < 64; i++)
		close(fds[i]);
}
END_TEST

/* The listener's answer is the text metrics_render gave before the
 * loop started. */
START_TEST(test_http_same_text)
{
	char *r = ask("GET /metrics HTTP/1.1\r\n\r\n");

	ck_assert_msg(strcmp(body_of(r), out.data) == 0, "not the same text");
	free(r);
}
END_TEST

START_TEST(test_http_bad_address)
{
	ck_assert_ptr_null(metrics_http_new(&d, "localhost", 9464));
	ck_assert_ptr_null(metrics_http_new(&d, "127.0.0.1", 70000));
	/* Taken. */
	ck_assert_ptr_null(metrics_http_new(&d, "127.0.0.1", port));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("render");
	TCase *http = tcase_create("http");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_scalars);
	tcase_add_test(tc, test_label_sets);
	tcase_add_test(tc, test_escaping);
	tcase_add_test(tc, test_histogram);
	tcase_add_test(tc, test_histogram_sum);
	tcase_add_test(tc, test_breakers);
	tcase_add_test(tc, test_targets_and_routes);
	tcase_add_test(tc, test_families);
	tcase_add_test(tc, test_models_and_money);
	tcase_add_test(tc, test_no_secrets);
	tcase_add_test(tc, test_too_small);
	tcase_add_test(tc, test_dump);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(http, http_setup, http_teardown);
	tcase_add_test(http, test_http_body);
	tcase_add_test(http, test_http_paths);
	tcase_add_test(http, test_http_head);
	tcase_add_test(http, test_http_methods);
	tcase_add_test(http, test_http_unread_body);
	tcase_add_test(http, test_http_garbage);
	tcase_add_test(http, test_http_half_close_and_overflow);
	tcase_add_test(http, test_http_bound);
	tcase_add_test(http, test_http_same_text);
	tcase_add_test(http, test_http_bad_address);
	suite_add_tcase(s, http);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
