"""Segment files written by `hooklog append` are real Kafka RecordBatch v2 data.

Every check reads the `.log` files with kafka-python's own parser
(`kafka.record.memory_records.MemoryRecords`), so a passing run proves that a
Kafka client library accepts our bytes: magic 2, CRC32C over the batch,
compression codec 0 (none) or 3 (LZ4 frame with independent blocks), offsets,
timestamps, keys, values and headers. The record encoding is also compared
byte for byte with kafka-python's reference encoder, and the LZ4 frames are
checked with the `lz4` package independently of kafka-python.

CLI contract used (`hooklog append --help`):
    hooklog append TOPIC --data-dir DIR [--partitions N] [--partition P]
        [--key K] [--header k=v]... [--compression none|lz4]
        [--batch-size N] [--flush always|interval|never]
reads one record value per stdin line, groups up to N lines per batch and
prints the offset of each acknowledged record, one per line.
"""

from __future__ import annotations

import random
import re
import shutil
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import lz4.block
import lz4.frame
import pytest
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

CODECS = {"none": 0, "lz4": 3}
RECORDS_SECTION_START = 61  # size of the RecordBatch v2 header
LZ4_FRAME_MAGIC = b"\x04\x22\x4d\x18"
SEGMENT_NAME = re.compile(r"^(\d{20})\.log$")
# Timestamps are the CLI's wall clock in ms; allow for clock rounding.
TIMESTAMP_SLACK_MS = 1000
CLI_TIMEOUT_S = 60
PIPE_BUF = 4096  # Linux; subprocess writes stdin in chunks of this size


# --------------------------------------------------------------------------
# Running the CLI
# --------------------------------------------------------------------------


@dataclass
class Sent:
    """One record as given to `hooklog append`, with the offset it printed."""

    offset: int
    key: Optional[bytes]
    value: bytes
    headers: list  # [(str, bytes)]
    sent_after_ms: int
    acked_before_ms: int


@dataclass
class Run:
    """One `hooklog append` invocation and what it acknowledged."""

    sent: list
    batch_size: int
    # The CLI groups *up to* --batch-size lines per batch: it batches the
    # complete lines available, so a large stdin that reaches it in several
    # reads may give smaller batches. An input of at most PIPE_BUF bytes is
    # written to the pipe in one atomic write and so is read at once: then the
    # grouping must be exactly greedy (N, N, ..., rest).
    exact_grouping: bool

    def greedy_batches(self) -> list:
        n = self.batch_size
        return [self.sent[i : i + n] for i in range(0, len(self.sent), n)]


def now_ms() -> int:
    return int(time.time() * 1000)


