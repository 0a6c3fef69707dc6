/* The HTTP engine: one curl multi handle runs many transfers at once over reused connections,
 * retries transient failures with exponential backoff, resumes a partial body with a Range
 * request, and writes bodies either to memory or straight into a store blob writer, so a
 * download is never visible in the store until its digest has been checked. */
#include "build/build-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "cache/cache.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/strbuf.h"
#include "common/xalloc.h"

struct http_xfer {
    struct http_req *r;
    CURL *easy;
    struct curl_slist *headers;
    struct cache_blob_writer *w;
    struct strbuf body;
    uint64_t bytes;    /* body bytes held (written to w or body) */
    uint64_t counted;  /* bytes reported to progress for this request */
    unsigned attempts; /* failed attempts so far */
    bool checksum_retried;
    bool range_sent;
    bool status_checked; /* this attempt's status looked at by the write callback */
    bool too_big;
    int write_error;
    struct rs_err werr;
    uint64_t retry_at;  /* monotonic ms */
    uint64_t last_data; /* monotonic ms of the last byte received */
    bool stalled;
    bool active, done;
    char errbuf[CURL_ERROR_SIZE];
};

struct engine {
    struct cache *c;
    const struct http_opts *o;
    struct rs_progress *progress;
    uint64_t bytes_done, items_done;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

unsigned http_default_stall_seconds(void)
{
    const char *e = getenv("ROOTSTOCK_HTTP_STALL_TIMEOUT");
    if (e && *e) {
        long v = strtol(e, NULL, 10);
        if (v > 0 && v < 3600)
            return (unsigned)v;
    }
    return 30;
}

void http_req_release(struct http_req *r)
{
    free(r->body);
    free(r->etag_out);
    free(r->last_modified_out);
    rs_err_release(&r->err);
    r->body = r->etag_out = r->last_modified_out = NULL;
}

static void progress_add(struct engine *e, struct http_xfer *x, int64_t delta)
{
    e->bytes_done += (uint64_t)delta;
    x->counted += (uint64_t)delta;
    if (e->progress)
        rs_progress_update(e->progress, e->items_done, e->bytes_done);
}

static int new_writer(struct engine *e, struct http_xfer *x)
{
    x->w = cache_blob_writer_abort(x->w);
    rs_err_release(&x->werr);
    return cache_blob_writer_new(e->c, &x->w, &x->werr);
}

static struct engine *cur_engine;

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct http_xfer *x = userdata;
    struct engine *e = cur_engine;
    size_t n = size * nmemb;
    long status = 0;

    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 300 || (status != 200 && status != 206 && status != 0))
        return n; /* an error page: dropped, the status decides */
    if (!x->status_checked) {
        x->status_checked = true;
        if (status == 200 && x->bytes > 0) {
            /* Asked for a range and got the whole body: start over. */
            progress_add(e, x, -(int64_t)x->counted);
            x->bytes = 0;
            if (x->r->to_store && new_writer(e, x) < 0) {
                x->write_error = -EIO;
                return 0;
            }
            strbuf_reset(&x->body);
        }
    }
    if (x->r->expected_size && x->bytes + n > x->r->expected_size) {
        x->too_big = true;
        return 0;
    }
    if (x->r->to_store) {
        if (cache_blob_writer_write(x->w, data, n, &x->werr) < 0) {
            x->write_error = -EIO;
            return 0;
        }
    } else if (strbuf_add(&x->body, data, n) < 0) {
        x->too_big = true;
        return 0;
    }
    x->bytes += n;
    x->last_data = now_ms();
    progress_add(e, x, (int64_t)n);
    return n;
}

/* curl's own low-speed check averages over a window of several seconds; a transfer that
 * stops dead is cut here after exactly stall_seconds without a byte. */
static int xferinfo_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct http_xfer *x = userdata;
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    if (now_ms() - x->last_data > (uint64_t)cur_engine->o->stall_seconds * 1000) {
        x->stalled = true;
        return 1;
    }
    return 0;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct http_xfer *x = userdata;
    size_t n = size * nmemb, k;
    char **dst = NULL;

    x->last_data = now_ms();
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        free(x->r->etag_out);
        free(x->r->last_modified_out);
        x->r->etag_out = x->r->last_modified_out = NULL;
        return n;
    }
    if (n > 5 && strncasecmp(data, "ETag:", 5) == 0)
        dst = &x->r->etag_out, k = 5;
    else if (n > 14 && strncasecmp(data, "Last-Modified:", 14) == 0)
        dst = &x->r->last_modified_out, k = 14;
    if (dst) {
        const char *v = data + k, *end = data + n;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
            end--;
        free(*dst);
        *dst = xstrndup(v, (size_t)(end - v));
    }
    return n;
}

