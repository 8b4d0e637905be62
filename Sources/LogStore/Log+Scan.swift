import NIOCore

extension Log {
    /// Calls `body` with every record from `start` (default: the log start offset) up to the high
    /// watermark, in offset order. For small logs such as the internal topics that the server
    /// loads into memory on start; it decodes every record.
    /// - Throws: what ``read(from:maxBytes:)`` or decoding throws, or what `body` throws.
    public func forEachRecord(from start: Int64? = nil, _ body: (Record) throws -> Void) throws {
        var offset = start ?? logStartOffset
        let end = highWatermark
        while offset < end {
            let read = try self.read(from: offset, maxBytes: 4 << 20)
            let records = try read.records.withUnsafeReadableBytes { try RecordBatch.decodeAll($0) }
            guard let last = records.last, last.offset >= offset else { break }
            for record in records where record.offset >= offset && record.offset < end { try body(record) }
            offset = last.offset + 1
        }
    }
}
