/* lcclient: a plain libcurl client used by the end-to-end tests.
 *
 * It stands for an "unmodified program": it uses libcurl the ordinary way
 * and knows nothing about llmfb, so whatever llmfb does to its transfers
 * must be done from outside (the LD_PRELOAD shim).  It reports, one line
 * per URL, what libcurl saw, plus the few response headers the tests
 * look at, so a shell script can check the outcome with grep.
 *
 * Self-contained on purpose: it links libcurl and nothing of llmfb. */

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#define HDR_MAX		512
#define DEFAULT_TIMEOUT_MS 30000L

/* The response headers we capture, and the key each is printed under. */
enum { H_TARGET, H_ATTEMPTS, H_FALLBACK, H_PROVIDER, H_REASONS,
	H_RETRY_AFTER, H_COUNT };
static const char *const hdr_names[H_COUNT] = {
	"x-llmfb-target", "x-llmfb-attempts", "x-llmfb-fallback",
	"x-mock-provider", "x-llmfb-reasons", "retry-after",
};

struct xfer {
	unsigned idx;
	const char *url;
	CURL *easy;			/* multi mode: this transfer's handle */
	FILE *body;			/* --body-dir: DIR/<idx>.body */
	char *body_path;
	bool body_failed;		/* write to the body file failed */
	unsigned long long bytes;
	long long first_ns, last_ns;
	bool have[H_COUNT];
	char hdr[H_COUNT][HDR_MAX];
	bool done;
	CURLcode rc;
	long code;
	char *eff_url;
	char *scheme;
	char errbuf[CURL_ERROR_SIZE];
};

struct opts {
	bool multi;
	char *data;			/* POST body, NULL for GET */
	size_t data_len;
	struct curl_slist *headers;
	struct curl_slist *resolve;
	const char *cacert;
	const char *body_dir;
	long timeout_ms;
	bool verbose;
};

static const char *prog = "lcclient";

static void
usage(void)
{
	fprintf(stderr,
	    "usage: %s [--mode easy|multi] [--data STRING | --data-file FILE]\n"
	    "       [-H \"Name: value\"]... [--cacert FILE]"
	    " [--resolve HOST:PORT:ADDR]...\n"
	    "       [--body-dir DIR] [--timeout-ms N] [-v] URL [URL...]\n",
	    prog);
	exit(2);
}

static void
usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "%s: %s: '%s'\n", prog, what, arg);
	usage();
}

static long long
now_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Read a whole file (or pipe) into memory; the body may be binary, so the
 * length is returned separately.  NUL-terminated for convenience only. */
static char *
read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t n;

		if (cap - len < 4096) {
			char *nb;

			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap);
			if (!nb) {
				fprintf(stderr, "%s: out of memory\n", prog);
				goto fail;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "%s: %s: read error\n", prog, path);
		goto fail;
	}
	fclose(f);
	buf[len] = '\0';
	*ret_len = len;
	return buf;
fail:
	free(buf);
	fclose(f);
	return NULL;
}

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t len = size * nmemb;
	long long now;

	if (len == 0)
		return 0;
	now = now_real_ns();
	if (x->bytes == 0)
		x->first_ns = now;
	x->last_ns = now;
	x->bytes += len;
	if (x->body && fwrite(ptr, 1, len, x->body) != len) {
		/* Returning short makes libcurl fail the transfer with
		 * CURLE_WRITE_ERROR, which is what we want reported. */
		x->body_failed = true;
		return 0;
	}
	return len;
}

static size_t
on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct xfer *x = userdata;
	size_t len = size * nitems;
	const char *colon, *v, *end;
	size_t namelen, vlen, i;

	/* A new status line starts a new response (after "100 Continue",
	 * say): only the final response's headers count. */
	if (len >= 5 && strncasecmp(buf, "HTTP/", 5) == 0) {
		memset(x->have, 0, sizeof(x->have));
		return len;
	}
	colon = memchr(buf, ':', len);
	if (!colon)
		return len;
	namelen = (size_t)(colon - buf);
	for (i = 0; i < H_COUNT; i++) {
		if (strlen(hdr_names[i]) == namelen &&
		    strncasecmp(buf, hdr_names[i], namelen) == 0)
			break;
	}
	if (i == H_COUNT)
		return len;

	v = colon + 1;
	end = buf + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	vlen = (size_t)(end - v);
	if (vlen >= HDR_MAX)
		vlen = HDR_MAX - 1;
	memcpy(x->hdr[i], v, vlen);
	x->hdr[i][vlen] = '\0';
	/* Output is one line per transfer: no control bytes may break it. */
	for (char *p = x->hdr[i]; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	x->have[i] = true;
	return len;
}

