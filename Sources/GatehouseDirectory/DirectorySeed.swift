import GatehousePolicy

/// What the directory holds, as a seed file (`samples/directory.json`): the organization,
/// its root and organizational units, its accounts and their tags, users and groups, and
/// which policies are attached to whom.
///
/// ```json
/// {"organization": {"id": "o-…", "name": "Example Corp", "management_account_id": "0a6d…", "owner": "owner",
///                   "root_id": "r-…"},
///  "organizational_units": [{"id": "ou-…", "name": "workloads", "parent_id": "r-…"}],
///  "accounts": [{"id": "0526…", "name": "dev-sandbox", "parent_id": "ou-…", "tags": {"env": "dev"}}],
///  "delegated_administrators": ["…"],
///  "users": [{"id": "u-3", "name": "dev_only", "account_id": "0a6d…", "role": "user", "tags": {}, "policies": ["dev-accounts-update"]}],
///  "groups": [{"name": "org-admins", "members": ["admin"], "policies": ["organizations-admin"]}]}
/// ```
public struct DirectorySeed: Sendable, Equatable {
    public struct Organization: Sendable, Equatable {
        public var id: String
        public var name: String
        public var managementAccountId: String
        /// The owner's user name.
        public var owner: String
        /// The root of the organization's tree of OUs (`r-…`); nil in a directory made before
        /// the tree was kept, where the caller's `g:PrincipalOrgPath` is then unknown.
        public var rootId: String? = nil
    }

    /// An organizational unit: a node of the tree under the root that accounts are placed in.
    public struct OrganizationalUnit: Sendable, Equatable {
        public var id: String
        public var name: String
        /// The root's ID or another OU's.
        public var parentId: String
    }

    public struct Account: Sendable, Equatable {
        public var id: String
        public var name: String
        public var email: String?
        public var tags: [String: String]
        /// The OU the account is placed in; nil for the root.
        public var parentId: String? = nil
    }

    public enum Role: String, Sendable, CaseIterable {
        case owner, admin, user
    }

    public struct User: Sendable, Equatable {
        public var id: String
        public var name: String
        public var accountId: String
        public var email: String?
        public var role: Role
        public var tags: [String: String]
        public var policies: [String]
        public var disabled: Bool

        /// `iam::<account-id>:user:<name>`.
        public var urn: String { "iam::\(accountId):user:\(name)" }
    }

    public struct Group: Sendable, Equatable {
        public var name: String
        public var members: [String]
        public var policies: [String]
    }

    public var organization: Organization
    public var accounts: [Account]
    public var delegatedAdministrators: [String]
    public var users: [User]
    public var groups: [Group]
    public var organizationalUnits: [OrganizationalUnit] = []

    /// The policy names attached to a user directly and through groups, each once, in order.
    public func policies(for user: User) -> [String] {
        var names = user.policies
        for group in groups where group.members.contains(user.name) { names.append(contentsOf: group.policies) }
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }

    public func account(_ id: String) -> Account? { accounts.first { $0.id == id } }

    /// An account's URN: `organizations::<management-account-id>:account:<organization-id>/<account-id>`.
    public func accountURN(_ id: String) -> String {
        "organizations::\(organization.managementAccountId):account:\(organization.id)/\(id)"
    }

    public func user(urn: String) -> User? { users.first { $0.urn == urn } }

    /// An account's place in the organization, as Huawei's `g:PrincipalOrgPath` gives it:
    /// `<organization-id>/<root-id>/(<ou-id>/)*<account-id>`, the OUs from the root down.
    /// Nil for an account outside the organization, or when the directory has no root ID.
    /// The seed reader refuses an unknown parent or a cycle; a walk longer than the number
    /// of OUs is taken as a cycle all the same (nil), never an endless loop.
    public func organizationPath(ofAccount id: String) -> String? {
        guard let rootId = organization.rootId, let account = account(id) else { return nil }
        // A walk up a tree a few levels deep: a search per level, no table
        // per call (every user's keys are made when a view is).
        var units: [String] = []
        var next = account.parentId
        while let unit = next, unit != rootId {
            guard units.count < organizationalUnits.count, let parent = organizationalUnits.first(where: { $0.id == unit })?.parentId else {
                return nil
            }
            units.append(unit)
            next = parent
        }
        return ([organization.id, rootId] + units.reversed() + [id]).joined(separator: "/")
    }

