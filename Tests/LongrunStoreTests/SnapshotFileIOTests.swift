import Crypto
import LongrunDomain
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

    /// Bytes that do not compress, and bytes that do, as records mix them.
    static func records(_ count: Int) -> [[UInt8]] {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        return (0..<count).map { index in
            if index.isMultiple(of: 3) {
                return (0..<(900 + index % 97)).map { _ in
                    seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    return UInt8(truncatingIfNeeded: seed >> 33)
                }
            }
            return Array("operations/op-\(index) type.googleapis.com/acme.Meta \(index % 7)".utf8) + [UInt8](repeating: UInt8(index % 5), count: 400)
        }
    }

    /// A compressed stream longer than the reader's and writer's buffers (the compressed bytes over
    /// 1 MiB, the inflated ones several): it reads back byte for byte, the plain bytes before it
    /// stay plain, and the trailer is the SHA-256 of the file's bytes before it.
    @Test func aCompressedStreamReadsBackAsWrittenAcrossItsBuffers() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.child("compressed")
        let plain = Array("LRSNAP01head".utf8)
        let records = Self.records(6_000)
        let file = try OutputFile(path: path)
        file.write(plain)
        try file.compressFromHere()
        for record in records { file.write(record) }
        try file.finish()

        let written = readFileBytes(path)
        let total = records.reduce(0) { $0 + $1.count }
        #expect(total > 3 << 20 && written.count > 1 << 20, "both cross the buffers: \(total) inflated, \(written.count) on disk")
        #expect(written.count < total * 3 / 4, "\(written.count) bytes for \(total)")
        #expect(Array(written.prefix(plain.count)) == plain)
        #expect(Array(written.suffix(32)) == Array(SHA256.hash(data: written.dropLast(32))))

        let input = try InputFile(path: path)
        #expect(try input.read(plain.count) == plain)
        try input.inflateFromHere()
        for record in records {
            guard try input.read(record.count) == record else { Issue.record("a record reads back changed"); return }
        }
        #expect(try input.trailerMatches())
        #expect(input.atEnd)
    }

    /// Inflated bytes that end on the reader's buffer boundary (two buffers exactly): the stream
    /// reads back whole and ends there, with the trailer after it.
    @Test func aStreamWhoseInflatedBytesFillTheLastBufferExactlyEndsThere() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.child("exact")
        let bytes = Self.records(6_000).joined().prefix(2 << 20)
        #expect(bytes.count == 2 << 20)
        let file = try OutputFile(path: path)
        try file.compressFromHere()
        file.write(Array(bytes))
        try file.finish()

        let input = try InputFile(path: path)
        try input.inflateFromHere()
        #expect(try input.read(bytes.count) == Array(bytes))
        #expect(try input.trailerMatches())
        #expect(input.atEnd)
    }

    /// A snapshot of `count` operations whose metadata does not compress, so that its compressed
    /// records are several megabytes.
    func storeWithALargeSnapshot(_ directory: TemporaryDirectory, count: Int = 4_000) throws -> (Store, SnapshotFile.Info) {
        let store = try Store(directory: directory.child("data"), logger: Fixtures.quietLogger)
        let noise = Self.records(count * 3)
        for index in 0..<count {
            let name = try OperationName(collection: CollectionName(parent: ""), id: "op-\(index)")
            let metadata = Payload(typeURL: "type.googleapis.com/acme.Meta", value: noise[index * 3])
            try store.write { writer in
                try writer.append([.init(actor: Fixtures.producer, kind: .created(Event.Created(metadata: metadata)))], name: name, time: Timestamp(seconds: 1_800_000_000 + Int64(index)))
            }
        }
        return (store, try SnapshotFile.write(store, into: store.snapshotDirectory, keep: 3, createdUnixNanos: 0))
    }

    /// A changed byte inside the compressed records is reported as a plain snapshot's is, by its
    /// SHA-256, though the stream stops inflating there: the rest of the file is read to say so.
    @Test func aChangedByteInCompressedRecordsIsNamedByTheSHA256() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (_, info) = try storeWithALargeSnapshot(directory)
        #expect(info.sizeBytes > 2 << 20, "the compressed records outgrow the reader's buffer")
        var bytes = readFileBytes(info.path)
        bytes[bytes.count / 3] ^= 0x5A
        writeFileBytes(info.path, bytes)
        #expect {
            try SnapshotFile.verify(info.path)
        } throws: { error in
            "\(error)".contains("is damaged: its SHA-256 does not match its contents")
        }
    }

    /// Bytes after the compressed stream's end are refused even when the SHA-256 is recomputed
    /// over them: the records must end where the file says they do.
    @Test func bytesAfterTheCompressedRecordsAreRefusedEvenWithAMatchingSHA256() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (_, info) = try storeWithALargeSnapshot(directory, count: 50)
        var bytes = Array(readFileBytes(info.path).dropLast(32)) + [1, 2, 3]
        bytes += Array(SHA256.hash(data: bytes))
        writeFileBytes(info.path, bytes)
        #expect {
            try SnapshotFile.verify(info.path)
        } throws: { error in
            "\(error)".contains("its compressed records go on after their count")
        }
    }
}
