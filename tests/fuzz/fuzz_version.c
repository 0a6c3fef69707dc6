/* libFuzzer target: Debian version comparison and Depends parsing. The input is split at the
 * first newline into two versions; the comparison must be antisymmetric and reflexive. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "build/build-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nl = memchr(s, '\n', size);
    size_t a_len = nl ? (size_t)(nl - s) : size;
    const char *b = nl ? nl + 1 : s;
    size_t b_len = nl ? size - a_len - 1 : size;
    struct rs_err err = RS_ERR_INIT;
    struct dep_list l;

    if (size > 4096)
        return 0;
    int ab = deb_version_cmp(s, a_len, b, b_len);
    int ba = deb_version_cmp(b, b_len, s, a_len);
    if ((ab < 0) != (ba > 0) || (ab == 0) != (ba == 0))
        abort();
    if (deb_version_cmp(s, a_len, s, a_len) != 0)
        abort();
    (void)deb_version_check(s, a_len, &err);
    rs_err_release(&err);
    if (dep_parse(s, size, &l, &err) == 0) {
        for (size_t i = 0; i < l.n_alts; i++)
            if (l.alts[i].version)
                (void)dep_version_ok(l.alts[i].op, l.alts[i].version, l.alts[i].version_len, "1.0",
                                     3);
        dep_list_release(&l);
    }
    rs_err_release(&err);
    return 0;
}
