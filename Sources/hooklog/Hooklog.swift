import ArgumentParser

/// The `hooklog` command-line tool.
@main
struct Hooklog: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hooklog",
        abstract: "A durable event hub for webhooks: an append-only log with Kafka's storage format.",
        subcommands: [
            ServeCommand.self, ProduceCommand.self, ConsumeCommand.self, TopicsCommand.self, AppendCommand.self,
            GroupsCommand.self, SubscriptionsCommand.self, CursorsCommand.self, EventsCommand.self, WebhooksCommand.self,
            CompactCommand.self, VerifyCommand.self, DumpCommand.self, ApiKeysCommand.self,
        ]
    )
}
