#include "core/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "core/error.h"

namespace glassbox {
namespace {

// "<base>.tmp.<digits>.<digits>": the name of one of base's temporaries.
bool is_temp_of(const char* name, const std::string& prefix) {
  if (std::strncmp(name, prefix.c_str(), prefix.size()) != 0) return false;
  const char* p = name + prefix.size();
  auto digits = [&p] {
    const char* s = p;
    while (*p >= '0' && *p <= '9') ++p;
    return p > s;
  };
  if (!digits() || *p++ != '.') return false;
  return digits() && *p == '\0';
}

// Removes the temporaries of `base` in `dir` whose writers died (best effort: errors are
// ignored, and a file whose lock cannot be taken, e.g. where flock is unsupported, is kept).
void remove_dead_temporaries(const std::string& dir, const std::string& base) {
  const std::string prefix = base + ".tmp.";
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d))
      if (is_temp_of(e->d_name, prefix)) names.push_back(e->d_name);
    ::closedir(d);
  }
  for (const std::string& name : names) {
    const std::string p = dir + "/" + name;
    // read-write: where flock is emulated with POSIX locks (NFS) an exclusive lock needs it
    int fd = ::open(p.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) continue;
    struct stat held {};
    struct stat now {};
    if (::fstat(fd, &held) == 0 && S_ISREG(held.st_mode) && ::flock(fd, LOCK_EX | LOCK_NB) == 0 &&
        ::lstat(p.c_str(), &now) == 0 && now.st_dev == held.st_dev && now.st_ino == held.st_ino)
      ::unlink(p.c_str());  // a live writer that had not locked it yet sees st_nlink == 0: retries
    ::close(fd);
  }
}

}  // namespace

AtomicFile::AtomicFile(const std::string& path, const std::string& what)
    : path_(path), what_(what) {
  const size_t slash = path.rfind('/');
  dir_ = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  // a device, FIFO or folder at `path` is not a file to replace: renaming over /dev/null as root
  // would swap out the device itself
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0 && !S_ISREG(existing.st_mode) &&
      !S_ISLNK(existing.st_mode)) {
    committed_ = true;  // nothing of ours to remove
    glassbox::fail(str(what_, ": it exists and is not a regular file (",
                       S_ISDIR(existing.st_mode) ? "a directory" : "a device, FIFO or socket",
                       "); nothing was written"));
  }
  remove_dead_temporaries(dir_, slash == std::string::npos ? path : path.substr(slash + 1));
  // unique per process and per call, so concurrent writers never share a temporary file
  static std::atomic<uint64_t> counter{0};
  for (int attempt = 0;; ++attempt) {
    tmp_ = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0 && errno == EEXIST && attempt < 100) continue;  // left by a process with our pid
    if (fd_ < 0) {  // nothing was created: there is nothing to remove
      committed_ = true;
      glassbox::fail(str(what_, ": ", std::strerror(errno), " (while creating the temporary ", tmp_,
                         "; nothing was replaced)"));
    }
    int locked;
    do locked = ::flock(fd_, LOCK_EX);  // waits only while another writer inspects the file
    while (locked != 0 && errno == EINTR);
    struct stat st {};
    if (locked == 0 && ::fstat(fd_, &st) == 0 && st.st_nlink == 0 && attempt < 100) {
      ::close(fd_);  // removed by another writer between our open and our lock: a new name
      continue;
    }
    // the new file keeps the old one's permissions: a 0600 checkpoint must not turn 0644
    struct stat target {};
    if (::stat(path.c_str(), &target) == 0 && S_ISREG(target.st_mode))
      (void)::fchmod(fd_, target.st_mode & 07777);
    return;  // without flock support the write still works; it is just never cleaned up after
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

int AtomicFile::try_write(const void* data, size_t n) noexcept {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return w < 0 ? errno : ENOSPC;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return 0;
}

void AtomicFile::write(const void* data, size_t n) {
  if (int err = try_write(data, n)) fail(err, "writing");
}

void AtomicFile::fail(int err, const char* step) {
  ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_.c_str());
  committed_ = true;  // nothing left to clean up
  glassbox::fail(str(what_, ": ", std::strerror(err), " (while ", step, " the temporary ", tmp_,
                     "; nothing was replaced)"));
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) fail(errno, "syncing");
  // rename while still holding the lock, so no other writer takes the file for a dead one's
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) fail(errno, "renaming");
  committed_ = true;
  ::close(fd_);  // fsync reported any write error; the new file is in place
  fd_ = -1;
  // make the rename itself durable: fsync the folder that holds the new directory entry
  int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace glassbox
