/* Compiled kernels for the hot loops of a run: the same numbers as the NumPy code in simulate/kernels.py.
 *
 * Every kernel is either integer counting (exact in any order) or elementwise floating-point arithmetic
 * done in the same order, operation by operation, as its NumPy fallback (built with -ffp-contract=off,
 * so no fused multiply-add changes a rounding). Results are therefore identical, bit for bit, whether
 * this module was built or not (for finite values; a NaN's sign or payload may differ); it only saves
 * passes over memory.
 *
 * Arrays arrive through the buffer protocol (C-contiguous; dtypes checked by the Python wrappers), so the
 * module needs no NumPy headers. Every size and every index read from an array is checked before use.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#include <immintrin.h>
#define HAVE_AVX2_PATH 1
#endif

/* The loops are also compiled for x86-64-v3 (AVX2: twice the lanes of SSE2), picked at load time where the
 * processor has it. Wider lanes do the same IEEE operations on each element (no fused multiply-add:
 * -ffp-contract=off; no reordered sums: no -ffast-math), so the numbers do not change. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__) && defined(__GLIBC__) && \
    __GNUC__ >= 11 /* target_clones needs ifunc: glibc, not musl */
#define WIDE __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define WIDE
#endif

/* Release the buffers a wrapper took: RELEASE(&a, &b, ...), at its end (a wrapper whose PyArg_ParseTuple fails
 * holds none and returns at once). */
static void release_buffers(Py_buffer *const *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        PyBuffer_Release(b[i]);
}
#define RELEASE(...) release_buffers((Py_buffer *const[]){__VA_ARGS__}, \
                                     sizeof((Py_buffer *const[]){__VA_ARGS__}) / sizeof(Py_buffer *))

/* The buffer holds exactly d0 * d1 * d2 items of `itemsize` bytes (sizes >= 0, product without overflow). */
static int check_size3(Py_buffer *b, Py_ssize_t d0, Py_ssize_t d1, Py_ssize_t d2, Py_ssize_t itemsize,
                       const char *name)
{
    Py_ssize_t bytes;
    if (d0 < 0 || d1 < 0 || d2 < 0 || __builtin_mul_overflow(d0, d1, &bytes) ||
        __builtin_mul_overflow(bytes, d2, &bytes) || __builtin_mul_overflow(bytes, itemsize, &bytes)) {
        PyErr_Format(PyExc_ValueError, "%s: bad shape", name);
        return -1;
    }
    if (b->len != bytes) {
        PyErr_Format(PyExc_ValueError, "%s: buffer of %zd bytes, expected %zd", name, b->len, bytes);
        return -1;
    }
    return 0;
}

static int check_size(Py_buffer *b, Py_ssize_t items, Py_ssize_t itemsize, const char *name)
{
    return check_size3(b, items, 1, 1, itemsize, name);
}

/* Every idx[i * stride + col] (i < count) lies in 0 .. bound - 1. */
static int check_index(const int64_t *idx, Py_ssize_t count, Py_ssize_t stride, Py_ssize_t col, Py_ssize_t bound,
                       const char *name)
{
    for (Py_ssize_t i = 0; i < count; i++)
        if (idx[i * stride + col] < 0 || idx[i * stride + col] >= bound) {
            PyErr_Format(PyExc_ValueError, "%s: index %lld outside 0 .. %zd", name,
                         (long long)idx[i * stride + col], bound - 1);
            return -1;
        }
    return 0;
}

/* floor(a) for |a| < 2**62, exact, without a call into libm (SSE2 has no rounding instruction). */
static inline int64_t floor_i64(double a)
{
    int64_t k = (int64_t)a; /* truncation toward zero */
    return k - (a < (double)k);
}

/* The values of `row` at or above `level` (added to *at), OR-ed into the per-trial masks `seen` (all ones once
 * a trial has reached it), and the trials reached so far (added to *by): SSE2 compare masks, counted by
 * subtracting them from two int64 lanes. */
static inline void reached_row(const double *restrict row, Py_ssize_t n, double level, int64_t *restrict seen,
                               int64_t *at, int64_t *by)
{
    int64_t a = 0, b = 0;
    Py_ssize_t i = 0;
#if defined(__SSE2__)
    const __m128d tv = _mm_set1_pd(level);
    __m128i acc_a = _mm_setzero_si128(), acc_b = _mm_setzero_si128();
    for (; i + 2 <= n; i += 2) {
        __m128i hit = _mm_castpd_si128(_mm_cmpge_pd(_mm_loadu_pd(row + i), tv));
        __m128i sn = _mm_or_si128(_mm_loadu_si128((const __m128i *)(seen + i)), hit);
        _mm_storeu_si128((__m128i *)(seen + i), sn);
        acc_a = _mm_sub_epi64(acc_a, hit);
        acc_b = _mm_sub_epi64(acc_b, sn);
    }
    int64_t la[2], lb[2];
    _mm_storeu_si128((__m128i *)la, acc_a);
    _mm_storeu_si128((__m128i *)lb, acc_b);
    a = la[0] + la[1];
    b = lb[0] + lb[1];
#endif
    for (; i < n; i++) {
        int64_t hit = -(int64_t)(row[i] >= level);
        seen[i] |= hit;
        a -= hit;
        b -= seen[i];
    }
    *at += a;
    *by += b;
}

/* NumPy's pairwise summation (numpy/_core/src/umath/loops_utils.h.src, `pairwise_sum`), which np.sum and
 * np.mean use on a contiguous row: below 8 values a plain sum from 0.0; up to PW_BLOCK values eight running
 * sums, combined as ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), then the rest in order; above, the two
 * halves (the first a multiple of 8 long) summed apart and added. The kernels below follow it exactly, so a
 * row's sum is the same number, bit for bit, as NumPy's. */
#define PW_BLOCK 128

/* Where NumPy's pairwise sum splits n > PW_BLOCK values: half, less its remainder modulo 8. */
static inline Py_ssize_t pw_split(Py_ssize_t n) { return n / 2 - (n / 2) % 8; }

/* The deepest level of the pairwise tree over n values whose nodes are split while larger than `leaf` (the
 * right half is the larger), plus one: how many levels of work arrays a recursion needs. */
static Py_ssize_t pw_depth(Py_ssize_t n, Py_ssize_t leaf)
{
    Py_ssize_t depth = 1;
    for (; n > leaf; depth++)
        n -= pw_split(n);
    return depth;
}

/* The leaf sum of x[i], or with `sq` of the squared deviations (x[i] - mean) * (x[i] - mean), each made as it is
 * added (the same numbers in the same order as summing an array of them); `sq` is a constant at each call, so
 * each use compiles to its own loop. */
static inline __attribute__((always_inline)) double pw_leaf_of(const double *restrict x, Py_ssize_t n, double mean,
                                                             const int sq)
{
#define TERM(v) (sq ? ((v) - mean) * ((v) - mean) : (v))
    if (n < 8) {
        double res = 0.0;
        for (Py_ssize_t i = 0; i < n; i++)
            res += TERM(x[i]);
        return res;
    }
    double r[8];
    Py_ssize_t i = 8;
#if defined(__GNUC__) /* the eight sums as two vectors of four lanes (two pairs of SSE2 lanes where the processor has no
                       * AVX2: each clone of a caller picks its width): the same additions */
    typedef double v4d __attribute__((vector_size(32)));
    v4d r0, r1, v, m = {mean, mean, mean, mean};
#define LOADV(dst, p) (memcpy(&(dst), (p), sizeof(v4d)), (sq ? (dst) = ((dst) - m) * ((dst) - m) : (dst)))
    LOADV(r0, x);
    LOADV(r1, x + 4);
    for (; i < n - (n % 8); i += 8) {
        r0 += LOADV(v, x + i);
        r1 += LOADV(v, x + i + 4);
    }
#undef LOADV
    memcpy(r, &r0, sizeof r0);
    memcpy(r + 4, &r1, sizeof r1);
#else
    for (int j = 0; j < 8; j++)
        r[j] = TERM(x[j]);
    for (; i < n - (n % 8); i += 8)
        for (int j = 0; j < 8; j++)
            r[j] += TERM(x[i + j]);
#endif
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++)
        res += TERM(x[i]);
    return res;
#undef TERM
}

static inline double pw_leaf(const double *restrict a, Py_ssize_t n) { return pw_leaf_of(a, n, 0.0, 0); }

/* pw_leaf of the squared deviations from `mean`, without an array of them written and read back */
static inline double pw_leaf_sq(const double *restrict x, Py_ssize_t n, double mean)
{
    return pw_leaf_of(x, n, mean, 1);
}

/* Pass one over a row: its minimum, maximum (NaN if it holds a NaN, as NumPy's) and pairwise sum. */
typedef struct {
    double lo, hi;
    int64_t *seen; /* with a level: per trial of the row, all ones once some row of its group reached it */
    double level;
    int64_t at, by; /* values at or above the level in this row; trials that reached it in this row or before */
} row_range;

/* A leaf of stats_pairwise: the break-even counts (with rr->seen), the range and the pairwise sum of n <= PW_BLOCK
 * values. */
static double stats_leaf_plain(const double *restrict x, Py_ssize_t n, row_range *rr)
{
    if (rr->seen) /* as kernels.reached */
        reached_row(x, n, rr->level, rr->seen, &rr->at, &rr->by);
    /* a NaN is caught by the sum, which it makes NaN (see row_stats_core) */
    double lo = rr->lo, hi = rr->hi;
    Py_ssize_t i = 0;
#if defined(__SSE2__) /* min(v, lo) is v < lo ? v : lo, as below */
    __m128d l0 = _mm_set1_pd(lo), l1 = l0, h0 = _mm_set1_pd(hi), h1 = h0;
    for (; i + 4 <= n; i += 4) {
        const __m128d v0 = _mm_loadu_pd(x + i), v1 = _mm_loadu_pd(x + i + 2);
        l0 = _mm_min_pd(v0, l0);
        l1 = _mm_min_pd(v1, l1);
        h0 = _mm_max_pd(v0, h0);
        h1 = _mm_max_pd(v1, h1);
    }
    double lanes[8];
    _mm_storeu_pd(lanes, l0);
    _mm_storeu_pd(lanes + 2, l1);
    _mm_storeu_pd(lanes + 4, h0);
    _mm_storeu_pd(lanes + 6, h1);
    for (int j = 0; j < 4; j++) {
        lo = lanes[j] < lo ? lanes[j] : lo;
        hi = lanes[4 + j] > hi ? lanes[4 + j] : hi;
    }
#endif
    for (; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    rr->lo = lo;
    rr->hi = hi;
    return pw_leaf(x, n);
}

#if defined(HAVE_AVX2_PATH)
/* stats_leaf_plain in one pass over x: eight values at a time, added to pw_leaf's eight running sums as two vectors
 * of four (the same additions in the same order); the minimum and maximum as in stats_leaf_plain (which value wins
 * a tie of signed zeros is undone by the caller's + 0.0). */
__attribute__((target("avx2"))) static double stats_leaf_avx2(const double *restrict x, Py_ssize_t n, row_range *rr)
{
    if (n < 8)
        return stats_leaf_plain(x, n, rr);
    const Py_ssize_t end = n - n % 8;
    __m256d s0 = _mm256_loadu_pd(x), s1 = _mm256_loadu_pd(x + 4); /* pw_leaf's r[0 .. 7] = x[0 .. 7] */
    __m256d l0 = _mm256_min_pd(s0, _mm256_set1_pd(rr->lo)), l1 = _mm256_min_pd(s1, _mm256_set1_pd(rr->lo));
    __m256d h0 = _mm256_max_pd(s0, _mm256_set1_pd(rr->hi)), h1 = _mm256_max_pd(s1, _mm256_set1_pd(rr->hi));
    for (Py_ssize_t i = 8; i < end; i += 8) {
        const __m256d v0 = _mm256_loadu_pd(x + i), v1 = _mm256_loadu_pd(x + i + 4);
        s0 = _mm256_add_pd(s0, v0);
        s1 = _mm256_add_pd(s1, v1);
        l0 = _mm256_min_pd(v0, l0);
        l1 = _mm256_min_pd(v1, l1);
        h0 = _mm256_max_pd(v0, h0);
        h1 = _mm256_max_pd(v1, h1);
    }
    int64_t *restrict seen = rr->seen;
    if (seen) { /* as reached_row */
        const __m256d tv = _mm256_set1_pd(rr->level);
        __m256i at = _mm256_setzero_si256(), by = at;
        for (Py_ssize_t i = 0; i < end; i += 4) {
            const __m256i hit = _mm256_castpd_si256(_mm256_cmp_pd(_mm256_loadu_pd(x + i), tv, _CMP_GE_OQ));
            const __m256i sn = _mm256_or_si256(_mm256_loadu_si256((const __m256i *)(seen + i)), hit);
            _mm256_storeu_si256((__m256i *)(seen + i), sn);
            at = _mm256_sub_epi64(at, hit);
            by = _mm256_sub_epi64(by, sn);
        }
        int64_t la[4], lb[4];
        _mm256_storeu_si256((__m256i *)la, at);
        _mm256_storeu_si256((__m256i *)lb, by);
        int64_t a = la[0] + la[1] + la[2] + la[3], b = lb[0] + lb[1] + lb[2] + lb[3];
        for (Py_ssize_t i = end; i < n; i++) {
            int64_t hit = -(int64_t)(x[i] >= rr->level);
            seen[i] |= hit;
            a -= hit;
            b -= seen[i];
        }
        rr->at += a;
        rr->by += b;
    }
    double r[8], lanes[16];
    _mm256_storeu_pd(r, s0);
    _mm256_storeu_pd(r + 4, s1);
    _mm256_storeu_pd(lanes, l0);
    _mm256_storeu_pd(lanes + 4, l1);
    _mm256_storeu_pd(lanes + 8, h0);
    _mm256_storeu_pd(lanes + 12, h1);
    double lo = rr->lo, hi = rr->hi;
    for (int j = 0; j < 8; j++) {
        lo = lanes[j] < lo ? lanes[j] : lo;
        hi = lanes[8 + j] > hi ? lanes[8 + j] : hi;
    }
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (Py_ssize_t i = end; i < n; i++) {
        res += x[i];
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    rr->lo = lo;
    rr->hi = hi;
    return res;
}
#endif

typedef double (*stats_leaf_fn)(const double *restrict, Py_ssize_t, row_range *);
static stats_leaf_fn stats_leaf = stats_leaf_plain; /* set with bin_index */

static double stats_pairwise(const double *restrict x, Py_ssize_t n, row_range *rr)
{
    if (n > PW_BLOCK) {
        const Py_ssize_t n2 = pw_split(n);
        const double left = stats_pairwise(x, n2, rr);
        int64_t *seen = rr->seen;
        if (seen)
            rr->seen = seen + n2;
        const double right = stats_pairwise(x + n2, n - n2, rr);
        rr->seen = seen;
        return left + right;
    }
    return stats_leaf(x, n, rr);
}

/* Each row's minimum, maximum and mean; with `seen` (not NULL), also, rows taken in groups of `group`, the
 * values at or above `level` in each row (at[r]) and the trials that reached it in that row or an earlier one
 * of its group (by[r]), as kernels.reached counts them. */
WIDE static void row_stats_core(const double *restrict x, double *restrict lo, double *restrict hi,
                                double *restrict mean, Py_ssize_t rows, Py_ssize_t n, int64_t *restrict seen,
                                double level, Py_ssize_t group, int64_t *restrict at, int64_t *restrict by)
{
    for (Py_ssize_t r = 0; r < rows; r++) {
        const double *row = x + r * n;
        if (seen && r % group == 0)
            memset(seen, 0, n * sizeof(int64_t));
        row_range rr = {n ? row[0] : NAN, n ? row[0] : NAN, seen, level, 0, 0};
        const double sum = 0.0 + stats_pairwise(row, n, &rr); /* NumPy adds the sum to its identity, 0.0 */
        if (sum != sum) /* a NaN in the row (or both infinities): NumPy's minimum and maximum are NaN if a NaN */
            for (Py_ssize_t i = 0; i < n; i++)
                if (row[i] != row[i]) {
                    rr.lo = rr.hi = NAN;
                    break;
                }
        lo[r] = rr.lo + 0.0; /* a zero extreme as +0: which signed zero wins a tie depends on the order */
        hi[r] = rr.hi + 0.0;
        mean[r] = sum / (double)n;
        if (seen) {
            at[r] = rr.at;
            by[r] = rr.by;
        }
    }
}

/* Pass two over a row: bin each value, count the values below the thresholds, and sum the squared
 * deviations from the row's mean in NumPy's pairwise order (the sum of (x - mean) * (x - mean) as
 * np.sum computes it). */
typedef struct {
    uint16_t *local;     /* 16-bit counts of this row since the last flush (small enough for the L1 cache) */
    int64_t *c;          /* the row's 64-bit counts */
    Py_ssize_t n_bins, pending, k;
    double s, mean;
    int64_t off;
    const double *t;     /* k thresholds */
    int64_t *bl;         /* the row's counts below each threshold */
    const uint8_t *flag; /* bins that hold a threshold */
    const int64_t *tbin; /* each threshold's bin: -1 below the grid, n_bins at or above its top */
    int bad, want_m2;
} bin_row;

/* Adds the 16-bit counts to the 64-bit ones; a value in a bin below a threshold's bin is below the threshold,
 * one in a bin above it is not (the values in its own bin were compared one by one). */
/* sum of the 16-bit counts a[lo .. hi - 1] (vectorised) */
WIDE static int64_t sum_u16(const uint16_t *restrict a, Py_ssize_t lo, Py_ssize_t hi)
{
    uint32_t s = 0; /* at most 65,535 values are counted between flushes */
    for (Py_ssize_t i = lo; i < hi; i++)
        s += a[i];
    return s;
}

/* c[i] += a[i] for the row's bins (vectorised) */
WIDE static void add_u16(int64_t *restrict c, const uint16_t *restrict a, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        c[i] += a[i];
}

static void bin_flush(bin_row *b)
{
    if (b->k) { /* the values in bins below each threshold's bin, by one pass over the bins in threshold order */
        Py_ssize_t order[64], k = b->k < 64 ? b->k : 64;
        for (Py_ssize_t j = 0; j < k; j++) { /* insertion sort of the thresholds by bin (k is small) */
            Py_ssize_t i = j;
            for (; i > 0 && b->tbin[order[i - 1]] > b->tbin[j]; i--)
                order[i] = order[i - 1];
            order[i] = j;
        }
        int64_t run = 0; /* values in the bins below `at` */
        Py_ssize_t at = 0;
        for (Py_ssize_t r = 0; r < k; r++) {
            const int64_t tb = b->tbin[order[r]];
            const Py_ssize_t upto = tb < 0 ? 0 : (tb > b->n_bins ? b->n_bins : (Py_ssize_t)tb);
            if (upto > at) {
                run += sum_u16(b->local, at, upto);
                at = upto;
            }
            b->bl[order[r]] += run;
        }
        for (Py_ssize_t j = k; j < b->k; j++) /* more than 64 thresholds: one sum each */
            b->bl[j] += sum_u16(b->local, 0, b->tbin[j] < 0 ? 0 : (b->tbin[j] > b->n_bins ? b->n_bins : b->tbin[j]));
    }
    add_u16(b->c, b->local, b->n_bins);
    memset(b->local, 0, b->n_bins * sizeof(uint16_t));
    b->pending = 0;
}

/* idx[i] = floor(x[i] * s) - off for n <= PW_BLOCK values; returns 1 if one lies off the grid (outside
 * 0 .. n_bins - 1, or not finite). Both versions compute the exact floor, so they give the same bins. */
static int bin_index_plain(const double *restrict x, Py_ssize_t n, double s, int64_t off, Py_ssize_t n_bins,
                           int32_t *restrict idx)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        const double a = x[i] * s;
        if (!(fabs(a) < 4611686018427387904.0)) /* 2**62; also NaN */
            return 1;
        const int64_t bin = floor_i64(a) - off;
        if ((uint64_t)bin >= (uint64_t)n_bins)
            return 1;
        idx[i] = (int32_t)bin;
    }
    return 0;
}

