// Binariser numerics: training in double with BLAS/LAPACK, encoding, and the file format.
#include "binary/binarize_train.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <system_error>
#include <utility>

#include "common/check.h"
#include "data/random_normal.h"
#include "xmr/binary_index.h"
#include "xmr/synthetic.h"

// LAPACK from OpenBLAS (Fortran symbols; Debian's OpenBLAS ships no LAPACK C header we can rely
// on). The trailing size_t arguments are the hidden lengths of the CHARACTER arguments, which
// gfortran-built LAPACK expects (omitting them is the classic tail-call stack corruption bug).
extern "C" {
void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w, double* work,
             const int* lwork, int* iwork, const int* liwork, int* info, std::size_t jobz_len, std::size_t uplo_len);
void dgesdd_(const char* jobz, const int* m, const int* n, double* a, const int* lda, double* s, double* u,
             const int* ldu, double* vt, const int* ldvt, double* work, const int* lwork, int* iwork, int* info,
             std::size_t jobz_len);
void dgesvd_(const char* jobu, const char* jobvt, const int* m, const int* n, double* a, const int* lda, double* s,
             double* u, const int* ldu, double* vt, const int* ldvt, double* work, const int* lwork, int* info,
             std::size_t jobu_len, std::size_t jobvt_len);
void dgeqrf_(const int* m, const int* n, double* a, const int* lda, double* tau, double* work, const int* lwork,
             int* info);
void dorgqr_(const int* m, const int* n, const int* k, double* a, const int* lda, const double* tau, double* work,
             const int* lwork, int* info);
}

namespace xmr::engine {
namespace {

using detail::to_size;

/// Rows of a training matrix converted (and centred) at a time: bounds the double copies.
constexpr std::int64_t kChunkRows = 2048;
/// Rows encoded per block (they share the loads of the projection).
constexpr std::int64_t kEncodeRows = 4;

std::size_t sz(std::int64_t v) {
  return to_size(v);
}

/// BLAS/LAPACK dimension; callers have bounded every size by the int range already.
int bi(std::int64_t v) {
  XMR_INVARIANT(v >= 0 && v <= std::numeric_limits<int>::max());
  return static_cast<int>(v);
}

/// Row-major dgemm: C[m x n] = alpha op(A) op(B) + beta C.
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha, const double* a,
          std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, bi(m), bi(n),
              bi(k), alpha, a, bi(lda), b, bi(ldb), beta, c, bi(ldc));
}

// ---------------------------------------------------------------------------------------------
// Data access: column means and centred chunks of a float matrix, in double.

std::vector<double> column_mean(const MatrixView<const float>& m) {
  const std::int64_t d = m.cols();
  std::vector<double> mean(sz(d), 0.0);
  for (std::int64_t r = 0; r < m.rows(); ++r) {
    const float* row = m.row(r);
    for (std::int64_t c = 0; c < d; ++c) mean[sz(c)] += static_cast<double>(row[c]);
  }
  const double inv = 1.0 / static_cast<double>(m.rows());
  for (double& v : mean) v *= inv;
  return mean;
}

/// out[rows x D] = m[r0 .. r0 + rows) - mean.
void centred_chunk(const MatrixView<const float>& m, const std::vector<double>& mean, std::int64_t r0,
                   std::int64_t rows, std::vector<double>& out) {
  const std::int64_t d = m.cols();
  out.resize(sz(rows * d));
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* row = m.row(r0 + r);
    double* o = out.data() + r * d;
    for (std::int64_t c = 0; c < d; ++c) o[c] = static_cast<double>(row[c]) - mean[sz(c)];
  }
}

/// Sample covariance [D x D] of the rows of `m` about `mean` (divisor n - 1).
std::vector<double> covariance(const MatrixView<const float>& m, const std::vector<double>& mean) {
  const std::int64_t n = m.rows();
  const std::int64_t d = m.cols();
  std::vector<double> cov(sz(d * d), 0.0);
  std::vector<double> chunk;
  for (std::int64_t r0 = 0; r0 < n; r0 += kChunkRows) {
    const std::int64_t rows = std::min(kChunkRows, n - r0);
    centred_chunk(m, mean, r0, rows, chunk);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, bi(d), bi(rows), 1.0, chunk.data(), bi(d), 1.0, cov.data(),
                bi(d));
  }
  const double inv = 1.0 / static_cast<double>(n - 1);
  for (std::int64_t i = 0; i < d; ++i) {
    for (std::int64_t j = i; j < d; ++j) {
      const double v = cov[sz(i * d + j)] * inv;
      cov[sz(i * d + j)] = v;
      cov[sz(j * d + i)] = v;
    }
  }
  return cov;
}

/// Cross-covariance [Dx x Dy] of paired rows (divisor n - 1).
std::vector<double> cross_covariance(const MatrixView<const float>& x, const std::vector<double>& mx,
                                     const MatrixView<const float>& y, const std::vector<double>& my) {
  const std::int64_t n = x.rows();
  const std::int64_t dx = x.cols();
  const std::int64_t dy = y.cols();
  std::vector<double> cxy(sz(dx * dy), 0.0);
  std::vector<double> cx, cy;
  for (std::int64_t r0 = 0; r0 < n; r0 += kChunkRows) {
    const std::int64_t rows = std::min(kChunkRows, n - r0);
    centred_chunk(x, mx, r0, rows, cx);
    centred_chunk(y, my, r0, rows, cy);
    gemm(true, false, dx, dy, rows, 1.0, cx.data(), dx, cy.data(), dy, 1.0, cxy.data(), dy);
  }
  const double inv = 1.0 / static_cast<double>(n - 1);
  for (double& v : cxy) v *= inv;
  return cxy;
}

