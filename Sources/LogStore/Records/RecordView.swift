/// A zero-copy view of one record inside a batch's (uncompressed) records section: fields are
/// byte ranges into the section, so walking a batch allocates nothing.
public struct RecordView {
    public var attributes: UInt8
    public var timestampDelta: Int64
    public var offsetDelta: Int32
    /// Range of the key in the records section; nil for a null key.
    public var key: Range<Int>?
    /// Range of the value in the records section; nil for a null value (tombstone).
    public var value: Range<Int>?
    /// Range of the headers (count already consumed) and their number.
    public var headers: Range<Int>
    public var headerCount: Int

    @inlinable
    public init(
        attributes: UInt8, timestampDelta: Int64, offsetDelta: Int32, key: Range<Int>?, value: Range<Int>?,
        headers: Range<Int>, headerCount: Int
    ) {
        self.attributes = attributes
        self.timestampDelta = timestampDelta
        self.offsetDelta = offsetDelta
        self.key = key
        self.value = value
        self.headers = headers
        self.headerCount = headerCount
    }

    /// Walks the `count` records of an uncompressed records section, calling `body` for each.
    /// - Throws: `corruptMessage` when a length or varint is malformed, a record does not end
    ///   where its length says, or bytes are left over after the last record.
    @inlinable
    public static func forEach(
        in section: UnsafeRawBufferPointer,
        count: Int,
        _ body: (RecordView) throws(LogStoreError) -> Void
    ) throws(LogStoreError) {
        var index = 0
        for _ in 0..<count {
            let view = try parse(section, at: &index)
            try body(view)
        }
        if index != section.count {
            throw LogStoreError(
                .corruptMessage, "records section has \(section.count - index) bytes after the last record")
        }
    }

    @inlinable
    static func parse(_ bytes: UnsafeRawBufferPointer, at index: inout Int) throws(LogStoreError) -> RecordView {
        guard let length = Varint.read32(bytes, at: &index), length >= 0 else {
            throw LogStoreError(.corruptMessage, "invalid record length")
        }
        let end = index + Int(length)
        guard end <= bytes.count, index < end else {
            throw LogStoreError(.corruptMessage, "record length \(length) runs past the batch")
        }
        let body = UnsafeRawBufferPointer(rebasing: bytes[..<end])
        let attributes = body[index]
        index += 1
        guard let timestampDelta = Varint.read(body, at: &index),
            let offsetDelta = Varint.read32(body, at: &index)
        else { throw LogStoreError(.corruptMessage, "invalid record timestamp or offset delta") }
        let key = try readBytes(body, at: &index, what: "key")
        let value = try readBytes(body, at: &index, what: "value")
        guard let headerCount = Varint.read32(body, at: &index), headerCount >= 0 else {
            throw LogStoreError(.corruptMessage, "invalid record header count")
        }
        let headersStart = index
        for _ in 0..<headerCount {
            guard try readBytes(body, at: &index, what: "header key") != nil else {
                throw LogStoreError(.corruptMessage, "record header with a null key")
            }
            _ = try readBytes(body, at: &index, what: "header value")
        }
        if index != end {
            throw LogStoreError(.corruptMessage, "record is \(end - index) bytes longer than its fields")
        }
        return RecordView(
            attributes: attributes, timestampDelta: timestampDelta, offsetDelta: offsetDelta, key: key,
            value: value, headers: headersStart..<end, headerCount: Int(headerCount))
    }

    @inlinable
    static func readBytes(
        _ bytes: UnsafeRawBufferPointer, at index: inout Int, what: StaticString
    ) throws(LogStoreError) -> Range<Int>? {
        guard let length = Varint.read32(bytes, at: &index), length >= -1 else {
            throw LogStoreError(.corruptMessage, "invalid record \(what) length")
        }
        if length == -1 { return nil }
        let end = index + Int(length)
        guard end <= bytes.count else {
            throw LogStoreError(.corruptMessage, "record \(what) runs past the record")
        }
        defer { index = end }
        return index..<end
    }

    /// Decodes the headers of this record (allocates; not for hot paths).
    public func decodeHeaders(in section: UnsafeRawBufferPointer) -> [RecordHeader] {
        var result: [RecordHeader] = []
        result.reserveCapacity(headerCount)
        var index = headers.lowerBound
        let body = UnsafeRawBufferPointer(rebasing: section[..<headers.upperBound])
        for _ in 0..<headerCount {
            do {
                guard let keyRange = try Self.readBytes(body, at: &index, what: "header key") else { break }
                let valueRange = try Self.readBytes(body, at: &index, what: "header value")
                let key = String(decoding: body[keyRange], as: UTF8.self)
                result.append(RecordHeader(key: key, value: valueRange.map { Array(body[$0]) }))
            } catch {
                break
            }
        }
        return result
    }
}
