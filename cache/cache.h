#pragma once
/* The content-addressed store: blobs, layers, images, locks, gc. */

/* `rootstock image VERB …`: the store's image verbs. Returns the exit code. */
int cmd_image(int argc, char *argv[]);
/* `rootstock cache VERB …`: du, gc, verify. Returns the exit code. */
int cmd_cache(int argc, char *argv[]);
