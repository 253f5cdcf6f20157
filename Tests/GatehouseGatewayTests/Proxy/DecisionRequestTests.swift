import NIOCore
import Testing

@testable import GatehouseGateway

/// How the decision listener reads a proxy's question: the call's method and target, and
/// whether its body is at hand, never guessed.
struct DecisionRequestTests {
    static func read(_ head: String, body: String = "") throws -> Result<DecisionRequest, GatewayError> {
        let parsed = try HTTP1.Decoder.parseHead(ByteBuffer(string: head + "\r\n"), kind: .request)
        return DecisionRequest.read(parsed, body: body.isEmpty ? nil : ByteBuffer(string: body), envoyPrefix: "/ext_authz")
    }

    static func reason(_ result: Result<DecisionRequest, GatewayError>) -> String? {
        if case .failure(let error) = result { return error.reason }
        return nil
    }

    @Test func nginxQuestionsNameTheCallInTheirFields() throws {
        let read = try Self.read(
            "GET /auth/request HTTP/1.1\r\nHost: api\r\nX-Original-Method: PATCH\r\nX-Original-URI: /v1/a?x=1\r\nX-Original-Body: withheld\r\n")
        let question = try read.get()
        #expect(question.front == .authRequest && question.method == "PATCH" && question.target == "/v1/a?x=1")
        #expect(question.bodyWithheld?.contains("does not pass") == true)
        // No X-Original-Body: the body is unknown, not empty.
        let unknown = try Self.read("GET /auth/request HTTP/1.1\r\nHost: api\r\nX-Original-Method: GET\r\nX-Original-URI: /v1/a\r\n").get()
        #expect(unknown.bodyWithheld?.contains("did not say") == true)
        let none = try Self.read(
            "GET /auth/request HTTP/1.1\r\nHost: api\r\nX-Original-Method: GET\r\nX-Original-URI: /v1/a\r\nX-Original-Body: none\r\n"
        ).get()
        #expect(none.bodyWithheld == nil && none.body.isEmpty)
    }

    @Test func envoyQuestionsCarryTheCallItself() throws {
        let passed = try Self.read(
            "PATCH /ext_authz/v1/a/b HTTP/1.1\r\nHost: api\r\nX-Original-Body: passed\r\nContent-Length: 2\r\n", body: "{}"
        ).get()
        #expect(passed.front == .extAuthz && passed.method == "PATCH" && passed.target == "/v1/a/b")
        #expect(passed.body == Array("{}".utf8) && passed.bodyWithheld == nil)
        let partial = try Self.read("PATCH /ext_authz/v1/a HTTP/1.1\r\nHost: api\r\nX-Original-Body: passed\r\nX-Envoy-Auth-Partial-Body: true\r\n")
            .get()
        #expect(partial.bodyWithheld?.contains("first part") == true)
    }

    @Test func ambiguousQuestionsAreRefused() throws {
        let cases = [
            "GET /auth/request HTTP/1.1\r\nHost: api\r\nX-Original-URI: /v1/a\r\n",
            "GET /auth/request HTTP/1.1\r\nHost: api\r\nX-Original-Method: GET\r\nX-Original-URI: /v1/a\r\nX-Original-URI: /v1/b\r\n",
            "GET /auth/request HTTP/1.1\r\nHost: api\r\nX-Original-Method: G ET\r\nX-Original-URI: /v1/a\r\n",
            "POST /auth/request HTTP/1.1\r\nHost: api\r\nX-Original-Method: GET\r\nX-Original-URI: /v1/a\r\n",
            "GET /auth/request HTTP/1.1\r\nHost: api\r\nX-Original-Method: GET\r\nX-Original-URI: /v1/a\r\nX-Original-Body: maybe\r\n",
            "GET /ext_authz/v1/a HTTP/1.1\r\nHost: api\r\nX-Original-URI: /v1/b\r\n",
            "GET /ext_authzv1/a HTTP/1.1\r\nHost: api\r\n",
            "GET /v1/a HTTP/1.1\r\nHost: api\r\n",
            "GET /ext_authz/v1/a HTTP/1.1\r\nHost: api\r\nX-Original-Body: none\r\nX-Original-Body: passed\r\n",
        ]
        for head in cases {
            #expect(Self.reason(try Self.read(head))?.hasPrefix("bad_decision_request") == true, "\(head)")
        }
        let bodyBesideNone = try Self.read("PUT /ext_authz/v1/a HTTP/1.1\r\nHost: api\r\nX-Original-Body: none\r\nContent-Length: 2\r\n", body: "{}")
        #expect(Self.reason(bodyBesideNone)?.hasPrefix("bad_decision_request") == true)
    }
}
