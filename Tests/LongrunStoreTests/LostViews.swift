import LMDB
@testable import LongrunStore

extension Store {
    /// Empties every view and marks nothing applied, as if the views were lost while the log and
    /// the snapshots survived: what recovery (`replayTail`) starts from.
    func loseViews() throws {
        try write { writer in
            for database in writer.schema.views { try writer.txn.clear(database) }
            try writer.setAppliedSequence(0)
        }
    }
}
