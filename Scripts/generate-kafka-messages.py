#!/usr/bin/env python3
"""Generates Swift codecs for Kafka protocol messages from Apache Kafka's JSON message definitions.

Usage: Scripts/generate-kafka-messages.py [--check] [SCHEMA_DIR]

SCHEMA_DIR defaults to ../shared/kafka-protocol relative to the repository root. Every *.json file
there becomes Sources/HubProtocol/Generated/<Name>.swift; ApiKeys.swift holds the API table and
Tests/HubProtocolTests/Generated/RoundTripTests.swift round-trips every message at every version.
The schemas themselves are not copied into the repository. Output is deterministic: running the
script twice gives the same files, and files of messages that are no longer defined are removed.
With --check nothing is written: the exit status is 1 when the committed files are out of date.
"""

import json
import os
import re
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES_DIR = os.path.join(REPO_ROOT, "Sources", "HubProtocol", "Generated")
TESTS_DIR = os.path.join(REPO_ROOT, "Tests", "HubProtocolTests", "Generated")

PRIMITIVES = {
    "bool": "Bool",
    "int8": "Int8",
    "int16": "Int16",
    "uint16": "UInt16",
    "uint32": "UInt32",
    "int32": "Int32",
    "int64": "Int64",
    "float64": "Double",
    "uuid": "Uuid",
    "string": "String",
    "bytes": "ByteBuffer",
    "records": "ByteBuffer",
}
INTEGERS = {"int8", "int16", "uint16", "uint32", "int32", "int64"}
INTEGER_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}
NULLABLE_KINDS = {"string", "bytes", "records", "array"}

# Names the generated code uses unqualified inside a message type: a nested struct must not
# shadow them.
RESERVED_TYPE_NAMES = {
    "Bool", "Int8", "Int16", "UInt16", "UInt32", "Int32", "Int64", "Double", "String", "Uuid",
    "ByteBuffer", "TaggedField", "ProtocolError", "KafkaCodable", "KafkaMessage", "KafkaRequest",
    "KafkaResponse", "Response", "Sendable", "Hashable",
}
SWIFT_KEYWORDS = {
    "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init",
    "inout", "internal", "let", "open", "operator", "private", "precedencegroup", "protocol", "public",
    "rethrows", "static", "struct", "subscript", "typealias", "var", "break", "case", "catch",
    "continue", "default", "defer", "do", "else", "fallthrough", "for", "guard", "if", "in", "repeat",
    "return", "throw", "switch", "where", "while", "Any", "as", "await", "false", "is", "nil", "self",
    "Self", "super", "throws", "true", "try", "Type", "Protocol",
}
# Fields are always accessed through `self.`, so they cannot clash with the generated code's locals.


class SchemaError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Reading the schemas


def strip_comments(text):
    """Removes // line comments that are outside string literals."""
    out = []
    i = 0
    n = len(text)
    in_string = False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_string = False
            i += 1
        elif c == '"':
            in_string = True
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


class Versions:
    """A version range: lo...hi, hi None for open-ended; empty when lo is None."""

    def __init__(self, lo, hi):
        self.lo = lo
        self.hi = hi

    @staticmethod
    def parse(text, what):
        text = str(text).strip()
        if text == "none":
            return Versions(None, None)
        m = re.fullmatch(r"(\d+)\+", text)
        if m:
            return Versions(int(m.group(1)), None)
        m = re.fullmatch(r"(\d+)-(\d+)", text)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise SchemaError(f"{what}: empty version range {text!r}")
            return Versions(lo, hi)
        m = re.fullmatch(r"\d+", text)
        if m:
            return Versions(int(text), int(text))
        raise SchemaError(f"{what}: cannot parse versions {text!r}")

    @property
    def empty(self):
        return self.lo is None

    def intersect(self, other):
        if self.empty or other.empty:
            return Versions(None, None)
        lo = max(self.lo, other.lo)
        his = [h for h in (self.hi, other.hi) if h is not None]
        hi = min(his) if his else None
        if hi is not None and hi < lo:
            return Versions(None, None)
        return Versions(lo, hi)

    def hull(self, other):
        if self.empty:
            return other
        if other.empty:
            return self
        hi = None if self.hi is None or other.hi is None else max(self.hi, other.hi)
        return Versions(min(self.lo, other.lo), hi)

    def contains(self, other):
        """Whether every version of `other` is in this range."""
        if other.empty:
            return True
        if self.empty:
            return False
        if other.lo < self.lo:
            return False
        if self.hi is None:
            return True
        return other.hi is not None and other.hi <= self.hi

    def before(self, version):
        """The part of this range below `version`."""
        return self.intersect(Versions(0, version - 1)) if version > 0 else Versions(None, None)

    def condition(self, context):
        """A Swift condition on `version` that is true in this range, for versions in `context`.

        Returns None when it always holds in `context`, "false" when it never does."""
        inside = self.intersect(context)
        if inside.empty:
            return "false"
        parts = []
        if inside.lo > context.lo:
            parts.append(f"version >= {inside.lo}")
        if inside.hi is not None and (context.hi is None or inside.hi < context.hi):
            parts.append(f"version <= {inside.hi}")
        return " && ".join(parts) if parts else None

    def swift_range(self):
        return f"{self.lo}...{self.hi}"

    def __repr__(self):
        if self.empty:
            return "none"
        return f"{self.lo}+" if self.hi is None else f"{self.lo}-{self.hi}"


