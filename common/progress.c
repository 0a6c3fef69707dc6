#include "common/progress.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/parse.h"
#include "common/xalloc.h"

struct rs_progress {
    char *what;
    uint64_t total_items, total_bytes;
    uint64_t items, bytes;
    uint64_t start_ns, last_draw_ns;
    int last_decile;
    bool tty, enabled, drawn;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct rs_progress *rs_progress_new(const char *what, uint64_t total_items, uint64_t total_bytes)
{
    struct rs_progress *p = xcalloc(1, sizeof(*p));
    p->what = xstrdup(what);
    p->total_items = total_items;
    p->total_bytes = total_bytes;
    p->start_ns = now_ns();
    p->enabled = log_enabled(LOG_INFO);
    p->tty = p->enabled && isatty(STDERR_FILENO) && getenv("TERM") &&
             !(getenv("TERM")[0] == 'd' && getenv("TERM")[1] == 'u'); /* not "dumb" */
    p->last_decile = -1;
    return p;
}

static void draw(struct rs_progress *p, bool final)
{
    char done[16], total[16], rate[16];
    double secs = (double)(now_ns() - p->start_ns) / 1e9;
    rs_format_size(p->bytes, done, sizeof(done));
    rs_format_size(p->total_bytes, total, sizeof(total));
    rs_format_size(secs > 0.05 ? (uint64_t)((double)p->bytes / secs) : 0, rate, sizeof(rate));
    if (p->tty) {
        int width = 24, fill = 0;
        uint64_t num = p->total_bytes ? p->bytes : p->items;
        uint64_t den = p->total_bytes ? p->total_bytes : p->total_items;
        if (den)
            fill = (int)((double)width * (double)(num > den ? den : num) / (double)den);
        char bar[32];
        for (int i = 0; i < width; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r\033[K%s: [%s] %llu/%llu  %s/%s  %s/s%s", p->what, bar,
                (unsigned long long)p->items, (unsigned long long)p->total_items, done, total, rate,
                final ? "\n" : "");
        fflush(stderr);
        p->drawn = !final;
    } else {
        log_info("%s: %llu/%llu, %s of %s", p->what, (unsigned long long)p->items,
                 (unsigned long long)p->total_items, done, total);
    }
}

void rs_progress_update(struct rs_progress *p, uint64_t items_done, uint64_t bytes_done)
{
    if (!p)
        return;
    p->items = items_done;
    p->bytes = bytes_done;
    if (!p->enabled)
        return;
    if (p->tty) {
        uint64_t t = now_ns();
        if (t - p->last_draw_ns < 100000000u)
            return;
        p->last_draw_ns = t;
        draw(p, false);
        return;
    }
    uint64_t num = p->total_bytes ? p->bytes : p->items;
    uint64_t den = p->total_bytes ? p->total_bytes : p->total_items;
    if (!den)
        return;
    int decile = (int)(10 * (num > den ? den : num) / den);
    if (decile > p->last_decile && decile > 0 && decile < 10) {
        p->last_decile = decile;
        draw(p, false);
    }
}

struct rs_progress *rs_progress_free(struct rs_progress *p)
{
    if (!p)
        return NULL;
    if (p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    free(p->what);
    free(p);
    return NULL;
}

struct rs_progress *rs_progress_done(struct rs_progress *p)
{
    if (!p)
        return NULL;
    if (p->enabled) {
        char size[16];
        if (p->drawn) {
            fputs("\r\033[K", stderr);
            p->drawn = false;
        }
        log_info("%s: %llu item%s, %s in %.1f s", p->what, (unsigned long long)p->items,
                 p->items == 1 ? "" : "s", rs_format_size(p->bytes, size, sizeof(size)),
                 (double)(now_ns() - p->start_ns) / 1e9);
    }
    return rs_progress_free(p);
}