def hooklog_append(
    hooklog_bin: Path,
    data_dir: Path,
    topic: str,
    lines: list,
    *,
    compression: Optional[str] = None,
    batch_size: Optional[int] = None,
    key: Optional[str] = None,
    headers: tuple = (),
    partitions: Optional[int] = None,
    partition: Optional[int] = None,
    flush: Optional[str] = None,
) -> Run:
    """Runs `hooklog append` with `lines` on stdin and returns what it acknowledged."""
    for line in lines:
        assert "\n" not in line and "\r" not in line, f"test bug: {line!r} is not one line"
    args = [str(hooklog_bin), "append", topic, "--data-dir", str(data_dir)]
    if partitions is not None:
        args += ["--partitions", str(partitions)]
    if partition is not None:
        args += ["--partition", str(partition)]
    if key is not None:
        args += ["--key", key]
    for h_key, h_value in headers:
        args += ["--header", f"{h_key}={h_value}"]
    if compression is not None:
        args += ["--compression", compression]
    if batch_size is not None:
        args += ["--batch-size", str(batch_size)]
    if flush is not None:
        args += ["--flush", flush]

    stdin = "".join(line + "\n" for line in lines).encode("utf-8")
    before = now_ms()
    proc = subprocess.run(args, input=stdin, capture_output=True, timeout=CLI_TIMEOUT_S)
    after = now_ms()
    stdout = proc.stdout.decode("utf-8", "replace")
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, (
        f"`{' '.join(args)}` exited {proc.returncode}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    )
    printed = [line.strip() for line in stdout.splitlines() if line.strip()]
    assert all(re.fullmatch(r"\d+", p) for p in printed), (
        f"stdout must be one offset per line, got:\n{stdout}"
    )
    offsets = [int(p) for p in printed]
    assert len(offsets) == len(lines), (
        f"sent {len(lines)} lines but {len(offsets)} offsets were printed: {offsets}\n"
        f"command: {' '.join(args)}\nstderr:\n{stderr}"
    )

    key_bytes = None if key is None else key.encode("utf-8")
    header_list = [(k, v.encode("utf-8")) for k, v in headers]
    sent = [
        Sent(
            offset=offset,
            key=key_bytes,
            value=line.encode("utf-8"),
            headers=list(header_list),
            sent_after_ms=before,
            acked_before_ms=after,
        )
        for offset, line in zip(offsets, lines)
    ]
    return Run(
        sent=sent,
        batch_size=batch_size if batch_size is not None else 100,
        exact_grouping=len(stdin) <= PIPE_BUF,
    )


# --------------------------------------------------------------------------
# Reading segment files with kafka-python
# --------------------------------------------------------------------------


@dataclass
class ReadRecord:
    offset: int
    timestamp: int
    timestamp_type: int
    key: Optional[bytes]
    value: Optional[bytes]
    headers: list


@dataclass
class ReadBatch:
    """One batch as kafka-python parsed it, plus its raw bytes."""

    file: Path
    position: int  # byte position of the batch in its file
    raw: bytes
    base_offset: int
    magic: int
    crc_valid: bool
    attributes: int
    compression_type: int
    timestamp_type: int
    is_transactional: bool
    is_control_batch: bool
    last_offset_delta: int
    first_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int
    records: list = field(default_factory=list)


def read_batches(data: bytes, file: Path) -> list:
    """Parses a whole segment with MemoryRecords.next_batch(); fails on trailing bytes."""
    records = MemoryRecords(data)
    batches = []
    position = 0
    while True:
        batch = records.next_batch()
        if batch is None:
            break
        assert isinstance(batch, DefaultRecordBatch), (
            f"{file}@{position}: kafka-python parsed a legacy (magic 0/1) batch"
        )
        size = batch.size_in_bytes
        raw = data[position : position + size]
        # validate_crc() must run before the batch is iterated (decompressed).
        crc_valid = batch.validate_crc()
        read = ReadBatch(
            file=file,
            position=position,
            raw=raw,
            base_offset=batch.base_offset,
            magic=batch.magic,
            crc_valid=crc_valid,
            attributes=batch.attributes,
            compression_type=batch.compression_type,
            timestamp_type=batch.timestamp_type,
            is_transactional=batch.is_transactional,
            is_control_batch=batch.is_control_batch,
            last_offset_delta=batch.last_offset_delta,
            first_timestamp=batch.first_timestamp,
            max_timestamp=batch.max_timestamp,
            producer_id=batch.producer_id,
            producer_epoch=batch.producer_epoch,
            base_sequence=batch.base_sequence,
            records_count=batch.records_count,
        )
        for record in batch:
            read.records.append(
                ReadRecord(
                    offset=record.offset,
                    timestamp=record.timestamp,
                    timestamp_type=record.timestamp_type,
                    key=record.key,
                    value=record.value,
                    headers=list(record.headers),
                )
            )
        batches.append(read)
        position += size
    assert position == len(data), (
        f"{file}: {len(data) - position} bytes after the last complete batch "
        f"(at byte {position}) that kafka-python could not read as a batch"
    )
    return batches


def segment_files(data_dir: Path, topic: str, partition: int) -> list:
    partition_dir = data_dir / f"{topic}-{partition}"
    assert partition_dir.is_dir(), (
        f"missing partition directory {partition_dir}; data dir has "
        f"{sorted(p.name for p in data_dir.iterdir()) if data_dir.is_dir() else 'nothing'}"
    )
    logs = sorted(partition_dir.glob("*.log"))
    for log in logs:
        assert SEGMENT_NAME.match(log.name), f"segment file name {log.name} is not <20 digits>.log"
    return logs


def read_partition(data_dir: Path, topic: str, partition: int) -> list:
    """All batches of a partition, in segment order; checks segment naming."""
    logs = segment_files(data_dir, topic, partition)
    assert logs, f"no .log segment in {data_dir / f'{topic}-{partition}'}"
    assert logs[0].name == "00000000000000000000.log", (
        f"first segment of {topic}-{partition} is {logs[0].name}"
    )
    batches = []
    for log in logs:
        file_batches = read_batches(log.read_bytes(), log)
        if file_batches:
            name_base = int(SEGMENT_NAME.match(log.name).group(1))
            assert file_batches[0].base_offset == name_base, (
                f"{log.name} starts with a batch at offset {file_batches[0].base_offset}"
            )
        batches += file_batches
    return batches


# --------------------------------------------------------------------------
# Independent helpers (not kafka-python)
# --------------------------------------------------------------------------


def read_varint(buf: bytes, pos: int) -> tuple:
    """Decodes one zigzag varint (Kafka's varint/varlong) at pos."""
    shift = 0
    raw = 0
    while True:
        byte = buf[pos]
        pos += 1
        raw |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        assert shift < 70, "varint too long"
    return (raw >> 1) ^ -(raw & 1), pos


def count_records(section: bytes) -> int:
    """Counts records in an uncompressed records section by walking the length varints."""
    count = 0
    pos = 0
    while pos < len(section):
        length, pos = read_varint(section, pos)
        assert length > 0, f"record {count} has length {length}"
        pos += length
        count += 1
    assert pos == len(section), f"last record overruns the section by {pos - len(section)} bytes"
    return count


def lz4_frame_blocks(frame: bytes) -> tuple:
    """Walks an LZ4 frame; returns (FLG byte, block max size, [(is_compressed, data)])."""
    assert frame[:4] == LZ4_FRAME_MAGIC, f"LZ4 frame magic is {frame[:4].hex()}"
    flg, bd = frame[4], frame[5]
    assert flg >> 6 == 0b01, f"LZ4 frame version bits are {flg >> 6:02b}, want 01"
    block_checksum = bool(flg & 0x10)
    content_size = bool(flg & 0x08)
    content_checksum = bool(flg & 0x04)
    assert not flg & 0x01, "LZ4 frame uses a dictionary ID"
    block_max = {4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20}[(bd >> 4) & 0x07]
    pos = 6 + (8 if content_size else 0) + 1  # + header checksum byte
    blocks = []
    while True:
        (word,) = struct.unpack_from("<I", frame, pos)
        pos += 4
        if word == 0:  # end mark
            break
        size = word & 0x7FFFFFFF
        blocks.append((not word & 0x80000000, frame[pos : pos + size]))
        pos += size + (4 if block_checksum else 0)
    pos += 4 if content_checksum else 0
    assert pos == len(frame), f"{len(frame) - pos} bytes after the LZ4 frame end"
    return flg, block_max, blocks


def reference_records_section(records: list) -> bytes:
    """The uncompressed records section kafka-python's own encoder makes for these records."""
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=False,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 30,
    )
    for delta, record in enumerate(records):
        builder.append(delta, record.timestamp, record.key, record.value, record.headers)
    return bytes(builder.build())[RECORDS_SECTION_START:]


