#include "io/index_format.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <span>

#include "common/check.h"
#include "common/half.h"
#include "select_key.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

// Layout (docs/index_format.md has the full description). All integers little-endian.
//
//   offset  bytes  field
//   0       8      magic "XMRINDEX"
//   8       4      format version (1)
//   12      4      endianness marker 0x0A0B0C0D (bytes 0D 0C 0B 0A)
//   16      4      index type: 1 dense, 2 binary
//   20      4      section count S
//   24      8      file size in bytes
//   32      8      reserved (0)
//   40      32 S   section table: u32 type | u32 reserved (0) | u64 offset | u64 length | u64 XXH3-64
//   40+32S  8      XXH3-64 of bytes [0, 40 + 32 S)
//   then the sections in table order, each at the next multiple of 64 bytes (zero padding
//   between), the last one ending the file.
//
// Sections: PARAMS (always, 64 bytes), IDS (always, 8 N), ROWS (always, N x row bytes),
// LABELS (optional: u64 classes C | u64 row bytes ceil(C/8) | N rows), BINARIZER (optional: a
// binariser file, docs/binarize.md).

namespace xmr::engine::io {

namespace {

static_assert(std::endian::native == std::endian::little,
              "index files are little-endian and sections are used in place: big-endian hosts need byte swaps");

constexpr std::array<std::uint8_t, 8> kMagic = {'X', 'M', 'R', 'I', 'N', 'D', 'E', 'X'};
constexpr std::uint32_t kEndianMarker = 0x0A0B0C0Du;
constexpr std::uint64_t kFixedHeader = 40;
constexpr std::uint64_t kEntryBytes = 32;
constexpr std::uint64_t kAlign = 64;
constexpr std::uint64_t kParamsBytes = 64;
constexpr std::uint64_t kLabelsHeader = 16;
constexpr std::uint32_t kMaxSections = 5;
constexpr std::int64_t kMaxDim = std::numeric_limits<std::int32_t>::max();

// Stable codes in PARAMS (independent of the C++ enum values).
constexpr std::uint32_t kMetricIp = 1;
constexpr std::uint32_t kMetricCosine = 2;
constexpr std::uint32_t kDtypeF32 = 1;
constexpr std::uint32_t kDtypeF16 = 2;

std::uint64_t align_up(std::uint64_t v) {
  return (v + kAlign - 1) / kAlign * kAlign;
}

std::uint64_t table_end(std::uint32_t sections) {
  return kFixedHeader + kEntryBytes * sections + 8;
}

void put32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
void put64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
std::uint32_t get32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(p[i]) << (8 * i);
  return v;
}
std::uint64_t get64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
  return v;
}

std::uint64_t hash(const void* p, std::size_t n) {
  return XXH3_64bits(p, n);
}

std::uint32_t metric_code(Metric m) {
  return m == Metric::InnerProduct ? kMetricIp : kMetricCosine;
}
std::uint32_t dtype_code(DType t) {
  return t == DType::F32 ? kDtypeF32 : kDtypeF16;
}

std::uint64_t row_bytes_of(const IndexParams& p) {
  if (p.kind == IndexKind::Binary) return static_cast<std::uint64_t>(p.dim / 8);
  return static_cast<std::uint64_t>(p.dim) * (p.storage == DType::F32 ? 4u : 2u);
}

/// Required sections first, then the optional ones, in this order.
constexpr std::array<SectionType, 5> kOrder = {SectionType::Params, SectionType::Ids, SectionType::Rows,
                                               SectionType::Labels, SectionType::Binarizer};

/// Index of the first of `count` IEEE values (U: their bits) whose exponent is all ones (inf or
/// NaN), or `count`. Blocks are scanned branch-free (vectorised), then searched when one fails.
template <class U, U kExponent>
std::size_t first_nonfinite(const std::byte* data, std::size_t count) {
  constexpr std::size_t kBlock = 4096;
  const auto load = [data](std::size_t i) {
    U u;
    std::memcpy(&u, data + i * sizeof(U), sizeof(U));
    return u;
  };
  for (std::size_t b = 0; b < count; b += kBlock) {
    const std::size_t e = std::min(count, b + kBlock);
    unsigned bad = 0;
    for (std::size_t i = b; i < e; ++i) bad |= static_cast<unsigned>((load(i) & kExponent) == kExponent);
    if (bad == 0) continue;
    for (std::size_t i = b; i < e; ++i) {
      if ((load(i) & kExponent) == kExponent) return i;
    }
  }
  return count;
}

