import Foundation
import LongrunDefaults
import Testing

@Suite("JSON strings")
struct JSONStringTests {
    @Test func quotesBackslashesAndControlCharactersAreEscaped() {
        #expect(JSONString.quote(#"say "hi"\now"#) == #""say \"hi\"\\now""#)
        #expect(JSONString.quote("a\nb\rc\td") == #""a\nb\rc\td""#)
        #expect(JSONString.quote("\u{0}\u{1}\u{1F}") == #""\u0000\u0001\u001f""#)
    }

    @Test func otherCharactersArePassedThrough() {
        #expect(JSONString.quote("") == #""""#)
        #expect(JSONString.quote("ünï \u{1F600} \u{7F} /") == "\"ünï \u{1F600} \u{7F} /\"")
    }

    /// Whatever the text, a JSON parser reads the literal back as the same text.
    @Test(arguments: ["", "plain", "\"\\\"", "\u{0}\u{8}\u{C}\u{1B}\u{1F} ", "ünï\u{301}\u{1F600}\u{2028}", "line\r\nbreak\ttab"])
    func aJSONParserReadsBackTheText(_ text: String) throws {
        let literal = JSONString.quote(text)
        let decoded = try JSONDecoder().decode(String.self, from: Data(literal.utf8))
        #expect(decoded == text)
    }
}
