#include "common/parse.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Reads "DIGITS[.DIGITS]" into an integer part and a fraction scaled to 1e9; stops at the first
 * other character. Hand-written so that no locale, sign, exponent, hex or infinity can sneak in
 * the way strtod would let it. */
static int parse_decimal(const char *s, uint64_t *ret_int, uint64_t *ret_frac_e9, const char **end)
{
    uint64_t v = 0, frac = 0, scale = 100000000;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
            return -ERANGE;
    }
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -EINVAL;
        for (; *p >= '0' && *p <= '9'; p++) {
            frac += (uint64_t)(*p - '0') * scale;
            scale /= 10;
        }
    }
    *ret_int = v;
    *ret_frac_e9 = frac;
    *end = p;
    return 0;
}

/* int_part * mult + frac_e9 * mult / 1e9, with overflow detection. */
static int scale_value(uint64_t int_part, uint64_t frac_e9, uint64_t mult, uint64_t *ret)
{
    uint64_t v;
    if (__builtin_mul_overflow(int_part, mult, &v))
        return -ERANGE;
    unsigned __int128 f = (unsigned __int128)frac_e9 * mult / 1000000000u;
    if (f > UINT64_MAX - v)
        return -ERANGE;
    *ret = v + (uint64_t)f;
    return 0;
}

int rs_parse_size(const char *text, uint64_t *ret_bytes, struct rs_err *err)
{
    uint64_t int_part, frac, mult = 1, v;
    const char *unit;
    int r = parse_decimal(text, &int_part, &frac, &unit);
    if (r == -ERANGE)
        return rs_err_msg(err, r, "invalid size '%s': too large", text);
    if (r < 0)
        return rs_err_msg(err, r, "invalid size '%s': expected a number such as 512k, 100M or 1.5G",
                          text);
    static const struct {
        char c;
        uint64_t mult;
    } units[] = { { 'b', 1 },
                  { 'k', 1ull << 10 },
                  { 'm', 1ull << 20 },
                  { 'g', 1ull << 30 },
                  { 't', 1ull << 40 } };
    const char *rest = unit;
    if (*unit) {
        size_t i;
        for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if ((*unit | 0x20) == units[i].c)
                break;
        if (i == sizeof(units) / sizeof(units[0]))
            return rs_err_msg(err, -EINVAL, "invalid size '%s': unknown unit '%s'", text, unit);
        mult = units[i].mult;
        rest = unit + 1;
        if (mult > 1 && (strcasecmp(rest, "b") == 0 || strcasecmp(rest, "ib") == 0))
            rest += strlen(rest);
    }
    if (*rest)
        return rs_err_msg(err, -EINVAL, "invalid size '%s': unknown unit '%s'", text, unit);
    if (frac && mult == 1)
        return rs_err_msg(err, -EINVAL, "invalid size '%s': a fraction of a byte", text);
    r = scale_value(int_part, frac, mult, &v);
    if (r < 0)
        return rs_err_msg(err, r, "invalid size '%s': too large", text);
    *ret_bytes = v;
    return 0;
}

int rs_parse_duration(const char *text, uint64_t *ret_ms, struct rs_err *err)
{
    uint64_t int_part, frac, mult = 1000, v;
    const char *unit;
    int r = parse_decimal(text, &int_part, &frac, &unit);
    if (r == -ERANGE)
        return rs_err_msg(err, r, "invalid duration '%s': too large", text);
    if (r < 0)
        return rs_err_msg(
            err, r, "invalid duration '%s': expected a number such as 30s, 250ms or 2m", text);
    if (*unit == '\0' || strcmp(unit, "s") == 0)
        mult = 1000;
    else if (strcmp(unit, "ms") == 0)
        mult = 1;
    else if (strcmp(unit, "m") == 0)
        mult = 60 * 1000;
    else if (strcmp(unit, "h") == 0)
        mult = 3600 * 1000;
    else if (strcmp(unit, "d") == 0)
        mult = 86400 * 1000;
    else
        return rs_err_msg(err, -EINVAL, "invalid duration '%s': unknown unit '%s'", text, unit);
    r = scale_value(int_part, frac, mult, &v);
    if (r < 0)
        return rs_err_msg(err, r, "invalid duration '%s': too large", text);
    *ret_ms = v;
    return 0;
}

int rs_parse_uint(const char *text, uint64_t max, uint64_t *ret, struct rs_err *err)
{
    uint64_t v = 0;
    const char *p = text;
    if (*p == '\0')
        return rs_err_msg(err, -EINVAL, "invalid number '': empty");
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return rs_err_msg(err, -EINVAL, "invalid number '%s': not a whole number", text);
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
            return rs_err_msg(err, -ERANGE, "invalid number '%s': too large (at most %llu)", text,
                              (unsigned long long)max);
    }
    if (v > max)
        return rs_err_msg(err, -ERANGE, "invalid number '%s': too large (at most %llu)", text,
                          (unsigned long long)max);
    *ret = v;
    return 0;
}

char *rs_format_size(uint64_t bytes, char *buf, size_t buf_size)
{
    static const char units[] = "BKMGTPE";
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024 && u < sizeof(units) - 2) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, buf_size, "%lluB", (unsigned long long)bytes);
    else if (v < 10 && v != (double)(uint64_t)v)
        snprintf(buf, buf_size, "%.1f%c", v, units[u]);
    else
        snprintf(buf, buf_size, "%.0f%c", v, units[u]);
    return buf;
}
