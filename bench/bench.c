/* llmfb-bench: a closed-loop latency and throughput load generator.
 *
 * Each of -c workers owns one libcurl easy handle, reused for every
 * request so the connection is kept alive, and sends its next request as
 * soon as the previous one is answered.  Latency is timed around
 * curl_easy_perform, so it is what a plain libcurl program would see.
 * Everything is summed up in one line, easy to collect from a script.
 *
 * Self-contained on purpose: it links libcurl and nothing of llmfb. */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "util.h"

#define MAX_CONCURRENCY	4096
#define REQUEST_TIMEOUT_MS 30000L

struct config {
	const char *url;
	const char *data;		/* POST body, NULL for GET */
	const char *cacert;
	const char *unix_socket;
	const char *label;
	long concurrency;
	long requests;			/* per worker, unless duration_ms */
	long warmup;			/* per worker */
	long duration_ms;		/* 0: run -n requests instead */
	struct curl_slist *headers;
	struct curl_slist *resolve_list;
};

struct worker {
	pthread_t thread;
	unsigned idx;
	const struct config *cfg;
	pthread_barrier_t *barrier;
	uint64_t *lat_ns;		/* measured latencies */
	size_t n, cap;
	unsigned long errors;
	bool failed;			/* could not even set up */
	uint64_t start_ns, end_ns;	/* measured phase, monotonic */
};

static const char *prog = "llmfb-bench";

static void
usage(void)
{
	fprintf(stderr,
	    "usage: %s --url URL [--data STRING] [--cacert FILE]\n"
	    "       [--resolve HOST:PORT:ADDR]... [--unix-socket PATH]\n"
	    "       [-c CONCURRENCY (1)] [-n REQUESTS_PER_WORKER (1000)]\n"
	    "       [--warmup N (50 per worker)] [--duration-ms N (instead"
	    " of -n)]\n"
	    "       [--label TEXT] [--header 'NAME: VALUE']...\n", prog);
	exit(2);
}

static long
parse_long(const char *s, long min, long max, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "%s: bad %s: '%s' (want %ld..%ld)\n", prog,
		    what, s, min, max);
		usage();
	}
	return v;
}

static struct curl_slist *
slist_add(struct curl_slist *l, const char *s)
{
	struct curl_slist *n = curl_slist_append(l, s);

	if (!n) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(1);
	}
	return n;
}

/* The body is not looked at; without a callback libcurl would print it. */
static size_t
discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	(void)ptr;
	(void)userdata;
	return size * nmemb;
}

static CURL *
make_handle(const struct config *cfg, char *errbuf)
{
	CURL *h = curl_easy_init();
	CURLcode rc = CURLE_OK;

	if (!h) {
		fprintf(stderr, "%s: curl_easy_init failed\n", prog);
		return NULL;
	}
#define SET(opt, val) \
	do { \
		if (rc == CURLE_OK) \
			rc = curl_easy_setopt(h, opt, val); \
	} while (0)
	SET(CURLOPT_URL, cfg->url);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	/* Threads: libcurl must not use signals for its timeouts. */
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
	SET(CURLOPT_WRITEFUNCTION, discard);
	if (cfg->headers)
		SET(CURLOPT_HTTPHEADER, cfg->headers);
	if (cfg->data) {
		SET(CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)strlen(cfg->data));
		SET(CURLOPT_POSTFIELDS, cfg->data);
	}
	if (cfg->cacert)
		SET(CURLOPT_CAINFO, cfg->cacert);
	if (cfg->resolve_list)
		SET(CURLOPT_RESOLVE, cfg->resolve_list);
	if (cfg->unix_socket)
		SET(CURLOPT_UNIX_SOCKET_PATH, cfg->unix_socket);
#undef SET
	if (rc != CURLE_OK) {
		fprintf(stderr, "%s: setting up the handle: %s\n", prog,
		    curl_easy_strerror(rc));
		curl_easy_cleanup(h);
		return NULL;
	}
	return h;
}

/* One request; returns true on a 200.  The first failure of each phase
 * of each worker is told on stderr, the rest only counted, so a dead
 * server does not flood the terminal. */
