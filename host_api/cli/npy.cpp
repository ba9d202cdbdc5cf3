// .npy reading and writing (see npy.h). The header is a Python dict literal; it is parsed with a
// small strict parser (string keys; string, boolean and integer-tuple values), not by searching
// for substrings, so a malformed header is reported as such.
#include "npy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>

namespace xmr::cli {
namespace {

constexpr std::uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
/// Class indices (1-d label files) must be below this (the one-hot matrix has max + 1 columns).
constexpr std::int64_t kMaxClassIndex = 65536;
/// Longest header accepted (numpy writes about 128 bytes; a structured dtype could need more).
constexpr std::size_t kMaxHeaderBytes = std::size_t{1} << 20;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw NpyError(path + ": " + what);
}

struct Descr {
  const char* text;  // as numpy writes it
  NpyType type;
};
// '<' and '|' forms as numpy writes them; '=' (native) is accepted too on this little-endian
// build, and the one-byte types also with '<'.
constexpr Descr kDescrs[] = {
    {"<f4", NpyType::F32}, {"<f2", NpyType::F16},  {"<f8", NpyType::F64}, {"|u1", NpyType::U8},
    {"|i1", NpyType::I8},  {"|b1", NpyType::Bool}, {"<i4", NpyType::I32}, {"<i8", NpyType::I64},
};

std::optional<NpyType> parse_descr(std::string d) {
  if (d.size() == 3 && (d[0] == '=' || (d[0] == '<' && (d[1] == 'u' || d[1] == 'i' || d[1] == 'b') && d[2] == '1'))) {
    d[0] = d[2] == '1' ? '|' : '<';
  }
  for (const Descr& e : kDescrs)
    if (d == e.text) return e.type;
  return std::nullopt;
}

/// The header dict: {'descr': str, 'fortran_order': bool, 'shape': tuple of ints}.
struct Header {
  std::string descr;
  bool fortran = false;
  std::vector<std::int64_t> shape;
};

class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& path) : s_(text), path_(path) {}

  Header parse() {
    Header h;
    bool have_descr = false;
    bool have_fortran = false;
    bool have_shape = false;
    expect('{');
    skip_space();
    while (peek() != '}') {
      const std::string key = string_literal();
      expect(':');
      if (key == "descr") {
        h.descr = string_literal();
        have_descr = true;
      } else if (key == "fortran_order") {
        h.fortran = boolean();
        have_fortran = true;
      } else if (key == "shape") {
        h.shape = int_tuple();
        have_shape = true;
      } else {
        bad("unknown key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') {
        ++i_;
        skip_space();
      } else if (peek() != '}') {
        bad("expected ',' or '}'");
      }
    }
    ++i_;
    skip_space();
    if (i_ != s_.size()) bad("trailing characters after the dict");
    if (!have_descr || !have_fortran || !have_shape)
      bad("the header must have the keys 'descr', 'fortran_order' and 'shape'");
    return h;
  }

 private:
  [[noreturn]] void bad(const std::string& what) const {
    fail(path_, "malformed .npy header (" + what + " at character " + std::to_string(i_) + "): " + std::string(s_));
  }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  char peek() {
    skip_space();
    return i_ < s_.size() ? s_[i_] : '\0';
  }
  void expect(char c) {
    if (peek() != c) bad(std::string("expected '") + c + "'");
    ++i_;
  }
  std::string string_literal() {
    const char q = peek();
    if (q != '\'' && q != '"') bad("expected a string");
    const std::size_t start = ++i_;
    while (i_ < s_.size() && s_[i_] != q) ++i_;
    if (i_ >= s_.size()) bad("unterminated string");
    return std::string(s_.substr(start, i_++ - start));
  }
  bool boolean() {
    skip_space();
    if (s_.substr(i_, 4) == "True") {
      i_ += 4;
      return true;
    }
    if (s_.substr(i_, 5) == "False") {
      i_ += 5;
      return false;
    }
    bad("expected True or False");
  }
  std::vector<std::int64_t> int_tuple() {
    std::vector<std::int64_t> dims;
    expect('(');
    while (peek() != ')') {
      if (std::isdigit(static_cast<unsigned char>(peek())) == 0) bad("expected a non-negative integer");
      std::int64_t v = 0;
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_])) != 0) {
        const int digit = s_[i_++] - '0';
        if (v > (std::numeric_limits<std::int64_t>::max() - digit) / 10) bad("dimension too large");
        v = v * 10 + digit;
      }
      if (peek() == 'L') ++i_;  // Python 2 longs
      dims.push_back(v);
      if (peek() == ',') {
        ++i_;
      } else if (peek() != ')') {
        bad("expected ',' or ')'");
      }
    }
    ++i_;
    return dims;
  }

  std::string_view s_;
  const std::string& path_;
  std::size_t i_ = 0;
};