/// out rows [row0, row0 + n) of an [.. x B] matrix = (m - mean) P, with P [D x B].
void project_rows(const MatrixView<const float>& m, const std::vector<double>& mean, const std::vector<double>& p,
                  std::int64_t b, double* out) {
  const std::int64_t n = m.rows();
  const std::int64_t d = m.cols();
  std::vector<double> chunk;
  for (std::int64_t r0 = 0; r0 < n; r0 += kChunkRows) {
    const std::int64_t rows = std::min(kChunkRows, n - r0);
    centred_chunk(m, mean, r0, rows, chunk);
    gemm(false, false, rows, b, d, 1.0, chunk.data(), d, p.data(), b, 0.0, out + r0 * b, b);
  }
}

// ---------------------------------------------------------------------------------------------
// Dense linear algebra (LAPACK), with deterministic signs.

/// Index of the entry of largest magnitude (the first such) of n values at stride `inc`.
std::int64_t argmax_abs(const double* v, std::int64_t n, std::int64_t inc) {
  std::int64_t best = 0;
  for (std::int64_t i = 1; i < n; ++i) {
    if (std::fabs(v[i * inc]) > std::fabs(v[best * inc])) best = i;
  }
  return best;
}

struct SymEig {
  std::vector<double> values;   // [n], descending
  std::vector<double> vectors;  // [n x n]: row k is the unit eigenvector of values[k]
};

/// Eigen-decomposition of a symmetric [n x n] matrix. Each eigenvector's largest-magnitude
/// component is made positive, so the result does not depend on LAPACK's sign choices.
SymEig sym_eig(std::vector<double> a, std::int64_t n) {
  const int ni = bi(n);
  std::vector<double> w(sz(n));
  int info = 0;
  int lwork = -1;
  int liwork = -1;
  double work_query = 0.0;
  int iwork_query = 0;
  dsyevd_("V", "U", &ni, a.data(), &ni, w.data(), &work_query, &lwork, &iwork_query, &liwork, &info, 1, 1);
  XMR_CHECK(info == 0, Internal, "dsyevd workspace query failed (info = ", info, ")");
  lwork = static_cast<int>(work_query) + 1;
  liwork = iwork_query;
  std::vector<double> work(sz(lwork));
  std::vector<int> iwork(sz(std::max(liwork, 1)));
  dsyevd_("V", "U", &ni, a.data(), &ni, w.data(), work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1);
  XMR_CHECK(info == 0, Internal, "dsyevd failed to converge on a ", n, " x ", n, " matrix (info = ", info, ")");
  // Column-major output: eigenvector k (ascending values) is contiguous at a[k * n], which reads
  // as row k of the row-major buffer. Reverse to descending order and fix signs.
  SymEig out;
  out.values.resize(sz(n));
  out.vectors.resize(sz(n * n));
  for (std::int64_t k = 0; k < n; ++k) {
    const std::int64_t src = n - 1 - k;
    out.values[sz(k)] = w[sz(src)];
    const double* v = a.data() + src * n;
    const double s = v[argmax_abs(v, n, 1)] < 0.0 ? -1.0 : 1.0;
    for (std::int64_t i = 0; i < n; ++i) out.vectors[sz(k * n + i)] = s * v[i];
  }
  return out;
}

struct Svd {
  std::vector<double> u;   // [m x r] row-major
  std::vector<double> s;   // [r], descending
  std::vector<double> vt;  // [r x n] row-major
};

/// Thin SVD of a row-major [m x n] matrix, r = min(m, n). Signs are LAPACK's (callers that need
/// fixed signs fix them).
Svd svd(const std::vector<double>& a, std::int64_t m, std::int64_t n) {
  // The row-major buffer read column-major is A^T [n x m]. With A^T = U' S V'^T, A = V' S U'^T:
  // LAPACK's VT' buffer ([r x m] column-major) is U row-major, and its U' buffer ([n x r]
  // column-major) is V^T row-major.
  const std::int64_t r = std::min(m, n);
  const int mi = bi(n);
  const int ni = bi(m);
  const int ri = bi(r);
  Svd out;
  out.s.resize(sz(r));
  out.u.resize(sz(m * r));
  out.vt.resize(sz(r * n));
  std::vector<double> a_copy = a;
  int info = 0;
  int lwork = -1;
  double work_query = 0.0;
  std::vector<int> iwork(sz(8 * r));
  dgesdd_("S", &mi, &ni, a_copy.data(), &mi, out.s.data(), out.vt.data(), &mi, out.u.data(), &ri, &work_query, &lwork,
          iwork.data(), &info, 1);
  XMR_CHECK(info == 0, Internal, "dgesdd workspace query failed (info = ", info, ")");
  lwork = static_cast<int>(work_query) + 1;
  std::vector<double> work(sz(lwork));
  dgesdd_("S", &mi, &ni, a_copy.data(), &mi, out.s.data(), out.vt.data(), &mi, out.u.data(), &ri, work.data(), &lwork,
          iwork.data(), &info, 1);
  if (info > 0) {  // divide and conquer did not converge: fall back to QR iteration
    a_copy = a;
    lwork = -1;
    dgesvd_("S", "S", &mi, &ni, a_copy.data(), &mi, out.s.data(), out.vt.data(), &mi, out.u.data(), &ri, &work_query,
            &lwork, &info, 1, 1);
    XMR_CHECK(info == 0, Internal, "dgesvd workspace query failed (info = ", info, ")");
    lwork = static_cast<int>(work_query) + 1;
    work.assign(sz(lwork), 0.0);
    dgesvd_("S", "S", &mi, &ni, a_copy.data(), &mi, out.s.data(), out.vt.data(), &mi, out.u.data(), &ri, work.data(),
            &lwork, &info, 1, 1);
  }
  XMR_CHECK(info == 0, Internal, "SVD failed to converge on a ", m, " x ", n, " matrix (info = ", info, ")");
  return out;
}