#if defined(HAVE_AVX2_PATH)
/* Four values at a time: floor(x * s) is exact (vroundpd), and so is floor - off, both being integers below
 * 2**52 on a grid (the grid keeps |x * s| below 2**50); a value off the grid gives a difference outside
 * 0 .. n_bins - 1 (or NaN), which the comparisons catch. */
__attribute__((target("avx2"))) static int bin_index_avx2(const double *restrict x, Py_ssize_t n, double s,
                                                          int64_t off, Py_ssize_t n_bins, int32_t *restrict idx)
{
    const __m256d S = _mm256_set1_pd(s), O = _mm256_set1_pd((double)off), NB = _mm256_set1_pd((double)n_bins);
    const __m256d Z = _mm256_setzero_pd();
    Py_ssize_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m256d r = _mm256_sub_pd(_mm256_floor_pd(_mm256_mul_pd(_mm256_loadu_pd(x + i), S)), O);
        const __m256d ok = _mm256_and_pd(_mm256_cmp_pd(r, Z, _CMP_GE_OQ), _mm256_cmp_pd(r, NB, _CMP_LT_OQ));
        if (_mm256_movemask_pd(ok) != 0xF)
            return 1;
        _mm_storeu_si128((__m128i *)(idx + i), _mm256_cvttpd_epi32(r));
    }
    return bin_index_plain(x + i, n - i, s, off, n_bins, idx + i);
}
#endif

typedef int (*bin_index_fn)(const double *restrict, Py_ssize_t, double, int64_t, Py_ssize_t, int32_t *restrict);
static bin_index_fn bin_index = bin_index_plain; /* set at import: the AVX2 version where the processor has it */

/* A leaf of bin_pairwise: bin_index, and with `sq` (not NULL) *sq = pw_leaf_sq(x, n, mean). */
static int bin_leaf_plain(const double *restrict x, Py_ssize_t n, double s, int64_t off, Py_ssize_t n_bins,
                          int32_t *restrict idx, double mean, double *sq)
{
    if (bin_index(x, n, s, off, n_bins, idx))
        return 1;
    if (sq)
        *sq = pw_leaf_sq(x, n, mean);
    return 0;
}

#if defined(HAVE_AVX2_PATH)
/* Four bins of bin_index_avx2 (0 if all lie on the grid) */
__attribute__((target("avx2"))) static inline int bins4(__m256d v, __m256d S, __m256d O, __m256d NB,
                                                        int32_t *restrict idx)
{
    const __m256d r = _mm256_sub_pd(_mm256_floor_pd(_mm256_mul_pd(v, S)), O);
    const __m256d ok = _mm256_and_pd(_mm256_cmp_pd(r, _mm256_setzero_pd(), _CMP_GE_OQ), _mm256_cmp_pd(r, NB, _CMP_LT_OQ));
    _mm_storeu_si128((__m128i *)idx, _mm256_cvttpd_epi32(r));
    return _mm256_movemask_pd(ok) != 0xF;
}

/* bin_leaf_plain in one pass over x: eight values at a time, their bins and their squared deviations added to
 * pw_leaf_of's eight running sums (as two vectors of four: the same additions in the same order). */
__attribute__((target("avx2"))) static int bin_leaf_avx2(const double *restrict x, Py_ssize_t n, double s,
                                                         int64_t off, Py_ssize_t n_bins, int32_t *restrict idx,
                                                         double mean, double *sq)
{
    if (n < 8)
        return bin_leaf_plain(x, n, s, off, n_bins, idx, mean, sq);
    const __m256d S = _mm256_set1_pd(s), O = _mm256_set1_pd((double)off), NB = _mm256_set1_pd((double)n_bins);
    const __m256d M = _mm256_set1_pd(mean);
    __m256d r0 = _mm256_setzero_pd(), r1 = r0; /* 0.0 + d * d is d * d: d * d is never -0.0 */
    const Py_ssize_t end = n - n % 8;
    for (Py_ssize_t i = 0; i < end; i += 8) {
        const __m256d v0 = _mm256_loadu_pd(x + i), v1 = _mm256_loadu_pd(x + i + 4);
        if (bins4(v0, S, O, NB, idx + i) | bins4(v1, S, O, NB, idx + i + 4))
            return 1;
        if (sq) {
            const __m256d d0 = _mm256_sub_pd(v0, M), d1 = _mm256_sub_pd(v1, M);
            r0 = _mm256_add_pd(r0, _mm256_mul_pd(d0, d0));
            r1 = _mm256_add_pd(r1, _mm256_mul_pd(d1, d1));
        }
    }
    if (end < n && bin_index_plain(x + end, n - end, s, off, n_bins, idx + end))
        return 1;
    if (sq) {
        double r[8];
        _mm256_storeu_pd(r, r0);
        _mm256_storeu_pd(r + 4, r1);
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (Py_ssize_t i = end; i < n; i++)
            res += (x[i] - mean) * (x[i] - mean);
        *sq = res;
    }
    return 0;
}
#endif

typedef int (*bin_leaf_fn)(const double *restrict, Py_ssize_t, double, int64_t, Py_ssize_t, int32_t *restrict, double,
                           double *);
static bin_leaf_fn bin_leaf = bin_leaf_plain; /* set with bin_index */

static double bin_pairwise(const double *restrict x, Py_ssize_t n, bin_row *b)
{
    if (n > PW_BLOCK) {
        const Py_ssize_t n2 = pw_split(n);
        const double left = bin_pairwise(x, n2, b);
        return left + bin_pairwise(x + n2, n - n2, b);
    }
    if (b->bad)
        return 0.0;
    if (b->pending > 65535 - n)
        bin_flush(b);
    uint16_t *restrict local = b->local;
    int32_t idx[PW_BLOCK];
    double sq = 0.0;
    if (bin_leaf(x, n, b->s, b->off, b->n_bins, idx, b->mean, b->want_m2 ? &sq : NULL)) { /* nothing counted */
        b->bad = 1;
        return 0.0;
    }
    b->pending += n;
    if (b->k) {
        for (Py_ssize_t i = 0; i < n; i++) {
            local[idx[i]] += 1;
            if (b->flag[idx[i]]) /* a threshold's own bin: compare the value itself */
                for (Py_ssize_t j = 0; j < b->k; j++)
                    b->bl[j] += (b->tbin[j] == idx[i]) & (x[i] < b->t[j]);
        }
    }
    else
        for (Py_ssize_t i = 0; i < n; i++)
            local[idx[i]] += 1;
    return sq;
}

/* counts[r, floor(x[r, i] * scale[r]) - offset[r]] += 1; returns the first row with a value off its grid, or -1.
 * NumPy computes floor(x * scale) - offset in float64; both are integers below 2**50 there, so the
 * integer difference here is the same number.
 *
 * With k > 0 thresholds t, also below[r, j] = #{i : x[r, i] < t[j]}, from the binning itself: the scale is a
 * power of two, so t[j] * scale[r] is exact, and a value in a bin below t[j]'s bin is below t[j], one in a bin
 * above it is not; only values in t[j]'s own bin (flag[bin] set) are compared. `flag` has n_bins zero bytes
 * and is left zero. With `mean` (not NULL), also m2[r] = the pairwise sum of (x[r, i] - mean[r])**2.
 *
 * With `kept` (not NULL), each row's 16-bit counts stay in kept[r] (rows of n_bins) between calls, pending[r]
 * values since their last flush: they are added to `counts` only when a 16-bit count could overflow, and by the
 * caller before it reads `counts` (a flush per row and call would pass over all 64-bit counts, 64 KiB a row, for
 * every block). With thresholds too, below[r, j] is then not reset but accumulates: the values in t[j]'s own bin
 * as they are binned, those in the bins below it when the kept counts are flushed (the caller's flush must add
 * them as bin_flush does, on the grid the counts were kept on). */
WIDE static Py_ssize_t bin_add_core(const double *restrict x, const double *restrict scale,
                                    const int64_t *restrict offset, int64_t *restrict counts, uint16_t *restrict local,
                                    Py_ssize_t rows, Py_ssize_t n, Py_ssize_t n_bins, const double *restrict t,
                                    int64_t *restrict below, Py_ssize_t k, uint8_t *restrict flag,
                                    int64_t *restrict tbin, const double *restrict mean, double *restrict m2,
                                    uint16_t *restrict kept, int64_t *restrict pending)
{
    for (Py_ssize_t r = 0; r < rows; r++) {
        const double s = scale[r];
        const int64_t off = offset[r];
        int64_t *bl = below + r * k;
        for (Py_ssize_t j = 0; j < k; j++) {  /* t[j]'s bin: -1 if below the grid, n_bins if at or above its top */
            const double a = t[j] * s;
            if (!kept) /* kept: below accumulates, as the kept counts do (their bins below t[j] are added when they are) */
                bl[j] = 0;
            if (!(a >= (double)off))
                tbin[j] = -1;
            else if (a >= (double)off + (double)n_bins)
                tbin[j] = n_bins;
            else { /* clamped: an offset past 2**53 need not be an exact double (the wrapper refuses those anyway) */
                const int64_t b = floor_i64(a) - off;
                tbin[j] = b < 0 ? -1 : (b >= n_bins ? n_bins : b);
                if (b >= 0 && b < n_bins)
                    flag[b] = 1;
            }
        }
        if (!kept)
            memset(local, 0, n_bins * sizeof(uint16_t));
        else /* the row's kept counts (16 KiB for 8,192 bins) were last touched a block ago: fetched into the cache
              * all at once here, in parallel, instead of one miss at a time as the values land in them */
            for (Py_ssize_t i = 0; i < n_bins; i += 64 / sizeof(uint16_t))
                __builtin_prefetch(kept + r * n_bins + i, 1, 3);
        bin_row b = {kept ? kept + r * n_bins : local, counts + r * n_bins, n_bins, kept ? pending[r] : 0, k, s,
                     mean ? mean[r] : 0.0, off, t, bl, flag, tbin, 0, mean != NULL};
        const double sq = bin_pairwise(x + r * n, n, &b);
        if (kept)
            pending[r] = b.pending;
        else if (!b.bad)
            bin_flush(&b);
        for (Py_ssize_t j = 0; j < k; j++)
            if (tbin[j] >= 0 && tbin[j] < n_bins)
                flag[tbin[j]] = 0;
        if (b.bad)
            return r;
        if (mean)
            m2[r] = 0.0 + sq;
    }
    return -1;
}

#if defined(__SSE2__)
/* #{i : row[i] < t} (or <=): compare two doubles at a time, subtract the all-ones masks from two int64 lanes. */
static inline int64_t count_row(const double *restrict row, Py_ssize_t n, double t, int inclusive)
{
    const __m128d tv = _mm_set1_pd(t);
    __m128i acc = _mm_setzero_si128();
    Py_ssize_t i = 0;
    if (inclusive)
        for (; i + 2 <= n; i += 2)
            acc = _mm_sub_epi64(acc, _mm_castpd_si128(_mm_cmple_pd(_mm_loadu_pd(row + i), tv)));
    else
        for (; i + 2 <= n; i += 2)
            acc = _mm_sub_epi64(acc, _mm_castpd_si128(_mm_cmplt_pd(_mm_loadu_pd(row + i), tv)));
    int64_t lanes[2];
    _mm_storeu_si128((__m128i *)lanes, acc);
    int64_t c = lanes[0] + lanes[1];
    for (; i < n; i++)
        c += inclusive ? (row[i] <= t) : (row[i] < t);
    return c;
}
#else
static inline int64_t count_row(const double *restrict row, Py_ssize_t n, double t, int inclusive)
{
    int64_t c = 0;
    if (inclusive)
        for (Py_ssize_t i = 0; i < n; i++)
            c += row[i] <= t;
    else
        for (Py_ssize_t i = 0; i < n; i++)
            c += row[i] < t;
    return c;
}
#endif

WIDE static void count_below_core(const double *restrict x, const double *restrict t, int64_t *restrict out,
                             Py_ssize_t rows, Py_ssize_t n, Py_ssize_t k, int inclusive)
{
    for (Py_ssize_t r = 0; r < rows; r++)
        for (Py_ssize_t j = 0; j < k; j++)
            out[r * k + j] = count_row(x + r * n, n, t[j], inclusive);
}

/* bin_add(x, scale, offset, counts, t, below, mean, m2, rows, n, n_bins, k, with_m2[, kept, pending]):
 * counts[r, floor(x[r, i] * scale[r]) - offset[r]] += 1; with k thresholds t, also below[r, j] = #{i : x[r, i] <
 * t[j]} (k may be 0, with empty t and below); with kept (uint16, rows x n_bins) and pending (int64, rows), the
 * counts are kept there and below accumulates (see bin_add_core); every pending[r] must lie in 0 .. 65535. */
