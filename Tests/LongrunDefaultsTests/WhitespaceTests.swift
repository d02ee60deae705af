import LongrunDefaults
import Testing

@Suite("Whitespace")
struct WhitespaceTests {
    @Test(arguments: [
        ("  30s\t", "30s"), ("\n/var/lib/longrun \r\n", "/var/lib/longrun"), ("a b", "a b"), ("", ""), (" \t\n ", ""),
        // Unicode's whitespace, not only ASCII's: a no-break and an ideographic space.
        ("\u{A0}x\u{3000}", "x"), ("  inner  space  ", "inner  space"),
    ])
    func leadingAndTrailingWhitespaceIsRemoved(_ text: String, _ expected: String) {
        #expect(text.trimmingWhitespace() == expected)
    }
}
