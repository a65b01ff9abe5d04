// Installing docker-credential-atcr from the registry itself:
//   GET /install.sh                       a POSIX sh script: fetches the helper
//                                         (install.helper_binary), puts it in
//                                         /usr/local/bin (or $ATCR_INSTALL_DIR),
//                                         runs `configure-docker <registry>`
//   GET /install/docker-credential-atcr   the binary, when helper_binary is a
//                                         file on this host
//   GET /install                          the page saying how (install_page())
#include <fmt/core.h>

#include <filesystem>

#include "appview/appview_impl.h"

namespace atcr::appview {

namespace {

constexpr const char* kBinaryPath = "/install/docker-credential-atcr";

// 'text' for sh: single quotes, each ' written as '\''.
std::string sh_quote(std::string_view text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

bool is_url(const std::string& s) { return s.starts_with("https://") || s.starts_with("http://"); }

constexpr const char* kScript = R"(#!/bin/sh
# Installs docker-credential-atcr, the credential helper of the ATCR
# registry {registry_comment}, and makes docker and podman use it.
#   curl -fsSL {script_url} | sh
# Set ATCR_INSTALL_DIR to install elsewhere than /usr/local/bin.
set -eu
REGISTRY={registry}
URL={url}
DIR="${{ATCR_INSTALL_DIR:-/usr/local/bin}}"
BIN="$DIR/docker-credential-atcr"

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
echo "Downloading docker-credential-atcr from $URL" >&2
if command -v curl >/dev/null 2>&1; then
  curl -fsSL "$URL" -o "$tmp"
elif command -v wget >/dev/null 2>&1; then
  wget -qO "$tmp" "$URL"
else
  echo "install.sh: needs curl or wget" >&2
  exit 1
fi
chmod 755 "$tmp"
if [ -w "$DIR" ] || {{ [ ! -e "$DIR" ] && mkdir -p "$DIR" 2>/dev/null; }}; then
  mv "$tmp" "$BIN"
else
  echo "Installing to $BIN with sudo" >&2
  sudo install -m 755 "$tmp" "$BIN"
fi
"$BIN" version >&2
"$BIN" configure-docker "$REGISTRY"
echo >&2
echo "Installed. Sign in with:  docker-credential-atcr login $REGISTRY" >&2
)";

}  // namespace

void Appview::Impl::register_install(xrpc::XrpcServer& server) {
  server.route("GET", "/install\\.sh", [this](const xrpc::ServerRequest& req) { return install_script(req); });
  server.route("GET", kBinaryPath, [this](const xrpc::ServerRequest& req) { return helper_binary(req); });
}

std::string Appview::Impl::helper_download_url() const {
  const std::string& b = config.install.helper_binary;
  if (b.empty()) return "";
  return is_url(b) ? b : config.server.public_url + kBinaryPath;
}

xrpc::ServerResponse Appview::Impl::install_script(const xrpc::ServerRequest&) {
  std::string url = helper_download_url();
  if (url.empty())
    return xrpc::ServerResponse::text(
        "#!/bin/sh\necho 'This registry does not offer docker-credential-atcr for download "
        "(its operator has not set install.helper_binary).' >&2\nexit 1\n",
        "text/x-shellscript; charset=utf-8", 404);
  std::string script = fmt::format(
      kScript, fmt::arg("registry_comment", config.server.service),
      fmt::arg("script_url", config.server.public_url + "/install.sh"),
      fmt::arg("registry", sh_quote(config.server.service)), fmt::arg("url", sh_quote(url)));
  auto r = xrpc::ServerResponse::text(std::move(script), "text/x-shellscript; charset=utf-8");
  r.header("Cache-Control", "no-cache");
  return r;
}

xrpc::ServerResponse Appview::Impl::helper_binary(const xrpc::ServerRequest&) {
  const std::string& path = config.install.helper_binary;
  std::error_code ec;
  auto size = path.empty() || is_url(path) ? 0 : std::filesystem::file_size(path, ec);
  if (path.empty() || is_url(path) || ec || size == 0)
    return xrpc::ServerResponse::text("docker-credential-atcr is not served here\n", "text/plain; charset=utf-8", 404);
  auto r = xrpc::ServerResponse::file(path, 0, size, "application/octet-stream");
  r.header("Content-Disposition", "attachment; filename=\"docker-credential-atcr\"");
  return r;
}

}  // namespace atcr::appview
