import LogStore
import NIOCore

/// Builds small batches for tests.
enum Batches {
    /// A batch of `count` records with values "<prefix>-<i>" and keys "k<i>".
    static func make(
        count: Int, prefix: String = "v", keyed: Bool = true, compression: Compression = .none,
        timestamp: Int64 = 1_700_000_000_000, valueSize: Int? = nil
    ) -> ByteBuffer {
        var builder = RecordBatchBuilder(compression: compression)
        for i in 0..<count {
            var value = Array("\(prefix)-\(i)".utf8)
            if let valueSize, value.count < valueSize {
                value += [UInt8](repeating: UInt8(ascii: "x"), count: valueSize - value.count)
            }
            builder.append(
                key: keyed ? Array("k\(i)".utf8) : nil, value: value, headers: [],
                timestamp: timestamp + Int64(i))
        }
        return try! builder.build()
    }

    static func values(_ buffer: ByteBuffer) throws -> [String] {
        try buffer.withUnsafeReadableBytes { try RecordBatch.decodeAll($0) }.map {
            String(decoding: $0.value ?? [], as: UTF8.self)
        }
    }

    static func records(_ buffer: ByteBuffer) throws -> [Record] {
        try buffer.withUnsafeReadableBytes { try RecordBatch.decodeAll($0) }
    }
}

extension LogManager.Configuration {
    /// A configuration with small segments and indexes, for tests.
    static func small(_ directory: String, segmentBytes: Int = 4096, fileSystem: any FileSystem = PosixFileSystem())
        -> LogManager.Configuration
    {
        var configuration = LogManager.Configuration(dataDirectory: directory)
        configuration.defaultTopicConfig.segmentBytes = segmentBytes
        configuration.defaultTopicConfig.indexIntervalBytes = 256
        configuration.defaultTopicConfig.segmentIndexBytes = 4096
        configuration.options.minFreeBytes = 0
        configuration.fileSystem = fileSystem
        return configuration
    }
}
