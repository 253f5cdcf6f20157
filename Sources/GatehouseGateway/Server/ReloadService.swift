import Logging
import ServiceLifecycle
import UnixSignals

/// Policy reloads on change, directory refresh, access keys' last use, and SIGHUP (reload
/// policies, reopen the audit log, re-read the directory and the TLS certificate).
struct ReloadService: Service {
    let runtime: GatewayRuntime

    func run() async throws {
        let runtime = self.runtime
        await runUntilShutdown([
            {
                guard runtime.config.policiesWatchIntervalMs > 0 else { return }
                await every(milliseconds: runtime.config.policiesWatchIntervalMs) { runtime.reloadPolicies(force: false) }
            },
            // Directory work blocks (a shared directory's reads wait for the network): off the pool.
            { await every(milliseconds: runtime.config.directoryRefreshIntervalMs) { await runtime.offPool { runtime.refreshDirectory() } } },
            {
                // A shared directory's announcements (nothing comes for SQLite).
                for await event in runtime.directoryChanges.events.cancelOnGracefulShutdown() {
                    await runtime.offPool { runtime.directoryWatchEvent(event) }
                }
            },
            { await every(milliseconds: 15_000) { await runtime.offPool { runtime.flushAccessKeyUses() } } },
            {
                for await _ in (await UnixSignalsSequence(trapping: .sighup)).cancelOnGracefulShutdown() {
                    runtime.logger.info("SIGHUP: reloading policies, reopening the audit log, re-reading the directory and TLS certificate")
                    runtime.reloadPolicies(force: true)
                    if !runtime.audit.reopen() { runtime.logger.error("cannot reopen the audit log \(runtime.config.auditPath)") }
                    await runtime.offPool { runtime.refreshDirectory(force: true) }
                    runtime.serverTLS?.reload(logger: runtime.logger)
                }
            },
        ])
        // What was noted since the last flush is not lost on a graceful stop.
        await runtime.offPool { runtime.flushAccessKeyUses() }
        runtime.stopWatching()
    }
}

/// The mail outbox: delivers what is due every `mail.poll_interval_ms` (`MailSender`).
struct OutboxService: Service {
    let runtime: GatewayRuntime

    func run() async throws {
        let runtime = self.runtime
        await runUntilShutdown([
            {
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    await runtime.mail.deliverDue()
                    await runtime.offPool { runtime.updateOutboxDetail() }
                    try? await Task.sleep(for: .milliseconds(runtime.config.mailPollIntervalMs))
                }
            }
        ])
    }
}

/// Runs each loop as a child task until the service group shuts down gracefully, then
/// cancels them.
func runUntilShutdown(_ loops: [@Sendable () async -> Void]) async {
    await withTaskGroup(of: Void.self) { tasks in
        for loop in loops { tasks.addTask(operation: loop) }
        try? await gracefulShutdown()
        tasks.cancelAll()
    }
}

/// Waits `milliseconds`, then runs `body`, until cancelled or shutting down.
func every(milliseconds: Int, _ body: @Sendable () async -> Void) async {
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
        try? await Task.sleep(for: .milliseconds(milliseconds))
        await body()
    }
}
