#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int log_verbosity = LOG_LVL_INFO;
static const char *log_prog = "llmfb";
static bool log_syslog;
static bool log_journal;

/* Whether stderr is the stream systemd connected to journald: it says so
 * in JOURNAL_STREAM ("DEV:INO" of that stream, systemd.exec(5)).  Checked
 * against stderr itself, so that a program started with its stderr
 * redirected elsewhere (a pipe, a file) does not write prefixes there. */
bool
log_stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char end;

	if (e == NULL || sscanf(e, "%llu:%llu%c", &dev, &ino, &end) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *progname, int level, bool use_syslog)
{
	log_prog = progname;
	log_verbosity = level;
	log_syslog = use_syslog;
	log_journal = !use_syslog && log_stderr_is_journal();
	if (use_syslog)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

static void
vlog(int level, bool with_errno, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	static const char *name[] = { "error", "warning", "info", "debug" };
	int saved = errno;
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_syslog) {
		if (with_errno)
			syslog(prio[level], "%s: %s", msg, strerror(saved));
		else
			syslog(prio[level], "%s", msg);
	} else if (log_journal) {
		/* journald reads a leading "<N>" as the line's priority
		 * (sd-daemon(3)); it names the program itself. */
		fprintf(stderr, "<%d>%s: %s%s%s\n", prio[level], name[level],
		    msg, with_errno ? ": " : "", with_errno ? strerror(saved) :
		    "");
	} else if (with_errno) {
		fprintf(stderr, "%s: %s: %s: %s\n", log_prog, name[level], msg,
		    strerror(saved));
	} else {
		fprintf(stderr, "%s: %s: %s\n", log_prog, name[level], msg);
	}
	errno = saved;
}

void
log_msg(int level, bool with_errno, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, with_errno, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, true, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, false, fmt, ap);
	va_end(ap);
	exit(1);
}
