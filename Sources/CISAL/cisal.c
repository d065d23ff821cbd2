#include "cisal.h"

#include <stdlib.h>

#if __has_include(<isa-l/igzip_lib.h>)
#include <dlfcn.h>
#include <isa-l/igzip_lib.h>
#include <pthread.h>

/* The library is opened once; its two entry points are all we use. */
static void (*deflate_init)(struct isal_zstream *);
static int (*deflate_run)(struct isal_zstream *);
static pthread_once_t loaded = PTHREAD_ONCE_INIT;

static void load(void) {
    void *library = dlopen("libisal.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!library) return;
    void (*init)(struct isal_zstream *) = (void (*)(struct isal_zstream *))dlsym(library, "isal_deflate_init");
    int (*run)(struct isal_zstream *) = (int (*)(struct isal_zstream *))dlsym(library, "isal_deflate");
    if (init && run) {
        deflate_init = init;
        deflate_run = run;
    }
}

struct cisal_gzip {
    struct isal_zstream stream;
    uint8_t *level_buffer;
};

int cisal_gzip_available(void) {
    pthread_once(&loaded, load);
    return deflate_run != NULL;
}

cisal_gzip *cisal_gzip_create(int level) {
    /* The "large" level buffers: the sizes ISA-L recommends for streaming input of 64 KiB and more. */
    static const uint32_t sizes[] = {ISAL_DEF_LVL0_DEFAULT, ISAL_DEF_LVL1_DEFAULT, ISAL_DEF_LVL2_DEFAULT,
                                     ISAL_DEF_LVL3_DEFAULT};
    if (!cisal_gzip_available() || level < 0 || level > 3) return NULL;
    cisal_gzip *gzip = calloc(1, sizeof *gzip);
    if (!gzip) return NULL;
    gzip->level_buffer = malloc(sizes[level]);
    if (!gzip->level_buffer) {
        free(gzip);
        return NULL;
    }
    deflate_init(&gzip->stream);
    gzip->stream.gzip_flag = IGZIP_GZIP;
    gzip->stream.level = (uint32_t)level;
    gzip->stream.level_buf = gzip->level_buffer;
    gzip->stream.level_buf_size = sizes[level];
    return gzip;
}

int cisal_gzip_deflate(cisal_gzip *gzip, const uint8_t *input, size_t input_length, uint8_t *output,
                       size_t output_capacity, int end_of_stream, size_t *consumed, size_t *produced,
                       int *finished) {
    struct isal_zstream *s = &gzip->stream;
    /* avail_in/avail_out are 32-bit: larger spans are offered in part and the caller comes back. */
    uint32_t in = input_length > UINT32_MAX ? UINT32_MAX : (uint32_t)input_length;
    uint32_t out = output_capacity > UINT32_MAX ? UINT32_MAX : (uint32_t)output_capacity;
    s->next_in = (uint8_t *)input;
    s->avail_in = in;
    s->next_out = output;
    s->avail_out = out;
    s->end_of_stream = (end_of_stream && in == input_length) ? 1 : 0;
    int status = deflate_run(s);
    *consumed = in - s->avail_in;
    *produced = out - s->avail_out;
    *finished = s->internal_state.state == ZSTATE_END;
    s->next_in = NULL;
    s->next_out = NULL;
    return status;
}

void cisal_gzip_destroy(cisal_gzip *gzip) {
    if (!gzip) return;
    free(gzip->level_buffer);
    free(gzip);
}

#else

int cisal_gzip_available(void) { return 0; }
cisal_gzip *cisal_gzip_create(int level) { (void)level; return NULL; }
int cisal_gzip_deflate(cisal_gzip *gzip, const uint8_t *input, size_t input_length, uint8_t *output,
                       size_t output_capacity, int end_of_stream, size_t *consumed, size_t *produced,
                       int *finished) {
    (void)gzip; (void)input; (void)input_length; (void)output; (void)output_capacity; (void)end_of_stream;
    *consumed = 0; *produced = 0; *finished = 0;
    return -1;
}
void cisal_gzip_destroy(cisal_gzip *gzip) { (void)gzip; }

#endif
