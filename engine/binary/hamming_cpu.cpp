// Exact Hamming top-k on the CPU.
//
// Layout: each worker owns a contiguous range of the database and walks it in blocks sized for
// the L2 cache. A block is transposed to word-major order (word w of rows i..i+7 adjacent, codes
// zero-padded to whole 64-bit words) so that the popcount kernels accumulate eight (AVX-512) or
// four (AVX2) rows per instruction with no horizontal sums; for 64-bit codes the stored rows
// already are that layout and are read in place. Every query of the current query tile is then
// scanned against the block while it is hot.
//
// Selection (per query, per worker): a candidate list in ascending row order and a bound, the
// k-th smallest distance seen so far. A row is a candidate only if its distance is below the
// bound (a row at the bound loses the tie to the k earlier rows at or below it). When the list
// fills up, a histogram of its distances gives the new k-th distance T in O(list + bits) and the
// list is compacted to the k winners (rows below T, then the first rows at T), keeping row order.
// Worker ranges are contiguous and ascending, so concatenating the workers' lists keeps row
// order, and one more counting selection plus a stable counting sort by distance yields the
// result ordered by (distance, row): no comparison sort anywhere.
#include "binary/hamming_cpu.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string_view>
#include <vector>

#include "common/check.h"
#include "resources_impl.h"

