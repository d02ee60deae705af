import ArgumentParser
import LongrunDefaults

@main
struct LongrunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "longrun",
        abstract: "Create, follow, cancel and audit long-running operations served by longrund.",
        discussion: """
            Consumers: list, get, wait, cancel, delete, history, watch. Producers (for shell \
            scripts): create, progress, complete. Operators: hold, release, snapshot, info, scrub, \
            repair.

            Exit codes: 0 success; 1 an error (printed as one line on stderr), and for `wait` an \
            operation that failed; 2 `wait`: the operation was cancelled; 3 `wait`: --timeout \
            passed before the operation was done; 4 `progress`: cancellation was requested (stop \
            and complete the operation); 5 `scrub`/`repair`: damage was found or remains; 6 `wait`: \
            the daemon could not be reached or stopped answering; 64 usage error.
            """,
        version: LongrunVersion.current,
        subcommands: [
            ListCommand.self, CollectionsCommand.self, GetCommand.self, WaitCommand.self, CancelCommand.self, DeleteCommand.self,
            HistoryCommand.self, WatchCommand.self,
            CreateCommand.self, ProgressCommand.self, HeartbeatCommand.self, AdoptCommand.self, CompleteCommand.self,
            HoldCommand.self, ReleaseCommand.self, SnapshotCommand.self, InfoCommand.self,
            ScrubCommand.self, RepairCommand.self,
        ]
    )
}
