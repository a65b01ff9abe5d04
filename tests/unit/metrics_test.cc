// xrpc::Metrics: the Prometheus text format it renders (parsed here line by
// line against the exposition format's grammar), and the request metrics an
// instrumented server records, labelled by route pattern, not raw path.
#include "atcr/xrpc/metrics.h"

#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <regex>
#include <sstream>

#include "atcr/net/http_client.h"
#include "atcr/xrpc/server.h"

using namespace atcr;

namespace {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Parsed {
  std::map<std::string, std::string> types;  // family -> type
  std::vector<Sample> samples;
};

// The text format, strictly: every line a HELP, a TYPE or a sample of a
// family whose TYPE came first; label values unescaped.
Parsed parse(const std::string& text) {
  static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*)");
  static const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  static const std::regex sample(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([-+]?[0-9.eE+-]+|\+Inf|-Inf|NaN))");
  static const std::regex label(R"re(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?)re");
  Parsed out;
  std::istringstream in(text);
  std::string line;
  REQUIRE_MESSAGE(!text.empty(), "empty exposition");
  REQUIRE_MESSAGE(text.back() == '\n', "the exposition must end with a newline");
  while (std::getline(in, line)) {
    INFO("line: " << line);
    std::smatch m;
    if (std::regex_match(line, m, help)) continue;
    if (std::regex_match(line, m, type)) {
      CHECK_FALSE(out.types.contains(m[1]));
      out.types[m[1]] = m[2];
      continue;
    }
    REQUIRE(std::regex_match(line, m, sample));
    Sample s{m[1], {}, m[4] == "+Inf" ? INFINITY : std::stod(m[4])};
    std::string labels = m[3];
    for (auto it = std::sregex_iterator(labels.begin(), labels.end(), label); it != std::sregex_iterator(); ++it) {
      std::string v = (*it)[2], unescaped;
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '\\' && i + 1 < v.size()) {
          ++i;
          unescaped += v[i] == 'n' ? '\n' : v[i];
        } else {
          unescaped += v[i];
        }
      }
      s.labels[(*it)[1]] = unescaped;
    }
    std::string family = s.name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (!out.types.contains(family) && family.ends_with(suffix))
        family = family.substr(0, family.size() - std::string(suffix).size());
    }
    CHECK_MESSAGE(out.types.contains(family), "a sample before its family's TYPE");
    out.samples.push_back(std::move(s));
  }
  return out;
}

double value_of(const Parsed& p, const std::string& name, const std::map<std::string, std::string>& labels) {
  for (const auto& s : p.samples)
    if (s.name == name && s.labels == labels) return s.value;
  FAIL("no sample " << name);
  return 0;
}

}  // namespace

TEST_CASE("metrics: counters, gauges and histograms in the text format; hostile label values escaped") {
  xrpc::Metrics m;
  m.add("jobs_total", "Jobs done.", {{"kind", "a"}});
  m.add("jobs_total", "Jobs done.", {{"kind", "a"}}, 2);
  m.add("jobs_total", "Jobs done.", {{"kind", "quote\" back\\slash\nnewline"}});
  m.set("queue_depth", "Queue depth.\nsecond line", {}, 7);
  for (double v : {0.001, 0.2, 3.0, 100.0}) m.observe("wait_seconds", "Waits.", {{"q", "x"}}, v);
  Parsed p = parse(m.render());
  CHECK(p.types.at("jobs_total") == "counter");
  CHECK(p.types.at("queue_depth") == "gauge");
  CHECK(p.types.at("wait_seconds") == "histogram");
  CHECK(value_of(p, "jobs_total", {{"kind", "a"}}) == 3);
  CHECK(value_of(p, "jobs_total", {{"kind", "quote\" back\\slash\nnewline"}}) == 1);
  CHECK(value_of(p, "queue_depth", {}) == 7);
  // Buckets are cumulative and +Inf is the count.
  CHECK(value_of(p, "wait_seconds_bucket", {{"q", "x"}, {"le", "0.005"}}) == 1);
  CHECK(value_of(p, "wait_seconds_bucket", {{"q", "x"}, {"le", "0.25"}}) == 2);
  CHECK(value_of(p, "wait_seconds_bucket", {{"q", "x"}, {"le", "5"}}) == 3);
  CHECK(value_of(p, "wait_seconds_bucket", {{"q", "x"}, {"le", "+Inf"}}) == 4);
  CHECK(value_of(p, "wait_seconds_count", {{"q", "x"}}) == 4);
  CHECK(value_of(p, "wait_seconds_sum", {{"q", "x"}}) == doctest::Approx(103.201));
  // A name used as another type, or an invalid name, is a programming error.
  CHECK_THROWS_AS(m.set("jobs_total", "", {}, 1), std::logic_error);
  CHECK_THROWS_AS(m.add("bad name", "", {}), std::logic_error);
  CHECK_THROWS_AS(m.add("ok_total", "", {{"bad-label", "x"}}), std::logic_error);
}

