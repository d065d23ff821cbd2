public import Domain

/// How catalog errors become HTTP: 404, 409 (naming the field), 400 (cursor), 503. Handlers call the
/// catalog directly and let its errors propagate; the responder answers them through this conformance.
extension CatalogError: HTTPResponseError {
    public func response(requestID: String) -> APIResponse {
        Problem(self).response(requestID: requestID)
    }
}

extension Problem {
    init(_ error: CatalogError) {
        switch error.code {
        case .notFound: self = .notFound(error.detail)
        case .conflict: self = .conflict(field: error.field, detail: error.detail)
        case .invalidCursor: self = .invalid("cursor", "is not a cursor this server issued")
        case .unavailable: self = .unavailable("The catalog is unavailable: \(error.detail)")
        case .schemaMismatch: self = .unavailable("The catalog schema does not match this server: \(error.detail)")
        case .invalidValue: self = .invalid(error.field ?? "body", error.detail)
        }
    }
}
