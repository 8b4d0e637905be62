import HTTPTypes
import Hummingbird
import Synchronization

/// The API's routes as registered (method and path pattern), so a request for a known path with
/// another method can get 405 with `Allow` instead of 404.
final class RouteTable: Sendable {
    private let routes = Mutex<[(method: HTTPRequest.Method, segments: [Substring])]>([])

    /// Records a route; `path` uses `:name` for parameters.
    func add(_ method: HTTPRequest.Method, _ path: String) {
        routes.withLock { $0.append((method, path.split(separator: "/"))) }
    }

    /// The methods routed for a concrete request path.
    func methods(forPath path: String) -> Set<HTTPRequest.Method> {
        let segments = path.split(separator: "/")
        return routes.withLock { routes in
            Set(
                routes.filter { route in
                    route.segments.count == segments.count
                        && zip(route.segments, segments).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
                }.map(\.method))
        }
    }
}

extension Router where Context == HubRequestContext {
    /// Registers a route and records it in `table`.
    @discardableResult
    func route(
        _ method: HTTPRequest.Method, _ path: String, in table: RouteTable,
        _ handler: @escaping @Sendable (Request, Context) async throws -> Response
    ) -> Self {
        table.add(method, path)
        return on(RouterPath(path), method: method, use: handler)
    }
}
