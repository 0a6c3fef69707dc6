#pragma once
/* Parsing of numbers that people type: sizes and durations, with overflow checks. Errors name
 * the text that was rejected: "invalid size '100X': unknown unit 'X'". */

#include <stdint.h>

#include "common/err.h"

/* A byte size: digits with an optional fraction and an optional binary unit k, m, g, t
 * (any case, optionally followed by "b" or "ib": 100M = 100MiB = 104857600). A plain number is
 * bytes. The fraction is allowed with a unit ("1.5G") and must come out a whole number of
 * bytes only after rounding down. Rejects signs, exponents, empty text, trailing junk and
 * anything above UINT64_MAX with -EINVAL / -ERANGE. */
int rs_parse_size(const char *text, uint64_t *ret_bytes, struct rs_err *err);

/* A duration in milliseconds: a number with an optional fraction and unit ms, s, m, h, d; a
 * plain number is seconds ("30", "1.5s", "250ms", "2m", "1h"). */
int rs_parse_duration(const char *text, uint64_t *ret_ms, struct rs_err *err);

/* An unsigned decimal integer in [0, max]: no sign, no spaces, no junk. */
int rs_parse_uint(const char *text, uint64_t max, uint64_t *ret, struct rs_err *err);

/* Format a byte count for people: "512B", "1.5K", "100M", "2.3G" (binary units). buf must hold
 * at least 16 bytes; returns buf. */
char *rs_format_size(uint64_t bytes, char *buf, size_t buf_size);
