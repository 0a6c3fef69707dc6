#pragma once
/* Pieces of image/ shared between its files and with tests/unit/test_oci.c; not an API. */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/sha256.h"
#include "image/oci.h"

struct archive;
struct ZSTD_CCtx_s;

/* A layer stream sink: bytes in are hashed (diffID), compressed, hashed again (digest) and
 * written to out_fd. */
struct oci_sink {
    int out_fd;
    enum oci_compression comp;
    struct rs_sha256 diff, digest;
    struct ZSTD_CCtx_s *zstd;
    struct archive *gz;
    char *zbuf;
    uint64_t size, tar_size;
    int error; /* first write error (-errno), sticky */
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
