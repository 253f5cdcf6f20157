import Foundation
import Testing

@testable import GatehousePolicy

/// The global keys the engine knows are Huawei's as `../shared/data/global-condition-keys.json`
/// records them, each with its type and arity, and nothing else but Gatehouse's own.
@Suite struct GlobalConditionKeysTests {
    static let data = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("../shared/data/global-condition-keys.json")

    @Test func theKnownKeysAreTheDocumentedOnes() throws {
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: Self.data)) as? [[String: Any]])
        #expect(rows.count == GlobalConditionKeys.documented.count)
        for row in rows {
            let spelling = try #require(row["key"] as? String)
            let known = try #require(GlobalConditionKeys.documented.first { $0.spelling == spelling }, "\(spelling)")
            #expect(known.type?.rawValue == (row["type"] as? String)?.lowercased(), "\(spelling)")
            #expect(known.multiValued == row["multi_valued"] as? Bool, "\(spelling)")
            #expect(known.status.rawValue == row["status"] as? String, "\(spelling)")
            let lowered = spelling.lowercased()
            if lowered.hasSuffix("/<tag-key>") {
                #expect(GlobalConditionKeys.isKnown(lowered.replacingOccurrences(of: "<tag-key>", with: "env")), "\(spelling)")
            } else {
                #expect(GlobalConditionKeys.isKnown(lowered) && GlobalConditionKeys.plain[lowered] == spelling, "\(spelling)")
            }
        }
        // Only Gatehouse's own besides.
        let documented = Set(rows.compactMap { ($0["key"] as? String)?.lowercased() })
        #expect(Set(GlobalConditionKeys.plain.keys).subtracting(documented) == ["g:epochtime"])
        #expect(GlobalConditionKeys.multiValued == ["g:tagkeys", "g:calledvia"])
        #expect(!GlobalConditionKeys.isKnown("g:sourcevpcid"))
    }
}
