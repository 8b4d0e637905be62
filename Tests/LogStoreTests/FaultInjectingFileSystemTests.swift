import Foundation
import Testing

@testable import LogStore

/// Tests of the test-support ``FaultInjectingFileSystem`` itself.
struct FaultInjectingFileSystemTests {
    /// Runs `body` on a fault-injecting file system over a fresh temporary directory.
    private func withFileSystem(_ body: (FaultInjectingFileSystem) throws -> Void) throws {
        let fs = try FaultInjectingFileSystem.temporary(prefix: "fault-fs-test")
        defer { try? FileManager.default.removeItem(atPath: fs.root) }
        try body(fs)
    }

    private func write(_ handle: any LogStore.FileHandle, _ bytes: [UInt8], at offset: Int64) throws {
        try bytes.withUnsafeBytes { raw in try handle.write(raw, at: offset) }
    }

    /// The real content of `path` (read through the file system under test).
    private func contents(_ fs: FaultInjectingFileSystem, _ path: String) throws -> [UInt8] {
        try fs.readContents(of: path)
    }

    /// Creates `name` under the root with `bytes`, synced, and syncs the root: fully durable.
    private func makeDurableFile(_ fs: FaultInjectingFileSystem, _ name: String, _ bytes: [UInt8]) throws {
        let handle = try fs.openFile(name, create: true)
        try write(handle, bytes, at: 0)
        try handle.sync()
        try fs.syncDirectory(fs.root)
    }

    private func expectIO(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
        let error = #expect(throws: LogStoreError.self, sourceLocation: sourceLocation) { try body() }
        #expect(error?.code == .io, sourceLocation: sourceLocation)
    }

    // MARK: File content

    @Test func unsyncedAppendedBytesVanish() throws {
        try withFileSystem { fs in
            try makeDurableFile(fs, "log", [1, 2, 3])
            let handle = try fs.openFile("log", create: false)
            try write(handle, [4, 5, 6], at: 3)
            #expect(try contents(fs, "log") == [1, 2, 3, 4, 5, 6])
            try fs.simulatePowerLoss()
            #expect(try contents(fs, "log") == [1, 2, 3])
        }
    }

    @Test func neverSyncedFileInSyncedDirectoryIsEmpty() throws {
        try withFileSystem { fs in
            let handle = try fs.openFile("log", create: true)
            try fs.syncDirectory(fs.root)
            try write(handle, [1, 2, 3], at: 0)
            try fs.simulatePowerLoss()
            #expect(fs.fileExists("log"))
            #expect(try contents(fs, "log") == [])
        }
    }

    @Test func syncedBytesSurvive() throws {
        try withFileSystem { fs in
            let handle = try fs.openFile("log", create: true)
            try fs.syncDirectory(fs.root)
            try write(handle, [1, 2, 3, 4], at: 0)
            try handle.sync()
            try fs.simulatePowerLoss()
            #expect(try contents(fs, "log") == [1, 2, 3, 4])
        }
    }

    @Test func bytesWrittenAfterSyncVanishButSyncedPrefixSurvives() throws {
        try withFileSystem { fs in
            let handle = try fs.openFile("log", create: true)
            try fs.syncDirectory(fs.root)
            try write(handle, [1, 2, 3], at: 0)
            try handle.sync()
            try write(handle, [4, 5], at: 3)
            try write(handle, [9], at: 0)  // an overwrite of synced bytes is lost too
            try fs.simulatePowerLoss()
            #expect(try contents(fs, "log") == [1, 2, 3])
        }
    }

    @Test func unsyncedTruncationIsUndone() throws {
        try withFileSystem { fs in
            try makeDurableFile(fs, "log", [1, 2, 3, 4])
            let handle = try fs.openFile("log", create: false)
            try handle.truncate(to: 1)
            try fs.simulatePowerLoss()
            #expect(try contents(fs, "log") == [1, 2, 3, 4])
        }
    }

    // MARK: Directory entries

    @Test func syncedFileInUnsyncedDirectoryVanishes() throws {
        try withFileSystem { fs in
            try fs.createDirectory(fs.root + "/topic-0")
            try fs.syncDirectory(fs.root)
            let handle = try fs.openFile(fs.root + "/topic-0/00000000000000000000.log", create: true)
            try write(handle, [1, 2, 3], at: 0)
            try handle.sync()
            try fs.simulatePowerLoss()
            #expect(fs.isDirectory(fs.root + "/topic-0"))
            #expect(!fs.fileExists(fs.root + "/topic-0/00000000000000000000.log"))
            #expect(try fs.contentsOfDirectory(fs.root + "/topic-0") == [])
        }
    }

