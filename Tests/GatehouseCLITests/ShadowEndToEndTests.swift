import Foundation
import Testing

/// A second policy set evaluated beside the enforced one (`policies.shadow_dir`), and
/// `mode: shadow` for a first rollout: neither changes what the policies say in the audit
/// log, and only `mode: shadow` changes the answer.
@Suite(.serialized) struct ShadowEndToEndTests {
    typealias Fixture = GatewayFixture

    /// The shadow set: the policies the fixture enforces, with dev_only's updates of dev
    /// accounts swapped for updates of prod accounts.
    static func shadowPolicies(in folder: TempDir) throws -> String {
        for name in ["organizations-admin", "dev-accounts-update", "deny-protected-accounts", "require-mfa", "office-network-only"] {
            var text = try String(contentsOf: CLI.packageRoot.appendingPathComponent("policies/\(name).json"), encoding: .utf8)
            if name == "dev-accounts-update" {
                text = text.replacingOccurrences(of: #""g:ResourceTag/env": ["dev"]"#, with: #""g:ResourceTag/env": ["prod"]"#)
            }
            _ = try folder.write("\(name).json", text)
        }
        return folder.url.path
    }

    @Test func aShadowSetIsAuditedBesideTheEnforcedOneAndNeverChangesTheAnswer() async throws {
        let folder = try TempDir()
        let shadow = try Self.shadowPolicies(in: folder)
        let gateway = try await Fixture(settings: ["policies": ["shadow_dir": shadow]])
        #expect(try gateway.update(Fixture.devAccount, as: "dev_only").status == 200)
        #expect(try gateway.update(Fixture.prodAccount, as: "dev_only").status == 403)
        #expect(try gateway.update(Fixture.devAccount, as: "member").status == 401)
        let lines = try gateway.auditLines()
        #expect(lines[0]["decision"] as? String == "allow" && lines[0]["shadow_decision"] as? String == "deny", "\(lines[0])")
        #expect(lines[0]["shadow_reason"] as? String == "implicit_deny")
        #expect(lines[1]["decision"] as? String == "deny" && lines[1]["shadow_decision"] as? String == "allow", "\(lines[1])")
        #expect(lines[1]["shadow_statements"] as? [String] == ["dev-accounts-update:UpdateDevAccounts"])
        // Refused before the decide stage (caller rule): no shadow decision.
        #expect(lines[2]["shadow_decision"] == nil)
        let metrics = try gateway.admin("/metrics").body
        #expect(metrics.contains(#"gatehouse_shadow_decisions_total{enforced="allow",shadow="deny"} 1"#), "\(metrics)")
        #expect(metrics.contains(#"gatehouse_shadow_decisions_total{enforced="deny",shadow="allow"} 1"#))
        let ready = try jsonObject(try gateway.admin("/readyz").body)
        #expect((ready["shadow_policies"] as? [String: Any])?["revision"] is String)
        // The summary names both changes, grouped as diff groups them, and exits 1.
        let summary = try CLI.run(["audit", "summarize", "--shadow", gateway.auditLog])
        #expect(summary.status == 1, "\(summary.stderr)")
        #expect(summary.stdout.contains("dev_only: organizations:accounts:update on accounts: allow -> deny (1 request"), "\(summary.stdout)")
        #expect(summary.stdout.contains("dev_only: organizations:accounts:update on accounts: deny -> allow (1 request"), "\(summary.stdout)")
        // A line that is not an audit record is named by its line number.
        let broken = try gateway.dir.write("broken.log", (try String(contentsOfFile: gateway.auditLog, encoding: .utf8)) + "{not json\n")
        let refused = try CLI.run(["audit", "summarize", "--shadow", broken])
        #expect(refused.status == 2 && refused.stderr.contains("broken.log:4"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("Usage"), "a bad input is not a usage error: \(refused.stderr)")
        #expect(await gateway.stop() == 0)
    }

    @Test func modeShadowForwardsWouldBeDenialsLoudlyButStillAuthenticates() async throws {
        let gateway = try await Fixture(settings: ["mode": "shadow"])
        let prod = try gateway.update(Fixture.prodAccount, as: "dev_only")
        #expect(prod.status == 200, "\(prod.body)")
        #expect(try gateway.update(Fixture.devAccount, as: "member").status == 200)
        // Authentication is never waived: there is no principal to forward as.
        #expect(try gateway.update(Fixture.devAccount, as: nil).status == 401)
        let lines = try gateway.auditLines()
        #expect(lines[0]["decision"] as? String == "deny" && lines[0]["reason"] as? String == "implicit_deny")
        #expect(lines[0]["enforced"] as? Bool == false && lines[0]["status"] as? Int == 200, "\(lines[0])")
        #expect(lines[1]["reason"] as? String == "not_management_account" && lines[1]["enforced"] as? Bool == false)
        #expect(lines[2]["enforced"] == nil && lines[2]["status"] as? Int == 401)
        let ready = try jsonObject(try gateway.admin("/readyz").body)
        #expect(ready["mode"] as? String == "shadow")
        let summary = try CLI.run(["audit", "summarize", "--shadow", gateway.auditLog])
        #expect(summary.stdout.contains("forwarded by mode shadow although refused (implicit_deny): 1 call"), "\(summary.stdout)")
        #expect(summary.stdout.contains("forwarded by mode shadow although refused (not_management_account): 1 call"), "\(summary.stdout)")
        #expect(summary.status == 1, "calls forwarded although refused count as decisions that would change")
        #expect(await gateway.stop() == 0)
    }
}
