/* Compiled kernels for the hot loops of a run: the same numbers as the NumPy code in simulate/kernels.py.
 *
 * Every kernel is either integer counting (exact in any order) or elementwise floating-point arithmetic
 * done in the same order, operation by operation, as its NumPy fallback (built with -ffp-contract=off,
 * so no fused multiply-add changes a rounding). Results are therefore identical, bit for bit, whether
 * this module was built or not; it only saves passes over memory.
 *
 * Arrays arrive through the buffer protocol (C-contiguous, dtypes checked by the Python wrappers), so the
 * module needs no NumPy headers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static int check_size(Py_buffer *b, Py_ssize_t items, Py_ssize_t itemsize, const char *name)
{
    if (b->len != items * itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: buffer of %zd bytes, expected %zd", name, b->len, items * itemsize);
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

/* counts[r, floor(x[r, i] * scale[r]) - offset[r]] += 1; returns the first row with a value off its grid, or -1.
 * NumPy computes floor(x * scale) - offset in float64; both are integers below 2**50 there, so the
 * integer difference here is the same number. */
static Py_ssize_t bin_add_core(const double *restrict x, const double *restrict scale, const int64_t *restrict offset,
                               int64_t *restrict counts, Py_ssize_t rows, Py_ssize_t n, Py_ssize_t n_bins)
{
    for (Py_ssize_t r = 0; r < rows; r++) {
        const double *row = x + r * n;
        const double s = scale[r];
        const int64_t off = offset[r];
        int64_t *c = counts + r * n_bins;
        for (Py_ssize_t i = 0; i < n; i++) {
            double a = row[i] * s;
            if (!(fabs(a) < 4611686018427387904.0)) /* 2**62; also NaN */
                return r;
            int64_t k = floor_i64(a) - off;
            if ((uint64_t)k >= (uint64_t)n_bins)
                return r;
            c[k] += 1;
        }
    }
    return -1;
}

#if defined(__SSE2__)
/* #{i : row[i] < t} (or <=): compare two doubles at a time, subtract the all-ones masks from two int64 lanes. */
static int64_t count_row(const double *restrict row, Py_ssize_t n, double t, int inclusive)
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
static int64_t count_row(const double *restrict row, Py_ssize_t n, double t, int inclusive)
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

static void count_below_core(const double *restrict x, const double *restrict t, int64_t *restrict out,
                             Py_ssize_t rows, Py_ssize_t n, Py_ssize_t k, int inclusive)
{
    for (Py_ssize_t r = 0; r < rows; r++)
        for (Py_ssize_t j = 0; j < k; j++)
            out[r * k + j] = count_row(x + r * n, n, t[j], inclusive);
}

/* seen[i]: all ones once trial i has reached the level (a 64-bit mask, so that SSE2 can OR and count it). */
static void reached_core(const double *restrict x, double tol, int64_t *restrict nonneg, int64_t *restrict by_year,
                         int64_t *restrict seen, Py_ssize_t groups, Py_ssize_t years, Py_ssize_t n)
{
    for (Py_ssize_t g = 0; g < groups; g++) {
        memset(seen, 0, n * sizeof(int64_t));
        for (Py_ssize_t t = 0; t < years; t++) {
            const double *restrict row = x + (g * years + t) * n;
            int64_t a = 0, b = 0;
            Py_ssize_t i = 0;
#if defined(__SSE2__)
            const __m128d tv = _mm_set1_pd(tol);
            __m128i acc_a = _mm_setzero_si128(), acc_b = _mm_setzero_si128();
            for (; i + 2 <= n; i += 2) {
                __m128i hit = _mm_castpd_si128(_mm_cmpge_pd(_mm_loadu_pd(row + i), tv));
                __m128i s = _mm_or_si128(_mm_loadu_si128((const __m128i *)(seen + i)), hit);
                _mm_storeu_si128((__m128i *)(seen + i), s);
                acc_a = _mm_sub_epi64(acc_a, hit);
                acc_b = _mm_sub_epi64(acc_b, s);
            }
            int64_t la[2], lb[2];
            _mm_storeu_si128((__m128i *)la, acc_a);
            _mm_storeu_si128((__m128i *)lb, acc_b);
            a = la[0] + la[1];
            b = lb[0] + lb[1];
#endif
            for (; i < n; i++) {
                int64_t hit = -(int64_t)(row[i] >= tol);
                seen[i] |= hit;
                a -= hit;
                b -= seen[i];
            }
            nonneg[g * years + t] = a;
            by_year[g * years + t] = b;
        }
    }
}

