#pragma once
/* Pieces of image/ shared between its files and with tests/unit/test_oci.c; not an API. */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/sha256.h"
#include "image/oci.h"

struct archive;
struct ZSTD_CCtx_s;

#define OCI_SINK_SLOTS     4
#define OCI_SINK_SLOT_SIZE (1 << 20)

/* A layer stream sink: bytes in are hashed (diffID), compressed, hashed again (digest) and
 * written to out_fd. That work runs on a thread of its own: oci_sink_write() only copies into
 * a ring of slots, so producing the tar and compressing it overlap. The bytes and hashes are
 * those of a single-threaded sink (zstd's multithreaded output does not depend on how its
 * input is cut). */
struct oci_sink {
    int out_fd;
    enum oci_compression comp;
    struct rs_sha256 diff, digest;
    struct ZSTD_CCtx_s *zstd;
    struct archive *gz;
    char *zbuf;
    uint64_t size, tar_size;
    int error; /* first write error (-errno), sticky; atomic */

    pthread_t thread;
    bool running, sync_ready;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    char *slots[OCI_SINK_SLOTS];
    size_t slot_len[OCI_SINK_SLOTS];
    uint64_t produced, consumed; /* slot counters; slot i is slots[i % OCI_SINK_SLOTS] */
    size_t fill;                 /* bytes in the slot being filled (slots[produced % …]) */
    bool closing;                /* no more input: finish the stream */
};

int oci_sink_init(struct oci_sink *s, int out_fd, enum oci_compression comp, int level,
                  unsigned n_threads, struct rs_err *err);
/* Returns 0 or the sticky -errno. */
int oci_sink_write(struct oci_sink *s, const void *buf, size_t len);
/* Flush and fill ret; releases s whatever the result. */
int oci_sink_finish(struct oci_sink *s, struct oci_layer_result *ret, struct rs_err *err);
void oci_sink_release(struct oci_sink *s);

/* OCI architecture names from Debian's ("armhf" -> "arm") and back (variant may be NULL). */
const char *oci_arch_from_debian(const char *debian);
const char *oci_arch_to_debian(const char *oci, const char *variant);
/* RFC 3339 UTC ("2023-11-14T22:13:20Z"). */
void oci_format_time(int64_t t, char buf[32]);
