#pragma once
/* Progress of a long step (downloads, unpacking). On a terminal (stderr is a tty) a live bar
 * redrawn at most ten times a second: items done/total, bytes, rate. Otherwise plain lines
 * at every tenth of the way. Nothing when the log level is below info (-q). */

#include <stdint.h>

struct rs_progress;

/* Start reporting on `what` ("downloading"). Totals may be 0 when unknown. */
struct rs_progress *rs_progress_new(const char *what, uint64_t total_items, uint64_t total_bytes);
/* Report absolute counts so far. Cheap enough to call per network chunk. */
void rs_progress_update(struct rs_progress *p, uint64_t items_done, uint64_t bytes_done);
/* Finish: clears the bar and prints one summary line "WHAT: N items, SIZE in T s". Frees p;
 * NULL is fine. Returns NULL. */
struct rs_progress *rs_progress_done(struct rs_progress *p);
/* Free without a summary (error paths); clears a drawn bar. Returns NULL. */
struct rs_progress *rs_progress_free(struct rs_progress *p);
