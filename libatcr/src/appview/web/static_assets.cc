// The web UI's stylesheet and script (see static_assets.h).
#include "appview/web/static_assets.h"

#include "atcr/crypto/sha256.h"
#include "atcr/encoding/hex.h"

namespace atcr::appview::web {

namespace {

constexpr std::string_view kCss = R"css(
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;max-width:60rem;margin:0 auto;padding:0 1rem 2rem;color:#1d2330;line-height:1.45}
a{color:#1456b8}
header{display:flex;flex-wrap:wrap;gap:.75rem;justify-content:space-between;align-items:center;border-bottom:1px solid #dde;margin-bottom:1.25rem;padding:.75rem 0}
header>a:first-child{font-weight:700;font-size:1.2rem;text-decoration:none}
header form{display:inline;margin:0}
header nav{display:flex;gap:.75rem;align-items:center}
input[type=text],input[type=search],select,textarea{padding:.4rem;font:inherit;border:1px solid #bbc;border-radius:4px}
input[type=text]{width:18rem}
textarea{width:100%;min-height:16rem;font-family:ui-monospace,monospace}
button{padding:.35rem .9rem;font:inherit;border:1px solid #889;border-radius:4px;background:#f4f5f8;cursor:pointer}
button.primary{background:#1456b8;color:#fff;border-color:#1456b8}
.error{color:#a00}
.muted{color:#667}
.cards{list-style:none;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(17rem,1fr));gap:.75rem}
.card{border:1px solid #dde;border-radius:6px;padding:.6rem .8rem}
.card .name{font-weight:600}
.card p{margin:.3rem 0}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #eef}
code,pre{font-family:ui-monospace,monospace;font-size:.92em}
pre{background:#f4f5f8;padding:.6rem;overflow-x:auto;border-radius:4px}
.pull{display:flex;gap:.5rem;align-items:center}
.pull pre{flex:1;margin:0}
.badge{display:inline-block;padding:0 .45rem;border-radius:9px;font-size:.85em;border:1px solid #bbc}
.badge.ok{background:#e6f6ea;border-color:#8c8}
.badge.bad{background:#fbe9e9;border-color:#d88}
.stats{display:flex;gap:1rem;align-items:center;flex-wrap:wrap}
.readme{border-top:1px solid #dde;margin-top:1rem}
.readme img{max-width:100%}
.avatar{border-radius:6px;vertical-align:middle;margin-right:.5rem;object-fit:cover}
.pager{display:flex;gap:1rem;margin-top:1rem}
)css";

// Copy buttons for the pull commands (data-copy names the element whose
// text is copied); a confirmation before an unstar or a revoke is not needed.
constexpr std::string_view kJs = R"js(
document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    button.hidden = false;
    button.addEventListener('click', function () {
      var source = document.getElementById(button.getAttribute('data-copy'));
      if (!source || !navigator.clipboard) return;
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        button.textContent = 'Copied';
        setTimeout(function () { button.textContent = 'Copy'; }, 1500);
      }, function () {});
    });
  });
});
)js";

// A container, in the brand's blue (browsers ask for /favicon.ico).
constexpr std::string_view kIcon =
    R"svg(<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect x="1" y="4" width="14" height="9" rx="1" fill="#1456b8"/><path d="M4 6v5M7 6v5M10 6v5M13 6v5" stroke="#fff"/></svg>)svg";

struct Asset {
  std::string path;
  std::string_view body;
  const char* type;
};

std::string versioned(std::string_view body, std::string_view file) {
  return "/static/" + hex::encode(sha256(as_bytes(body))).substr(0, 12) + "/" + std::string(file);
}

const Asset& css() {
  static const Asset a{versioned(kCss, "atcr.css"), kCss, "text/css; charset=utf-8"};
  return a;
}

const Asset& js() {
  static const Asset a{versioned(kJs, "atcr.js"), kJs, "text/javascript; charset=utf-8"};
  return a;
}

const Asset& icon() {
  static const Asset a{"/favicon.ico", kIcon, "image/svg+xml"};
  return a;
}

xrpc::ServerResponse serve_asset(const xrpc::ServerRequest& req) {
  for (const Asset* a : {&css(), &js(), &icon()}) {
    if (req.path != a->path) continue;
    auto r = xrpc::ServerResponse::text(std::string(a->body), a->type);
    r.header("Cache-Control", "public, max-age=31536000, immutable");
    r.header("X-Content-Type-Options", "nosniff");
    return r;
  }
  auto r = xrpc::ServerResponse::text("no such file\n", "text/plain; charset=utf-8", 404);
  r.header("Cache-Control", "no-store");
  return r;
}

}  // namespace

const std::string& stylesheet_path() { return css().path; }
const std::string& script_path() { return js().path; }

void register_static_assets(xrpc::XrpcServer& server) {
  server.route("GET", "/static/[^/]+/[^/]+", serve_asset);
  server.route("GET", "/favicon\\.ico", serve_asset);
}

}  // namespace atcr::appview::web
