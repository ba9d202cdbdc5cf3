// `xmr build` and `xmr search`: index files from .npy arrays, and k-NN search of .npy queries
// against an index file, a .npy database, or (two-stage) a Hamming shortlist re-scored exactly.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "npy.h"
#include "progress.h"
#include "util.h"
#include "xmr/xmr.h"

namespace xmr::cli {
namespace {

// ---------------------------------------------------------------------------------------------
// Shared pieces

/// Labels of `n` items for IndexExtras, from a --labels file (multi-hot [n, C] or class indices
/// [n]), reordered so row r belongs to the r-th smallest id (the order index files store).
Labels load_labels(const std::string& path, std::int64_t n, const std::vector<std::int64_t>& ids) {
  const NpyArray a = load_npy(path);
  std::int64_t classes = 0;
  std::vector<std::uint8_t> hot = multi_hot_labels(a, "--labels", classes);
  if (a.rows() != n)
    throw NpyError("--labels " + path + ": has " + std::to_string(a.rows()) + " rows, the base has " +
                   std::to_string(n));
  if (!ids.empty()) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), std::int64_t{0});
    std::sort(order.begin(), order.end(), [&](std::int64_t x, std::int64_t y) {
      return ids[static_cast<std::size_t>(x)] < ids[static_cast<std::size_t>(y)];
    });
    std::vector<std::uint8_t> sorted(hot.size());
    for (std::int64_t r = 0; r < n; ++r) {
      const auto src = hot.begin() + order[static_cast<std::size_t>(r)] * classes;
      std::copy(src, src + classes, sorted.begin() + r * classes);
    }
    hot = std::move(sorted);
  }
  return Labels::from_multi_hot(MatrixView<const std::uint8_t>(hot.data(), n, classes));
}

std::vector<std::int64_t> load_ids(const std::string& path, std::int64_t n) {
  if (path.empty()) return {};
  std::vector<std::int64_t> ids = id_vector(load_npy(path), "--ids");
  if (static_cast<std::int64_t>(ids.size()) != n)
    throw NpyError("--ids " + path + ": has " + std::to_string(ids.size()) + " ids, the base has " + std::to_string(n) +
                   " rows");
  return ids;
}

/// Where the results go: .npy files and/or JSON lines ("-" = stdout).
struct Outputs {
  std::string ids;
  std::string scores;
  std::string jsonl;
};

/// Search results of any kind, [q x k] row-major.
struct Results {
  std::int64_t q = 0;
  std::int64_t k = 0;
  std::vector<std::int64_t> ids;
  std::vector<float> scores;       // dense
  std::vector<std::int32_t> dist;  // Hamming
  Device device = Device::Cpu;
};

void write_outputs(const Outputs& out, const Results& r) {
  const std::int64_t shape[2] = {r.q, r.k};
  if (!out.ids.empty()) save_npy(out.ids, NpyType::I64, shape, r.ids.data());
  if (!out.scores.empty()) {
    if (!r.dist.empty()) {
      save_npy(out.scores, NpyType::I32, shape, r.dist.data());
    } else {
      save_npy(out.scores, NpyType::F32, shape, r.scores.data());
    }
  }
  if (out.jsonl.empty()) return;
  std::FILE* f = out.jsonl == "-" ? stdout : std::fopen(out.jsonl.c_str(), "w");
  if (f == nullptr) throw NpyError(out.jsonl + ": cannot create (--out-jsonl)");
  const bool hamming = !r.dist.empty();
  for (std::int64_t i = 0; i < r.q; ++i) {
    std::string line = "{\"query\": " + std::to_string(i) + ", \"ids\": [";
    std::string vals = hamming ? "\"distances\": [" : "\"scores\": [";
    bool first = true;
    for (std::int64_t j = 0; j < r.k; ++j) {
      const std::size_t at = static_cast<std::size_t>(i * r.k + j);
      if (r.ids[at] < 0) break;  // padding: fewer results than k
      if (!first) {
        line += ", ";
        vals += ", ";
      }
      line += std::to_string(r.ids[at]);
      vals += hamming ? std::to_string(r.dist[at]) : json_float(r.scores[at]);
      first = false;
    }
    line += "], " + vals + "]}\n";
    std::fputs(line.c_str(), f);
  }
  if (f != stdout && std::fclose(f) != 0) throw NpyError(out.jsonl + ": cannot write (--out-jsonl)");
}

