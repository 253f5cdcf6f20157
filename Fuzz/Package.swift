// swift-tools-version: 6.1
import PackageDescription

// A differential fuzz target for the gateway's HTTP/1 reader, built with libFuzzer (see
// README.md). A package of its own: it compiles the reader's sources (symlinks into
// ../Sources/GatehouseGateway) with coverage instrumentation, next to NIOHTTP1's llhttp
// decoder as the independent reader, without instrumenting the rest of Gatehouse.
let package = Package(
    name: "GatehouseFuzz",
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2")
    ],
    targets: [
        .target(name: "CLibFuzzer"),
        .executableTarget(
            name: "HTTP1Differential",
            dependencies: [
                "CLibFuzzer",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
