import HubProtocol
import NIOCore

extension KafkaAPI {
    /// FindCoordinator. Consumer groups are not implemented yet, so every key gets
    /// COORDINATOR_NOT_AVAILABLE; the API is advertised because librdkafka enables LZ4 only
    /// when the broker lists it.
    func findCoordinator(_ request: FindCoordinatorRequest, version: Int16) -> FindCoordinatorResponse {
        var response = FindCoordinatorResponse()
        let message = "consumer groups are not supported yet"
        if version < 4 {
            response.errorCode = ErrorCode.coordinatorNotAvailable.rawValue
            response.errorMessage = message
            response.nodeId = -1
            response.port = -1
        } else {
            response.coordinators = request.coordinatorKeys.map { key in
                var coordinator = FindCoordinatorResponse.Coordinator()
                coordinator.key = key
                coordinator.nodeId = -1
                coordinator.port = -1
                coordinator.errorCode = ErrorCode.coordinatorNotAvailable.rawValue
                coordinator.errorMessage = message
                return coordinator
            }
        }
        return response
    }
}
