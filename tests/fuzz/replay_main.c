/* Runs a libFuzzer target over every file of a corpus directory (systemd's fuzz-main.c), so
 * that each input that once crashed stays a regression test under plain ctest. */

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/fs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char *argv[])
{
    int n_inputs = 0;
    for (int i = 1; i < argc; i++) {
        _cleanup_closedir_ DIR *d = opendir(argv[i]);
        if (!d) {
            fprintf(stderr, "replay: cannot open corpus '%s'\n", argv[i]);
            return 1;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            _cleanup_free_ char *path = NULL;
            _cleanup_free_ char *buf = NULL;
            struct rs_err err = RS_ERR_INIT;
            size_t len;
            if (asprintf(&path, "%s/%s", argv[i], de->d_name) < 0)
                return 1;
            if (rs_read_file_at(-100 /* AT_FDCWD */, path, 16 << 20, &buf, &len, &err) < 0) {
                rs_err_print_to(stderr, "replay", &err);
                rs_err_release(&err);
                return 1;
            }
            LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
            n_inputs++;
        }
    }
    printf("replayed %d inputs\n", n_inputs);
    return n_inputs > 0 ? 0 : 1;
}
