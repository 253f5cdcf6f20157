import Foundation
import GatehouseDirectory
import GatehousePolicy
import NIOCore
import Testing

@testable import GatehouseGateway

@Suite struct AuditLogTests {
    @Test func timesAreISO8601() {
        #expect(Authorizer.iso8601(Date(timeIntervalSince1970: 1_795_000_000)) == "2026-11-18T11:06:40Z")
        #expect(AuditRecord.timestamp(Date(timeIntervalSince1970: 1_795_000_000.25)) == "2026-11-18T11:06:40.250Z")
        // The hand-made calendar agrees with Foundation's across leap years, centuries and before 1970.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let millis = Int64.random(in: -2_208_988_800_000...7_258_118_400_000, using: &generator)
            let date = Date(timeIntervalSince1970: Double(millis) / 1000)
            #expect(AuditRecord.timestamp(date) == formatter.string(from: date), "\(millis)")
            let whole = Date(timeIntervalSince1970: (Double(millis) / 1000).rounded(.down))
            #expect(Authorizer.iso8601(date) == formatter.string(from: whole).replacingOccurrences(of: ".000Z", with: "Z"), "\(millis)")
        }
    }

    @Test func anAuditLineIsOneJSONObjectWithEveryValueKept() throws {
        var record = AuditRecord(
            time: Date(timeIntervalSince1970: 1_795_000_000.5), requestId: "r-1", method: "PATCH", path: "/v1/a?x=\"q\"\\", sourceIp: "::1",
            policyRevision: "abc")
        record.user = "dev_only"
        record.principal = nil
        record.action = "organizations:accounts:update"
        record.reason = "line\nbreak\u{01} and ünïcode"
        record.statements = [
            StatementRef(policy: "p", sid: "A", index: 0, effect: .deny), StatementRef(policy: "p\"", sid: nil, index: 2, effect: .deny),
        ]
        record.status = 403
        record.authorizeMicros = 0
        record.upstreamMicros = nil
        record.totalMicros = Int.max
        record.changes = [FieldChange(field: "name", old: "Old", new: nil)]
        let line = record.line
        #expect(line.hasSuffix("}\n") && line.filter { $0 == "\n" }.count == 1)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(json["schema"] as? Int == AuditRecord.schemaVersion)
        #expect(json["time"] as? String == "2026-11-18T11:06:40.500Z")
        #expect(json["path"] as? String == record.path)
        #expect(json["principal"] is NSNull)
        #expect(json["reason"] as? String == record.reason)
        #expect(json["statements"] as? [String] == ["p:A", "p\":Statement[2]"])
        #expect(json["status"] as? Int == 403)
        #expect(json["authorize_us"] as? Int == 0)
        #expect(json["upstream_us"] is NSNull)
        #expect(json["total_us"] as? Int == Int.max)
        let changes = try #require(json["changes"] as? [String: [String: Any]])
        #expect(changes["name"]?["old"] as? String == "Old")
        #expect(changes["name"]?["new"] is NSNull)
        #expect(line.contains(#""reason":"line\nbreak\u0001 and ünïcode""#))
    }

    @Test func theEscapeScanFindsTheFirstByteToEscapeWhereverItIs() {
        for special: UInt8 in [0x00, 0x1F, UInt8(ascii: "\""), UInt8(ascii: "\\")] {
            for position in 0..<41 {
                // Bytes that need no escape, high ones among them (UTF-8, DEL, space).
                let filler: [UInt8] = [0x61, 0xC3, 0xA9, 0x7F, 0x20, 0xFF, 0x80, 0x21, 0x5B, 0x5D]
                var bytes = (0..<41).map { filler[$0 % filler.count] }
                bytes[position] = special
                if position + 3 < 41 { bytes[position + 3] = UInt8(ascii: "\"") }
                bytes.withUnsafeBufferPointer { buffer in
                    #expect(AuditRecord.LineWriter.firstEscape(in: buffer, from: 0) == position)
                    #expect(AuditRecord.LineWriter.firstEscape(in: buffer, from: position + 1) == min(position + 3, 41))
                }
            }
        }
        let plain = [UInt8]("no escapes here, and ünïcode: 0x7F is \u{7F} fine".utf8)
        plain.withUnsafeBufferPointer { #expect(AuditRecord.LineWriter.firstEscape(in: $0, from: 0) == plain.count) }
    }

    @Test func anAuditLineOfEscapesAndExtremesFits() throws {
        let worst = String(repeating: "\u{1b}\"\\\n", count: 300)
        var record = AuditRecord(
            time: Date(timeIntervalSince1970: 0), requestId: worst, method: worst, path: worst, sourceIp: worst, policyRevision: worst)
        record.user = worst
        record.principal = worst
        record.action = worst
        record.resource = worst
        record.decision = worst
        record.reason = worst
        record.statements =
            (0..<20).map { StatementRef(policy: worst, sid: $0 % 2 == 0 ? worst : nil, index: Int.max - $0, effect: .deny) }
            + (0..<50).map { StatementRef(policy: "", sid: nil, index: Int.max - $0, effect: .allow) }
        record.status = Int.min
        record.authorizeMicros = Int.max
        record.upstreamMicros = Int.min
        record.totalMicros = -1
        record.changes = (0..<5).map { FieldChange(field: worst, old: worst, new: $0 % 2 == 0 ? nil : worst) }
        let line = record.line
        #expect(line.utf8.count <= record.maxLineBytes)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(json["request_id"] as? String == worst)
        #expect(json["status"] as? Int == Int.min)
        #expect(json["time"] as? String == "1970-01-01T00:00:00.000Z")
        #expect((json["statements"] as? [String])?[19] == "\(worst):Statement[\(Int.max - 19)]")
        #expect((json["statements"] as? [String])?.last == ":Statement[\(Int.max - 49)]")
        var empty = AuditRecord(time: Date(), requestId: "", method: "", path: "", sourceIp: "", policyRevision: "")
        empty.decision = ""
        #expect(try JSONSerialization.jsonObject(with: Data(empty.line.utf8)) is [String: Any])
    }
}