/// A random orthogonal [b x b] matrix: Q of the QR decomposition of a Gaussian matrix from
/// xmr::synth::random_normal(b, b, seed), with R's diagonal made positive (which makes Q unique,
/// and Haar-distributed).
std::vector<double> random_orthogonal(std::int64_t b, std::uint64_t seed) {
  const std::vector<float> g = engine::random_normal(b, b, seed);
  std::vector<double> q(g.begin(), g.end());
  const int n = bi(b);
  std::vector<double> tau(sz(b));
  int info = 0;
  int lwork = -1;
  double work_query = 0.0;
  dgeqrf_(&n, &n, q.data(), &n, tau.data(), &work_query, &lwork, &info);
  XMR_CHECK(info == 0, Internal, "dgeqrf workspace query failed (info = ", info, ")");
  lwork = static_cast<int>(work_query) + 1;
  std::vector<double> work(sz(lwork));
  dgeqrf_(&n, &n, q.data(), &n, tau.data(), work.data(), &lwork, &info);
  XMR_CHECK(info == 0, Internal, "dgeqrf failed (info = ", info, ")");
  std::vector<double> diag_sign(sz(b));
  for (std::int64_t k = 0; k < b; ++k) diag_sign[sz(k)] = q[sz(k * b + k)] < 0.0 ? -1.0 : 1.0;
  lwork = -1;
  dorgqr_(&n, &n, &n, q.data(), &n, tau.data(), &work_query, &lwork, &info);
  XMR_CHECK(info == 0, Internal, "dorgqr workspace query failed (info = ", info, ")");
  lwork = static_cast<int>(work_query) + 1;
  work.assign(sz(lwork), 0.0);
  dorgqr_(&n, &n, &n, q.data(), &n, tau.data(), work.data(), &lwork, &info);
  XMR_CHECK(info == 0, Internal, "dorgqr failed (info = ", info, ")");
  // Column k of the column-major Q is contiguous at q[k * b].
  for (std::int64_t k = 0; k < b; ++k) {
    for (std::int64_t i = 0; i < b; ++i) q[sz(k * b + i)] *= diag_sign[sz(k)];
  }
  return q;  // read row-major this is Q^T: orthogonal as well
}

// ---------------------------------------------------------------------------------------------
// ITQ.

/// Learns the ITQ rotation of V [n x b] (already centred and projected): returns R [b x b] and
/// appends iterations + 1 values of ||sign(V R) - V R||_F^2 to `loss`.
std::vector<double> itq_rotation(const std::vector<double>& v, std::int64_t n, std::int64_t b, std::int64_t iterations,
                                 std::uint64_t seed, std::vector<double>& loss) {
  std::vector<double> r = random_orthogonal(b, seed);
  std::vector<double> z(sz(n * b));
  std::vector<double> m(sz(b * b));
  loss.clear();
  loss.reserve(sz(iterations + 1));
  for (std::int64_t t = 0;; ++t) {
    gemm(false, false, n, b, b, 1.0, v.data(), b, r.data(), b, 0.0, z.data(), b);
    // Codes Z = sign(V R) with sign(0) = -1, matching encode's [value > 0]; z becomes the codes.
    double q = 0.0;
    for (double& e : z) {
      const double a = std::fabs(e) - 1.0;
      q += a * a;
      e = e > 0.0 ? 1.0 : -1.0;
    }
    loss.push_back(q);
    if (t == iterations) break;
    // Orthogonal Procrustes: R = argmax tr(Z^T V R) = U W^T with V^T Z = U S W^T.
    gemm(true, false, b, b, n, 1.0, v.data(), b, z.data(), b, 0.0, m.data(), b);
    const Svd f = svd(m, b, b);
    gemm(false, false, b, b, b, 1.0, f.u.data(), b, f.vt.data(), b, 0.0, r.data(), b);
  }
  return r;
}

std::vector<float> to_float_vector(const std::vector<double>& v) {
  std::vector<float> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = static_cast<float>(v[i]);
  return out;
}