/// A section to write: its bytes in up to two pieces (LABELS is a small header plus the rows).
struct Pending {
  SectionType type;
  std::span<const std::uint8_t> first;
  std::span<const std::uint8_t> second = {};
  [[nodiscard]] std::uint64_t length() const { return first.size() + second.size(); }
  [[nodiscard]] std::uint64_t checksum() const {
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    XXH3_64bits_update(&state, first.data(), first.size());
    XXH3_64bits_update(&state, second.data(), second.size());
    return XXH3_64bits_digest(&state);
  }
};

}  // namespace

const char* to_string(IndexKind kind) {
  switch (kind) {
    case IndexKind::Dense: return "dense";
    case IndexKind::Binary: return "binary";
  }
  return "unknown";
}

const char* to_string(SectionType type) {
  switch (type) {
    case SectionType::Params: return "PARAMS";
    case SectionType::Ids: return "IDS";
    case SectionType::Rows: return "ROWS";
    case SectionType::Labels: return "LABELS";
    case SectionType::Binarizer: return "BINARIZER";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
// Writing.

void write_index(const Sink& sink, IndexParams params, const DenseSnapshot& snap, const Attachments& extra) {
  params.size = snap.size;
  params.dim = snap.dim;
  const std::uint64_t n = static_cast<std::uint64_t>(snap.size);
  const std::uint64_t row_bytes = row_bytes_of(params);
  XMR_INVARIANT(row_bytes == snap.row_bytes());

  std::array<std::uint8_t, kParamsBytes> p{};
  put64(p.data(), n);
  put64(p.data() + 8, static_cast<std::uint64_t>(params.dim));
  put32(p.data() + 16, params.kind == IndexKind::Dense ? metric_code(params.metric) : 0);
  put32(p.data() + 20, params.kind == IndexKind::Dense ? dtype_code(params.storage) : 0);
  put32(p.data() + 24, static_cast<std::uint32_t>(params.device));
  put32(p.data() + 28, 0);
  put64(p.data() + 32, row_bytes);

  std::array<std::uint8_t, kLabelsHeader> lh{};
  std::vector<Pending> sections = {
      {SectionType::Params, p},
      {SectionType::Ids, {reinterpret_cast<const std::uint8_t*>(snap.id_data()), 8 * n}},
      {SectionType::Rows, {reinterpret_cast<const std::uint8_t*>(snap.row_data()), n * row_bytes}},
  };
  if (extra.num_classes > 0) {
    const auto label_row = static_cast<std::uint64_t>((extra.num_classes + 7) / 8);
    XMR_INVARIANT(extra.labels.size() == n * label_row);
    put64(lh.data(), static_cast<std::uint64_t>(extra.num_classes));
    put64(lh.data() + 8, label_row);
    sections.push_back({SectionType::Labels, lh, extra.labels});
  }
  if (!extra.binarizer.empty()) sections.push_back({SectionType::Binarizer, extra.binarizer});

  const auto count = static_cast<std::uint32_t>(sections.size());
  std::vector<std::uint8_t> head(table_end(count));
  std::memcpy(head.data(), kMagic.data(), kMagic.size());
  put32(head.data() + 8, kIndexFormatVersion);
  put32(head.data() + 12, kEndianMarker);
  put32(head.data() + 16, static_cast<std::uint32_t>(params.kind));
  put32(head.data() + 20, count);
  put64(head.data() + 32, 0);
  std::uint64_t offset = align_up(head.size());
  for (std::uint32_t i = 0; i < count; ++i) {
    const Pending& s = sections[i];
    std::uint8_t* e = head.data() + kFixedHeader + kEntryBytes * i;
    put32(e, static_cast<std::uint32_t>(s.type));
    put32(e + 4, 0);
    put64(e + 8, offset);
    put64(e + 16, s.length());
    put64(e + 24, s.checksum());
    offset = i + 1 < count ? align_up(offset + s.length()) : offset + s.length();
  }
  put64(head.data() + 24, offset);  // the file size
  put64(head.data() + head.size() - 8, hash(head.data(), head.size() - 8));

  static constexpr std::array<std::uint8_t, kAlign> kZeros{};
  std::uint64_t at = 0;
  const auto emit = [&](const void* data, std::uint64_t len) {
    if (len > 0) sink(data, static_cast<std::size_t>(len));
    at += len;
  };
  emit(head.data(), head.size());
  for (const Pending& s : sections) {
    emit(kZeros.data(), align_up(at) - at);
    emit(s.first.data(), s.first.size());
    emit(s.second.data(), s.second.size());
  }
  XMR_INVARIANT(at == offset);
}

// ---------------------------------------------------------------------------------------------
// Reading.

namespace {

class Parser {
 public:
  explicit Parser(const Source& src) : src_(src) {}

  template <class... Args>
  [[noreturn]] void corrupt(Args&&... args) const {
    detail::fail(ErrorCode::CorruptData, src_.name, ": ", std::forward<Args>(args)...);
  }

  /// Copies [offset, offset + n) out of the source (the range was validated).
  void read(std::uint64_t offset, std::size_t n, void* dst) const {
    if (n == 0) return;
    if (src_.memory != nullptr) {
      std::memcpy(dst, src_.memory + offset, n);
    } else {
      src_.read(offset, n, dst);
    }
  }

  LoadedIndex run(bool verify, bool header_only, const HeaderCheck& on_header);

 private:
  void check_padding(std::uint64_t from, std::uint64_t to) const;
  /// Checks section `s`'s checksum over its bytes, given in one piece or, for LABELS, two.
  void check_section_checksum(const SectionInfo& s, std::span<const std::uint8_t> first,
                              std::span<const std::uint8_t> second = {}) const {
    const std::uint64_t h = Pending{s.type, first, second}.checksum();
    if (h != s.checksum) {
      corrupt("checksum mismatch in section ", to_string(s.type), " (bytes ", s.offset, "..", s.offset + s.length,
              "; stored XXH3 0x", std::hex, s.checksum, ", computed 0x", h, std::dec, "): the data is corrupt");
    }
  }
  /// The bytes [offset, offset + n) as a new vector.
  std::vector<std::uint8_t> copy(std::uint64_t offset, std::uint64_t n) const {
    std::vector<std::uint8_t> out(static_cast<std::size_t>(n));
    read(offset, out.size(), out.data());
    return out;
  }

  const Source& src_;
};

void Parser::check_padding(std::uint64_t from, std::uint64_t to) const {
  std::array<std::uint8_t, kAlign> pad{};
  XMR_INVARIANT(to - from <= kAlign);
  read(from, static_cast<std::size_t>(to - from), pad.data());
  for (std::uint64_t i = 0; i < to - from; ++i) {
    if (pad[i] != 0) corrupt("padding byte at offset ", from + i, " (= ", int{pad[i]}, ") must be 0");
  }
}

LoadedIndex Parser::run(bool verify, bool header_only, const HeaderCheck& on_header) {
  LoadedIndex out;
  const std::uint64_t size = src_.size;
  out.file_bytes = size;

  // Fixed header.
  std::array<std::uint8_t, kFixedHeader> h{};
  const std::uint64_t have = std::min<std::uint64_t>(size, kFixedHeader);
  read(0, static_cast<std::size_t>(have), h.data());
  const std::size_t magic_have = std::min<std::size_t>(static_cast<std::size_t>(have), kMagic.size());
  if (size == 0) corrupt("empty file (0 bytes): not an xmr index file");
  if (!std::equal(kMagic.begin(), kMagic.begin() + static_cast<std::ptrdiff_t>(magic_have), h.begin())) {
    corrupt("bad magic: not an xmr index file (its first bytes are not \"XMRINDEX\")");
  }
  if (size < kFixedHeader) corrupt("truncated: ", size, " bytes, fewer than the ", kFixedHeader, "-byte header");
  const std::uint32_t version = get32(h.data() + 8);
  if (version == 0) corrupt("format version 0 is not valid");
  if (version > kIndexFormatVersion) {
    corrupt("format version ", version, " is newer than this build of xmr reads (", kIndexFormatVersion,
            "): load it with a newer xmr");
  }
  out.version = version;
  const std::uint32_t marker = get32(h.data() + 12);
  if (marker == __builtin_bswap32(kEndianMarker)) corrupt("written in big-endian byte order, which xmr does not read");
  if (marker != kEndianMarker) corrupt("endianness marker (= 0x", std::hex, marker, std::dec, ") is not 0x0A0B0C0D");
  const std::uint32_t kind = get32(h.data() + 16);
  if (kind != 1 && kind != 2) corrupt("index type (= ", kind, ") is not 1 (dense) or 2 (binary)");
  out.params.kind = static_cast<IndexKind>(kind);
  const std::uint32_t count = get32(h.data() + 20);
  if (count < 3 || count > kMaxSections) corrupt("section count (= ", count, ") is not in [3, ", kMaxSections, "]");
  const std::uint64_t declared = get64(h.data() + 24);
  if (declared > size) corrupt("truncated: the header declares ", declared, " bytes, the file has ", size);
  if (declared < size) corrupt(size - declared, " trailing bytes after the declared ", declared, "-byte end");
  if (get64(h.data() + 32) != 0) corrupt("reserved header field (= ", get64(h.data() + 32), ") must be 0");

  // Section table and its checksum.
  const std::uint64_t head_end = table_end(count);
  if (size < head_end) corrupt("truncated: ", size, " bytes, the section table needs ", head_end);
  std::vector<std::uint8_t> head(static_cast<std::size_t>(head_end));
  read(0, head.size(), head.data());
  const std::uint64_t stored = get64(head.data() + head_end - 8);
  const std::uint64_t computed = hash(head.data(), head.size() - 8);
  if (stored != computed) {
    corrupt("header checksum mismatch (stored XXH3 0x", std::hex, stored, ", computed 0x", computed, std::dec,
            "): the header or section table is corrupt");
  }
  std::uint64_t expect_offset = align_up(head_end);
  std::size_t next_kind = 0;
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::uint8_t* e = head.data() + kFixedHeader + kEntryBytes * i;
    SectionInfo s;
    const std::uint32_t type = get32(e);
    const std::uint32_t reserved = get32(e + 4);
    s.offset = get64(e + 8);
    s.length = get64(e + 16);
    s.checksum = get64(e + 24);
    if (type < 1 || type > 5) corrupt("section ", i, ": type (= ", type, ") is not a section type (1..5)");
    s.type = static_cast<SectionType>(type);
    // Canonical order: PARAMS, IDS, ROWS, then LABELS and BINARIZER when present.
    while (next_kind < kOrder.size() && kOrder[next_kind] != s.type) {
      if (next_kind < 3) {
        corrupt("section ", i, " is ", to_string(s.type), ", expected ", to_string(kOrder[next_kind]));
      }
      ++next_kind;
    }
    if (next_kind == kOrder.size()) corrupt("section ", i, " (", to_string(s.type), ") is repeated or out of order");
    ++next_kind;
    if (reserved != 0)
      corrupt("section ", i, " (", to_string(s.type), "): reserved field (= ", reserved, ") must be 0");
    if (s.offset != expect_offset) {
      corrupt("section ", i, " (", to_string(s.type), "): offset (= ", s.offset, ") must be ", expect_offset);
    }
    if (s.length > size - s.offset) {
      corrupt("section ", i, " (", to_string(s.type), "): length (= ", s.length, ") at offset ", s.offset,
              " runs past the end of the file (", size, " bytes)");
    }
    const std::uint64_t end = s.offset + s.length;
    if (i + 1 == count) {
      if (end != size) corrupt("the last section ends at ", end, ", the file at ", size);
    } else {
      expect_offset = align_up(end);
      if (expect_offset > size) corrupt("truncated: section ", i + 1, " would start at ", expect_offset);
    }
    out.sections.push_back(s);
  }

  // Padding between the table and the sections, and between sections.
  check_padding(head_end, out.sections[0].offset);
  for (std::uint32_t i = 1; i < count; ++i) {
    check_padding(out.sections[i - 1].offset + out.sections[i - 1].length, out.sections[i].offset);
  }

  // PARAMS.
  const SectionInfo& ps = out.sections[0];
  if (ps.length != kParamsBytes) corrupt("PARAMS: length (= ", ps.length, ") must be ", kParamsBytes);
  {
    std::array<std::uint8_t, kParamsBytes> p{};
    read(ps.offset, p.size(), p.data());
    check_section_checksum(ps, p);  // 64 bytes: always checked
    const std::uint64_t items = get64(p.data());
    const auto dim = static_cast<std::int64_t>(get64(p.data() + 8));
    const std::uint32_t metric = get32(p.data() + 16);
    const std::uint32_t dtype = get32(p.data() + 20);
    const std::uint32_t device = get32(p.data() + 24);
    const std::uint32_t reserved = get32(p.data() + 28);
    const std::uint64_t row_bytes = get64(p.data() + 32);
    if (items > kernels::kMaxPositions) corrupt("PARAMS: item count (= ", items, ") exceeds ", kernels::kMaxPositions);
    out.params.size = static_cast<std::int64_t>(items);
    out.params.dim = dim;
    if (device > 2) corrupt("PARAMS: default device (= ", device, ") is not 0 (auto), 1 (cpu) or 2 (gpu)");
    out.params.device = static_cast<Device>(device);
    if (reserved != 0) corrupt("PARAMS: reserved field (= ", reserved, ") must be 0");
    for (std::size_t i = 40; i < p.size(); ++i) {
      if (p[i] != 0) corrupt("PARAMS: reserved byte ", i, " (= ", int{p[i]}, ") must be 0");
    }
    if (out.params.kind == IndexKind::Dense) {
      if (dim < 1 || dim > kMaxDim) corrupt("PARAMS: dim (= ", dim, ") is not in [1, 2^31 - 1]");
      if (metric != kMetricIp && metric != kMetricCosine) {
        corrupt("PARAMS: metric (= ", metric, ") is not 1 (inner product) or 2 (cosine)");
      }
      if (dtype != kDtypeF32 && dtype != kDtypeF16)
        corrupt("PARAMS: storage (= ", dtype, ") is not 1 (f32) or 2 (f16)");
      out.params.metric = metric == kMetricIp ? Metric::InnerProduct : Metric::Cosine;
      out.params.storage = dtype == kDtypeF32 ? DType::F32 : DType::F16;
    } else {
      if (dim < 8 || dim > 4096 || dim % 8 != 0)
        corrupt("PARAMS: bits (= ", dim, ") is not a multiple of 8 in [8, 4096]");
      if (metric != 0 || dtype != 0) corrupt("PARAMS: metric and storage (= ", metric, ", ", dtype, ") must be 0");
    }
    if (row_bytes != row_bytes_of(out.params)) {
      corrupt("PARAMS: row bytes (= ", row_bytes, ") do not match the parameters (", row_bytes_of(out.params), ")");
    }
  }
  const auto n = static_cast<std::uint64_t>(out.params.size);
  const std::uint64_t row_bytes = row_bytes_of(out.params);

  // Every section's length against the parameters, before anything is allocated.
  const SectionInfo& ids_s = out.sections[1];
  const SectionInfo& rows_s = out.sections[2];
  if (ids_s.length != 8 * n) corrupt("IDS: length (= ", ids_s.length, ") must be 8 x ", n, " items");
  if (row_bytes != 0 && rows_s.length / row_bytes != n) {
    corrupt("ROWS: length (= ", rows_s.length, ") must be ", n, " items x ", row_bytes, " bytes");
  }
  if (rows_s.length != n * row_bytes) {
    corrupt("ROWS: length (= ", rows_s.length, ") must be ", n, " items x ", row_bytes, " bytes");
  }
  const SectionInfo* labels_s = nullptr;
  const SectionInfo* bin_s = nullptr;
  for (std::uint32_t i = 3; i < count; ++i) {
    if (out.sections[i].type == SectionType::Labels) labels_s = &out.sections[i];
    if (out.sections[i].type == SectionType::Binarizer) bin_s = &out.sections[i];
  }
  std::uint64_t label_row = 0;
  std::array<std::uint8_t, kLabelsHeader> lh{};  // LABELS' header, read once
  if (labels_s != nullptr) {
    if (labels_s->length < kLabelsHeader) corrupt("LABELS: length (= ", labels_s->length, ") is below 16");
    read(labels_s->offset, lh.size(), lh.data());
    const std::uint64_t classes = get64(lh.data());
    label_row = get64(lh.data() + 8);
    if (classes < 1 || classes > static_cast<std::uint64_t>(kMaxLabelClasses)) {
      corrupt("LABELS: class count (= ", classes, ") is not in [1, ", kMaxLabelClasses, "]");
    }
    if (label_row != (classes + 7) / 8) corrupt("LABELS: row bytes (= ", label_row, ") must be ", (classes + 7) / 8);
    if ((labels_s->length - kLabelsHeader) / label_row != n || (labels_s->length - kLabelsHeader) % label_row != 0) {
      corrupt("LABELS: length (= ", labels_s->length, ") must be 16 + ", n, " items x ", label_row, " bytes");
    }
    out.num_classes = static_cast<std::int64_t>(classes);
  }
  if (bin_s != nullptr && bin_s->length == 0) corrupt("BINARIZER: empty section");
  if (on_header) on_header(out);
  if (header_only) return out;

  // The data. Ids and rows go in place when the source may be borrowed, else into new arrays.
  auto snap = std::make_shared<DenseSnapshot>();
  snap->size = out.params.size;
  snap->dim = out.params.dim;
  snap->type = out.params.storage;
  snap->code_bytes = out.params.kind == IndexKind::Binary ? static_cast<std::size_t>(row_bytes) : 0;
  snap->lineage = new_lineage();
  if (src_.keeper != nullptr && src_.memory != nullptr) {
    snap->ids = std::make_shared<Array<std::int64_t>>(reinterpret_cast<const std::int64_t*>(src_.memory + ids_s.offset),
                                                      out.params.size, src_.keeper);
    snap->rows = std::make_shared<Array<std::byte>>(reinterpret_cast<const std::byte*>(src_.memory + rows_s.offset),
                                                    static_cast<std::int64_t>(rows_s.length), src_.keeper);
  } else {
    snap->ids = std::make_shared<Array<std::int64_t>>(out.params.size);
    snap->rows = std::make_shared<Array<std::byte>>(static_cast<std::int64_t>(rows_s.length));
    read(ids_s.offset, static_cast<std::size_t>(ids_s.length), snap->ids->get());
    read(rows_s.offset, static_cast<std::size_t>(rows_s.length), snap->rows->get());
  }
  if (verify) {
    check_section_checksum(ids_s, {reinterpret_cast<const std::uint8_t*>(snap->id_data()), ids_s.length});
    check_section_checksum(rows_s, {reinterpret_cast<const std::uint8_t*>(snap->row_data()), rows_s.length});
  }
  // Ids: strictly ascending and in range (also without verify: search and removal rely on it).
  const std::int64_t* ids = snap->id_data();
  for (std::int64_t i = 0; i < out.params.size; ++i) {
    if (ids[i] < 0 || ids[i] > kMaxId) corrupt("IDS: id ", i, " (= ", ids[i], ") is not in [0, ", kMaxId, "]");
    if (i > 0 && ids[i] <= ids[i - 1]) {
      corrupt("IDS: ids must be strictly ascending, id ", i, " (= ", ids[i], ") follows ", ids[i - 1]);
    }
  }
  if (verify && out.params.kind == IndexKind::Dense) {
    const std::size_t values = static_cast<std::size_t>(n) * static_cast<std::size_t>(out.params.dim);
    const std::byte* rows = snap->row_data();
    if (out.params.storage == DType::F32) {
      const std::size_t i = first_nonfinite<std::uint32_t, 0x7F800000u>(rows, values);
      if (i < values) corrupt("ROWS: value ", i, " (= ", snap->f32_rows()[i], ") is not finite");
    } else {
      const std::size_t i = first_nonfinite<std::uint16_t, 0x7C00u>(rows, values);
      if (i < values) {
        corrupt("ROWS: value ", i, " (fp16 bits 0x", std::hex, snap->f16_rows()[i], std::dec, ") is not finite");
      }
    }
  }
  out.snapshot = std::move(snap);

  if (labels_s != nullptr) {
    out.labels = copy(labels_s->offset + kLabelsHeader, labels_s->length - kLabelsHeader);
    if (verify) check_section_checksum(*labels_s, lh, out.labels);
    const std::uint64_t tail_bits = static_cast<std::uint64_t>(out.num_classes) % 8;
    if (tail_bits != 0) {
      const auto mask = static_cast<std::uint8_t>(0xFFu << tail_bits);
      for (std::uint64_t r = 0; r < n; ++r) {
        if ((out.labels[static_cast<std::size_t>(r * label_row + label_row - 1)] & mask) != 0) {
          corrupt("LABELS: item ", r, " has bits set past class ", out.num_classes - 1);
        }
      }
    }
  }
  if (bin_s != nullptr) {
    out.binarizer = copy(bin_s->offset, bin_s->length);
    if (verify) check_section_checksum(*bin_s, out.binarizer);
  }
  return out;
}

}  // namespace

LoadedIndex read_index(const Source& src, bool verify, bool header_only, const HeaderCheck& on_header) {
  return Parser(src).run(verify, header_only, on_header);
}

}  // namespace xmr::engine::io
