import NIOCore
import Testing

@testable import LogStore

/// Every kind of bad batch is refused with its own error, and nothing is appended.
@Suite struct AppendValidationTests {
    /// A valid two-record batch as bytes.
    func batch(compression: Compression = .none, keyed: Bool = true) -> [UInt8] {
        Array(Batches.make(count: 2, keyed: keyed, compression: compression).readableBytesView)
    }

    /// Rewrites the CRC so that a deeper check is what fails.
    func fixCRC(_ bytes: inout [UInt8]) {
        let crc = bytes.withUnsafeBytes { RecordBatchHeader.computeCRC(of: $0) }
        withUnsafeBytes(of: crc.bigEndian) { bytes.replaceSubrange(17..<21, with: $0) }
    }

    func validate(_ bytes: [UInt8], maxMessageBytes: Int = 1 << 20, requireKeys: Bool = false) -> LogStoreError? {
        let validator = AppendValidator(maxMessageBytes: maxMessageBytes, requireKeys: requireKeys)
        var batches: [AppendValidator.Batch] = []
        do {
            try bytes.withUnsafeBytes { try validator.validate($0, into: &batches) }
            return nil
        } catch {
            return error as? LogStoreError
        }
    }

    @Test func validBatchesPass() {
        #expect(validate(batch()) == nil)
        #expect(validate(batch(compression: .lz4)) == nil)
        #expect(validate(batch() + batch(compression: .lz4)) == nil)
    }

    @Test func refusals() {
        var cases: [(String, [UInt8], LogStoreError.Code, Int, Bool)] = []
        let good = batch()
        cases.append(("empty", [], .corruptMessage, 1 << 20, false))
        cases.append(("truncated header", Array(good[0..<30]), .corruptMessage, 1 << 20, false))
        cases.append(("truncated batch", Array(good.dropLast(3)), .corruptMessage, 1 << 20, false))
        cases.append(("trailing bytes", good + [1, 2, 3], .corruptMessage, 1 << 20, false))
        var crc = good
        crc[crc.count - 1] ^= 0xFF
        cases.append(("bad CRC", crc, .corruptMessage, 1 << 20, false))
        var magic = good
        magic[16] = 1
        cases.append(("magic 1", magic, .corruptMessage, 1 << 20, false))
        for (codec, name) in [(1, "gzip"), (2, "snappy"), (4, "zstd")] {
            var compressed = good
            compressed[22] = UInt8(codec)
            fixCRC(&compressed)
            cases.append((name, compressed, .unsupportedCompression, 1 << 20, false))
        }
        var unknownCodec = good
        unknownCodec[22] = 6
        fixCRC(&unknownCodec)
        cases.append(("codec 6", unknownCodec, .corruptMessage, 1 << 20, false))
        var transactional = good
        transactional[22] |= 0x10
        fixCRC(&transactional)
        cases.append(("transactional", transactional, .transactionsNotSupported, 1 << 20, false))
        var control = good
        control[22] |= 0x20
        fixCRC(&control)
        cases.append(("control", control, .transactionsNotSupported, 1 << 20, false))
        var count = good
        count[60] = 3  // record count 3, but 2 records
        fixCRC(&count)
        cases.append(("record count", count, .corruptMessage, 1 << 20, false))
        var lastDelta = good
        lastDelta[26] = 5
        fixCRC(&lastDelta)
        cases.append(("last offset delta", lastDelta, .corruptMessage, 1 << 20, false))
        cases.append(("too large", good, .messageTooLarge, good.count - 1, false))
        cases.append(("keyless on compacted", batch(keyed: false), .invalidRecord, 1 << 20, true))
        cases.append(("keyless lz4 on compacted", batch(compression: .lz4, keyed: false), .invalidRecord, 1 << 20, true))
        // Offset delta of the second record: records start at 61; record 0 is
        // [len][attr][tsDelta][offsetDelta]...; find record 1's offsetDelta by decoding.
        var delta = good
        let secondRecordStart = 61 + 1 + Int(good[61] >> 1)
        delta[secondRecordStart + 3] = 4  // zig-zag 2: offsetDelta 2 instead of 1
        fixCRC(&delta)
        cases.append(("offset delta gap", delta, .corruptMessage, 1 << 20, false))
        var lz4Garbage = batch(compression: .lz4)
        lz4Garbage[70] ^= 0x55
        lz4Garbage[75] ^= 0x55
        fixCRC(&lz4Garbage)
        cases.append(("bad lz4 contents", lz4Garbage, .corruptMessage, 1 << 20, false))
        for (name, bytes, code, maxBytes, requireKeys) in cases {
            let error = validate(bytes, maxMessageBytes: maxBytes, requireKeys: requireKeys)
            #expect(error?.code == code, "\(name): \(String(describing: error))")
            #expect(error.map { !$0.message.isEmpty } ?? false, "\(name) needs a message")
        }
    }

    @Test func refusedAppendsLeaveTheLogUntouched() async throws {
        let dir = TestDirectory()
        defer { dir.remove() }
        let manager = try LogManager(.small(dir.path))
        try manager.createTopic("compacted", config: ["cleanup.policy": "compact"])
        let log = try manager.log(topic: "compacted", partition: 0)
        _ = try await log.append(Batches.make(count: 2))
        let error = await #expect(throws: LogStoreError.self) {
            try await log.append(Batches.make(count: 2, keyed: false))
        }
        #expect(error?.code == .invalidRecord)
        var corrupt = Batches.make(count: 1)
        corrupt.setInteger(corrupt.getInteger(at: corrupt.writerIndex - 2, as: UInt8.self)! ^ 0x40, at: corrupt.writerIndex - 2)
        await #expect(throws: LogStoreError.self) { try await log.append(corrupt) }
        #expect(log.highWatermark == 2)
        let next = try await log.append(Batches.make(count: 1))
        #expect(next.baseOffset == 2)
        await manager.close()
    }
}