/// C^(-1/2) of a covariance [d x d] after adding the relative ridge; `name` is the training
/// argument (for the rank-deficiency error).
std::vector<double> inverse_sqrt(std::vector<double> c, std::int64_t d, double regularization, const char* name) {
  double trace = 0.0;
  for (std::int64_t i = 0; i < d; ++i) trace += c[sz(i * d + i)];
  XMR_EXPECTS(trace > 0.0, name, " has zero variance (every row is the same): CCA needs varying data");
  const double ridge = regularization * trace / static_cast<double>(d);
  for (std::int64_t i = 0; i < d; ++i) c[sz(i * d + i)] += ridge;
  SymEig e = sym_eig(std::move(c), d);
  const double largest = e.values.front();
  const double smallest = e.values.back();
  XMR_EXPECTS(smallest > largest * 1e-12, name, "'s covariance is rank-deficient (eigenvalues in [", smallest, ", ",
              largest, "]; fewer rows than columns, or constant/collinear columns): set options.regularization (= ",
              regularization, ") > 0");
  // C^-1/2 = E^T diag(l^-1/2) E with E's rows the eigenvectors: scale row k by l_k^-1/4, then
  // form Es^T Es.
  for (std::int64_t k = 0; k < d; ++k) {
    const double s = 1.0 / std::sqrt(std::sqrt(e.values[sz(k)]));
    for (std::int64_t i = 0; i < d; ++i) e.vectors[sz(k * d + i)] *= s;
  }
  std::vector<double> out(sz(d * d));
  gemm(true, false, d, d, d, 1.0, e.vectors.data(), d, e.vectors.data(), d, 0.0, out.data(), d);
  return out;
}

