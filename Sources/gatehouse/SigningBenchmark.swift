import Foundation
import GatehouseSigning

/// `gatehouse bench --signing`: what verifying an AK/SK signature costs per call, and its
/// parts, on a request shaped like the official SDK's `update_account` (a PATCH with a JSON
/// body, six signed fields). Medians over repeated batches, in microseconds.
struct SigningBenchmark {
    let scale: Double

    func run() -> [(String, Double)] {
        let secretKey = "ExampleSecretKey0000000000000000000000000"
        let date = RequestSigning.formatDate(Date())
        let fields: [(name: String, value: String)] = [
            ("Content-Type", "application/json"), ("Host", "127.0.0.1:8443"), ("User-Agent", "huaweicloud-usdk-python/3.0"),
            ("X-Sdk-Date", date), ("X-Security-Token", "ghst_" + String(repeating: "x", count: 43)),
        ]
        let request = RequestSigning.Request(
            method: "PATCH", rawPath: "/v1/organizations/accounts/05261f923e80d3890f33c0056e9b3f80", rawQuery: nil, fields: fields,
            body: Array(#"{"description": "hello"}"#.utf8))
        let signedHeaders = fields.map { $0.name.lowercased() }.sorted()
        let signature = try! RequestSigning.signature(
            of: request, signedHeaders: signedHeaders, date: date, algorithm: .sdkHmacSha256, accessKey: "HPUAEXAMPLEAK0000001", scope: nil,
            secretKey: secretKey
        ).get()
        let value = "SDK-HMAC-SHA256 Access=HPUAEXAMPLEAK0000001, SignedHeaders=\(signedHeaders.joined(separator: ";")), Signature=\(signature)"
        let authorization = try! RequestSigning.Authorization.parse(value).get()
        let key = RequestSigning.SigningKey(secretKey: secretKey)
        let now = Date()
        var memory = RequestSigning.AuthorizationMemory()
        return [
            ("parse Authorization", measure { _ = RequestSigning.Authorization.parse(value) }),
            ("parse Authorization, remembered", measure { _ = memory.parse(value) }),
            ("canonical request", measure { _ = RequestSigning.canonicalRequest(request, signedHeaders: signedHeaders) }),
            (
                "verify, key at hand",
                measure { precondition(RequestSigning.verify(request, authorization: authorization, key: key, now: now) == nil) }
            ),
            (
                "verify a view of the bytes, key at hand (the gateway's case)",
                request.withView { view in
                    measure { precondition(RequestSigning.verify(view, authorization: authorization, key: key, now: now) == nil) }
                }
            ),
            (
                "verify, key made per call",
                measure { _ = RequestSigning.verify(request, authorization: authorization, secretKey: secretKey, now: now) }
            ),
        ]
    }

    /// Median microseconds per run of `body` over 15 batches.
    func measure(_ body: () -> Void) -> Double {
        let batch = max(100, Int(20_000 * scale))
        for _ in 0..<batch / 10 { body() }
        var times: [Double] = []
        for _ in 0..<15 {
            let start = ContinuousClock.now
            for _ in 0..<batch { body() }
            let elapsed = ContinuousClock.now - start
            times.append((Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12) / Double(batch))
        }
        return times.sorted()[times.count / 2]
    }
}
