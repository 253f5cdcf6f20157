// Gatehouse is built and tested on Linux only (Debian in CI): the policy reloads read
// `stat`'s `st_mtim` and the audit log opens its file with Glibc's `open`. A build anywhere
// else stops here with that reason rather than deep inside a Glibc call.
#if !os(Linux)
#error("Gatehouse builds on Linux only (see Package.swift)")
#endif
