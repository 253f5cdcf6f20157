import Foundation
import Testing

@testable import GatehouseDirectory

extension StoreSuites {
    @Suite struct OwnerTransferTests {
        let admin = "u-0002"
        let devOnly = "u-0003"

        /// Starts a transfer to `target` and mints the link its email would carry.
        func start(_ store: DirectoryStore, to target: String, validFor: TimeInterval = 86_400, now: Date = Date()) throws -> (OwnerTransfer, String)
        {
            let transfer = try store.startTransfer(by: "owner", to: target, validFor: validFor, now: now)
            let (token, _) = try #require(try store.issueTransferLink(transfer.id, now: now))
            return (transfer, token)
        }

        @Test(arguments: Backend.all) func acceptanceMovesOwnershipAndStripsTheFormerOwner(_ backend: Backend) throws {
            let directory = try TemporaryDirectory(backend: backend)
            let store = directory.store
            let ownerToken = try store.issueToken(user: "owner", validFor: 3600)
            let (transfer, token) = try start(store, to: admin)
            #expect(transfer.state == .pending)
            #expect(try store.dueMail().map(\.subjectId) == [transfer.id])
            #expect(try store.transferForLink(token) == .success(try store.transfer(transfer.id)!))

            guard case .success(let accepted) = try store.acceptTransfer(token) else {
                Issue.record("acceptance failed")
                return
            }
            #expect(accepted.formerOwner == "owner")
            #expect(accepted.newOwner == "admin")
            #expect(accepted.revokedGroups == ["org-admins"])
            #expect(accepted.formerRole == "owner")
            let snapshot = try store.snapshot()
            #expect(snapshot.organization.owner == "admin")
            let former = try #require(snapshot.users.first { $0.name == "owner" })
            #expect(former.role == .user)
            #expect(snapshot.policies(for: former).isEmpty)
            #expect(snapshot.users.first { $0.name == "admin" }?.role == .owner)
            // The former owner's sessions ended; a new login has no permissions.
            #expect(try store.authenticate(ownerToken.token) == .failure(.sessionEnded))
            // The link is single-use.
            #expect(try store.acceptTransfer(token) == .failure(.linkUsed))
            #expect(try store.transfer(transfer.id)?.state == .accepted)
        }

        @Test(arguments: Backend.all) func failuresChangeNothing(_ backend: Backend) throws {
            let directory = try TemporaryDirectory(backend: backend)
            let store = directory.store
            let start = Date()
            let (expiring, expiringToken) = try self.start(store, to: admin, validFor: 60, now: start)
            #expect(throws: TransferError.alreadyPending(expiring.id)) { try store.startTransfer(by: "owner", to: devOnly, validFor: 60) }
            #expect(try store.acceptTransfer(expiringToken, now: start.addingTimeInterval(61)) == .failure(.linkExpired))
            #expect(try store.transfer(expiring.id)?.state == .expired)

            let (cancelled, cancelledToken) = try self.start(store, to: admin)
            #expect(throws: TransferError.notOwner) { try store.cancelTransfer(cancelled.id, by: "admin") }
            #expect(try store.cancelTransfer(cancelled.id, by: "owner").state == .cancelled)
            #expect(try store.acceptTransfer(cancelledToken) == .failure(.linkCancelled))
            #expect(throws: TransferError.notPending(.cancelled)) { try store.cancelTransfer(cancelled.id, by: "owner") }

            #expect(try store.acceptTransfer("ot_nonsense") == .failure(.unknownLink))
            // A newer link replaces an older one.
            let (renewed, first) = try self.start(store, to: admin)
            let (second, _) = try #require(try store.issueTransferLink(renewed.id))
            #expect(try store.acceptTransfer(first) == .failure(.unknownLink))
            // The target was disabled meanwhile: refused, still pending, nothing changed.
            try store.setDisabled(user: "admin", true)
            #expect(try store.acceptTransfer(second) == .failure(.targetUnavailable))
            #expect(try store.transfer(renewed.id)?.state == .pending)
            #expect(try store.snapshot().organization.owner == "owner")

            #expect(throws: TransferError.notOwner) { try store.startTransfer(by: "admin", to: devOnly, validFor: 60) }
            #expect(try store.cancelTransfer(renewed.id, by: "owner").state == .cancelled)
            #expect(throws: TransferError.targetIsSelf) { try store.startTransfer(by: "owner", to: "u-0001", validFor: 60) }
            #expect(throws: TransferError.unknownTarget("u-9999")) { try store.startTransfer(by: "owner", to: "u-9999", validFor: 60) }
            #expect(throws: TransferError.targetDisabled("u-0002")) { try store.startTransfer(by: "owner", to: admin, validFor: 60) }
        }