namespace xmr::engine::cpu {

namespace {

struct Entry {
  std::uint32_t dist;
  std::uint32_t pos;
};

/// One query's candidates within one worker's range.
struct Candidates {
  Entry* buf = nullptr;
  std::uint32_t size = 0;
  std::uint32_t cap = 0;
  std::uint32_t bound = 0;  // a row is a candidate iff its distance < bound
  std::int64_t within = 0;  // rows with distance <= max_distance (radius search only)
};

/// Counting selection over a list in row order: returns T and the number of rows at T to keep,
/// such that {d < T} + first `ties` rows with d == T are the k smallest by (distance, row).
/// `hist` has at least max distance + 1 zeroed entries and is zeroed again on return.
struct Cut {
  std::uint32_t t = 0;
  std::uint32_t ties = 0;
};

Cut find_cut(const Entry* e, std::size_t n, std::uint32_t k, std::uint32_t* hist) {
  for (std::size_t i = 0; i < n; ++i) ++hist[e[i].dist];
  std::uint32_t cum = 0;
  Cut c;
  for (std::uint32_t t = 0;; ++t) {
    if (cum + hist[t] >= k) {
      c.t = t;
      c.ties = k - cum;
      break;
    }
    cum += hist[t];
  }
  for (std::size_t i = 0; i < n; ++i) hist[e[i].dist] = 0;
  return c;
}

/// Keeps the k smallest of a full list, in row order; lowers the bound to the k-th distance.
void compact(Candidates& c, std::uint32_t k, std::uint32_t* hist) {
  const Cut cut = find_cut(c.buf, c.size, k, hist);
  std::uint32_t ties = cut.ties;
  std::uint32_t out = 0;
  for (std::uint32_t i = 0; i < c.size; ++i) {
    const Entry e = c.buf[i];
    if (e.dist < cut.t || (e.dist == cut.t && ties > 0)) {
      ties -= e.dist == cut.t ? 1U : 0U;
      c.buf[out++] = e;
    }
  }
  c.size = out;
  c.bound = cut.t;
}

/// What a scan kernel needs besides the data.
struct ScanCtx {
  Candidates* cand;
  std::uint32_t k;
  std::uint32_t* hist;
  std::uint32_t within_bound;  // max_distance + 1
};

inline void push(const ScanCtx& s, std::uint32_t dist, std::uint32_t pos) {
  Candidates& c = *s.cand;
  c.buf[c.size++] = Entry{dist, pos};
  if (c.size == c.cap) compact(c, s.k, s.hist);
}

// ---- kernels: distances of one query to `rows` rows of a word-major block ----------------
// block[w * ld + i] is word w of row i. kW > 0 fixes the word count at compile time.

template <int kW, bool kCountWithin>
__attribute__((target("popcnt"))) void scan_scalar(const std::uint64_t* block, std::int64_t ld, std::int64_t rows,
                                                   int words, const std::uint64_t* q, std::uint32_t base,
                                                   const ScanCtx& s) {
  const int nw = kW > 0 ? kW : words;
  for (std::int64_t i = 0; i < rows; ++i) {
    std::uint32_t d = 0;
    for (int w = 0; w < nw; ++w) {
      d += static_cast<std::uint32_t>(__builtin_popcountll(block[w * ld + i] ^ q[w]));
    }
    if constexpr (kCountWithin) s.cand->within += d < s.within_bound ? 1 : 0;
    if (d < s.cand->bound) push(s, d, base + static_cast<std::uint32_t>(i));
  }
}

__attribute__((target("avx2"))) inline __m256i popcount_epi64_avx2(__m256i v) {
  const __m256i lut =
      _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  const __m256i lo = _mm256_and_si256(v, low);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
  const __m256i cnt = _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
  return _mm256_sad_epu8(cnt, _mm256_setzero_si256());
}

template <int kW, bool kCountWithin>
__attribute__((target("avx2"))) void scan_avx2(const std::uint64_t* block, std::int64_t ld, std::int64_t rows,
                                               int words, const std::uint64_t* q, std::uint32_t base,
                                               const ScanCtx& s) {
  const int nw = kW > 0 ? kW : words;
  alignas(32) std::uint64_t d[4];
  for (std::int64_t i = 0; i < rows; i += 4) {
    const std::int64_t left = rows - i;
    const int valid = left >= 4 ? 0xF : (1 << left) - 1;
    const __m256i lanes = _mm256_setr_epi64x(valid & 1 ? -1 : 0, valid & 2 ? -1 : 0, valid & 4 ? -1 : 0, 0);
    const __m256i load_mask = left >= 4 ? _mm256_set1_epi64x(-1) : lanes;
    __m256i acc = _mm256_setzero_si256();
    for (int w = 0; w < nw; ++w) {
      const auto* p = reinterpret_cast<const long long*>(block + w * ld + i);
      // Masked loads stream several times slower than plain ones (Zen 4): tail only.
      const __m256i x =
          left >= 4 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)) : _mm256_maskload_epi64(p, load_mask);
      acc = _mm256_add_epi64(
          acc, popcount_epi64_avx2(_mm256_xor_si256(x, _mm256_set1_epi64x(static_cast<long long>(q[w])))));
    }
    if constexpr (kCountWithin) {
      const __m256i in = _mm256_cmpgt_epi64(_mm256_set1_epi64x(s.within_bound), acc);
      s.cand->within += __builtin_popcount(static_cast<unsigned>(_mm256_movemask_pd(_mm256_castsi256_pd(in)) & valid));
    }
    const __m256i lt = _mm256_cmpgt_epi64(_mm256_set1_epi64x(s.cand->bound), acc);
    int mask = _mm256_movemask_pd(_mm256_castsi256_pd(lt)) & valid;
    if (mask != 0) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(d), acc);
      while (mask != 0) {
        const int b = __builtin_ctz(static_cast<unsigned>(mask));
        mask &= mask - 1;
        // The bound may have dropped since the compare (a compaction): test again.
        if (d[b] < s.cand->bound) push(s, static_cast<std::uint32_t>(d[b]), base + static_cast<std::uint32_t>(i + b));
      }
    }
  }
}

/// The tail of every AVX-512 kernel step: eight row distances in `acc` (rows row0 .. row0 + 7,
/// `valid` of them real). Counts the rows within the radius (radius search) and pushes the rows
/// below the bound.
template <bool kCountWithin>
__attribute__((target("avx512f"))) inline void emit_avx512(__m512i acc, __mmask8 valid, const ScanCtx& s,
                                                           std::uint32_t row0) {
  if constexpr (kCountWithin) {
    s.cand->within += __builtin_popcount(_mm512_mask_cmplt_epu64_mask(valid, acc, _mm512_set1_epi64(s.within_bound)));
  }
  unsigned mask = _mm512_mask_cmplt_epu64_mask(valid, acc, _mm512_set1_epi64(s.cand->bound));
  if (mask == 0) return;
  alignas(64) std::uint64_t d[8];
  _mm512_store_si512(d, acc);
  while (mask != 0) {
    const unsigned b = static_cast<unsigned>(__builtin_ctz(mask));
    mask &= mask - 1;
    // The bound may have dropped since the compare (a compaction): test again.
    if (d[b] < s.cand->bound) push(s, static_cast<std::uint32_t>(d[b]), row0 + b);
  }
}

