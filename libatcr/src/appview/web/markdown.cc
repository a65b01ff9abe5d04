// README markdown to safe HTML with cmark-gfm (see markdown.h).
#include "appview/web/markdown.h"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm-extension_api.h>
#include <cmark-gfm.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

namespace atcr::appview::web {

namespace {

constexpr const char* kExtensions[] = {"table", "strikethrough", "autolink", "tasklist"};
// Raw HTML is removed from the tree below; CMARK_OPT_SAFE (the default
// since 0.29) also keeps it out of the output should any remain.
constexpr int kOptions = CMARK_OPT_SAFE | CMARK_OPT_VALIDATE_UTF8;

struct ParserFree {
  void operator()(cmark_parser* p) const { cmark_parser_free(p); }
};
struct NodeFree {
  void operator()(cmark_node* n) const { cmark_node_free(n); }
};
struct IterFree {
  void operator()(cmark_iter* i) const { cmark_iter_free(i); }
};

std::unique_ptr<cmark_parser, ParserFree> make_parser() {
  static std::once_flag registered;
  std::call_once(registered, [] { cmark_gfm_core_extensions_ensure_registered(); });
  std::unique_ptr<cmark_parser, ParserFree> parser(cmark_parser_new(kOptions));
  for (const char* name : kExtensions)
    if (cmark_syntax_extension* ext = cmark_find_syntax_extension(name))
      cmark_parser_attach_syntax_extension(parser.get(), ext);
  return parser;
}

// The longest prefix of `text` of at most `limit` bytes that does not end
// inside a UTF-8 sequence.
std::string_view cut(std::string_view text, std::size_t limit) {
  if (text.size() <= limit) return text;
  std::size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

// Replaces `node` by its children (a link's text, an image's alt text).
void unwrap(cmark_node* node) {
  while (cmark_node* child = cmark_node_first_child(node)) cmark_node_insert_before(node, child);
  cmark_node_free(node);
}

bool unsafe_target(cmark_node* node) {
  const char* url = cmark_node_get_url(node);
  return url && !safe_link(url);
}

// Drops raw HTML and unwraps links and images with unsafe targets. Nodes
// are collected first: the tree must not change under the iterator.
void filter(cmark_node* document) {
  std::vector<cmark_node*> html, unwrapped;
  std::unique_ptr<cmark_iter, IterFree> it(cmark_iter_new(document));
  for (cmark_event_type ev; (ev = cmark_iter_next(it.get())) != CMARK_EVENT_DONE;) {
    if (ev != CMARK_EVENT_ENTER) continue;
    cmark_node* node = cmark_iter_get_node(it.get());
    switch (cmark_node_get_type(node)) {
      case CMARK_NODE_HTML_BLOCK:
      case CMARK_NODE_HTML_INLINE: html.push_back(node); break;
      case CMARK_NODE_LINK:
      case CMARK_NODE_IMAGE:
        if (unsafe_target(node)) unwrapped.push_back(node);
        break;
      default: break;
    }
  }
  it.reset();
  for (cmark_node* node : html) cmark_node_free(node);
  // Inner nodes before the ones around them (the iterator met them later).
  for (auto n = unwrapped.rbegin(); n != unwrapped.rend(); ++n) unwrap(*n);
}

}  // namespace

bool safe_link(std::string_view url) {
  auto end = url.find_first_of(":/?#");
  if (end == std::string_view::npos || url[end] != ':') return true;
  std::string_view scheme = url.substr(0, end);
  auto is = [&](std::string_view want) {
    if (scheme.size() != want.size()) return false;
    for (std::size_t i = 0; i < want.size(); ++i)
      if ((scheme[i] | 0x20) != want[i]) return false;
    return true;
  };
  return is("http") || is("https");
}

std::string render_markdown(std::string_view markdown) {
  markdown = cut(markdown, kMaxMarkdownBytes);
  auto parser = make_parser();
  cmark_parser_feed(parser.get(), markdown.data(), markdown.size());
  std::unique_ptr<cmark_node, NodeFree> document(cmark_parser_finish(parser.get()));
  filter(document.get());
  char* html = cmark_render_html(document.get(), kOptions, cmark_parser_get_syntax_extensions(parser.get()));
  std::string out(html ? html : "");
  std::free(html);
  return out;
}

}  // namespace atcr::appview::web
