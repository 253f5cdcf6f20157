// swift-tools-version: 6.1
import PackageDescription

// Linux only: the gateway calls Glibc directly (`open`, `stat`'s `st_mtim`; the tests
// `inet_pton`), and CI builds on Debian. `Sources/GatehouseGateway/Server/Platform.swift` stops
// a build elsewhere with that reason. The macOS version is declared only because the
// dependencies' minimums are checked across the package graph.
let package = Package(
    name: "Gatehouse",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "GatehousePolicy", targets: ["GatehousePolicy"]),
        .library(name: "GatehouseGateway", targets: ["GatehouseGateway"]),
        .executable(name: "gatehouse", targets: ["gatehouse"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // jansson from the system (Debian: libjansson-dev); the shim wraps the macros Swift cannot import.
        .systemLibrary(
            name: "CJansson",
            pkgConfig: "jansson",
            providers: [.apt(["libjansson-dev"]), .brew(["jansson"])]
        ),
        // The pure engine: policy text in, decision out. No clock, network or file access while evaluating.
        .target(
            name: "GatehousePolicy",
            dependencies: ["CJansson"],
            swiftSettings: hotPathSettings
        ),
        // Users, groups, accounts, policy attachments, tokens and sessions: SQLite via GRDB, or
        // PostgreSQL via postgres-nio for several gateways sharing one directory.
        .target(
            name: "GatehouseDirectory",
            dependencies: [
                "GatehousePolicy",
                "GatehouseSigning",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                // scrypt, for the console's passwords.
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // OpenSSL's libcrypto from the system (Debian: libssl-dev): SHA-256 for request signing.
        .systemLibrary(
            name: "CLibCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]
        ),
        // Huawei Cloud's AK/SK request signing (SDK-HMAC-SHA256, V11-HMAC-SHA256): verifying what
        // clients sign, signing what the gateway forwards.
        .target(
            name: "GatehouseSigning",
            dependencies: ["CLibCrypto", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: hotPathSettings
        ),
        // Mail: the outbox worker that composes and delivers ownership-transfer emails, into a
        // maildir or through an SMTP relay (a SwiftNIO client, STARTTLS or TLS through NIOSSL).
        .target(
            name: "GatehouseMail",
            dependencies: [
                "GatehousePolicy",
                "GatehouseDirectory",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The gateway, a folder per concern: HTTP1 (reader, writers, request target), Routing,
        // Authorization, Proxy (SwiftNIO forwarding path), Audit, Endpoints (profile,
        // transfers), Server (configuration, admin API, metrics, reloads), Errors.
        .target(
            name: "GatehouseGateway",
            dependencies: [
                "GatehousePolicy",
                "GatehouseDirectory",
                "GatehouseMail",
                "GatehouseSigning",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: hotPathSettings
        ),
        // A stand-in for the organizations account service, as its API reference describes it.
        .target(
            name: "GatehouseSampleService",
            dependencies: [
                "GatehousePolicy",
                "GatehouseDirectory",
                "GatehouseSigning",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .executableTarget(
            name: "gatehouse",
            dependencies: [
                "GatehousePolicy",
                "GatehouseDirectory",
                "GatehouseGateway",
                "GatehouseSampleService",
                "GatehouseSigning",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // `gatehouse demo` carries its seed, catalog and example policies (symlinks to
            // samples/ and policies/), so an installed binary runs it from any directory.
            resources: [
                .embedInCode("Resources/directory.json"),
                .embedInCode("Resources/catalog.json"),
                .embedInCode("Resources/policies/deny-protected-accounts.json"),
                .embedInCode("Resources/policies/dev-accounts-update.json"),
                .embedInCode("Resources/policies/office-network-only.json"),
                .embedInCode("Resources/policies/organizations-admin.json"),
                .embedInCode("Resources/policies/require-mfa.json"),
            ]
        ),
        .testTarget(
            name: "GatehousePolicyTests",
            dependencies: ["GatehousePolicy"],
            resources: [.copy("Cases")]
        ),
        .testTarget(
            name: "GatehouseDirectoryTests",
            dependencies: ["GatehouseDirectory"]
        ),
        .testTarget(
            name: "GatehouseSampleServiceTests",
            dependencies: [
                "GatehouseSampleService",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "GatehouseSigningTests",
            dependencies: ["GatehouseSigning", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .testTarget(
            name: "GatehouseMailTests",
            dependencies: ["GatehouseMail"]
        ),
        .testTarget(
            name: "GatehouseGatewayTests",
            dependencies: [
                "GatehouseGateway", "GatehouseDirectory", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Runs the built `gatehouse` binary; the dependency makes `swift test` build it first.
        .testTarget(
            name: "GatehouseCLITests",
            dependencies: ["gatehouse"],
            exclude: ["Fixtures"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

/// The engine and the gateway run on every proxied call. Release builds leave out the
/// run-time exclusivity checks on class and global state (`swift_beginAccess`, about 4% of
/// the gateway's CPU per call); the compiler still checks statically, and debug builds,
/// which the tests use, keep the run-time checks. (SwiftPM accepts unsafe flags only in a
/// root package: depending on these libraries from another package would mean dropping
/// this setting.)
var hotPathSettings: [SwiftSetting] { [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))] }
