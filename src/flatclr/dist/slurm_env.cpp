#include "flatclr/dist/slurm_env.h"

#include <cctype>
#include <cstdint>

#include "flatclr/core/error.h"

namespace flatclr::dist {
namespace {

struct Range {
  std::uint64_t lo = 0, hi = 0;
  std::size_t width = 0;  // digits of the low bound as written: its zero padding
};

// An expression is literal text and bracket groups in turn: parts[0] [groups[0]] parts[1] [groups[1]] ...
struct Expression {
  std::vector<std::string> parts;
  std::vector<std::vector<Range>> groups;
};

[[noreturn]] void bad(const std::string& variable, const std::string& value, const std::string& why) {
  fail_usage("environment variable ", variable, "='", value, "': ", why,
             " (expected Slurm's hostlist form, e.g. gpu[01-04,07] or node1,node[3-5])");
}

bool all_digits(const std::string& s) {
  if (s.empty() || s.size() > 18) return false;  // 18 digits fit in 64 bits
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

std::vector<Range> parse_group(const std::string& body, const std::string& variable,
                               const std::string& value) {
  std::vector<Range> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = body.find(',', start);
    const std::string item =
        body.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const std::size_t dash = item.find('-');
    const std::string lo = item.substr(0, dash);
    const std::string hi = dash == std::string::npos ? lo : item.substr(dash + 1);
    if (!all_digits(lo) || !all_digits(hi)) bad(variable, value, "'[" + body + "]' holds '" + item + "'");
    Range r{std::stoull(lo), std::stoull(hi), lo.size()};
    if (r.lo > r.hi) bad(variable, value, "the range " + item + " runs backwards");
    out.push_back(r);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// Splits at the commas outside brackets and parses each expression.
std::vector<Expression> parse(const std::string& list, const std::string& variable) {
  if (list.empty()) bad(variable, list, "empty");
  std::vector<Expression> out(1);
  out.back().parts.emplace_back();
  for (std::size_t i = 0; i < list.size(); ++i) {
    const char c = list[i];
    if (c == '[') {
      const std::size_t close = list.find(']', i);
      const std::size_t reopen = list.find('[', i + 1);
      if (close == std::string::npos || (reopen != std::string::npos && reopen < close))
        bad(variable, list, "a '[' without its ']'");
      out.back().groups.push_back(parse_group(list.substr(i + 1, close - i - 1), variable, list));
      out.back().parts.emplace_back();
      i = close;
    } else if (c == ']') {
      bad(variable, list, "a ']' without its '['");
    } else if (c == ',') {
      out.emplace_back();
      out.back().parts.emplace_back();
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      bad(variable, list, "a space");
    } else {
      out.back().parts.back() += c;
    }
  }
  for (const auto& e : out) {
    if (e.groups.empty() && e.parts[0].empty()) bad(variable, list, "an empty host name");
  }
  return out;
}

std::string padded(std::uint64_t v, std::size_t width) {
  std::string s = std::to_string(v);
  if (s.size() < width) s.insert(0, width - s.size(), '0');
  return s;
}

// The numbers of one bracket group, in order (a group's own size is small: what the user wrote).
std::vector<std::string> numbers(const std::vector<Range>& group, std::size_t limit) {
  std::vector<std::string> out;
  for (const auto& r : group) {
    for (std::uint64_t v = r.lo; v <= r.hi && out.size() < limit; ++v) out.push_back(padded(v, r.width));
  }
  return out;
}

}  // namespace

std::vector<std::string> expand_hostlist(const std::string& hostlist, const std::string& variable,
                                         std::size_t limit) {
  std::vector<std::string> hosts;
  for (const auto& e : parse(hostlist, variable)) {
    std::vector<std::vector<std::string>> choices;
    for (const auto& g : e.groups) choices.push_back(numbers(g, limit));
    // An odometer over the groups, the rightmost turning fastest.
    std::vector<std::size_t> at(choices.size(), 0);
    while (hosts.size() < limit) {
      std::string h = e.parts[0];
      for (std::size_t g = 0; g < choices.size(); ++g) h += choices[g][at[g]] + e.parts[g + 1];
      hosts.push_back(h);
      std::size_t g = choices.size();
      while (g > 0 && ++at[g - 1] == choices[g - 1].size()) at[--g] = 0;
      if (g == 0) break;
    }
  }
  return hosts;
}

std::string first_host(const std::string& hostlist, const std::string& variable) {
  return expand_hostlist(hostlist, variable, 1).at(0);
}

std::vector<int> expand_tasks_per_node(const std::string& tasks_per_node, const std::string& variable) {
  auto bad_count = [&](const std::string& why) {
    fail_usage("environment variable ", variable, "='", tasks_per_node, "': ", why,
               " (expected Slurm's form, e.g. 8 or 2(x3),1)");
  };
  if (tasks_per_node.empty()) bad_count("empty");
  std::vector<int> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = tasks_per_node.find(',', start);
    const std::string item =
        tasks_per_node.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    std::string count = item, times = "1";
    const std::size_t paren = item.find("(x");
    if (paren != std::string::npos) {
      if (item.back() != ')') bad_count("'" + item + "' lacks its ')'");
      count = item.substr(0, paren);
      times = item.substr(paren + 2, item.size() - paren - 3);
    }
    if (!all_digits(count) || !all_digits(times) || count.size() > 6 || times.size() > 6)
      bad_count("'" + item + "' is not a count or count(xN)");
    const int n = std::stoi(count), k = std::stoi(times);
    if (n < 1 || k < 1) bad_count("'" + item + "' has a zero");
    out.insert(out.end(), static_cast<std::size_t>(k), n);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

int default_port_for_job(const std::string& job_id) {
  if (!all_digits(job_id))
    fail_usage("environment variable SLURM_JOB_ID='", job_id, "': expected digits (or set MASTER_PORT)");
  const std::string last4 = job_id.size() > 4 ? job_id.substr(job_id.size() - 4) : job_id;
  return 15000 + std::stoi(last4);
}

}  // namespace flatclr::dist