        /// The OU management guide: a target with no registered address gets the link at the
        /// address the owner enters, which becomes theirs once they accept; a target with one
        /// gets it only there.
        @Test(arguments: Backend.all) func aTargetWithoutAnAddressGetsTheLinkAtTheOneEntered(_ backend: Backend) throws {
            let directory = try TemporaryDirectory(backend: backend)
            let store = directory.store
            let newbie = try store.addUser(name: "newbie", accountId: try store.snapshot().organization.managementAccountId)
            #expect(throws: TransferError.targetHasNoEmail(newbie.id)) { try store.startTransfer(by: "owner", to: newbie.id, validFor: 60) }
            for bad in ["not an address", "a@b", "<x@example.com>", "x@example.com\r\nBcc: y@example.com", "x@@example.com", "@example.com"] {
                #expect(throws: TransferError.badEmail, "\(bad)") { try store.startTransfer(by: "owner", to: newbie.id, email: bad, validFor: 60) }
            }
            #expect(throws: TransferError.targetHasEmail(devOnly)) {
                try store.startTransfer(by: "owner", to: devOnly, email: "elsewhere@example.com", validFor: 60)
            }
            #expect(try store.dueMail().isEmpty, "nothing refused was queued")
            let transfer = try store.startTransfer(by: "owner", to: newbie.id, email: "newbie@example.com", validFor: 60)
            #expect(transfer.enteredEmail == "newbie@example.com")
            #expect(try store.dueMail().map(\.recipient) == ["newbie@example.com"])
            #expect(try store.snapshot().users.first { $0.name == "newbie" }?.email == nil, "not the user's until accepted")
            let (token, _) = try #require(try store.issueTransferLink(transfer.id))
            guard case .success(let accepted) = try store.acceptTransfer(token) else {
                Issue.record("acceptance failed")
                return
            }
            #expect(accepted.newOwner == "newbie")
            #expect(try store.snapshot().users.first { $0.name == "newbie" }?.email == "newbie@example.com")
        }

        /// Gateways polling one outbox at once: each message is claimed by exactly one of them.
        @Test(arguments: Backend.all) func eachMessageIsClaimedByOneGateway(_ backend: Backend) async throws {
            let directory = try TemporaryDirectory(backend: backend)
            let now = Date()
            try directory.store.database.write { db in
                for index in 0..<40 {
                    try db.execute(
                        "INSERT INTO outbox (kind, subject_id, recipient, created_at, next_attempt_at) VALUES ('test', ?, 'x@example.com', ?, ?)",
                        ["m\(index)", now.timeIntervalSince1970, now.timeIntervalSince1970])
                }
            }
            let stores = [directory.store] + (try (0..<3).map { _ in try DirectoryStore(path: directory.path) })
            let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
                for store in stores {
                    group.addTask {
                        var mine: [String] = []
                        while true {
                            let batch = try store.claimDueMail(now: now, limit: 3)
                            if batch.isEmpty { return mine }
                            mine += batch.map(\.subjectId)
                        }
                    }
                }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
            #expect(claimed.sorted() == (0..<40).map { "m\($0)" }.sorted())
            // Claimed is not delivered: due again once the lease runs out.
            #expect(try directory.store.claimDueMail(now: now.addingTimeInterval(DirectoryStore.outboxClaimLease + 1), limit: 100).count == 40)
        }

        @Test(arguments: Backend.all) func racingAcceptancesEndWithOneOutcome(_ backend: Backend) async throws {
            let directory = try TemporaryDirectory(backend: backend)
            let (_, token) = try start(directory.store, to: admin)
            // Two stores on one file, as two gateway processes would be.
            let other = try DirectoryStore(path: directory.path)
            let results = try await withThrowingTaskGroup(of: Result<AcceptedTransfer, TransferError>.self) { group in
                for store in [directory.store, other, directory.store, other] { group.addTask { try store.acceptTransfer(token) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.filter { if case .success = $0 { true } else { false } }.count == 1)
            #expect(results.filter { $0 == .failure(.linkUsed) }.count == 3)
        }

        @Test(arguments: Backend.all) func acceptanceRacingACancelEndsWithOneOutcome(_ backend: Backend) async throws {
            let directory = try TemporaryDirectory(backend: backend)
            let (transfer, token) = try start(directory.store, to: admin)
            let other = try DirectoryStore(path: directory.path)
            async let accepted = other.acceptTransfer(token)
            async let cancelled: Result<OwnerTransfer, TransferError> = {
                do { return .success(try directory.store.cancelTransfer(transfer.id, by: "owner")) } catch let error as TransferError {
                    return .failure(error)
                }
            }()
            let (acceptance, cancellation) = try await (accepted, cancelled)
            let final = try #require(try directory.store.transfer(transfer.id))
            switch (acceptance, cancellation) {
            case (.success, .failure):
                #expect(final.state == .accepted)
                #expect(try directory.store.snapshot().organization.owner == "admin")
            case (.failure(let why), .success):
                #expect(why == .linkCancelled)
                #expect(final.state == .cancelled)
                #expect(try directory.store.snapshot().organization.owner == "owner")
            default:
                Issue.record("both or neither won: \(acceptance), \(cancellation)")
            }
        }

        @Test(arguments: Backend.all) func anUndeliverableEmailFailsItsTransferAndUnblocksANewOne(_ backend: Backend) throws {
            let directory = try TemporaryDirectory(backend: backend)
            let store = directory.store
            let (transfer, token) = try start(store, to: admin)
            let item = try #require(try store.dueMail().first)
            #expect(try store.outboxBacklog().waiting == 1)
            try store.markAttemptFailed(item.id, error: "connection refused", retryAt: Date())
            #expect(try store.outboxBacklog().lastError == "connection refused")
            try store.markUndeliverable(item, reason: "550 no such mailbox")

            let failed = try #require(try store.transfer(transfer.id))
            #expect(failed.state == .failed)
            #expect(failed.failure?.contains("550 no such mailbox") == true)
            #expect(try store.dueMail().isEmpty)
            #expect(try store.outboxBacklog().waiting == 0)
            // A link minted before the refusal says why it cannot complete.
            guard case .failure(.transferFailed(let why)) = try store.acceptTransfer(token) else {
                Issue.record("a failed transfer's link was accepted")
                return
            }
            #expect(why.contains("could not be delivered"))
            // The failed transfer no longer counts as pending.
            #expect(try store.startTransfer(by: "owner", to: devOnly, validFor: 60).state == .pending)
        }
    }
}