class FieldType:
    def __init__(self, text, what):
        self.text = text
        self.is_array = text.startswith("[]")
        self.element = text[2:] if self.is_array else text
        self.is_primitive = self.element in PRIMITIVES
        if not self.is_primitive and not re.fullmatch(r"[A-Z][A-Za-z0-9]*", self.element):
            raise SchemaError(f"{what}: unknown type {text!r}")
        if self.is_array and self.element == "records":
            raise SchemaError(f"{what}: arrays of records are not supported")

    @property
    def is_struct(self):
        return not self.is_primitive

    @property
    def kind(self):
        return "array" if self.is_array else self.element


class Field:
    def __init__(self, raw, message, path):
        what = f"{message.file}: {path}"
        self.raw = raw
        for key in raw:
            if key not in {
                "name", "type", "versions", "nullableVersions", "taggedVersions", "tag", "default",
                "flexibleVersions", "fields", "about", "ignorable", "entityType", "mapKey", "zeroCopy",
            }:
                raise SchemaError(f"{what}: unknown field attribute {key!r}")
        self.name = raw["name"]
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", self.name):
            raise SchemaError(f"{what}: unexpected field name {self.name!r}")
        what = f"{message.file}: {path}.{self.name}"
        self.type = FieldType(raw["type"], what)
        self.versions = Versions.parse(raw["versions"], what)
        if self.versions.empty:
            raise SchemaError(f"{what}: a field needs versions")
        self.nullable = (
            Versions.parse(raw["nullableVersions"], what) if "nullableVersions" in raw else Versions(None, None)
        )
        self.about = " ".join(str(raw.get("about", "")).split())
        if not self.nullable.empty:
            if self.type.kind not in NULLABLE_KINDS:
                raise SchemaError(f"{what}: nullable {self.type.text} is not supported")
        self.tag = raw.get("tag")
        self.tagged = (
            Versions.parse(raw["taggedVersions"], what) if "taggedVersions" in raw else Versions(None, None)
        )
        if (self.tag is None) != self.tagged.empty:
            raise SchemaError(f"{what}: tag and taggedVersions go together")
        if self.tag is not None:
            if not isinstance(self.tag, int) or self.tag < 0:
                raise SchemaError(f"{what}: bad tag {self.tag!r}")
            if self.tagged.hi is not None and not Versions(self.tagged.lo, self.tagged.hi).contains(
                self.versions.intersect(Versions(self.tagged.lo, None))
            ):
                raise SchemaError(f"{what}: taggedVersions must run to the last version of the field")
            if not self.versions.contains(self.tagged):
                raise SchemaError(f"{what}: taggedVersions outside versions")
            if message.flexible.empty or not message.flexible.contains(self.tagged):
                raise SchemaError(f"{what}: tagged in versions that are not flexible")
        # Versions in which the field is written in place (not in the tagged section).
        self.inline = self.versions if self.tagged.empty else self.versions.before(self.tagged.lo)
        self.flexible_override = (
            Versions.parse(raw["flexibleVersions"], what) if "flexibleVersions" in raw else None
        )
        if self.flexible_override is not None and self.type.kind not in {"string", "bytes", "records", "array"}:
            raise SchemaError(f"{what}: flexibleVersions on a {self.type.text} field")
        self.fields = raw.get("fields")
        if self.fields is not None and not self.type.is_struct:
            raise SchemaError(f"{what}: a {self.type.text} field cannot have fields")
        self.swift_name = lower_first(self.name)
        self.what = what

    @property
    def optional(self):
        """Whether the Swift type is an Optional."""
        return self.type.kind == "records" or not self.nullable.empty


class Struct:
    def __init__(self, name, fields, message):
        self.name = name
        self.fields = fields  # [Field]
        self.message = message
        self.context = Versions(None, None)  # versions in which this struct is read or written
        self.about = ""