def plain_records_section(batch: ReadBatch) -> bytes:
    section = batch.raw[RECORDS_SECTION_START:]
    if batch.compression_type == CODECS["lz4"]:
        return lz4.frame.decompress(section)
    return section


# --------------------------------------------------------------------------
# The data set: several runs appending to one topic
# --------------------------------------------------------------------------


def big_value(seed: int, size: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("0123456789abcdef") for _ in range(size))


RUN_A_LINES = [
    "hello",
    "world",
    "",  # empty value, not null
    "héllo wörld ✓",
    "日本語のテキスト",
    "emoji 🎉🚀 ok",
    "  padded with spaces  ",
    "tab\tseparated\tvalue",
]
RUN_B_HEADERS = (("trace-id", "abc-123"), ("lang", "日本語"), ("empty", ""))
# Small enough (< 4 KB) that the CLI sees all 230 lines at once: batches 100, 100, 30.
RUN_C_LINES = [f"r{i:03d}" + "ab" * (i % 5) for i in range(230)]
# A 100 KB value: its batch is more than one 64 KB LZ4 block however the
# lines are grouped.
RUN_D_LINES = [big_value(1, 100_000), big_value(2, 30_000), big_value(3, 1_000)]


@dataclass
class Populated:
    compression: str
    data_dir: Path
    topic: str
    runs: list
    batches: list

    def batches_with_sent(self) -> list:
        """Pairs each batch read with the records sent that it must hold.

        Checks the grouping contract on the way: batches are in offset order,
        hold 1..--batch-size records each, never mix two CLI runs, and follow
        the exact greedy grouping where the run's input was read at once.
        """
        pairs = []
        batches = iter(self.batches)
        for index, run in enumerate(self.runs):
            run_batches = []
            taken = 0
            while taken < len(run.sent):
                batch = next(batches, None)
                assert batch is not None, (
                    f"segments end before run {index}'s offsets {run.sent[taken].offset}..."
                )
                count = batch.records_count
                assert 1 <= count <= run.batch_size, (
                    f"batch at offset {batch.base_offset} holds {count} records; "
                    f"run {index} used --batch-size {run.batch_size}"
                )
                assert taken + count <= len(run.sent), (
                    f"batch at offset {batch.base_offset} mixes records of run {index} and the next"
                )
                run_batches.append((batch, run.sent[taken : taken + count]))
                taken += count
            if run.exact_grouping:
                got = [len(group) for _, group in run_batches]
                want = [len(group) for group in run.greedy_batches()]
                assert got == want, (
                    f"run {index} (--batch-size {run.batch_size}, input read at once) "
                    f"made batches of {got} records, expected {want}"
                )
            pairs += run_batches
        leftover = list(batches)
        assert not leftover, f"{len(leftover)} unexpected batches after the last run"
        return pairs

    @property
    def sent(self) -> list:
        return [s for run in self.runs for s in run.sent]


