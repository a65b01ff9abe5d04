// Internal: a README (io.atcr.repo.page `description`, GitHub-flavoured
// markdown) rendered to HTML that is safe inside our pages.
//
// cmark-gfm (Debian's libcmark-gfm) with the table, strikethrough,
// autolink and task-list extensions, then filtered on its syntax tree:
//   - raw HTML (blocks and inline) is dropped, not shown: a README cannot
//     add elements, attributes, scripts or styles;
//   - link and image targets must be http(s) or relative (no scheme);
//     a link to anything else (javascript:, data:, vbscript:, file:, ...)
//     keeps only its text, an image only its alt text;
//   - input past kMaxMarkdownBytes (the lexicon's maxLength) is cut, and
//     invalid UTF-8 is replaced, before parsing.
// Thread-safe; never throws for any input (a failure to allocate aside).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace atcr::appview::web {

inline constexpr std::size_t kMaxMarkdownBytes = 100000;

std::string render_markdown(std::string_view markdown);

// Whether `url` may be a link or image target: its scheme (the text before
// a ':' that comes before any '/', '?' or '#') is http or https, or it has
// none (relative, fragment, protocol-relative).
bool safe_link(std::string_view url);

}  // namespace atcr::appview::web
