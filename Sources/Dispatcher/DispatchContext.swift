import Logging
import LogStore

/// What a delivery window shares with the others: the log, the HTTP client, the per-origin
/// limits, the recorder, the registry (for state changes) and the settings.
struct DispatchContext: Sendable {
    var logs: LogManager
    var client: CallbackClient
    var origins: OriginLimiter
    var recorder: DeliveryRecorder
    var registry: SubscriptionRegistry
    var settings: Dispatcher.Configuration
    var logger: Logger
}