    @Test func fileSurvivesOnceItsDirectoryIsSynced() throws {
        try withFileSystem { fs in
            try fs.createDirectory("topic-0")
            try fs.syncDirectory(".")
            let handle = try fs.openFile("topic-0/a.log", create: true)
            try write(handle, [7, 8], at: 0)
            try handle.sync()
            try fs.syncDirectory("topic-0")
            try fs.simulatePowerLoss()
            #expect(try contents(fs, "topic-0/a.log") == [7, 8])
        }
    }

    @Test func directoryNotSyncedInItsParentVanishesWithItsContents() throws {
        try withFileSystem { fs in
            try fs.createDirectory("topic-0")
            let handle = try fs.openFile("topic-0/a.log", create: true)
            try write(handle, [7, 8], at: 0)
            try handle.sync()
            try fs.syncDirectory("topic-0")  // the directory's listing is durable, its own entry is not
            try fs.simulatePowerLoss()
            #expect(!fs.fileExists("topic-0"))
            #expect(try fs.contentsOfDirectory(fs.root) == [])
        }
    }

    @Test func renameWithoutDirectorySyncIsUndone() throws {
        try withFileSystem { fs in
            try makeDurableFile(fs, "old", [1, 2, 3])
            try fs.rename("old", to: "new")
            #expect(fs.fileExists("new") && !fs.fileExists("old"))
            try fs.simulatePowerLoss()
            #expect(!fs.fileExists("new"))
            #expect(try contents(fs, "old") == [1, 2, 3])
        }
    }

    @Test func renameOverAnExistingFileWithoutDirectorySyncIsUndone() throws {
        try withFileSystem { fs in
            try makeDurableFile(fs, "checkpoint", [1, 1, 1])
            let temporary = try fs.openFile("checkpoint.tmp", create: true)
            try write(temporary, [2, 2], at: 0)
            try temporary.sync()
            try fs.rename("checkpoint.tmp", to: "checkpoint")
            #expect(try contents(fs, "checkpoint") == [2, 2])
            try fs.simulatePowerLoss()
            #expect(try contents(fs, "checkpoint") == [1, 1, 1])
            #expect(!fs.fileExists("checkpoint.tmp"))  // its creation was never made durable either
        }
    }

    @Test func renameFollowedByDirectorySyncSurvives() throws {
        try withFileSystem { fs in
            try makeDurableFile(fs, "checkpoint", [1, 1, 1])
            let temporary = try fs.openFile("checkpoint.tmp", create: true)
            try write(temporary, [2, 2], at: 0)
            try temporary.sync()
            try fs.rename("checkpoint.tmp", to: "checkpoint")
            try fs.syncDirectory(fs.root)
            try fs.simulatePowerLoss()
            #expect(try contents(fs, "checkpoint") == [2, 2])
            #expect(try fs.contentsOfDirectory(fs.root) == ["checkpoint"])
        }
    }

    @Test func renameAcrossDirectoriesNeedsBothParentsSynced() throws {
        try withFileSystem { fs in
            try fs.createDirectory("a")
            try fs.createDirectory("b")
            try fs.syncDirectory(fs.root)
            let handle = try fs.openFile("a/f", create: true)
            try write(handle, [5], at: 0)
            try handle.sync()
            try fs.syncDirectory("a")
            try fs.rename("a/f", to: "b/f")
            try fs.syncDirectory("b")  // only the target: the source still durably lists it
            try fs.simulatePowerLoss()
            #expect(try contents(fs, "a/f") == [5])
            #expect(try contents(fs, "b/f") == [5])
        }
    }

    @Test func removalWithoutDirectorySyncIsUndone() throws {
        try withFileSystem { fs in
            try makeDurableFile(fs, "segment.log", [9, 8, 7])
            try fs.removeFile("segment.log")
            #expect(!fs.fileExists("segment.log"))
            try fs.simulatePowerLoss()
            #expect(try contents(fs, "segment.log") == [9, 8, 7])
        }
    }

    @Test func removalFollowedByDirectorySyncSurvives() throws {
        try withFileSystem { fs in
            try makeDurableFile(fs, "segment.log", [9, 8, 7])
            try fs.removeFile("segment.log")
            try fs.syncDirectory(fs.root)
            try fs.simulatePowerLoss()
            #expect(!fs.fileExists("segment.log"))
        }
    }

