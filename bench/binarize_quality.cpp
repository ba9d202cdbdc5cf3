// binarize_quality: retrieval quality (mAP over the full ranking) of the binarisers of
// xmr/binarize.h on the synthetic cross-modal data, image->text and text->image, printed as a
// markdown table. A quality report, not a timing benchmark.
//
//   binarize_quality [--train N] [--queries Q] [--database N] [--dim D] [--bits 16,32,64,128]
//                    [--seed S] [--power P] [--only NAME-SUBSTRING] [--no-reference]
//
// Data: xmr::synth::make_cross_modal with train + queries + database images and one caption
// each; the first `train` pairs train the binarisers, the next `queries` pairs are the queries
// and the last `database` pairs the database (disjoint). A database item is relevant to a query
// when they share at least one label. Ranking: Hamming distance ascending, ties by ascending id
// (xmr::BinaryIndex with k = N); a float cosine ranking (xmr::DenseIndex) is the unquantised
// reference.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "xmr/xmr.h"

namespace {

struct Args {
  std::int64_t train = 5000;
  std::int64_t queries = 2000;
  std::int64_t database = 10000;
  std::int64_t dim = 128;
  std::vector<std::int64_t> bits = {16, 32, 64, 128};
  std::uint64_t seed = 42;
  double power = -1.0;  // < 0: the library default
  std::string only;     // run only the rows whose name contains this
  bool reference = true;
};

std::vector<std::int64_t> parse_list(const char* s) {
  std::vector<std::int64_t> out;
  const std::string str(s);
  std::size_t pos = 0;
  while (pos <= str.size()) {
    const std::size_t comma = std::min(str.find(',', pos), str.size());
    out.push_back(std::stoll(str.substr(pos, comma - pos)));
    pos = comma + 1;
  }
  return out;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--no-reference") {
      a.reference = false;
      --i;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "option %s needs a value\n", k.c_str());
      std::exit(2);
    }
    const char* v = argv[i + 1];
    if (k == "--train") {
      a.train = std::stoll(v);
    } else if (k == "--queries") {
      a.queries = std::stoll(v);
    } else if (k == "--database") {
      a.database = std::stoll(v);
    } else if (k == "--dim") {
      a.dim = std::stoll(v);
    } else if (k == "--bits") {
      a.bits = parse_list(v);
    } else if (k == "--seed") {
      a.seed = std::stoull(v);
    } else if (k == "--power") {
      a.power = std::stod(v);
    } else if (k == "--only") {
      a.only = v;
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      std::exit(2);
    }
  }
  return a;
}

/// Rows [begin, begin + n) of a row-major [.. x dim] array.
xmr::MatrixView<const float> rows(const std::vector<float>& v, std::int64_t begin, std::int64_t n, std::int64_t dim) {
  return {v.data() + begin * dim, n, dim};
}

/// Label sets as bit masks (num_labels <= 64).
std::vector<std::uint64_t> label_masks(const std::vector<std::uint8_t>& labels, std::int64_t begin, std::int64_t n,
                                       std::int64_t num_labels) {
  std::vector<std::uint64_t> out(static_cast<std::size_t>(n), 0);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t l = 0; l < num_labels; ++l) {
      if (labels[static_cast<std::size_t>((begin + i) * num_labels + l)] != 0) {
        out[static_cast<std::size_t>(i)] |= std::uint64_t{1} << l;
      }
    }
  }
  return out;
}

/// Average precision of one ranking (`order`: database indices, best first).
double average_precision(const std::vector<std::int64_t>& order, std::uint64_t query_labels,
                         const std::vector<std::uint64_t>& db_labels) {
  double sum = 0.0;
  std::int64_t hits = 0;
  for (std::size_t r = 0; r < order.size(); ++r) {
    if ((db_labels[static_cast<std::size_t>(order[r])] & query_labels) != 0) {
      ++hits;
      sum += static_cast<double>(hits) / static_cast<double>(r + 1);
    }
  }
  return hits > 0 ? sum / static_cast<double>(hits) : -1.0;
}

/// Queries per search call (bounds the [chunk x N] result arrays).
constexpr std::int64_t kQueryChunk = 256;