std::string shape_text(std::span<const std::int64_t> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string errno_text() {
  return std::strerror(errno);
}

}  // namespace

const char* to_string(NpyType t) noexcept {
  switch (t) {
    case NpyType::F32: return "float32";
    case NpyType::F16: return "float16";
    case NpyType::F64: return "float64";
    case NpyType::U8: return "uint8";
    case NpyType::I8: return "int8";
    case NpyType::Bool: return "bool";
    case NpyType::I32: return "int32";
    case NpyType::I64: return "int64";
  }
  return "unknown";
}

std::int64_t item_size(NpyType t) noexcept {
  switch (t) {
    case NpyType::F16: return 2;
    case NpyType::F32:
    case NpyType::I32: return 4;
    case NpyType::F64:
    case NpyType::I64: return 8;
    case NpyType::U8:
    case NpyType::I8:
    case NpyType::Bool: return 1;
  }
  return 1;
}

std::int64_t NpyArray::count() const {
  std::int64_t n = 1;
  for (const std::int64_t d : shape) n *= d;
  return n;
}

std::string NpyArray::describe() const {
  return std::string(to_string(type)) + " " + shape_text(shape);
}

void NpyArray::require_matrix(const char* what, bool allow_1d) const {
  if (shape.size() == 2 || (allow_1d && shape.size() == 1)) return;
  throw NpyError(std::string(what) + " " + path + ": expected a " + (allow_1d ? "1-d or 2-d" : "2-d") + " array, got " +
                 describe());
}

namespace {
template <class T>
MatrixView<const T> as_matrix(const NpyArray& a, NpyType want, const char* what, const char* hint) {
  a.require_matrix(what, true);
  if (a.type != want)
    throw NpyError(std::string(what) + " " + a.path + ": expected " + to_string(want) + ", got " + a.describe() + hint);
  return MatrixView<const T>(static_cast<const T*>(a.data()), a.rows(), a.cols());
}
}  // namespace

MatrixView<const float> NpyArray::f32(const char* what) const {
  return as_matrix<float>(*this, NpyType::F32, what, " (convert with .astype(numpy.float32))");
}
MatrixView<const half> NpyArray::f16(const char* what) const {
  return as_matrix<half>(*this, NpyType::F16, what, "");
}
MatrixView<const std::uint8_t> NpyArray::u8(const char* what) const {
  return as_matrix<std::uint8_t>(*this, NpyType::U8, what,
                                 " (packed codes: numpy.packbits(bits, axis=1, bitorder='little'))");
}
MatrixView<const std::int64_t> NpyArray::i64(const char* what) const {
  return as_matrix<std::int64_t>(*this, NpyType::I64, what, " (convert with .astype(numpy.int64))");
}

