/// The global condition keys (`g:`), whose names are case-insensitive.
///
/// `documented` is Huawei's list as `../shared/data/global-condition-keys.json` records it
/// (each key with its value type and whether it carries several values, where the
/// documentation says; `GlobalConditionKeysTests` holds the two together). A `g:` key on no
/// list still loads: lint warns (GH2018), and warns as a security matter inside a Deny
/// (GH2019), where a key no request carries quietly switches the Deny off.
public enum GlobalConditionKeys {
    /// A key's value type, as documented.
    public enum ValueType: String, Sendable {
        case string, bool, date
    }

    /// How far the documentation goes for a key.
    public enum Status: String, Sendable {
        case documented, mentioned, unverified
    }

    public struct DocumentedKey: Sendable {
        /// The canonical spelling; tagged keys end in `/<tag-key>`.
        public let spelling: String
        public let type: ValueType?
        public let multiValued: Bool?
        public let status: Status

        init(_ spelling: String, type: ValueType?, multiValued: Bool?, status: Status) {
            self.spelling = spelling
            self.type = type
            self.multiValued = multiValued
            self.status = status
        }
    }

    /// Huawei's global condition keys.
    public static let documented: [DocumentedKey] = [
        DocumentedKey("g:PrincipalUrn", type: .string, multiValued: false, status: .documented),
        DocumentedKey("g:PrincipalAccount", type: .string, multiValued: false, status: .documented),
        DocumentedKey("g:PrincipalOrgPath", type: .string, multiValued: false, status: .documented),
        DocumentedKey("g:PrincipalType", type: .string, multiValued: nil, status: .documented),
        DocumentedKey("g:PrincipalIsRootUser", type: .bool, multiValued: nil, status: .documented),
        DocumentedKey("g:PrincipalId", type: nil, multiValued: nil, status: .mentioned),
        DocumentedKey("g:PrincipalOrgId", type: nil, multiValued: nil, status: .mentioned),
        DocumentedKey("g:PrincipalOrgManagementAccountId", type: nil, multiValued: nil, status: .mentioned),
        DocumentedKey("g:PrincipalTag/<tag-key>", type: nil, multiValued: nil, status: .documented),
        DocumentedKey("g:UserName", type: .string, multiValued: nil, status: .documented),
        DocumentedKey("g:UserId", type: .string, multiValued: nil, status: .documented),
        DocumentedKey("g:DomainId", type: .string, multiValued: nil, status: .mentioned),
        DocumentedKey("g:DomainName", type: .string, multiValued: nil, status: .documented),
        DocumentedKey("g:ProjectName", type: .string, multiValued: nil, status: .documented),
        DocumentedKey("g:SourceIp", type: nil, multiValued: nil, status: .mentioned),
        DocumentedKey("g:SourceVpc", type: nil, multiValued: nil, status: .mentioned),
        DocumentedKey("g:SourceVpce", type: nil, multiValued: false, status: .documented),
        DocumentedKey("g:ResourceTag/<tag-key>", type: nil, multiValued: nil, status: .documented),
        DocumentedKey("g:EnterpriseProjectId", type: nil, multiValued: nil, status: .mentioned),
        DocumentedKey("g:RequestTag/<tag-key>", type: nil, multiValued: nil, status: .documented),
        DocumentedKey("g:TagKeys", type: nil, multiValued: true, status: .documented),
        DocumentedKey("g:RequestedRegion", type: .string, multiValued: nil, status: .documented),
        DocumentedKey("g:CurrentTime", type: .date, multiValued: nil, status: .documented),
        DocumentedKey("g:MFAPresent", type: .bool, multiValued: nil, status: .documented),
        DocumentedKey("g:CalledVia", type: nil, multiValued: true, status: .documented),
        DocumentedKey("g:SourceAccount", type: nil, multiValued: nil, status: .documented),
        DocumentedKey("g:SourceUrn", type: nil, multiValued: nil, status: .documented),
        DocumentedKey("g:MFAAge", type: nil, multiValued: nil, status: .unverified),
        DocumentedKey("g:TokenIssueTime", type: nil, multiValued: nil, status: .unverified),
        DocumentedKey("g:SourceIdentity", type: nil, multiValued: nil, status: .unverified),
        DocumentedKey("g:VpcSourceIp", type: nil, multiValued: nil, status: .unverified),
        DocumentedKey("g:SecureTransport", type: nil, multiValued: nil, status: .unverified),
        DocumentedKey("g:ViaService", type: nil, multiValued: nil, status: .unverified),
        DocumentedKey("g:CalledViaFirst", type: nil, multiValued: nil, status: .unverified),
        DocumentedKey("g:CalledViaLast", type: nil, multiValued: nil, status: .unverified),
        DocumentedKey("g:UserAgent", type: nil, multiValued: nil, status: .unverified),
        DocumentedKey("g:Referer", type: nil, multiValued: nil, status: .unverified),
        DocumentedKey("g:ResourceOrgId", type: nil, multiValued: nil, status: .unverified),
    ]

    /// Keys Gatehouse fills that are on no Huawei list (`g:EpochTime`, the time in seconds).
    public static let gatehouseKeys = ["g:EpochTime"]

    /// Keys with a tag-key suffix: `g:ResourceTag/<tag-key>` and friends (lowercased).
    public static let taggedPrefixes: [String] = documented.compactMap { key in
        key.spelling.hasSuffix("/<tag-key>") ? String(key.spelling.dropLast("<tag-key>".count)).lowercased() : nil
    }

    /// Every plain global key, lowercased, with its canonical spelling.
    public static let plain: [String: String] = Dictionary(
        uniqueKeysWithValues: (documented.map(\.spelling).filter { !$0.hasSuffix("/<tag-key>") } + gatehouseKeys).map { ($0.lowercased(), $0) })

    /// Canonical spellings of the tagged prefixes, for messages.
    public static let taggedSpellings: [String] = documented.compactMap { key in
        key.spelling.hasSuffix("/<tag-key>") ? String(key.spelling.dropLast("<tag-key>".count)) : nil
    }

    /// Whether a (lowercased) key is a documented global key or one Gatehouse fills.
    public static func isKnown(_ normalizedKey: String) -> Bool {
        plain[normalizedKey] != nil || taggedPrefixes.contains { normalizedKey.hasPrefix($0) }
    }

    /// Keys that carry several values in one request.
    public static let multiValued: Set<String> = Set(documented.filter { $0.multiValued == true }.map { $0.spelling.lowercased() })

    private static let types: [String: ValueType] = Dictionary(
        uniqueKeysWithValues: documented.compactMap { key in key.type.map { (key.spelling.lowercased(), $0) } })

    /// What kind of value a key holds, for lint's type checks (nil: unknown). The documented
    /// type where there is one; Gatehouse's reading of the rest it fills (an address, a
    /// flag, a time).
    public static func valueKind(of normalizedKey: String) -> ConditionTest? {
        switch normalizedKey {
        case "g:sourceip", "g:vpcsourceip": return .ipAddress
        case "g:currenttime", "g:tokenissuetime": return .date(.equals)
        case "g:securetransport", "g:mfapresent": return .bool
        default: break
        }
        switch types[normalizedKey] {
        case .string?: return .string(.equals)
        case .bool?: return .bool
        case .date?: return .date(.equals)
        case nil: return nil
        }
    }
}
