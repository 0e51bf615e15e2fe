// The notebook's two figures, side by side in one PNG: test-batch accuracy vs seconds and
// training loss vs seconds, one line per metrics file (labelled by the file's stem, so
// shiftgemm.csv and im2col.csv compare two convolution algorithms). Drawn by gnuplot (Debian's
// gnuplot-nox): we write a small script and data, run gnuplot, and check it made the PNG.
#pragma once

#include <string>
#include <vector>

namespace glassbox::mnist {

// Throws glassbox::Error, saying to install gnuplot-nox, when no gnuplot is on PATH: the
// mnist program calls it before training, so a --plot cannot fail only after the run.
void check_gnuplot();

// Throws glassbox::Error if a metrics file is bad, gnuplot is missing (the message says to
// install gnuplot-nox) or gnuplot fails (its stderr in the message).
void plot_metrics(const std::vector<std::string>& metrics_files, const std::string& png_path,
                  const std::string& title = "glassbox: the notebook's CNN on MNIST");

}  // namespace glassbox::mnist
