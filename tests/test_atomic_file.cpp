// AtomicFile (core/atomic_file.h): the one writer behind weights, checkpoints and PNGs. The
// target only ever holds the old bytes or the new ones; every failure removes the temporary
// and names the target.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "resource_limits.h"
#include "temp_dir.h"

using namespace glassbox;

namespace {

std::string contents(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void write_file(const std::string& path, const std::string& text) {
  AtomicFile file(path, "test: cannot write " + path);
  file.write(text.data(), text.size());
  file.commit();
}

}  // namespace

TEST_SUITE("atomic_file") {
  TEST_CASE("commit replaces the target whole and leaves no temporary") {
    TempDir dir;
    const std::string path = dir.file("out.bin");
    write_file(path, "old");
    write_file(path, "new contents");
    CHECK(contents(path) == "new contents");
    CHECK(dir.entries() == std::vector<std::string>{"out.bin"});
  }

  TEST_CASE("without commit the target is untouched and the temporary is gone") {
    TempDir dir;
    const std::string path = dir.file("out.bin");
    write_file(path, "old");
    {
      AtomicFile file(path, "test");
      file.write("half", 4);
      CHECK(std::ifstream(file.temporary()).good());
    }  // e.g. an exception between writing and committing
    CHECK(contents(path) == "old");
    CHECK(dir.entries() == std::vector<std::string>{"out.bin"});
  }

  TEST_CASE("a failed write names the target, keeps the old file, removes the temporary") {
    TempDir dir;
    const std::string path = dir.file("out.bin");
    write_file(path, "old");
    const std::string big(1 << 16, 'x');
    const std::string msg = test_limits::with_file_size_limit(4096, [&] { write_file(path, big); });
    CHECK(msg.rfind("test: cannot write " + path +
                        ": File too large (while writing the temporary " + path + ".tmp.",
                    0) == 0);
    CHECK(msg.find("nothing was replaced") != std::string::npos);
    CHECK(contents(path) == "old");
    CHECK(dir.entries() == std::vector<std::string>{"out.bin"});
    // a folder that does not exist: nothing is created anywhere
    CHECK_THROWS_WITH_AS(write_file(dir.file("no/such/dir/x"), "x"),
                         doctest::Contains("No such file or directory (while creating"), Error);
  }

  TEST_CASE("the new file keeps the permissions of the one it replaces") {
    TempDir dir;
    const std::string path = dir.file("secret.ckpt");
    write_file(path, "v1");
    REQUIRE(::chmod(path.c_str(), 0600) == 0);
    write_file(path, "v2");
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
  }

  TEST_CASE("a temporary left by a dead writer is removed by the next write; a live one is not") {
    TempDir dir;
    const std::string path = dir.file("out.bin");
    // what a killed writer leaves: its name pattern, and no process holding its lock
    std::ofstream(path + ".tmp.999999.3") << "torn";
    std::ofstream(path + ".tmp.notdigits") << "unrelated";
    AtomicFile live(path, "test");  // holds its lock until destroyed
    write_file(path, "whole");
    std::vector<std::string> names = dir.entries();
    std::sort(names.begin(), names.end());
    CHECK(names.size() == 3);  // out.bin, the unrelated file, the live writer's temporary
    CHECK(std::find(names.begin(), names.end(), "out.bin.tmp.999999.3") == names.end());
    CHECK(std::find(names.begin(), names.end(), "out.bin.tmp.notdigits") != names.end());
    CHECK(std::ifstream(live.temporary()).good());
    CHECK(contents(path) == "whole");
  }
}
