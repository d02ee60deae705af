import ArgumentParser
import Logging
import LongrunDefaults
import LongrunDomain
import LongrunPostgres
import LongrunReplayKit
import LongrunStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@main
struct LongrunReplay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "longrun-replay",
        abstract: "Verify, rebuild and inspect a Longrun data directory from its event log, offline; copy a store between LMDB and PostgreSQL.",
        discussion: """
            Reads the data directory read-only, so it can run while longrund serves it; only \
            `snapshot take` writes, into the directory's snapshots/ folder, and `repair`, which \
            needs longrund stopped. Rebuilds write new directories and never overwrite one.

            Exit codes: 0 success; 1 the command failed (one line on stderr says why and what to do); \
            2 `verify`, `snapshot verify` or `repair` found a problem (that remains); 64 usage error.
            """,
        version: LongrunVersion.current,
        subcommands: [Verify.self, Repair.self, Rebuild.self, Copy.self, Dump.self, History.self, State.self, Snapshot.self]
    )
}