/* Set every option for one transfer.  In easy mode the same handle gets
 * them again for each URL: that keeps its connection cache (and so
 * keep-alive), which is the point of reusing it. */
static CURLcode
setup(CURL *h, const struct opts *o, struct xfer *x)
{
	CURLcode rc;

#define SET(opt, val) \
	do { \
		rc = curl_easy_setopt(h, opt, val); \
		if (rc != CURLE_OK) { \
			fprintf(stderr, "%s: T%u: setting %s: %s\n", prog, \
			    x->idx, #opt, curl_easy_strerror(rc)); \
			return rc; \
		} \
	} while (0)

	x->errbuf[0] = '\0';
	SET(CURLOPT_ERRORBUFFER, x->errbuf);
	SET(CURLOPT_URL, x->url);
	SET(CURLOPT_PRIVATE, (void *)x);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, (void *)x);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, (void *)x);
	SET(CURLOPT_TIMEOUT_MS, o->timeout_ms);
	if (o->headers)
		SET(CURLOPT_HTTPHEADER, o->headers);
	if (o->resolve)
		SET(CURLOPT_RESOLVE, o->resolve);
	if (o->cacert)
		SET(CURLOPT_CAINFO, o->cacert);
	if (o->data) {
		/* Size first: the body may hold NUL bytes. */
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->data_len);
		SET(CURLOPT_POSTFIELDS, o->data);
	}
	if (o->verbose)
		SET(CURLOPT_VERBOSE, 1L);
#undef SET
	return CURLE_OK;
}

static char *
dup_or_null(const char *s)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(1);
	}
	return d;
}

/* Record what a finished transfer looked like, before its handle is
 * reused (easy mode) or cleaned up (multi mode). */
static void
finish(CURL *h, struct xfer *x, CURLcode rc, const struct opts *o)
{
	char *s = NULL;
	long conns = -1;

	x->done = true;
	x->rc = rc;
	if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->code) != CURLE_OK)
		x->code = 0;
	if (curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &s) == CURLE_OK)
		x->eff_url = dup_or_null(s);
	s = NULL;
	if (curl_easy_getinfo(h, CURLINFO_SCHEME, &s) == CURLE_OK)
		x->scheme = dup_or_null(s);
	if (o->verbose && curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS,
	    &conns) == CURLE_OK)
		fprintf(stderr, "%s: T%u: num_connects=%ld\n", prog, x->idx,
		    conns);
	if (x->body) {
		if (fclose(x->body) != 0 && x->rc == CURLE_OK) {
			fprintf(stderr, "%s: %s: %s\n", prog, x->body_path,
			    strerror(errno));
			x->body_failed = true;
		}
		x->body = NULL;
	}
}

static void
run_easy(const struct opts *o, struct xfer *xs, unsigned n)
{
	CURL *h = curl_easy_init();

	if (!h) {
		fprintf(stderr, "%s: curl_easy_init failed\n", prog);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		CURLcode rc = setup(h, o, &xs[i]);

		if (rc == CURLE_OK)
			rc = curl_easy_perform(h);
		finish(h, &xs[i], rc, o);
	}
	curl_easy_cleanup(h);
}