def populate(hooklog_bin: Path, data_dir: Path, compression: str) -> Populated:
    topic = "events"
    runs = [
        # 8 plain values, no key, no headers: batches of 3, 3, 2.
        hooklog_append(
            hooklog_bin, data_dir, topic, RUN_A_LINES, compression=compression, batch_size=3
        ),
        # A second process appending to the same topic: key and headers, one batch of 5.
        hooklog_append(
            hooklog_bin,
            data_dir,
            topic,
            ["keyed-0", "keyed-1 ünï", "", "keyed-3", "keyed-4"],
            compression=compression,
            batch_size=5,
            key="user-42",
            headers=RUN_B_HEADERS,
            flush="always",
        ),
        # Default batch size (100): batches of 100, 100, 30; unicode key.
        hooklog_append(
            hooklog_bin, data_dir, topic, RUN_C_LINES, compression=compression, key="ключ-🔑"
        ),
        # Large values: batches of 2 (~100 KB) and 1.
        hooklog_append(
            hooklog_bin,
            data_dir,
            topic,
            RUN_D_LINES,
            compression=compression,
            batch_size=2,
            headers=(("kind", "big"),),
        ),
    ]
    return Populated(
        compression=compression,
        data_dir=data_dir,
        topic=topic,
        runs=runs,
        batches=read_partition(data_dir, topic, 0),
    )


_POPULATED: dict = {}


def populated_for(hooklog_bin: Path, tmp_path_factory, compression: str) -> Populated:
    if compression not in _POPULATED:
        data_dir = tmp_path_factory.mktemp(f"segments-{compression}") / "data"
        _POPULATED[compression] = populate(hooklog_bin, data_dir, compression)
    return _POPULATED[compression]


@pytest.fixture(params=sorted(CODECS))
def populated(request, hooklog_bin, tmp_path_factory) -> Populated:
    return populated_for(hooklog_bin, tmp_path_factory, request.param)


@pytest.fixture
def populated_lz4(hooklog_bin, tmp_path_factory) -> Populated:
    return populated_for(hooklog_bin, tmp_path_factory, "lz4")


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


def test_cli_prints_consecutive_offsets_across_runs(populated):
    next_offset = 0
    for index, run in enumerate(populated.runs):
        offsets = [s.offset for s in run.sent]
        assert offsets == list(range(next_offset, next_offset + len(offsets))), (
            f"run {index} printed offsets {offsets[:5]}..., expected to start at {next_offset}"
        )
        next_offset += len(offsets)
    assert next_offset == 8 + 5 + 230 + 3


def test_segment_files_are_concatenated_batches(populated):
    logs = segment_files(populated.data_dir, populated.topic, 0)
    assert logs[0].name == "00000000000000000000.log"
    # read_partition already parsed each file to its last byte; the batches
    # tile the files exactly, in order, with no gaps.
    by_file: dict = {}
    for batch in populated.batches:
        by_file.setdefault(batch.file, []).append(batch)
    for log in logs:
        data = log.read_bytes()
        batches = by_file.get(log, [])
        assert b"".join(b.raw for b in batches) == data
        for batch in batches:
            # Length field (bytes 8..12) counts everything after itself.
            (length,) = struct.unpack_from(">i", batch.raw, 8)
            assert length == len(batch.raw) - 12
            assert batch.raw[16] == 2, "magic byte at offset 16"