    /// The principal a user calls as.
    public func principal(for user: User) -> Principal {
        Principal(urn: user.urn, accountId: user.accountId, id: user.id, tags: user.tags)
    }

    /// The global condition keys (lowercased) whose values come from the directory
    /// rather than from the principal or the call: `callerKeys(for:)` gives them.
    public static let callerKeyNames: Set<String> = [
        "g:principaltype", "g:userid", "g:username", "g:domainid", "g:domainname", "g:principalorgid",
        "g:principalorgmanagementaccountid", "g:principalorgpath", "g:principalisrootuser", "g:resourceorgid",
    ]

    /// A user's values of `callerKeys`, by lowercased key, as every call of theirs carries
    /// them: the gateway fills the ones a policy set tests, and `eval`/`explain --user` and
    /// `diff`'s generated requests set all of them, so the three decide alike. Directory
    /// users are IAM users of type `User`, never an account's root user; every resource the
    /// catalog names is the organization's (`g:ResourceOrgId`). `g:DomainName` and
    /// `g:PrincipalOrgPath` are left out when the directory cannot say (absent, as
    /// documented).
    public func callerKeys(for user: User) -> [(key: String, values: [ContextValue])] {
        var keys: [(key: String, values: [ContextValue])] = [
            ("g:principaltype", [.string("User")]), ("g:userid", [.string(user.id)]), ("g:username", [.string(user.name)]),
            ("g:domainid", [.string(user.accountId)]), ("g:principalorgid", [.string(organization.id)]),
            ("g:principalorgmanagementaccountid", [.string(organization.managementAccountId)]),
            ("g:principalisrootuser", [.bool(false)]), ("g:resourceorgid", [.string(organization.id)]),
        ]
        if let name = account(user.accountId)?.name { keys.append(("g:domainname", [.string(name)])) }
        if let path = organizationPath(ofAccount: user.accountId) { keys.append(("g:principalorgpath", [.string(path)])) }
        return keys
    }
}

extension DirectorySeed {
    /// Reads and validates a seed file; every problem is reported with its place (GH4001).
    public static func load(_ file: String) throws(PolicyLoadError) -> DirectorySeed {
        let (bytes, json) = try DiagnosticCollector.readJSON(file, code: .badDirectory)
        var reader = SeedReader()
        let seed = reader.seed(json)
        try reader.collector.check(file: file, bytes: bytes)
        return seed!
    }
}

/// Reads one seed document, reporting instead of stopping so every problem is listed.
struct SeedReader {
    var collector = DiagnosticCollector()

    mutating func report(_ message: String, at path: JSONPath, atKey: Bool = false) {
        collector.report(.badDirectory, message, at: path, atKey: atKey)
    }

    mutating func string(_ json: JSONValue?, _ name: String, at path: JSONPath, required: Bool = true) -> String? {
        guard let json else {
            if required { report("\(name) is missing", at: path) }
            return nil
        }
        guard case .string(let text) = json, !text.isEmpty else {
            report("\(name) must be a non-empty string", at: path.appending(name))
            return nil
        }
        return text
    }

    mutating func strings(_ json: JSONValue?, _ name: String, at path: JSONPath) -> [String] {
        guard let json else { return [] }
        guard case .array(let items) = json else {
            report("\(name) must be a list of strings", at: path.appending(name))
            return []
        }
        var result: [String] = []
        for (index, item) in items.enumerated() {
            if case .string(let text) = item, !text.isEmpty {
                result.append(text)
            } else {
                report("\(name) holds non-empty strings", at: path.appending(name).appending(index))
            }
        }
        return result
    }