/// Runs `search(first_row, rows)` over query chunks of `batch` rows with a progress bar.
template <class F>
void chunked(std::int64_t q, std::int64_t batch, const char* label, F&& search) {
  Progress bar(label, q);
  for (std::int64_t q0 = 0; q0 < q; q0 += batch) {
    const std::int64_t rows = std::min(batch, q - q0);
    search(q0, rows);
    bar.update(q0 + rows);
  }
}

template <class T>
MatrixView<const T> rows_of(const MatrixView<const T>& m, std::int64_t first, std::int64_t rows) {
  return MatrixView<const T>(m.row(first), rows, m.cols(), m.stride());
}

Results dense_search(const DenseIndex& index, const NpyArray& queries, std::int64_t k, Device device,
                     std::int64_t batch) {
  if (queries.type != NpyType::F32 && queries.type != NpyType::F16)
    throw NpyError("--queries " + queries.path + ": expected float32 or float16 embeddings, got " + queries.describe() +
                   " (convert with .astype(numpy.float32))");
  queries.require_matrix("--queries");
  if (queries.cols() != index.dim())
    throw NpyError("--queries " + queries.path + ": has dimension " + std::to_string(queries.cols()) +
                   ", the index has " + std::to_string(index.dim()));
  Results r;
  r.q = queries.rows();
  r.k = k;
  r.ids.resize(static_cast<std::size_t>(r.q * k));
  r.scores.resize(r.ids.size());
  chunked(r.q, batch, "search", [&](std::int64_t q0, std::int64_t rows) {
    MatrixView<std::int64_t> ids(r.ids.data() + q0 * k, rows, k);
    MatrixView<float> scores(r.scores.data() + q0 * k, rows, k);
    const SearchOptions opts{.device = device};
    r.device = queries.type == NpyType::F32
                   ? index.search_into(rows_of(queries.f32("--queries"), q0, rows), k, ids, scores, opts)
                   : index.search_into(rows_of(queries.f16("--queries"), q0, rows), k, ids, scores, opts);
  });
  return r;
}

Results hamming_search(const BinaryIndex& index, MatrixView<const std::uint8_t> queries, const std::string& path,
                       std::int64_t k, Device device, std::int64_t batch) {
  if (queries.cols() * 8 != index.bits())
    throw NpyError("--queries " + path + ": codes of " + std::to_string(queries.cols() * 8) +
                   " bits, the index holds " + std::to_string(index.bits()) + "-bit codes");
  Results r;
  r.q = queries.rows();
  r.k = k;
  r.ids.resize(static_cast<std::size_t>(r.q * k));
  r.dist.resize(r.ids.size());
  chunked(r.q, batch, "search", [&](std::int64_t q0, std::int64_t rows) {
    MatrixView<std::int64_t> ids(r.ids.data() + q0 * k, rows, k);
    MatrixView<std::int32_t> dist(r.dist.data() + q0 * k, rows, k);
    r.device = index.search_into(rows_of(queries, q0, rows), k, ids, dist, {.device = device});
  });
  return r;
}

// ---------------------------------------------------------------------------------------------
// xmr build

struct BuildArgs {
  std::string base;
  std::string metric;
  std::string out;
  std::string ids;
  std::string labels;
  std::string storage = "auto";
  std::string binarizer;
  std::string device = "auto";
  int threads = 0;
};

