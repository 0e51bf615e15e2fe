#include "core/storage.h"

#include "core/allocator.h"

namespace glassbox {

Storage::Storage(size_t bytes, Device device)
    : data_(detail::allocate(bytes, device)), bytes_(bytes), device_(device) {}

Storage::~Storage() { detail::deallocate(data_, bytes_, device_); }

}  // namespace glassbox