/// Mean AP over queries whose full rankings `rank(q0, m)` returns ([m x N] ids, queries q0 ..
/// q0 + m - 1), asked for kQueryChunk queries at a time; queries without a relevant item are
/// skipped.
template <class Rank>
double ranking_map(std::int64_t nq, std::int64_t n, const std::vector<std::uint64_t>& q_labels,
                   const std::vector<std::uint64_t>& db_labels, Rank&& rank) {
  double total = 0.0;
  std::int64_t counted = 0;
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  for (std::int64_t q0 = 0; q0 < nq; q0 += kQueryChunk) {
    const std::int64_t m = std::min(kQueryChunk, nq - q0);
    const std::vector<std::int64_t> ids = rank(q0, m);
    for (std::int64_t i = 0; i < m; ++i) {
      std::copy_n(ids.begin() + i * n, n, order.begin());
      const double ap = average_precision(order, q_labels[static_cast<std::size_t>(q0 + i)], db_labels);
      if (ap >= 0.0) {
        total += ap;
        ++counted;
      }
    }
  }
  return counted > 0 ? total / static_cast<double>(counted) : 0.0;
}

/// mAP of Hamming ranking of queries [Q x nb] against the database [N x nb], by xmr::BinaryIndex
/// with k = N (its result contract is ascending distance, ties by ascending id).
double hamming_map(const std::vector<std::uint8_t>& q, const std::vector<std::uint8_t>& db, std::int64_t nb,
                   const std::vector<std::uint64_t>& q_labels, const std::vector<std::uint64_t>& db_labels) {
  const auto nq = static_cast<std::int64_t>(q_labels.size());
  const auto n = static_cast<std::int64_t>(db_labels.size());
  xmr::BinaryIndex index({.bits = nb * 8, .device = xmr::Device::Cpu});
  index.add(xmr::MatrixView<const std::uint8_t>(db.data(), n, nb));
  return ranking_map(nq, n, q_labels, db_labels, [&](std::int64_t q0, std::int64_t m) {
    return index.search(xmr::MatrixView<const std::uint8_t>(q.data() + q0 * nb, m, nb), n).ids;
  });
}

/// mAP of float cosine ranking (the unquantised reference), by xmr::DenseIndex with k = N.
double cosine_map(xmr::MatrixView<const float> q, xmr::MatrixView<const float> db,
                  const std::vector<std::uint64_t>& q_labels, const std::vector<std::uint64_t>& db_labels) {
  const std::int64_t nq = q.rows();
  const std::int64_t n = db.rows();
  xmr::DenseIndex index({.dim = q.cols(), .metric = xmr::Metric::Cosine, .device = xmr::Device::Cpu});
  index.add(db);
  return ranking_map(nq, n, q_labels, db_labels, [&](std::int64_t q0, std::int64_t m) {
    return index.search(xmr::MatrixView<const float>(q.row(q0), m, q.cols(), q.stride()), n).ids;
  });
}

struct Cell {
  double i2t = -1.0;
  double t2i = -1.0;
};

