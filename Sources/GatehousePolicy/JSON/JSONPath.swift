/// A JSON Pointer (RFC 6901) such as `/Statement/2/Condition/StringEquals`, naming the
/// place of a value in a document. jansson keeps no positions for values, so every
/// semantic error carries one of these, and `SourceLocator` turns it into line:column.
public struct JSONPath: Sendable, Hashable, CustomStringConvertible {
    public enum Component: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    public private(set) var components: [Component]

    public init(_ components: [Component] = []) { self.components = components }

    public static let root = JSONPath()

    public func appending(_ key: String) -> JSONPath { JSONPath(components + [.key(key)]) }
    public func appending(_ index: Int) -> JSONPath { JSONPath(components + [.index(index)]) }

    public var description: String {
        if components.isEmpty { return "/" }
        return components.map { component in
            switch component {
            case .key(let key):
                return "/" + key.replacing("~", with: "~0").replacing("/", with: "~1")
            case .index(let index):
                return "/\(index)"
            }
        }.joined()
    }
}