    @Test func directoryRemovalWithoutParentSyncIsUndone() throws {
        try withFileSystem { fs in
            try fs.createDirectory("topic-0")
            try fs.syncDirectory(fs.root)
            try fs.removeDirectory("topic-0")
            try fs.simulatePowerLoss()
            #expect(fs.isDirectory("topic-0"))
        }
    }

    @Test func unsyncedWriteToARemovedButDurableFileComesBackAsSynced() throws {
        try withFileSystem { fs in
            try makeDurableFile(fs, "f", [1])
            let handle = try fs.openFile("f", create: false)
            try fs.removeFile("f")
            try write(handle, [2, 3], at: 1)
            try handle.sync()  // the inode is still durably linked, so its content is durable
            try fs.simulatePowerLoss()
            #expect(try contents(fs, "f") == [1, 2, 3])
        }
    }

    @Test func pathsAreNormalisedSoAFileIsTrackedOnce() throws {
        try withFileSystem { fs in
            try fs.createDirectory(fs.root + "//d/")
            try fs.syncDirectory(fs.root + "/.")
            let handle = try fs.openFile("d/./f", create: true)
            try fs.syncDirectory(fs.root + "/d/../d")
            try write(handle, [4, 2], at: 0)
            let second = try fs.openFile(fs.root + "/d//f", create: true)
            try second.sync()
            try fs.simulatePowerLoss()
            #expect(try contents(fs, "d/f") == [4, 2])
            #expect(throws: LogStoreError.self) { try fs.openFile("/definitely-not-under-root/f", create: true) }
            #expect(throws: LogStoreError.self) { try fs.openFile("../escape", create: true) }
        }
    }

    @Test func ancestorsOfTheRootCanBeCreatedAndSynced() throws {
        try withFileSystem { fs in
            var prefix = ""
            for part in fs.root.split(separator: "/") {
                prefix += "/" + part
                try fs.createDirectory(prefix)  // what a `mkdir -p` of the data directory does
            }
            try fs.syncDirectory((fs.root as NSString).deletingLastPathComponent)
            #expect(throws: LogStoreError.self) { try fs.createDirectory(fs.root + "-sibling") }
            #expect(throws: LogStoreError.self) { try fs.syncDirectory("/proc") }
        }
    }

    @Test func filesPresentAtCreationAreDurable() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fault-fs-test-\(UUID())")
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("sub"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data([1, 2]).write(to: directory.appendingPathComponent("sub/f"))
        let fs = try FaultInjectingFileSystem(root: directory.path)
        try fs.removeFile("sub/f")
        try fs.removeDirectory("sub")
        try fs.simulatePowerLoss()
        #expect(try contents(fs, "sub/f") == [1, 2])
    }

    // MARK: Power loss and handles

    @Test func handlesOpenedBeforePowerLossAreDead() throws {
        try withFileSystem { fs in
            try makeDurableFile(fs, "f", [1, 2])
            let handle = try fs.openFile("f", create: false)
            try fs.simulatePowerLoss()
            expectIO { _ = try handle.size() }
            expectIO { try write(handle, [3], at: 0) }
            expectIO { try handle.sync() }
            #expect(try contents(fs, "f") == [1, 2])
            let fresh = try fs.openFile("f", create: false)
            try write(fresh, [3], at: 2)
            try fresh.sync()
            try fs.simulatePowerLoss()
            #expect(try contents(fs, "f") == [1, 2, 3])
        }
    }

    @Test func stateAfterPowerLossIsFullyDurable() throws {
        try withFileSystem { fs in
            try makeDurableFile(fs, "f", [1])
            try fs.simulatePowerLoss()
            try fs.simulatePowerLoss()
            #expect(try contents(fs, "f") == [1])
        }
    }

    @Test func lockFileIsARealLockReleasedByPowerLoss() throws {
        try withFileSystem { fs in
            let held = try fs.lockFile("lock")
            try fs.syncDirectory(fs.root)
            let error = #expect(throws: LogStoreError.self) { try PosixFileSystem().lockFile(fs.root + "/lock") }
            #expect(error?.code == .dataDirectoryLocked)
            try fs.simulatePowerLoss()  // the old process is gone: its lock no longer applies
            let again = try fs.lockFile("lock")
            _ = (held, again)
        }
    }

