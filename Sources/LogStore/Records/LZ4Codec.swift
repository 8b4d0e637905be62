import CLZ4

/// LZ4 frame compression as Kafka's codec 3 uses it: the LZ4 frame format with independent
/// blocks (Kafka's Java client refuses linked blocks).
public enum LZ4Codec {
    /// Compresses `input` into one LZ4 frame with independent blocks.
    public static func compress(_ input: UnsafeRawBufferPointer) throws(LogStoreError) -> [UInt8] {
        var prefs = LZ4F_preferences_t()
        prefs.frameInfo.blockMode = LZ4F_blockIndependent
        prefs.frameInfo.blockSizeID = LZ4F_max64KB
        let bound = LZ4F_compressFrameBound(input.count, &prefs)
        var output = [UInt8](repeating: 0, count: bound)
        let written = output.withUnsafeMutableBytes { out in
            LZ4F_compressFrame(out.baseAddress, bound, input.baseAddress, input.count, &prefs)
        }
        if LZ4F_isError(written) != 0 {
            throw LogStoreError(.io, "LZ4 compression failed: \(String(cString: LZ4F_getErrorName(written)))")
        }
        output.removeLast(output.count - written)
        return output
    }

    /// Compresses `input` into one LZ4 frame with independent blocks, into `output` (replaced;
    /// its allocation is reused).
    public static func compress(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(LogStoreError) {
        var prefs = LZ4F_preferences_t()
        prefs.frameInfo.blockMode = LZ4F_blockIndependent
        prefs.frameInfo.blockSizeID = LZ4F_max64KB
        let bound = LZ4F_compressFrameBound(input.count, &prefs)
        if output.count < bound { output.append(contentsOf: repeatElement(0, count: bound - output.count)) }
        let written = output.withUnsafeMutableBytes { out in
            LZ4F_compressFrame(out.baseAddress, bound, input.baseAddress, input.count, &prefs)
        }
        if LZ4F_isError(written) != 0 {
            throw LogStoreError(.io, "LZ4 compression failed: \(String(cString: LZ4F_getErrorName(written)))")
        }
        output.removeLast(output.count - written)
    }

    /// Decompresses one or more concatenated LZ4 frames into `output` (cleared first).
    /// - Parameter limit: refuse output larger than this (a guard against decompression bombs).
    /// - Throws: `corruptMessage` when the input is not a complete, valid LZ4 frame.
    public static func decompress(
        _ input: UnsafeRawBufferPointer,
        into output: inout [UInt8],
        limit: Int
    ) throws(LogStoreError) {
        output.removeAll(keepingCapacity: true)
        var context: OpaquePointer?
        let created = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
        guard LZ4F_isError(created) == 0, let context else {
            throw LogStoreError(.io, "cannot create an LZ4 decompression context")
        }
        defer { LZ4F_freeDecompressionContext(context) }

        let chunk = 64 * 1024
        var scratch = [UInt8](repeating: 0, count: chunk)
        guard let source = input.baseAddress, input.count > 0 else {
            throw LogStoreError(.corruptMessage, "empty LZ4 data")
        }
        var consumed = 0
        var hint = 1
        while true {
            var srcSize = input.count - consumed
            var dstSize = chunk
            hint = scratch.withUnsafeMutableBytes { dst in
                LZ4F_decompress(context, dst.baseAddress, &dstSize, source + consumed, &srcSize, nil)
            }
            if LZ4F_isError(hint) != 0 {
                throw LogStoreError(
                    .corruptMessage, "invalid LZ4 data: \(String(cString: LZ4F_getErrorName(hint)))")
            }
            consumed += srcSize
            if output.count + dstSize > limit {
                throw LogStoreError(.corruptMessage, "LZ4 data decompresses to more than \(limit) bytes")
            }
            output.append(contentsOf: scratch[0..<dstSize])
            if hint == 0 && consumed == input.count { break }
            if srcSize == 0 && dstSize == 0 { break }
        }
        if hint != 0 {
            throw LogStoreError(.corruptMessage, "truncated LZ4 frame")
        }
    }
}
