// README rendering (appview/web/markdown.h): GFM renders, and nothing a
// README says can put markup, scripts or unsafe URLs into our pages.
#include "appview/web/markdown.h"

#include <doctest/doctest.h>

#include <string>

using namespace atcr::appview::web;

namespace {

bool has(const std::string& html, std::string_view part) { return html.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("markdown: GitHub-flavoured markdown renders") {
  std::string html = render_markdown("# Title\n\nSome *text* and `code`.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
                                     "~~gone~~ https://example.com/x\n\n- [x] done\n");
  CHECK(has(html, "<h1>Title</h1>"));
  CHECK(has(html, "<em>text</em>"));
  CHECK(has(html, "<code>code</code>"));
  CHECK(has(html, "<table>"));
  CHECK(has(html, "<del>gone</del>"));
  CHECK(has(html, R"(<a href="https://example.com/x">)"));
  CHECK(has(html, "checkbox"));
  CHECK(has(render_markdown("[docs](docs/README.md) [top](#top) [site](//example.com)"), R"(href="docs/README.md")"));
}

TEST_CASE("markdown: raw HTML is dropped") {
  for (const char* md : {"<script>alert(1)</script>", "x <img src=x onerror=alert(1)> y",
                         "<div onclick=\"x()\">hi</div>", "<style>body{display:none}</style>",
                         "<iframe src=\"https://evil.example\"></iframe>", "a <a href=\"javascript:x\">b</a> c",
                         "<!-- comment --><svg onload=alert(1)>", "<?php echo 1; ?>"}) {
    CAPTURE(md);
    std::string html = render_markdown(md);
    CHECK(!has(html, "<script"));
    CHECK(!has(html, "<img"));
    CHECK(!has(html, "<div"));
    CHECK(!has(html, "<style"));
    CHECK(!has(html, "<iframe"));
    CHECK(!has(html, "<svg"));
    CHECK(!has(html, "<a "));
    CHECK(!has(html, "<?"));
    CHECK(!has(html, "<!--"));
  }
  // Text that looks like markup in code stays text.
  CHECK(has(render_markdown("`<script>`"), "<code>&lt;script&gt;</code>"));
}

TEST_CASE("markdown: link and image targets are http(s) or relative") {
  for (const char* md : {"[x](javascript:alert(1))", "[x](JaVaScRiPt:alert(1))", "[x](vbscript:msgbox)",
                         "[x](data:text/html;base64,PHNjcmlwdD4=)", "[x](file:///etc/passwd)",
                         "[x](java%0ascript:alert(1))", "![x](javascript:alert(1))",
                         "![x](data:image/svg+xml;base64,PHN2Zz4=)", "[x][r]\n\n[r]: javascript:alert(1)",
                         "[x](&#106;avascript:alert(1))", "[x](\\javascript:alert(1))"}) {
    CAPTURE(md);
    std::string html = render_markdown(md);
    CHECK(!has(html, "href="));
    CHECK(!has(html, "src="));
    CHECK(has(html, "x"));  // the text (or alt text) stays
  }
  CHECK(render_markdown("<javascript:alert(1)>") == "<p>javascript:alert(1)</p>\n");  // an autolink: text only
  std::string image = render_markdown("![logo](https://example.com/logo.png \"t\")");
  CHECK(has(image, R"(<img src="https://example.com/logo.png" alt="logo" title="t" />)"));
  // A link inside an image's alt text inside a link: unwrapping nests.
  std::string nested = render_markdown("[![a [b](javascript:1)](javascript:2)](javascript:3)");
  CHECK(!has(nested, "href"));
}

TEST_CASE("markdown: safe_link") {
  CHECK(safe_link("https://a.example/x?y#z"));
  CHECK(safe_link("HTTP://a.example"));
  CHECK(safe_link("relative/path:with-colon"));
  CHECK(safe_link("/abs"));
  CHECK(safe_link("#frag"));
  CHECK(safe_link("?q=a:b"));
  CHECK(safe_link(""));
  CHECK(!safe_link("javascript:x"));
  CHECK(!safe_link(" javascript:x"));
  CHECK(!safe_link("java\tscript:x"));
  CHECK(!safe_link("mailto:a@b"));
  CHECK(!safe_link("httpx://a"));
  CHECK(!safe_link("data:,x"));
}

TEST_CASE("markdown: hostile sizes and bytes") {
  // Past the lexicon's limit: cut, not refused, and never mid-character.
  std::string big(kMaxMarkdownBytes - 1, 'a');
  big += "\xC3\xA9 tail";
  std::string html = render_markdown(big);
  CHECK(!has(html, "tail"));
  CHECK(!has(html, "\xC3<"));
  // Invalid UTF-8 becomes U+FFFD; NUL bytes do not end the text.
  CHECK(has(render_markdown(std::string("a\xFF" "b\0c", 5)), "\xEF\xBF\xBD"));
  // Deep nesting and many delimiters finish quickly.
  CHECK(!render_markdown(std::string(20000, '>') + "x").empty());
  CHECK(!render_markdown(std::string(50000, '[')).empty());
  CHECK(!render_markdown(std::string(30000, '*') + "a" + std::string(30000, '_')).empty());
  std::string table = "|a|\n|-|\n";
  for (int i = 0; i < 2000; ++i) table += "|" + std::string(20, 'x') + "|\n";
  CHECK(has(render_markdown(table), "<table>"));
}
