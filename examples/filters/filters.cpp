#include "filters.h"

#include <cmath>
#include <sstream>
#include <vector>

#include "datasets/image.h"

using namespace glassbox;

namespace filters {

Kernel3 parse_kernel(const std::string& spec) {
  if (spec == "identity") return {0, 0, 0, 0, 1, 0, 0, 0, 0};
  if (spec == "emboss") return {-2, -1, 0, -1, 1, 1, 0, 1, 2};
  if (spec == "sharpen") return {0, -1, 0, -1, 5, -1, 0, -1, 0};
  if (spec == "edge") return {-1, -1, -1, -1, 8, -1, -1, -1, -1};
  Kernel3 k{};
  std::stringstream ss(spec);
  std::string item;
  size_t n = 0;
  while (std::getline(ss, item, ',')) {
    GB_CHECK(n < 9, "filters: kernel '", spec, "' has more than 9 numbers");
    try {
      size_t used = 0;
      k[n] = std::stof(item, &used);
      GB_CHECK(used == item.size(), "filters: '", item, "' in kernel '", spec, "' is not a number");
    } catch (const std::logic_error&) {
      fail(str("filters: '", item, "' in kernel '", spec, "' is not a number"));
    }
    ++n;
  }
  GB_CHECK(n == 9, "filters: kernel '", spec,
           "' is not identity|emboss|sharpen|edge or nine comma-separated numbers");
  return k;
}

Tensor load_image(const std::string& path) {
  // float32 and up to five algorithms side by side: 8 megapixels is already a few GB at most
  image::Limits limits;
  limits.max_pixels = kMaxPixels;
  const image::Image img = image::read(path, 0, limits);  // "cannot read image <path>: ..."
  Tensor hwc = from_blob(img.pixels.data(), {img.height, img.width, img.channels}, kUInt8);
  return hwc.to(kFloat32).permute({2, 0, 1}).unsqueeze(0).contiguous();
}

void save_png(const Tensor& image, const std::string& path) {
  GB_CHECK(image.dim() == 4 && image.size(0) == 1 && image.size(1) >= 1 && image.size(1) <= 4,
           "filters: save_png expects [1, C, H, W] with 1-4 channels, got ", image.shape_str());
  NoGradGuard no_record;
  image::Image out;
  out.channels = image.size(1);
  out.height = image.size(2);
  out.width = image.size(3);
  Tensor hwc = image.squeeze(0).permute({1, 2, 0}).contiguous().to(kFloat32);
  std::vector<float> v = hwc.to_vector<float>();
  out.pixels.resize(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    out.pixels[i] = static_cast<uint8_t>(std::lround(std::fmin(255.f, std::fmax(0.f, v[i]))));
  image::write_png(path, out);  // atomic: a failed write leaves an older file untouched
}

Tensor apply(const Tensor& image, const Kernel3& k, bool same, F::ConvAlgo algo) {
  const int64_t c = image.size(1);
  // the same 3x3 kernel for every channel: weight [C, 1, 3, 3], groups = C
  Tensor weight = from_vector(std::vector<float>(k.begin(), k.end()), {1, 1, 3, 3})
                      .expand({c, 1, 3, 3})
                      .contiguous()
                      .to(image.device());
  F::ConvParams p;
  p.set_groups(c).set_padding(same ? 1 : 0).set_algo(algo);
  return F::conv2d(image, weight, Tensor(), p);
}

}  // namespace filters