static bool
one_request(CURL *h, struct worker *w, char *errbuf, bool *told,
    const char *phase)
{
	CURLcode rc;
	long code = 0;

	errbuf[0] = '\0';
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_OK && code == 200)
		return true;
	if (!*told) {
		*told = true;
		if (rc != CURLE_OK)
			fprintf(stderr, "%s: worker %u, %s: %s\n", prog,
			    w->idx, phase,
			    errbuf[0] ? errbuf : curl_easy_strerror(rc));
		else
			fprintf(stderr, "%s: worker %u, %s: HTTP %ld\n", prog,
			    w->idx, phase, code);
	}
	return false;
}

static bool
record(struct worker *w, uint64_t ns)
{
	if (w->n == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 4096;
		uint64_t *nl = realloc(w->lat_ns, ncap * sizeof(*nl));

		if (!nl)
			return false;
		w->lat_ns = nl;
		w->cap = ncap;
	}
	w->lat_ns[w->n++] = ns;
	return true;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	const struct config *cfg = w->cfg;
	char errbuf[CURL_ERROR_SIZE];
	bool told_warm = false, told = false;
	uint64_t deadline = 0;
	CURL *h;

	h = make_handle(cfg, errbuf);
	if (!h)
		w->failed = true;
	for (long i = 0; h && i < cfg->warmup; i++)
		one_request(h, w, errbuf, &told_warm, "warmup");

	/* Everybody starts measuring at once, warm or not, and the failed
	 * ones must still turn up or the others would wait for ever. */
	pthread_barrier_wait(w->barrier);
	if (!h)
		return NULL;

	w->start_ns = now_mono_ns();
	if (cfg->duration_ms)
		deadline = w->start_ns + (uint64_t)cfg->duration_ms * 1000000;
	for (long i = 0;; i++) {
		uint64_t t0, t1;
		bool ok;

		if (cfg->duration_ms ? now_mono_ns() >= deadline :
		    i >= cfg->requests)
			break;
		t0 = now_mono_ns();
		ok = one_request(h, w, errbuf, &told, "request");
		t1 = now_mono_ns();
		if (!ok)
			w->errors++;
		if (!record(w, t1 - t0)) {
			fprintf(stderr, "%s: out of memory\n", prog);
			w->failed = true;
			break;
		}
	}
	w->end_ns = now_mono_ns();
	curl_easy_cleanup(h);
	return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array, in µs. */
static unsigned long long
pct_us(const uint64_t *v, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return 0;
	rank = (size_t)ceil(p / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (unsigned long long)((v[rank - 1] + 500) / 1000);
}

int
main(int argc, char **argv)
{
	enum { O_URL = 256, O_DATA, O_CACERT, O_RESOLVE, O_UNIX, O_WARMUP,
	    O_DURATION, O_LABEL, O_HEADER };
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, O_URL },
		{ "data", required_argument, NULL, O_DATA },
		{ "cacert", required_argument, NULL, O_CACERT },
		{ "resolve", required_argument, NULL, O_RESOLVE },
		{ "unix-socket", required_argument, NULL, O_UNIX },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "requests", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "duration-ms", required_argument, NULL, O_DURATION },
		{ "label", required_argument, NULL, O_LABEL },
		{ "header", required_argument, NULL, O_HEADER },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg = {
		.label = "-", .concurrency = 1, .requests = 1000,
		.warmup = 50,
	};
	bool have_n = false, failed = false;
	pthread_barrier_t barrier;
	struct worker *ws;
	uint64_t *all, start = UINT64_MAX, end = 0;
	size_t total = 0, k = 0;
	unsigned long errors = 0;
	double secs;
	int c, err;

