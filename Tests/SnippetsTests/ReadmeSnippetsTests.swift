import Foundation
import Testing

/// The README's Swift examples are the files in `Snippets/`, which `swift build` compiles: each
/// ```` ```swift ```` block must be one of them, byte for byte, so an example cannot drift from
/// code that builds.
@Suite("README snippets")
struct ReadmeSnippetsTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The contents of every ```` ```swift ```` block of `markdown`, each with its final newline.
    static func swiftBlocks(_ markdown: String) -> [String] {
        var blocks: [String] = []
        var current: [Substring]?
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil {
                if line == "```swift" { current = [] }
            } else if line == "```" {
                blocks.append(current!.map { $0 + "\n" }.joined())
                current = nil
            } else {
                current!.append(line)
            }
        }
        return blocks
    }

    static func snippets() throws -> [String: String] {
        let directory = root.appendingPathComponent("Snippets")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".swift") }
        var files: [String: String] = [:]
        for name in names {
            files[name] = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
        }
        return files
    }

    @Test func everyREADMEExampleIsASnippet() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let blocks = Self.swiftBlocks(readme)
        let snippets = try Self.snippets()
        #expect(blocks.count == 2)
        for block in blocks {
            #expect(snippets.values.contains(block), "a README example is not in Snippets/:\n\(block)")
        }
        for (name, text) in snippets {
            #expect(blocks.contains(text), "Snippets/\(name) is not in the README")
        }
    }

    @Test func blocksAreFoundAsWritten() {
        let markdown = "text\n```swift\nlet a = 1\n\nlet b = 2\n```\n```sh\nls\n```\n```swift\nprint(a)\n```\n"
        #expect(Self.swiftBlocks(markdown) == ["let a = 1\n\nlet b = 2\n", "print(a)\n"])
    }
}