namespace {

/// Parses the magic, version and header dict at the start of `head` (which must hold at least the
/// whole header); sets `a`'s type, shape and byte count and returns the data offset.
std::size_t parse_header(std::span<const std::uint8_t> head, const std::string& path, NpyArray& a) {
  if (head.size() < 10 || std::memcmp(head.data(), kMagic, sizeof kMagic) != 0)
    fail(path, "not a .npy file (no \\x93NUMPY magic; save arrays with numpy.save)");
  const unsigned major = head[6];
  const unsigned minor = head[7];
  std::size_t header_len = 0;
  std::size_t prefix = 0;
  if (major == 1 && minor == 0) {
    header_len = head[8] | (static_cast<std::size_t>(head[9]) << 8);
    prefix = 10;
  } else if ((major == 2 || major == 3) && minor == 0) {
    if (head.size() < 12) fail(path, "truncated .npy header");
    header_len = head[8] | (static_cast<std::size_t>(head[9]) << 8) | (static_cast<std::size_t>(head[10]) << 16) |
                 (static_cast<std::size_t>(head[11]) << 24);
    prefix = 12;
  } else {
    fail(path, "unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor) +
                   " (1.0, 2.0 and 3.0 are supported)");
  }
  if (header_len > kMaxHeaderBytes) fail(path, "malformed .npy header (" + std::to_string(header_len) + " bytes long)");
  if (header_len > head.size() - prefix)
    fail(path, "truncated .npy header (" + std::to_string(header_len) + " header bytes announced, " +
                   std::to_string(head.size() - prefix) + " in the file)");
  std::string_view text(reinterpret_cast<const char*>(head.data() + prefix), header_len);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\0')) text.remove_suffix(1);
  const Header h = HeaderParser(text, path).parse();

  a.path = path;
  const std::optional<NpyType> type = parse_descr(h.descr);
  if (!type) {
    fail(path, "unsupported dtype '" + h.descr +
                   "' (supported: float32, float16, float64, uint8, int8, bool, int32, int64, little-endian)");
  }
  a.type = *type;
  if (h.fortran && h.shape.size() >= 2) {
    fail(path,
         "the array is in Fortran (column-major) order; save a C-order copy: "
         "numpy.save(path, numpy.ascontiguousarray(a))");
  }
  a.shape = h.shape;
  std::int64_t count = 1;
  for (const std::int64_t d : a.shape) {
    if (d != 0 && count > std::numeric_limits<std::int64_t>::max() / 8 / d)
      fail(path, "shape " + shape_text(a.shape) + " is too large");
    count *= d;
  }
  a.bytes = count * item_size(a.type);
  return prefix + header_len;
}

/// Checks that the file holds exactly the header's data bytes.
void check_data_size(const NpyArray& a, std::uint64_t have) {
  if (have == static_cast<std::uint64_t>(a.bytes)) return;
  fail(a.path, std::string(have < static_cast<std::uint64_t>(a.bytes) ? "truncated" : "trailing bytes") + ": " +
                   a.describe() + " needs " + std::to_string(a.bytes) + " data bytes, the file has " +
                   std::to_string(have));
}

void check_bools(const NpyArray& a) {
  if (a.type != NpyType::Bool) return;
  const auto* p = reinterpret_cast<const std::uint8_t*>(a.storage.data());
  for (std::int64_t i = 0; i < a.bytes; ++i)
    if (p[i] > 1) fail(a.path, "bool element " + std::to_string(i) + " is " + std::to_string(p[i]) + ", not 0 or 1");
}

/// Reads exactly `n` bytes at `offset`; false at end of file. Throws on a read error.
bool read_at(int fd, void* dst, std::size_t n, std::uint64_t offset, const std::string& path) {
  std::size_t done = 0;
  while (done < n) {
    const std::size_t chunk = std::min<std::size_t>(n - done, std::size_t{1} << 30);
    const ssize_t r = ::pread(fd, static_cast<std::uint8_t*>(dst) + done, chunk, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail(path, "cannot read (" + errno_text() + ")");
    if (r == 0) return false;
    done += static_cast<std::size_t>(r);
  }
  return true;
}

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

NpyArray parse_npy(std::span<const std::uint8_t> bytes, const std::string& path) {
  NpyArray a;
  const std::size_t offset = parse_header(bytes, path, a);
  check_data_size(a, bytes.size() - offset);
  a.storage.resize(static_cast<std::size_t>((a.bytes + 7) / 8));
  if (a.bytes > 0) std::memcpy(a.storage.data(), bytes.data() + offset, static_cast<std::size_t>(a.bytes));
  check_bools(a);
  return a;
}

NpyArray load_npy(const std::string& path) {
  const Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) fail(path, "cannot open (" + errno_text() + ")");
  struct stat st {};
  if (::fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode)) fail(path, "not a regular file");
  const auto size = static_cast<std::uint64_t>(st.st_size);
  // The header (at most 12 + kMaxHeaderBytes bytes), then the data straight into the array.
  std::vector<std::uint8_t> head(static_cast<std::size_t>(std::min<std::uint64_t>(size, 12 + kMaxHeaderBytes)));
  if (!read_at(f.fd, head.data(), head.size(), 0, path)) fail(path, "cannot read (the file shrank while read)");
  NpyArray a;
  const std::size_t offset = parse_header(head, path, a);
  check_data_size(a, size - offset);
  a.storage.assign(static_cast<std::size_t>((a.bytes + 7) / 8), 0);
  if (!read_at(f.fd, a.storage.data(), static_cast<std::size_t>(a.bytes), offset, path))
    fail(path, "cannot read (the file shrank while read)");
  check_bools(a);
  return a;
}

