import NIOCore

/// A tagged field of a flexible version: its tag and its raw bytes.
///
/// Every struct of a flexible version ends with a tagged-field section. Tags a struct does not know
/// are kept in its `unknownTaggedFields`, so that they survive a decode and re-encode unchanged.
public struct TaggedField: Sendable, Hashable {
    /// The tag, unique within its struct.
    public var tag: UInt32
    /// The field's encoded value, without the tag and size prefix.
    public var data: ByteBuffer

    public init(tag: UInt32, data: ByteBuffer) {
        self.tag = tag
        self.data = data
    }

    /// A tagged field whose value `encode` writes.
    @inlinable
    public init(tag: UInt32, encoding encode: (inout ByteBuffer) -> Void) {
        var data = ByteBuffer()
        encode(&data)
        self.init(tag: tag, data: data)
    }
}

extension ByteBuffer {
    /// Reads a tagged-field section: an unsigned varint count, then for each field an unsigned
    /// varint tag, an unsigned varint size and that many bytes (kept as a slice, not copied).
    @inlinable
    public mutating func readKafkaTaggedFields() throws(ProtocolError) -> [TaggedField] {
        let count = Int(try self.readKafkaUnsignedVarint())
        if count == 0 { return [] }
        // Each field takes at least two bytes (tag and size).
        guard count <= self.readableBytes / 2 else {
            throw .lengthExceedsInput("tagged field count", count, remaining: self.readableBytes)
        }
        var fields: [TaggedField] = []
        fields.reserveCapacity(count)
        for _ in 0..<count {
            let tag = try self.readKafkaUnsignedVarint()
            let size = Int(try self.readKafkaUnsignedVarint())
            guard let data = self.readSlice(length: size) else {
                throw .lengthExceedsInput("tagged field \(tag) size", size, remaining: self.readableBytes)
            }
            fields.append(TaggedField(tag: tag, data: data))
        }
        return fields
    }

    /// Writes a tagged-field section. Fields are written in ascending tag order, as the protocol
    /// requires, whatever their order in `fields`.
    @inlinable
    public mutating func writeKafkaTaggedFields(_ fields: [TaggedField]) {
        self.writeKafkaUnsignedVarint(UInt32(truncatingIfNeeded: fields.count))
        if fields.isEmpty { return }
        let isSorted = zip(fields, fields.dropFirst()).allSatisfy { $0.tag <= $1.tag }
        for field in isSorted ? fields : fields.sorted(by: { $0.tag < $1.tag }) {
            self.writeKafkaUnsignedVarint(field.tag)
            self.writeKafkaUnsignedVarint(UInt32(truncatingIfNeeded: field.data.readableBytes))
            self.writeImmutableBuffer(field.data)
        }
    }
}