def test_batch_headers(populated):
    codec = CODECS[populated.compression]
    pairs = populated.batches_with_sent()
    # Runs A-C were read at once (exact grouping): 3+3+2, 5, 100+100+30.
    assert [b.records_count for b, _ in pairs[:7]] == [3, 3, 2, 5, 100, 100, 30]
    for batch, group in pairs:
        where = f"batch at {batch.file.name}@{batch.position} (base offset {batch.base_offset})"
        assert batch.magic == 2, where
        assert batch.crc_valid is True, f"{where}: CRC32C does not validate"
        assert batch.compression_type == codec, f"{where}: codec {batch.compression_type}"
        assert batch.attributes & 0x07 == codec, where
        assert batch.attributes & ~0x07 == 0, (
            f"{where}: attributes {batch.attributes:#06x} set more than the codec "
            "(timestamp type, transactional, control bits must be clear)"
        )
        assert batch.timestamp_type == 0, f"{where}: not CreateTime"
        assert not batch.is_transactional, where
        assert not batch.is_control_batch, where
        assert batch.base_offset == group[0].offset, where
        assert batch.last_offset_delta == len(group) - 1, where
        assert batch.records_count == len(group) == len(batch.records), where
        assert (batch.producer_id, batch.producer_epoch, batch.base_sequence) == (-1, -1, -1), (
            f"{where}: a non-idempotent append must carry no producer id/epoch/sequence"
        )
        timestamps = [r.timestamp for r in batch.records]
        assert batch.first_timestamp == timestamps[0], where
        assert batch.max_timestamp == max(timestamps), where


def test_records_match_what_was_sent(populated):
    read = [r for batch in populated.batches for r in batch.records]
    sent = populated.sent
    assert len(read) == len(sent)
    assert [r.offset for r in read] == list(range(len(sent)))
    for record, expected in zip(read, sent):
        where = f"record at offset {record.offset}"
        assert record.offset == expected.offset, where
        assert record.value == expected.value, where
        assert record.key == expected.key, where
        assert record.headers == expected.headers, where
        assert record.timestamp_type == 0, where
        assert (
            expected.sent_after_ms - TIMESTAMP_SLACK_MS
            <= record.timestamp
            <= expected.acked_before_ms + TIMESTAMP_SLACK_MS
        ), (
            f"{where}: timestamp {record.timestamp} is not within the CLI run "
            f"[{expected.sent_after_ms}, {expected.acked_before_ms}]"
        )

    # Spot checks written out literally, so a mistake in the helpers cannot hide one.
    by_offset = {r.offset: r for r in read}
    assert by_offset[0].value == b"hello" and by_offset[0].key is None and by_offset[0].headers == []
    assert by_offset[2].value == b""
    assert by_offset[3].value == "héllo wörld ✓".encode("utf-8")
    assert by_offset[5].value == "emoji 🎉🚀 ok".encode("utf-8")
    assert by_offset[6].value == b"  padded with spaces  "
    assert by_offset[7].value == b"tab\tseparated\tvalue"
    assert by_offset[8].key == b"user-42"
    assert by_offset[8].value == b"keyed-0"
    assert by_offset[8].headers == [
        ("trace-id", b"abc-123"),
        ("lang", "日本語".encode("utf-8")),
        ("empty", b""),
    ]
    assert by_offset[10].value == b""
    assert by_offset[13].key == "ключ-🔑".encode("utf-8")
    assert by_offset[13].value == b"r000"
    assert by_offset[14].value == b"r001ab"
    assert by_offset[242].value == RUN_C_LINES[-1].encode("utf-8")
    assert by_offset[243].headers == [("kind", b"big")]
    assert len(by_offset[243].value) == 100_000
    assert len(by_offset[244].value) == 30_000


def test_records_encoding_matches_kafka_python_encoder(populated):
    """The (uncompressed) records section equals kafka-python's own encoding of the records."""
    for batch in populated.batches:
        plain = plain_records_section(batch)
        assert count_records(plain) == batch.records_count
        assert plain == reference_records_section(batch.records), (
            f"records section of batch at offset {batch.base_offset} differs from "
            "kafka-python's DefaultRecordBatchBuilder encoding"
        )