static int start(struct engine *e, CURLM *multi, struct http_xfer *x)
{
    struct http_req *r = x->r;
    CURL *h = curl_easy_init();

    if (!h)
        return rs_err_msg(&r->err, -ENOMEM, "cannot create a curl handle");
    x->easy = h;
    x->status_checked = false;
    x->range_sent = false;
    x->too_big = false;
    x->stalled = false;
    x->last_data = now_ms();
    x->errbuf[0] = '\0';
    if (r->to_store && !x->w && new_writer(e, x) < 0) {
        rs_err_move(&r->err, &x->werr);
        return -EIO;
    }
    curl_easy_setopt(h, CURLOPT_URL, r->url);
    curl_easy_setopt(h, CURLOPT_PRIVATE, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https,file");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "rootstock/" ROOTSTOCK_VERSION);
    curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
    curl_slist_free_all(x->headers);
    x->headers = NULL;
    if (r->etag && x->bytes == 0) {
        _cleanup_free_ char *hdr = xasprintf("If-None-Match: %s", r->etag);
        x->headers = curl_slist_append(x->headers, hdr);
    }
    if (r->last_modified && x->bytes == 0) {
        _cleanup_free_ char *hdr = xasprintf("If-Modified-Since: %s", r->last_modified);
        x->headers = curl_slist_append(x->headers, hdr);
    }
    if (x->headers)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->headers);
    if (x->bytes > 0) {
        char range[32];
        snprintf(range, sizeof(range), "%llu-", (unsigned long long)x->bytes);
        curl_easy_setopt(h, CURLOPT_RANGE, range);
        x->range_sent = true;
        log_debug("resuming '%s' at byte %llu", r->url, (unsigned long long)x->bytes);
    } else {
        log_debug("GET '%s'", r->url);
    }
    curl_multi_add_handle(multi, h);
    x->active = true;
    return 0;
}

