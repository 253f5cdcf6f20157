import GatehouseDirectory

/// What a call's method and target resolve to before anyone is authenticated: the parsed
/// target (or why it is refused), the route it matches with its path parameters, and the
/// resource URN. It depends only on those, the route catalog and the organization's IDs, so
/// a connection's next call with the same method and target in the same directory view
/// reuses it (`ConnectionCache`), instead of parsing, matching and building the URN again.
final class RouteMatch: Sendable {
    let target: Result<RequestTarget, RequestTarget.Rejection>
    let route: Route?
    let parameters: [String: String]
    /// The URN of the resource the route acts on; empty without a route or with a malformed
    /// parameter.
    let resource: String
    /// A path parameter without its documented format (the call is refused with 400).
    let malformedParameter: (name: String, value: String, format: IdentifierFormat)?

    init(
        target: Result<RequestTarget, RequestTarget.Rejection>, route: Route? = nil, parameters: [String: String] = [:], resource: String = "",
        malformedParameter: (name: String, value: String, format: IdentifierFormat)? = nil
    ) {
        self.target = target
        self.route = route
        self.parameters = parameters
        self.resource = resource
        self.malformedParameter = malformedParameter
    }
}
