// A picture of an embedding for a person to look at: the features projected on their first two principal
// components, one colour per class, drawn by gnuplot (as the run plots, report/plots.h).
//   pca_2d: centre the rows, form the covariance in float64, take its two leading eigenvectors (torch's
//           symmetric eigensolver); each vector's sign is fixed so that its largest-magnitude entry is
//           positive.
//   write_pca_plot: writes <prefix>_pca.tsv (pc1, pc2, label, class name per row), <prefix>_pca.gp and, when
//           gnuplot is there, <prefix>_pca.png (the legend lists the classes when there are at most 20).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "flatclr/report/plots.h"

namespace flatclr::report {

struct Pca2d {
  at::Tensor coords;     // [N, 2] float64: the centred rows on the two components
  at::Tensor explained;  // [2] float64: each component's share of the total variance
};

// x: [N, D] with N >= 2 -> its 2-D PCA (D = 1: the second component is 0).
Pca2d pca_2d(const at::Tensor& x);

PlotResult write_pca_plot(const at::Tensor& features, const at::Tensor& labels,
                          const std::vector<std::string>& class_names, const std::string& prefix,
                          const std::string& title, const std::string& gnuplot_path);

}  // namespace flatclr::report
