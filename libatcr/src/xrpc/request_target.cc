// Request-target parsing on Boost.URL, compiled into libatcr from its
// sources (boost/url/src.hpp: Debian ships Boost.URL headers only), here
// and nowhere else.
#include "xrpc/request_target.h"

#include <boost/url/parse.hpp>
#include <boost/url/src.hpp>
#include <boost/url/url_view.hpp>

#include "atcr/xrpc/error.h"

namespace atcr::xrpc {

RequestTarget parse_request_target(std::string_view target) {
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) throw invalid_request("malformed request target");
  const boost::urls::url_view& url = *parsed;
  RequestTarget out;
  out.path = url.path();
  for (const auto& param : url.params()) {
    // "/x?" and "a&&b" hold empty parameters that nobody sent on purpose.
    if (param.key.empty() && !param.has_value) continue;
    out.params.emplace_back(param.key, param.has_value ? param.value : std::string());
  }
  return out;
}

}  // namespace atcr::xrpc
