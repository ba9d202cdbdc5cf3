// `xmr info FILE`: what an index file holds, from its header alone (xmr::read_index_info).
#include <cinttypes>
#include <cstdio>
#include <string>

#include "commands.h"
#include "xmr/xmr.h"

namespace xmr::cli {

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

}  // namespace xmr::cli