    mutating func tags(_ json: JSONValue?, at path: JSONPath) -> [String: String] {
        guard let json else { return [:] }
        guard case .object(let members) = json else {
            report("tags must be an object of key -> value", at: path.appending("tags"))
            return [:]
        }
        var tags: [String: String] = [:]
        for (key, value) in members {
            let tagPath = path.appending("tags").appending(key)
            guard (1...128).contains(key.count) else {
                report("tag keys have 1 to 128 characters", at: tagPath, atKey: true)
                continue
            }
            guard case .string(let text) = value else {
                report("tag values are strings (possibly empty), never null", at: tagPath)
                continue
            }
            tags[key] = text
        }
        return tags
    }

    mutating func unknownMembers(_ json: JSONValue, allowed: Set<String>, at path: JSONPath) {
        guard case .object(let members) = json else { return }
        for (key, _) in members where !allowed.contains(key) {
            report(
                "unknown member \(JSONWriter.quoted(key)); allowed: \(allowed.sorted().joined(separator: ", "))", at: path.appending(key), atKey: true
            )
        }
    }

    /// A string member in an ID format, reported with the format's own words when it is not.
    mutating func identifier(_ json: JSONValue?, _ name: String, _ format: IdentifierFormat, at path: JSONPath, required: Bool = true) -> String? {
        guard let id = string(json, name, at: path, required: required) else { return nil }
        if !format.accepts(id) { report(format.description, at: path.appending(name)) }
        return id
    }

    /// The organization's tree: each OU's parent must be the root or a listed OU, and
    /// following parents from any OU must reach the root (no cycle).
    mutating func organizationalUnits(_ json: JSONValue?, rootId: String?) -> [DirectorySeed.OrganizationalUnit] {
        guard let json else { return [] }
        guard case .array(let items) = json else {
            report("organizational_units must be a list of OUs", at: .root)
            return []
        }
        var units: [(unit: DirectorySeed.OrganizationalUnit, path: JSONPath)] = []
        for (index, item) in items.enumerated() {
            let path = JSONPath([.key("organizational_units"), .index(index)])
            guard case .object = item else {
                report("an organizational unit is an object {id, name, parent_id}", at: path)
                continue
            }
            unknownMembers(item, allowed: ["id", "name", "parent_id"], at: path)
            guard let id = identifier(item["id"], "id", .organizationalUnit, at: path), let name = string(item["name"], "name", at: path),
                let parentId = string(item["parent_id"], "parent_id", at: path)
            else { continue }
            if units.contains(where: { $0.unit.id == id }) { report("organizational unit \(id) is listed twice", at: path.appending("id")) }
            units.append((.init(id: id, name: name, parentId: parentId), path))
        }
        if !units.isEmpty, rootId == nil {
            report("organizational units need the organization's root_id", at: JSONPath([.key("organization")]))
            return units.map(\.unit)
        }
        let parents = Dictionary(units.map { ($0.unit.id, $0.unit.parentId) }, uniquingKeysWith: { first, _ in first })
        for (unit, path) in units {
            guard checkParent(unit.parentId, rootId: rootId, units: parents, at: path) else { continue }
            var next = unit.parentId
            var steps = 0
            while next != rootId, let parent = parents[next] {
                steps += 1
                if next == unit.id {
                    report(
                        "the parents of organizational unit \(unit.id) go round in a cycle and never reach the root", at: path.appending("parent_id"))
                    break
                }
                if steps > units.count {
                    report(
                        "organizational unit \(unit.id) sits below a cycle of parents and never reaches the root", at: path.appending("parent_id"))
                    break
                }
                next = parent
            }
        }
        return units.map(\.unit)
    }

    /// Whether a parent (of an OU or an account) is the root or a listed OU; reported if not.
    mutating func checkParent(_ parentId: String, rootId: String?, units: [String: String], at path: JSONPath) -> Bool {
        guard parentId != rootId && units[parentId] == nil else { return true }
        report("parent \(parentId) is neither the root nor a listed organizational unit", at: path.appending("parent_id"))
        return false
    }

