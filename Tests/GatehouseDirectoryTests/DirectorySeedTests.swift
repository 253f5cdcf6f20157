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
        #expect(messages.contains { $0.contains("account IDs have 1 to 64") })
        #expect(messages.contains { $0.contains("never null") })
        #expect(messages.contains { $0.contains("delegated administrators are member accounts") })
        #expect(messages.contains { $0.contains("account missing is not among the accounts") })
        #expect(messages.contains { $0.contains("role is one of owner, admin, user") })
        #expect(messages.contains { $0.contains("member ghost is not among the users") })
        #expect(errors.allSatisfy { $0.location.line != nil })
    }
}