class Message:
    def __init__(self, path):
        self.file = os.path.basename(path)
        with open(path, encoding="utf-8") as f:
            try:
                raw = json.loads(strip_comments(f.read()))
            except json.JSONDecodeError as error:
                raise SchemaError(f"{self.file}: {error}")
        self.raw = raw
        for key in raw:
            if key not in {
                "apiKey", "type", "listeners", "name", "validVersions", "deprecatedVersions",
                "flexibleVersions", "fields", "commonStructs", "latestVersionUnstable",
            }:
                raise SchemaError(f"{self.file}: unknown attribute {key!r}")
        self.name = raw["name"]
        self.type = raw["type"]
        if self.type not in {"request", "response", "header", "data"}:
            raise SchemaError(f"{self.file}: unknown message type {self.type!r}")
        self.api_key = raw.get("apiKey")
        if (self.api_key is None) != (self.type in {"header", "data"}):
            raise SchemaError(f"{self.file}: requests and responses (only) have an apiKey")
        self.valid = Versions.parse(raw["validVersions"], self.file)
        if self.valid.empty or self.valid.hi is None:
            raise SchemaError(f"{self.file}: validVersions must be a closed range")
        self.flexible = Versions.parse(raw["flexibleVersions"], self.file)
        if not self.flexible.empty and self.flexible.hi is not None:
            raise SchemaError(f"{self.file}: flexibleVersions must be open-ended")
        if self.name in RESERVED_TYPE_NAMES:
            raise SchemaError(f"{self.file}: message name {self.name!r} is reserved")

        # Structs: defined inline by a field with "fields", or in commonStructs, and referenced
        # by name from any field of this message.
        self.structs = {}  # name -> Struct, in definition order
        common = raw.get("commonStructs", [])
        for spec in common:
            self.define_struct(spec["name"], spec["fields"], f"commonStructs.{spec['name']}")
        self.root = Struct(self.name, self.parse_fields(raw["fields"], self.name), self)
        # commonStructs come last in the output, after the structs defined in place.
        for spec in common:
            self.structs[spec["name"]] = self.structs.pop(spec["name"])
        self.resolve(self.root, self.valid)
        for struct in self.structs.values():
            if struct.context.empty:
                raise SchemaError(f"{self.file}: struct {struct.name} is never used")
            self.check_not_empty(struct)

    def check_not_empty(self, struct):
        """Decoders cap an array's count at the bytes that remain, which assumes that every element
        takes at least one byte: a struct with no field at some version would break that."""
        last = struct.context.hi if struct.context.hi is not None else self.valid.hi
        for version in range(struct.context.lo, last + 1):
            only = Versions(version, version)
            if not self.flexible.empty and self.flexible.contains(only):
                continue  # the tagged-field count takes a byte
            if not any(not field.inline.intersect(only).empty for field in struct.fields):
                raise SchemaError(f"{self.file}: struct {struct.name} has no fields at version {version}")

    def define_struct(self, name, raw_fields, path):
        if name in self.structs:
            raise SchemaError(f"{self.file}: struct {name} is defined twice")
        if name in RESERVED_TYPE_NAMES or name == self.name:
            raise SchemaError(f"{self.file}: struct name {name!r} is reserved")
        struct = Struct(name, None, self)
        self.structs[name] = struct
        struct.fields = self.parse_fields(raw_fields, path)

    def parse_fields(self, raw_fields, path):
        fields = []
        names = set()
        tags = set()
        for raw in raw_fields:
            field = Field(raw, self, path)
            if field.name in names:
                raise SchemaError(f"{field.what}: duplicate field name")
            names.add(field.name)
            if field.tag is not None:
                if field.tag in tags:
                    raise SchemaError(f"{field.what}: duplicate tag {field.tag}")
                tags.add(field.tag)
            if field.type.is_struct and field.fields is not None:
                self.define_struct(field.type.element, field.fields, f"{path}.{field.name}")
                self.structs[field.type.element].about = field.about
            fields.append(field)
        return fields

    def resolve(self, struct, context):
        """Records the versions in which each struct is used, and checks references."""
        struct.context = struct.context.hull(context)
        for field in struct.fields:
            if field.type.is_struct:
                target = self.structs.get(field.type.element)
                if target is None:
                    raise SchemaError(f"{field.what}: unknown struct type {field.type.element}")
                used = field.versions.intersect(context)
                if not used.empty and not target.context.contains(used):
                    self.resolve(target, used)

    @property
    def first_flexible(self):
        return None if self.flexible.empty else self.flexible.lo


def lower_first(name):
    return name[0].lower() + name[1:]


def ident(name):
    return f"`{name}`" if name in SWIFT_KEYWORDS else name


