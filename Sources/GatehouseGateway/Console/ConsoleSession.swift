import Crypto
import Foundation

/// The console's cookies as a browser sent them (`Cookie`, RFC 6265 §5.4), read once per
/// call. A name sent twice (cookie tossing from a sibling path or subdomain) makes the
/// value unknowable, so it reads as absent: a session is then refused, never guessed.
public struct ConsoleCookies: Sendable, Equatable {
    /// `gatehouse_console`: the session token (a directory token, `gh_...`).
    public var session: String?
    /// `gatehouse_csrf`: the sign-in form's double-submit value, before there is a session.
    public var signInCSRF: String?

    public init(session: String? = nil, signInCSRF: String? = nil) {
        self.session = session
        self.signInCSRF = signInCSRF
    }

    /// Reads `name=value` pairs separated by `;` from every `Cookie` line.
    public init(fields: [String]) {
        var seen: [String: [String]] = [:]
        for field in fields {
            for pair in field.split(separator: ";") {
                guard let equals = pair.firstIndex(of: "=") else { continue }
                let name = pair[..<equals].trimmingCharacters(in: .whitespaces)
                let value = pair[pair.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                if name == ConsoleSession.sessionCookie || name == ConsoleSession.signInCookie { seen[name, default: []].append(value) }
            }
        }
        func one(_ name: String) -> String? {
            guard let values = seen[name], values.count == 1, let value = values.first, !value.isEmpty else { return nil }
            return value
        }
        self.init(session: one(ConsoleSession.sessionCookie), signInCSRF: one(ConsoleSession.signInCookie))
    }
}

/// How the console keeps a signed-in browser: the session is a directory token (the same
/// session generation, expiry and revocation as every token, so an ownership transfer,
/// `end-sessions` or a disabled user ends it), carried in an HttpOnly, SameSite=Strict
/// cookie scoped to `/console`, Secure when the call came over TLS (`g:SecureTransport`'s rule). Forms carry a CSRF value
/// derived from that token (a synchronizer token a page script could not compute, since it
/// cannot read the cookie); the sign-in form, before any session, a double-submit cookie.
public enum ConsoleSession {
    public static let sessionCookie = "gatehouse_console"
    public static let signInCookie = "gatehouse_csrf"
    /// The audit line's `credential` for a call authenticated by the session cookie.
    public static let credentialKind = "console_session"
    /// The audit line's `credential` for the sign-in form itself.
    public static let signInCredentialKind = "password"
    /// The label the session's directory token carries (`directory list-tokens`).
    public static let tokenLabel = "console"

    /// The CSRF value for a session's forms: 128 bits of SHA-256 over a fixed context and
    /// the session token, in hex. Only someone holding the token can compute it.
    public static func csrfToken(forSession token: String) -> String {
        let digest = SHA256.hash(data: Array("gatehouse console csrf\u{0}\(token)".utf8))
        return digest.prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    /// Whether a form's `csrf` value is the expected one (constant time in the length of
    /// the expected value).
    public static func csrfMatches(_ sent: String?, expected: String) -> Bool {
        guard let sent else { return false }
        let a = Array(sent.utf8)
        let b = Array(expected.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in 0..<a.count { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    /// A fresh double-submit value for the sign-in form (128 random bits, hex).
    public static func newSignInCSRF() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// `Set-Cookie` for a console cookie: `maxAge` seconds (0 deletes it).
    public static func setCookie(_ name: String, _ value: String, maxAge: Int, secure: Bool) -> String {
        "\(name)=\(value); Path=/console; Max-Age=\(maxAge); HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }
}

/// An `application/x-www-form-urlencoded` body (the console's forms; the URL Standard's
/// form encoding: `&`-separated `name=value` pairs, `+` a space, `%HH` a byte). Read
/// strictly: a pair without `=`, a `%` not followed by two hex digits, bytes that are not
/// UTF-8 once decoded, or a name given twice make the whole body no form, rather than a
/// field silently cleared or kept with its escapes.
public struct FormFields: Sendable, Equatable {
    public var values: [String: String]

    public subscript(name: String) -> String? { values[name] }

    /// The fields of a body sent as `contentType`, or why it is not one form.
    public static func parse(_ body: [UInt8], contentType: String?) -> Result<FormFields, FormProblem> {
        let mediaType = contentType?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard mediaType == "application/x-www-form-urlencoded" else { return .failure(.notAForm) }
        return decode(body)
    }

    /// The fields of form-encoded bytes (a body, or a URL's query); empty bytes are no fields.
    public static func decode(_ bytes: [UInt8]) -> Result<FormFields, FormProblem> {
        var values: [String: String] = [:]
        guard !bytes.isEmpty else { return .success(FormFields(values: values)) }
        for pair in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: false) {
            guard let equals = pair.firstIndex(of: UInt8(ascii: "=")) else { return .failure(.malformed("a field without '='")) }
            guard let name = unescaped(pair[..<equals]), let value = unescaped(pair[(equals + 1)...]) else {
                return .failure(.malformed("a '%' not followed by two hex digits, or text that is not UTF-8"))
            }
            if values[name] != nil { return .failure(.repeated(name)) }
            values[name] = value
        }
        return .success(FormFields(values: values))
    }

    /// `+` as a space and `%HH` as its byte, then UTF-8; nil for a bad escape or bytes that
    /// are not UTF-8.
    static func unescaped(_ bytes: ArraySlice<UInt8>) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+") {
                out.append(0x20)
            } else if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.endIndex, let high = HTTP1.hex(bytes[index + 1]), let low = HTTP1.hex(bytes[index + 2])
                else { return nil }
                out.append(high << 4 | low)
                index += 2
            } else {
                out.append(byte)
            }
            index += 1
        }
        return String(validating: out, as: UTF8.self)
    }
}

/// Why a console form was not read.
public enum FormProblem: Error, Sendable, Equatable, CustomStringConvertible {
    case notAForm
    case malformed(String)
    case repeated(String)

    public var description: String {
        switch self {
        case .notAForm: "the body is not an HTML form (application/x-www-form-urlencoded, UTF-8)"
        case .malformed(let why): "the form cannot be read: \(why)"
        case .repeated(let name): "the form gives \(name) more than once"
        }
    }
}
