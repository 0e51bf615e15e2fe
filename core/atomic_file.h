#pragma once
// Writing a file so that a reader, a crash or a kill at any moment sees the old file or the
// new one, never a torn one: the bytes go to a temporary "<path>.tmp.<pid>.<n>" in the same
// folder, which commit() fsyncs, renames over `path`, then makes the rename durable by
// fsyncing the folder. Every write is checked, so a full disk is an Error, never a truncated
// file reported as written. Until commit() succeeds the target is untouched; a failure (or
// destroying an uncommitted AtomicFile) removes the temporary.
//
// A killed writer cannot remove its temporary; the next AtomicFile for the same path does.
// Each writer holds an flock on its temporary from creation to rename, and the kernel drops it
// when the process dies, so a temporary nobody holds belongs to a dead writer. Live writers,
// from any process, are never touched; where flock is unsupported nothing is removed.
//
// The new file keeps the permissions of the file it replaces (else 0644 less the umask). A
// symlink at `path` is replaced by the new file, not written through; a directory, device or
// FIFO at `path` is refused before anything is written.
//
// Used by save_safetensors (weights, checkpoints) and image::write_png.
#include <cstddef>
#include <string>

namespace glassbox {

class AtomicFile {
 public:
  // `what` starts every error message, e.g. "save_safetensors: cannot write run.ckpt"; the
  // reason and the step follow: "...: No space left on device (while writing the temporary
  // run.ckpt.tmp.41.0; nothing was replaced)".
  AtomicFile(const std::string& path, const std::string& what);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Appends all n bytes or throws (the temporary is removed).
  void write(const void* data, size_t n);
  // The same without throwing, for C callbacks that must not unwind (libpng): 0, or the errno.
  int try_write(const void* data, size_t n) noexcept;
  // Throws the error for a failed step, removing the temporary.
  [[noreturn]] void fail(int err, const char* step);
  // fsync, rename over the target, fsync the folder. After it the destructor keeps the file.
  void commit();

  const std::string& temporary() const { return tmp_; }

 private:
  std::string path_, what_, dir_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace glassbox