void run_build(const BuildArgs& a) {
  set_threads(a.threads);
  const Stopwatch clock;
  const NpyArray base = load_npy(a.base);
  base.require_matrix("--base");
  const std::vector<std::int64_t> ids = load_ids(a.ids, base.rows());
  IndexExtras extras;
  if (!a.labels.empty()) extras.labels = load_labels(a.labels, base.rows(), ids);
  const Device device = parse_device(a.device);
  std::string what;
  if (a.metric == "hamming") {
    const MatrixView<const std::uint8_t> codes = base.u8("--base");
    if (!a.binarizer.empty()) {
      // A pair file (cross-modal) or a single binariser.
      try {
        extras.cross_modal_binarizer = CrossModalBinarizer::load(a.binarizer);
      } catch (const Error&) {
        extras.binarizer = Binarizer::load(a.binarizer);
      }
    }
    BinaryIndex index({.bits = codes.cols() * 8, .device = device});
    if (ids.empty()) {
      index.add(codes);
    } else {
      index.add(codes, ids);
    }
    index.save(a.out, extras);
    what = "binary index: " + std::to_string(index.size()) + " codes of " + std::to_string(index.bits()) + " bits";
  } else {
    if (!a.binarizer.empty()) throw NpyError("--binarizer " + a.binarizer + ": only a hamming index keeps a binariser");
    if (base.type != NpyType::F32 && base.type != NpyType::F16)
      throw NpyError("--base " + a.base + ": expected float32 or float16 embeddings, got " + base.describe() +
                     " (convert with .astype(numpy.float32))");
    DType storage = base.type == NpyType::F16 ? DType::F16 : DType::F32;
    if (a.storage == "fp32") storage = DType::F32;
    if (a.storage == "fp16") storage = DType::F16;
    DenseIndex index({.dim = base.cols(), .metric = parse_metric(a.metric), .storage = storage, .device = device});
    const std::span<const std::int64_t> id_span(ids);
    if (base.type == NpyType::F32) {
      ids.empty() ? index.add(base.f32("--base")) : index.add(base.f32("--base"), id_span);
    } else {
      ids.empty() ? index.add(base.f16("--base")) : index.add(base.f16("--base"), id_span);
    }
    index.save(a.out, extras);
    what = "dense index: " + std::to_string(index.size()) + " vectors of dim " + std::to_string(index.dim()) + ", " +
           to_string(index.metric()) + ", " + to_string(storage);
  }
  std::fprintf(stderr, "xmr build: wrote %s (%s%s) in %.2f s\n", a.out.c_str(), what.c_str(),
               extras.labels ? (", labels: " + std::to_string(extras.labels->num_classes) + " classes").c_str() : "",
               clock.seconds());
}

// ---------------------------------------------------------------------------------------------
// xmr search

struct SearchArgs {
  std::string base;
  std::string index;
  std::string queries;
  std::string metric;
  std::int64_t k = 10;
  Outputs out;
  std::string device = "auto";
  int threads = 0;
  std::int64_t batch = 16384;
  // Two-stage.
  std::string base_codes;
  std::string query_codes;
  std::int64_t shortlist = 0;
  bool rescore = true;
  // Binary index files with a binariser: which side the float queries are.
  std::string query_modality;
};

/// Codes for float queries against a binary index file that carries its binariser.
std::vector<std::uint8_t> encode_queries(const IndexExtras& extras, const NpyArray& queries, const SearchArgs& a) {
  const MatrixView<const float> x = queries.f32("--queries");
  if (extras.binarizer) return extras.binarizer->encode(x);
  if (extras.cross_modal_binarizer) {
    if (a.query_modality != "image" && a.query_modality != "text")
      throw NpyError("--queries " + queries.path + ": the index's binariser is cross-modal: say which side the " +
                     "queries are with --query-modality image|text");
    return (a.query_modality == "image" ? extras.cross_modal_binarizer->image : extras.cross_modal_binarizer->text)
        .encode(x);
  }
  throw NpyError("--queries " + queries.path + ": float queries against a binary index need a binariser saved " +
                 "with it (xmr build --binarizer); or pass packed uint8 codes");
}

