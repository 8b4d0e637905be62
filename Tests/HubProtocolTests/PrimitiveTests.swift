import HubProtocol
import NIOCore
import Testing

private func encoded(_ write: (inout ByteBuffer) -> Void) -> [UInt8] {
    var buffer = ByteBuffer()
    write(&buffer)
    return Array(buffer.readableBytesView)
}

@Suite struct IntegerTests {
    @Test func bigEndianRoundTrips() throws {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int8.min)
        buffer.writeInteger(Int16(0x0102))
        buffer.writeInteger(UInt16.max)
        buffer.writeInteger(Int32(0x0102_0304))
        buffer.writeInteger(Int64.min)
        buffer.writeInteger(Int64.max)
        #expect(
            Array(buffer.readableBytesView)
                == [0x80, 0x01, 0x02, 0xFF, 0xFF, 0x01, 0x02, 0x03, 0x04]
                + [0x80, 0, 0, 0, 0, 0, 0, 0] + [0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        )
        #expect(try buffer.readKafkaInteger(as: Int8.self) == Int8.min)
        #expect(try buffer.readKafkaInteger(as: Int16.self) == 0x0102)
        #expect(try buffer.readKafkaInteger(as: UInt16.self) == UInt16.max)
        #expect(try buffer.readKafkaInteger(as: Int32.self) == 0x0102_0304)
        #expect(try buffer.readKafkaInteger(as: Int64.self) == Int64.min)
        #expect(try buffer.readKafkaInteger(as: Int64.self) == Int64.max)
        #expect(buffer.readableBytes == 0)
    }

    @Test func float64AndBool() throws {
        #expect(encoded { $0.writeKafkaFloat64(1.5) } == [0x3F, 0xF8, 0, 0, 0, 0, 0, 0])
        #expect(encoded { $0.writeKafkaFloat64(-0.1) } == [0xBF, 0xB9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9A])
        #expect(encoded { $0.writeKafkaBool(true) } == [1])
        #expect(encoded { $0.writeKafkaBool(false) } == [0])
        var buffer = ByteBuffer(bytes: [0xBF, 0xB9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9A, 0x00, 0x01, 0x02])
        #expect(try buffer.readKafkaFloat64() == -0.1)
        #expect(try buffer.readKafkaBool() == false)
        #expect(try buffer.readKafkaBool() == true)
        // Like Kafka's reader, any non-zero byte is true.
        #expect(try buffer.readKafkaBool() == true)
    }

    @Test func truncatedIntegersThrow() {
        var buffer = ByteBuffer(bytes: [0x01, 0x02, 0x03])
        #expect(throws: ProtocolError.self) { try buffer.readKafkaInteger(as: Int32.self) }
        // A failed read consumes nothing.
        #expect(buffer.readableBytes == 3)
        var empty = ByteBuffer()
        #expect(throws: ProtocolError.self) { try empty.readKafkaBool() }
        #expect(throws: ProtocolError.self) { try empty.readKafkaFloat64() }
        #expect(throws: ProtocolError.self) { try empty.readKafkaInteger(as: Int8.self) }
    }
}