    // MARK: Crashes

    @Test func crashAfterOperationsMakesLaterCallsThrow() throws {
        try withFileSystem { fs in
            try makeDurableFile(fs, "log", [])
            let handle = try fs.openFile("log", create: false)
            let before = fs.operationCount
            fs.crashAfterOperations(2)
            try write(handle, [1], at: 0)
            #expect(!fs.hasCrashed)
            try handle.sync()
            #expect(fs.hasCrashed)
            #expect(fs.operationCount == before + 2)
            expectIO { try write(handle, [2], at: 1) }
            expectIO { _ = try handle.size() }
            expectIO {
                var byte: UInt8 = 0
                _ = try withUnsafeMutableBytes(of: &byte) { try handle.read(into: $0, at: 0) }
            }
            expectIO { _ = try fs.openFile("log", create: false) }
            expectIO { _ = try fs.contentsOfDirectory(fs.root) }
            expectIO { try fs.syncDirectory(fs.root) }
            expectIO { _ = try fs.availableBytes(at: fs.root) }
            #expect(fs.operationCount == before + 2)
            try fs.simulatePowerLoss()
            #expect(!fs.hasCrashed)
            #expect(try contents(fs, "log") == [1])
        }
    }

    @Test func crashBetweenWriteAndSyncLosesTheWrite() throws {
        try withFileSystem { fs in
            try makeDurableFile(fs, "log", [1])
            let handle = try fs.openFile("log", create: false)
            fs.crashAfterOperations(1)
            try write(handle, [2], at: 1)
            expectIO { try handle.sync() }
            try fs.simulatePowerLoss()
            #expect(try contents(fs, "log") == [1])
        }
    }

    @Test func crashAfterZeroOperationsCrashesAtOnce() throws {
        try withFileSystem { fs in
            fs.crashAfterOperations(0)
            #expect(fs.hasCrashed)
            expectIO { try fs.createDirectory("d") }
            #expect(!fs.isDirectory("d"))
        }
    }

    @Test func writeAtomicallyIsAtomicAtEveryCrashPoint() throws {
        try withFileSystem { fs in
            let path = fs.root + "/checkpoint"
            try fs.writeAtomically([1, 1, 1, 1], to: path)
            let start = fs.operationCount
            try fs.writeAtomically([2, 2], to: path)
            let total = fs.operationCount - start
            #expect(total == 6)  // open(create), truncate, write, sync, rename, syncDirectory
            try fs.writeAtomically([1, 1, 1, 1], to: path)
            for crashPoint in 0..<total {
                fs.crashAfterOperations(crashPoint)
                #expect(throws: LogStoreError.self) { try fs.writeAtomically([2, 2], to: path) }
                try fs.simulatePowerLoss()
                let survived = try contents(fs, "checkpoint")
                #expect(survived == [1, 1, 1, 1], "crash after \(crashPoint) operations")
                try fs.writeAtomically([1, 1, 1, 1], to: path)
            }
            // Crashing right after the directory sync keeps the new content.
            fs.crashAfterOperations(total)
            try fs.writeAtomically([2, 2], to: path)
            #expect(fs.hasCrashed)
            try fs.simulatePowerLoss()
            #expect(try contents(fs, "checkpoint") == [2, 2])
        }
    }

    // MARK: mmap

    @Test func mappedWriteSurvivesOnlyWithSyncMapped() throws {
        try withFileSystem { fs in
            let handle = try fs.openFile("index", create: true)
            try handle.allocate(size: 4096)
            try handle.sync()
            try fs.syncDirectory(fs.root)
            do {
                let region = try handle.map(length: 4096)
                region.pointer.storeBytes(of: 0xAB, toByteOffset: 10, as: UInt8.self)
                try handle.syncMapped(region)
                region.pointer.storeBytes(of: 0xCD, toByteOffset: 20, as: UInt8.self)  // never msynced
                #expect(try contents(fs, "index").dropFirst(20).first == 0xCD)  // visible through reads at once
            }
            try fs.simulatePowerLoss()
            let bytes = try contents(fs, "index")
            try #require(bytes.count == 4096)
            #expect(bytes[10] == 0xAB)
            #expect(bytes[20] == 0)
        }
    }

