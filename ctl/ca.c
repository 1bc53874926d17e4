/* llmfbctl ca: the local certificate authority (daemon/ca.h) by hand.
 *
 *   ca init       make it, for the hosts the config intercepts (llmfbd
 *                 also makes it on first use)
 *   ca rotate     make a new one over it; llmfbd reloads it, and trust
 *                 installed in the system store is renewed
 *   ca install    trust it host-wide (update-ca-certificates)
 *   ca uninstall  stop trusting it host-wide
 *
 * The config is -c FILE, else the running daemon's, else the default. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "ca.h"
#include "config.h"
#include "ctl.h"
#include "ctl_client.h"
#include "ctl_proto.h"

/* Where update-ca-certificates takes local certificates from. */
#define CA_STORE_DIR	"/usr/local/share/ca-certificates"
#define CA_STORE_FILE	CA_STORE_DIR "/llmfb-local-ca.crt"

static void
ca_usage(void)
{
	fprintf(stderr, "usage: llmfbctl ca init|rotate|install|uninstall "
	    "[-c CONFIG]\n");
}

/* The config: -c's, else the one the daemon runs, else the default. */
static struct config *
ca_config(const char *path)
{
	char err[CONFIG_ERR_MAX], from[PATH_MAX] = CONFIG_DEFAULT_PATH;
	struct config *c;
	struct buf reply;
	json_t *doc;
	bool ok;

	if (path == NULL) {
		buf_init(&reply, CTL_REPLY_MAX);
		if (ctl_request(control_path, CTL_VERB_STATUS, &reply, &ok) ==
		    0 && ok && (doc = json_loadb(reply.data, reply.len, 0,
		    NULL)) != NULL) {
			snprintf(from, sizeof(from), "%s", jstr(doc, "config",
			    CONFIG_DEFAULT_PATH));
			json_decref(doc);
		}
		buf_free(&reply);
		path = from;
	}
	if ((c = config_load(path, err, sizeof(err))) == NULL)
		fprintf(stderr, "llmfbctl: ca: %s\n", err);
	return c;
}

/* Run argv, waiting; its exit status, or -1. */
static int
run_cmd(char *const argv[])
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "llmfbctl: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
update_store(void)
{
	char *argv[] = { "update-ca-certificates", NULL };

	if (run_cmd(argv) != 0) {
		fprintf(stderr, "llmfbctl: ca: update-ca-certificates "
		    "failed\n");
		return 1;
	}
	return 0;
}

/* Copy the CA certificate into the system store and rebuild it. */
static int
ca_install(const struct config *c)
{
	char src[PATH_MAX], data[16384];
	ssize_t n;
	int in, out, r = 0;

	snprintf(src, sizeof(src), "%s/%s", c->ca_dir, CA_CERT_FILE);
	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "llmfbctl: ca install: %s: %s (llmfbctl ca "
		    "init makes it)\n", src, strerror(errno));
		return 1;
	}
	mkdir(CA_STORE_DIR, 0755);
	out = open(CA_STORE_FILE ".tmp", O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0644);
	if (out < 0) {
		fprintf(stderr, "llmfbctl: ca install: %s: %s\n",
		    CA_STORE_FILE, strerror(errno));
		close(in);
		return 1;
	}
	while ((n = read(in, data, sizeof(data))) > 0)
		if (write(out, data, (size_t)n) != n) {
			r = -1;
			break;
		}
	if (n < 0 || fchmod(out, 0644) < 0)
		r = -1;
	close(in);
	if (close(out) < 0 || r < 0 ||
	    rename(CA_STORE_FILE ".tmp", CA_STORE_FILE) < 0) {
		fprintf(stderr, "llmfbctl: ca install: %s: %s\n",
		    CA_STORE_FILE, strerror(errno));
		unlink(CA_STORE_FILE ".tmp");
		return 1;
	}
	if (update_store() != 0)
		return 1;
	printf("installed %s as %s: trusted host-wide by programs that read "
	    "the system store\n", src, CA_STORE_FILE);
	return 0;
}

static int
ca_uninstall(void)
{
	if (unlink(CA_STORE_FILE) < 0) {
		if (errno == ENOENT) {
			printf("not installed\n");
			return 0;
		}
		fprintf(stderr, "llmfbctl: ca uninstall: %s: %s\n",
		    CA_STORE_FILE, strerror(errno));
		return 1;
	}
	if (update_store() != 0)
		return 1;
	printf("removed %s from the system store\n", CA_STORE_FILE);
	return 0;
}

/* Make it; on rotation, llmfbd reloads (if it runs) and installed trust
 * follows. */
static int
ca_new(const struct config *c, bool rotate)
{
	char err[512], path[PATH_MAX];
	struct buf reply;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", c->ca_dir, CA_CERT_FILE);
	if (!rotate && access(path, F_OK) == 0) {
		fprintf(stderr, "llmfbctl: ca init: %s exists (llmfbctl ca "
		    "rotate replaces it)\n", path);
		return 1;
	}
	if (ca_make(c->ca_dir, c->intercept, c->nintercept, err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "llmfbctl: ca: %s\n", err);
		return 1;
	}
	printf("%s: a local CA for %zu intercepted host%s\n", path,
	    c->nintercept, c->nintercept == 1 ? "" : "s");
	if (!rotate)
		return 0;
	buf_init(&reply, CTL_REPLY_MAX);
	if (ctl_request(control_path, CTL_VERB_RELOAD, &reply, &ok) == 0 &&
	    ok)
		printf("llmfbd reloaded: it uses the new CA\n");
	buf_free(&reply);
	if (access(CA_STORE_FILE, F_OK) == 0)
		return ca_install(c);
	return 0;
}

int
ca_main(int argc, char **argv)
{
	const char *cfg = NULL, *verb;
	struct config *c;
	int i, r;

	if (argc < 2) {
		ca_usage();
		return 2;
	}
	verb = argv[1];
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			cfg = argv[++i];
		} else {
			ca_usage();
			return 2;
		}
	}
	if (strcmp(verb, "uninstall") == 0)
		return ca_uninstall();
	if (strcmp(verb, "init") != 0 && strcmp(verb, "rotate") != 0 &&
	    strcmp(verb, "install") != 0) {
		ca_usage();
		return 2;
	}
	if ((c = ca_config(cfg)) == NULL)
		return 1;
	if (strcmp(verb, "install") == 0)
		r = ca_install(c);
	else
		r = ca_new(c, strcmp(verb, "rotate") == 0);
	config_unref(c);
	return r;
}
