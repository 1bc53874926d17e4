/* llmfbd: main() only, so that everything else can be tested. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "ctl_proto.h"
#include "daemon.h"
#include "log.h"
#include "util.h"

/* libllmfb.so, when it is preloaded here too (/etc/ld.so.preload): it
 * must not hand llmfbd's own calls to the providers back to llmfbd. */
extern void llmfb_shim_disable(void) __attribute__((weak));

/* sysexits(3)'s EX_CONFIG: the configuration file is bad. */
#define EXIT_CONFIG	78

static void
usage(FILE *f)
{
	fprintf(f, "usage: llmfbd [-bdnVh] [-c file] [-p pidfile]\n"
	    "  -c file        configuration (default " CONFIG_DEFAULT_PATH ")\n"
	    "  -n             check the configuration and exit\n"
	    "  -b             run in the background once the sockets are "
	    "ready\n"
	    "  -p file        write the pid there (and refuse to start twice)\n"
	    "  -d             log debug messages\n"
	    "  -V, --version  print the version and exit\n"
	    "  -h, --help     print this and exit\n");
}

/* The pid file, locked for as long as llmfbd runs: a second llmfbd with
 * the same file finds it locked and says whose it is.  Returns the fd, or
 * -1 having said why. */
static int
pidfile_open(const char *path)
{
	char buf[32];
	ssize_t n;
	int fd, len;

	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		log_msg(LOG_LVL_ERR, true, "%s", path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		log_msg(LOG_LVL_ERR, false, "already running (pid %s, %s)",
		    buf[0] ? buf : "unknown", path);
		close(fd);
		return -1;
	}
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
		log_msg(LOG_LVL_ERR, true, "%s", path);
		close(fd);
		return -1;
	}
	return fd;
}

/* -b: the parent waits on a pipe until the child is ready (a byte) or
 * has failed (the pipe closes), so that `llmfbd -b && llmfbctl status`
 * holds.  The child leaves the session; returns the pipe's write end. */
static int
background(void)
{
	int p[2], status;
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		perror("llmfbd: -b");
		exit(1);
	}
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &c, 1) == 1)
			_exit(0);
		waitpid(pid, &status, 0);
		_exit(1);
	}
	close(p[0]);
	if (setsid() < 0 || (pid = fork()) < 0) {
		perror("llmfbd: -b");
		exit(1);
	}
	if (pid > 0)
		_exit(0);	/* not a session leader: no controlling tty */
	return p[1];
}

/* Ready in the background: stdio goes, the log goes to syslog, and the
 * parent is told. */
static void
detached(int ready, int level)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	log_init("llmfbd", level, true);
	if (write(ready, "1", 1) != 1)
		log_warn("-b: telling the parent");
	close(ready);
}

int
main(int argc, char **argv)
{
	const char *path = CONFIG_DEFAULT_PATH, *pidfile = NULL;
	char err[CONFIG_ERR_MAX], abspath[PATH_MAX], cwd[PATH_MAX];
	char abspid[2 * PATH_MAX];
	struct daemon d = { 0 };
	struct config *cfg;
	int ch, check = 0, bg = 0, level = LOG_LVL_INFO, r;
	int ready = -1, pidfd = -1;
	size_t i;
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};

	if (llmfb_shim_disable != NULL)
		llmfb_shim_disable();
	while ((ch = getopt_long(argc, argv, "bc:dnp:Vh", opts,
	    NULL)) != -1) {
		switch (ch) {
		case 'b':
			bg = 1;
			break;
		case 'c':
			path = optarg;
			break;
		case 'd':
			level = LOG_LVL_DEBUG;
			break;
		case 'n':
			check = 1;
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 'V':
			printf("llmfbd %s\n", LLMFB_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init("llmfbd", level, false);
	/* In the background llmfbd runs from /: reloads need the full path,
	 * and the pid file's removal too. */
	if (bg && realpath(path, abspath) != NULL)
		path = abspath;
	if (bg && pidfile != NULL && pidfile[0] != '/') {
		if (getcwd(cwd, sizeof(cwd)) == NULL || (size_t)snprintf(abspid,
		    sizeof(abspid), "%s/%s", cwd, pidfile) >= sizeof(abspid)) {
			log_msg(LOG_LVL_ERR, false, "%s: cannot make it "
			    "absolute", pidfile);
			return 1;
		}
		pidfile = abspid;
	}
	if ((cfg = config_load(path, err, sizeof(err))) == NULL) {
		log_msg(LOG_LVL_ERR, false, "%s", err);
		if (check)
			return 1;
		/* Under socket activation: calls go direct until a good
		 * config is there; and 78, which the unit does not restart
		 * on (RestartPreventExitStatus=): a restart cannot mend it. */
		daemon_fail_open(&d);
		return EXIT_CONFIG;
	}
	/* Warnings do not stop it: said on stderr with -n, logged else. */
	for (i = 0; i < cfg->nwarnings; i++) {
		if (check)
			fprintf(stderr, "llmfbd: %s\n", cfg->warnings[i]);
		else
			log_warnx("%s", cfg->warnings[i]);
	}
	if (cfg->warnings_dropped > 0 && check)
		fprintf(stderr, "llmfbd: %s: %zu more warnings\n", path,
		    cfg->warnings_dropped);
	else if (cfg->warnings_dropped > 0)
		log_warnx("%s: %zu more warnings", path,
		    cfg->warnings_dropped);
	if (check) {
		printf("%s: configuration OK (%zu providers, %zu targets, "
		    "%zu routes)\n", path, cfg->nproviders, cfg->ntargets,
		    cfg->nroutes);
		config_unref(cfg);
		return 0;
	}
	if (bg)
		ready = background();
	if (pidfile != NULL && (pidfd = pidfile_open(pidfile)) < 0) {
		config_unref(cfg);
		return 1;
	}
	if (bg && chdir("/") < 0)
		log_warn("chdir /");
	r = daemon_start(&d, cfg);
	if (r == 0 && ready >= 0)
		detached(ready, level);
	if (r == 0)
		r = daemon_run(&d);
	else
		daemon_fail_open(&d);
	daemon_free(&d);
	if (pidfd >= 0) {
		/* Ours while locked: unlinked before the lock goes. */
		if (unlink(pidfile) < 0)
			log_warn("%s", pidfile);
		close(pidfd);
	}
	return r == 0 ? 0 : 1;
}
