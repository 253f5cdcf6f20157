// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Gatehouse",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "GatehousePolicy", targets: ["GatehousePolicy"]),
        .executable(name: "gatehouse", targets: ["gatehouse"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
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
        .executableTarget(
            name: "gatehouse",
            dependencies: [
                "GatehousePolicy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "GatehousePolicyTests",
            dependencies: ["GatehousePolicy"],
            resources: [.copy("Cases")]
        ),
        // Runs the built `gatehouse` binary; the dependency makes `swift test` build it first.
        .testTarget(
            name: "GatehouseCLITests",
            dependencies: ["gatehouse"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
