import Foundation
import GatehouseDirectory
import GatehousePolicy
import NIOCore
import Testing

@testable import GatehouseGateway

@Suite struct GatewayMetricsTests {
    @Test func decisionsAreCountedByDecisionAndReasonKindWhateverTheCacheHolds() {
        let metrics = GatewayMetrics()
        var cache = DecisionCounterCache()
        var other = DecisionCounterCache()
        for (decision, reason) in [
            ("allow", "explicit_allow"), ("allow", "explicit_allow"), ("deny", "explicit_deny"), ("allow", "explicit_allow"),
            ("deny", "attached_policy_missing: a"), ("deny", "attached_policy_missing: b"),
        ] {
            metrics.decided(decision: decision, reason: reason, totalMicros: 100, cache: &cache)
        }
        metrics.decided(decision: "allow", reason: "explicit_allow", totalMicros: 100, cache: &other)
        var bytes: [UInt8] = []
        metrics.registry.emit(into: &bytes)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(#"gatehouse_decisions_total{decision="allow",reason="explicit_allow"} 4"#))
        #expect(text.contains(#"gatehouse_decisions_total{decision="deny",reason="explicit_deny"} 1"#))
        #expect(text.contains(#"gatehouse_decisions_total{decision="deny",reason="attached_policy_missing"} 2"#))
    }
}
