/* llmfb-spawn: how long a program takes to start and exit.
 *
 * Runs PROG with its arguments N times, one at a time: posix_spawnp, then
 * waitpid, timed with CLOCK_MONOTONIC around the pair, so each figure is
 * exec, dynamic loading, the program's own run and its exit, as a shell
 * would see it.  The child's stdin, stdout and stderr are /dev/null; its
 * environment is this one's, minus every --unset NAME, plus every --env
 * NAME=VALUE.  That is how bench/run.sh puts LD_PRELOAD in the child only:
 * the driver itself runs without the shim.  Every child must exit 0.
 *
 * One line of key=value figures, in µs:
 *   n=N p50_us= p90_us= mean_us= min_us= total_ms=
 *
 * Self-contained on purpose: libc only, nothing of llmfb. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *prog = "llmfb-spawn";

static void
usage(void)
{
	fprintf(stderr,
		"usage: %s [-n N (1000)] [--warmup N (20)] "
		"[--env NAME=VALUE]... [--unset NAME]...\n"
		"       -- PROG [ARG]...\n", prog);
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
		exit(2);
	}
	return v;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The length of NAME in "NAME=VALUE" (or in a bare "NAME"). */
static size_t
name_len(const char *s)
{
	return strcspn(s, "=");
}

static int
same_name(const char *a, const char *b)
{
	size_t n = name_len(a);

	return n == name_len(b) && memcmp(a, b, n) == 0;
}

/* environ, minus the names in drop[0..ndrop), plus add[0..nadd). */
static char **
child_env(char **drop, size_t ndrop, char **add, size_t nadd)
{
	size_t n = 0, k = 0, i, j;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + nadd + 1, sizeof(*env));
	if (!env) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(1);
	}
	for (i = 0; i < n; i++) {
		int keep = 1;

		for (j = 0; keep && j < ndrop; j++)
			keep = !same_name(environ[i], drop[j]);
		for (j = 0; keep && j < nadd; j++)
			keep = !same_name(environ[i], add[j]);
		if (keep)
			env[k++] = environ[i];
	}
	for (j = 0; j < nadd; j++)
		env[k++] = add[j];
	env[k] = NULL;
	return env;
}

/* One start and exit of argv[0]; its time in ns, or 0 on failure. */
static uint64_t
spawn_once(char **argv, char **env,
    const posix_spawn_file_actions_t *fa)
{
	uint64_t t0, t1;
	pid_t pid;
	int err, status;

	t0 = now_ns();
	err = posix_spawnp(&pid, argv[0], fa, NULL, argv, env);
	if (err) {
		fprintf(stderr, "%s: %s: %s\n", prog, argv[0], strerror(err));
		return 0;
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "%s: waitpid: %s\n", prog,
				strerror(errno));
			return 0;
		}
	}
	t1 = now_ns();
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "%s: %s: %s %d\n", prog, argv[0],
			WIFEXITED(status) ? "exit status" : "killed by signal",
			WIFEXITED(status) ? WEXITSTATUS(status) :
					    WTERMSIG(status));
		return 0;
	}
	return t1 - t0 ? t1 - t0 : 1;
}

static double
pct_us(const uint64_t *v, size_t n, unsigned p)
{
	size_t r = (p * n + 99) / 100;	/* nearest rank */

	if (r < 1)
		r = 1;
	return (double)v[r - 1] / 1000.0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "env", required_argument, NULL, 'e' },
		{ "unset", required_argument, NULL, 'u' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char **add, **drop, **env;
	size_t nadd = 0, ndrop = 0, i;
	long n = 1000, warmup = 20;
	posix_spawn_file_actions_t fa;
	uint64_t *lat, sum = 0, t0, t1;
	int c;

	add = calloc((size_t)argc, sizeof(*add));
	drop = calloc((size_t)argc, sizeof(*drop));
	if (!add || !drop) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return 1;
	}
	while ((c = getopt_long(argc, argv, "+n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			n = parse_long(optarg, 1, 10000000, "-n");
			break;
		case 'w':
			warmup = parse_long(optarg, 0, 10000000, "--warmup");
			break;
		case 'e':
			if (!strchr(optarg, '=') || optarg[0] == '=') {
				fprintf(stderr, "%s: --env wants NAME=VALUE, "
					"not '%s'\n", prog, optarg);
				return 2;
			}
			add[nadd++] = optarg;
			break;
		case 'u':
			drop[ndrop++] = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	argv += optind;

	env = child_env(drop, ndrop, add, nadd);
	lat = malloc((size_t)n * sizeof(*lat));
	if (!lat) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return 1;
	}
	if ((errno = posix_spawn_file_actions_init(&fa)) != 0 ||
	    (errno = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
						      O_RDONLY, 0)) != 0 ||
	    (errno = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null",
						      O_WRONLY, 0)) != 0 ||
	    (errno = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null",
						      O_WRONLY, 0)) != 0) {
		fprintf(stderr, "%s: posix_spawn_file_actions: %s\n", prog,
			strerror(errno));
		return 1;
	}

	for (i = 0; i < (size_t)warmup; i++)
		if (!spawn_once(argv, env, &fa))
			return 1;
	t0 = now_ns();
	for (i = 0; i < (size_t)n; i++) {
		lat[i] = spawn_once(argv, env, &fa);
		if (!lat[i])
			return 1;
		sum += lat[i];
	}
	t1 = now_ns();
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);

	printf("n=%ld p50_us=%.1f p90_us=%.1f mean_us=%.1f min_us=%.1f "
	       "total_ms=%.0f\n", n, pct_us(lat, (size_t)n, 50),
	       pct_us(lat, (size_t)n, 90), (double)sum / (double)n / 1000.0,
	       (double)lat[0] / 1000.0, (double)(t1 - t0) / 1e6);
	posix_spawn_file_actions_destroy(&fa);
	free(lat);
	free(env);
	free(add);
	free(drop);
	return 0;
}