static PyObject *bin_add(PyObject *self, PyObject *args)
{
    Py_buffer bx, bs, bo, bc, bt, bb, bm, bm2, bk = {0}, bp = {0};
    Py_ssize_t rows, n, n_bins, k;
    int with_m2;
    if (!PyArg_ParseTuple(args, "y*y*y*w*y*w*y*w*nnnnp|w*w*", &bx, &bs, &bo, &bc, &bt, &bb, &bm, &bm2, &rows, &n,
                          &n_bins, &k, &with_m2, &bk, &bp))
        return NULL;
    const int with_kept = bk.obj != NULL;
    PyObject *result = NULL;
    uint16_t *local = NULL;
    uint8_t *flag = NULL;
    int64_t *tbin = NULL;
    if (n_bins > INT32_MAX) { /* bins are indexed as 32-bit integers */
        PyErr_SetString(PyExc_ValueError, "bin_add: too many bins");
        goto done;
    }
    if (check_size3(&bx, rows, n, 1, 8, "x") || check_size(&bs, rows, 8, "scale") ||
        check_size(&bo, rows, 8, "offset") || check_size3(&bc, rows, n_bins, 1, 8, "counts") ||
        check_size(&bt, k, 8, "thresholds") || check_size3(&bb, rows, k, 1, 8, "below") ||
        check_size(&bm, with_m2 ? rows : 0, 8, "mean") || check_size(&bm2, with_m2 ? rows : 0, 8, "m2"))
        goto done;
    if (with_kept) {
        if (bp.obj == NULL || check_size3(&bk, rows, n_bins, 1, 2, "kept") || check_size(&bp, rows, 8, "pending")) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "bin_add: kept counts need pending counts");
            goto done;
        }
        for (Py_ssize_t r = 0; r < rows; r++)
            if (((int64_t *)bp.buf)[r] < 0 || ((int64_t *)bp.buf)[r] > 65535) {
                PyErr_SetString(PyExc_ValueError, "bin_add: pending counts must lie in 0 .. 65535");
                goto done;
            }
    }
    for (Py_ssize_t r = 0; r < rows; r++) /* grids keep |offset| below 2**52, where it is an exact double */
        if (((int64_t *)bo.buf)[r] < -((int64_t)1 << 52) || ((int64_t *)bo.buf)[r] > ((int64_t)1 << 52)) {
            PyErr_SetString(PyExc_ValueError, "bin_add: offsets must lie within +-2**52");
            goto done;
        }
    const double *x = bx.buf, *scale = bs.buf, *t = bt.buf;
    const int64_t *offset = bo.buf;
    int64_t *counts = bc.buf, *below = bb.buf;
    Py_ssize_t bad;
    local = PyMem_RawMalloc((n_bins > 0 ? n_bins : 1) * sizeof(uint16_t));
    flag = PyMem_RawCalloc(n_bins > 0 ? n_bins : 1, 1);
    tbin = PyMem_RawMalloc((k > 0 ? k : 1) * sizeof(int64_t));
    if (local == NULL || flag == NULL || tbin == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    bad = bin_add_core(x, scale, offset, counts, local, rows, n, n_bins, t, below, k, flag, tbin,
                       with_m2 ? (const double *)bm.buf : NULL, with_m2 ? (double *)bm2.buf : NULL,
                       with_kept ? (uint16_t *)bk.buf : NULL, with_kept ? (int64_t *)bp.buf : NULL);
    Py_END_ALLOW_THREADS
    if (bad >= 0) {
        PyErr_Format(PyExc_ValueError, "bin_add: a value of row %zd lies outside its grid", bad);
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_RawFree(local);
    PyMem_RawFree(flag);
    PyMem_RawFree(tbin);
    RELEASE(&bx, &bs, &bo, &bc, &bt, &bb, &bm, &bm2);
    if (bk.obj)
        PyBuffer_Release(&bk);
    if (bp.obj)
        PyBuffer_Release(&bp);
    return result;
}

/* row_stats(x, lo, hi, mean, at, by, level, group, rows, n): each row's minimum, maximum and mean (its pairwise
 * sum / n), in one pass; with group > 0 also the counts of kernels.reached (at: (rows,), by: (rows,), rows
 * taken in groups of `group`). */
static PyObject *row_stats(PyObject *self, PyObject *args)
{
    Py_buffer bx, blo, bhi, bm, bat, bby;
    Py_ssize_t rows, n, group;
    double level;
    if (!PyArg_ParseTuple(args, "y*w*w*w*w*w*dnnn", &bx, &blo, &bhi, &bm, &bat, &bby, &level, &group, &rows, &n))
        return NULL;
    PyObject *result = NULL;
    int64_t *seen = NULL;
    if (check_size3(&bx, rows, n, 1, 8, "x") || check_size(&blo, rows, 8, "lo") || check_size(&bhi, rows, 8, "hi") ||
        check_size(&bm, rows, 8, "mean") || check_size(&bat, group ? rows : 0, 8, "at") ||
        check_size(&bby, group ? rows : 0, 8, "by"))
        goto done;
    if (group < 0 || (group > 0 && rows % group != 0)) {
        PyErr_SetString(PyExc_ValueError, "row_stats: rows must be whole groups");
        goto done;
    }
    if (group > 0) {
        seen = PyMem_RawMalloc((n > 0 ? n : 1) * sizeof(int64_t));
        if (seen == NULL) {
            PyErr_NoMemory();
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    row_stats_core(bx.buf, blo.buf, bhi.buf, bm.buf, rows, n, seen, level, group, bat.buf, bby.buf);
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_RawFree(seen);
    RELEASE(&bx, &blo, &bhi, &bm, &bat, &bby);
    return result;
}

/* count_below(x, t, out, rows, n, k, inclusive): out[r, j] = #{i : x[r, i] < t[j]} (<= if inclusive). */
static PyObject *count_below(PyObject *self, PyObject *args)
{
    Py_buffer bx, bt, bout;
    Py_ssize_t rows, n, k;
    int inclusive;
    if (!PyArg_ParseTuple(args, "y*y*w*nnnp", &bx, &bt, &bout, &rows, &n, &k, &inclusive))
        return NULL;
    PyObject *result = NULL;
    if (check_size3(&bx, rows, n, 1, 8, "x") || check_size(&bt, k, 8, "thresholds") ||
        check_size3(&bout, rows, k, 1, 8, "out"))
        goto done;
    const double *x = bx.buf, *t = bt.buf;
    int64_t *out = bout.buf;
    Py_BEGIN_ALLOW_THREADS
    count_below_core(x, t, out, rows, n, k, inclusive);
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    RELEASE(&bx, &bt, &bout);
    return result;
}

/* ---- savings and cost aggregates of a block (simulate.metrics.reduce_block) ------------------------------- */
typedef struct {
    const double *sav, *cost, *pv, *df;
    Py_ssize_t P, H, n, K, n_rows;
    const uint8_t *zs, *zc, *zp; /* per payer: its sav, cost, pv rows are all +0.0 (not read), or NULL */
    int64_t *defined; /* (P + 1) * 4 */
    double *ratio;    /* (P + 1) * 4 rows of PW_BLOCK */
    double *ends;     /* 2 * (P + 1) * 4 rows of PW_BLOCK */
    double *work;     /* two sum arrays of K per level of the recursion */
} flow_job;

/* ratio[j] = sv[j] / cv[j] where cv[j] > 0, else 0.0; returns how many are defined. Every lane is divided (by
 * cost, or 1.0 where it is not defined, the quotient then dropped), so that the loop is vectorised: the quotients
 * kept are the same. Without trapping math only here: a division whose result is dropped may then be done. */
__attribute__((optimize("no-trapping-math"))) WIDE static int64_t roi_ratios(const double *restrict sv,
                                                                             const double *restrict cv,
                                                                             double *restrict ratio, Py_ssize_t n)
{
    int64_t c = 0;
    for (Py_ssize_t j = 0; j < n; j++) {
        const int ok = cv[j] > 0.0;
        const double q = sv[j] / (ok ? cv[j] : 1.0);
        ratio[j] = ok ? q : 0.0;
        c += ok;
    }
    return c;
}

/* Rows of +0.0 that a payer's flows are known to be (the engine says which): read here instead of memory. */
#define ZERO_ROW 512
static const double zero_row[ZERO_ROW];

/* Row t of payer p of a (P, H, N) flow array from trial a on, or zero_row if `zero` marks the payer's rows as
 * +0.0 (at most ZERO_ROW values are then read). */
static inline const double *flow_row(const double *base, const uint8_t *zero, Py_ssize_t p, Py_ssize_t t,
                                     Py_ssize_t H, Py_ssize_t N, Py_ssize_t a)
{
    return zero && zero[p] ? zero_row : base + (p * H + t) * N + a;
}

/* The pairwise sums over trials a .. a + n - 1 of: each row of sav, cost (and pv), then each ROI series'
 * savings / cost (0 where cost <= 0); also counts the trials with cost > 0. `out` has K sums. */
WIDE static void flow_pairwise(const flow_job *f, Py_ssize_t a, Py_ssize_t n, double *restrict out, Py_ssize_t depth)
{
    const Py_ssize_t K = f->K, P = f->P, H = f->H, N = f->n;
    if (n > PW_BLOCK) {
        const Py_ssize_t n2 = pw_split(n);
        double *left = f->work + depth * 2 * K, *right = left + K;
        flow_pairwise(f, a, n2, left, depth + 1);
        flow_pairwise(f, a + n2, n - n2, right, depth + 1);
        for (Py_ssize_t k = 0; k < K; k++)
            out[k] = left[k] + right[k];
        return;
    }
    /* Each row's pairwise sum (out[i P H + p H + t]: savings, cost, then pv) and, while the row is in the L1
     * cache, its part of ends[i, q, d, e, j]: flow i (savings, cost), payer q (total last), discounting d, year
     * 1 | horizon e; rows d * 2 + e of PW_BLOCK trials. The horizon sums add the years in order, as before. */
    const Py_ssize_t Q = P + 1, PH = P * H;
    double *ends = f->ends;
    for (Py_ssize_t i = 0; i < 2; i++) {
        const double *flow = i == 0 ? f->sav : f->cost, *pv = i == 0 ? f->pv : NULL;
        const uint8_t *zf = i == 0 ? f->zs : f->zc;
        double *restrict tot = ends + ((i * Q + P) * 4) * PW_BLOCK;
        for (Py_ssize_t j = 0; j < 4 * PW_BLOCK; j++)
            tot[j] = 0.0;
        for (Py_ssize_t p = 0; p < P; p++) {
            double *e = ends + ((i * Q + p) * 4) * PW_BLOCK; /* its rows are written through h and hd too */
            double *h = e + PW_BLOCK, *hd = e + 3 * PW_BLOCK;
            const double *restrict f0 = flow_row(flow, zf, p, 0, H, N, a);
            const double d0 = f->df[0];
            for (Py_ssize_t j = 0; j < n; j++) {
                e[j] = f0[j];
                h[j] = 0.0;
                e[2 * PW_BLOCK + j] = pv ? 0.0 : f0[j] * d0; /* pv: its first row, below */
                hd[j] = pv ? 0.0 : f0[j] * d0;
            }
            for (Py_ssize_t t = 0; t < H; t++) {
                const double *restrict ft = flow_row(flow, zf, p, t, H, N, a);
                out[i * PH + p * H + t] = zf && zf[p] ? 0.0 : pw_leaf(ft, n); /* a row of +0.0 sums to +0.0 */
                for (Py_ssize_t j = 0; j < n; j++)
                    h[j] += ft[j];
                if (pv) {
                    const double *restrict vt = flow_row(pv, f->zp, p, t, H, N, a);
                    out[2 * PH + p * H + t] = f->zp && f->zp[p] ? 0.0 : pw_leaf(vt, n);
                    if (t == 0)
                        for (Py_ssize_t j = 0; j < n; j++)
                            e[2 * PW_BLOCK + j] = vt[j];
                    for (Py_ssize_t j = 0; j < n; j++)
                        hd[j] += vt[j];
                }
                else if (t > 0) {
                    const double dt = f->df[t];
                    for (Py_ssize_t j = 0; j < n; j++)
                        hd[j] += ft[j] * dt;
                }
            }
            for (Py_ssize_t r = 0; r < 4; r++)
                for (Py_ssize_t j = 0; j < n; j++)
                    tot[r * PW_BLOCK + j] += e[r * PW_BLOCK + j];
        }
    }
    Py_ssize_t k = (f->pv ? 3 : 2) * PH;
    for (Py_ssize_t s = 0; s < Q * 4; s++) { /* ROI series (payer, discounting, end) */
        const double *restrict sv = ends + s * PW_BLOCK, *restrict cv = ends + (Q * 4 + s) * PW_BLOCK;
        double *restrict ratio = f->ratio + s * PW_BLOCK;
        f->defined[s] += roi_ratios(sv, cv, ratio, n);
        out[k++] = pw_leaf(ratio, n);
    }
}

/* flow_sums(sav, cost, pv, df, row_sums, roi_n, roi_sum, with_pv, P, H, n): see kernels.flow_sums. */
static PyObject *flow_sums(PyObject *self, PyObject *args)
{
    Py_buffer bs, bc, bp, bd, br, bn, bq;
    Py_ssize_t P, H, n;
    int with_pv;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*w*w*pnnn", &bs, &bc, &bp, &bd, &br, &bn, &bq, &with_pv, &P, &H, &n))
        return NULL;
    PyObject *result = NULL;
    double *mem = NULL;
    const Py_ssize_t Q = P + 1, n_rows = (with_pv ? 3 : 2) * P * H;
    if (P < 0 || H < 1 || n < 1 || check_size3(&bs, P, H, n, 8, "sav") || check_size3(&bc, P, H, n, 8, "cost") ||
        check_size3(&bp, with_pv ? P : 0, H, n, 8, "pv") || check_size(&bd, H, 8, "df") ||
        check_size(&br, n_rows, 8, "row_sums") || check_size(&bn, Q * 4, 8, "roi_n") ||
        check_size(&bq, Q * 4, 8, "roi_sum")) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "flow_sums: bad shapes");
        goto done;
    }
    const Py_ssize_t K = n_rows + Q * 4;
    const Py_ssize_t depth = pw_depth(n, PW_BLOCK);
    mem = PyMem_RawMalloc((K + 2 * K * depth + Q * 4 * PW_BLOCK * 3) * sizeof(double));
    if (mem == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t *defined = bn.buf;
    for (Py_ssize_t s = 0; s < Q * 4; s++)
        defined[s] = 0;
    flow_job job = {bs.buf, bc.buf, with_pv ? bp.buf : NULL, bd.buf, P, H, n, K, n_rows, NULL, NULL, NULL, defined,
                    mem + K + 2 * K * depth, mem + K + 2 * K * depth + Q * 4 * PW_BLOCK, mem + K};
    Py_BEGIN_ALLOW_THREADS
    flow_pairwise(&job, 0, n, mem, 0);
    Py_END_ALLOW_THREADS
    double *rows = br.buf, *roi = bq.buf;
    for (Py_ssize_t r = 0; r < n_rows; r++)
        rows[r] = 0.0 + mem[r]; /* NumPy adds a sum to its identity, 0.0 */
    for (Py_ssize_t s = 0; s < Q * 4; s++)
        roi[s] = (0.0 + mem[n_rows + s]) - (double)defined[s];
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_RawFree(mem);
    RELEASE(&bs, &bc, &bp, &bd, &br, &bn, &bq);
    return result;
}

/* ---- cumulative nets of a block (kernels.nets; part of the first pass) ------------------------------------ */
#define NET_CHUNK 512

/* NumPy's minimum and maximum: the first operand if it wins or is NaN, else the second (so also at a tie). */
static inline double np_min(double a, double b) { return (a < b || a != a) ? a : b; }
static inline double np_max(double a, double b) { return (a > b || a != a) ? a : b; }

/* net[q, d, t] (q: payer, the total last; d: undiscounted | discounted): the running sum over years of the yearly
 * net sav - cost (discounted: times df[t], or pv - cost * df[t]); the total is 0.0 + the payers' yearly nets in
 * order. With `core`, also core[q, 1 + t] = the yearly undiscounted net, core[q, 0] = max(-lowest, 0) (lowest:
 * the minimum over years of the cumulative undiscounted net) and worst[q] = the minimum over years of the yearly
 * net: the operations, in order, of the NumPy code in kernels.nets. */
WIDE static void nets_chunk(const double *restrict sav, const double *restrict cost, const double *restrict pv,
                            const double *restrict df, double *restrict net, double *restrict core,
                            double *restrict worst, Py_ssize_t P, Py_ssize_t H, Py_ssize_t n, Py_ssize_t j0,
                            Py_ssize_t J, Py_ssize_t ld, Py_ssize_t o, const uint8_t *zs, const uint8_t *zc,
                            const uint8_t *zp)
{
    const Py_ssize_t Q = P + 1;
    double lowest[NET_CHUNK];
    {
        for (Py_ssize_t t = 0; t < H; t++) {
            const double dt = df[t];
            double *restrict tot0 = net + ((P * 2 + 0) * H + t) * ld + o, *restrict tot1 = tot0 + H * ld;
            for (Py_ssize_t j = 0; j < J; j++)
                tot0[j] = 0.0, tot1[j] = 0.0;
            for (Py_ssize_t p = 0; p < P; p++) {
                const double *restrict sv = flow_row(sav, zs, p, t, H, n, j0),
                                       *restrict cv = flow_row(cost, zc, p, t, H, n, j0);
                double *restrict y0 = net + ((p * 2 + 0) * H + t) * ld + o, *restrict y1 = y0 + H * ld;
                if (pv) {
                    const double *restrict vv = flow_row(pv, zp, p, t, H, n, j0);
                    for (Py_ssize_t j = 0; j < J; j++) {
                        const double a = sv[j] - cv[j], b = vv[j] - cv[j] * dt;
                        y0[j] = a;
                        y1[j] = b;
                        tot0[j] += a;
                        tot1[j] += b;
                    }
                }
                else
                    for (Py_ssize_t j = 0; j < J; j++) {
                        const double a = sv[j] - cv[j], b = a * dt;
                        y0[j] = a;
                        y1[j] = b;
                        tot0[j] += a;
                        tot1[j] += b;
                    }
            }
            for (Py_ssize_t q = 0; q < Q; q++) {
                double *restrict y0 = net + ((q * 2 + 0) * H + t) * ld + o;
                double *restrict y1 = y0 + H * ld;
                if (core) { /* the yearly net, the lowest yearly net, and (after the first year) the running sum */
                    double *restrict w = worst + q * ld + o, *restrict yc = core + (q * (1 + H) + 1 + t) * ld + o;
                    if (t == 0)
                        for (Py_ssize_t j = 0; j < J; j++)
                            yc[j] = w[j] = y0[j];
                    else {
                        const double *restrict prev = y0 - ld;
                        for (Py_ssize_t j = 0; j < J; j++) {
                            const double a = y0[j];
                            yc[j] = a;
                            w[j] = np_min(w[j], a);
                            y0[j] = a + prev[j];
                        }
                    }
                }
                else if (t > 0) {
                    const double *restrict prev = y0 - ld;
                    for (Py_ssize_t j = 0; j < J; j++)
                        y0[j] += prev[j];
                }
                if (t > 0) {
                    const double *restrict prev = y1 - ld;
                    for (Py_ssize_t j = 0; j < J; j++)
                        y1[j] += prev[j];
                }
            }
        }
        if (core)
            for (Py_ssize_t q = 0; q < Q; q++) {
                const double *restrict c0 = net + (q * 2 * H) * ld + o;
                for (Py_ssize_t j = 0; j < J; j++)
                    lowest[j] = c0[j];
                for (Py_ssize_t t = 1; t < H; t++)
                    for (Py_ssize_t j = 0; j < J; j++)
                        lowest[j] = np_min(lowest[j], c0[t * ld + j]);
                double *restrict need = core + (q * (1 + H)) * ld + o;
                for (Py_ssize_t j = 0; j < J; j++)
                    need[j] = np_max(-lowest[j], 0.0);
            }
    }
}

/* nets_chunk over the whole block, NET_CHUNK trials at a time */
static void nets_core(const double *restrict sav, const double *restrict cost, const double *restrict pv,
                      const double *restrict df, double *restrict net, double *restrict core, double *restrict worst,
                      Py_ssize_t P, Py_ssize_t H, Py_ssize_t n)
{
    for (Py_ssize_t j0 = 0; j0 < n; j0 += NET_CHUNK)
        nets_chunk(sav, cost, pv, df, net, core, worst, P, H, n, j0, n - j0 < NET_CHUNK ? n - j0 : NET_CHUNK, n, j0,
                   NULL, NULL, NULL);
}

/* nets(sav, cost, pv, df, net, core, worst, with_pv, with_core, P, H, n): see nets_core. */
static PyObject *nets(PyObject *self, PyObject *args)
{
    Py_buffer bs, bc, bp, bd, bn, bk, bw;
    Py_ssize_t P, H, n;
    int with_pv, with_core;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*w*w*ppnnn", &bs, &bc, &bp, &bd, &bn, &bk, &bw, &with_pv, &with_core, &P,
                          &H, &n))
        return NULL;
    PyObject *result = NULL;
    if (P < 0 || H < 1 || check_size3(&bs, P, H, n, 8, "sav") || check_size3(&bc, P, H, n, 8, "cost") ||
        check_size3(&bp, with_pv ? P : 0, H, n, 8, "pv") || check_size(&bd, H, 8, "df") ||
        check_size3(&bn, (P + 1) * 2, H, n, 8, "net") || check_size3(&bk, with_core ? P + 1 : 0, 1 + H, n, 8, "core") ||
        check_size3(&bw, with_core ? P + 1 : 0, n, 1, 8, "worst")) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "nets: bad shapes");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    nets_core(bs.buf, bc.buf, with_pv ? bp.buf : NULL, bd.buf, bn.buf, with_core ? bk.buf : NULL,
              with_core ? bw.buf : NULL, P, H, n);
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    RELEASE(&bs, &bc, &bp, &bd, &bn, &bk, &bw);
    return result;
}

/* ---- the first pass over a block (simulate.metrics.first_pass) ---------------------------------------------
 * The cumulative nets (and the budget's rows), each series' range, mean and break-even counts, and the flows'
 * sums, node by node of NumPy's pairwise tree over the trials: a node of at most FIRST_NODE trials is
 * computed (nets_chunk) into a small buffer of its own and summarised (stats_pairwise, flow_pairwise, which
 * follow the same tree below it) while its values are in the cache, then streamed to the block's arrays with
 * non-temporal stores (a store that misses the cache would first read the line it overwrites: the block's
 * 20 MB of rows were read once for nothing); the nodes' sums are added as the tree adds them, so every sum is
 * the same number as row_stats' and flow_sums' over the whole block. */
#define FIRST_NODE 512
/* The node's rows lie FIRST_LD apart in its buffer, not FIRST_NODE: rows 4 KiB apart would share their addresses'
 * low twelve bits, and a loop over a dozen of them at once would stall on false store-to-load dependencies. */
#define FIRST_LD (FIRST_NODE + 24)
_Static_assert(FIRST_NODE <= NET_CHUNK, "a first-pass node is computed by one nets_chunk");
_Static_assert(FIRST_NODE <= ZERO_ROW && PW_BLOCK <= ZERO_ROW, "a zero row covers what a node or leaf reads");

typedef struct {
    const double *sav, *cost, *pv, *df;
    double *net, *core, *worst;
    Py_ssize_t P, H, n, R_net, R, K;
    double level;
    double *lo, *hi;  /* R: running minimum and maximum of each series */
    int64_t *at, *by; /* R_net: break-even counts of the net series */
    int64_t *seen;    /* FIRST_NODE */
    flow_job *flow;
    double *work;     /* two sum arrays of K per level of the recursion */
    double *local;    /* a node's net, core and worst rows, FIRST_LD apart: computed and summarised here, in
                       * the cache, then streamed to the block's arrays */
} first_job;

