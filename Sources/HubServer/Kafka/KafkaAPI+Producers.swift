import HubProtocol
import LogStore
import Logging

extension KafkaAPI {
    /// InitProducerId for idempotent producers: a new producer id at epoch 0, or (v3+, KIP-360)
    /// the same id with its epoch bumped. A transactional id is refused: Hooklog has no
    /// transactions.
    func initProducerId(_ request: InitProducerIdRequest, version: Int16) -> InitProducerIdResponse {
        var response = InitProducerIdResponse()
        response.producerId = -1
        response.producerEpoch = -1
        if !Self.may(.produce) {
            response.errorCode = ErrorCode.clusterAuthorizationFailed.rawValue
            return response
        }
        if let transactionalId = request.transactionalId, !transactionalId.isEmpty {
            response.errorCode = ErrorCode.transactionalIdAuthorizationFailed.rawValue
            logger.info("refused a transactional producer", metadata: ["transactionalId": "\(transactionalId)"])
            return response
        }
        if request.producerId >= 0 && request.producerEpoch >= 0 && request.producerEpoch < Int16.max - 1 {
            response.producerId = request.producerId
            response.producerEpoch = request.producerEpoch + 1
            return response
        }
        do {
            response.producerId = try logs.allocateProducerId()
            response.producerEpoch = 0
        } catch {
            logger.error("cannot allocate a producer id", metadata: ["error": "\(error)"])
            response.errorCode = ErrorCode.coordinatorNotAvailable.rawValue
        }
        return response
    }
}
