#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A fresh directory under the system's temporary directory, removed with everything in it when
/// ``remove()`` is called or the body of ``withTemporaryDirectory(_:)`` returns.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(prefix: String = "longrun-test") {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(result != nil, "mkdtemp failed: \(errno)")
        path = String(cString: result!)
    }

    /// A path inside the directory that does not exist yet.
    public func child(_ name: String) -> String { path + "/" + name }

    public func remove() {
        Self.removeTree(path)
    }

    static func removeTree(_ path: String) {
        guard let directory = opendir(path) else {
            unlink(path)
            return
        }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name == "." || name == ".." { continue }
            let child = path + "/" + name
            var info = stat()
            if lstat(child, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
                removeTree(child)
            } else {
                unlink(child)
            }
        }
        closedir(directory)
        rmdir(path)
    }
}

public func withTemporaryDirectory<R>(_ body: (TemporaryDirectory) async throws -> R) async rethrows -> R {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    return try await body(directory)
}