template <int kW, bool kCountWithin>
__attribute__((target("avx512f,avx512vpopcntdq"))) void scan_avx512(const std::uint64_t* block, std::int64_t ld,
                                                                    std::int64_t rows, int words,
                                                                    const std::uint64_t* q, std::uint32_t base,
                                                                    const ScanCtx& s) {
  const int nw = kW > 0 ? kW : words;
  for (std::int64_t i = 0; i < rows; i += 8) {
    const std::int64_t left = rows - i;
    const __mmask8 valid = left >= 8 ? static_cast<__mmask8>(0xFF) : static_cast<__mmask8>((1U << left) - 1U);
    __m512i acc = _mm512_setzero_si512();
    for (int w = 0; w < nw; ++w) {
      // Masked loads stream several times slower than plain ones (Zen 4): tail only.
      const std::uint64_t* p = block + w * ld + i;
      const __m512i x = left >= 8 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi64(valid, p);
      acc = _mm512_add_epi64(acc,
                             _mm512_popcnt_epi64(_mm512_xor_si512(x, _mm512_set1_epi64(static_cast<long long>(q[w])))));
    }
    emit_avx512<kCountWithin>(acc, valid, s, base + static_cast<std::uint32_t>(i));
  }
}

/// Four queries against the same word-major rows: each loaded word serves four XOR-popcounts,
/// which quarters the block's cache traffic per query. `q` holds the four queries' words
/// (`words` apart); `s` their four contexts.
template <int kW, bool kCountWithin>
__attribute__((target("avx512f,avx512vpopcntdq"))) void scan4_avx512(const std::uint64_t* block, std::int64_t ld,
                                                                     std::int64_t rows, int words,
                                                                     const std::uint64_t* q, std::uint32_t base,
                                                                     const ScanCtx* s) {
  const int nw = kW > 0 ? kW : words;
  for (std::int64_t i = 0; i < rows; i += 8) {
    const std::int64_t left = rows - i;
    const __mmask8 valid = left >= 8 ? static_cast<__mmask8>(0xFF) : static_cast<__mmask8>((1U << left) - 1U);
    __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
    for (int w = 0; w < nw; ++w) {
      const std::uint64_t* p = block + w * ld + i;
      const __m512i x = left >= 8 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi64(valid, p);
      for (int j = 0; j < 4; ++j) {
        const __m512i qw = _mm512_set1_epi64(static_cast<long long>(q[j * words + w]));
        acc[j] = _mm512_add_epi64(acc[j], _mm512_popcnt_epi64(_mm512_xor_si512(x, qw)));
      }
    }
    for (int j = 0; j < 4; ++j) emit_avx512<kCountWithin>(acc[j], valid, s[j], base + static_cast<std::uint32_t>(i));
  }
}

using Scan4Fn = void (*)(const std::uint64_t*, std::int64_t, std::int64_t, int, const std::uint64_t*, std::uint32_t,
                         const ScanCtx*);

template <bool kCount>
Scan4Fn pick_kernel4(PopcountIsa isa, int words) {
  if (isa != PopcountIsa::Avx512) return nullptr;
  switch (words) {
    case 4: return &scan4_avx512<4, kCount>;
    case 8: return &scan4_avx512<8, kCount>;
    case 16: return &scan4_avx512<16, kCount>;
    default: return &scan4_avx512<0, kCount>;
  }
}