Results search_index_file(const SearchArgs& a, const NpyArray& queries, Device device) {
  const IndexFileInfo info = read_index_info(a.index);
  if (info.type == "binary") {
    if (!a.metric.empty() && a.metric != "hamming")
      throw NpyError("--index " + a.index + ": holds a binary index (hamming), not --metric " + a.metric);
    IndexExtras extras;
    const BinaryIndex index = BinaryIndex::load(a.index, {.mode = LoadMode::Map}, &extras);
    if (queries.type == NpyType::F32) {
      const std::vector<std::uint8_t> codes = encode_queries(extras, queries, a);
      return hamming_search(index, MatrixView<const std::uint8_t>(codes.data(), queries.rows(), index.bits() / 8),
                            queries.path, a.k, device, a.batch);
    }
    return hamming_search(index, queries.u8("--queries"), queries.path, a.k, device, a.batch);
  }
  if (!a.metric.empty() && (a.metric == "hamming" || parse_metric(a.metric) != info.metric))
    throw NpyError("--index " + a.index + ": holds a dense index with metric " + to_string(info.metric) +
                   ", not --metric " + a.metric);
  const DenseIndex index = DenseIndex::load(a.index, {.mode = LoadMode::Map});
  return dense_search(index, queries, a.k, device, a.batch);
}

Results search_base(const SearchArgs& a, const NpyArray& queries, Device device) {
  const NpyArray base = load_npy(a.base);
  base.require_matrix("--base");
  if (a.metric == "hamming") {
    const MatrixView<const std::uint8_t> codes = base.u8("--base");
    queries.require_matrix("--queries");
    BinaryIndex index({.bits = codes.cols() * 8, .device = device});
    index.add(codes);
    return hamming_search(index, queries.u8("--queries"), queries.path, a.k, device, a.batch);
  }
  if (base.type != NpyType::F32 && base.type != NpyType::F16)
    throw NpyError("--base " + a.base + ": expected float32 or float16 embeddings, got " + base.describe() +
                   " (convert with .astype(numpy.float32))");
  DenseIndex index({.dim = base.cols(),
                    .metric = parse_metric(a.metric),
                    .storage = base.type == NpyType::F16 ? DType::F16 : DType::F32,
                    .device = device});
  base.type == NpyType::F32 ? index.add(base.f32("--base")) : index.add(base.f16("--base"));
  return dense_search(index, queries, a.k, device, a.batch);
}

/// Hamming shortlist of C candidates over the codes, exact re-score over the embeddings, top k.
Results search_two_stage(const SearchArgs& a, const NpyArray& queries, Device device) {
  const NpyArray base = load_npy(a.base);
  const MatrixView<const float> emb = base.f32("--base");
  base.require_matrix("--base");
  const NpyArray base_codes = load_npy(a.base_codes);
  base_codes.require_matrix("--base-codes");
  const MatrixView<const std::uint8_t> codes = base_codes.u8("--base-codes");
  const NpyArray query_codes = load_npy(a.query_codes);
  query_codes.require_matrix("--query-codes");
  const MatrixView<const std::uint8_t> qcodes = query_codes.u8("--query-codes");
  const MatrixView<const float> qemb = queries.f32("--queries");
  queries.require_matrix("--queries");
  if (codes.rows() != emb.rows())
    throw NpyError("--base-codes " + a.base_codes + ": has " + std::to_string(codes.rows()) + " rows, --base has " +
                   std::to_string(emb.rows()));
  if (qcodes.rows() != qemb.rows())
    throw NpyError("--query-codes " + a.query_codes + ": has " + std::to_string(qcodes.rows()) +
                   " rows, --queries has " + std::to_string(qemb.rows()));
  if (qcodes.cols() != codes.cols())
    throw NpyError("--query-codes " + a.query_codes + ": codes of " + std::to_string(qcodes.cols() * 8) +
                   " bits, --base-codes has " + std::to_string(codes.cols() * 8));
  if (qemb.cols() != emb.cols())
    throw NpyError("--queries " + queries.path + ": has dimension " + std::to_string(qemb.cols()) + ", --base has " +
                   std::to_string(emb.cols()));
  Collection items({.name = "base",
                    .dim = emb.cols(),
                    .metric = parse_metric(a.metric),
                    .code_bits = codes.cols() * 8,
                    .device = device});
  items.add({.embeddings = emb, .codes = codes});
  Results r;
  r.q = qemb.rows();
  r.k = a.k;
  r.ids = std::vector<std::int64_t>(static_cast<std::size_t>(r.q * a.k));
  r.scores = std::vector<float>(r.ids.size());
  PipelineOptions opts;
  opts.k = a.k;
  opts.candidates = a.shortlist;
  opts.shortlist = ShortlistBy::Codes;
  opts.rescore = a.rescore ? RescoreBy::Embeddings : RescoreBy::None;
  opts.device = device;
  chunked(r.q, a.batch, "search", [&](std::int64_t q0, std::int64_t rows) {
    const PipelineResult p =
        retrieve(items, {.embeddings = rows_of(qemb, q0, rows), .codes = rows_of(qcodes, q0, rows)}, opts);
    std::copy(p.ids.begin(), p.ids.end(), r.ids.begin() + q0 * a.k);
    std::copy(p.scores.begin(), p.scores.end(), r.scores.begin() + q0 * a.k);
    r.device = p.device;
  });
  return r;
}