namespace {

/// The version 1.0 header (magic to the newline) for an array of `type` and `shape`.
std::string npy_header(NpyType type, std::span<const std::int64_t> shape) {
  const char* descr = "<f4";
  for (const Descr& e : kDescrs)
    if (e.type == type) descr = e.text;
  std::string dims;
  for (std::size_t i = 0; i < shape.size(); ++i) dims += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) dims += ",";  // "(3,)" is a tuple, "(3)" is not
  std::string dict = "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  // Pad with spaces and a newline so the data starts at a multiple of 64 bytes (numpy's rule).
  const std::size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(dict.size() & 0xff);
  out += static_cast<char>(dict.size() >> 8);
  return out + dict;
}

std::size_t data_bytes(NpyType type, std::span<const std::int64_t> shape) {
  std::int64_t count = 1;
  for (const std::int64_t d : shape) count *= d;
  return static_cast<std::size_t>(count * item_size(type));
}

}  // namespace

std::vector<std::uint8_t> npy_bytes(NpyType type, std::span<const std::int64_t> shape, const void* data) {
  std::string bytes = npy_header(type, shape);
  const std::size_t n = data_bytes(type, shape);
  if (n > 0) bytes.append(static_cast<const char*>(data), n);
  return std::vector<std::uint8_t>(bytes.begin(), bytes.end());
}

void save_npy(const std::string& path, NpyType type, std::span<const std::int64_t> shape, const void* data) {
  const std::string header = npy_header(type, shape);
  const std::size_t n = data_bytes(type, shape);
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, "cannot create (" + errno_text() + ")");
  auto write_all = [&](const char* p, std::size_t len) {
    std::size_t done = 0;
    while (done < len) {
      const ssize_t w = ::write(fd, p + done, std::min<std::size_t>(len - done, std::size_t{1} << 30));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      done += static_cast<std::size_t>(w);
    }
    return true;
  };
  const bool ok = write_all(header.data(), header.size()) && (n == 0 || write_all(static_cast<const char*>(data), n));
  const std::string why = ok ? "" : errno_text();
  if (::close(fd) != 0 || !ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = ok ? errno_text() : why;
    ::unlink(tmp.c_str());
    fail(path, "cannot write (" + reason + ")");
  }
}