static void
run_multi(const struct opts *o, struct xfer *xs, unsigned n)
{
	CURLM *m = curl_multi_init();
	CURLMcode mc = CURLM_OK;
	int running = 1;

	if (!m) {
		fprintf(stderr, "%s: curl_multi_init failed\n", prog);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		struct xfer *x = &xs[i];
		CURLcode rc;

		x->easy = curl_easy_init();
		if (!x->easy) {
			fprintf(stderr, "%s: curl_easy_init failed\n", prog);
			continue;
		}
		rc = setup(x->easy, o, x);
		if (rc != CURLE_OK) {
			finish(x->easy, x, rc, o);
			continue;
		}
		mc = curl_multi_add_handle(m, x->easy);
		if (mc != CURLM_OK) {
			fprintf(stderr, "%s: T%u: curl_multi_add_handle: %s\n",
			    prog, i, curl_multi_strerror(mc));
			finish(x->easy, x, CURLE_FAILED_INIT, o);
		}
	}

	while (running) {
		CURLMsg *msg;
		int queued;

		mc = curl_multi_perform(m, &running);
		if (mc != CURLM_OK) {
			fprintf(stderr, "%s: curl_multi_perform: %s\n", prog,
			    curl_multi_strerror(mc));
			break;
		}
		while ((msg = curl_multi_info_read(m, &queued))) {
			char *priv = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			    &priv);
			finish(msg->easy_handle, (struct xfer *)(void *)priv,
			    msg->data.result, o);
			curl_multi_remove_handle(m, msg->easy_handle);
		}
		if (!running)
			break;
		mc = curl_multi_poll(m, NULL, 0, 1000, NULL);
		if (mc != CURLM_OK) {
			fprintf(stderr, "%s: curl_multi_poll: %s\n", prog,
			    curl_multi_strerror(mc));
			break;
		}
	}

	/* Anything left unfinished (the multi loop failed) is detached and
	 * reported as never completed. */
	for (unsigned i = 0; i < n; i++) {
		struct xfer *x = &xs[i];

		if (!x->easy)
			continue;
		if (!x->done) {
			curl_multi_remove_handle(m, x->easy);
			finish(x->easy, x, CURLE_FAILED_INIT, o);
		}
		curl_easy_cleanup(x->easy);
		x->easy = NULL;
	}
	curl_multi_cleanup(m);
}

static const char *
or_dash(const char *s)
{
	return s ? s : "-";
}

static const char *
hdr_or_dash(const struct xfer *x, int i)
{
	return x->have[i] ? x->hdr[i] : "-";
}

/* One line per transfer on stdout; the error text, if any, on stderr.
 * Returns true if the transfer succeeded. */