void run_search(SearchArgs a) {
  set_threads(a.threads);
  const bool two_stage = !a.base_codes.empty() || !a.query_codes.empty() || a.shortlist > 0;
  if (a.base.empty() == a.index.empty()) throw CLI::ValidationError("give exactly one of --base and --index");
  if (!a.base.empty() && a.metric.empty()) throw CLI::ValidationError("--metric is required with --base");
  if (two_stage) {
    if (a.base.empty() || a.base_codes.empty() || a.query_codes.empty() || a.shortlist <= 0)
      throw CLI::ValidationError(
          "two-stage search needs --base, --base-codes, --query-codes and --shortlist C (>= k) together");
    if (a.metric == "hamming")
      throw CLI::ValidationError("two-stage search re-scores the embeddings: --metric cosine or ip");
    if (a.shortlist < a.k)
      throw CLI::ValidationError("--shortlist (= " + std::to_string(a.shortlist) +
                                 ") must be >= -k (= " + std::to_string(a.k) + ")");
  }
  if (a.out.ids.empty() && a.out.scores.empty() && a.out.jsonl.empty()) a.out.jsonl = "-";
  const Device device = parse_device(a.device);
  const Stopwatch clock;
  const NpyArray queries = load_npy(a.queries);
  const double load_s = clock.seconds();
  const Stopwatch search_clock;
  Results r;
  if (two_stage) {
    r = search_two_stage(a, queries, device);
  } else if (!a.index.empty()) {
    r = search_index_file(a, queries, device);
  } else {
    r = search_base(a, queries, device);
  }
  const double search_s = search_clock.seconds();
  write_outputs(a.out, r);
  std::fprintf(stderr,
               "xmr search: %lld queries, k = %lld%s, on %s (%d CPU threads): %.3f s (%.0f queries/s), %.3f s "
               "loading queries\n",
               static_cast<long long>(r.q), static_cast<long long>(r.k),
               two_stage ? (", shortlist " + std::to_string(a.shortlist)).c_str() : "", to_string(r.device),
               cpu_threads(), search_s, search_s > 0 ? static_cast<double>(r.q) / search_s : 0.0, load_s);
}

}  // namespace