@Suite struct VarintTests {
    static let signedVarintCases: [(Int32, [UInt8])] = [
        (Int32(0), [UInt8(0x00)]),
        (1, [0x02]),
        (-1, [0x01]),
        (63, [0x7E]),
        (-64, [0x7F]),
        (64, [0x80, 0x01]),
        (-65, [0x81, 0x01]),
        (Int32.max, [0xFE, 0xFF, 0xFF, 0xFF, 0x0F]),
        (Int32.min, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
    ]

    @Test(arguments: Self.signedVarintCases)
    func signedVarint(value: Int32, bytes: [UInt8]) throws {
        #expect(encoded { $0.writeKafkaVarint(value) } == bytes)
        var buffer = ByteBuffer(bytes: bytes)
        #expect(try buffer.readKafkaVarint() == value)
        #expect(buffer.readableBytes == 0)
    }

    static let signedVarlongCases: [(Int64, [UInt8])] = [
        (Int64(0), [UInt8(0x00)]),
        (1, [0x02]),
        (-1, [0x01]),
        (63, [0x7E]),
        (64, [0x80, 0x01]),
        (Int64(Int32.max), [0xFE, 0xFF, 0xFF, 0xFF, 0x0F]),
        (Int64(Int32.min), [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
        (Int64.max, [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        (Int64.min, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
    ]

    @Test(arguments: Self.signedVarlongCases)
    func signedVarlong(value: Int64, bytes: [UInt8]) throws {
        #expect(encoded { $0.writeKafkaVarlong(value) } == bytes)
        var buffer = ByteBuffer(bytes: bytes)
        #expect(try buffer.readKafkaVarlong() == value)
        #expect(buffer.readableBytes == 0)
    }

    static let unsignedVarintCases: [(UInt32, [UInt8])] = [
        (UInt32(0), [UInt8(0x00)]),
        (1, [0x01]),
        (127, [0x7F]),
        (128, [0x80, 0x01]),
        (300, [0xAC, 0x02]),
        (16383, [0xFF, 0x7F]),
        (16384, [0x80, 0x80, 0x01]),
        (UInt32.max, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
    ]

    @Test(arguments: Self.unsignedVarintCases)
    func unsignedVarint(value: UInt32, bytes: [UInt8]) throws {
        #expect(encoded { $0.writeKafkaUnsignedVarint(value) } == bytes)
        #expect(ByteBuffer.kafkaUnsignedVarintSize(value) == bytes.count)
        var buffer = ByteBuffer(bytes: bytes)
        #expect(try buffer.readKafkaUnsignedVarint() == value)
        #expect(buffer.readableBytes == 0)
    }

    @Test func malformedVarintsThrow() {
        func code(_ bytes: [UInt8], _ read: (inout ByteBuffer) throws -> Void) -> ProtocolError.Code? {
            var buffer = ByteBuffer(bytes: bytes)
            do {
                try read(&buffer)
                return nil
            } catch let error as ProtocolError {
                return error.code
            } catch {
                Issue.record("unexpected error \(error)")
                return nil
            }
        }
        // Truncated: a continuation bit and then nothing.
        #expect(code([]) { _ = try $0.readKafkaUnsignedVarint() } == .truncated)
        #expect(code([0x80]) { _ = try $0.readKafkaUnsignedVarint() } == .truncated)
        #expect(code([0xFF, 0xFF]) { _ = try $0.readKafkaVarlong() } == .truncated)
        // Longer than 5 bytes, or more than 32 bits.
        #expect(
            code([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]) { _ = try $0.readKafkaUnsignedVarint() } == .malformedVarint)
        #expect(code([0xFF, 0xFF, 0xFF, 0xFF, 0x1F]) { _ = try $0.readKafkaUnsignedVarint() } == .malformedVarint)
        #expect(code([0xFF, 0xFF, 0xFF, 0xFF, 0x1F]) { _ = try $0.readKafkaVarint() } == .malformedVarint)
        // Longer than 10 bytes, or more than 64 bits.
        #expect(
            code([UInt8](repeating: 0x80, count: 10) + [0x01]) { _ = try $0.readKafkaVarlong() } == .malformedVarint)
        #expect(code([UInt8](repeating: 0xFF, count: 9) + [0x02]) { _ = try $0.readKafkaVarlong() } == .malformedVarint)
    }
}

@Suite struct StringTests {
    @Test func nonCompactForms() throws {
        #expect(encoded { $0.writeKafkaString("", compact: false) } == [0x00, 0x00])
        #expect(encoded { $0.writeKafkaString("abc", compact: false) } == [0x00, 0x03, 0x61, 0x62, 0x63])
        #expect(encoded { $0.writeKafkaNullableString(nil, compact: false) } == [0xFF, 0xFF])
        // Lengths count UTF-8 bytes.
        #expect(encoded { $0.writeKafkaString("é", compact: false) } == [0x00, 0x02, 0xC3, 0xA9])
        var buffer = ByteBuffer(bytes: [0x00, 0x00, 0xFF, 0xFF, 0x00, 0x02, 0xC3, 0xA9])
        #expect(try buffer.readKafkaString(compact: false) == "")
        #expect(try buffer.readKafkaNullableString(compact: false) == nil)
        #expect(try buffer.readKafkaString(compact: false) == "é")
    }

    @Test func compactNullIsNotEmpty() throws {
        #expect(encoded { $0.writeKafkaNullableString(nil, compact: true) } == [0x00])
        #expect(encoded { $0.writeKafkaNullableString("", compact: true) } == [0x01])
        #expect(encoded { $0.writeKafkaString("a", compact: true) } == [0x02, 0x61])
        var buffer = ByteBuffer(bytes: [0x00, 0x01, 0x02, 0x61])
        #expect(try buffer.readKafkaNullableString(compact: true) == nil)
        #expect(try buffer.readKafkaNullableString(compact: true) == "")
        #expect(try buffer.readKafkaNullableString(compact: true) == "a")
    }

    @Test func nullWhereNotNullable() throws {
        var buffer = ByteBuffer(bytes: [0xFF, 0xFF])
        #expect(throws: ProtocolError.self) { try buffer.readKafkaString(compact: false) }
        var compact = ByteBuffer(bytes: [0x00])
        #expect(throws: ProtocolError.self) { try compact.readKafkaNullableString(compact: true, nullable: false) }
        // Writing nil where the version has no null writes the empty string.
        #expect(encoded { $0.writeKafkaNullableString(nil, compact: false, nullable: false) } == [0x00, 0x00])
        #expect(encoded { $0.writeKafkaNullableString(nil, compact: true, nullable: false) } == [0x01])
    }

    @Test func overlongStringsAreCutAtACharacterBoundary() throws {
        // 32766 ASCII bytes and a 2-byte "é": the "é" would end at byte 32768, one past the limit.
        let text = String(repeating: "a", count: 32766) + "é"
        var buffer = ByteBuffer()
        buffer.writeKafkaString(text, compact: false)
        #expect(buffer.readableBytes == 2 + 32766)
        #expect(try buffer.readKafkaString(compact: false) == String(repeating: "a", count: 32766))
    }
}

@Suite struct BytesAndArrayTests {
    @Test func bytesForms() throws {
        let blob = ByteBuffer(bytes: [0xDE, 0xAD])
        #expect(encoded { $0.writeKafkaBytes(blob, compact: false) } == [0, 0, 0, 2, 0xDE, 0xAD])
        #expect(encoded { $0.writeKafkaBytes(blob, compact: true) } == [0x03, 0xDE, 0xAD])
        #expect(encoded { $0.writeKafkaNullableBytes(nil, compact: false) } == [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(encoded { $0.writeKafkaNullableBytes(nil, compact: true) } == [0x00])
        #expect(encoded { $0.writeKafkaBytes(ByteBuffer(), compact: true) } == [0x01])
        var buffer = ByteBuffer(bytes: [0, 0, 0, 2, 0xDE, 0xAD, 0x00, 0x01, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(try buffer.readKafkaBytes(compact: false) == blob)
        #expect(try buffer.readKafkaNullableBytes(compact: true) == nil)
        #expect(try buffer.readKafkaNullableBytes(compact: true) == ByteBuffer())
        #expect(try buffer.readKafkaNullableBytes(compact: false) == nil)
    }

    @Test func bytesAreASliceOfTheInput() throws {
        var buffer = ByteBuffer(bytes: [0, 0, 0, 3, 1, 2, 3])
        let start = buffer.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        let bytes = try buffer.readKafkaBytes(compact: false)
        let sliceStart = bytes.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(sliceStart == start + 4)
    }

    @Test func arrayForms() throws {
        let values: [Int32] = [1, -1]
        let plain = encoded { $0.writeKafkaArray(values, compact: false) { $0.writeInteger($1) } }
        #expect(plain == [0, 0, 0, 2, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF])
        let compact = encoded { $0.writeKafkaArray(values, compact: true) { $0.writeInteger($1) } }
        #expect(compact == [0x03, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(
            encoded { $0.writeKafkaNullableArray([Int32]?.none, compact: false) { $0.writeInteger($1) } } == [
                0xFF, 0xFF, 0xFF, 0xFF,
            ])
        #expect(encoded { $0.writeKafkaNullableArray([Int32]?.none, compact: true) { $0.writeInteger($1) } } == [0x00])
        #expect(encoded { $0.writeKafkaArray([Int32](), compact: true) { $0.writeInteger($1) } } == [0x01])

        var buffer = ByteBuffer(bytes: compact + [0x00, 0x01])
        let read = { (buffer: inout ByteBuffer) throws(ProtocolError) in try buffer.readKafkaInteger(as: Int32.self) }
        #expect(try buffer.readKafkaArray(compact: true, read) == values)
        #expect(try buffer.readKafkaNullableArray(compact: true, read) == nil)
        #expect(try buffer.readKafkaNullableArray(compact: true, read) == [])
    }
}

@Suite struct UuidTests {
    @Test func wireFormAndText() throws {
        let id = Uuid(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210)
        #expect(
            encoded { $0.writeKafkaUuid(id) } == [
                0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10,
            ])
        var buffer = ByteBuffer(bytes: id.bytes)
        #expect(try buffer.readKafkaUuid() == id)
        #expect(id.description == "ASNFZ4mrze_-3LqYdlQyEA")
        #expect(Uuid("ASNFZ4mrze_-3LqYdlQyEA") == id)
        #expect(Uuid.zero.description == "AAAAAAAAAAAAAAAAAAAAAA")
        // Kafka's metadata topic id.
        #expect(Uuid(high: 0, low: 1).description == "AAAAAAAAAAAAAAAAAAAAAQ")
        #expect(Uuid("too short") == nil)
        #expect(Uuid("AAAAAAAAAAAAAAAAAAAAA!") == nil)
        // The last character may only carry 2 bits.
        #expect(Uuid("AAAAAAAAAAAAAAAAAAAAAB") == nil)
    }

    @Test func truncatedUuidThrows() {
        var buffer = ByteBuffer(bytes: [UInt8](repeating: 1, count: 15))
        #expect(throws: ProtocolError.self) { try buffer.readKafkaUuid() }
        #expect(buffer.readableBytes == 15)
    }

    @Test func randomIdsAreUsable() {
        for _ in 0..<100 {
            let id = Uuid.random()
            #expect(id != .zero)
            #expect(!id.description.hasPrefix("-"))
            #expect(Uuid(id.description) == id)
        }
    }
}

@Suite struct TaggedFieldTests {
    @Test func sectionFormAndOrder() throws {
        let fields = [
            TaggedField(tag: 5, data: ByteBuffer(bytes: [0xAA])),
            TaggedField(tag: 1, data: ByteBuffer(bytes: [0xBB, 0xCC])),
        ]
        // Written in ascending tag order whatever the order given.
        #expect(encoded { $0.writeKafkaTaggedFields(fields) } == [0x02, 0x01, 0x02, 0xBB, 0xCC, 0x05, 0x01, 0xAA])
        #expect(encoded { $0.writeKafkaTaggedFields([]) } == [0x00])
        var buffer = ByteBuffer(bytes: [0x02, 0x01, 0x02, 0xBB, 0xCC, 0x05, 0x01, 0xAA])
        #expect(try buffer.readKafkaTaggedFields() == fields.reversed())
        #expect(buffer.readableBytes == 0)
    }

    @Test func hostileSectionsThrow() {
        // A field claims 9 bytes where 1 remains.
        var short = ByteBuffer(bytes: [0x01, 0x00, 0x09, 0xAA])
        #expect(throws: ProtocolError.self) { try short.readKafkaTaggedFields() }
        // A huge field count.
        var many = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00, 0x00])
        #expect(throws: ProtocolError.self) { try many.readKafkaTaggedFields() }
        var truncated = ByteBuffer(bytes: [0x01, 0x00])
        #expect(throws: ProtocolError.self) { try truncated.readKafkaTaggedFields() }
    }
}

@Suite struct HeaderVersionTests {
    @Test func requestHeaderVersions() {
        #expect(ApiKeys.requestHeaderVersion(apiKey: 18, apiVersion: 3) == 2)
        #expect(ApiKeys.requestHeaderVersion(apiKey: 18, apiVersion: 2) == 1)
        #expect(ApiKeys.requestHeaderVersion(apiKey: 0, apiVersion: 9) == 2)
        #expect(ApiKeys.requestHeaderVersion(apiKey: 0, apiVersion: 8) == 1)
        #expect(ApiKeys.requestHeaderVersion(apiKey: 1, apiVersion: 12) == 2)
        #expect(ApiKeys.requestHeaderVersion(apiKey: 1, apiVersion: 11) == 1)
        // SaslHandshake has no flexible version.
        #expect(ApiKeys.requestHeaderVersion(apiKey: 17, apiVersion: 1) == 1)
        #expect(ApiKeys.requestHeaderVersion(apiKey: 999, apiVersion: 5) == 1)
        // A future ApiVersions version is flexible too.
        #expect(ApiKeys.requestHeaderVersion(apiKey: 18, apiVersion: 99) == 2)
    }

    @Test func responseHeaderVersions() {
        #expect(ApiKeys.responseHeaderVersion(apiKey: 0, apiVersion: 9) == 1)
        #expect(ApiKeys.responseHeaderVersion(apiKey: 0, apiVersion: 8) == 0)
        #expect(ApiKeys.responseHeaderVersion(apiKey: 3, apiVersion: 9) == 1)
        #expect(ApiKeys.responseHeaderVersion(apiKey: 17, apiVersion: 1) == 0)
        // ApiVersions responses always use header v0.
        #expect(ApiKeys.responseHeaderVersion(apiKey: 18, apiVersion: 3) == 0)
        #expect(ApiKeys.responseHeaderVersion(apiKey: 18, apiVersion: 4) == 0)
        #expect(ApiKeys.responseHeaderVersion(apiKey: 999, apiVersion: 4) == 0)
    }

    @Test func apiKeyTable() {
        #expect(ApiKeys.produce.rawValue == 0)
        #expect(ApiKeys.produce.name == "Produce")
        #expect(ApiKeys.produce.validVersions == 0...11)
        #expect(ApiKeys.produce.requestFirstFlexibleVersion == 9)
        #expect(ApiKeys.apiVersions.responseFirstFlexibleVersion == 3)
        #expect(ApiKeys.saslHandshake.requestFirstFlexibleVersion == nil)
        #expect(ApiKeys(rawValue: 3) == .metadata)
        for api in ApiKeys.allCases {
            #expect(!api.name.isEmpty)
        }
        #expect(ProduceRequest.apiKey == ApiKeys.produce.rawValue)
        #expect(FetchResponse.firstFlexibleVersion == ApiKeys.fetch.responseFirstFlexibleVersion)
    }
}
