#pragma once
// The CUDA runtime as glassbox sees it: device discovery, device memory and copies.
// Built from runtime.cu when CUDA is enabled, from runtime_cpu_only.cpp otherwise, where
// every call that needs a GPU throws a glassbox::Error saying how to get one.
#include <cstddef>
#include <string>

namespace glassbox::cuda {

bool is_available();  // built with CUDA and at least one device present
int device_count();
bool built_with_cuda();
std::string device_name(int index);

void* device_malloc(size_t bytes, int index);
void device_free(void* ptr, int index);
void copy_host_to_device(void* dst, const void* src, size_t bytes, int index);
void copy_device_to_host(void* dst, const void* src, size_t bytes, int index);
void copy_device_to_device(void* dst, const void* src, size_t bytes, int index);
void synchronize(int index);

}  // namespace glassbox::cuda
