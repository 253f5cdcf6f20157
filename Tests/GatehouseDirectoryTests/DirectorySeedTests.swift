import Foundation
import GatehouseDirectory
import GatehousePolicy
import Testing

/// The diagnostics of loading `text` as a seed file (empty when it loads).
func seedErrors(_ text: String) throws -> [Diagnostic] {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-\(UUID().uuidString).json")
    try Data(text.utf8).write(to: url)
    defer { try? FileManager.default.removeItem(at: url) }
    do {
        _ = try DirectorySeed.load(url.path)
        return []
    } catch {
        return error.diagnostics
    }
}

@Suite struct DirectorySeedTests {
    @Test func sampleDirectoryAttachesPoliciesDirectlyAndThroughGroups() throws {
        let seed = try DirectorySeed.load(sampleSeed)
        let admin = try #require(seed.users.first { $0.name == "admin" })
        #expect(seed.policies(for: admin) == ["organizations-admin", "deny-protected-accounts"])
        let devOnly = try #require(seed.user(urn: "iam::\(seed.organization.managementAccountId):user:dev_only"))
        #expect(seed.policies(for: devOnly) == ["dev-accounts-update", "deny-protected-accounts", "require-mfa"])
        #expect(seed.principal(for: devOnly).tags == ["team": "core"])
        #expect(seed.accounts.contains { $0.tags == ["env": "dev"] } && seed.accounts.contains { $0.tags == ["env": "prod"] })
    }

    /// `g:PrincipalOrgPath`'s value, as Huawei documents it: organization, root, the OUs from
    /// the root down, the account.
    @Test func anAccountsOrganizationPathRunsFromTheRootDown() throws {
        var seed = try DirectorySeed.load(sampleSeed)
        let (org, root) = (seed.organization.id, try #require(seed.organization.rootId))
        #expect(
            seed.organizationPath(ofAccount: "05261f923e80d3890f33c0056e9b3f80")
                == "\(org)/\(root)/ou-4a7c2e9b1d3f/ou-6d0e3a8c5b2f/05261f923e80d3890f33c0056e9b3f80")
        #expect(seed.organizationPath(ofAccount: seed.organization.managementAccountId) == "\(org)/\(root)/\(seed.organization.managementAccountId)")
        #expect(seed.organizationPath(ofAccount: "not-a-member") == nil)
        // A directory made before the tree was kept knows no path.
        seed.organization.rootId = nil
        #expect(seed.organizationPath(ofAccount: seed.organization.managementAccountId) == nil)
    }

    @Test func anInvalidTreeOfOrganizationalUnitsIsReportedInPlace() throws {
        let errors = try seedErrors(
            """
            {"organization": {"id": "o-1", "name": "X", "management_account_id": "m", "owner": "o", "root_id": "r-abcd"},
             "organizational_units": [{"id": "ou-aaaaaaaa", "name": "a", "parent_id": "ou-bbbbbbbb"},
                                      {"id": "ou-bbbbbbbb", "name": "b", "parent_id": "ou-aaaaaaaa"},
                                      {"id": "OU-1", "name": "c", "parent_id": "r-abcd"},
                                      {"id": "ou-cccccccc", "name": "d", "parent_id": "ou-missing1"},
                                      {"id": "ou-dddddddd", "name": "e", "parent_id": "ou-aaaaaaaa"}],
             "accounts": [{"id": "m", "name": "management", "parent_id": "ou-nowhere1"}, {"id": "n", "name": "n", "parent_id": "r-abcd"}],
             "users": [{"id": "u1", "name": "o", "account_id": "m", "role": "owner"}]}
            """)
        let found = errors.map { "\($0.location.line ?? 0): \($0.message)" }
        #expect(found.contains { $0.hasPrefix("2: the parents of organizational unit ou-aaaaaaaa go round in a cycle") })
        #expect(found.contains { $0.hasPrefix("3: the parents of organizational unit ou-bbbbbbbb go round in a cycle") })
        #expect(found.contains { $0.hasPrefix("4: an OU ID is ou- and 8 to 32") })
        #expect(found.contains { $0.hasPrefix("5: parent ou-missing1 is neither the root nor a listed organizational unit") })
        #expect(found.contains { $0.hasPrefix("6: organizational unit ou-dddddddd sits below a cycle of parents") })
        #expect(found.contains { $0.hasPrefix("7: parent ou-nowhere1 is neither the root") })
        #expect(errors.count == 6, "\(found)")

        let rootless = try seedErrors(
            """
            {"organization": {"id": "o-1", "name": "X", "management_account_id": "m", "owner": "o", "root_id": "root"},
             "organizational_units": [{"id": "ou-aaaaaaaa", "name": "a", "parent_id": "r-abcd"}],
             "accounts": [{"id": "m", "name": "management"}],
             "users": [{"id": "u1", "name": "o", "account_id": "m", "role": "owner"}]}
            """
        ).map(\.message)
        #expect(
            rootless == [
                "a root ID is r- and 4 to 32 lowercase letters or digits", "parent r-abcd is neither the root nor a listed organizational unit",
            ])
        let missingRoot = try seedErrors(
            """
            {"organization": {"id": "o-1", "name": "X", "management_account_id": "m", "owner": "o"},
             "organizational_units": [{"id": "ou-aaaaaaaa", "name": "a", "parent_id": "r-abcd"}],
             "accounts": [{"id": "m", "name": "management", "parent_id": "r-abcd"}],
             "users": [{"id": "u1", "name": "o", "account_id": "m", "role": "owner"}]}
            """
        ).map(\.message)
        #expect(missingRoot == ["organizational units need the organization's root_id", "an account's parent_id needs the organization's root_id"])
    }

    @Test func invalidSeedsReportEveryProblem() throws {
        let errors = try seedErrors(
            """
            {"organization": {"id": "o-1", "name": "X", "management_account_id": "m", "owner": "nobody"},
             "accounts": [{"id": "m", "name": "management"}, {"id": "bad id", "name": "x", "tags": {"env": null}}],
             "delegated_administrators": ["m"],
             "users": [{"id": "u1", "name": "a", "account_id": "missing", "role": "root"}],
             "groups": [{"name": "g", "members": ["ghost"]}]}
            """)
        let messages = errors.map(\.message)
        #expect(errors.allSatisfy { $0.code == .badDirectory })
        #expect(messages.contains { $0.contains("owner nobody is not among the users") })
        #expect(messages.contains { $0.contains("an account ID is 1 to 64") })
        #expect(messages.contains { $0.contains("never null") })
        #expect(messages.contains { $0.contains("delegated administrators are member accounts") })
        #expect(messages.contains { $0.contains("account missing is not among the accounts") })
        #expect(messages.contains { $0.contains("role is one of owner, admin, user") })
        #expect(messages.contains { $0.contains("member ghost is not among the users") })
        #expect(errors.allSatisfy { $0.location.line != nil })
    }
}