    mutating func seed(_ json: JSONValue) -> DirectorySeed? {
        guard case .object = json else {
            report("a directory seed is a JSON object", at: .root)
            return nil
        }
        unknownMembers(json, allowed: ["organization", "organizational_units", "accounts", "delegated_administrators", "users", "groups"], at: .root)
        let orgPath = JSONPath.root.appending("organization")
        var organization = DirectorySeed.Organization(id: "", name: "", managementAccountId: "", owner: "")
        if let org = json["organization"], case .object = org {
            unknownMembers(org, allowed: ["id", "name", "management_account_id", "owner", "root_id"], at: orgPath)
            organization.id = string(org["id"], "id", at: orgPath) ?? ""
            organization.name = string(org["name"], "name", at: orgPath) ?? ""
            organization.managementAccountId = string(org["management_account_id"], "management_account_id", at: orgPath) ?? ""
            organization.owner = string(org["owner"], "owner", at: orgPath) ?? ""
            organization.rootId = identifier(org["root_id"], "root_id", .root, at: orgPath, required: false)
        } else {
            report("organization must be an object {id, name, management_account_id, owner}", at: .root)
        }

        let units = organizationalUnits(json["organizational_units"], rootId: organization.rootId)
        let parents = Dictionary(units.map { ($0.id, $0.parentId) }, uniquingKeysWith: { first, _ in first })

        var accounts: [DirectorySeed.Account] = []
        if case .array(let items)? = json["accounts"] {
            for (index, item) in items.enumerated() {
                let path = JSONPath([.key("accounts"), .index(index)])
                guard case .object = item else {
                    report("an account is an object {id, name, email, parent_id, tags}", at: path)
                    continue
                }
                unknownMembers(item, allowed: ["id", "name", "email", "parent_id", "tags"], at: path)
                guard let id = identifier(item["id"], "id", .account, at: path), let name = string(item["name"], "name", at: path) else { continue }
                if accounts.contains(where: { $0.id == id }) { report("account \(id) is listed twice", at: path.appending("id")) }
                let parentId = string(item["parent_id"], "parent_id", at: path, required: false)
                if let parentId {
                    if organization.rootId == nil {
                        report("an account's parent_id needs the organization's root_id", at: path.appending("parent_id"))
                    } else {
                        _ = checkParent(parentId, rootId: organization.rootId, units: parents, at: path)
                    }
                }
                accounts.append(
                    .init(
                        id: id, name: name, email: string(item["email"], "email", at: path, required: false), tags: tags(item["tags"], at: path),
                        // The root is written as no parent, so a seed names it one way only.
                        parentId: parentId == organization.rootId ? nil : parentId))
            }
        } else {
            report("accounts must be a list of accounts", at: .root)
        }
        if !organization.managementAccountId.isEmpty, !accounts.contains(where: { $0.id == organization.managementAccountId }) {
            report(
                "the management account \(organization.managementAccountId) is not among the accounts", at: orgPath.appending("management_account_id")
            )
        }

        let delegated = strings(json["delegated_administrators"], "delegated_administrators", at: .root)
        for (index, id) in delegated.enumerated() where !accounts.contains(where: { $0.id == id }) || id == organization.managementAccountId {
            report(
                "delegated administrators are member accounts of the organization", at: JSONPath([.key("delegated_administrators"), .index(index)]))
        }

        var users: [DirectorySeed.User] = []
        if case .array(let items)? = json["users"] {
            for (index, item) in items.enumerated() {
                let path = JSONPath([.key("users"), .index(index)])
                guard case .object = item else {
                    report("a user is an object {id, name, account_id, email, role, tags, policies}", at: path)
                    continue
                }
                unknownMembers(item, allowed: ["id", "name", "account_id", "email", "role", "tags", "policies", "disabled"], at: path)
                guard let id = string(item["id"], "id", at: path), let name = string(item["name"], "name", at: path),
                    let accountId = string(item["account_id"], "account_id", at: path)
                else { continue }
                if !accounts.contains(where: { $0.id == accountId }) {
                    report("account \(accountId) is not among the accounts", at: path.appending("account_id"))
                }
                if users.contains(where: { $0.id == id || $0.name == name }) { report("user IDs and names are unique", at: path) }
                var role = DirectorySeed.Role.user
                if let raw = item["role"] {
                    if case .string(let text) = raw, let parsed = DirectorySeed.Role(rawValue: text) {
                        role = parsed
                    } else {
                        report("role is one of owner, admin, user", at: path.appending("role"))
                    }
                }
                var disabled = false
                if let raw = item["disabled"] {
                    if case .bool(let flag) = raw { disabled = flag } else { report("disabled is true or false", at: path.appending("disabled")) }
                }
                users.append(
                    .init(
                        id: id, name: name, accountId: accountId, email: string(item["email"], "email", at: path, required: false), role: role,
                        tags: tags(item["tags"], at: path), policies: strings(item["policies"], "policies", at: path), disabled: disabled))
            }
        } else {
            report("users must be a list of users", at: .root)
        }
        if !organization.owner.isEmpty {
            if let owner = users.first(where: { $0.name == organization.owner }) {
                if owner.role != .owner { report("the owner \(owner.name) must have role owner", at: orgPath.appending("owner")) }
            } else {
                report("the owner \(organization.owner) is not among the users", at: orgPath.appending("owner"))
            }
        }
        for (index, user) in users.enumerated() where user.role == .owner && user.name != organization.owner {
            report("only the organization's owner has role owner", at: JSONPath([.key("users"), .index(index), .key("role")]))
        }

        var groups: [DirectorySeed.Group] = []
        if let raw = json["groups"] {
            if case .array(let items) = raw {
                for (index, item) in items.enumerated() {
                    let path = JSONPath([.key("groups"), .index(index)])
                    unknownMembers(item, allowed: ["name", "members", "policies"], at: path)
                    guard let name = string(item["name"], "name", at: path) else { continue }
                    let members = strings(item["members"], "members", at: path)
                    for (offset, member) in members.enumerated() where !users.contains(where: { $0.name == member }) {
                        report("member \(member) is not among the users", at: path.appending("members").appending(offset))
                    }
                    groups.append(.init(name: name, members: members, policies: strings(item["policies"], "policies", at: path)))
                }
            } else {
                report("groups must be a list of groups", at: .root)
            }
        }
        return DirectorySeed(
            organization: organization, accounts: accounts, delegatedAdministrators: delegated, users: users, groups: groups,
            organizationalUnits: units)
    }
}

