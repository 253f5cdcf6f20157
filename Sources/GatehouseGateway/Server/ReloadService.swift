import Logging
import ServiceLifecycle
import UnixSignals

/// Policy reloads on change, directory refresh, and SIGHUP (reload policies, reopen the
/// audit log, re-read the directory).
struct ReloadService: Service {
    let runtime: GatewayRuntime

    func run() async throws {
        let runtime = self.runtime
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                guard runtime.config.policiesWatchIntervalMs > 0 else { return }
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    try? await Task.sleep(for: .milliseconds(runtime.config.policiesWatchIntervalMs))
                    runtime.reloadPolicies(force: false)
                }
            }
            tasks.addTask {
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    try? await Task.sleep(for: .milliseconds(runtime.config.directoryRefreshIntervalMs))
                    runtime.refreshDirectory()
                }
            }
            tasks.addTask {
                for await _ in (await UnixSignalsSequence(trapping: .sighup)).cancelOnGracefulShutdown() {
                    runtime.logger.info("SIGHUP: reloading policies, reopening the audit log, re-reading the directory")
                    runtime.reloadPolicies(force: true)
                    if !runtime.audit.reopen() { runtime.logger.error("cannot reopen the audit log \(runtime.config.auditPath)") }
                    runtime.refreshDirectory(force: true)
                }
            }
            try? await gracefulShutdown()
            tasks.cancelAll()
        }
    }
}

/// The mail outbox: delivers what is due every `mail.poll_interval_ms` (`MailSender`).
struct OutboxService: Service {
    let runtime: GatewayRuntime

    func run() async throws {
        let runtime = self.runtime
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    await runtime.mail.deliverDue()
                    try? await Task.sleep(for: .milliseconds(runtime.config.mailPollIntervalMs))
                }
            }
            try? await gracefulShutdown()
            tasks.cancelAll()
        }
    }
}