TEST_CASE("metrics: an instrumented server counts requests by route pattern, status, latency and bytes") {
  xrpc::Metrics m;
  xrpc::ServerOptions o;
  o.logger = m.instrument(nullptr);
  xrpc::XrpcServer server(o);
  server.route("GET", "/items/([0-9]+)", [](const xrpc::ServerRequest& req) {
    return xrpc::ServerResponse::text("item " + req.path_params[0]);
  });
  server.procedure("com.example.echo", [](const xrpc::ServerRequest& req) {
    return xrpc::ServerResponse::json(req.json());
  });
  int scrapes = 0;
  m.on_scrape([&](xrpc::Metrics& mm) { mm.set("scrapes", "Scrapes seen.", {}, ++scrapes); });
  m.register_endpoint(server);
  server.start();
  net::HttpClient http;
  for (int i = 0; i < 5; ++i) CHECK(http.get(server.url() + "/items/" + std::to_string(i)).status == 200);
  for (int i = 0; i < 3; ++i) CHECK(http.get(server.url() + "/nothing/" + std::to_string(i)).status == 404);
  CHECK(http.post(server.url() + "/xrpc/com.example.echo", "application/json", to_bytes(R"({"a":1})")).status == 200);
  CHECK(http.get(server.url() + "/xrpc/com.example.unknown").status == 501);

  auto r = http.get(server.url() + "/metrics");
  REQUIRE(r.status == 200);
  CHECK(r.header("content-type").starts_with("text/plain; version=0.0.4"));
  Parsed p = parse(r.text());
  CHECK(value_of(p, "atcr_http_requests_total", {{"route", "/items/([0-9]+)"}, {"method", "GET"}, {"status", "200"}}) == 5);
  CHECK(value_of(p, "atcr_http_requests_total", {{"route", "unmatched"}, {"method", "GET"}, {"status", "404"}}) == 3);
  CHECK(value_of(p, "atcr_http_requests_total", {{"route", "unmatched"}, {"method", "GET"}, {"status", "501"}}) == 1);
  CHECK(value_of(p, "atcr_http_requests_total",
                 {{"route", "/xrpc/com.example.echo"}, {"method", "POST"}, {"status", "200"}}) == 1);
  CHECK(value_of(p, "atcr_http_request_duration_seconds_count", {{"route", "/items/([0-9]+)"}, {"method", "GET"}}) == 5);
  CHECK(value_of(p, "atcr_http_request_bytes_total", {{"route", "/xrpc/com.example.echo"}}) == 7);
  CHECK(value_of(p, "atcr_http_response_bytes_total", {{"route", "/items/([0-9]+)"}}) == 5 * 6);
  CHECK(value_of(p, "scrapes", {}) == 1);
  // No raw path ever becomes a label value.
  for (const auto& s : p.samples) {
    auto route = s.labels.find("route");
    if (route != s.labels.end()) CHECK(route->second.find("/nothing/") == std::string::npos);
  }
  server.stop();
}
