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

    /// How many statement IDs one `collect` can report at most: each entry once.
    var entryCount: Int { exactIDs.count + wildcardIDs.count }

    /// Collects patterns before freezing. Edges live in one hash table keyed by
    /// (parent, byte) and entries in flat lists, so inserting 10,000 patterns allocates
    /// nothing per node.
    struct Builder {
        private var nodeCount = 1
        private var edgeTable = EdgeTable()
        private var exactEntries: [(node: Int32, id: Int32)] = []
        private var wildcardEntries: [(node: Int32, id: Int32, pattern: Wildcard)] = []

        mutating func insert(_ pattern: Wildcard, statement: Int32) {
            var node: Int32 = 0
            for byte in pattern.literalPrefix {
                let key = Int(node) << 8 | Int(byte)
                node = edgeTable.child(key, orInsert: Int32(nodeCount))
                if node == Int32(nodeCount) { nodeCount += 1 }
            }
            if pattern.isLiteral {
                exactEntries.append((node, statement))
            } else {
                wildcardEntries.append((node, statement, pattern))
            }
        }

        func freeze() -> ActionTrie {
            // Group edges and entries by node (counting sort), keeping insertion order.
            func offsets(_ counts: [Int32]) -> [Int] {
                var result = [Int](repeating: 0, count: counts.count + 1)
                for index in counts.indices { result[index + 1] = result[index] + Int(counts[index]) }
                return result
            }
            var childCounts = [Int32](repeating: 0, count: nodeCount)
            let allEdges = edgeTable.entries
            for (key, _) in allEdges { childCounts[key >> 8] += 1 }
            let childOffsets = offsets(childCounts)
            var childFill = childOffsets
            var childBytes = [UInt8](repeating: 0, count: allEdges.count)
            var childTargets = [Int32](repeating: 0, count: allEdges.count)
            for (key, child) in allEdges {
                let slot = childFill[key >> 8]
                childFill[key >> 8] += 1
                childBytes[slot] = UInt8(key & 0xFF)
                childTargets[slot] = child
            }
            var exactCounts = [Int32](repeating: 0, count: nodeCount)
            for entry in exactEntries { exactCounts[Int(entry.node)] += 1 }
            let exactOffsets = offsets(exactCounts)
            var exactFill = exactOffsets
            var exactByNode = [Int32](repeating: 0, count: exactEntries.count)
            for entry in exactEntries {
                exactByNode[exactFill[Int(entry.node)]] = entry.id
                exactFill[Int(entry.node)] += 1
            }
            var wildcardCounts = [Int32](repeating: 0, count: nodeCount)
            for entry in wildcardEntries { wildcardCounts[Int(entry.node)] += 1 }
            let wildcardOffsets = offsets(wildcardCounts)
            var wildcardFill = wildcardOffsets
            var wildcardOrder = [Int](repeating: 0, count: wildcardEntries.count)
            for (index, entry) in wildcardEntries.enumerated() {
                wildcardOrder[wildcardFill[Int(entry.node)]] = index
                wildcardFill[Int(entry.node)] += 1
            }

            var trie = ActionTrie()
            trie.nodes.append(Node())
            // Kept builder node -> frozen node; children are laid out after their parent.
            var pending: [(builderNode: Int, frozen: Int)] = [(0, 0)]
            while let (builderNode, frozen) = pending.popLast() {
                let exactStart = Int32(trie.exactIDs.count)
                trie.exactIDs.append(contentsOf: exactByNode[exactOffsets[builderNode]..<exactOffsets[builderNode + 1]])
                trie.nodes[frozen].exact = exactStart..<Int32(trie.exactIDs.count)
                let wildcardStart = Int32(trie.wildcardIDs.count)
                for index in wildcardOrder[wildcardOffsets[builderNode]..<wildcardOffsets[builderNode + 1]] {
                    trie.wildcardIDs.append(wildcardEntries[index].id)
                    trie.wildcardPatterns.append(wildcardEntries[index].pattern)
                }
                trie.nodes[frozen].wildcards = wildcardStart..<Int32(trie.wildcardIDs.count)
                let edgeStart = Int32(trie.edges.count)
                for slot in childOffsets[builderNode]..<childOffsets[builderNode + 1] {
                    // Follow the chain of single-child nodes that hold no patterns.
                    let labelStart = Int32(trie.labels.count)
                    trie.labels.append(childBytes[slot])
                    var end = Int(childTargets[slot])
                    while childCounts[end] == 1, exactCounts[end] == 0, wildcardCounts[end] == 0 {
                        let only = childOffsets[end]
                        trie.labels.append(childBytes[only])
                        end = Int(childTargets[only])
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

    /// Reports every statement with an action pattern matching `action` (lowercased), at
    /// most `entryCount` of them; a statement with several matching patterns comes more
    /// than once.
    func collect(_ action: UnsafeBufferPointer<UInt8>, into found: (Int32) -> Void) {
        nodes.withUnsafeBufferPointer { nodes in
            edges.withUnsafeBufferPointer { edges in
                labels.withUnsafeBufferPointer { labels in
                    var node = 0
                    var offset = 0
                    while true {
                        let current = nodes[node]
                        if !current.wildcards.isEmpty {
                            for index in current.wildcards where wildcardPatterns[Int(index)].matches(utf8: action) {
                                found(wildcardIDs[Int(index)])
                            }
                        }
                        guard offset < action.count else {
                            for index in current.exact { found(exactIDs[Int(index)]) }
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

/// The builder's edges, (parent << 8 | byte) -> child, in an open-addressing table with a
/// multiplicative hash: the keys are small integers, and SipHash on each of the ~10 bytes of
/// each of 10,000 patterns was most of the time spent compiling.
struct EdgeTable {
    private var keys: [Int] = Array(repeating: -1, count: 1024)
    private var values: [Int32] = Array(repeating: 0, count: 1024)
    private(set) var count = 0
    /// Insertion order, so freezing is deterministic.
    private(set) var entries: [(key: Int, child: Int32)] = []

    /// The child for `key`, inserting `newChild` when there is none.
    mutating func child(_ key: Int, orInsert newChild: Int32) -> Int32 {
        if (count + 1) * 2 > keys.count { grow() }
        var slot = Self.slot(key, keys.count)
        while keys[slot] != -1 {
            if keys[slot] == key { return values[slot] }
            slot = (slot + 1) & (keys.count - 1)
        }
        keys[slot] = key
        values[slot] = newChild
        count += 1
        entries.append((key, newChild))
        return newChild
    }

    private static func slot(_ key: Int, _ capacity: Int) -> Int {
        Int(truncatingIfNeeded: (UInt64(bitPattern: Int64(key)) &* 0x9E37_79B9_7F4A_7C15) >> 32) & (capacity - 1)
    }

    private mutating func grow() {
        let capacity = keys.count * 2
        var newKeys = [Int](repeating: -1, count: capacity)
        var newValues = [Int32](repeating: 0, count: capacity)
        for (key, child) in entries {
            var slot = Self.slot(key, capacity)
            while newKeys[slot] != -1 { slot = (slot + 1) & (capacity - 1) }
            newKeys[slot] = key
            newValues[slot] = child
        }
        keys = newKeys
        values = newValues
    }
}
