#ifndef CISAL_H
#define CISAL_H
#include <stddef.h>
#include <stdint.h>

/* Streaming gzip (RFC 1952) on Intel ISA-L's igzip, loaded at run time (libisal.so.2) so that a build or a
 * host without ISA-L still works: cisal_gzip_available() is then 0 and the caller uses zlib. */

typedef struct cisal_gzip cisal_gzip;

/* 1 when ISA-L was found at build time (its header) and at run time (the shared library). */
int cisal_gzip_available(void);

/* A single-member gzip stream at ISA-L level 0...3; NULL when unavailable or out of memory. */
cisal_gzip *cisal_gzip_create(int level);

/* Compresses from `input` into `output`. `end_of_stream` marks the last input: the stream then ends with
 * the gzip trailer. Sets how much was consumed and produced, and `finished` once the trailer is written.
 * Returns 0, or the ISA-L error code. Call again with the remaining input or more room until all input
 * is consumed (and, at the end, until finished). */
int cisal_gzip_deflate(cisal_gzip *stream, const uint8_t *input, size_t input_length, uint8_t *output,
                       size_t output_capacity, int end_of_stream, size_t *consumed, size_t *produced,
                       int *finished);

void cisal_gzip_destroy(cisal_gzip *stream);

#endif
