package pgsvc.protocol;

/**
 * CancelRequest: sent on a new connection, which the server closes without any reply.
 *
 * @param processId the process ID from the BackendKeyData the client received
 * @param secretKey the secret key from that BackendKeyData
 */
public record CancelRequest(int processId, int secretKey) implements StartupPacket {

    /** Leaves the key out: it is a credential for cancelling someone else's query. */
    @Override
    public String toString() {
        return "CancelRequest[processId=" + processId + "]";
    }
}
