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

struct Repair: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Scrub a stopped store and rebuild from its log every view found damaged.",
        discussion: """
            Checks everything a background scrub checks (the log's chain and checksums, every view \
            record's checksum, every operation against the fold of its events, every index and \
            history entry, the snapshots), then rebuilds each damaged operation's record, index \
            entries and history entries from its events and records a `repaired` event on it. \
            Damaged log events cannot be rebuilt from anything: they are listed with what to do. \
            Needs longrund stopped (it takes the directory's lock); with longrund running, use \
            `longrun repair`.

            Exit codes: 0 nothing was damaged, or everything was repaired; 2 something remains \
            damaged; 1 the repair could not run.
            """
    )

    @OptionGroup var options: CommonOptions

    func run() throws {
        try execute { bar in
            let result = try LongrunReplayKit.Repair.run(directory: options.directory, logger: logger, progress: { bar.update($0) })
            bar.finish()
            Output.line(options.json ? result.json : result.human)
            return result.exitCode
        }
    }
}