	while ((c = getopt_long(argc, argv, "c:n:h", longopts, NULL)) != -1) {
		switch (c) {
		case O_URL:
			cfg.url = optarg;
			break;
		case O_DATA:
			cfg.data = optarg;
			break;
		case O_CACERT:
			cfg.cacert = optarg;
			break;
		case O_RESOLVE:
			cfg.resolve_list = slist_add(cfg.resolve_list,
			    optarg);
			break;
		case O_UNIX:
			cfg.unix_socket = optarg;
			break;
		case O_HEADER:
			cfg.headers = slist_add(cfg.headers, optarg);
			break;
		case 'c':
			cfg.concurrency = parse_long(optarg, 1,
			    MAX_CONCURRENCY, "-c");
			break;
		case 'n':
			cfg.requests = parse_long(optarg, 1, 100000000, "-n");
			have_n = true;
			break;
		case O_WARMUP:
			cfg.warmup = parse_long(optarg, 0, 100000000,
			    "--warmup");
			break;
		case O_DURATION:
			cfg.duration_ms = parse_long(optarg, 1,
			    24L * 3600 * 1000, "--duration-ms");
			break;
		case O_LABEL:
			cfg.label = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog,
		    argv[optind]);
		usage();
	}
	if (!cfg.url) {
		fprintf(stderr, "%s: --url is required\n", prog);
		usage();
	}
	if (have_n && cfg.duration_ms) {
		fprintf(stderr, "%s: give -n or --duration-ms, not both\n",
		    prog);
		usage();
	}

	/* Once, before any thread: curl_global_init is not thread safe. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "%s: curl_global_init failed\n", prog);
		return 1;
	}
	if (cfg.data)
		cfg.headers = slist_add(cfg.headers,
		    "Content-Type: application/json");

	ws = calloc((size_t)cfg.concurrency, sizeof(*ws));
	if (!ws) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return 1;
	}
	err = pthread_barrier_init(&barrier, NULL,
	    (unsigned)cfg.concurrency);
	if (err) {
		fprintf(stderr, "%s: pthread_barrier_init: %s\n", prog,
		    strerror(err));
		return 1;
	}
	for (long i = 0; i < cfg.concurrency; i++) {
		struct worker *w = &ws[i];

		w->idx = (unsigned)i;
		w->cfg = &cfg;
		w->barrier = &barrier;
		if (!cfg.duration_ms) {
			w->cap = (size_t)cfg.requests;
			w->lat_ns = malloc(w->cap * sizeof(*w->lat_ns));
			if (!w->lat_ns) {
				fprintf(stderr, "%s: out of memory\n", prog);
				return 1;
			}
		}
	}
	for (long i = 0; i < cfg.concurrency; i++) {
		err = pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]);
		if (err) {
			/* The barrier counts on every worker: with one
			 * missing the rest would hang. */
			fprintf(stderr, "%s: pthread_create: %s\n", prog,
			    strerror(err));
			exit(1);
		}
	}
	for (long i = 0; i < cfg.concurrency; i++) {
		struct worker *w = &ws[i];

		pthread_join(w->thread, NULL);
		if (w->failed)
			failed = true;
		if (w->n) {
			if (w->start_ns < start)
				start = w->start_ns;
			if (w->end_ns > end)
				end = w->end_ns;
		}
		total += w->n;
		errors += w->errors;
	}
	pthread_barrier_destroy(&barrier);

	all = malloc((total ? total : 1) * sizeof(*all));
	if (!all) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return 1;
	}
	for (long i = 0; i < cfg.concurrency; i++) {
		memcpy(all + k, ws[i].lat_ns, ws[i].n * sizeof(*all));
		k += ws[i].n;
		free(ws[i].lat_ns);
	}
	qsort(all, total, sizeof(*all), cmp_u64);
	secs = total ? (double)(end - start) / 1e9 : 0;

	printf("label=%s c=%ld n=%zu errors=%lu p50_us=%llu p90_us=%llu "
	    "p95_us=%llu p99_us=%llu max_us=%llu rps=%lld\n", cfg.label,
	    cfg.concurrency, total, errors, pct_us(all, total, 50),
	    pct_us(all, total, 90), pct_us(all, total, 95),
	    pct_us(all, total, 99),
	    pct_us(all, total, 100),
	    secs > 0 ? llround((double)total / secs) : 0LL);
	fflush(stdout);

	free(all);
	free(ws);
	curl_slist_free_all(cfg.headers);
	curl_slist_free_all(cfg.resolve_list);
	curl_global_cleanup();
	return errors == 0 && !failed ? 0 : 1;
}
