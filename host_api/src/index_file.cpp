// Index files for the public API (xmr/index_file.h): the glue between the index classes and the
// format in engine/io.
#include "index_file.h"

#include <utility>

#include "common/check.h"
#include "glue.h"
#include "io/file.h"

namespace xmr {

namespace {

using engine::io::IndexKind;
using engine::io::kMaxLabelClasses;

void check_labels(const Labels& labels, std::int64_t size) {
  XMR_EXPECTS(labels.num_classes >= 1 && labels.num_classes <= kMaxLabelClasses,
              "extras.labels.num_classes (= ", labels.num_classes, ") must be in [1, 2^24]");
  const std::int64_t row = labels.row_bytes();
  XMR_EXPECTS(static_cast<std::int64_t>(labels.packed.size()) == detail::mul_checked(size, row, "labels bytes"),
              "extras.labels.packed.size() (= ", labels.packed.size(), ") must be index size (= ", size,
              ") x row_bytes (= ", row, ")");
  if (labels.num_classes % 8 != 0) {
    const auto mask = static_cast<std::uint8_t>(0xFFu << (labels.num_classes % 8));
    for (std::int64_t r = 0; r < size; ++r) {
      XMR_EXPECTS((labels.packed[detail::to_size(r * row + row - 1)] & mask) == 0, "extras.labels row ", r,
                  " has bits set past class ", labels.num_classes - 1, " (num_classes = ", labels.num_classes, ")");
    }
  }
}

/// The binariser bytes to store (empty: none), after checking them against an index of `kind`
/// and dimension / bits `dim`.
std::vector<std::uint8_t> binarizer_bytes(const IndexExtras& extras, IndexKind kind, std::int64_t dim) {
  XMR_EXPECTS(!(extras.binarizer && extras.cross_modal_binarizer),
              "extras.binarizer and extras.cross_modal_binarizer are both set: an index file holds at most one");
  if (kind == IndexKind::Binary) {
    if (extras.binarizer) {
      XMR_EXPECTS(extras.binarizer->bits() == dim, "extras.binarizer.bits() (= ", extras.binarizer->bits(),
                  ") must equal the index's bits (= ", dim, ")");
    }
    if (extras.cross_modal_binarizer) {
      XMR_EXPECTS(extras.cross_modal_binarizer->image.bits() == dim,
                  "extras.cross_modal_binarizer bits (= ", extras.cross_modal_binarizer->image.bits(),
                  ") must equal the index's bits (= ", dim, ")");
    }
  }
  if (extras.binarizer) return extras.binarizer->to_bytes();
  if (extras.cross_modal_binarizer) return extras.cross_modal_binarizer->to_bytes();
  return {};
}

/// Validates the extras against the index and returns the binariser bytes to store.
std::vector<std::uint8_t> prepare_extras(const engine::io::IndexParams& params, const engine::DenseSnapshot& snap,
                                         const IndexExtras& extras) {
  if (extras.labels) check_labels(*extras.labels, snap.size);
  return binarizer_bytes(extras, params.kind, snap.dim);
}

void write_with_extras(const engine::io::IndexParams& params, const engine::DenseSnapshot& snap,
                       const IndexExtras& extras, std::span<const std::uint8_t> bin, const engine::io::Sink& sink) {
  engine::io::Attachments att;
  if (extras.labels) {
    att.num_classes = extras.labels->num_classes;
    att.labels = extras.labels->packed;
  }
  att.binarizer = bin;
  engine::io::write_index(sink, params, snap, att);
}

void fill_extras(engine::io::LoadedIndex& loaded, const std::string& source, IndexExtras* extras) {
  if (extras == nullptr) return;
  IndexExtras out;
  if (loaded.num_classes > 0) out.labels = Labels{loaded.num_classes, std::move(loaded.labels)};
  if (!loaded.binarizer.empty()) {
    const std::span<const std::uint8_t> b = loaded.binarizer;
    // A binariser file says how many binarisers it holds at offset 12 (docs/binarize.md).
    const std::uint32_t count = b.size() >= 16 ? (std::uint32_t{b[12]} | std::uint32_t{b[13]} << 8 |
                                                  std::uint32_t{b[14]} << 16 | std::uint32_t{b[15]} << 24)
                                               : 0;
    try {
      if (count == 2) {
        out.cross_modal_binarizer = CrossModalBinarizer::from_bytes(b);
      } else {
        out.binarizer = Binarizer::from_bytes(b);
      }
    } catch (const Error& e) {
      std::string what = e.what();
      if (what.rfind("bytes: ", 0) == 0) what.erase(0, 7);  // the binariser parser's source name
      throw Error(e.code(), source + ": BINARIZER section: " + what);
    }
    const std::int64_t bits = out.binarizer ? out.binarizer->bits() : out.cross_modal_binarizer->image.bits();
    XMR_CHECK(loaded.params.kind != IndexKind::Binary || bits == loaded.params.dim, CorruptData, source,
              ": BINARIZER section: its code length (= ", bits,
              " bits) differs from the index's (= ", loaded.params.dim, ")");
  }
  *extras = std::move(out);
}

void check_kind(const engine::io::LoadedIndex& header, IndexKind expected, const std::string& source) {
  if (header.params.kind == expected) return;
  const bool binary = header.params.kind == IndexKind::Binary;
  detail::fail(ErrorCode::InvalidArgument, source, " holds a ", to_string(header.params.kind), " index (",
               header.params.size, binary ? " codes of " : " vectors of dim ", header.params.dim, binary ? " bits" : "",
               "), not a ", to_string(expected), " one: load it with xmr::", binary ? "BinaryIndex" : "DenseIndex",
               "::load");
}

engine::io::LoadedIndex load_from(const engine::io::Source& src, const LoadOptions& options, IndexKind expected,
                                  IndexExtras* extras) {
  XMR_EXPECTS(options.mode == LoadMode::Read || options.mode == LoadMode::Map,
              "options.mode (= ", static_cast<int>(options.mode), ") is not a LoadMode value");
  XMR_EXPECTS(!options.device || *options.device == Device::Auto || *options.device == Device::Cpu ||
                  *options.device == Device::Gpu,
              "options.device (= ", options.device ? static_cast<int>(*options.device) : 0, ") is not a Device value");
  // A file of the wrong kind is rejected after its header, before its data is read.
  engine::io::LoadedIndex loaded =
      engine::io::read_index(src, options.verify, false,
                             [&](const engine::io::LoadedIndex& header) { check_kind(header, expected, src.name); });
  fill_extras(loaded, src.name, extras);
  return loaded;
}

}  // namespace

Labels Labels::from_multi_hot(MatrixView<const std::uint8_t> multi_hot) {
  XMR_EXPECTS(multi_hot.cols() >= 1 && multi_hot.cols() <= kMaxLabelClasses, "multi_hot.cols() (= ", multi_hot.cols(),
              ") must be in [1, 2^24]");
  XMR_EXPECTS(multi_hot.data() != nullptr || multi_hot.rows() == 0, "multi_hot.data() (= null)");
  return detail::translate_bad_alloc("Labels::from_multi_hot", [&] {
    Labels l;
    l.num_classes = multi_hot.cols();
    const std::int64_t row = l.row_bytes();
    l.packed.assign(detail::to_size(detail::mul_checked(multi_hot.rows(), row, "multi_hot rows x row bytes")), 0);
    for (std::int64_t r = 0; r < multi_hot.rows(); ++r) {
      const std::uint8_t* in = multi_hot.row(r);
      for (std::int64_t c = 0; c < multi_hot.cols(); ++c) {
        if (in[c] != 0) l.packed[detail::to_size(r * row + c / 8)] |= static_cast<std::uint8_t>(1u << (c % 8));
      }
    }
    return l;
  });
}

IndexFileInfo read_index_info(const std::string& path) {
  const engine::io::ReadFile file(path);
  engine::io::Source src;
  src.name = path;
  src.size = file.size();
  src.read = [&file](std::uint64_t offset, std::size_t n, void* dst) { file.read(offset, n, dst); };
  const engine::io::LoadedIndex h = engine::io::read_index(src, false, true);
  IndexFileInfo info;
  info.type = to_string(h.params.kind);
  info.format_version = h.version;
  info.file_bytes = h.file_bytes;
  info.size = h.params.size;
  const bool binary = h.params.kind == IndexKind::Binary;
  info.dim = binary ? 0 : h.params.dim;
  info.bits = binary ? h.params.dim : 0;
  info.metric = h.params.metric;
  info.storage = h.params.storage;
  info.device = h.params.device;
  info.num_classes = h.num_classes;
  for (const engine::io::SectionInfo& s : h.sections) {
    info.sections.push_back({to_string(s.type), s.offset, s.length, s.checksum});
    if (s.type == engine::io::SectionType::Binarizer) info.has_binarizer = true;
  }
  return info;
}

namespace detail {

void save_index_file(const std::string& path, const engine::io::IndexParams& params, const engine::DenseSnapshot& snap,
                     const IndexExtras& extras) {
  const std::string call = "save '" + path + "'";
  translate_bad_alloc(call.c_str(), [&] {
    // Everything is validated before anything is created on disk.
    const std::vector<std::uint8_t> bin = prepare_extras(params, snap, extras);
    engine::io::AtomicFile file(path);
    write_with_extras(params, snap, extras, bin, [&file](const void* data, std::size_t n) { file.write(data, n); });
    file.commit();
  });
}

std::vector<std::uint8_t> index_to_bytes(const engine::io::IndexParams& params, const engine::DenseSnapshot& snap,
                                         const IndexExtras& extras) {
  return translate_bad_alloc("to_bytes", [&] {
    const std::vector<std::uint8_t> bin = prepare_extras(params, snap, extras);
    std::vector<std::uint8_t> out;
    write_with_extras(params, snap, extras, bin, [&out](const void* data, std::size_t n) {
      const auto* p = static_cast<const std::uint8_t*>(data);
      out.insert(out.end(), p, p + n);
    });
    return out;
  });
}

engine::io::LoadedIndex load_index_file(const std::string& path, const LoadOptions& options, IndexKind expected,
                                        IndexExtras* extras) {
  const std::string call = "load '" + path + "'";
  return translate_bad_alloc(call.c_str(), [&] {
    engine::io::Source src;
    src.name = path;
    if (options.mode == LoadMode::Map) {
      std::shared_ptr<const engine::io::MappedFile> map = engine::io::MappedFile::open(path);
      src.size = map->size();
      src.memory = map->data();
      src.keeper = map;
      return load_from(src, options, expected, extras);
    }
    const engine::io::ReadFile file(path);
    src.size = file.size();
    src.read = [&file](std::uint64_t offset, std::size_t n, void* dst) { file.read(offset, n, dst); };
    return load_from(src, options, expected, extras);
  });
}

engine::io::LoadedIndex load_index_bytes(std::span<const std::uint8_t> bytes, const LoadOptions& options,
                                         IndexKind expected, IndexExtras* extras) {
  XMR_EXPECTS(bytes.data() != nullptr || bytes.empty(), "bytes.data() (= null) with size ", bytes.size());
  return translate_bad_alloc("from_bytes", [&] {
    engine::io::Source src;
    src.name = "bytes";
    src.size = bytes.size();
    src.memory = bytes.data();
    return load_from(src, options, expected, extras);
  });
}

Device loaded_device(const LoadOptions& options, const engine::io::LoadedIndex& loaded) {
  return options.device ? *options.device : loaded.params.device;
}

Resources* upload_resources(const LoadOptions& options) {
  if (options.device != Device::Gpu) return nullptr;
  Resources& res = options.resources != nullptr ? *options.resources : thread_default_resources();
  (void)resolve_device(Device::Gpu, res);  // Unavailable without a usable GPU
  return &res;
}

}  // namespace detail
}  // namespace xmr
