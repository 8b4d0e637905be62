import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// The outermost middleware: turns every error into the API's JSON error body (405 with Allow
/// for a known path with another method), and counts every request by route and status.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = HubRequestContext

    let metrics: HubMetrics
    let routes: RouteTable
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let started = ContinuousClock.now
        let response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPParserError {
            // A malformed or cut-off request: Hummingbird answers 400 and closes the connection.
            logger.debug("malformed HTTP request", metadata: ["error": "\(error)"])
            metrics.recordHTTPRequest(
                method: request.method.rawValue, route: "malformed", status: 400, duration: ContinuousClock.now - started)
            throw error
        } catch {
            var apiError = APIError(from: error)
            if apiError.status == .notFound, context.endpointPath == "NotFound" {
                let allowed = routes.methods(forPath: request.uri.path)
                if !allowed.isEmpty {
                    let list = allowed.map(\.rawValue).sorted().joined(separator: ", ")
                    apiError = APIError(
                        .methodNotAllowed, "method_not_allowed", "\(request.uri.path) accepts \(list)",
                        headers: [.allow: list])
                }
            }
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
