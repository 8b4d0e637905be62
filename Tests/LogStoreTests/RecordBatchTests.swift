import NIOCore
import Testing

@testable import LogStore

@Suite struct CRC32CTests {
    @Test func knownVector() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    }

    @Test func hardwareAndPortableAgree() {
        var bytes = [UInt8]()
        var x: UInt32 = 12345
        for _ in 0..<10_000 {
            x = x &* 1_103_515_245 &+ 12345
            bytes.append(UInt8(truncatingIfNeeded: x >> 16))
        }
        for length in [0, 1, 7, 8, 9, 63, 64, 1000, 9990] {
            let slice = Array(bytes[3..<(3 + length)])
            let portable = slice.withUnsafeBytes { hooklog_crc32c_extend_portable(0, $0.baseAddress, $0.count) }
            #expect(CRC32C.checksum(slice) == portable)
        }
        // Continuing a checksum equals checksumming the concatenation.
        let whole = CRC32C.checksum(Array(bytes[0..<5000]))
        let part = CRC32C.checksum(Array(bytes[0..<1234]))
        let continued = Array(bytes[1234..<5000]).withUnsafeBytes { CRC32C.checksum($0, continuing: part) }
        #expect(whole == continued)
    }
}

import CCRC32C

@Suite struct VarintTests {
    @Test func boundaries() {
        let values: [Int64] = [
            0, -1, 1, 63, -64, 64, -65, 8191, -8192, 8192, Int64(Int32.max), Int64(Int32.min), Int64.max, Int64.min,
        ]
        for value in values {
            var buffer = ByteBuffer()
            Varint.write(value, to: &buffer)
            #expect(buffer.readableBytes == Varint.size(of: value))
            buffer.withUnsafeReadableBytes { raw in
                var index = 0
                #expect(Varint.read(raw, at: &index) == value)
                #expect(index == raw.count)
            }
        }
    }

    @Test func zigZagEncoding() {
        var buffer = ByteBuffer()
        Varint.write(-1, to: &buffer)
        Varint.write(1, to: &buffer)
        Varint.write(64, to: &buffer)
        #expect(Array(buffer.readableBytesView) == [0x01, 0x02, 0x80, 0x01])
    }

    @Test func truncatedAndOverlong() {
        [UInt8]([0x80, 0x80]).withUnsafeBytes { raw in
            var index = 0
            #expect(Varint.read(raw, at: &index) == nil)
        }
        [UInt8](repeating: 0xFF, count: 11).withUnsafeBytes { raw in
            var index = 0
            #expect(Varint.read(raw, at: &index) == nil)
        }
        // A 32-bit field refuses a 64-bit value.
        var buffer = ByteBuffer()
        Varint.write(Int64(Int32.max) + 1, to: &buffer)
        buffer.withUnsafeReadableBytes { raw in
            var index = 0
            #expect(Varint.read32(raw, at: &index) == nil)
        }
    }
}

@Suite struct RecordBatchCodecTests {
    func roundTrip(_ records: [Record], compression: Compression) throws -> [Record] {
        var builder = RecordBatchBuilder(compression: compression)
        for record in records { builder.append(record) }
        let buffer = try builder.build(baseOffset: 42)
        return try buffer.withUnsafeReadableBytes { try RecordBatch.decode($0) }
    }

    @Test(arguments: [Compression.none, .lz4])
    func roundTripsEdgeCases(compression: Compression) throws {
        let manyHeaders = (0..<300).map { RecordHeader(key: "h\($0)", value: $0 % 3 == 0 ? nil : Array("v\($0)".utf8)) }
        let records = [
            Record(timestamp: 1000, key: nil, value: nil),
            Record(timestamp: 999, key: [], value: []),
            Record(timestamp: 5000, key: Array("key".utf8), value: Array("value".utf8), headers: manyHeaders),
            Record(timestamp: 1001, key: [UInt8](repeating: 7, count: 70_000), value: [UInt8](repeating: 9, count: 200_000)),
            Record(timestamp: 1002, key: Array("ünïcødé".utf8), value: Array("🙂".utf8), headers: [RecordHeader(key: "", value: [])]),
        ]
        let decoded = try roundTrip(records, compression: compression)
        #expect(decoded.count == records.count)
        for (i, (original, got)) in zip(records, decoded).enumerated() {
            #expect(got.offset == 42 + Int64(i))
            #expect(got.timestamp == original.timestamp)
            #expect(got.key == original.key)
            #expect(got.value == original.value)
            #expect(got.headers == original.headers)
        }
    }

    @Test func headerFieldsAndCRC() throws {
        var builder = RecordBatchBuilder(compression: .lz4, producerId: 7, producerEpoch: 2, baseSequence: 10)
        builder.append(key: nil, value: Array("a".utf8), timestamp: 100)
        builder.append(key: nil, value: Array("b".utf8), timestamp: 300)
        let buffer = try builder.build(baseOffset: 5)
        let header = try buffer.withUnsafeReadableBytes { try RecordBatch.checkFraming($0) }
        #expect(header.baseOffset == 5)
        #expect(header.magic == 2)
        #expect(header.compressionCode == 3)
        #expect(header.lastOffsetDelta == 1)
        #expect(header.recordCount == 2)
        #expect(header.baseTimestamp == 100)
        #expect(header.maxTimestamp == 300)
        #expect(header.producerId == 7 && header.producerEpoch == 2 && header.baseSequence == 10)
        #expect(header.totalSize == buffer.readableBytes)
    }

    @Test func lz4FramesUseIndependentBlocks() throws {
        let input = [UInt8](repeating: 65, count: 300_000)
        let frame = try input.withUnsafeBytes { try LZ4Codec.compress($0) }
        // Magic 0x184D2204, then FLG: bit 5 is block independence.
        #expect(Array(frame[0..<4]) == [0x04, 0x22, 0x4D, 0x18])
        #expect(frame[4] & 0x20 != 0)
        var output: [UInt8] = []
        try frame.withUnsafeBytes { try LZ4Codec.decompress($0, into: &output, limit: 1 << 20) }
        #expect(output == input)
        #expect(throws: LogStoreError.self) {
            try frame.withUnsafeBytes { try LZ4Codec.decompress($0, into: &output, limit: 1000) }
        }
        let truncated = Array(frame.dropLast(5))
        #expect(throws: LogStoreError.self) {
            try truncated.withUnsafeBytes { try LZ4Codec.decompress($0, into: &output, limit: 1 << 20) }
        }
    }
}
