#include "util/private_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "atcr/error.h"

namespace atcr::util {

namespace {

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path, int err) {
  throw StorageError(what + " " + path.string() + ": " + std::strerror(err));
}

// The directory of `path`, created 0700 if missing ("." for a bare name).
std::filesystem::path private_dir(const std::filesystem::path& path) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) return ".";
  if (!std::filesystem::exists(dir)) {
    std::filesystem::create_directories(dir);
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace);
  }
  return dir;
}

// A temporary file beside `path`, mode 0600, holding `content`, fsync'd and
// closed. Returns its name; throws (leaving nothing behind) on failure.
std::string write_temporary(const std::filesystem::path& path, std::string_view content) {
  std::string tmp = path.string() + ".tmp-XXXXXX";
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) fail("creating a temporary file for", path, errno);
  auto give_up = [&](const char* what) {
    int err = errno;
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    fail(what, tmp, err);
  };
  // mkostemp already uses 0600; be explicit in case of an odd libc.
  if (::fchmod(fd, S_IRUSR | S_IWUSR) != 0) give_up("chmod");
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) give_up("writing");
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) give_up("flushing");
  int rc = ::close(fd);
  fd = -1;
  if (rc != 0) give_up("closing");
  return tmp;
}

// Makes a new directory entry durable. Some filesystems do not support
// fsync on directories (EINVAL); nothing more can be done there.
void fsync_parent_dir(const std::filesystem::path& path) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("opening directory", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL) fail("fsync of directory", dir, err);
}

}  // namespace

void write_private_file(const std::filesystem::path& path, std::string_view content) {
  private_dir(path);
  std::string tmp = write_temporary(path, content);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail("renaming a temporary file onto", path, err);
  }
  fsync_parent_dir(path);
}

bool create_private_file(const std::filesystem::path& path, std::string_view content) {
  std::string tmp = write_temporary(path, content);
  int rc = ::link(tmp.c_str(), path.c_str());
  int err = errno;
  ::unlink(tmp.c_str());
  if (rc != 0) {
    if (err == EEXIST) return false;
    fail("linking a temporary file to", path, err);
  }
  fsync_parent_dir(path);
  return true;
}

void check_private_file(const std::filesystem::path& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) fail("stat", path, errno);
  if (st.st_mode & (S_IRWXG | S_IRWXO))
    throw StorageError(path.string() + " is accessible by group or others; chmod 600 it (it holds secrets)");
}

PrivateFileLock::PrivateFileLock(const std::filesystem::path& path) {
  std::filesystem::path dir = private_dir(path);
  fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0) fail("opening the directory of", path, errno);
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    int err = errno;
    ::close(fd_);
    fail("locking the directory of", path, err);
  }
}

PrivateFileLock::~PrivateFileLock() { ::close(fd_); }  // closing releases the lock

}  // namespace atcr::util
