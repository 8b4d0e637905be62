import ArgumentParser
import Dispatcher
import Foundation

/// `hooklog webhooks`: tools for the webhooks Hooklog sends.
struct WebhooksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhooks",
        abstract: "Tools for Hooklog's webhooks: sign a payload as the dispatcher does.",
        subcommands: [Sign.self]
    )

    /// `hooklog webhooks sign`: the `webhook-signature` header the dispatcher would send.
    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the Standard Webhooks webhook-signature header value for the body read from stdin.",
            discussion: """
                The body is read from standard input byte for byte (no newline is added or removed). \
                With several --secret options (a secret rotation), the output has one v1,<base64> entry \
                per secret, space-separated, in the order given. Useful to test a receiver's verification.
                """
        )

        @Option(
            name: .customLong("secret"),
            help: "A signing secret, whsec_ + base64 of 24 to 64 bytes. Repeat for a rotation (new first)."
        )
        var secrets: [String] = []

        @Option(help: "The webhook-id header value.")
        var id: String

        @Option(help: "The webhook-timestamp header value, Unix seconds (default: now).")
        var timestamp: Int64?

        func validate() throws {
            guard !secrets.isEmpty else { throw ValidationError("give at least one --secret") }
            do {
                _ = try secrets.map { try SigningSecret($0) }
            } catch let error as DispatcherError {
                throw ValidationError(error.message)
            }
        }

        func run() throws {
            let parsed = try secrets.map { try SigningSecret($0) }
            let body = try FileHandle.standardInput.readToEnd() ?? Data()
            let timestamp = self.timestamp ?? Int64(Date().timeIntervalSince1970)
            print(WebhookSigner(secrets: parsed).signature(id: id, timestamp: timestamp, body: body))
        }
    }
}
