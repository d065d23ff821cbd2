/* Streaming gzip encoders on the same bytes: CPU MB/s on one core and ratio.
 *
 *   gzip_codecs FILE...      every file is compressed as one gzip member, fed in 64 KiB chunks the way
 *                            an upload feeds its encoder (libdeflate has no streaming API: it gets the
 *                            whole file at once, which is why it cannot be our encoder; it is measured
 *                            for scale).
 * Built by scripts/bench gzip with gcc against zlib, ISA-L (libisal-dev) and libdeflate (libdeflate-dev).
 * Output: one line per encoder and level: name level MB/s(cpu) ratio(input/output). */
#include <isa-l/igzip_lib.h>
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define CHUNK (64 * 1024)

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static unsigned char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc(*size ? *size : 1);
    if (fread(data, 1, *size, f) != *size) { perror(path); exit(2); }
    fclose(f);
    return data;
}

static unsigned char out[4 * CHUNK + 1024];

static size_t zlib_gzip(const unsigned char *in, size_t n, int level) {
    z_stream s;
    memset(&s, 0, sizeof s);
    if (deflateInit2(&s, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) exit(3);
    size_t total = 0;
    for (size_t off = 0; off <= n; off += CHUNK) {
        size_t len = n - off < CHUNK ? n - off : CHUNK;
        int flush = off + len >= n ? Z_FINISH : Z_NO_FLUSH;
        s.next_in = (unsigned char *)in + off;
        s.avail_in = (unsigned)len;
        int status;
        do {
            s.next_out = out;
            s.avail_out = sizeof out;
            status = deflate(&s, flush);
            total += sizeof out - s.avail_out;
        } while (s.avail_in > 0 || (flush == Z_FINISH && status != Z_STREAM_END));
        if (flush == Z_FINISH) break;
    }
    deflateEnd(&s);
    return total;
}

static size_t isal_gzip(const unsigned char *in, size_t n, int level) {
    static const unsigned sizes[] = {ISAL_DEF_LVL0_DEFAULT, ISAL_DEF_LVL1_DEFAULT, ISAL_DEF_LVL2_DEFAULT, ISAL_DEF_LVL3_DEFAULT};
    struct isal_zstream s;
    isal_deflate_init(&s);
    s.gzip_flag = IGZIP_GZIP;
    s.level = level;
    unsigned char *level_buf = malloc(sizes[level]);
    s.level_buf = level_buf;
    s.level_buf_size = sizes[level];
    size_t total = 0;
    for (size_t off = 0; off <= n; off += CHUNK) {
        size_t len = n - off < CHUNK ? n - off : CHUNK;
        s.end_of_stream = off + len >= n;
        s.next_in = (unsigned char *)in + off;
        s.avail_in = (unsigned)len;
        do {
            s.next_out = out;
            s.avail_out = sizeof out;
            if (isal_deflate(&s) != COMP_OK) exit(4);
            total += sizeof out - s.avail_out;
        } while (s.avail_in > 0 || (s.end_of_stream && s.internal_state.state != ZSTATE_END));
        if (s.end_of_stream) break;
    }
    free(level_buf);
    return total;
}

static size_t libdeflate_gzip(const unsigned char *in, size_t n, int level) {
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
    size_t bound = libdeflate_gzip_compress_bound(c, n);
    unsigned char *buf = malloc(bound);
    size_t total = libdeflate_gzip_compress(c, in, n, buf, bound);
    free(buf);
    libdeflate_free_compressor(c);
    return total;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: gzip_codecs FILE...\n"); return 2; }
    int files = argc - 1;
    unsigned char **data = malloc(sizeof *data * files);
    size_t *sizes = malloc(sizeof *sizes * files), input = 0;
    for (int i = 0; i < files; i++) { data[i] = read_file(argv[i + 1], &sizes[i]); input += sizes[i]; }
    struct { const char *name; int level; size_t (*fn)(const unsigned char *, size_t, int); } runs[] = {
        {"zlib", 1, zlib_gzip}, {"zlib", 5, zlib_gzip}, {"zlib", 6, zlib_gzip},
        {"isal", 0, isal_gzip}, {"isal", 1, isal_gzip}, {"isal", 2, isal_gzip}, {"isal", 3, isal_gzip},
        {"libdeflate", 1, libdeflate_gzip}, {"libdeflate", 6, libdeflate_gzip},
    };
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        size_t output = 0;
        int rounds = 0;
        double start = cpu_seconds(), elapsed;
        do {  /* at least 1 s of CPU per cell, whole rounds over every file */
            output = 0;
            for (int i = 0; i < files; i++) output += runs[r].fn(data[i], sizes[i], runs[r].level);
            rounds++;
            elapsed = cpu_seconds() - start;
        } while (elapsed < 1.0);
        printf("%s %d %.1f %.3f\n", runs[r].name, runs[r].level, input * (double)rounds / elapsed / 1e6, (double)input / output);
    }
    return 0;
}