std::vector<std::uint8_t> multi_hot_labels(const NpyArray& a, const char* what, std::int64_t& classes) {
  auto value = [&](std::int64_t i) -> std::int64_t {
    const void* p = a.data();
    switch (a.type) {
      case NpyType::U8:
      case NpyType::Bool: return static_cast<const std::uint8_t*>(p)[i];
      case NpyType::I8: return static_cast<const std::int8_t*>(p)[i];
      case NpyType::I32: return static_cast<const std::int32_t*>(p)[i];
      case NpyType::I64: return static_cast<const std::int64_t*>(p)[i];
      default: break;
    }
    throw NpyError(std::string(what) + " " + a.path + ": labels must be uint8, bool, int8, int32 or int64, got " +
                   a.describe());
  };
  a.require_matrix(what, true);
  const std::int64_t n = a.rows();
  if (a.type == NpyType::F16 || a.type == NpyType::F32 || a.type == NpyType::F64)
    throw NpyError(std::string(what) + " " + a.path + ": labels must be uint8, bool, int8, int32 or int64, got " +
                   a.describe());
  if (n < 1 || a.count() < 1) throw NpyError(std::string(what) + " " + a.path + ": no labels (" + a.describe() + ")");
  if (a.shape.size() == 1) {
    // Class indices.
    std::int64_t max = -1;
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t v = value(i);
      if (v < 0 || v >= kMaxClassIndex)
        throw NpyError(std::string(what) + " " + a.path + ": class index [" + std::to_string(i) +
                       "] (= " + std::to_string(v) + ") must be in [0, " + std::to_string(kMaxClassIndex) + ")");
      max = std::max(max, v);
    }
    classes = max + 1;
    std::vector<std::uint8_t> out(static_cast<std::size_t>(n * classes), 0);
    for (std::int64_t i = 0; i < n; ++i) out[static_cast<std::size_t>(i * classes + value(i))] = 1;
    return out;
  }
  classes = a.cols();
  if (classes < 1) throw NpyError(std::string(what) + " " + a.path + ": labels need at least one class column");
  std::vector<std::uint8_t> out(static_cast<std::size_t>(a.count()));
  for (std::int64_t i = 0; i < a.count(); ++i) {
    const std::int64_t v = value(i);
    if (v != 0 && v != 1)
      throw NpyError(std::string(what) + " " + a.path + ": label [" + std::to_string(i / classes) + ", " +
                     std::to_string(i % classes) + "] (= " + std::to_string(v) +
                     ") must be 0 or 1 (multi-hot); a 1-d array holds class indices");
    out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v);
  }
  return out;
}

std::vector<std::uint8_t> widen_labels(const std::vector<std::uint8_t>& labels, std::int64_t n, std::int64_t from,
                                       std::int64_t to) {
  if (from == to) return labels;
  std::vector<std::uint8_t> out(static_cast<std::size_t>(n * to), 0);
  for (std::int64_t i = 0; i < n; ++i)
    std::copy(labels.begin() + i * from, labels.begin() + (i + 1) * from, out.begin() + i * to);
  return out;
}

std::vector<std::int64_t> id_vector(const NpyArray& a, const char* what) {
  if (!(a.shape.size() == 1 || (a.shape.size() == 2 && a.shape[1] == 1)))
    throw NpyError(std::string(what) + " " + a.path + ": expected a 1-d array of ids, got " + a.describe());
  std::vector<std::int64_t> ids(static_cast<std::size_t>(a.rows()));
  if (a.type == NpyType::I64) {
    if (!ids.empty()) std::memcpy(ids.data(), a.data(), ids.size() * sizeof(std::int64_t));
  } else if (a.type == NpyType::I32) {
    const auto* p = static_cast<const std::int32_t*>(a.data());
    std::copy(p, p + ids.size(), ids.begin());
  } else {
    throw NpyError(std::string(what) + " " + a.path + ": ids must be int64 or int32, got " + a.describe());
  }
  return ids;
}

}  // namespace xmr::cli
