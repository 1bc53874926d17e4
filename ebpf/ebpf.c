/* The checks and messages netlat and the bypass watch share. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "ebpf.h"
#include "log.h"

#define VMLINUX_BTF	"/sys/kernel/btf/vmlinux"

const char *
ebpf_unavailable(void)
{
	if (access(VMLINUX_BTF, R_OK) < 0)
		return errno == EACCES ?
		    "cannot read the kernel's BTF (" VMLINUX_BTF "): "
		    "needs root, or CAP_BPF and CAP_PERFMON" :
		    "the kernel has no BTF (" VMLINUX_BTF " is missing)";
	return NULL;
}

/* The inode of the initial pid namespace (PROC_PID_INIT_INO, a constant
 * of the kernel's ABI since 3.8). */
#define PID_INIT_INO	0xEFFFFFFCULL

int
ebpf_self_ns(uint64_t *ret_dev, uint64_t *ret_ino, bool *ret_init)
{
	struct stat st;

	if (stat("/proc/self/ns/pid", &st) < 0)
		return -errno;
	*ret_dev = (uint64_t)st.st_dev;
	*ret_ino = (uint64_t)st.st_ino;
	*ret_init = st.st_ino == PID_INIT_INO;
	return 0;
}

bool
ebpf_may_load(void)
{
	char line[256];
	uint64_t eff = 0;
	bool found = false;
	FILE *f;

	if ((f = fopen("/proc/self/status", "re")) == NULL)
		return geteuid() == 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "CapEff:", 7) != 0)
			continue;
		errno = 0;
		eff = strtoull(line + 7, NULL, 16);
		found = errno == 0;
		break;
	}
	fclose(f);
	if (!found)
		return geteuid() == 0;
	return (eff & (1ULL << CAP_SYS_ADMIN)) != 0 ||
	    ((eff & (1ULL << CAP_BPF)) != 0 &&
	    (eff & (1ULL << CAP_PERFMON)) != 0);
}

void
ebpf_explain(int err, const char *what, char *why, size_t whylen)
{
	if (err < 0)
		err = -err;
	/* With the capabilities, EPERM is someone else's no: a system call
	 * filter (systemd's SystemCallFilter=, a container runtime's
	 * seccomp profile), a security module, a user namespace (whose
	 * capabilities do not reach bpf()), or kernel.unprivileged_bpf. */
	if ((err == EPERM || err == EACCES) && ebpf_may_load())
		snprintf(why, whylen, "bpf() refused (cannot %s) despite the "
		    "capabilities: a seccomp filter, an LSM or a user "
		    "namespace", what);
	else if (err == EPERM || err == EACCES)
		snprintf(why, whylen, "no permission to %s (needs root, "
		    "or CAP_BPF and CAP_PERFMON)", what);
	else
		snprintf(why, whylen, "cannot %s: %s", what, strerror(err));
}

static int
print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	if (level == LIBBPF_DEBUG || log_verbosity < LOG_LVL_DEBUG)
		return 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_debug("libbpf: %s", msg);
	return 0;
}

void
ebpf_log_libbpf(void)
{
	libbpf_set_print(print_libbpf);
}
