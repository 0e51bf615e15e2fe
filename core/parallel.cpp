#include "core/parallel.h"

#include <Eigen/Core>

#include "core/error.h"

namespace glassbox {
namespace {
int default_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}
int& thread_setting() {
  static int n = default_threads();
  return n;
}
}  // namespace

void set_num_threads(int n) {
  GB_CHECK(n >= 1, "set_num_threads: need at least 1 thread, got ", n);
  thread_setting() = n;
  Eigen::setNbThreads(n);
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

int get_num_threads() { return thread_setting(); }

}  // namespace glassbox