void check_int_rows(const MatrixView<const float>& m, const char* name, std::int64_t factor) {
  XMR_EXPECTS(m.rows() <= std::numeric_limits<int>::max() / factor, name, ".rows (= ", m.rows(),
              ") must be <= ", std::numeric_limits<int>::max() / factor);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Validation.

void check_float_matrix(const MatrixView<const float>& m, const char* name, std::int64_t cols, std::int64_t min_rows) {
  XMR_EXPECTS(m.space() == MemorySpace::Host, name, ".space (= Device) is not supported here: pass host memory");
  XMR_EXPECTS(m.rows() >= min_rows, name, ".rows (= ", m.rows(), ") must be >= ", min_rows);
  if (cols >= 0) {
    XMR_EXPECTS(m.cols() == cols, name, ".cols (= ", m.cols(), ") must equal the binarizer's dim (= ", cols, ")");
  } else {
    XMR_EXPECTS(m.cols() >= 1 && m.cols() <= kMaxBinarizerDim, name, ".cols (= ", m.cols(), ") must be in [1, ",
                kMaxBinarizerDim, "]");
  }
  XMR_EXPECTS(m.stride() >= m.cols(), name, ".stride (= ", m.stride(), ") must be >= cols (= ", m.cols(), ")");
  if (m.rows() == 0) return;
  XMR_EXPECTS(m.data() != nullptr, name, ".data (= null) with rows (= ", m.rows(), ") > 0");
  const auto addr = reinterpret_cast<std::uintptr_t>(m.data());
  XMR_EXPECTS(addr % alignof(float) == 0, name, ".data (= 0x", std::hex, addr, std::dec,
              ") is not aligned to 4 bytes for fp32");
  detail::mul_checked(m.rows(), m.stride(), name);
  for (std::int64_t r = 0; r < m.rows(); ++r) {
    const float* row = m.row(r);
    bool finite = true;
    for (std::int64_t c = 0; c < m.cols(); ++c) finite = finite && std::isfinite(row[c]);
    if (finite) continue;
    for (std::int64_t c = 0; c < m.cols(); ++c) {
      XMR_EXPECTS(std::isfinite(row[c]), name, "[", r, ", ", c, "] (= ", row[c], ") must be finite (row ", r,
                  ", column ", c, ")");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Training.

BinarizerModel make_sign(std::int64_t dim) {
  BinarizerModel m;
  m.kind = BinarizerKind::Sign;
  m.dim = dim;
  m.bits = dim;
  m.mean.assign(sz(dim), 0.0f);
  m.thresholds.assign(sz(dim), 0.0f);
  return m;
}

BinarizerModel train_sign_median(const MatrixView<const float>& train) {
  const std::int64_t n = train.rows();
  const std::int64_t d = train.cols();
  BinarizerModel m = make_sign(d);
  m.kind = BinarizerKind::SignMedian;
  std::vector<float> col(sz(n));
  const auto mid = static_cast<std::ptrdiff_t>(n / 2);
  for (std::int64_t c = 0; c < d; ++c) {
    for (std::int64_t r = 0; r < n; ++r) col[sz(r)] = train.row(r)[c];
    std::nth_element(col.begin(), col.begin() + mid, col.end());
    double median = static_cast<double>(col[sz(mid)]);
    if (n % 2 == 0) {  // the midpoint of the two middle values; the lower one is the largest below
      const float lower = *std::max_element(col.begin(), col.begin() + mid);
      median = 0.5 * (static_cast<double>(lower) + median);
    }
    m.thresholds[sz(c)] = static_cast<float>(median);
  }
  return m;
}

BinarizerModel make_lsh(std::int64_t dim, std::int64_t bits, std::uint64_t seed,
                        const MatrixView<const float>* center_on) {
  BinarizerModel m;
  m.kind = BinarizerKind::Lsh;
  m.dim = dim;
  m.bits = bits;
  m.mean.assign(sz(dim), 0.0f);
  if (center_on != nullptr) m.mean = to_float_vector(column_mean(*center_on));
  m.thresholds.assign(sz(bits), 0.0f);
  m.projection = engine::random_normal(dim, bits, seed);
  return m;
}

BinarizerModel train_itq(const MatrixView<const float>& train, std::int64_t bits, std::int64_t iterations,
                         std::uint64_t seed) {
  check_int_rows(train, "train", 1);
  const std::int64_t n = train.rows();
  const std::int64_t d = train.cols();
  const std::int64_t b = bits;
  const std::vector<double> mean = column_mean(train);
  const SymEig e = sym_eig(covariance(train, mean), d);
  // P [D x B]: column k is the k-th principal direction (row k of e.vectors).
  std::vector<double> p(sz(d * b));
  for (std::int64_t k = 0; k < b; ++k) {
    for (std::int64_t i = 0; i < d; ++i) p[sz(i * b + k)] = e.vectors[sz(k * d + i)];
  }
  std::vector<double> v(sz(n * b));
  project_rows(train, mean, p, b, v.data());

  BinarizerModel m;
  m.kind = BinarizerKind::Itq;
  m.dim = d;
  m.bits = b;
  const std::vector<double> r = itq_rotation(v, n, b, iterations, seed, m.loss);
  std::vector<double> w(sz(d * b));
  gemm(false, false, d, b, b, 1.0, p.data(), b, r.data(), b, 0.0, w.data(), b);
  m.mean = to_float_vector(mean);
  m.thresholds.assign(sz(b), 0.0f);
  m.projection = to_float_vector(w);
  m.rotation = to_float_vector(r);
  return m;
}

std::vector<BinarizerModel> train_cross_modal_itq(const MatrixView<const float>& x, const MatrixView<const float>& y,
                                                  std::int64_t bits, const CrossModalItqOptions& options) {
  check_int_rows(x, "image_train", 2);
  const std::int64_t n = x.rows();
  const std::int64_t dx = x.cols();
  const std::int64_t dy = y.cols();
  const std::int64_t b = bits;
  const std::vector<double> mx = column_mean(x);
  const std::vector<double> my = column_mean(y);
  const std::vector<double> kx = inverse_sqrt(covariance(x, mx), dx, options.regularization, "image_train");
  const std::vector<double> ky = inverse_sqrt(covariance(y, my), dy, options.regularization, "text_train");
  const std::vector<double> cxy = cross_covariance(x, mx, y, my);

  // T = Kx Cxy Ky = U S V^T; canonical directions Ax = Kx U_B, Ay = Ky V_B.
  std::vector<double> tmp(sz(dx * dy));
  std::vector<double> t(sz(dx * dy));
  gemm(false, false, dx, dy, dx, 1.0, kx.data(), dx, cxy.data(), dy, 0.0, tmp.data(), dy);
  gemm(false, false, dx, dy, dy, 1.0, tmp.data(), dy, ky.data(), dy, 0.0, t.data(), dy);
  Svd f = svd(t, dx, dy);
  const std::int64_t r = std::min(dx, dy);
  // Fix each pair's sign: the largest-magnitude entry of u_k positive (v_k follows).
  for (std::int64_t k = 0; k < b; ++k) {
    const std::int64_t i = argmax_abs(f.u.data() + k, dx, r);
    if (f.u[sz(i * r + k)] >= 0.0) continue;
    for (std::int64_t j = 0; j < dx; ++j) f.u[sz(j * r + k)] = -f.u[sz(j * r + k)];
    for (std::int64_t j = 0; j < dy; ++j) f.vt[sz(k * dy + j)] = -f.vt[sz(k * dy + j)];
  }
  std::vector<double> ax(sz(dx * b));
  std::vector<double> ay(sz(dy * b));
  gemm(false, false, dx, b, dx, 1.0, kx.data(), dx, f.u.data(), r, 0.0, ax.data(), b);   // first B columns of U
  gemm(false, true, dy, b, dy, 1.0, ky.data(), dy, f.vt.data(), dy, 0.0, ay.data(), b);  // first B rows of V^T
  if (options.correlation_power != 0.0) {
    for (std::int64_t k = 0; k < b; ++k) {
      const double s = std::pow(std::max(f.s[sz(k)], 0.0), options.correlation_power);
      for (std::int64_t i = 0; i < dx; ++i) ax[sz(i * b + k)] *= s;
      for (std::int64_t i = 0; i < dy; ++i) ay[sz(i * b + k)] *= s;
    }
  }

  // One rotation for both modalities: ITQ on the stacked projections [Xc Ax; Yc Ay].
  std::vector<double> v(sz(2 * n * b));
  project_rows(x, mx, ax, b, v.data());
  project_rows(y, my, ay, b, v.data() + n * b);
  std::vector<double> loss;
  const std::vector<double> rot = itq_rotation(v, 2 * n, b, options.iterations, options.seed, loss);

  std::vector<BinarizerModel> out(2);
  const std::vector<double>* dirs[2] = {&ax, &ay};
  const std::vector<double>* means[2] = {&mx, &my};
  for (std::size_t s = 0; s < 2; ++s) {
    BinarizerModel& m = out[s];
    const std::int64_t d = s == 0 ? dx : dy;
    std::vector<double> w(sz(d * b));
    gemm(false, false, d, b, b, 1.0, dirs[s]->data(), b, rot.data(), b, 0.0, w.data(), b);
    m.kind = BinarizerKind::CrossModalItq;
    m.dim = d;
    m.bits = b;
    m.mean = to_float_vector(*means[s]);
    m.thresholds.assign(sz(b), 0.0f);
    m.projection = to_float_vector(w);
    m.rotation = to_float_vector(rot);
    m.loss = loss;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Encoding.

void encode(const BinarizerModel& model, const MatrixView<const float>& x, const MatrixView<std::uint8_t>& codes) {
  const std::int64_t n = x.rows();
  if (n == 0) return;
  const std::int64_t d = model.dim;
  const std::int64_t b = model.bits;
  const std::int64_t nb = b / 8;
  const bool identity = model.axis_aligned();
  const std::vector<double> mean(model.mean.begin(), model.mean.end());
  const std::vector<double> thr(model.thresholds.begin(), model.thresholds.end());
  const float* w = model.projection.data();

  const std::int64_t blocks = (n + kEncodeRows - 1) / kEncodeRows;
  const double work = static_cast<double>(n) * static_cast<double>(d) * static_cast<double>(identity ? 1 : b);
  const int threads = work > 4.0e6 ? std::max(1, omp_get_max_threads()) : 1;
  // Per-thread scratch, allocated before the parallel region (no exception may leave it):
  // kEncodeRows centred rows and kEncodeRows rows of projected values.
  const std::int64_t per_thread = kEncodeRows * (d + b);
  std::vector<double> scratch(sz(detail::mul_checked(per_thread, threads, "encode scratch")));

#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t blk = 0; blk < blocks; ++blk) {
    double* xc = scratch.data() + omp_get_thread_num() * per_thread;
    double* acc = xc + kEncodeRows * d;
    const std::int64_t r0 = blk * kEncodeRows;
    const std::int64_t rows = std::min(kEncodeRows, n - r0);
    for (std::int64_t r = 0; r < rows; ++r) {
      const float* row = x.row(r0 + r);
      double* o = xc + r * d;
      for (std::int64_t c = 0; c < d; ++c) o[c] = static_cast<double>(row[c]) - mean[sz(c)];
    }
    const double* values = xc;  // identity projection: the centred values themselves
    if (!identity) {
      // Each projected value is the sum over d in ascending order, whatever the block size.
      std::fill(acc, acc + kEncodeRows * b, 0.0);
      for (std::int64_t c = 0; c < d; ++c) {
        const float* wr = w + c * b;
        for (std::int64_t r = 0; r < rows; ++r) {
          const double a = xc[r * d + c];
          double* ar = acc + r * b;
          for (std::int64_t j = 0; j < b; ++j) ar[j] += a * static_cast<double>(wr[j]);
        }
      }
      values = acc;
    }
    const std::int64_t vstride = identity ? d : b;
    for (std::int64_t r = 0; r < rows; ++r) {
      const double* v = values + r * vstride;
      std::uint8_t* out = codes.row(r0 + r);
      for (std::int64_t byte = 0; byte < nb; ++byte) {
        unsigned packed = 0;
        for (std::int64_t bit = 0; bit < 8; ++bit) {
          const std::int64_t j = byte * 8 + bit;
          packed |= static_cast<unsigned>(v[j] > thr[sz(j)]) << bit;
        }
        out[byte] = static_cast<std::uint8_t>(packed);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// File format (docs/binarize.md). All integers and floats little-endian.
//
//   header (24 bytes): magic "XMRBINZ\0" | u32 version (1) | u32 record count (1 or 2)
//                      | u64 payload bytes P
//   P bytes of records, each:
//     u32 kind | u32 reserved (0) | i64 D | i64 B | i64 L (loss entries)
//     f64 loss[L] | f32 mean[D] | f32 thresholds[B]
//     | f32 projection[D x B] (not for Sign, SignMedian) | f32 rotation[B x B] (Itq kinds only)
//   u32 CRC-32 (zlib.crc32) of the header and the records.

namespace {

constexpr std::array<std::uint8_t, 8> kMagic = {'X', 'M', 'R', 'B', 'I', 'N', 'Z', 0};
constexpr std::uint32_t kFormatVersion = 1;
constexpr std::size_t kHeaderBytes = 24;
constexpr std::size_t kRecordHeaderBytes = 32;
constexpr std::size_t kChecksumBytes = 4;

constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<std::uint32_t, 256> kCrcTable = make_crc_table();

/// CRC-32 (IEEE 802.3, reflected; zlib.crc32 and binascii.crc32 compute the same).
std::uint32_t crc32(const std::uint8_t* p, std::size_t n) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) c = kCrcTable[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

bool has_rotation(BinarizerKind k) {
  return k == BinarizerKind::Itq || k == BinarizerKind::CrossModalItq;
}

/// Bytes of a record after its 32-byte header. The sizes are bounded (D <= 2^20, B <= 4096,
/// L <= 1e5 + 1 on load), so nothing overflows.
std::size_t record_body_bytes(BinarizerKind kind, std::int64_t dim, std::int64_t bits, std::int64_t losses) {
  const std::size_t d = sz(dim);
  const std::size_t b = sz(bits);
  std::size_t bytes = 8 * sz(losses) + 4 * (d + b);
  if (kind != BinarizerKind::Sign && kind != BinarizerKind::SignMedian) bytes += 4 * d * b;
  if (has_rotation(kind)) bytes += 4 * b * b;
  return bytes;
}

std::size_t record_bytes(const BinarizerModel& m) {
  return kRecordHeaderBytes + record_body_bytes(m.kind, m.dim, m.bits, static_cast<std::int64_t>(m.loss.size()));
}

class Writer {
 public:
  explicit Writer(std::size_t capacity) { out_.reserve(capacity); }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void floats(const std::vector<float>& v) {
    for (float f : v) u32(std::bit_cast<std::uint32_t>(f));
  }
  void doubles(const std::vector<double>& v) {
    for (double f : v) u64(std::bit_cast<std::uint64_t>(f));
  }
  std::vector<std::uint8_t>& bytes() { return out_; }

 private:
  std::vector<std::uint8_t> out_;
};

/// Bounds-checked little-endian reads; every failure is CorruptData naming the source.
class Reader {
 public:
  Reader(std::span<const std::uint8_t> bytes, const std::string& source) : bytes_(bytes), source_(source) {}

  template <class... Args>
  [[noreturn]] void corrupt(Args&&... args) const {
    detail::fail(ErrorCode::CorruptData, source_, ": ", std::forward<Args>(args)...);
  }
  std::size_t pos() const { return pos_; }
  std::size_t remaining() const { return bytes_.size() - pos_; }
  void need(std::size_t n, const char* what) const {
    if (n > remaining())
      corrupt("truncated: ", what, " needs ", n, " bytes at offset ", pos_, ", ", remaining(), " left");
  }
  std::uint32_t u32(const char* what) {
    need(4, what);
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(bytes_[pos_ + i]) << (8 * i);
    pos_ += 4;
    return v;
  }
  std::uint64_t u64(const char* what) {
    need(8, what);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(bytes_[pos_ + i]) << (8 * i);
    pos_ += 8;
    return v;
  }
  void skip(std::size_t n) {
    need(n, "skip");
    pos_ += n;
  }
  std::int64_t i64(const char* what) { return std::bit_cast<std::int64_t>(u64(what)); }
  /// `count` floats, each finite.
  std::vector<float> floats(std::size_t count, const char* what) {
    need(4 * count, what);
    std::vector<float> v(count);
    for (std::size_t i = 0; i < count; ++i) {
      v[i] = std::bit_cast<float>(u32(what));
      if (!std::isfinite(v[i])) corrupt(what, "[", i, "] (= ", v[i], ") is not finite");
    }
    return v;
  }
  std::vector<double> doubles(std::size_t count, const char* what) {
    need(8 * count, what);
    std::vector<double> v(count);
    for (std::size_t i = 0; i < count; ++i) {
      v[i] = std::bit_cast<double>(u64(what));
      if (!std::isfinite(v[i]) || v[i] < 0.0) corrupt(what, "[", i, "] (= ", v[i], ") is not a finite value >= 0");
    }
    return v;
  }

 private:
  std::span<const std::uint8_t> bytes_;
  const std::string& source_;
  std::size_t pos_ = 0;
};

BinarizerModel read_record(Reader& in, std::uint32_t index) {
  in.need(kRecordHeaderBytes, "record header");
  const std::uint32_t kind = in.u32("kind");
  const std::uint32_t reserved = in.u32("reserved");
  const std::int64_t d = in.i64("dim");
  const std::int64_t b = in.i64("bits");
  const std::int64_t l = in.i64("loss count");
  if (kind > static_cast<std::uint32_t>(BinarizerKind::CrossModalItq)) {
    in.corrupt("record ", index, ": kind (= ", kind, ") is not a BinarizerKind value");
  }
  BinarizerModel m;
  m.kind = static_cast<BinarizerKind>(kind);
  if (reserved != 0) in.corrupt("record ", index, ": reserved field (= ", reserved, ") must be 0");
  if (d < 1 || d > kMaxBinarizerDim)
    in.corrupt("record ", index, ": dim (= ", d, ") is not in [1, ", kMaxBinarizerDim, "]");
  if (b < kMinCodeBits || b > kMaxCodeBits || b % 8 != 0) {
    in.corrupt("record ", index, ": bits (= ", b, ") is not a multiple of 8 in [", kMinCodeBits, ", ", kMaxCodeBits,
               "]");
  }
  m.dim = d;
  m.bits = b;
  if (m.axis_aligned() && b != d)
    in.corrupt("record ", index, ": bits (= ", b, ") must equal dim (= ", d, ") for ", to_string(m.kind));
  if (has_rotation(m.kind)) {
    if (b > d) in.corrupt("record ", index, ": bits (= ", b, ") must be <= dim (= ", d, ") for ", to_string(m.kind));
    if (l < 1 || l > kMaxItqIterations + 1) {
      in.corrupt("record ", index, ": loss count (= ", l, ") is not in [1, ", kMaxItqIterations + 1, "]");
    }
  } else if (l != 0) {
    in.corrupt("record ", index, ": loss count (= ", l, ") must be 0 for ", to_string(m.kind));
  }
  // The whole record is checked against the bytes present before anything is allocated.
  in.need(record_body_bytes(m.kind, d, b, l), "record body");
  m.loss = in.doubles(sz(l), "loss");
  m.mean = in.floats(sz(d), "mean");
  m.thresholds = in.floats(sz(b), "thresholds");
  if (!m.axis_aligned()) m.projection = in.floats(sz(d) * sz(b), "projection");
  if (has_rotation(m.kind)) m.rotation = in.floats(sz(b) * sz(b), "rotation");
  return m;
}

}  // namespace

std::vector<std::uint8_t> serialize(std::span<const BinarizerModel* const> models) {
  std::size_t payload = 0;
  for (const BinarizerModel* m : models) payload += record_bytes(*m);
  Writer w(kHeaderBytes + payload + kChecksumBytes);
  for (std::uint8_t c : kMagic) w.bytes().push_back(c);
  w.u32(kFormatVersion);
  w.u32(static_cast<std::uint32_t>(models.size()));
  w.u64(payload);
  for (const BinarizerModel* m : models) {
    w.u32(static_cast<std::uint32_t>(m->kind));
    w.u32(0);
    w.u64(static_cast<std::uint64_t>(m->dim));
    w.u64(static_cast<std::uint64_t>(m->bits));
    w.u64(m->loss.size());
    w.doubles(m->loss);
    w.floats(m->mean);
    w.floats(m->thresholds);
    if (!m->axis_aligned()) w.floats(m->projection);
    if (has_rotation(m->kind)) w.floats(m->rotation);
  }
  const std::uint32_t crc = crc32(w.bytes().data(), w.bytes().size());
  w.u32(crc);
  return std::move(w.bytes());
}

std::vector<BinarizerModel> deserialize(std::span<const std::uint8_t> bytes, const std::string& source,
                                        std::uint32_t expected_count) {
  Reader in(bytes, source);
  const std::size_t magic_present = std::min(bytes.size(), kMagic.size());
  if (!std::equal(kMagic.begin(), kMagic.begin() + static_cast<std::ptrdiff_t>(magic_present), bytes.begin())) {
    in.corrupt("bad magic: not an xmr binarizer file (its first bytes are not \"XMRBINZ\\0\")");
  }
  if (bytes.size() < kHeaderBytes + kChecksumBytes) {
    in.corrupt("truncated: ", bytes.size(), " bytes, fewer than the ", kHeaderBytes + kChecksumBytes,
               "-byte minimum (header and checksum)");
  }
  in.skip(kMagic.size());
  const std::uint32_t version = in.u32("version");
  if (version != kFormatVersion) {
    in.corrupt("unsupported format version ", version, " (this build reads version ", kFormatVersion, ")");
  }
  const std::uint32_t count = in.u32("record count");
  if (count != expected_count) {
    if (count == 1 || count == 2) {
      in.corrupt(
          "holds ", count, count == 1 ? " binarizer" : " binarizers", ", expected ", expected_count,
          count == 1 ? " (load it with xmr::Binarizer::load)" : " (load it with xmr::CrossModalBinarizer::load)");
    }
    in.corrupt("record count (= ", count, ") must be 1 or 2");
  }
  const std::uint64_t payload = in.u64("payload size");
  const std::size_t present = bytes.size() - kHeaderBytes - kChecksumBytes;
  if (payload > present) {
    in.corrupt("truncated: the header declares ", payload, " payload bytes, only ", present, " are present");
  }
  if (payload < present) {
    in.corrupt(present - payload, " trailing bytes after the declared ", payload, "-byte payload and checksum");
  }
  const std::size_t body = kHeaderBytes + sz(static_cast<std::int64_t>(payload));
  std::uint32_t stored = 0;
  for (std::size_t i = 0; i < 4; ++i) stored |= static_cast<std::uint32_t>(bytes[body + i]) << (8 * i);
  const std::uint32_t computed = crc32(bytes.data(), body);
  if (stored != computed) {
    in.corrupt("checksum mismatch (stored CRC-32 0x", std::hex, stored, ", computed 0x", computed, std::dec,
               "): the data is corrupt");
  }
  Reader records(bytes.first(body), source);
  records.skip(kHeaderBytes);
  std::vector<BinarizerModel> out;
  for (std::uint32_t i = 0; i < count; ++i) out.push_back(read_record(records, i));
  if (records.remaining() != 0) {
    in.corrupt(records.remaining(), " unused bytes at the end of the payload (the records end at offset ",
               records.pos(), ")");
  }
  if (count == 2 && out[0].bits != out[1].bits) {
    in.corrupt("the image and text binarizers have different code lengths (", out[0].bits, " and ", out[1].bits,
               " bits)");
  }
  return out;
}

}  // namespace xmr::engine
