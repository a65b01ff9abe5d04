#include "atcr/identity/directory_resolver.h"

#include <fmt/format.h>

#include "atcr/data/syntax.h"
#include "atcr/net/dns.h"
#include "identity/loading_cache.h"

namespace atcr::identity {

struct DirectoryResolver::Impl {
  explicit Impl(ResolverOptions o)
      : options(std::move(o)),
        http(std::make_shared<net::HttpClient>(options.http)),
        plc(http, options.plc_directory),
        documents(options.ttl, options.negative_ttl, options.max_entries, options.clock, options.unreachable_ttl),
        handles(options.ttl, options.negative_ttl, options.max_entries, options.clock, options.unreachable_ttl) {}

  DidDocument load_document(const std::string& did) const {
    if (did.starts_with("did:plc:")) return plc.document(did);
    if (did.starts_with("did:web:")) return resolve_did_web(*http, did, options.did_web);
    throw ResolutionError(fmt::format("{}: unsupported DID method", did));
  }

  const ResolverOptions options;
  const std::shared_ptr<const net::HttpClient> http;
  const PlcClient plc;
  detail::LoadingCache<DidDocument> documents;
  detail::LoadingCache<std::string> handles;
};

DirectoryResolver::DirectoryResolver(ResolverOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

DirectoryResolver::~DirectoryResolver() = default;

DidDocument DirectoryResolver::resolve_did(std::string_view did, bool fresh) {
  syntax::validate_did(did);
  std::string key(did);
  return impl_->documents.get(key, fresh, [&] { return impl_->load_document(key); });
}

std::string DirectoryResolver::resolve_handle(std::string_view handle, bool fresh) {
  std::string h = normalize_resolvable_handle(handle, impl_->options.handles);
  return impl_->handles.get(h, fresh, [&] { return identity::resolve_handle(*impl_->http, h, impl_->options.handles); });
}

Identity DirectoryResolver::resolve(std::string_view handle_or_did, bool fresh) {
  if (handle_or_did.starts_with("did:")) {
    Identity id{std::string(handle_or_did), std::nullopt, resolve_did(handle_or_did, fresh)};
    if (std::optional<std::string> claimed = id.document.handle()) {
      // The document's word alone proves nothing; the handle must point
      // back. If that cannot be confirmed now, the identity is still the
      // DID's, just without a handle.
      try {
        if (resolve_handle(*claimed, fresh) == id.did) id.handle = std::move(claimed);
      } catch (const ResolutionError&) {
      } catch (const ParseError&) {
      } catch (const net::HttpError&) {
      } catch (const net::DnsError&) {
      }
    }
    return id;
  }

  std::string handle = normalize_resolvable_handle(handle_or_did, impl_->options.handles);
  std::string did = resolve_handle(handle, fresh);
  DidDocument doc = resolve_did(did, fresh);
  std::optional<std::string> claimed = doc.handle();
  if (claimed != handle)
    throw ResolutionError(fmt::format("handle {} points to {}, whose document claims {}", handle, did,
                                      claimed ? *claimed : std::string("no handle")));
  return Identity{std::move(did), std::move(handle), std::move(doc)};
}

void DirectoryResolver::invalidate(std::string_view handle_or_did) {
  if (handle_or_did.starts_with("did:")) {
    impl_->documents.erase(std::string(handle_or_did));
  } else if (syntax::is_valid_handle(handle_or_did)) {
    impl_->handles.erase(syntax::normalize_handle(handle_or_did));
  }
}

const PlcClient& DirectoryResolver::plc() const { return impl_->plc; }

const net::HttpClient& DirectoryResolver::http() const { return *impl_->http; }

}  // namespace atcr::identity
