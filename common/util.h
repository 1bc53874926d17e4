/* Small helpers shared by every part: checked number parsing (never atoi),
 * durations and sizes with units, clocks, string helpers. */
#ifndef LLMFB_UTIL_H
#define LLMFB_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Parse a whole decimal string into [min, max].  Returns 0 and writes
 * *ret_val, or -EINVAL (not a number, trailing junk) / -ERANGE. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret_val);
int parse_int(const char *s, int min, int max, int *ret_val);
/* "250ms", "2s", "1m", "1h"; a bare number is milliseconds. */
int parse_duration_ms(const char *s, uint64_t *ret_ms);
/* "512", "64KiB", "1MiB", "2GiB" (also K, KB, M, MB, G, GB as powers of 2). */
int parse_size(const char *s, uint64_t *ret_bytes);

uint64_t now_mono_ns(void);
uint64_t now_mono_ms(void);
uint64_t now_mono_us(void);
uint64_t now_real_ns(void);

bool str_case_prefix(const char *s, const char *prefix);
/* Case-insensitive comparison of s[0..n) to a NUL-terminated word. */
bool mem_case_eq(const char *s, size_t n, const char *word);
/* Glob with '*' only (any run of characters), case-sensitive. */
bool glob_match(const char *pattern, const char *s);
/* Host match: exact (case-insensitive) or "*.suffix" for any subdomain. */
bool host_match(const char *pattern, const char *host, size_t hostlen);

/* Which file a path names: what a daemon made, so that it removes only
 * its own when another one has taken the path over since. */
struct file_id {
	dev_t	dev;
	ino_t	ino;
};

/* Returns 0 and fills *ret_id, or -errno. */
int file_id_of(const char *path, struct file_id *ret_id);
/* Unlink path only while it still names the file id names (zeroed: never).
 * Returns 0, or -errno (-ESTALE: someone else's file is there now). */
int unlink_own(const char *path, const struct file_id *id);

/* Replace path with data through path.tmp and a rename, so that no
 * reader sees half a file; its mode (and owner, unless uid and gid are
 * -1) set before the data goes in, and the data synced before the
 * rename.  Returns 0 or -errno. */
int file_replace(const char *path, const void *data, size_t len,
    mode_t mode, uid_t uid, gid_t gid);

void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
