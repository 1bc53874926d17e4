/* Logging for llmfbd and its tools, in the OpenBSD style: log_warn appends
 * strerror(errno), log_warnx does not; fatal/fatalx exit.  The level is
 * checked before the arguments are formatted.  Nothing that may hold a
 * secret (an API key, an Authorization header) is ever passed here. */
#ifndef LLMFB_LOG_H
#define LLMFB_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

extern int log_verbosity;

/* use_syslog: syslog(3), LOG_DAEMON.  Otherwise stderr, each line with
 * its priority as a "<N>" prefix when stderr is journald's stream. */
void log_init(const char *progname, int level, bool use_syslog);
bool log_stderr_is_journal(void);
void log_msg(int level, bool with_errno, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#define log_at(lvl, e, ...) do { \
	if ((lvl) <= log_verbosity) log_msg((lvl), (e), __VA_ARGS__); \
} while (0)
#define log_warn(...)	log_at(LOG_LVL_WARN, true, __VA_ARGS__)
#define log_warnx(...)	log_at(LOG_LVL_WARN, false, __VA_ARGS__)
#define log_info(...)	log_at(LOG_LVL_INFO, false, __VA_ARGS__)
#define log_debug(...)	log_at(LOG_LVL_DEBUG, false, __VA_ARGS__)

#endif
