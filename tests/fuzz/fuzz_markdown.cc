// libFuzzer target: README markdown (appview/web/markdown.h). Whatever the
// input, the HTML holds only the elements cmark-gfm makes for markdown,
// no event-handler or style attributes, and only safe link/image targets.
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "appview/web/markdown.h"

namespace {

const std::set<std::string, std::less<>> kTags = {
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "em", "strong", "code", "pre", "a", "img", "ul", "ol", "li",
    "blockquote", "hr", "br", "table", "thead", "tbody", "tr", "th", "td", "del", "input"};

const std::set<std::string, std::less<>> kAttributes = {"href",  "src",   "alt",     "title",    "type",
                                                         "class", "align", "checked", "disabled", "start"};

// The attributes of one tag ("<name a=\"v\" b>" from `at`): each allowed,
// each link target safe. Returns where the tag ends.
std::size_t check_tag(std::string_view html, std::size_t at) {
  std::size_t i = at + 1 + (html[at + 1] == '/');
  std::size_t name_end = html.find_first_of(" />", i);
  if (name_end == std::string_view::npos || !kTags.contains(html.substr(i, name_end - i))) std::abort();
  i = name_end;
  while (true) {
    while (i < html.size() && (html[i] == ' ' || html[i] == '/')) ++i;
    if (i >= html.size()) std::abort();
    if (html[i] == '>') return i;
    std::size_t attr_end = html.find_first_of("= />", i);
    if (attr_end == std::string_view::npos || !kAttributes.contains(html.substr(i, attr_end - i))) std::abort();
    std::string_view attr = html.substr(i, attr_end - i);
    i = attr_end;
    if (html[i] != '=') continue;
    if (i + 1 >= html.size() || html[i + 1] != '"') std::abort();
    std::size_t value_end = html.find('"', i + 2);
    if (value_end == std::string_view::npos) std::abort();
    std::string_view value = html.substr(i + 2, value_end - i - 2);
    if ((attr == "href" || attr == "src") && !atcr::appview::web::safe_link(value)) std::abort();
    i = value_end + 1;
  }
}

void check(std::string_view html) {
  for (auto lt = html.find('<'); lt != std::string_view::npos; lt = html.find('<', lt + 1)) {
    if (lt + 1 >= html.size()) std::abort();
    lt = check_tag(html, lt);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check(atcr::appview::web::render_markdown(std::string_view(reinterpret_cast<const char*>(data), size)));
  return 0;
}