/* bin_add(x, scale, offset, counts, rows, n, n_bins): counts[r, floor(x[r, i] * scale[r]) - offset[r]] += 1. */
static PyObject *bin_add(PyObject *self, PyObject *args)
{
    Py_buffer bx, bs, bo, bc;
    Py_ssize_t rows, n, n_bins;
    if (!PyArg_ParseTuple(args, "y*y*y*w*nnn", &bx, &bs, &bo, &bc, &rows, &n, &n_bins))
        return NULL;
    PyObject *result = NULL;
    if (check_size(&bx, rows * n, 8, "x") || check_size(&bs, rows, 8, "scale") ||
        check_size(&bo, rows, 8, "offset") || check_size(&bc, rows * n_bins, 8, "counts"))
        goto done;
    const double *x = bx.buf, *scale = bs.buf;
    const int64_t *offset = bo.buf;
    int64_t *counts = bc.buf;
    Py_ssize_t bad;
    Py_BEGIN_ALLOW_THREADS
    bad = bin_add_core(x, scale, offset, counts, rows, n, n_bins);
    Py_END_ALLOW_THREADS
    if (bad >= 0) {
        PyErr_Format(PyExc_ValueError, "bin_add: a value of row %zd lies outside its grid", bad);
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&bx);
    PyBuffer_Release(&bs);
    PyBuffer_Release(&bo);
    PyBuffer_Release(&bc);
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
    if (check_size(&bx, rows * n, 8, "x") || check_size(&bt, k, 8, "thresholds") ||
        check_size(&bout, rows * k, 8, "out"))
        goto done;
    const double *x = bx.buf, *t = bt.buf;
    int64_t *out = bout.buf;
    Py_BEGIN_ALLOW_THREADS
    count_below_core(x, t, out, rows, n, k, inclusive);
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&bx);
    PyBuffer_Release(&bt);
    PyBuffer_Release(&bout);
    return result;
}

/* reached(x, tol, nonneg, by_year, groups, years, n): for each group g of `years` rows,
 * nonneg[g, t] = #{i : x[g, t, i] >= tol} and by_year[g, t] = #{i : x[g, s, i] >= tol for some s <= t}. */
static PyObject *reached(PyObject *self, PyObject *args)
{
    Py_buffer bx, bnn, bby;
    double tol;
    Py_ssize_t groups, years, n;
    if (!PyArg_ParseTuple(args, "y*dw*w*nnn", &bx, &tol, &bnn, &bby, &groups, &years, &n))
        return NULL;
    PyObject *result = NULL;
    int64_t *seen = NULL;
    if (check_size(&bx, groups * years * n, 8, "x") || check_size(&bnn, groups * years, 8, "nonneg") ||
        check_size(&bby, groups * years, 8, "by_year"))
        goto done;
    seen = PyMem_RawMalloc((n > 0 ? n : 1) * sizeof(int64_t));
    if (seen == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const double *x = bx.buf;
    int64_t *nonneg = bnn.buf, *by_year = bby.buf;
    Py_BEGIN_ALLOW_THREADS
    reached_core(x, tol, nonneg, by_year, seen, groups, years, n);
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_RawFree(seen);
    PyBuffer_Release(&bx);
    PyBuffer_Release(&bnn);
    PyBuffer_Release(&bby);
    return result;
}

static PyMethodDef methods[] = {
    {"bin_add", bin_add, METH_VARARGS, "Add values to histogram counts on dyadic grids."},
    {"count_below", count_below, METH_VARARGS, "Count values below (or at most) each threshold, per row."},
    {"reached", reached, METH_VARARGS, "Count values at or above a level, per year and by year."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", NULL, -1, methods};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
