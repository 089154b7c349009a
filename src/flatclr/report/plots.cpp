#include "flatclr/report/plots.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "flatclr/core/atomic_file.h"
#include "flatclr/core/error.h"
#include "flatclr/losses/method.h"

namespace flatclr::report {
namespace fs = std::filesystem;
namespace {

const std::vector<std::string> kIntervalKeys = {
    "info_nce",   "top1",        "top5",  "p_pos_mean",       "saturated",
    "grad_ratio", "mi_estimate", "log_k", "effective_rank_h", "effective_rank_z"};

std::string number(const nlohmann::json& r, const std::string& key) {
  auto it = r.find(key);
  if (it == r.end() || !it->is_number()) return "NaN";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", it->get<double>());
  return buf;
}

bool any_value(const RunHistory& run, const std::string& key) { return !run.series(key).empty(); }

// Column index (1-based for gnuplot) of a key in intervals.tsv: step, epoch, then kIntervalKeys.
int col(const std::string& key) {
  for (size_t i = 0; i < kIntervalKeys.size(); ++i)
    if (kIntervalKeys[i] == key) return static_cast<int>(i) + 3;
  return -1;
}

}  // namespace

std::string gnuplot_quote(const std::filesystem::path& p) {
  std::string s = p.string(), out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);  // gnuplot single-quote escape
  return out + "'";
}

std::pair<int, std::string> run_gnuplot(const std::string& gnuplot, const std::filesystem::path& script) {
  const fs::path log = script.string() + ".log";
  // What this process has buffered must not be written a second time by the child's freopen.
  std::fflush(nullptr);
  std::cout.flush();
  const pid_t pid = fork();
  if (pid < 0) fail("cannot start ", gnuplot);
  if (pid == 0) {
    FILE* f = std::freopen(log.c_str(), "w", stdout);
    if (f) dup2(fileno(stdout), 2);
    execl(gnuplot.c_str(), gnuplot.c_str(), script.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128, ss.str()};
}

std::string find_gnuplot() {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(ss, dir, ':');) {
    if (dir.empty()) continue;
    const fs::path p = fs::path(dir) / "gnuplot";
    if (::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return "";
}

PlotResult write_plots(const RunHistory& run, const std::string& gnuplot_path) {
  PlotResult result;
  if (run.intervals.empty() && run.epochs.empty()) {
    result.notice = "plots: nothing logged yet in " + run.run_dir;
    return result;
  }
  const fs::path dir = fs::path(run.run_dir) / "plots";
  fs::create_directories(dir);

  std::string tsv = "# step\tepoch";
  for (const auto& k : kIntervalKeys) tsv += "\t" + k;
  tsv += "\n";
  for (const auto& r : run.intervals) {
    tsv += number(r, "global_step") + "\t" + number(r, "epoch");
    for (const auto& k : kIntervalKeys) tsv += "\t" + number(r, k);
    tsv += "\n";
  }
  core::write_file_atomic((dir / "intervals.tsv").string(), tsv);
  std::string etsv = "# epoch\tglobal_step\tloss\tknn_top1\n";
  bool have_knn = false;
  for (const auto& e : run.epochs) {
    etsv += number(e, "epoch") + "\t" + number(e, "global_step") + "\t" + number(e, "loss") + "\t" +
            number(e, "knn_top1") + "\n";
    have_knn = have_knn || e.contains("knn_top1");
  }
  core::write_file_atomic((dir / "epochs.tsv").string(), etsv);

  const auto found = losses::find_method(run.config_value<std::string>("clr", ""));
  const std::string method = found ? losses::method_info(*found).name : "FlatCLR";
  const std::string title = method + ", batch " + std::to_string(run.config_value<int64_t>("batch_size", 0));
  const auto data = gnuplot_quote(dir / "intervals.tsv"), edata = gnuplot_quote(dir / "epochs.tsv");
  std::ostringstream gp;
  gp << "# flatclr plots of " << run.run_dir << " (rerun: gnuplot " << (dir / "plots.gp").string() << ")\n"
     << "set terminal pngcairo size 900,540 enhanced font 'sans,10'\n"
     << "set datafile missing 'NaN'\nset datafile separator '\\t'\nset grid\nset key outside bottom center "
        "horizontal\n"
     << "set xlabel 'step'\n";
  auto plot = [&](const std::string& name, const std::string& ttl, const std::string& ylabel,
                  const std::string& body) {
    const fs::path png = dir / (name + ".png");
    gp << "set output " << gnuplot_quote(png) << "\nset title '" << title << ": " << ttl << "'\nset ylabel '"
       << ylabel << "'\nplot " << body << "\nunset output\n";
    result.images.push_back(png.string());
  };
  auto line = [&](const std::string& key, const std::string& label, const std::string& src = "") {
    return (src.empty() ? data : src) + " using 1:" + std::to_string(col(key)) +
           " with linespoints pt 7 ps 0.4 title '" + label + "'";
  };
  if (!run.intervals.empty()) {
    plot("loss", "InfoNCE loss", "InfoNCE (nats)",
         line("info_nce", "per logging interval") + ", " + edata +
             " using 2:3 with points pt 5 ps 1.2 title 'epoch mean'");
    std::string acc = line("top1", "positive-pair top-1") + ", " + line("top5", "positive-pair top-5");
    if (have_knn)
      acc += ", " + edata + " using 2:4 with linespoints pt 5 ps 1.2 lw 2 title 'kNN top-1 (test)'";
    gp << "set yrange [0:1]\n";
    plot("accuracy", "accuracy", "share", acc);
    plot("saturation", "positive probability p+ and saturated rows", "share",
         line("p_pos_mean", "p+ mean") + ", " + line("saturated", "rows with p+ > 0.99") + ", " +
             line("grad_ratio", "InfoNCE/FlatNCE gradient ratio 1-p+"));
    gp << "set autoscale y\n";
    plot("mi", "InfoNCE MI estimate vs its log-K ceiling", "nats",
         line("mi_estimate", "MI estimate log(2N-1) - InfoNCE") + ", " + data +
             " using 1:" + std::to_string(col("log_k")) + " with lines lw 2 dt 2 title 'ceiling log(2N-1)'");
    if (any_value(run, "effective_rank_z")) {
      gp << "set logscale y\n";
      plot("rank", "effective rank (RankMe)", "effective rank",
           line("effective_rank_h", "h (backbone)") + ", " + line("effective_rank_z", "z (projection)"));
      gp << "unset logscale y\n";
    }
  } else if (have_knn) {
    plot("accuracy", "kNN accuracy", "share", edata + " using 2:4 with linespoints title 'kNN top-1 (test)'");
  }
  const fs::path script = dir / "plots.gp";
  core::write_file_atomic(script.string(), gp.str());

  if (gnuplot_path.empty()) {
    result.images.clear();
    result.notice =
        "plots: gnuplot is not installed (Debian: apt-get install gnuplot-nox); the data and script are in " +
        dir.string();
    return result;
  }
  auto [rc, output] = run_gnuplot(gnuplot_path, script);
  if (rc != 0) fail("gnuplot failed on ", script.string(), " (exit ", rc, "): ", output);
  result.drawn = true;
  result.notice = "plots: " + std::to_string(result.images.size()) + " PNG files in " + dir.string();
  return result;
}

}  // namespace flatclr::report
