// `xmr eval`: retrieval metrics from .npy files (xmr::eval). --json prints one JSON object on
// stdout for scripts; otherwise a readable table.
#include <cstdio>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "commands.h"
#include "npy.h"
#include "progress.h"
#include "util.h"
#include "xmr/xmr.h"

namespace xmr::cli {
namespace {

struct MapArgs {
  std::string queries;
  std::string base;
  std::string metric;
  std::string query_labels;
  std::string base_labels;
  std::string variant = "map_all";
  std::int64_t k = 0;
  std::string ties = "ascending_index";
  std::string device = "auto";
  std::string per_query;
  bool json = false;
  int threads = 0;
};

struct RecallArgs {
  std::string images;
  std::string texts;
  std::int64_t captions = 5;
  bool json = false;
  int threads = 0;
};

eval::MapVariant parse_variant(const std::string& s) {
  if (s == "map_at_k") return eval::MapVariant::AtK;
  if (s == "map_k_first_relevant") return eval::MapVariant::KFirstRelevant;
  return eval::MapVariant::All;
}

/// Labels of `rows` items as an [rows x C] 0/1 matrix (C from the file).
std::vector<std::uint8_t> labels_for(const std::string& path, const char* what, std::int64_t rows,
                                     std::int64_t& classes) {
  const NpyArray a = load_npy(path);
  std::vector<std::uint8_t> hot = multi_hot_labels(a, what, classes);
  if (a.rows() != rows)
    throw NpyError(std::string(what) + " " + path + ": has " + std::to_string(a.rows()) + " rows, expected " +
                   std::to_string(rows) + " (one per item)");
  return hot;
}

/// Query and base labels as two [rows x C] 0/1 matrices with the same C.
struct LabelPair {
  std::vector<std::uint8_t> query;
  std::vector<std::uint8_t> base;
  std::int64_t classes = 0;
  std::int64_t base_rows = 0;
};

/// `q` query rows; `base_rows` the base's rows when known (a mismatch names the files), else -1.
LabelPair label_pair(const std::string& qpath, const std::string& bpath, std::int64_t q, std::int64_t base_rows) {
  LabelPair p;
  std::int64_t qc = 0;
  std::int64_t bc = 0;
  p.query = labels_for(qpath, "--query-labels", q, qc);
  const NpyArray b = load_npy(bpath);
  p.base = multi_hot_labels(b, "--base-labels", bc);
  p.base_rows = b.rows();
  if (base_rows >= 0 && p.base_rows != base_rows)
    throw NpyError("--base-labels " + bpath + ": has " + std::to_string(p.base_rows) + " rows, --base has " +
                   std::to_string(base_rows));
  p.classes = std::max(qc, bc);
  p.query = widen_labels(p.query, q, qc, p.classes);
  p.base = widen_labels(p.base, p.base_rows, bc, p.classes);
  return p;
}

void run_map(const MapArgs& a) {
  set_threads(a.threads);
  const eval::MapVariant variant = parse_variant(a.variant);
  if (variant == eval::MapVariant::All && a.k != 0)
    throw CLI::ValidationError("--k is for map_at_k and map_k_first_relevant; map_all ranks everything");
  if (variant != eval::MapVariant::All && a.k < 1)
    throw CLI::ValidationError("--variant " + a.variant + " needs --k K (>= 1)");
  const NpyArray q = load_npy(a.queries);
  const NpyArray b = load_npy(a.base);
  q.require_matrix("--queries");
  b.require_matrix("--base");
  const LabelPair labels = label_pair(a.query_labels, a.base_labels, q.rows(), b.rows());
  const std::int64_t classes = labels.classes;
  const std::vector<std::uint8_t>& ql = labels.query;
  const std::vector<std::uint8_t>& bl = labels.base;

  eval::MapOptions opts;
  opts.variant = variant;
  opts.k = a.k;
  opts.ties = a.ties == "average" ? eval::TiePolicy::Average : eval::TiePolicy::AscendingIndex;
  opts.device = parse_device(a.device);
  const bool hamming = a.metric == "hamming";
  const MatrixView<const float> qf = hamming ? MatrixView<const float>() : q.f32("--queries");
  const MatrixView<const float> bf = hamming ? MatrixView<const float>() : b.f32("--base");
  const MatrixView<const std::uint8_t> qb = hamming ? q.u8("--queries") : MatrixView<const std::uint8_t>();
  const MatrixView<const std::uint8_t> bb = hamming ? b.u8("--base") : MatrixView<const std::uint8_t>();

  // On the CPU, query chunks give a progress bar; a GPU call streams all queries itself.
  const std::int64_t nq = q.rows();
  const bool one_call = opts.device != Device::Cpu && gpu_count() > 0;
  const std::int64_t chunk = one_call ? nq : std::max<std::int64_t>(64, (nq + 19) / 20);
  const Stopwatch clock;
  eval::MapResult total;
  std::vector<double> ap;
  Progress bar("mAP", nq);
  for (std::int64_t q0 = 0; q0 < nq; q0 += chunk) {
    const std::int64_t rows = std::min(chunk, nq - q0);
    const MatrixView<const std::uint8_t> qlab(ql.data() + q0 * classes, rows, classes);
    const MatrixView<const std::uint8_t> blab(bl.data(), b.rows(), classes);
    eval::MapResult part =
        hamming ? eval::map_hamming(MatrixView<const std::uint8_t>(qb.row(q0), rows, qb.cols()), bb, qlab, blab, opts)
                : eval::map_dense(MatrixView<const float>(qf.row(q0), rows, qf.cols()), bf, parse_metric(a.metric),
                                  qlab, blab, opts);
    ap.insert(ap.end(), part.per_query_ap.begin(), part.per_query_ap.end());
    total = std::move(part);
    bar.update(q0 + rows);
  }
  bar.finish();
  const double seconds = clock.seconds();
  const double map = std::accumulate(ap.begin(), ap.end(), 0.0) / static_cast<double>(ap.size());
  if (!a.per_query.empty()) {
    const std::int64_t shape[1] = {static_cast<std::int64_t>(ap.size())};
    save_npy(a.per_query, NpyType::F64, shape, ap.data());
  }
  const std::string k_text = variant == eval::MapVariant::All ? "null" : std::to_string(a.k);
  if (a.json) {
    std::printf("{\"variant\": %s, \"k\": %s, \"map\": %s, \"queries\": %lld, \"tie_policy\": %s}\n",
                json_string(total.variant).c_str(), k_text.c_str(), json_number(map).c_str(),
                static_cast<long long>(ap.size()), json_string(total.tie_policy).c_str());
  } else {
    std::printf("%-22s %s\n", "metric", a.metric.c_str());
    std::printf("%-22s %s\n", "variant", total.variant.c_str());
    std::printf("%-22s %s\n", "k", variant == eval::MapVariant::All ? "all" : k_text.c_str());
    std::printf("%-22s %s\n", "tie policy", total.tie_policy.c_str());
    std::printf("%-22s %lld x %lld items, %lld classes\n", "queries", static_cast<long long>(ap.size()),
                static_cast<long long>(b.rows()), static_cast<long long>(classes));
    std::printf("%-22s %.6f (%.2f%%)\n", "mAP", map, 100.0 * map);
  }
  std::fprintf(stderr, "xmr eval map: %lld queries x %lld items on %s in %.3f s\n", static_cast<long long>(ap.size()),
               static_cast<long long>(b.rows()), to_string(total.device), seconds);
}

void run_recall(const RecallArgs& a) {
  set_threads(a.threads);
  const NpyArray im = load_npy(a.images);
  const NpyArray tx = load_npy(a.texts);
  im.require_matrix("--images");
  tx.require_matrix("--texts");
  const Stopwatch clock;
  const eval::RetrievalRecall r = eval::recall_at_k(im.f32("--images"), tx.f32("--texts"), a.captions);
  const double seconds = clock.seconds();
  if (a.json) {
    std::printf(
        "{\"i2t_r1\": %s, \"i2t_r5\": %s, \"i2t_r10\": %s, \"t2i_r1\": %s, \"t2i_r5\": %s, \"t2i_r10\": %s, "
        "\"r_mean\": %s}\n",
        json_number(r.i2t_r1).c_str(), json_number(r.i2t_r5).c_str(), json_number(r.i2t_r10).c_str(),
        json_number(r.t2i_r1).c_str(), json_number(r.t2i_r5).c_str(), json_number(r.t2i_r10).c_str(),
        json_number(r.r_mean).c_str());
  } else {
    std::printf("%-16s %10s %10s %10s %10s\n", "direction", "R@1", "R@5", "R@10", "mean");
    std::printf("%-16s %9.2f%% %9.2f%% %9.2f%% %9.2f%%\n", "image -> text", 100 * r.i2t_r1, 100 * r.i2t_r5,
                100 * r.i2t_r10, 100 * r.i2t_mean);
    std::printf("%-16s %9.2f%% %9.2f%% %9.2f%% %9.2f%%\n", "text -> image", 100 * r.t2i_r1, 100 * r.t2i_r5,
                100 * r.t2i_r10, 100 * r.t2i_mean);
    std::printf("%-16s %43.2f%%\n", "r_mean", 100 * r.r_mean);
  }
  std::fprintf(stderr, "xmr eval recall: %lld images, %lld captions (%lld per image), cosine, in %.3f s\n",
               static_cast<long long>(im.rows()), static_cast<long long>(tx.rows()), static_cast<long long>(a.captions),
               seconds);
}

/// Where a ranking-based metric gets its result lists: --ids, or a search of --queries against
/// --base by --metric (ties by ascending index, as every xmr search).
struct RankingArgs {
  std::string ids;
  std::string queries;
  std::string base;
  std::string metric;
  std::string device = "auto";
};

struct RankedMetricArgs {
  RankingArgs ranking;
  std::string query_labels;
  std::string base_labels;
  std::string ground_truth;
  std::int64_t k = 10;
  bool json = false;
  int threads = 0;
};

struct PrArgs {
  std::string queries;
  std::string base;
  std::string query_labels;
  std::string base_labels;
  std::string csv;
  bool json = false;
  int threads = 0;
};

void add_ranking_options(CLI::App* cmd, RankingArgs& r) {
  cmd->add_option("--ids", r.ids,
                  "[Q, L] int64 result lists (row indices of the base, best first, -1 padding), "
                  "e.g. from xmr search --out-ids");
  cmd->add_option("--queries", r.queries, "instead of --ids: [Q, D] float32 queries or [Q, bits/8] uint8 codes");
  cmd->add_option("--base", r.base, "instead of --ids: [N, D] float32 database or [N, bits/8] uint8 codes");
  cmd->add_option("--metric", r.metric, "with --queries/--base: hamming, cosine or ip")
      ->check(CLI::IsMember({"hamming", "cosine", "ip"}));
  cmd->add_option("--device", r.device, "with --queries/--base: auto, cpu or gpu")
      ->check(CLI::IsMember({"auto", "cpu", "gpu"}));
}

/// The [Q x L] result lists: loaded, or searched (top `k`).
std::vector<std::int64_t> ranking(const RankingArgs& r, std::int64_t k, std::int64_t& q, std::int64_t& l,
                                  std::int64_t& base_rows) {
  if (!r.ids.empty()) {
    if (!r.queries.empty() || !r.base.empty())
      throw CLI::ValidationError("give --ids, or --queries, --base and --metric, not both");
    const NpyArray a = load_npy(r.ids);
    a.require_matrix("--ids");
    const MatrixView<const std::int64_t> v = a.i64("--ids");
    q = v.rows();
    l = v.cols();
    base_rows = -1;
    return std::vector<std::int64_t>(v.data(), v.data() + q * l);
  }
  if (r.queries.empty() || r.base.empty() || r.metric.empty())
    throw CLI::ValidationError("give --ids, or --queries, --base and --metric");
  const NpyArray qa = load_npy(r.queries);
  const NpyArray ba = load_npy(r.base);
  qa.require_matrix("--queries");
  ba.require_matrix("--base");
  const Device device = parse_device(r.device);
  q = qa.rows();
  base_rows = ba.rows();
  l = std::min(k, ba.rows());
  if (r.metric == "hamming") {
    BinaryIndex index({.bits = ba.u8("--base").cols() * 8, .device = device});
    index.add(ba.u8("--base"));
    return index.search(qa.u8("--queries"), l, {.device = device}).ids;
  }
  DenseIndex index({.dim = ba.cols(), .metric = parse_metric(r.metric), .device = device});
  index.add(ba.f32("--base"));
  return index.search(qa.f32("--queries"), l, {.device = device}).ids;
}

void print_metric(const eval::MetricResult& m, bool json, const char* label) {
  if (json) {
    std::printf(
        "{\"metric\": %s, \"k\": %lld, \"mean\": %s, \"queries\": %lld, \"skipped_queries\": %lld, "
        "\"no_relevant_queries\": %lld}\n",
        json_string(m.metric).c_str(), static_cast<long long>(m.k), json_number(m.mean).c_str(),
        static_cast<long long>(m.queries), static_cast<long long>(m.skipped_queries),
        static_cast<long long>(m.no_relevant_queries));
    return;
  }
  std::printf("%-22s %s\n", "metric", m.metric.c_str());
  std::printf("%-22s %lld\n", "k", static_cast<long long>(m.k));
  std::printf("%-22s %lld (%lld skipped, %lld with nothing relevant)\n", "queries", static_cast<long long>(m.queries),
              static_cast<long long>(m.skipped_queries), static_cast<long long>(m.no_relevant_queries));
  std::printf("%-22s %.6f (%.2f%%)\n", label, m.mean, 100.0 * m.mean);
}

void run_labelled(const RankedMetricArgs& a, bool ndcg) {
  set_threads(a.threads);
  std::int64_t q = 0;
  std::int64_t l = 0;
  std::int64_t searched_rows = 0;
  const std::vector<std::int64_t> ids = ranking(a.ranking, a.k, q, l, searched_rows);
  const LabelPair labels = label_pair(a.query_labels, a.base_labels, q, searched_rows);
  const MatrixView<const std::int64_t> ranked(ids.data(), q, l);
  const MatrixView<const std::uint8_t> ql(labels.query.data(), q, labels.classes);
  const MatrixView<const std::uint8_t> bl(labels.base.data(), labels.base_rows, labels.classes);
  const eval::MetricResult m = ndcg ? eval::ndcg_at_k(ranked, ql, bl, a.k) : eval::precision_at_k(ranked, ql, bl, a.k);
  print_metric(m, a.json, ndcg ? "NDCG" : "precision");
}

void run_neighbor_recall(const RankedMetricArgs& a) {
  set_threads(a.threads);
  std::int64_t q = 0;
  std::int64_t l = 0;
  std::int64_t searched_rows = 0;
  const std::vector<std::int64_t> ids = ranking(a.ranking, a.k, q, l, searched_rows);
  const NpyArray gt = load_npy(a.ground_truth);
  gt.require_matrix("--ground-truth");
  const eval::MetricResult m =
      eval::neighbor_recall_at_k(MatrixView<const std::int64_t>(ids.data(), q, l), gt.i64("--ground-truth"), a.k);
  print_metric(m, a.json, "recall");
}

void run_pr(const PrArgs& a) {
  set_threads(a.threads);
  const NpyArray qa = load_npy(a.queries);
  const NpyArray ba = load_npy(a.base);
  qa.require_matrix("--queries");
  ba.require_matrix("--base");
  const LabelPair labels = label_pair(a.query_labels, a.base_labels, qa.rows(), ba.rows());
  const Stopwatch clock;
  const eval::PrCurve c =
      eval::pr_curve_hamming(qa.u8("--queries"), ba.u8("--base"),
                             MatrixView<const std::uint8_t>(labels.query.data(), qa.rows(), labels.classes),
                             MatrixView<const std::uint8_t>(labels.base.data(), ba.rows(), labels.classes));
  const double seconds = clock.seconds();
  if (!a.csv.empty()) {
    std::FILE* f = std::fopen(a.csv.c_str(), "w");
    if (f == nullptr) throw NpyError(a.csv + ": cannot create (--csv)");
    std::fprintf(f, "radius,precision,recall,queries_with_hit,pooled_precision,pooled_recall\n");
    for (std::int64_t r = 0; r <= c.bits; ++r) {
      const auto i = static_cast<std::size_t>(r);
      std::fprintf(f, "%lld,%s,%s,%lld,%s,%s\n", static_cast<long long>(r), json_number(c.precision[i]).c_str(),
                   json_number(c.recall[i]).c_str(), static_cast<long long>(c.queries_with_hit[i]),
                   json_number(c.pooled_precision[i]).c_str(), json_number(c.pooled_recall[i]).c_str());
    }
    if (std::fclose(f) != 0) throw NpyError(a.csv + ": cannot write (--csv)");
  }
  if (a.json) {
    auto list = [](const std::vector<double>& v) {
      std::string s = "[";
      for (std::size_t i = 0; i < v.size(); ++i) s += (i > 0 ? ", " : "") + json_number(v[i]);
      return s + "]";
    };
    std::printf(
        "{\"bits\": %lld, \"queries\": %lld, \"no_relevant_queries\": %lld, \"precision\": %s, "
        "\"recall\": %s, \"pooled_precision\": %s, \"pooled_recall\": %s}\n",
        static_cast<long long>(c.bits), static_cast<long long>(c.queries),
        static_cast<long long>(c.no_relevant_queries), list(c.precision).c_str(), list(c.recall).c_str(),
        list(c.pooled_precision).c_str(), list(c.pooled_recall).c_str());
  } else {
    std::printf("%6s %12s %12s\n", "radius", "precision", "recall");
    for (std::int64_t r = 0; r <= c.bits; ++r)
      std::printf("%6lld %12.6f %12.6f\n", static_cast<long long>(r), c.precision[static_cast<std::size_t>(r)],
                  c.recall[static_cast<std::size_t>(r)]);
  }
  std::fprintf(stderr, "xmr eval pr: %lld queries x %lld codes of %lld bits in %.3f s\n",
               static_cast<long long>(c.queries), static_cast<long long>(ba.rows()), static_cast<long long>(c.bits),
               seconds);
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Retrieval metrics (mAP, Recall@K, ...) from .npy files");
  cmd->require_subcommand(1);

  auto m = std::make_shared<MapArgs>();
  auto* map = cmd->add_subcommand("map",
                                  "mAP of the ranking of --base for each of --queries, label relevance "
                                  "(an item is relevant when it shares a label with the query)");
  map->add_option("--queries", m->queries, "[Q, D] float32 queries, or [Q, bits/8] uint8 codes (hamming)")->required();
  map->add_option("--base", m->base, "[N, D] float32 database, or [N, bits/8] uint8 codes (hamming)")->required();
  map->add_option("--metric", m->metric, "hamming, cosine or ip")
      ->required()
      ->check(CLI::IsMember({"hamming", "cosine", "ip"}));
  map->add_option("--query-labels", m->query_labels, "[Q, C] multi-hot (uint8/bool/int) or [Q] class indices")
      ->required();
  map->add_option("--base-labels", m->base_labels, "[N, C] multi-hot or [N] class indices")->required();
  map->add_option("--variant", m->variant,
                  "map_all (whole ranking), map_at_k (AP over the top K, normalised by the relevant items there) or "
                  "map_k_first_relevant (DCMH/DSPH calc_map_k); docs/eval.md")
      ->check(CLI::IsMember({"map_all", "map_at_k", "map_k_first_relevant"}));
  map->add_option("--k", m->k, "K of map_at_k and map_k_first_relevant")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 40));
  map->add_option("--ties", m->ties, "ascending_index (stable order, default) or average (tie-averaged AP)")
      ->check(CLI::IsMember({"ascending_index", "average"}));
  map->add_option("--device", m->device, "auto, cpu or gpu")->check(CLI::IsMember({"auto", "cpu", "gpu"}));
  map->add_option("--per-query", m->per_query, "also write each query's AP: float64 [Q] .npy");
  map->add_flag("--json", m->json, "print one JSON object {variant, k, map, queries, tie_policy}");
  map->add_option("--threads", m->threads, "CPU threads")->check(CLI::Range(0, 4096));
  map->callback([m] { run_map(*m); });

