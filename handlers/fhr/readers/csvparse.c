/*
 * The CSV readers' native fast path: whole lines of short decimal fields -> float32, one pass.
 *
 * Built by bundler/native.py (no libc: -nostdlib, nothing but arithmetic on the caller's buffers) and
 * loaded with ctypes by handlers/fhr/readers/native.py, which keeps the numpy path for machines without
 * it. It accepts exactly what the numpy SWAR path of fastnum.py parses without help, and gives the same
 * float32 bits: every value field is [-]digits[<mark>digits] in at most 8 bytes (sign and mark
 * included), "" or "-" for an invalid sample (NaN); the value is the digits as an integer, times
 * (sign x scale x 10^-decimals) in double precision, rounded once to float32 (the caller passes the
 * powers of ten, so both paths use the same constants; built with -ffp-contract=off, so no fused
 * multiply-add changes a rounding). Any other field (exponent, quotes, blanks, longer) or a row with
 * another number of fields makes it return FALLBACK before writing anything the caller keeps: the
 * numpy path then parses the block, and words the error if there is one.
 *
 * Memory safety: reads only buf[lo, hi), writes only out[0, max_rows * n_values); input is untrusted.
 */

#define FALLBACK (-1L)
#define MAX_FIELD 8

typedef unsigned long size_type;

long fhr_parse_block(
    const unsigned char *buf, long lo, long hi,
    int delimiter, int decimal, int n_fields, int crlf,
    const int *slot_of_field,      /* n_fields entries: output column, or -1 for a column not returned */
    int n_values,
    const double *scales,          /* n_values entries */
    const double *inverse_powers,  /* 10^-q for q = 0..MAX_FIELD */
    float *out, long max_rows)
{
    long pos = lo;
    long row = 0;
    if (lo < 0 || hi <= lo || n_fields < 1 || n_values < 1 || max_rows < 0) return FALLBACK;
    /* The block ends with a newline, and every scan below stops at one: no read goes past hi - 1. */
    if (buf[hi - 1] != '\n') return FALLBACK;
    while (pos < hi) {
        if (row >= max_rows) return FALLBACK;
        float *out_row = out + (size_type)row * (size_type)n_values;
        for (int field = 0; field < n_fields; field++) {
            const int last = field == n_fields - 1;
            const int slot = slot_of_field[field];
            const long start = pos;
            unsigned char c;
            long end;
            if (slot < 0) {                                      /* a column not returned: skip it */
                while ((c = buf[pos]) != delimiter && c != '\n') pos++;
                end = pos;
                if (last && crlf) {
                    if (pos == start || buf[pos - 1] != '\r') return FALLBACK;
                    end--;
                }
            } else {
                const int negative = buf[pos] == '-';
                unsigned long mantissa = 0;
                int digits = 0, decimals = 0, seen_mark = 0;
                pos += negative;
                for (;;) {
                    c = buf[pos];
                    const unsigned digit = (unsigned)c - '0';
                    if (digit < 10) {
                        mantissa = mantissa * 10 + digit;
                        digits++;
                        decimals += seen_mark;
                    } else if (c == decimal && !seen_mark) {
                        seen_mark = 1;
                    } else {
                        break;
                    }
                    pos++;
                }
                end = pos;
                if (last && crlf) {                              /* the \r of \r\n ends the last field */
                    if (c != '\r') return FALLBACK;
                    pos++;
                    c = buf[pos];
                }
                const long length = end - start;
                if (length > MAX_FIELD) return FALLBACK;
                if (digits == 0) {
                    if (length != negative) return FALLBACK;   /* "." or "-.": not a number */
                    out_row[slot] = __builtin_nanf("");          /* "" or "-": no sample */
                } else {
                    const double factor = (negative ? -scales[slot] : scales[slot]) * inverse_powers[decimals];
                    out_row[slot] = (float)((double)mantissa * factor);
                }
            }
            /* the field must end where the layout says: a delimiter, or the newline for the last one */
            c = buf[pos];
            if (last ? c != '\n' : c != delimiter) return FALLBACK;
            (void)end;
            pos++;
        }
        row++;
    }
    return row;
}

/* Newlines in buf[lo, hi): the rows of a block, counted before parsing so the result is allocated once.
 * A plain loop the compiler vectorises (bytes.count goes a byte at a time). */
long fhr_count_newlines(const unsigned char *buf, long lo, long hi)
{
    long count = 0;
    for (long i = lo; i < hi; i++) count += buf[i] == '\n';
    return count;
}
