#pragma once
// Saving and loading index files for the public index classes: validation of the extras, the
// atomic file write, the load-time checks that depend on the index type.

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dense/storage.h"
#include "io/index_format.h"
#include "xmr/index_file.h"

namespace xmr::detail {

/// Validates `extras` for an index of `params` over `snap` (InvalidArgument naming the field),
/// then writes the file atomically (Io on failure; the destination is then untouched).
void save_index_file(const std::string& path, const engine::io::IndexParams& params, const engine::DenseSnapshot& snap,
                     const IndexExtras& extras);
/// As save_index_file, into memory.
std::vector<std::uint8_t> index_to_bytes(const engine::io::IndexParams& params, const engine::DenseSnapshot& snap,
                                         const IndexExtras& extras);

/// Reads `path` (or `bytes`) as an index of kind `expected`: InvalidArgument when it holds the
/// other kind, CorruptData / Io as read_index. Fills `extras` when not null.
engine::io::LoadedIndex load_index_file(const std::string& path, const LoadOptions& options,
                                        engine::io::IndexKind expected, IndexExtras* extras);
engine::io::LoadedIndex load_index_bytes(std::span<const std::uint8_t> bytes, const LoadOptions& options,
                                         engine::io::IndexKind expected, IndexExtras* extras);

/// The default device of a loaded index: `options.device` or the saved one; validated.
Device loaded_device(const LoadOptions& options, const engine::io::LoadedIndex& loaded);

/// The Resources a load uploads the index with when `options.device` is Gpu (options.resources,
/// or the calling thread's default; Unavailable when its GPU is not usable), else null: a saved
/// default device of Gpu alone uploads nothing, so such a file loads on any machine.
Resources* upload_resources(const LoadOptions& options);

/// `Index::Impl::adopt` of what `read(extras or null)` loads (load_index_file / _bytes); `*extras`
/// is assigned only once the whole load has succeeded.
template <class Index, class Read>
Index load_and_adopt(const Read& read, const LoadOptions& options, IndexExtras* extras) {
  IndexExtras got;
  Index index = Index::Impl::adopt(read(extras != nullptr ? &got : nullptr), options);
  if (extras != nullptr) *extras = std::move(got);
  return index;
}

}  // namespace xmr::detail