/// Row-major variant for codes of exactly kW 64-bit words (128, 256, 512 bits): eight rows are
/// kW vectors; after the popcounts, log2(kW) levels of "add the even and odd lanes of two
/// neighbouring vectors" leave the eight row distances in order. No transposition, so it serves
/// small query tiles, where a transposed block would be used too few times to pay for itself.
/// `block` points at the first row; `ld` is unused.
template <int kW, bool kCountWithin>
__attribute__((target("avx512f,avx512vpopcntdq"))) void scan_avx512_rows(const std::uint64_t* block, std::int64_t,
                                                                         std::int64_t rows, int, const std::uint64_t* q,
                                                                         std::uint32_t base, const ScanCtx& s) {
  static_assert(kW == 2 || kW == 4 || kW == 8);
  alignas(64) std::uint64_t qpat[8];
  for (int j = 0; j < 8; ++j) qpat[j] = q[j % kW];
  const __m512i qv = _mm512_load_si512(qpat);
  const __m512i even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
  const __m512i odd = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
  for (std::int64_t i = 0; i < rows; i += 8) {
    const std::int64_t left = rows - i;
    const __mmask8 valid = left >= 8 ? static_cast<__mmask8>(0xFF) : static_cast<__mmask8>((1U << left) - 1U);
    const std::int64_t valid_words = std::min<std::int64_t>(left, 8) * kW;
    __m512i v[static_cast<std::size_t>(kW)];
    for (int j = 0; j < kW; ++j) {
      const std::int64_t rem = valid_words - 8 * j;
      const __mmask8 m = rem >= 8 ? static_cast<__mmask8>(0xFF)
                                  : (rem > 0 ? static_cast<__mmask8>((1U << rem) - 1U) : static_cast<__mmask8>(0));
      const std::uint64_t* p = block + (i * kW) + 8 * j;
      const __m512i x = m == 0xFF ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi64(m, p);
      v[j] = _mm512_popcnt_epi64(_mm512_xor_si512(x, qv));
    }
    for (int width = kW; width > 1; width /= 2) {
      for (int j = 0; j < width / 2; ++j) {
        v[j] = _mm512_add_epi64(_mm512_permutex2var_epi64(v[2 * j], even, v[2 * j + 1]),
                                _mm512_permutex2var_epi64(v[2 * j], odd, v[2 * j + 1]));
      }
    }
    const __m512i acc = v[0];
    emit_avx512<kCountWithin>(acc, valid, s, base + static_cast<std::uint32_t>(i));
  }
}

using ScanFn = void (*)(const std::uint64_t*, std::int64_t, std::int64_t, int, const std::uint64_t*, std::uint32_t,
                        const ScanCtx&);

template <bool kCount>
ScanFn pick_kernel(PopcountIsa isa, int words) {
#define XMR_PICK(fn)                 \
  switch (words) {                   \
    case 1: return &fn<1, kCount>;   \
    case 2: return &fn<2, kCount>;   \
    case 4: return &fn<4, kCount>;   \
    case 8: return &fn<8, kCount>;   \
    case 16: return &fn<16, kCount>; \
    default: return &fn<0, kCount>;  \
  }
  switch (isa) {
    case PopcountIsa::Avx512: XMR_PICK(scan_avx512)
    case PopcountIsa::Avx2: XMR_PICK(scan_avx2)
    case PopcountIsa::Scalar: break;
  }
  XMR_PICK(scan_scalar)
#undef XMR_PICK
}

/// The row-major AVX-512 kernel for `words`, or null when there is none.
template <bool kCount>
ScanFn pick_rows_kernel(PopcountIsa isa, int words) {
  if (isa != PopcountIsa::Avx512) return nullptr;
  switch (words) {
    case 2: return &scan_avx512_rows<2, kCount>;
    case 4: return &scan_avx512_rows<4, kCount>;
    case 8: return &scan_avx512_rows<8, kCount>;
    default: return nullptr;
  }
}

/// Query tiles up to this size scan row-major blocks (when a row-major kernel exists).
constexpr std::int64_t kRowMajorMaxQueries = 4;