/* dst[0 .. m - 1] = src[...] with non-temporal stores (no read of the destination's lines first) */
static void stream_copy(double *restrict dst, const double *restrict src, Py_ssize_t m)
{
    Py_ssize_t i = 0;
#if defined(__SSE2__)
    for (; i < m && ((uintptr_t)(dst + i) & 15); i++)
        dst[i] = src[i];
    for (; i + 2 <= m; i += 2)
        _mm_stream_pd(dst + i, _mm_loadu_pd(src + i));
#endif
    for (; i < m; i++)
        dst[i] = src[i];
}

static void first_node(first_job *b, Py_ssize_t a, Py_ssize_t m, double *restrict out, Py_ssize_t depth)
{
    const Py_ssize_t K = b->K;
    if (m > FIRST_NODE) {
        const Py_ssize_t m2 = pw_split(m);
        double *left = b->work + depth * 2 * K, *right = left + K;
        first_node(b, a, m2, left, depth + 1);
        first_node(b, a + m2, m - m2, right, depth + 1);
        for (Py_ssize_t k = 0; k < K; k++)
            out[k] = left[k] + right[k];
        return;
    }
    const Py_ssize_t Q = b->P + 1, L = FIRST_LD;
    double *lnet = b->local, *lcore = lnet + b->R_net * L, *lworst = lcore + (b->R - b->R_net) * L;
    nets_chunk(b->sav, b->cost, b->pv, b->df, lnet, b->core ? lcore : NULL, b->core ? lworst : NULL, b->P, b->H,
               b->n, a, m, L, 0, b->flow->zs, b->flow->zc, b->flow->zp);
    for (Py_ssize_t r = 0; r < b->R; r++) { /* the net series (groups of H years), then the budget's rows */
        const int is_net = r < b->R_net;
        const double *row = b->local + r * L;
        row_range rr = {b->lo[r], b->hi[r], NULL, b->level, 0, 0};
        if (is_net) {
            if (r % b->H == 0)
                memset(b->seen, 0, m * sizeof(int64_t));
            rr.seen = b->seen;
        }
        out[r] = stats_pairwise(row, m, &rr);
        b->lo[r] = rr.lo;
        b->hi[r] = rr.hi;
        if (is_net) {
            b->at[r] += rr.at;
            b->by[r] += rr.by;
        }
        stream_copy(is_net ? b->net + r * b->n + a : b->core + (r - b->R_net) * b->n + a, row, m);
    }
    if (b->core)
        for (Py_ssize_t q = 0; q < Q; q++)
            stream_copy(b->worst + q * b->n + a, lworst + q * L, m);
    flow_pairwise(b->flow, a, m, out + b->R, 0);
}

/* first_pass(sav, cost, pv, df, net, core, worst, lo, hi, mean, at, by, rows, roi_n, roi_sum, level, with_pv,
 * with_core, P, H, n): kernels.nets, kernels.row_stats of the net series (with the break-even counts) and of
 * the budget's rows, and kernels.flow_sums, in one pass. */
static PyObject *first_pass(PyObject *self, PyObject *args)
{
    Py_buffer bs, bc, bp, bd, bn, bk, bw, blo, bhi, bm, bat, bby, br, brn, brs, bzs = {0}, bzc = {0}, bzp = {0};
    double level;
    Py_ssize_t P, H, n;
    int with_pv, with_core;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*w*w*w*w*w*w*w*w*w*w*dppnnn|y*y*y*", &bs, &bc, &bp, &bd, &bn, &bk, &bw, &blo,
                          &bhi, &bm, &bat, &bby, &br, &brn, &brs, &level, &with_pv, &with_core, &P, &H, &n, &bzs, &bzc,
                          &bzp))
        return NULL;
    PyObject *result = NULL;
    double *mem = NULL;
    int64_t *seen = NULL;
    double *local = NULL;
    const Py_ssize_t Q = P + 1, R_net = Q * 2 * H, R = R_net + (with_core ? Q * (1 + H) : 0);
    const Py_ssize_t n_rows = (with_pv ? 3 : 2) * P * H, KF = n_rows + Q * 4, K = R + KF;
    if (P < 0 || H < 1 || n < 1 || check_size3(&bs, P, H, n, 8, "sav") || check_size3(&bc, P, H, n, 8, "cost") ||
        check_size3(&bp, with_pv ? P : 0, H, n, 8, "pv") || check_size(&bd, H, 8, "df") ||
        check_size3(&bn, Q * 2, H, n, 8, "net") || check_size3(&bk, with_core ? Q : 0, 1 + H, n, 8, "core") ||
        check_size3(&bw, with_core ? Q : 0, n, 1, 8, "worst") || check_size(&blo, R, 8, "lo") ||
        check_size(&bhi, R, 8, "hi") || check_size(&bm, R, 8, "mean") || check_size(&bat, R_net, 8, "at") ||
        check_size(&bby, R_net, 8, "by") || check_size(&br, n_rows, 8, "rows") || check_size(&brn, Q * 4, 8, "roi_n") ||
        check_size(&brs, Q * 4, 8, "roi_sum")) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "first_pass: bad shapes");
        goto done;
    }
    /* zero flags: one byte per payer (its sav, cost or pv rows are all +0.0), or none at all */
    if ((bzs.obj && bzs.len != 0 && bzs.len != P) || (bzc.obj && bzc.len != 0 && bzc.len != P) ||
        (bzp.obj && bzp.len != 0 && bzp.len != P)) {
        PyErr_SetString(PyExc_ValueError, "first_pass: zero flags need one byte per payer");
        goto done;
    }
    /* a node smaller than FIRST_NODE can be one level deeper below it than FIRST_NODE itself: one level spare */
    const Py_ssize_t depth = pw_depth(n, FIRST_NODE), flow_depth = pw_depth(FIRST_NODE, PW_BLOCK) + 1;
    const Py_ssize_t flow_work = 2 * KF * flow_depth + Q * 4 * PW_BLOCK * 3;
    mem = PyMem_RawMalloc((K + 2 * K * depth + flow_work) * sizeof(double));
    seen = PyMem_RawMalloc(FIRST_NODE * sizeof(int64_t));
    local = PyMem_RawMalloc((R + Q) * FIRST_LD * sizeof(double));
    if (mem == NULL || seen == NULL || local == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    double *lo = blo.buf, *hi = bhi.buf, *mean = bm.buf, *rows = br.buf, *roi = brs.buf;
    int64_t *at = bat.buf, *by = bby.buf, *defined = brn.buf;
    for (Py_ssize_t r = 0; r < R; r++)
        lo[r] = INFINITY, hi[r] = -INFINITY;
    for (Py_ssize_t r = 0; r < R_net; r++)
        at[r] = 0, by[r] = 0;
    for (Py_ssize_t q = 0; q < Q * 4; q++)
        defined[q] = 0;
    double *fw = mem + K + 2 * K * depth;
    flow_job flow = {bs.buf, bc.buf, with_pv ? bp.buf : NULL, bd.buf, P, H, n, KF, n_rows,
                     bzs.obj && bzs.len ? bzs.buf : NULL, bzc.obj && bzc.len ? bzc.buf : NULL,
                     bzp.obj && bzp.len && with_pv ? bzp.buf : NULL, defined,
                     fw + 2 * KF * flow_depth, fw + 2 * KF * flow_depth + Q * 4 * PW_BLOCK, fw};
    first_job job = {bs.buf, bc.buf, with_pv ? bp.buf : NULL, bd.buf, bn.buf, with_core ? bk.buf : NULL,
                     with_core ? bw.buf : NULL, P, H, n, R_net, R, K, level, lo, hi, at, by, seen, &flow, mem + K,
                     local};
    Py_BEGIN_ALLOW_THREADS
    first_node(&job, 0, n, mem, 0);
#if defined(__SSE2__)
    _mm_sfence(); /* the streamed stores are done before the rows are read */
#endif
    for (Py_ssize_t r = 0; r < R; r++) {
        const double sum = 0.0 + mem[r]; /* NumPy adds a sum to its identity, 0.0 */
        if (sum != sum) { /* a NaN in the row (or both infinities): NumPy's minimum and maximum are NaN if a NaN */
            const double *row = r < R_net ? (const double *)bn.buf + r * n : (const double *)bk.buf + (r - R_net) * n;
            for (Py_ssize_t i = 0; i < n; i++)
                if (row[i] != row[i]) {
                    lo[r] = hi[r] = NAN;
                    break;
                }
        }
        lo[r] += 0.0; /* a zero extreme as +0, as row_stats */
        hi[r] += 0.0;
        mean[r] = sum / (double)n;
    }
    for (Py_ssize_t k = 0; k < n_rows; k++)
        rows[k] = 0.0 + mem[R + k];
    for (Py_ssize_t q = 0; q < Q * 4; q++)
        roi[q] = (0.0 + mem[R + n_rows + q]) - (double)defined[q];
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_RawFree(mem);
    PyMem_RawFree(seen);
    PyMem_RawFree(local);
    RELEASE(&bs, &bc, &bp, &bd, &bn, &bk, &bw, &blo, &bhi, &bm, &bat, &bby, &br, &brn, &brs);
    if (bzs.obj)
        PyBuffer_Release(&bzs);
    if (bzc.obj)
        PyBuffer_Release(&bzc);
    if (bzp.obj)
        PyBuffer_Release(&bzp);
    return result;
}

/* ---- engine kernels (simulate.engine, sampling: expected) ------------------------------------------------ */
#define MAX_STATES 64

/* e[k, i, j] += pi_k[st, j] * U[st, p, a + j] for each term (st, i, p) (beyond the horizon only the tail's
 * terms); pi_{k+1}[t] = sum over moves (st -> t) of pi_k[st] T[st, t], the state with most moves in as
 * 1 - the others. `pi` (S, m) holds pi_0 and is overwritten.
 *
 * Trials go in chunks of CHUNK, their inputs copied to small local rows first: rows of a block lie a power of
 * two apart, and reading a dozen of them side by side would make them evict each other from the cache. */
#define CHUNK 256

/* out[j] = 0.0 + a[j] * b[j] for the first product of a sum (what NumPy's zeros then += give), else out[j] +=
 * a[j] * b[j] */
static inline void add_product(double *restrict out, const double *restrict a, const double *restrict b,
                               Py_ssize_t J, int first)
{
    if (first)
        for (Py_ssize_t j = 0; j < J; j++)
            out[j] = 0.0 + a[j] * b[j];
    else
        for (Py_ssize_t j = 0; j < J; j++)
            out[j] += a[j] * b[j];
}

WIDE static void expected_unit_core(double *restrict pi, const double *restrict U, const double *restrict T,
                               const int64_t *restrict terms, const int64_t *restrict in_tail, Py_ssize_t n_terms,
                               const int64_t *restrict moves, Py_ssize_t n_moves, int64_t last,
                               const int64_t *restrict others, Py_ssize_t n_others, Py_ssize_t S, Py_ssize_t P,
                               Py_ssize_t n, Py_ssize_t a, Py_ssize_t m, Py_ssize_t H, Py_ssize_t n_years,
                               Py_ssize_t n_paying, double *restrict e, double *restrict work, uint8_t *restrict flags)
{
    /* work: (2 S + n_terms + n_moves) rows of CHUNK. A row of e or of the next shares is written as 0.0 plus its
     * first product (what NumPy's zeros then += give), the later products added: no pass of zeros of its own.
     * flags: first[2][n_terms] (whether a term is its row's first, at ages < H | beyond), zero[2][n_paying] (rows
     * without a term), first_move[n_moves], empty[S] (states other than `last` that no move enters). */
    uint8_t *first = flags, *zero = first + 2 * n_terms, *first_move = zero + 2 * n_paying, *empty = first_move + n_moves;
    for (int beyond = 0; beyond < 2; beyond++) {
        for (Py_ssize_t i = 0; i < n_paying; i++)
            zero[beyond * n_paying + i] = 1;
        for (Py_ssize_t q = 0; q < n_terms; q++) {
            const int active = !beyond || in_tail[q];
            const int64_t row = terms[3 * q + 1];
            first[beyond * n_terms + q] = active && zero[beyond * n_paying + row];
            if (active)
                zero[beyond * n_paying + row] = 0;
        }
    }
    for (Py_ssize_t t = 0; t < S; t++)
        empty[t] = t != last;
    for (Py_ssize_t q = 0; q < n_moves; q++) {
        const int64_t t = moves[2 * q + 1];
        first_move[q] = t != last && empty[t];
        if (t != last)
            empty[t] = 0;
    }
    double *lp = work, *nw = work + S * CHUNK, *lu = nw + S * CHUNK, *lt = lu + n_terms * CHUNK;
    for (Py_ssize_t j0 = 0; j0 < m; j0 += CHUNK) {
        const Py_ssize_t J = m - j0 < CHUNK ? m - j0 : CHUNK;
        for (Py_ssize_t st = 0; st < S; st++)
            memcpy(lp + st * CHUNK, pi + st * m + j0, J * sizeof(double));
        for (Py_ssize_t q = 0; q < n_terms; q++)
            memcpy(lu + q * CHUNK, U + (terms[3 * q] * P + terms[3 * q + 2]) * n + a + j0, J * sizeof(double));
        for (Py_ssize_t q = 0; q < n_moves; q++)
            memcpy(lt + q * CHUNK, T + (moves[2 * q] * S + moves[2 * q + 1]) * n + a + j0, J * sizeof(double));
        for (Py_ssize_t k = 0; k < n_years; k++) {
            double *ek = e + k * n_paying * m + j0;
            const int beyond = k >= H;
            for (Py_ssize_t q = 0; q < n_terms; q++) {
                if (beyond && !in_tail[q])
                    continue;
                const double *ps = lp + terms[3 * q] * CHUNK, *us = lu + q * CHUNK;
                double *out = ek + terms[3 * q + 1] * m;
                add_product(out, ps, us, J, first[beyond * n_terms + q]);
            }
            for (Py_ssize_t i = 0; i < n_paying; i++)
                if (zero[beyond * n_paying + i])
                    for (Py_ssize_t j = 0; j < J; j++)
                        ek[i * m + j] = 0.0;
            if (k + 1 < n_years && S > 1) {
                for (Py_ssize_t q = 0; q < n_moves; q++) {
                    const int64_t st = moves[2 * q], t = moves[2 * q + 1];
                    if (t == last)
                        continue;
                    const double *ps = lp + st * CHUNK, *ts = lt + q * CHUNK;
                    double *out = nw + t * CHUNK;
                    add_product(out, ps, ts, J, first_move[q]);
                }
                for (Py_ssize_t t = 0; t < S; t++)
                    if (empty[t])
                        for (Py_ssize_t j = 0; j < J; j++)
                            nw[t * CHUNK + j] = 0.0;
                double *nl = nw + last * CHUNK;
                const double *o0 = nw + others[0] * CHUNK;
                for (Py_ssize_t j = 0; j < J; j++)
                    nl[j] = 1.0 - o0[j];
                for (Py_ssize_t q = 1; q < n_others; q++) {
                    const double *oq = nw + others[q] * CHUNK;
                    for (Py_ssize_t j = 0; j < J; j++)
                        nl[j] -= oq[j];
                }
                double *swap = lp; /* the next shares become the current ones */
                lp = nw;
                nw = swap;
            }
        }
        if (lp != work) { /* an odd number of swaps: back to the first buffer for the next chunk */
            nw = lp;
            lp = work;
        }
    }
}

/* The counterfactual chain's indices: terms (state, row, payer), moves (from, to), the other states and the last
 * one, each inside its range (-1 with a ValueError if not). */
static int check_chain(const int64_t *terms, Py_ssize_t n_terms, const int64_t *moves, Py_ssize_t n_moves,
                       const int64_t *others, Py_ssize_t n_others, long long last, Py_ssize_t S, Py_ssize_t n_paying,
                       Py_ssize_t P)
{
    const int64_t last_arr[1] = {last};
    return check_index(terms, n_terms, 3, 0, S, "terms (state)") ||
                   check_index(terms, n_terms, 3, 1, n_paying, "terms (row)") ||
                   check_index(terms, n_terms, 3, 2, P, "terms (payer)") ||
                   check_index(moves, n_moves, 2, 0, S, "moves (from)") ||
                   check_index(moves, n_moves, 2, 1, S, "moves (to)") ||
                   check_index(others, n_others, 1, 0, S, "others") || check_index(last_arr, 1, 1, 0, S, "last")
               ? -1
               : 0;
}

