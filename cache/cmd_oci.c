#include "cache/cache.h"

#include <errno.h>

#include "common/log.h"

/* Placeholders until the OCI archive code lands (issue 7). */
int cache_import_archive(struct cache *c, const char *path, const char *name, char **ret_name,
                         struct rs_err *err)
{
    (void)c;
    (void)name;
    (void)ret_name;
    return rs_err_msg(err, -ENOTSUP, "cannot import '%s': archive import is not built yet", path);
}

int cmd_image_export(int argc, char *argv[])
{
    (void)argc;
    (void)argv;
    log_error("image export is not built yet");
    return 1;
}

int cmd_image_import(int argc, char *argv[])
{
    (void)argc;
    (void)argv;
    log_error("image import is not built yet");
    return 1;
}