  auto r = std::make_shared<RecallArgs>();
  auto* recall = cmd->add_subcommand(
      "recall", "Recall@1/5/10 of the image-text protocol (Flickr30K/COCO as LAVIS reports it), cosine similarity");
  recall->add_option("--images", r->images, "[I, D] float32 image embeddings")->required();
  recall->add_option("--texts", r->texts, "[I x c, D] float32 caption embeddings; caption t belongs to image t / c")
      ->required();
  recall->add_option("--captions-per-image", r->captions, "c")->check(CLI::Range(1, 1000000));
  recall->add_flag("--json", r->json,
                   "print one JSON object {i2t_r1, i2t_r5, i2t_r10, t2i_r1, t2i_r5, t2i_r10, r_mean} (fractions)");
  recall->add_option("--threads", r->threads, "CPU threads")->check(CLI::Range(0, 4096));
  recall->callback([r] { run_recall(*r); });

  for (const bool ndcg : {false, true}) {
    auto p = std::make_shared<RankedMetricArgs>();
    auto* sub = cmd->add_subcommand(
        ndcg ? "ndcg" : "precision",
        ndcg ? "NDCG@K of result lists, gain 2^(shared labels) - 1, ideal order over the whole base (docs/eval.md)"
             : "precision@K of result lists with label relevance (shares a label with the query; docs/eval.md)");
    add_ranking_options(sub, p->ranking);
    sub->add_option("--query-labels", p->query_labels, "[Q, C] multi-hot or [Q] class indices")->required();
    sub->add_option("--base-labels", p->base_labels, "[N, C] multi-hot or [N] class indices")->required();
    sub->add_option("-k,--k", p->k, "K")->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 40));
    sub->add_flag("--json", p->json,
                  "print one JSON object {metric, k, mean, queries, skipped_queries, no_relevant_queries}");
    sub->add_option("--threads", p->threads, "CPU threads")->check(CLI::Range(0, 4096));
    sub->callback([p, ndcg] { run_labelled(*p, ndcg); });
  }

  auto n = std::make_shared<RankedMetricArgs>();
  auto* nr = cmd->add_subcommand(
      "neighbor-recall",
      "recall@K against ground-truth neighbours: |top K of each list and its ground-truth row| / |ground-truth row| "
      "(pass the exact top K as ground truth for k-NN recall@K)");
  add_ranking_options(nr, n->ranking);
  nr->add_option("--ground-truth", n->ground_truth, "[Q, G] int64 true neighbours (row indices, -1 padding)")
      ->required();
  nr->add_option("-k,--k", n->k, "K")->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 40));
  nr->add_flag("--json", n->json, "print one JSON object {metric, k, mean, queries, skipped_queries, ...}");
  nr->add_option("--threads", n->threads, "CPU threads")->check(CLI::Range(0, 4096));
  nr->callback([n] { run_neighbor_recall(*n); });

  auto c = std::make_shared<PrArgs>();
  auto* pr = cmd->add_subcommand(
      "pr", "precision-recall curve of Hamming-radius retrieval, radius 0..bits, label relevance (docs/eval.md)");
  pr->add_option("--queries", c->queries, "[Q, bits/8] uint8 query codes")->required();
  pr->add_option("--base", c->base, "[N, bits/8] uint8 database codes")->required();
  pr->add_option("--query-labels", c->query_labels, "[Q, C] multi-hot or [Q] class indices")->required();
  pr->add_option("--base-labels", c->base_labels, "[N, C] multi-hot or [N] class indices")->required();
  pr->add_option("--csv", c->csv, "also write the curve as CSV (radius, precision, recall, ...)");
  pr->add_flag("--json", c->json, "print one JSON object {bits, queries, precision: [...], recall: [...], ...}");
  pr->add_option("--threads", c->threads, "CPU threads")->check(CLI::Range(0, 4096));
  pr->callback([c] { run_pr(*c); });
}

}  // namespace xmr::cli