static PyObject *expected_unit(PyObject *self, PyObject *args)
{
    Py_buffer bpi, bU, bT, bterms, btail, bmoves, bothers, be;
    long long last;
    Py_ssize_t S, P, n, a, m, H, n_years, n_paying;
    if (!PyArg_ParseTuple(args, "w*y*y*y*y*y*Ly*w*nnnnnnnn", &bpi, &bU, &bT, &bterms, &btail, &bmoves, &last,
                          &bothers, &be, &S, &P, &n, &a, &m, &H, &n_years, &n_paying))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n_terms = btail.len / 8, n_moves = bmoves.len / 16, n_others = bothers.len / 8;
    if (check_size3(&bpi, S, m, 1, 8, "pi") || check_size3(&bU, S, P, n, 8, "U") ||
        check_size3(&bT, S, S, n, 8, "T") || check_size3(&bterms, n_terms, 3, 1, 8, "terms") ||
        check_size3(&btail, n_terms, 1, 1, 8, "tail") || check_size3(&bmoves, n_moves, 2, 1, 8, "moves") ||
        check_size3(&bothers, n_others, 1, 1, 8, "others") || check_size3(&be, n_years, n_paying, m, 8, "e"))
        goto done;
    if (S < 1 || S > MAX_STATES || (S > 1 && n_others < 1) || a < 0 || m < 0 || a > n - m || H < 0) {
        PyErr_SetString(PyExc_ValueError, "expected_unit: bad shapes");
        goto done;
    }
    if (check_chain(bterms.buf, n_terms, bmoves.buf, n_moves, bothers.buf, n_others, last, S, n_paying, P))
        goto done;
    double *work = PyMem_RawMalloc((2 * S + n_terms + n_moves) * CHUNK * sizeof(double));
    uint8_t *flags = PyMem_RawMalloc(2 * n_terms + 2 * n_paying + n_moves + S + 1);
    if (work == NULL || flags == NULL) {
        PyMem_RawFree(work);
        PyMem_RawFree(flags);
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    expected_unit_core(bpi.buf, bU.buf, bT.buf, bterms.buf, btail.buf, n_terms, bmoves.buf, n_moves, last,
                       bothers.buf, n_others, S, P, n, a, m, H, n_years, n_paying, be.buf, work, flags);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(work);
    PyMem_RawFree(flags);
    result = Py_None;
    Py_INCREF(result);
done:
    RELEASE(&bpi, &bU, &bT, &bterms, &btail, &bmoves, &bothers, &be);
    return result;
}

WIDE static void tail_sums_core(const double *restrict unit, const int64_t *restrict wanted,
                                const double *restrict growth, const double *restrict df, int with_df,
                                const double *restrict keep, const uint8_t *restrict store, double *restrict F,
                                double *restrict acc, Py_ssize_t W, Py_ssize_t ages, Py_ssize_t n_paying, Py_ssize_t m)
{
    for (Py_ssize_t w = 0; w < W; w++) {
        for (Py_ssize_t j = 0; j < m; j++)
            acc[j] = 0.0;
        for (Py_ssize_t l = ages - 1; l >= 0; l--) {
            const double g = with_df ? growth[l] * df[l] : growth[l];
            const double *restrict u = unit + (l * n_paying + wanted[w]) * m;
            if (store[l]) {
                double *restrict f = F + (l * W + w) * m;
                for (Py_ssize_t j = 0; j < m; j++) {
                    f[j] = acc[j];
                    acc[j] = keep[j] * (u[j] * g + acc[j]);
                }
            }
            else
                for (Py_ssize_t j = 0; j < m; j++)
                    acc[j] = keep[j] * (u[j] * g + acc[j]);
        }
    }
}

/* F[k, w, j] = sum_{l>k} keep^(l-k) unit[l, wanted[w], j] g_l, by the recursion acc = keep (unit_l g_l + acc),
 * g_l = growth[l] (times df[l] when df is given); only the ages k with store[k] are written. */
static PyObject *tail_sums(PyObject *self, PyObject *args)
{
    Py_buffer bu, bw, bg, bd, bk, bs, bF;
    Py_ssize_t ages, n_paying, m;
    int with_df;
    if (!PyArg_ParseTuple(args, "y*y*y*y*py*y*w*nnn", &bu, &bw, &bg, &bd, &with_df, &bk, &bs, &bF, &ages, &n_paying,
                          &m))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t W = bw.len / 8;
    if (check_size3(&bu, ages, n_paying, m, 8, "unit") || check_size(&bg, ages, 8, "growth") ||
        check_size(&bs, ages, 1, "store") ||
        (with_df && check_size(&bd, ages, 8, "df")) || check_size(&bk, m, 8, "keep") ||
        check_size3(&bw, W, 1, 1, 8, "wanted") || check_size3(&bF, ages, W, m, 8, "F") ||
        check_index(bw.buf, W, 1, 0, n_paying, "wanted"))
        goto done;
    const double *unit = bu.buf, *growth = bg.buf, *df = bd.buf, *keep = bk.buf;
    const int64_t *wanted = bw.buf;
    double *F = bF.buf;
    double *acc = PyMem_RawMalloc((m > 0 ? m : 1) * sizeof(double));
    if (acc == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    tail_sums_core(unit, wanted, growth, df, with_df, keep, bs.buf, F, acc, W, ages, n_paying, m);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(acc);
    result = Py_None;
    Py_INCREF(result);
done:
    RELEASE(&bu, &bw, &bg, &bd, &bk, &bs, &bF);
    return result;
}

/* remaining(F, F_pv, act, keep, growth, df, years, out, W, ages, H, m, n_years, with_pv): the expected savings
 * still to come, engine._remaining's loop: out[0, w, c + k, j] += act[c, k, j] * (growth[c] * value) for the
 * cohorts c in order and their ages k with c + k in `years` (a mask of H), value = F[k] (the first cohort, followed
 * to the end) or F[k] - keep^(last - k) F[last] (last = n_years - c - 1, the cohort's last age followed; the power
 * a running product from 1.0); out[1] the same with F_pv and growth[c] * df[c] / df[0] (without F_pv, 0). The
 * kernel clears `out` itself, chunk by chunk, while the chunk is in the cache. */
#define REM_CHUNK 256
WIDE static void remaining_core(const double *restrict F, const double *restrict F_pv, const float *restrict act,
                                const double *restrict keep, const double *restrict growth, const double *restrict df,
                                const int64_t *restrict years, double *restrict out, double *restrict pw,
                                Py_ssize_t W, Py_ssize_t ages, Py_ssize_t H, Py_ssize_t m, Py_ssize_t n_years)
{
    for (Py_ssize_t j0 = 0; j0 < m; j0 += REM_CHUNK) {
        const Py_ssize_t J = m - j0 < REM_CHUNK ? m - j0 : REM_CHUNK;
        for (Py_ssize_t j = 0; j < J; j++) /* pw[i] = keep^i, as a running product from 1.0 */
            pw[j] = 1.0;
        for (Py_ssize_t i = 1; i < ages; i++)
            for (Py_ssize_t j = 0; j < J; j++)
                pw[i * REM_CHUNK + j] = pw[(i - 1) * REM_CHUNK + j] * keep[j0 + j];
        for (Py_ssize_t r = 0; r < 2 * W * H; r++) /* out starts at 0 (rows of m, this chunk's part) */
            memset(out + r * m + j0, 0, J * sizeof(double));
        for (Py_ssize_t c = 0; c < H; c++) {
            const Py_ssize_t n_ages = H - c < ages ? H - c : ages;
            const Py_ssize_t last = (ages < n_years - c ? ages : n_years - c) - 1;
            for (Py_ssize_t k = 0; k < n_ages; k++) {
                if (!years[c + k])
                    continue;
                const float *restrict a = act + (c * H + k) * m + j0;
                const double *restrict p = pw + (last - k) * REM_CHUNK;
                for (Py_ssize_t d = 0; d < (F_pv ? 2 : 1); d++) {
                    const double *FF = d == 0 ? F : F_pv;
                    const double g = d == 0 ? growth[c] : growth[c] * df[c] / df[0];
                    for (Py_ssize_t w = 0; w < W; w++) {
                        const double *restrict fk = FF + (k * W + w) * m + j0, *restrict fl = FF + (last * W + w) * m + j0;
                        double *restrict o = out + ((d * W + w) * H + c + k) * m + j0;
                        if (last >= ages - 1)
                            for (Py_ssize_t j = 0; j < J; j++)
                                o[j] += (double)a[j] * (g * fk[j]);
                        else
                            for (Py_ssize_t j = 0; j < J; j++)
                                o[j] += (double)a[j] * (g * (fk[j] - p[j] * fl[j]));
                    }
                }
            }
        }
    }
}

static PyObject *remaining(PyObject *self, PyObject *args)
{
    Py_buffer bF, bP, ba, bk, bg, bd, by, bo;
    Py_ssize_t W, ages, H, m, n_years;
    int with_pv;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*w*nnnnnp", &bF, &bP, &ba, &bk, &bg, &bd, &by, &bo, &W, &ages, &H, &m,
                          &n_years, &with_pv))
        return NULL;
    PyObject *result = NULL;
    double *pw = NULL;
    /* ages == n_years >= H: every age read (k < H - c, last = n_years - c - 1 >= k) lies in 0 .. ages - 1 */
    if (W < 0 || ages < 1 || H < 0 || m < 0 || n_years != ages || H > ages || check_size3(&bF, ages, W, m, 8, "F") ||
        check_size3(&bP, with_pv ? ages : 0, W, m, 8, "F_pv") || check_size3(&ba, H, H, m, 4, "act") ||
        check_size(&bk, m, 8, "keep") || check_size(&bg, H, 8, "growth") || check_size(&bd, H, 8, "df") ||
        check_size(&by, H, 8, "years") || check_size3(&bo, 2 * W, H, m, 8, "out")) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "remaining: bad shapes");
        goto done;
    }
    pw = PyMem_RawMalloc(ages * REM_CHUNK * sizeof(double));
    if (pw == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    remaining_core(bF.buf, with_pv ? bP.buf : NULL, ba.buf, bk.buf, bg.buf, bd.buf, by.buf, bo.buf, pw, W, ages, H, m,
                   n_years);
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_RawFree(pw);
    RELEASE(&bF, &bP, &ba, &bk, &bg, &bd, &by, &bo);
    return result;
}

#define YOUTH_CHUNK 512
typedef int16_t v16i __attribute__((vector_size(32))); /* sixteen 16-bit lanes (GCC and Clang vector extensions) */
typedef uint16_t v16u __attribute__((vector_size(32)));
typedef int16_t v8s __attribute__((vector_size(16)));
typedef float v8f __attribute__((vector_size(32)));
WIDE static void youth_counts_core(const uint16_t *restrict h, const int64_t *restrict cs, int16_t *restrict ef,
                                   const uint16_t *restrict edge,
                                   float *restrict act, unsigned char *restrict tied, Py_ssize_t G, Py_ssize_t size,
                                   Py_ssize_t n, Py_ssize_t a, Py_ssize_t m, Py_ssize_t H, int no_relapse,
                                   v16i *restrict hv)
{
    for (Py_ssize_t j0 = 0; j0 < m; j0 += YOUTH_CHUNK) {
        const Py_ssize_t J = m - j0 < YOUTH_CHUNK ? m - j0 : YOUTH_CHUNK;
        for (Py_ssize_t k = 0; k < H; k++)
            for (Py_ssize_t j = 0; j < J; j++)
                ef[k * YOUTH_CHUNK + j] = (int16_t)(edge[k * n + a + j0 + j] ^ 0x8000u);
        for (Py_ssize_t g = 0; g < G; g++) {
            const int64_t c = cs[g];
            const Py_ssize_t K = H - c, K1 = no_relapse ? 1 : K; /* ages followed; ages compared */
            const uint16_t *restrict hg = h + g * size * n + a + j0;
            unsigned char *restrict tc = tied + c * m + j0;
            Py_ssize_t j = 0;
            for (; j + 16 <= J; j += 16) {
                /* sixteen trials at a time: the young people's integers are read once into a small local array
                 * (their rows lie 2 n bytes apart, a power of two, and would evict each other from the cache if
                 * read again for every age), then compared with every age's edge, the counts in registers */
                for (Py_ssize_t y = 0; y < size; y++) {
                    v16u u;
                    memcpy(&u, hg + y * n + j, sizeof u);
                    hv[y] = (v16i)(u ^ 0x8000u);
                }
                v16i qa = {0};
                for (Py_ssize_t k = 0; k < K1; k++) {
                    v16i e, l = {0}, q = {0};
                    memcpy(&e, ef + k * YOUTH_CHUNK + j, sizeof e);
                    for (Py_ssize_t y = 0; y < size; y++) {
                        l -= (v16i)(hv[y] < e); /* a true comparison is -1 */
                        q |= (v16i)(hv[y] == e);
                    }
                    qa |= q;
                    v8s lo8, hi8; /* the counts as floats, eight lanes at a time */
                    memcpy(&lo8, &l, sizeof lo8);
                    memcpy(&hi8, (const char *)&l + sizeof lo8, sizeof hi8);
                    const v8f flo = __builtin_convertvector(lo8, v8f), fhi = __builtin_convertvector(hi8, v8f);
                    /* without relapse every age has the intake year's count */
                    for (Py_ssize_t kk = k; kk < (no_relapse ? K : k + 1); kk++) {
                        float *restrict out = act + (c * H + kk) * m + j0 + j;
                        memcpy(out, &flo, sizeof flo);
                        memcpy(out + 8, &fhi, sizeof fhi);
                    }
                }
                int16_t flags[16];
                memcpy(flags, &qa, sizeof flags);
                for (int i = 0; i < 16; i++)
                    tc[j + i] |= (unsigned char)(flags[i] != 0);
            }
            for (; j < J; j++) {
                int16_t qa = 0;
                for (Py_ssize_t k = 0; k < K1; k++) {
                    const int16_t e = ef[k * YOUTH_CHUNK + j];
                    int16_t l = 0, q = 0;
                    for (Py_ssize_t y = 0; y < size; y++) {
                        const int16_t v = (int16_t)(hg[y * n + j] ^ 0x8000u);
                        l -= (int16_t)-(v < e);
                        q |= (int16_t)-(v == e);
                    }
                    qa |= q;
                    for (Py_ssize_t kk = k; kk < (no_relapse ? K : k + 1); kk++)
                        act[(c * H + kk) * m + j0 + j] = (float)l;
                }
                tc[j] |= (unsigned char)(qa != 0);
            }
        }
    }
}

/* Young people still active, cohort by cohort and age by age: act[c, k, j] = #{y : h[g, y, a + j] < edge[k, a + j]}
 * for the cohorts c = cs[g] followed at age k (c + k < H), and tied[c, j] set where some h equals the edge. */
static PyObject *youth_counts(PyObject *self, PyObject *args)
{
    Py_buffer bh, bcs, be, bact, btied;
    Py_ssize_t size, n, a, m, H;
    int no_relapse;
    Py_ssize_t E;
    if (!PyArg_ParseTuple(args, "y*y*y*w*w*nnnnnnp", &bh, &bcs, &be, &bact, &btied, &size, &n, &a, &m, &H, &E,
                          &no_relapse))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t G = bcs.len / 8;
    if (check_size3(&bh, G, size, n, 2, "h") || check_size3(&be, E, n, 1, 2, "edge") ||
        check_size3(&bact, H, H, m, 4, "act") || check_size3(&btied, H, m, 1, 1, "tied") ||
        check_size3(&bcs, G, 1, 1, 8, "cohorts") || E < H || a < 0 || m < 0 || a > n - m || size > 255) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "youth_counts: bad shapes");
        goto done;
    }
    const uint16_t *h = bh.buf, *edge = be.buf;
    const int64_t *cs = bcs.buf;
    float *act = bact.buf;
    unsigned char *tied = btied.buf;
    Py_ssize_t bad = 0;
    for (Py_ssize_t g = 0; g < G; g++)
        if (cs[g] < 0 || cs[g] >= H)
            bad = 1;
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "youth_counts: cohort out of range");
        goto done;
    }
    /* Trials in chunks of YOUTH_CHUNK, so that the 16-bit edges of every age stay in the L1 cache while each
     * young person's integers are compared with every age's edge.
     * Unsigned 16-bit order is signed order after flipping the top bit (SSE2 compares signed words). */
    int16_t *ef = PyMem_RawMalloc((H > 0 ? H : 1) * YOUTH_CHUNK * sizeof(int16_t));
    char *hv_mem = PyMem_RawMalloc(((size > 0 ? size : 1) + 1) * sizeof(v16i)); /* aligned to 32 bytes below */
    if (ef == NULL || hv_mem == NULL) {
        PyMem_RawFree(ef);
        PyMem_RawFree(hv_mem);
        PyErr_NoMemory();
        goto done;
    }
    v16i *hv = (v16i *)(((uintptr_t)hv_mem + sizeof(v16i) - 1) & ~(uintptr_t)(sizeof(v16i) - 1));
    Py_BEGIN_ALLOW_THREADS
    youth_counts_core(h, cs, ef, edge, act, tied, G, size, n, a, m, H, no_relapse, hv);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(ef);
    PyMem_RawFree(hv_mem);
    result = Py_None;
    Py_INCREF(result);
done:
    RELEASE(&bh, &bcs, &be, &bact, &btied);
    return result;
}

WIDE static void cohort_savings_core(const double *restrict e, const float *restrict act,
                                     const int64_t *restrict paying, double *restrict sav, Py_ssize_t W,
                                     Py_ssize_t n_years, Py_ssize_t n_paying, Py_ssize_t m, Py_ssize_t H,
                                     Py_ssize_t n, Py_ssize_t a, double *restrict acc, int stream)
{
    for (Py_ssize_t i = 0; i < W; i++) {
        const int64_t p = paying[i];
        for (Py_ssize_t y = 0; y < H; y++) {
            double *restrict out = acc; /* summed in a row of its own (in the cache), then streamed out */
            for (Py_ssize_t j = 0; j < m; j++)
                out[j] = 0.0;
            for (Py_ssize_t c = 0; c <= y; c++) {
                if (y - c >= n_years)
                    continue;
                const double *restrict ec = e + ((y - c) * n_paying + i) * m;
                const float *restrict ac = act + (c * H + (y - c)) * m;
                for (Py_ssize_t j = 0; j < m; j++)
                    out[j] += ec[j] * (double)ac[j];
            }
            if (stream)
                stream_copy(sav + (p * H + y) * n + a, acc, m);
            else
                memcpy(sav + (p * H + y) * n + a, acc, m * sizeof(double));
        }
    }
}

/* savings[p, y, a + j] = sum over cohorts c <= y, in order, of e[y - c, i, j] * act[c, y - c, j], for each
 * paying payer (i, p); the sum starts at 0.0 as NumPy's += on zeros does. */
static PyObject *cohort_savings(PyObject *self, PyObject *args)
{
    Py_buffer be, bact, bpay, bs;
    Py_ssize_t n_years, n_paying, m, H, P, n, a;
    if (!PyArg_ParseTuple(args, "y*y*y*w*nnnnnnn", &be, &bact, &bpay, &bs, &n_years, &n_paying, &m, &H, &P, &n, &a))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t W = bpay.len / 8;
    if (check_size3(&be, n_years, n_paying, m, 8, "e") || check_size3(&bact, H, H, m, 4, "act") ||
        check_size3(&bs, P, H, n, 8, "savings") || check_size3(&bpay, W, 1, 1, 8, "paying") || W > n_paying ||
        a < 0 || m < 0 || a > n - m || check_index(bpay.buf, W, 1, 0, P, "paying")) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "cohort_savings: bad shapes");
        goto done;
    }
    const double *e = be.buf;
    const float *act = bact.buf;
    const int64_t *paying = bpay.buf;
    double *sav = bs.buf;
    double *acc = PyMem_RawMalloc((m > 0 ? m : 1) * sizeof(double));
    if (acc == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    cohort_savings_core(e, act, paying, sav, W, n_years, n_paying, m, H, n, a, acc, 1);
#if defined(__SSE2__)
    _mm_sfence();
#endif
    Py_END_ALLOW_THREADS
    PyMem_RawFree(acc);
    result = Py_None;
    Py_INCREF(result);
done:
    RELEASE(&be, &bact, &bpay, &bs);
    return result;
}


/* ---- the counterfactual of a slice, chunk by chunk (engine: expected_unit, e[0] *= f, cohort_savings,
 * tail_sums) ----------------------------------------------------------------------------------------------------
 * The same operations in the same order as those four kernels called one after the other on the whole slice,
 * run on CF_CHUNK trials at a time: the expected saving by age, e (ages x payers, 160 KiB a chunk), stays in the
 * cache instead of passing through memory (5 MiB a slice, written once and read twice). Only the tail sums'
 * stored ages (`store`) are written to F and F_pv. */
#define CF_CHUNK 256
_Static_assert(CF_CHUNK <= ZERO_ROW, "a zero row covers a chunk");

