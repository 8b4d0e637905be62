import ArgumentParser
import Foundation
import LogStore

/// `hooklog dump`: prints the batches and records of a segment file.
struct DumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print the batches and records of a segment (.log) file."
    )

    @Argument(help: "A segment file, e.g. data/events-0/00000000000000000000.log.")
    var segment: String

    @Flag(help: "One JSON object per batch, one per line.")
    var json = false

    @Flag(help: "Batches only, without their records.")
    var batchesOnly = false

    func run() throws {
        var reader = try SegmentFileReader(path: segment)
        var failed = false
        while let entry = try reader.next() {
            switch entry {
            case .invalid(let position, let reason):
                failed = true
                if json {
                    print(jsonLine(["invalid": ["position": position, "reason": reason]]))
                } else {
                    print("INVALID at byte \(position): \(reason)")
                }
            case .batch(let position, let header, let bytes):
                let records = batchesOnly ? [] : try bytes.withUnsafeBytes { try RecordBatch.decode($0) }
                if json {
                    print(jsonLine(batchObject(position: position, header: header, records: records)))
                } else {
                    print(
                        "batch position=\(position) baseOffset=\(header.baseOffset) lastOffset=\(header.lastOffset) "
                            + "count=\(header.recordCount) size=\(header.totalSize) "
                            + "compression=\(Compression(rawValue: header.compressionCode)?.description ?? "?") "
                            + "crc=\(header.crc) baseTimestamp=\(header.baseTimestamp) maxTimestamp=\(header.maxTimestamp) "
                            + "producerId=\(header.producerId) producerEpoch=\(header.producerEpoch) "
                            + "baseSequence=\(header.baseSequence)")
                    for record in records {
                        let headers = record.headers.map { "\($0.key)=\(text($0.value))" }.joined(separator: ",")
                        print(
                            "  offset=\(record.offset) timestamp=\(record.timestamp) key=\(text(record.key)) "
                                + "value=\(text(record.value))" + (headers.isEmpty ? "" : " headers=\(headers)"))
                    }
                }
            }
        }
        if failed { throw ExitCode(1) }
    }

    private func text(_ bytes: [UInt8]?) -> String {
        guard let bytes else { return "null" }
        if let string = String(validating: bytes, as: UTF8.self) { return string }
        return "base64:" + Data(bytes).base64EncodedString()
    }

    private func nullable(_ bytes: [UInt8]?) -> Any {
        bytes.map { text($0) as Any } ?? NSNull()
    }

    private func batchObject(position: Int, header: RecordBatchHeader, records: [Record]) -> [String: Any] {
        var object: [String: Any] = [
            "position": position, "baseOffset": header.baseOffset, "lastOffset": header.lastOffset,
            "recordCount": header.recordCount, "sizeInBytes": header.totalSize, "crc": header.crc,
            "compression": Compression(rawValue: header.compressionCode)?.description ?? "unknown",
            "baseTimestamp": header.baseTimestamp, "maxTimestamp": header.maxTimestamp,
            "producerId": header.producerId, "producerEpoch": header.producerEpoch,
            "baseSequence": header.baseSequence, "partitionLeaderEpoch": header.partitionLeaderEpoch,
        ]
        if !batchesOnly {
            object["records"] = records.map { record -> [String: Any] in
                [
                    "offset": record.offset, "timestamp": record.timestamp,
                    "key": nullable(record.key), "value": nullable(record.value),
                    "headers": record.headers.map { ["key": $0.key, "value": nullable($0.value)] },
                ]
            }
        }
        return object
    }

    private func jsonLine(_ object: Any) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
