/// The global condition keys (`g:`), whose names are case-insensitive.
public enum GlobalConditionKeys {
    /// Keys with a tag-key suffix: `g:ResourceTag/<tag-key>` and friends (lowercased).
    public static let taggedPrefixes: [String] = ["g:resourcetag/", "g:requesttag/", "g:principaltag/"]

    /// Every plain global key, lowercased, with its canonical spelling.
    public static let plain: [String: String] = Dictionary(
        uniqueKeysWithValues: [
            "g:TagKeys", "g:PrincipalUrn", "g:PrincipalId", "g:PrincipalAccount", "g:PrincipalType", "g:UserName",
            "g:DomainName", "g:SourceIp", "g:CurrentTime", "g:EpochTime", "g:SecureTransport", "g:UserAgent",
            "g:MFAPresent", "g:RequestedRegion", "g:UserId", "g:TokenIssueTime",
        ].map { ($0.lowercased(), $0) })

    /// Canonical spellings of the tagged prefixes, for messages.
    public static let taggedSpellings = ["g:ResourceTag/", "g:RequestTag/", "g:PrincipalTag/"]

    /// Keys that carry several values in one request.
    public static let multiValued: Set<String> = ["g:tagkeys"]

    /// What kind of value a key holds, for lint's type checks (nil: string or unknown).
    public static func valueKind(of normalizedKey: String) -> ConditionTest? {
        switch normalizedKey {
        case "g:sourceip": return .ipAddress
        case "g:currenttime", "g:tokenissuetime": return .date(.equals)
        case "g:securetransport", "g:mfapresent": return .bool
        default: return nil
        }
    }
}