/* The slice's lifetime rows, made in the same chunks (on = 0: none of it) */
typedef struct {
    int on, grow, with_rem; /* savings through the chunk's rows; times growth[y]; the value still to come */
    double *life, *life_pv; /* (P, H, n) or NULL */
    const int64_t *life_rows;
    Py_ssize_t n_life;
    const int64_t *years; /* H: the years whose value still to come is wanted (kernels.remaining's mask) */
    double *successes;    /* (H, n): each cohort's count at age 0, as float64, or NULL */
    const int64_t *zero_sav, *zero_life; /* payers whose savings rows, lifetime rows are 0.0 (written here) */
    Py_ssize_t n_zero_sav, n_zero_life;
} cf_life;

WIDE static void counterfactual_core(const double *restrict pi, const double *restrict U, const double *restrict T,
                                     const int64_t *restrict terms, const int64_t *restrict in_tail,
                                     Py_ssize_t n_terms, const int64_t *restrict moves, Py_ssize_t n_moves,
                                     int64_t last, const int64_t *restrict others, Py_ssize_t n_others,
                                     Py_ssize_t S, Py_ssize_t P, Py_ssize_t n, Py_ssize_t a, Py_ssize_t m,
                                     Py_ssize_t H, Py_ssize_t n_years, Py_ssize_t n_paying,
                                     const double *restrict f, const float *restrict act,
                                     const int64_t *restrict paying, Py_ssize_t n_pay, double *restrict sav,
                                     const int64_t *restrict wanted, Py_ssize_t W, const double *restrict growth,
                                     const double *restrict keep, const uint8_t *restrict store,
                                     const double *restrict df, double *restrict F, double *restrict F_pv,
                                     const cf_life *lv, double *restrict mem, uint8_t *restrict flags)
{
    const int tails = W > 0 && (F != NULL || lv->with_rem), pv = F_pv != NULL || (lv->with_rem && lv->life_pv);
    double *lpi = mem, *le = lpi + S * CF_CHUNK, *lF = le + n_years * n_paying * CF_CHUNK;
    double *lFp = lF + n_years * (W > 0 ? W : 1) * CF_CHUNK, *ls = lFp + n_years * (W > 0 ? W : 1) * CF_CHUNK;
    double *lrem = ls + P * H * CF_CHUNK, *pw = lrem + 2 * (W > 0 ? W : 1) * H * CF_CHUNK;
    double *acc = pw + n_years * CF_CHUNK, *work = acc + CF_CHUNK;
    float *lact = (float *)(work + (2 * S + n_terms + n_moves) * CHUNK);
    for (Py_ssize_t j0 = 0; j0 < m; j0 += CF_CHUNK) {
        const Py_ssize_t J = m - j0 < CF_CHUNK ? m - j0 : CF_CHUNK;
        for (Py_ssize_t st = 0; st < S; st++)
            memcpy(lpi + st * J, pi + st * m + j0, J * sizeof(double));
        expected_unit_core(lpi, U, T, terms, in_tail, n_terms, moves, n_moves, last, others, n_others, S, P, n,
                           a + j0, J, H, n_years, n_paying, le, work, flags);
        for (Py_ssize_t i = 0; i < n_paying; i++) /* e[0] *= f: the intake year counts the fraction f */
            for (Py_ssize_t j = 0; j < J; j++)
                le[i * J + j] *= f[j0 + j];
        for (Py_ssize_t c = 0; c < H; c++) /* the cohorts' rows c + k < H, which cohort_savings reads */
            for (Py_ssize_t k = 0; k < H - c; k++)
                memcpy(lact + (c * H + k) * J, act + (c * H + k) * m + j0, J * sizeof(float));
        for (Py_ssize_t r = 0; r < lv->n_zero_sav; r++) /* rows of 0.0, streamed: no read of their lines first */
            for (Py_ssize_t y = 0; y < H; y++)
                stream_copy(sav + (lv->zero_sav[r] * H + y) * n + a + j0, zero_row, J);
        for (Py_ssize_t r = 0; r < lv->n_zero_life; r++)
            for (Py_ssize_t y = 0; y < H; y++)
                for (int d = 0; d < 2; d++)
                    if ((d == 0 ? lv->life : lv->life_pv) != NULL)
                        stream_copy((d == 0 ? lv->life : lv->life_pv) + (lv->zero_life[r] * H + y) * n + a + j0,
                                    zero_row, J);
        if (lv->successes != NULL) /* successes[:, sl] = act[:, 0] (float32 to float64: exact) */
            for (Py_ssize_t c = 0; c < H; c++) {
                double *restrict out = acc;
                const float *restrict in = lact + (c * H) * J;
                for (Py_ssize_t j = 0; j < J; j++)
                    out[j] = (double)in[j];
                stream_copy(lv->successes + c * n + a + j0, out, J);
            }
        if (!lv->on) /* the savings straight to the block's rows */
            cohort_savings_core(le, lact, paying, sav, n_pay, n_years, n_paying, J, H, n, a + j0, acc, 1);
        else { /* in the chunk's own rows first: price growth, then the lifetime rows read them */
            cohort_savings_core(le, lact, paying, ls, n_pay, n_years, n_paying, J, H, J, 0, acc, 0);
            for (Py_ssize_t i = 0; i < n_pay; i++) {
                const int64_t p = paying[i];
                for (Py_ssize_t y = 0; y < H; y++) {
                    double *restrict row = ls + (p * H + y) * J;
                    if (lv->grow) /* savings[paying, :, sl] *= growth[:H] */
                        for (Py_ssize_t j = 0; j < J; j++)
                            row[j] *= growth[y];
                    stream_copy(sav + (p * H + y) * n + a + j0, row, J);
                }
            }
        }
        for (int d = 0; d < 2 && tails; d++) {
            double *out = d == 0 ? F : F_pv, *lt = d == 0 ? lF : lFp;
            if (!(d == 0 || pv))
                continue;
            tail_sums_core(le, wanted, growth, df, d == 1, keep + j0, store, lt, acc, W, n_years, n_paying, J);
            if (out != NULL)
                for (Py_ssize_t l = 0; l < n_years; l++)
                    if (store[l])
                        for (Py_ssize_t w = 0; w < W; w++)
                            memcpy(out + (l * W + w) * m + j0, lt + (l * W + w) * J, J * sizeof(double));
        }
        if (!lv->on || lv->life == NULL)
            continue;
        if (lv->with_rem) /* the value still to come, as kernels.remaining */
            remaining_core(lF, lv->life_pv ? lFp : NULL, lact, keep + j0, growth, df, lv->years, lrem, pw, W, n_years,
                           H, J, n_years);
        /* the lifetime rows: the savings (times df where discounted), then + the value still to come after each
         * year - that after the year before, as the engine's NumPy code adds them */
        for (Py_ssize_t r = 0; r < lv->n_life; r++) {
            const int64_t p = lv->life_rows[r];
            int pays = 0;
            for (Py_ssize_t i = 0; i < n_pay; i++)
                pays |= paying[i] == p;
            Py_ssize_t w = -1;
            for (Py_ssize_t i = 0; i < W && lv->with_rem; i++)
                if (paying[wanted[i]] == p)
                    w = i;
            for (int d = 0; d < 2; d++) {
                double *x = d == 0 ? lv->life : lv->life_pv;
                if (x == NULL)
                    continue;
                for (Py_ssize_t y = 0; y < H; y++) {
                    double *restrict v = acc;
                    const double *restrict src = ls + (p * H + y) * J;
                    for (Py_ssize_t j = 0; j < J; j++)
                        v[j] = pays ? src[j] : 0.0;
                    if (d == 1)
                        for (Py_ssize_t j = 0; j < J; j++)
                            v[j] = v[j] * df[y];
                    if (w >= 0) {
                        const double *restrict now = lrem + ((d * W + w) * H + y) * J;
                        for (Py_ssize_t j = 0; j < J; j++)
                            v[j] = v[j] + now[j];
                        if (y > 0) {
                            const double *restrict before = now - J;
                            for (Py_ssize_t j = 0; j < J; j++)
                                v[j] = v[j] - before[j];
                        }
                    }
                    stream_copy(x + (p * H + y) * n + a + j0, v, J);
                }
            }
        }
    }
#if defined(__SSE2__)
    _mm_sfence(); /* cohort_savings_core streams its rows */
#endif
}

/* counterfactual(pi, U, T, terms, tail, moves, last, others, f, act, paying, savings, wanted, growth, keep, store,
 * df, F, F_pv, S, P, n, a, m, H, n_years, n_paying, with_pv[, grow, life, life_pv, life_rows, years, with_rem]):
 * see counterfactual_core; W = len(wanted) may be 0 (no tail sums: F and F_pv empty). With the optional part, the
 * savings times growth (grow) and the lifetime rows life_rows of life and life_pv ((P, H, n) or empty) are made in
 * the same chunks, with the value still to come for the years `years` (H, a mask) when with_rem (F and F_pv are
 * then not written: pass them empty). */
static PyObject *counterfactual(PyObject *self, PyObject *args)
{
    Py_buffer bpi, bU, bT, bterms, btail, bmoves, bothers, bf, bact, bpay, bs, bw, bg, bk, bst, bd, bF, bFp;
    Py_buffer bl = {0}, blp = {0}, blr = {0}, by = {0}, bsu = {0}, bzs = {0}, bzl = {0};
    long long last;
    Py_ssize_t S, P, n, a, m, H, n_years, n_paying;
    int with_pv, grow = 0, with_rem = 0;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*Ly*y*y*y*w*y*y*y*y*y*w*w*nnnnnnnnp|pw*w*y*y*pw*y*y*", &bpi, &bU, &bT, &bterms,
                          &btail, &bmoves, &last, &bothers, &bf, &bact, &bpay, &bs, &bw, &bg, &bk, &bst, &bd, &bF,
                          &bFp, &S, &P, &n, &a, &m, &H, &n_years, &n_paying, &with_pv, &grow, &bl, &blp, &blr, &by,
                          &with_rem, &bsu, &bzs, &bzl))
        return NULL;
    const int on = bl.obj != NULL;
    PyObject *result = NULL;
    double *mem = NULL;
    uint8_t *flags = NULL;
    const Py_ssize_t n_terms = btail.len / 8, n_moves = bmoves.len / 16, n_others = bothers.len / 8;
    const Py_ssize_t n_pay = bpay.len / 8, W = bw.len / 8;
    if (check_size3(&bpi, S, m, 1, 8, "pi") || check_size3(&bU, S, P, n, 8, "U") ||
        check_size3(&bT, S, S, n, 8, "T") || check_size3(&bterms, n_terms, 3, 1, 8, "terms") ||
        check_size3(&btail, n_terms, 1, 1, 8, "tail") || check_size3(&bmoves, n_moves, 2, 1, 8, "moves") ||
        check_size3(&bothers, n_others, 1, 1, 8, "others") || check_size(&bf, m, 8, "f") ||
        check_size3(&bact, H, H, m, 4, "act") || check_size3(&bpay, n_pay, 1, 1, 8, "paying") ||
        check_size3(&bs, P, H, n, 8, "savings") || check_size3(&bw, W, 1, 1, 8, "wanted") ||
        check_size(&bg, W || bl.obj ? n_years : 0, 8, "growth") || check_size(&bk, W ? m : 0, 8, "keep") ||
        check_size(&bst, W ? n_years : 0, 1, "store") ||
        check_size(&bd, (W || blp.len) && with_pv ? n_years : 0, 8, "df") ||
        check_size3(&bF, W && !with_rem ? n_years : 0, W, m, 8, "F") ||
        check_size3(&bFp, W && with_pv && !with_rem ? n_years : 0, W, m, 8, "F_pv"))
        goto done;
    const Py_ssize_t n_life = blr.obj ? blr.len / 8 : 0;
    if (on && (blp.obj == NULL || blr.obj == NULL || by.obj == NULL || (bl.len != 0 && check_size3(&bl, P, H, n, 8, "life")) ||
               (blp.len != 0 && check_size3(&blp, P, H, n, 8, "life_pv")) || (blp.len != 0 && bl.len == 0) ||
               check_size(&by, H, 8, "years") || (blp.len != 0 && !with_pv) || (with_rem && (W == 0 || bl.len == 0)) ||
               (bsu.obj != NULL && bsu.len != 0 && check_size3(&bsu, H, n, 1, 8, "successes")) ||
               check_index(blr.buf, n_life, 1, 0, P, "life_rows") ||
               (bzs.obj != NULL && check_index(bzs.buf, bzs.len / 8, 1, 0, P, "zero savings rows")) ||
               (bzl.obj != NULL && check_index(bzl.buf, bzl.len / 8, 1, 0, P, "zero lifetime rows")))) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "counterfactual: bad lifetime arguments");
        goto done;
    }
    if (S < 1 || S > MAX_STATES || (S > 1 && n_others < 1) || a < 0 || m < 0 || a > n - m || H < 0 ||
        H > n_years || n_pay > n_paying || n_paying > P || n_years > 100000) {
        PyErr_SetString(PyExc_ValueError, "counterfactual: bad shapes");
        goto done;
    }
    if (check_chain(bterms.buf, n_terms, bmoves.buf, n_moves, bothers.buf, n_others, last, S, n_paying, P) ||
        check_index(bpay.buf, n_pay, 1, 0, P, "paying") ||
        check_index(bw.buf, W, 1, 0, on && with_rem ? n_pay : n_paying, "wanted")) /* paying[wanted[i]] is read */
        goto done;
    const Py_ssize_t W1 = W > 0 ? W : 1;
    /* the chunk's rows: n_years and H are bounded by the check above, every product and sum with the other sizes
     * (which only the buffers bound) is checked */
    Py_ssize_t words, part;
    if (__builtin_mul_overflow(W1, (Py_ssize_t)2, &part) || __builtin_add_overflow(part, n_paying, &part) ||
        __builtin_mul_overflow(n_years * CF_CHUNK, part, &words) ||
        __builtin_mul_overflow(P, (H + 1) * CF_CHUNK, &part) || __builtin_add_overflow(words, part, &words) ||
        __builtin_mul_overflow(2 * S + n_terms + n_moves, (Py_ssize_t)CHUNK, &part) ||
        __builtin_add_overflow(words, part, &words) ||
        __builtin_mul_overflow(W1, 2 * H * CF_CHUNK, &part) || __builtin_add_overflow(words, part, &words) ||
        __builtin_add_overflow(words, S * CF_CHUNK + n_years * CF_CHUNK + CF_CHUNK + (H * H * CF_CHUNK + 1) / 2 + 1,
                               &words) ||
        words > PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(double)) {
        PyErr_SetString(PyExc_ValueError, "counterfactual: sizes too large");
        goto done;
    }
    mem = PyMem_RawMalloc(words * sizeof(double));
    flags = PyMem_RawMalloc(2 * n_terms + 2 * n_paying + n_moves + S + 1);
    if (mem == NULL || flags == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const cf_life lv = {on, grow, with_rem, on && bl.len ? bl.buf : NULL, on && blp.len ? blp.buf : NULL,
                        on ? blr.buf : NULL, n_life, on ? by.buf : NULL,
                        on && bsu.obj != NULL && bsu.len != 0 ? bsu.buf : NULL,
                        on && bzs.obj ? bzs.buf : NULL, on && bzl.obj ? bzl.buf : NULL,
                        on && bzs.obj ? bzs.len / 8 : 0, on && bzl.obj ? bzl.len / 8 : 0};
    Py_BEGIN_ALLOW_THREADS
    counterfactual_core(bpi.buf, bU.buf, bT.buf, bterms.buf, btail.buf, n_terms, bmoves.buf, n_moves, last,
                        bothers.buf, n_others, S, P, n, a, m, H, n_years, n_paying, bf.buf, bact.buf, bpay.buf, n_pay,
                        bs.buf, bw.buf, W, bg.buf, bk.buf, bst.buf, bd.buf, W && !with_rem ? bF.buf : NULL,
                        W && with_pv && !with_rem ? bFp.buf : NULL, &lv, mem, flags);
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_RawFree(mem);
    PyMem_RawFree(flags);
    RELEASE(&bpi, &bU, &bT, &bterms, &btail, &bmoves, &bothers, &bf, &bact, &bpay, &bs, &bw, &bg, &bk, &bst, &bd, &bF,
            &bFp);
    Py_buffer *opt[] = {&bl, &blp, &blr, &by, &bsu, &bzs, &bzl};
    for (int i = 0; i < 7; i++)
        if (opt[i]->obj)
            PyBuffer_Release(opt[i]);
    return result;
}

/* The 16-bit edge of threshold t (survival sv): min(floor(65536 t), 65535), 0 for a negative or NaN t, which sets
 * *bad; *ones stays set while every survival is 1. */
static inline uint16_t edge_of(double t, double sv, int *ones, int *bad)
{
    *ones &= sv == 1.0;
    *bad |= !(t >= 0.0); /* NaN or negative */
    const double x = t * 65536.0; /* in [0, 65535) the truncation is the floor */
    return !(x >= 0.0) ? 0 : x < 65535.0 ? (uint16_t)(int64_t)x : 65535;
}

/* The edges alone: the survival kept as a running product in `run`, EDGE_CHUNK trials at a time (the same
 * products as youth_edges_core), instead of two (ages, n) arrays written that nothing reads. */
#define EDGE_CHUNK 512
WIDE static int youth_edges_only(const double *restrict q, const double *restrict keep, uint16_t *restrict edge,
                                 Py_ssize_t ages, Py_ssize_t n, double *restrict run)
{
    int bad = 0, ones = 1;
    for (Py_ssize_t j0 = 0; j0 < n; j0 += EDGE_CHUNK) {
        const Py_ssize_t J = n - j0 < EDGE_CHUNK ? n - j0 : EDGE_CHUNK;
        for (Py_ssize_t k = 0; k < ages; k++) {
            uint16_t *restrict ek = edge + k * n + j0;
            for (Py_ssize_t j = 0; j < J; j++) {
                const double sv = k == 0 || keep == NULL ? 1.0 : run[j] * keep[j0 + j];
                run[j] = sv;
                ek[j] = edge_of(q[j0 + j] * sv, sv, &ones, &bad);
            }
        }
    }
    return bad ? -1 : ones;
}

/* youth_edges: survive[0] = 1, survive[k] = survive[k - 1] * keep (1 without relapse); thr[k] = q * survive[k];
 * edge[k] = min(floor(65536 thr[k]), 65535) as 16-bit integers (engine._YouthDraws). Returns -1 if a threshold is
 * negative or NaN (the caller's NumPy code decides then), else whether every survival is 1. */
WIDE static int youth_edges_core(const double *restrict q, const double *restrict keep, double *restrict survive,
                                 double *restrict thr, uint16_t *restrict edge, Py_ssize_t ages, Py_ssize_t n)
{
    int bad = 0, ones = 1;
    for (Py_ssize_t k = 0; k < ages; k++) {
        double *restrict sk = survive + k * n, *restrict tk = thr + k * n;
        const double *restrict prev = k == 0 ? NULL : survive + (k - 1) * n;
        uint16_t *restrict ek = edge + k * n;
        for (Py_ssize_t j = 0; j < n; j++) {
            const double sv = prev == NULL || keep == NULL ? 1.0 : prev[j] * keep[j];
            const double t = q[j] * sv;
            sk[j] = sv;
            tk[j] = t;
            ek[j] = edge_of(t, sv, &ones, &bad);
        }
    }
    return bad ? -1 : ones;
}

