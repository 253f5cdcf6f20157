// swift-tools-version: 6.1
import PackageDescription

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
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
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
            dependencies: ["CJansson"]
        ),
        // Users, groups, accounts, policy attachments, tokens and sessions: SQLite via GRDB.
        .target(
            name: "GatehouseDirectory",
            dependencies: [
                "GatehousePolicy",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The gateway's model of the account service: route catalog, request generation.
        .target(
            name: "GatehouseGateway",
            dependencies: ["GatehousePolicy", "GatehouseDirectory"]
        ),
        // A stand-in for the organizations account service, as its API reference describes it.
        .target(
            name: "GatehouseSampleService",
            dependencies: [
                "GatehousePolicy",
                "GatehouseDirectory",
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
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
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
            name: "GatehouseGatewayTests",
            dependencies: ["GatehouseGateway", "GatehouseDirectory"]
        ),
        // Runs the built `gatehouse` binary; the dependency makes `swift test` build it first.
        .testTarget(
            name: "GatehouseCLITests",
            dependencies: ["gatehouse"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
