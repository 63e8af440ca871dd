/* infile.h - open an input file (--data, --test-data, --base-weights) for a
 * bounded read.
 *
 * Every input is refused at once, before a byte of it is read, unless it is
 * a regular file of at most INFILE_MAX_BYTES: a FIFO, a terminal or a device
 * such as /dev/zero would otherwise be read until memory runs out, or block
 * for ever. The check is fstat on the open descriptor, not stat on the
 * name, so it is about the file that is then read.
 *
 *     FILE *fp;
 *     uint64_t size;
 *     if (infile_open(path, &fp, &size, err, errlen) != LD_OK) ...;
 *     ... read at most INFILE_MAX_BYTES ...
 *     fclose(fp);
 */
#ifndef LORA_DEMO_INFILE_H
#define LORA_DEMO_INFILE_H

#include <stdint.h>
#include <stdio.h>

#include "status.h"

/* The largest input file read: 1 GiB. A CSV of that size holds about 10^8
 * numbers, and safetensors weights of that size a 16384 x 16384 F32 layer,
 * far more than a demo trains on; the limit keeps a wrong file from filling
 * memory before anything could notice. Readers also stop at it if a file
 * grows while it is read. */
#define INFILE_MAX_BYTES (1ULL << 30)

/* Open path for reading. The open does not block (O_NONBLOCK, cleared again
 * for the read) and does not make a terminal the controlling one. *size
 * gets the file's size in bytes.
 *   LD_EIO     cannot open it, or it is a directory: "<path>: <strerror>";
 *   LD_EINPUT  not a regular file ("<path>: not a regular file (a FIFO)"),
 *              or larger than INFILE_MAX_BYTES;
 * and *fp is NULL. */
ld_status infile_open(const char *path, FILE **fp, uint64_t *size, char *err, size_t errlen);

/* The message for a file that grew past INFILE_MAX_BYTES while it was read
 * (LD_EINPUT). */
ld_status infile_too_large(const char *path, uint64_t size, char *err, size_t errlen);

#endif /* LORA_DEMO_INFILE_H */
