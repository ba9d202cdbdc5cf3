#pragma once
// Files for persistence: atomic replacement on save, positioned reads and read-only mappings on
// load. Every failure is an xmr::Error (Io) naming the path and the system's reason.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace xmr::engine::io {

/// The system's text for an errno value.
std::string errno_text(int err);

/// Writes a new version of `path` so that a crash at any point leaves either the old file or the
/// new one, never a torn one: the bytes go to a temporary file in the same directory
/// ("<path>.tmp-XXXXXX"), which commit() fsyncs, renames over `path`, and follows with an fsync
/// of the directory (so the rename itself is durable). Destroyed without commit(), the temporary
/// file is removed and `path` is untouched. A process killed mid-save leaves its temporary file
/// behind (the name says what it is); `path` is whole either way.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  /// Appends `n` bytes (retries partial writes and EINTR).
  void write(const void* data, std::size_t n);
  /// fsync, rename over the destination, fsync the directory.
  void commit();

 private:
  std::string path_;
  std::string temp_;
  int fd_ = -1;
  std::uint64_t written_ = 0;
};

/// Writes `bytes` as the new version of `path` through an AtomicFile.
void write_file_atomic(const std::string& path, const void* bytes, std::size_t n);

/// The whole content of `path` (Io errors name it).
std::vector<std::uint8_t> read_whole_file(const std::string& path);

/// A file opened for positioned reads.
class ReadFile {
 public:
  explicit ReadFile(std::string path);
  ~ReadFile();
  ReadFile(const ReadFile&) = delete;
  ReadFile& operator=(const ReadFile&) = delete;

  [[nodiscard]] std::uint64_t size() const { return size_; }
  [[nodiscard]] int fd() const { return fd_; }
  /// Reads exactly `n` bytes at `offset` (the caller checked the range against size()).
  void read(std::uint64_t offset, std::size_t n, void* dst) const;

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

/// A whole file mapped read-only (MAP_PRIVATE); unmapped when the last owner lets go. Files that
/// xmr saves are replaced by rename, never rewritten in place, so a mapping stays valid while a
/// newer version of the file is saved.
class MappedFile {
 public:
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  [[nodiscard]] const std::uint8_t* data() const { return data_; }
  [[nodiscard]] std::uint64_t size() const { return size_; }

 private:
  MappedFile() = default;
  const std::uint8_t* data_ = nullptr;
  std::uint64_t size_ = 0;
  std::size_t mapped_ = 0;
};

}  // namespace xmr::engine::io
