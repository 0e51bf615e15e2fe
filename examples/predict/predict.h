#pragma once
// Classifying your own images with the notebook's CNN: load its weights (a plain weights file
// or a training checkpoint), turn any grey or colour image into an MNIST-like input, and read
// off the most likely classes. Images are read by glassbox::image (datasets/image.h): PNG, JPEG
// and BMP, with its limits on what a file may claim.
//
// Preprocessing, in order:
//   1. image::read as one grey channel, values 0..255 (colour: (77 R + 150 G + 29 B) >> 8);
//   2. auto-invert: MNIST is a white digit on black, so an image whose border (its outermost
//      ring of pixels) averages above 127 -- a dark digit on light paper -- becomes 255 - v;
//   3. pad to a square: the shorter side is padded equally on both sides with the background
//      (the border mean after step 2), so the digit keeps its aspect ratio and stays centred;
//      the square is virtual (steps 3 and 4 are one pass), so a 100000x1 strip costs its own
//      pixels and 28 floats a row, not 10^10 floats;
//   4. resize the square to 28x28 by area averaging (a box filter: each output pixel is the
//      mean of the source area it covers, with fractional overlaps weighted), which shrinks
//      and enlarges alike; a 28x28 image is unchanged, a 56x56 one becomes 2x2 means;
//   5. (v/255 - mean)/std with the data set's Normalize (MNIST: 0.1307/0.3081).
// The whole frame is scaled, not a crop to the digit's bounding box: an image is expected to be
// framed like MNIST (the digit in the middle ~70%, as MNIST's 20x20 box in 28x28). A digit
// filling the whole picture still scores well with this small CNN, just less confidently.
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/mnist.h"
#include "glassbox.h"
#include "net.h"

namespace glassbox::predict {

// Area-averaging resize of a w x h single-channel image (row-major) to out_w x out_h.
std::vector<float> resize_area(const std::vector<float>& src, int w, int h, int out_w, int out_h);

// The preprocessing above: float32 [1,1,28,28]. invert_auto = false skips step 2 (the image is
// already light on dark). Errors (missing file, not an image, truncated, over image::Limits)
// are "cannot read image <file>: <reason>".
Tensor load_image_for_mnist(const std::string& path, bool invert_auto = true,
                            datasets::Normalize normalize = datasets::mnist_info().normalize);

// Loads weights into `net` strictly. `path` is a safetensors file with the net's state_dict
// names (what `mnist --save` or nn::save writes) or a training checkpoint, whose model tensors
// are "model.<name>" (recognised by "model.conv1.weight"; other entries such as
// "optimizer.*" are ignored). A missing, unexpected or mis-shaped entry is an Error naming
// the file.
void load_weights(mnist::MnistNet& net, const std::string& path);

struct Prediction {
  int64_t label;
  double probability;
};

// The k most likely classes of one row of log-probabilities ([C] or [1,C]), most likely
// first (ties: the lower label first). k is capped at C.
std::vector<Prediction> top_k(const Tensor& log_probs_row, int k);

}  // namespace glassbox::predict
