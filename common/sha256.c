#include "common/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/cleanup.h"

static void to_hex(const unsigned char *md, char hex[RS_SHA256_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[RS_SHA256_HEX_LEN] = '\0';
}

void rs_sha256_init(struct rs_sha256 *h)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        abort(); /* only fails on OOM or a broken libcrypto */
    h->ctx = ctx;
}

void rs_sha256_update(struct rs_sha256 *h, const void *data, size_t len)
{
    if (len && EVP_DigestUpdate(h->ctx, data, len) != 1)
        abort();
}

void rs_sha256_final(struct rs_sha256 *h, char hex[RS_SHA256_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n != 32)
        abort();
    to_hex(md, hex);
    rs_sha256_release(h);
}

void rs_sha256_release(struct rs_sha256 *h)
{
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
}

void rs_sha256_buf(const void *data, size_t len, char hex[RS_SHA256_HEX_LEN + 1])
{
    unsigned char md[32];
    unsigned int n = 0;
    if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1)
        abort();
    to_hex(md, hex);
}

int rs_sha256_fd(int fd, char hex[RS_SHA256_HEX_LEN + 1], uint64_t *ret_size, struct rs_err *err)
{
    enum { BUF_SIZE = 256 * 1024 };
    _cleanup_free_ char *buf = malloc(BUF_SIZE);
    struct rs_sha256 h;
    uint64_t total = 0;

    if (!buf)
        return rs_err_set(err, -ENOMEM, "cannot hash file");
    rs_sha256_init(&h);
    for (;;) {
        ssize_t n = read(fd, buf, BUF_SIZE);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int r = -errno;
            rs_sha256_release(&h);
            return rs_err_set(err, r, "cannot read file to hash it");
        }
        if (n == 0)
            break;
        rs_sha256_update(&h, buf, (size_t)n);
        total += (uint64_t)n;
    }
    rs_sha256_final(&h, hex);
    if (ret_size)
        *ret_size = total;
    return 0;
}

int rs_sha256_file_at(int dirfd, const char *path, char hex[RS_SHA256_HEX_LEN + 1],
                      uint64_t *ret_size, struct rs_err *err)
{
    _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return rs_err_set(err, -errno, "cannot open '%s'", path);
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    int r = rs_sha256_fd(fd, hex, ret_size, err);
    if (r < 0)
        return rs_err_wrap(err, "'%s'", path);
    return 0;
}

bool rs_sha256_hex_valid(const char *s)
{
    size_t i;
    for (i = 0; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return i == RS_SHA256_HEX_LEN;
}
