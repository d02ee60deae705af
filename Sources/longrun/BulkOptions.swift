import ArgumentParser
import Foundation
import LongrunCLIKit
import LongrunClient
import LongrunProto
import SwiftProtobuf

#if canImport(Glibc)
import Glibc
#endif

/// `longrun cancel --filter …` and `longrun delete --filter …`: every operation that matches, each
/// checked and recorded as its own cancel or delete (Admin.CancelOperations / DeleteOperations).
struct BulkOptions: ParsableArguments {
    @Option(help: "Instead of one NAME: every operation that matches this AIP-160 filter, e.g. 'done = false'.")
    var filter: String?

    @Option(help: "With --filter: the collection (default: the root), or a wildcard such as tenants/-.")
    var collection = ""

    @Flag(help: "With --filter: every collection (the name `-`).")
    var allCollections = false

    @Flag(help: "Instead of one NAME: every operation of the collection, with no filter.")
    var everyOperation = false

    @Flag(help: "Do not ask before acting on the operations that match.")
    var yes = false

    @Flag(help: "Only count the operations that match; change nothing.")
    var dryRun = false

    var isBulk: Bool { filter != nil || everyOperation }

    /// Checks the bulk options against whether a single NAME was given.
    func validate(name: String?) throws {
        if isBulk && name != nil { throw ValidationError("give an operation NAME or --filter/--every-operation, not both") }
        if !isBulk && name == nil { throw ValidationError("give an operation NAME, or --filter EXPR to act on every operation that matches") }
        if !isBulk && (!collection.isEmpty || allCollections || yes || dryRun) {
            throw ValidationError("--collection, --all-collections, --yes and --dry-run go with --filter or --every-operation")
        }
        if filter != nil && everyOperation { throw ValidationError("give --filter or --every-operation, not both") }
        if allCollections && !collection.isEmpty { throw ValidationError("give either --collection or --all-collections, not both") }
    }

    func request(reason: String?) -> Longrun_V1_BulkOperationsRequest {
        .with {
            $0.name = allCollections ? "-" : collection
            $0.filter = filter ?? ""
            $0.all = everyOperation
            $0.reason = reason ?? ""
        }
    }

    /// Counts the matches, asks unless --yes (refusing to guess without a terminal to ask on),
    /// then acts and prints what was done. Exit 0 when nothing was refused, 1 otherwise.
    func run(_ verb: String, json: Bool, client: LongrunClient, reason: String? = nil,
             _ call: (Longrun_V1_BulkOperationsRequest) async throws -> Longrun_V1_BulkOperationsResponse) async throws -> Int32 {
        var request = request(reason: reason)
        let scope = "\(request.name.isEmpty ? "operations" : request.name)" + (request.filter.isEmpty ? "" : " matching `\(request.filter)`")
        if dryRun || !yes {
            request.validateOnly = true
            let counted = try await call(request)
            request.validateOnly = false
            if dryRun {
                Output.line(json ? JSONOutput.line(plain: counted) : "\(counted.matched) operation(s) in \(scope) would be considered")
                return ExitCodes.success
            }
            guard counted.matched > 0 else {
                Output.line(json ? JSONOutput.line(plain: counted) : "no operations in \(scope)")
                return ExitCodes.success
            }
            guard isatty(STDIN_FILENO) == 1 else {
                Output.note("longrun: \(counted.matched) operation(s) in \(scope); add --yes to \(verb) them without asking (nothing was changed)")
                return ExitCodes.usage
            }
            Output.note("\(verb) \(counted.matched) operation(s) in \(scope)? [y/N] ", newline: false)
            guard let answer = readLine()?.lowercased(), answer == "y" || answer == "yes" else {
                Output.note("nothing was changed")
                return ExitCodes.failure
            }
        }
        let report = try await call(request)
        if json {
            Output.line(JSONOutput.line(plain: report))
        } else {
            Output.line("\(report.matched) matched: \(report.changed) \(verb == "cancel" ? "asked to cancel" : "deleted"), \(report.unchanged) unchanged, \(report.refusedCount) refused")
            for refusal in report.refused { Output.line("  \(refusal.name): \(HumanOutput.statusLine(refusal.status))") }
            if report.refusedCount > Int64(report.refused.count) {
                Output.line("  … and \(report.refusedCount - Int64(report.refused.count)) more refused")
            }
        }
        return report.refusedCount == 0 ? ExitCodes.success : ExitCodes.failure
    }
}
