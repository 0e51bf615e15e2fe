// CPU-only build: there is no GPU to talk to, so every GPU request is a clear error.
#include "core/error.h"
#include "cuda/runtime.h"

namespace glassbox::cuda {
namespace {
[[noreturn]] void no_cuda(const char* op) {
  fail(str(op,
           ": glassbox was built without CUDA (reconfigure with -DGLASSBOX_CUDA=ON on a "
           "machine with nvcc, or -DGLASSBOX_CUDA_EMU=ON for the emulated device)"));
}
}  // namespace

bool is_available() { return false; }
int device_count() { return 0; }
bool built_with_cuda() { return false; }
bool is_emulated() { return false; }
std::string device_name(int) { no_cuda("cuda::device_name"); }
void* device_malloc(size_t, int) { no_cuda("cuda::device_malloc"); }
void device_free(void*, size_t, int) {}
size_t device_free_memory(int) { return 0; }
void copy_host_to_device(void*, const void*, size_t, int) { no_cuda("to(cuda)"); }
void copy_device_to_host(void*, const void*, size_t, int) { no_cuda("to(cpu)"); }
void copy_device_to_device(void*, const void*, size_t, int) { no_cuda("copy_"); }
void synchronize(int) {}

}  // namespace glassbox::cuda
