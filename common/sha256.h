#pragma once
/* SHA-256 over buffers, streams and files, as lowercase hex. Backed by OpenSSL's libcrypto
 * (already a dependency of libcurl, and it uses the CPU's SHA extensions). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define RS_SHA256_HEX_LEN 64

struct rs_sha256 {
    void *ctx; /* owned EVP_MD_CTX */
};

void rs_sha256_init(struct rs_sha256 *h);
void rs_sha256_update(struct rs_sha256 *h, const void *data, size_t len);
/* Write the digest as 64 hex characters plus NUL into hex; h is released. */
void rs_sha256_final(struct rs_sha256 *h, char hex[RS_SHA256_HEX_LEN + 1]);
/* Free the context without a result (error paths); NULL ctx is fine. */
void rs_sha256_release(struct rs_sha256 *h);

void rs_sha256_buf(const void *data, size_t len, char hex[RS_SHA256_HEX_LEN + 1]);
/* Hash what remains of fd until EOF; *ret_size (optional) gets the byte count. */
int rs_sha256_fd(int fd, char hex[RS_SHA256_HEX_LEN + 1], uint64_t *ret_size, struct rs_err *err);
/* Hash the file at dirfd/path (AT_FDCWD for plain paths). */
int rs_sha256_file_at(int dirfd, const char *path, char hex[RS_SHA256_HEX_LEN + 1],
                      uint64_t *ret_size, struct rs_err *err);
/* True for exactly 64 lowercase hex digits. */
bool rs_sha256_hex_valid(const char *s);
