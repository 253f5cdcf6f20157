/// The documented format of an ID in a path of the Organizations API. Every path parameter
/// of the route catalog has one, and a call whose parameter does not fit is refused (400)
/// before anything is looked up with it: an ID that cannot be an ID never reaches a tag
/// lookup, a URN or the account service.
///
/// Sources: the API reference (`support.huaweicloud.com/api-organizations/<Operation>.md`,
/// "取值范围") and, where a page gives none, the official PHP SDK's request models
/// (`huaweicloud-sdk-php-v3` 3.1.193, `Services/Organizations/V1/Model/*Request.php`), which
/// check the same patterns; the two agree wherever both say.
public enum IdentifierFormat: String, Sendable, CaseIterable {
    /// `[A-Za-z0-9_-]{1,64}`: UpdateAccount, ShowAccount, CloseAccount, MoveAccount, RemoveAccount.
    case account
    /// `ou-[0-9a-z]{8,32}`: ShowOrganizationalUnit.
    case organizationalUnit = "organizational_unit"
    /// `r-[0-9a-z]{4,32}` (SDK `RootDto`).
    case root
    /// `p-[0-9a-zA-Z_]{8,128}`: ShowPolicy, UpdatePolicy (and the dry-run policy APIs).
    case policy
    /// `h-[0-9a-z]{8,32}`: AcceptHandshake.
    case handshake
    /// `car-[0-9a-z]{8,32}`: ShowCreateAccountStatus.
    case createAccountStatus = "create_account_status"
    /// A root, OU, account or policy ID, at most 130 characters: the tag APIs' `resource_id`.
    case taggableResource = "taggable_resource"
    /// `organizations:accounts`, `organizations:ous`, `organizations:roots` or
    /// `organizations:policies`: the per-type tag APIs' `resource_type`.
    case resourceType = "resource_type"
    /// `ot-` and 1 to 16 lowercase hex digits: Gatehouse's own ownership transfers.
    case ownerTransfer = "owner_transfer"

    /// The format a path parameter of this name has unless its route says otherwise
    /// (`formats` in the catalog).
    public static func forParameter(named name: String) -> IdentifierFormat? {
        switch name {
        case "account_id": .account
        case "organizational_unit_id": .organizationalUnit
        case "root_id": .root
        case "policy_id": .policy
        case "handshake_id": .handshake
        case "create_account_status_id": .createAccountStatus
        // A parent (root or OU) and a policy's entity (root, OU or account) are IDs of several types.
        case "resource_id", "parent_id", "entity_id": .taggableResource
        case "resource_type": .resourceType
        case "transfer_id": .ownerTransfer
        default: nil
        }
    }

    /// The tag APIs' resource types (`resource_type`).
    public static let resourceTypes: Set<String> = ["organizations:accounts", "organizations:ous", "organizations:roots", "organizations:policies"]

    /// Whether a (decoded) path parameter has this format.
    public func accepts(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        switch self {
        case .account: return (1...64).contains(bytes.count) && bytes.allSatisfy(Self.isWordOrDash)
        case .organizationalUnit: return Self.prefixed("ou-", bytes, 8...32, Self.isLowerAlphanumeric)
        case .root: return Self.prefixed("r-", bytes, 4...32, Self.isLowerAlphanumeric)
        case .policy: return Self.prefixed("p-", bytes, 8...128, { Self.isWordOrDash($0) && $0 != UInt8(ascii: "-") })
        case .handshake: return Self.prefixed("h-", bytes, 8...32, Self.isLowerAlphanumeric)
        case .createAccountStatus: return Self.prefixed("car-", bytes, 8...32, Self.isLowerAlphanumeric)
        // The SDK's union of root, OU, account and policy IDs comes to this: each is words and dashes.
        case .taggableResource: return (1...130).contains(bytes.count) && bytes.allSatisfy(Self.isWordOrDash)
        case .resourceType: return Self.resourceTypes.contains(value)
        case .ownerTransfer: return Self.prefixed("ot-", bytes, 1...16, { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        }
    }

    /// The format in words, for the 400 a caller gets.
    public var description: String {
        switch self {
        case .account: "an account ID is 1 to 64 letters, digits, _ or -"
        case .organizationalUnit: "an OU ID is ou- and 8 to 32 lowercase letters or digits"
        case .root: "a root ID is r- and 4 to 32 lowercase letters or digits"
        case .policy: "a policy ID is p- and 8 to 128 letters, digits or _"
        case .handshake: "a handshake ID is h- and 8 to 32 lowercase letters or digits"
        case .createAccountStatus: "an account creation status ID is car- and 8 to 32 lowercase letters or digits"
        case .taggableResource: "a resource ID (root, OU, account or policy) is 1 to 130 letters, digits, _ or -"
        case .resourceType: "the resource type is one of \(Self.resourceTypes.sorted().joined(separator: ", "))"
        case .ownerTransfer: "a transfer ID is ot- and 1 to 16 lowercase hex digits"
        }
    }

    /// ASCII letters, digits, `_` and `-` (the SDK's `[\w-]`, ASCII only).
    private static func isWordOrDash(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, UInt8(ascii: "_"), UInt8(ascii: "-"): true
        default: false
        }
    }

    private static func isLowerAlphanumeric(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) || (0x61...0x7A).contains(byte) }

    private static func prefixed(_ prefix: StaticString, _ bytes: [UInt8], _ length: ClosedRange<Int>, _ allowed: (UInt8) -> Bool) -> Bool {
        prefix.withUTF8Buffer { prefix in
            bytes.starts(with: prefix) && length.contains(bytes.count - prefix.count) && bytes[prefix.count...].allSatisfy(allowed)
        }
    }
}
