// MNIST and Fashion-MNIST: 28x28 grey images of digits / clothes with labels 0-9, read from the
// four canonical IDX files (raw or .gz) and checked against their published MD5s.
//
// The images stay in memory as bytes (47 MB for the training set, not 188 MB of floats); each
// batch is converted to float32 [B,1,28,28] as (pixel/255 - mean)/std when it is assembled.
//
// PIXEL VALUES: NORMALISED BY DEFAULT. Like torchvision's usual ToTensor() + Normalize(...)
// pipeline, MNIST(root) gives (pixel/255 - 0.1307)/0.3081 (about -0.42 .. 2.82) and
// FashionMNIST(root) (pixel/255 - 0.2860)/0.3530. Classifiers want that. Anything that
// compares its output with the pixels themselves (an autoencoder with a Sigmoid output, a
// BCE reconstruction loss, a GAN with a Sigmoid generator) wants raw [0, 1] instead: ask for
// it by name,
//   datasets::MNIST train(root, datasets::Split::Train, datasets::raw_pixels);  // pixel / 255
//   datasets::MNIST train(root, datasets::Split::Train, datasets::Normalize{0.5, 0.5});  // own
// normalization() says which one a data set uses. For torchvision-style transform pipelines
// (crops, flips, per-channel Normalize) see datasets/transforms.h.
#pragma once

#include <array>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace glassbox::datasets {

enum class Split { Train, Test };

// transforms.Normalize((mean,), (std,)) after ToTensor(): pixels in [0,1], then (x - mean)/std.
struct Normalize {
  double mean = 0.0, std = 1.0;
};

// One of the four files: its canonical name (without .gz) and the MD5s of the .gz and of the
// uncompressed payload (either identifies the canonical data).
struct DataFile {
  const char* name;
  const char* gz_md5;
  const char* raw_md5;
};

// A family of IDX image data sets: MNIST and Fashion-MNIST differ only in these facts.
struct IdxDatasetInfo {
  const char* name;                  // "MNIST"
  std::array<DataFile, 4> files;     // train images, train labels, test images, test labels
  Normalize normalize;               // the usual mean/std of the training images
  std::vector<const char*> mirrors;  // base URLs that serve the four .gz files
  std::array<const char*, 10> classes;
};

// Pass as the `normalize` argument for raw pixels in [0, 1] (pixel / 255, no mean/std).
inline constexpr std::nullopt_t raw_pixels = std::nullopt;

const IdxDatasetInfo& mnist_info();
const IdxDatasetInfo& fashion_mnist_info();

class MNIST : public Dataset {
 public:
  // Reads the split's two files from `root` (file.gz or file), checks the MD5s (verify_md5),
  // and that images are [N,28,28] uint8 and labels [N] uint8 in 0..9. Errors name the file.
  // normalize: the default is MNIST's mean/std 0.1307/0.3081; datasets::raw_pixels
  // (std::nullopt) leaves pixels in [0,1]; Normalize{mean, std} uses your own.
  explicit MNIST(const std::string& root, Split split = Split::Train,
                 std::optional<Normalize> normalize = mnist_info().normalize,
                 bool verify_md5 = true);

  int64_t size() const override { return images_.size(0); }
  // data: float32 [B,1,28,28]; target: int64 [B].
  Batch get_batch(const std::vector<int64_t>& indices) const override;

  const Tensor& images() const { return images_; }    // uint8 [N,28,28], as in the file
  const Tensor& targets() const { return targets_; }  // int64 [N]
  // float32 [256]: the value get_batch gives each byte (normalised, or byte / 255)
  Tensor byte_table() const;
  const IdxDatasetInfo& info() const { return *info_; }
  // The mean/std get_batch applies, or std::nullopt for raw pixels in [0, 1].
  const std::optional<Normalize>& normalization() const { return normalize_; }

  // The first n examples (a view, no copy): a fixed subset for quick runs and tests.
  MNIST head(int64_t n) const;

 protected:
  MNIST(const IdxDatasetInfo& info, const std::string& root, Split split,
        std::optional<Normalize> normalize, bool verify_md5);

 private:
  MNIST() = default;
  const IdxDatasetInfo* info_ = nullptr;
  Tensor images_, targets_;
  std::array<float, 256> lut_{};  // byte -> normalised float
  std::optional<Normalize> normalize_;
};

class FashionMNIST : public MNIST {
 public:
  explicit FashionMNIST(const std::string& root, Split split = Split::Train,
                        std::optional<Normalize> normalize = fashion_mnist_info().normalize,
                        bool verify_md5 = true);
};

// Where the four files of `info` are. In order: `explicit_dir` if not empty (it must hold them),
// then each of `candidates` that holds all four; else, when allow_download, the files are
// downloaded from info.mirrors into download_dir (curl or wget, MD5-checked, atomic rename).
// A failed download leaves no temporary file, and removes the folders it created unless a
// verified file landed in them (then a new run resumes). Files found are MD5-checked too: a
// folder with a damaged file is an error, not skipped. When all fails, the Error lists the
// places tried, every URL tried and why it failed, and says how to provide the files.
struct LocateOptions {
  std::string explicit_dir;
  std::vector<std::string> candidates;
  std::string download_dir;
  bool allow_download = true;
  std::ostream* log = nullptr;  // progress messages ("using ...", "downloading ...")
};
std::string locate_dataset(const IdxDatasetInfo& info, const LocateOptions& options);

// The default candidates: data/mnist and ../shared/data/mnist for MNIST;
// data/fashion-mnist and /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist)
// for Fashion-MNIST. Relative paths are relative to the working directory.
std::vector<std::string> default_candidates(const IdxDatasetInfo& info);

// Checks one file against its DataFile entry; returns "" when it matches, else what is wrong.
std::string check_md5(const std::string& path, const DataFile& file);

}  // namespace glassbox::datasets
