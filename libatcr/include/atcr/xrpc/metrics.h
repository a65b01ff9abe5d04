// A small Prometheus metrics registry for the servers (hold, AppView):
// counters, gauges and histograms with labels, rendered in the Prometheus
// text exposition format (version 0.0.4) at GET /metrics.
//
//   xrpc::Metrics metrics;
//   options.logger = metrics.instrument(xrpc::stderr_logger());   // every request counted
//   metrics.on_scrape([&](xrpc::Metrics& m) { m.set("atcr_hold_uploads_in_flight", "...", {}, n()); });
//   metrics.register_endpoint(server);                           // or on a second server (metrics.addr)
//   metrics.set("atcr_appview_firehose_lag_seconds", "...", {}, lag);  // from anywhere
//
// instrument() records, per request: atcr_http_requests_total{route,method,
// status}, atcr_http_request_duration_seconds{route,method} (a histogram),
// atcr_http_request_bytes_total{route} and atcr_http_response_bytes_total
// {route}. `route` is ServerRequest::route (the XRPC method or the plain
// route's pattern, "unmatched" for none), never the raw path, so a client
// cannot grow the label set. Label sets of the other metrics are the
// callers' to bound.
//
// A name keeps the type and help it was first used with (another type is
// std::logic_error: a programming error). Names must match
// [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*; label
// values are escaped. Thread-safe; on_scrape callbacks run on the scraping
// request's thread, without the registry's lock held.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "atcr/xrpc/server.h"

namespace atcr::xrpc {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Counter: adds `value` (>= 0).
  void add(std::string_view name, std::string_view help, const MetricLabels& labels, double value = 1);
  // Gauge: sets the value.
  void set(std::string_view name, std::string_view help, const MetricLabels& labels, double value);
  // Histogram: one observation, into `buckets` (upper bounds, ascending;
  // fixed by the first use). Default: latency buckets in seconds, 5 ms to 60 s.
  void observe(std::string_view name, std::string_view help, const MetricLabels& labels, double value,
               const std::vector<double>& buckets = {});

  // Runs before every render(), to set gauges that are cheaper to read
  // when scraped than to keep current (sizes, counts of open things).
  // A callback that throws is logged and skipped.
  void on_scrape(std::function<void(Metrics&)> callback);

  // Every metric, in the text format, families in name order.
  std::string render();

  // A logger that records each request (see above), then calls `next`
  // (may be null). The registry must outlive the server using it.
  Logger instrument(Logger next);

  // GET /metrics on `server` (text/plain; version=0.0.4). Before start().
  void register_endpoint(XrpcServer& server);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atcr::xrpc
