#include "common/sha256.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/cleanup.h"

/* libcrypto is loaded at the first hash, not linked: runroot's start is its benchmark and a
 * plain run never hashes, while libcrypto costs ~1.6 MB of RSS and ~0.8 ms of loading at
 * every start. mkroot and rootstock have it loaded already (libcurl), so there dlopen only
 * returns the same handle. The prototypes still come from OpenSSL's header, so a changed
 * signature is a compile error. */
struct evp {
    typeof(&EVP_MD_CTX_new) md_ctx_new;
    typeof(&EVP_MD_CTX_free) md_ctx_free;
    typeof(&EVP_sha256) sha256;
    typeof(&EVP_DigestInit_ex) init_ex;
    typeof(&EVP_DigestUpdate) update;
    typeof(&EVP_DigestFinal_ex) final_ex;
};

static _Noreturn void die_no_crypto(const char *what)
{
    fprintf(stderr, "rootstock: cannot use libcrypto for SHA-256: %s\n", what);
    abort();
}

static const struct evp *evp(void)
{
    static struct evp e;
    static void *lib;

    if (lib)
        return &e;
    void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        die_no_crypto(dlerror());
    e.md_ctx_new = (typeof(e.md_ctx_new))dlsym(h, "EVP_MD_CTX_new");
    e.md_ctx_free = (typeof(e.md_ctx_free))dlsym(h, "EVP_MD_CTX_free");
    e.sha256 = (typeof(e.sha256))dlsym(h, "EVP_sha256");
    e.init_ex = (typeof(e.init_ex))dlsym(h, "EVP_DigestInit_ex");
    e.update = (typeof(e.update))dlsym(h, "EVP_DigestUpdate");
    e.final_ex = (typeof(e.final_ex))dlsym(h, "EVP_DigestFinal_ex");
    if (!e.md_ctx_new || !e.md_ctx_free || !e.sha256 || !e.init_ex || !e.update || !e.final_ex)
        die_no_crypto("missing EVP functions");
    lib = h;
    return &e;
}

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
    const struct evp *e = evp();
    EVP_MD_CTX *ctx = e->md_ctx_new();
    if (!ctx || e->init_ex(ctx, e->sha256(), NULL) != 1)
        abort(); /* only fails on OOM or a broken libcrypto */
    h->ctx = ctx;
}

void rs_sha256_update(struct rs_sha256 *h, const void *data, size_t len)
{
    if (len && evp()->update(h->ctx, data, len) != 1)
        abort();
}

void rs_sha256_final(struct rs_sha256 *h, char hex[RS_SHA256_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (evp()->final_ex(h->ctx, md, &n) != 1 || n != 32)
        abort();
    to_hex(md, hex);
    rs_sha256_release(h);
}

void rs_sha256_release(struct rs_sha256 *h)
{
    if (h->ctx)
        evp()->md_ctx_free(h->ctx);
    h->ctx = NULL;
}

void rs_sha256_buf(const void *data, size_t len, char hex[RS_SHA256_HEX_LEN + 1])
{
    struct rs_sha256 h;
    rs_sha256_init(&h);
    rs_sha256_update(&h, data, len);
    rs_sha256_final(&h, hex);
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
