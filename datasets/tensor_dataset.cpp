// TensorDataset, Subset, random_split. Everything a DataLoader thread may run (get_batch) is
// plain memcpy over contiguous rows: no kernels, so no OpenMP and no default generator.
#include "datasets/tensor_dataset.h"

#include <cmath>
#include <cstring>
#include <numeric>
#include <sstream>

#include "core/error.h"
#include "core/generator.h"

namespace glassbox::datasets {
namespace {

std::string list_str(const std::vector<double>& v) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
  os << "]";
  return os.str();
}

// Rows `indices` of the contiguous tensor t, stacked: [indices.size(), t.shape[1:]...].
Tensor gather_rows(const Tensor& t, const std::vector<int64_t>& indices) {
  Shape shape = t.shape();
  shape[0] = static_cast<int64_t>(indices.size());
  Tensor out = empty(shape, dtype(t.dtype()));
  const size_t row = t.size(0) > 0 ? t.nbytes() / static_cast<size_t>(t.size(0)) : 0;
  const auto* src = static_cast<const char*>(t.raw_data());
  auto* dst = static_cast<char*>(out.raw_data());
  for (size_t i = 0; i < indices.size(); ++i)
    std::memcpy(dst + i * row, src + static_cast<size_t>(indices[i]) * row, row);
  return out;
}

}  // namespace

TensorDataset::TensorDataset(Tensor data, Tensor targets) {
  GB_CHECK(data.defined(), "TensorDataset: data is undefined");
  GB_CHECK(data.dim() >= 1, "TensorDataset: data must have a first (example) dim, got a 0-d ",
           "tensor");
  GB_CHECK(data.device().type == DeviceType::CPU,
           "TensorDataset: data must be on the CPU (move each batch to the device instead), ",
           "got data on ", data.device().str());
  if (targets.defined()) {
    GB_CHECK(targets.dim() >= 1, "TensorDataset: targets must have a first (example) dim, ",
             "got a 0-d tensor");
    GB_CHECK(targets.device().type == DeviceType::CPU,
             "TensorDataset: targets must be on the CPU, got targets on ", targets.device().str());
    GB_CHECK(targets.size(0) == data.size(0), "TensorDataset: data and targets must have the ",
             "same number of examples (size of dim 0), got data ", data.shape_str(),
             " and targets ", targets.shape_str());
    targets_ = targets.detach().contiguous();
  }
  data_ = data.detach().contiguous();
}

Batch TensorDataset::get_batch(const std::vector<int64_t>& indices) const {
  for (int64_t k : indices)
    GB_CHECK(k >= 0 && k < size(), "TensorDataset: index ", k, " out of range for ", size(),
             " examples");
  return {gather_rows(data_, indices),
          targets_.defined() ? gather_rows(targets_, indices) : Tensor()};
}

Subset::Subset(std::shared_ptr<const Dataset> dataset, std::vector<int64_t> indices)
    : dataset_(std::move(dataset)), indices_(std::move(indices)) {
  GB_CHECK(dataset_ != nullptr, "Subset: the data set is null");
  const int64_t n = dataset_->size();
  for (size_t i = 0; i < indices_.size(); ++i)
    GB_CHECK(indices_[i] >= 0 && indices_[i] < n, "Subset: index ", indices_[i], " (at position ",
             i, ") out of range for a data set of ", n, " examples");
}

std::vector<int64_t> Subset::parent_indices(const std::vector<int64_t>& indices) const {
  std::vector<int64_t> out;
  out.reserve(indices.size());
  for (int64_t k : indices) {
    GB_CHECK(k >= 0 && k < size(), "Subset: index ", k, " out of range for ", size(), " examples");
    out.push_back(indices_[static_cast<size_t>(k)]);
  }
  return out;
}

Batch Subset::get_batch(const std::vector<int64_t>& indices) const {
  return dataset_->get_batch(parent_indices(indices));
}

Batch Subset::get_batch_for_epoch(const std::vector<int64_t>& indices, int64_t epoch) const {
  return dataset_->get_batch_for_epoch(parent_indices(indices), epoch);
}

std::vector<int64_t> split_lengths(int64_t n, const std::vector<double>& lengths) {
  GB_CHECK(!lengths.empty(), "random_split: lengths is empty");
  const double sum = std::accumulate(lengths.begin(), lengths.end(), 0.0);
  std::vector<int64_t> out;
  // PyTorch 1.13: math.isclose(sum, 1) (rel_tol 1e-9) and sum <= 1 means fractions.
  if (std::fabs(sum - 1.0) <= 1e-9 && sum <= 1.0) {
    for (double f : lengths) {
      GB_CHECK(f >= 0 && f <= 1, "random_split: fraction ", f, " is not in [0, 1] (lengths ",
               list_str(lengths), ")");
      out.push_back(static_cast<int64_t>(std::floor(static_cast<double>(n) * f)));
    }
    const int64_t remainder = n - std::accumulate(out.begin(), out.end(), int64_t{0});
    for (int64_t i = 0; i < remainder; ++i) ++out[static_cast<size_t>(i) % out.size()];
    return out;
  }
  for (double l : lengths) {
    GB_CHECK(l >= 0 && l == std::floor(l) && l < 9.0e15, "random_split: length ", l,
             " is not a whole number >= 0, and the lengths ", list_str(lengths),
             " do not sum to 1 as fractions would");
    out.push_back(static_cast<int64_t>(l));
  }
  GB_CHECK(std::accumulate(out.begin(), out.end(), int64_t{0}) == n, "random_split: the lengths ",
           list_str(lengths), " sum to ", sum, ", not to the data set's ", n,
           " examples (nor to 1, as fractions would)");
  return out;
}

std::vector<std::shared_ptr<Subset>> random_split(std::shared_ptr<const Dataset> dataset,
                                                  const std::vector<double>& lengths,
                                                  uint64_t seed) {
  GB_CHECK(dataset != nullptr, "random_split: the data set is null");
  const std::vector<int64_t> sizes = split_lengths(dataset->size(), lengths);
  // Fisher-Yates from our own Generator: j uniform in [0, i] by Lemire's multiply-shift on 64
  // random bits (bias below 2^-40 for data sets under 2^24 examples).
  std::vector<int64_t> perm(static_cast<size_t>(dataset->size()));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  Generator gen(seed);
  for (size_t i = perm.size(); i > 1; --i) {
    const auto j = static_cast<size_t>(
        (static_cast<unsigned __int128>(gen.next_u64()) * static_cast<uint64_t>(i)) >> 64);
    std::swap(perm[i - 1], perm[j]);
  }
  std::vector<std::shared_ptr<Subset>> parts;
  size_t start = 0;
  for (int64_t len : sizes) {
    std::vector<int64_t> idx(perm.begin() + static_cast<std::ptrdiff_t>(start),
                             perm.begin() + static_cast<std::ptrdiff_t>(start + size_t(len)));
    parts.push_back(std::make_shared<Subset>(dataset, std::move(idx)));
    start += static_cast<size_t>(len);
  }
  return parts;
}

}  // namespace glassbox::datasets
