// `xmr info [FILE]`: the version and devices, or what a file holds: an index file (from its
// header alone, xmr::read_index_info), a binariser file, or a .npy array.
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

#include "commands.h"
#include "npy.h"
#include "xmr/xmr.h"

namespace xmr::cli {
namespace {

void print_index_info(const std::string& path) {
  const IndexFileInfo info = read_index_info(path);
  std::printf("%s: xmr index file, format version %u, %" PRIu64 " bytes\n", path.c_str(), info.format_version,
              info.file_bytes);
  if (info.type == "dense") {
    std::printf("  dense index: %" PRId64 " vectors, dim %" PRId64 ", metric %s, storage %s, default device %s\n",
                info.size, info.dim, to_string(info.metric), to_string(info.storage), to_string(info.device));
  } else {
    std::printf("  binary index: %" PRId64 " codes of %" PRId64 " bits, default device %s\n", info.size, info.bits,
                to_string(info.device));
  }
  if (info.num_classes > 0) std::printf("  labels: %" PRId64 " classes\n", info.num_classes);
  if (info.has_binarizer) std::printf("  binariser attached\n");
  std::printf("  %-10s %14s %14s  %s\n", "section", "offset", "bytes", "XXH3-64");
  for (const IndexFileSection& s : info.sections) {
    std::printf("  %-10s %14" PRIu64 " %14" PRIu64 "  %016" PRIx64 "\n", s.name.c_str(), s.offset, s.bytes, s.checksum);
  }
}

void print_binarizer(const char* role, const Binarizer& b) {
  std::printf("  %s%s: %s, dim %lld -> %lld bits", role, *role != '\0' ? " binariser" : "binariser",
              to_string(b.kind()), static_cast<long long>(b.dim()), static_cast<long long>(b.bits()));
  const std::vector<double> loss = b.training_loss();
  if (!loss.empty()) std::printf(", ITQ loss %.6g after %zu iterations", loss.back(), loss.size() - 1);
  std::printf("\n");
}

void print_file_info(const std::string& path) {
  char magic[8] = {};
  {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw NpyError(path + ": cannot open");
    f.read(magic, sizeof magic);
  }
  if (std::memcmp(magic, "XMRINDEX", 8) == 0) {
    print_index_info(path);
  } else if (std::memcmp(magic, "XMRBINZ", 7) == 0) {
    std::printf("%s: xmr binariser file\n", path.c_str());
    try {
      const CrossModalBinarizer pair = CrossModalBinarizer::load(path);
      print_binarizer("image", pair.image);
      print_binarizer("text", pair.text);
    } catch (const Error&) {
      print_binarizer("", Binarizer::load(path));
    }
  } else if (std::memcmp(magic, "\x93NUMPY", 6) == 0) {
    const NpyArray a = load_npy(path);
    std::printf("%s: .npy array, %s, %lld bytes of data\n", path.c_str(), a.describe().c_str(),
                static_cast<long long>(a.bytes));
  } else {
    throw NpyError(path + ": not an xmr index, binariser or .npy file");
  }
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto file = std::make_shared<std::string>();
  auto* info = app.add_subcommand(
      "info", "Print the version and the compute devices xmr sees, or what a file holds (index, binariser, .npy)");
  info->add_option("file", *file, "an index file (its header only is read), a binariser file or a .npy file");
  info->callback([file] {
    if (file->empty()) {
      std::printf("xmr %s (%s)\n%s\n", version(), built_with_cuda() ? "CUDA build" : "CPU-only build",
                  device_summary().c_str());
      return;
    }
    print_file_info(*file);
  });
}

}  // namespace xmr::cli
