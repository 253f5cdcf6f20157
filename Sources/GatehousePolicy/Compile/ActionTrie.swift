/// Indexes statements by the literal text of their action patterns, so finding the
/// statements that can apply to an action costs one walk along the action's bytes,
/// however many statements the set holds.
///
/// A literal pattern (`organizations:accounts:update`) is stored at the node its whole
/// text leads to; a wildcard pattern at the node of its literal prefix
/// (`organizations:accounts:` for `organizations:accounts:*`), where it is checked in
/// full against the action. Patterns are lowercased: actions match case-insensitively.
struct ActionTrie: Sendable {
    struct Node: Sendable {
        var keys: [UInt8] = []
        var children: [Int32] = []
        var exact: [Int32] = []
        var wildcards: [(statement: Int32, pattern: Wildcard)] = []
    }

    private(set) var nodes: [Node] = [Node()]

    mutating func insert(_ pattern: Wildcard, statement: Int32) {
        var node = 0
        for byte in pattern.literalPrefix {
            if let position = nodes[node].keys.firstIndex(of: byte) {
                node = Int(nodes[node].children[position])
            } else {
                nodes.append(Node())
                let child = Int32(nodes.count - 1)
                nodes[node].keys.append(byte)
                nodes[node].children.append(child)
                node = Int(child)
            }
        }
        if pattern.isLiteral {
            nodes[node].exact.append(statement)
        } else {
            nodes[node].wildcards.append((statement, pattern))
        }
    }

    /// Appends every statement with an action pattern matching `action` (lowercased).
    func collect(_ action: UnsafeBufferPointer<UInt8>, into candidates: inout [Int32]) {
        var node = 0
        var offset = 0
        while true {
            for entry in nodes[node].wildcards where entry.pattern.matches(utf8: action) {
                candidates.append(entry.statement)
            }
            guard offset < action.count else {
                candidates.append(contentsOf: nodes[node].exact)
                return
            }
            guard let position = nodes[node].keys.firstIndex(of: action[offset]) else { return }
            node = Int(nodes[node].children[position])
            offset += 1
        }
    }
}
