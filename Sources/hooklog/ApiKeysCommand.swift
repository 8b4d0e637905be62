import ArgumentParser
import Foundation
import HubServer

/// `hooklog apikeys`: create, list and delete the API keys clients authenticate with.
struct ApiKeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apikeys",
        abstract: "Manage API keys (stored hashed; a secret is shown once, when created).",
        subcommands: [Create.self, List.self, Delete.self]
    )

    static func defaultPath(dataDir: String) -> String { dataDir + "/api-keys.json" }

    struct Location: ParsableArguments {
        @Option(help: "The data directory (the key file is <data-dir>/api-keys.json).")
        var dataDir: String = "./data"

        @Option(help: "The key file, instead of the data directory's.")
        var file: String?

        var path: String { file ?? ApiKeysCommand.defaultPath(dataDir: dataDir) }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key and print its secret.")
        @Argument(help: "The key id (the SASL/PLAIN username).") var id: String
        @Option(help: "Comma-separated roles: produce, consume, subscribe, admin.") var roles: String
        @Option(help: "HTTP requests per second for this key (default: the server's --http-rate-limit).")
        var rateLimit: Double?
        @OptionGroup var location: Location

        func run() throws {
            let parsed = try roles.split(separator: ",").map { name -> Role in
                guard let role = Role(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("unknown role '\(name)'; roles are produce, consume, subscribe, admin")
                }
                return role
            }
            guard !parsed.isEmpty else { throw ValidationError("give at least one role") }
            try FileManager.default.createDirectory(
                atPath: (location.path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let store = try ApiKeyStore(path: location.path)
            if let rateLimit, !(rateLimit > 0) { throw ValidationError("--rate-limit must be above 0") }
            let secret = try store.create(id: id, roles: parsed, rateLimit: rateLimit)
            print("id: \(id)\nsecret: \(secret)\nroles: \(parsed.map(\.rawValue).joined(separator: ","))")
            print("HTTP: Authorization: Bearer \(id):\(secret)")
            print("(the secret is not stored; keep it now)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List key ids and roles.")
        @OptionGroup var location: Location

        func run() throws {
            for entry in try ApiKeyStore(path: location.path).all {
                print("\(entry.id)\t\(entry.roles.map(\.rawValue).joined(separator: ","))")
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a key (a running hub reads keys at start).")
        @Argument var id: String
        @OptionGroup var location: Location

        func run() throws {
            guard try ApiKeyStore(path: location.path).delete(id: id) else {
                throw ValidationError("no key '\(id)'")
            }
            print("deleted \(id)")
        }
    }
}
