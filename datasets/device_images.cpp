#include "datasets/device_images.h"

#include "core/ops.h"

namespace glassbox::datasets {
namespace {

class IndexDataset : public Dataset {
 public:
  explicit IndexDataset(int64_t size) : size_(size) {}
  int64_t size() const override { return size_; }
  Batch get_batch(const std::vector<int64_t>& indices) const override {
    Tensor t = from_vector(indices, {static_cast<int64_t>(indices.size())});
    return {t, t};
  }

 private:
  int64_t size_;
};

}  // namespace

DeviceImages::DeviceImages(const MNIST& source, Device device)
    : images_(source.images().contiguous().to(device)),
      targets_(source.targets().to(device)),
      table_(source.byte_table().to(device)) {}

Batch DeviceImages::batch(const Tensor& indices) const {
  GB_CHECK(indices.dim() == 1 && indices.dtype() == kInt64,
           "DeviceImages::batch: indices must be int64 [B], got ", dtype_name(indices.dtype()), " ",
           indices.shape_str());
  const Tensor idx = indices.to(device());
  const int64_t b = idx.size(0), h = images_.size(1), w = images_.size(2);
  // pixels as bytes, then each byte through the table: two gathers, no host work
  const Tensor bytes = index_select(images_, 0, idx).reshape({b * h * w}).to(kInt64);
  return {index_select(table_, 0, bytes).view({b, 1, h, w}), index_select(targets_, 0, idx)};
}

std::shared_ptr<const Dataset> DeviceImages::index_dataset() const {
  return std::make_shared<IndexDataset>(size());
}

}  // namespace glassbox::datasets
