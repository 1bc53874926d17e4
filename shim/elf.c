/* libllmfb.so: reading what an ELF file says of itself (shim.h).  Only
 * pread on a descriptor the caller opened; every count and offset read
 * from the file is bounded before it is used. */
#include "shim.h"

#include <elf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECTIONS_MAX	4096
#define NAMES_MAX	65536

/* The file's header, and section i's header.  false when unreadable or
 * not a 64-bit ELF file with sections as this reader expects. */
static bool
elf_header(int fd, Elf64_Ehdr *eh)
{
	return pread(fd, eh, sizeof(*eh), 0) == (ssize_t)sizeof(*eh) &&
	       memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 &&
	       eh->e_ident[EI_CLASS] == ELFCLASS64 &&
	       eh->e_shentsize == sizeof(Elf64_Shdr) &&
	       eh->e_shnum <= SECTIONS_MAX;
}

static bool
elf_section(int fd, const Elf64_Ehdr *eh, unsigned i,
    Elf64_Shdr *sh)
{
	return i < eh->e_shnum &&
	       pread(fd, sh, sizeof(*sh), (off_t)(eh->e_shoff +
		     (uint64_t)i * sizeof(*sh))) == (ssize_t)sizeof(*sh);
}

/* A string table section's contents, NUL-terminated; free() it. */
static char *
elf_strings(int fd, const Elf64_Shdr *sh)
{
	char *tab;

	if (sh->sh_size == 0 || sh->sh_size > NAMES_MAX ||
	    (tab = malloc(sh->sh_size + 1)) == NULL)
		return NULL;
	if (pread(fd, tab, sh->sh_size, (off_t)sh->sh_offset) !=
	    (ssize_t)sh->sh_size) {
		free(tab);
		return NULL;
	}
	tab[sh->sh_size] = '\0';
	return tab;
}

static bool
named(const char *s, const char *const *names, bool prefix)
{
	unsigned j;

	for (j = 0; names[j] != NULL; j++)
		if (prefix ? strncmp(s, names[j], strlen(names[j])) == 0 :
			     strcmp(s, names[j]) == 0)
			return true;
	return false;
}

bool
shim_elf_has_section(int fd, const char *const *names)
{
	Elf64_Ehdr eh;
	Elf64_Shdr sh, strs;
	char *tab = NULL;
	bool hit = false;
	unsigned i;

	if (!elf_header(fd, &eh) || !elf_section(fd, &eh, eh.e_shstrndx,
						 &strs) ||
	    (tab = elf_strings(fd, &strs)) == NULL)
		return false;
	for (i = 0; i < eh.e_shnum && !hit; i++)
		hit = elf_section(fd, &eh, i, &sh) &&
		      sh.sh_name < strs.sh_size &&
		      named(tab + sh.sh_name, names, false);
	free(tab);
	return hit;
}

bool
shim_elf_needs(int fd, const char *const *prefixes)
{
	Elf64_Ehdr eh;
	Elf64_Shdr sh, strs;
	Elf64_Dyn dyn;
	char *tab;
	bool hit = false;
	uint64_t k, n;
	unsigned i;

	if (!elf_header(fd, &eh))
		return false;
	for (i = 0; i < eh.e_shnum && !hit; i++) {
		if (!elf_section(fd, &eh, i, &sh) || sh.sh_type != SHT_DYNAMIC ||
		    !elf_section(fd, &eh, sh.sh_link, &strs) ||
		    (tab = elf_strings(fd, &strs)) == NULL)
			continue;
		n = sh.sh_size / sizeof(dyn);
		for (k = 0; k < n && k < SECTIONS_MAX && !hit; k++) {
			if (pread(fd, &dyn, sizeof(dyn), (off_t)(sh.sh_offset +
				  k * sizeof(dyn))) != (ssize_t)sizeof(dyn) ||
			    dyn.d_tag == DT_NULL)
				break;
			hit = dyn.d_tag == DT_NEEDED &&
			      dyn.d_un.d_val < strs.sh_size &&
			      named(tab + dyn.d_un.d_val, prefixes, true);
		}
		free(tab);
	}
	return hit;
}
