/// The organization's profile: its ID (read-only) and the fields its owner or an
/// administrator may edit. `name` is required; the others may be cleared (nil).
///
/// The OU management guide lists "Organization ID" among the fields an owner may modify.
/// The system ID (`o-...`) is in every resource URN and policy, so it never changes; the
/// guide's editable ID is `organizationCode` (`organization_code`): the organization's own
/// identifier, such as its registration or company code, kept beside the system ID.
public struct OrganizationProfile: Sendable, Equatable {
    /// The editable fields, named as in the API and the database.
    public enum Field: String, Sendable, CaseIterable, Comparable {
        case name
        case organizationCode = "organization_code"
        case address
        case businessLicenseNumber = "business_license_number"
        case industry
        case country
        case scale

        public static func < (lhs: Field, rhs: Field) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public var id: String
    public var name: String
    public var organizationCode: String?
    public var address: String?
    public var businessLicenseNumber: String?
    public var industry: String?
    public var country: String?
    public var scale: String?

    public init(id: String, name: String) {
        self.id = id
        self.name = name
    }

    public subscript(field: Field) -> String? {
        get {
            switch field {
            case .name: name
            case .organizationCode: organizationCode
            case .address: address
            case .businessLicenseNumber: businessLicenseNumber
            case .industry: industry
            case .country: country
            case .scale: scale
            }
        }
        set {
            switch field {
            case .name: if let newValue { name = newValue }
            case .organizationCode: organizationCode = newValue
            case .address: address = newValue
            case .businessLicenseNumber: businessLicenseNumber = newValue
            case .industry: industry = newValue
            case .country: country = newValue
            case .scale: scale = newValue
            }
        }
    }
}
