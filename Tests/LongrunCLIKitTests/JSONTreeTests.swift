@testable import LongrunCLIKit
import Testing

@Suite("Sorted keys JSON")
struct SortedKeysJSONTests {
    @Test func sortsObjectsRecursivelyAndKeepsTokensAsWritten() {
        let json = #"{"b":1.50,"a":[{"z":null,"y":true},"s\"x"],"\u0041":{"d":-2e3,"c":"\u00e9"}}"#
        #expect(SortedKeysJSON.sorted(json) == #"{"\u0041":{"c":"\u00e9","d":-2e3},"a":[{"y":true,"z":null},"s\"x"],"b":1.50}"#)
    }

    @Test func ordersByDecodedKey() {
        // "\u0062" is "b": it sorts after "a" and before "c", not by its escaped spelling.
        #expect(SortedKeysJSON.sorted(#"{"c":3,"\u0062":2,"a":1}"#) == #"{"a":1,"\u0062":2,"c":3}"#)
    }

    @Test(arguments: ["", "{", #"{"a":}"#, "[1,", #"{"a":1}x"#, #""abc"#])
    func returnsInvalidJSONUnchanged(_ text: String) {
        #expect(SortedKeysJSON.sorted(text) == text)
    }
}
