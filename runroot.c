/* runroot: the container runner as its own small executable. `rootstock run` is the same
 * code (run/cmd.c) inside the big binary; this one links only what running needs (no curl,
 * no libarchive), because every shared library costs process start time and runroot's start
 * is its benchmark (issue 5: under 1.5x chroot, peak RSS under 2 MB). The rare paths that need
 * more (importing FILE.tar) hand over to the full rootstock binary (see run/cmd.c). */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/cli.h"
#include "common/log.h"
#include "common/sha256.h"
#include "run/run.h"

/* SHA-256 for this executable, defined here so that common/sha256.c (and with it libcrypto,
 * 1.6 MB of RSS and ~0.8 ms of loading and relocation at every start) is not linked: a plain
 * run never hashes (image/image.c and cache/ reference the functions for --commit and the
 * store's writers). The same OpenSSL EVP functions are looked up with dlopen the first time one
 * is needed. The contract is common/sha256.h's; like there, failure (here: no libcrypto.so.3)
 * aborts. */
struct evp {
    void *(*md_ctx_new)(void);
    void (*md_ctx_free)(void *ctx);
    const void *(*sha256)(void);
    int (*init_ex)(void *ctx, const void *md, void *engine);
    int (*update)(void *ctx, const void *data, size_t len);
    int (*final_ex)(void *ctx, unsigned char *md, unsigned int *len);
};

static const struct evp *evp(void)
{
    static struct evp e;
    static bool loaded;
    void *lib;

    if (loaded)
        return &e;
    lib = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        log_error("cannot load libcrypto for SHA-256: %s", dlerror());
        abort();
    }
    e.md_ctx_new = (void *(*)(void))dlsym(lib, "EVP_MD_CTX_new");
    e.md_ctx_free = (void (*)(void *))dlsym(lib, "EVP_MD_CTX_free");
    e.sha256 = (const void *(*)(void))dlsym(lib, "EVP_sha256");
    e.init_ex = (int (*)(void *, const void *, void *))dlsym(lib, "EVP_DigestInit_ex");
    e.update = (int (*)(void *, const void *, size_t))dlsym(lib, "EVP_DigestUpdate");
    e.final_ex = (int (*)(void *, unsigned char *, unsigned int *))dlsym(lib, "EVP_DigestFinal_ex");
    if (!e.md_ctx_new || !e.md_ctx_free || !e.sha256 || !e.init_ex || !e.update || !e.final_ex)
        abort();
    loaded = true;
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
    void *ctx = e->md_ctx_new();

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
    unsigned char md[64];
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

int main(int argc, char *argv[])
{
    log_init("runroot");
    cli_set_command("runroot");
    return cmd_run(argc, argv);
}
