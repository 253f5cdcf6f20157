/// Deciding as the gateway decides for one caller: with the policies attached to them (and
/// only those), and with them as the principal. `eval`, `explain` and `test` take one from
/// `--directory <seed or database> --user <name>`; without it they decide with every policy
/// given, for whatever principal a request names.
public struct PrincipalBinding: Sendable {
    /// Who, for messages: `user "dev_only"`.
    public var label: String
    public var principal: Principal
    /// The attached policies' names (a policy is named by its file name without `.json`), each
    /// with where it is attached (`directly`, `through group "devs"`).
    public var attachments: [(policy: String, via: String)]
    /// The caller's other keys (lowercased), which the gateway fills from its directory:
    /// `g:UserName`, `g:DomainId`, `g:PrincipalOrgPath`, ...
    public var context: [(key: String, values: [ContextValue])]

    public init(
        label: String, principal: Principal, attachments: [(policy: String, via: String)], context: [(key: String, values: [ContextValue])] = []
    ) {
        self.label = label
        self.principal = principal
        self.attachments = attachments
        self.context = context
    }

    /// The attached documents among `documents`, in attachment order. A policy attached but
    /// not given is an error, as the gateway denies every call of such a caller (a missing
    /// policy might have denied).
    /// `among` names where the policies came from, for the message (`the policies given`).
    public func select(_ documents: [PolicyDocument], among: String, source: String) throws(PolicyLoadError) -> [PolicyDocument] {
        let byName = Dictionary(documents.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var selected: [PolicyDocument] = []
        var problems: [Diagnostic] = []
        var seen = Set<String>()
        for (name, via) in attachments where seen.insert(name).inserted {
            if let document = byName[name] {
                selected.append(document)
            } else {
                problems.append(
                    Diagnostic(
                        .badBinding, "\(label) has the policy \(JSONWriter.quoted(name)) attached \(via), but it is not among \(among)",
                        hint: "the gateway denies every call of a caller whose attached policy is missing",
                        at: SourceLocation(file: source)))
            }
        }
        if !problems.isEmpty { throw PolicyLoadError(problems) }
        return selected
    }

    /// The request as this caller's: the principal replaced by the bound one, and the
    /// caller's `context` set. A request that sets a principal key in its context
    /// (`g:PrincipalUrn`, `g:PrincipalTag/<k>`, ...) or one of the caller's keys is refused:
    /// the gateway reads those only from the caller, so deciding with them would answer a
    /// question the gateway never asks.
    public func bind(_ request: AuthorizationRequest, source: String) throws(PolicyLoadError) -> AuthorizationRequest {
        let callerKeys = Set(context.map(\.key))
        let principalKeys = request.explicitContext.keys.filter { $0.hasPrefix("g:principal") || callerKeys.contains($0) }.sorted()
        guard principalKeys.isEmpty else {
            throw PolicyLoadError([
                Diagnostic(
                    .badRequest, "the context sets \(principalKeys.joined(separator: ", ")), which come from \(label) under --user",
                    hint: "drop them from the request's context: the gateway reads principal keys only from the caller",
                    at: SourceLocation(file: source))
            ])
        }
        var bound = request
        bound.principal = principal
        for (key, values) in context { bound.setContext(normalizedKey: key, values) }
        return bound
    }
}
