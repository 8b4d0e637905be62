import Foundation

/// A fresh directory under the system temp directory, removed by ``remove()``.
struct TestDirectory {
    let path: String

    init(_ label: String = "hooklog") {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    func file(_ name: String) -> String { path + "/" + name }
}
