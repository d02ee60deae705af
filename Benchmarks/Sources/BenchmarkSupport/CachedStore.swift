import Foundation

/// A store that a benchmark tool builds once and reads on later runs: the data directory is
/// `directory/data`, and it is complete only when `directory/complete` exists, so that a build cut
/// short (Ctrl-C, a full disk) is never mistaken for a finished one.
///
/// The two tools build their stores differently on purpose — longrun-load through the engine,
/// as a daemon would have written them; store-figures straight through the store writer, much
/// faster — so only this bookkeeping is shared, not the builds.
package struct CachedStore: Sendable {
    package let directory: String

    package init(directory: String) {
        self.directory = directory
    }

    package var data: String { directory + "/data" }
    private var marker: String { directory + "/complete" }

    /// Whether an earlier run finished building this store.
    package var isComplete: Bool { FileManager.default.fileExists(atPath: marker) }

    /// Removes what an unfinished build left and creates the directory, ready for a build.
    package func prepare() throws {
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// Marks the build finished; `summary` (what was built) is kept in the marker for a reader.
    package func markComplete(_ summary: String = "") throws {
        try summary.write(toFile: marker, atomically: true, encoding: .utf8)
    }
}