def swift_string_literal(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------------------------------------
# Swift types, defaults and expressions


def swift_type(field):
    t = field.type
    element = PRIMITIVES[t.element] if t.is_primitive else t.element
    base = f"[{element}]" if t.is_array else element
    return base + "?" if field.optional else base


def default_value(field):
    """The field's default as a Swift expression."""
    t = field.type
    raw = field.raw.get("default")
    what = field.what
    if raw is not None and isinstance(raw, bool):
        raw = "true" if raw else "false"
    if raw is not None:
        raw = str(raw)
    if raw == "null":
        if not field.optional or field.nullable.empty:
            raise SchemaError(f"{what}: default null for a field that is never nullable")
        return "nil"
    if t.is_array:
        if raw not in (None, ""):
            raise SchemaError(f"{what}: unsupported array default {raw!r}")
        return "[]"
    if t.is_struct:
        if raw not in (None, ""):
            raise SchemaError(f"{what}: unsupported struct default {raw!r}")
        return f"{t.element}()"
    kind = t.element
    if kind in INTEGERS:
        if raw in (None, ""):
            return "0"
        try:
            value = int(raw, 0) if raw.lower().startswith(("0x", "-0x")) else int(raw)
        except ValueError:
            raise SchemaError(f"{what}: bad integer default {raw!r}")
        lo, hi = INTEGER_RANGES[kind]
        if not lo <= value <= hi:
            raise SchemaError(f"{what}: default {raw!r} does not fit in {kind}")
        if value == lo and lo < 0:
            return f"{PRIMITIVES[kind]}.min"
        return str(value)
    if kind == "bool":
        if raw in (None, "", "false"):
            return "false"
        if raw == "true":
            return "true"
        raise SchemaError(f"{what}: bad bool default {raw!r}")
    if kind == "float64":
        if raw in (None, ""):
            return "0"
        try:
            value = float(raw)
        except ValueError:
            raise SchemaError(f"{what}: bad float64 default {raw!r}")
        return repr(value)
    if kind == "string":
        return swift_string_literal(raw or "")
    if kind == "uuid":
        if raw not in (None, ""):
            raise SchemaError(f"{what}: uuid defaults are not supported")
        return "Uuid.zero"
    if kind == "bytes":
        if raw not in (None, ""):
            raise SchemaError(f"{what}: bytes defaults other than null are not supported")
        return "ByteBuffer()"
    if kind == "records":
        if raw not in (None, ""):
            raise SchemaError(f"{what}: records defaults other than null are not supported")
        return "nil"
    raise SchemaError(f"{what}: no default for {t.text}")


class Codec:
    """Builds the read and write expressions of one struct."""

    def __init__(self, struct):
        self.struct = struct
        self.message = struct.message
        self.context = struct.context
        self.uses_flexible = False

    def compact(self, field, versions):
        """The `compact:` argument for `field` in `versions`: a literal when it is fixed there."""
        flexible = field.flexible_override if field.flexible_override is not None else self.message.flexible
        condition = flexible.condition(versions)
        if condition is None:
            return "true"
        if condition == "false":
            return "false"
        if field.flexible_override is not None:
            return f"({condition})"
        self.uses_flexible = True
        return "flexible"

    def nullable_argument(self, field, versions):
        """The trailing `nullable:` argument ("" when the field is nullable in all of `versions`)."""
        condition = field.nullable.condition(versions)
        if condition is None:
            return ""
        return f", nullable: {condition}"

    def read(self, field, versions, source, tagged=False):
        """A Swift expression reading `field` from `source` (an inout ByteBuffer)."""
        t = field.type
        compact = "true" if tagged else None
        if t.is_array:
            compact = compact or self.compact(field, versions)
            nullable = self.nullable_argument(field, versions) if field.optional else None
            prefix = "Nullable" if field.optional else ""
            if t.is_struct:
                return (
                    f"try {source}.readKafka{prefix}Array(of: {t.element}.self, compact: {compact}"
                    f"{nullable or ''}, version: version)"
                )
            element = self.read_primitive(t.element, "$0", compact, versions, field)
            return (
                f"try {source}.readKafka{prefix}Array(compact: {compact}{nullable or ''}) "
                f"{{ (buffer: inout ByteBuffer) throws(ProtocolError) in {element.replace('$0', 'buffer')} }}"
            )
        if t.is_struct:
            return f"try {t.element}(from: &{source}, version: version)"
        if t.element in ("string", "bytes", "records"):
            compact = compact or self.compact(field, versions)
        return self.read_primitive(t.element, source, compact, versions, field)

    def read_primitive(self, kind, source, compact, versions, field):
        if kind in INTEGERS:
            return f"try {source}.readKafkaInteger(as: {PRIMITIVES[kind]}.self)"
        if kind == "bool":
            return f"try {source}.readKafkaBool()"
        if kind == "float64":
            return f"try {source}.readKafkaFloat64()"
        if kind == "uuid":
            return f"try {source}.readKafkaUuid()"
        if kind in ("string", "bytes", "records"):
            noun = "String" if kind == "string" else "Bytes"
            if field.optional and not field.type.is_array:
                return f"try {source}.readKafkaNullable{noun}(compact: {compact}{self.nullable_argument(field, versions)})"
            return f"try {source}.readKafka{noun}(compact: {compact})"
        raise SchemaError(f"{field.what}: cannot read {kind}")

    def write(self, field, versions, target, value, tagged=False):
        """A Swift statement writing `value` (the field) to `target`."""
        t = field.type
        compact = "true" if tagged else None
        if t.is_array:
            compact = compact or self.compact(field, versions)
            nullable = self.nullable_argument(field, versions) if field.optional else ""
            prefix = "Nullable" if field.optional else ""
            if t.is_struct:
                return f"{target}.writeKafka{prefix}Array({value}, compact: {compact}{nullable}, version: version)"
            element = self.write_primitive(t.element, "$0", "$1", compact, versions, field, element=True)
            return f"{target}.writeKafka{prefix}Array({value}, compact: {compact}{nullable}) {{ {element} }}"
        if t.is_struct:
            return f"{value}.encode(to: &{target}, version: version)"
        if t.element in ("string", "bytes", "records"):
            compact = compact or self.compact(field, versions)
        return self.write_primitive(t.element, target, value, compact, versions, field)

    def write_primitive(self, kind, target, value, compact, versions, field, element=False):
        if kind in INTEGERS:
            return f"{target}.writeInteger({value})"
        if kind == "bool":
            return f"{target}.writeKafkaBool({value})"
        if kind == "float64":
            return f"{target}.writeKafkaFloat64({value})"
        if kind == "uuid":
            return f"{target}.writeKafkaUuid({value})"
        if kind in ("string", "bytes", "records"):
            noun = "String" if kind == "string" else "Bytes"
            if field.optional and not element:
                return (
                    f"{target}.writeKafkaNullable{noun}({value}, compact: {compact}"
                    f"{self.nullable_argument(field, versions)})"
                )
            return f"{target}.writeKafka{noun}({value}, compact: {compact})"
        raise SchemaError(f"{field.what}: cannot write {kind}")


# ---------------------------------------------------------------------------------------------
# Emitting Swift


class Writer:
    def __init__(self):
        self.lines = []
        self.level = 0

    def line(self, text=""):
        self.lines.append(("    " * self.level + text) if text else "")

    def indent(self):
        self.level += 1

    def dedent(self):
        self.level -= 1

    def text(self):
        return "\n".join(self.lines) + "\n"


def header(source):
    return [
        "// swift-format-ignore-file",
        f"// Generated by Scripts/generate-kafka-messages.py from {source}",
        "// (Apache License 2.0). Do not edit: change the generator and rerun it.",
        "",
    ]


def versions_text(versions):
    if versions.empty:
        return "none"
    return f"{versions.lo}+" if versions.hi is None else (
        str(versions.lo) if versions.lo == versions.hi else f"{versions.lo}-{versions.hi}"
    )


def emit_struct(w, struct, is_root):
    message = struct.message
    flexible_possible = not message.flexible.empty and not message.flexible.intersect(struct.context).empty
    has_tagged_section = not message.flexible.empty
    codec = Codec(struct)

    if is_root:
        conformance = {
            "request": "KafkaRequest", "response": "KafkaResponse",
        }.get(message.type, "KafkaMessage")
        kind = {"request": "request", "response": "response", "header": "header", "data": "data struct"}[message.type]
        api = f" (API key {message.api_key})" if message.api_key is not None else ""
        w.line(f"/// The Kafka {message.name}{api}: a {kind} with versions {versions_text(message.valid)},")
        w.line(f"/// flexible versions {versions_text(message.flexible)}.")
        w.line(f"public struct {struct.name}: {conformance} {{")
        w.indent()
        if message.type == "request":
            w.line(f"public typealias Response = {message.response_name}")
        if message.api_key is not None:
            w.line(f"public static let apiKey: Int16 = {message.api_key}")
        w.line(f"public static let validVersions: ClosedRange<Int16> = {message.valid.swift_range()}")
        first = message.first_flexible
        w.line(f"public static let firstFlexibleVersion: Int16? = {'nil' if first is None else first}")
        w.line()
    else:
        if struct.about:
            w.line(f"/// {struct.about}")
        w.line(f"public struct {struct.name}: KafkaCodable {{")
        w.indent()

    # Stored properties.
    for field in struct.fields:
        if field.about:
            w.line(f"/// {field.about}")
        w.line(f"public var {ident(field.swift_name)}: {swift_type(field)} = {default_value(field)}")
    if has_tagged_section:
        w.line("/// Tagged fields this version does not know, kept so that they survive a re-encode.")
        w.line("public var unknownTaggedFields: [TaggedField] = []")
    w.line()

    # Memberwise initializer with defaults (it is also `init()`).
    params = [(field.swift_name, swift_type(field), default_value(field)) for field in struct.fields]
    if has_tagged_section:
        params.append(("unknownTaggedFields", "[TaggedField]", "[]"))
    w.line("/// A struct with every field at its default.")
    w.line("public init() {}")
    w.line()
    if params:
        w.line("public init(")
        w.indent()
        for i, (name, type_, default) in enumerate(params):
            comma = "," if i < len(params) - 1 else ""
            w.line(f"{ident(name)}: {type_} = {default}{comma}")
        w.dedent()
        w.line(") {")
        w.indent()
        for name, _, _ in params:
            w.line(f"self.{ident(name)} = {ident(name)}")
        w.dedent()
        w.line("}")
        w.line()

    # Decoding.
    context = struct.context
    flexible_condition = message.flexible.condition(context) if flexible_possible else "false"
    read_lines = []
    for field in struct.fields:
        inline = field.inline.intersect(context)
        if inline.empty:
            continue
        condition = field.inline.condition(context)
        expression = codec.read(field, inline, "buffer")
        assignment = f"self.{ident(field.swift_name)} = {expression}"
        read_lines.append(assignment if condition is None else f"if {condition} {{ {assignment} }}")
    tagged_fields = [f for f in struct.fields if not f.tagged.empty and not f.tagged.intersect(context).empty]
    tagged_read = []
    if flexible_possible:
        if tagged_fields:
            tagged_read.append("for field in try buffer.readKafkaTaggedFields() {")
            tagged_read.append("    var data = field.data")
            tagged_read.append("    switch field.tag {")
            for field in sorted(tagged_fields, key=lambda f: f.tag):
                versions = field.tagged.intersect(context)
                condition = field.tagged.condition(context)
                where = "" if condition is None else f" where {condition}"
                expression = codec.read(field, versions, "data", tagged=True)
                tagged_read.append(f"    case {field.tag}{where}: self.{ident(field.swift_name)} = {expression}")
            tagged_read.append("    default: self.unknownTaggedFields.append(field)")
            tagged_read.append("    }")
            tagged_read.append("}")
        else:
            tagged_read.append("self.unknownTaggedFields = try buffer.readKafkaTaggedFields()")

    write_lines = []
    for field in struct.fields:
        inline = field.inline.intersect(context)
        if inline.empty:
            continue
        condition = field.inline.condition(context)
        statement = codec.write(field, inline, "buffer", f"self.{ident(field.swift_name)}")
        write_lines.append(statement if condition is None else f"if {condition} {{ {statement} }}")
    tagged_write = []
    if flexible_possible:
        if tagged_fields:
            tagged_write.append("var tagged = self.unknownTaggedFields")
            for field in sorted(tagged_fields, key=lambda f: f.tag):
                versions = field.tagged.intersect(context)
                condition = field.tagged.condition(context)
                name = f"self.{ident(field.swift_name)}"
                test = f"{name} != {default_value(field)}"
                if condition is not None:
                    test = f"{condition}, {test}"
                statement = codec.write(field, versions, "$0", name, tagged=True)
                tagged_write.append(f"if {test} {{")
                tagged_write.append(f"    tagged.append(TaggedField(tag: {field.tag}) {{ {statement} }})")
                tagged_write.append("}")
            tagged_write.append("buffer.writeKafkaTaggedFields(tagged)")
        else:
            tagged_write.append("buffer.writeKafkaTaggedFields(self.unknownTaggedFields)")

    # Compact forms use `flexible` when it is not fixed in the versions of a field; the tagged
    # section is guarded by it unless every version of the struct is flexible.
    needs_flexible = codec.uses_flexible or (flexible_possible and flexible_condition is not None)
    for is_read in (True, False):
        if is_read:
            w.line("/// Decodes the struct at `version`; fields that do not exist at `version` keep their defaults.")
            w.line("public init(from buffer: inout ByteBuffer, version: Int16) throws(ProtocolError) {")
        else:
            w.line("/// Encodes the struct at `version`; fields that do not exist at `version` are not written.")
            w.line("public func encode(to buffer: inout ByteBuffer, version: Int16) {")
        w.indent()
        if needs_flexible:
            w.line(f"let flexible = {flexible_condition}")
        for text in read_lines if is_read else write_lines:
            w.line(text)
        tagged = tagged_read if is_read else tagged_write
        if tagged:
            if flexible_condition is not None:
                w.line("if flexible {")
                w.indent()
            for text in tagged:
                w.line(text)
            if flexible_condition is not None:
                w.dedent()
                w.line("}")
        w.dedent()
        w.line("}")
        if is_read:
            w.line()

    if is_root:
        for nested in struct.message.structs.values():
            w.line()
            emit_struct(w, nested, is_root=False)
    w.dedent()
    w.line("}")


def generate_message(message):
    w = Writer()
    for text in header(f"Apache Kafka's message definition {message.file}"):
        w.line(text)
    w.line("import NIOCore")
    w.line()
    emit_struct(w, message.root, is_root=True)
    return w.text()


def api_name(message):
    return message.name[: -len("Request")]


def generate_api_keys(messages):
    requests = sorted((m for m in messages if m.type == "request"), key=lambda m: m.api_key)
    w = Writer()
    for text in header("Apache Kafka's message definitions *Request.json and *Response.json"):
        w.line(text)
    w.line("/// The Kafka APIs that have message definitions here, by API key.")
    w.line("public enum ApiKeys: Int16, Sendable, CaseIterable {")
    w.indent()
    for m in requests:
        w.line(f"case {ident(lower_first(api_name(m)))} = {m.api_key}")
    w.line()

    def switch(doc, name, type_, value):
        w.line(f"/// {doc}")
        w.line(f"public var {name}: {type_} {{")
        w.indent()
        w.line("switch self {")
        for m in requests:
            w.line(f"case .{ident(lower_first(api_name(m)))}: {value(m)}")
        w.line("}")
        w.dedent()
        w.line("}")

    switch("Kafka's name for the API.", "name", "String", lambda m: swift_string_literal(api_name(m)))
    w.line()
    switch(
        "Every version Kafka defines for the API (requests and responses have the same).",
        "validVersions", "ClosedRange<Int16>", lambda m: m.valid.swift_range(),
    )
    w.line()
    optional = lambda v: "nil" if v is None else str(v)
    switch(
        "The first version whose request is flexible (compact forms, tagged fields); nil if none.",
        "requestFirstFlexibleVersion", "Int16?", lambda m: optional(m.first_flexible),
    )
    w.line()
    switch(
        "The first version whose response is flexible (compact forms, tagged fields); nil if none.",
        "responseFirstFlexibleVersion", "Int16?", lambda m: optional(m.response.first_flexible),
    )
    w.dedent()
    w.line("}")
    return w.text()


# ---------------------------------------------------------------------------------------------
# The round-trip test


def generate_round_trip_tests(messages):
    w = Writer()
    for text in header("Apache Kafka's message definitions"):
        w.line(text)
    w.line("import HubProtocol")
    w.line("import NIOCore")
    w.line("import Testing")
    w.line()
    w.line("/// Every message at every valid version, with a value that is not the default in every field that exists")
    w.line("/// at that version, survives encode and decode; a second pass sets nullable fields to null. Mutated")
    w.line("/// copies of each encoding must decode or fail, never trap.")
    w.line("@Suite struct GeneratedRoundTripTests {")
    w.indent()
    for m in sorted(messages, key=lambda m: m.name):
        w.line(f"@Test(arguments: {m.name}.validVersions)")
        w.line(f"func {lower_first(m.name)}(version: Int16) throws {{")
        w.indent()
        w.line("for nulls in [false, true] {")
        w.indent()
        w.line("var values = SampleValues(nulls: nulls)")
        w.line(f"let sample = sample{m.name}(version, &values)")
        w.line("try expectRoundTrip(sample, version: version)")
        w.line("expectMutationsAreSafe(sample, version: version, seed: UInt64(version))")
        w.dedent()
        w.line("}")
        w.dedent()
        w.line("}")
        w.line()
    w.dedent()
    w.line("}")

    for m in sorted(messages, key=lambda m: m.name):
        structs = [(m.root, m.name, f"sample{m.name}")] + [
            (s, f"{m.name}.{s.name}", f"sample{m.name}_{s.name}") for s in m.structs.values()
        ]
        names = {s.name: fn for s, _, fn in structs}
        for struct, qualified, fn in structs:
            w.line()
            w.line(f"func {fn}(_ version: Int16, _ values: inout SampleValues) -> {qualified} {{")
            w.indent()
            w.line(f"var sample = {qualified}()")
            context = struct.context
            for field in struct.fields:
                present = field.versions.intersect(context)
                if present.empty:
                    continue
                condition = field.versions.condition(context)
                value = sample_value(field, names, m.flexible)
                nullable = field.nullable.condition(present)
                if field.optional and nullable != "false":
                    null_test = "values.nulls" if nullable is None else f"values.nulls && {nullable}"
                    value = f"{null_test} ? nil : {value}"
                assignment = f"sample.{ident(field.swift_name)} = {value}"
                w.line(assignment if condition is None else f"if {condition} {{ {assignment} }}")
            if not m.flexible.empty and not m.flexible.intersect(context).empty:
                condition = m.flexible.condition(context)
                assignment = "sample.unknownTaggedFields = values.unknownTaggedFields()"
                w.line(assignment if condition is None else f"if {condition} {{ {assignment} }}")
            w.line("return sample")
            w.dedent()
            w.line("}")
    return w.text()


def sample_value(field, struct_functions, flexible):
    t = field.type
    if t.is_struct:
        fn = struct_functions[t.element]
        element = f"{fn}(version, &values)"
        if t.is_array:
            return f"[{element}, {element}]"
        return element
    kind = t.element
    default = default_value(field)
    if kind == "bool":
        scalar = "false" if default == "true" else "true"
    elif kind in INTEGERS:
        scalar = f"values.next{PRIMITIVES[kind]}()"
    else:
        scalar = {
            "float64": "values.nextDouble()",
            "uuid": "values.nextUuid()",
            "string": "values.nextString()",
            "bytes": "values.nextBytes()",
            "records": "values.nextBytes()",
        }[kind]
    if t.is_array:
        return f"[{scalar}, {scalar}, {scalar}]"
    return scalar


# ---------------------------------------------------------------------------------------------


def main(argv):
    args = argv[1:]
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    if len(args) > 1 or any(a.startswith("-") for a in args):
        raise SchemaError("usage: generate-kafka-messages.py [--check] [SCHEMA_DIR]")
    schema_dir = args[0] if args else os.path.join(REPO_ROOT, "..", "shared", "kafka-protocol")
    schema_dir = os.path.abspath(schema_dir)
    paths = sorted(p for p in os.listdir(schema_dir) if p.endswith(".json"))
    if not paths:
        raise SchemaError(f"no *.json message definitions in {schema_dir}")
    messages = [Message(os.path.join(schema_dir, p)) for p in paths]
    by_name = {m.name: m for m in messages}
    if len(by_name) != len(messages):
        raise SchemaError("two files define the same message name")
    for m in messages:
        if m.file != f"{m.name}.json":
            raise SchemaError(f"{m.file} defines {m.name}")
        if m.type in ("request", "response"):
            suffix = "Request" if m.type == "request" else "Response"
            if not m.name.endswith(suffix):
                raise SchemaError(f"{m.file}: a {m.type} named {m.name}")
        if m.type == "request":
            response = by_name.get(m.name[: -len("Request")] + "Response")
            if response is None or response.type != "response" or response.api_key != m.api_key:
                raise SchemaError(f"{m.file}: no matching response")
            if (response.valid.lo, response.valid.hi) != (m.valid.lo, m.valid.hi):
                raise SchemaError(f"{m.file}: request and response valid versions differ")
            m.response = response
            m.response_name = response.name
    api_keys = [m.api_key for m in messages if m.type == "request"]
    if len(set(api_keys)) != len(api_keys):
        raise SchemaError("two requests share an API key")
    responses = [m for m in messages if m.type == "response"]
    if len(responses) != len(api_keys):
        raise SchemaError("a response has no request")

    outputs = {os.path.join(SOURCES_DIR, f"{m.name}.swift"): generate_message(m) for m in messages}
    outputs[os.path.join(SOURCES_DIR, "ApiKeys.swift")] = generate_api_keys(messages)
    outputs[os.path.join(TESTS_DIR, "RoundTripTests.swift")] = generate_round_trip_tests(messages)

    stale = []
    for directory in (SOURCES_DIR, TESTS_DIR):
        if os.path.isdir(directory):
            for name in sorted(os.listdir(directory)):
                path = os.path.join(directory, name)
                if name.endswith(".swift") and path not in outputs:
                    stale.append(path)
    changed = []
    for path, text in sorted(outputs.items()):
        old = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                old = f.read()
        if old != text:
            changed.append(path)
    if check:
        for path in stale + changed:
            print(f"out of date: {os.path.relpath(path, REPO_ROOT)}")
        return 1 if stale or changed else 0
    for path in stale:
        os.remove(path)
        print(f"removed {os.path.relpath(path, REPO_ROOT)}")
    for path in changed:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(outputs[path])
    print(f"{len(outputs)} files from {len(messages)} message definitions in {schema_dir}; {len(changed)} changed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except SchemaError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
