/// Indexes statements by the literal text of their action patterns, so finding the
/// statements that can apply to an action costs one walk along the action's bytes,
/// however many statements the set holds.
///
/// A literal pattern (`organizations:accounts:update`) is stored at the node its whole
/// text leads to; a wildcard pattern at the node of its literal prefix
/// (`organizations:accounts:` for `organizations:accounts:*`), where it is checked in
/// full against the action. Patterns are lowercased: actions match case-insensitively.
///
/// Built with nested arrays, then frozen into a path-compressed (radix) tree in flat arrays:
/// a chain of nodes with one child and no patterns becomes one edge with a multi-byte label,
/// so a lookup takes a few hops of byte comparisons over borrowed buffers, with no per-node
/// copies (and so no reference counting).
struct ActionTrie: Sendable {
    /// One node's slices of the flat arrays.
    struct Node: Sendable {
        var edges: Range<Int32> = 0..<0
        var exact: Range<Int32> = 0..<0
        var wildcards: Range<Int32> = 0..<0
    }

    /// An edge to a child, labelled with one or more bytes (`labels[label]`).
    struct Edge: Sendable {
        var label: Range<Int32>
        var target: Int32
    }

    private var nodes: [Node] = []
    private var edges: [Edge] = []
    private var labels: [UInt8] = []
    private var exactIDs: [Int32] = []
    private var wildcardIDs: [Int32] = []
    private var wildcardPatterns: [Wildcard] = []

    /// Collects patterns before freezing.
    struct Builder {
        private var children: [[(UInt8, Int32)]] = [[]]
        private var exact: [[Int32]] = [[]]
        private var wildcards: [[(Int32, Wildcard)]] = [[]]

        mutating func insert(_ pattern: Wildcard, statement: Int32) {
            var node = 0
            for byte in pattern.literalPrefix {
                if let edge = children[node].first(where: { $0.0 == byte }) {
                    node = Int(edge.1)
                } else {
                    children.append([])
                    exact.append([])
                    wildcards.append([])
                    let child = Int32(children.count - 1)
                    children[node].append((byte, child))
                    node = Int(child)
                }
            }
            if pattern.isLiteral {
                exact[node].append(statement)
            } else {
                wildcards[node].append((statement, pattern))
            }
        }

        func freeze() -> ActionTrie {
            var trie = ActionTrie()
            // Frozen node for each kept builder node; children are laid out after their parent.
            var pending: [(builderNode: Int, frozen: Int)] = [(0, 0)]
            trie.nodes.append(Node())
            while let (builderNode, frozen) = pending.popLast() {
                let exactStart = Int32(trie.exactIDs.count)
                trie.exactIDs.append(contentsOf: exact[builderNode])
                trie.nodes[frozen].exact = exactStart..<Int32(trie.exactIDs.count)
                let wildcardStart = Int32(trie.wildcardIDs.count)
                for (id, pattern) in wildcards[builderNode] {
                    trie.wildcardIDs.append(id)
                    trie.wildcardPatterns.append(pattern)
                }
                trie.nodes[frozen].wildcards = wildcardStart..<Int32(trie.wildcardIDs.count)
                let edgeStart = Int32(trie.edges.count)
                for (byte, child) in children[builderNode] {
                    // Follow the chain of single-child nodes that hold no patterns.
                    let labelStart = Int32(trie.labels.count)
                    trie.labels.append(byte)
                    var end = Int(child)
                    while children[end].count == 1, exact[end].isEmpty, wildcards[end].isEmpty {
                        trie.labels.append(children[end][0].0)
                        end = Int(children[end][0].1)
                    }
                    trie.nodes.append(Node())
                    let target = trie.nodes.count - 1
                    trie.edges.append(Edge(label: labelStart..<Int32(trie.labels.count), target: Int32(target)))
                    pending.append((end, target))
                }
                trie.nodes[frozen].edges = edgeStart..<Int32(trie.edges.count)
            }
            return trie
        }
    }

    /// Appends every statement with an action pattern matching `action` (lowercased).
    func collect(_ action: UnsafeBufferPointer<UInt8>, into candidates: inout [Int32]) {
        nodes.withUnsafeBufferPointer { nodes in
            edges.withUnsafeBufferPointer { edges in
                labels.withUnsafeBufferPointer { labels in
                    var node = 0
                    var offset = 0
                    while true {
                        let current = nodes[node]
                        if !current.wildcards.isEmpty {
                            for index in current.wildcards where wildcardPatterns[Int(index)].matches(utf8: action) {
                                candidates.append(wildcardIDs[Int(index)])
                            }
                        }
                        guard offset < action.count else {
                            for index in current.exact { candidates.append(exactIDs[Int(index)]) }
                            return
                        }
                        let byte = action[offset]
                        var next = -1
                        for edgeIndex in current.edges {
                            let edge = edges[Int(edgeIndex)]
                            guard labels[Int(edge.label.lowerBound)] == byte else { continue }
                            let length = edge.label.count
                            guard action.count - offset >= length else { return }
                            var k = 1
                            while k < length, labels[Int(edge.label.lowerBound) + k] == action[offset + k] { k += 1 }
                            guard k == length else { return }
                            next = Int(edge.target)
                            offset += length
                            break
                        }
                        guard next >= 0 else { return }
                        node = next
                    }
                }
            }
        }
    }
}
