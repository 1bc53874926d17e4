/* The list of intercepted hosts, published for the shim in a file beside
 * the data socket ("<socket>.hosts", one host pattern a line).  The shim
 * re-reads it when it changes, so a reload reaches running programs
 * without restarting them, and it never has to parse YAML. */
#ifndef LLMFB_HOSTSFILE_H
#define LLMFB_HOSTSFILE_H

#include "config.h"

/* Write it atomically (temporary file + rename).  0 or -errno. */
int hostsfile_write(const struct config *c);
void hostsfile_remove(const struct config *c);

#endif