/// Word-major copy of rows [0, n) of a block: out[w * ld + i] = word w of row i, zero padded.
void transpose(const std::uint8_t* rows, std::size_t code_bytes, std::int64_t n, std::int64_t ld, std::uint64_t* out) {
  const std::size_t full = code_bytes / 8;
  const std::size_t tail = code_bytes % 8;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::uint8_t* r = rows + static_cast<std::size_t>(i) * code_bytes;
    for (std::size_t w = 0; w < full; ++w) {
      std::uint64_t v = 0;
      std::memcpy(&v, r + 8 * w, 8);
      out[static_cast<std::int64_t>(w) * ld + i] = v;
    }
    if (tail != 0) {
      std::uint64_t v = 0;
      std::memcpy(&v, r + 8 * full, tail);
      out[static_cast<std::int64_t>(full) * ld + i] = v;
    }
  }
}

/// Rows per database block: about 128 KiB of codes (L2-resident), a multiple of 64 rows.
std::int64_t block_rows(int words) {
  return std::clamp<std::int64_t>((std::int64_t{16384} / words) / 64 * 64, 64, 8192);
}

struct Worker {
  std::vector<std::uint64_t> block;  // [words x block rows], word-major
  std::vector<Entry> pool;           // [query tile x cap]
  std::vector<Candidates> cand;      // [query tile]
  std::vector<std::uint32_t> hist;   // [bits + 2], zero between uses
  std::vector<Entry> merged;         // [workers x cap] (merge phase)
  std::vector<std::uint32_t> offsets;
};

PopcountIsa detect() noexcept {
  __builtin_cpu_init();
  PopcountIsa best = PopcountIsa::Scalar;
  if (__builtin_cpu_supports("avx2")) best = PopcountIsa::Avx2;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq")) best = PopcountIsa::Avx512;
  const char* env = std::getenv("XMR_CPU_ISA");
  if (env == nullptr) return best;
  const std::string_view v(env);
  PopcountIsa want = best;
  if (v == "scalar") want = PopcountIsa::Scalar;
  if (v == "avx2") want = PopcountIsa::Avx2;
  if (v == "avx512") want = PopcountIsa::Avx512;
  return static_cast<int>(want) < static_cast<int>(best) ? want : best;
}

}  // namespace

PopcountIsa popcount_isa() noexcept {
  static const PopcountIsa isa = detect();
  return isa;
}

const char* to_string(PopcountIsa isa) noexcept {
  switch (isa) {
    case PopcountIsa::Avx512: return "avx512-vpopcntdq";
    case PopcountIsa::Avx2: return "avx2";
    case PopcountIsa::Scalar: return "scalar-popcnt";
  }
  return "unknown";
}