def test_lz4_batches_are_independent_block_frames(populated_lz4):
    batches = populated_lz4.batches
    multi_block = 0
    for batch in batches:
        where = f"batch at offset {batch.base_offset}"
        section = batch.raw[RECORDS_SECTION_START:]
        assert section[:4] == LZ4_FRAME_MAGIC, f"{where}: records section is not an LZ4 frame"
        flg = section[4]
        assert flg & 0x20, f"{where}: FLG {flg:#04x} lacks the block-independence bit (bit 5)"
        assert lz4.frame.get_frame_info(section)["block_linked"] is False, where

        plain = lz4.frame.decompress(section)
        assert count_records(plain) == batch.records_count == len(batch.records), where

        # Every block decompresses on its own, with no history from the block before.
        _, block_max, blocks = lz4_frame_blocks(section)
        pieces = [
            lz4.block.decompress(data, uncompressed_size=block_max) if compressed else data
            for compressed, data in blocks
        ]
        assert b"".join(pieces) == plain, f"{where}: blocks do not decompress independently"
        if len(blocks) > 1:
            multi_block += 1
    assert multi_block >= 1, "the ~100 KB batch should need more than one 64 KB LZ4 block"


@pytest.mark.parametrize("compression", sorted(CODECS))
def test_corrupted_value_fails_crc(hooklog_bin, data_dir, tmp_path, compression):
    marker = "Zq8x-corrupt-this-value-Wk3v"
    lines = ["before-1", "before-2", marker, "after-1", "after-2", "next-batch"]
    hooklog_append(hooklog_bin, data_dir, "crc", lines, compression=compression, batch_size=5)
    (segment,) = segment_files(data_dir, "crc", 0)

    original = segment.read_bytes()
    clean = read_batches(original, segment)
    assert [b.crc_valid for b in clean] == [True, True]
    assert [r.value for r in clean[0].records][2] == marker.encode()

    # Flip one bit in the marker value (for LZ4 it is stored as literal bytes
    # in the frame, so the frame still decompresses; only the CRC catches it).
    position = original.find(marker.encode())
    assert position > RECORDS_SECTION_START, f"marker not stored verbatim in {compression} segment"
    assert original.find(marker.encode(), position + 1) == -1
    flip_at = position + 5  # the 'c' of "corrupt"
    corrupted = bytearray(original)
    corrupted[flip_at] ^= 0x01
    copy = tmp_path / "corrupted.log"
    shutil.copyfile(segment, copy)
    copy.write_bytes(bytes(corrupted))

    damaged = read_batches(copy.read_bytes(), copy)
    assert [b.crc_valid for b in damaged] == [False, True], (
        "kafka-python's validate_crc() must reject the batch with the flipped byte "
        "and accept the untouched one"
    )
    # The damage really is in the record value, not in the batch structure.
    values = [r.value for r in damaged[0].records]
    assert values[2] == marker.replace("c", "b", 1).encode()
    assert values[:2] + values[3:] == [b"before-1", b"before-2", b"after-1", b"after-2"]
    assert segment.read_bytes() == original, "the real segment must be untouched"


@pytest.mark.parametrize("compression", sorted(CODECS))
def test_partition_option_writes_only_that_partition(hooklog_bin, data_dir, compression):
    run = hooklog_append(
        hooklog_bin,
        data_dir,
        "multi",
        ["p2-a", "p2-b", "p2-c"],
        compression=compression,
        partitions=3,
        partition=2,
    )
    assert [s.offset for s in run.sent] == [0, 1, 2]
    (batch,) = read_partition(data_dir, "multi", 2)
    assert batch.crc_valid and batch.compression_type == CODECS[compression]
    assert [(r.offset, r.value) for r in batch.records] == [(0, b"p2-a"), (1, b"p2-b"), (2, b"p2-c")]
    for other in (0, 1):
        # Partition directories may be created eagerly (as Kafka does) or lazily;
        # either way they hold no records.
        other_dir = data_dir / f"multi-{other}"
        for log in sorted(other_dir.glob("*.log")) if other_dir.exists() else []:
            assert log.stat().st_size == 0, f"{log} should hold no records"

    # Offsets are per partition: partition 0 of the existing topic starts at 0.
    run0 = hooklog_append(
        hooklog_bin, data_dir, "multi", ["p0-a"], compression=compression, partition=0
    )
    assert [s.offset for s in run0.sent] == [0]
    (batch0,) = read_partition(data_dir, "multi", 0)
    assert batch0.crc_valid and [(r.offset, r.value) for r in batch0.records] == [(0, b"p0-a")]
    (batch2,) = read_partition(data_dir, "multi", 2)
    assert batch2.raw == batch.raw, "appending to partition 0 must not touch partition 2"