static bool
report(const struct xfer *x)
{
	printf("T%u rc=%d code=%ld url=%s scheme=%s target=%s attempts=%s "
	    "fallback=%s provider=%s bytes=%llu first_ns=%lld last_ns=%lld "
	    "reasons=%s retry_after=%s\n",
	    x->idx, (int)x->rc, x->code, or_dash(x->eff_url),
	    or_dash(x->scheme), hdr_or_dash(x, H_TARGET),
	    hdr_or_dash(x, H_ATTEMPTS), hdr_or_dash(x, H_FALLBACK),
	    hdr_or_dash(x, H_PROVIDER), x->bytes, x->first_ns, x->last_ns,
	    hdr_or_dash(x, H_REASONS), hdr_or_dash(x, H_RETRY_AFTER));
	if (x->rc != CURLE_OK) {
		const char *why = x->errbuf[0] ? x->errbuf :
		    x->done ? curl_easy_strerror(x->rc) :
		    "transfer did not complete";

		fprintf(stderr, "%s: T%u: %s: %s\n", prog, x->idx, x->url,
		    why);
		return false;
	}
	return !x->body_failed;
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

static long
parse_long(const char *s, long min, long max, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		usage_error(what, s);
	return v;
}

int
main(int argc, char **argv)
{
	enum { O_MODE = 256, O_DATA, O_DATA_FILE, O_CACERT, O_RESOLVE,
	    O_BODY_DIR, O_TIMEOUT };
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, O_MODE },
		{ "data", required_argument, NULL, O_DATA },
		{ "data-file", required_argument, NULL, O_DATA_FILE },
		{ "header", required_argument, NULL, 'H' },
		{ "cacert", required_argument, NULL, O_CACERT },
		{ "resolve", required_argument, NULL, O_RESOLVE },
		{ "body-dir", required_argument, NULL, O_BODY_DIR },
		{ "timeout-ms", required_argument, NULL, O_TIMEOUT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .timeout_ms = DEFAULT_TIMEOUT_MS };
	const char *data_arg = NULL, *data_file = NULL;
	bool have_ctype = false, ok = true;
	struct xfer *xs;
	unsigned n;
	int c;

	while ((c = getopt_long(argc, argv, "H:vh", longopts, NULL)) != -1) {
		switch (c) {
		case O_MODE:
			if (strcmp(optarg, "easy") == 0)
				o.multi = false;
			else if (strcmp(optarg, "multi") == 0)
				o.multi = true;
			else
				usage_error("--mode must be easy or multi",
				    optarg);
			break;
		case O_DATA:
			data_arg = optarg;
			break;
		case O_DATA_FILE:
			data_file = optarg;
			break;
		case 'H':
			if (!strchr(optarg, ':') && !strchr(optarg, ';'))
				usage_error("-H wants \"Name: value\"",
				    optarg);
			if (strncasecmp(optarg, "content-type:", 13) == 0)
				have_ctype = true;
			o.headers = slist_add(o.headers, optarg);
			break;
		case O_CACERT:
			o.cacert = optarg;
			break;
		case O_RESOLVE:
			o.resolve = slist_add(o.resolve, optarg);
			break;
		case O_BODY_DIR:
			o.body_dir = optarg;
			break;
		case O_TIMEOUT:
			o.timeout_ms = parse_long(optarg, 1, LONG_MAX,
			    "bad --timeout-ms");
			break;
		case 'v':
			o.verbose = true;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "%s: no URL given\n", prog);
		usage();
	}
	if (data_arg && data_file) {
		fprintf(stderr, "%s: --data and --data-file exclude each "
		    "other\n", prog);
		usage();
	}
	if ((unsigned long)(argc - optind) > 100000) {
		fprintf(stderr, "%s: too many URLs\n", prog);
		usage();
	}
	n = (unsigned)(argc - optind);

	if (data_arg) {
		o.data = strdup(data_arg);
		o.data_len = strlen(data_arg);
		if (!o.data) {
			fprintf(stderr, "%s: out of memory\n", prog);
			return 1;
		}
	} else if (data_file) {
		o.data = read_file(data_file, &o.data_len);
		if (!o.data)
			return 1;
	}
	/* The ordinary way to post JSON: say so, unless the caller did. */
	if (o.data && !have_ctype)
		o.headers = slist_add(o.headers,
		    "Content-Type: application/json");

	xs = calloc(n, sizeof(*xs));
	if (!xs) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return 1;
	}
	for (unsigned i = 0; i < n; i++) {
		struct xfer *x = &xs[i];

		x->idx = i;
		x->url = argv[optind + (int)i];
		x->rc = CURLE_FAILED_INIT;
		if (o.body_dir) {
			if (asprintf(&x->body_path, "%s/%u.body", o.body_dir,
			    i) < 0) {
				fprintf(stderr, "%s: out of memory\n", prog);
				return 1;
			}
			x->body = fopen(x->body_path, "wb");
			if (!x->body) {
				fprintf(stderr, "%s: %s: %s\n", prog,
				    x->body_path, strerror(errno));
				return 1;
			}
		}
	}

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "%s: curl_global_init failed\n", prog);
		return 1;
	}
	if (o.multi)
		run_multi(&o, xs, n);
	else
		run_easy(&o, xs, n);

	for (unsigned i = 0; i < n; i++) {
		if (!report(&xs[i]))
			ok = false;
	}
	if (fflush(stdout) != 0)
		ok = false;

	for (unsigned i = 0; i < n; i++) {
		if (xs[i].body)
			fclose(xs[i].body);
		free(xs[i].body_path);
		free(xs[i].eff_url);
		free(xs[i].scheme);
	}
	free(xs);
	curl_slist_free_all(o.headers);
	curl_slist_free_all(o.resolve);
	free(o.data);
	curl_global_cleanup();
	return ok ? 0 : 1;
}
