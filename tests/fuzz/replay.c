/* tests/fuzz/replay.c: a main() for a fuzz harness without libFuzzer.
 * Calls LLVMFuzzerTestOneInput() once on every file given, and on every
 * file of every directory given (in name order, not recursing), each in
 * a buffer of exactly its size, so that a sanitizer sees an overrun.
 *
 *	replay DIR|FILE...
 *
 * Prints "N inputs" on stdout at the end; before each input, its path on
 * stderr, so that a crash is followed by the input that made it.  A
 * directory that does not exist counts as empty (a target may have no
 * regression inputs).  Exit status 0, or 1 when a file cannot be read;
 * a crash ends the process as it would end libFuzzer. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define INPUT_MAX	(16u << 20)

static unsigned long ninputs;

static int
replay_file(const char *path)
{
	struct stat st;
	uint8_t *data;
	size_t n;
	FILE *f;
	int r = -1;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) < 0 || st.st_size > (off_t)INPUT_MAX) {
		fprintf(stderr, "replay: %s: unreadable or too big\n", path);
		goto out;
	}
	n = (size_t)st.st_size;
	/* malloc(0) may give NULL: one spare byte, never read. */
	if ((data = malloc(n > 0 ? n : 1)) == NULL ||
	    fread(data, 1, n, f) != n) {
		fprintf(stderr, "replay: %s: cannot read\n", path);
		free(data);
		goto out;
	}
	fprintf(stderr, "replay: %s\n", path);
	LLVMFuzzerTestOneInput(data, n);
	free(data);
	ninputs++;
	r = 0;
out:
	fclose(f);
	return r;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
replay_dir(const char *dir)
{
	char **names = NULL, **more, path[4096];
	size_t n = 0, i;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int r = 0;

	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((more = realloc(names, (n + 1) * sizeof(*names))) == NULL ||
		    (more[n] = strdup(de->d_name)) == NULL) {
			fprintf(stderr, "replay: out of memory\n");
			exit(1);
		}
		names = more;
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    replay_file(path) < 0)
			r = -1;
		free(names[i]);
	}
	free(names);
	return r;
}

int
main(int argc, char **argv)
{
	struct stat st;
	int i, rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if (replay_dir(argv[i]) < 0)
				rc = 1;
		} else if (stat(argv[i], &st) < 0 && errno == ENOENT) {
			continue;
		} else if (replay_file(argv[i]) < 0) {
			rc = 1;
		}
	}
	printf("%lu inputs\n", ninputs);
	return rc;
}
