/* The list of intercepted hosts, published for the shim in a file beside
 * the data socket ("<socket>.hosts", one host pattern a line).  The shim
 * re-reads it when it changes, so a reload reaches running programs
 * without restarting them, and it never has to parse YAML. */
#ifndef LLMFB_HOSTSFILE_H
#define LLMFB_HOSTSFILE_H

#include "config.h"
#include "util.h"

/* Write it atomically (temporary file + rename).  0 or -errno; on
 * success *ret_id names the file written. */
int hostsfile_write(const struct config *c, struct file_id *ret_id);
/* Remove it, unless another llmfbd has written its own since (id is
 * what hostsfile_write() gave). */
void hostsfile_remove(const struct config *c, const struct file_id *id);

#endif
