#include "atcr/xrpc/metrics.h"

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>

#include "atcr/log.h"

namespace atcr::xrpc {

namespace {

enum class Type { kCounter, kGauge, kHistogram };

const char* type_name(Type t) {
  switch (t) {
    case Type::kCounter: return "counter";
    case Type::kGauge: return "gauge";
    case Type::kHistogram: return "histogram";
  }
  return "untyped";
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> b = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return b;
}

bool valid_name(std::string_view name, bool label) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!label && c == ':');
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// Label values: backslash, double quote and newline escaped.
std::string escape_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// Help text: backslash and newline escaped.
std::string escape_help(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  return fmt::format("{}", v);
}

// `{a="x",b="y"}` (with `extra` appended), or "" for no labels.
std::string label_text(const MetricLabels& labels, std::string_view extra = {}) {
  std::string out;
  for (const auto& [k, v] : labels) out += fmt::format("{}{}=\"{}\"", out.empty() ? "" : ",", k, escape_value(v));
  if (!extra.empty()) out += fmt::format("{}{}", out.empty() ? "" : ",", extra);
  return out.empty() ? "" : "{" + out + "}";
}

struct Series {
  double value = 0;                  // counter, gauge; histogram: sum
  std::uint64_t count = 0;           // histogram
  std::vector<std::uint64_t> hits;   // histogram, per bucket (not cumulative)
};

struct Family {
  Type type;
  std::string help;
  std::vector<double> buckets;
  std::map<MetricLabels, Series> series;
};

}  // namespace

struct Metrics::Impl {
  std::mutex mu;
  std::map<std::string, Family, std::less<>> families;
  std::vector<std::function<void(Metrics&)>> scrapers;

  // The family `name`, created on first use; the caller holds mu.
  Family& family(std::string_view name, std::string_view help, Type type, const MetricLabels& labels) {
    auto it = families.find(name);
    if (it == families.end()) {
      if (!valid_name(name, false)) throw std::logic_error(fmt::format("metrics: invalid name '{}'", name));
      it = families.emplace(std::string(name), Family{type, std::string(help), {}, {}}).first;
    } else if (it->second.type != type) {
      throw std::logic_error(fmt::format("metrics: {} is a {}, not a {}", name, type_name(it->second.type),
                                         type_name(type)));
    }
    for (const auto& [k, v] : labels)
      if (!valid_name(k, true)) throw std::logic_error(fmt::format("metrics: invalid label name '{}'", k));
    return it->second;
  }
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

void Metrics::add(std::string_view name, std::string_view help, const MetricLabels& labels, double value) {
  std::lock_guard lock(impl_->mu);
  impl_->family(name, help, Type::kCounter, labels).series[labels].value += value < 0 ? 0 : value;
}

void Metrics::set(std::string_view name, std::string_view help, const MetricLabels& labels, double value) {
  std::lock_guard lock(impl_->mu);
  impl_->family(name, help, Type::kGauge, labels).series[labels].value = value;
}

void Metrics::observe(std::string_view name, std::string_view help, const MetricLabels& labels, double value,
                      const std::vector<double>& buckets) {
  std::lock_guard lock(impl_->mu);
  Family& f = impl_->family(name, help, Type::kHistogram, labels);
  if (f.buckets.empty()) f.buckets = buckets.empty() ? latency_buckets() : buckets;
  Series& s = f.series[labels];
  if (s.hits.empty()) s.hits.assign(f.buckets.size(), 0);
  s.value += value;
  ++s.count;
  for (std::size_t i = 0; i < f.buckets.size(); ++i) {
    if (value <= f.buckets[i]) {
      ++s.hits[i];
      break;
    }
  }
}

void Metrics::on_scrape(std::function<void(Metrics&)> callback) {
  std::lock_guard lock(impl_->mu);
  impl_->scrapers.push_back(std::move(callback));
}

std::string Metrics::render() {
  std::vector<std::function<void(Metrics&)>> scrapers;
  {
    std::lock_guard lock(impl_->mu);
    scrapers = impl_->scrapers;
  }
  for (const auto& s : scrapers) {
    try {
      s(*this);
    } catch (const std::exception& e) {
      log::warn("metrics", "a scrape callback failed: {}", e.what());
    }
  }
  std::lock_guard lock(impl_->mu);
  std::string out;
  for (const auto& [name, f] : impl_->families) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape_help(f.help), name, type_name(f.type));
    for (const auto& [labels, s] : f.series) {
      if (f.type != Type::kHistogram) {
        out += fmt::format("{}{} {}\n", name, label_text(labels), number(s.value));
        continue;
      }
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < f.buckets.size(); ++i) {
        cumulative += s.hits[i];
        out += fmt::format("{}_bucket{} {}\n", name, label_text(labels, fmt::format("le=\"{}\"", number(f.buckets[i]))),
                           cumulative);
      }
      out += fmt::format("{}_bucket{} {}\n", name, label_text(labels, "le=\"+Inf\""), s.count);
      out += fmt::format("{}_sum{} {}\n", name, label_text(labels), number(s.value));
      out += fmt::format("{}_count{} {}\n", name, label_text(labels), s.count);
    }
  }
  return out;
}

Logger Metrics::instrument(Logger next) {
  return [this, next = std::move(next)](const RequestLog& entry) {
    const std::string route = entry.route.empty() ? "unmatched" : entry.route;
    // Methods outside the usual set are one label value, not one each.
    static const std::set<std::string, std::less<>> kMethods = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    const std::string method = kMethods.contains(entry.method) ? entry.method : "other";
    add("atcr_http_requests_total", "HTTP requests answered, by route, method and status.",
        {{"route", route}, {"method", method}, {"status", std::to_string(entry.status)}});
    observe("atcr_http_request_duration_seconds", "Time from a request's header to its answer's end.",
            {{"route", route}, {"method", method}}, static_cast<double>(entry.latency.count()) / 1e6);
    add("atcr_http_request_bytes_total", "Request body bytes received, by route.", {{"route", route}},
        static_cast<double>(entry.bytes_in));
    add("atcr_http_response_bytes_total", "Response body bytes sent, by route.", {{"route", route}},
        static_cast<double>(entry.bytes_out));
    if (next) next(entry);
  };
}

void Metrics::register_endpoint(XrpcServer& server) {
  server.route("GET", "/metrics", [this](const ServerRequest&) {
    return ServerResponse::text(render(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace atcr::xrpc