void hamming_search(const DenseSnapshot& snap, const std::uint8_t* queries, std::int64_t num_queries, std::int64_t k,
                    std::int32_t max_distance, const Resources& res, std::int32_t* out_dist, std::uint32_t* out_pos,
                    std::int64_t* out_within) {
  const std::int64_t n = snap.size;
  const std::size_t code_bytes = snap.code_bytes;
  XMR_INVARIANT(code_bytes > 0 && n > 0 && k >= 1 && max_distance >= 0);
  if (num_queries == 0) return;
  const int words = static_cast<int>((code_bytes + 7) / 8);
  const auto bits = static_cast<std::uint32_t>(code_bytes * 8);
  const std::uint32_t kk = static_cast<std::uint32_t>(std::min<std::int64_t>(k, n));
  // Candidate list capacity: room for k winners plus at least as many newcomers between
  // compactions, so a compaction (O(cap + bits)) is amortised over >= max(k, 256) pushes.
  const std::uint32_t cap = kk + std::max<std::uint32_t>(kk, 256);
  const std::uint32_t initial_bound = static_cast<std::uint32_t>(std::min<std::int64_t>(max_distance, bits)) + 1;

  std::size_t workspace_bytes = 0;
  {
    std::lock_guard lock(res.impl().mutex);
    workspace_bytes = res.impl().workspace_bytes.load();
  }
  const std::int64_t rows_per_block = block_rows(words);
  const std::int64_t blocks = (n + rows_per_block - 1) / rows_per_block;
  const std::int64_t workers = std::clamp<std::int64_t>(omp_get_max_threads(), 1, blocks);
  // Query tile: every worker keeps a candidate list per query of the tile.
  const std::int64_t per_query = workers * static_cast<std::int64_t>(cap) * static_cast<std::int64_t>(sizeof(Entry));
  const std::int64_t fixed = workers * (rows_per_block * words * 8 + (static_cast<std::int64_t>(bits) + 2) * 4 +
                                        2 * per_query);  // block, histogram, merge buffers
  const auto budget = static_cast<std::int64_t>(std::min<std::size_t>(workspace_bytes, INT64_MAX / 2));
  XMR_CHECK(fixed + per_query <= budget, OutOfMemory, "k (= ", k, ") needs ", fixed + per_query,
            " bytes of CPU scratch, above the workspace budget (= ", workspace_bytes,
            " bytes; see Resources::set_workspace_bytes)");
  const std::int64_t qt =
      std::clamp<std::int64_t>((budget - fixed) / per_query, 1, std::min<std::int64_t>(num_queries, 4096));

  // Queries as zero-padded 64-bit words.
  std::vector<std::uint64_t> qwords(static_cast<std::size_t>(num_queries) * static_cast<std::size_t>(words), 0);
  for (std::int64_t q = 0; q < num_queries; ++q) {
    std::memcpy(qwords.data() + q * words, queries + static_cast<std::size_t>(q) * code_bytes, code_bytes);
  }
  // All scratch is allocated here: nothing inside the parallel regions may throw.
  std::vector<Worker> state(static_cast<std::size_t>(workers));
  for (Worker& w : state) {
    w.block.resize(static_cast<std::size_t>(rows_per_block * words));
    w.pool.resize(static_cast<std::size_t>(qt) * cap);
    w.cand.resize(static_cast<std::size_t>(qt));
    w.hist.assign(bits + 2, 0);
    w.merged.resize(static_cast<std::size_t>(workers) * cap);
    w.offsets.resize(bits + 2);
  }

  const PopcountIsa isa = popcount_isa();
  const bool count_within = out_within != nullptr;
  const ScanFn scan = count_within ? pick_kernel<true>(isa, words) : pick_kernel<false>(isa, words);
  const Scan4Fn scan4 = count_within ? pick_kernel4<true>(isa, words) : pick_kernel4<false>(isa, words);
  // 64-bit codes are already word-major: scan the stored rows in place. Codes of 2, 4 or 8
  // whole words have a row-major kernel, used in place for small query tiles.
  const ScanFn rows_scan =
      code_bytes == static_cast<std::size_t>(words) * 8
          ? (count_within ? pick_rows_kernel<true>(isa, words) : pick_rows_kernel<false>(isa, words))
          : nullptr;
  const auto* db = reinterpret_cast<const std::uint8_t*>(snap.row_data());

  for (std::int64_t q0 = 0; q0 < num_queries; q0 += qt) {
    const std::int64_t qn = std::min(qt, num_queries - q0);
    const bool parallel = workers > 1 && qn * n * words >= (std::int64_t{1} << 18);
    const bool row_major = rows_scan != nullptr && qn <= kRowMajorMaxQueries;
    const bool in_place = code_bytes == 8 || row_major;
    const ScanFn tile_scan = row_major ? rows_scan : scan;
    // Four queries per pass pay off from 256-bit codes up (measured on Zen 4: 256-bit 1.1-1.35x
    // faster; 64- and 128-bit up to 1.3x slower, the extra compares outweighing the loads saved).
    const Scan4Fn tile_scan4 = row_major || words < 4 ? nullptr : scan4;
#pragma omp parallel num_threads(static_cast <int>(workers)) if (parallel)
    {
      const int t = omp_get_thread_num();
      const int nt = omp_get_num_threads();
      Worker& w = state[static_cast<std::size_t>(t)];
      for (std::int64_t q = 0; q < qn; ++q) {
        w.cand[static_cast<std::size_t>(q)] =
            Candidates{w.pool.data() + static_cast<std::size_t>(q) * cap, 0, cap, initial_bound, 0};
      }
      // Contiguous, ascending block ranges per worker (the merge relies on it).
      const std::int64_t b0 = blocks * t / nt;
      const std::int64_t b1 = blocks * (t + 1) / nt;
      for (std::int64_t b = b0; b < b1; ++b) {
        const std::int64_t r0 = b * rows_per_block;
        const std::int64_t rn = std::min(rows_per_block, n - r0);
        const std::uint64_t* blk = nullptr;
        std::int64_t ld = 0;
        if (in_place) {
          blk = reinterpret_cast<const std::uint64_t*>(db + static_cast<std::size_t>(r0) * code_bytes);
          ld = rn;
        } else {
          transpose(db + static_cast<std::size_t>(r0) * code_bytes, code_bytes, rn, rows_per_block, w.block.data());
          blk = w.block.data();
          ld = rows_per_block;
        }
        std::int64_t q = 0;
        if (tile_scan4 != nullptr) {
          for (; q + 4 <= qn; q += 4) {
            const ScanCtx s4[4] = {{&w.cand[static_cast<std::size_t>(q)], kk, w.hist.data(), initial_bound},
                                   {&w.cand[static_cast<std::size_t>(q + 1)], kk, w.hist.data(), initial_bound},
                                   {&w.cand[static_cast<std::size_t>(q + 2)], kk, w.hist.data(), initial_bound},
                                   {&w.cand[static_cast<std::size_t>(q + 3)], kk, w.hist.data(), initial_bound}};
            tile_scan4(blk, ld, rn, words, qwords.data() + (q0 + q) * words, static_cast<std::uint32_t>(r0), s4);
          }
        }
        for (; q < qn; ++q) {
          const ScanCtx s{&w.cand[static_cast<std::size_t>(q)], kk, w.hist.data(), initial_bound};
          tile_scan(blk, ld, rn, words, qwords.data() + (q0 + q) * words, static_cast<std::uint32_t>(r0), s);
        }
      }
#pragma omp barrier
      // Merge: the workers' lists, concatenated in worker order, are in ascending row order.
#pragma omp for schedule(static)
      for (std::int64_t q = 0; q < qn; ++q) {
        std::size_t total = 0;
        std::int64_t within = 0;
        for (int v = 0; v < nt; ++v) {
          const Candidates& c = state[static_cast<std::size_t>(v)].cand[static_cast<std::size_t>(q)];
          std::copy_n(c.buf, c.size, w.merged.data() + total);
          total += c.size;
          within += c.within;
        }
        const std::size_t take = std::min<std::size_t>(total, kk);
        const Entry* e = w.merged.data();
        std::uint32_t t_cut = initial_bound;  // keep everything below it ...
        std::uint32_t ties = 0;               // ... plus this many rows at it
        if (total > kk) {
          const Cut cut = find_cut(e, total, kk, w.hist.data());
          t_cut = cut.t;
          ties = cut.ties;
        }
        // Stable counting sort of the winners by distance (rows stay ascending within one).
        std::uint32_t* off = w.offsets.data();
        std::fill_n(off, bits + 2, 0U);
        std::uint32_t left = ties;
        for (std::size_t i = 0; i < total; ++i) {
          const std::uint32_t d = e[i].dist;
          if (d < t_cut || (d == t_cut && left > 0)) {
            left -= d == t_cut ? 1U : 0U;
            ++off[d + 1];
          }
        }
        for (std::uint32_t d = 1; d <= bits + 1; ++d) off[d] += off[d - 1];
        std::int32_t* od = out_dist + (q0 + q) * k;
        std::uint32_t* op = out_pos + (q0 + q) * k;
        left = ties;
        for (std::size_t i = 0; i < total; ++i) {
          const std::uint32_t d = e[i].dist;
          if (d < t_cut || (d == t_cut && left > 0)) {
            left -= d == t_cut ? 1U : 0U;
            const std::uint32_t slot = off[d]++;
            od[slot] = static_cast<std::int32_t>(d);
            op[slot] = e[i].pos;
          }
        }
        for (std::int64_t j = static_cast<std::int64_t>(take); j < k; ++j) {
          od[j] = std::numeric_limits<std::int32_t>::max();
          op[j] = std::numeric_limits<std::uint32_t>::max();
        }
        if (out_within != nullptr) out_within[q0 + q] = within;
      }
    }
  }
}

}  // namespace xmr::engine::cpu
