#pragma once
// The notebook's image filters: a 3x3 kernel applied to every channel of an image with any
// of glassbox's convolution algorithms. Images are read and written by glassbox::image
// (datasets/image.h): PNG, JPEG and BMP in, with its limits on what a file may claim; PNG out,
// atomically (a temporary renamed over the target) with every write checked.
#include <array>
#include <string>

#include "glassbox.h"

namespace filters {

using Kernel3 = std::array<float, 9>;  // row-major 3x3

// "identity", "emboss", "sharpen", "edge", or nine comma-separated numbers.
Kernel3 parse_kernel(const std::string& spec);

// Loads PNG/JPEG/BMP as float [1, C, H, W] with values 0..255 (C = the file's channels).
// Errors: "cannot read image <path>: <reason>".
// Images larger than kMaxPixels are refused (the library's image::Limits allow 64 MP; the
// float tensors and the algorithms' workspaces of filters need ~100 bytes a pixel).
constexpr int64_t kMaxPixels = int64_t{1} << 23;
glassbox::Tensor load_image(const std::string& path);
// Clamps to 0..255, rounds, and writes an 8-bit PNG with the tensor's C channels (1-4). On a
// full disk or any other failure: "cannot write image <path>: <reason>", and an
// existing file at `path` keeps its contents.
void save_png(const glassbox::Tensor& image, const std::string& path);

// The kernel on every channel independently (a depthwise conv, groups = C), no padding
// unless `same` (then zero padding 1 keeps the size), like the notebook's conv. Runs where
// the image is (the weight is made on its device).
glassbox::Tensor apply(const glassbox::Tensor& image, const Kernel3& k, bool same,
                       glassbox::F::ConvAlgo algo);

}  // namespace filters
