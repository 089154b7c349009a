// What the small-batch study measured, for `flatclr diagnose` to compare a run with. The study is
// scripts/logk_study.py; its results page, with the table, the plots and the exact commands, is
// docs/results/logk-study.md. Protocol: ResNet-18 at 1/8 width on a class-stratified 5,000 CIFAR-10 images,
// 15 epochs, LARS with square-root lr scaling, tau 0.1, SimCLR and FlatCLR at batch 8, 16, 32, 64 and 128,
// seeds 1 and 2; kNN (k=200) on the full test split.
//
// Update these numbers when the study is rerun (the page prints them under "For flatclr diagnose").
#pragma once

namespace flatclr::report {

struct StudyRegime {
  int min_batch, max_batch, epochs, seeds;
  // The highest p+ (mean over one logging interval's rows) that any run of the study reached.
  double max_p_pos;
  // The largest share of saturated rows (p+ > 0.99) in the last epoch of any SimCLR run.
  double max_simclr_saturated;
  // The largest difference, at one batch size, between FlatCLR's and SimCLR's mean kNN top-1 (points).
  double max_knn_gap;
};

inline constexpr StudyRegime kStudyRegime{8, 128, 15, 2, 0.634, 0.0, 0.44};

}  // namespace flatclr::report
