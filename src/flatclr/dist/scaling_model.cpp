#include "flatclr/dist/scaling_model.h"

#include <algorithm>
#include <limits>

#include "flatclr/core/error.h"

namespace flatclr::dist {
namespace {

// bytes / bandwidth, 0 for no bytes, also on an infinitely fast link.
double transfer_s(double bytes, const Link& link) {
  if (bytes <= 0) return 0;
  return link.bytes_per_s > 0 ? bytes / link.bytes_per_s : std::numeric_limits<double>::infinity();
}

}  // namespace

double ring_all_reduce_seconds(double bytes, int nodes, const Link& link, int64_t messages) {
  FLATCLR_CHECK(nodes >= 1 && messages >= 1, "ring all-reduce: nodes ", nodes, ", messages ", messages);
  if (nodes == 1) return 0;
  const double n = nodes;
  return 2 * (n - 1) / n * transfer_s(bytes, link) +
         static_cast<double>(messages) * 2 * (n - 1) * link.latency_s;
}

double ring_all_gather_seconds(double bytes, int nodes, const Link& link) {
  FLATCLR_CHECK(nodes >= 1, "ring all-gather: nodes ", nodes);
  if (nodes == 1) return 0;
  const double n = nodes;
  return (n - 1) / n * transfer_s(bytes, link) + (n - 1) * link.latency_s;
}

StepPrediction predict_step(const StepTraffic& t, double compute_s, int nodes, const Link& link) {
  StepPrediction p;
  p.grad_s = ring_all_reduce_seconds(t.grad_bytes, nodes, link, t.grad_buckets);
  p.gather_s = ring_all_gather_seconds(t.gather_bytes, nodes, link) +
               ring_all_reduce_seconds(t.gather_bytes, nodes, link);
  // Per layer one all-gather (N-1 latencies) and one all-reduce (2(N-1)); their few KB are left out.
  p.sync_bn_s = static_cast<double>(t.sync_bn_layers) *
                (ring_all_gather_seconds(0, nodes, link) + ring_all_reduce_seconds(0, nodes, link));
  p.comm_s = p.grad_s + p.gather_s + p.sync_bn_s;
  p.step_s = compute_s + p.comm_s;
  p.efficiency = p.step_s > 0 ? compute_s / p.step_s : 1;
  const double overlapped = std::max(compute_s, p.grad_s) + p.gather_s + p.sync_bn_s;
  p.overlap_efficiency = overlapped > 0 ? compute_s / overlapped : 1;
  return p;
}

Link fit_link(int nodes, double small_all_gather_s, double all_reduce_bytes, double all_reduce_s) {
  FLATCLR_CHECK(nodes >= 2, "fit_link needs 2 or more ranks, got ", nodes);
  const double n = nodes;
  Link link;
  link.latency_s = small_all_gather_s / (n - 1);
  const double left = all_reduce_s - 2 * (n - 1) * link.latency_s;
  link.bytes_per_s =
      left > 0 ? 2 * (n - 1) / n * all_reduce_bytes / left : std::numeric_limits<double>::infinity();
  return link;
}

}  // namespace flatclr::dist
