/* libFuzzer target: the deb822 parser, the Packages index built on it, Depends parsing and a
 * resolve over whatever the input declares. Input is capped at 1 MiB. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "build/build-internal.h"
#include "common/strv.h"
#include "common/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pkg_index idx;
    struct rs_err err = RS_ERR_INIT;

    if (size > (1u << 20))
        return 0;
    pkg_index_init(&idx);
    if (pkg_index_add(&idx, xmemdup(data, size ? size : 1), size, false, "fuzz", &err) == 0) {
        char **seeds = NULL;
        for (size_t i = 0; i < idx.n_pkgs && i < 8; i++)
            strv_consume(&seeds, xstrndup(idx.pkgs[i].name.p, idx.pkgs[i].name.len));
        struct resolve_opts o = { .arch = "amd64", .suite = "fuzz", .seeds = seeds };
        int32_t *picked = NULL;
        size_t n;
        if (resolve_closure(&idx, &o, &picked, &n, &err) == 0)
            free(picked);
        strv_free(seeds);
        for (size_t i = 0; i < idx.n_pkgs && i < 64; i++) {
            struct build_pkg p;
            resolve_fill_pkg(&idx.pkgs[i], &p);
            struct build_pkg_list l = { .pkgs = (struct build_pkg *)xmemdup(&p, sizeof(p)),
                                        .n_pkgs = 1 };
            build_pkg_list_release(&l);
        }
    }
    rs_err_release(&err);
    pkg_index_release(&idx);

    /* The same bytes as a Release file and as an InRelease message. */
    struct release_info ri;
    if (release_parse((const char *)data, size, "fuzz", &ri, &err) == 0)
        release_info_release(&ri);
    rs_err_release(&err);
    char *text = NULL;
    size_t len;
    if (pgp_clearsigned_text((const char *)data, size, &text, &len, &err) == 0)
        free(text);
    rs_err_release(&err);
    return 0;
}
