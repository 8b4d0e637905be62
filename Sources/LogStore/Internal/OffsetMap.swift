import Crypto

/// The cleaner's key → latest-offset map for one pass: an open-addressing hash table of fixed
/// size, allocated once. Keys are not stored; each is identified by 128 bits of its SHA-256
/// (so two different keys share an entry only with probability about 2⁻¹²⁸ per pair, and
/// nobody can craft such a pair). Each slot is 24 bytes (two hash words and an offset); the
/// table refuses new keys past 75 % load, so probes stay short.
final class OffsetMap {
    /// 128 bits of a key's SHA-256.
    struct KeyHash: Hashable {
        var high: UInt64
        var low: UInt64

        /// Hashes `key` (no allocation: SHA-256 state lives on the stack).
        @inline(__always)
        init(_ key: UnsafeRawBufferPointer) {
            var hasher = SHA256()
            hasher.update(bufferPointer: key)
            let digest = hasher.finalize()
            (high, low) = digest.withUnsafeBytes { raw in
                (raw.loadUnaligned(as: UInt64.self), raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            }
        }
    }

    static let slotSize = 24
    /// Slots in the table.
    let capacity: Int
    /// New keys are refused once this many are in.
    let maxEntries: Int
    private(set) var count = 0
    private let slots: UnsafeMutablePointer<UInt64>

    /// A map using at most `bytes` of memory (at least one slot).
    init(bytes: Int) {
        capacity = max(1, bytes / Self.slotSize)
        maxEntries = max(1, capacity * 3 / 4)
        slots = .allocate(capacity: capacity * 3)
        clear()
    }

    deinit { slots.deallocate() }

    /// Bytes allocated for the table.
    var allocatedBytes: Int { capacity * Self.slotSize }

    /// Empties the map (keeps the allocation).
    func clear() {
        for i in 0..<capacity {
            slots[i * 3] = 0
            slots[i * 3 + 1] = 0
            slots[i * 3 + 2] = UInt64(bitPattern: -1)
        }
        count = 0
    }

    /// Records `offset` as the latest offset of the key. Returns false (and changes nothing)
    /// when the key is new and the map is full.
    @inline(__always)
    func put(_ hash: KeyHash, offset: Int64) -> Bool {
        var i = Int(truncatingIfNeeded: hash.low % UInt64(capacity))
        while true {
            let stored = Int64(bitPattern: slots[i * 3 + 2])
            if stored < 0 {
                guard count < maxEntries else { return false }
                slots[i * 3] = hash.high
                slots[i * 3 + 1] = hash.low
                slots[i * 3 + 2] = UInt64(bitPattern: offset)
                count += 1
                return true
            }
            if slots[i * 3] == hash.high && slots[i * 3 + 1] == hash.low {
                slots[i * 3 + 2] = UInt64(bitPattern: max(stored, offset))
                return true
            }
            i = i + 1 == capacity ? 0 : i + 1
        }
    }

    /// The latest offset recorded for the key, or nil.
    @inline(__always)
    func get(_ hash: KeyHash) -> Int64? {
        var i = Int(truncatingIfNeeded: hash.low % UInt64(capacity))
        while true {
            let stored = Int64(bitPattern: slots[i * 3 + 2])
            if stored < 0 { return nil }
            if slots[i * 3] == hash.high && slots[i * 3 + 1] == hash.low { return stored }
            i = i + 1 == capacity ? 0 : i + 1
        }
    }
}
