#include "flatclr/report/pca_plot.h"

#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <sstream>

#include "flatclr/core/atomic_file.h"
#include "flatclr/core/error.h"

namespace flatclr::report {

Pca2d pca_2d(const at::Tensor& x) {
  FLATCLR_CHECK(x.dim() == 2 && x.size(0) >= 2, "pca_2d: expected [N >= 2, D], got ", x.sizes());
  auto xc = x.to(torch::kCPU).to(torch::kDouble);
  xc = xc - xc.mean(0, true);
  const auto cov = xc.t().matmul(xc) / static_cast<double>(x.size(0) - 1);
  auto [values, vectors] = torch::linalg_eigh(cov);  // ascending
  const int64_t d = values.size(0), k = std::min<int64_t>(2, d);
  auto top = vectors.narrow(1, d - k, k).flip({1});  // [D, k], leading first
  auto top_values = values.narrow(0, d - k, k).flip({0}).clamp_min(0);
  for (int64_t j = 0; j < k; ++j) {
    auto col = top.select(1, j);
    if (col[col.abs().argmax()].item<double>() < 0) col.neg_();
  }
  Pca2d out;
  out.coords = torch::zeros({x.size(0), 2}, torch::kDouble);
  out.coords.narrow(1, 0, k).copy_(xc.matmul(top));
  out.explained = torch::zeros({2}, torch::kDouble);
  const double total = values.clamp_min(0).sum().item<double>();
  if (total > 0) out.explained.narrow(0, 0, k).copy_(top_values / total);
  return out;
}

PlotResult write_pca_plot(const at::Tensor& features, const at::Tensor& labels,
                          const std::vector<std::string>& class_names, const std::string& prefix,
                          const std::string& title, const std::string& gnuplot_path) {
  PlotResult result;
  if (features.size(0) < 2) {
    result.notice = "PCA picture: fewer than 2 rows, nothing to draw";
    return result;
  }
  const Pca2d pca = pca_2d(features);
  const auto coords = pca.coords.contiguous();
  const auto y = labels.to(torch::kLong).contiguous();
  const double* c = coords.data_ptr<double>();
  const int64_t* l = y.data_ptr<int64_t>();
  std::ostringstream tsv;
  tsv << "# pc1\tpc2\tlabel\tclass\n";
  char buf[64];
  for (int64_t i = 0; i < coords.size(0); ++i) {
    std::snprintf(buf, sizeof buf, "%.9g\t%.9g\t", c[2 * i], c[2 * i + 1]);
    const auto label = static_cast<size_t>(l[i]);
    tsv << buf << l[i] << "\t" << (label < class_names.size() ? class_names[label] : std::to_string(l[i]))
        << "\n";
  }
  const std::string tsv_path = prefix + "_pca.tsv", gp_path = prefix + "_pca.gp", png = prefix + "_pca.png";
  core::write_file_atomic(tsv_path, tsv.str());

  const auto k = static_cast<int64_t>(class_names.size());
  auto quote_text = [](const std::string& s) {
    std::string out;
    for (char ch : s) out += ch == '\'' ? std::string("''") : std::string(1, ch);
    return out;
  };
  // A gnuplot double-quoted string (where \n is a line break): the title's lines joined.
  auto quote_lines = [](const std::string& s) {
    std::string out = "\"";
    for (char ch : s) {
      if (ch == '\n') {
        out += "\\n";
      } else {
        if (ch == '"' || ch == '\\') out += '\\';
        out += ch;
      }
    }
    return out + "\"";
  };
  // Distinct colours for up to 20 classes (matplotlib's tab20 order: the 10 strong ones first).
  static const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
                                   "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
                                   "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"};
  std::ostringstream gp;
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * pca.explained[0].item<double>());
  const std::string e1 = buf;
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * pca.explained[1].item<double>());
  const std::string e2 = buf;
  gp << "# flatclr: 2-D PCA of an embedding (rerun: gnuplot " << gp_path << ")\n"
     << "set terminal pngcairo size 900,800 noenhanced\nset output " << gnuplot_quote(png) << "\n"
     << "set title " << quote_lines(title) << "\nset xlabel 'PC1 (" << e1 << " of the variance)'\n"
     << "set ylabel 'PC2 (" << e2 << ")'\nset datafile separator '\\t'\nset grid\n"
     << (k <= 20 ? "set key outside right top\n" : "unset key\n") << "plot ";
  for (int64_t cls = 0; cls < std::max<int64_t>(k, 1); ++cls) {
    gp << (cls ? ", \\\n     " : "") << gnuplot_quote(tsv_path) << " using 1:($3==" << cls
       << " ? $2 : 1/0) with points pt 7 ps 0.5 lc rgb '" << kColours[cls % 20] << "' title '"
       << quote_text(cls < k ? class_names[cls] : "all") << "'";
  }
  gp << "\n";
  core::write_file_atomic(gp_path, gp.str());
  if (gnuplot_path.empty()) {
    result.notice =
        "PCA picture: gnuplot is not installed (Debian: apt-get install gnuplot-nox); the data and "
        "script are " +
        tsv_path + " and " + gp_path;
    return result;
  }
  auto [rc, output] = run_gnuplot(gnuplot_path, gp_path);
  if (rc != 0) fail("gnuplot failed on ", gp_path, " (exit ", rc, "): ", output);
  std::filesystem::remove(gp_path + ".log");
  result.drawn = true;
  result.images.push_back(png);
  result.notice = "PCA picture: " + png;
  return result;
}

}  // namespace flatclr::report
