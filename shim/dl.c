/* libllmfb.so, dlopen(): a library loaded with RTLD_DEEPBIND binds its
 * own and its dependencies' symbols before the shim's.  PHP loads every
 * extension so; its curl extension's libcurl then never reaches the shim,
 * and its calls go out untouched.  A DEEPBIND load of an object that
 * links libcurl is made without DEEPBIND (what PHP itself does where the
 * flag does not exist, or under sanitizers), so that the libcurl layer
 * sees its calls.  Every other load is passed on untouched.
 *
 * dlopen() is caller-sensitive: glibc searches the calling object's
 * RUNPATH and takes its namespace.  A C wrapper would make the shim the
 * caller of every dlopen() in the process; the hook is a stub that asks
 * shim_dlopen_mode() for the mode and jumps to the real dlopen() with the
 * program's return address still on the stack.  x86-64 only: elsewhere
 * the shim does not hook dlopen().
 */
#include "shim.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__)

/* Read by the stub; resolved by shim_dlopen_mode() before the jump. */
void *(*shim_real_dlopen)(const char *, int);

/* What a DEEPBIND load must not hide: libcurl, as Debian builds it. */
static bool
links_libcurl(const char *file)
{
	static const char *const curl[] = { "libcurl.so", "libcurl-gnutls.so",
					     NULL };
	bool yes;
	int fd;

	/* A bare name is searched for as the caller would: left alone. */
	if (strchr(file, '/') == NULL ||
	    (fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	yes = shim_elf_needs(fd, curl);
	REAL(close) ? REAL(close)(fd) : close(fd);
	return yes;
}

/* Called by the stub with dlopen's arguments: the mode to load with. */
int shim_dlopen_mode(const char *file, int mode);
int
shim_dlopen_mode(const char *file, int mode)
{
	int saved = errno;

	if (shim_real_dlopen == NULL)	/* racing threads store the same */
		shim_real_dlopen = (void *(*)(const char *, int))
			dlsym(RTLD_NEXT, "dlopen");
	if ((mode & RTLD_DEEPBIND) && file != NULL && !shim_guard_active() &&
	    shim_init() && links_libcurl(file)) {
		SHIM_DEBUG("dlopen", "%s links libcurl: loaded without "
			   "RTLD_DEEPBIND, so that the shim sees its calls",
			   file);
		mode &= ~RTLD_DEEPBIND;
	}
	errno = saved;
	return mode;
}

/* dlopen(file, mode): file in %rdi, mode in %esi.  One push keeps the
 * stack 16-byte aligned for the call; the jump leaves the program's own
 * return address for the real dlopen() to find. */
__asm__(
	"	.text\n"
	"	.globl	dlopen\n"
	"	.type	dlopen, @function\n"
	"dlopen:\n"
	"	.cfi_startproc\n"
	"	pushq	%rdi\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	call	shim_dlopen_mode\n"
	"	popq	%rdi\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	movl	%eax, %esi\n"
	"	jmp	*shim_real_dlopen(%rip)\n"
	"	.cfi_endproc\n"
	"	.size	dlopen, .-dlopen\n");

#endif
