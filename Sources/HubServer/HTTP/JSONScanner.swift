/// A strict JSON validator that reports where each member of an object (or element of an array)
/// sits in the input, so that a value can be kept byte for byte (a CloudEvent's `data`) instead
/// of being re-encoded. Nesting is capped, so hostile input cannot exhaust the stack.
struct JSONScanner {
    struct Failure: Error {
        var message: String
    }

    static let maxDepth = 64

    private let bytes: [UInt8]
    private var position = 0
    private var depth = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The members of the top-level object: each key (decoded) and its value's byte range.
    static func members(of bytes: [UInt8]) throws(Failure) -> [(key: String, value: Range<Int>)] {
        var scanner = JSONScanner(bytes)
        let members = try scanner.topLevel { scanner throws(Failure) in try scanner.object() }
        return members
    }

    /// Checks that `bytes` hold exactly one valid JSON value.
    static func validate(_ bytes: [UInt8]) throws(Failure) {
        var scanner = JSONScanner(bytes)
        _ = try scanner.topLevel { scanner throws(Failure) in try scanner.value() }
    }

    /// The elements of the top-level array, as byte ranges.
    static func elements(of bytes: [UInt8]) throws(Failure) -> [Range<Int>] {
        var scanner = JSONScanner(bytes)
        return try scanner.topLevel { scanner throws(Failure) in try scanner.array() }
    }

    /// The members of the object at `range` of `bytes` (already validated).
    static func members(of bytes: [UInt8], in range: Range<Int>) throws(Failure) -> [(key: String, value: Range<Int>)] {
        var scanner = JSONScanner(Array(bytes[range]))
        return try scanner.topLevel { scanner throws(Failure) in try scanner.object() }.map {
            ($0.key, ($0.value.lowerBound + range.lowerBound)..<($0.value.upperBound + range.lowerBound))
        }
    }

    private mutating func topLevel<T>(_ body: (inout JSONScanner) throws(Failure) -> T) throws(Failure) -> T {
        skipWhitespace()
        let result = try body(&self)
        skipWhitespace()
        guard position == bytes.count else { throw fail("unexpected data after the JSON value") }
        return result
    }

    private func fail(_ message: String) -> Failure {
        Failure(message: "\(message) at byte \(position)")
    }

    private mutating func skipWhitespace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    private mutating func expect(_ byte: UInt8) throws(Failure) {
        guard position < bytes.count, bytes[position] == byte else {
            throw fail("expected '\(Character(Unicode.Scalar(byte)))'")
        }
        position += 1
    }

    private mutating func object() throws(Failure) -> [(key: String, value: Range<Int>)] {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "{") else { throw fail("expected a JSON object") }
        try descend()
        position += 1
        var members: [(key: String, value: Range<Int>)] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            depth -= 1
            return members
        }
        while true {
            skipWhitespace()
            let keyRange = try string()
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            let valueRange = try value()
            members.append((Self.decodeString(bytes[keyRange]), valueRange))
            skipWhitespace()
            guard position < bytes.count else { throw fail("unterminated object") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            try expect(UInt8(ascii: "}"))
            depth -= 1
            return members
        }
    }

    private mutating func array() throws(Failure) -> [Range<Int>] {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "[") else { throw fail("expected a JSON array") }
        try descend()
        position += 1
        var elements: [Range<Int>] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            depth -= 1
            return elements
        }
        while true {
            skipWhitespace()
            elements.append(try value())
            skipWhitespace()
            guard position < bytes.count else { throw fail("unterminated array") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            try expect(UInt8(ascii: "]"))
            depth -= 1
            return elements
        }
    }

    private mutating func descend() throws(Failure) {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("JSON nested deeper than \(Self.maxDepth) levels") }
    }

    /// Validates one value and returns its range.
    private mutating func value() throws(Failure) -> Range<Int> {
        let start = position
        guard position < bytes.count else { throw fail("expected a value") }
        switch bytes[position] {
        case UInt8(ascii: "{"): _ = try object()
        case UInt8(ascii: "["): _ = try array()
        case UInt8(ascii: "\""): _ = try string()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: try number()
        }
        return start..<position
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw fail("invalid literal") }
        for i in 0..<count where bytes[position + i] != word.utf8Start[i] { throw fail("invalid literal") }
        position += count
    }

    private mutating func number() throws(Failure) {
        let start = position
        if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
        func digits(_ scanner: inout JSONScanner) -> Int {
            let from = scanner.position
            while scanner.position < scanner.bytes.count, (0x30...0x39).contains(scanner.bytes[scanner.position]) {
                scanner.position += 1
            }
            return scanner.position - from
        }
        let integerStart = position
        let integerDigits = digits(&self)
        guard integerDigits > 0 else { throw fail("invalid value") }
        if integerDigits > 1 && bytes[integerStart] == 0x30 { throw fail("numbers cannot have leading zeros") }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard digits(&self) > 0 else { throw fail("invalid number") }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard digits(&self) > 0 else { throw fail("invalid number") }
        }
        _ = start
    }

    /// Validates a string (escapes and control characters) and returns its range, quotes included.
    private mutating func string() throws(Failure) -> Range<Int> {
        let start = position
        try expect(UInt8(ascii: "\""))
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                position += 1
                return start..<position
            }
            if byte < 0x20 { throw fail("control character in a string") }
            if byte == UInt8(ascii: "\\") {
                position += 1
                guard position < bytes.count else { break }
                switch bytes[position] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    position += 1
                case UInt8(ascii: "u"):
                    guard position + 4 < bytes.count,
                        bytes[(position + 1)...(position + 4)].allSatisfy({ Self.hexValue($0) != nil })
                    else { throw fail("invalid \\u escape") }
                    position += 5
                default:
                    throw fail("invalid escape")
                }
                continue
            }
            position += 1
        }
        throw fail("unterminated string")
    }

    /// Decodes a validated string literal (quotes included) into a Swift string.
    static func decodeString(_ literal: ArraySlice<UInt8>) -> String {
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        var i = literal.startIndex + 1
        let end = literal.endIndex - 1
        func flush() {
            if !utf8.isEmpty {
                scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
                utf8.removeAll()
            }
        }
        while i < end {
            let byte = literal[i]
            guard byte == UInt8(ascii: "\\") else {
                utf8.append(byte)
                i += 1
                continue
            }
            flush()
            let escape = literal[i + 1]
            i += 2
            switch escape {
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                var code = literal[i..<(i + 4)].reduce(UInt32(0)) { $0 << 4 | UInt32(hexValue($1)!) }
                i += 4
                if (0xD800..<0xDC00).contains(code), i + 5 < end + 1, literal[i] == UInt8(ascii: "\\"),
                    literal[i + 1] == UInt8(ascii: "u")
                {
                    let low = literal[(i + 2)..<(i + 6)].reduce(UInt32(0)) { $0 << 4 | UInt32(hexValue($1)!) }
                    if (0xDC00..<0xE000).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                    }
                }
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default: scalars.append(Unicode.Scalar(escape))
            }
        }
        flush()
        return String(scalars)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }
}
