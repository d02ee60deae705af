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

struct Rebuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build a new data directory from the log: fresh views, the log copied and its chain checked.",
        discussion: """
            Writes NEW_DIR (which must not exist) through a temporary sibling renamed into place when \
            complete. The views start from the newest usable snapshot unless --from-snapshot or \
            --no-snapshot says otherwise. With --until SEQ only the events up to SEQ are kept: the way \
            to cut a log damaged at event SEQ+1 (as `verify` names it). Start longrund on the result \
            with `longrund --data-dir NEW_DIR`.
            """
    )

    @OptionGroup var options: CommonOptions

    @Option(help: ArgumentHelp("The new data directory to create.", valueName: "new-dir"))
    var to: String

    @Option(name: .customLong("from-snapshot"), help: ArgumentHelp("Start the views from this snapshot file (a differential, with its base beside it).", valueName: "path"))
    var fromSnapshot: String?

    @Flag(name: .customLong("no-snapshot"), help: "Fold the whole log, without a snapshot.")
    var noSnapshot = false

    @Option(help: ArgumentHelp("Keep only the events up to this sequence.", valueName: "seq"))
    var until: UInt64?

    func validate() throws {
        if fromSnapshot != nil && noSnapshot { throw ValidationError("--from-snapshot and --no-snapshot exclude each other") }
    }

    func run() throws {
        let choice: SnapshotChoice = noSnapshot ? .none : fromSnapshot.map { .file($0) } ?? .newestUsable
        try execute { bar in
            let store = try options.openStore()
            let result = try LongrunReplayKit.Rebuild.run(source: store, into: to, snapshot: choice, until: until, logger: logger, progress: { bar.update($0) })
            bar.finish()
            Output.line(options.json ? result.json : result.human)
            return ReplayExitCode.success
        }
    }
}
