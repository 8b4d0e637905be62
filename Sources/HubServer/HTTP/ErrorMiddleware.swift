import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The outermost middleware: turns every error into the API's JSON error body and counts every
/// request by route and status.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = HubRequestContext

    let metrics: HubMetrics
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let started = ContinuousClock.now
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            let apiError = APIError(from: error)
            if apiError.status.code >= 500 {
                logger.error(
                    "HTTP request failed",
                    metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "error": "\(error)"])
            }
            response = try apiError.response(from: request, context: context)
        }
        metrics.recordHTTPRequest(
            method: request.method.rawValue, route: context.endpointPath ?? "unknown", status: response.status.code,
            duration: ContinuousClock.now - started)
        return response
    }
}