std::string fmt(const Cell& c) {
  if (c.i2t < 0.0) return "—";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4f / %.4f", c.i2t, c.t2i);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  try {
    xmr::synth::CrossModalSpec spec;
    spec.num_images = a.train + a.queries + a.database;
    spec.dim = a.dim;
    spec.seed = a.seed;
    const xmr::synth::CrossModalData d = xmr::synth::make_cross_modal(spec);
    const std::int64_t dim = d.dim;
    const std::int64_t q0 = a.train;
    const std::int64_t db0 = a.train + a.queries;
    const auto img_train = rows(d.image_embeddings, 0, a.train, dim);
    const auto txt_train = rows(d.text_embeddings, 0, a.train, dim);
    const auto img_q = rows(d.image_embeddings, q0, a.queries, dim);
    const auto txt_q = rows(d.text_embeddings, q0, a.queries, dim);
    const auto img_db = rows(d.image_embeddings, db0, a.database, dim);
    const auto txt_db = rows(d.text_embeddings, db0, a.database, dim);
    const auto q_labels = label_masks(d.image_labels, q0, a.queries, d.num_labels);
    const auto db_labels = label_masks(d.image_labels, db0, a.database, d.num_labels);
    // Both modalities' training rows stacked, for the single-space binarisers.
    std::vector<float> both(d.image_embeddings.begin(), d.image_embeddings.begin() + a.train * dim);
    both.insert(both.end(), d.text_embeddings.begin(), d.text_embeddings.begin() + a.train * dim);
    const xmr::MatrixView<const float> stacked(both.data(), 2 * a.train, dim);

    auto evaluate = [&](const xmr::Binarizer& img, const xmr::Binarizer& txt) {
      const std::int64_t nb = img.code_bytes();
      const auto ci_q = img.encode(img_q);
      const auto ct_q = txt.encode(txt_q);
      const auto ci_db = img.encode(img_db);
      const auto ct_db = txt.encode(txt_db);
      return Cell{hamming_map(ci_q, ct_db, nb, q_labels, db_labels), hamming_map(ct_q, ci_db, nb, q_labels, db_labels)};
    };

    struct Row {
      std::string name;
      std::function<Cell(std::int64_t)> run;
    };
    const std::int64_t seed = 7;
    char power_buf[32];
    std::snprintf(power_buf, sizeof power_buf, "%g",
                  a.power >= 0.0 ? a.power : xmr::CrossModalItqOptions{}.correlation_power);
    const std::string power_text = power_buf;
    std::vector<Row> table = {
        {"sign (B = D only)",
         [&](std::int64_t b) {
           if (b != dim) return Cell{};
           const auto s = xmr::Binarizer::sign(dim);
           return evaluate(s, s);
         }},
        {"sign-median (B = D only; medians of both modalities stacked)",
         [&](std::int64_t b) {
           if (b != dim) return Cell{};
           const auto s = xmr::Binarizer::sign_median(stacked);
           return evaluate(s, s);
         }},
        {"LSH (uncentred)",
         [&](std::int64_t b) {
           const auto s = xmr::Binarizer::lsh(dim, b, seed);
           return evaluate(s, s);
         }},
        {"LSH (centred on both modalities)",
         [&](std::int64_t b) {
           const auto s = xmr::Binarizer::lsh(stacked, b, {.seed = seed});
           return evaluate(s, s);
         }},
        {"ITQ (both modalities stacked)",
         [&](std::int64_t b) {
           const auto s = xmr::Binarizer::itq(stacked, b, {.seed = seed});
           return evaluate(s, s);
         }},
        {"cross-modal ITQ (CCA + ITQ, correlation power " + power_text + ")",
         [&](std::int64_t b) {
           xmr::CrossModalItqOptions o;
           o.seed = seed;
           if (a.power >= 0.0) o.correlation_power = a.power;
           const auto p = xmr::train_cross_modal_itq(img_train, txt_train, b, o);
           return evaluate(p.image, p.text);
         }},
    };

    const auto t0 = std::chrono::steady_clock::now();
    std::printf(
        "Synthetic cross-modal data (xmr::synth::make_cross_modal, default spec, seed %llu): dim %lld, "
        "%lld train pairs, %lld queries, %lld database items; relevant = at least one shared label.\n\n",
        static_cast<unsigned long long>(a.seed), static_cast<long long>(dim), static_cast<long long>(a.train),
        static_cast<long long>(a.queries), static_cast<long long>(a.database));
    std::printf("mAP over the full ranking, image→text / text→image (Hamming distance, ties by ascending id).\n\n");
    std::printf("| method |");
    for (std::int64_t b : a.bits) std::printf(" %lld bits |", static_cast<long long>(b));
    std::printf("\n| --- |");
    for (std::size_t i = 0; i < a.bits.size(); ++i) std::printf(" --- |");
    std::printf("\n");
    std::fflush(stdout);
    for (const Row& r : table) {
      if (r.name.find(a.only) == std::string::npos) continue;
      std::printf("| %s |", r.name.c_str());
      for (std::int64_t b : a.bits) std::printf(" %s |", fmt(r.run(b)).c_str());
      std::printf("\n");
      std::fflush(stdout);
    }
    if (a.reference) {
      const Cell ref{cosine_map(img_q, txt_db, q_labels, db_labels), cosine_map(txt_q, img_db, q_labels, db_labels)};
      std::printf("\nUnquantised reference, float cosine ranking of the raw embeddings: %s\n", fmt(ref).c_str());
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("\n(total %.1f s)\n", secs);
  } catch (const xmr::Error& e) {
    std::fprintf(stderr, "error (%s): %s\n", xmr::to_string(e.code()), e.what());
    return 1;
  }
  return 0;
}
