import HubProtocol
import NIOCore
import Testing

/// Malformed input must end in a `ProtocolError` — never a trap, never an allocation sized by a
/// length the input does not back.
@Suite struct HostileInputTests {
    private func code(_ bytes: [UInt8], _ read: (inout ByteBuffer) throws -> Void) -> ProtocolError.Code? {
        var buffer = ByteBuffer(bytes: bytes)
        do {
            try read(&buffer)
            return nil
        } catch let error as ProtocolError {
            #expect(!error.message.isEmpty)
            return error.code
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    private static let tenBytes = [UInt8](repeating: 0x41, count: 10)

    @Test func hugeLengthsWithLittleInput() {
        // 2^31 - 1 with 10 bytes remaining.
        let huge: [UInt8] = [0x7F, 0xFF, 0xFF, 0xFF] + Self.tenBytes
        #expect(code(huge) { _ = try $0.readKafkaBytes(compact: false) } == .lengthExceedsInput)
        #expect(code(huge) { _ = try $0.readKafkaNullableBytes(compact: false) } == .lengthExceedsInput)
        #expect(
            code(huge) { buffer in
                _ = try buffer.readKafkaArray(compact: false) { (b: inout ByteBuffer) throws(ProtocolError) in
                    try b.readKafkaInteger(as: Int8.self)
                }
            } == .lengthExceedsInput)
        #expect(
            code([0x7F, 0xFF] + Self.tenBytes) { _ = try $0.readKafkaString(compact: false) } == .lengthExceedsInput)
        // The compact forms: 2^32 - 1.
        let compactHuge: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0x0F] + Self.tenBytes
        #expect(code(compactHuge) { _ = try $0.readKafkaString(compact: true) } == .lengthExceedsInput)
        #expect(code(compactHuge) { _ = try $0.readKafkaBytes(compact: true) } == .lengthExceedsInput)
        #expect(
            code(compactHuge) { _ = try $0.readKafkaArray(of: ResponseHeader.self, compact: true, version: 0) }
                == .lengthExceedsInput)
        // One byte more than remains.
        #expect(
            code([0x00, 0x00, 0x00, 0x0B] + Self.tenBytes) { _ = try $0.readKafkaBytes(compact: false) }
                == .lengthExceedsInput)
    }

    @Test func hugeCountsInMessages() {
        // A Produce v3 request whose TopicData claims 2^31 - 1 topics.
        let request: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF, 0xFF] + Self.tenBytes
        #expect(code(request) { _ = try ProduceRequest(from: &$0, version: 3) } == .lengthExceedsInput)
        // A Metadata v9 request whose compact topic count is 2^32 - 2.
        #expect(
            code([0xFF, 0xFF, 0xFF, 0xFF, 0x0F] + Self.tenBytes) { _ = try MetadataRequest(from: &$0, version: 9) }
                == .lengthExceedsInput)
    }

    @Test func negativeLengths() {
        #expect(code([0xFF, 0xFE]) { _ = try $0.readKafkaNullableString(compact: false) } == .negativeLength)
        #expect(code([0x80, 0x00]) { _ = try $0.readKafkaString(compact: false) } == .negativeLength)
        #expect(
            code([0xFF, 0xFF, 0xFF, 0xFE]) { _ = try $0.readKafkaNullableBytes(compact: false) } == .negativeLength)
        #expect(
            code([0x80, 0x00, 0x00, 0x00]) {
                _ = try $0.readKafkaArray(of: ResponseHeader.self, compact: false, version: 0)
            } == .negativeLength)
        // -1 (null) where the field is not nullable.
        #expect(code([0xFF, 0xFF]) { _ = try $0.readKafkaString(compact: false) } == .unexpectedNull)
        #expect(code([0xFF, 0xFF, 0xFF, 0xFF]) { _ = try $0.readKafkaBytes(compact: false) } == .unexpectedNull)
        #expect(
            code([0x00]) { _ = try $0.readKafkaArray(of: ResponseHeader.self, compact: true, version: 1) }
                == .unexpectedNull)
        // A Produce v3 request whose topic name has length -5.
        let request: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xFF, 0xFB]
        #expect(code(request) { _ = try ProduceRequest(from: &$0, version: 3) } == .negativeLength)
    }

    @Test func invalidUTF8() {
        #expect(code([0x00, 0x02, 0xC3, 0x28]) { _ = try $0.readKafkaString(compact: false) } == .invalidUTF8)
        #expect(code([0x02, 0xFF]) { _ = try $0.readKafkaString(compact: true) } == .invalidUTF8)
        // A truncated multi-byte sequence.
        #expect(code([0x00, 0x01, 0xE2]) { _ = try $0.readKafkaString(compact: false) } == .invalidUTF8)
    }

    @Test func truncatedEverything() {
        #expect(code([]) { _ = try $0.readKafkaString(compact: false) } == .truncated)
        #expect(code([0x00]) { _ = try $0.readKafkaString(compact: false) } == .truncated)
        #expect(code([]) { _ = try $0.readKafkaString(compact: true) } == .truncated)
        #expect(code([0x00, 0x00, 0x00]) { _ = try $0.readKafkaBytes(compact: false) } == .truncated)
        #expect(code([0x80]) { _ = try $0.readKafkaBytes(compact: true) } == .truncated)
        #expect(
            code([0x00, 0x00]) { _ = try $0.readKafkaArray(of: ResponseHeader.self, compact: false, version: 0) }
                == .truncated)
        #expect(code([0x01]) { _ = try $0.readKafkaTaggedFields() } == .lengthExceedsInput)
        #expect(code([0x01, 0x00]) { _ = try $0.readKafkaTaggedFields() } == .lengthExceedsInput)
        #expect(code([0x01, 0x00, 0x02, 0x00]) { _ = try $0.readKafkaTaggedFields() } == .lengthExceedsInput)
        #expect(code([]) { _ = try $0.readKafkaTaggedFields() } == .truncated)
        // An array element cut short.
        #expect(
            code([0x00, 0x00, 0x00, 0x01, 0x00, 0x00]) {
                _ = try $0.readKafkaArray(of: ResponseHeader.self, compact: false, version: 0)
            } == .truncated)
        // A message body cut at each byte: see the prefix checks of the fixture tests.
        var empty = ByteBuffer()
        for version in FetchRequest.validVersions {
            #expect(throws: ProtocolError.self) { try FetchRequest(from: &empty, version: version) }
        }
    }

    @Test func taggedFieldLongerThanTheInput() {
        // ApiVersions v3 response with a tagged field of 2^31 bytes.
        let bytes: [UInt8] =
            [0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x80, 0x80, 0x80, 0x80, 0x08] + Self.tenBytes
        #expect(code(bytes) { _ = try ApiVersionsResponse(from: &$0, version: 3) } == .lengthExceedsInput)
        // A known tagged field whose content is malformed.
        let badClusterId: [UInt8] = Array(FetchFixtureTests.requestV12.dropLast(7)) + [0x01, 0x00, 0x02, 0x09, 0x61]
        #expect(code(badClusterId) { _ = try FetchRequest(from: &$0, version: 12) } == .lengthExceedsInput)
    }

    @Test func randomBytesNeverTrap() {
        var random = SplitMix64(seed: 7)
        for _ in 0..<2000 {
            let count = Int(random.next() % 64)
            let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let version = Int16(random.next() % 18)
            var a = ByteBuffer(bytes: bytes)
            _ = try? FetchRequest(from: &a, version: version)
            var b = ByteBuffer(bytes: bytes)
            _ = try? ProduceRequest(from: &b, version: version % 12)
            var c = ByteBuffer(bytes: bytes)
            _ = try? MetadataResponse(from: &c, version: version % 13)
            var d = ByteBuffer(bytes: bytes)
            _ = try? RequestHeader(from: &d)
        }
    }
}
