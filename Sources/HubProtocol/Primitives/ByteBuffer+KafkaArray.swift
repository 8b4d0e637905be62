import NIOCore

/// Arrays: an `int32` count (-1 = null), or in flexible versions a compact count (unsigned varint
/// of count + 1, 0 = null), then the elements.
extension ByteBuffer {
    /// Reads a non-nullable array whose elements `readElement` reads.
    /// - Throws: `ProtocolError` when the count is null, negative or larger than the remaining
    ///   input, or when an element is malformed.
    @inlinable
    public mutating func readKafkaArray<Element>(
        compact: Bool,
        _ readElement: (inout ByteBuffer) throws(ProtocolError) -> Element
    ) throws(ProtocolError) -> [Element] {
        guard let array = try self.readKafkaNullableArray(compact: compact, nullable: false, readElement) else {
            throw .unexpectedNull("array")
        }
        return array
    }

    /// Reads an array that may be null, whose elements `readElement` reads.
    /// - Parameter nullable: whether null is allowed at this version; when false, null throws.
    @inlinable
    public mutating func readKafkaNullableArray<Element>(
        compact: Bool,
        nullable: Bool = true,
        _ readElement: (inout ByteBuffer) throws(ProtocolError) -> Element
    ) throws(ProtocolError) -> [Element]? {
        guard let count = try self.readKafkaLength(compact: compact, int16: false, what: "array") else {
            if nullable { return nil }
            throw .unexpectedNull("array")
        }
        var array: [Element] = []
        // The count is at most the remaining bytes; still, reserve only what small elements make
        // plausible, so that a hostile count cannot make a large allocation on its own.
        array.reserveCapacity(Swift.min(count, 1024))
        for _ in 0..<count {
            array.append(try readElement(&self))
        }
        return array
    }

    /// Reads a non-nullable array of structs at `version`.
    @inlinable
    public mutating func readKafkaArray<Element: KafkaCodable>(
        of type: Element.Type,
        compact: Bool,
        version: Int16
    ) throws(ProtocolError) -> [Element] {
        try self.readKafkaArray(compact: compact) { (buffer) throws(ProtocolError) in
            try Element(from: &buffer, version: version)
        }
    }

    /// Reads an array of structs at `version` that may be null.
    @inlinable
    public mutating func readKafkaNullableArray<Element: KafkaCodable>(
        of type: Element.Type,
        compact: Bool,
        nullable: Bool = true,
        version: Int16
    ) throws(ProtocolError) -> [Element]? {
        try self.readKafkaNullableArray(compact: compact, nullable: nullable) { (buffer) throws(ProtocolError) in
            try Element(from: &buffer, version: version)
        }
    }

    /// Writes an array whose elements `writeElement` writes.
    @inlinable
    public mutating func writeKafkaArray<Element>(
        _ array: [Element],
        compact: Bool,
        _ writeElement: (inout ByteBuffer, Element) -> Void
    ) {
        self.writeKafkaLength(array.count, compact: compact, int16: false)
        for element in array {
            writeElement(&self, element)
        }
    }

    /// Writes an array that may be null.
    /// - Parameter nullable: whether null can be written at this version; when false, nil is
    ///   written as an empty array.
    @inlinable
    public mutating func writeKafkaNullableArray<Element>(
        _ array: [Element]?,
        compact: Bool,
        nullable: Bool = true,
        _ writeElement: (inout ByteBuffer, Element) -> Void
    ) {
        if let array {
            self.writeKafkaArray(array, compact: compact, writeElement)
        } else {
            self.writeKafkaLength(nullable ? nil : 0, compact: compact, int16: false)
        }
    }

    /// Writes an array of structs at `version`.
    @inlinable
    public mutating func writeKafkaArray<Element: KafkaCodable>(_ array: [Element], compact: Bool, version: Int16) {
        self.writeKafkaArray(array, compact: compact) { buffer, element in
            element.encode(to: &buffer, version: version)
        }
    }

    /// Writes an array of structs at `version` that may be null.
    @inlinable
    public mutating func writeKafkaNullableArray<Element: KafkaCodable>(
        _ array: [Element]?,
        compact: Bool,
        nullable: Bool = true,
        version: Int16
    ) {
        self.writeKafkaNullableArray(array, compact: compact, nullable: nullable) { buffer, element in
            element.encode(to: &buffer, version: version)
        }
    }
}