extension DirectorySeed {
    /// How the gateway decides for the user named `name`: their attached policies (directly,
    /// then through each group they are in, as `policies(for:)` orders them) and their
    /// principal. An unknown or disabled user is an error: the gateway refuses every call
    /// of theirs before any policy. `source` names the directory in messages.
    public func binding(forUser name: String, source: String) throws(PolicyLoadError) -> PrincipalBinding {
        guard let user = users.first(where: { $0.name == name }) else {
            let known = users.map(\.name).sorted().joined(separator: ", ")
            throw PolicyLoadError([
                Diagnostic(
                    .badDirectory, "no user \(JSONWriter.quoted(name)) in the directory", hint: "its users: \(known)",
                    at: SourceLocation(file: source))
            ])
        }
        guard !user.disabled else {
            throw PolicyLoadError([
                Diagnostic(
                    .badDirectory, "the user \(JSONWriter.quoted(name)) is disabled: the gateway refuses every call of theirs before any policy",
                    at: SourceLocation(file: source))
            ])
        }
        var attachments = user.policies.map { (policy: $0, via: "directly") }
        for group in groups where group.members.contains(user.name) {
            attachments += group.policies.map { (policy: $0, via: "through the group \(JSONWriter.quoted(group.name))") }
        }
        return PrincipalBinding(
            label: "the user \(JSONWriter.quoted(name))", principal: principal(for: user), attachments: attachments, context: callerKeys(for: user))
    }
}

extension DiagnosticCode {
    /// A directory seed (or database) that cannot be read as one.
    public static let badDirectory = DiagnosticCode("GH4001", title: "Invalid directory seed")
}