    @Test func mappedWriteWithoutSyncMappedIsLost() throws {
        try withFileSystem { fs in
            let handle = try fs.openFile("index", create: true)
            try handle.allocate(size: 4096)
            try handle.sync()
            try fs.syncDirectory(fs.root)
            do {
                let region = try handle.map(length: 4096)
                region.pointer.storeBytes(of: 0xAB, toByteOffset: 10, as: UInt8.self)
            }
            try fs.simulatePowerLoss()
            let bytes = try contents(fs, "index")
            try #require(bytes.count == 4096)
            #expect(bytes[10] == 0)
        }
    }

    // MARK: Injected faults

    @Test func failSyncsThrowsAndKeepsDurableContent() throws {
        try withFileSystem { fs in
            let handle = try fs.openFile("log", create: true)
            try fs.syncDirectory(fs.root)
            try write(handle, [1, 2], at: 0)
            try handle.sync()
            try write(handle, [3, 4], at: 2)
            fs.failSyncs = true
            let error = #expect(throws: LogStoreError.self) { try handle.sync() }
            #expect(error?.code == .io)
            #expect(error?.message.contains("fdatasync failed (injected)") == true)
            #expect(throws: LogStoreError.self) { try handle.sync() }  // still failing
            #expect(try fs.durableContent(of: "log") == [1, 2])
            try fs.simulatePowerLoss()
            #expect(try contents(fs, "log") == [1, 2])
        }
    }

    @Test func failNextSyncFailsExactlyOnce() throws {
        try withFileSystem { fs in
            let handle = try fs.openFile("log", create: true)
            try fs.syncDirectory(fs.root)
            try write(handle, [1], at: 0)
            fs.failNextSync()
            expectIO { try handle.sync() }
            #expect(try fs.durableContent(of: "log") == [])
            try handle.sync()
            #expect(try fs.durableContent(of: "log") == [1])
        }
    }

    @Test func failSyncsAlsoFailsSyncMapped() throws {
        try withFileSystem { fs in
            let handle = try fs.openFile("index", create: true)
            try handle.allocate(size: 4096)
            try handle.sync()
            try fs.syncDirectory(fs.root)
            let region = try handle.map(length: 4096)
            region.pointer.storeBytes(of: 1, toByteOffset: 0, as: UInt8.self)
            fs.failSyncs = true
            expectIO { try handle.syncMapped(region) }
            #expect(try fs.durableContent(of: "index")?.first == 0)
        }
    }

    @Test func diskFullFailsWritesWithoutWriting() throws {
        try withFileSystem { fs in
            let handle = try fs.openFile("log", create: true)
            try write(handle, [1], at: 0)
            fs.failWritesWithDiskFull = true
            let error = #expect(throws: LogStoreError.self) { try write(handle, [2, 3], at: 1) }
            #expect(error?.code == .diskFull)
            let allocateError = #expect(throws: LogStoreError.self) { try handle.allocate(size: 1 << 20) }
            #expect(allocateError?.code == .diskFull)
            #expect(try handle.size() == 1)
            fs.failWritesWithDiskFull = false
            try write(handle, [2], at: 1)
            #expect(try contents(fs, "log") == [1, 2])
        }
    }

    @Test func availableBytesOverride() throws {
        try withFileSystem { fs in
            let real = try fs.availableBytes(at: fs.root)
            #expect(real > 0)
            fs.availableBytesOverride = 1234
            let overridden = try fs.availableBytes(at: fs.root)
            #expect(overridden == 1234)
            fs.availableBytesOverride = nil
            let restored = try fs.availableBytes(at: fs.root)
            #expect(restored != 1234)
        }
    }

    @Test func concurrentWritersAreSafe() async throws {
        let fs = try FaultInjectingFileSystem.temporary(prefix: "fault-fs-test")
        defer { try? FileManager.default.removeItem(atPath: fs.root) }
        try fs.syncDirectory(fs.root)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    let handle = try fs.openFile("f\(task)", create: true)
                    for i in 0..<50 {
                        let byte = [UInt8(truncatingIfNeeded: i)]
                        try byte.withUnsafeBytes { raw in try handle.write(raw, at: Int64(i)) }
                        if i % 10 == 9 { try handle.sync() }
                    }
                }
            }
            try await group.waitForAll()
        }
        try fs.syncDirectory(fs.root)
        #expect(fs.operationCount == 1 + 8 * (1 + 50 + 5) + 1)
        try fs.simulatePowerLoss()
        for task in 0..<8 {
            #expect(try contents(fs, "f\(task)") == (0..<50).map { UInt8($0) })
        }
    }
}
