import Foundation
import GatehouseDirectory
import GatehousePolicy
import NIOCore
import Testing

@testable import GatehouseGateway

@Suite struct ProfileRulesTests {
    func problem(_ body: String) -> String? {
        if case .failure(let gatewayError) = ProfileEndpoint.change(from: Array(body.utf8)) { return gatewayError.message }
        return nil
    }

    @Test func valuesWithinTheRules() throws {
        guard
            case .success(let change) = ProfileEndpoint.change(from: Array(#"{"name": "Ex", "address": "", "country": "CN", "scale": "5000+"}"#.utf8))
        else {
            Issue.record("refused a valid change")
            return
        }
        #expect(change[.name] == .some("Ex"))
        #expect(change[.address] == .some(nil))
        #expect(change[.country] == .some("CN"))
        #expect(change[.industry] == nil)
        #expect(problem(#"{"business_license_number": "91110000-ABC"}"#) == nil)
        #expect(problem(#"{"address": "\#(String(repeating: "ä", count: 256))"}"#) == nil)
    }

    @Test func refusalsNameTheField() {
        #expect(problem(#"{"name": " Ex"}"#) == "name cannot start or end with spaces.")
        #expect(problem(#"{"name": "\#(String(repeating: "x", count: 65))"}"#) == "name is at most 64 characters (it has 65).")
        #expect(problem(#"{"address": "\#(String(repeating: "ä", count: 257))"}"#) == "address is at most 256 characters (it has 257).")
        #expect(problem(#"{"industry": "a\u0007b"}"#) == "industry cannot contain control characters.")
        for scalar in ["\\u202E", "\\u2066", "\\u200F", "\\u061C"] {
            #expect(problem(#"{"name": "Corp\#(scalar)x"}"#)?.hasPrefix("name cannot contain bidirectional control characters") == true, "\(scalar)")
        }
        #expect(problem(#"{"name": "Corp \u00e9\u200d"}"#) == nil)
        #expect(problem(#"{"country": "de"}"#)?.hasPrefix("country must be an ISO 3166-1 alpha-2 code") == true)
        #expect(problem(#"{"country": "XX"}"#)?.hasPrefix("country must be") == true)
        #expect(
            problem(#"{"business_license_number": "\#(String(repeating: "1", count: 33))"}"#)?.hasPrefix("business_license_number is at most 32")
                == true)
        #expect(problem(#"{"id": "x"}"#) == "id is read-only.")
        #expect(CountryCodes.all.count == 249)
    }
}