static bool transient_curl(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

static void finish(struct engine *e, struct http_xfer *x, int result)
{
    x->done = true;
    x->r->result = result;
    if (result < 0 && x->w)
        x->w = cache_blob_writer_abort(x->w);
    if (result < 0)
        progress_add(e, x, -(int64_t)x->counted);
    e->items_done++;
    if (e->progress)
        rs_progress_update(e->progress, e->items_done, e->bytes_done);
    if (e->o->done)
        e->o->done(x->r, e->o->data);
}

/* Give every request not yet done the result -ECANCELED. */
static size_t cancel_all(struct engine *e, CURLM *multi, struct http_xfer *xs, size_t n)
{
    size_t n_cancelled = 0;

    for (size_t i = 0; i < n; i++) {
        struct http_xfer *x = &xs[i];
        if (x->done)
            continue;
        if (x->easy) {
            curl_multi_remove_handle(multi, x->easy);
            curl_easy_cleanup(x->easy);
            x->easy = NULL;
            x->active = false;
        }
        rs_err_release(&x->r->err);
        rs_err_msg(&x->r->err, -ECANCELED, "cannot download '%s': cancelled", x->r->label);
        finish(e, x, -ECANCELED);
        n_cancelled++;
    }
    return n_cancelled;
}

/* Schedule another attempt, or fail with the message already in r->err. */
static void retry_or_fail(struct engine *e, struct http_xfer *x, bool resume)
{
    x->attempts++;
    if (x->attempts >= e->o->max_attempts) {
        rs_err_context(&x->r->err, "gave up after %u attempts", x->attempts);
        finish(e, x, rs_err_ret(&x->r->err));
        return;
    }
    unsigned delay = e->o->retry_delay_ms << (x->attempts - 1);
    log_debug("retrying '%s' in %u ms (%s)", x->r->url, delay, x->r->err.msg);
    rs_err_release(&x->r->err);
    x->retry_at = now_ms() + delay;
    if (!resume || !x->r->to_store) {
        progress_add(e, x, -(int64_t)x->counted);
        x->bytes = 0;
        strbuf_reset(&x->body);
        x->w = cache_blob_writer_abort(x->w);
    }
}

static void complete_store(struct engine *e, struct http_xfer *x)
{
    struct http_req *r = x->r;
    struct rs_err cerr = RS_ERR_INIT;
    int ret;

    if (r->expected_size && x->bytes != r->expected_size) {
        rs_err_msg(&r->err, -EPIPE, "cannot download '%s' from '%s': got %llu of %llu bytes",
                   r->label, r->url, (unsigned long long)x->bytes,
                   (unsigned long long)r->expected_size);
        retry_or_fail(e, x, true);
        return;
    }
    ret = cache_blob_writer_commit(x->w, r->expected_sha256, r->blob_hex, &cerr);
    x->w = NULL;
    if (ret == -EBADMSG && !x->checksum_retried) {
        /* A mismatch may be a proxy's or mirror's passing glitch: one fresh attempt. */
        log_debug("checksum mismatch for '%s', downloading it again", r->label);
        rs_err_release(&cerr);
        x->checksum_retried = true;
        progress_add(e, x, -(int64_t)x->counted);
        x->bytes = 0;
        x->retry_at = now_ms();
        return;
    }
    if (ret < 0) {
        if (ret == -EBADMSG)
            rs_err_msg(&r->err, -EBADMSG,
                       "checksum mismatch for '%s' from '%s' (twice): expected sha256 %s", r->label,
                       r->url, r->expected_sha256);
        else
            rs_err_move(&r->err, &cerr);
        rs_err_release(&cerr);
        finish(e, x, ret);
        return;
    }
    r->fetched = true;
    finish(e, x, 0);
}

static void complete(struct engine *e, CURLM *multi, struct http_xfer *x, CURLcode code)
{
    struct http_req *r = x->r;
    long status = 0;

    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(multi, x->easy);
    curl_easy_cleanup(x->easy);
    x->easy = NULL;
    x->active = false;
    r->status = status;

    if (x->write_error) {
        rs_err_move(&r->err, &x->werr);
        if (!r->err.msg)
            rs_err_msg(&r->err, -EIO, "cannot store '%s'", r->label);
        finish(e, x, rs_err_ret(&r->err));
        return;
    }
    if (x->too_big) {
        rs_err_msg(&r->err, -EFBIG, "cannot download '%s' from '%s': larger than expected",
                   r->label, r->url);
        /* More bytes than the index promised is a wrong file: handled like a bad checksum. */
        if (r->to_store && !x->checksum_retried) {
            rs_err_release(&r->err);
            x->checksum_retried = true;
            progress_add(e, x, -(int64_t)x->counted);
            x->bytes = 0;
            x->w = cache_blob_writer_abort(x->w);
            x->retry_at = now_ms();
            return;
        }
        finish(e, x, -EFBIG);
        return;
    }
    if (x->stalled) {
        rs_err_msg(&r->err, -ETIMEDOUT, "cannot download '%s' from '%s': stalled, no data for %u s",
                   r->label, r->url, e->o->stall_seconds);
        retry_or_fail(e, x, true);
        return;
    }
    if (code != CURLE_OK && !(code == CURLE_HTTP_RETURNED_ERROR)) {
        rs_err_msg(&r->err, -EIO, "cannot download '%s' from '%s': %s", r->label, r->url,
                   x->errbuf[0] ? x->errbuf : curl_easy_strerror(code));
        if (transient_curl(code))
            retry_or_fail(e, x, true);
        else
            finish(e, x, -EIO);
        return;
    }
    if (status == 304 || (status == 0 && strncmp(r->url, "file:", 5) == 0) || status == 200 ||
        status == 206) {
        if (status == 304) {
            finish(e, x, 0);
            return;
        }
        if (status == 206 && !x->range_sent) {
            rs_err_msg(&r->err, -EPROTO, "cannot download '%s': unexpected partial response",
                       r->url);
            retry_or_fail(e, x, false);
            return;
        }
        if (r->to_store) {
            complete_store(e, x);
            return;
        }
        r->body = strbuf_detach(&x->body, &r->body_len);
        r->fetched = true;
        finish(e, x, 0);
        return;
    }
    if (status == 404 && e->o->accept_404) {
        finish(e, x, 0);
        return;
    }
    rs_err_msg(&r->err, status == 404 ? -ENOENT : -EIO, "cannot download '%s' from '%s': HTTP %ld",
               r->label, r->url, status);
    if (status >= 500 || status == 408 || status == 429 || status == 416)
        retry_or_fail(e, x, status != 416);
    else
        finish(e, x, status == 404 ? -ENOENT : -EIO);
}

int http_run(struct cache *c, struct http_req **reqs, size_t n, const struct http_opts *opts,
             struct rs_progress *progress, struct rs_err *err)
{
    struct http_opts o = opts ? *opts : (struct http_opts){ 0 };
    struct engine e = { .c = c, .o = &o, .progress = progress };
    struct http_xfer *xs = xcalloc(n ? n : 1, sizeof(*xs));
    CURLM *multi;
    size_t n_done = 0, n_active = 0;
    int r = 0;

    if (!o.max_parallel)
        o.max_parallel = 8;
    if (!o.max_attempts)
        o.max_attempts = 5;
    if (!o.retry_delay_ms)
        o.retry_delay_ms = 250;
    if (!o.stall_seconds)
        o.stall_seconds = http_default_stall_seconds();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)o.max_parallel);
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)o.max_parallel);
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    cur_engine = &e;
    for (size_t i = 0; i < n; i++) {
        xs[i].r = reqs[i];
        reqs[i]->x = &xs[i];
        reqs[i]->result = 0;
        reqs[i]->status = 0;
        xs[i].body = (struct strbuf)STRBUF_INIT(reqs[i]->max_body ? reqs[i]->max_body : 16u << 20);
    }
    while (n_done < n) {
        uint64_t t = now_ms(), next_retry = UINT64_MAX;
        int running, msgs;
        CURLMsg *m;

        if (o.cancelled && o.cancelled(o.data)) {
            n_done += cancel_all(&e, multi, xs, n);
            break;
        }

        for (size_t i = 0; i < n && n_active < o.max_parallel; i++) {
            struct http_xfer *x = &xs[i];
            if (x->active || x->done)
                continue;
            if (x->retry_at > t) {
                if (x->retry_at < next_retry)
                    next_retry = x->retry_at;
                continue;
            }
            if (start(&e, multi, x) < 0) {
                finish(&e, x, rs_err_ret(&x->r->err));
                n_done++;
                continue;
            }
            n_active++;
        }
        if (n_done >= n)
            break;
        curl_multi_perform(multi, &running);
        while ((m = curl_multi_info_read(multi, &msgs))) {
            struct http_xfer *x = NULL;
            if (m->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            complete(&e, multi, x, m->data.result);
            n_active--;
            if (x->done)
                n_done++;
        }
        if (n_done >= n)
            break;
        /* A signal meant for o.cancelled may land on another thread and leave the poll be. */
        int timeout = o.cancelled ? 100 : 1000;
        if (next_retry != UINT64_MAX) {
            uint64_t wait = next_retry > now_ms() ? next_retry - now_ms() : 0;
            if (wait < (uint64_t)timeout)
                timeout = (int)wait;
        }
        if (n_active > 0)
            curl_multi_poll(multi, NULL, 0, timeout, NULL);
        else if (timeout > 0) {
            struct timespec ts = { timeout / 1000, (long)(timeout % 1000) * 1000000L };
            nanosleep(&ts, NULL);
        }
    }
    cur_engine = NULL;
    for (size_t i = 0; i < n; i++) {
        struct http_xfer *x = &xs[i];
        if (x->easy) {
            curl_multi_remove_handle(multi, x->easy);
            curl_easy_cleanup(x->easy);
        }
        curl_slist_free_all(x->headers);
        cache_blob_writer_abort(x->w);
        strbuf_release(&x->body);
        rs_err_release(&x->werr);
        reqs[i]->x = NULL;
        if (reqs[i]->result < 0 && r == 0) {
            r = reqs[i]->result;
            struct rs_err copy = RS_ERR_INIT;
            rs_err_msg(&copy, r, "%s", reqs[i]->err.msg ? reqs[i]->err.msg : "download failed");
            if (reqs[i]->err.context)
                rs_err_context(&copy, "%s", reqs[i]->err.context);
            if (err)
                rs_err_move(err, &copy);
            rs_err_release(&copy);
        }
    }
    curl_multi_cleanup(multi);
    free(xs);
    return r;
}