static PyObject *youth_edges(PyObject *self, PyObject *args)
{
    Py_buffer bq, bk, bs, bt, be;
    int with_keep;
    Py_ssize_t ages, n;
    int with_st = 1;
    if (!PyArg_ParseTuple(args, "y*y*pw*w*w*nn|p", &bq, &bk, &with_keep, &bs, &bt, &be, &ages, &n, &with_st))
        return NULL;
    PyObject *result = NULL;
    double *run = NULL;
    if (ages < 1 || check_size(&bq, n, 8, "q") || (with_keep && check_size(&bk, n, 8, "keep")) ||
        check_size3(&bs, with_st ? ages : 0, n, 1, 8, "survive") ||
        check_size3(&bt, with_st ? ages : 0, n, 1, 8, "thresholds") || check_size3(&be, ages, n, 1, 2, "edge")) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "youth_edges: bad shapes");
        goto done;
    }
    if (!with_st && (run = PyMem_RawMalloc(EDGE_CHUNK * sizeof(double))) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = with_st ? youth_edges_core(bq.buf, with_keep ? bk.buf : NULL, bs.buf, bt.buf, be.buf, ages, n)
                : youth_edges_only(bq.buf, with_keep ? bk.buf : NULL, be.buf, ages, n, run);
    Py_END_ALLOW_THREADS
    result = PyLong_FromLong(r);
done:
    PyMem_RawFree(run);
    RELEASE(&bq, &bk, &bs, &bt, &be);
    return result;
}

/* tie_counts: the young people of tied cohorts compared with their full uniforms (engine._YouthDraws._resolve_ties).
 * Tie i is cohort c[i] (row g[i] of h), trial a + j[i]; young person y's uniform is
 * v = (h[g, y, a + j] + w[w_start[c] + y * ties[c] + pos[i]]) / 65536, and act[c, k, j] becomes the number of them
 * with v < thr[k, a + j], for the ages k < H - c. */
#define TIE_AGES 256
static int tie_counts_core(const uint16_t *restrict h, const int64_t *restrict g, const int64_t *restrict c,
                           const int64_t *restrict j, const int64_t *restrict pos, const double *restrict w,
                           const int64_t *restrict w_start, const int64_t *restrict ties, const double *restrict thr,
                           float *restrict act, Py_ssize_t T, Py_ssize_t G, Py_ssize_t size, Py_ssize_t n,
                           Py_ssize_t a, Py_ssize_t m, Py_ssize_t H, Py_ssize_t n_w)
{
    int64_t cnt[TIE_AGES];
    for (Py_ssize_t i = 0; i < T; i++) {
        const int64_t ci = c[i], gi = g[i], ji = j[i];
        int64_t last_w; /* the tie's last uniform: w_start + (size - 1) ties + pos, without overflow */
        if (ci < 0 || ci >= H || gi < 0 || gi >= G || ji < 0 || ji >= m || pos[i] < 0 || pos[i] >= ties[ci] ||
            w_start[ci] < 0 || __builtin_mul_overflow((int64_t)(size - 1), ties[ci], &last_w) ||
            __builtin_add_overflow(last_w, w_start[ci], &last_w) || __builtin_add_overflow(last_w, pos[i], &last_w) ||
            last_w >= n_w)
            return -1;
        const Py_ssize_t ages = H - ci;
        for (Py_ssize_t k = 0; k < ages; k++)
            cnt[k] = 0;
        for (Py_ssize_t y = 0; y < size; y++) {
            const double v = ((double)h[(gi * size + y) * n + a + ji] + w[w_start[ci] + y * ties[ci] + pos[i]]) /
                             65536.0;
            for (Py_ssize_t k = 0; k < ages; k++)
                cnt[k] += v < thr[k * n + a + ji];
        }
        for (Py_ssize_t k = 0; k < ages; k++)
            act[(ci * H + k) * m + ji] = (float)cnt[k];
    }
    return 0;
}

/* tie_counts(h, g, c, j, pos, w, w_start, ties, thr, act, size, n, a, m, H): see tie_counts_core. */
static PyObject *tie_counts(PyObject *self, PyObject *args)
{
    Py_buffer bh, bg, bc, bj, bp, bw, bs, bt, br, ba;
    Py_ssize_t size, n, a, m, H;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*y*w*nnnnn", &bh, &bg, &bc, &bj, &bp, &bw, &bs, &bt, &br, &ba, &size,
                          &n, &a, &m, &H))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t T = bg.len / 8, G = (size > 0 && n > 0) ? bh.len / 2 / size / n : 0;
    if (size < 1 || n < 1 || H < 1 || H > TIE_AGES || a < 0 || m < 0 || a > n - m ||
        check_size3(&bh, G, size, n, 2, "h") || check_size(&bg, T, 8, "g") || check_size(&bc, T, 8, "c") ||
        check_size(&bj, T, 8, "j") || check_size(&bp, T, 8, "pos") || check_size(&bs, H, 8, "w_start") ||
        check_size(&bt, H, 8, "ties") || check_size3(&br, H, n, 1, 8, "thresholds") ||
        check_size3(&ba, H, H, m, 4, "act")) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "tie_counts: bad shapes");
        goto done;
    }
    int bad;
    Py_BEGIN_ALLOW_THREADS
    bad = tie_counts_core(bh.buf, bg.buf, bc.buf, bj.buf, bp.buf, bw.buf, bs.buf, bt.buf, br.buf, ba.buf, T, G, size,
                          n, a, m, H, bw.len / 8);
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "tie_counts: an index outside its array");
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    RELEASE(&bh, &bg, &bc, &bj, &bp, &bw, &bs, &bt, &br, &ba);
    return result;
}

/* ---- Cheng's algorithm BB for Beta draws (kernels.beta_candidates) ----------------------------------------
 * The elementwise arithmetic of simulate.distributions.beta_draws, operation by operation in its order; the
 * logarithms and the exponential stay NumPy's (called between these kernels), so the draws are the same
 * numbers as the NumPy code's. */

/* ratio[i] = u1[i] / (1.0 - u1[i]) and z[i] = u1[i] * u1[i] * u2[i], for m uniforms u1 and m uniforms u2 */
WIDE static void cheng_prepare_core(const double *restrict u, const double *restrict u2, double *restrict ratio,
                                    double *restrict z, Py_ssize_t m)
{
    for (Py_ssize_t i = 0; i < m; i++) {
        ratio[i] = u[i] / (1.0 - u[i]);
        z[i] = u[i] * u[i] * u2[i];
    }
}

static PyObject *cheng_prepare(PyObject *self, PyObject *args)
{
    Py_buffer bu, bu2, br, bz;
    Py_ssize_t m;
    if (!PyArg_ParseTuple(args, "y*y*w*w*n", &bu, &bu2, &br, &bz, &m))
        return NULL;
    PyObject *result = NULL;
    if (check_size(&bu, m, 8, "u1") || check_size(&bu2, m, 8, "u2") || check_size(&br, m, 8, "ratio") ||
        check_size(&bz, m, 8, "z"))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    cheng_prepare_core(bu.buf, bu2.buf, br.buf, bz.buf, m);
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    RELEASE(&bu, &bu2, &br, &bz);
    return result;
}

/* With v = beta * log(ratio) and w = exp(v): w becomes lo * w, v becomes r = gamma * v - log 4, and
 * s = lo + r - w. A candidate with z > 0 is accepted at once (state 1) if s + 2.609438 >= 5 z; one with z > 0
 * that is not (state 2) needs t = log z and log(alpha / (hi + w)): its index, z and alpha / (hi + w) go to
 * idx, t and q, in order. Candidates with z > 0 false are rejected (state 0). Returns how many are pending. */
WIDE static Py_ssize_t cheng_screen_core(double *restrict v, double *restrict w, const double *restrict z,
                                         double *restrict s, uint8_t *restrict state, int64_t *restrict idx,
                                         double *restrict t, double *restrict q, double lo, double hi, double gamma,
                                         double alpha, double log4, Py_ssize_t m)
{
    for (Py_ssize_t i = 0; i < m; i++) { /* vectorised */
        const double wi = lo * w[i];
        const double r = gamma * v[i] - log4;
        const double si = lo + r - wi;
        w[i] = wi;
        v[i] = r;
        s[i] = si;
        state[i] = (uint8_t)((z[i] > 0.0) * (2 - (si + 2.609438 >= 5.0 * z[i]))); /* no branch */
    }
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < m; i++) { /* the pending ones, in order, without a branch */
        idx[k] = i;
        t[k] = z[i];
        k += state[i] == 2;
    }
    for (Py_ssize_t j = 0; j < k; j++)
        q[j] = alpha / (hi + w[idx[j]]);
    return k;
}

static PyObject *cheng_screen(PyObject *self, PyObject *args)
{
    Py_buffer bv, bw, bz, bs, bst, bi, bt, bq;
    double lo, hi, gamma, alpha, log4;
    Py_ssize_t m;
    if (!PyArg_ParseTuple(args, "w*w*y*w*w*w*w*w*dddddn", &bv, &bw, &bz, &bs, &bst, &bi, &bt, &bq, &lo, &hi, &gamma,
                          &alpha, &log4, &m))
        return NULL;
    PyObject *result = NULL;
    if (check_size(&bv, m, 8, "v") || check_size(&bw, m, 8, "w") || check_size(&bz, m, 8, "z") ||
        check_size(&bs, m, 8, "s") || check_size(&bst, m, 1, "state") || check_size(&bi, m, 8, "idx") ||
        check_size(&bt, m, 8, "t") || check_size(&bq, m, 8, "q"))
        goto done;
    Py_ssize_t k;
    Py_BEGIN_ALLOW_THREADS
    k = cheng_screen_core(bv.buf, bw.buf, bz.buf, bs.buf, bst.buf, bi.buf, bt.buf, bq.buf, lo, hi, gamma, alpha, log4,
                          m);
    Py_END_ALLOW_THREADS
    result = PyLong_FromSsize_t(k);
done:
    RELEASE(&bv, &bw, &bz, &bs, &bst, &bi, &bt, &bq);
    return result;
}

/* The pending candidates (t = log z, q = log(alpha / (hi + w))) are accepted if s > t or r + alpha * q >= t;
 * then the accepted candidates' w / (hi + w), in order, fill out[0 ..] up to `want` values. r (in v) is
 * overwritten. Returns how many were accepted (all of them: more than `want` were if it is larger). */
WIDE static Py_ssize_t cheng_take_core(const double *restrict w, double *restrict v, const double *restrict s,
                                       uint8_t *restrict state, const int64_t *restrict idx, const double *restrict t,
                                       const double *restrict q, double alpha, double hi, double *restrict out,
                                       Py_ssize_t want, Py_ssize_t k, Py_ssize_t m)
{
    for (Py_ssize_t j = 0; j < k; j++) {
        const Py_ssize_t i = idx[j];
        state[i] = (uint8_t)((s[i] > t[j]) | (v[i] + alpha * q[j] >= t[j]));
    }
    Py_ssize_t c = 0;
    double *restrict x = v; /* the accepted w, in order, without a branch */
    for (Py_ssize_t i = 0; i < m; i++) {
        x[c] = w[i];
        c += state[i] == 1;
    }
    const Py_ssize_t written = c < want ? c : want;
    for (Py_ssize_t j = 0; j < written; j++) /* vectorised */
        out[j] = x[j] / (hi + x[j]);
    return c;
}

static PyObject *cheng_take(PyObject *self, PyObject *args)
{
    Py_buffer bw, bv, bs, bst, bi, bt, bq, bo;
    double alpha, hi;
    Py_ssize_t want, k, m;
    if (!PyArg_ParseTuple(args, "y*w*y*w*y*y*y*w*ddnnn", &bw, &bv, &bs, &bst, &bi, &bt, &bq, &bo, &alpha, &hi, &want,
                          &k, &m))
        return NULL;
    PyObject *result = NULL;
    if (check_size(&bw, m, 8, "w") || check_size(&bv, m, 8, "v") || check_size(&bs, m, 8, "s") ||
        check_size(&bst, m, 1, "state") || check_size(&bi, m, 8, "idx") || check_size(&bt, m, 8, "t") ||
        check_size(&bq, m, 8, "q") || k < 0 || k > m || want < 0 || want > bo.len / 8 ||
        check_index(bi.buf, k, 1, 0, m, "idx")) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "cheng_take: bad shapes");
        goto done;
    }
    Py_ssize_t c;
    Py_BEGIN_ALLOW_THREADS
    c = cheng_take_core(bw.buf, bv.buf, bs.buf, bst.buf, bi.buf, bt.buf, bq.buf, alpha, hi, bo.buf, want, k, m);
    Py_END_ALLOW_THREADS
    result = PyLong_FromSsize_t(c);
done:
    RELEASE(&bw, &bv, &bs, &bst, &bi, &bt, &bq, &bo);
    return result;
}

/* ---- NumPy's PCG64 stream (simulate.kernels.random_raw, random) ------------------------------------------
 * The same 64-bit words as numpy.random.PCG64 (PCG XSL RR 128/64: the 128-bit state is advanced, state =
 * state * MULT + inc, then the word is made of the new state), and the same doubles as Generator.random
 * ((word >> 11) * 2**-53), from the state NumPy's generator holds. Four states are advanced side by side
 * (four steps at a time, by the multiplier and increment of four steps): the same sequence of states, in
 * a quarter of the dependent multiplications. NumPy calls a function per word; this loop runs about twice
 * as fast. */
#if defined(__SIZEOF_INT128__)
typedef unsigned __int128 u128;
#define PCG_MULT ((((u128)2549297995355413924ULL) << 64) | (u128)4865540595714422341ULL)

static inline uint64_t pcg_word(u128 s)
{
    const uint64_t x = (uint64_t)(s >> 64) ^ (uint64_t)s;
    const unsigned r = (unsigned)(s >> 122);
    return (x >> r) | (x << ((-r) & 63u));
}

static inline double pcg_double(uint64_t w) { return (double)(w >> 11) * (1.0 / 9007199254740992.0); }

/* out[0 .. n - 1]: the next n words (as_double: doubles) of the stream at *state; *state: its state after them */
WIDE static void pcg_fill(u128 *restrict state, u128 inc, void *restrict out, Py_ssize_t n, int as_double)
{
    u128 s = *state;
    Py_ssize_t i = 0;
    uint64_t *restrict wo = out;
    double *restrict dout = out;
    if (n >= 16 && !as_double) { /* words: eight states side by side, each stepped eight at a time (s * M^8 + C8;
                                 * the multiplications of four states leave the multiplier idle between them) */
        const u128 m2 = PCG_MULT * PCG_MULT, m4 = m2 * m2, m8 = m4 * m4, c2 = inc * PCG_MULT + inc, c4 = c2 * m2 + c2,
                   c8 = c4 * m4 + c4;
        u128 st[8];
        st[0] = s * PCG_MULT + inc;
        for (int k = 1; k < 8; k++)
            st[k] = st[k - 1] * PCG_MULT + inc;
        for (; i + 8 <= n; i += 8) {
            uint64_t w[8];
            for (int k = 0; k < 8; k++)
                w[k] = pcg_word(st[k]);
            for (int k = 0; k < 8; k++)
                wo[i + k] = w[k];
            s = st[7];
            for (int k = 0; k < 8; k++)
                st[k] = st[k] * m8 + c8;
        }
    }
    else if (n >= 8) { /* doubles: four states, each stepped four at a time */
        const u128 m2 = PCG_MULT * PCG_MULT, m4 = m2 * m2, c2 = inc * PCG_MULT + inc, c4 = c2 * m2 + c2;
        u128 a = s * PCG_MULT + inc, b = a * PCG_MULT + inc, c = b * PCG_MULT + inc, d = c * PCG_MULT + inc;
        for (; i + 4 <= n; i += 4) {
            const uint64_t w0 = pcg_word(a), w1 = pcg_word(b), w2 = pcg_word(c), w3 = pcg_word(d);
            if (as_double) {
                dout[i] = pcg_double(w0);
                dout[i + 1] = pcg_double(w1);
                dout[i + 2] = pcg_double(w2);
                dout[i + 3] = pcg_double(w3);
            }
            else {
                wo[i] = w0;
                wo[i + 1] = w1;
                wo[i + 2] = w2;
                wo[i + 3] = w3;
            }
            s = d;
            a = a * m4 + c4;
            b = b * m4 + c4;
            c = c * m4 + c4;
            d = d * m4 + c4;
        }
    }
    for (; i < n; i++) {
        s = s * PCG_MULT + inc;
        if (as_double)
            dout[i] = pcg_double(pcg_word(s));
        else
            wo[i] = pcg_word(s);
    }
    *state = s;
}

/* pcg64_fill(out, n, as_double, state_hi, state_lo, inc_hi, inc_lo) -> (state_hi, state_lo) after n words */
static PyObject *pcg64_fill(PyObject *self, PyObject *args)
{
    Py_buffer bo;
    Py_ssize_t n;
    int as_double;
    unsigned long long sh, sl, ih, il;
    if (!PyArg_ParseTuple(args, "w*npKKKK", &bo, &n, &as_double, &sh, &sl, &ih, &il))
        return NULL;
    PyObject *result = NULL;
    if (check_size(&bo, n, 8, "out"))
        goto done;
    u128 state = ((u128)sh << 64) | sl;
    const u128 inc = ((u128)ih << 64) | il;
    Py_BEGIN_ALLOW_THREADS
    pcg_fill(&state, inc, bo.buf, n, as_double);
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("KK", (unsigned long long)(state >> 64), (unsigned long long)state);
done:
    RELEASE(&bo);
    return result;
}
#endif

/* ---- the claims reached (simulate.metrics._claims_hits) -----------------------------------------------------
 * For one payer's yearly savings and cost (H, n): per claim c (kind 0 cumulative net, 1 ROI, 2 break-even
 * successes; year[c] >= 1; threshold thr[c]), the trials whose cumulative figure at its year reaches it, with
 * the cumulative sums 0.0 + flow[0] + flow[1] + ... in order, and each test as metrics._reached_claim does it:
 * net: sav - cost >= thr; ROI: clip(sav / cost - 1, +-DBL_MAX) >= thr and cost > 0 (a NaN never reaches);
 * break-even: avg[c] * cost / sav <= thr and sav > 0, avg[c] the claim's average successes (one row per claim).
 * Without trapping math (so that the selects are vectorised): every operation is done, none is dropped. */
#define CLAIM_CHUNK 512