void add_build_command(CLI::App& app) {
  auto a = std::make_shared<BuildArgs>();
  auto* cmd = app.add_subcommand("build", "Build an index file from a .npy array of embeddings or codes");
  cmd->add_option("--base", a->base,
                  "[N, D] float32/float16 embeddings, or [N, bits/8] uint8 packed codes "
                  "(--metric hamming; numpy.packbits(bits, axis=1, bitorder='little'))")
      ->required();
  cmd->add_option("--metric", a->metric, "cosine, ip (inner product) or hamming")
      ->required()
      ->check(CLI::IsMember({"cosine", "ip", "hamming"}));
  cmd->add_option("--out", a->out, "the index file to write (atomically)")->required();
  cmd->add_option("--ids", a->ids, "[N] int64 ids, distinct and >= 0 (default: row numbers)");
  cmd->add_option("--labels", a->labels,
                  "[N, C] multi-hot labels (uint8/bool/int) or [N] class indices, saved with the index");
  cmd->add_option("--storage", a->storage, "dense storage: auto (the --base type), fp32 or fp16")
      ->check(CLI::IsMember({"auto", "fp32", "fp16"}));
  cmd->add_option("--binarizer", a->binarizer,
                  "a binariser file (xmr binarize train) to save with a hamming index, so float queries can be "
                  "searched against it");
  cmd->add_option("--device", a->device, "the index's default search device: auto, cpu or gpu")
      ->check(CLI::IsMember({"auto", "cpu", "gpu"}));
  cmd->add_option("--threads", a->threads, "CPU threads (default: all cores, or OMP_NUM_THREADS)")
      ->check(CLI::Range(0, 4096));
  cmd->callback([a] { run_build(*a); });
}

void add_search_command(CLI::App& app) {
  auto a = std::make_shared<SearchArgs>();
  auto* cmd = app.add_subcommand(
      "search",
      "k-NN search of .npy queries against an index file or a .npy database; ids and scores to .npy or JSON lines");
  cmd->add_option("--base", a->base, "the database: [N, D] float32/float16, or [N, bits/8] uint8 codes for hamming");
  cmd->add_option("--index", a->index, "an index file (xmr build) instead of --base");
  cmd->add_option("--queries", a->queries, "[Q, D] float32/float16 queries, or [Q, bits/8] uint8 codes")->required();
  cmd->add_option("--metric", a->metric, "cosine, ip or hamming (required with --base; checked with --index)")
      ->check(CLI::IsMember({"cosine", "ip", "hamming"}));
  cmd->add_option("-k", a->k, "results per query")->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 30));
  cmd->add_option("--out-ids", a->out.ids, "write the ids: int64 [Q, k], -1 where a query has fewer than k results");
  cmd->add_option("--out-scores", a->out.scores,
                  "write the scores: float32 [Q, k] (dense, descending) or int32 Hamming distances (ascending)");
  cmd->add_option("--out-jsonl", a->out.jsonl,
                  "write one JSON object per query ({\"query\", \"ids\", \"scores\"|\"distances\"}); '-' = stdout "
                  "(the default when no --out-* is given)");
  cmd->add_option("--device", a->device, "auto (GPU if usable), cpu or gpu")
      ->check(CLI::IsMember({"auto", "cpu", "gpu"}));
  cmd->add_option("--threads", a->threads, "CPU threads (default: all cores, or OMP_NUM_THREADS)")
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--batch", a->batch, "queries per search call (progress is reported between calls)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 30));
  cmd->add_option("--base-codes", a->base_codes, "two-stage: [N, bits/8] uint8 codes of the base rows");
  cmd->add_option("--query-codes", a->query_codes, "two-stage: [Q, bits/8] uint8 codes of the queries");
  cmd->add_option("--shortlist", a->shortlist,
                  "two-stage: C Hamming candidates per query, re-scored exactly over --base (C >= k)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 30));
  cmd->add_flag("--rescore,!--no-rescore", a->rescore,
                "two-stage: re-score the shortlist exactly (default); --no-rescore keeps the Hamming order");
  cmd->add_option("--query-modality", a->query_modality,
                  "float queries against a binary index file with a cross-modal binariser: image or text")
      ->check(CLI::IsMember({"image", "text"}));
  cmd->callback([a] { run_search(*a); });
}

}  // namespace xmr::cli
