// What the project's two studies measured, cell by cell, for `flatclr diagnose` to compare a run with:
//   - the small-batch study (scripts/logk_study.py, docs/results/logk-study.md): SimCLR and FlatCLR at batch
//   8
//     to 128, tau 0.1, 2 seeds per cell: no SimCLR row saturated there;
//   - the saturation study (scripts/saturation_study.py, docs/results/saturation-study.md): regimes chosen by
//   a
//     pilot to drive SimCLR's rows into saturation (crops that cover most of the image, without colour
//     jitter), the nearest setting of the pilot's first 36, and one that does not saturate, 6 seeds per cell.
// Each study script writes its cells as JSON next to its page (docs/results/logk-study.json,
// docs/results/saturation-study.json); the build embeds both files in the binary (CMake reads them at
// configure time and reconfigures when they change), so the numbers diagnose quotes are the ones the pages
// were written from, and a rerun of a study changes both together.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "flatclr/losses/method.h"

namespace flatclr::report {

// One method's numbers in a cell, over its seeds: top-1 in %, p+ as a probability, saturated as the share of
// rows with p+ > 0.99 over the last epoch (0..1).
struct CellResult {
  int seeds = 0;
  double knn = 0, knn_sd = 0, linear = 0, linear_sd = 0;
  double p_pos = 0, p_pos_max = 0, saturated = 0;
};

// FlatCLR minus SimCLR in one metric, in points. paired: by seed (same initialisation and data order), t is
// the paired t; otherwise t is the two-sample t of the means. beyond_spread: |t| above the two-sided 95%
// point.
struct CellDifference {
  double mean = 0, t = 0;
  int pairs = 0;
  bool paired = false, beyond_spread = false;
};

struct StudyCell {
  std::string study;   // "logk" | "saturation"
  std::string page;    // the results page, relative to the repository
  std::string regime;  // the cell's name on that page ("batch 8", "cold")
  double temperature = 0;
  int64_t batch_size = 0, epochs = 0, images = 0;  // images per epoch; 0 when the file does not say
  // The augmentation where the cell's setting gives it (the saturation study's levers): the colour jitter
  // strength s and the crop's smallest scale; unset, the dataset's jitter and the paper's crop (0.08, 1).
  std::optional<double> color_jitter, crop_min_scale;
  std::optional<CellResult> simclr, flatclr;
  std::optional<CellDifference> knn, linear;

  const std::optional<CellResult>& result(losses::Method m) const {
    return m == losses::Method::kSimCLR ? simclr : flatclr;
  }
};

// The cells of one study's JSON file (an array of cells as the study scripts write them). Throws
// std::runtime_error naming `where` and the field when the text is not such a file.
std::vector<StudyCell> parse_study_cells(const std::string& json_text, const std::string& where);

// Both studies' cells as built into this binary (parsed once).
const std::vector<StudyCell>& study_cells();

// Where a run sits, in the terms the cells are measured in. temperature or batch_size 0: unknown, not
// compared.
struct RunPoint {
  losses::Method method = losses::Method::kFlatCLR;
  int64_t batch_size = 0;
  double temperature = 0, p_pos = 0, saturated = 0;
};

// How far a run is from a cell that holds its method's results: |log2| of the batch ratio, plus |log2| of the
// temperature ratio, plus 4 x the difference in p+ and 4 x the difference in the saturated share (so doubling
// the batch, halving the temperature and p+ 0.25 higher weigh the same).
double cell_distance(const StudyCell& cell, const RunPoint& run);

// The closest cell with results for the run's method and both methods' difference in kNN; nullptr if none.
const StudyCell* closest_cell(const std::vector<StudyCell>& cells, const RunPoint& run);

}  // namespace flatclr::report
