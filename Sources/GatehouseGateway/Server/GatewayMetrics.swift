import Prometheus
import Synchronization

/// The gateway's Prometheus metrics, served on the admin port's `/metrics`.
public final class GatewayMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let duration: DurationHistogram
    let tagHits: Counter
    let tagMisses: Counter
    let tagFailures: Counter
    let auditFailures: Counter
    /// Decision counters by decision, then the reason's kind, so a call costs a lookup, not a
    /// registration.
    private let decisionCounters = Mutex<[String: [String: Counter]]>([:])

    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "gatehouse", metricName: metric, unitName: unit, helpText: help)
    }

    static var decisions: MetricNameDescriptor { name("decisions", "total", "Calls answered, by decision and the kind of reason") }
    static var reloads: MetricNameDescriptor {
        name("policy_reloads", "total", "Policy set loads, by result (refused: the last good set kept serving)")
    }
    static var upstreamErrors: MetricNameDescriptor { name("upstream_errors", "total", "Failed exchanges with the account service, by kind") }
    static var shadowDecisions: MetricNameDescriptor {
        name("shadow_decisions", "total", "Calls decided by the enforced and the shadow policy set, by both decisions")
    }
    static var tagCache: MetricNameDescriptor { name("tag_cache", "total", "Tag lookups, by cache result") }

    public init() {
        duration = registry.makeDurationHistogram(
            descriptor: Self.name("request_duration", "seconds", "Time from a request's last byte to the end of its answer"),
            buckets: [
                .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
                .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(5),
            ])
        tagHits = registry.makeCounter(descriptor: Self.tagCache, labels: [("result", "hit")])
        tagMisses = registry.makeCounter(descriptor: Self.tagCache, labels: [("result", "miss")])
        tagFailures = registry.makeCounter(descriptor: Self.name("tag_fetch_failures", "total", "Tag fetches that failed (those calls were denied)"))
        auditFailures = registry.makeCounter(descriptor: Self.name("audit_write_failures", "total", "Audit lines that could not be written"))
    }

    /// Counts one answered call by decision and the reason's kind (bounded: no free text),
    /// and its duration. Takes the record's fields rather than the record, which would be
    /// copied out of its request context.
    ///
    /// `cache` is the caller's (one per connection): its next call nearly always ends the
    /// same way, and then finds its counter without the lock and two hash lookups.
    func decided(decision: String, reason fullReason: String, totalMicros: Int, cache: inout DecisionCounterCache) {
        // The kind is the reason up to a colon (details after it are free text); most reasons have none.
        let reason = fullReason.utf8.contains(UInt8(ascii: ":")) ? String(fullReason.prefix { $0 != ":" }) : fullReason
        let counter: Counter
        if let last = cache.last, last.decision == decision, last.reason == reason {
            counter = last.counter
        } else {
            counter = decisionCounters.withLock { counters in
                if let counter = counters[decision]?[reason] { return counter }
                let counter = registry.makeCounter(descriptor: Self.decisions, labels: [("decision", decision), ("reason", reason)])
                counters[decision, default: [:]][reason] = counter
                return counter
            }
            cache.last = (decision, reason, counter)
        }
        counter.increment()
        duration.recordNanoseconds(Int64(totalMicros) * 1000)
    }

    func policyReload(ok: Bool) {
        registry.makeCounter(descriptor: Self.reloads, labels: [("result", ok ? "ok" : "refused")]).increment()
    }

    /// A call decided by the enforced set and by `policies.shadow_dir` (`allow`/`deny`
    /// each): `gatehouse_shadow_decisions_total{enforced,shadow}`.
    func shadowDecided(enforced: String, shadow: String) {
        registry.makeCounter(descriptor: Self.shadowDecisions, labels: [("enforced", enforced), ("shadow", shadow)]).increment()
    }

    func upstreamError(_ kind: String) {
        registry.makeCounter(descriptor: Self.upstreamErrors, labels: [("kind", kind)]).increment()
    }
}

/// The decision counter a connection counted last (see `GatewayMetrics.decided`).
struct DecisionCounterCache {
    fileprivate var last: (decision: String, reason: String, counter: Counter)?
}
