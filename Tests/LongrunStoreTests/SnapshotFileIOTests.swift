import Crypto
@testable import LongrunStore
import LongrunTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The buffered, hashed file a snapshot is written through.
@Suite("Store: snapshot file output")
struct SnapshotFileIOTests {
    /// Records of uneven sizes that cross the 1 MiB mark mid-record, as a snapshot's do: the
    /// buffer is written out first rather than grown, and the file holds every byte and the hash.
    @Test func theBufferIsWrittenOutBeforeItWouldGrow() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.child("out")
        let file = try OutputFile(path: path)
        let reserved = file.bufferCapacity
        var expected: [UInt8] = []
        var largest = reserved
        // Up to 8.5 KB each: more than the slack the allocator may round the reserved megabyte up by.
        for index in 0..<1_500 {
            let record = [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: 100 + index % 41 * 211)
            file.write(record)
            expected += record
            largest = max(largest, file.bufferCapacity)
        }
        try file.finish()
        #expect(expected.count > 3 << 20, "the records cross the buffer's size several times")
        #expect(largest == reserved, "the buffer grew from \(reserved) to \(largest) bytes")
        let written = readFileBytes(path)
        #expect(written == expected + Array(SHA256.hash(data: expected)))
    }

}
