#include "io/file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <limits>
#include <system_error>
#include <utility>
#include <vector>

#include "common/check.h"

namespace xmr::engine::io {

std::string errno_text(int err) {
  return std::generic_category().message(err);
}

namespace {

/// The directory part of `path` ("." for a bare file name).
std::string directory_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  XMR_CHECK(!path_.empty(), InvalidArgument, "path (= \"\") must name a file");
  std::string pattern = path_ + ".tmp-XXXXXX";
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  fd_ = ::mkostemp(name.data(), O_CLOEXEC);
  XMR_CHECK(fd_ >= 0, Io, "cannot create a temporary file next to '", path_, "' (", pattern, "): ", errno_text(errno));
  temp_.assign(name.data());
  // mkostemp creates the file 0600; give it the mode of the file it replaces, or 0644.
  struct stat st {};
  const mode_t mode = ::stat(path_.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0644;
  (void)::fchmod(fd_, mode);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) (void)::close(fd_);
  if (!temp_.empty()) (void)::unlink(temp_.c_str());
}

void AtomicFile::write(const void* data, std::size_t n) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (n > 0) {
    const std::size_t chunk = std::min<std::size_t>(n, std::size_t{1} << 30);
    const ssize_t w = ::write(fd_, p, chunk);
    if (w < 0 && errno == EINTR) continue;
    XMR_CHECK(w > 0, Io, "cannot write '", path_, "' (temporary file ", temp_, ") after ", written_,
              " bytes: ", w < 0 ? errno_text(errno) : std::string("no progress"));
    p += w;
    n -= static_cast<std::size_t>(w);
    written_ += static_cast<std::uint64_t>(w);
  }
}

void AtomicFile::commit() {
  XMR_CHECK(::fsync(fd_) == 0, Io, "cannot fsync '", temp_, "' (saving '", path_, "'): ", errno_text(errno));
  const int fd = fd_;
  fd_ = -1;
  XMR_CHECK(::close(fd) == 0, Io, "cannot close '", temp_, "' (saving '", path_, "'): ", errno_text(errno));
  XMR_CHECK(::rename(temp_.c_str(), path_.c_str()) == 0, Io, "cannot rename '", temp_, "' to '", path_,
            "': ", errno_text(errno));
  temp_.clear();  // it is the destination now
  // Make the rename durable. Some file systems refuse fsync on a directory (EINVAL); the data is
  // already safe there, so only real I/O errors are reported.
  const std::string dir = directory_of(path_);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  XMR_CHECK(dfd >= 0, Io, "cannot open directory '", dir, "' to fsync it (saving '", path_, "'): ", errno_text(errno));
  const int rc = ::fsync(dfd);
  const int err = errno;
  (void)::close(dfd);
  XMR_CHECK(rc == 0 || err == EINVAL, Io, "cannot fsync directory '", dir, "' (saving '", path_,
            "'): ", errno_text(err));
}

void write_file_atomic(const std::string& path, const void* bytes, std::size_t n) {
  AtomicFile file(path);
  file.write(bytes, n);
  file.commit();
}

ReadFile::ReadFile(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  XMR_CHECK(fd_ >= 0, Io, "cannot open '", path_, "' for reading: ", errno_text(errno));
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int err = errno;
    const bool regular = S_ISREG(st.st_mode);
    (void)::close(fd_);
    fd_ = -1;
    XMR_CHECK(regular, Io, "cannot read '", path_, "': not a regular file");
    detail::fail(ErrorCode::Io, "cannot stat '", path_, "': ", errno_text(err));
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
}

ReadFile::~ReadFile() {
  if (fd_ >= 0) (void)::close(fd_);
}

void ReadFile::read(std::uint64_t offset, std::size_t n, void* dst) const {
  auto* p = static_cast<std::uint8_t*>(dst);
  while (n > 0) {
    const std::size_t chunk = std::min<std::size_t>(n, std::size_t{1} << 30);
    const ssize_t r = ::pread(fd_, p, chunk, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    XMR_CHECK(r > 0, Io, "cannot read '", path_, "' at offset ", offset, ": ",
              r < 0 ? errno_text(errno) : std::string("unexpected end of file (was it truncated while loading?)"));
    p += r;
    n -= static_cast<std::size_t>(r);
    offset += static_cast<std::uint64_t>(r);
  }
}

std::vector<std::uint8_t> read_whole_file(const std::string& path) {
  const ReadFile file(path);
  XMR_CHECK(file.size() <= std::numeric_limits<std::size_t>::max(), Io, "cannot read '", path, "': ", file.size(),
            " bytes exceed the address space");
  std::vector<std::uint8_t> out(static_cast<std::size_t>(file.size()));
  file.read(0, out.size(), out.data());
  return out;
}

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  const ReadFile file(path);  // opens, checks it is a regular file, sizes it
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->size_ = file.size();
  if (m->size_ == 0) return m;  // nothing to map; the parser reports the empty file
  XMR_CHECK(m->size_ <= std::numeric_limits<std::size_t>::max(), Io, "cannot map '", path, "': ", m->size_,
            " bytes exceed the address space");
  // The mapping keeps the file open after `file` closes its descriptor.
  void* p = ::mmap(nullptr, static_cast<std::size_t>(m->size_), PROT_READ, MAP_PRIVATE, file.fd(), 0);
  const int err = errno;
  XMR_CHECK(p != MAP_FAILED, Io, "cannot map '", path, "' (", m->size_, " bytes): ", errno_text(err));
  m->data_ = static_cast<const std::uint8_t*>(p);
  m->mapped_ = static_cast<std::size_t>(m->size_);
  return m;
}

MappedFile::~MappedFile() {
  if (mapped_ != 0) (void)::munmap(const_cast<std::uint8_t*>(data_), mapped_);
}

}  // namespace xmr::engine::io