__attribute__((optimize("no-trapping-math"))) WIDE static void claim_hits_core(const double *restrict sav, const double *restrict cost, const int64_t *restrict kind,
                                 const int64_t *restrict year, const double *restrict thr, const double *restrict avg,
                                 int64_t *restrict hits, Py_ssize_t k, Py_ssize_t H, Py_ssize_t n, Py_ssize_t T,
                                 double *restrict cs, double *restrict cc)
{
    for (Py_ssize_t c = 0; c < k; c++)
        hits[c] = 0;
    for (Py_ssize_t j0 = 0; j0 < n; j0 += CLAIM_CHUNK) {
        const Py_ssize_t J = n - j0 < CLAIM_CHUNK ? n - j0 : CLAIM_CHUNK;
        for (Py_ssize_t t = 1; t <= T; t++) {
            const double *restrict sv = sav + (t - 1) * n + j0, *restrict cv = cost + (t - 1) * n + j0;
            if (t == 1)
                for (Py_ssize_t j = 0; j < J; j++) {
                    cs[j] = 0.0 + sv[j];
                    cc[j] = 0.0 + cv[j];
                }
            else
                for (Py_ssize_t j = 0; j < J; j++) {
                    cs[j] = cs[j] + sv[j];
                    cc[j] = cc[j] + cv[j];
                }
            for (Py_ssize_t c = 0; c < k; c++) {
                if (year[c] != t)
                    continue;
                const double th = thr[c];
                int64_t h = 0;
                if (kind[c] == 0)
                    for (Py_ssize_t j = 0; j < J; j++)
                        h += cs[j] - cc[j] >= th;
                else if (kind[c] == 1)
                    for (Py_ssize_t j = 0; j < J; j++) {
                        double r = cs[j] / cc[j];
                        r -= 1.0;
                        r = r > DBL_MAX ? DBL_MAX : (r < -DBL_MAX ? -DBL_MAX : r);
                        h += (r >= th) & (cc[j] > 0.0);
                    }
                else {
                    const double *restrict a = avg + c * n + j0;
                    for (Py_ssize_t j = 0; j < J; j++) {
                        double b = a[j];
                        b *= cc[j];
                        b /= cs[j];
                        h += (b <= th) & (cs[j] > 0.0);
                    }
                }
                hits[c] += h;
            }
        }
    }
}

/* claim_hits(sav, cost, kind, year, thr, avg, hits, k, H, n): see claim_hits_core (avg: k rows of n, read for the
 * break-even claims only) */
static PyObject *claim_hits(PyObject *self, PyObject *args)
{
    Py_buffer bs, bc, bk, by, bt, ba, bh;
    Py_ssize_t k, H, n;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*w*nnn", &bs, &bc, &bk, &by, &bt, &ba, &bh, &k, &H, &n))
        return NULL;
    PyObject *result = NULL;
    double *mem = NULL;
    Py_ssize_t T = 0;
    if (check_size3(&bs, H, n, 1, 8, "sav") || check_size3(&bc, H, n, 1, 8, "cost") || check_size(&bk, k, 8, "kind") ||
        check_size(&by, k, 8, "year") || check_size(&bt, k, 8, "thr") || check_size3(&ba, k, n, 1, 8, "avg") ||
        check_size(&bh, k, 8, "hits"))
        goto done;
    for (Py_ssize_t c = 0; c < k; c++) {
        const int64_t y = ((const int64_t *)by.buf)[c], kd = ((const int64_t *)bk.buf)[c];
        if (y < 1 || y > H || kd < 0 || kd > 2) {
            PyErr_SetString(PyExc_ValueError, "claim_hits: a claim's year lies outside 1 .. H or its kind outside 0 .. 2");
            goto done;
        }
        T = y > T ? y : T;
    }
    mem = PyMem_RawMalloc(2 * CLAIM_CHUNK * sizeof(double));
    if (mem == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    claim_hits_core(bs.buf, bc.buf, bk.buf, by.buf, bt.buf, ba.buf, bh.buf, k, H, n, T, mem, mem + CLAIM_CHUNK);
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_RawFree(mem);
    RELEASE(&bs, &bc, &bk, &by, &bt, &ba, &bh);
    return result;
}

/* ---- seed sequences (kernels.seed_sequence) -------------------------------------------------------------------
 * NumPy's SeedSequence (numpy/random/bit_generator.pyx, after M. E. O'Neill's seed_seq alternative) with its default
 * pool of four 32-bit words: the assembled entropy hashed and mixed into the pool, then the state words hashed out
 * of it, the same integer operations in the same order. */
#define SEED_POOL 4
static const uint32_t SEED_INIT_A = 0x43b0d7e5, SEED_MULT_A = 0x931e8875, SEED_INIT_B = 0x8b51f9dd,
                      SEED_MULT_B = 0x58f38ded, SEED_MIX_L = 0xca01f9dd, SEED_MIX_R = 0x4973f715;

static inline uint32_t seed_hashmix(uint32_t value, uint32_t *hash_const)
{
    value ^= *hash_const;
    *hash_const *= SEED_MULT_A;
    value *= *hash_const;
    return value ^ (value >> 16);
}

static inline uint32_t seed_mix(uint32_t x, uint32_t y)
{
    const uint32_t result = SEED_MIX_L * x - SEED_MIX_R * y;
    return result ^ (result >> 16);
}

/* seed_state(entropy, out, n_in, n_out): out[0 .. n_out - 1] = SeedSequence.generate_state(n_out) (uint32) of the
 * assembled entropy words entropy[0 .. n_in - 1] (uint32). */
static PyObject *seed_state(PyObject *self, PyObject *args)
{
    Py_buffer be, bo;
    Py_ssize_t n_in, n_out;
    if (!PyArg_ParseTuple(args, "y*w*nn", &be, &bo, &n_in, &n_out))
        return NULL;
    PyObject *result = NULL;
    if (n_in < 0 || n_out < 0 || check_size(&be, n_in, 4, "entropy") || check_size(&bo, n_out, 4, "out")) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "seed_state: bad sizes");
        goto done;
    }
    const uint32_t *w = be.buf;
    uint32_t *out = bo.buf, pool[SEED_POOL], hc = SEED_INIT_A;
    for (Py_ssize_t i = 0; i < SEED_POOL; i++) /* the entropy up to the pool's size (zeros past its end) */
        pool[i] = seed_hashmix(i < n_in ? w[i] : 0, &hc);
    for (Py_ssize_t src = 0; src < SEED_POOL; src++) /* every word into every other, in place */
        for (Py_ssize_t dst = 0; dst < SEED_POOL; dst++)
            if (src != dst)
                pool[dst] = seed_mix(pool[dst], seed_hashmix(pool[src], &hc));
    for (Py_ssize_t src = SEED_POOL; src < n_in; src++) /* the rest of the entropy into each word */
        for (Py_ssize_t dst = 0; dst < SEED_POOL; dst++)
            pool[dst] = seed_mix(pool[dst], seed_hashmix(w[src], &hc));
    hc = SEED_INIT_B;
    for (Py_ssize_t i = 0; i < n_out; i++) {
        uint32_t v = pool[i % SEED_POOL] ^ hc;
        hc *= SEED_MULT_B;
        v *= hc;
        out[i] = v ^ (v >> 16);
    }
    result = Py_None;
    Py_INCREF(result);
done:
    RELEASE(&be, &bo);
    return result;
}

/* ---- the programme's cost (kernels.cost_rows) ------------------------------------------------------------------
 * out[p, y, j] = (made[path[y], j] * growth[y]) * share[p] for the payers with a share (share[p] != 0; the other
 * rows are left as they are): the NumPy code's two products, in its order, without its array of each year's
 * gross cost. */
WIDE static void cost_rows_core(const double *restrict made, const int64_t *restrict path,
                                const double *restrict growth, const double *restrict share, double *restrict out,
                                Py_ssize_t P, Py_ssize_t H, Py_ssize_t n)
{
    for (Py_ssize_t p = 0; p < P; p++) {
        if (share[p] == 0.0)
            continue;
        const double sh = share[p];
        for (Py_ssize_t y = 0; y < H; y++) {
            const double *restrict m = made + path[y] * n;
            const double g = growth[y];
            double *restrict o = out + (p * H + y) * n;
            for (Py_ssize_t j = 0; j < n; j++)
                o[j] = (m[j] * g) * sh;
        }
    }
}

static PyObject *cost_rows(PyObject *self, PyObject *args)
{
    Py_buffer bm, bp, bg, bs, bo;
    Py_ssize_t k, P, H, n;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*nnnn", &bm, &bp, &bg, &bs, &bo, &k, &P, &H, &n))
        return NULL;
    PyObject *result = NULL;
    if (k < 0 || (k == 0 && H > 0) || P < 0 || H < 0 || n < 0 || check_size3(&bm, k, n, 1, 8, "made") || check_size(&bp, H, 8, "path") ||
        check_size(&bg, H, 8, "growth") || check_size(&bs, P, 8, "share") || check_size3(&bo, P, H, n, 8, "out") ||
        check_index(bp.buf, H, 1, 0, k, "path")) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "cost_rows: bad shapes");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    cost_rows_core(bm.buf, bp.buf, bg.buf, bs.buf, bo.buf, P, H, n);
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    RELEASE(&bm, &bp, &bg, &bs, &bo);
    return result;
}

/* ---- histograms moved to a coarser or shifted grid (simulate.metrics.Histogram.merge) -------------------------
 * rebin(src, dst, src_level, src_offset, dst_level, dst_offset, rows, n_bins, add): row r of src, on the dyadic
 * grid (src_level[r], src_offset[r]), moved to the grid (dst_level[r], dst_offset[r]), which must be as coarse:
 * bin i's count goes to bin ((src_offset + i) >> (dst_level - src_level)) - dst_offset (an arithmetic shift: the
 * floor, as NumPy's >>). With add, it is added to dst's counts; without, dst's row becomes it (src and dst may
 * then be the same array). Returns the first row that does not fit (a finer grid, or a count that would land
 * outside 0 .. n_bins - 1, levels or offsets out of range), checked before anything is changed, or -1; integer
 * counts, so the same counts in any order. */
#define REBIN_OFFSET_MAX ((int64_t)1 << 60) /* grids keep |offset| below 2**52; this keeps the sums exact */

/* The first row of rebin_core that does not fit (or -1), checked before anything is changed: the levels' order
 * and distance, the offsets' size, and where the lowest and highest non-empty bins land (the mapping is
 * monotone, so the others land between them). */
static Py_ssize_t rebin_check(const int64_t *src, const int64_t *restrict src_level,
                              const int64_t *restrict src_offset, const int64_t *restrict dst_level,
                              const int64_t *restrict dst_offset, Py_ssize_t rows, Py_ssize_t n_bins)
{
    for (Py_ssize_t r = 0; r < rows; r++) {
        const int64_t *s = src + r * n_bins, so = src_offset[r], dof = dst_offset[r];
        if (dst_level[r] < src_level[r] || (uint64_t)dst_level[r] - (uint64_t)src_level[r] > 62 ||
            so < -REBIN_OFFSET_MAX || so > REBIN_OFFSET_MAX || dof < -REBIN_OFFSET_MAX || dof > REBIN_OFFSET_MAX)
            return r;
        const int64_t shift = dst_level[r] - src_level[r];
        Py_ssize_t lo = 0, hi = n_bins - 1;
        while (lo < n_bins && s[lo] == 0)
            lo++;
        while (hi > lo && s[hi] == 0)
            hi--;
        if (lo == n_bins)
            continue;
        const int64_t jl = ((so + (int64_t)lo) >> shift) - dof, jh = ((so + (int64_t)hi) >> shift) - dof;
        if (jl < 0 || jh >= n_bins)
            return r;
    }
    return -1;
}

static void rebin_core(const int64_t *src, int64_t *dst, const int64_t *restrict src_level,
                       const int64_t *restrict src_offset, const int64_t *restrict dst_level,
                       const int64_t *restrict dst_offset, Py_ssize_t rows, Py_ssize_t n_bins, int add,
                       int64_t *restrict tmp)
{
    for (Py_ssize_t r = 0; r < rows; r++) {
        const int64_t *s = src + r * n_bins;
        int64_t *d = dst + r * n_bins;
        const int64_t shift = dst_level[r] - src_level[r], so = src_offset[r], dof = dst_offset[r];
        if (shift == 0 && so == dof) { /* the same grid */
            if (add)
                for (Py_ssize_t i = 0; i < n_bins; i++)
                    d[i] += s[i];
            else if (d != s)
                memmove(d, s, n_bins * sizeof(int64_t));
            continue;
        }
        int64_t *out = add ? d : tmp;
        if (!add)
            memset(tmp, 0, n_bins * sizeof(int64_t));
        for (Py_ssize_t i = 0; i < n_bins; i++)
            if (s[i] != 0) /* inside the grid: rebin_check */
                out[((so + (int64_t)i) >> shift) - dof] += s[i];
        if (!add)
            memcpy(d, tmp, n_bins * sizeof(int64_t));
    }
}

static PyObject *rebin(PyObject *self, PyObject *args)
{
    Py_buffer bs, bd, bsl, bso, bdl, bdo;
    Py_ssize_t rows, n_bins;
    int add;
    if (!PyArg_ParseTuple(args, "y*w*y*y*y*y*nnp", &bs, &bd, &bsl, &bso, &bdl, &bdo, &rows, &n_bins, &add))
        return NULL;
    PyObject *result = NULL;
    int64_t *tmp = NULL;
    if (rows < 0 || n_bins < 1 || check_size3(&bs, rows, n_bins, 1, 8, "src") ||
        check_size3(&bd, rows, n_bins, 1, 8, "dst") || check_size(&bsl, rows, 8, "src_level") ||
        check_size(&bso, rows, 8, "src_offset") || check_size(&bdl, rows, 8, "dst_level") ||
        check_size(&bdo, rows, 8, "dst_offset")) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "rebin: bad shapes");
        goto done;
    }
    const char *s0 = bs.buf, *d0 = bd.buf;
    const size_t size = (size_t)rows * (size_t)n_bins * sizeof(int64_t);
    if ((add && s0 == d0) || (s0 != d0 && s0 < d0 + size && d0 < s0 + size)) { /* in place: the same array only */
        PyErr_SetString(PyExc_ValueError, "rebin: the counts overlap the destination");
        goto done;
    }
    tmp = PyMem_RawMalloc(n_bins * sizeof(int64_t));
    if (tmp == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t bad;
    Py_BEGIN_ALLOW_THREADS
    bad = rebin_check(bs.buf, bsl.buf, bso.buf, bdl.buf, bdo.buf, rows, n_bins);
    if (bad < 0)
        rebin_core(bs.buf, bd.buf, bsl.buf, bso.buf, bdl.buf, bdo.buf, rows, n_bins, add, tmp);
    Py_END_ALLOW_THREADS
    if (bad >= 0) {
        PyErr_Format(PyExc_ValueError, "rebin: row %zd does not fit its new grid", bad);
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_RawFree(tmp);
    RELEASE(&bs, &bd, &bsl, &bso, &bdl, &bdo);
    return result;
}

/* wide_bins(flag): use the AVX2 bin index where the processor has it (1) or the plain one (0); returns whether
 * it was in use. For tests: both must give the same counts and refuse the same values. */
static PyObject *wide_bins(PyObject *self, PyObject *args)
{
    int flag;
    if (!PyArg_ParseTuple(args, "p", &flag))
        return NULL;
    const int was = bin_index != bin_index_plain;
    bin_index = bin_index_plain;
    bin_leaf = bin_leaf_plain;
    stats_leaf = stats_leaf_plain;
#if defined(HAVE_AVX2_PATH)
    if (flag && __builtin_cpu_supports("avx2"))
        bin_index = bin_index_avx2, bin_leaf = bin_leaf_avx2, stats_leaf = stats_leaf_avx2;
#endif
    return PyBool_FromLong(was);
}

static PyMethodDef methods[] = {
    {"wide_bins", wide_bins, METH_VARARGS, "Use the AVX2 bin index where available (for tests)."},
    {"bin_add", bin_add, METH_VARARGS, "Add values to histogram counts on dyadic grids (count below thresholds, sum squared deviations)."},
    {"row_stats", row_stats, METH_VARARGS, "Minimum, maximum and mean of each row, in one pass."},
    {"first_pass", first_pass, METH_VARARGS, "A block's nets, series statistics and flow sums, in one pass."},
    {"nets", nets, METH_VARARGS, "A block's cumulative nets (and the budget's yearly nets, need and worst year)."},
    {"flow_sums", flow_sums, METH_VARARGS, "A block's savings and cost sums and its ROI sums, in one pass."},
    {"count_below", count_below, METH_VARARGS, "Count values below (or at most) each threshold, per row."},
    {"expected_unit", expected_unit, METH_VARARGS, "Expected saving of a success at each age (engine)."},
    {"remaining", remaining, METH_VARARGS, "Expected savings still to come after each year (engine)."},
    {"tail_sums", tail_sums, METH_VARARGS, "Expected savings after each age of a success active then."},
    {"youth_counts", youth_counts, METH_VARARGS, "Young people still active, by cohort and age."},
    {"cohort_savings", cohort_savings, METH_VARARGS, "Savings by year from the cohorts' active counts."},
    {"counterfactual", counterfactual, METH_VARARGS, "A slice's expected savings by age, cohort savings and tail sums, chunk by chunk."},
    {"youth_edges", youth_edges, METH_VARARGS, "Survival, thresholds and 16-bit edges by age (engine)."},
    {"tie_counts", tie_counts, METH_VARARGS, "Tied young people compared with their full uniforms (engine)."},
    {"cheng_prepare", cheng_prepare, METH_VARARGS, "Cheng BB: the candidates' ratio and z (Beta draws)."},
    {"cheng_screen", cheng_screen, METH_VARARGS, "Cheng BB: the quick acceptance test (Beta draws)."},
    {"cheng_take", cheng_take, METH_VARARGS, "Cheng BB: the full test and the accepted draws, in order."},
    {"claim_hits", claim_hits, METH_VARARGS, "The trials that reach each of a payer's claims."},
    {"cost_rows", cost_rows, METH_VARARGS, "The programme's cost per payer and year (engine)."},
    {"rebin", rebin, METH_VARARGS, "Histogram counts moved to a coarser or shifted dyadic grid (or added there)."},
    {"seed_state", seed_state, METH_VARARGS, "State words of NumPy's SeedSequence from its assembled entropy."},
#if defined(__SIZEOF_INT128__)
    {"pcg64_fill", pcg64_fill, METH_VARARGS, "Words or doubles of NumPy's PCG64 stream, from its state."},
#endif
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", NULL, -1, methods};

PyMODINIT_FUNC PyInit__kernels(void)
{
#if defined(HAVE_AVX2_PATH)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        bin_index = bin_index_avx2, bin_leaf = bin_leaf_avx2, stats_leaf = stats_leaf_avx2;
#endif
    return PyModule_Create(&module);
}
